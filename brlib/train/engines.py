"""Engines: the Accelerator of a run (DDP, FSDP or DeepSpeed ZeRO, as the `accelerate launch` config says) set up
for brlib's global batch and accumulation, engine-independent full state for checkpoints, and static checks of an
accelerate config against a TrainConfig and a model (`check`, for `python -m brlib.preflight`)."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def env_flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() == "true"


def make_accelerator(grad_accum: int, precision: str):
    """An Accelerator that accumulates `grad_accum` micro-batches per optimizer step, bf16 autocast or fp32.

    On a machine without CUDA it still runs the engine the launch asked for: accelerate alone would turn an FSDP
    launch into plain DDP over gloo without a word, and refuse DeepSpeed; FSDP2 and DeepSpeed's CPU accelerator
    both run on gloo, which is how the CPU tests exercise the real engines.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType, GradientAccumulationPlugin, InitProcessGroupKwargs

    # Arms trained in one process (a notebook) may differ in precision; the process group itself is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    cpu = not torch.cuda.is_available()
    # An explicit plugin: accelerate would otherwise read ACCELERATE_GRADIENT_ACCUMULATION_STEPS, which a launch
    # config's `gradient_accumulation_steps: auto` sets to a string it cannot parse.
    plugin = GradientAccumulationPlugin(num_steps=grad_accum, sync_with_dataloader=False)
    kwargs = dict(mixed_precision="bf16" if precision == "bf16" else "no", gradient_accumulation_plugin=plugin)
    if cpu and env_flag("ACCELERATE_USE_DEEPSPEED"):
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
        acc = Accelerator(cpu=False, kwargs_handlers=[InitProcessGroupKwargs(backend="gloo")], **kwargs)
    else:
        acc = Accelerator(cpu=cpu, **kwargs)
    if acc.distributed_type == DistributedType.MULTI_CPU and env_flag("ACCELERATE_USE_FSDP"):
        from accelerate import FullyShardedDataParallelPlugin

        fsdp = FullyShardedDataParallelPlugin()  # from the launch's FSDP_* environment
        if acc.mixed_precision != "no":
            fsdp.set_mixed_precision(acc.mixed_precision)
        acc.state.fsdp_plugin = fsdp
        acc.state.distributed_type = PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    return acc


def is_deepspeed(acc) -> bool:
    from accelerate.utils import DistributedType

    return acc.distributed_type == DistributedType.DEEPSPEED


def configure_deepspeed(acc, micro: int, grad_accum: int, max_grad_norm: float) -> None:
    """Fill DeepSpeed's batch and clipping fields before `prepare`: with no DataLoader to infer them from, an "auto"
    micro-batch makes `prepare` raise, and DeepSpeed (not brlib) clips under ZeRO."""
    if not is_deepspeed(acc):
        return
    ds = acc.state.deepspeed_plugin.deepspeed_config
    ds["train_micro_batch_size_per_gpu"] = micro
    ds["gradient_accumulation_steps"] = grad_accum
    ds["train_batch_size"] = micro * grad_accum * acc.num_processes
    ds["gradient_clipping"] = max_grad_norm


def check_modalities(acc, homogeneous: bool, pairs: list) -> None:
    """Raise for DeepSpeed on several processes with micro-batches that mix image and text pairs: ZeRO reduces
    gradients in the order they become ready, which differs between a rank with images and one without (measured
    on ZeRO-2: a wrong gradient at the first step where one rank's slice was text-only)."""
    if is_deepspeed(acc) and acc.num_processes > 1 and not homogeneous and len({bool(p.images) for p in pairs}) > 1:
        raise ValueError(
            "DeepSpeed with image and text pairs in one micro-batch gives wrong gradients across ranks: "
            "set homogeneous_batches: true (every micro-batch all-image or all-text)"
        )


def check_trainable_fp32(model: torch.nn.Module) -> None:
    """Raise unless every trainable parameter is fp32: AdamW on bf16 weights loses updates below half an ulp
    (at lr 3e-6 only a few percent of a 7B's weights would move at all)."""
    low = [n for n, p in model.named_parameters() if p.requires_grad and p.dtype != torch.float32]
    if low:
        raise TypeError(f"{len(low)} trainable parameters are not fp32 (e.g. {low[0]}); load with dtype=float32")


def _unwrap_optimizer(optimizer):
    """The torch optimizer inside accelerate's (and DeepSpeed's) wrappers."""
    while hasattr(optimizer, "optimizer"):
        optimizer = optimizer.optimizer
    return optimizer


