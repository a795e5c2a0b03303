"""Scoring surface for users and RL: `RewardScorer` (one checkpoint) and `EnsembleScorer` (several, normalised).

Scores do not depend on batch size, padding side or the order of the responses: each response is scored on its
own sequence, and batches are formed by a token budget over length-sorted items.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from brlib.data import PairCollator, open_image
from brlib.models.prefix import SHAREABLE, SharedPrefixCollator
from brlib.models.reward_model import HEAD_CONFIG, RewardModel


class RewardScorer:
    """One reward model behind `score` and `compare`. Used in: 00_quickstart.ipynb."""

    def __init__(
        self,
        model: RewardModel,
        max_tokens: int = 16384,
        normalization: dict | None = None,
        name: str = "",
        prefix_sharing: bool = True,
    ):
        self.model = model.eval()
        self.collator = PairCollator(model.processor, max_length=1 << 30)
        self.shared = SharedPrefixCollator(model.processor, max_length=1 << 30)
        self.prefix_sharing = prefix_sharing  # several responses to one prompt: one packed row (brlib.models.prefix)
        self.max_tokens = max_tokens
        self.normalization = normalization  # {"mean", "std"} on the checkpoint's reference set
        self.name = name

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, max_tokens: int = 16384, **kwargs) -> RewardScorer:
        """Load a brlib checkpoint (or a VLM with a fresh head); picks up its stored score normalisation."""
        model = RewardModel.from_pretrained(path_or_id, **kwargs)
        meta_file = Path(path_or_id) / HEAD_CONFIG
        norm = json.loads(meta_file.read_text()).get("score_norm") if meta_file.exists() else None
        return cls(model, max_tokens, norm, name=Path(str(path_or_id)).name)

    @torch.inference_mode()
    def score_items(self, items: list[tuple]) -> list[float]:
        """Raw scores of (prompt, response, images[, video frames]) items, batched so that padded tokens stay under
        the budget."""
        items = [
            (p, r, [open_image(im) for im in imgs], [open_image(f) for f in (v[0] if v else [])])
            for p, r, imgs, *v in items
        ]
        lengths = [
            self.collator.length(p, r, [im.size for im in imgs], (len(vid), vid[0].size) if vid else None)
            for p, r, imgs, vid in items
        ]
        order = sorted(range(len(items)), key=lambda i: lengths[i])
        device = next(self.model.parameters()).device
        out = [0.0] * len(items)
        start = 0
        while start < len(order):
            end = start + 1  # lengths ascend, so a batch pads to its last item: size = count x that length
            while end < len(order) and (end + 1 - start) * lengths[order[end]] <= self.max_tokens:
                end += 1
            chunk = order[start:end]
            batch = {k: v.to(device) for k, v in self.collator.encode([items[i] for i in chunk]).items()}
            for i, s in zip(chunk, self.model(**batch).float().cpu().tolist()):
                out[i] = s
            start = end
        return out

    def score(self, images: list, prompt: str, responses: list[str], video: list | None = None) -> list[float]:
        """One float per response to `prompt` about `images` (a list, possibly empty) and an optional video (a list
        of frames).

        Several responses are scored as one group (the prompt and images encoded once, `score_group`) when the
        packed row fits the token budget and the attention implementation can take the branch mask; otherwise
        each on its own sequence. Both give the same scores.
        """
        if video:
            return self.score_items([(prompt, r, list(images), list(video)) for r in responses])
        if self.prefix_sharing and len(responses) > 1 and self.model.attn_implementation() in SHAREABLE:
            imgs = [open_image(im) for im in images]
            sizes = [im.size for im in imgs]
            packed = self.collator.length(prompt, "", sizes) + sum(
                self.collator.response_len(r) + 2 for r in responses
            )
            if packed <= self.max_tokens:
                return self.score_group(imgs, prompt, responses)
        return self.score_items([(prompt, r, list(images)) for r in responses])

    @torch.inference_mode()
    def score_group(self, images: list, prompt: str, responses: list[str]) -> list[float]:
        """Score G responses to one prompt in one packed row: one prefill of prompt + images, G short branches.

        Used for GRPO groups (benchmarks/speed.py measures it against G separate sequences)."""
        device = next(self.model.parameters()).device
        batch = self.shared.encode_groups([(prompt, list(responses), list(images))])
        batch = {k: v.to(device) for k, v in batch.items()}
        return self.model(**batch).float().cpu().tolist()

    def compare(self, images: list, prompt: str, a: str, b: str) -> float:
        """Preference probability sigma(r_a - r_b) that `a` is the better response."""
        ra, rb = self.score(images, prompt, [a, b])
        return 1.0 / (1.0 + math.exp(rb - ra))

    def calibrate(self, items: list[tuple], save_to: str | Path | None = None) -> dict:
        """Mean and std of the scores on a fixed reference set; stored in the checkpoint's config if `save_to`."""
        scores = torch.tensor(self.score_items(items))
        self.normalization = {
            "mean": float(scores.mean()),
            "std": float(scores.std().clamp_min(1e-6)),
            "n": len(items),
        }
        if save_to is not None:
            meta_file = Path(save_to) / HEAD_CONFIG
            meta = json.loads(meta_file.read_text())
            meta_file.write_text(json.dumps({**meta, "score_norm": self.normalization}, indent=2))
        return self.normalization

    def normalized(self, scores: list[float]) -> list[float]:
        """Scores on the reference set's scale: (s - mean) / std; raw scores when uncalibrated."""
        if not self.normalization:
            return list(scores)
        return [(s - self.normalization["mean"]) / self.normalization["std"] for s in scores]


class EnsembleScorer:
    """The average of several scorers' normalised scores, with a per-member breakdown."""

    def __init__(self, members: list[RewardScorer], weights: list[float] | None = None):
        missing = [m.name for m in members if not m.normalization]
        if missing:
            raise ValueError(f"members without a score normalisation (run calibrate first): {missing}")
        self.members = members
        self.weights = weights or [1.0 / len(members)] * len(members)

    @classmethod
    def from_pretrained(cls, paths: list[str | Path], **kwargs) -> EnsembleScorer:
        return cls([RewardScorer.from_pretrained(p, **kwargs) for p in paths])

    def score_with_breakdown(self, images: list, prompt: str, responses: list[str]) -> dict:
        """{"scores": ensemble scores, "members": {name: normalised scores}}."""
        per = {f"{i}:{m.name}": m.normalized(m.score(images, prompt, responses)) for i, m in enumerate(self.members)}
        total = [sum(w * s[j] for w, s in zip(self.weights, per.values())) for j in range(len(responses))]
        return {"scores": total, "members": per}

    def score(self, images: list, prompt: str, responses: list[str]) -> list[float]:
        return self.score_with_breakdown(images, prompt, responses)["scores"]

    def compare(self, images: list, prompt: str, a: str, b: str) -> float:
        ra, rb = self.score(images, prompt, [a, b])
        return 1.0 / (1.0 + math.exp(rb - ra))
