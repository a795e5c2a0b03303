"""Scoring pairs and the official metrics: pairwise accuracy (ties wrong) and MM-RLHF-RewardBench Acc / Acc+."""

from __future__ import annotations

from collections import defaultdict

import torch

from brlib.data import Pair, PairCollator


@torch.inference_mode()
def score_pairs(model, collator: PairCollator, pairs: list[Pair], batch_size: int = 32):
    """Scores of the chosen and rejected responses, as two float tensors (N,). Used in: 00_quickstart.ipynb."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chosen, rejected = [], []
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        batch = {k: v.to(device) for k, v in collator(chunk).items()}
        scores = model(**batch).float().cpu()  # (2b,)
        chosen.append(scores[: len(chunk)])
        rejected.append(scores[len(chunk) :])
    model.train(was_training)
    return torch.cat(chosen), torch.cat(rejected)


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
    return {k: pairwise_accuracy(torch.as_tensor(chosen)[ix], torch.as_tensor(rejected)[ix])
            for k, ix in sorted(groups.items())}


def mm_rlhf_metrics(pairs: list[Pair], chosen, rejected) -> dict:
    """MM-RLHF-RewardBench: Acc over pairs and Acc+ over prompt groups (all pairs right), overall and per category.

    A category's Acc+ denominator is the number of groups with at least one pair in that category.
    """
    correct = (torch.as_tensor(chosen) > torch.as_tensor(rejected)).tolist()
    group_ok: dict[str, bool] = {}
    cat_pairs, cat_groups = defaultdict(list), defaultdict(set)
    for p, ok in zip(pairs, correct):
        group_ok[p.group_id] = group_ok.get(p.group_id, True) and ok
        cat_pairs[p.category].append(ok)
        cat_groups[p.category].add(p.group_id)
    out = {"acc": sum(correct) / len(correct), "acc_plus": sum(group_ok.values()) / len(group_ok),
           "n": len(correct), "n_groups": len(group_ok), "categories": {}}
    for c in sorted(cat_pairs):
        ok = cat_pairs[c]
        out["categories"][c] = {"acc": sum(ok) / len(ok), "acc_plus": sum(group_ok[g] for g in cat_groups[c])
                                / len(cat_groups[c]), "n": len(ok), "n_groups": len(cat_groups[c])}
    return out
