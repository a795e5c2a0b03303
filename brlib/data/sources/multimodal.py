"""Image (and video) preference sets: RLAIF-V, MM-RLHF, MMPR, R1-Reward, MMIF, OmniAlign-V-DPO, POVID, VLFeedback.

Each adapter turns one row of the dataset's own schema into zero or more pairs, or raises `SchemaError` naming the
field. Schemas: ../shared/reference/DATA_FORMATS.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from brlib.data.hub import LayoutError
from brlib.data.pair import Pair, SchemaError, require, video_frames
from brlib.data.sources.common import decode_image_field, rating, resolve_media, sharegpt_value, strip_image_tag


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
    """MMPR v1.2 annotation line: image (path or list, relative to the subset root), question, chosen, rejected.

    A row without an `image` key is a text-only pair; a row whose `image` is null or not a path is a SchemaError,
    never a silently text-only pair."""
    require(row, ["question", "chosen", "rejected"], where)
    images = row.get("image", [])
    if images is None:
        raise SchemaError(f"{where}: field 'image' is null (omit the key for a text-only row)")
    images = [images] if isinstance(images, str) else images
    if not isinstance(images, list) or not all(isinstance(x, str) and x for x in images):
        raise SchemaError(f"{where}: field 'image' must be a path or a list of paths, got {row['image']!r:.60}")
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


# R1-Reward's judging template puts each part under a header on its own line ("###### [Response 1]:" then the
# answer; the README's example uses "####"); the tiny world writes "[Response 1]: answer" inline. Response 1 runs
# to the Response 2 header, Response 2 to the template's next header, so markdown inside an answer survives.
_R1_HEADER = r"^[ \t]*(?:#{{1,6}}[ \t]*)?\[Response {k}\]:?[ \t]*\n?"
_R1_END = re.compile(r"^[ \t]*#{1,6}[ \t]*\*\*|^[ \t]*#{0,6}[ \t]*\[(?!Response [12]\])[A-Z][^\]\n]*\]:", re.M)


def r1_responses(text: str) -> tuple[str, str] | None:
    """(response 1, response 2) cut out of an R1-Reward judging prompt, or None if either header is missing."""
    h1 = re.search(_R1_HEADER.format(k=1), text, re.M)
    h2 = re.search(_R1_HEADER.format(k=2), text[h1.end() :], re.M) if h1 else None
    if h2 is None:
        return None
    start2 = h1.end() + h2.end()
    end = _R1_END.search(text, start2)
    return text[h1.end() : h1.end() + h2.start()].strip(), text[start2 : end.start() if end else len(text)].strip()


def r1_reward(row, where, opts):
    """R1-Reward: a JSON chat whose user turn inlines [Response 1] and [Response 2]; answer <answer>k</answer>.

    An empty response section gives an empty response (dropped and counted by the collator), never the next
    section's text."""
    require(row, ["message", "answer"], where)
    try:
        chat = json.loads(row["message"]) if isinstance(row["message"], str) else row["message"]
    except json.JSONDecodeError as e:
        raise SchemaError(f"{where}: field 'message' is not JSON ({e})") from e
    if not isinstance(chat, list):
        raise SchemaError(f"{where}: field 'message' must be a JSON list of chat turns")
    texts, images = [], []
    for turn in chat:
        content = turn.get("content") if isinstance(turn, dict) else None
        for part in content if isinstance(content, list) else [{"type": "text", "text": content or ""}]:
            if not isinstance(part, dict):
                raise SchemaError(f"{where}: a content part of 'message' is not an object")
            if part.get("type") == "image" or "image" in part:
                images.append(resolve_media(part.get("image") or part.get("value"), opts))
            elif part.get("text"):
                texts.append(part["text"])
    if row.get("image"):  # the picture itself (encoded); the path inside `message` is the authors' machine's
        images = [resolve_media(decode_image_field(row["image"], where), opts)]
    found = r1_responses("\n".join(texts))
    answer = row["answer"][0] if isinstance(row["answer"], list) and row["answer"] else row["answer"]
    m = re.search(r"<answer>\s*([12])\s*</answer>", str(answer))
    if found is None or m is None:
        raise SchemaError(f"{where}: could not find [Response 1], [Response 2] and <answer>1|2</answer>")
    best = int(m.group(1)) - 1
    return [Pair(row.get("question") or "", found[best], found[1 - best], images)]


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
    """POVID: `conversations` (preferred) and `rejected_conversations` share the human turn; the image is COCO
    train2014, which the repository does not ship: `image_root` must name the folder of `COCO_train2014_*.jpg`."""
    require(row, ["image", "conversations", "rejected_conversations"], where)
    if opts.get("image_root") is None:
        raise LayoutError(
            f"{where}: POVID's images are COCO train2014, not shipped with the dataset: pass "
            "options {image_root: <folder with COCO_train2014_*.jpg>} (e.g. from cocodataset.org train2014.zip)"
        )
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
    """VLFeedback: 4 rated completions -> best vs worst by mean aspect rating (skipped below `min_gap`). The jsonl
    has no image path: the repository's loading script uses merged_images/<id>.jpg from merged_images.zip."""
    require(row, ["prompt", "completions", "id"], where)
    img_path = row.get("img_path") or f"merged_images/{row['id']}.jpg"
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
            [resolve_media(img_path, opts)],
            group_id=str(row.get("id", "")),
            margin=high - low,
        )
    ]
