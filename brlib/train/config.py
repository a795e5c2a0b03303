"""`TrainConfig` (one YAML file per run, mapped one to one) and `load_pairs`, which reads one of its data specs:
a training source (`brlib.data.sources`) or a benchmark (`brlib.bench`) as canonical pairs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from brlib import bench
from brlib.data.pair import Pair
from brlib.data.sources import SOURCES, load_source


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


def load_pairs(spec: dict) -> list[Pair]:
    """Pairs of one data spec {format, path, split?, ...} of a TrainConfig: a training source key or a benchmark name.

    Used in: 00_quickstart.ipynb, 06_ensemble.ipynb.
    """
    fmt = spec.get("format")
    opts = {k: v for k, v in spec.items() if k not in {"format", "path", "split", "source"}}
    if fmt in SOURCES:
        pairs, _ = load_source(fmt, spec.get("path"), spec.get("split"), **opts)
        return pairs
    if fmt in bench.BENCHMARKS:
        return bench.to_pairs(fmt, bench.load(fmt, spec["path"], **opts))
    raise ValueError(f"unknown data format {fmt!r}; known: {sorted(SOURCES) + sorted(bench.BENCHMARKS)}")
