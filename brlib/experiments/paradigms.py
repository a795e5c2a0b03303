"""Table 1's generative arms (critic, GRM, Long-CoT judges) as jobs that `workers.run_jobs` can run side by side:
train (or reuse) a judge, score the benchmarks both ways round, cache the scores beside it."""

from __future__ import annotations

import json
from pathlib import Path

from brlib.experiments.runinfo import config_hash
from brlib.experiments.workers import single_thread

JUDGE_VERSION = 1  # bump when judge training or scoring changes: cache keys include it
MAX_NEW_TOKENS = 40


def judge_key(kind: str, model: str, data: list[dict], steps: int, batch_size: int, lr: float, seed: int) -> str:
    """The cache key of one judge arm. Used in: 01_paradigms.ipynb."""
    spec = {"kind": kind, "model": model, "data": data, "steps": steps, "batch_size": batch_size, "lr": lr,
            "seed": seed, "max_new_tokens": MAX_NEW_TOKENS, "version": JUDGE_VERSION}  # fmt: skip
    return config_hash(spec)


def judge_arm(kind: str, model: str, data: list[dict], benchmarks: dict[str, str], steps: int, batch_size: int,
              lr: float, seed: int, cache: str | Path) -> dict:  # fmt: skip
    """Train (or reuse) one judge on the pairs of `data` and score `benchmarks` ({name: path}); returns its key,
    folder, SFT history and raw scores. Single-threaded, so a parallel run gives the same numbers.
    Used in: 01_paradigms.ipynb."""
    from brlib import bench
    from brlib.models import judge
    from brlib.train import load_pairs

    key = judge_key(kind, model, data, steps, batch_size, lr, seed)
    folder = Path(cache) / key
    score_file = folder / "bench_scores.json"
    with single_thread():
        pairs = [p for spec in data for p in load_pairs(spec)] if steps else []
        j, history = judge.train_judge(kind, model, pairs, steps, batch_size, lr, seed, Path(cache), key)
        if not score_file.exists():
            scores = {n: j.score_rows(bench.load(n, path)) for n, path in benchmarks.items()}
            tmp = score_file.with_suffix(".partial")
            tmp.write_text(json.dumps(scores))
            tmp.rename(score_file)
    return {"key": key, "folder": str(folder), "history": history, "scores": json.loads(score_file.read_text())}
