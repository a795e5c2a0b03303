"""Image (and video) preference sets: RLAIF-V, MM-RLHF, MMPR, R1-Reward, MMIF, OmniAlign-V-DPO, POVID, VLFeedback.

Each adapter turns one row of the dataset's own schema into zero or more pairs, or raises `SchemaError` naming the
field. Schemas: ../shared/reference/DATA_FORMATS.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from brlib.data.pair import Pair, SchemaError, require, video_frames
from brlib.data.sources.common import rating, resolve_media, sharegpt_value, strip_image_tag


def rlaif_v(row, where, opts):
    """RLAIF-V: HF image + question/chosen/rejected."""
    require(row, ["image", "question", "chosen", "rejected"], where)
    return [
        Pair(
            row["question"],
            row["chosen"],
            row["rejected"],
            [resolve_media(row["image"], opts)],
            category=row.get("origin_dataset") or "",
            group_id=str(row.get("idx", "")),
        )
    ]


def mm_rlhf(row, where, opts):
    """MM-RLHF `dpo_pairs.jsonl` (and MM-RLHF-RewardBench): image or frame directory, prompt, chosen, rejected."""
    require(row, ["prompt", "chosen", "rejected"], where)
    media = row.get("image") or row.get("video")
    if not media:
        raise SchemaError(f"{where}: neither 'image' nor 'video' given")
    images = [resolve_media(row["image"], opts)] if row.get("image") else []
    video = video_frames(resolve_media(row["video"], opts)) if row.get("video") else []
    return [
        Pair(
            row["prompt"],
            row["chosen"],
            row["rejected"],
            images,
            group_id=str(row.get("id", "")),
            video=video,
            meta={k: row[k] for k in ("chosen_reason", "rejected_reason") if row.get(k)},
        )
    ]


def mmpr(row, where, opts):
    """MMPR v1.2 annotation line: image (path or list, relative to the subset root), question, chosen, rejected."""
    require(row, ["question", "chosen", "rejected"], where)
    images = row.get("image") or []
    images = [images] if isinstance(images, str) else list(images)
    root = Path(opts.get("subset_root", "."))
    return [
        Pair(
            row["question"],
            row["chosen"],
            row["rejected"],
            [resolve_media(str(root / p), opts) for p in images],
            category=opts.get("subset", ""),
        )
    ]


_RESPONSE = re.compile(r"\[Response ([12])\]:?\s*(.*?)(?=\n\s*\[Response [12]\]|\n\s*\[[A-Z][^\]]*\]|\Z)", re.S)


def r1_reward(row, where, opts):
    """R1-Reward: a JSON chat whose user turn inlines [Response 1] and [Response 2]; answer <answer>k</answer>."""
    require(row, ["message", "answer"], where)
    try:
        chat = json.loads(row["message"]) if isinstance(row["message"], str) else row["message"]
    except json.JSONDecodeError as e:
        raise SchemaError(f"{where}: field 'message' is not JSON ({e})") from e
    texts, images = [], []
    for turn in chat:
        content = turn.get("content") if isinstance(turn, dict) else None
        for part in content if isinstance(content, list) else [{"type": "text", "text": content or ""}]:
            if part.get("type") == "image" or "image" in part:
                images.append(resolve_media(part.get("image") or part.get("value"), opts))
            elif part.get("text"):
                texts.append(part["text"])
    found = dict((k, v.strip()) for k, v in _RESPONSE.findall("\n".join(texts)))
    answer = row["answer"][0] if isinstance(row["answer"], list) else row["answer"]
    m = re.search(r"<answer>\s*([12])\s*</answer>", str(answer))
    if set(found) != {"1", "2"} or m is None:
        raise SchemaError(f"{where}: could not find [Response 1], [Response 2] and <answer>1|2</answer>")
    best = m.group(1)
    return [Pair(row.get("question") or "", found[best], found["2" if best == "1" else "1"], images)]


def sharegpt_ranking(row, where, opts):
    """MMIF-23k / OmniAlign-V-DPO (LLaMA-Factory ranking): conversations + chosen/rejected turns + images."""
    require(row, ["conversations", "chosen", "rejected"], where)
    human = [t["value"] for t in row["conversations"] if t.get("from") in ("human", "user")]
    if not human:
        raise SchemaError(f"{where}: no human turn in 'conversations'")
    images = row.get("images") or ([row["image"]] if row.get("image") else [])
    return [
        Pair(
            strip_image_tag(human[-1]),
            sharegpt_value(row["chosen"], where, "chosen"),
            sharegpt_value(row["rejected"], where, "rejected"),
            [resolve_media(p, opts) for p in images],
        )
    ]


def omnialign_v_dpo(row, where, opts):
    """OmniAlign-V-DPO: the ranking layout, or flat image/question/chosen/rejected (schema unverified)."""
    if "conversations" in row:
        return sharegpt_ranking(row, where, opts)
    require(row, ["image", "chosen", "rejected"], where)
    prompt = row.get("question") or row.get("prompt")
    if prompt is None:
        raise SchemaError(f"{where}: missing field 'question' (or 'prompt')")
    return [Pair(strip_image_tag(prompt), row["chosen"], row["rejected"], [resolve_media(row["image"], opts)])]


def povid(row, where, opts):
    """POVID: `conversations` (preferred) and `rejected_conversations` share the human turn; COCO image path."""
    require(row, ["image", "conversations", "rejected_conversations"], where)
    chosen, rejected = row["conversations"], row["rejected_conversations"]
    if len(chosen) < 2 or len(rejected) < 2:
        raise SchemaError(f"{where}: conversations need a human and a gpt turn")
    return [
        Pair(
            strip_image_tag(chosen[0]["value"]),
            chosen[-1]["value"],
            rejected[-1]["value"],
            [resolve_media(row["image"], opts)],
            group_id=str(row.get("id", "")),
        )
    ]


def vlfeedback(row, where, opts):
    """VLFeedback: 4 rated completions -> best vs worst by mean aspect rating (skipped below `min_gap`)."""
    require(row, ["prompt", "completions", "img_path"], where)
    rated = []
    for c in row["completions"]:
        scores = [rating(a.get("Rating")) for a in (c.get("annotations") or {}).values() if isinstance(a, dict)]
        scores = [s for s in scores if s is not None]  # ratings are strings; some are not numbers
        if scores:
            rated.append((sum(scores) / len(scores), c["response"]))
    if len(rated) < 2:
        return []
    rated.sort(key=lambda t: t[0])
    (low, worst), (high, best) = rated[0], rated[-1]
    if high - low < opts.get("min_gap", 1.0):
        return []
    return [
        Pair(
            row["prompt"],
            best,
            worst,
            [resolve_media(row["img_path"], opts)],
            group_id=str(row.get("id", "")),
            margin=high - low,
        )
    ]
