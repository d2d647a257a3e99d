"""Losses of a family: every member's mean loss from stacked outputs, in one call.

A loss is a name (``"mse"``, ``"cross_entropy"``, ``"logistic"``) or a callable ``(out, y) → [K]`` (the
centered MSE and the Sobolev losses below); every loss in the book lives here, so a chapter never writes its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from widgets.core.checks import check_float, check_int

LOSSES = ("mse", "cross_entropy", "logistic")


def member_losses(out: torch.Tensor, y: torch.Tensor, loss) -> torch.Tensor:
    """Mean loss of each member. out: [K, n, o]; y: [n] or [n, o] shared, or [K, n] / [K, n, o] → [K].

    ``loss`` is a name below or a callable ``(out, y) → [K]`` (e.g. a Sobolev norm of the residual; it sees
    the whole batch, so use it full batch).

    For MSE, targets of one member batch must be [K, n, o] (the trainer makes [n] targets [n, 1] first).

    ``mse``: mean of (f − y)² over samples and outputs. ``cross_entropy``: y holds class indices.
    ``logistic``: log(1 + exp(−y f)) with y ∈ {−1, +1} and a single output.
    """
    K, n, o = out.shape
    if callable(loss):
        return loss(out, y)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES} or a callable (out, y) → [K], got {loss!r}")
    if loss == "mse":
        y = y.to(out.dtype)
        if y.ndim == 1:  # [n] targets of a single output
            y = y.unsqueeze(-1)
        return ((out - y) ** 2).mean(dim=(1, 2))
    if loss == "cross_entropy":
        y = y.expand(K, n) if y.ndim == 1 else y
        return F.cross_entropy(out.reshape(K * n, o), y.reshape(K * n), reduction="none").view(K, n).mean(1)
    y = y.expand(K, n) if y.ndim == 1 else y
    return F.softplus(-y.to(out.dtype) * out[..., 0]).mean(1)


def member_accuracy(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Fraction correct per member ([K]); NaN where the loss has no notion of a class."""
    K, n, o = out.shape
    if callable(loss):
        return torch.full((K,), float("nan"), dtype=out.dtype, device=out.device)
    if loss == "cross_entropy":
        return (out.argmax(-1) == y).to(out.dtype).mean(1)
    if loss == "logistic":
        return (torch.sign(out[..., 0]) == y.to(out.dtype)).to(out.dtype).mean(1)
    if y.ndim >= 2 and y.shape[-1] == o and o > 1:
        return (out.argmax(-1) == y.argmax(-1)).to(out.dtype).mean(1)
    return torch.full((K,), float("nan"), dtype=out.dtype, device=out.device)


# ---------------------------------------------------------------- callable losses on a uniform grid


def centered_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the residual with its mean removed: out, y [K, n, 1] → [K]. For targets of zero
    mean this only frees the network's constant offset, whose kernel eigenvalue is the largest and would
    otherwise set the largest stable step size (the spectral-bias chapter's wide networks)."""
    r = out - y
    return ((r - r.mean(1, keepdim=True)) ** 2).mean((1, 2))


def sobolev_weights(s, n: int) -> torch.Tensor:
    """Per-frequency loss weights c_k (1 + k²)^s / n² for k = 0..n//2, with c_k the Parseval factors (1 at
    k = 0 and n/2, 2 between) and the k = 0 weight set to 0 (the offset is left free, as in
    :func:`centered_mse`, which s = 0 reproduces exactly). ``s``: one exponent or one per member →
    [L, n//2 + 1]."""
    s_list = [s] if isinstance(s, int | float) else list(s)
    s_t = torch.tensor([check_float("s", v, -4, 4) for v in s_list], dtype=torch.float64)
    n = check_int("n", n, 2, 10**7)
    k = torch.arange(n // 2 + 1, dtype=torch.float64)
    c = torch.full_like(k, 2.0)
    c[0] = 0.0
    if n % 2 == 0:
        c[-1] = 1.0
    return c * (1 + k**2) ** s_t[:, None] / n**2


def sobolev_loss(s, n: int):
    """The squared H^s norm of the residual on the uniform grid as a loss for :func:`widgets.core.train.train`:
    Σ_k w_k |DFT(r)(k)|² with w = :func:`sobolev_weights`. Frequency k's weight grows like k^{2s}: s > 0
    pushes high frequencies, s < 0 holds them back (Yu, Yang & Townsend 2023). ``s``: one exponent or one
    per member. Returns a callable (out, y [K, n, 1]) → [K]."""
    weight = sobolev_weights(s, n)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r = (out - y)[..., 0]
        if r.shape[-1] != n:
            raise ValueError(f"the Sobolev loss was built for n = {n} grid points, got {r.shape[-1]}")
        if len(weight) not in (1, len(r)):
            raise ValueError(f"the Sobolev loss has {len(weight)} exponents for {len(r)} members")
        return (torch.fft.rfft(r, dim=-1).abs() ** 2 * weight.to(r.device, r.dtype)).sum(-1)

    loss.__name__ = "sobolev"
    return loss
