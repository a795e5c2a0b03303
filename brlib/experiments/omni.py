"""Notebook 10's helpers (Omni-Reward): the data of its profile (the tiny omni world, or Omni-RewardData and
Omni-RewardBench by Hub id), its arms (a criterion-aware Omni-RewardModel-BT-style model and a criterion-blind
BaseReward on the profile's backbone, and the criterion-aware model on an omni backbone), their Omni-RewardBench
scores (tasks a backbone cannot take are null: "-"), the paper's main-table columns, and the shifted-vs-invariant
comparison (pairs whose criteria prefer different responses against pairs whose criteria agree).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from brlib import bench, evaluate
from brlib.bench.omni_rewardbench import TASKS
from brlib.experiments import profiles
from brlib.experiments.runinfo import config_hash

COLUMNS = {t: t.lower() for t in TASKS}  # the paper's task columns: t2t, ti2t, ..., ti2i
AUDIO_TASKS = ("TA2T", "T2A")
TRAIN_TASKS = ["T2T", "TI2T", "T2I", "T2V"]  # what Omni-RewardData covers; the other five tasks are zero-shot


def write_world(out: str | Path, train_pairs: int, test_pairs: int, seed: int = 0) -> dict:
    """The tiny omni world's files: Omni-RewardData (train) and Omni-RewardBench (bench). Used in: 10_omni.ipynb."""
    from brlib.world.omni import generate_omni
    from brlib.world.omni_writers import write_omni_bench, write_omni_data

    out = Path(out)
    data = write_omni_data(generate_omni(train_pairs, seed + 1, TRAIN_TASKS), out / "train")
    rows = write_omni_bench(generate_omni(test_pairs, seed + 2), out / "bench")
    return {"train": data, "bench": rows}


def prepare(profile) -> dict:
    """Training specs (criterion-aware and criterion-blind), the benchmark and the omni backbone of `profile`;
    the tiny world is built once into the cache. Used in: 10_omni.ipynb."""
    o = profile.omni
    if profile.name == "tiny":
        from brlib.world import omni

        spec = {**o["world"], "version": omni.VERSION}
        d = profiles._build_once("omni_world", spec, lambda d: write_world(d, **o["world"]))
        train = [{"format": "omni_reward_data", "path": str(d / "train"), "image_root": str(d / "train"),
                  "source": "tiny_omni_reward_data"}]  # fmt: skip
        bench_path = str(d / "bench")
        style = {c for wants in omni.STYLE.values() for cs in wants.values() for c in cs}
    else:
        train, bench_path, style = list(o["train_data"]), o["benchmarks"]["omni_rewardbench"], None
    fam = o["omni_backbone"]
    return {
        "train_data": train,
        "blind_train_data": [{**s, "use_criterion": False} for s in train],
        "benchmark": bench_path,
        "omni_model": profiles.backbone(profile, fam["family"], fam["size"]),
        "style_criteria": style,
    }


def without_criterion(rows: list) -> list:
    """The rows as a criterion-blind model sees them (the same pairs, no criterion)."""
    from copy import copy

    out = []
    for r in rows:
        r = copy(r)
        r.criterion = None
        out.append(r)
    return out


def scores(model_dir, rows: list, use_criterion: bool = True, batch_size: int = 32) -> list:
    """[s1, s2] per row (response1, response2), or None for a row of a task the model cannot take (audio on a model
    without an audio encoder). A criterion-blind model scores each response pair once (its criteria do not change
    what it reads). Used in: 10_omni.ipynb."""
    from brlib.data import PairCollator
    from brlib.models.reward_model import RewardModel

    model = RewardModel.from_pretrained(model_dir)
    collator = PairCollator(model.processor, max_length=1 << 30)
    can = lambda r: r.category not in AUDIO_TASKS or collator.max_samples > 0  # noqa: E731
    use = rows if use_criterion else without_criterion(rows)
    first = {}
    for i, r in enumerate(use):
        if can(r):
            first.setdefault(r.group_id if not use_criterion else i, i)
    todo = sorted(set(first.values()))
    flat = evaluate.benchmark_scores(model, [use[i] for i in todo], collator, batch_size)
    got = dict(zip(todo, flat))
    return [got[first[r.group_id if not use_criterion else i]] if can(r) else None for i, r in enumerate(use)]