def full_state(acc, model, optimizer) -> tuple[dict, dict]:
    """Collective: full fp32 weights {name: tensor} and the FQN-keyed optimizer state, on rank 0 ({} elsewhere).

    The same layout from every engine, so a checkpoint resumes on any engine and any number of processes."""
    if is_deepspeed(acc):
        return _deepspeed_full_state(acc, model, optimizer)
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    weights = get_model_state_dict(model, options=opts)
    optim = get_optimizer_state_dict(model, _unwrap_optimizer(optimizer), options=opts)
    return (weights, optim) if acc.is_main_process else ({}, {})


def load_full_state(acc, model, optimizer, weights: dict, optim: dict) -> None:
    """Load `full_state`'s output (read from disk on every rank) into a prepared model and optimizer."""
    if is_deepspeed(acc):
        return _deepspeed_load(acc, model, optimizer, weights, optim)
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    opts = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, weights, options=opts)
    set_optimizer_state_dict(model, _unwrap_optimizer(optimizer), optim, options=opts)


def _deepspeed_full_state(acc, model, optimizer) -> tuple[dict, dict]:
    from deepspeed.utils import safe_get_full_fp32_param, safe_get_full_optimizer_state

    module = acc.unwrap_model(model)
    weights = acc.get_state_dict(model)  # collective; 16-bit under ZeRO-3, replaced by fp32 masters below
    state, names = {}, []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        names.append(name)
        fp32 = safe_get_full_fp32_param(p)  # every call is collective under ZeRO-3: same order on every rank
        entry = {k: safe_get_full_optimizer_state(p, k) for k in ("exp_avg", "exp_avg_sq")}
        if acc.is_main_process:
            weights[name] = fp32.detach().float().cpu()
            state[name] = {k: v.detach().float().cpu() for k, v in entry.items() if v is not None}
    steps = [s["step"] for s in _unwrap_optimizer(optimizer).state.values() if "step" in s]
    step = float(steps[0]) if steps else 0.0
    for entry in state.values():
        entry["step"] = torch.tensor(step)
    groups = [{k: v for k, v in g.items() if k != "params"} for g in _unwrap_optimizer(optimizer).param_groups]
    groups = [{**groups[0], "params": names}] if groups else []
    return (weights, {"state": state, "param_groups": groups}) if acc.is_main_process else ({}, {})


def _deepspeed_load(acc, model, optimizer, weights: dict, optim: dict) -> None:
    import deepspeed
    from deepspeed.utils import safe_set_full_fp32_param, safe_set_full_optimizer_state

    zero = getattr(optimizer, "optimizer", optimizer)  # DeepSpeed's ZeRO optimizer inside accelerate's wrapper
    basic = _unwrap_optimizer(optimizer)
    # Adam creates its state at the first step, and the setters below need it now: the flat fp32 partitions
    # (ZeRO-3 hands them to Adam only for the duration of a step, so take them from the ZeRO optimizer).
    flats = getattr(zero, "fp32_partitioned_groups_flat", None) or getattr(zero, "single_partition_of_fp32_groups", [])
    for flat in flats:
        if not basic.state[flat]:
            zeros = torch.zeros_like(flat)
            basic.state[flat].update(step=torch.tensor(0.0), exp_avg=zeros, exp_avg_sq=zeros.clone())
    if hasattr(zero, "_lazy_init_hp_params_optimizer_state"):
        zero._lazy_init_hp_params_optimizer_state()  # ZeRO-1/2: per-parameter views of the state just created
    for name, p in acc.unwrap_model(model).named_parameters():
        # The compute copy first: under ZeRO-3 gathered, written on rank 0, and re-partitioned.
        with deepspeed.zero.GatheredParameters([p], modifier_rank=0):
            if acc.is_main_process or not hasattr(p, "ds_id"):
                p.data.copy_(weights[name].to(p.dtype))
        if not p.requires_grad:
            continue
        entries = {None: weights[name], **{k: v for k, v in optim["state"].get(name, {}).items() if k != "step"}}
        for key, value in entries.items():
            if hasattr(p, "ds_id"):
                _zero3_set(zero, p, value.to(acc.device), key)
            elif key is None:
                safe_set_full_fp32_param(p, value.to(acc.device))
            else:
                safe_set_full_optimizer_state(p, value.to(acc.device), key)
    step = next((e["step"] for e in optim["state"].values() if "step" in e), None)
    for s in basic.state.values():
        if step is not None:
            s["step"] = step.clone() if torch.is_tensor(s["step"]) else float(step)
    # The learning rate of the next step lives in the param groups (the scheduler writes it only when it steps).
    saved = {k: v for k, v in optim["param_groups"][0].items() if k != "params"} if optim["param_groups"] else {}
    for group in basic.param_groups:
        group.update({k: v for k, v in saved.items() if k in group})


