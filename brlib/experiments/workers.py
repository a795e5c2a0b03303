"""Independent runs (arms x seeds) in parallel processes, each on one intra-op thread, so that a number does not
depend on how many runs share the machine (float reductions depend on the thread count)."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def single_thread():
    """Torch on one intra-op thread inside the block (then restored). Used in: 02_reward_head.ipynb (via sweep)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _init() -> None:
    import torch

    torch.set_num_threads(1)


def run_jobs(fn, jobs: dict, workers: int, progress: bool = True, desc: str = "runs") -> dict:
    """{key: fn(*args, **kwargs)} for jobs {key: (args, kwargs)}, in `workers` spawned processes at once (in this
    process when workers <= 1). Used in: 02_reward_head.ipynb (via ablation.sweep)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    if min(workers, len(jobs)) <= 1:
        return {k: fn(*a, **kw) for k, (a, kw) in tqdm(jobs.items(), desc=desc, disable=not progress)}
    done = {}
    ctx = get_context("spawn")  # fresh interpreters: no forked torch thread pools or open files
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx, initializer=_init) as pool:
        futures = {pool.submit(fn, *a, **kw): k for k, (a, kw) in jobs.items()}
        for f in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
            done[futures[f]] = f.result()
    return done
