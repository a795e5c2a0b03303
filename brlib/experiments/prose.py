"""Sentences for each notebook's "What the tiny run shows", rendered from its computed tables so the prose cannot
drift from the numbers: arm separation against the seed spread, the swapped-image control, mean ± std strings.

Every function takes an `ablation.summarize` table (one row per arm, `<metric>` and `<metric>_std` columns, and
`<metric>_swapped` where the benchmark has images) and returns Markdown.
"""

from __future__ import annotations

import math

import pandas as pd

MIN_IMAGE_GAP = 5.0  # points: an arm that beats its swapped-image control by less is flagged as not reading the image


def pm(summary: pd.DataFrame, arm: str, column: str, by: str = "arm", digits: int = 1) -> str:
    """ "mean ± std" of one arm's metric. Used in: 03_regularization.ipynb."""
    row = summary.set_index(by).loc[arm]
    return f"{row[column]:.{digits}f} ± {row[f'{column}_std']:.{digits}f}"


def separation(summary: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per metric: the spread of the arms' means (max - min), the mean seed std, and whether the arms are separated
    (spread above the seed std). Used in: 02_reward_head.ipynb."""
    rows = []
    for c in columns:
        if c not in summary or summary[c].isna().all():
            continue
        spread, std = float(summary[c].max() - summary[c].min()), float(summary[f"{c}_std"].mean())
        rows.append({"metric": c, "arm_spread": spread, "seed_std": std, "separated": spread > std})
    return pd.DataFrame(rows, columns=["metric", "arm_spread", "seed_std", "separated"])


def separation_line(summary: pd.DataFrame, columns: list[str]) -> str:
    """One Markdown bullet: on how many metrics the arms' means spread further apart than the seed std, with each
    metric's numbers. Used in: 03_regularization.ipynb."""
    sep = separation(summary, columns)
    if sep.empty:
        return "- **Separation.** (no metric to compare)"
    n_seeds = int(summary["n_seeds"].min()) if "n_seeds" in summary else 0
    if n_seeds < 2:
        return f"- **Separation.** One seed per arm: no seed spread to compare the {len(summary)} arms against."
    per = ", ".join(f"{m} {a:.1f} vs {s:.1f}" for m, a, s in zip(sep.metric, sep.arm_spread, sep.seed_std))
    verdict = "at least half" if sep.separated.sum() * 2 >= len(sep) else "fewer than half"
    return (
        f"- **Separation.** On {int(sep.separated.sum())} of {len(sep)} metrics ({verdict}) the arms' means spread "
        f"further apart than the mean seed std ({n_seeds} seeds); arm spread vs seed std, in points: {per}."
    )


def image_gaps(summary: pd.DataFrame, columns: list[str], by: str = "arm") -> pd.DataFrame:
    """Per arm and image metric: own image minus swapped image, in points. Used in: 04_data.ipynb."""
    cols = [c for c in columns if f"{c}_swapped" in summary]
    out = pd.DataFrame({by: summary[by]})
    for c in cols:
        out[c] = (summary[c] - summary[f"{c}_swapped"]).to_numpy()
    return out


def image_line(summary: pd.DataFrame, columns: list[str], by: str = "arm", arms: list[str] | None = None) -> str:
    """One Markdown bullet on the swapped-image control: the mean gap per image metric over arms, and every arm
    that does not beat its own control by MIN_IMAGE_GAP points on the mean of those metrics (flagged).
    Used in: 04_data.ipynb."""
    gaps = image_gaps(summary, columns, by)
    if arms is not None:
        gaps = gaps[gaps[by].isin(arms)]
    cols = [c for c in gaps.columns if c != by]
    if not cols or gaps.empty:
        return "- **Does it read the image?** (no image metric with a swapped-image control here)"
    mean = ", ".join(f"{c} {gaps[c].mean():+.1f}" for c in cols)
    per_arm = gaps.set_index(by)[cols].mean(axis=1)
    blind = [f"{a} ({g:+.1f})" for a, g in per_arm.items() if not (g >= MIN_IMAGE_GAP)]
    flag = (
        f"**Not above their swapped-image control by {MIN_IMAGE_GAP:.0f} points** (mean over the image metrics): "
        + ", ".join(blind)
        + "."
        if blind
        else f"Every arm beats its swapped-image control by at least {MIN_IMAGE_GAP:.0f} points on average."
    )
    return f"- **Does it read the image?** Own image minus swapped image, mean over arms, in points: {mean}. {flag}"


def ordering(summary: pd.DataFrame, column: str, by: str = "arm", arms: list[str] | None = None) -> str:
    """The arms from best to worst on `column`, as "a (x ± s) > b (y ± t)". Used in: 05_backbones.ipynb."""
    d = summary if arms is None else summary[summary[by].isin(arms)]
    d = d.sort_values(column, ascending=False)
    return " > ".join(f"{a} ({m:.1f} ± {s:.1f})" for a, m, s in zip(d[by], d[column], d[f"{column}_std"]))


def within_noise(a: float, b: float, std_a: float, std_b: float) -> bool:
    """Whether two means differ by less than their combined seed std. Used in: 06_ensemble.ipynb."""
    return abs(a - b) <= math.sqrt(std_a**2 + std_b**2)
