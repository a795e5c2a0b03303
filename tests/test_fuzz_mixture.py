"""Fuzz surface: mixture specs. Every malformed spec of the audit is a ValueError saying what is wrong, never a
silent surprise (a merged duplicate, a 50/50 split from a negative size, an ignored typo)."""

import pytest

from brlib.data.mixture import MixtureSpec

OK = {"key": "rlaif_v", "count": 5}


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"sources": [OK, OK]}, "listed more than once"),
        ({"sources": [OK], "test_split_size": -0.5}, r"test_split_size must be in \[0, 1\)"),
        ({"sources": [OK], "test_split_size": 1.5}, r"test_split_size must be in \[0, 1\)"),
        ({"sources": [OK], "test_split_size": "0.1"}, "test_split_size"),
        ({"sources": [OK], "test_split": 0.1}, r"unknown mixture keys \['test_split'\]"),
        ({"sources": [{"key": "rlaif_v", "options": {"min_gapp": 1}}]}, r"unknown options \['min_gapp'\]"),
        ({"sources": [{"key": "ultrafeedback_hard", "options": {"min_gapp": 1}}]}, r"unknown options"),
        ({"sources": [{"key": "rlaif_v", "count": -3}]}, "count must be a whole number"),
        ({"sources": [{"key": "rlaif_v", "count": "5"}]}, "count must be a whole number"),
        ({"sources": [{"key": "rlaif_v", "count": 2.5}]}, "count must be a whole number"),
        ({"sources": [{"key": "rlaif_v", "weight": 0}], "total": 10}, "weight must be a number > 0"),
        ({"sources": [{"key": "rlaif_v", "weight": -1}], "total": 10}, "weight must be a number > 0"),
        ({"sources": [{"key": "rlaif_v", "count": 1, "weight": 1}]}, "count or weight, not both"),
        ({"sources": [{"key": "nope"}]}, "unknown source 'nope'"),
        ({"sources": [{"key": "rlaif_v", "cout": 5}]}, "bad source entry"),
        ({"sources": []}, "at least one source"),
        ({"sources": [OK], "total": -1}, "total must be"),
        ({"sources": [OK], "seed": "x"}, "seed must be"),
        ({"seed": 0}, "mapping with a `sources` list"),
    ],
)
def test_bad_specs_are_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        MixtureSpec.from_dict(spec)


def test_weighted_sources_need_a_total_and_good_specs_still_parse():
    with pytest.raises(ValueError, match="weighted sources need `total`"):
        MixtureSpec.from_dict({"sources": [{"key": "rlaif_v", "weight": 1}]}).targets()
    spec = MixtureSpec.from_dict(
        {"sources": [OK, {"key": "ultrafeedback_hard", "options": {"min_gap": 2.0}}], "test_split_size": 0.1}
    )
    assert spec.targets() == {"rlaif_v": 5, "ultrafeedback_hard": None}
