"""Prefix sharing: the prompt and its image are encoded once, and every response to it branches off that prefix.

A group (one prompt + images, G responses) becomes one packed row `[prefix | r_1 | ... | r_G]`:

- the prefix is the prompt template up to the assistant turn (system turn with the criterion, image and video
  slots, question): a structural
  cut, made on the naive sequences' own token ids (never by decoding and re-encoding text, which fails when a cut
  lands inside a multi-byte character); image placeholders are then expanded from those ids with the image
  processor's grid, as the processor itself would, and the vision tower runs once per group;
- an attention mask lets prefix tokens attend causally to the prefix, and each branch to the prefix and causally to
  itself, never to another branch; padding attends only to itself (no fully masked rows, which would turn into NaNs
  in the backward pass). It is a boolean (B, 1, T, T) tensor for SDPA, an additive float mask for eager attention,
  and a `BlockMask` for flex attention (`attention_for`); flash-attention-2 cannot express it (`SharingUnsupported`);
- positions restart for every branch where the prefix ends: `RewardModel` computes the packed row's positions
  (3-D M-RoPE included, from the model's own `get_rope_index`) and subtracts each branch's offset, which is exact
  because every token after the last image advances all three M-RoPE axes by one;
- each branch's reward is read at its last token.

So every branch's scores equal the naive two-sequence (or G-sequence) scores up to float rounding; the tests
check this against the model's own full forward under each attention implementation. Training with
`TrainConfig(prefix_sharing=True)` uses a pair as a group of 2; `RewardScorer` scores a GRPO group of G
completions in one row.
"""

from __future__ import annotations

import torch

from brlib.data.collate import PairCollator
from brlib.data.media import Media
from brlib.data.pair import Pair, conversation, open_image


class SharingUnsupported(ValueError):
    """The backbone's attention implementation cannot express the branch mask (flash-attention)."""


FLEX = "brlib_flex"  # transformers' flex-attention wrapper under our name (see register_flex)
SHAREABLE = ("sdpa", "eager", "flex_attention", FLEX)


def register_flex() -> str:
    """Register transformers' own flex-attention forward as attn_implementation "brlib_flex".

    transformers 5.23 does not declare flex support for the Qwen-VL models, yet their language model calls
    attention through the registry and passes a prepared 4-D mask (or BlockMask) through unchanged, so the kernel
    runs as is. Load with `attn_implementation={"text_config": "brlib_flex", "vision_config": "sdpa"}`.
    """
    from transformers import AttentionInterface
    from transformers.integrations.flex_attention import flex_attention_forward

    AttentionInterface.register(FLEX, flex_attention_forward)
    return FLEX


