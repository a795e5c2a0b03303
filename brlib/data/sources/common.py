"""Helpers every source adapter shares: media paths, chat-list and sharegpt turns, numeric ratings."""

from __future__ import annotations

import math
import re
from pathlib import Path

from brlib.data.pair import SchemaError


class NoPair(Exception):
    """A well-formed row that legitimately gives no pair; the message is the reason counted in the drop report."""


def resolve_media(path, opts: dict):
    """Resolve a relative media path against `image_root` (default: the data file's folder). An absolute path
    that does not exist here (R1-Reward's JSON holds the authors' paths) is re-rooted there by file name."""
    if not isinstance(path, (str, Path)):
        return path  # decoded PIL image or {"bytes", "path"} dict
    p = Path(path)
    root = opts.get("image_root")
    if root is None or (p.is_absolute() and p.exists()):
        return p
    return Path(root) / (p.name if p.is_absolute() else p)


def strip_image_tag(text: str) -> str:
    """Drop `<image>` placeholders (InternVL / LLaVA style) from a prompt."""
    return re.sub(r"<image>\s*", "", text).strip()


def sharegpt_value(turn, where: str, field: str) -> str:
    """The text of one sharegpt turn {"from", "value"}; SchemaError otherwise."""
    if not isinstance(turn, dict) or "value" not in turn:
        raise SchemaError(f"{where}: field {field!r} must be a {{'from', 'value'}} turn")
    return turn["value"]


def last_assistant(chat, where: str, field: str) -> str:
    """The last assistant message of a chat list (dicts with role/content, or (role, text) pairs)."""
    if isinstance(chat, list) and chat:
        last = chat[-1]
        if isinstance(last, dict) and last.get("role") == "assistant":
            return last["content"]
        if isinstance(last, (list, tuple)) and len(last) == 2 and last[0] == "assistant":
            return last[1]
    raise SchemaError(f"{where}: field {field!r} must be a chat list ending with an assistant turn")


def first_user(chat, where: str) -> str:
    """The first user message of a chat list."""
    for turn in chat or []:
        if isinstance(turn, dict) and turn.get("role") == "user":
            return turn["content"]
        if isinstance(turn, (list, tuple)) and len(turn) == 2 and turn[0] == "user":
            return turn[1]
    raise SchemaError(f"{where}: no user turn in the conversation")


def rating(x) -> float | None:
    """A rating as float, or None when it is not a finite number (strings like "N/A", NaN, booleans)."""
    if isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
