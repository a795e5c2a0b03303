"""Preference pairs: one canonical record, loaders for the real schemas, validation and the pair collator.

The same loaders read the real datasets (paper profile, from the Hub) and tiny-world files (tiny profile).
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

MM_RLHF_CATEGORIES = ["mcq", "long", "short", "safety", "video"]


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
    video: list = field(default_factory=list)  # frame directories (MM-RLHF video items)


class SchemaError(ValueError):
    """A record that does not fit its dataset's schema."""


def _require(row: dict, fields: list[str], where: str) -> None:
    for f in fields:
        if f not in row or row[f] is None:
            raise SchemaError(f"{where}: missing field {f!r} (has {sorted(row)})")


def load_rlaif_v(path_or_id: str, split: str = "train", source: str = "rlaif_v") -> list[Pair]:
    """Read RLAIF-V (`openbmb/RLAIF-V-Dataset` or local parquet in its schema). Used in: 00_quickstart.ipynb."""
    ds = _load_dataset(path_or_id, split)
    pairs = []
    for i, row in enumerate(ds):
        where = f"{path_or_id}[{i}]"
        _require(row, ["image", "question", "chosen", "rejected"], where)
        pairs.append(Pair(row["question"], row["chosen"], row["rejected"], [row["image"]], source,
                          row.get("origin_dataset", ""), str(row.get("idx", i)), f"{source}/{row.get('idx', i)}"))
    return pairs


def load_chat_pairs(path_or_id: str, split: str = "train", source: str = "chat") -> list[Pair]:
    """Read text pairs whose chosen/rejected are chat lists including the prompt (Skywork, OLMo-2, Tulu-3 style)."""
    ds = _load_dataset(path_or_id, split)
    pairs = []
    for i, row in enumerate(ds):
        where = f"{path_or_id}[{i}]"
        _require(row, ["chosen", "rejected"], where)
        prompt = row.get("prompt") or _first_user_turn(row["chosen"], where)
        chosen, rejected = _last_assistant_turn(row["chosen"], where), _last_assistant_turn(row["rejected"], where)
        uid = str(row.get("id", i))
        category = row.get("category") or row.get("source") or ""
        pairs.append(Pair(prompt, chosen, rejected, [], source, category, uid, f"{source}/{uid}"))
    return pairs


def _first_user_turn(chat, where: str) -> str:
    for turn in chat:
        if turn.get("role") == "user":
            return turn["content"]
    raise SchemaError(f"{where}: no user turn in conversation")


def _last_assistant_turn(chat, where: str) -> str:
    if not isinstance(chat, list) or not chat or chat[-1].get("role") != "assistant":
        raise SchemaError(f"{where}: chosen/rejected must be a chat list ending with an assistant turn")
    return chat[-1]["content"]


def load_mm_rlhf_rewardbench(jsonl: str | Path, image_root: str | Path | None = None) -> list[Pair]:
    """Read MM-RLHF-RewardBench (`mm_reward_bench.jsonl`); category from the media path. Used in: 00_quickstart."""
    jsonl = Path(jsonl)
    root = Path(image_root) if image_root is not None else jsonl.parent
    pairs = []
    for i, line in enumerate(jsonl.read_text().splitlines()):
        if not line.strip():
            continue
        where = f"{jsonl}:{i + 1}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SchemaError(f"{where}: not JSON ({e})") from e
        _require(row, ["id", "prompt", "chosen", "rejected"], where)
        media = row.get("image") or row.get("video")
        if not media:
            raise SchemaError(f"{where}: neither 'image' nor 'video' given")
        category = next((c for c in MM_RLHF_CATEGORIES if c in media), "")
        images = [root / row["image"]] if row.get("image") else []
        video = [root / row["video"]] if row.get("video") else []
        pairs.append(Pair(row["prompt"], row["chosen"], row["rejected"], images, "mm_rlhf_rewardbench",
                          category, row["id"], f"mm_rlhf_rewardbench/{row['id']}/{i}", video))
    return pairs


