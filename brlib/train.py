"""Train a reward model from one config, in-process or as `python -m brlib.train CONFIG.yaml` (accelerate launch).

Checkpoints hold weights (safetensors), optimizer, scheduler and RNG states; the data order is a function of
(seed, step), so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from brlib.data import DropReport, PairCollator, load_pairs
from brlib.evaluate import pairwise_accuracy, score_pairs
from brlib.head import HeadConfig
from brlib.loss import LossConfig, bt_loss
from brlib.model import RewardModel


@dataclass
class TrainConfig:
    """Everything one training run needs; YAML files map onto it one to one."""

    model: str
    output_dir: str
    train_data: list[dict] = field(default_factory=list)  # [{format, path, split?, source?}]
    mixture: dict | str | None = None  # a MixtureSpec (dict or YAML path), added to train_data
    homogeneous_batches: bool = False  # every micro-batch all-image or all-text (no hangs when sharded)
    prefix_sharing: bool = False  # pack [prompt + image | chosen | rejected] in one row: same loss, less compute
    eval_data: list[dict] = field(default_factory=list)
    seed: int = 0
    lr: float = 3e-6
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    batch_size: int = 128  # pairs per optimizer step, over all processes and accumulation steps
    grad_accum: int = 1
    num_steps: int = 100
    max_length: int = 4096
    precision: str = "bf16"  # or "fp32"
    head: dict = field(default_factory=dict)  # HeadConfig fields
    loss: dict = field(default_factory=dict)  # LossConfig fields
    freeze_vision: bool = False
    gradient_checkpointing: bool = False
    lora: dict | None = None  # peft LoraConfig fields, e.g. {r: 16, lora_alpha: 32, target_modules: [...]}
    vision_in_every_batch: bool = True  # dummy image for text-only batches (no hangs when sharded)
    max_grad_norm: float = 1.0
    log_every: int = 10
    eval_every: int = 0  # 0: only at the end
    save_every: int = 0  # 0: only at the end
    resume: bool = True

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        raw = yaml.safe_load(Path(path).read_text())
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
        return cls(**raw)

    def to_yaml(self, path: str | Path) -> Path:
        """Write this config as YAML, for `accelerate launch -m brlib.train PATH`."""
        Path(path).write_text(yaml.safe_dump(asdict(self), sort_keys=False))
        return Path(path)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


class _Stream:
    """Global micro-batches of `size` indices; micro-batch k depends only on (seed, k), so resume is exact.

    Plain: consecutive slices of the endless stream of per-epoch permutations. Homogeneous: per-epoch batches
    that never mix image and text pairs (`brlib.mixture.homogeneous_batches`).
    """

    def __init__(self, pairs: list, size: int, seed: int, homogeneous: bool = False):
        self.pairs, self.size, self.seed, self.homogeneous, self.cache = pairs, size, seed, homogeneous, {}
        if homogeneous and not self._epoch(0):
            raise ValueError(f"no modality has a full micro-batch of {size} pairs")

    def _epoch(self, epoch: int) -> list:
        if epoch not in self.cache:
            if self.homogeneous:
                from brlib.mixture import homogeneous_batches

                self.cache[epoch] = homogeneous_batches(self.pairs, self.size, self.seed, epoch)
            else:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self.cache[epoch] = torch.randperm(len(self.pairs), generator=g).tolist()
        return self.cache[epoch]

    def batch(self, k: int) -> list[int]:
        if self.homogeneous:
            epoch, j = divmod(k, len(self._epoch(0)))
            return self._epoch(epoch)[j]
        out = []
        for pos in range(k * self.size, (k + 1) * self.size):
            epoch, i = divmod(pos, len(self.pairs))
            out.append(self._epoch(epoch)[i])
        return out


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def _latest_checkpoint(out: Path) -> Path | None:
    ckpts = sorted((out / "checkpoints").glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    return ckpts[-1] if ckpts else None


def _sharded(acc) -> bool:
    from accelerate.utils import DistributedType

    return acc.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)


def _save_checkpoint(acc, out: Path, step: int, model, optimizer, scheduler, window: list | None = None) -> None:
    """Called on every rank. DDP/single: full safetensors weights + optimizer from rank 0. ZeRO/FSDP: the engine's
    own sharded state via `accelerator.save_state`. Either way the directory appears atomically, complete."""
    tmp, final = out / "checkpoints" / f".tmp_step_{step}", out / "checkpoints" / f"step_{step}"
    if acc.is_main_process:
        tmp.mkdir(parents=True, exist_ok=True)
    acc.wait_for_everyone()
    if _sharded(acc):
        acc.save_state(str(tmp / "engine"), safe_serialization=True)  # collective: every rank writes its shard
    else:
        state = acc.get_state_dict(model)  # (full) weights, gathered on rank 0
        if acc.is_main_process:
            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "state.safetensors"))
            torch.save({"optimizer": optimizer.state_dict()}, tmp / "optimizer.pt")
    if acc.is_main_process:
        torch.save({"scheduler": scheduler.state_dict(), "rng": _rng_state()}, tmp / "trainer.pt")
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "window": window or []}))
        tmp.rename(final)
    acc.wait_for_everyone()


def _load_checkpoint(acc, ckpt: Path, model, optimizer, scheduler) -> tuple[int, list]:
    if (ckpt / "engine").exists():
        acc.load_state(str(ckpt / "engine"))
    else:
        acc.unwrap_model(model).load_state_dict(load_file(str(ckpt / "state.safetensors")))
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=False)["optimizer"])
    state = torch.load(ckpt / "trainer.pt", weights_only=False)  # our own files: scheduler and RNG states
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    meta = json.loads((ckpt / "trainer_state.json").read_text())
    return meta["step"], [tuple(w) for w in meta["window"]]


def build(cfg: TrainConfig):
    """Model, collator and the filtered train/eval pairs for `cfg`, with per-source drop reports."""
    model = RewardModel.from_pretrained(cfg.model, HeadConfig(**cfg.head), seed=cfg.seed)
    if cfg.prefix_sharing:
        from brlib.prefix import SharedPrefixCollator

        collator = SharedPrefixCollator(model.processor, cfg.max_length)  # evaluation stays naive (encode)
    else:
        collator = PairCollator(model.processor, cfg.max_length)
    reports = {}

    def gather(specs):
        pairs = []
        for spec in specs:
            kept, rep = collator.filter(load_pairs(spec))
            reports[spec.get("source", spec["path"])] = rep
            pairs += kept
        return pairs

    train_pairs = gather(cfg.train_data)
    if cfg.mixture is not None:
        from brlib.mixture import MixtureSpec, build_mixture

        spec = (
            MixtureSpec.from_dict(cfg.mixture) if isinstance(cfg.mixture, dict) else MixtureSpec.from_yaml(cfg.mixture)
        )
        mix = build_mixture(spec, collator)
        train_pairs += mix.train
        reports.update({k: DropReport(r["read"], r["sampled"], Counter(r["reasons"])) for k, r in mix.report.items()})
    return model, collator, train_pairs, gather(cfg.eval_data), reports


def train(cfg: TrainConfig, progress: bool = True, stop_at: int | None = None) -> dict:
    """Run (or resume) training; returns the metrics history and the final model dir. Used in: 00_quickstart.

    `stop_at` ends this call after that step with a checkpoint, as an interrupted run would; calling again resumes.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from transformers import get_scheduler

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    # Arms trained in one process (a notebook) may differ in precision; the process group itself is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    # cpu=True when there is no GPU: that is what lets torchrun-launched CPU processes form a gloo group.
    acc = Accelerator(mixed_precision="bf16" if cfg.precision == "bf16" else "no", cpu=not torch.cuda.is_available())
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, collator, train_pairs, eval_pairs, reports = build(cfg)
    if not train_pairs:
        raise ValueError("no training pairs left after filtering: " + "; ".join(r.summary() for r in reports.values()))
    if cfg.freeze_vision and hasattr(model.backbone, "visual"):
        model.backbone.visual.requires_grad_(False)
    if cfg.gradient_checkpointing:
        model.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        lora = {
            "r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.0,
            "target_modules": r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)",
            **cfg.lora,
        }
        model.backbone = get_peft_model(model.backbone, LoraConfig(**lora))
        model.head.requires_grad_(True)  # the head is always trained in full and saved with the adapter
    model.vision_in_every_batch = cfg.vision_in_every_batch and not cfg.freeze_vision
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = get_scheduler("cosine", optimizer, math.ceil(cfg.warmup_ratio * cfg.num_steps), cfg.num_steps)
    # The scheduler stays unwrapped: accelerate would step it once per process, but batch_size is already global.
    model, optimizer = acc.prepare(model, optimizer)
    loss_cfg = LossConfig(**cfg.loss)

    log_path = out / "metrics.jsonl"
    start, window, ckpt = 0, [], _latest_checkpoint(out) if cfg.resume else None
    if ckpt is not None:
        start, window = _load_checkpoint(acc, ckpt, model, optimizer, scheduler)
    history = [json.loads(x) for x in log_path.read_text().splitlines()] if log_path.exists() and start else []
    history = [h for h in history if h["step"] <= start]
    if acc.is_main_process:
        (out / "config.json").write_text(json.dumps({**asdict(cfg), "num_processes": acc.num_processes}, indent=2))
    if acc.is_main_process:
        (out / "data_report.json").write_text(json.dumps({k: r.summary() for k, r in reports.items()}, indent=2))

    micro = cfg.batch_size // (cfg.grad_accum * acc.num_processes)
    if micro * cfg.grad_accum * acc.num_processes != cfg.batch_size:
        raise ValueError("batch_size must be divisible by grad_accum x number of processes")
    stream = _Stream(train_pairs, micro * acc.num_processes, cfg.seed, cfg.homogeneous_batches)
    bar = tqdm(
        range(start, cfg.num_steps),
        initial=start,
        total=cfg.num_steps,
        disable=not progress,
        desc="train",
        dynamic_ncols=True,
    )
    t0 = time.perf_counter()
    for step in bar:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        step_loss, step_correct = 0.0, 0
        for m in range(cfg.grad_accum):
            global_batch = stream.batch(step * cfg.grad_accum + m)
            idx = global_batch[acc.process_index * micro : (acc.process_index + 1) * micro]
            batch = {k: v.to(acc.device) for k, v in collator([train_pairs[i] for i in idx]).items()}
            with acc.autocast():
                scores = model(**batch)  # (2B,) chosen then rejected
            chosen, rejected = scores[:micro], scores[micro:]
            lengths = batch["response_len"]
            loss = bt_loss(chosen, rejected, loss_cfg, lengths[:micro], lengths[micro:])
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"non-finite loss {loss.item()} at step {step}, micro-batch {m}: "
                    f"pairs {[train_pairs[i].uid for i in idx]}"
                )
            acc.backward(loss / cfg.grad_accum)
            step_loss += acc.reduce(loss.detach(), "mean").item() / cfg.grad_accum  # the global mean on every rank
            step_correct += int(acc.reduce((chosen > rejected).sum().detach(), "sum"))
        if cfg.max_grad_norm:
            acc.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        done = step + 1
        window.append((step_loss, step_correct / cfg.batch_size))
        rec = {
            "step": done,
            "loss": sum(w[0] for w in window) / len(window),
            "train_acc": sum(w[1] for w in window) / len(window),
            "lr": scheduler.get_last_lr()[0],
            "elapsed_s": time.perf_counter() - t0,
        }
        if eval_pairs and ((cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.num_steps):
            c, r = score_pairs(acc.unwrap_model(model), collator, eval_pairs, batch_size=64)
            rec["eval_acc"] = pairwise_accuracy(c, r)["acc"]
        bar.set_postfix({k: f"{rec[k]:.3f}" for k in ("loss", "eval_acc") if k in rec})
        if done % cfg.log_every == 0 or "eval_acc" in rec or done == cfg.num_steps:
            history.append(rec)  # loss and train_acc: means over the steps since the last record
            window = []
            if acc.is_main_process:
                log_path.write_text("".join(json.dumps(h) + "\n" for h in history))
        if done < cfg.num_steps and ((cfg.save_every and done % cfg.save_every == 0) or done == stop_at):
            _save_checkpoint(acc, out, done, model, optimizer, scheduler, window)
        if done == stop_at and done < cfg.num_steps:
            acc.wait_for_everyone()
            return {
                "history": history,
                "final": None,
                "reports": reports,
                "stopped_at": done,
                "is_main_process": acc.is_main_process,
            }
    acc.wait_for_everyone()
    final = out / "final"
    if not (out / "checkpoints" / f"step_{cfg.num_steps}").exists():
        _save_checkpoint(acc, out, cfg.num_steps, model, optimizer, scheduler)
    state = acc.get_state_dict(model)  # collective: full weights on rank 0 whatever the engine
    if acc.is_main_process:
        _export(acc.unwrap_model(model), final, state)
    return {"history": history, "final": final, "reports": reports, "is_main_process": acc.is_main_process}


def _export(model: RewardModel, final: Path, state: dict | None = None) -> None:
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


def main(argv: list[str] | None = None) -> None:
    """CLI: `python -m brlib.train CONFIG.yaml [--stop-at STEP]` (also under `accelerate launch` / torchrun)."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("config")
    ap.add_argument("--stop-at", type=int, default=None, help="checkpoint and exit after this step (resume later)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    result = train(TrainConfig.from_yaml(args.config), progress=not args.no_progress, stop_at=args.stop_at)
    if result["history"] and result["is_main_process"]:
        print(json.dumps(result["history"][-1]))


if __name__ == "__main__":
    main()
