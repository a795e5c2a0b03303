"""One declarative mixture spec: which sources, how many pairs of each, deterministic sampling, a per-source report.

seed: 0
test_split_size: 0.0
homogeneous_batches: true        # every micro-batch is all-image or all-text (sharded training cannot hang)
sources:
  - {key: rlaif_v, path: openbmb/RLAIF-V-Dataset, split: train, count: 50000}
  - {key: ultrafeedback_hard, weight: 0.5, options: {min_gap: 1.0}}
total: 100000                    # with weights: count = total * weight / sum(weights)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from brlib.data.pair import DropReport, Pair
from brlib.data.sources import COMMON_OPTIONS, SOURCES, load_source


@dataclass
class SourceSpec:
    """One source of a mixture: a key from `brlib.data.sources.SOURCES`, where to read it, and how much to take."""

    key: str
    path: str | None = None  # Hub id or local files; None: the source's Hub id
    split: str | list | None = None  # a list reads several splits (WildChat-UF)
    count: int | None = None  # an explicit cap; None with no weight: everything
    weight: float | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.key not in SOURCES:
            raise ValueError(f"unknown source {self.key!r}; known: {sorted(SOURCES)}")
        if self.count is not None and self.weight is not None:
            raise ValueError(f"source {self.key}: give count or weight, not both")
        if self.count is not None and (not _is_int(self.count) or self.count < 0):
            raise ValueError(f"source {self.key}: count must be a whole number >= 0, got {self.count!r}")
        if self.weight is not None and (not _is_num(self.weight) or not self.weight > 0):
            raise ValueError(f"source {self.key}: weight must be a number > 0, got {self.weight!r}")
        if not isinstance(self.options, dict):
            raise ValueError(f"source {self.key}: options must be a mapping, got {self.options!r}")
        src = SOURCES[self.key]
        unknown = set(self.options) - src.options - COMMON_OPTIONS - {"lenient", "limit"}
        if unknown:
            raise ValueError(f"source {self.key}: unknown options {sorted(unknown)}; it takes {sorted(src.options)}")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass
class MixtureSpec:
    """Sources plus the sampling seed, an optional total for weighted sources and a test split."""

    sources: list[SourceSpec]
    seed: int = 0
    total: int | None = None
    test_split_size: float = 0.0
    homogeneous_batches: bool = False

    def __post_init__(self):
        keys = [s.key for s in self.sources]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:  # one target and one report row per key: list a source once (give a larger count instead)
            raise ValueError(f"sources listed more than once: {twice}")
        if not self.sources:
            raise ValueError("a mixture needs at least one source")
        if not _is_num(self.test_split_size) or not 0.0 <= self.test_split_size < 1.0:
            raise ValueError(f"test_split_size must be in [0, 1), got {self.test_split_size!r}")
        if self.total is not None and (not _is_int(self.total) or self.total < 0):
            raise ValueError(f"total must be a whole number >= 0, got {self.total!r}")
        if not _is_int(self.seed):
            raise ValueError(f"seed must be a whole number, got {self.seed!r}")

    @classmethod
    def from_dict(cls, raw: dict) -> MixtureSpec:
        """A spec from its YAML/dict form; unknown keys (a typo like `test_split`) are an error, not ignored."""
        if not isinstance(raw, dict) or "sources" not in raw:
            raise ValueError("a mixture spec is a mapping with a `sources` list")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown mixture keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        sources = []
        for s in raw["sources"]:
            if isinstance(s, SourceSpec):
                sources.append(s)
                continue
            bad = set(s) - set(SourceSpec.__dataclass_fields__) if isinstance(s, dict) else None
            if bad is None or bad:
                raise ValueError(
                    f"bad source entry {s!r}: expected keys among {sorted(SourceSpec.__dataclass_fields__)}"
                )
            sources.append(SourceSpec(**s))
        return cls(**{**raw, "sources": sources})

    @classmethod
    def from_yaml(cls, path: str | Path) -> MixtureSpec:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()))

    def targets(self) -> dict[str, int | None]:
        """Pairs wanted per source: its count, its share of `total`, or None for all."""
        weights = {s.key: s.weight for s in self.sources if s.weight is not None}
        if weights and self.total is None:
            raise ValueError("weighted sources need `total`")
        wsum = sum(weights.values())
        return {s.key: s.count if s.weight is None else int(round(self.total * s.weight / wsum)) for s in self.sources}


@dataclass
class Mixture:
    """The sampled train and test pairs and, per source, what was read, kept, dropped and sampled."""

    train: list[Pair]
    test: list[Pair]
    report: dict[str, dict]

    def summary(self) -> str:
        lines = [f"{'source':22s} {'read':>8s} {'kept':>8s} {'dropped':>8s} {'sampled':>8s}  reasons"]
        for k, r in self.report.items():
            why = ", ".join(f"{a}: {b}" for a, b in sorted(r["reasons"].items())) or "-"
            lines.append(f"{k:22s} {r['read']:8d} {r['kept']:8d} {r['dropped']:8d} {r['sampled']:8d}  {why}")
        lines.append(f"{'total':22s} {'':8s} {'':8s} {'':8s} {len(self.train) + len(self.test):8d}")
        return "\n".join(lines)


def build_mixture(spec: MixtureSpec, collator=None) -> Mixture:
    """Load, filter (when a collator is given), sample and split every source. Used in: 00_quickstart.ipynb."""
    targets = spec.targets()
    train, test, report = [], [], {}
    for s in spec.sources:
        pairs, rep = load_source(s.key, s.path, s.split, **s.options)
        if collator is not None:
            pairs, filt = collator.filter(pairs)
            rep.reasons.update(filt.reasons)
            for reason, example in filt.examples.items():
                rep.examples.setdefault(reason, example)
        rng = random.Random(f"{spec.seed}/{s.key}")  # per-source stream: adding a source changes no other
        want = targets[s.key]
        picked = pairs if want is None else rng.sample(pairs, min(want, len(pairs)))
        n_test = int(math.floor(len(picked) * spec.test_split_size))
        test += picked[:n_test]
        train += picked[n_test:]
        report[s.key] = {
            **DropReport(rep.read, len(pairs), rep.reasons, rep.examples).to_dict(),
            "sampled": len(picked),
            "target": want,
        }
    return Mixture(train, test, report)


def modality(pair: Pair) -> str:
    """ "audio" when the pair carries audio, "image" when it carries images, video or media responses, else "text"."""
    if pair.audio or any(getattr(r, "kind", "") == "audio" for r in (pair.chosen, pair.rejected)):
        return "audio"
    media = pair.images or pair.video or not all(isinstance(r, str) for r in (pair.chosen, pair.rejected))
    return "image" if media else "text"


def homogeneous_batches(pairs: list[Pair], batch_size: int, seed: int, epoch: int = 0) -> list[list[int]]:
    """Shuffle, cut each modality into full batches, and shuffle the batch order: no batch mixes modalities.

    The incomplete last batch of each modality is left for the next epoch's shuffle (no pair is silently lost:
    over epochs every pair is seen; within one epoch at most batch_size - 1 per modality wait).
    """
    rng = random.Random(f"{seed}/{epoch}")
    by_mod: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_mod.setdefault(modality(p), []).append(i)
    batches = []
    for _, idx in sorted(by_mod.items()):
        rng.shuffle(idx)
        batches += [idx[i : i + batch_size] for i in range(0, len(idx) - batch_size + 1, batch_size)]
    rng.shuffle(batches)
    return batches
