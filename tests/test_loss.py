import math

import pytest
import torch

from brlib.models.loss import LossConfig, bt_loss


def _log_sigmoid(x):
    return -math.log(1 + math.exp(-x))


def test_plain_bt_equals_hand_computation():
    c, r = torch.tensor([1.0, 0.5, -2.0]), torch.tensor([0.0, 1.0, -1.0])
    expected = -sum(_log_sigmoid(a - b) for a, b in [(1.0, 0.0), (0.5, 1.0), (-2.0, -1.0)]) / 3
    assert bt_loss(c, r).item() == pytest.approx(expected, abs=1e-6)


def test_zero_coefficient_adds_lambda_times_mean_square_of_sum():
    c, r = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 1.0])
    base = bt_loss(c, r).item()
    reg = bt_loss(c, r, LossConfig(zero_coef=0.1)).item()
    assert reg - base == pytest.approx(0.1 * ((1.0 + 0.0) ** 2 + (0.5 + 1.0) ** 2) / 2, abs=1e-6)


def test_length_normalisation_divides_by_log_len_plus_one():
    c, r = torch.tensor([2.0]), torch.tensor([1.0])
    lc, lr = torch.tensor([9.0]), torch.tensor([3.0])
    got = bt_loss(c, r, LossConfig(length_norm=True), lc, lr).item()
    assert got == pytest.approx(-_log_sigmoid(2.0 / math.log(10.0) - 1.0 / math.log(4.0)), abs=1e-6)
    assert got != pytest.approx(bt_loss(c, r).item())
    with pytest.raises(ValueError, match="length_norm"):
        bt_loss(c, r, LossConfig(length_norm=True))


def test_length_norm_and_zero_term_compose_as_algorithm_1():
    c, r, lc, lr = torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([9.0]), torch.tensor([3.0])
    nc, nr = 2.0 / math.log(10.0), 1.0 / math.log(4.0)
    got = bt_loss(c, r, LossConfig(length_norm=True, zero_coef=0.01), lc, lr).item()
    assert got == pytest.approx(-_log_sigmoid(nc - nr) + 0.01 * (nc + nr) ** 2, abs=1e-6)


def test_margin_is_subtracted_inside_the_sigmoid():
    c, r = torch.tensor([1.0]), torch.tensor([0.0])
    assert bt_loss(c, r, LossConfig(margin=0.5)).item() == pytest.approx(-_log_sigmoid(0.5), abs=1e-6)


def test_gradient_pushes_chosen_up_and_rejected_down():
    c, r = torch.tensor([0.0], requires_grad=True), torch.tensor([0.0], requires_grad=True)
    bt_loss(c, r).backward()
    assert c.grad.item() < 0 < r.grad.item()
