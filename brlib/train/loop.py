"""The training loop: build model, collator and data from a `TrainConfig`, then train on one process or many.

The engine (DDP, FSDP, DeepSpeed ZeRO) comes from `accelerate launch` (`brlib.train.engines`); accumulation runs
through `accelerator.accumulate`, weights and optimizer state stay fp32 (compute in bf16 under autocast).
Checkpoints hold weights, optimizer, scheduler and RNG states (safetensors + JSON); the data order is a function of
(seed, step), so a resumed run continues exactly where it stopped, on any engine and number of processes.
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
from brlib.evaluate import pairwise_accuracy
from brlib.models.head import HeadConfig
from brlib.models.loss import LossConfig, bt_loss
from brlib.models.optim import param_groups
from brlib.models.reward_model import RewardModel
from brlib.train import engines
from brlib.train.checkpoint import export, latest_checkpoint, load_checkpoint, save_checkpoint, write_atomic
from brlib.train.config import NOT_HASHED, TrainConfig, load_pairs
from brlib.train.evaluation import sharded_pair_scores


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss or gradient (raised on every rank, with the same message)."""


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
    """Model (fp32 weights whatever the checkpoint's dtype), collator and the filtered train/eval pairs for `cfg`,
    with per-source drop reports."""
    pixels = {k: getattr(cfg, k) for k in ("min_pixels", "max_pixels") if getattr(cfg, k)}
    model = RewardModel.from_pretrained(
        cfg.model, HeadConfig(**cfg.head), dtype=torch.float32, seed=cfg.seed, processor_kwargs=pixels
    )
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
    from transformers import get_scheduler

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    acc = engines.make_accelerator(cfg.grad_accum, cfg.precision)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    micro = cfg.batch_size // (cfg.grad_accum * acc.num_processes)
    if micro * cfg.grad_accum * acc.num_processes != cfg.batch_size:
        raise ValueError(
            f"batch_size {cfg.batch_size} must be divisible by grad_accum {cfg.grad_accum} x "
            f"{acc.num_processes} processes"
        )
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
    engines.check_trainable_fp32(model)
    engines.check_modalities(acc, cfg.homogeneous_batches, train_pairs)
    engines.configure_deepspeed(acc, micro, cfg.grad_accum, cfg.max_grad_norm)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.lr, cfg.vision_lr), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = get_scheduler("cosine", optimizer, math.ceil(cfg.warmup_ratio * cfg.num_steps), cfg.num_steps)
    # The scheduler stays unwrapped: accelerate would step it once per process, but batch_size is already global.
    model, optimizer = acc.prepare(model, optimizer)
    loss_cfg = LossConfig(**{**cfg.loss, "length_norm": False})  # applied by the model (above)

    hashed = {k: v for k, v in asdict(cfg).items() if k not in NOT_HASHED}
    config = {**hashed, "hash": cfg.training_hash()}
    log_path = out / "metrics.jsonl"
    start, window, history, ckpt = 0, [], [], latest_checkpoint(out) if cfg.resume else None
    if ckpt is not None:
        state = load_checkpoint(acc, ckpt, model, optimizer, scheduler, config, cfg.allow_config_change)
        # The checkpoint carries the history up to its step: a torn or lost metrics.jsonl loses nothing.
        start, window, history = state["step"], [tuple(w) for w in state["window"]], state["history"]
    if acc.is_main_process:
        write_atomic(
            out / "config.json",
            json.dumps(
                {**asdict(cfg), "num_processes": acc.num_processes, "engine": acc.distributed_type.value}, indent=2
            ),
        )
        write_atomic(out / "data_report.json", json.dumps({k: r.summary() for k, r in reports.items()}, indent=2))
        write_atomic(log_path, "".join(json.dumps(h) + "\n" for h in history))
    trainer = lambda: {"window": window, "history": history, "config_hash": config["hash"], "config": hashed}  # noqa: E731

    stream = _Stream(train_pairs, micro * acc.num_processes, cfg.seed, cfg.homogeneous_batches)
    bar = tqdm(
        range(start, cfg.num_steps),
        initial=start,
        total=cfg.num_steps,
        disable=not progress or not acc.is_main_process,
        desc="train",
        dynamic_ncols=True,
    )
    t0 = time.perf_counter()
    for step in bar:
        model.train()
        step_loss, step_correct = 0.0, 0
        for m in range(cfg.grad_accum):
            global_batch = stream.batch(step * cfg.grad_accum + m)
            idx = global_batch[acc.process_index * micro : (acc.process_index + 1) * micro]
            batch = {k: v.to(acc.device) for k, v in collator([train_pairs[i] for i in idx]).items()}
            with acc.accumulate(model):  # gradients sync (and DeepSpeed steps) on the last micro-batch only
                with acc.autocast():
                    scores = model(**batch)  # (2B,) chosen then rejected
                chosen, rejected = scores[:micro], scores[micro:]
                lengths = batch["response_len"]
                tie = torch.tensor([train_pairs[i].tie for i in idx], device=acc.device)
                loss = bt_loss(chosen, rejected, loss_cfg, lengths[:micro], lengths[micro:], tie)
                _stop_if_nonfinite(
                    acc, loss.detach(), f"loss at step {step}, micro-batch {m}", global_batch, micro, train_pairs
                )
                acc.backward(loss)  # accelerate divides by grad_accum (DeepSpeed inside its engine)
            step_loss += acc.reduce(loss.detach(), "mean").item() / cfg.grad_accum  # the global mean on every rank
            step_correct += int(acc.reduce((chosen > rejected).sum().detach(), "sum"))
        assert acc.sync_gradients, "the last micro-batch of a step must sync gradients"
        # On the prepared parameters (FSDP replaces them); DeepSpeed clips in its engine and reports the norm.
        norm = acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm or float("inf"))
        if norm is None:  # DeepSpeed before its engine has computed one
            norm = float("nan")
        else:
            norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
            _stop_if_nonfinite(acc, torch.tensor(norm), f"gradient norm at step {step}", None, micro, train_pairs)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        window.append((step_loss, step_correct / cfg.batch_size, norm))
        rec = {
            "step": done,
            "loss": sum(w[0] for w in window) / len(window),
            "train_acc": sum(w[1] for w in window) / len(window),
            "grad_norm": sum(w[2] for w in window) / len(window),
            "lr": scheduler.get_last_lr()[0],
            "elapsed_s": time.perf_counter() - t0,
        }
        if eval_pairs and ((cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.num_steps):
            c, r = sharded_pair_scores(acc, model, collator, eval_pairs, cfg.eval_max_tokens)
            rec["eval_acc"] = pairwise_accuracy(c, r)["acc"]
        bar.set_postfix({k: f"{rec[k]:.3f}" for k in ("loss", "eval_acc") if k in rec})
        if done % cfg.log_every == 0 or "eval_acc" in rec or done == cfg.num_steps:
            history.append(rec)  # loss, train_acc, grad_norm: means over the steps since the last record
            window = []
            if acc.is_main_process:
                write_atomic(log_path, "".join(json.dumps(h) + "\n" for h in history))
        if (cfg.save_every and done % cfg.save_every == 0) or done == stop_at or done == cfg.num_steps:
            save_checkpoint(acc, out, done, model, optimizer, scheduler, trainer(), cfg.keep_checkpoints)
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
    state = acc.get_state_dict(model)  # collective: full weights on rank 0 whatever the engine
    if acc.is_main_process:
        export(acc.unwrap_model(model), final, state)
    acc.wait_for_everyone()
    return {"history": history, "final": final, "reports": reports, "is_main_process": acc.is_main_process}


def _stop_if_nonfinite(acc, value: torch.Tensor, what: str, global_batch, micro: int, pairs: list) -> None:
    """Raise NonFiniteLossError on every rank at once if `value` is not finite on any rank: a rank that raised
    alone would leave the others waiting in the next collective until the process-group timeout."""
    values = acc.gather(value.float().reshape(1).to(acc.device)).cpu()
    bad = [r for r, v in enumerate(values.tolist()) if not math.isfinite(v)]
    if not bad:
        return
    where = ""
    if global_batch is not None:
        uids = [pairs[i].uid for r in bad for i in global_batch[r * micro : (r + 1) * micro]]
        where = f": pairs {uids}"
    raise NonFiniteLossError(f"non-finite {what}{where} (per-rank values {values.tolist()}, bad on ranks {bad})")
