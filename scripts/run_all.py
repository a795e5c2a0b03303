"""Run every numbered notebook in order with papermill; executed copies go to outputs/<profile>/, never in place.

    python scripts/run_all.py --profile tiny [--smoke] [--only 00_quickstart]

Fails fast on the first broken notebook unless --keep-going, then reports every failure and exits 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def main(argv: list[str] | None = None) -> int:
    import papermill as pm

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="tiny", choices=["tiny", "paper"])
    ap.add_argument("--smoke", action="store_true", help="shrink every notebook (CI)")
    ap.add_argument("--only", nargs="*", help="notebook name prefixes to run")
    ap.add_argument("--out", default=str(ROOT / "outputs"), help="folder for the executed copies")
    ap.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
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
    for nb in todo:
        t0 = time.perf_counter()
        print(f"==> {nb.name} ({params})", flush=True)
        try:
            pm.execute_notebook(
                str(nb),
                str(out_dir / nb.name),
                parameters=params,
                cwd=str(nb.parent),
                log_output=True,
                progress_bar=False,
                kernel_name="python3",
            )
        except Exception as e:  # papermill raises PapermillExecutionError with the cell's traceback
            failures.append((nb.name, f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}"))
            if not args.keep_going:
                break
        finally:
            times[nb.name] = time.perf_counter() - t0
            print(f"<== {nb.name}: {times[nb.name]:.1f} s", flush=True)
    print("\nnotebook runtimes:")
    for name, t in times.items():
        print(f"  {name:32s} {t:7.1f} s")
    print(f"  {'total':32s} {sum(times.values()):7.1f} s")
    for name, why in failures:
        print(f"FAILED {name}: {why}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
