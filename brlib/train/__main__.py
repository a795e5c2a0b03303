"""CLI: `python -m brlib.train CONFIG.yaml [--stop-at STEP]`; also under `accelerate launch` and torchrun."""

from __future__ import annotations

import json
import sys

from brlib.train.config import TrainConfig
from brlib.train.loop import train


def main(argv: list[str] | None = None) -> None:
    """CLI: `python -m brlib.train CONFIG.yaml [--stop-at STEP]` (also under `accelerate launch` / torchrun)."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("config")
    ap.add_argument("--stop-at", type=int, default=None, help="checkpoint and exit after this step (resume later)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    result = train(TrainConfig.from_yaml(args.config), progress=not args.no_progress, stop_at=args.stop_at)
    if result["history"] and result["is_main_process"]:
        print(json.dumps(result["history"][-1]))


if __name__ == "__main__":
    main()
