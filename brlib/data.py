"""Preference pairs: one canonical record, loaders for the real schemas, validation and the pair collator.

The same loaders read the real datasets (paper profile, from the Hub) and tiny-world files (tiny profile).
"""

from __future__ import annotations

import io
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image


@dataclass
class Pair:
    """The canonical preference record: a prompt, zero or more images, a chosen and a rejected response."""

    prompt: str
    chosen: str
    rejected: str
    images: list = field(default_factory=list)  # PIL images, paths or {"bytes": ...} dicts
    source: str = ""
    category: str = ""
    group_id: str = ""
    uid: str = ""
    video: list = field(default_factory=list)  # frame paths, sampled uniformly (MM-RLHF video items)
    margin: float | None = None  # score gap where the source has one (UltraFeedback, VLFeedback)
    tie: bool = False
    meta: dict = field(default_factory=dict)

    def to_trl(self) -> dict:
        """TRL's explicit-prompt preference format (`prompt`, `chosen`, `rejected`, `images`)."""
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected, "images": self.images}

    @classmethod
    def from_trl(cls, row: dict, source: str = "trl") -> Pair:
        """A row of TRL's preference format (explicit prompt; string or chat-list responses; `image(s)`)."""
        _require(row, ["prompt", "chosen", "rejected"], f"{source} row")

        def text(x):
            return x[-1]["content"] if isinstance(x, list) else x

        prompt = row["prompt"]
        prompt = (
            next((t["content"] for t in prompt if t.get("role") == "user"), "") if isinstance(prompt, list) else prompt
        )
        images = row.get("images") or ([row["image"]] if row.get("image") is not None else [])
        return cls(prompt, text(row["chosen"]), text(row["rejected"]), list(images), source, margin=row.get("margin"))


class SchemaError(ValueError):
    """A record that does not fit its dataset's schema."""


def _require(row: dict, fields: list[str], where: str) -> None:
    for f in fields:
        if f not in row or row[f] is None:
            raise SchemaError(f"{where}: missing field {f!r} (has {sorted(row)})")


def open_image(img) -> Image.Image:
    """Decode an image given as PIL, path or {"bytes", "path"} dict into RGB; raise a clear error if unreadable."""
    try:
        if isinstance(img, Image.Image):
            out = img
        elif isinstance(img, dict):
            out = Image.open(io.BytesIO(img["bytes"])) if img.get("bytes") else Image.open(img["path"])
        else:
            out = Image.open(img)
        out.load()
        return out.convert("RGB")
    except Exception as e:  # PIL raises several types for missing and corrupt files
        name = img.get("path") if isinstance(img, dict) else img if not isinstance(img, Image.Image) else "<PIL>"
        raise ValueError(f"unreadable image {name}: {e.__class__.__name__}: {e}") from e


VIDEO_FRAMES = 32  # MM-RLHF samples 32 frames uniformly; training, evaluation and serving must agree
FRAME_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def video_frames(frame_dir, n: int = VIDEO_FRAMES) -> list:
    """A video given as a folder of frames -> `n` frame paths sampled uniformly over the frame indices.

    A missing folder is returned as-is ([folder]), so `PairCollator.check` reports it instead of losing it.
    """
    d = Path(frame_dir)
    if not d.is_dir():
        return [d]
    frames = sorted(f for f in d.iterdir() if f.suffix.lower() in FRAME_SUFFIXES)
    if len(frames) <= n:
        return frames
    return [frames[round(i * (len(frames) - 1) / (n - 1))] for i in range(n)]


def conversation(prompt: str, response: str, n_images: int) -> list[dict]:
    """The chat messages of one scored response: images first, then the prompt, then the response."""
    content = [{"type": "image"}] * n_images + [{"type": "text", "text": prompt}]
    return [{"role": "user", "content": content}, {"role": "assistant", "content": response}]


@dataclass
class DropReport:
    """Records read and pairs kept, with a count per reason for every dropped record."""

    read: int = 0
    kept: int = 0  # pairs kept; a source row can give several pairs (UltraFeedback) or none (a tie)
    reasons: Counter = field(default_factory=Counter)

    @property
    def dropped(self) -> int:
        return sum(self.reasons.values())

    def summary(self) -> str:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(self.reasons.items())) or "none"
        return f"read {self.read}, kept {self.kept}, dropped {self.dropped} ({why})"

    def to_dict(self) -> dict:
        return {"read": self.read, "kept": self.kept, "dropped": self.dropped, "reasons": dict(self.reasons)}


