"""brlib.train against TRL's RewardTrainer on the same text-only RM, the same work on both sides.

Both train a tiny Qwen2 LM with a linear reward head on the same parquet file of chat pairs, in fp32, without
gradient checkpointing, with the same batch, steps, learning rate, max length (filter, no truncation), dynamic
padding to the longest sequence of the batch, no dataloader workers, one log record, no evaluation, and the same
saving: a checkpoint with weights, optimizer, scheduler and RNG states after the last step, then the final model.
Every run starts from the checkpoint on disk (a fresh output directory, no resume, a fresh datasets cache).

TRL's `RewardConfig` defaults to bf16=True and gradient_checkpointing=True; the figure with those defaults (brlib
still in fp32) is reported as a second, separately named ratio, never as the headline.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import torch
from timing import interleaved, ratio, side

from brlib import world
from brlib.models import backbones

LR = 1e-4
MAX_LENGTH = 512


class _Counter:
    """Fresh directory names: every run writes to its own output directory."""

    def __init__(self, root: Path):
        self.root, self.n = root, itertools.count()

    def __call__(self, name: str) -> Path:
        return self.root / f"{name}_{next(self.n)}"


def write_pairs(tmp: Path, n: int) -> Path:
    """`n` text preference pairs in the Skywork chat-list layout, as parquet."""
    import datasets

    exs = world.generate(n, seed=1, families=["text", "text_instruction"])
    rows = [
        {
            "chosen": [{"role": "user", "content": e.prompt}, {"role": "assistant", "content": e.responses[0]}],
            "rejected": [{"role": "user", "content": e.prompt}, {"role": "assistant", "content": e.responses[1]}],
        }
        for e in exs
    ]
    path = tmp / "text_pairs.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


def brlib_run(model_dir: Path, data: Path, out: Path, batch: int, steps: int) -> dict:
    """One whole `brlib.train` call; returns the loop time (first step to last step) next to the call's."""
    from accelerate.state import AcceleratorState

    from brlib.train import TrainConfig, train

    res = train(
        TrainConfig(
            model=str(model_dir),
            output_dir=str(out),
            train_data=[{"format": "skywork", "path": str(data)}],
            lr=LR,
            batch_size=batch,
            num_steps=steps,
            precision="fp32",
            gradient_checkpointing=False,
            max_length=MAX_LENGTH,
            head={"num_layers": 1},
            log_every=steps,
            vision_in_every_batch=False,
            resume=False,
        ),
        progress=False,
    )
    observed = {"mixed_precision": str(AcceleratorState().mixed_precision), "threads": torch.get_num_threads()}
    return {"steps_s": res["history"][-1]["elapsed_s"], "observed": observed}


def trl_args(out: Path, batch: int, steps: int, trl_defaults: bool):
    """RewardConfig for the same work as brlib's run; `trl_defaults` leaves bf16 and checkpointing at TRL's."""
    from trl import RewardConfig

    same = {} if trl_defaults else {"bf16": False, "fp16": False, "gradient_checkpointing": False}
    return RewardConfig(
        output_dir=str(out),
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        max_steps=steps,
        learning_rate=LR,
        max_length=MAX_LENGTH,
        pad_to_multiple_of=None,
        logging_steps=steps,
        eval_strategy="no",
        save_strategy="steps",  # one checkpoint (weights, optimizer, scheduler, RNG) after the last step, as brlib
        save_steps=steps,
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        disable_tqdm=True,
        seed=0,
        **same,
    )


