"""Hooks for the one trainer (:func:`widgets.core.train.train`): what a member minimizes (``objective``) and
what it is trained on (``perturb``), as small functions of ``(family, x, y)``, so that no experiment needs a
loop of its own.
"""

from __future__ import annotations

import numbers

import torch

from widgets.core.checks import check_choice, check_float, check_int, check_sequence
from widgets.core.losses import LOSSES, member_losses
from widgets.core.probes import member_sq_norm


def gradient_penalty(lam, loss: str = "mse"):
    """Objective E_k + λ_k ‖∇_θ E_k‖² for every member (double backprop). With λ = h/4 it is the implicit
    gradient regularizer that gradient descent with step h adds to E (Barrett & Dherin 2021).

    ``lam``: one number or one per member (≥ 0). Returns ``objective(family, x, y) → [K]``.
    """
    check_choice("loss", loss, LOSSES)
    scalar = (isinstance(lam, numbers.Real) and not isinstance(lam, bool)) or \
        (isinstance(lam, torch.Tensor) and lam.ndim == 0)
    values = [lam] if scalar else check_sequence("lam", lam, min_length=1)
    values = [check_float("lam", v, 0, 1e6) for v in values]

    def objective(family, x, y) -> torch.Tensor:
        if len(values) not in (1, family.size):
            raise ValueError(f"lam must be one number or one per member ({family.size}), got {len(values)}")
        lam_k = torch.tensor(values, device=family.device, dtype=family.params[0].dtype)
        E = member_losses(family(x), y, loss)
        grads = torch.autograd.grad(E.sum(), family.params, create_graph=True)
        return E + lam_k * member_sq_norm(grads, family.masks)

    return objective


def pgd(eps: float, steps: int, step_size: float | None = None, loss: str = "logistic"):
    """L∞ projected gradient ascent on each member's loss (Madry et al. 2018): ``steps`` signed-gradient steps
    of ``step_size`` (default 2.5 ε / steps), projected onto ‖δ‖∞ ≤ ε, from δ = 0. Each member attacks its own
    batch, x [K, B, d] → x + δ. Returns ``perturb(family, x, y) → x'`` for the trainer."""
    eps = check_float("eps", eps, 0, 1e6)
    steps = check_int("steps", steps, 1, 10**4)
    alpha = 2.5 * eps / steps if step_size is None else check_float("step_size", step_size, 0, 1e6)
    check_choice("loss", loss, LOSSES)

    def perturb(family, x, y) -> torch.Tensor:
        delta = torch.zeros_like(x)
        for _ in range(steps):
            delta.requires_grad_(True)
            (grad,) = torch.autograd.grad(member_losses(family(x + delta), y, loss).sum(), delta)
            delta = (delta.detach() + alpha * grad.sign()).clamp(-eps, eps)
        return (x + delta).detach()

    return perturb
