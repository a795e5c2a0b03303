"""Bradley-Terry loss with the paper's optional regularisers (Algorithm 1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossConfig:
    """Default: plain BT, as in the final BaseReward recipe."""

    zero_coef: float = 0.0  # lambda of lambda * mean((r_w + r_l)^2)
    length_norm: bool = False  # r <- r / log(len + 1), len in response tokens
    margin: float = 0.0  # subtracted from r_w - r_l inside the sigmoid

    def to_dict(self) -> dict:
        return asdict(self)


def bt_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    config: LossConfig | None = None,
    chosen_len: torch.Tensor | None = None,
    rejected_len: torch.Tensor | None = None,
) -> torch.Tensor:
    """-mean(log sigmoid(r_w - r_l - margin)) + lambda * mean((r_w + r_l)^2). Used in: 00_quickstart.ipynb."""
    cfg = config or LossConfig()
    chosen, rejected = chosen.float(), rejected.float()  # (B,), (B,)
    if cfg.length_norm:
        if chosen_len is None or rejected_len is None:
            raise ValueError("length_norm needs chosen_len and rejected_len")
        chosen = chosen / torch.log(chosen_len.float() + 1.0)
        rejected = rejected / torch.log(rejected_len.float() + 1.0)
    loss = -F.logsigmoid(chosen - rejected - cfg.margin).mean()
    if cfg.zero_coef:
        loss = loss + cfg.zero_coef * ((chosen + rejected) ** 2).mean()
    return loss
