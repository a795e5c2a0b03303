"""The five benchmarks' official rules, checked against hand computation, and the score-file CLI."""

import json
import subprocess
import sys

import datasets
import pytest

from brlib import bench
from brlib.data import SchemaError


def _scores_file(path, scores):
    path.write_text("".join(json.dumps({"scores": s}) + "\n" for s in scores))
    return path


def _cli(*args):
    out = subprocess.run(
        [sys.executable, "-m", "brlib.bench", *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.fixture
def vl_file(tmp_path):
    ids = [
        "wildvision_1",
        "RLAIF-V-2",
        "RLHF-V-3",
        "hallucination_pair-4",
        "mathverse_5",
        "mathverse_5",
        "mmmu_pro_test_6",
        "svit-7",
    ]
    rows = [
        {
            "id": i,
            "query": f"q{k}",
            "response": [f"a{k}", f"b{k}"],
            "image": None,
            "human_ranking": [0, 1] if k % 2 == 0 else [1, 0],
        }
        for k, i in enumerate(ids)
    ]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "vl.parquet"))
    return tmp_path / "vl.parquet"


def test_vl_rewardbench_official_groups_pooled_and_macro(vl_file, tmp_path):
    rows = bench.load("vl_rewardbench", vl_file)
    assert [r.category for r in rows] == [
        "general",
        "hallucination",
        "hallucination",
        "hallucination",
        "reasoning",
        "reasoning",
        "reasoning",
        "general",
    ]
    assert len({r.uid for r in rows}) == len(rows)  # ids repeat (mathverse_5); content keys do not
    assert [r.chosen for r in rows] == [0, 1, 0, 1, 0, 1, 0, 1]
    # right on rows 0, 1, 2, 4; wrong on 3, 5, 6; row 7 is a tie (wrong)
    scores = [[1, 0], [0, 1], [2, 1], [1, 0], [3, 2], [1, 0], [0, 1], [5, 5]]
    m = bench.metrics("vl_rewardbench", rows, scores)
    assert m["overall_acc"] == pytest.approx(4 / 8)
    assert m["categories"]["general"] == {"acc": 0.5, "n": 2}
    assert m["categories"]["hallucination"]["acc"] == pytest.approx(2 / 3)
    assert m["categories"]["reasoning"]["acc"] == pytest.approx(1 / 3)
    assert m["macro_acc"] == pytest.approx((0.5 + 2 / 3 + 1 / 3) / 3)
    assert m["n_tie"] == 1
    cli = _cli("--benchmark", "vl_rewardbench", "--data", vl_file, "--scores", _scores_file(tmp_path / "s", scores))
    assert list(cli)[:3] == ["benchmark", "overall_acc", "macro_acc"]
    assert cli["overall_acc"] == m["overall_acc"]


def test_vl_rewardbench_paper_compatible_split(vl_file):
    rows = bench.load("vl_rewardbench", vl_file, split="r1_reward")
    assert [r.category for r in rows][:4] == ["general", "general", "general", "hallucination"]


