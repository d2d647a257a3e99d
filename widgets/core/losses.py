"""Losses of a family: every member's mean loss from stacked outputs, in one call.

A loss is a name of :data:`LOSSES` (a parametrized one may carry its parameter, ``"huber:0.2"``,
``"gce:0.7"``), a sequence of such names with one per member (all of one kind, see :func:`loss_kind`), or a
callable ``(out, y) → [K]`` (the centered MSE and the Sobolev losses below); every loss in the book lives
here, so a chapter never writes its own.

Per sample, with f the outputs, p = softmax(f), y the target (regression), the class label (multi-class)
or the ±1 label (binary):

* regression: ``mse`` (f − y)², ``mae`` |f − y|, ``huber`` ρ_δ(f − y) = r²/2 for |r| ≤ δ, δ(|r| − δ/2)
  beyond (Huber 1964; δ = 1 unless given);
* multi-class, on class labels: ``cross_entropy`` −log p_y; ``square`` Σ_c (f_c − [c = y])², the square loss
  on raw outputs (no softmax) against one-hot targets (Hui & Belkin 2021); ``softmax_mae`` ‖e_y − p‖₁ =
  2(1 − p_y), the bounded, symmetric MAE of Ghosh et al. (2017); ``gce`` (1 − p_y^q)/q, the generalized
  cross entropy (Zhang & Sabuncu 2018; q = 0.7 unless given; q → 0 is CE, q = 1 half the MAE);
* binary, one output and y ∈ {−1, +1}: ``logistic`` log(1 + e^{−yf}); ``sigmoid`` 1 − σ(yf) = σ(−yf), a
  bounded (non-convex) surrogate of the 0-1 loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from widgets.core.checks import check_float, check_floats, check_int, check_memory

REGRESSION = ("mse", "mae", "huber")
MULTICLASS = ("cross_entropy", "square", "softmax_mae", "gce")
BINARY = ("logistic", "sigmoid")
LOSSES = ("mse", "cross_entropy", "logistic", "mae", "huber", "square", "softmax_mae", "gce", "sigmoid")
PARAMETERS = {"huber": ("delta", 1.0, 1e-8, 1e8), "gce": ("q", 0.7, 1e-4, 1.0)}  # name, default, range


def parse_loss(spec: str) -> tuple[str, float | None]:
    """``"huber:0.2"`` → ("huber", 0.2); ``"gce"`` → ("gce", 0.7) (the default); ``"mse"`` → ("mse", None).
    Raises ValueError naming the loss, or the parameter and its range."""
    if not isinstance(spec, str):
        raise ValueError(f"loss must be one of {LOSSES} or a callable (out, y) → [K], got {spec!r}")
    name, _, arg = spec.partition(":")
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES} or a callable (out, y) → [K], got {spec!r}")
    if name not in PARAMETERS:
        if arg:
            raise ValueError(f"loss {name!r} takes no parameter, got {spec!r}")
        return name, None
    pname, default, lo, hi = PARAMETERS[name]
    if not arg:
        return name, default
    try:
        value = float(arg)
    except ValueError:
        raise ValueError(f"{name} {pname} must be a number in [{lo}, {hi}], got {arg!r}") from None
    return name, check_float(f"{name} {pname}", value, lo, hi)


def loss_kind(loss) -> str:
    """``"regression"``, ``"multiclass"`` or ``"binary"`` (what the targets are, see the module docstring),
    or ``"callable"``. A sequence of per-member losses must share one kind (ValueError otherwise)."""
    if callable(loss):
        return "callable"
    specs = [loss] if isinstance(loss, str) else list(loss)
    if not specs:
        raise ValueError("loss must name at least one loss")
    kinds = set()
    for spec in specs:
        name, _ = parse_loss(spec)
        kinds.add("regression" if name in REGRESSION else "multiclass" if name in MULTICLASS else "binary")
    if len(kinds) > 1:
        raise ValueError(f"per-member losses must all take the same targets (regression, class labels or ±1 "
                         f"labels), got {list(specs)}")
    return kinds.pop()


def member_losses(out: torch.Tensor, y: torch.Tensor, loss) -> torch.Tensor:
    """Mean loss of each member. out: [K, n, o]; y: [n] or [n, o] shared, or [K, n] / [K, n, o] → [K].

    ``loss`` is a name of :data:`LOSSES` (with its parameter, ``"huber:0.2"``), a sequence of K names (one
    per member, all of one :func:`loss_kind`), or a callable ``(out, y) → [K]`` (e.g. a Sobolev norm of the
    residual; it sees the whole batch, so use it full batch).

    For MSE, targets of one member batch must be [K, n, o] (the trainer makes [n] targets [n, 1] first).

    ``mse``: mean of (f − y)² over samples and outputs (``mae``, ``huber``: the same mean of |f − y|, ρ_δ).
    ``cross_entropy``, ``square``, ``softmax_mae``, ``gce``: y holds class indices.
    ``logistic``: log(1 + exp(−y f)) with y ∈ {−1, +1} and a single output (``sigmoid``: σ(−y f)).

    This runs at every training step, so only shapes are checked (:func:`_check_targets`, Python only): the
    values are not (a host round trip each step). The trainer checks its data once before the first step;
    called directly, NaN targets give NaN losses, and class labels outside [0, o) or ±1 labels that are not
    ±1 are the caller's to avoid.
    """
    if callable(loss):
        return loss(out, y)
    if not isinstance(loss, str):
        return _per_member_losses(out, y, list(loss))
    name, param = parse_loss(loss)
    K, n, o = _check_targets(out, y, name)
    if name in REGRESSION:
        y = y.to(out.dtype)
        if y.ndim == 1:  # [n] targets of a single output
            y = y.unsqueeze(-1)
        r = out - y
        if name == "mse":
            return (r**2).mean(dim=(1, 2))
        if name == "mae":
            return r.abs().mean(dim=(1, 2))
        a = r.abs()
        return torch.where(a <= param, 0.5 * r**2, param * (a - 0.5 * param)).mean(dim=(1, 2))
    y = y.expand(K, n) if y.ndim == 1 else y
    if name == "cross_entropy":
        return F.cross_entropy(out.reshape(K * n, o), y.reshape(K * n), reduction="none").view(K, n).mean(1)
    if name == "square":
        return ((out - F.one_hot(y, o).to(out.dtype)) ** 2).sum(-1).mean(1)
    if name in ("softmax_mae", "gce"):
        logp_y = torch.log_softmax(out, -1).gather(-1, y[..., None])[..., 0]
        if name == "softmax_mae":
            return (2 * (1 - logp_y.exp())).mean(1)
        return ((1 - torch.exp(param * logp_y)) / param).mean(1)
    m = y.to(out.dtype) * out[..., 0]
    if name == "logistic":
        return F.softplus(-m).mean(1)
    return torch.sigmoid(-m).mean(1)


def _check_targets(out, y, name: str) -> tuple[int, int, int]:
    """out [K, n, o] and targets that fit it, for loss ``name``: regression [n], [n, o] or [K, n, o]
    (no broadcasting of other shapes); class labels [n] or [K, n] (integers); ±1 labels [n] or [K, n] on
    one output. Shapes and dtypes only: Python comparisons, no host round trip. Returns (K, n, o)."""
    if not isinstance(out, torch.Tensor) or out.ndim != 3:
        raise ValueError(f"out must be a tensor of shape [K, n, o], got "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    K, n, o = out.shape
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if name in REGRESSION:
        fits = y.shape in ((n,), (n, o), (K, n, o)) and (y.ndim != 1 or o == 1)
        want = f"[{n}] (one output), [{n}, {o}] or [{K}, {n}, {o}]"
    else:
        fits = y.shape in ((n,), (K, n)) and (y.dtype == torch.int64 if name in MULTICLASS else y.dtype != torch.bool)
        want = f"[{n}] or [{K}, {n}] {'int64 class labels' if name in MULTICLASS else '±1 labels'}"
        if name in BINARY and o != 1:
            raise ValueError(f"loss={name!r} takes ±1 labels on one output, but out has {o} outputs")
    if not fits:
        raise ValueError(f"y must be {want} for loss={name!r} and out {tuple(out.shape)}, got {y.dtype} "
                         f"{tuple(y.shape)}")
    return K, n, o


def _per_member_losses(out: torch.Tensor, y: torch.Tensor, specs: Sequence[str]) -> torch.Tensor:
    """Member k's loss under ``specs[k]`` → [K]: each run of consecutive members with the same loss evaluated
    once on its slice of the family (views: no index tensor copied to the device and no gather per step; a
    family laid out loss by loss has one run per loss)."""
    K = out.shape[0]
    if len(specs) != K:
        raise ValueError(f"loss must be one name or a list of {K} (one per member), got {len(specs)}")
    kind = loss_kind(specs)
    per_y = y.ndim == (3 if kind == "regression" else 2)
    parts, start = [], 0
    for k in range(1, K + 1):
        if k == K or specs[k] != specs[start]:
            parts.append(member_losses(out[start:k], y[start:k] if per_y else y, specs[start]))
            start = k
    return torch.cat(parts)


def member_accuracy(out: torch.Tensor, y: torch.Tensor, loss) -> torch.Tensor:
    """Fraction correct per member ([K]); NaN where the loss has no notion of a class: a callable loss, and
    regression with fewer than two outputs (targets of several outputs are scored by their argmax). Shapes
    are checked as in :func:`member_losses`."""
    if callable(loss):
        if not isinstance(out, torch.Tensor) or out.ndim != 3:
            raise ValueError("out must be a tensor of shape [K, n, o]")
        return torch.full((len(out),), float("nan"), dtype=out.dtype, device=out.device)
    kind = loss_kind(loss)
    first = loss if isinstance(loss, str) else list(loss)[0]
    K, n, o = _check_targets(out, y, parse_loss(first)[0])
    if kind == "multiclass":
        return (out.argmax(-1) == y).to(out.dtype).mean(1)
    if kind == "binary":
        return (torch.sign(out[..., 0]) == y.to(out.dtype)).to(out.dtype).mean(1)
    if y.ndim >= 2 and y.shape[-1] == o and o > 1:
        return (out.argmax(-1) == y.argmax(-1)).to(out.dtype).mean(1)
    return torch.full((K,), float("nan"), dtype=out.dtype, device=out.device)


# ---------------------------------------------------------------- callable losses on a uniform grid


def centered_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the residual with its mean removed: out, y [K, n, 1] → [K]. For targets of zero
    mean this only frees the network's constant offset, whose kernel eigenvalue is the largest and would
    otherwise set the largest stable step size (the spectral-bias chapter's wide networks). A loss of the
    trainer's inner loop: shapes only are checked."""
    if not isinstance(out, torch.Tensor) or out.ndim != 3 or out.shape[2] != 1 or \
            not isinstance(y, torch.Tensor) or y.shape not in (out.shape, out.shape[1:]):
        raise ValueError(f"out must be [K, n, 1] and y [K, n, 1] or [n, 1], got "
                         f"{getattr(out, 'shape', type(out).__name__)} and {getattr(y, 'shape', type(y).__name__)}")
    r = out - y
    return ((r - r.mean(1, keepdim=True)) ** 2).mean((1, 2))


