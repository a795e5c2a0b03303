"""Run every numbered notebook with papermill; executed copies go to outputs/<profile>/, never in place.

    python scripts/run_all.py --profile tiny [--smoke] [--only 00_quickstart] [--lanes 2]

A full tiny run first builds the world and every backbone side by side, then runs the notebooks in `--lanes`
parallel lanes (each notebook's kernel on one thread; a notebook that reuses another's runs waits for it, see
DEPENDS; cache locks make any order correct), and prints each notebook's wall time and the whole run's. Fails fast
on the first broken notebook unless --keep-going, then reports every failure and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The tiny backbones the notebooks build (00's s, 05's ladder, 06-08's members, 04/06's text LM; 10 adds its omni
# thinker): built side by side before a full run, each once, instead of one after another inside the notebooks.
TINY_BACKBONES = [("qwen2_5_vl", "s"), ("qwen2_vl", "s"), ("qwen2_5_vl", "xs"), ("qwen2_vl", "xs"),
                  ("qwen2_5_vl", "xxs"), ("qwen2_vl", "xxs"), ("qwen2", "xs")]  # fmt: skip
# Notebooks that reuse another's cached arms or models start after it when lanes run side by side (07 and 08 reuse
# 04's Qwen2.5-VL and 06's Qwen2-VL members, so after 06 they run side by side).
DEPENDS = {"06": ("04",), "07": ("04", "06"), "08": ("04", "06"), "09": ("00",)}
LANE_ORDER = ["00", "01", "04", "02", "03", "05", "10", "06", "08", "07", "09"]  # the longest first


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks, sorted; `only` keeps those whose stem starts with one of the given prefixes."""
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(p.stem.startswith(o) for o in only)]
    return found