def cached_scores(run: dict, rows: list, bench_path: str, use_criterion: bool) -> list:
    """`scores` of a trained arm, cached beside its run (keyed by the benchmark and the criterion use)."""
    key = config_hash({"omni_rewardbench": str(bench_path), "criterion": use_criterion, "n": len(rows)})
    path = Path(run["final"]).parent / f"omni_scores-{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    out = scores(run["final"], rows, use_criterion)
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(out))
    tmp.rename(path)
    return out


def arm(profile, prepared: dict, seed: int, benchmark: str, use_criterion: bool, **overrides) -> dict:
    """Train (or reuse) one arm and score Omni-RewardBench with it, on one thread: a job for `workers.run_jobs`, so
    the arms of notebook 10 train side by side. Returns the run, its scores and the seconds it took.
    Used in: 10_omni.ipynb."""
    import time

    from brlib.experiments.workers import single_thread

    t0 = time.perf_counter()
    with single_thread():
        run = profiles.run_arm(profile, prepared, seed, progress=False, **overrides)
        rows = bench.load("omni_rewardbench", benchmark)
        score_rows = cached_scores(run, rows, benchmark, use_criterion)
    return {"run": run, "scores": score_rows, "seconds": round(time.perf_counter() - t0, 1)}


def _decided_groups(rows) -> dict:
    """For each response pair (group_id), the set of slots its decided criteria prefer."""
    out = defaultdict(set)
    for r in rows:
        if not r.tie:
            out[r.group_id].add(r.chosen)
    return out


def shifted_invariant(rows: list, score_rows: list, style: set | None = None) -> dict:
    """Accuracy (the w/o-ties rule) on the decided items of *shifted* pairs (their criteria prefer different
    responses: a criterion-blind model gets at most half of them) and of *invariant* pairs (every criterion agrees),
    over the tasks the model takes; with `style` (the tiny world's style criteria), also per criterion kind."""
    groups = _decided_groups(rows)
    right = defaultdict(list)
    for r, s in zip(rows, score_rows):
        if r.tie or s is None or len(groups[r.group_id]) == 0:
            continue
        kind = "shifted" if len(groups[r.group_id]) == 2 else "invariant"
        ok = (s[0] - s[1]) * (1 if r.chosen == 0 else -1) > 0
        right[kind].append(ok)
        if style is not None:
            right[f"{kind}_{'style' if r.criterion in style else 'content'}"].append(ok)
    return {k: 100.0 * sum(v) / len(v) for k, v in right.items() if v} | {f"n_{k}": len(v) for k, v in right.items()}


def metrics_row(rows: list, score_rows: list, style: set | None = None) -> dict:
    """The paper's main-table columns in percent ({task}_w, {task}_wo, overall_w, overall_wo; "-" tasks NaN), the
    released code's and the held-out-epsilon w/-ties Overall (ours), and the shifted/invariant accuracies."""
    m = bench.metrics("omni_rewardbench", rows, score_rows)
    out = {}
    for t, col in COLUMNS.items():
        v = m["categories"].get(t, "-")
        out[f"{col}_wo"] = math.nan if v == "-" else 100.0 * v["acc_without_ties"]
        out[f"{col}_w"] = math.nan if v == "-" else 100.0 * v["acc_with_ties"]
    out["overall_wo"] = 100.0 * m["overall_without_ties"]
    out["overall_w"] = 100.0 * m["overall_with_ties"]
    out["overall_w_official_code"] = 100.0 * m["overall_with_ties_official_code"]
    out["overall_w_heldout_eps"] = 100.0 * m["overall_with_ties_heldout_eps"]
    out["n_tasks"] = len(m["tasks_in_overall"])
    out.update(shifted_invariant(rows, score_rows, style))
    return out


def paper_rows(name: str) -> "object":
    """A reported Omni-Reward table (omni_table02_with_ties / omni_table03_without_ties) with numeric columns."""
    from brlib.experiments.ablation import paper_table

    return paper_table(name)