def test_multimodal_rewardbench_subcategories_and_three_overalls(tmp_path):
    spec = [
        ("open_generation/correctness_task", "nocaps_1"),
        ("open_generation/preference_task", "vis_2"),
        ("knowledge", "mmmu_3"),
        ("reasoning", "mathvista_4"),
        ("reasoning", "EMMA-Coding_5"),
        ("safety", "pairs_6"),
        ("safety", "hateful_7"),
        ("vqa", "mmbench_8"),
        ("vqa", "seed_9"),
    ]
    rows = [
        {
            "ID": i,
            "Image": f"images/{i}.jpg",
            "Text": "t",
            "Output1": "o1",
            "Output2": "o2",
            "Better": "Output1" if k % 3 else "Output2",
            "Category": c,
        }
        for k, (c, i) in enumerate(spec)
    ]
    (tmp_path / "mmrb.json").write_text(json.dumps(rows))
    data = bench.load("multimodal_rewardbench", tmp_path / "mmrb.json")
    assert [r.category for r in data] == [
        "correctness",
        "preference",
        "knowledge",
        "math",
        "coding",
        "safety/bias",
        "safety/toxicity",
        "vqa",
        "vqa",
    ]
    scores = [[0.0, 1.0]] * 9  # Output2 always wins: right exactly where Better == Output2 (k = 0, 3, 6)
    m = bench.metrics("multimodal_rewardbench", data, scores)
    right = {"correctness": 1, "math": 1, "safety/toxicity": 1}
    assert m["overall_pooled"] == pytest.approx(3 / 9)
    mean7 = (
        sum(
            right.get(c, 0) for c in ["correctness", "preference", "knowledge", "math", "coding", "safety/bias", "vqa"]
        )
        / 7
    )
    assert m["overall_mean7"] == pytest.approx(mean7)
    assert m["overall_mean8"] == pytest.approx(3 / 8)
    assert m["categories"]["vqa"]["n"] == 2
    rows[0]["Better"] = "Output3"
    (tmp_path / "bad.json").write_text(json.dumps(rows))
    with pytest.raises(SchemaError, match=r"bad.json\[row 0\]: field 'Better'"):
        bench.load("multimodal_rewardbench", tmp_path / "bad.json")


def test_rewardbench_weighted_sections(tmp_path):
    subsets = {
        "alpacaeval-easy": [1, 1],
        "mt-bench-easy": [0, 1],
        "mt-bench-hard": [1, 0],
        "refusals-dangerous": [1],
        "donotanswer": [0],
        "math-prm": [1, 1],
        "hep-python": [0, 0],
    }
    rows, scores = [], []
    for s, results in subsets.items():
        for ok in results:
            rows.append({"prompt": "p", "chosen": "c", "rejected": "r", "subset": s, "id": len(rows)})
            scores.append([1.0, 0.0] if ok else [0.0, 1.0])
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "rb.parquet"))
    data = bench.load("rewardbench", tmp_path / "rb.parquet")
    m = bench.metrics("rewardbench", data, scores)
    chat = (1.0 * 100 + 0.5 * 28) / (100 + 28)
    safety = (1.0 * 100 + 0.0 * 136) / (100 + 136)
    reasoning = (1.0 * 984 + 0.0 * 164) / (984 + 164)
    assert m["sections"]["Chat"]["acc"] == pytest.approx(chat)
    assert m["sections"]["Chat Hard"]["acc"] == pytest.approx(0.5)
    assert m["sections"]["Safety"]["acc"] == pytest.approx(safety)
    assert m["sections"]["Reasoning"]["acc"] == pytest.approx(reasoning)
    assert m["score"] == pytest.approx((chat + 0.5 + safety + reasoning) / 4)
    cli = _cli(
        "--benchmark",
        "rewardbench",
        "--data",
        tmp_path / "rb.parquet",
        "--scores",
        _scores_file(tmp_path / "s", scores),
    )
    assert cli["score"] == pytest.approx(m["score"])


def test_rm_bench_style_grid(tmp_path):
    rows = [
        {"id": "1", "prompt": "p", "chosen": ["c0", "c1", "c2"], "rejected": ["r0", "r1", "r2"], "domain": "math"},
        {
            "id": "2",
            "prompt": "p",
            "chosen": ["c0", "c1", "c2"],
            "rejected": ["r0", "r1", "r2"],
            "domain": "safety-refuse",
        },
    ]
    (tmp_path / "rm.json").write_text(json.dumps(rows))
    data = bench.load("rm_bench", tmp_path / "rm.json")
    # item 1: chosen styles 3, 2, 1; rejected styles 2.5, 1.5, 0.5
    # M[i][j] = c_i > r_j -> [[1,1,1],[0,1,1],[0,0,1]]: hard (i<j) 3/3, normal 3/3, easy (i>j) 0/3
    # item 2: all chosen 0, all rejected 0 -> ties, all wrong
    scores = [[3, 2, 1, 2.5, 1.5, 0.5], [0] * 6]
    m = bench.metrics("rm_bench", data, scores)
    assert m["categories"]["math"]["hard"] == 1.0 and m["categories"]["math"]["easy"] == 0.0
    assert m["categories"]["math"]["acc"] == pytest.approx(2 / 3)
    assert m["categories"]["safety"]["acc"] == 0.0
    assert (m["hard"], m["normal"], m["easy"]) == (0.5, 0.5, 0.0)
    assert m["overall"] == pytest.approx((2 / 3 + 0) / 2)
    half = bench.metrics("rm_bench", data, scores, ties="half")
    assert half["categories"]["safety"]["acc"] == 0.5


