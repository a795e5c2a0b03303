"""The swapped-image control: does a reward model read the image? Each held-out pair is scored with its own images
and with another pair's of the same task family (evaluate.swap_images); a model that reads the image must do worse
on the swapped pairs. The tiny world's image families are built with counterfactual twins, so no text-only rule
scores above chance on them (brlib.world.tasks).
"""

from __future__ import annotations

import pandas as pd

from brlib import evaluate

IMAGE_FAMILIES = ("perception", "hallucination", "reasoning")  # decided by the image; safety by the request
MIN_GAP = 0.15  # the true-image accuracy must exceed the swapped one by this much to count as reading the image


def control(model, collator, pairs: list, seed: int = 0, batch_size: int = 64) -> pd.DataFrame:
    """Per task family: accuracy with the true images, with swapped images, their gap and n. Used in: 00_quickstart."""
    moved = evaluate.swap_images(pairs, seed)
    rows = []
    if not pairs:  # the paper profile has no held-out split: its image benchmarks carry the control instead
        return pd.DataFrame(rows, columns=["family", "true", "swapped", "gap", "n"])
    true = evaluate.accuracy_by(pairs, *evaluate.score_pairs(model, collator, pairs, batch_size))
    swapped = evaluate.accuracy_by(moved, *evaluate.score_pairs(model, collator, moved, batch_size))
    for family, t in true.items():
        s = swapped[family]["acc"]
        rows.append({"family": family, "true": t["acc"], "swapped": s, "gap": t["acc"] - s, "n": t["n"]})
    return pd.DataFrame(rows)


def over_seeds(per_seed: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """`control` tables of several seeds as mean and std per family (columns true, swapped, gap and their _std), with
    `reads_image`: the family is decided by the image and the mean gap is at least MIN_GAP. Used in: 00_quickstart."""
    df = pd.concat([t.assign(seed=s) for s, t in per_seed.items()] or [control(None, None, [])])
    g = df.groupby("family", sort=False)[["true", "swapped", "gap"]]
    out = g.mean().join(g.std(ddof=1).fillna(0.0), rsuffix="_std").reset_index()
    out["seeds"] = len(per_seed)
    out["reads_image"] = [f in IMAGE_FAMILIES and gap >= MIN_GAP for f, gap in zip(out["family"], out["gap"])]
    return out


def verdict(summary: pd.DataFrame) -> str:
    """Markdown sentences on which image families the model reads, from an `over_seeds` table; a family whose
    true-image accuracy does not beat its swapped control by MIN_GAP is flagged. Used in: 00_quickstart.ipynb."""
    if summary.empty:
        return "- (no held-out pairs in this profile: see the image benchmarks' swapped-image columns)"
    lines = []
    for _, r in summary.iterrows():
        if r["family"] not in IMAGE_FAMILIES:
            continue
        nums = (
            f"{r['true']:.2f} ± {r['true_std']:.2f} with its own image, {r['swapped']:.2f} ± {r['swapped_std']:.2f} "
            f"with another's (gap {r['gap']:+.2f}, {int(r['seeds'])} seeds)"
        )
        if r["reads_image"]:
            lines.append(f"- **{r['family']}**: reads the image: {nums}.")
        else:
            lines.append(f"- **{r['family']}**: ⚠ does **not** beat its swapped-image control by {MIN_GAP}: {nums}.")
    return "\n".join(lines)
