"""`TrainConfig` (one YAML file per run, mapped one to one) and `load_pairs`, which reads one of its data specs:
a training source (`brlib.data.sources`) or a benchmark (`brlib.bench`) as canonical pairs."""

from __future__ import annotations

import hashlib
import json
import types
import typing
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
    vision_lr: float | None = None  # the vision tower's and merger's own lr (None: lr); commonly 0.1x for a 7B
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    batch_size: int = 128  # pairs per optimizer step, over all processes and accumulation steps
    grad_accum: int = 1
    num_steps: int = 100
    max_length: int = 4096
    min_pixels: int | None = None  # image resizing bounds of the processor (None: the checkpoint's own); images
    max_pixels: int | None = None  # larger than max_pixels are resized down, never cut, so pairs fit max_length
    precision: str = "bf16"  # or "fp32"; weights and optimizer state stay fp32 either way (bf16 autocast)
    head: dict = field(default_factory=dict)  # HeadConfig fields
    loss: dict = field(default_factory=dict)  # LossConfig fields
    freeze_vision: bool = False
    gradient_checkpointing: bool = False
    lora: dict | None = None  # peft LoraConfig fields, e.g. {r: 16, lora_alpha: 32, target_modules: [...]}
    vision_in_every_batch: bool = True  # dummy image for text-only batches (no hangs when sharded)
    max_grad_norm: float = 1.0  # 0: no clipping (the norm is still logged)
    log_every: int = 10
    eval_every: int = 0  # 0: only at the end
    eval_max_tokens: int = 16384  # token budget of one evaluation batch per process (padded length x sequences)
    save_every: int = 0  # 0: only at the end
    keep_checkpoints: int = 3  # the newest k step checkpoints are kept, older ones deleted; 0 keeps all
    resume: bool = True
    allow_config_change: bool = False  # resume a checkpoint written under a different config (hash) anyway

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for name in self.__dataclass_fields__:
            setattr(self, name, _coerce(name, getattr(self, name), hints[name]))
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}"
                + (": fp16 needs loss scaling, which brlib does not do; use bf16" if self.precision == "fp16" else "")
            )
        positive = ("batch_size", "grad_accum", "max_length", "log_every", "eval_max_tokens")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) is above max_pixels ({self.max_pixels})")
        for name in ("num_steps", "eval_every", "save_every", "keep_checkpoints", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lr", "vision_lr", "weight_decay", "warmup_ratio", "max_grad_norm"):
            if getattr(self, name) is not None and not 0 <= getattr(self, name) < float("inf"):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")

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

    def training_hash(self) -> str:
        """Hash of the fields that decide the trained weights; a resume checks it against the checkpoint's."""
        fields = {k: v for k, v in asdict(self).items() if k not in NOT_HASHED}
        return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


PRECISIONS = {"bf16", "fp32"}
# Fields that change where and how often a run reports or saves, not what it learns.
NOT_HASHED = {
    "output_dir",
    "resume",
    "allow_config_change",
    "log_every",
    "eval_every",
    "eval_data",
    "eval_max_tokens",
    "save_every",
    "keep_checkpoints",
}


def _coerce(name: str, value, hint):
    """`value` as the field's declared type: YAML 1.1 reads `3e-6` as a string, so numeric strings become numbers;
    anything else of the wrong type is a clear error rather than a TypeError deep inside training."""
    options = (
        typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        else (hint,)
    )
    if value is None and type(None) in options:
        return None
    for t in options:
        base = typing.get_origin(t) or t
        if base is bool and isinstance(value, bool):
            return value
        if base in (int, float) and not isinstance(value, bool):
            if isinstance(value, (int, float)) and (base is float or float(value).is_integer()):
                return base(value)
            if isinstance(value, str):
                try:
                    number = float(value.strip())
                except ValueError:
                    continue
                if base is float or number.is_integer():
                    return base(number)
        if base in (str, list, dict) and isinstance(value, base):
            return value
    raise ValueError(f"config field {name!r} must be {_type_name(hint)}, got {value!r} ({type(value).__name__})")


def _type_name(hint) -> str:
    return str(hint).replace("typing.", "") if typing.get_args(hint) else getattr(hint, "__name__", str(hint))


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
