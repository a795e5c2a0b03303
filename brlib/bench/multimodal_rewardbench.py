"""Multimodal RewardBench (facebookresearch/multimodal_rewardbench): Output1/Output2 and `Better`; safety split into
bias/toxicity and reasoning into math/coding by ID prefix; pooled, mean-of-7 and mean-of-8 overall scores."""

from __future__ import annotations

from pathlib import Path

from brlib.bench.common import BenchRow, by_category, correct, count_ties, media_path, read_rows, text
from brlib.data.pair import SchemaError, require

MMRB_SUBCATEGORIES = [
    "correctness",
    "preference",
    "knowledge",
    "math",
    "coding",
    "safety/bias",
    "safety/toxicity",
    "vqa",
]


def mmrb_category(category: str, item_id: str) -> str:
    """Multimodal RewardBench sub-category: safety -> bias/toxicity, reasoning -> math/coding, by ID prefix."""
    low = item_id.lower()
    if category == "safety":
        return "safety/bias" if low.startswith("pairs") else "safety/toxicity"
    if category == "reasoning":
        return "math" if low.startswith("math") else "coding"
    return {"open_generation/correctness_task": "correctness", "open_generation/preference_task": "preference"}.get(
        category, category
    )


def load_multimodal_rewardbench(path, image_root=None):
    root = Path(image_root) if image_root else Path(path).parent
    rows = []
    for where, r in read_rows(path):
        require(r, ["ID", "Output1", "Output2", "Better", "Category"], where)
        if r["Better"] not in ("Output1", "Output2"):
            raise SchemaError(f"{where}: field 'Better' must be 'Output1' or 'Output2', got {r['Better']!r}")
        image = media_path(r, "Image", where)
        prompt = r.get("Text") or ""
        if not isinstance(prompt, str):
            raise SchemaError(f"{where}: field 'Text' must be text, got {type(prompt).__name__}")
        rows.append(
            BenchRow(
                prompt,
                [text(r, "Output1", where), text(r, "Output2", where)],
                int(r["Better"] == "Output2"),
                [root / image] if image else [],
                mmrb_category(text(r, "Category", where), str(r["ID"])),
                str(r["ID"]),
                where,
            )
        )
    return rows


def metrics_multimodal_rewardbench(rows, scores, ties="wrong"):
    credit = [correct(s, r.chosen, ties) for r, s in zip(rows, scores)]
    cats = by_category(rows, credit)
    mean_of = lambda names: (
        sum(cats[c]["acc"] for c in names if c in cats)  # noqa: E731
        / max(1, sum(c in cats for c in names))
    )
    return {
        "overall_pooled": sum(credit) / len(credit),
        "overall_mean7": mean_of([c for c in MMRB_SUBCATEGORIES if c != "safety/toxicity"]),
        "overall_mean8": mean_of(MMRB_SUBCATEGORIES),
        "n": len(rows),
        "n_tie": count_ties(rows, scores),
        "categories": cats,
    }
