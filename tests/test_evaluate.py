import json

import pytest
import torch
from conftest import SHARED

from brlib import bench, data, evaluate

REAL = SHARED / "data" / "mm_rlhf_rewardbench.jsonl"


@pytest.fixture(scope="module")
def real_pairs():
    if not REAL.exists():
        pytest.skip(f"{REAL} not found (shared/ must sit beside the checkout)")
    return bench.load("mm_rlhf_rewardbench", REAL)


def test_real_benchmark_counts(real_pairs):
    from collections import Counter

    assert len(real_pairs) == 170
    assert len({p.group_id for p in real_pairs}) == 46
    assert Counter(p.category for p in real_pairs) == {"mcq": 42, "long": 37, "short": 34, "safety": 32, "video": 25}
    groups = {c: len({p.group_id for p in real_pairs if p.category == c}) for c in bench.MM_RLHF_CATEGORIES}
    assert groups == {"mcq": 10, "long": 10, "short": 10, "safety": 6, "video": 10}


def test_acc_and_acc_plus_match_hand_computation(real_pairs):
    # Pair i is wrong when i % 7 == 0 and i % 11 != 0, a tie (counted wrong) when both hold.
    chosen = torch.tensor([0.0 if i % 7 == 0 else 1.0 for i in range(170)])
    rejected = torch.tensor([0.0 if i % 11 == 0 else 0.5 for i in range(170)])
    right = [c > r for c, r in zip(chosen.tolist(), rejected.tolist())]
    groups = {}
    for p, ok in zip(real_pairs, right):
        groups.setdefault(p.group_id, []).append(ok)
    m = bench.metrics("mm_rlhf_rewardbench", real_pairs, list(zip(chosen.tolist(), rejected.tolist())))
    assert m["acc"] == pytest.approx(sum(right) / 170)
    assert m["acc_plus"] == pytest.approx(sum(all(v) for v in groups.values()) / 46)
    assert m["n_tie"] == sum(1 for i in range(170) if i % 77 == 0)
    for cat in bench.MM_RLHF_CATEGORIES:
        ix = [i for i, p in enumerate(real_pairs) if p.category == cat]
        gids = {real_pairs[i].group_id for i in ix}
        assert m["categories"][cat]["acc"] == pytest.approx(sum(right[i] for i in ix) / len(ix))
        assert m["categories"][cat]["acc_plus"] == pytest.approx(sum(all(groups[g]) for g in gids) / len(gids))
    # Reported values are exact fractions k/170 and k/46.
    assert round(m["acc"] * 170, 6) == int(round(m["acc"] * 170))
    assert round(m["acc_plus"] * 46, 6) == int(round(m["acc_plus"] * 46))


def test_perfect_and_tied_scores(real_pairs):
    right = bench.metrics("mm_rlhf_rewardbench", real_pairs, [[1.0, 0.0]] * 170)
    assert right["acc"] == right["acc_plus"] == 1.0
    tied = bench.metrics("mm_rlhf_rewardbench", real_pairs, [[0.0, 0.0]] * 170)
    assert tied["acc"] == 0.0 and tied["acc_plus"] == 0.0 and tied["n_tie"] == 170
    half = bench.metrics("mm_rlhf_rewardbench", real_pairs, [[0.0, 0.0]] * 170, ties="half")
    assert half["acc"] == 0.5 and half["acc_plus"] == 0.0


def test_pairwise_accuracy_counts_ties_as_wrong():
    m = evaluate.pairwise_accuracy([1.0, 2.0, 3.0, 0.0], [0.0, 2.0, 4.0, -1.0])
    assert m == {"acc": 0.5, "n": 4, "n_tie": 1}


def test_accuracy_by_category(pairs):
    c = torch.arange(len(pairs), dtype=torch.float)
    r = torch.zeros(len(pairs))
    by = evaluate.accuracy_by(pairs, c, r)
    assert sum(v["n"] for v in by.values()) == len(pairs)
    assert json.dumps(by)  # plain, serialisable numbers


def test_score_pairs_is_deterministic_and_batch_independent(rm, pairs):
    col = data.PairCollator(rm.processor)
    c1, r1 = evaluate.score_pairs(rm, col, pairs, batch_size=2)
    c2, r2 = evaluate.score_pairs(rm, col, pairs, batch_size=len(pairs))
    assert torch.allclose(c1, c2, atol=1e-5) and torch.allclose(r1, r2, atol=1e-5)


def test_generative_judge_is_shown_both_orders(pairs):
    always_first = evaluate.judge_both_orders(lambda prompt, images, a, b: 0, pairs)
    assert always_first == {"acc": 0.5, "order_consistency": 0.0, "n": len(pairs)}
    chosen = {(p.prompt, repr(p.images)): p.chosen for p in pairs}  # a twin's chosen is its base's rejected
    oracle = evaluate.judge_both_orders(
        lambda prompt, images, a, b: 0 if a == chosen[prompt, repr(images)] else 1, pairs
    )
    assert oracle["acc"] == 1.0 and oracle["order_consistency"] == 1.0


def test_evaluate_accepts_a_model_or_any_scorer(rm, world_dir):
    path = world_dir / "bench" / "mm_reward_bench.jsonl"
    by_length = evaluate.evaluate(
        lambda prompt, responses, images: [len(r) for r in responses], "mm_rlhf_rewardbench", path
    )
    rows = bench.load("mm_rlhf_rewardbench", path)
    assert by_length["acc"] == pytest.approx(sum(len(r.responses[0]) > len(r.responses[1]) for r in rows) / len(rows))
    with_model = evaluate.evaluate(rm, "mm_rlhf_rewardbench", path)
    assert with_model["n"] == len(rows) and 0.0 <= with_model["acc"] <= 1.0


def test_trl_format_round_trip():
    from brlib.data import Pair

    row = {
        "prompt": [{"role": "user", "content": "Hi?"}],
        "chosen": [{"role": "assistant", "content": "Hello."}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
        "images": ["a.png"],
        "margin": 1.5,
    }
    p = Pair.from_trl(row)
    assert (p.prompt, p.chosen, p.rejected, p.images, p.margin) == ("Hi?", "Hello.", "Go away.", ["a.png"], 1.5)
    assert Pair.from_trl(p.to_trl()).to_trl() == p.to_trl()