def attention_for(mask: torch.Tensor, impl: str | None, dtype: torch.dtype):
    """The boolean branch mask (B, 1, T, T) in the form attention implementation `impl` reads: bool for SDPA, an
    additive float mask for eager (which adds the mask to the scores, so a bool mask would mask nothing), a
    `BlockMask` for flex attention. Flash-attention only takes padding masks: `SharingUnsupported`."""
    impl = impl or "sdpa"
    if impl == "sdpa":
        return mask
    if impl == "eager":
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
    if impl in ("flex_attention", FLEX):
        from torch.nn.attention.flex_attention import create_block_mask

        dense = mask[:, 0]
        B, T = dense.shape[0], dense.shape[-1]
        return create_block_mask(lambda b, h, q, kv: dense[b, q, kv], B, None, T, T, device=mask.device)
    raise SharingUnsupported(
        f"prefix sharing needs a 4-D branch mask, which attn_implementation={impl!r} cannot take; "
        f"load the backbone with one of {SHAREABLE}, or score without sharing (prefix_sharing=False)"
    )


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
        rows, images, videos, resp_len = [], [], [], []
        for prompt, responses, imgs, *rest in groups:
            history = rest[0] if rest else ()
            system = rest[1] if len(rest) > 1 else None  # the criterion: part of the shared prefix
            video = rest[2] if len(rest) > 2 else []  # frames or a video Media: encoded once, in the prefix
            n_vid = int(isinstance(video, Media) or bool(video))
            if not all(isinstance(r, str) for r in responses):
                raise ValueError("prefix sharing packs text responses only; score media responses one by one")
            texts = self.texts(prompt, responses, len(imgs), n_vid, history, system)
            raw = [tok(t, add_special_tokens=False).input_ids for t in texts]  # image slots not yet expanded
            cut = min(len(r) for r in raw) - 1  # every branch keeps at least its last token
            # structural: share the prompt (and the criterion), not responses
            cut = min(cut, len(self._prompt_ids(prompt, len(imgs), history, system, n_vid)))
            for r in raw[1:]:
                cut = min(cut, common_prefix(raw[0], r))
            pil = [open_image(im) for im in imgs]
            if pil and self.text_only:
                raise ValueError("a text-only reward model cannot score inputs with images")
            prefix_ids = list(raw[0][:cut])
            if pil:
                enc = self.processor.image_processor(images=pil, return_tensors="pt")
                prefix_ids = self._expand_images(prefix_ids, enc["image_grid_thw"])
                images.append(enc)
            if n_vid:
                frames, fps = self.video(video)  # the frame budget holds here too: never cut
                vp = self.processor.video_processor
                enc = vp(videos=[frames], return_tensors="pt")
                prefix_ids = self._expand_images(prefix_ids, enc["video_grid_thw"], self.processor.video_token_id)
                videos.append((enc, vp.temporal_patch_size / fps))
            rows.append((prefix_ids, [r[cut:] for r in raw]))
            resp_len.append([self.response_len(r) for r in responses])
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
        if videos:
            out["pixel_values_videos"] = torch.cat([e["pixel_values_videos"] for e, _ in videos])
            out["video_grid_thw"] = torch.cat([e["video_grid_thw"] for e, _ in videos])
            names = getattr(self.processor, "model_input_names", [])
            if "second_per_grid_ts" in names or "video_second_per_grid" in names:  # Qwen2.5-VL, Qwen2.5-Omni
                out["second_per_grid_ts"] = torch.tensor([s for _, s in videos], dtype=torch.float)
        return out

    def _prompt_ids(self, prompt: str, n_images: int, history=(), system=None, n_videos: int = 0) -> list[int]:
        """Token ids of the prompt template up to and including the assistant header (the structural cut)."""
        history = [{**m, "content": self.escape(m["content"])} for m in history]
        system = None if system is None else self.escape(system)
        msgs = conversation(self.escape(prompt), "", n_images, n_videos, history, system)[:-1]
        text = self.processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _expand_images(self, ids: list[int], grid_thw: torch.Tensor, slot: int | None = None) -> list[int]:
        """Each image (or video, with its `slot` token) slot in `ids` repeated to its token count (t*h*w / merge^2),
        as the processor does."""
        slot = self.processor.image_token_id if slot is None else slot
        merge = self.processor.image_processor.merge_size**2
        counts = [int(g.prod()) // merge for g in grid_thw]
        if ids.count(slot) != len(counts):
            raise ValueError(f"the prompt has {ids.count(slot)} media slots for {len(counts)} images or videos")
        out, k = [], 0
        for t in ids:
            if t == slot:
                out += [slot] * counts[k]
                k += 1
            else:
                out.append(t)
        return out

    def check(self, pair: Pair) -> str | None:
        """As the naive collator; audio and media responses are a counted drop here (the packed row encodes a
        prompt's images and video, and text responses)."""
        if not pair.audio and isinstance(pair.chosen, str) and isinstance(pair.rejected, str):
            return super().check(pair)
        what = "audio" if pair.audio else "media response"
        return f"{what} with prefix sharing (not supported)"

    def __call__(self, pairs: list[Pair]) -> dict:
        """Training batches: each pair is a group of two, so scores are B chosen then B rejected, as naive."""
        groups = [
            (p.prompt, [p.chosen, p.rejected], p.images, p.history, p.criterion, _video(p.video, p.video_fps))
            for p in pairs
        ]
        return self.encode_groups(groups)


def _video(video, fps):
    """A pair's video with its frame rate (a frame list with `Pair.video_fps` becomes a video Media)."""
    return Media("video", list(video), fps) if isinstance(video, list) and video and fps else video
