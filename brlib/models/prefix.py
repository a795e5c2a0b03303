"""Prefix sharing: the prompt and its image are encoded once, and every response to it branches off that prefix.

A group (one prompt + images, G responses) becomes one packed row `[prefix | r_1 | ... | r_G]`:

- the prefix is the longest common token prefix of the G naive sequences (so it holds the system turn, the image
  tokens and the question), and the vision tower runs once per group;
- an attention mask (B, 1, T, T) lets prefix tokens attend causally to the prefix, and each branch to the prefix
  and causally to itself, never to another branch; padding attends only to itself (no fully masked rows, which
  would turn into NaNs in the backward pass);
- positions restart for every branch where the prefix ends: `RewardModel` computes the packed row's positions
  (3-D M-RoPE included, from the model's own `get_rope_index`) and subtracts each branch's offset, which is exact
  because every token after the last image advances all three M-RoPE axes by one;
- each branch's reward is read at its last token.

So every branch's scores equal the naive two-sequence (or G-sequence) scores up to float rounding; the tests
check this against the model's own full forward. Training with `TrainConfig(prefix_sharing=True)` uses a pair as
a group of 2; `RewardScorer` scores a GRPO group of G completions in one row.
"""

from __future__ import annotations

import torch

from brlib.data import Pair, PairCollator, open_image


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class SharedPrefixCollator(PairCollator):
    """Packs groups that share a prompt and images into one row each. Used in: benchmarks/prefix_sharing.py."""

    def encode_groups(self, groups: list[tuple[str, list[str], list]]) -> dict:
        """(prompt, responses, images) groups -> packed inputs with `read_index` (B, G) and `branch_shift` (B, T).

        Scores from `RewardModel` come back branch-major: all first responses, then all second ones, ...
        """
        n_branch = {len(g[1]) for g in groups}
        if len(n_branch) != 1 or min(n_branch) < 1:
            raise ValueError(f"every group needs the same number (>= 1) of responses, got {sorted(n_branch)}")
        G = n_branch.pop()
        tok = self.tokenizer
        rows, images, resp_len = [], [], []
        for prompt, responses, imgs in groups:
            texts = self.texts(prompt, responses, len(imgs))
            raw = [tok(t, add_special_tokens=False).input_ids for t in texts]
            cut = min(len(r) for r in raw) - 1  # every branch keeps at least its last token
            for r in raw[1:]:
                cut = min(cut, common_prefix(raw[0], r))
            # The prefix text, expanded by the processor (image placeholders -> image tokens), then each branch.
            prefix_text = tok.decode(raw[0][:cut])
            pil = [open_image(im) for im in imgs]
            if self.text_only:
                if pil:
                    raise ValueError("a text-only reward model cannot score inputs with images")
                prefix_ids = list(raw[0][:cut])
            else:
                enc = self.processor(text=[prefix_text], images=pil or None, return_tensors="pt")
                prefix_ids = enc["input_ids"][0].tolist()
                if pil:
                    images.append(enc)
            if tok(prefix_text, add_special_tokens=False).input_ids != raw[0][:cut]:
                raise ValueError("the shared prefix does not re-tokenize to itself; use the naive collator")
            rows.append((prefix_ids, [r[cut:] for r in raw]))
            resp_len.append([len(tok(r).input_ids) for r in responses])
        T = max(len(p) + sum(len(b) for b in bs) for p, bs in rows)
        B = len(rows)
        pad = tok.pad_token_id
        input_ids = torch.full((B, T), pad, dtype=torch.long)
        flat_mask = torch.zeros(B, T, dtype=torch.long)  # real tokens, as one normal sequence (for positions)
        mask = torch.zeros(B, 1, T, T, dtype=torch.bool)
        branch_shift = torch.zeros(B, T, dtype=torch.long)
        read_index = torch.zeros(B, G, dtype=torch.long)
        causal = lambda n: torch.ones(n, n, dtype=torch.bool).tril()  # noqa: E731
        for i, (prefix_ids, branches) in enumerate(rows):
            P = len(prefix_ids)
            seq = prefix_ids + [t for b in branches for t in b]
            input_ids[i, : len(seq)] = torch.tensor(seq)
            flat_mask[i, : len(seq)] = 1
            mask[i, 0, :P, :P] = causal(P)
            start = P
            for k, b in enumerate(branches):
                end = start + len(b)
                mask[i, 0, start:end, :P] = True
                mask[i, 0, start:end, start:end] = causal(len(b))
                branch_shift[i, start:end] = start - P  # positions restart where the prefix ends
                read_index[i, k] = end - 1
                start = end
            idx = torch.arange(start, T)
            mask[i, 0, idx, idx] = True  # padding sees itself only
        out = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "flat_mask": flat_mask,
            "branch_shift": branch_shift,
            "read_index": read_index,
            "response_len": torch.tensor(resp_len, dtype=torch.float).T.reshape(-1),  # branch-major, as scores
        }
        if images:
            out["pixel_values"] = torch.cat([e["pixel_values"] for e in images])
            out["image_grid_thw"] = torch.cat([e["image_grid_thw"] for e in images])
        return out

    def __call__(self, pairs: list[Pair]) -> dict:
        """Training batches: each pair is a group of two, so scores are B chosen then B rejected, as naive."""
        return self.encode_groups([(p.prompt, [p.chosen, p.rejected], p.images) for p in pairs])
