"""The mean-field two-layer ReLU net f(x) = (1/m) Σⱼ bⱼ relu(aⱼ·x), K members at once, with its gradients by
hand (the tests check them against autograd), trained by full-batch GD on the logistic loss.

It is not :func:`widgets.core.models.mlp`: it needs the mean-field 1/m output scaling (Chizat & Bach 2020), a
frozen first layer for some members (random features), and a centred, α-scaled output F = α(f − f₀) (lazy
training, Chizat, Oyallon & Bach 2019), and at the widths of those papers its hand-written gradient is several
times faster than autograd. Its records use the solvers' scheduler, :func:`widgets.core.train.recorded`.
"""

from __future__ import annotations

import math
import time

import torch

from widgets.core.checks import (
    check_bool,
    check_device,
    check_dtype,
    check_float,
    check_int,
    check_memory,
    check_sequence,
    check_tensor,
)
from widgets.core.env import get_dtype, one_cpu_thread
from widgets.core.train import recorded


def init_two_layer(seeds, d_in, width: int, d_max: int, device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
    """First-layer weights A [K, d_max, m] with aⱼ ~ N(0, I/d_in) on each member's own d_in rows (zeros
    below), output weights b [K, m] ~ N(0, 1). Members with the same seed and d_in start identical."""
    dev = check_device("device", device)
    dt = get_dtype(dev, check_dtype("dtype", dtype))
    seeds = [check_int("seeds[i]", s, 0) for s in check_sequence("seeds", seeds, min_length=1)]
    d_max = check_int("d_max", d_max, 1)
    d_in = [check_int("d_in[i]", d, 1, d_max) for d in check_sequence("d_in", d_in, len(seeds))]
    width = check_int("width", width, 1, 10**6)
    check_memory(f"the first layer of {len(seeds)} members ({d_max} × {width})", 8 * 3 * len(seeds) * d_max * width)
    A = torch.zeros(len(seeds), d_max, width, dtype=torch.float64)
    b = torch.zeros(len(seeds), width, dtype=torch.float64)
    for i, (s, d) in enumerate(zip(seeds, d_in, strict=True)):
        g = torch.Generator().manual_seed(int(s))
        b[i] = torch.randn(width, generator=g, dtype=torch.float64)
        # only the member's own rows are drawn, so padding (d_max) does not change its init
        A[i, :d] = torch.randn(d, width, generator=g, dtype=torch.float64) / math.sqrt(d)
    return A.to(dev, dt), b.to(dev, dt)


def _check_net(A, b, x, name: str = "x") -> None:
    """A [K, D, m], b [K, m], x [K, n, D]: shapes that agree, finite values."""
    A = check_tensor("A", A, ndim=3, shape="[K, D, m]", min_size=1)
    K, D, m = A.shape
    b = check_tensor("b", b, ndim=2, shape=f"[{K}, {m}]")
    if b.shape != (K, m):
        raise ValueError(f"b must have shape [{K}, {m}] (A is {list(A.shape)}), got {tuple(b.shape)}")
    x = check_tensor(name, x, ndim=3, shape=f"[{K}, n, {D}]")
    if x.shape[0] != K or x.shape[2] != D:
        raise ValueError(f"{name} must have shape [{K}, n, {D}] (A is {list(A.shape)}), got {tuple(x.shape)}")


def two_layer_forward(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f(x) = (1/m) Σⱼ bⱼ relu(aⱼ·x). A [K, D, m], b [K, m], x [K, n, D] → (f [K, n], hidden pre-activations
    [K, n, m])."""
    _check_net(A, b, x)
    return _forward(A, b, x)


def _forward(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pre = torch.bmm(x, A)
    # a broadcast multiply-and-sum: on the CPU it beats bmm's matrix-vector path several times over
    return (pre.clamp_min(0) * b.unsqueeze(1)).sum(-1) / A.shape[-1], pre


def two_layer_grads(A, b, x, y, alpha, f0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of each member's mean logistic loss of F = α(f − f₀) (f₀ = 0 for the plain net).

    Returns (loss [K], ∂L/∂A [K, D, m], ∂L/∂b [K, m]). Written by hand: it is the inner loop of every sweep.
    y: [K, n] in {−1, +1}; alpha: [K]; f0: [K, n] (or a number, 0 for the plain net).
    """
    _check_net(A, b, x)
    K, n = x.shape[:2]
    y = check_tensor("y", y, ndim=2, shape=f"[{K}, {n}]")
    if y.shape != (K, n) or not ((y == 1) | (y == -1)).all():
        raise ValueError(f"y must have shape [{K}, {n}] and hold labels in {{-1, +1}}, got shape {tuple(y.shape)}")
    alpha = check_tensor("alpha", alpha, ndim=1, shape=f"[{K}]")
    if alpha.shape != (K,) or (alpha <= 0).any():
        raise ValueError(f"alpha must have shape [{K}] and hold positive scales, got shape {tuple(alpha.shape)}")
    if not isinstance(f0, torch.Tensor):
        f0 = check_float("f0", f0)
    elif check_tensor("f0", f0).shape not in ((), (K, n)):
        raise ValueError(f"f0 must be a number or have shape [{K}, {n}], got {tuple(f0.shape)}")
    if n == 0:
        raise ValueError("x must hold at least one input per member (n ≥ 1)")
    return _grads(A, b, x, y, alpha, f0)


def _grads(A, b, x, y, alpha, f0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    f, pre = _forward(A, b, x)
    m, n = A.shape[-1], x.shape[1]
    margin = y * alpha[:, None] * (f - f0)
    loss = torch.nn.functional.softplus(-margin).mean(1)
    g = -(y * torch.sigmoid(-margin)) * (alpha[:, None] / (n * m))  # ∂L/∂f, with f's 1/m folded in
    grad_b = torch.bmm(g.unsqueeze(1), pre.clamp_min(0)).squeeze(1)
    # bⱼ factors out of the sum over samples: multiply it in after the matmul, on the small [K, D, m] result
    grad_A = torch.bmm(x.transpose(1, 2), (pre > 0) * g.unsqueeze(-1)) * b.unsqueeze(1)
    return loss, grad_A, grad_b


def tangent_kernel(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The tangent kernel of f (gradients with respect to A and b) on inputs x [K, P, D] → [K, P, P]:
    K(x, x') = (1/m²) Σⱼ [relu(aⱼ·x) relu(aⱼ·x') + bⱼ² 1(aⱼ·x > 0) 1(aⱼ·x' > 0) x·x']."""
    _check_net(A, b, x)
    return _tangent_kernel(A, b, x)


def _tangent_kernel(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    m = A.shape[-1]
    pre = torch.bmm(x, A)
    h = pre.clamp_min(0)
    on = (pre > 0).to(pre.dtype) * b.unsqueeze(1)
    gram = torch.bmm(x, x.transpose(1, 2))
    return (torch.bmm(h, h.transpose(1, 2)) + torch.bmm(on, on.transpose(1, 2)) * gram) / m**2


def train_two_layer(x, y, x_test, y_test, *, seeds, d_in, width: int, steps: int, lr_first, lr_out,
                    alpha=None, records: int = 20, grid: torch.Tensor | None = None, grid_every: bool = False,
                    kernel_points: int = 0, device=None, dtype=None, progress: bool = False) -> dict:
    """Train K two-layer nets as one computation, by full-batch GD on the logistic loss.

    x: [K, n, D] (each member its own data; pad unused input columns with zeros), y: [K, n] in {−1, +1};
    x_test [K, n', D], y_test [K, n']. ``seeds``, ``d_in`` (the real input width, for the init scale),
    ``lr_first`` (0 freezes the first layer: random features), ``lr_out``: one per member. ``alpha``: None
    trains f itself; a list of K numbers trains F = α(f − f₀) with f₀ the output at initialisation.
    ``grid``: inputs [K, G, D] whose outputs are returned at the end (every record if ``grid_every``).
    ``kernel_points``: if > 0, the tangent kernel on the first that many training points is compared between
    initialisation and the end.

    Returns ``steps`` [T], ``train_loss``, ``train_err``, ``test_err`` [T, K], ``margin`` [T, K] (normalised
    margin: min yᵢFᵢ over ‖θ‖²/(2m) with both layers trained, over ‖b‖/√m with the output only),
    ``weight_change`` [K] (‖θ_T − θ₀‖/‖θ₀‖ over both layers), ``kernel_change`` [K] (‖K_T − K₀‖_F/‖K₀‖_F, if
    asked), ``grid_out`` [K, G] or [T, K, G], ``seconds``.
    """
    dev = check_device("device", device)
    dt = get_dtype(dev, check_dtype("dtype", dtype))
    seeds = check_sequence("seeds", seeds, min_length=1)
    K = len(seeds)
    width = check_int("width", width, 1, 10**6)
    steps = check_int("steps", steps, 0, 10**8)
    records = check_int("records", records, 2, 10**5)
    check_bool("grid_every", grid_every)
    check_bool("progress", progress)
    lr1 = torch.tensor([check_float("lr_first", v, 0, 1e8) for v in check_sequence("lr_first", lr_first, K)],
                       device=dev, dtype=dt)
    lr2 = torch.tensor([check_float("lr_out", v, 0, 1e8) for v in check_sequence("lr_out", lr_out, K)],
                       device=dev, dtype=dt)
    centred = alpha is not None
    al = torch.tensor([check_float("alpha", v, 0, 1e8, lo_open=True) for v in check_sequence("alpha", alpha, K)]
                      if centred else [1.0] * K, device=dev, dtype=dt)
    x = check_tensor("x", x, ndim=3, shape=f"[{K}, n, D]", min_size=1)
    if len(x) != K:
        raise ValueError(f"x must have shape [{K}, n, D] (one problem per member), got {tuple(x.shape)}")
    _, n, D = x.shape
    d_in = [check_int("d_in[i]", d, 1, D) for d in check_sequence("d_in", d_in, K)]
    for name, t in (("y", y), ("x_test", x_test), ("y_test", y_test)):
        check_tensor(name, t)
    if y.shape != (K, n) or not ((y == 1) | (y == -1)).all():
        raise ValueError(f"y must have shape [{K}, {n}] and hold labels in {{-1, +1}}, got shape {tuple(y.shape)}")
    if x_test.ndim != 3 or x_test.shape[0] != K or x_test.shape[2] != D or x_test.shape[1] == 0:
        raise ValueError(f"x_test must have shape [{K}, n', {D}] with n' ≥ 1, got {tuple(x_test.shape)}")
    if y_test.shape != x_test.shape[:2] or not ((y_test == 1) | (y_test == -1)).all():
        raise ValueError(f"y_test must have shape [{K}, {x_test.shape[1]}] and hold labels in {{-1, +1}}, got "
                         f"shape {tuple(y_test.shape)}")
    if grid is not None:
        grid = check_tensor("grid", grid, ndim=3, shape=f"[{K}, G, {D}]")
        if grid.shape[0] != K or grid.shape[2] != D:
            raise ValueError(f"grid must have shape [{K}, G, {D}], got {tuple(grid.shape)}")
    kernel_points = check_int("kernel_points", kernel_points, 0, n)
    check_memory(f"training {K} members of width {width} on {n} inputs of dimension {D}",
                 8 * K * width * (4 * max(n, x_test.shape[1]) + 3 * D) + 8 * 2 * K * kernel_points**2)
    x, y, x_test, y_test = (t.to(dev, dt) for t in (x, y, x_test, y_test))
    A, b = init_two_layer(seeds, d_in, width, x.shape[-1], dev, dt)
    A0, b0 = A.clone(), b.clone()
    zero = lambda t: torch.zeros(t.shape[:2], device=dev, dtype=dt)  # noqa: E731
    f0_train = _forward(A, b, x)[0] if centred else zero(x)
    f0_test = _forward(A, b, x_test)[0] if centred else zero(x_test)
    grid = grid.to(dev, dt) if grid is not None else None
    f0_grid = (_forward(A, b, grid)[0] if centred else zero(grid)) if grid is not None else None
    kp = check_int("kernel_points", kernel_points, 0, x.shape[1])
    K0 = _tangent_kernel(A, b, x[:, :kp]) if kp else None
    both = lr1 > 0

    frozen = not bool(both.any())
    if frozen:
        # Random features: F is linear in b, so GD on b is GD in function space with the fixed kernel
        # H Hᵀ/m (n×n per member, whatever the width). S accumulates the loss gradients so that b can be
        # rebuilt exactly at each record: b_t = b₀ − α lr/(n m) · Hᵀ S_t.
        n = x.shape[1]
        h = torch.bmm(x, A).clamp_min(0)
        kern = torch.bmm(h, h.transpose(1, 2)) * (al**2 * lr2 / (n * width**2))[:, None, None]
        F = al[:, None] * (torch.bmm(h, b.unsqueeze(-1)).squeeze(-1) / width - f0_train)
        S = torch.zeros_like(F)

    def advance(k: int) -> None:
        for _ in range(k):
            if frozen:
                g = -(y * torch.sigmoid(-y * F))
                S.add_(g)
                F.sub_((kern * g.unsqueeze(1)).sum(-1))
            else:
                _, gA, gb = _grads(A, b, x, y, al, f0_train)
                A.sub_(lr1[:, None, None] * gA)
                b.sub_(lr2[:, None] * gb)

    def record(step: int) -> dict:
        nonlocal b
        if frozen:
            b = b0 - (al * lr2 / (n * width))[:, None] * torch.bmm(h.transpose(1, 2), S.unsqueeze(-1)).squeeze(-1)
        F = al[:, None] * (_forward(A, b, x)[0] - f0_train)
        Ft = al[:, None] * (_forward(A, b, x_test)[0] - f0_test)
        sq = (A * A).sum((1, 2)) + (b * b).sum(1)
        norm = torch.where(both, sq / (2 * width), (b * b).sum(1).sqrt() / math.sqrt(width))
        out = {"train_loss": torch.nn.functional.softplus(-y * F).mean(1).cpu(),
               "train_err": (torch.sign(F) != y).to(dt).mean(1).cpu(),
               "test_err": (torch.sign(Ft) != y_test).to(dt).mean(1).cpu(),
               "margin": ((y * F).min(1).values / (al * norm)).cpu()}
        if grid is not None and (grid_every or step == steps):
            out["grid"] = (al[:, None] * (_forward(A, b, grid)[0] - f0_grid)).cpu()
        return out

    t0 = time.perf_counter()
    with torch.no_grad(), one_cpu_thread(dev):
        out = recorded(steps, records, advance, record, progress=progress)
    grid_log = out.pop("grid", None)
    if grid is not None:
        out["grid_out"] = grid_log if grid_every else grid_log[-1]
    dtheta = ((A - A0) ** 2).sum((1, 2)) + ((b - b0) ** 2).sum(1)
    out["weight_change"] = (dtheta / ((A0**2).sum((1, 2)) + (b0**2).sum(1))).sqrt().cpu()
    if kp:
        KT = _tangent_kernel(A, b, x[:, :kp])
        out["kernel_change"] = ((KT - K0).norm(dim=(1, 2)) / K0.norm(dim=(1, 2))).cpu()
    out["seconds"] = time.perf_counter() - t0
    return out
