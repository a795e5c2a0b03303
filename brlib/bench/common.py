"""What every benchmark shares: the `BenchRow` record, reading parquet / JSON / JSON-lines rows, and the
strict-`>` credit rule (ties wrong unless `ties="half"`)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from brlib.data.pair import SchemaError


@dataclass
class BenchRow:
    """One benchmark row: a prompt, its responses in the file's order, and which of them is preferred."""

    prompt: str
    responses: list[str]
    chosen: int = 0  # index into responses; RM-Bench rows use the 3 x 3 layout instead
    images: list = field(default_factory=list)
    category: str = ""
    group_id: str = ""
    uid: str = ""
    video: list = field(default_factory=list)


def read_rows(path: str | Path):
    """Rows of a parquet, JSON list or JSON-lines file, with 'file:line' locations."""
    path = Path(path)
    if path.suffix == ".parquet":
        import datasets

        ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
        return [(f"{path}[row {i}]", r) for i, r in enumerate(ds)]
    text = path.read_text()
    if text.lstrip().startswith("["):
        return [(f"{path}[row {i}]", r) for i, r in enumerate(json.loads(text))]
    rows = []
    for i, line in enumerate(text.splitlines()):
        if line.strip():
            try:
                rows.append((f"{path}:{i + 1}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise SchemaError(f"{path}:{i + 1}: not JSON ({e})") from e
    return rows


def correct(scores: list[float], chosen: int, ties: str) -> float:
    """1 if the chosen response scores strictly highest of a pair, 0 if lower; a tie is 0 (or 0.5 with 'half')."""
    other = 1 - chosen
    if scores[chosen] > scores[other]:
        return 1.0
    return 0.5 if (ties == "half" and scores[chosen] == scores[other]) else 0.0


def by_category(rows, credit) -> dict:
    """Accuracy and size per row category."""
    groups = defaultdict(list)
    for row, c in zip(rows, credit):
        groups[row.category].append(c)
    return {k: {"acc": sum(v) / len(v), "n": len(v)} for k, v in sorted(groups.items())}


def count_ties(rows, scores) -> int:
    """Rows whose responses share a score."""
    return sum(len(set(s)) < len(s) for s in scores)
