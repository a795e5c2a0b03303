from collections import Counter

import pytest

from brlib import world
from brlib.world import scenes, tasks


def _fingerprint(exs):
    return [(e.family, e.prompt, tuple(e.responses), e.image.tobytes() if e.image else None) for e in exs]


def test_generator_is_a_pure_function_of_its_seed():
    assert _fingerprint(world.generate(40, seed=3)) == _fingerprint(world.generate(40, seed=3))
    assert _fingerprint(world.generate(40, seed=3)) != _fingerprint(world.generate(40, seed=4))


def test_every_family_appears_and_chosen_differs_from_rejected():
    exs = world.generate(100, seed=0, max_wrong=3)
    assert Counter(e.family for e in exs) == {f: 20 for f in world.FAMILIES}
    for e in exs:
        assert len(set(e.responses)) == len(e.responses) >= 2
        assert (e.image is None) == (e.family == "text")
        if e.image is not None:
            assert e.image.size == (scenes.SIDE, scenes.SIDE)


def test_label_noise_flips_about_the_requested_share():
    exs = world.generate(2000, seed=0, label_noise=0.1)
    share = sum(e.meta.get("flipped", False) for e in exs) / len(exs)
    assert 0.08 < share < 0.12


def test_a_lie_swaps_one_attribute_and_its_twin_makes_it_true():
    import random

    for seed in range(30):
        ex, twin = tasks.hallucination(random.Random(seed))
        good, bad = ex.responses
        assert good != bad and good.startswith("The image shows")
        assert good.count(",") == bad.count(",")  # as many phrases: a swap, never an added object
        assert twin.responses == [bad, good] and twin.prompt == ex.prompt and twin.meta["twin"]
        assert twin.image.tobytes() != ex.image.tobytes()


def _rules(train):
    """Text-only deciders of (prompt, response a, response b) -> True if a is preferred: length, numbers, and a
    bag-of-words logistic model fitted on `train` (the strongest text-only baseline we can cheaply build)."""
    import re

    import numpy as np

    def nums(t):
        return [int(x) for x in re.findall(r"\d+", t)] or [0]

    vocab = sorted({w for e in train for r in e.responses[:2] for w in re.findall(r"[a-z0-9]+", r.lower())})
    index = {w: i for i, w in enumerate(vocab)}

    def bow(t):
        v = np.zeros(len(vocab))
        for w in re.findall(r"[a-z0-9]+", t.lower()):
            if w in index:
                v[index[w]] += 1
        return v

    x = np.array([bow(e.responses[0]) - bow(e.responses[1]) for e in train])
    x = np.concatenate([x, -x])
    y = np.concatenate([np.ones(len(train)), np.zeros(len(train))])
    w = np.zeros(len(vocab))
    for _ in range(300):  # logistic regression, plain gradient descent
        w -= 0.5 * x.T @ (1 / (1 + np.exp(-x @ w)) - y) / len(y)

    def arithmetic(t):  # "a + b = v" (or "-") spelled out and correct: the old reasoning answers' leak
        m = re.search(r"(\d+) ([+-]) (\d+) = (\d+)", t)
        return bool(m) and (int(m[1]) + int(m[3]) if m[2] == "+" else int(m[1]) - int(m[3])) == int(m[4])

    return {
        "arithmetic in the answer": lambda q, a, b: arithmetic(a) and not arithmetic(b),
        "shorter wins": lambda q, a, b: len(a) < len(b),
        "longer wins": lambda q, a, b: len(a) > len(b),
        "smaller number wins": lambda q, a, b: max(nums(a)) < max(nums(b)),
        "larger number wins": lambda q, a, b: max(nums(a)) > max(nums(b)),
        "bag of words": lambda q, a, b: float(w @ (bow(a) - bow(b))) > 0,
    }


@pytest.mark.parametrize("twins", [True, False])
@pytest.mark.parametrize("family", world.tasks.TWINNED)
def test_no_text_only_rule_decides_an_image_family(family, twins):
    """Text alone must not predict the label: every rule scores <= 0.6 (ties count half), exactly 0.5 on twins."""
    train = world.generate(600, seed=1, families=[family], twins=twins)
    test = world.generate(400, seed=2, families=[family], twins=twins)
    for name, rule in _rules(train).items():
        acc = sum(
            0.5
            if rule(e.prompt, e.responses[0], e.responses[1]) == rule(e.prompt, e.responses[1], e.responses[0])
            else float(rule(e.prompt, e.responses[0], e.responses[1]))
            for e in test
        ) / len(test)
        assert acc <= 0.6, f"{family} ({'twins' if twins else 'no twins'}): {name} scores {acc:.2f}"
        if twins:
            assert acc == pytest.approx(0.5), f"{family}: {name} scores {acc:.3f} on twinned data"


def test_write_world_is_deterministic(tmp_path):
    a = world.write_world(tmp_path / "a", seed=1, n_train=20, n_heldout=10, n_bench=8)
    b = world.write_world(tmp_path / "b", seed=1, n_train=20, n_heldout=10, n_bench=8)
    assert a == b
    for rel in ["bench/mm_reward_bench.jsonl"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
