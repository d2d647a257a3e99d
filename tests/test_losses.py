"""Tests of the callable losses of widgets.core.losses against direct computations (the named losses are
tested through the trainer in test_train.py)."""

import math

import pytest
import torch

from widgets.core import losses


def test_centered_mse_frees_the_offset():
    out, y = torch.randn(2, 10, 1, dtype=torch.float64), torch.randn(2, 10, 1, dtype=torch.float64)
    r = (out - y)[..., 0]
    expected = ((r - r.mean(1, keepdim=True)) ** 2).mean(1)
    assert torch.allclose(losses.centered_mse(out, y), expected, rtol=1e-12)
    assert torch.allclose(losses.centered_mse(out + 3.0, y), losses.centered_mse(out, y), rtol=1e-12)


def test_sobolev_loss_at_zero_is_the_centered_mse():
    n = 40
    out, y = torch.randn(3, n, 1, dtype=torch.float64), torch.randn(3, n, 1, dtype=torch.float64)
    assert torch.allclose(losses.sobolev_loss(0.0, n)(out, y), losses.centered_mse(out, y), rtol=1e-12)


@pytest.mark.parametrize("n", [16, 15])
def test_sobolev_loss_weighs_a_pure_frequency_by_its_parseval_and_sobolev_factors(n):
    # a unit cosine at frequency k has mean square ½ (1 at k = n/2), spread over the bins ±k
    x = torch.arange(n, dtype=torch.float64) / n
    for k in (1, 3, n // 2):
        r = torch.cos(2 * math.pi * k * x)[None, :, None]
        mean_sq = float((r**2).mean())
        for s in (-1.0, 0.5):
            got = float(losses.sobolev_loss(s, n)(r, torch.zeros_like(r))[0])
            assert got == pytest.approx(mean_sq * (1 + k**2) ** s, rel=1e-10)


def test_sobolev_loss_rejects_bad_arguments():
    with pytest.raises(ValueError, match="s"):
        losses.sobolev_loss(9.0, 16)
    with pytest.raises(ValueError, match="grid points"):
        losses.sobolev_loss(1.0, 16)(torch.zeros(1, 8, 1), torch.zeros(1, 8, 1))
    with pytest.raises(ValueError, match="exponents"):
        losses.sobolev_loss([0.0, 1.0], 8)(torch.zeros(3, 8, 1), torch.zeros(3, 8, 1))


def test_an_unknown_loss_name_is_an_error_not_another_loss():
    with pytest.raises(ValueError, match="loss must be one of"):
        losses.member_losses(torch.zeros(2, 3, 1), torch.zeros(3), "bogus")
