"""Losses of a family: every member's mean loss from stacked outputs, in one call.

A loss is a name (``"mse"``, ``"cross_entropy"``, ``"logistic"``) or a callable ``(out, y) → [K]``; every
loss in the book lives here, so a chapter never writes its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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
