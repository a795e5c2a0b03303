"""Hub datasets on disk: resolve a dataset repository through the Hugging Face cache, extract its archives once,
and say precisely what is missing when a layout does not match.

A `HubLayout` describes a repository as it really is on the Hub: which files hold the rows of each split, which
archives (zip, split zip parts, tar) hold the media and where they extract, and where relative media paths
resolve. `prepare` is what a GPU worker runs once (`make data PROFILE=paper`): `snapshot_download` (only the files
the layout names), join split archives, extract safely into a folder beside the cache, verify, and write a
manifest; it is idempotent and resumable. `locate` is what loaders call on every rank: it finds the snapshot in the
cache (online or offline) and the extracted media, or raises `LayoutError` with the path it expected, what it
found, and the command that fixes it. No loader ever downloads or extracts on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

PREPARE_HINT = "make data PROFILE=paper  (or: python -m brlib.prepare {key})"


class LayoutError(FileNotFoundError):
    """A dataset on disk does not match any known layout of its Hub repository."""


@dataclass(frozen=True)
class Archive:
    """Media shipped as an archive: `parts` is a glob of the archive or of its split parts (joined in name order,
    as `cat images.zip_* > images.zip` would), extracted under `into` (relative to the extracted root)."""

    parts: str
    into: str = ""


@dataclass(frozen=True)
class HubLayout:
    """A dataset repository's real layout (see tests/hub_replica/LAYOUTS.md for the evidence per repository)."""

    repo_id: str
    files: dict = field(default_factory=dict)  # split -> tuple of globs (relative to the snapshot) of row files
    archives: tuple = ()  # Archive, ...
    media: str = ""  # where relative media paths resolve: "snapshot/<rel>", "extracted/<rel>" or "" (none)
    extra: tuple = ()  # further files to download (meta.json, README.md, ...)
    revision: str | None = None

    def patterns(self) -> list[str]:
        """What `snapshot_download` fetches: the row files, the archives and the extras, nothing else."""
        globs = [g for gs in self.files.values() for g in gs] + [a.parts for a in self.archives] + list(self.extra)
        return sorted(set(globs))


@dataclass
class Located:
    """Where a repository's rows and media are on this machine."""

    snapshot: Path
    rows: list[Path]
    media_root: Path | None
    revision: str


@contextlib.contextmanager
def no_datasets_bars():
    """Silence `datasets` progress bars for a CLI's run and restore them after (brlib.prepare, brlib.preflight)."""
    import datasets

    was_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_on:
            datasets.enable_progress_bars()


def hf_home() -> Path:
    """$HF_HOME, read now (huggingface_hub reads it once at import); default ~/.cache/huggingface."""
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")


def hub_cache() -> Path:
    """The Hugging Face hub cache folder: $HF_HUB_CACHE, else <HF_HOME>/hub, read at call time."""
    return Path(os.environ.get("HF_HUB_CACHE") or hf_home() / "hub")


