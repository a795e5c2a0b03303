import math

import pytest
import torch

from brlib.serve.score import EnsembleScorer, RewardScorer


@pytest.fixture(scope="module")
def scorer(rm):
    return RewardScorer(rm, max_tokens=400)


def _ask(pairs):
    p = pairs[0]
    return p.images, p.prompt, [p.chosen, p.rejected, p.chosen + " Sure.", "No."]


def test_scores_do_not_depend_on_batch_size_padding_or_order(scorer, pairs):
    images, prompt, responses = _ask(pairs)
    base = scorer.score(images, prompt, responses)
    alone = [scorer.score(images, prompt, [r])[0] for r in responses]
    assert base == pytest.approx(alone, abs=1e-5)
    rev = scorer.score(images, prompt, responses[::-1])[::-1]
    assert base == pytest.approx(rev, abs=1e-5)
    tok = scorer.model.processor.tokenizer
    tok.padding_side = "left"
    try:
        left = scorer.score(images, prompt, responses)
    finally:
        tok.padding_side = "right"
    assert base == pytest.approx(left, abs=1e-5)
    big = RewardScorer(scorer.model, max_tokens=1 << 20).score(images, prompt, responses)
    assert base == pytest.approx(big, abs=1e-5)


def test_token_budget_splits_batches(rm, pairs, monkeypatch):
    scorer = RewardScorer(rm, max_tokens=400, prefix_sharing=False)  # separate sequences, batched by budget
    calls = []
    encode = scorer.collator.encode
    monkeypatch.setattr(scorer.collator, "encode", lambda items: calls.append(len(items)) or encode(items))
    images, prompt, responses = _ask(pairs)
    scorer.score(images, prompt, responses * 3)
    assert len(calls) > 1 and sum(calls) == 12


def test_compare_is_sigmoid_of_the_score_difference(scorer, pairs):
    images, prompt, (a, b, *_) = _ask(pairs)
    ra, rb = scorer.score(images, prompt, [a, b])
    assert scorer.compare(images, prompt, a, b) == pytest.approx(1 / (1 + math.exp(rb - ra)))
    assert scorer.compare(images, prompt, a, b) + scorer.compare(images, prompt, b, a) == pytest.approx(1.0)


def test_calibration_is_stored_and_the_ensemble_averages_normalised_members(rm, pairs, tmp_path):
    from brlib.models.reward_model import RewardModel

    rm.save_pretrained(tmp_path / "a")
    other = RewardModel.from_pretrained(tmp_path / "a")
    with torch.no_grad():
        other.head.mlp[-1].weight.mul_(-3.0)  # a second, differently scaled member
    other.save_pretrained(tmp_path / "b")
    reference = [(p.prompt, p.chosen, p.images) for p in pairs]
    for d in ("a", "b"):
        RewardScorer.from_pretrained(tmp_path / d).calibrate(reference, save_to=tmp_path / d)
    members = [RewardScorer.from_pretrained(tmp_path / d) for d in ("a", "b")]
    assert all(m.normalization and m.normalization["n"] == len(pairs) for m in members)
    ens = EnsembleScorer(members)
    images, prompt, responses = _ask(pairs)
    out = ens.score_with_breakdown(images, prompt, responses)
    per = list(out["members"].values())
    assert out["scores"] == pytest.approx([(x + y) / 2 for x, y in zip(*per)])
    raw = members[0].score(images, prompt, responses)
    norm = members[0].normalization
    assert per[0] == pytest.approx([(s - norm["mean"]) / norm["std"] for s in raw])
    with pytest.raises(ValueError, match="calibrate"):
        EnsembleScorer([RewardScorer(rm)])
