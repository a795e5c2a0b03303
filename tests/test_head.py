import pytest
import torch
from torch import nn

from brlib.models.head import HeadConfig, RewardHead


@pytest.mark.parametrize("num_layers", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("activation", ["none", "tanh", "relu", "silu"])
def test_head_shapes(num_layers, activation):
    head = RewardHead(32, HeadConfig(num_layers=num_layers, activation=activation, hidden_size=16))
    linears = [m for m in head.mlp if isinstance(m, nn.Linear)]
    assert len(linears) == num_layers
    assert linears[0].in_features == 32 and linears[-1].out_features == 1
    assert all(m.in_features == 16 for m in linears[1:])
    acts = [m for m in head.mlp if not isinstance(m, nn.Linear)]
    assert len(acts) == num_layers - 1
    assert head(torch.randn(5, 32)).shape == (5,)


def test_default_is_two_layer_silu_at_backbone_width():
    head = RewardHead(24)
    assert [type(m) for m in head.mlp] == [nn.Linear, nn.SiLU, nn.Linear]
    assert head.mlp[0].out_features == 24


@pytest.mark.parametrize("bad", [dict(num_layers=0), dict(num_layers=6), dict(activation="gelu")])
def test_bad_head_config_is_rejected(bad):
    with pytest.raises(ValueError):
        HeadConfig(**bad)
