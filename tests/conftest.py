"""Shared fixtures: a tiny backbone and a tiny world built once per session, fully offline."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every cached build and run of the test session lives in a temp dir, not data/cache."""
    d = tmp_path_factory.mktemp("brlib_cache")
    os.environ["BRLIB_CACHE"] = str(d)
    return d


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory):
    from brlib import world

    d = tmp_path_factory.mktemp("world")
    world.write_world(d, seed=0, n_train=60, n_heldout=30, n_bench=12)
    return d


@pytest.fixture(scope="session")
def backbone_dir(tmp_path_factory):
    from brlib import world
    from brlib.models import backbones

    d = tmp_path_factory.mktemp("backbone")
    return backbones.build_tiny_backbone(d, world.corpus(n=300), family="qwen2_5_vl", size="xs", seed=0)


@pytest.fixture(scope="session")
def rm(backbone_dir):
    from brlib.models.reward_model import RewardModel

    return RewardModel.from_pretrained(backbone_dir).eval()


@pytest.fixture(scope="session")
def pairs(world_dir):
    from brlib.train import load_pairs

    img = load_pairs({"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet")})
    txt = load_pairs({"format": "skywork", "path": str(world_dir / "train" / "text.parquet")})
    return img[:6] + txt[:3]


@pytest.fixture(scope="session")
def trained_checkpoint():
    """A tiny model trained well enough that a safety pair is ranked right (cached for the session)."""
    from brlib.experiments import profiles

    cfg = profiles.load("tiny", smoke=False, steps=150)
    return profiles.run_arm(cfg, profiles.prepare(cfg), seed=0, progress=False)["final"]


@pytest.fixture(scope="module")
def live_server():
    """Start apps on 127.0.0.1 with `python -m brlib.server`'s uvicorn settings; all stop at the module's end.

    `start(app, limits) -> port`."""
    import socket
    import threading
    import time

    import uvicorn

    from brlib.serve.limits import uvicorn_config

    running = []

    def start(app, limits) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, limits, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.time() + 30
        while not server.started:
            assert time.time() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)
        return port

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, thread in running:
        thread.join(timeout=15)