class PairCollator:
    """Turns pairs into one padded batch: B chosen sequences, then B rejected ones. Images are never cut."""

    def __init__(self, processor, max_length: int = 1024):
        self.processor = processor
        self.max_length = max_length
        self.text_only = not hasattr(processor, "image_processor")
        self.tokenizer = processor if self.text_only else processor.tokenizer

    def texts(self, prompt: str, responses: list[str], n_images: int) -> list[str]:
        tmpl = self.processor.apply_chat_template
        return [tmpl(conversation(prompt, r, n_images), tokenize=False) for r in responses]

    def encode(self, items: list[tuple[str, str, list]]) -> dict:
        """Encode (prompt, response, images) triples into model inputs plus response lengths."""
        texts, images = [], []
        for prompt, response, imgs in items:
            texts += self.texts(prompt, [response], len(imgs))
            images += [open_image(im) for im in imgs]
        tok = self.tokenizer
        if self.text_only:  # a language-model RM: its "processor" is the tokenizer
            if images:
                raise ValueError("a text-only reward model cannot score inputs with images")
            enc = tok(texts, return_tensors="pt", padding=True)
        else:
            enc = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        enc.pop("mm_token_type_ids", None)  # positions are rebuilt by RewardModel from input_ids
        enc.pop("token_type_ids", None)
        enc["response_len"] = torch.tensor([len(tok(r).input_ids) for _, r, _ in items], dtype=torch.float)
        return dict(enc)

    def __call__(self, pairs: list[Pair]) -> dict:
        items = [(p.prompt, p.chosen, p.images) for p in pairs] + [(p.prompt, p.rejected, p.images) for p in pairs]
        return self.encode(items)

    def length(self, prompt: str, response: str, image_sizes: list[tuple[int, int]]) -> int:
        """Tokens of one scored sequence, image tokens included, without running the image processor."""
        n = len(self.tokenizer(self.texts(prompt, [response], len(image_sizes))[0]).input_ids)
        if image_sizes:
            n += self._image_tokens(tuple(image_sizes)) - len(image_sizes)  # each placeholder expands in place
        return n

    def _image_tokens(self, sizes: tuple) -> int:
        """Image tokens of images of these (width, height) sizes; memoised, since datasets repeat a few sizes."""
        cache = self.__dict__.setdefault("_image_token_cache", {})
        if sizes not in cache:
            mm = self.processor._get_num_multimodal_tokens(image_sizes=[(h, w) for w, h in sizes])
            cache[sizes] = sum(mm["num_image_tokens"])
        return cache[sizes]

    def check(self, pair: Pair) -> str | None:
        """Why `pair` cannot be trained on (empty response, unreadable image, too long), or None if it can."""
        if not pair.chosen.strip() or not pair.rejected.strip():
            return "empty response"
        if pair.video:
            return "video input not supported yet"  # frames are loaded; the collator does not encode video yet
        if pair.images and self.text_only:
            return "images on a text-only model"
        try:
            sizes = [open_image(im).size for im in pair.images]
        except ValueError:
            return "unreadable image"
        if max(self.length(pair.prompt, r, sizes) for r in (pair.chosen, pair.rejected)) > self.max_length:
            return "over max_length"
        return None

    def filter(self, pairs: list[Pair]) -> tuple[list[Pair], DropReport]:
        """Keep the pairs that pass `check`; count every dropped one with its reason."""
        report = DropReport(read=len(pairs))
        kept = []
        for p in pairs:
            reason = self.check(p)
            if reason is None:
                kept.append(p)
            else:
                report.reasons[reason] += 1
        report.kept = len(kept)
        return kept, report


def split_pairs(pairs: list[Pair], val_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Deterministic train/validation split by shuffled index."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(pairs), generator=g).tolist()
    n_val = int(math.floor(len(pairs) * val_fraction))
    return [pairs[i] for i in order[n_val:]], [pairs[i] for i in order[:n_val]]


def load_pairs(spec: dict) -> list[Pair]:
    """Load one source from a spec {format, path, split?, ...}: a training source key or a benchmark name."""
    from brlib import bench, sources

    fmt = spec.get("format")
    opts = {k: v for k, v in spec.items() if k not in {"format", "path", "split", "source"}}
    if fmt in sources.SOURCES:
        pairs, _ = sources.load_source(fmt, spec.get("path"), spec.get("split"), **opts)
        return pairs
    if fmt in bench.BENCHMARKS:
        return bench.to_pairs(fmt, bench.load(fmt, spec["path"], **opts))
    raise ValueError(f"unknown data format {fmt!r}; known: {sorted(sources.SOURCES) + sorted(bench.BENCHMARKS)}")
