"""The checks behind `python -m brlib.preflight`: a few rows of every source and benchmark a config reads, opened,
tokenized with the configured processor and pixel limits, and summarised per dataset."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from brlib import bench
from brlib.data.collate import PairCollator
from brlib.data.hub import LayoutError
from brlib.data.pair import DropReport, Pair, SchemaError
from brlib.data.sources import load_source

WARN_DROP = 0.10  # more than this share of rows dropped: a warning
WARN_OVER = 0.05  # more than this share of sequences over max_length: a warning
SIX = [(0, 3), (1, 4), (2, 5)]  # RM-Bench: chosen k against rejected k


@dataclass
class Check:
    """One line of the preflight table."""

    area: str  # "source", "benchmark" or "engine"
    name: str
    status: str = "OK"  # OK, WARN or FAIL
    found: int = 0
    kept: int = 0
    reasons: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)  # p50, p90, p99, max of the scored sequences' token counts
    over: float = 0.0  # share of sequences over max_length
    message: str = ""

    def row(self) -> list[str]:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(self.reasons.items()))
        toks = "/".join(str(self.tokens.get(k, "-")) for k in ("p50", "p90", "p99", "max")) if self.tokens else "-"
        note = "; ".join(x for x in (why, self.message) if x)
        found = str(self.found) if self.area != "engine" else "-"
        kept = str(self.kept) if self.area != "engine" else "-"
        return [self.status, self.area, self.name, found, kept, toks, f"{100 * self.over:.1f}%", note]


def percentiles(values: list[int]) -> dict:
    """p50, p90, p99 and max of token counts (nearest rank)."""
    if not values:
        return {}
    v = sorted(values)
    rank = lambda q: v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]  # noqa: E731
    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": v[-1]}


def _lengths(collator: PairCollator, pairs: list[Pair]) -> list[int]:
    """Token counts of both scored sequences of every pair that passed the filter (image/video tokens included)."""
    from brlib.data.pair import open_image

    out = []
    for p in pairs:
        sizes = [open_image(im).size for im in p.images]
        video = (len(p.video), open_image(p.video[0]).size) if p.video else None
        out += [collator.length(p.prompt, r, sizes, video) for r in (p.chosen, p.rejected)]
    return out


def _judge(check: Check, collator: PairCollator, pairs: list[Pair], report: DropReport) -> Check:
    """Filter the pairs, measure lengths, and set the status from what was kept and dropped."""
    kept, filt = collator.filter(pairs)
    reasons = {**report.reasons}
    for k, v in filt.reasons.items():
        reasons[k] = reasons.get(k, 0) + v
    lengths = _lengths(collator, kept + [p for p in pairs if collator.check(p) == "over max_length"])
    check.found, check.kept, check.reasons = report.read, len(kept), reasons
    check.tokens = percentiles(lengths)
    check.over = sum(n > collator.max_length for n in lengths) / max(1, len(lengths))
    dropped = sum(reasons.values())
    if check.found == 0 or not kept:
        check.status, check.message = "FAIL", check.message or "no usable rows"
    elif dropped > WARN_DROP * check.found or check.over > WARN_OVER:
        check.status = "WARN"
    return check


def check_source(spec: dict, collator: PairCollator, rows: int) -> Check:
    """Load the first `rows` rows of one training-data spec {format, path, split, ...} leniently and judge them."""
    key = spec["format"]
    name = spec.get("source") or key
    check = Check("source" if key not in bench.BENCHMARKS else "benchmark", name)
    opts = {k: v for k, v in spec.items() if k not in {"format", "path", "split", "source"}}
    try:
        if key in bench.BENCHMARKS:
            return check_benchmark(key, spec["path"], collator, rows, name)
        pairs, report = load_source(key, spec.get("path"), spec.get("split"), lenient=True, limit=rows, **opts)
    except (LayoutError, SchemaError, ValueError, OSError) as e:
        check.status, check.message = "FAIL", f"{e.__class__.__name__}: {e}"
        return check
    if report.layout:
        check.message = f"layout: {report.layout}"
    return _judge(check, collator, pairs, report)


def check_benchmark(name: str, path: str, collator: PairCollator, rows: int, label: str | None = None) -> Check:
    """Read a benchmark whole (it must be complete) and judge the first `rows` rows' pairs."""
    check = Check("benchmark", label or name)
    try:
        loaded = bench.load(name, path)
    except (LayoutError, SchemaError, ValueError, OSError) as e:
        check.status, check.message = "FAIL", f"{e.__class__.__name__}: {e}"
        return check
    sample = loaded[:rows]
    if bench.BENCHMARKS[name].n_responses == 2:  # criterion, audio and media responses included
        pairs = bench.to_pairs(name, sample)
    else:
        pairs = [Pair(r.prompt, r.responses[i], r.responses[j], r.images, name) for r in sample for i, j in SIX]
    check = _judge(check, collator, pairs, DropReport(read=len(pairs)))
    layouts = sorted({r.layout for r in loaded if r.layout})
    check.found = len(loaded)
    if layouts:
        check.message = "; ".join(x for x in (check.message, f"media layout: {'/'.join(layouts)}") if x)
        if "missing" in layouts:
            check.status = "FAIL"
    return check


def table(checks: list[Check]) -> str:
    """The checks as an aligned plain-text table."""
    head = ["status", "area", "name", "rows", "kept", "tokens p50/p90/p99/max", "over max", "notes"]
    rows = [head] + [c.row() for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    return "\n".join([lines[0], "-" * len(lines[0])] + lines[1:])