def trl_run(model_dir: Path, data: Path, out: Path, batch: int, steps: int, trl_defaults: bool = False) -> dict:
    """One whole TRL call: load model and data, RewardTrainer(...).train(), save the final model."""
    import datasets
    from accelerate.state import AcceleratorState
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RewardTrainer

    marks = {}

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            marks.setdefault("first", time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            marks["last"] = time.perf_counter()

    AcceleratorState._reset_state(reset_partial_state=False)  # brlib's run left its own state
    env = os.environ.get("ACCELERATE_MIXED_PRECISION")
    try:
        args = trl_args(out, batch, steps, trl_defaults)
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
        train_ds = datasets.Dataset.from_parquet(str(data), cache_dir=str(out / "hf_cache"))
        trainer = RewardTrainer(
            model=model, args=args, train_dataset=train_ds, processing_class=tok, callbacks=[Clock()]
        )
        trainer.train()
        trainer.save_model(str(out / "final"))
        observed = {
            "mixed_precision": str(trainer.accelerator.mixed_precision),
            "gradient_checkpointing": bool(trainer.model.is_gradient_checkpointing),
            "threads": torch.get_num_threads(),
            "optim": str(args.optim),
            "lr_scheduler": str(args.lr_scheduler_type),
            "tokens": int(sum(len(x) for c in ("chosen_ids", "rejected_ids") for x in trainer.train_dataset[c])),
        }
    finally:
        if env is None:
            os.environ.pop("ACCELERATE_MIXED_PRECISION", None)
        else:
            os.environ["ACCELERATE_MIXED_PRECISION"] = env
        AcceleratorState._reset_state(reset_partial_state=False)
    return {"steps_s": marks["last"] - marks["first"], "observed": observed}


def brlib_tokens(model_dir: Path, data: Path) -> int:
    """Tokens (chosen + rejected sequences) brlib trains on for this data."""
    from transformers import AutoTokenizer

    from brlib.data import PairCollator
    from brlib.train.config import load_pairs

    col = PairCollator(AutoTokenizer.from_pretrained(model_dir), MAX_LENGTH)
    pairs, _ = col.filter(load_pairs({"format": "skywork", "path": str(data)}))
    return sum(int(col([p])["attention_mask"].sum()) for p in pairs)


def bench_text_rm(tmp: Path, steps: int, batch: int, repeats: int, size: str = "s", trl_defaults: bool = True) -> dict:
    """Seconds per run of brlib, TRL (same settings) and, if asked, TRL at its defaults; plus the settings."""
    d = backbones.build_tiny_backbone(tmp / f"qwen2-{size}", world.corpus(), family="qwen2", size=size)
    data = write_pairs(tmp, steps * batch)  # one epoch: both trainers see every pair once
    fresh = _Counter(tmp / "runs")
    observed: dict[str, dict] = {}

    def arm(name, fn, **kw):
        def run(u):
            res = fn(d, data, fresh(name), batch, steps, **kw)
            observed[name] = res.pop("observed")
            return res

        return run

    arms = {"brlib": arm("brlib", brlib_run), "trl": arm("trl", trl_run)}
    if trl_defaults:
        arms["trl_defaults"] = arm("trl_defaults", trl_run, trl_defaults=True)
    times = interleaved(arms, repeats)
    settings = {
        "model": f"tiny Qwen2 LM {size!r} + a linear reward head (brlib RewardHead 1 layer; TRL score layer)",
        "precision": "fp32 both",
        "gradient_checkpointing": False,
        "threads": torch.get_num_threads(),
        "batch_pairs": batch,
        "steps": steps,
        "pairs": steps * batch,
        "lr": LR,
        "max_length": MAX_LENGTH,
        "max_length_rule": "filter longer pairs, no truncation (both)",
        "padding": "dynamic, to the longest sequence in the batch, right (both)",
        "dataloader_workers": 0,
        "logging": f"one record every {steps} steps (both)",
        "eval": "none (both)",
        "saving": "one checkpoint with optimizer, scheduler, RNG after the last step, then the final model (both)",
        "tokens_brlib": brlib_tokens(d, data),
        "observed": observed,
        "differences_kept": "optimizer implementation and LR schedule are each library's own (same AdamW math)",
    }
    return {"times": times, "settings": settings, "pairs": steps * batch}


def trl_ratios(tmp: Path, p: dict) -> dict:
    """text_rm_train_over_trl (whole calls), text_rm_train_steps_over_trl (their loops), the TRL-defaults figure."""
    tx = bench_text_rm(tmp, p["trl_steps"], p["trl_batch"], p["repeats"], size=p["size"])
    t, n, settings = tx["times"], tx["pairs"], tx["settings"]
    return {
        "text_rm_train_over_trl": ratio(
            side(t["brlib"]["s"], n, "pairs/s"),
            side(t["trl"]["s"], n, "pairs/s"),
            ("brlib", "trl"),
            settings,
            cpu=(t["brlib"]["cpu_s"], t["trl"]["cpu_s"]),
        ),
        "text_rm_train_steps_over_trl": ratio(
            side(t["brlib"]["steps_s"], n, "pairs/s"),
            side(t["trl"]["steps_s"], n, "pairs/s"),
            ("brlib", "trl"),
            {
                **settings,
                "timed": "first training step's start to last step's end, inside the same calls; brlib tokenizes "
                "inside its loop (collator), TRL before it (dataset.map), which favours TRL here",
            },
        ),
        "text_rm_train_over_trl_at_trl_defaults": ratio(
            side(t["brlib"]["s"], n, "pairs/s"),
            side(t["trl_defaults"]["s"], n, "pairs/s"),
            ("brlib", "trl_defaults"),
            {
                **settings,
                "precision": "brlib fp32; TRL bf16 (RewardConfig default)",
                "gradient_checkpointing": "brlib off; TRL on (RewardConfig default)",
            },
            peer_defaults=True,
            note="TRL's RewardConfig defaults bf16=True and gradient_checkpointing=True; not the headline",
            cpu=(t["brlib"]["cpu_s"], t["trl_defaults"]["cpu_s"]),
        ),
    }
