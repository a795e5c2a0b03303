"""CLI behind `make data PROFILE=paper`: `python -m brlib.prepare CONFIG [--only KEY ...] [--offline]`.

What a GPU worker runs once, before training: for every Hub dataset the config reads (a profile, a TrainConfig
YAML or a mixture spec), `snapshot_download` the files its layout names into the Hugging Face cache, join split
archives, extract them beside the cache ($BRLIB_DATA_DIR, default <HF_HOME>/brlib), verify, and write a manifest.
Idempotent and resumable: a dataset already prepared is checked, not fetched or extracted again. `--offline` only
extracts and verifies what the cache already holds (what CI does on the Hub replica).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path


def hub_layouts(plan: dict) -> dict:
    """{key or benchmark name: HubLayout} for every dataset of a preflight plan that is read from the Hub."""
    from brlib import bench
    from brlib.data.sources import SOURCES

    out = {}
    for spec in plan["specs"]:
        key, path = spec["format"], spec.get("path")
        if key in SOURCES and (path is None or not Path(path).exists()):
            layout = SOURCES[key].hub
            out[f"{key}:{path or layout.repo_id}"] = replace(layout, repo_id=path) if path else layout
    for name, path in plan["benchmarks"].items():
        b = bench.BENCHMARKS[name]
        if b.hub is not None and not Path(path).exists():
            out[name] = b.hub if path == b.hub.repo_id else replace(b.hub, repo_id=path)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns 1 when any dataset could not be prepared."""
    from brlib.data.hub import no_datasets_bars

    with no_datasets_bars():  # one "Generating train split" bar per file would bury the report
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    from brlib.data.hub import LayoutError, prepare
    from brlib.preflight.__main__ import plan

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", type=Path)
    ap.add_argument("--only", nargs="*", help="source keys, benchmark names or Hub ids to prepare")
    ap.add_argument("--offline", action="store_true", help="use only what the Hugging Face cache holds")
    ap.add_argument("--backbone", help="(for a mixture spec) the model; not needed to prepare data")
    args = ap.parse_args(argv)
    layouts = hub_layouts(plan(args.config, args.backbone or "unused"))
    by_repo = {}
    for name, layout in layouts.items():  # one preparation per repository (two UltraFeedback keys share one)
        if not args.only or any(o in (name, name.split(":")[0], layout.repo_id) for o in args.only):
            by_repo.setdefault(layout.repo_id, (name, layout))
    failed = 0
    for repo, (_name, layout) in sorted(by_repo.items()):
        try:
            m = prepare(layout, download=not args.offline)
        except (LayoutError, OSError, ValueError) as e:
            failed += 1
            print(f"FAIL {repo}: {e}", flush=True)
            continue
        archives = ", ".join(f"{k} ({v['members']} files)" for k, v in m["archives"].items()) or "no archives"
        rows = sum(len(v) for v in m["rows"].values())
        print(f"OK   {repo}@{m['revision'][:10]}: {rows} row files, {archives}; media: {m['media_root'] or '-'}")
    print(f"{len(by_repo) - failed} of {len(by_repo)} datasets ready")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
