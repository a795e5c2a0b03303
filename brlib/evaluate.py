"""Scoring with a reward model, and evaluation on benchmarks with their official rules (see brlib.bench)."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import torch

from brlib import bench
from brlib.data import Pair, PairCollator
from brlib.data.collate import pair_items
from brlib.data.media import Media


def token_batches(lengths: list[int], max_tokens: int | None, batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most `batch_size` sequences and `max_tokens` padded tokens (longest x
    count), similar lengths together; a sequence longer than the budget gets a batch of its own."""
    if not max_tokens:
        return [list(range(i, min(i + batch_size, len(lengths)))) for i in range(0, len(lengths), batch_size)]
    out, cur, longest = [], [], 0
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if cur and (len(cur) == batch_size or max(longest, lengths[i]) * (len(cur) + 1) > max_tokens):
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, lengths[i])
    return out + [cur] if cur else out


def item_lengths(collator: PairCollator, items: list[tuple]) -> list[int]:
    """Tokens of each collator item, image, video and audio tokens included (PairCollator.item_length)."""
    return [collator.item_length(it) for it in items]


@torch.no_grad()  # not inference_mode: ZeRO-3 and FSDP gather parameters into tensors that must stay usable
def score_responses(
    model, collator: PairCollator, items: list[tuple], batch_size: int = 32, max_tokens: int | None = None
) -> torch.Tensor:
    """Scores (N,) of (prompt, response, images[, video[, history]]) items, each scored on its own, on the model's
    device; with `max_tokens`, batches also hold at most that many padded tokens. Used in: 00_quickstart.ipynb."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    lengths = item_lengths(collator, items) if max_tokens else [0] * len(items)
    out = torch.empty(len(items))
    for idx in token_batches(lengths, max_tokens, batch_size):
        batch = {k: v.to(device) for k, v in collator.encode([items[i] for i in idx]).items()}
        out[idx] = model(**batch).float().cpu()  # (b,)
    model.train(was_training)
    return out


def score_pairs(model, collator: PairCollator, pairs: list[Pair], batch_size: int = 32):
    """Scores of the chosen and rejected responses, as two float tensors (N,). Used in: 00_quickstart.ipynb."""
    chosen, rejected = zip(*(pair_items(p) for p in pairs)) if pairs else ((), ())
    scores = score_responses(model, collator, list(chosen) + list(rejected), batch_size)
    return scores[: len(pairs)], scores[len(pairs) :]


def image_swap(items: list, seed: int = 0, key=lambda x: x.category) -> list[int]:
    """For each item with images, the index of another item of the same group (`key`) whose images replace its own
    in the swapped-image control; items without images map to themselves. A seeded derangement within each group."""
    import random

    rng = random.Random(seed)
    groups = defaultdict(list)
    for i, x in enumerate(items):
        if x.images:
            groups[key(x)].append(i)
    out = list(range(len(items)))
    for idx in groups.values():
        if len(idx) < 2:
            continue
        shift = [idx[(k + 1 + rng.randrange(len(idx) - 1)) % len(idx)] for k in range(len(idx))]
        for i, j in zip(idx, shift):
            out[i] = j
    return out


def swap_images(pairs: list[Pair], seed: int = 0) -> list[Pair]:
    """The pairs with each one's images replaced by another pair's of the same category: the control a model that
    reads the image must do worse on. Used in: 00_quickstart.ipynb."""
    from dataclasses import replace

    other = image_swap(pairs, seed)
    return [replace(p, images=pairs[j].images) for p, j in zip(pairs, other)]


def pairwise_accuracy(chosen, rejected) -> dict:
    """Share of pairs with score(chosen) > score(rejected); ties count as wrong and are counted in n_tie."""
    chosen, rejected = torch.as_tensor(chosen), torch.as_tensor(rejected)
    n = len(chosen)
    return {
        "acc": float((chosen > rejected).float().mean()) if n else float("nan"),
        "n": n,
        "n_tie": int((chosen == rejected).sum()),
    }


def accuracy_by(pairs: list[Pair], chosen, rejected, key: str = "category") -> dict[str, dict]:
    """`pairwise_accuracy` per value of a Pair field (category by default). Used in: 00_quickstart.ipynb."""
    groups = defaultdict(list)
    for i, p in enumerate(pairs):
        groups[getattr(p, key)].append(i)
    return {
        k: pairwise_accuracy(torch.as_tensor(chosen)[ix], torch.as_tensor(rejected)[ix])
        for k, ix in sorted(groups.items())
    }


Scorer = Callable[[str, list[str], list], list[float]]  # (prompt, responses, images) -> one score per response


def benchmark_scores(
    model_or_scorer,
    rows: list[bench.BenchRow],
    collator: PairCollator | None = None,
    batch_size: int = 32,
    max_tokens: int | None = None,
) -> list[list[float]]:
    """Per-row response scores from a RewardModel (batched, `max_tokens` per batch) or any scorer callable.

    Video rows (MM-RLHF-RewardBench, Omni-RewardBench) are scored with their frames through the video path, never
    as text; a scorer callable is then called with `video=frames` and must accept it, as it must accept
    `criterion=` and `audio=` for rows that have them (Omni-RewardBench)."""
    if callable(model_or_scorer) and not isinstance(model_or_scorer, torch.nn.Module):
        out = []
        for r in rows:
            kw = {"video": r.video} if (isinstance(r.video, Media) or r.video) else {}
            kw.update({"criterion": r.criterion} if r.criterion is not None else {})
            kw.update({"audio": r.audio} if r.audio else {})
            out.append(list(model_or_scorer(r.prompt, r.responses, r.images, **kw)))
        return out
    model = model_or_scorer
    collator = collator or PairCollator(model.processor, max_length=1 << 30)
    extra = lambda r: {"system": r.criterion, "audio": r.audio, "video_fps": r.video_fps}  # noqa: E731
    items = [(r.prompt, resp, r.images, r.video, (), extra(r)) for r in rows for resp in r.responses]
    flat = score_responses(model, collator, items, batch_size, max_tokens).tolist()
    out, k = [], 0
    for r in rows:
        out.append(flat[k : k + len(r.responses)])
        k += len(r.responses)
    return out


def evaluate(model_or_scorer, benchmark: str, path, ties: str = "wrong", **load_opts) -> dict:
    """The official metrics of `benchmark` (data file at `path`) for a model or scorer. Used in: 00_quickstart."""
    rows = bench.load(benchmark, path, **load_opts)
    return bench.metrics(benchmark, rows, benchmark_scores(model_or_scorer, rows), ties)


Judge = Callable[[str, list, str, str], int]  # (prompt, images, first, second) -> 0 if first is better, else 1


def judge_both_orders(judge: Judge, pairs: list[Pair]) -> dict:
    """A generative judge sees every pair in both orders: accuracy over both, and how often its verdicts agree.

    A judge that always answers "first" scores 0.5 here, not the 1.0 it would get if the chosen answer were always
    shown first (the pitfall of the R1-Reward evaluation scripts).
    """
    right, consistent = 0, 0
    for p in pairs:
        a = judge(p.prompt, p.images, p.chosen, p.rejected)  # 0 = chosen preferred
        b = judge(p.prompt, p.images, p.rejected, p.chosen)  # 1 = chosen preferred
        right += (a == 0) + (b == 1)
        consistent += (a == 0) == (b == 1)
    n = len(pairs)
    return {"acc": right / (2 * n), "order_consistency": consistent / n, "n": n}
