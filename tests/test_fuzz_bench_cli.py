"""Fuzz surface: the score-file CLI (`python -m brlib.bench`) with the audit's malformed score and data files. Every
case either computes the right metrics or exits 2 with one line naming the file and line; none is silently accepted.
"""

import json

import pytest

from brlib import bench
from brlib.bench.__main__ import main

MM_ROWS = [
    {"id": "1", "image": "long/a.png", "prompt": "q", "chosen": "good", "rejected": "bad"},
    {"id": "2", "image": "mcq/b.png", "prompt": "q", "chosen": "good", "rejected": "bad"},
]


@pytest.fixture
def data(tmp_path):
    f = tmp_path / "mm_reward_bench.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in MM_ROWS))
    return f


def _run(capsys, data, tmp_path, lines, benchmark="mm_rlhf_rewardbench", raw=None):
    scores = tmp_path / "scores.jsonl"
    if raw is not None:
        scores.write_bytes(raw)
    else:
        scores.write_text("".join(line + "\n" for line in lines))
    code = main(["--benchmark", benchmark, "--data", str(data), "--scores", str(scores)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"scores": "10"}', '{"scores": [1, 0]}'], r"scores.jsonl:1: 'scores' must be a list of finite numbers"),
        (['{"scores": [true, false]}', '{"scores": [1, 0]}'], r"scores.jsonl:1: .*finite numbers"),
        (['{"scores": [NaN, 0]}', '{"scores": [1, 0]}'], r"scores.jsonl:1: .*finite numbers"),
        (['{"scores": [1, Infinity]}', '{"scores": [1, 0]}'], r"scores.jsonl:1: .*finite numbers"),
        (['{"scores": [1, 0]}', '{"scores": ["1", "0"]}'], r"scores.jsonl:2: .*finite numbers"),
        (['{"scores": [1, 0]}', "not json"], r"scores.jsonl:2: not JSON"),
        (['{"scores": [1, 0]}', "[1, 0]"], r"scores.jsonl:2: expected an object with field 'scores'"),
        (['{"score": [1, 0]}', '{"scores": [1, 0]}'], r"scores.jsonl:1: expected an object"),
        (['{"scores": [1, 0]}'], r"1 score rows for 2 data rows"),
        (['{"scores": [1, 0, 2]}', '{"scores": [1, 0]}'], r"score row 1: 3 scores"),
    ],
)
def test_bad_score_files_exit_2_with_the_line(capsys, data, tmp_path, lines, message):
    import re

    code, out, err = _run(capsys, data, tmp_path, lines)
    assert code == 2 and not out and re.search(message, err), err
    assert "Traceback" not in err


def test_non_utf8_scores_and_empty_data(capsys, data, tmp_path):
    code, _, err = _run(capsys, data, tmp_path, None, raw=b'{"scores": [1, 0]}\n\xff\xfe\n')
    assert code == 2 and "scores.jsonl: not UTF-8" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = _run(capsys, empty, tmp_path, [])
    assert code == 2 and "no mm_rlhf_rewardbench rows" in err  # was a ZeroDivisionError


def test_valid_scores_still_score(capsys, data, tmp_path):
    code, out, _ = _run(capsys, data, tmp_path, ['{"scores": [2, 1]}', '{"scores": [0.5, 3]}'])
    result = json.loads(out)
    assert code == 0 and result["acc"] == 0.5 and result["acc_plus"] == 0.5


def test_rewardbench_rows_outside_every_section_are_reported_not_silently_dropped(capsys, tmp_path):
    rows = [
        {"prompt": "q", "chosen": "a", "rejected": "b", "subset": "donotanswer"},
        {"prompt": "q", "chosen": "a", "rejected": "b", "subset": "not-a-subset"},
    ]
    f = tmp_path / "rb.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = _run(capsys, f, tmp_path, ['{"scores": [1, 0]}', '{"scores": [0, 1]}'], "rewardbench")
    result = json.loads(out)
    assert code == 0 and result["score"] == 1.0 and result["unscored_subsets"] == {"not-a-subset": 1}
    assert "1 rows are in no section" in err
    f.write_text(json.dumps(rows[1]) + "\n")
    code, _, err = _run(capsys, f, tmp_path, ['{"scores": [1, 0]}'], "rewardbench")
    assert code == 2 and "no row belongs to a RewardBench section" in err


def test_metrics_in_process_refuse_non_finite_scores():
    rows = [bench.BenchRow("q", ["a", "b"])]
    with pytest.raises(ValueError, match="finite numbers"):
        bench.metrics("rewardbench", rows, [[float("nan"), 0.0]])
