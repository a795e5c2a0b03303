"""The Hub mechanism on a synthetic repository in a real hub-cache layout: resolve offline by id, join split zip
parts, extract safely and once, and name the fix when media are not extracted."""

import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from brlib.data.hub import Archive, HubLayout, LayoutError, locate, prepare

sys.path.insert(0, str(Path(__file__).parent / "hub_replica"))
from cache import write_repo  # noqa: E402


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("BRLIB_DATA_DIR", raising=False)
    return tmp_path / "hf" / "hub"


def test_split_zip_parts_are_joined_extracted_once_and_located(hub):
    blob = _zip({f"images/{i}.png": bytes([i]) * 100 for i in range(20)})
    third = len(blob) // 3 + 1
    parts = {f"images.zip_a{c}": blob[i * third : (i + 1) * third] for i, c in enumerate("abc")}
    write_repo(hub, "acme/split", {"meta.json": b"{}", "rows.jsonl": b'{"a": 1}\n', **parts})
    layout = HubLayout("acme/split", {"train": ("rows.jsonl",)}, (Archive("images.zip_*"),), "extracted/images")
    with pytest.raises(LayoutError, match=r"archive 'images.zip_\*' is not extracted.*make data"):
        locate(layout)
    manifest = prepare(layout, download=False, progress=False)
    assert manifest["archives"]["images.zip_*"]["members"] == 20
    loc = locate(layout, "train")
    assert (loc.media_root / "7.png").read_bytes() == bytes([7]) * 100 and loc.rows[0].name == "rows.jsonl"
    stamp = (loc.media_root.parent / ".brlib-extracted").stat().st_mtime_ns
    prepare(layout, download=False, progress=False)  # idempotent: nothing extracted again
    assert (loc.media_root.parent / ".brlib-extracted").stat().st_mtime_ns == stamp
    assert json.loads((loc.media_root.parent / "manifest.json").read_text())["repo_id"] == "acme/split"


def test_tar_into_a_folder_and_missing_rows_name_what_is_there(hub):
    write_repo(hub, "acme/tar", {"images.tar": _tar({"a/x.jpg": b"x"}), "data/train.parquet": b"PAR1"})
    layout = HubLayout("acme/tar", {"train": ("data/train-*.parquet",)}, (Archive("images.tar", "imgs"),))
    with pytest.raises(
        LayoutError, match=r"no row files matching \['data/train-\*.parquet'\].*found data/, images.tar"
    ):
        locate(layout)
    layout = HubLayout("acme/tar", {"train": ("data/*.parquet",)}, (Archive("images.tar", "imgs"),), "extracted/imgs")
    prepare(layout, download=False, progress=False)
    assert (locate(layout).media_root / "a" / "x.jpg").read_bytes() == b"x"


def test_archives_that_would_escape_are_refused_and_absent_repos_say_how_to_fetch(hub):
    write_repo(hub, "acme/evil", {"evil.zip": _zip({"../../outside.txt": b"pwned"})})
    layout = HubLayout("acme/evil", {}, (Archive("evil.zip", "x"),), "extracted/x")
    with pytest.raises(LayoutError, match="outside"):
        prepare(layout, download=False, progress=False)
    assert not any(p.name == "outside.txt" for p in hub.parent.rglob("*"))
    with pytest.raises(LayoutError, match=r"acme/absent is not in the Hugging Face cache.*make data"):
        locate(HubLayout("acme/absent", {"train": ("*.jsonl",)}))
