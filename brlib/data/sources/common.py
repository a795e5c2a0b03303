"""Helpers every source adapter shares: media paths, chat-list and sharegpt turns, numeric ratings."""

from __future__ import annotations

import math
import re
from pathlib import Path

from brlib.data.pair import SchemaError


class NoPair(Exception):
    """A well-formed row that legitimately gives no pair; the message is the reason counted in the drop report."""


def resolve_media(path, opts: dict):
    """Resolve a relative media path against `image_root` (default: the data file's folder; Hub sources: where
    their archives extract). A path that does not exist there is tried by file name under the root (POVID's
    "./data/coco/<file>" against a COCO folder; an author's absolute path); the first candidate is returned when
    none exists, so an unreadable-image drop names where the file was expected."""
    if not isinstance(path, (str, Path)):
        return path  # decoded PIL image or {"bytes", "path"} dict
    p = Path(path)
    root = opts.get("image_root")
    if root is None or (p.is_absolute() and p.exists()):
        return p
    candidates = [Path(root) / p.name] if p.is_absolute() else [Path(root) / p, Path(root) / p.name]
    return next((c for c in candidates if c.exists()), candidates[0])


def decode_image_field(value, where: str):
    """An image given as text: a `data:image/...;base64,` URI or raw base64 of the file (R1-Reward-RL's `image`
    column), or else a path. Returns {"bytes", "path"} for encoded images, the string for a path."""
    import base64
    import binascii

    if not isinstance(value, str) or not value:
        raise SchemaError(f"{where}: field 'image' must be text (an encoded image or a path)")
    body = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    if len(body) > 256 or value.startswith("data:"):  # a path is short; an encoded picture is not
        try:
            raw = base64.b64decode(body, validate=False)
        except (binascii.Error, ValueError) as e:
            raise SchemaError(f"{where}: field 'image' is neither base64 nor a path ({e})") from e
        return {"bytes": raw, "path": None}
    return value


def strip_image_tag(text: str) -> str:
    """Drop `<image>` placeholders (InternVL / LLaVA style) from a prompt."""
    return re.sub(r"<image>\s*", "", text).strip()


def sharegpt_value(turn, where: str, field: str) -> str:
    """The text of one sharegpt turn {"from", "value"}; SchemaError otherwise."""
    if not isinstance(turn, dict) or "value" not in turn:
        raise SchemaError(f"{where}: field {field!r} must be a {{'from', 'value'}} turn")
    return turn["value"]


ROLE_NAMES = {"human": "user", "gpt": "assistant", "model": "assistant", "bot": "assistant"}


def chat_turns(chat, where: str, field: str, roles=None) -> list[tuple[str, str]]:
    """(role, text) turns of a chat list: {"role", "content"} dicts, or FastChat's [role, text] pairs. With `roles`
    (FastChat's names for user and assistant, e.g. ["Human", "Assistant"]) those names map to user / assistant;
    otherwise "human"/"gpt"-style names are mapped and others kept as they are."""
    if not isinstance(chat, list) or not chat:
        raise SchemaError(f"{where}: field {field!r} must be a non-empty chat list")
    names = {roles[0]: "user", roles[1]: "assistant"} if roles and len(roles) >= 2 else {}
    out = []
    for turn in chat:
        if isinstance(turn, dict) and "role" in turn:
            role, text = turn["role"], turn.get("content")
        elif isinstance(turn, (list, tuple)) and len(turn) == 2:
            role, text = turn
        else:
            raise SchemaError(f"{where}: field {field!r} holds a turn that is neither a message nor [role, text]")
        role = names.get(role) or ROLE_NAMES.get(str(role).lower(), role)
        out.append((role, text))
    return out


def split_chat(turns: list[tuple[str, str]], where: str, field: str) -> tuple[list[dict], str, str]:
    """(earlier turns as messages, the last user message, the final assistant answer) of a conversation."""
    if len(turns) < 2 or turns[-1][0] != "assistant" or turns[-2][0] != "user":
        raise SchemaError(f"{where}: field {field!r} must end with a user turn and an assistant answer")
    history = [{"role": r, "content": t} for r, t in turns[:-2]]
    return history, turns[-2][1], turns[-1][1]


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
