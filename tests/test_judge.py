"""Generative judges (Table 1): targets, both-order scoring, SFT and caching."""

from types import SimpleNamespace

import pytest

from brlib.models import judge


def test_targets_are_the_documented_formats():
    assert judge.target("grm", True) == "<answer>1</answer>"
    assert judge.target("grm", False) == "<answer>2</answer>"
    cot = judge.target("longcot", False)
    assert cot.startswith("<think>Response 1 is inaccurate. Response 2 is accurate.</think>")
    assert cot.endswith("<answer>2</answer>")
    assert judge.target("critic", True).endswith("Verdict: good")
    with pytest.raises(ValueError, match="unknown judge kind"):
        judge.target("oracle", True)


def _rows(pairs):
    return [SimpleNamespace(prompt=p.prompt, responses=[p.chosen, p.rejected], images=p.images) for p in pairs]


def test_an_order_biased_judge_ties_on_every_row(backbone_dir, pairs):
    class AlwaysFirst(judge.GenerativeJudge):
        def prefer_first(self, items):
            return [1.0] * len(items)

    j = AlwaysFirst.from_pretrained(backbone_dir, "grm")
    scores = j.score_rows(_rows(pairs[:3]))
    assert scores == [[1.0, 1.0]] * 3  # preferred once in each order: a tie, which the benchmarks count as wrong


@pytest.mark.parametrize("kind", judge.KINDS)
def test_judges_train_score_and_cache(backbone_dir, pairs, tmp_path, kind):
    j, hist = judge.train_judge(kind, str(backbone_dir), pairs, 2, 2, 5e-3, 0, tmp_path, f"{kind}-key")
    assert len(hist) == 2 and all(h["loss"] > 0 for h in hist)
    scores = j.score_rows(_rows(pairs[:3]), batch_size=4)
    assert len(scores) == 3 and all(len(s) == 2 for s in scores)
    if kind != "critic":
        assert all(sum(s) == pytest.approx(2.0) for s in scores)  # two orders, one verdict each (0.5 if invalid)
    again, hist2 = judge.train_judge(kind, str(backbone_dir), pairs, 2, 2, 5e-3, 0, tmp_path, f"{kind}-key")
    assert hist2 == hist and again.score_rows(_rows(pairs[:3]), batch_size=4) == scores  # loaded, not retrained
