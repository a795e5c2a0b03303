"""What every benchmark shares: the `BenchRow` record, reading parquet / JSON / JSON-lines rows, and the
strict-`>` credit rule (ties wrong unless `ties="half"`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from brlib.data.pair import SchemaError
from brlib.data.sources.files import json_rows, parquet_rows


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
    video: list = field(default_factory=list)  # frames, or a video `Media` (a clip sampled as the protocol says)
    layout: str = ""  # which known variant of the benchmark's file layout its media were found in
    criterion: str | None = None  # Omni-RewardBench: the free-form criterion the preference is judged under
    tie: bool = False  # Omni-RewardBench: the responses are equally good under the criterion
    audio: list = field(default_factory=list)  # audio clips of the prompt (TA2T)
    video_fps: float | None = None


def read_rows(path: str | Path) -> list[tuple[str, dict]]:
    """(location, record) of every row of a parquet, JSON list or JSON-lines file; images left undecoded. A
    benchmark must be read whole, so any bad row (not JSON, not an object, not UTF-8) is a SchemaError here."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"benchmark file {path} does not exist")
    reader = parquet_rows if path.suffix == ".parquet" else json_rows
    out = []
    for row in reader(path):
        if isinstance(row.record, SchemaError):
            raise row.record
        out.append((row.where, row.record))
    return out


def text(row: dict, name: str, where: str) -> str:
    """Field `name` of a row, which must be a string."""
    value = row.get(name)
    if not isinstance(value, str):
        raise SchemaError(f"{where}: field {name!r} must be text, got {type(value).__name__}")
    return value


def media_path(row: dict, name: str, where: str) -> str | None:
    """An optional media path field: None when absent or empty, else a string."""
    value = row.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise SchemaError(f"{where}: field {name!r} must be a path, got {type(value).__name__}")
    return value


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
