"""Adapters from every training dataset the paper trains or ablates to the canonical `Pair`.

Each adapter turns one row of the dataset's own schema into zero or more pairs, or raises `SchemaError`
naming the field. `load_source(key, path_or_id)` reads the Hub id (paper profile) or local files in the same
schema (tiny profile, tests) through one code path. Schemas: ../shared/reference/DATA_FORMATS.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from brlib.data import DropReport, Pair, SchemaError, _require, video_frames


@dataclass(frozen=True)
class Source:
    """One training dataset: its Hub id, default split, modality and row adapter."""

    hub_id: str
    adapter: Callable[[dict, str, dict], list[Pair]]
    split: str = "train"
    modality: str = "image"  # "image" or "text"
    layout: str = "datasets"  # "datasets" (parquet/json via datasets) or "mmpr" (meta.json + jsonl + images)


def _media(path, opts: dict):
    """Resolve a relative media path against `image_root` (default: the data file's folder). An absolute path
    that does not exist here (R1-Reward's JSON holds the authors' paths) is re-rooted there by file name."""
    if not isinstance(path, (str, Path)):
        return path  # decoded PIL image or {"bytes", "path"} dict
    p = Path(path)
    root = opts.get("image_root")
    if root is None or (p.is_absolute() and p.exists()):
        return p
    return Path(root) / (p.name if p.is_absolute() else p)


def _strip_image_tag(text: str) -> str:
    return re.sub(r"<image>\s*", "", text).strip()


def _sharegpt_value(turn, where: str, field: str) -> str:
    if not isinstance(turn, dict) or "value" not in turn:
        raise SchemaError(f"{where}: field {field!r} must be a {{'from', 'value'}} turn")
    return turn["value"]


def _last_assistant(chat, where: str, field: str) -> str:
    if isinstance(chat, list) and chat:
        last = chat[-1]
        if isinstance(last, dict) and last.get("role") == "assistant":
            return last["content"]
        if isinstance(last, (list, tuple)) and len(last) == 2 and last[0] == "assistant":
            return last[1]
    raise SchemaError(f"{where}: field {field!r} must be a chat list ending with an assistant turn")


def _first_user(chat, where: str) -> str:
    for turn in chat or []:
        if isinstance(turn, dict) and turn.get("role") == "user":
            return turn["content"]
        if isinstance(turn, (list, tuple)) and len(turn) == 2 and turn[0] == "user":
            return turn[1]
    raise SchemaError(f"{where}: no user turn in the conversation")


# --- multimodal sources -------------------------------------------------------------------------------------


def rlaif_v(row, where, opts):
    """RLAIF-V: HF image + question/chosen/rejected."""
    _require(row, ["image", "question", "chosen", "rejected"], where)
    return [
        Pair(
            row["question"],
            row["chosen"],
            row["rejected"],
            [_media(row["image"], opts)],
            category=row.get("origin_dataset") or "",
            group_id=str(row.get("idx", "")),
        )
    ]


def mm_rlhf(row, where, opts):
    """MM-RLHF `dpo_pairs.jsonl` (and MM-RLHF-RewardBench): image or frame directory, prompt, chosen, rejected."""
    _require(row, ["prompt", "chosen", "rejected"], where)
    media = row.get("image") or row.get("video")
    if not media:
        raise SchemaError(f"{where}: neither 'image' nor 'video' given")
    images = [_media(row["image"], opts)] if row.get("image") else []
    video = video_frames(_media(row["video"], opts)) if row.get("video") else []
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
    _require(row, ["question", "chosen", "rejected"], where)
    images = row.get("image") or []
    images = [images] if isinstance(images, str) else list(images)
    root = Path(opts.get("subset_root", "."))
    return [
        Pair(
            row["question"],
            row["chosen"],
            row["rejected"],
            [_media(str(root / p), opts) for p in images],
            category=opts.get("subset", ""),
        )
    ]


_RESPONSE = re.compile(r"\[Response ([12])\]:?\s*(.*?)(?=\n\s*\[Response [12]\]|\n\s*\[[A-Z][^\]]*\]|\Z)", re.S)


def r1_reward(row, where, opts):
    """R1-Reward: a JSON chat whose user turn inlines [Response 1] and [Response 2]; answer <answer>k</answer>."""
    _require(row, ["message", "answer"], where)
    try:
        chat = json.loads(row["message"]) if isinstance(row["message"], str) else row["message"]
    except json.JSONDecodeError as e:
        raise SchemaError(f"{where}: field 'message' is not JSON ({e})") from e
    texts, images = [], []
    for turn in chat:
        content = turn.get("content") if isinstance(turn, dict) else None
        for part in content if isinstance(content, list) else [{"type": "text", "text": content or ""}]:
            if part.get("type") == "image" or "image" in part:
                images.append(_media(part.get("image") or part.get("value"), opts))
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
    _require(row, ["conversations", "chosen", "rejected"], where)
    human = [t["value"] for t in row["conversations"] if t.get("from") in ("human", "user")]
    if not human:
        raise SchemaError(f"{where}: no human turn in 'conversations'")
    images = row.get("images") or ([row["image"]] if row.get("image") else [])
    return [
        Pair(
            _strip_image_tag(human[-1]),
            _sharegpt_value(row["chosen"], where, "chosen"),
            _sharegpt_value(row["rejected"], where, "rejected"),
            [_media(p, opts) for p in images],
        )
    ]


def omnialign_v_dpo(row, where, opts):
    """OmniAlign-V-DPO: the ranking layout, or flat image/question/chosen/rejected (schema unverified)."""
    if "conversations" in row:
        return sharegpt_ranking(row, where, opts)
    _require(row, ["image", "chosen", "rejected"], where)
    prompt = row.get("question") or row.get("prompt")
    if prompt is None:
        raise SchemaError(f"{where}: missing field 'question' (or 'prompt')")
    return [Pair(_strip_image_tag(prompt), row["chosen"], row["rejected"], [_media(row["image"], opts)])]


def povid(row, where, opts):
    """POVID: `conversations` (preferred) and `rejected_conversations` share the human turn; COCO image path."""
    _require(row, ["image", "conversations", "rejected_conversations"], where)
    chosen, rejected = row["conversations"], row["rejected_conversations"]
    if len(chosen) < 2 or len(rejected) < 2:
        raise SchemaError(f"{where}: conversations need a human and a gpt turn")
    return [
        Pair(
            _strip_image_tag(chosen[0]["value"]),
            chosen[-1]["value"],
            rejected[-1]["value"],
            [_media(row["image"], opts)],
            group_id=str(row.get("id", "")),
        )
    ]


def _rating(x) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def vlfeedback(row, where, opts):
    """VLFeedback: 4 rated completions -> best vs worst by mean aspect rating (skipped below `min_gap`)."""
    _require(row, ["prompt", "completions", "img_path"], where)
    rated = []
    for c in row["completions"]:
        scores = [_rating(a.get("Rating")) for a in (c.get("annotations") or {}).values() if isinstance(a, dict)]
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
            [_media(row["img_path"], opts)],
            group_id=str(row.get("id", "")),
            margin=high - low,
        )
    ]


# --- text-only sources ----------------------------------------------------------------------------------------


def chat_pairs(row, where, opts):
    """Skywork / OLMo-2 / Tulu-3 / WildChat-UF: chosen and rejected are chat lists that include the prompt."""
    _require(row, ["chosen", "rejected"], where)
    prompt = row.get("prompt") or _first_user(row["chosen"], where)
    return [
        Pair(
            prompt,
            _last_assistant(row["chosen"], where, "chosen"),
            _last_assistant(row["rejected"], where, "rejected"),
            category=row.get("category") or row.get("source") or "",
            group_id=str(row.get("id", "")),
        )
    ]


def ultrafeedback(row, where, opts):
    """UltraFeedback: every pair of completions with different `overall_score` (mode "all"), or per prompt
    the best vs the worst when their gap is at least `min_gap` (mode "hard", our Ultra-Hard rule)."""
    _require(row, ["instruction", "completions"], where)
    if opts.get("drop_truthful_qa", True) and row.get("source") == "truthful_qa":
        return []
    scored = [
        (c["overall_score"], c["response"])
        for c in row["completions"]
        if _rating(c.get("overall_score")) is not None and c.get("response")
    ]
    scored.sort(key=lambda t: -t[0])
    if opts.get("mode", "all") == "hard":
        if len(scored) < 2 or scored[0][0] - scored[-1][0] < opts.get("min_gap", 1.0):
            return []
        return [Pair(row["instruction"], scored[0][1], scored[-1][1], margin=scored[0][0] - scored[-1][0])]
    return [
        Pair(row["instruction"], a, b, margin=sa - sb)
        for i, (sa, a) in enumerate(scored)
        for sb, b in scored[i + 1 :]
        if sa > sb
    ]


def shp(row, where, opts):
    """SHP: `history` is the prompt, `labels` is 1 when comment A is preferred."""
    _require(row, ["history", "human_ref_A", "human_ref_B", "labels"], where)
    a, b = row["human_ref_A"], row["human_ref_B"]
    chosen, rejected = (a, b) if int(row["labels"]) == 1 else (b, a)
    return [
        Pair(row["history"], chosen, rejected, category=row.get("domain", ""), group_id=str(row.get("post_id", "")))
    ]


def swe_arena(row, where, opts):
    """SWE-Arena: `feedback.vote_type` picks model A or B; ties and both-bad votes give no pair."""
    _require(row, ["feedback", "states", "instruction"], where)
    vote = (row["feedback"] or {}).get("vote_type", "")
    if vote not in ("leftvote", "rightvote"):
        return []
    states = row["states"]
    a = _last_assistant(states["model_A"]["messages"], where, "states.model_A.messages")
    b = _last_assistant(states["model_B"]["messages"], where, "states.model_B.messages")
    chosen, rejected = (a, b) if vote == "leftvote" else (b, a)
    return [Pair(row["instruction"], chosen, rejected, group_id=str(row.get("chat_session_id", "")))]


SOURCES: dict[str, Source] = {
    "rlaif_v": Source("openbmb/RLAIF-V-Dataset", rlaif_v),
    "mmpr_v1_2": Source("OpenGVLab/MMPR-v1.2", mmpr, layout="mmpr"),
    "r1_reward": Source("yifanzhang114/R1-Reward-RL", r1_reward),
    "mmif": Source("ChrisDing1105/MMIF-23k", sharegpt_ranking),
    "omnialign_v_dpo": Source("PhoenixZ/OmniAlign-V-DPO", omnialign_v_dpo),
    "mm_rlhf": Source("yifanzhang114/MM-RLHF", mm_rlhf),
    "vlfeedback": Source("MMInstruction/VLFeedback", vlfeedback),
    "povid": Source("YiyangAiLab/POVID_preference_data_for_VLLMs", povid),
    "ultrafeedback_all": Source("openbmb/UltraFeedback", ultrafeedback, modality="text"),
    "ultrafeedback_hard": Source("openbmb/UltraFeedback", ultrafeedback, modality="text"),
    "shp": Source("stanfordnlp/SHP", shp, modality="text"),
    "tulu3_if": Source("allenai/tulu-3-IF-augmented-on-policy-70b", chat_pairs, modality="text"),
    "olmo2_mix": Source("allenai/olmo-2-0425-1b-preference-mix", chat_pairs, modality="text"),
    "wildchat_uf": Source("allenai/tulu-3-wildchat-ultrafeedback", chat_pairs, split="wildchat_if", modality="text"),
    "swe_arena": Source("bigcode/swe-arena-preference-5k", swe_arena, modality="text"),
    "skywork": Source("Skywork/Skywork-Reward-Preference-80K-v0.1", chat_pairs, modality="text"),
}
DEFAULT_OPTS = {"ultrafeedback_hard": {"mode": "hard", "min_gap": 1.0}, "ultrafeedback_all": {"mode": "all"}}


def _rows(path_or_id: str, split: str):
    """(where-prefix, row) over a Hub dataset or local parquet / json / jsonl files, in a stable order."""
    import datasets

    p = Path(path_or_id)
    if not p.exists():
        yield from ((f"{path_or_id}:{split}", r) for r in datasets.load_dataset(path_or_id, split=split))
        return
    files = sorted(f for f in (p.rglob("*") if p.is_dir() else [p]) if f.suffix in {".parquet", ".json", ".jsonl"})
    for f in files:
        if f.suffix == ".parquet":
            rows = datasets.load_dataset("parquet", data_files=str(f), split="train")
        else:  # json lists and json lines; read directly so nested fields keep their shape
            text = f.read_text()
            rows = (
                json.loads(text)
                if text.lstrip().startswith("[")
                else [json.loads(x) for x in text.splitlines() if x.strip()]
            )
        yield from ((str(f), r) for r in rows)


def _mmpr_rows(path_or_id: str):
    """MMPR layout: meta.json maps each subset to its image root and annotation jsonl."""
    root = Path(path_or_id)
    if not root.exists():
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(path_or_id, repo_type="dataset"))
    meta_file = root / "meta.json" if root.is_dir() else root
    meta = json.loads(meta_file.read_text())
    for subset, m in meta.items():
        ann = meta_file.parent / m["annotation"]
        sub_root = Path(m["root"]) if Path(m["root"]).is_absolute() else meta_file.parent / m["root"]
        for line in ann.read_text().splitlines():
            if line.strip():
                yield str(ann), json.loads(line), {"subset": subset, "subset_root": sub_root}


def load_source(
    key: str,
    path_or_id: str | None = None,
    split: str | None = None,
    lenient: bool = False,
    limit: int | None = None,
    **opts,
) -> tuple[list[Pair], DropReport]:
    """Read one training source as canonical pairs. Used in: 00_quickstart.ipynb.

    Rows that do not fit the schema raise `SchemaError` naming file, row and field; with `lenient=True` they are
    dropped and counted instead. Rows that legitimately give no pair (ties, low gaps) are counted too.
    """
    if key not in SOURCES:
        raise ValueError(f"unknown source {key!r}; known: {sorted(SOURCES)}")
    src = SOURCES[key]
    opts = {**DEFAULT_OPTS.get(key, {}), **opts}
    target = path_or_id or src.hub_id
    rows = _mmpr_rows(target) if src.layout == "mmpr" else ((w, r, {}) for w, r in _rows(target, split or src.split))
    pairs, report, counters = [], DropReport(), {}
    local = Path(target).exists()
    for w, row, extra in rows:
        i = counters[w] = counters.get(w, -1) + 1
        if local and "image_root" not in opts and "subset_root" not in extra:
            extra = {**extra, "image_root": Path(w).parent}
        if limit is not None and report.read >= limit:
            break
        report.read += 1
        try:
            got = src.adapter(row, f"{w}[row {i}]", {**opts, **extra})
        except SchemaError:
            if not lenient:
                raise
            report.reasons["schema error"] += 1
            continue
        if not got:
            report.reasons["no pair (tie or below gap)"] += 1
        for j, p in enumerate(got):
            p.source = key
            p.group_id = p.group_id or f"{Path(w).name}:{i}"
            p.uid = f"{key}/{Path(w).name}:{i}/{j}"
            pairs.append(p)
    report.kept = len(pairs)
    return pairs, report
