"""Provenance of a run: git SHA, config hash, seed, package versions."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ["brlib", "torch", "torchvision", "transformers", "accelerate", "datasets", "tokenizers", "numpy"]


def config_hash(config) -> str:
    """Short stable hash of a JSON-serialisable config. Used in: 00_quickstart.ipynb (cache keys, stamps)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def git_sha(repo: str | Path | None = None) -> str:
    """The checkout's HEAD commit, with '-dirty' when tracked files changed; 'unknown' outside git."""
    cwd = Path(repo) if repo else Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True
        ).stdout.strip()
        return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict[str, str]:
    """Installed versions of the packages results depend on."""
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def provenance(config=None, seed: int | None = None, **extra) -> dict:
    """The stamp every table and figure carries. Used in: 00_quickstart.ipynb."""
    return {
        "git_sha": git_sha(),
        "config_hash": config_hash(config) if config is not None else None,
        "seed": seed,
        "versions": versions(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
