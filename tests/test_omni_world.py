"""The tiny omni world: nine tasks in the real Omni-RewardBench schema, criteria that flip the same pair, the real
benchmark's tie rates, and no text shortcut: criterion-blind text rules sit at chance on the shifted pairs, and a
text-only model that reads criterion and responses learns the style criteria but not the content criteria of the
media tasks (the media decide those)."""

import re
from collections import Counter, defaultdict

import numpy as np
import pytest

from brlib.world.omni import TASKS, TIE_RATE, Asset, generate_omni


@pytest.fixture(scope="module")
def items():
    return generate_omni(150, 0)


def test_nine_tasks_several_criteria_per_pair_and_the_real_tie_rates(items):
    assert sorted({it.task for it in items}) == sorted(TASKS)
    for task in TASKS:
        its = [it for it in items if it.task == task]
        labels = Counter(it.label for it in its)
        tie = labels["tie"] / len(its)
        assert abs(tie - TIE_RATE[task]) < 0.04, (task, tie)  # the real benchmark: 3.6 % (T2A) to 18.6 % (TI2T)
        assert abs(labels["response1"] - labels["response2"]) < 0.2 * len(its), (task, labels)  # order is balanced
        per_pair = Counter(it.pair_id for it in its)
        assert 2 <= len(its) / len(per_pair) <= 3 and min(per_pair.values()) >= 2
        flipped = [p for p in per_pair if {"response1", "response2"} <= {it.label for it in its if it.pair_id == p}]
        assert len(flipped) > 0.4 * len(per_pair), task  # the same pair, preferred both ways by its criteria
    media_task = next(it for it in items if it.task == "T2A")
    assert isinstance(media_task.response1, Asset) and media_task.response1.kind == "audio"
    assert isinstance(next(it for it in items if it.task == "T23D").response1, Asset)
    assert set(next(it for it in items if it.task == "TV2T").inputs) == {"video"}


def test_generation_is_a_pure_function_of_the_seed():
    a, b = generate_omni(3, 7, ["T2V", "TA2T"]), generate_omni(3, 7, ["T2V", "TA2T"])
    assert [(x.prompt, x.criterion, x.label, x.response1) for x in a] == [
        (x.prompt, x.criterion, x.label, x.response1) for x in b
    ]
    assert generate_omni(3, 8, ["T2V"])[0].response1 != a[0].response1


def _words(text) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower())) if isinstance(text, str) else set()


RULES = {  # criterion-blind rules and shortcut rules that only match words: each picks response1 (1) or 2 (-1)
    "response1": lambda it: 1,
    "longer": lambda it: np.sign(len(str(it.response1)) - len(str(it.response2))),
    "shorter": lambda it: -np.sign(len(str(it.response1)) - len(str(it.response2))),
    "formal marker": lambda it: np.sign(str(it.response1)[:1].isupper() - str(it.response2)[:1].isupper()),
    "shares words with the criterion": lambda it: np.sign(
        len(_words(it.response1) & _words(it.criterion)) - len(_words(it.response2) & _words(it.criterion))
    ),
    "shares words with the prompt": lambda it: np.sign(
        len(_words(it.response1) & _words(it.prompt)) - len(_words(it.response2) & _words(it.prompt))
    ),
}


def test_no_text_rule_beats_chance_on_the_shifted_pairs(items):
    shifted = [it for it in items if it.shifted and it.label != "tie"]
    assert len(shifted) > 500
    for name, rule in RULES.items():
        right = sum(rule(it) == (1 if it.label == "response1" else -1) for it in shifted)
        assert right / len(shifted) <= 0.55, (name, right / len(shifted))


def _features(it, dim=4096) -> np.ndarray:
    """Hashed (criterion word x response word) and response-word features of response1 minus response2: a text
    model that can learn any criterion-conditioned word rule."""
    out = np.zeros(dim)
    crit = _words(it.criterion) | {"__bias__"}
    for sign, r in ((1, it.response1), (-1, it.response2)):
        words = _words(r) | {f"__len{min(len(str(r)) // 20, 5)}"}
        for c in crit:
            for w in words:
                out[hash((c, w)) % dim] += sign
    return out


def _fit(X, y, steps=300, lr=0.5):
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(X @ w)))
        w -= lr * X.T @ (p - y) / len(y)
    return w


def test_a_text_only_model_learns_style_but_not_the_content_that_media_decide():
    train, test = generate_omni(120, 1), generate_omni(60, 2)
    decided = lambda its: [it for it in its if it.label != "tie"]  # noqa: E731
    tr, te = decided(train), decided(test)
    w = _fit(np.stack([_features(it) for it in tr]), np.array([it.label == "response1" for it in tr], float))
    acc = defaultdict(list)
    for it in te:
        pred = _features(it) @ w > 0
        key = "style" if it.criterion_kind == "style" else ("t2t content" if it.task == "T2T" else "media content")
        acc[key].append(pred == (it.label == "response1"))
    style, media = np.mean(acc["style"]), np.mean(acc["media content"])
    assert style > 0.85, style  # the text decides the style criteria: learnable from text alone
    assert 0.4 < media < 0.6, media  # the image, clip or beeps decide the rest: the text says nothing
