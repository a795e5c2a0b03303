"""Omni-RewardBench's official rules against hand computation: w/o ties (tie rows out, an exact score tie wrong),
w/ ties (tie calibration over the task's own |m|, equal |m| grouped, the "no tie" state scored; the released
code's loop for comparison), unsupported tasks, Overall, generative verdicts, the loader and the score-file CLI."""

import json
import subprocess
import sys

import pytest

from brlib import bench
from brlib.bench import ties
from brlib.bench.omni_rewardbench import parse_judgement, task_metrics
from brlib.data.pair import SchemaError
from brlib.world.omni import OmniItem, generate_omni
from brlib.world.omni_writers import write_omni_bench

# Six T2T rows: labels (1 = response1, -1 = response2, 0 = tie) and scores [s1, s2], m = s1 - s2.
H = [1, -1, 0, 1, -1, 0]
S = [[2.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0], [3.0, 0.0], [0.5, 0.3]]
M = [a - b for a, b in S]  # 1, -1, 0, 0, 3, 0.2


def test_without_ties_drops_tie_rows_and_counts_an_exact_score_tie_wrong():
    # non-tie rows 0, 1, 3, 4: right, right, m == 0 (wrong), wrong sign
    assert ties.accuracy_without_ties(H, M) == 2 / 4


def test_with_ties_by_hand():
    # thresholds: none -> C=2 -> 2/6; |m|<=0 -> rows 2 (T_hm), 3 (T_m) -> 3/6; <=0.2 -> +row 5 (T_hm) -> 4/6;
    # <=1 -> rows 0, 1 become T_m -> 2/6; <=3 -> 2/6. Best: 4/6 at epsilon 0.2.
    assert [ties.accuracy_at(H, M, e) for e in (-1, 0, 0.2, 1, 3)] == [2 / 6, 3 / 6, 4 / 6, 2 / 6, 2 / 6]
    cal = ties.tie_calibration(H, M)
    assert cal == {"acc": 4 / 6, "epsilon": pytest.approx(0.2), "n_model_ties": 3}
    assert ties.official_code_accuracy(H, M) == 4 / 6  # the released loop agrees here
    assert ties.heldout_threshold(H, M) == pytest.approx((0.2 + 1) / 2)  # halfway to the next |m|


def test_grouped_equal_margins_and_the_no_tie_state():
    # Equal |m|: at epsilon 0.5 both rows are model ties (1/2); no threshold reaches 1.0. The released loop moves one
    # pair at a time and scores the half-moved group, so its answer depends on the row order.
    assert ties.tie_calibration([0, 1], [0.5, 0.5])["acc"] == 0.5
    assert ties.official_code_accuracy([0, 1], [0.5, 0.5]) == 1.0
    assert ties.official_code_accuracy([1, 0], [0.5, 0.5]) == 0.5
    # Every pair decided right and no human tie: the best is no model tie at all (1.0), a state the loop never scores.
    assert ties.tie_calibration([1, -1], [1.0, -1.0]) == {"acc": 1.0, "epsilon": None, "n_model_ties": 0}
    assert ties.official_code_accuracy([1, -1], [1.0, -1.0]) == 0.5
    assert ties.heldout_threshold([1, -1], [1.0, -1.0]) == 0.5  # half the smallest |m|: no tie on new data
    with pytest.raises(ValueError, match="labels must be"):
        ties.tie_calibration([2], [0.0])


def _rows(tmp_path, tasks=("T2T",)):
    items = []
    for task in tasks:
        for i, (h, _) in enumerate(zip(H, S)):
            label = {1: "response1", -1: "response2", 0: "tie"}[h]
            items.append(OmniItem(task, f"q{i}", f"a{i}", f"b{i}", "Be brief.", label, f"p{i // 2}", "style", False))
    write_omni_bench(items, tmp_path / "bench")
    return bench.load("omni_rewardbench", tmp_path / "bench")


