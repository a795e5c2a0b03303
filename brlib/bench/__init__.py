"""Benchmarks with their official metric rules: one module per benchmark, the registry `BENCHMARKS`, and the
score-file CLI (`python -m brlib.bench`, in `__main__`). Rules: ../shared/reference/DATA_FORMATS.md section 2.

A new benchmark is one module here (a loader returning `BenchRow`s and a metric function) and one registry line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from brlib.bench.common import BenchRow
from brlib.bench.mm_rlhf_rewardbench import MM_RLHF_CATEGORIES, load_mm_rlhf_rewardbench, metrics_mm_rlhf_rewardbench
from brlib.bench.multimodal_rewardbench import (
    MMRB_SUBCATEGORIES,
    load_multimodal_rewardbench,
    metrics_multimodal_rewardbench,
)
from brlib.bench.omni_rewardbench import TASKS as OMNI_TASKS
from brlib.bench.omni_rewardbench import load_omni_rewardbench, metrics_omni_rewardbench
from brlib.bench.rewardbench import load_rewardbench, metrics_rewardbench
from brlib.bench.rm_bench import load_rm_bench, metrics_rm_bench
from brlib.bench.vl_rewardbench import VL_CATEGORIES, load_vl_rewardbench, metrics_vl_rewardbench, vl_category
from brlib.data.hub import Archive, HubLayout, LayoutError, data_dir, locate
from brlib.data.pair import Pair, SchemaError

__all__ = [
    "BENCHMARKS",
    "BenchRow",
    "Benchmark",
    "MM_RLHF_CATEGORIES",
    "MMRB_SUBCATEGORIES",
    "OMNI_TASKS",
    "VL_CATEGORIES",
    "load",
    "metrics",
    "read_scores",
    "to_pairs",
    "vl_category",
]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's Hub layout (or None for a local build), split, loader, metric and responses per row."""

    hub: HubLayout | None
    loader: object
    metric: object
    n_responses: int = 2
    split: str = "test"
    local_hint: str = ""  # how to build a benchmark that is not on the Hub
    by_root: bool = False  # the loader reads the snapshot folder whole (one folder per task config)
    unsupported_ok: bool = False  # score rows may be null: a task the model cannot take ("-")


MMRB_BUILD = (
    "Multimodal RewardBench is built by its own script, not downloaded: clone facebookresearch/multimodal_rewardbench"
    " into {where}, run scripts/0_download_data.py there (it writes data/all_data.json and data/images/<source>/)"
)
BENCHMARKS = {
    "vl_rewardbench": Benchmark(
        HubLayout("MMInstruction/VL-RewardBench", {"test": ("data/test-*.parquet",)}),
        load_vl_rewardbench,
        metrics_vl_rewardbench,
    ),
    "mm_rlhf_rewardbench": Benchmark(  # the jsonl the official scripts read, media in the repo under images/
        HubLayout(
            "yifanzhang114/MM-RLHF-RewardBench",
            {"test": ("mm_reward_bench.jsonl",)},
            media="snapshot",
            extra=("images/*",),
        ),
        load_mm_rlhf_rewardbench,
        metrics_mm_rlhf_rewardbench,
    ),  # fmt: skip
    "multimodal_rewardbench": Benchmark(
        None, load_multimodal_rewardbench, metrics_multimodal_rewardbench, local_hint=MMRB_BUILD
    ),
    "rewardbench": Benchmark(
        HubLayout("allenai/reward-bench", {s: (f"data/{s}-*.parquet",) for s in ("filtered", "raw")}),
        load_rewardbench,
        metrics_rewardbench,
        split="filtered",
    ),
    "omni_rewardbench": Benchmark(  # one parquet folder per task config; media from media_data.zip
        HubLayout(
            "HongbangYuan/OmniRewardBench",
            {"test": tuple(f"{c}/*.parquet" for c in OMNI_TASKS.values())},
            (Archive("media_data.zip"),),
            media="extracted",
        ),
        load_omni_rewardbench,
        metrics_omni_rewardbench,
        by_root=True,
        unsupported_ok=True,
    ),
    "rm_bench": Benchmark(
        HubLayout("THU-KEG/RM-Bench", {"train": ("total_dataset.json",)}),
        load_rm_bench,
        metrics_rm_bench,
        n_responses=6,
        split="train",
    ),
}


