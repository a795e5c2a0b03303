"""The speed benchmark runs end to end in its smoke mode (--quick) and writes its JSON schema; speed is not tested."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATIOS = {
    "train_pairs_per_s_shared_over_naive",
    "group8_scoring_shared_over_naive",
    "grpo_reward_call_shared_over_per_completion",
    "server_requests_per_s_shared_over_per_completion_c1",
    "server_requests_per_s_shared_over_per_completion_c4",
    "text_rm_train_over_trl",
    "text_rm_train_steps_over_trl",
    "text_rm_train_over_trl_at_trl_defaults",
    "naive_rm_over_longcot_grm_latency",
}


def test_bench_quick_run_writes_every_ratio_with_its_spread_and_settings(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == last

    ratios = last["ratios"]
    assert RATIOS <= set(ratios)
    for name, r in ratios.items():
        assert {"median", "min", "max", "n_repeats", "settings", "sides", "per_run"} <= set(r), name
        assert r["n_repeats"] == 2 == len(r["per_run"]), name
        assert 0 < r["min"] <= r["paired_min"] <= r["median"] <= r["paired_max"] <= r["max"], name
        assert r["settings"]["threads"] == last["run"]["threads"], name
        for s in r["sides"].values():
            assert len(s["runs"]) == r["n_repeats"] and s["min"] <= s["median"] <= s["max"], name

    trl = ratios["text_rm_train_over_trl"]
    assert trl["headline"] and trl["settings"]["gradient_checkpointing"] is False
    seen = trl["settings"]["observed"]
    assert seen["brlib"]["mixed_precision"] == seen["trl"]["mixed_precision"] == "no"
    assert seen["trl"]["gradient_checkpointing"] is False
    assert seen["trl"]["tokens"] == trl["settings"]["tokens_brlib"]  # the same sequences on both sides
    assert seen["brlib"]["threads"] == seen["trl"]["threads"] == last["run"]["threads"]
    assert not ratios["text_rm_train_over_trl_at_trl_defaults"]["headline"]  # a peer's defaults: never a headline

    for c in ("1", "4"):
        for arm in ("shared", "per_completion"):
            s = last["server"][c][arm]
            assert s["errors"] == 0 and s["p50_ms"] > 0 and s["p99_ms"] >= s["p50_ms"] and s["requests_per_s"]
        assert (
            ratios[f"server_requests_per_s_shared_over_per_completion_c{c}"]["settings"]["max_abs_score_diff"] < 1e-3
        )
    assert ratios["grpo_reward_call_shared_over_per_completion"]["settings"]["max_abs_score_diff"] < 1e-3
    assert {"cpu_model", "cpu_count", "torch_threads", "loadavg_start", "loadavg_end"} <= set(last["machine"])
