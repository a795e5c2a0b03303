"""Tables from `benchmarks/speed.py` JSON: the console table, the README's Markdown, and a two-run check.

python benchmarks/report.py outputs/bench.json              # the README's speed tables (Markdown)
python benchmarks/report.py run1.json run2.json             # is each ratio of one run in the other's range?
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

WHAT = {
    "train_pairs_per_s_shared_over_naive": "training steps (collate, forward, backward, AdamW; 8 pairs per step), "
    "prefix-shared vs naive",
    "group8_scoring_shared_over_naive": "scoring 8 completions to one prompt + image, one packed row vs 8 sequences",
    "grpo_reward_call_shared_over_per_completion": '`GRPOReward("basereward")` called as TRL\'s GRPOTrainer calls it '
    "(dataset rows, images decoded per row, 8 completions per prompt), prefix sharing on vs off",
    "text_rm_train_over_trl": "text RM, whole `brlib.train` call vs TRL `RewardTrainer` call, same work (both fp32, "
    "no checkpointing, same data, batch, steps, max length, padding, saving)",
    "text_rm_train_steps_over_trl": "the training loops inside those same calls",
    "text_rm_train_over_trl_at_trl_defaults": "*not like with like:* TRL at its defaults (bf16, gradient "
    "checkpointing) vs brlib fp32",
    "naive_rm_over_longcot_grm_latency": "latency of a long-CoT judge (both orders, 256 reasoning tokens each) over "
    "the scalar RM's, one pair",
}


def describe(name: str) -> str:
    if name.startswith("server_requests_per_s_shared_over_per_completion_c"):
        c = name.rsplit("_c", 1)[1]
        return f"`POST /score` requests/s at concurrency {c} (8 completions + 1 image per request), sharing on vs off"
    return WHAT.get(name, "")


def print_table(result: dict, file=sys.stderr) -> None:
    """Ratios (median and min-max of the per-run ratios), then the server's requests/s and latencies."""
    m = result["machine"]
    print(
        f"{m['cpu_model']}, {m['cpu_count']} cores, {m['torch_threads']} torch thread(s), load "
        f"{m['loadavg_start'][0]:.1f} -> {m['loadavg_end'][0]:.1f}, {m['wall_s']:.0f} s",  # 1-minute averages
        file=file,
    )
    print(f"{'ratio':58s} {'median':>7s}  {'min - max':>13s}  {'paired':>13s}  n", file=file)
    for k, r in result["ratios"].items():
        tag = "" if r["headline"] else "  (peer defaults)"
        print(
            f"{k:58s} {r['median']:7.2f}  {r['min']:5.2f} - {r['max']:5.2f}  {r['paired_min']:5.2f} - "
            f"{r['paired_max']:5.2f}  {r['n_repeats']}{tag}",
            file=file,
        )
    for c, s in result["server"].items():
        for k in ("shared", "per_completion"):
            v = s[k]
            rps = statistics.median(v["requests_per_s"])
            print(
                f"server c={c:>2s} {k:15s} {rps:6.2f} req/s  p50 {v['p50_ms']:7.1f} ms  p99 {v['p99_ms']:7.1f} ms",
                file=file,
            )


def markdown(result: dict) -> str:
    """The README's speed tables: every ratio with its range, then the server's throughput and latencies."""
    m, run = result["machine"], result["run"]
    during = m.get("loadavg_1min_during")
    load = (
        f"{during['median']:.1f} (min {during['min']:.1f}, max {during['max']:.1f}, this run included)"
        if during
        else f"{m['loadavg_start'][0]:.1f} at the start, {m['loadavg_end'][0]:.1f} at the end"
    )
    lines = [
        f"Measured on {m['cpu_model']} ({m['cpu_count']} cores), {m['torch_threads']} torch thread(s) everywhere, "
        f"{run['repeats']} interleaved runs per arm, tiny Qwen2.5-VL '{run['size']}', fp32, no gradient "
        f"checkpointing; 1-minute load average {load}; torch {m['torch']}, transformers {m['transformers']}, "
        f"TRL {m['trl']}, commit {m['commit']}; {m['wall_s'] / 60:.0f} min.",
        "",
        "| ratio | what is compared | median | min – max (n) | from CPU time |",
        "|---|---|---|---|---|",
    ]
    for k, r in result["ratios"].items():
        c = r.get("cpu_time")
        cpu = f"{c['median']:.2f} ({c['min']:.2f} – {c['max']:.2f})" if c else "–"
        lines.append(
            f"| `{k}` | {describe(k)} | **{r['median']:.2f}** | {r['min']:.2f} – {r['max']:.2f} ({r['n_repeats']}) "
            f"| {cpu} |"
        )
    lines += [
        "",
        "| `POST /score` concurrency | requests | sharing on: req/s (min – max) | p50 / p99 ms "
        "| sharing off: req/s (min – max) | p50 / p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for c, s in result["server"].items():
        cells = []
        for k in ("shared", "per_completion"):
            v = s[k]
            rps = v["requests_per_s"]
            cells.append(f"{statistics.median(rps):.2f} ({min(rps):.2f} – {max(rps):.2f})")
            cells.append(f"{v['p50_ms']:.0f} / {v['p99_ms']:.0f}")
        lines.append(f"| {c} | {s['n_requests_per_run']} per run | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cross_check(a: dict, b: dict) -> list[str]:
    """For every ratio of two runs: is each run's median inside the other run's min-max range?"""
    out = [] if a["run"] == b["run"] else [f"note: the runs differ in their settings: {a['run']} vs {b['run']}"]
    for k in a["ratios"]:
        if k not in b["ratios"]:
            continue
        ra, rb = a["ratios"][k], b["ratios"][k]
        a_in_b = rb["min"] <= ra["median"] <= rb["max"]
        b_in_a = ra["min"] <= rb["median"] <= ra["max"]
        out.append(
            f"{k:58s} run 1 {ra['median']:6.2f} [{ra['min']:5.2f} - {ra['max']:5.2f}]  run 2 {rb['median']:6.2f} "
            f"[{rb['min']:5.2f} - {rb['max']:5.2f}]  {'ok' if a_in_b and b_in_a else 'OUTSIDE'}"
        )
    return out


def main(argv: list[str]) -> int:
    runs = [json.loads(Path(f).read_text().strip().splitlines()[-1]) for f in argv]
    if len(runs) == 1:
        print(markdown(runs[0]))
    elif len(runs) == 2:
        print("\n".join(cross_check(*runs)))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
