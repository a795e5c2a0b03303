"""Speed benchmarks, every ratio measured against its baseline in the same run, on the same work (`make bench`).

    python benchmarks/speed.py [--quick] [--size s] [--threads 1] [--repeats 5] [--out outputs/bench.json]

On tiny models on CPU, with prompts shaped like the real ones: one 448 x 448 image (256 image tokens after Qwen's
2 x 2 merge), a 32-token question, 48-token responses; fp32, no gradient checkpointing, the same torch threads
everywhere (one by default: on a machine shared with other jobs, more OpenMP threads than free cores make every
timing swing). Ratios (rate of A over rate of B; see `benchmarks/timing.py` for median and min-max):

- train_pairs_per_s_shared_over_naive: training steps (collate, forward, backward, AdamW) with prefix-shared pairs
  (`brlib.models.prefix`) against the naive two-sequence batches.
- group8_scoring_shared_over_naive: 8 completions to one prompt + image, one packed row against 8 sequences.
- grpo_reward_call_shared_over_per_completion: `GRPOReward("basereward")` called as TRL's GRPOTrainer calls it
  (rows of a `datasets.Dataset` fetched through TRL's RepeatSampler, images decoded per row, 8 completions per
  prompt, 2 prompts per call) with `RewardScorer` prefix sharing on against off.
- server_requests_per_s_shared_over_per_completion_c{N}: POST /score (one prompt, its image inline, 8 completions)
  to a uvicorn server started here on 127.0.0.1, N concurrent clients, prefix sharing on against off.
- text_rm_train_over_trl: a text-only RM trained with `brlib.train` against TRL's RewardTrainer, whole calls, the
  same work (`benchmarks/trl_compare.py`); text_rm_train_steps_over_trl: the training loops inside those calls;
  text_rm_train_over_trl_at_trl_defaults: TRL at its bf16 + gradient-checkpointing defaults (not the same work).
- naive_rm_over_longcot_grm_latency: latency of a long-CoT generative judge (both orders, 256 reasoning tokens
  each, greedy, KV cache) over the scalar RM's (one pair), same backbone.

Prints a table, then one JSON object as the last line: {"ratios": {name: {median, min, max, n_repeats, settings,
sides, ...}}, "server": per-concurrency requests/s and p50/p99 latency, "machine": CPU, threads, load, versions}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]  # this checkout's brlib, not an installed one
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from report import print_table  # noqa: E402
from serving import grpo_ratio, server_ratios  # noqa: E402
from timing import LoadSampler, machine  # noqa: E402
from trl_compare import trl_ratios  # noqa: E402
from workloads import IMAGE_SIDE, build, latency_ratio, pairs_like_real, prefix_ratios, words  # noqa: E402

from brlib.data import PairCollator  # noqa: E402
from brlib.models import backbones  # noqa: E402

G = 8  # completions per prompt, as in the paper's GRPO runs


def plan(quick: bool, size: str | None, repeats: int | None) -> dict:
    """Workload sizes: the full run, or a smoke run (`--quick`) that only checks the script and its JSON."""
    if quick:
        p = dict(size="xs", repeats=2, train_steps=1, groups=2, grpo_prompts=2, concurrencies=(1, 4), cot=16)
        p.update(server_requests=lambda c: c, trl_steps=2, trl_batch=8, judgements=1)
    else:
        p = dict(size="s", repeats=5, train_steps=3, groups=8, grpo_prompts=8, concurrencies=(1, 4, 16), cot=256)
        p.update(server_requests=lambda c: max(8, 2 * c), trl_steps=30, trl_batch=16, judgements=4)
    p["size"] = size or p["size"]
    p["repeats"] = repeats or p["repeats"]
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, 2 repeats (checks, not speed)")
    ap.add_argument("--size", help="tiny backbone size (brlib.models.backbones.SIZES); s, or xs with --quick")
    ap.add_argument("--threads", type=int, default=1, help="torch threads, every arm and the server (default 1)")
    ap.add_argument("--repeats", type=int, help="timed runs per arm (default 5, 2 with --quick)")
    ap.add_argument(
        "--server-time-limit", type=float, default=120.0, help="seconds per burst of requests before it stops"
    )
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    args = ap.parse_args(argv)
    p = plan(args.quick, args.size, args.repeats)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t_start = time.perf_counter()
    info = machine(torch.get_num_threads())
    load = LoadSampler()
    R = p["repeats"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        d, rm = build(tmp, "qwen2_5_vl", p["size"])
        tok = rm.processor.tokenizer
        pairs = pairs_like_real(tok, max(8, p["groups"], p["grpo_prompts"]))
        completions = [[words(tok, 48, 100 * i + k) for k in range(G)] for i in range(len(pairs))]
        image_id = rm.backbone.config.image_token_id
        n_img = int(PairCollator(rm.processor, 8192)([pairs[0]])["input_ids"][0].eq(image_id).sum())
        n_params = backbones.count_parameters(rm) / 1e6
        print(
            f"backbone qwen2_5_vl/{p['size']}: {n_params:.2f}M params, {n_img} image tokens per prompt; "
            f"{args.threads} torch thread(s); {R} repeats per arm",
            file=sys.stderr,
        )
        base = {
            "model": f"tiny qwen2_5_vl {p['size']} ({n_params:.2f}M params)",
            "precision": "fp32",
            "gradient_checkpointing": False,
            "threads": args.threads,
            "image": f"one {IMAGE_SIDE}x{IMAGE_SIDE} image per prompt ({n_img} image tokens)",
            "question_tokens": 32,
            "response_tokens": 48,
        }
        ratios: dict[str, dict] = {}
        stage = lambda name: print(f"[{time.perf_counter() - t_start:6.0f} s] {name}", file=sys.stderr)  # noqa: E731
        stage("training steps and group scoring, shared vs naive")
        ratios.update(prefix_ratios(rm, pairs, completions, p, base))
        stage("GRPO reward calls, shared vs per-completion")
        ratios.update(grpo_ratio(rm, pairs, completions, p, base))
        stage("reward server POST /score, shared vs per-completion")
        server_r, server = server_ratios(rm, tmp, pairs, completions, p, base, IMAGE_SIDE, args.server_time_limit)
        ratios.update(server_r)
        stage("long-CoT judge vs scalar RM latency")
        ratios.update(latency_ratio(d, rm, pairs[0], p, base))
        stage("brlib.train vs TRL RewardTrainer")
        ratios.update(trl_ratios(tmp, p))

    info["loadavg_end"] = list(os.getloadavg())
    info["loadavg_1min_during"] = load.stop()
    info["wall_s"] = time.perf_counter() - t_start
    result = {
        "ratios": ratios,
        "server": server,
        "machine": info,
        "run": {"quick": args.quick, "size": p["size"], "threads": args.threads, "repeats": R},
    }
    print_table(result)
    line = json.dumps(result)
    if args.out:
        from brlib.experiments.report import atomic_write

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(args.out), lambda f: f.write_text(line + "\n"))
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
