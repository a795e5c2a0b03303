"""Checkpoints: weights (safetensors), optimizer, scheduler and RNG states, written atomically and resumed exactly;
and the export of the final reward model (with LoRA: adapter + head, then the merged model)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from brlib.models.reward_model import RewardModel


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def latest_checkpoint(out: Path) -> Path | None:
    ckpts = sorted((out / "checkpoints").glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    return ckpts[-1] if ckpts else None


def sharded(acc) -> bool:
    from accelerate.utils import DistributedType

    return acc.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)


def save_checkpoint(acc, out: Path, step: int, model, optimizer, scheduler, window: list | None = None) -> None:
    """Called on every rank. DDP/single: full safetensors weights + optimizer from rank 0. ZeRO/FSDP: the engine's
    own sharded state via `accelerator.save_state`. Either way the directory appears atomically, complete."""
    tmp, final = out / "checkpoints" / f".tmp_step_{step}", out / "checkpoints" / f"step_{step}"
    if acc.is_main_process:
        tmp.mkdir(parents=True, exist_ok=True)
    acc.wait_for_everyone()
    if sharded(acc):
        acc.save_state(str(tmp / "engine"), safe_serialization=True)  # collective: every rank writes its shard
    else:
        state = acc.get_state_dict(model)  # (full) weights, gathered on rank 0
        if acc.is_main_process:
            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "state.safetensors"))
            torch.save({"optimizer": optimizer.state_dict()}, tmp / "optimizer.pt")
    if acc.is_main_process:
        torch.save({"scheduler": scheduler.state_dict(), "rng": rng_state()}, tmp / "trainer.pt")
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "window": window or []}))
        tmp.rename(final)
    acc.wait_for_everyone()


def load_checkpoint(acc, ckpt: Path, model, optimizer, scheduler) -> tuple[int, list]:
    if (ckpt / "engine").exists():
        acc.load_state(str(ckpt / "engine"))
    else:
        acc.unwrap_model(model).load_state_dict(load_file(str(ckpt / "state.safetensors")))
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=False)["optimizer"])
    state = torch.load(ckpt / "trainer.pt", weights_only=False)  # our own files: scheduler and RNG states
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    meta = json.loads((ckpt / "trainer_state.json").read_text())
    return meta["step"], [tuple(w) for w in meta["window"]]


def export(model: RewardModel, final: Path, state: dict | None = None) -> None:
    """Write the trained reward model from its gathered `state`; with LoRA also the adapter + head, then the
    merged standalone model (LoRA export assumes unsharded weights: DDP or one process)."""
    if hasattr(model.backbone, "merge_and_unload"):
        model.backbone.save_pretrained(final / "adapter")  # adapter_model.safetensors + adapter_config.json
        save_file(
            {k: v.contiguous() for k, v in model.head.state_dict().items()},
            str(final / "adapter" / "reward_head.safetensors"),
        )
        model, state = RewardModel(model.backbone.merge_and_unload(), model.head, model.processor), None
    model.save_pretrained(final, state_dict=state)
