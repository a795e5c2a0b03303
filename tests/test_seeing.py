"""The swapped-image control ([seeing]): the swap itself, the per-seed summary and the notebook's verdict."""

import pandas as pd
import pytest

from brlib.data import Pair
from brlib.evaluate import image_swap, swap_images
from brlib.experiments import seeing


def _pairs():
    out = [
        Pair(f"q{i}", "a", "b", images=[f"img{i}.png"], category="perception" if i < 5 else "reasoning")
        for i in range(9)
    ]
    return out + [Pair("text only", "a", "b", category="text")]


def test_swap_moves_every_image_within_its_family_and_leaves_text_alone():
    pairs = _pairs()
    for seed in range(5):
        other = image_swap(pairs, seed)
        for i, j in enumerate(other):
            if pairs[i].images:
                assert j != i and pairs[j].category == pairs[i].category
            else:
                assert j == i
        moved = swap_images(pairs, seed)
        assert [p.prompt for p in moved] == [p.prompt for p in pairs]
        assert all(m.images != p.images for m, p in zip(moved, pairs) if p.images)
    assert image_swap(pairs, 0) == image_swap(pairs, 0)


def test_over_seeds_flags_a_family_that_does_not_beat_its_control():
    def table(perception, swapped):
        return pd.DataFrame([
            {"family": "perception", "true": perception, "swapped": swapped, "gap": perception - swapped, "n": 10},
            {"family": "hallucination", "true": 0.6, "swapped": 0.55, "gap": 0.05, "n": 10},
            {"family": "safety", "true": 1.0, "swapped": 1.0, "gap": 0.0, "n": 10},
        ])  # fmt: skip

    summary = seeing.over_seeds({0: table(0.9, 0.5), 1: table(0.8, 0.5)}).set_index("family")
    assert summary.loc["perception", "true"] == pytest.approx(0.85) and summary.loc[
        "perception", "gap"
    ] == pytest.approx(0.35)
    assert summary.loc["perception", "true_std"] > 0 and summary.loc["perception", "seeds"] == 2
    assert summary["reads_image"].to_dict() == {"perception": True, "hallucination": False, "safety": False}
    text = seeing.verdict(summary.reset_index())
    assert "**perception**: reads the image" in text
    assert "**hallucination**: ⚠ does **not** beat" in text and "safety" not in text


def test_a_profile_without_held_out_pairs_gets_an_empty_control_and_says_so():
    empty = seeing.over_seeds({0: seeing.control(None, None, [])})
    assert empty.empty and "no held-out pairs" in seeing.verdict(empty)
