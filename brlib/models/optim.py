"""Optimizer parameter groups shared by reward-model training and the instruct pre-training of the backbones."""

from __future__ import annotations


def param_groups(model, lr: float, vision_lr: float | None) -> list[dict]:
    """AdamW groups: the vision tower and merger at `vision_lr` (if set), everything else at `lr`. A small model
    trained from scratch needs it: at the language model's lr, Adam drives the patch embedding's output to one
    constant in a few steps (core_numerics.md A.2); large MLLM recipes also train the vision tower slower.
    Used in: 00_quickstart.ipynb."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    vision = [p for n, p in trainable if "visual" in n.split(".")[:4]] if vision_lr is not None else []
    ids = {id(p) for p in vision}
    groups = [{"params": [p for _, p in trainable if id(p) not in ids], "lr": lr}]
    return groups + ([{"params": vision, "lr": vision_lr}] if vision else [])
