"""The reward head: an MLP from the backbone's last hidden state to one scalar."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

ACTIVATIONS = {"none": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU}


@dataclass
class HeadConfig:
    """Reward-head shape; the default is the paper's 2-layer SiLU MLP."""

    num_layers: int = 2
    activation: str = "silu"
    hidden_size: int | None = None  # None: the backbone's hidden size

    def __post_init__(self):
        if not 1 <= self.num_layers <= 5:
            raise ValueError(f"num_layers must be 1..5, got {self.num_layers}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class RewardHead(nn.Module):
    """`num_layers` linear layers with `activation` between them; (B, d) -> (B,). Used in: 00_quickstart.ipynb."""

    def __init__(self, in_size: int, config: HeadConfig | None = None):
        super().__init__()
        self.config = config or HeadConfig()
        width = self.config.hidden_size or in_size
        dims = [in_size] + [width] * (self.config.num_layers - 1) + [1]
        layers: list[nn.Module] = []
        for i in range(self.config.num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < self.config.num_layers - 1:
                layers.append(ACTIVATIONS[self.config.activation]())
        self.mlp = nn.Sequential(*layers)

    def forward(self, h):
        return self.mlp(h).squeeze(-1)  # (B,)