def _memory_rows(tasks):
    from brlib.bench.common import BenchRow

    rows = []
    for task in tasks:
        for i, h in enumerate(H):
            row = BenchRow(f"q{i}", [f"a{i}", f"b{i}"], 0 if h >= 0 else 1, category=task, uid=f"{task}:{i}")
            row.tie, row.criterion = h == 0, "Be brief."
            rows.append(row)
    return rows


def test_unsupported_tasks_are_dashes_and_left_out_of_overall():
    rows = _memory_rows(("T2T", "TI2T"))
    assert [r.category for r in rows] == ["T2T"] * 6 + ["TI2T"] * 6
    m = bench.metrics("omni_rewardbench", rows, S + [None] * 6)
    assert m["categories"]["TI2T"] == "-" and m["unsupported"] == ["TI2T"] and m["tasks_in_overall"] == ["T2T"]
    t2t = m["categories"]["T2T"]
    assert (t2t["acc_without_ties"], t2t["acc_with_ties"], t2t["n"], t2t["n_tie"]) == (0.5, 4 / 6, 6, 2)
    assert t2t["n_score_tie"] == 2 and m["overall_without_ties"] == 0.5 and m["overall_with_ties"] == 4 / 6
    both = bench.metrics("omni_rewardbench", rows, S + [[1.0, 0.0]] * 6)  # TI2T: always response1
    ti2t = both["categories"]["TI2T"]
    assert ti2t["acc_without_ties"] == 2 / 4 and both["overall_without_ties"] == (0.5 + 0.5) / 2
    with pytest.raises(ValueError, match="scored whole or not"):
        bench.metrics("omni_rewardbench", rows, S + [None] * 5 + [[1.0, 0.0]])
    with pytest.raises(ValueError, match="no unsupported tasks"):
        bench.metrics("vl_rewardbench", rows[:1], [None])


def test_heldout_epsilon_is_chosen_on_the_other_half(tmp_path):
    rows = _rows(tmp_path)
    got = task_metrics(rows, S)["acc_with_ties_heldout_eps"]
    folds = [[i for i, r in enumerate(rows) if __import__("zlib").crc32(r.group_id.encode()) % 2 == k] for k in (0, 1)]
    right = 0.0
    for k in (0, 1):
        src, dst = folds[1 - k], folds[k]
        eps = ties.heldout_threshold([H[i] for i in src], [M[i] for i in src]) if src else -1.0
        right += ties.accuracy_at([H[i] for i in dst], [M[i] for i in dst], eps) * len(dst)
    assert got == right / 6 and got <= task_metrics(rows, S)["acc_with_ties"]  # never above the oracle


def test_generative_verdicts_follow_the_official_parser():
    assert parse_judgement("... so [[A]]") == "response1" and parse_judgement(r"\boxed{B}") == "response2"
    assert parse_judgement("[[C]]") == "tie" and parse_judgement(r"\boxed{C}") == "tie"
    assert parse_judgement("[[A]] or [[B]]") is None and parse_judgement(r"\boxed{A} \boxed{B}") is None
    assert parse_judgement(r"[[A]] then \boxed{B}") == "response1"  # both notations: the parser's order decides
    assert parse_judgement("no verdict") is None and parse_judgement(None) is None