def _zero3_set(zero, param, value: torch.Tensor, key: str | None) -> None:
    """This rank's slice of a full fp32 tensor into its ZeRO-3 partition (master weight, or Adam state `key`).
    DeepSpeed's own setter (0.19.8) reads past the end for the padded last partition of a small parameter."""
    part, _ = zero._get_fp32_opt_state_partition(param, release_swap_buffers=False, optim_state_key=key)
    start = part.numel() * zero._get_param_partition_rank(param)
    chunk = value.flatten()[start : start + part.numel()]
    part.data.zero_()
    part.data[: chunk.numel()].copy_(chunk)


def launch_env(config_file: str | Path, num_processes: int | None = None) -> tuple[dict, object]:
    """The environment `accelerate launch --config_file CONFIG` gives each process, and the parsed launch args,
    from accelerate's own parser (what the CPU tests hand to torchrun, and what `check` reads)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    argv = ["--config_file", str(config_file)]
    argv += ["--num_processes", str(num_processes)] if num_processes else []
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args([*argv, "-m", "brlib.train"]))
    if args.use_deepspeed:
        fields = list(defaults.deepspeed_config) if defaults else []
        args.deepspeed_fields_from_accelerate_config = ",".join(fields + ["mixed_precision"])
        env = prepare_deepspeed_cmd_env(args)[1]
    elif args.use_fsdp or args.multi_gpu:
        env = prepare_multi_gpu_env(args)
    else:
        env = {}
    keep = ("ACCELERATE_", "FSDP_")
    return {k: v for k, v in env.items() if k.startswith(keep)}, args


def check(config_file: str | Path, cfg, model: torch.nn.Module | None = None) -> list[tuple[str, bool, str]]:
    """Static checks of an accelerate launch config against a TrainConfig (and a model, e.g. built on the meta
    device): (check, ok, message) for the batch arithmetic, the engine's install, the FSDP wrap classes and fp32
    trainable weights. Used by `python -m brlib.preflight`."""
    import importlib.util

    env, args = launch_env(config_file)
    procs = int(args.num_processes or 1)
    out = []
    per = cfg.batch_size / (cfg.grad_accum * procs)
    out.append(
        (
            "batch",
            per.is_integer(),
            f"{cfg.batch_size} pairs = {per:g} per process x grad_accum {cfg.grad_accum} x {procs} processes",
        )
    )
    if args.use_deepspeed:
        found = importlib.util.find_spec("deepspeed") is not None
        out.append(
            ("deepspeed", found, "deepspeed importable" if found else 'deepspeed missing: pip install ".[gpu]"')
        )
        ok = cfg.homogeneous_batches or procs == 1
        out.append(("homogeneous_batches", ok, "needed under DeepSpeed when the data mixes image and text pairs"))
        ds_accum = env.get("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "auto")
        ok = ds_accum in ("auto", str(cfg.grad_accum))
        out.append(
            ("accumulation", ok, f"launch config accumulation {ds_accum}, TrainConfig.grad_accum {cfg.grad_accum}")
        )
    if args.use_fsdp:
        ok = env.get("FSDP_VERSION") == "2"
        out.append(("fsdp_version", ok, f"FSDP version {env.get('FSDP_VERSION')} (brlib clips and saves as FSDP2)"))
    if model is not None:
        if args.use_fsdp and env.get("FSDP_AUTO_WRAP_POLICY") == "TRANSFORMER_BASED_WRAP":
            listed = env.get("FSDP_TRANSFORMER_CLS_TO_WRAP")
            names = listed.split(",") if listed else list(getattr(model, "_no_split_modules", None) or [])
            present = {type(m).__name__ for m in model.modules()}
            absent = [n for n in names if n not in present]
            ok = bool(names) and not absent
            why = f"absent from the model: {absent}" if absent else ("none to wrap" if not names else "present")
            out.append(("wrap_classes", ok, f"{'listed' if listed else 'derived'} wrap classes {names}: {why}"))
        low = [n for n, p in model.named_parameters() if p.requires_grad and p.dtype != torch.float32]
        out.append(
            (
                "fp32_trainable",
                not low,
                f"{len(low)} trainable non-fp32 parameters" + (f", e.g. {low[0]}" if low else ""),
            )
        )
    return out
