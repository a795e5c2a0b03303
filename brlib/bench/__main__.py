"""The score-file CLI: official metrics of a benchmark from a file of per-row scores.

    python -m brlib.bench --benchmark NAME --data PATH --scores PATH [--ties wrong|half] [--vl-split SPLIT]

NAME is one of vl_rewardbench, mm_rlhf_rewardbench, multimodal_rewardbench, rewardbench, rm_bench. The data file is
the benchmark's own format; the scores file is JSON lines aligned by row, `{"scores": [s0, s1, ...]}` in the row's
response order ([chosen, rejected] where the schema has those fields; [Output1, Output2] for Multimodal
RewardBench; `response` order for VL-RewardBench; chosen[0..2] then rejected[0..2] for RM-Bench). It prints one
JSON object: overall metrics first, then per category with subset sizes. Rules: DATA_FORMATS.md section 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from brlib.bench import BENCHMARKS, load, metrics, read_scores


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints one JSON object of metrics."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    ap.add_argument("--data", required=True)
    ap.add_argument("--scores", required=True)
    ap.add_argument("--ties", default="wrong", choices=["wrong", "half"])
    ap.add_argument(
        "--vl-split",
        default="official",
        choices=["official", "r1_reward"],
        help="VL-RewardBench category rule; r1_reward reproduces the paper's (mis-mapped) split",
    )
    args = ap.parse_args(argv)
    opts = {"split": args.vl_split} if args.benchmark == "vl_rewardbench" else {}
    try:
        rows = load(args.benchmark, args.data, **opts)
        result = metrics(args.benchmark, rows, read_scores(args.scores), args.ties)
    except (ValueError, OSError) as e:  # SchemaError is a ValueError: bad data or scores, said in one line
        print(f"error: {e}", file=sys.stderr)
        return 2
    if result.get("n_unscored"):
        print(f"warning: {result['n_unscored']} rows are in no section: {result['unscored_subsets']}", file=sys.stderr)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
