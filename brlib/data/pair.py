"""The canonical preference record (`Pair`), schema errors, media opening and the drop report every loader fills."""

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
    chosen: str  # or a `brlib.data.media.Media`: a generated image, clip or audio (T2I, T2V, T2A, TI2I, T23D)
    rejected: str
    images: list = field(default_factory=list)  # PIL images, paths or {"bytes": ...} dicts
    source: str = ""
    category: str = ""
    group_id: str = ""
    uid: str = ""
    video: list = field(default_factory=list)  # frame paths (MM-RLHF video items), or a video `Media` (a clip file)
    margin: float | None = None  # score gap where the source has one (UltraFeedback, VLFeedback)
    tie: bool = False  # chosen and rejected are equally good (Omni-Reward's "tie"); see LossConfig.ties
    meta: dict = field(default_factory=dict)
    history: list = field(default_factory=list)  # earlier turns of a multi-turn conversation, as messages
    criterion: str | None = None  # a free-form preference criterion (Omni-Reward): read in the system turn
    audio: list = field(default_factory=list)  # audio clips of the prompt (paths, {"bytes"} dicts, (samples, rate))
    video_fps: float | None = None  # frame rate of `video`'s frames when known (else VIDEO_FPS is assumed)

    def to_trl(self) -> dict:
        """TRL's explicit-prompt preference format (`prompt`, `chosen`, `rejected`, `images`)."""
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected, "images": self.images}

    @classmethod
    def from_trl(cls, row: dict, source: str = "trl") -> Pair:
        """A row of TRL's preference format (explicit prompt; string or chat-list responses; `image(s)`)."""
        require(row, ["prompt", "chosen", "rejected"], f"{source} row")

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


def require(row: dict, fields: list[str], where: str) -> None:
    """Raise `SchemaError` naming the first of `fields` that `row` lacks (or holds as None)."""
    if not isinstance(row, dict):
        raise SchemaError(f"{where}: a row must be an object with fields {fields}, got {type(row).__name__}")
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
# The frame rate the official MM-RLHF / R1-Reward evaluation implies: it hands Qwen a list of frame paths, which
# qwen-vl-utils and the Qwen2.5-VL processor of that time read as 2 fps (1 s per temporal patch of 2 frames).
# transformers 5 assumes 24 fps for a bare frame list, so the collator passes this in the video metadata.
VIDEO_FPS = 2.0
FRAME_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def video_frames(frame_dir, n: int = VIDEO_FRAMES) -> list:
    """A video given as a folder of frames -> exactly `n` frame paths at indices linspace(0, N - 1, n) rounded
    down, over the frames in name order: the official MM-RLHF rule (np.linspace(..., dtype=int)), which repeats
    frames of clips shorter than `n`. (The official script lists the folder unsorted; we sort, so the order is the
    video's, not the file system's.)

    A missing or empty folder is returned as-is ([folder]), so `PairCollator.check` reports it instead of losing it.
    """
    d = Path(frame_dir)
    frames = sorted(f for f in d.iterdir() if f.suffix.lower() in FRAME_SUFFIXES) if d.is_dir() else []
    if not frames:
        return [d]
    last = len(frames) - 1
    return [frames[(i * last) // (n - 1)] for i in range(n)] if n > 1 else frames[:1]


IMAGE_PLACEHOLDER = "<image>"  # InternVL / LLaVA style, as in MMPR questions


def conversation(
    prompt: str, response, n_images: int, n_videos: int = 0, history=(), system: str | None = None, n_audios: int = 0
) -> list[dict]:
    """The chat messages of one scored response: the system turn when a criterion is given (where Omni-Reward puts
    it), earlier turns, then the user turn, then the answer. In the user turn, videos come first, then audio clips;
    images stand where the prompt's `<image>` placeholders are when it has exactly one per image (MMPR's interleaved
    questions), else they come first too; then the text. A media response (anything with a `kind`: a generated
    image, clip or audio) is the answer's only content part."""
    content = [{"type": "video"}] * n_videos + [{"type": "audio"}] * n_audios
    if n_images and prompt.count(IMAGE_PLACEHOLDER) == n_images:
        for i, piece in enumerate(prompt.split(IMAGE_PLACEHOLDER)):
            if i:
                content.append({"type": "image"})
            if piece.strip():
                content.append({"type": "text", "text": piece.strip()})
    else:
        content += [{"type": "image"}] * n_images + [{"type": "text", "text": prompt}]
    answer = response if isinstance(response, str) else [{"type": response.kind}]
    head = [{"role": "system", "content": system}] if system is not None else []
    return [*head, *history, {"role": "user", "content": content}, {"role": "assistant", "content": answer}]


@dataclass
class DropReport:
    """Records read and pairs kept, with a count per reason for every dropped record."""

    read: int = 0
    kept: int = 0  # pairs kept; a source row can give several pairs (UltraFeedback) or none (a tie)
    reasons: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)  # reason -> the first record's location or error message
    layout: str = ""  # which layout (Hub revision, path convention) the source was read in

    def add(self, reason: str, example: str = "") -> None:
        """Count one dropped record under `reason`, keeping the first example of each reason."""
        self.reasons[reason] += 1
        if example:
            self.examples.setdefault(reason, example)

    @property
    def dropped(self) -> int:
        return sum(self.reasons.values())

    def summary(self) -> str:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(self.reasons.items())) or "none"
        return f"read {self.read}, kept {self.kept}, dropped {self.dropped} ({why})"

    def to_dict(self) -> dict:
        return {
            "read": self.read,
            "kept": self.kept,
            "dropped": self.dropped,
            "reasons": dict(self.reasons),
            "examples": dict(self.examples),
            "layout": self.layout,
        }


def split_pairs(pairs: list[Pair], val_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Deterministic train/validation split by shuffled index."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(pairs), generator=g).tolist()
    n_val = int(math.floor(len(pairs) * val_fraction))
    return [pairs[i] for i in order[n_val:]], [pairs[i] for i in order[:n_val]]
