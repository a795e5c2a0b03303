"""The rendered "What the tiny run shows" sentences follow the tables they are given."""

import pandas as pd

from brlib.experiments import prose


def _summary():
    return pd.DataFrame(
        {
            "arm": ["a", "b", "c"],
            "m1": [60.0, 70.0, 65.0],
            "m1_std": [2.0, 2.0, 2.0],
            "m1_swapped": [50.0, 52.0, 64.0],
            "m1_swapped_std": [1.0, 1.0, 1.0],
            "m2": [60.0, 61.0, 60.5],
            "m2_std": [3.0, 3.0, 3.0],
            "n_seeds": [3, 3, 3],
        }
    )


def test_separation_compares_the_arm_spread_with_the_seed_std():
    sep = prose.separation(_summary(), ["m1", "m2", "missing"]).set_index("metric")
    assert list(sep.index) == ["m1", "m2"]
    assert sep.loc["m1", "separated"] and sep.loc["m1", "arm_spread"] == 10.0
    assert not sep.loc["m2", "separated"]
    line = prose.separation_line(_summary(), ["m1", "m2"])
    assert "On 1 of 2 metrics (at least half)" in line and "m1 10.0 vs 2.0" in line


def test_one_seed_has_no_spread_to_compare():
    assert "One seed per arm" in prose.separation_line(_summary().assign(n_seeds=1), ["m1"])


def test_an_arm_that_does_not_beat_its_swapped_control_is_flagged():
    line = prose.image_line(_summary(), ["m1", "m2"])
    assert "c (+1.0)" in line and "a (" not in line  # only m1 has a control; c gains 1 point there
    assert "every arm" not in line.lower()
    assert "Every arm beats" in prose.image_line(_summary(), ["m1"], arms=["a", "b"])


def test_ordering_and_pm():
    assert prose.ordering(_summary(), "m1").startswith("b (70.0 ± 2.0) > c (65.0")
    assert prose.pm(_summary(), "a", "m2") == "60.0 ± 3.0"
    assert prose.within_noise(60, 62, 2, 2) and not prose.within_noise(60, 70, 2, 2)
