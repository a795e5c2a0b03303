"""Omni-RewardBench (HongbangYuan/OmniRewardBench): nine tasks over five modalities, each item a prompt, two
responses (text, or a generated image, clip, audio or 3D multi-view render), a free-form criterion and the
preference under it (`response1`, `response2` or `tie`). One parquet per task config, split `test`; media under
`media_data/` (from `media_data.zip`); rows of one response pair with several criteria share a `group_id`.

Official rules (OmniReward code @ cc81185: run_exp.py, utils/video_utils.py, OmniReward-Factory metric.py):
- **w/o ties**: tie rows removed; accuracy of the sign of s1 - s2, an exact score tie counts as wrong;
- **w/ ties**, scalar models: tie calibration (brlib.bench.ties): the best three-way accuracy over thresholds taken
  from the task's own |s1 - s2| (an oracle chosen per task); we group equal |m| and score the "no tie" state, as the
  algorithm intends, and also report what the released code's loop returns (`acc_with_ties_official_code`) and a
  held-out threshold (ours: `acc_with_ties_heldout_eps`, epsilon from the other half of the task's pairs);
- generative judges: a 3-way verdict per row (`[[A]]`/`[[B]]`/`[[C]]` or `\\boxed{...}`; both A and B, or none,
  is unparsable and counts as wrong); w/ ties = exact match over all rows, w/o ties = over the non-tie rows;
- **Overall** = unweighted mean over the tasks the model supports; an unsupported task (every score row null) is
  "-" and left out. Response order is response1, response2 (never shuffled, as the official evaluation).
Video is sampled as the official judges see it: 10 frames for TV2T, 5 per clip for T2V (np.linspace, dtype int).
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from pathlib import Path

from brlib.bench import ties
from brlib.bench.common import BenchRow, read_rows, text
from brlib.data.media import Media
from brlib.data.pair import SchemaError, require

TASKS = {  # short name -> Hub config, in the paper's column order
    "T2T": "text_to_text",
    "TI2T": "text_image_to_text",
    "TV2T": "text_video_to_text",
    "TA2T": "text_audio_to_text",
    "T2I": "text_to_image",
    "T2V": "text_to_video",
    "T2A": "text_to_audio",
    "T23D": "text_to_3D",
    "TI2I": "text_image_to_image",
}
CONFIG_TASK = {v: k for k, v in TASKS.items()}
FRAMES = {"TV2T": 10, "T2V": 5}  # frames per clip in the official evaluation (run_exp.py --max_num_frames default)
RESPONSE_KIND = {"T2I": "image", "T23D": "image", "TI2I": "image", "T2V": "video", "T2A": "audio"}
LABELS = {"response1": 1, "response2": -1, "tie": 0}


def task_of(name: str) -> str:
    """A task's short name from a short name or a Hub config name (case-insensitive); ValueError otherwise."""
    for short, config in TASKS.items():
        if name.lower() in (short.lower(), config.lower()):
            return short
    raise ValueError(f"unknown Omni-RewardBench task {name!r}; known: {list(TASKS)} (or their configs)")


def _files(path: Path, task: str | None) -> list[tuple[str, Path]]:
    """(task, parquet) of a parquet file (task from its folder or `task`) or of a root with one folder per config."""
    if path.is_file():
        t = CONFIG_TASK.get(path.parent.name) or (task_of(task) if task else None)
        if t is None:
            raise SchemaError(f"{path}: cannot tell its task (not in a config folder): pass task=")
        return [(t, path)]
    found = [
        (CONFIG_TASK[d.name], f) for d in sorted(path.iterdir()) if d.name in CONFIG_TASK for f in d.glob("*.parquet")
    ]
    if not found:
        raise FileNotFoundError(f"no <config>/*.parquet under {path} (configs: {list(TASKS.values())})")
    return found


def _media(value, path_value, root: Path | None, where: str, name: str):
    """A media field: an undecoded HF Image/Audio struct with bytes, or a path (the field itself or its `*_path`
    twin) resolved under the media root (`media_data/<rel>` first, then `<rel>`)."""
    if isinstance(value, dict) and value.get("bytes"):
        return value
    rel = value.get("path") if isinstance(value, dict) else value
    rel = rel or path_value
    if not isinstance(rel, str) or not rel:
        raise SchemaError(f"{where}: field {name!r} holds no media (no bytes, no path)")
    if root is None or Path(rel).is_absolute():
        return Path(rel)
    candidates = [root / "media_data" / rel, root / rel]
    return next((c for c in candidates if c.exists()), candidates[0])


