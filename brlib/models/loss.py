"""Bradley-Terry loss with the paper's optional regularisers (Algorithm 1), and the two ways of treating ties.

Ties (Omni-Reward's "tie" label: both responses equally good under the criterion) are either skipped (`ties="skip"`,
the default: the training data loader drops them and counts them, and the loss ignores any that reach it) or
trained as half a win each way (`ties="half"`: -1/2 log sigma(d) - 1/2 log sigma(-d), minimised at d = 0, so tied
pairs learn equal scores, which is what the w/-ties rule |s1 - s2| <= epsilon rewards).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

TIE_MODES = ("skip", "half")


@dataclass
class LossConfig:
    """Default: plain BT, as in the final BaseReward recipe."""

    zero_coef: float = 0.0  # lambda of lambda * mean((r_w + r_l)^2)
    length_norm: bool = False  # r <- r / log(len + 1), len in response tokens
    margin: float = 0.0  # subtracted from r_w - r_l inside the sigmoid
    ties: str = "skip"  # tie pairs: "skip" (dropped and counted) or "half" (half a win each way)

    def __post_init__(self):
        if self.ties not in TIE_MODES:
            raise ValueError(f"ties must be one of {TIE_MODES}, got {self.ties!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def bt_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    config: LossConfig | None = None,
    chosen_len: torch.Tensor | None = None,
    rejected_len: torch.Tensor | None = None,
    tie: torch.Tensor | None = None,
) -> torch.Tensor:
    """-mean(log sigmoid(r_w - r_l - margin)) + lambda * mean((r_w + r_l)^2). Used in: 00_quickstart.ipynb.

    `tie` (B,) bool marks tied pairs: left out of the mean with ties="skip", half a win each way (no margin) with
    ties="half"; the zero-centring term covers every pair."""
    cfg = config or LossConfig()
    chosen, rejected = chosen.float(), rejected.float()  # (B,), (B,)
    if cfg.length_norm:
        if chosen_len is None or rejected_len is None:
            raise ValueError("length_norm needs chosen_len and rejected_len")
        chosen = chosen / torch.log(chosen_len.float() + 1.0)
        rejected = rejected / torch.log(rejected_len.float() + 1.0)
    d = chosen - rejected
    per = -F.logsigmoid(d - cfg.margin)  # (B,)
    if tie is not None and bool(tie.any()):
        tie = tie.to(per.device).bool()
        if cfg.ties == "half":
            per = torch.where(tie, -0.5 * (F.logsigmoid(d) + F.logsigmoid(-d)), per)
            loss = per.mean()
        else:  # "skip": only the decided pairs count (0 with the graph kept when every pair is a tie)
            keep = (~tie).float()
            loss = (per * keep).sum() / keep.sum().clamp_min(1.0)
    else:
        loss = per.mean()
    if cfg.zero_coef:
        loss = loss + cfg.zero_coef * ((chosen + rejected) ** 2).mean()
    return loss
