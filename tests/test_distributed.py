"""The real training entry point under two CPU processes (gloo), checkpoint portability, and SIGKILL + resume."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from brlib.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _config(backbone_dir, world_dir, out: Path, **kw) -> Path:
    base = dict(
        model=str(backbone_dir),
        output_dir=str(out),
        lr=1e-3,
        batch_size=4,
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
    cfg = TrainConfig(**{**base, **kw})
    return cfg.to_yaml(out.parent / f"{out.name}.yaml")


def _run(*cmd, check=True, timeout=240):
    """Run in a new session so that a timeout kills torchrun's workers too, not only torchrun."""
    proc = subprocess.Popen(
        [*cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{cmd} timed out after {timeout} s: {err[-3000:]}")
    if check:
        assert proc.returncode == 0, err[-3000:]
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _train(config: Path, *extra, procs: int = 1):
    if procs == 1:
        return _run(sys.executable, "-m", "brlib.train", str(config), "--no-progress", *extra)
    # On CPU, `accelerate launch` without mpirun starts one process; torchrun starts two, and accelerate picks
    # them up (MULTI_CPU, gloo).
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(procs),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
    ]
    return _run(*torchrun, "-m", "brlib.train", str(config), "--no-progress", *extra)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _history(out: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(x).items() if k != "elapsed_s"}
        for x in (out / "metrics.jsonl").read_text().splitlines()
    ]


def _close(a: list[dict], b: list[dict], tol: float = 1e-5) -> None:
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for k in ra:
            assert ra[k] == pytest.approx(rb[k], abs=tol), (ra["step"], k, ra[k], rb[k])


@pytest.fixture(scope="module")
def single(backbone_dir, world_dir, tmp_path_factory):
    """The reference: one process, the same global batch."""
    out = tmp_path_factory.mktemp("single") / "run"
    _train(_config(backbone_dir, world_dir, out))
    return out


def test_two_processes_give_the_loss_curve_of_one(single, backbone_dir, world_dir, tmp_path):
    out = tmp_path / "two"
    _train(_config(backbone_dir, world_dir, out), procs=2)
    assert json.loads((out / "config.json").read_text())["num_processes"] == 2
    _close(_history(out), _history(single))  # tolerance 1e-5: only the all-reduce order differs


def test_checkpoint_written_by_two_processes_resumes_in_one(single, backbone_dir, world_dir, tmp_path):
    out = tmp_path / "handover"
    config = _config(backbone_dir, world_dir, out)
    _train(config, "--stop-at", "3", procs=2)
    assert (out / "checkpoints" / "step_3").exists() and not (out / "final").exists()
    _train(config)
    _close(_history(out), _history(single))


def test_sigkill_mid_run_then_resume_ends_like_an_uninterrupted_run(backbone_dir, world_dir, tmp_path):
    reference = tmp_path / "uninterrupted"
    _train(_config(backbone_dir, world_dir, reference, num_steps=40))
    out = tmp_path / "killed"
    config = _config(backbone_dir, world_dir, out, save_every=1, num_steps=40)
    proc = subprocess.Popen(
        [sys.executable, "-m", "brlib.train", str(config), "--no-progress"],
        env=ENV,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while not (out / "checkpoints" / "step_2").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (out / "final").exists()
    _train(config)
    assert (out / "final" / "reward_head.safetensors").exists()
    # Checkpoints change nothing numerically: same data order, same updates, the same metrics exactly.
    _close(_history(out), _history(reference), tol=0.0)
