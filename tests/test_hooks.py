"""Tests of widgets.core.hooks: the objectives and perturbations refuse bad settings when they are built,
before the trainer runs a step."""

import pytest
import torch

from widgets.core import hooks, models

_NAN = float("nan")
_BAD_INPUTS = [
    (hooks.gradient_penalty, (-1.0,), {}, ValueError, r"lam must be a finite number in \[0, 1000000\.0\]"),
    (hooks.gradient_penalty, (_NAN,), {}, ValueError, r"lam must be a finite number"),
    (hooks.gradient_penalty, ([],), {}, ValueError, r"lam must have at least 1 entries"),
    (hooks.gradient_penalty, ([0.1, -0.1],), {}, ValueError, r"lam must be a finite number in \[0"),
    (hooks.gradient_penalty, (True,), {}, TypeError, r"lam must be a list or tuple"),
    (hooks.gradient_penalty, ("0.1",), {}, TypeError, r"lam must be a list or tuple"),
    (hooks.gradient_penalty, (0.1,), {"loss": "bogus"}, ValueError, r"loss must be one of"),
    (hooks.spectral_penalty, (-1.0,), {}, ValueError, r"lam must be a finite number in \[0, 1000000\.0\]"),
    (hooks.spectral_penalty, ([0.1, _NAN],), {}, ValueError, r"lam must be a finite number"),
    (hooks.spectral_penalty, (0.1,), {"iters": 0}, ValueError, r"iters must be an integer in \[1, 10000\]"),
    (hooks.spectral_penalty, (0.1,), {"loss": "bogus"}, ValueError, r"loss must be one of"),
    (hooks.spectral_penalty, ("0.1",), {}, TypeError, r"lam must be a list or tuple"),
    (hooks.sam, (-0.1,), {}, ValueError, r"rho must be a finite number in \[0"),
    (hooks.sam, (_NAN,), {}, ValueError, r"rho must be a finite number"),
    (hooks.sam, ([],), {}, ValueError, r"rho must have at least 1 entries"),
    (hooks.sam, (0.1,), {"loss": "bogus"}, ValueError, r"loss must be one of"),
    (hooks.pgd, (-1.0, 3), {}, ValueError, r"eps must be a finite number in \[0"),
    (hooks.pgd, (_NAN, 3), {}, ValueError, r"eps must be a finite number"),
    (hooks.pgd, (0.1, 0), {}, ValueError, r"steps must be an integer in \[1, 10000\]"),
    (hooks.pgd, (0.1, 2.5), {}, ValueError, r"steps must be an integer"),
    (hooks.pgd, (0.1, 3), {"step_size": -0.1}, ValueError, r"step_size must be a finite number in \[0"),
    (hooks.pgd, (0.1, 3), {"loss": "bogus"}, ValueError, r"loss must be one of"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_gradient_penalty_checks_its_member_count_against_the_family():
    fam = models.mlp(2, 1, 3, seeds=[0, 1, 2], device="cpu")
    x, y = torch.randn(4, 2), torch.randn(4, 1)
    with pytest.raises(ValueError, match=r"lam must be one number or one per member \(3\)"):
        hooks.gradient_penalty([0.1, 0.2])(fam, x, y)
    assert hooks.gradient_penalty([0.1, 0.2, 0.0])(fam, x, y).shape == (3,)


@pytest.mark.parametrize("hook,name", [(hooks.spectral_penalty, "lam"), (hooks.sam, "rho")])
def test_spectral_penalty_and_sam_check_their_member_count_against_the_family(hook, name):
    fam = models.mlp(2, 1, 3, seeds=[0, 1, 2], device="cpu")
    x, y = torch.randn(4, 2), torch.randn(4, 1)
    with pytest.raises(ValueError, match=rf"{name} must be one number or one per member \(3\)"):
        hook([0.1, 0.2])(fam, x, y)
    assert hook([0.1, 0.2, 0.0])(fam, x, y).shape == (3,)
    assert hook(0.1)(fam, x, y).shape == (3,)
