"""The training loop: build model, collator and data from a `TrainConfig`, then train on one process or many.

Checkpoints hold weights (safetensors), optimizer, scheduler and RNG states; the data order is a function of
(seed, step), so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from brlib.data.collate import PairCollator
from brlib.data.pair import DropReport
from brlib.evaluate import pairwise_accuracy, score_pairs
from brlib.models.head import HeadConfig
from brlib.models.loss import LossConfig, bt_loss
from brlib.models.reward_model import RewardModel
from brlib.train.checkpoint import export, latest_checkpoint, load_checkpoint, save_checkpoint
from brlib.train.config import TrainConfig, load_pairs


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
                from brlib.data.mixture import homogeneous_batches

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


def build(cfg: TrainConfig):
    """Model, collator and the filtered train/eval pairs for `cfg`, with per-source drop reports."""
    model = RewardModel.from_pretrained(cfg.model, HeadConfig(**cfg.head), seed=cfg.seed)
    if cfg.prefix_sharing:
        from brlib.models.prefix import SharedPrefixCollator

        collator = SharedPrefixCollator(model.processor, cfg.max_length)  # evaluation stays naive (encode)
    else:
        collator = PairCollator(model.processor, cfg.max_length)
    reports = {}

    ties = LossConfig(**cfg.loss).ties

    def gather(specs, train=True):
        pairs = []
        for spec in specs:
            kept, rep = collator.filter(load_pairs(spec))
            if not train or ties == "skip":  # tie labels: dropped and counted (pairwise accuracy cannot score them)
                why = f"tie (loss ties: {ties})" if train else "tie (not scored by pairwise accuracy)"
                for p in (p for p in kept if p.tie):
                    rep.add(why, p.uid)
                kept = [p for p in kept if not p.tie]
                rep.kept = len(kept)
            reports[spec.get("source", spec["path"])] = rep
            pairs += kept
        return pairs

    train_pairs = gather(cfg.train_data)
    if cfg.mixture is not None:
        from brlib.data.mixture import MixtureSpec, build_mixture

        spec = (
            MixtureSpec.from_dict(cfg.mixture) if isinstance(cfg.mixture, dict) else MixtureSpec.from_yaml(cfg.mixture)
        )
        mix = build_mixture(spec, collator)
        train_pairs += mix.train
        reports.update({k: DropReport(r["read"], r["sampled"], Counter(r["reasons"])) for k, r in mix.report.items()})
    return model, collator, train_pairs, gather(cfg.eval_data, train=False), reports


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
    # Length normalisation is part of the model's reward (RewardModel.length_norm), not of the loss alone, so the
    # training accuracy, evaluation, benchmarks and the exported checkpoint rank what the loss ranked.
    model.length_norm = bool(cfg.loss.get("length_norm", False))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = get_scheduler("cosine", optimizer, math.ceil(cfg.warmup_ratio * cfg.num_steps), cfg.num_steps)
    # The scheduler stays unwrapped: accelerate would step it once per process, but batch_size is already global.
    model, optimizer = acc.prepare(model, optimizer)
    loss_cfg = LossConfig(**{**cfg.loss, "length_norm": False})  # applied by the model (above)

    log_path = out / "metrics.jsonl"
    start, window, ckpt = 0, [], latest_checkpoint(out) if cfg.resume else None
    if ckpt is not None:
        start, window = load_checkpoint(acc, ckpt, model, optimizer, scheduler)
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
            tie = torch.tensor([train_pairs[i].tie for i in idx], device=acc.device)
            loss = bt_loss(chosen, rejected, loss_cfg, lengths[:micro], lengths[micro:], tie)
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
            save_checkpoint(acc, out, done, model, optimizer, scheduler, window)
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
        save_checkpoint(acc, out, cfg.num_steps, model, optimizer, scheduler)
    state = acc.get_state_dict(model)  # collective: full weights on rank 0 whatever the engine
    if acc.is_main_process:
        export(acc.unwrap_model(model), final, state)
    return {"history": history, "final": final, "reports": reports, "is_main_process": acc.is_main_process}