def sobolev_weights(s, n: int) -> torch.Tensor:
    """Per-frequency loss weights c_k (1 + k²)^s / n² for k = 0..n//2, with c_k the Parseval factors (1 at
    k = 0 and n/2, 2 between) and the k = 0 weight set to 0 (the offset is left free, as in
    :func:`centered_mse`, which s = 0 reproduces exactly). ``s``: one exponent or one per member →
    [L, n//2 + 1]."""
    s_list = [check_float("s", s, -4, 4)] if isinstance(s, int | float) else check_floats("s", s, -4, 4)
    s_t = torch.tensor(s_list, dtype=torch.float64)
    n = check_int("n", n, 2, 10**7)
    check_memory(f"the weights of {len(s_list)} exponents on n = {n} points", 8 * 3 * len(s_list) * (n // 2 + 1))
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
    on_device: dict = {}  # (device, dtype) → the weights there: copied once, not at every step

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r = (out - y)[..., 0]
        if r.shape[-1] != n:
            raise ValueError(f"the Sobolev loss was built for n = {n} grid points, got {r.shape[-1]}")
        if len(weight) not in (1, len(r)):
            raise ValueError(f"the Sobolev loss has {len(weight)} exponents for {len(r)} members")
        w = on_device.get((r.device, r.dtype))
        if w is None:
            w = on_device[(r.device, r.dtype)] = weight.to(r.device, r.dtype)
        return (torch.fft.rfft(r, dim=-1).abs() ** 2 * w).sum(-1)

    loss.__name__ = "sobolev"
    return loss