def load_omni_rewardbench(path, task: str | None = None, image_root=None, frames: dict | None = None):
    """Rows of one task parquet or of a root with one folder per config (all tasks, or `task`), in the paper's
    task order. Media resolve under `image_root` (the Hub layout's extraction root) or the folder above the
    configs. Video fields become `Media` sampled to `frames[task]` frames (default: the official 10 / 5)."""
    frames = {**FRAMES, **(frames or {})}
    path = Path(path)
    want = task_of(task) if task and task.lower() != "all" else None
    out = []
    for t, f in _files(path, want):
        if want and t != want:
            continue
        root = Path(image_root) if image_root else f.parent.parent
        for where, r in read_rows(f):
            out.append(_row(t, r, where, root, frames))
    order = list(TASKS)
    return sorted(out, key=lambda row: order.index(row.category))  # stable: file order within a task


def _row(t: str, r: dict, where: str, root: Path, frames: dict) -> BenchRow:
    require(r, ["prompt", "response1", "response2", "criteria", "criteria_preference"], where)
    criterion, label = text(r, "criteria", where), text(r, "criteria_preference", where).strip().lower()
    if not criterion.strip():
        raise SchemaError(f"{where}: empty criterion")
    if label not in LABELS:
        raise SchemaError(f"{where}: criteria_preference must be one of {list(LABELS)}, got {label!r}")
    kind = RESPONSE_KIND.get(t)
    responses = []
    for k in ("response1", "response2"):
        if kind is None:
            responses.append(text(r, k, where))
        else:
            src = _media(r[k], r.get(f"{k}_path"), root, where, k)
            responses.append(Media(kind, src, n_frames=frames["T2V"] if kind == "video" else None))
    row = BenchRow(text(r, "prompt", where), responses, 0 if LABELS[label] >= 0 else 1, category=t, uid=where)
    row.criterion, row.tie = criterion, LABELS[label] == 0
    if t in ("TI2T", "TI2I"):
        row.images = [_media(r.get("image"), r.get("image_path"), root, where, "image")]
    if t == "TV2T":
        row.video = Media("video", _media(r.get("video"), None, root, where, "video"), n_frames=frames["TV2T"])
    if t == "TA2T":
        row.audio = [_media(r.get("audio"), r.get("audio_path"), root, where, "audio")]
    row.layout = "missing" if any(isinstance(p, Path) and not p.exists() for p in _paths(row)) else "hub"
    inputs = [*row.images, *row.audio, *([row.video.source] if row.video else [])]
    key = [row.prompt, *(_key(r.source) if isinstance(r, Media) else r for r in responses), *map(_key, inputs)]
    row.group_id = f"{t}:" + hashlib.sha1("\x00".join(key).encode()).hexdigest()[:16]  # the pair, across criteria
    return row


def _key(src) -> str:
    """What identifies a media response: its path, else a hash of its bytes."""
    if isinstance(src, dict):
        return src.get("path") or hashlib.sha1(src["bytes"]).hexdigest()
    return str(src)


def _paths(row: BenchRow) -> list:
    media = [*row.images, *row.audio, row.video, *row.responses]
    return [m.source if isinstance(m, Media) else m for m in media if m]


def labels(rows: list[BenchRow]) -> list[int]:
    """Human labels relative to the slot order: 1 response1, -1 response2, 0 tie."""
    return [0 if r.tie else (1 if r.chosen == 0 else -1) for r in rows]


def _fold(row: BenchRow) -> int:
    """A stable half of the rows for the held-out threshold: by response pair (all criteria of a pair in one half, so
    no pair's margin helps choose the threshold it is scored with), from its content, not from where the file is."""
    return zlib.crc32(row.group_id.encode()) % 2


def task_metrics(rows: list[BenchRow], scores: list[list[float]]) -> dict:
    """Both official metrics of one task from scalar scores [s1, s2], plus the official code's value and ours."""
    h = labels(rows)
    m = [s[0] - s[1] for s in scores]
    cal = ties.tie_calibration(h, m)
    folds = [[i for i, r in enumerate(rows) if _fold(r) == k] for k in (0, 1)]
    held = 0
    for k in (0, 1):  # epsilon from one half, applied to the other
        src, dst = folds[1 - k], folds[k]
        if dst:
            eps = ties.heldout_threshold([h[i] for i in src], [m[i] for i in src]) if src else -1.0
            held += ties.accuracy_at([h[i] for i in dst], [m[i] for i in dst], eps) * len(dst)
    return {
        "acc_without_ties": ties.accuracy_without_ties(h, m),
        "acc_with_ties": cal["acc"],
        "epsilon": cal["epsilon"],
        "acc_with_ties_official_code": ties.official_code_accuracy(h, m),
        "acc_with_ties_heldout_eps": held / len(rows),
        "n": len(rows),
        "n_non_tie": sum(x != 0 for x in h),
        "n_tie": sum(x == 0 for x in h),
        "n_score_tie": sum(x == 0 for x in m),
    }


def _by_task(rows, values) -> dict:
    out = {}
    for r, v in zip(rows, values):
        out.setdefault(r.category, ([], []))
        out[r.category][0].append(r)
        out[r.category][1].append(v)
    return out


