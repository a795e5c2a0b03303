"""The speed benchmark runs end to end (quick mode) and prints the four ratios as JSON on its last line."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_prints_the_four_ratios(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--quick", "--size", "xs", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    keys = {
        "train_pairs_per_s_shared_over_naive",
        "group8_scoring_shared_over_naive",
        "text_rm_train_over_trl",
        "naive_rm_over_longcot_grm_latency",
    }
    assert keys <= set(last) and all(last[k] > 0 for k in keys)
    assert json.loads(out.read_text()) == last
