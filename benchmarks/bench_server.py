"""The reward server that `benchmarks/speed.py` starts: `brlib.serve.app.create_app` under uvicorn, one process.

    python benchmarks/bench_server.py --model DIR --fd N [--threads 1] [--image-side 448]

It serves on a listening socket its parent opened on 127.0.0.1 (an ephemeral port, passed as file descriptor N),
two apps over one model: `/shared/score` (RewardScorer with prefix sharing, the default) and `/per_completion/score`
(prefix_sharing=False, every response on its own sequence). It stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's brlib, not an installed one
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a RewardModel directory (save_pretrained)")
    ap.add_argument("--fd", type=int, required=True, help="file descriptor of a listening TCP socket")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--image-side", type=int, default=0, help="image processor pixel budget side (0: as saved)")
    args = ap.parse_args()

    import torch
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from brlib.models.reward_model import RewardModel
    from brlib.serve.app import create_app
    from brlib.serve.score import RewardScorer

    torch.set_num_threads(args.threads)
    model = RewardModel.from_pretrained(args.model)
    if args.image_side:
        ip = model.processor.image_processor
        ip.min_pixels = ip.max_pixels = args.image_side**2
        ip.size = {"shortest_edge": args.image_side**2, "longest_edge": args.image_side**2}
    app = Starlette(
        routes=[
            Mount("/shared", create_app(RewardScorer(model, name="shared"))),
            Mount("/per_completion", create_app(RewardScorer(model, name="per_completion", prefix_sharing=False))),
        ]
    )
    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
