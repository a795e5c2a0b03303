"""Evaluation inside a (possibly sharded) training run: every rank scores its share of the pairs on its own
device, in token-budgeted batches, under `no_grad`, and the scores are gathered on every rank."""

from __future__ import annotations

import torch

from brlib.data.collate import PairCollator
from brlib.data.pair import Pair
from brlib.evaluate import item_lengths, token_batches


@torch.no_grad()  # not inference_mode: ZeRO-3 and FSDP gather parameters into tensors that must stay usable
def sharded_pair_scores(acc, model, collator: PairCollator, pairs: list[Pair], max_tokens: int, batch_size: int = 64):
    """Chosen and rejected scores (N,) of `pairs`, on every rank. Collective: call it on every rank.

    Rank r scores items r, r + world, ...; every rank runs the same number of forward passes (a rank with fewer
    batches repeats its last one and drops the result), because FSDP and ZeRO-3 gather weights in each forward."""
    items = [(p.prompt, p.chosen, p.images) for p in pairs] + [(p.prompt, p.rejected, p.images) for p in pairs]
    mine = list(range(acc.process_index, len(items), acc.num_processes)) or [0]  # more ranks than items: a dummy
    lengths = item_lengths(collator, [items[i] for i in mine])
    batches = [[mine[j] for j in b] for b in token_batches(lengths, max_tokens, batch_size)]
    rounds = int(acc.reduce(torch.tensor(len(batches), device=acc.device), "max"))
    module = acc.unwrap_model(model)
    was_training = module.training
    module.eval()
    scores = torch.zeros(len(items), dtype=torch.float64, device=acc.device)
    owned = torch.zeros(len(items), device=acc.device)
    for k in range(rounds):
        idx = batches[min(k, len(batches) - 1)]
        batch = {key: v.to(acc.device) for key, v in collator.encode([items[i] for i in idx]).items()}
        with acc.autocast():
            out = module(**batch).double()
        if k < len(batches) and acc.process_index < len(items):
            scores[idx] = out
            owned[idx] = 1
    module.train(was_training)
    scores, owned = acc.reduce(scores, "sum"), acc.reduce(owned, "sum")  # each item is owned by exactly one rank
    if not torch.all(owned == 1):
        raise RuntimeError("sharded evaluation lost or duplicated items")
    scores = scores.float().cpu()
    return scores[: len(pairs)], scores[len(pairs) :]
