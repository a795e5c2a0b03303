"""The score-file CLI: official metrics of a benchmark from a file of per-row scores (or a judge's verdicts).

    python -m brlib.bench --benchmark NAME --data PATH --scores PATH [--ties wrong|half] [--vl-split SPLIT]
    python -m brlib.bench --benchmark omni_rewardbench --data PATH [--task T2T|...|TI2I|all]
                          (--scores PATH | --verdicts PATH [--verdicts-no-tie PATH])

NAME is one of vl_rewardbench, mm_rlhf_rewardbench, multimodal_rewardbench, rewardbench, rm_bench,
omni_rewardbench. The data file is the benchmark's own format (a Hub id resolves through the Hugging Face cache);
the scores file is JSON lines aligned by row, `{"scores": [s0, s1, ...]}` in the row's response order ([chosen,
rejected] where the schema has those fields; [Output1, Output2] for Multimodal RewardBench; `response` order for
VL-RewardBench; chosen[0..2] then rejected[0..2] for RM-Bench; [response1, response2] for Omni-RewardBench, whose
rows come in the paper's task order, T2T first, file order within a task). It prints one JSON object: overall
metrics first, then per category with subset sizes. Rules: DATA_FORMATS.md section 2.

Omni-RewardBench: per task, accuracy w/o ties and w/ ties (tie calibration; also the released code's value and a
held-out threshold, ours), and Overall over the supported tasks. `{"scores": null}` on every row of a task marks it
unsupported ("-", left out of Overall). A generative judge gives `--verdicts` instead: one line per row,
{"verdict": "A"|"B"|"C"|"response1"|"response2"|"tie"|null} or {"output": "<the judge's text>"} (parsed by the
official rules; unparsable is wrong), {"verdict": "-"} for an unsupported task; `--verdicts-no-tie` is the
official A/B-only run for the w/o-ties column (one line per row, or per non-tie row).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from brlib.bench import BENCHMARKS, load, metrics, read_scores
from brlib.data.pair import SchemaError


def read_verdicts(path) -> list:
    """Verdict lines (see the module docstring) as "response1" / "response2" / "tie" / None / "-"."""
    from brlib.bench.omni_rewardbench import verdict_of

    out = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            out.append(verdict_of(json.loads(line)))
        except (json.JSONDecodeError, SchemaError) as e:
            raise SchemaError(f"{path}:{i + 1}: not a verdict line ({e})") from e
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints one JSON object of metrics."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    ap.add_argument("--data", required=True)
    given = ap.add_mutually_exclusive_group(required=True)
    given.add_argument("--scores")
    given.add_argument("--verdicts", help="omni_rewardbench: a generative judge's verdicts, one line per row")
    ap.add_argument("--verdicts-no-tie", help="omni_rewardbench: verdicts of the A/B-only (w/o ties) run")
    ap.add_argument("--task", default="all", help="omni_rewardbench: T2T, TI2T, TV2T, TA2T, T2I, T2V, T2A, T23D, TI2I")
    ap.add_argument("--ties", default="wrong", choices=["wrong", "half"])
    ap.add_argument(
        "--vl-split",
        default="official",
        choices=["official", "r1_reward"],
        help="VL-RewardBench category rule; r1_reward reproduces the paper's (mis-mapped) split",
    )
    args = ap.parse_args(argv)
    omni = args.benchmark == "omni_rewardbench"
    if (args.verdicts or args.verdicts_no_tie) and not omni:
        ap.error("--verdicts is for omni_rewardbench (other benchmarks: judge_both_orders in brlib.evaluate)")
    opts = {"split": args.vl_split} if args.benchmark == "vl_rewardbench" else {}
    if omni:
        opts["task"] = args.task
    try:
        rows = load(args.benchmark, args.data, **opts)
        if args.verdicts:
            from brlib.bench.omni_rewardbench import verdict_metrics

            no_tie = read_verdicts(args.verdicts_no_tie) if args.verdicts_no_tie else None
            result = {"benchmark": args.benchmark, **verdict_metrics(rows, read_verdicts(args.verdicts), no_tie)}
        else:
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
