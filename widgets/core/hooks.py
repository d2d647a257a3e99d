"""Hooks for the one trainer (:func:`widgets.core.train.train`): what a member minimizes (``objective``) and
what it is trained on (``perturb``), as small functions of ``(family, x, y)``, so that no experiment needs a
loop of its own.

* :func:`gradient_penalty`: E + λ‖∇_θ E‖² (explicit gradient regularization, the IGR term);
* :func:`spectral_penalty`: E + (λ/2) Σ_l σ_max(W_l)², by power iteration (Yoshida & Miyato 2017);
* :func:`sam`: sharpness-aware minimization, E at the weights moved by ρ g/‖g‖ (Foret et al. 2021);
* :func:`pgd`: adversarial inputs by projected gradient ascent (Madry et al. 2018), a perturbation hook.

Every strength (λ, ρ) is one number or one per member: a sweep over it is one family, one trainer call.
"""

from __future__ import annotations

import numbers
import weakref
from dataclasses import replace

import torch

from widgets.core.checks import check_choice, check_float, check_int, check_sequence
from widgets.core.losses import LOSSES, member_losses
from widgets.core.probes import member_sq_norm

SPECTRAL_SEED_OFFSET = 3_000_017  # member k's power-iteration start for layer l comes from seed_k + this + l


def _strengths(name: str, value, hi: float = 1e6) -> list[float]:
    """One number, or a non-empty list of numbers, each in [0, hi] → a list (checked when the hook is built)."""
    scalar = (isinstance(value, numbers.Real) and not isinstance(value, bool)) or \
        (isinstance(value, torch.Tensor) and value.ndim == 0)
    values = [value] if scalar else check_sequence(name, value, min_length=1)
    return [check_float(name, v, 0, hi) for v in values]


def _per_member(name: str, values: list[float], family) -> torch.Tensor:
    """The strengths as [K] on the family's device and dtype; a ValueError unless one number or one per member."""
    if len(values) not in (1, family.size):
        raise ValueError(f"{name} must be one number or one per member ({family.size}), got {len(values)}")
    return torch.tensor(values, device=family.device, dtype=family.params[0].dtype).expand(family.size)


def gradient_penalty(lam, loss: str = "mse"):
    """Objective E_k + λ_k ‖∇_θ E_k‖² for every member (double backprop). With λ = h/4 it is the implicit
    gradient regularizer that gradient descent with step h adds to E (Barrett & Dherin 2021).

    ``lam``: one number or one per member (≥ 0). Returns ``objective(family, x, y) → [K]``.
    """
    check_choice("loss", loss, LOSSES)
    values = _strengths("lam", lam)

    def objective(family, x, y) -> torch.Tensor:
        lam_k = _per_member("lam", values, family)
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


def _weight_matrices(family) -> list[torch.Tensor]:
    """The stacked weight matrices [K, fan_in, fan_out] of an MLP family (biases left out)."""
    if getattr(family, "kind", None) != "mlp" or not hasattr(family, "masks") or not hasattr(family, "bias"):
        raise ValueError("spectral_penalty needs an MLP family from models.mlp (stacked weight matrices), got "
                         f"{type(family).__name__}{' of kind ' + repr(family.kind) if hasattr(family, 'kind') else ''}")
    return family.params[0::2] if family.bias else list(family.params)