def use_replica(home: Path) -> dict:
    """Build the Hub replica into `home` (once), prepare its datasets offline, and point this process and the
    notebook kernels at it; returns the tiny stand-ins for the paper's backbones."""
    import os

    sys.path.insert(0, str(ROOT / "tests" / "hub_replica"))
    import build

    if not (home / "hub").exists():
        build.build(home)
    os.environ.update(HF_HOME=str(home.resolve()), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    os.environ.pop("HF_HUB_CACHE", None)
    from brlib.prepare import main as prepare

    if prepare([str(ROOT / "configs" / "paper.yaml"), "--offline"]) != 0:
        raise SystemExit("the Hub replica could not be prepared")
    return dict(build.TINY_BACKBONES)


def execute(nb: Path, out: Path, params: dict, log: Path | None) -> str | None:
    """Run one notebook with papermill in its own process (output streamed, or into `log`); None on success, else
    why it failed."""
    cmd = [sys.executable, "-m", "papermill", str(nb), str(out), "-y", json.dumps(params), "--cwd", str(nb.parent),
           "-k", "python3", "--no-progress-bar", "--log-output"]  # fmt: skip
    if log is None:
        proc = subprocess.run(cmd)
        return None if proc.returncode == 0 else f"papermill exited {proc.returncode} (its output is above)"
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode == 0:
        return None
    tail = log.read_text(errors="replace").splitlines()[-15:]
    return f"papermill exited {proc.returncode}; last lines of {log}:\n" + "\n".join(tail)


def schedule(todo: list[Path], lanes: int, run, keep_going: bool) -> None:
    """Call `run(notebook)` for every notebook, `lanes` at a time: in order with one lane; with more, longest first
    (LANE_ORDER), each once the notebooks it DEPENDS on have finished. After a failure no new notebook starts unless
    `keep_going`."""
    key = lambda nb: nb.stem[:2]  # noqa: E731
    present = {key(nb) for nb in todo}
    rank = {k: i for i, k in enumerate(LANE_ORDER)}
    pending = list(todo) if lanes <= 1 else sorted(todo, key=lambda nb: rank.get(key(nb), len(rank)))
    finished, stop = set(), threading.Event()
    cond = threading.Condition()

    def ready(nb: Path) -> bool:
        return all(d in finished or d not in present for d in DEPENDS.get(key(nb), ()))

    def lane() -> None:
        while True:
            with cond:
                nb = None
                while not stop.is_set() and pending and nb is None:
                    nb = next((x for x in pending if ready(x)), None)
                    if nb is None:
                        cond.wait()
                if nb is None:
                    return
                pending.remove(nb)
            ok = run(nb)
            with cond:
                finished.add(key(nb))
                if not ok and not keep_going:
                    stop.set()
                cond.notify_all()

    threads = [threading.Thread(target=lane) for _ in range(max(1, lanes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="tiny", choices=["tiny", "paper"])
    ap.add_argument("--smoke", action="store_true", help="shrink every notebook (CI)")
    ap.add_argument("--only", nargs="*", help="notebook name prefixes to run")
    ap.add_argument("--out", default=str(ROOT / "outputs"), help="folder for the executed copies")
    ap.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
    ap.add_argument("--lanes", type=int, help="notebooks run side by side (default: 2 in the tiny profile, else 1)")
    ap.add_argument("--figures", help="OUT_DIR passed to every notebook (default: the notebooks' ../figures)")
    ap.add_argument(
        "--replica",
        help="paper profile on the Hub replica built into this folder (HF_HOME): offline, tiny stand-in backbones",
    )
    args = ap.parse_args(argv)

    todo = notebooks(args.only)
    if not todo:
        print("no notebooks matched", file=sys.stderr)
        return 1
    out_dir = Path(args.out) / args.profile
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"PROFILE": args.profile, "SMOKE": bool(args.smoke)}
    if args.figures:
        params["OUT_DIR"] = str(Path(args.figures).resolve())
    if args.replica:
        params["SWAP_BACKBONES"] = use_replica(Path(args.replica))
    failures, times = [], {}
    if args.profile == "tiny" and not args.only:  # a full run: the world and every backbone first, side by side
        from brlib.experiments import profiles

        t0 = time.perf_counter()
        cfg = profiles.load("tiny", smoke=args.smoke, ablation=True)
        omni = cfg.omni.get("omni_backbone")
        profiles.prebuild(cfg, TINY_BACKBONES + ([(omni["family"], omni["size"])] if omni else []))
        times["(world and backbones, built side by side)"] = time.perf_counter() - t0
        print(f"<== prebuild: {times['(world and backbones, built side by side)']:.1f} s", flush=True)
    lanes = args.lanes if args.lanes else (2 if args.profile == "tiny" else 1)
    saved_env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if lanes > 1:  # kernels and their workers on one thread each: two lanes never oversubscribe the cores
        os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    t_all = time.perf_counter()

    def run(nb: Path) -> bool:
        t0 = time.perf_counter()
        print(f"==> {nb.name} ({params})", flush=True)
        why = execute(nb, out_dir / nb.name, params, out_dir / f"{nb.stem}.log" if lanes > 1 else None)
        times[nb.name] = time.perf_counter() - t0
        print(f"<== {nb.name}: {times[nb.name]:.1f} s{'' if why is None else ' FAILED'}", flush=True)
        if why is not None:
            failures.append((nb.name, why))
        return why is None

    try:
        schedule(todo, lanes, run, args.keep_going)
    finally:  # this process's callers (tests) keep their own thread settings
        for k, v in saved_env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    wall = time.perf_counter() - t_all + sum(t for k, t in times.items() if k.startswith("("))
    print(f"\nnotebook runtimes ({lanes} lane{'s' if lanes > 1 else ''}; side by side, they overlap):")
    for name, t in times.items():
        print(f"  {name:42s} {t:7.1f} s")
    print(f"  {'total (wall clock)':42s} {wall:7.1f} s")
    for name, why in failures:
        print(f"FAILED {name}: {why}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