def _load_dataset(path_or_id: str, split: str):
    import datasets

    p = Path(path_or_id)
    if p.exists():
        files = sorted(p.glob("*.parquet")) if p.is_dir() else [p]
        return datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train")
    return datasets.load_dataset(path_or_id, split=split)


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


def conversation(prompt: str, response: str, n_images: int) -> list[dict]:
    """The chat messages of one scored response: images first, then the prompt, then the response."""
    content = [{"type": "image"}] * n_images + [{"type": "text", "text": prompt}]
    return [{"role": "user", "content": content}, {"role": "assistant", "content": response}]


@dataclass
class DropReport:
    """Records read, kept and dropped, with a count per reason."""

    read: int = 0
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(self.reasons.items())) or "none"
        return f"read {self.read}, kept {self.kept}, dropped {self.read - self.kept} ({why})"


class PairCollator:
    """Turns pairs into one padded batch: B chosen sequences, then B rejected ones. Images are never cut."""

    def __init__(self, processor, max_length: int = 1024):
        self.processor = processor
        self.max_length = max_length

    def texts(self, prompt: str, responses: list[str], n_images: int) -> list[str]:
        tmpl = self.processor.apply_chat_template
        return [tmpl(conversation(prompt, r, n_images), tokenize=False) for r in responses]

    def encode(self, items: list[tuple[str, str, list]]) -> dict:
        """Encode (prompt, response, images) triples into model inputs plus response lengths."""
        texts, images = [], []
        for prompt, response, imgs in items:
            texts += self.texts(prompt, [response], len(imgs))
            images += [open_image(im) for im in imgs]
        enc = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        enc.pop("mm_token_type_ids", None)  # positions are rebuilt by RewardModel from input_ids
        tok = self.processor.tokenizer
        enc["response_len"] = torch.tensor([len(tok(r).input_ids) for _, r, _ in items], dtype=torch.float)
        return dict(enc)

    def __call__(self, pairs: list[Pair]) -> dict:
        items = [(p.prompt, p.chosen, p.images) for p in pairs] + [(p.prompt, p.rejected, p.images) for p in pairs]
        return self.encode(items)

    def check(self, pair: Pair) -> str | None:
        """Why `pair` cannot be trained on (empty response, unreadable image, too long), or None if it can."""
        if not pair.chosen.strip() or not pair.rejected.strip():
            return "empty response"
        if pair.video:
            return "video input not supported yet"  # frame sampling arrives with the data layer
        try:
            sizes = [open_image(im).size for im in pair.images]
        except ValueError:
            return "unreadable image"
        tok = self.processor.tokenizer
        n_image_tokens = 0
        if sizes:
            mm = self.processor._get_num_multimodal_tokens(image_sizes=[(h, w) for w, h in sizes])
            n_image_tokens = sum(mm["num_image_tokens"]) - len(sizes)  # each placeholder expands in place
        longest = max(len(tok(t).input_ids) for t in self.texts(pair.prompt, [pair.chosen, pair.rejected], len(sizes)))
        if longest + n_image_tokens > self.max_length:
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


LOADERS = {
    "rlaif_v": load_rlaif_v,
    "chat_pairs": load_chat_pairs,
}


def load_pairs(spec: dict) -> list[Pair]:
    """Load one source from a spec {format, path, split?, source?, image_root?}. Used in: 00_quickstart.ipynb."""
    fmt = spec.get("format")
    if fmt == "mm_rlhf_rewardbench":
        return load_mm_rlhf_rewardbench(spec["path"], spec.get("image_root"))
    if fmt not in LOADERS:
        raise ValueError(f"unknown data format {fmt!r}; known: {sorted(LOADERS) + ['mm_rlhf_rewardbench']}")
    return LOADERS[fmt](spec["path"], spec.get("split", "train"), spec.get("source", fmt))