def _cli(*args):
    out = subprocess.run([sys.executable, "-m", "brlib.bench", *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_cli_scores_and_verdicts_by_hand(tmp_path):
    rows = _rows(tmp_path, ("T2T", "T2A"))
    scores = tmp_path / "s.jsonl"
    scores.write_text("".join(json.dumps({"scores": s}) + "\n" for s in S + [None] * 6))
    out = _cli("--benchmark", "omni_rewardbench", "--data", tmp_path / "bench", "--scores", scores)
    assert out == json.loads(json.dumps(bench.metrics("omni_rewardbench", rows, S + [None] * 6)))
    assert out["categories"]["T2A"] == "-" and out["overall_with_ties"] == 4 / 6
    only = tmp_path / "only.jsonl"
    only.write_text("".join(json.dumps({"scores": s}) + "\n" for s in S))
    one = _cli("--benchmark", "omni_rewardbench", "--data", tmp_path / "bench", "--task", "T2T", "--scores", only)
    assert list(one["categories"]) == ["T2T"] and one["n"] == 6
    # a judge: right, right, "C" on a tie (right), unparsable (wrong), "C" on a decided row (wrong), B on a tie
    lines = [{"verdict": "A"}, {"output": "[[B]]"}, {"verdict": "C"}, {"output": "[[A]] [[B]]"}, {"verdict": "tie"}]
    lines += [{"verdict": "B"}] + [{"verdict": "-"}] * 6
    v = tmp_path / "v.jsonl"
    v.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = _cli("--benchmark", "omni_rewardbench", "--data", tmp_path / "bench", "--verdicts", v)
    t2t = out["categories"]["T2T"]
    assert t2t["acc_with_ties"] == 3 / 6 and t2t["acc_without_ties"] == 2 / 4 and t2t["n_unparsed"] == 1
    assert out["categories"]["T2A"] == "-" and out["overall_with_ties"] == 0.5
    ab = tmp_path / "ab.jsonl"  # the A/B-only run, one line per non-tie row (T2T rows 0, 1, 3, 4; T2A too)
    ab.write_text("".join(json.dumps({"verdict": x}) + "\n" for x in ["A", "B", "B", "B"] + ["A"] * 4))
    out = _cli(
        "--benchmark", "omni_rewardbench", "--data", tmp_path / "bench", "--verdicts", v, "--verdicts-no-tie", ab
    )
    assert out["categories"]["T2T"]["acc_without_ties"] == 3 / 4


def test_loader_reads_the_real_schema_and_refuses_bad_rows(tmp_path):
    write_omni_bench(generate_omni(2, 0), tmp_path / "all", zip_media=False)
    rows = bench.load("omni_rewardbench", tmp_path / "all")
    assert [r.category for r in rows] == sorted((r.category for r in rows), key=list(bench.OMNI_TASKS).index)
    assert {r.layout for r in rows} == {"hub"} and all(r.criterion for r in rows)
    by = {r.category: r for r in rows}
    assert by["T2V"].responses[0].kind == "video" and by["T2V"].responses[0].n_frames == 5
    assert by["TV2T"].video.n_frames == 10 and by["TA2T"].audio and by["TI2I"].images
    assert by["T2A"].responses[0].kind == "audio" and by["T23D"].responses[0].kind == "image"
    pairs = bench.to_pairs("omni_rewardbench", rows)
    assert all(p.criterion == r.criterion and p.tie == r.tie for p, r in zip(pairs, rows))
    assert len(bench.load("omni_rewardbench", tmp_path / "all", task="text_to_image")) == len(
        [r for r in rows if r.category == "T2I"]
    )
    import pandas as pd

    f = tmp_path / "all" / "text_to_text" / "test-00000-of-00001.parquet"
    df = pd.read_parquet(f)
    assert {"id", "prompt", "response1", "response2", "model1", "model2", "criteria", "criteria_preference"} <= set(df)
    df.loc[0, "criteria"] = " "
    df.to_parquet(f)
    with pytest.raises(SchemaError, match="empty criterion"):
        bench.load("omni_rewardbench", f)
    df.loc[0, "criteria"], df.loc[0, "criteria_preference"] = "Be brief.", "both"
    df.to_parquet(f)
    with pytest.raises(SchemaError, match="criteria_preference must be one of"):
        bench.load("omni_rewardbench", f)


def test_training_skips_and_counts_ties(tmp_path):
    """A tie label on a pair trained without ties is a counted drop, never a silent BT pair."""
    from brlib.experiments import profiles
    from brlib.train import TrainConfig
    from brlib.train.loop import build

    write_omni_bench(generate_omni(4, 0, ["T2T"]), tmp_path / "b")
    model = profiles.backbone(profiles.load("tiny", smoke=True), "qwen2_5_vl", "xxs")
    spec = {"format": "omni_rewardbench", "path": str(tmp_path / "b"), "source": "omni"}
    for mode in ("skip", "half"):
        cfg = TrainConfig(model=model, output_dir=str(tmp_path / mode), train_data=[spec], loss={"ties": mode})
        _, _, train_pairs, _, reports = build(cfg)
        n_tie = sum(p.tie for p in train_pairs)
        if mode == "skip":
            assert n_tie == 0 and reports["omni"].reasons["tie (loss ties: skip)"] > 0
        else:
            assert n_tie > 0 and not any(k.startswith("tie") for k in reports["omni"].reasons)


@pytest.mark.parametrize("name", ["omni_table02_with_ties", "omni_table03_without_ties"])
def test_overall_is_the_mean_over_supported_tasks_on_every_reported_row(name):
    """Our Overall rule (tasks a model does not support are '-' and left out) gives every printed Overall."""
    from brlib.bench.omni_rewardbench import _overall
    from brlib.experiments.omni import COLUMNS, paper_rows

    rep = paper_rows(name)
    for _, row in rep[rep.model != "Average"].iterrows():
        per = {t: "-" if row[c] != row[c] else {"acc_printed": row[c]} for t, c in COLUMNS.items()}  # NaN: "-"
        got = _overall(per, ["acc_printed"])
        assert abs(got["overall_printed"] - row["overall"]) < 0.006, (
            row["model"],
            got["overall_printed"],
            row["overall"],
        )
        assert len(got["tasks_in_overall"]) in (7, 9)


def test_omni_reward_data_rows(tmp_path):
    """Criterion from the leading system turn (or a system column); an empty one is a counted drop; generation
    rows (candidates in `images`, the prompt as both answers) become media responses; `use_criterion=False`."""
    from brlib.data.media import Media
    from brlib.data.sources import load_source
    from brlib.world.omni_writers import write_omni_data

    write_omni_data(generate_omni(4, 0, ["T2T", "TI2T", "T2I", "T2V"]), tmp_path)
    pairs, rep = load_source("omni_reward_data", str(tmp_path), image_root=str(tmp_path))
    assert rep.dropped == 0 and {type(p.chosen).__name__ for p in pairs} == {"str", "Media"}
    t2i = [p for p in pairs if isinstance(p.chosen, Media) and p.chosen.kind == "image"]
    clips = [p for p in pairs if isinstance(p.chosen, Media) and p.chosen.kind == "video"]
    assert t2i and all(p.criterion and p.prompt.startswith("Draw") and not p.images for p in t2i)
    assert clips and all(p.criterion is None and len(p.chosen.source) == 8 for p in clips)  # VideoDPO: no criterion
    assert all(p.criterion for p in pairs if isinstance(p.chosen, str))
    blind, _ = load_source("omni_reward_data", str(tmp_path), image_root=str(tmp_path), use_criterion=False)
    assert all(p.criterion is None for p in blind) and len(blind) == len(pairs)
    import pandas as pd

    f = tmp_path / "Omni-Skywork-Reward-Preference" / "train-00000-of-00001.parquet"
    df = pd.read_parquet(f)
    conv = list(df.loc[0, "conversations"])
    df.at[0, "conversations"] = [{"from": "system", "value": " "}] + [dict(t) for t in conv[1:]]
    df.at[1, "conversations"] = [dict(t) for t in list(df.loc[1, "conversations"])[1:]]  # no system turn ...
    df["system"] = [None, "Prefer a formal, professional tone."] + [None] * (len(df) - 2)  # ... but a column
    df.to_parquet(f)
    pairs, rep = load_source("omni_reward_data", str(f))
    assert rep.reasons == {"no pair (empty criterion)": 1}
    assert pairs[0].criterion == "Prefer a formal, professional tone."
