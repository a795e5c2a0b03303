"""The in-process workloads of `benchmarks/speed.py`: prompts shaped like the real ones, training steps and group
scoring with prefix sharing against naive batches, and a long-CoT judge's latency against the scalar RM's."""

from __future__ import annotations

from pathlib import Path

import torch
from timing import interleaved, ratio, side

from brlib import world
from brlib.data import Pair, PairCollator
from brlib.models import backbones
from brlib.models.prefix import SharedPrefixCollator
from brlib.models.reward_model import RewardModel

IMAGE_SIDE = 448  # 32 x 32 patches of 14 px -> 256 tokens after the 2 x 2 merge
G = 8  # completions per prompt, as in the paper's GRPO runs


def words(tok, n: int, seed: int) -> str:
    """A text of exactly `n` tokens from the tiny corpus vocabulary."""
    import random

    rng = random.Random(seed)
    vocab = " ".join(world.corpus(n=200)).split()
    text = ""
    while len(tok(text).input_ids) < n:
        text += (" " if text else "") + rng.choice(vocab)
    while len(tok(text).input_ids) > n:
        text = text[:-1]
    return text


def build(tmp: Path, family: str, size: str):
    d = backbones.build_tiny_backbone(tmp / f"{family}-{size}", world.corpus(), family=family, size=size)
    rm = RewardModel.from_pretrained(d)
    if hasattr(rm.processor, "image_processor"):  # the tiny processor is sized for 84 px; allow 448 px images
        ip = rm.processor.image_processor
        ip.min_pixels = ip.max_pixels = IMAGE_SIDE * IMAGE_SIDE
        ip.size = {"shortest_edge": IMAGE_SIDE * IMAGE_SIDE, "longest_edge": IMAGE_SIDE * IMAGE_SIDE}
    return d, rm


def pairs_like_real(tok, n: int) -> list[Pair]:
    exs = world.generate(n, seed=0, families=["perception", "hallucination"])
    return [
        Pair(
            words(tok, 32, 3 * i),
            words(tok, 48, 3 * i + 1),
            words(tok, 48, 3 * i + 2),
            [e.image.resize((IMAGE_SIDE, IMAGE_SIDE))],
        )
        for i, e in enumerate(exs)
    ]