def snapshot(layout: HubLayout, download: bool = False) -> Path:
    """The repository's snapshot folder in the Hugging Face cache; with `download`, fetch what the layout names."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = snapshot_download(
            layout.repo_id,
            repo_type="dataset",
            revision=layout.revision,
            allow_patterns=layout.patterns(),
            cache_dir=hub_cache(),
            local_files_only=not download,
        )
    except LocalEntryNotFoundError as e:
        raise LayoutError(
            f"dataset {layout.repo_id} is not in the Hugging Face cache ({hub_cache()}); "
            f"fetch it on a machine with Hub access: {PREPARE_HINT.format(key=layout.repo_id)}"
        ) from e
    return Path(path)


def data_dir() -> Path:
    """$BRLIB_DATA_DIR (default <HF_HOME>/brlib): extracted archives, and data that is not on the Hub (COCO for
    POVID, the Multimodal RewardBench build)."""
    return Path(os.environ.get("BRLIB_DATA_DIR") or hf_home() / "brlib")


def extracted_root(layout: HubLayout, snap: Path) -> Path:
    """Where archives extract: <data_dir> / <org--name> / <snapshot commit>."""
    return data_dir() / layout.repo_id.replace("/", "--") / snap.name


def _parts(snap: Path, archive: Archive) -> list[Path]:
    return sorted(p for p in snap.glob(archive.parts) if p.is_file() or p.is_symlink())


def _safe_members(names: list[str], target: Path) -> None:
    """Refuse an archive whose member paths leave the target folder (absolute paths, `..`)."""
    root = target.resolve()
    for n in names:
        dest = (target / n).resolve()
        if not dest.is_relative_to(root):
            raise LayoutError(f"archive member {n!r} would extract outside {target}: refused")


def _extract(parts: list[Path], target: Path, progress: bool) -> int:
    """Join split parts if needed and extract into `target` (created fresh); returns the number of members."""
    from tqdm.auto import tqdm

    source = parts[0]
    if len(parts) > 1:  # images.zip_aa, _ab, ...: byte pieces of one archive
        source = target.parent / (target.name + ".joined")
        with open(source, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 24)
    target.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as z:
                members = [m for m in z.infolist() if not m.is_dir()]
                _safe_members([m.filename for m in members], target)
                for m in tqdm(members, desc=f"extract {parts[0].name}", disable=not progress, unit="file"):
                    z.extract(m, target)
                return len(members)
        if tarfile.is_tarfile(source):
            with tarfile.open(source) as t:
                members = [m for m in t.getmembers() if m.isfile()]
                _safe_members([m.name for m in members], target)
                for m in tqdm(members, desc=f"extract {parts[0].name}", disable=not progress, unit="file"):
                    t.extract(m, target, filter="data")
                return len(members)
        raise LayoutError(f"{parts[0]} is neither a zip nor a tar archive")
    finally:
        if source != parts[0]:
            source.unlink(missing_ok=True)


def prepare(layout: HubLayout, download: bool = True, progress: bool = True) -> dict:
    """Fetch, join, extract and verify one repository; write and return its manifest. Idempotent: an archive
    whose parts are unchanged is not extracted again; an interrupted extraction restarts from scratch."""
    snap = snapshot(layout, download=download)
    root = extracted_root(layout, snap)
    manifest_file = root / "manifest.json"
    old = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
    done = old.get("archives", {})
    archives = {}
    for a in layout.archives:
        parts = _parts(snap, a)
        if not parts:
            raise LayoutError(f"{layout.repo_id}: no archive matching {a.parts!r} in {snap}; found {_listing(snap)}")
        sizes = {p.name: p.stat().st_size for p in parts}
        target = root / (a.into or ".")
        key = a.parts
        if done.get(key, {}).get("parts") == sizes and (target / ".brlib-extracted").exists():
            archives[key] = done[key]
            continue
        partial = root / ((a.into or "_root") + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        n = _extract(parts, partial, progress)
        (partial / ".brlib-extracted").write_text(json.dumps({"parts": sizes, "members": n}))
        if a.into:
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
        else:  # into the root itself: move the members up
            for child in partial.iterdir():
                dest = root / child.name
                if dest.is_dir():
                    shutil.rmtree(dest)
                child.rename(dest)
            partial.rmdir()
        archives[key] = {"parts": sizes, "members": n, "into": a.into}
    located = locate(layout)
    manifest = {
        "repo_id": layout.repo_id,
        "revision": located.revision,
        "snapshot": str(snap),
        "rows": {split: [str(p) for p in _row_files(snap, globs)] for split, globs in layout.files.items()},
        "media_root": str(located.media_root) if located.media_root else None,
        "archives": archives,
        "prepared_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    root.mkdir(parents=True, exist_ok=True)
    tmp = manifest_file.with_suffix(".partial")
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(manifest_file)
    return manifest


def _row_files(snap: Path, globs) -> list[Path]:
    return sorted({p for g in globs for p in snap.glob(g) if p.is_file()})


def _listing(folder: Path, limit: int = 12) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()) if folder.is_dir() else []
    return ", ".join(names[:limit]) + (f", ... ({len(names)} entries)" if len(names) > limit else "") or "nothing"


def locate(layout: HubLayout, split: str | None = None) -> Located:
    """The snapshot, the row files of `split` (all splits if None) and the media root, or a `LayoutError` naming the
    expected path, what is there, and the command that fixes it (never a bare FileNotFoundError in a loader)."""
    snap = snapshot(layout)
    globs = layout.files.get(split, ()) if split else [g for gs in layout.files.values() for g in gs]
    if split and split not in layout.files:
        raise LayoutError(f"{layout.repo_id} has no split {split!r}; known: {sorted(layout.files)}")
    rows = _row_files(snap, globs)
    if globs and not rows:
        raise LayoutError(
            f"{layout.repo_id}: no row files matching {list(globs)} in {snap}; found {_listing(snap)}. "
            f"Fetch them: {PREPARE_HINT.format(key=layout.repo_id)}"
        )
    media_root = None
    if layout.media.startswith("snapshot"):
        media_root = snap / layout.media.removeprefix("snapshot").strip("/")
    elif layout.media.startswith("extracted"):
        root = extracted_root(layout, snap)
        media_root = root / layout.media.removeprefix("extracted").strip("/")
        missing = [a for a in layout.archives if not (root / (a.into or ".") / ".brlib-extracted").exists()]
        if missing:
            found = _listing(snap)
            raise LayoutError(
                f"{layout.repo_id}: media expected under {media_root}, but archive {missing[0].parts!r} is not "
                f"extracted (the snapshot has: {found}). Run: {PREPARE_HINT.format(key=layout.repo_id)}"
            )
    return Located(snap, rows, media_root, snap.name)
