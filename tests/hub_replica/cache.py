"""Write repositories into a Hugging Face hub cache exactly as `huggingface-cli download` leaves them: content in
`blobs/<sha256>`, the tree under `snapshots/<commit>/` as relative symlinks to the blobs, and `refs/main`. With
HF_HUB_OFFLINE=1, `snapshot_download(repo_id)` and `hf_hub_download` then resolve these repositories by Hub id."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def write_repo(
    hub_cache: Path, repo_id: str, files: dict[str, bytes], repo_type: str = "dataset", commit: str | None = None
) -> Path:
    """Write `files` (repo path -> bytes) as the `main` revision of `repo_id` (at `commit`, default a hash of the
    content, so a pinned revision resolves too); returns the snapshot folder."""
    folder = Path(hub_cache) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    digests = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    commit = commit or hashlib.sha1("".join(f"{p}:{d}\n" for p, d in sorted(digests.items())).encode()).hexdigest()
    snap = folder / "snapshots" / commit
    for path, data in files.items():
        blob = folder / "blobs" / digests[path]
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(data)
        link = snap / path
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return snap


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under `root` as repo path -> bytes (to mirror a folder written by a generator)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
