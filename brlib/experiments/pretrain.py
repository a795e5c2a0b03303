"""The tiny "-Instruct" backbone: a cached pre-training stage that teaches a tiny Qwen-VL (LM head on) to answer
tiny-world questions before any reward model is trained from it, as the paper's reward models start from
Qwen2.5-VL-7B-Instruct, which already reads images.

Trained from scratch with a pair loss (one bit per pair), a tiny reward model learns to ignore the image; with
next-token supervision on captions, VQA, digits and refusals, and the vision tower at a lower learning rate, the
backbone learns to read it (core_numerics.md A; measured numbers in README "The tiny profile"). Every tiny reward
model, judge and policy of the notebooks starts from this checkpoint.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from brlib.models.judge import ChatLM
from brlib.world import generate
from brlib.world.instruct import INSTRUCT_SEED, KINDS, instruct_batch
from brlib.world.tasks import TWINNED

DEFAULTS = {"steps": 600, "lr": 2e-3, "vision_lr": 1e-4, "batch_size": 32, "kinds": list(KINDS)}


def build_instruct(base: str | Path, out: str | Path, **spec) -> dict:
    """Pre-train the checkpoint at `base` on tiny-world instructions and save it in Hub layout at `out`, with
    `instruct.json` (the recipe, the loss curve, its generative accuracy per family). Used in: 00_quickstart.ipynb."""
    spec = {**DEFAULTS, **spec}
    lm = ChatLM.from_pretrained(base)
    kinds = spec["kinds"]
    history = lm.sft(
        lambda rng: instruct_batch(rng, spec["batch_size"], kinds),
        spec["steps"],
        spec["lr"],
        seed=INSTRUCT_SEED,
        vision_lr=spec["vision_lr"],
    )
    report = {"recipe": spec, "base": str(base), "history": history[-1:] + history[:: max(1, len(history) // 20)]}
    report["generative_accuracy"] = generative_accuracy(lm) if spec["steps"] else {}
    lm.save_pretrained(out)
    (Path(out) / "instruct.json").write_text(json.dumps(report, indent=1))
    return report


def generative_accuracy(lm: ChatLM, n: int = 160, seed: int = INSTRUCT_SEED + 1) -> dict:
    """Per image family, how often the model's own likelihood ranks the chosen answer above the rejected one, with
    the true image and with another image of the family (its swapped-image control). Used in: 00_quickstart.ipynb."""
    out = {}
    rng = random.Random(seed)
    for family in TWINNED:
        exs = generate(n, seed, [family], twins=True)
        others = [exs[(i + 1 + rng.randrange(len(exs) - 1)) % len(exs)].image for i in range(len(exs))]
        row = {}
        for mode, images in (("true", [e.image for e in exs]), ("swapped", others)):
            items = [([im], e.prompt) for im, e in zip(images, exs)]
            good = lm.loglik(items, [e.responses[0] for e in exs])
            bad = lm.loglik(items, [e.responses[1] for e in exs])
            row[mode] = sum(g > b for g, b in zip(good, bad)) / len(exs)
        out[family] = row
    return out