def test_mm_rlhf_cli_on_the_real_records(tmp_path):
    from conftest import SHARED

    real = SHARED / "data" / "mm_rlhf_rewardbench.jsonl"
    if not real.exists():
        pytest.skip("shared/ not beside the checkout")
    scores = [[1.0, 0.0] if i % 5 else [0.0, 1.0] for i in range(170)]
    cli = _cli("--benchmark", "mm_rlhf_rewardbench", "--data", real, "--scores", _scores_file(tmp_path / "s", scores))
    assert cli["acc"] == pytest.approx(136 / 170) and cli["n"] == 170 and cli["n_groups"] == 46
    assert {k: v["n"] for k, v in cli["categories"].items()} == {
        "long": 37,
        "mcq": 42,
        "safety": 32,
        "short": 34,
        "video": 25,
    }


def test_misaligned_score_files_are_rejected(vl_file, tmp_path):
    rows = bench.load("vl_rewardbench", vl_file)
    with pytest.raises(ValueError, match="align by row"):
        bench.metrics("vl_rewardbench", rows, [[1, 0]] * 3)
    with pytest.raises(ValueError, match="score row 1: 3 scores"):
        bench.metrics("vl_rewardbench", rows, [[1, 0, 2]] + [[1, 0]] * 7)


def _omni_bench(out, n_pairs: int) -> dict:
    """The tiny Omni-RewardBench (brlib.world.omni), which the catalog leaves to its own writer."""
    from brlib.world.omni import generate_omni
    from brlib.world.omni_writers import write_omni_bench

    write_omni_bench(generate_omni(n_pairs, 0), out)
    return {"omni_rewardbench": str(out)}


def _length(response) -> float:
    """A stand-in score: a text response's length (media responses: 0)."""
    return float(len(response)) if isinstance(response, str) else 0.0


def test_every_tiny_benchmark_loads_and_scores(tmp_path):
    from brlib.world import catalog

    paths = {**catalog.write_benchmarks(tmp_path, seed=0, scale=0.2), **_omni_bench(tmp_path / "omni", 2)}
    assert set(paths) == set(bench.BENCHMARKS)
    for name, path in paths.items():
        rows = bench.load(name, path)
        m = bench.metrics(name, rows, [[_length(x) for x in r.responses] for r in rows])
        assert m["n"] == len(rows) > 0 and m["categories"], name


@pytest.mark.parametrize("name", sorted(bench.BENCHMARKS))
def test_cli_computes_every_benchmark_from_a_score_file(name, tmp_path):
    from brlib.world import catalog

    path = {**catalog.write_benchmarks(tmp_path / "b", seed=1, scale=0.1), **_omni_bench(tmp_path / "omni", 1)}[name]
    rows = bench.load(name, path)
    scores = [[_length(x) for x in r.responses] for r in rows]
    cli = _cli("--benchmark", name, "--data", path, "--scores", _scores_file(tmp_path / "s.jsonl", scores))
    assert cli == json.loads(json.dumps(bench.metrics(name, rows, scores)))
    assert list(cli)[0] == "benchmark" and cli["n"] == len(rows) and cli["categories"]
