"""Accuracy with and without ties for scalar reward models (Deutsch et al. 2023, "Ties Matter", arXiv 2305.14324),
as Omni-RewardBench and VideoGen-RewardBench score them.

h is the human label relative to the slot order (1: response1 better, -1: response2 better, 0: tie) and
m = s1 - s2 the model's margin. At a tie threshold epsilon the model "predicts a tie" iff |m| <= epsilon, and

    acc(epsilon) = (C + T_hm) / N       C: both decided and agreeing, T_hm: both tie, N: all pairs.

- `accuracy_without_ties`: the tie rows removed, an exact score tie (m == 0) counts as wrong (C / (C + D + T_m)
  at epsilon = -1: every m is a decision, and 0 * h > 0 is false).
- `tie_calibration`: the best acc(epsilon) over the candidate thresholds of the evaluated set itself: "no model tie"
  and every distinct |m| (equal |m| move into the tie class together), as the algorithm intends. The official
  Omni-Reward code (`calc_accuracy_with_ties` in OmniReward-Factory's metric.py) moves one pair at a time, so it
  also scores partial groups of equal |m|, and it never scores the "no tie" state; `official_code_accuracy`
  reproduces that literally, for comparison. Both are oracles: epsilon is chosen on the data it scores.
- `heldout_threshold` / `accuracy_at`: ours, not the paper's: epsilon chosen on other data (a validation split or
  the other half of the rows) and applied as a fixed rule.
"""

from __future__ import annotations

import math


def check_labels(h, m) -> None:
    """Labels in {1, -1, 0}, finite margins, equal lengths."""
    if len(h) != len(m):
        raise ValueError(f"{len(h)} labels for {len(m)} margins")
    if any(x not in (1, -1, 0) for x in h):
        raise ValueError("labels must be 1 (response1), -1 (response2) or 0 (tie)")
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in m):
        raise ValueError("margins must be finite numbers")


def counts(h, m, epsilon: float) -> dict:
    """The five cells of the table at threshold `epsilon`: C, D, T_h (human tie only), T_m (model tie only), T_hm."""
    out = {"C": 0, "D": 0, "T_h": 0, "T_m": 0, "T_hm": 0}
    for hi, mi in zip(h, m):
        model_tie = abs(mi) <= epsilon
        if hi == 0:
            out["T_hm" if model_tie else "T_h"] += 1
        elif model_tie:
            out["T_m"] += 1
        else:
            out["C" if hi * mi > 0 else "D"] += 1
    return out


def accuracy_at(h, m, epsilon: float) -> float:
    """Three-way accuracy (C + T_hm) / N with a fixed tie threshold (|m| <= epsilon is a predicted tie)."""
    check_labels(h, m)
    if not h:
        return math.nan
    c = counts(h, m, epsilon)
    return (c["C"] + c["T_hm"]) / len(h)


def accuracy_without_ties(h, m) -> float:
    """Sign accuracy over the rows whose label is not a tie; m == 0 is wrong. NaN when every row is a tie."""
    check_labels(h, m)
    decided = [(hi, mi) for hi, mi in zip(h, m) if hi != 0]
    return sum(hi * mi > 0 for hi, mi in decided) / len(decided) if decided else math.nan


def tie_calibration(h, m) -> dict:
    """The best three-way accuracy over the candidate thresholds (grouped equal |m|, the "no tie" state included):
    {"acc", "epsilon" (None: no model tie), "n_model_ties"}. Ties between thresholds go to the smallest."""
    check_labels(h, m)
    if not h:
        return {"acc": math.nan, "epsilon": None, "n_model_ties": 0}
    n = len(h)
    order = sorted(range(n), key=lambda i: abs(m[i]))
    right = sum(h[i] * m[i] > 0 for i in range(n) if h[i] != 0)  # no model tie: C, and T_hm = 0
    best = (right / n, None, 0)
    i = 0
    while i < n:
        a = abs(m[order[i]])
        j = i
        while j < n and abs(m[order[j]]) == a:  # the whole group of equal |m| becomes model ties at once
            k = order[j]
            right += 1 if h[k] == 0 else -(h[k] * m[k] > 0)
            j += 1
        if right / n > best[0]:
            best = (right / n, a, j)
        i = j
    return {"acc": best[0], "epsilon": best[1], "n_model_ties": best[2]}


def official_code_accuracy(h, m) -> float:
    """What the released `calc_accuracy_with_ties` returns (our re-implementation of its loop, for comparison): the
    pairs are moved into the model-tie class one at a time in order of |m| and the accuracy is scored after each
    move, so the "no tie" state is never scored and partial groups of equal |m| are."""
    check_labels(h, m)
    if not h:
        return math.nan
    n = len(h)
    right = sum(hi * mi > 0 for hi, mi in zip(h, m) if hi != 0)
    best = -math.inf
    for k in sorted(range(n), key=lambda i: abs(m[i])):  # a stable sort, as Python's sorted() in the original
        right += 1 if h[k] == 0 else -(h[k] * m[k] > 0)
        best = max(best, right / n)
    return best


def heldout_threshold(h, m) -> float:
    """A tie threshold to apply to new data (ours): the calibrated split on (h, m), placed halfway between the last
    |m| it calls a tie and the next distinct |m| (half the smallest |m| when no tie is best; the largest |m| when
    every pair is a tie)."""
    cal = tie_calibration(h, m)
    levels = sorted({abs(x) for x in m})
    if not levels:
        return -1.0
    if cal["epsilon"] is None:
        return levels[0] / 2 if levels[0] > 0 else -1.0
    k = levels.index(cal["epsilon"])
    return (levels[k] + levels[k + 1]) / 2 if k + 1 < len(levels) else levels[k]
