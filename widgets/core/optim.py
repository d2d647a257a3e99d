"""Update rules as data: each rule is a small object with ``init(params) → state`` and an in-place
``update(params, grads, state, t, lr, wd)``, written on the stacked per-member tensors of a family (the
``(init, update)`` pair of optax, without owning a loop). The one trainer, :func:`widgets.core.train.train`,
calls them; a new rule never copies the loop.

``lr`` and ``wd`` are lists with one tensor per parameter, each broadcastable to its parameter (the family's
per-member values laid out by ``family.broadcast``), so members train with their own learning rates and weight
decays in one pass. ``wd`` is None when no member decays. ``t`` counts steps from 1.

The built-in rules split ``update`` into ``scalars(t)`` (the numbers that depend on the step count: Adam's bias
corrections; none for SGD) and ``step(params, grads, state, scalars, lr, wd)`` (the arithmetic, which takes
those numbers as Python floats or as 0-d tensors). ``update`` is ``step`` with ``scalars(t)`` of an int t; the
compiled trainer (:mod:`widgets.core.compiled`) compiles ``step`` and hands it ``scalars`` of a 0-d tensor t, so
its graph does not depend on the value of t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from widgets.core.checks import check_choice, check_float

RULES = ("gd", "sgd", "adam")


@dataclass(frozen=True)
class SGD:
    """θ ← θ − lr · b with b ← μ b + (g + wd θ) (heavy ball; μ = 0 is plain gradient descent). The weight decay
    is added to the gradient (L2), as in ``torch.optim.SGD``."""

    momentum: float = 0.0

    def __post_init__(self):
        check_float("momentum", self.momentum, 0, 1, hi_open=True)

    def init(self, params: list[torch.Tensor]) -> dict:
        return {"buf": [torch.zeros_like(p) for p in params]} if self.momentum else {}

    def scalars(self, t) -> tuple:
        return ()

    def update(self, params, grads, state, t: int, lr, wd) -> None:
        self.step(params, grads, state, (), lr, wd)

    def step(self, params, grads, state, scalars: tuple, lr, wd) -> None:
        # one multi-tensor (foreach) operation per line for all parameter tensors: a handful of device launches
        # per step instead of a handful per tensor; the arithmetic is the per-tensor one, element by element
        with torch.no_grad():
            grads = list(grads)
            if wd is not None:
                grads = torch._foreach_add(grads, torch._foreach_mul(params, wd))
            if self.momentum:
                torch._foreach_mul_(state["buf"], self.momentum)
                torch._foreach_add_(state["buf"], grads)
                grads = state["buf"]
            torch._foreach_sub_(params, torch._foreach_mul(grads, lr))


@dataclass(frozen=True)
class Adam:
    """AdamW (Loshchilov & Hutter 2019): decoupled weight decay θ ← θ(1 − lr·wd), then the Adam step
    θ ← θ − lr · m̂ / (√v̂ + ε) with bias-corrected moments, arranged as ``torch.optim.AdamW`` arranges it."""

    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        check_float("betas[0]", self.b1, 0, 1, hi_open=True)
        check_float("betas[1]", self.b2, 0, 1, hi_open=True)
        check_float("eps", self.eps, 0, 1, lo_open=True)

    def init(self, params: list[torch.Tensor]) -> dict:
        return {"m": [torch.zeros_like(p) for p in params], "v": [torch.zeros_like(p) for p in params]}

    def scalars(self, t):
        """The bias corrections 1 − β₁ᵗ and √(1 − β₂ᵗ): floats for an int t, 0-d tensors for a 0-d tensor t."""
        if isinstance(t, torch.Tensor):
            return 1 - self.b1**t, (1 - self.b2**t).sqrt()
        return 1 - self.b1**t, math.sqrt(1 - self.b2**t)

    def update(self, params, grads, state, t: int, lr, wd) -> None:
        self.step(params, grads, state, self.scalars(t), lr, wd)

    def step(self, params, grads, state, scalars, lr, wd) -> None:
        """The update with the bias corrections ``scalars`` = (bc1, bc2) given (floats or 0-d tensors)."""
        bc1, bc2 = scalars
        # multi-tensor (foreach) operations over all parameter tensors at once: a handful of device launches per
        # step instead of a handful per tensor, with the same element-by-element arithmetic
        with torch.no_grad():
            grads, m, v = list(grads), state["m"], state["v"]
            torch._foreach_lerp_(m, grads, 1 - self.b1)
            torch._foreach_mul_(v, self.b2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - self.b2)
            # p −= lr/bc1 · m / (√v/bc2 + eps), with the per-member lr folded into the denominator so the
            # step is one addcdiv (fewer passes over memory); lr = 0 gives an infinite denominator: no step
            denom = torch._foreach_sqrt(v)
            torch._foreach_add_(denom, self.eps * bc2)
            torch._foreach_mul_(denom, [bc1 / (bc2 * lr_i) for lr_i in lr])
            if wd is not None:
                torch._foreach_mul_(params, [1 - lr_i * wd_i for lr_i, wd_i in zip(lr, wd, strict=True)])
            torch._foreach_addcdiv_(params, m, denom, value=-1.0)


def rule(optimizer, *, momentum: float = 0.0, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
    """The update rule named by ``optimizer`` (``"gd"``/``"sgd"``: :class:`SGD`, ``"adam"``: :class:`Adam`), or
    ``optimizer`` itself if it is already a rule (an object with ``init`` and ``update``)."""
    if hasattr(optimizer, "init") and hasattr(optimizer, "update"):
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be one of {RULES} or a rule (an object with init and update), "
                        f"got {type(optimizer).__name__}")
    check_choice("optimizer", optimizer, RULES)
    if optimizer == "adam":
        if momentum:
            raise ValueError("momentum applies to optimizer='gd' or 'sgd'; Adam's momentum is betas[0]")
        if isinstance(betas, str) or not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2) in [0, 1), got {betas!r}")
        return Adam(*betas, eps=eps)
    if eps != 1e-8 or tuple(betas) != (0.9, 0.999):
        raise ValueError(f"betas and eps apply to optimizer='adam', not {optimizer!r}")
    return SGD(momentum)