def load(name: str, path, **opts) -> list[BenchRow]:
    """Rows of benchmark `name` from its own file format: a local file, or a Hub id resolved through the Hugging
    Face cache in the repository's real layout (`make data` fetches it). Used in: 00_quickstart.ipynb."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {sorted(BENCHMARKS)}")
    b = BENCHMARKS[name]
    if Path(path).exists():
        return b.loader(path, **opts)
    is_id = "/" in str(path) and not str(path).startswith((".", "/")) and str(path).count("/") == 1
    if b.hub is None and is_id:  # a benchmark built locally, named by its repository: look in the data folder
        where = data_dir() / str(path).replace("/", "--")
        if (where / "data" / "all_data.json").exists():
            return b.loader(where / "data" / "all_data.json", **opts)
        raise LayoutError(f"{name}: no {where / 'data' / 'all_data.json'}. " + b.local_hint.format(where=where))
    if b.hub is None or not is_id:
        hint = f". {b.local_hint.format(where=data_dir())}" if b.local_hint else ""
        raise LayoutError(f"{name}: no file at {path}{hint}")
    layout = b.hub if str(path) == b.hub.repo_id else replace(b.hub, repo_id=str(path))
    located = locate(layout, b.split)
    if located.media_root is not None:
        opts.setdefault("image_root", located.media_root)
    if b.by_root:
        return b.loader(located.snapshot, **opts)
    rows = []
    for f in located.rows:
        rows += b.loader(f, **opts)
    return rows


def metrics(name: str, rows: list[BenchRow], scores: list[list[float]], ties: str = "wrong") -> dict:
    """The benchmark's official metrics from per-row response scores (ties wrong unless ties='half')."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {sorted(BENCHMARKS)}")
    if not rows:
        raise ValueError(f"no {name} rows to score: the data file is empty")
    if len(rows) != len(scores):
        raise ValueError(f"{len(scores)} score rows for {len(rows)} data rows: the files must align by row")
    want = BENCHMARKS[name].n_responses
    for i, s in enumerate(scores):
        if s is None and BENCHMARKS[name].unsupported_ok:
            continue  # a task the model cannot take: "-" (the metric checks it is null for the whole task)
        if s is None:
            raise ValueError(f"score row {i + 1}: null scores; {name} has no unsupported tasks")
        if len(s) != want:
            raise ValueError(f"score row {i + 1}: {len(s)} scores, {name} rows have {want} responses")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in s):
            raise ValueError(f"score row {i + 1}: scores must be finite numbers, got {s}")
    out = {"benchmark": name, **BENCHMARKS[name].metric(rows, scores, ties)}
    layouts = sorted({r.layout for r in rows if r.layout})
    if layouts:
        out["media_layout"] = layouts  # e.g. ["hub"]; "missing" means some media were not found
    return out


def to_pairs(name: str, rows: list[BenchRow]) -> list[Pair]:
    """Pairwise rows as canonical pairs (chosen, rejected), for training-style scoring and the quickstart."""
    if BENCHMARKS[name].n_responses != 2:
        raise ValueError(f"{name} rows are not pairs")
    return [
        Pair(
            r.prompt,
            r.responses[r.chosen],
            r.responses[1 - r.chosen],
            r.images,
            name,
            r.category,
            r.group_id,
            r.uid,
            r.video,
            tie=r.tie,
            criterion=r.criterion,
            audio=list(r.audio),
            video_fps=r.video_fps,
        )
        for r in rows
    ]


def read_scores(path) -> list[list[float] | None]:
    """Read a scores file: one JSON object per line, {"scores": [...]} with finite numbers (no booleans, strings,
    NaN or infinities), or {"scores": null} for a row of a task the model cannot take; anything else is a
    SchemaError naming the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise SchemaError(f"{path}: not UTF-8 text (byte {e.start})") from e
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{path}:{i + 1}"
        try:
            row = json.loads(line)  # Python's json reads NaN and Infinity; they are refused below
        except json.JSONDecodeError as e:
            raise SchemaError(f"{where}: not JSON ({e.msg})") from e
        if not isinstance(row, dict) or "scores" not in row:
            raise SchemaError(f"{where}: expected an object with field 'scores'")
        s = row["scores"]
        if s is None:  # a task the model cannot take (Omni-RewardBench: "-"); `metrics` decides if that is allowed
            out.append(None)
            continue
        ok = isinstance(s, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in s)
        if not ok or not all(math.isfinite(x) for x in s):
            raise SchemaError(f"{where}: 'scores' must be a list of finite numbers, got {s!r:.80}")
        out.append([float(x) for x in s])
    return out
