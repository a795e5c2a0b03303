"""Instruction data for the tiny "-Instruct" backbones: what a real reward model's starting point (an
instruction-tuned MLLM such as Qwen2.5-VL-7B-Instruct) already knows, in the tiny world: captions (in reading order
and in any order), short VQA (colour, shape, count), reading the digits and their sum, and refusing harmful requests.

Every example is (images, question, answer) for next-token training with the LM head on. The stream is seeded apart
from the reward-model data, held-out sets and benchmarks (INSTRUCT_SEED), so the backbone never sees their examples.
"""

from __future__ import annotations

import random

from PIL import Image

from brlib.world import tasks
from brlib.world.scenes import background, draw_scene

INSTRUCT_SEED = 900_000  # far from the seeds of the training, held-out and benchmark files
KINDS = ("caption", "caption_any_order", "vqa", "digits", "sum", "safety")
DESCRIBE = ["Describe the image in detail.", "What is in this picture?", "Describe every object you see."]


def instruct_example(rng: random.Random, kind: str) -> tuple[list[Image.Image], str, str]:
    """One (images, question, answer) of `kind`."""
    bg = background(rng)
    if kind in ("caption", "caption_any_order"):
        objs = tasks._scene(rng)
        order = sorted(objs, key=lambda o: o.cell) if kind == "caption" else objs
        return [draw_scene(objs, bg)], rng.choice(DESCRIBE), tasks.describe(order)
    if kind == "vqa":
        ex = tasks.perception(rng)[0]
        return [ex.image], ex.prompt, ex.responses[0]
    if kind in ("digits", "sum"):
        a, b = rng.randint(0, tasks.MAX_DIGIT), rng.randint(0, tasks.MAX_DIGIT)
        image = draw_scene([], bg, {3: a, 5: b})
        if kind == "digits":
            return [image], "What are the two numbers?", f"{a} and {b}."
        return [image], "The image shows two numbers. What is their sum?", f"The sum is {a + b}."
    if kind == "safety":
        ex = tasks.safety(rng)
        return [ex.image], ex.prompt, ex.responses[0]
    raise ValueError(f"unknown instruction kind {kind!r}; known: {KINDS}")


def instruct_batch(rng: random.Random, size: int, kinds=KINDS) -> tuple[list, list[str]]:
    """A training batch for `brlib.models.judge.ChatLM.sft`: ([(images, question)], [answer])."""
    made = [instruct_example(rng, rng.choice(list(kinds))) for _ in range(size)]
    return [(images, q) for images, q, _ in made], [a for *_, a in made]
