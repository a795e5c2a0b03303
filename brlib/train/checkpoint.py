"""Checkpoints in safetensors and JSON only (weights, optimizer, scheduler, RNG, trainer state), written atomically
and fsync'd, the newest k kept, resumed exactly and on any engine or world size; and the export of the final reward
model (with LoRA: adapter + head, then the merged model)."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from brlib.models.reward_model import RewardModel
from brlib.train import engines

FILES = ("model.safetensors", "optimizer.safetensors", "optimizer.json", "rng.safetensors", "trainer_state.json")


class ConfigMismatchError(ValueError):
    """A checkpoint was written under a different training config than the one resuming it."""


def fsync_path(path: Path) -> None:
    """Flush a file or directory entry to disk (a renamed but unsynced checkpoint can be empty after a power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` via a synced temp file and a rename: readers see the old or the new file, whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)
    return path


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSON-lines file; a torn or garbled line (an older non-atomic writer, a full disk) is skipped."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "step" in rec:
            out.append(rec)
    return out


def rng_state() -> tuple[dict, dict]:
    """(tensors, JSON) of the torch CPU and CUDA, python and numpy generators of this process."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors.update({f"cuda_{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    version, state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {
        "python": [version, list(state), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    return tensors, meta


def set_rng_state(tensors: dict, meta: dict) -> None:
    """Restore the generators saved by `rng_state`."""
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda_"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    version, state, gauss = meta["python"]
    random.setstate((version, tuple(state), gauss))
    name, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def flatten_optimizer(state: dict) -> tuple[dict, dict]:
    """An FQN-keyed optimizer state dict as (tensors for safetensors, structure and scalars for JSON)."""
    tensors, scalars = {}, {}
    for name, entry in state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{name}::{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(name, {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    """Inverse of `flatten_optimizer`."""
    state: dict = {name: dict(entry) for name, entry in meta["scalars"].items()}
    for flat, value in tensors.items():
        name, key = flat.rsplit("::", 1)
        state.setdefault(name, {})[key] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def checkpoints(out: Path) -> list[Path]:
    """Complete step checkpoints under `out`, oldest first."""
    found = [p for p in (out / "checkpoints").glob("step_*") if (p / "trainer_state.json").exists()]
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    found = checkpoints(out)
    return found[-1] if found else None


def save_checkpoint(acc, out: Path, step: int, model, optimizer, scheduler, trainer: dict, keep: int = 0) -> Path:
    """Called on every rank (the state gather is collective); rank 0 writes safetensors + JSON into a temp dir,
    syncs it, renames it to `step_N`, then deletes all but the newest `keep` checkpoints (0: keep all)."""
    tmp, final = out / "checkpoints" / f".tmp_step_{step}", out / "checkpoints" / f"step_{step}"
    weights, optim = engines.full_state(acc, model, optimizer)  # full tensors on rank 0, {} elsewhere
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / "model.safetensors"))
        tensors, meta = flatten_optimizer(optim)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "optimizer.json").write_text(json.dumps(meta))
        rng_tensors, rng_meta = rng_state()
        save_file(rng_tensors, str(tmp / "rng.safetensors"))
        state = {"step": step, "scheduler": scheduler.state_dict(), "rng": rng_meta, **trainer}
        (tmp / "trainer_state.json").write_text(json.dumps(state))
        for name in FILES:
            fsync_path(tmp / name)
        fsync_path(tmp)
        if final.exists():  # a re-run of the same step (e.g. the last step): replace it whole
            shutil.rmtree(final)
        tmp.rename(final)
        fsync_path(final.parent)
        if keep:
            for old in checkpoints(out)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()
    return final


def load_checkpoint(acc, ckpt: Path, model, optimizer, scheduler, config: dict, allow_change: bool = False) -> dict:
    """Restore a checkpoint on every rank; returns its trainer state. A checkpoint written under a different
    training config (`config`: this run's hashed fields, with "hash") raises unless `allow_change`."""
    state = json.loads((ckpt / "trainer_state.json").read_text())
    saved = state.get("config", {})
    if state.get("config_hash") != config["hash"] and not allow_change:
        fields = {k: v for k, v in config.items() if k != "hash"}
        differ = sorted(k for k in set(fields) | set(saved) if fields.get(k) != saved.get(k))
        raise ConfigMismatchError(
            f"{ckpt} was written under config hash {state.get('config_hash')}, this run's is {config['hash']} "
            f"(different: {', '.join(differ) or 'unknown'}). Use a new output_dir, or set allow_config_change: true "
            "to resume these weights under the new config."
        )
    weights = load_file(str(ckpt / "model.safetensors"))
    optim = unflatten_optimizer(
        load_file(str(ckpt / "optimizer.safetensors")), json.loads((ckpt / "optimizer.json").read_text())
    )
    engines.load_full_state(acc, model, optimizer, weights, optim)
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(load_file(str(ckpt / "rng.safetensors")), state["rng"])
    return state


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
