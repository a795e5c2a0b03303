"""The sharded engines under two CPU processes (gloo), launched with the environment of the shipped accelerate
configs: FSDP (full shard) and DDP reproduce the one-process loss curve with gradient accumulation, checkpoints
move between engines and world sizes, a NaN on one rank stops both; DeepSpeed ZeRO-2/3 the same where installed.

Tolerance: 5e-5 absolute on every logged number (loss, train_acc, grad_norm, lr, eval_acc); measured differences
are below 1e-5 (all-reduce and accumulation order only)."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from brlib.train import TrainConfig, train
from brlib.train.engines import launch_env

ROOT = Path(__file__).resolve().parent.parent
ACCELERATE = ROOT / "configs" / "accelerate"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TOL = 5e-5
try:
    import deepspeed  # noqa: F401

    HAS_DEEPSPEED = True
except ImportError:
    HAS_DEEPSPEED = False


def _config(backbone_dir, world_dir, out: Path, **kw) -> TrainConfig:
    base = dict(
        model=str(backbone_dir),
        output_dir=str(out),
        lr=1e-3,
        batch_size=8,
        grad_accum=2,  # 2 processes x 2 pairs x 2 micro-batches; the reference: 1 process, 8 pairs at once
        num_steps=6,
        precision="fp32",
        max_length=512,
        log_every=1,
        eval_every=3,
        train_data=[
            {"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet")},
            {"format": "skywork", "path": str(world_dir / "train" / "text.parquet")},
        ],
        eval_data=[{"format": "rlaif_v", "path": str(world_dir / "heldout" / "rlaif_v.parquet")}],
    )
    return TrainConfig(**{**base, **kw})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(cfg: TrainConfig, *extra, procs: int = 2, engine: str | None = None, check=True, timeout=240):
    """`python -m brlib.train` under torchrun with the environment `accelerate launch --config_file ENGINE` gives."""
    path = cfg.to_yaml(Path(cfg.output_dir).parent / f"{Path(cfg.output_dir).name}-{procs}-{engine}.yaml")
    env = {**ENV, **(launch_env(ACCELERATE / f"{engine}.yaml", procs)[0] if engine else {})}
    if engine and engine.startswith("zero"):
        env["DS_ACCELERATOR"] = "cpu"
    run = ["-m", "brlib.train", str(path), "--no-progress", *extra]
    if procs > 1:
        port = ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
        run = ["-m", "torch.distributed.run", "--nproc_per_node", str(procs), *port, *run]
    proc = subprocess.Popen(
        [sys.executable, *run], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{engine} x {procs} timed out after {timeout} s (a hang): {err[-3000:]}")
    if check:
        assert proc.returncode == 0, err[-3000:]
    return proc.returncode, err


def _history(out: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(x).items() if k != "elapsed_s"}
        for x in (out / "metrics.jsonl").read_text().splitlines()
    ]


def _close(a: list[dict], b: list[dict]) -> None:
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for k in ra:
            assert ra[k] == pytest.approx(rb[k], abs=TOL), (ra["step"], k, ra[k], rb[k])


def _engine(out: Path) -> tuple[str, int]:
    cfg = json.loads((out / "config.json").read_text())
    return cfg["engine"], cfg["num_processes"]


@pytest.fixture(scope="module")
def reference(backbone_dir, world_dir, tmp_path_factory):
    """One process, no accumulation: 8 pairs per step."""
    out = tmp_path_factory.mktemp("reference") / "run"
    return _strip(train(_config(backbone_dir, world_dir, out, grad_accum=1), progress=False)["history"])


def _strip(history):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in history]


def test_fsdp_two_processes_with_accumulation_follow_one_process_and_resume_as_fsdp(
    reference, backbone_dir, world_dir, tmp_path
):
    cfg = _config(backbone_dir, world_dir, tmp_path / "fsdp")
    _launch(cfg, "--stop-at", "3", engine="fsdp")
    assert _engine(tmp_path / "fsdp") == ("FSDP", 2)  # accelerate alone would have run DDP here
    _launch(cfg, engine="fsdp")  # FSDP loads the full-state checkpoint into its shards
    _close(_history(tmp_path / "fsdp"), reference)


def test_fsdp_checkpoint_resumes_in_one_process(reference, backbone_dir, world_dir, tmp_path):
    cfg = _config(backbone_dir, world_dir, tmp_path / "handover")
    _launch(cfg, "--stop-at", "3", engine="fsdp")
    _launch(cfg, procs=1)
    assert _engine(tmp_path / "handover") == ("NO", 1)
    _close(_history(tmp_path / "handover"), reference)


def test_ddp_with_accumulation_follows_one_process(reference, backbone_dir, world_dir, tmp_path):
    _launch(_config(backbone_dir, world_dir, tmp_path / "ddp"))
    assert _engine(tmp_path / "ddp") == ("MULTI_CPU", 2)
    _close(_history(tmp_path / "ddp"), reference)


def test_a_nan_on_one_rank_stops_every_rank_with_the_message(backbone_dir, world_dir, tmp_path):
    # rank 1's loss turns NaN at step 1; rank 0's stays finite
    driver = tmp_path / "nan_on_rank1.py"
    driver.write_text(
        "import os, sys, torch\n"
        "import brlib.train.loop as loop\n"
        "real = loop.bt_loss\n"
        "calls = []\n"
        "def bt_loss(*a, **k):\n"
        "    calls.append(1)\n"
        "    loss = real(*a, **k)\n"
        "    return loss * float('nan') if os.environ['RANK'] == '1' and len(calls) > 2 else loss\n"
        "loop.bt_loss = bt_loss\n"
        "from brlib.train.__main__ import main\n"
        "main(sys.argv[1:])\n"
    )
    path = _config(backbone_dir, world_dir, tmp_path / "nan").to_yaml(tmp_path / "nan.yaml")
    cmd = ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port())]
    proc = subprocess.run(
        [sys.executable, *cmd, str(driver), str(path), "--no-progress"],
        capture_output=True, text=True, env={**ENV, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=240,
    )  # fmt: skip
    assert proc.returncode != 0
    for rank in (0, 1):  # both raise the same error; neither was only killed by torchrun after the other died
        lines = [x for x in proc.stderr.splitlines() if x.startswith(f"[rank{rank}]:") and "NonFiniteLossError" in x]
        assert any("at step 1, micro-batch 0: pairs [" in x and "bad on ranks [1]" in x for x in lines), proc.stderr[
            -3000:
        ]


@pytest.fixture(scope="module")
def image_reference(backbone_dir, world_dir, tmp_path_factory):
    """One process, no accumulation, image pairs only (DeepSpeed needs modality-homogeneous micro-batches)."""
    out = tmp_path_factory.mktemp("image_reference") / "run"
    cfg = _config(
        backbone_dir, world_dir, out, grad_accum=1, train_data=_config(backbone_dir, world_dir, out).train_data[:1]
    )
    return _strip(train(cfg, progress=False)["history"])


@pytest.mark.skipif(not HAS_DEEPSPEED, reason='deepspeed is not installed (pip install ".[gpu]"); GPU workers run it')
@pytest.mark.parametrize("engine", ["zero2", "zero3"])
def test_deepspeed_follows_one_process_and_resumes_exactly(engine, image_reference, backbone_dir, world_dir, tmp_path):
    cfg = _config(backbone_dir, world_dir, tmp_path / engine)
    cfg.train_data = cfg.train_data[:1]
    _launch(cfg, "--stop-at", "3", engine=engine)
    assert _engine(tmp_path / engine) == ("DEEPSPEED", 2)
    _launch(cfg, engine=engine)
    _close(_history(tmp_path / engine), image_reference)
    assert (tmp_path / engine / "final" / "reward_head.safetensors").exists()
    if engine == "zero3":  # a ZeRO-3 checkpoint resumes in one process too
        handover = _config(backbone_dir, world_dir, tmp_path / "handover")
        handover.train_data = handover.train_data[:1]
        _launch(handover, "--stop-at", "3", engine=engine)
        _launch(handover, procs=1)
        _close(_history(tmp_path / "handover"), image_reference)


@pytest.mark.skipif(not HAS_DEEPSPEED, reason='deepspeed is not installed (pip install ".[gpu]"); GPU workers run it')
def test_deepspeed_refuses_mixed_modality_micro_batches(backbone_dir, world_dir, tmp_path):
    rc, err = _launch(_config(backbone_dir, world_dir, tmp_path / "mixed", num_steps=1), engine="zero2", check=False)
    assert rc != 0 and "set homogeneous_batches: true" in err
