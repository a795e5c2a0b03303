"""Reading rows: local parquet / JSON / JSON-lines files or a Hub dataset, with images left undecoded.

Every row comes out as a `Row` (file, index, location, record). A line that is not JSON, a file that is not UTF-8
or a record that is not an object becomes a `SchemaError` naming the file and line, in the row's place:
`load_source` raises it, or counts it as a drop when lenient. Images stay as {"bytes", "path"} dicts until the
collator opens them, so one corrupt image is one counted drop, not a failed file, and no rank decodes a whole
dataset's images before its first step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from brlib.data.pair import SchemaError

SUFFIXES = {".parquet", ".json", ".jsonl"}


@dataclass
class Row:
    """One record of a source file (or the error that stands in its place)."""

    file: str  # the file (or Hub id and split) the row came from
    index: int  # 0-based position in that file
    where: str  # "file:line" for JSON lines, "file[row i]" otherwise
    record: dict | SchemaError


def read_text(path: Path) -> str:
    """A file's text; a SchemaError naming the file when it is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SchemaError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from e


def json_rows(path: Path):
    """Rows of a JSON list file or a JSON-lines file (a `.json` file that is not one JSON value is read as lines)."""
    text = read_text(path)
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # some datasets ship JSON lines under a .json name
        if isinstance(data, list):
            yield from (Row(str(path), i, f"{path}[row {i}]", _obj(r, f"{path}[row {i}]")) for i, r in enumerate(data))
            return
        if isinstance(data, dict):
            yield Row(str(path), 0, f"{path}[row 0]", data)
            return
    i = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            record = _obj(json.loads(line), where)
        except json.JSONDecodeError as e:
            record = SchemaError(f"{where}: not JSON ({e.msg} at column {e.colno})")
        yield Row(str(path), i, where, record)
        i += 1


def _obj(record, where: str):
    if isinstance(record, dict):
        return record
    return SchemaError(f"{where}: a row must be a JSON object, got {record!r:.60}")


def undecoded(ds):
    """The dataset with every `Image`, `Audio` and `Video` feature (nested ones too) left as {"bytes", "path"} dicts
    (decoding audio or video here would need torchcodec, and every row's media at once)."""
    import datasets

    found = []

    def walk(f):
        for kind in (datasets.Image, datasets.Audio, getattr(datasets, "Video", None)):
            if kind is not None and isinstance(f, kind):
                found.append(f)
                return kind(decode=False)
        if isinstance(f, dict):
            return {k: walk(v) for k, v in f.items()}
        if isinstance(f, list):
            return [walk(v) for v in f]
        if isinstance(f, datasets.List):  # before Sequence: Sequence(dict) would turn a list of structs inside out
            return datasets.List(walk(f.feature), length=f.length)
        return f

    features = datasets.Features({k: walk(v) for k, v in ds.features.items()})
    return ds.cast(features) if found else ds


def parquet_rows(path: Path):
    """Rows of one parquet file, images undecoded."""
    import datasets

    try:
        ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    except Exception as e:  # pyarrow raises several types for a corrupt file
        raise SchemaError(f"{path}: not a readable parquet file ({e.__class__.__name__}: {e})") from e
    for i, r in enumerate(undecoded(ds)):
        yield Row(str(path), i, f"{path}[row {i}]", r)


def local_files(path: Path) -> list[Path]:
    """The data files under a folder (sorted, so the row order is stable), or the file itself."""
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.suffix in SUFFIXES and f.is_file())
    return [path]


def rows(path_or_id: str, split: str):
    """Rows of a Hub dataset (by id and split) or of local parquet / json / jsonl files, in a stable order."""
    import datasets

    p = Path(path_or_id)
    if not p.exists():
        ds = undecoded(datasets.load_dataset(path_or_id, split=split))
        yield from (Row(f"{path_or_id}:{split}", i, f"{path_or_id}:{split}[row {i}]", r) for i, r in enumerate(ds))
        return
    for f in local_files(p):
        yield from parquet_rows(f) if f.suffix == ".parquet" else json_rows(f)