def bench_train(rm, pairs, batch: int, steps: int, repeats: int) -> dict:
    """Seconds per `steps` whole training steps (collate, forward, backward, AdamW), shared vs naive collation;
    the arms alternate step by step."""
    opt = torch.optim.AdamW(rm.parameters(), lr=1e-4)
    rm.train()
    cols = {"shared": SharedPrefixCollator(rm.processor, 8192), "naive": PairCollator(rm.processor, 8192)}

    def arm(col):
        def step(s):
            b = pairs[(s * batch) % len(pairs) :][:batch]
            scores = rm(**col(b))
            loss = -torch.nn.functional.logsigmoid(scores[:batch] - scores[batch:]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step

    return interleaved({k: arm(c) for k, c in cols.items()}, repeats, units=steps)


def bench_group(rm, groups, repeats: int) -> dict:
    """Seconds to score every group: one packed row per group vs G sequences per group (one batch each); the arms
    alternate group by group."""
    rm.eval()
    naive, shared = PairCollator(rm.processor, 8192), SharedPrefixCollator(rm.processor, 8192)

    @torch.inference_mode()
    def run_shared(u):
        rm(**shared.encode_groups([groups[u]]))

    @torch.inference_mode()
    def run_naive(u):
        q, rs, im = groups[u]
        rm(**naive.encode([(q, r, im) for r in rs]))

    return interleaved({"shared": run_shared, "naive": run_naive}, repeats, units=len(groups))


def bench_latency(d: Path, rm, pair: Pair, cot_tokens: int, repeats: int, units: int) -> dict:
    """Seconds to judge a pair `units` times: the scalar RM (one forward, naive) vs the long-CoT judge (both
    orders); the arms alternate judgement by judgement."""
    from brlib.models.judge import PAIRWISE, GenerativeJudge

    naive = PairCollator(rm.processor, 8192)
    rm.eval()

    @torch.inference_mode()
    def score(u):
        rm(**naive([pair]))

    j = GenerativeJudge.from_pretrained(d, "longcot")
    ip = j.processor.image_processor
    ip.min_pixels = ip.max_pixels = IMAGE_SIDE * IMAGE_SIDE
    ip.size = {"shortest_edge": IMAGE_SIDE * IMAGE_SIDE, "longest_edge": IMAGE_SIDE * IMAGE_SIDE}
    items = [
        (pair.images, PAIRWISE.format(q=pair.prompt, a=pair.chosen, b=pair.rejected)),
        (pair.images, PAIRWISE.format(q=pair.prompt, a=pair.rejected, b=pair.chosen)),
    ]

    @torch.inference_mode()
    def judge(u):
        enc = j._encode(items)
        j.model.generate(
            **enc,
            max_new_tokens=cot_tokens,
            min_new_tokens=cot_tokens,
            do_sample=False,
            pad_token_id=j.tok.pad_token_id,
        )

    return interleaved({"naive_rm": score, "longcot_grm": judge}, repeats, units=units)


def prefix_ratios(rm, pairs, completions, p: dict, base: dict) -> dict:
    """train_pairs_per_s_shared_over_naive and group8_scoring_shared_over_naive."""
    B, S, R = 8, p["train_steps"], p["repeats"]
    tr = bench_train(rm, pairs, batch=B, steps=S, repeats=R)
    out = {}
    out["train_pairs_per_s_shared_over_naive"] = ratio(
        side(tr["shared"]["s"], B * S, "pairs/s"),
        side(tr["naive"]["s"], B * S, "pairs/s"),
        ("shared", "naive"),
        {
            **base,
            "batch_pairs": B,
            "steps": S,
            "optimizer": "one AdamW (lr 1e-4) for both",
            "max_length": 8192,
            "padding": "to the longest sequence (naive) or packed row (shared) of the batch",
        },
        cpu=(tr["shared"]["cpu_s"], tr["naive"]["cpu_s"]),
    )
    groups = [(pairs[i].prompt, completions[i], pairs[i].images) for i in range(p["groups"])]
    gr = bench_group(rm, groups, repeats=R)
    out["group8_scoring_shared_over_naive"] = ratio(
        side(gr["shared"]["s"], len(groups), "groups/s"),
        side(gr["naive"]["s"], len(groups), "groups/s"),
        ("shared", "naive"),
        {
            **base,
            "groups": len(groups),
            "completions_per_group": len(completions[0]),
            "batch": "one group per forward",
            "padding": "G sequences padded to the longest (naive), one packed row (shared)",
        },
        cpu=(gr["shared"]["cpu_s"], gr["naive"]["cpu_s"]),
    )
    return out


def latency_ratio(d: Path, rm, pair: Pair, p: dict, base: dict) -> dict:
    """naive_rm_over_longcot_grm_latency: seconds per judged pair, the judge's over the scalar RM's."""
    n = p["judgements"]
    lat = bench_latency(d, rm, pair, cot_tokens=p["cot"], repeats=p["repeats"], units=n)
    return {
        "naive_rm_over_longcot_grm_latency": ratio(
            side(lat["naive_rm"]["s"], n, "pairs/s"),
            side(lat["longcot_grm"]["s"], n, "pairs/s"),
            ("naive_rm", "longcot_grm"),
            {
                **base,
                "pairs": 1,
                "judgements_per_run": n,
                "judge": f"long-CoT, both orders, {p['cot']} reasoning tokens each, greedy, KV cache",
            },
            cpu=(lat["naive_rm"]["cpu_s"], lat["longcot_grm"]["cpu_s"]),
        )
    }