def spectral_penalty(lam, loss: str = "mse", iters: int = 1):
    """Objective E_k + (λ_k/2) Σ_l σ_max(W_l,k)² for every member of an MLP family: spectral norm regularization
    (Yoshida & Miyato 2017), a penalty on the top singular value of each weight matrix (biases are not
    penalized).

    σ_max is estimated by power iteration, as in the paper: the hook keeps each member's left singular vector
    u_l,k [fan_in] between calls and runs ``iters`` iterations per call (the paper runs one per step), then
    σ = u W v with u, v held fixed, so the penalty's gradient is λ σ u vᵀ, the paper's update. Each member's
    first u is a Gaussian over its own real rows drawn from its own seed, so it follows the same path as it
    would alone. The vectors belong to one family: build a new hook for each training run (a hook handed
    another family starts afresh). As with any power iteration, the estimate converges slowly when σ_1 and σ_2
    are close, and a strong penalty pushes them together: then one iteration per step tracks σ_max loosely
    (raise ``iters``).

    ``lam``: one number or one per member (≥ 0); ``iters``: power iterations per call (≥ 1). Returns
    ``objective(family, x, y) → [K]``.
    """
    check_choice("loss", loss, LOSSES)
    values = _strengths("lam", lam)
    iters = check_int("iters", iters, 1, 10**4)
    state: dict = {"owner": None, "u": []}

    def start(family, weights) -> list[torch.Tensor]:
        us = []
        for layer, (W, m) in enumerate(zip(weights, family.masks[0::2] if family.bias else family.masks,
                                           strict=True)):
            rows = (m.amax(2) > 0).sum(1).tolist()  # each member's real fan-in
            u = torch.zeros(W.shape[:2], dtype=torch.float64)
            for k, (s, r) in enumerate(zip(family.seeds, rows, strict=True)):
                g = torch.Generator().manual_seed(s + SPECTRAL_SEED_OFFSET + layer)
                u[k, :r] = torch.randn(r, generator=g, dtype=torch.float64)
            us.append(_unit(u.to(device=W.device, dtype=W.dtype)))
        return us

    def objective(family, x, y) -> torch.Tensor:
        lam_k = _per_member("lam", values, family)
        weights = _weight_matrices(family)
        owner = state["owner"]() if state["owner"] is not None else None
        if owner is not family.params[0] or [u.shape for u in state["u"]] != [W.shape[:2] for W in weights]:
            state["owner"], state["u"] = weakref.ref(family.params[0]), start(family, weights)
        penalty = torch.zeros(family.size, device=family.device, dtype=family.params[0].dtype)
        for i, W in enumerate(weights):
            u, Wd = state["u"][i], W.detach()
            for _ in range(iters):
                v = _unit(torch.bmm(u[:, None, :], Wd)[:, 0])  # [K, fan_out]
                u = _unit(torch.bmm(Wd, v[:, :, None])[..., 0])  # [K, fan_in]
            state["u"][i] = u
            sigma = torch.einsum("ka,kab,kb->k", u, W, v)  # u, v fixed: dσ/dW = u vᵀ
            penalty = penalty + sigma**2
        return member_losses(family(x), y, loss) + lam_k / 2 * penalty

    return objective


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Each row [K, n] scaled to unit length (a zero row stays zero)."""
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-30)


def sam(rho, loss: str = "mse"):
    """Sharpness-aware minimization (Foret et al. 2021) as an objective: member k minimizes
    E_k(θ_k + ε̂_k) with ε̂_k = ρ_k g_k / ‖g_k‖, g_k = ∇_θ E_k(θ_k) on the same batch and ‖·‖ the L2 norm over
    all of member k's parameters. ε̂ is held fixed (the paper's first-order step drops its derivative), so
    the gradient the trainer takes is ∇E_k at the perturbed weights θ_k + ε̂_k, and the update rule applies
    it at θ_k: the SAM update, two forward and backward passes per step. ρ_k = 0 is plain training.

    SAM moves the *weights*, not the inputs, so it is an objective, not a perturbation hook: the trainer's loop
    is unchanged. Works on any family layout with ``params``, ``masks`` and ``broadcast`` that
    ``dataclasses.replace`` can rebuild with new parameters. ``rho``: one number or one per member (≥ 0).
    Returns ``objective(family, x, y) → [K]``.
    """
    check_choice("loss", loss, LOSSES)
    values = _strengths("rho", rho)

    def objective(family, x, y) -> torch.Tensor:
        rho_k = _per_member("rho", values, family)
        grads = torch.autograd.grad(member_losses(family(x), y, loss).sum(), family.params)
        norm = member_sq_norm(list(grads), family.masks).sqrt()
        step = rho_k / (norm + 1e-12)  # the 1e-12 of the paper's code: a zero gradient gives no move
        eps = [g * m * s for g, m, s in zip(grads, family.masks, family.broadcast(step), strict=True)]
        moved = replace(family, params=[p + e for p, e in zip(family.params, eps, strict=True)])
        return member_losses(moved(x), y, loss)

    return objective