def _overall(per: dict, keys: list[str]) -> dict:
    supported = [t for t, v in per.items() if v != "-"]
    out = {f"overall_{k.removeprefix('acc_')}": _mean([per[t][k] for t in supported]) for k in keys}
    return {**out, "tasks_in_overall": supported, "unsupported": [t for t, v in per.items() if v == "-"]}


def _mean(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return sum(xs) / len(xs) if xs else math.nan


def metrics_omni_rewardbench(rows, scores, ties_rule: str = "wrong") -> dict:
    """Per task: accuracy w/o ties and w/ ties (tie calibration), then Overall = the unweighted mean over the tasks
    with scores. A task whose score rows are all None is unsupported ("-"); partly None is an error. (`ties_rule`
    is the registry's generic option; Omni-RewardBench's own rules above apply whatever it says.)"""
    per = {}
    for t, (task_rows, task_scores) in _by_task(rows, scores).items():
        missing = sum(s is None for s in task_scores)
        if missing == len(task_scores):
            per[t] = "-"
        elif missing:
            raise ValueError(
                f"{t}: {missing} of {len(task_scores)} score rows are null: a task is scored whole or not"
            )
        else:
            per[t] = task_metrics(task_rows, task_scores)
    keys = ["acc_without_ties", "acc_with_ties", "acc_with_ties_official_code", "acc_with_ties_heldout_eps"]
    return {**_overall(per, keys), "n": len(rows), "categories": per}


VERDICT = {
    "a": "response1",
    "b": "response2",
    "c": "tie",
    "response1": "response1",
    "response2": "response2",
    "tie": "tie",
}


def parse_judgement(output: str | None) -> str | None:
    """A judge's verdict by the official parser's rules: `[[A]]` / `\\boxed{A}` -> response1, B -> response2,
    C -> tie; A and B both present in one notation, or no verdict -> None (counted wrong)."""
    if not isinstance(output, str):
        return None
    for a, b in (("[[A]]", "[[B]]"), (r"\boxed{A}", r"\boxed{B}")):
        if a in output and b in output:
            return None
    for mark in ("[[A]]", "[[B]]", r"\boxed{A}", r"\boxed{B}", "[[C]]", r"\boxed{C}"):
        if mark in output:
            return VERDICT[re.sub(r"[^ABC]", "", mark).lower()]
    return None


def verdict_of(line) -> str | None:
    """One verdict-file line: {"verdict": "A"|"B"|"C"|"response1"|"response2"|"tie"|"[[A]]"...|null}, {"output":
    the judge's text} (parsed), or {"verdict": "-"} for a task the judge does not support."""
    if not isinstance(line, dict):
        raise SchemaError(f"a verdict line must be an object, got {line!r:.60}")
    if "output" in line:
        return parse_judgement(line["output"])
    v = line.get("verdict")
    if v == "-":
        return "-"
    if v is None:
        return None
    return VERDICT.get(str(v).strip().lower()) or parse_judgement(str(v))


def verdict_metrics(rows: list[BenchRow], verdicts: list, no_tie_verdicts: list | None = None) -> dict:
    """Generative judges: w/ ties = exact 3-way match over all rows; w/o ties = match over the non-tie rows, from
    `no_tie_verdicts` (the official A/B-only run) when given, else from the same verdicts (a tie verdict is wrong).
    Unparsable verdicts (None) count as wrong; a task whose verdicts are all "-" is unsupported."""
    if len(verdicts) != len(rows):
        raise ValueError(f"{len(verdicts)} verdicts for {len(rows)} rows: the files must align by row")
    decided = [i for i, r in enumerate(rows) if not r.tie]
    if no_tie_verdicts is not None and len(no_tie_verdicts) not in (len(rows), len(decided)):
        raise ValueError(f"{len(no_tie_verdicts)} w/o-ties verdicts: expected {len(rows)} or {len(decided)}")
    if no_tie_verdicts is None:
        plain = list(verdicts)
    elif len(no_tie_verdicts) == len(rows):
        plain = list(no_tie_verdicts)
    else:
        plain = [None] * len(rows)
        for i, v in zip(decided, no_tie_verdicts):
            plain[i] = v
    truth = ["tie" if r.tie else ("response1" if r.chosen == 0 else "response2") for r in rows]
    per = {}
    for t in dict.fromkeys(r.category for r in rows):
        task_idx = [i for i, r in enumerate(rows) if r.category == t]
        vs = [verdicts[i] for i in task_idx]
        if all(v == "-" for v in vs):
            per[t] = "-"
            continue
        non_tie = [i for i in task_idx if not rows[i].tie]
        per[t] = {
            "acc_with_ties": sum(verdicts[i] == truth[i] for i in task_idx) / len(task_idx),
            "acc_without_ties": sum(plain[i] == truth[i] for i in non_tie) / len(non_tie) if non_tie else math.nan,
            "n": len(task_idx),
            "n_non_tie": len(non_tie),
            "n_unparsed": sum(verdicts[i] is None for i in task_idx),
        }
    return {**_overall(per, ["acc_without_ties", "acc_with_ties"]), "n": len(rows), "categories": per}
