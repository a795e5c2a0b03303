"""Repeats, interleaving and ratio records for `benchmarks/speed.py`.

A ratio compares two arms A and B doing the same work. A run of an arm is a sequence of units (a training step, a
scored group, a reward call, a burst of requests, a whole training call); the two arms alternate unit by unit
(A B, B A, A B, ...), after one untimed warm-up unit each, so that drift in machine speed hits both alike. Each arm
makes `repeats` runs. With rate = work / seconds of a run:

- `median` is the ratio of the medians, median(rate_A) / median(rate_B);
- `min` and `max` bound it by each arm's extremes, min(rate_A) / max(rate_B) and max(rate_A) / min(rate_B): the
  ratio had the slowest run of one arm met the fastest of the other. The median always lies inside, and a noisy
  machine widens the range, since any arm whose speed varies widens it;
- `per_run`, `paired_min`, `paired_max`: the per-run ratios rate_A[i] / rate_B[i] (run i of A and of B measured
  side by side), always inside [min, max]. They are tighter, but they miss shifts that last longer than a run:
  on a machine shared with other jobs, two runs' paired ranges often exclude each other's median.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

DEFINITION = (
    "median = median(rate_A) / median(rate_B); min = min(rate_A) / max(rate_B); max = max(rate_A) / min(rate_B); "
    "paired_min, paired_max = extremes of the per-run ratios rate_A[i] / rate_B[i]; A and B alternate unit by unit "
    "within each run (A B, B A, ...) after one untimed warm-up unit each"
)


def interleaved(arms: dict[str, Callable], repeats: int, units: int = 1, warmup: int = 1) -> dict[str, dict]:
    """Per-run values of every arm, as {arm: {metric: [value per run, ...]}}.

    `arms[name](u)` does unit `u` (0 .. units-1) of a run. A run's values are sums over its units: "s" wall-clock,
    "cpu_s" this process's CPU seconds, and whatever {metric: value} the unit returns (e.g. the seconds of its timed
    part, when it also does untimed work).
    """
    names = list(arms)
    for w in range(warmup):
        for k in names:
            arms[k](w % units)
    out: dict[str, dict] = {k: {} for k in names}
    turn = 0
    for _ in range(repeats):
        run = {k: {} for k in names}
        for u in range(units):
            for k in names if turn % 2 == 0 else names[::-1]:
                t0, c0 = time.perf_counter(), time.process_time()
                extra = arms[k](u) or {}
                measured = {"s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, **extra}
                for metric, v in measured.items():
                    run[k][metric] = run[k].get(metric, 0.0) + v
            turn += 1
        for k in names:
            for metric, v in run[k].items():
                out[k].setdefault(metric, []).append(v)
    return out


def side(seconds: list[float], work: float, unit: str, **extra) -> dict:
    """One arm's rates (work / seconds) over its runs: median, min, max and every run."""
    return rates_side([work / s for s in seconds], unit, seconds=seconds, **extra)


def rates_side(rates: list[float], unit: str, **extra) -> dict:
    """One arm's per-run rates: median, min, max and every run (plus any extra fields)."""
    return {
        "unit": unit,
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "runs": rates,
        **extra,
    }


def ratio(a: dict, b: dict, names: tuple[str, str], settings: dict, peer_defaults=False, note="", cpu=None) -> dict:
    """rate_A over rate_B from two `side` records of the same number of interleaved runs.

    `peer_defaults`: B runs at a peer's defaults that do different work; such a figure is never a headline.
    `cpu`: (A's, B's) CPU seconds per run for the same work, reported next to the wall-clock ratio as `cpu_time`.
    """
    if len(a["runs"]) != len(b["runs"]):
        raise ValueError("both arms need the same number of runs")
    per_run = [x / y for x, y in zip(a["runs"], b["runs"])]
    rec = {
        "median": a["median"] / b["median"],
        "min": a["min"] / b["max"],
        "max": a["max"] / b["min"],
        "n_repeats": len(per_run),
        "per_run": per_run,
        "paired_min": min(per_run),
        "paired_max": max(per_run),
        "headline": not peer_defaults,
        "compares": "B at the peer's defaults: not the same work" if peer_defaults else "the same work",
        "a": names[0],
        "b": names[1],
        "sides": {names[0]: a, names[1]: b},
        "settings": settings,
        "definition": DEFINITION,
    }
    if note:
        rec["note"] = note
    if cpu is not None:
        ca, cb = cpu
        per_cpu = [y / x for x, y in zip(ca, cb)]
        rec["cpu_time"] = {  # rate = work / CPU seconds, so A over B is B's seconds over A's
            "median": statistics.median(cb) / statistics.median(ca),
            "min": min(cb) / max(ca),
            "max": max(cb) / min(ca),
            "per_run": per_cpu,
            "definition": "the same ratio from CPU seconds instead of wall-clock: with one torch thread it moves "
            "less when other jobs share the cores; the headline stays wall-clock",
        }
    return rec


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(threads: int) -> dict:
    """What the numbers were measured on: CPU, cores, torch threads, load average, library versions, commit."""
    import torch
    import transformers
    import trl

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "loadavg_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "commit": commit,
    }


class LoadSampler:
    """Samples the 1-minute load average every `every` seconds in a daemon thread, to report how busy the machine
    was (this benchmark itself adds about 1: one busy thread)."""

    def __init__(self, every: float = 5.0):
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(every)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=1)
        xs = self.samples or [os.getloadavg()[0]]
        return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "samples": len(xs)}
