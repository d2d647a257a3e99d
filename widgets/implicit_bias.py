"""Implicit bias: which of the many zero-loss solutions gradient descent picks.

Four experiments, each one batched computation:

* :func:`max_margin`: logistic regression by GD on separable 2-D data turns towards the hard-margin SVM
  (Soudry et al. 2018); on non-separable data it converges to the finite minimiser instead.
* :func:`two_layer_sweep`: wide two-layer ReLU nets in the mean-field scaling, output layer only vs both
  layers, on a k×k grid of clusters with noise dimensions (Chizat & Bach 2020).
* :func:`lazy_sweep`: the same net with its output scaled, F = α(f − f₀), from rich (α = 1) to lazy
  (large α) training (Chizat, Oyallon & Bach 2019).
* :func:`matrix_sweep`: deep matrix factorisation for matrix completion, 1–3 factors at several init scales
  (Gunasekar et al. 2017; Arora et al. 2019), against the minimum nuclear norm completion.

The two-layer net here is not :func:`widgets.core.models.mlp`: it needs the mean-field 1/m output scaling, a
frozen first layer for some members, and a centred, α-scaled output, so it is written out (with its
gradients by hand; the tests check them against autograd).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch

from widgets.core import data
from widgets.core.checks import check_choice, check_float, check_int
from widgets.core.env import get_device, get_dtype
from widgets.core.stats import effective_rank
from widgets.core.train import log_steps

# ---------------------------------------------------------------- 1. max margin


@dataclass(frozen=True)
class MaxMarginParams:
    """Logistic regression through the origin on ``n`` separable points in the plane, built like Soudry et
    al.'s (2018) Figure 1: support vectors placed by hand so the SVM solution is known, ŵ = (½, ½) (margin
    √2), plus random points whose margin is at least (1 + ``gap``) times the SVM's.

    ``symmetric``: four support vectors mirrored about ŵ, so both get the same dual weight. ``tilted``: two
    support vectors with unequal dual weights, the generic case. ``n_flip``: labels of the symmetric set
    flipped to make the non-separable contrast. ``check_at``: the step at which the chapter checks the angle.
    """

    n: int = 40
    gap: float = 0.5
    lr: float = 1.0
    steps: int = 100_000
    records: int = 60
    n_flip: int = 4
    check_at: int = 100_000
    seed: int = 0

    @classmethod
    def quick(cls) -> MaxMarginParams:
        return cls()

    @classmethod
    def full(cls) -> MaxMarginParams:
        return cls(steps=1_000_000, records=80)

    @classmethod
    def preset(cls, mode: str) -> MaxMarginParams:
        return cls.quick() if mode == "quick" else cls.full()


SUPPORT = {"symmetric": ([[0.0, 2.0], [2.0, 0.0], [0.0, -2.0], [-2.0, 0.0]], [1, 1, -1, -1]),
           "tilted": ([[0.0, 2.0], [-2.5, 0.5]], [1, -1])}


def separable_points(n: int = 40, gap: float = 0.5, support: str = "symmetric", seed: int = 0) -> tuple:
    """Support vectors from :data:`SUPPORT` (all with yᵢxᵢ·(½, ½) = 1) plus random points of [0, 4]×[0, 2],
    half of them negated into the other class, with yᵢxᵢ·(½, ½) ≥ 1 + ``gap``. The box is lopsided on
    purpose, so that the mean of the data, and with it GD's early direction, is far from ŵ. Returns
    x [n, 2], y [n] (float64)."""
    check_choice("support", support, SUPPORT)
    sv, ysv = (torch.tensor(v, dtype=torch.float64) for v in SUPPORT[support])
    n = check_int("n", n, len(sv) + 2, 10**6)
    gap = check_float("gap", gap, 0, 1.5, lo_open=True)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    k, found = n - len(sv), []
    while sum(len(c) for c in found) < k:
        c = torch.rand(4 * k, 2, generator=g, dtype=torch.float64) * torch.tensor([4.0, 2.0], dtype=torch.float64)
        found.append(c[c.sum(1) / 2 >= 1 + gap])
    sign = torch.ones(k, dtype=torch.float64)
    sign[k // 2:] = -1
    return torch.cat([sv, torch.cat(found)[:k] * sign[:, None]]), torch.cat([ysv, sign])


def predicted_angle(z: torch.Tensor, svm: dict, lr: float, steps: torch.Tensor) -> torch.Tensor:
    """Soudry et al.'s asymptotics w(t) ≈ ŵ log t + w̃, where (for the mean loss, step ``lr``) each support
    vector has zₙ·w̃ = log(lr / (n αₙ)); needs exactly two support vectors spanning the plane. Returns the
    angle (degrees) between ŵ log t + w̃ and ŵ at ``steps`` [T] (t ≥ 2)."""
    # count the points on the margin, not the α > 0: with repeated support vectors the dual splits α arbitrarily
    sv = ((z.to(torch.float64) @ svm["w"] - 1).abs() < 1e-9).nonzero()[:, 0]
    if len(sv) != 2:
        raise ValueError(f"predicted_angle needs exactly two support vectors, found {len(sv)}")
    Z = z[sv].to(torch.float64)
    w_tilde = torch.linalg.solve(Z, torch.log(lr / (len(z) * svm["alpha"][sv])))
    w = svm["w"][None] * torch.log(steps.to(torch.float64))[:, None] + w_tilde
    return _angle(w, svm["w"])


def _angle(w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between each row of w [T, 2] and u [2] (NaN where w = 0)."""
    cross = (w[:, 0] * u[1] - w[:, 1] * u[0]).abs()
    out = torch.rad2deg(torch.atan2(cross, w @ u))
    out[w.norm(dim=1) == 0] = float("nan")
    return out


def separable_2d(z: torch.Tensor) -> bool:
    """Whether the vectors z [n, 2] lie strictly inside one open half-plane (some w has z·w > 0 for all):
    their directions, sorted by angle, leave a circular gap wider than π."""
    ang = torch.atan2(z[:, 1], z[:, 0]).sort().values
    gaps = torch.cat([ang.diff(), (ang[:1] + 2 * math.pi) - ang[-1:]])
    return bool(gaps.max() > math.pi + 1e-12)


def hard_margin_svm(x: torch.Tensor, y: torch.Tensor, tol: float = 1e-10, max_iter: int = 20_000) -> dict:
    """The hard-margin SVM through the origin, min ‖w‖² s.t. yᵢ xᵢ·w ≥ 1, by coordinate ascent on its dual
    max Σα − ½‖Σ αᵢ yᵢ xᵢ‖², α ≥ 0 (exact line search per coordinate).

    x: [n, d], y: [n] in {−1, +1}. Returns ``w`` [d] (float64), ``alpha`` [n], ``margin`` = 1/‖w‖ (the
    geometric margin), ``iterations`` (sweeps). Raises ValueError if the data are not linearly separable
    through the origin (the dual is then unbounded).
    """
    z = (y[:, None] * x).to(torch.float64)
    if not ((y == 1) | (y == -1)).all():
        raise ValueError("y must hold labels in {-1, +1}")
    n = len(z)
    max_iter = check_int("max_iter", max_iter, 1, 10**7)
    sq = (z * z).sum(1)
    if (sq == 0).any():
        raise ValueError("x must not contain the origin (its margin is 0 for every w)")
    # Σα = ‖w‖² = 1/margin²: past this bound the margin is below 1e-4 of the shortest input, i.e. none
    bound = 1e8 / float(sq.min())
    zl, sql = z.tolist(), sq.tolist()
    a, wl = [0.0] * n, [0.0] * z.shape[1]
    change = math.inf
    sweeps = 0
    for sweeps in range(1, max_iter + 1):  # noqa: B007 (reported below)
        change = 0.0
        for i in range(n):  # plain Python: n is small and each update depends on the last
            zi = zl[i]
            step = max(-a[i], (1.0 - sum(p * q for p, q in zip(zi, wl, strict=True))) / sql[i])
            if step != 0.0:
                a[i] += step
                wl = [p + step * q for p, q in zip(wl, zi, strict=True)]
                change = max(change, abs(step) * sql[i])
        if sum(a) > bound:
            raise ValueError("the data are not linearly separable through the origin (the SVM dual is unbounded)")
        if change < tol:
            break
    if change >= tol:
        raise ValueError(f"the SVM dual did not converge in max_iter={max_iter} sweeps: the data are not linearly "
                         "separable through the origin, or barely")
    alpha, w = torch.tensor(a, dtype=torch.float64), torch.tensor(wl, dtype=torch.float64)
    w = alpha @ z  # recompute from α to wash out accumulated rounding
    return {"w": w, "alpha": alpha, "margin": float(1.0 / w.norm()), "iterations": sweeps}


def logistic_gd(z: torch.Tensor, lr: float, steps: int, records: int) -> dict:
    """Full-batch GD on the mean logistic loss (1/n) Σ log(1 + exp(−zᵢ·w)) from w = 0, for R problems at once.

    z: [R, n, d] the label-signed inputs yᵢxᵢ of each problem. Runs in float64 numpy on the CPU: at this
    size each step costs microseconds and the cost is per-call overhead, which numpy keeps lowest.
    Returns ``steps`` [T] (log-spaced, with 0), ``w`` [T, R, d], ``loss`` [T, R], ``grad_norm`` [T, R].
    """
    lr = check_float("lr", lr, 0, 1e6, lo_open=True)
    steps = check_int("steps", steps, 1, 10**8)
    zs = z.detach().cpu().to(torch.float64).numpy()
    zt = np.ascontiguousarray(zs.transpose(0, 2, 1))
    R, n, d = zs.shape
    w = np.zeros((R, d, 1))
    at = log_steps(steps, records)
    ws, losses, gnorms = [], [], []
    t = 0
    for target in at:
        for _ in range(target - t):
            s = 1.0 / (1.0 + np.exp(zs @ w))  # σ(−z·w), [R, n, 1]
            w += (lr / n) * (zt @ s)
        t = target
        m = (zs @ w)[..., 0]
        ws.append(w[..., 0].copy())
        losses.append(np.logaddexp(0.0, -m).mean(1))
        gnorms.append(np.linalg.norm((zt @ (1.0 / (1.0 + np.exp(m))[..., None]))[..., 0] / n, axis=1))
    return {"steps": torch.tensor(at), "w": torch.from_numpy(np.stack(ws)),
            "loss": torch.from_numpy(np.stack(losses)), "grad_norm": torch.from_numpy(np.stack(gnorms))}


def logistic_minimizer(z: torch.Tensor, iters: int = 100) -> torch.Tensor:
    """The minimiser of the mean logistic loss over w for non-separable z [n, d], by damped Newton's method
    (an independent reference for where GD should end up). Returns w [d] float64."""
    z = z.to(torch.float64)
    w = torch.zeros(z.shape[1], dtype=torch.float64)
    for _ in range(check_int("iters", iters, 1, 10**4)):
        m = z @ w
        s = torch.sigmoid(-m)
        grad = -(z * s[:, None]).mean(0)
        hess = (z.T * (s * (1 - s))) @ z / len(z)
        step = torch.linalg.solve(hess + 1e-12 * torch.eye(len(w), dtype=w.dtype), grad)
        loss = torch.nn.functional.softplus(-m).mean()
        tau = 1.0
        while torch.nn.functional.softplus(-(z @ (w - tau * step))).mean() > loss and tau > 1e-8:
            tau /= 2
        w = w - tau * step
        if grad.norm() < 1e-14:
            break
    return w


def max_margin(p: MaxMarginParams) -> dict:
    """GD on the symmetric and the tilted separable sets, and on the symmetric set with ``n_flip`` labels
    flipped, as one batched run, against the SVM direction and against the finite minimiser.

    Returns ``x`` [n, 2], ``y`` [n] (symmetric set), ``x_tilted``, ``y_tilted``, ``y_flipped`` [n], ``svm`` and
    ``svm_tilted`` (see :func:`hard_margin_svm`), ``steps`` [T], ``w`` [T, 3, 2] (problems: symmetric, tilted,
    non-separable), ``angle_deg`` [T, 2] (GD vs the SVM direction, separable problems),
    ``predicted_angle_deg`` [T] (tilted set, from the asymptotics; NaN at t < 2), ``margin_ratio`` [T, 2] (GD's
    normalised margin min zᵢ·w/‖w‖ over the SVM margin), ``norm`` [T, 3], ``w_star`` [2] (the non-separable
    minimiser by Newton's method), ``dist_to_star`` [T], ``loss`` [T, 3].
    """
    check_int("check_at", p.check_at, 1, p.steps)
    x, y = separable_points(p.n, p.gap, "symmetric", p.seed)
    xt, yt = separable_points(p.n, p.gap, "tilted", p.seed)
    n_flip = check_int("n_flip", p.n_flip, 1, p.n - 4)
    svm, svm_t = hard_margin_svm(x, y), hard_margin_svm(xt, yt)
    # flip random non-support points of both classes, alternating, so no line through 0 separates them
    g = torch.Generator().manual_seed(p.seed + 1)
    rest = 4 + torch.randperm(p.n - 4, generator=g)
    pos, neg = rest[y[rest] > 0], rest[y[rest] < 0]
    picks = torch.stack([pos[:n_flip], neg[:n_flip]], 1).flatten()[:n_flip]
    y_flip = y.clone()
    y_flip[picks] = -y_flip[picks]
    if separable_2d(y_flip[:, None] * x):
        raise ValueError(f"n_flip={n_flip} left the data separable; flip more labels")
    z = torch.stack([y[:, None] * x, yt[:, None] * xt, y_flip[:, None] * x])
    gd = logistic_gd(z, p.lr, p.steps, p.records)
    ws = gd["w"]
    angle = torch.stack([_angle(ws[:, 0], svm["w"]), _angle(ws[:, 1], svm_t["w"])], 1)
    margins = torch.stack([(torch.einsum("tj,nj->tn", ws[:, i], z[i]).min(1).values
                            / ws[:, i].norm(dim=1) / s["margin"]) for i, s in enumerate((svm, svm_t))], 1)
    steps = gd["steps"]
    pred = torch.full((len(steps),), float("nan"), dtype=torch.float64)
    late = steps >= 2
    pred[late] = predicted_angle(z[1], svm_t, p.lr, steps[late])
    w_star = logistic_minimizer(z[2])
    return {"x": x, "y": y, "x_tilted": xt, "y_tilted": yt, "y_flipped": y_flip, "svm": svm, "svm_tilted": svm_t,
            "steps": steps, "w": ws, "angle_deg": angle, "predicted_angle_deg": pred, "margin_ratio": margins,
            "norm": ws.norm(dim=2), "w_star": w_star, "dist_to_star": (ws[:, 2] - w_star).norm(dim=1),
            "loss": gd["loss"], "grad_norm": gd["grad_norm"], "params": asdict(p)}


# ---------------------------------------------------------------- 2–3. wide two-layer nets


@contextmanager
def _one_cpu_thread(device: torch.device):
    """Run a training loop's CPU products on one thread. Small products gain nothing from a second thread,
    and on a busy machine waiting for a descheduled worker made a 30×30 batched product ~85× slower and the
    two-layer net's products ~3× slower (measured); one thread keeps the run time predictable."""
    if device.type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass(frozen=True)
class TwoLayerParams:
    """Chizat & Bach's (2020) setup: a k×k grid of clusters with random ±1 labels in the plane, embedded in
    d dimensions with uniform noise coordinates (plus a constant bias coordinate), fitted by a two-layer
    ReLU net f(x) = (1/m) Σⱼ bⱼ relu(aⱼ·x) with full-batch GD on the logistic loss.

    The learning rate is η·m (the mean-field scaling, so each neuron moves O(η) per step); ``eta_output``
    (output layer only, a convex problem) is larger because that problem is slow.
    """

    k: int = 3
    sigma: float = 0.05
    n: int = 256
    n_test: int = 2000
    dims: tuple = (5, 10, 20)
    width: int = 512
    steps: int = 1000
    steps_output: int = 20_000
    eta_both: float = 1.0
    eta_output: float = 50.0
    seeds: tuple = (0, 1, 2)
    records: int = 20
    grid: int = 31

    @classmethod
    def quick(cls) -> TwoLayerParams:
        return cls()

    @classmethod
    def full(cls) -> TwoLayerParams:
        return cls(dims=(5, 10, 15, 20, 30), width=1000, steps=4000, steps_output=40_000, seeds=(0, 1, 2, 3, 4),
                   n_test=5000, records=30, grid=41)

    @classmethod
    def preset(cls, mode: str) -> TwoLayerParams:
        return cls.quick() if mode == "quick" else cls.full()


def cluster_data(k: int, n: int, n_test: int, d: int, sigma: float, seed: int) -> data.Dataset:
    """:func:`widgets.core.data.clusters` split into train and test, with a constant 1 appended as a bias
    coordinate: x [·, d + 1] float32, y [·] float32 in {−1, +1}."""
    x, y, _ = data.clusters(k=k, n=n + n_test, d=d, sigma=sigma, seed=seed)
    x = torch.cat([x, torch.ones(len(x), 1)], 1)
    return data.Dataset(x[:n], y[:n], x[n:], y[n:])


def plane_grid(size: int, lim: float = 0.75) -> torch.Tensor:
    """A size×size grid over [−lim, lim]² in the first two coordinates, row-major (x₂ slow, x₁ fast): [size², 2]."""
    size = check_int("grid", size, 2, 1000)
    t = torch.linspace(-lim, lim, size)
    g2, g1 = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([g1.flatten(), g2.flatten()], 1)


def embed_plane(points: torch.Tensor, d: int, d_max: int) -> torch.Tensor:
    """Points of the plane [G, 2] as inputs of a d-dimensional member: noise coordinates 0 (their mean), bias
    coordinate 1, zero padding up to ``d_max`` + 1 columns. Returns [G, d_max + 1]."""
    out = torch.zeros(len(points), d_max + 1)
    out[:, :2] = points
    out[:, d] = 1.0
    return out


def init_two_layer(seeds, d_in, width: int, d_max: int, device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
    """First-layer weights A [K, d_max, m] with aⱼ ~ N(0, I/d_in) on each member's own d_in rows (zeros
    below), output weights b [K, m] ~ N(0, 1). Members with the same seed and d_in start identical."""
    dev = get_device(device)
    dt = get_dtype(dev, dtype)
    A = torch.zeros(len(seeds), d_max, width, dtype=torch.float64)
    b = torch.zeros(len(seeds), width, dtype=torch.float64)
    for i, (s, d) in enumerate(zip(seeds, d_in, strict=True)):
        g = torch.Generator().manual_seed(int(s))
        b[i] = torch.randn(width, generator=g, dtype=torch.float64)
        # only the member's own rows are drawn, so padding (d_max) does not change its init
        A[i, :d] = torch.randn(d, width, generator=g, dtype=torch.float64) / math.sqrt(d)
    return A.to(dev, dt), b.to(dev, dt)


def two_layer_forward(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f(x) = (1/m) Σⱼ bⱼ relu(aⱼ·x). A [K, D, m], b [K, m], x [K, n, D] → (f [K, n], hidden pre-activations
    [K, n, m])."""
    pre = torch.bmm(x, A)
    # a broadcast multiply-and-sum: on the CPU it beats bmm's matrix-vector path several times over
    return (pre.clamp_min(0) * b.unsqueeze(1)).sum(-1) / A.shape[-1], pre


def two_layer_grads(A, b, x, y, alpha, f0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of each member's mean logistic loss of F = α(f − f₀) (f₀ = 0 for the plain net).

    Returns (loss [K], ∂L/∂A [K, D, m], ∂L/∂b [K, m]). Written by hand: it is the inner loop of every sweep.
    """
    f, pre = two_layer_forward(A, b, x)
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
    m = A.shape[-1]
    pre = torch.bmm(x, A)
    h = pre.clamp_min(0)
    on = (pre > 0).to(pre.dtype) * b.unsqueeze(1)
    gram = torch.bmm(x, x.transpose(1, 2))
    return (torch.bmm(h, h.transpose(1, 2)) + torch.bmm(on, on.transpose(1, 2)) * gram) / m**2


def train_two_layer(x, y, x_test, y_test, *, seeds, d_in, width: int, steps: int, lr_first, lr_out,
                    alpha=None, records: int = 20, grid: torch.Tensor | None = None, grid_every: bool = False,
                    kernel_points: int = 0, device=None, dtype=None) -> dict:
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
    dev = get_device(device)
    dt = get_dtype(dev, dtype)
    K = len(seeds)
    width = check_int("width", width, 1, 10**6)
    steps = check_int("steps", steps, 0, 10**8)
    lr1 = torch.tensor([check_float("lr_first", v, 0, 1e8) for v in lr_first], device=dev, dtype=dt)
    lr2 = torch.tensor([check_float("lr_out", v, 0, 1e8) for v in lr_out], device=dev, dtype=dt)
    centred = alpha is not None
    al = torch.tensor([check_float("alpha", v, 0, 1e8, lo_open=True) for v in alpha] if centred else [1.0] * K,
                      device=dev, dtype=dt)
    if not (len(lr1) == len(lr2) == len(al) == len(d_in) == K == len(x)):
        raise ValueError(f"seeds, d_in, lr_first, lr_out, alpha and x must all have one entry per member ({K})")
    x, y, x_test, y_test = (t.to(dev, dt) for t in (x, y, x_test, y_test))
    A, b = init_two_layer(seeds, d_in, width, x.shape[-1], dev, dt)
    A0, b0 = A.clone(), b.clone()
    zero = lambda t: torch.zeros(t.shape[:2], device=dev, dtype=dt)  # noqa: E731
    f0_train = two_layer_forward(A, b, x)[0] if centred else zero(x)
    f0_test = two_layer_forward(A, b, x_test)[0] if centred else zero(x_test)
    grid = grid.to(dev, dt) if grid is not None else None
    f0_grid = (two_layer_forward(A, b, grid)[0] if centred else zero(grid)) if grid is not None else None
    kp = check_int("kernel_points", kernel_points, 0, x.shape[1])
    K0 = tangent_kernel(A, b, x[:, :kp]) if kp else None
    both = lr1 > 0

    at = log_steps(steps, records)
    log = {k: [] for k in ("train_loss", "train_err", "test_err", "margin", "grid")}

    def record():
        with torch.no_grad():
            F = al[:, None] * (two_layer_forward(A, b, x)[0] - f0_train)
            Ft = al[:, None] * (two_layer_forward(A, b, x_test)[0] - f0_test)
            log["train_loss"].append(torch.nn.functional.softplus(-y * F).mean(1).cpu())
            log["train_err"].append((torch.sign(F) != y).to(dt).mean(1).cpu())
            log["test_err"].append((torch.sign(Ft) != y_test).to(dt).mean(1).cpu())
            sq = (A * A).sum((1, 2)) + (b * b).sum(1)
            norm = torch.where(both, sq / (2 * width), (b * b).sum(1).sqrt() / math.sqrt(width))
            log["margin"].append(((y * F).min(1).values / (al * norm)).cpu())
            if grid is not None and (grid_every or t == steps):
                log["grid"].append((al[:, None] * (two_layer_forward(A, b, grid)[0] - f0_grid)).cpu())

    t0 = time.perf_counter()
    t = 0
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
    with torch.no_grad(), _one_cpu_thread(dev):
        for target in at:
            for _ in range(target - t):
                if frozen:
                    g = -(y * torch.sigmoid(-y * F))
                    S += g
                    F -= (kern * g.unsqueeze(1)).sum(-1)
                else:
                    _, gA, gb = two_layer_grads(A, b, x, y, al, f0_train)
                    A.sub_(lr1[:, None, None] * gA)
                    b.sub_(lr2[:, None] * gb)
            t = target
            if frozen:
                b = b0 - (al * lr2 / (n * width))[:, None] * torch.bmm(h.transpose(1, 2), S.unsqueeze(-1)).squeeze(-1)
            record()
    out = {k: torch.stack(v) for k, v in log.items() if k != "grid"}
    if grid is not None:
        out["grid_out"] = torch.stack(log["grid"]) if grid_every else log["grid"][-1]
    out["steps"] = torch.tensor(at)
    dtheta = ((A - A0) ** 2).sum((1, 2)) + ((b - b0) ** 2).sum(1)
    out["weight_change"] = (dtheta / ((A0**2).sum((1, 2)) + (b0**2).sum(1))).sqrt().cpu()
    if kp:
        KT = tangent_kernel(A, b, x[:, :kp])
        out["kernel_change"] = ((KT - K0).norm(dim=(1, 2)) / K0.norm(dim=(1, 2))).cpu()
    out["seconds"] = time.perf_counter() - t0
    return out


def two_layer_sweep(p: TwoLayerParams, device=None) -> dict:
    """Output layer only vs both layers, for every d in ``p.dims`` and every seed, as one batched family.

    Members are ordered (mode, d, seed) with mode 0 = output only, 1 = both layers. Returns ``modes``
    [2] names, ``dims`` [D], ``seeds`` [S], ``test_err`` [2, D, S] (final), ``train_err`` [2, D, S],
    ``curves`` (the trainer's records), ``grid`` [G, 2] plane points and ``grid_out`` [2, D, G] (seed 0's
    outputs there, noise coordinates at 0), and the data of seed 0 in the plane: ``plane_x`` [n, 2],
    ``plane_y`` [n].
    """
    check_int("k", p.k, 2, 20)
    if not p.dims or min(p.dims) < 2:
        raise ValueError(f"dims must be a non-empty list of dimensions ≥ 2, got {p.dims}")
    check_float("eta_both", p.eta_both, 0, 1e6, lo_open=True)
    check_float("eta_output", p.eta_output, 0, 1e6, lo_open=True)
    dmax = max(p.dims)
    sets = {(d, s): cluster_data(p.k, p.n, p.n_test, d, p.sigma, s) for d in p.dims for s in p.seeds}
    pad = lambda t: torch.nn.functional.pad(t, (0, dmax + 1 - t.shape[1]))  # noqa: E731
    members = [(mode, d, s) for mode in (0, 1) for d in p.dims for s in p.seeds]
    x = torch.stack([pad(sets[d, s].x_train) for _, d, s in members])
    x_test = torch.stack([pad(sets[d, s].x_test) for _, d, s in members])
    y = torch.stack([sets[d, s].y_train for _, d, s in members])
    y_test = torch.stack([sets[d, s].y_test for _, d, s in members])
    plane = plane_grid(p.grid)
    grid = torch.stack([embed_plane(plane, d, dmax) for _, d, _ in members])
    m, half = p.width, len(members) // 2
    runs = []
    # output-only first: a convex problem on fixed features, cheap per step, so it gets more steps
    for mode, sl, steps, eta in ((0, slice(0, half), p.steps_output, p.eta_output),
                                 (1, slice(half, None), p.steps, p.eta_both)):
        runs.append(train_two_layer(x[sl], y[sl], x_test[sl], y_test[sl], seeds=[s for *_, s in members[sl]],
                                    d_in=[d + 1 for _, d, _ in members[sl]], width=m, steps=steps,
                                    lr_first=[eta * m * mode] * half, lr_out=[eta * m] * half, records=p.records,
                                    grid=grid[sl], device=device))
    shape = (len(p.dims), len(p.seeds))
    first = sets[p.dims[0], p.seeds[0]]
    stack = lambda key: torch.stack([r[key][-1].view(shape) for r in runs])  # noqa: E731
    return {"modes": ["output layer only", "both layers"], "dims": torch.tensor(p.dims),
            "seeds": torch.tensor(p.seeds), "test_err": stack("test_err"), "train_err": stack("train_err"),
            "margin": stack("margin"), "curves": runs, "grid": plane,
            "grid_out": torch.stack([r["grid_out"].view(shape + (-1,))[:, 0] for r in runs]),
            "plane_x": first.x_train[:, :2], "plane_y": first.y_train,
            "seconds": sum(r["seconds"] for r in runs), "params": asdict(p)}


def explore_two_layer(p: TwoLayerParams, d: int, alpha: float = 1.0, both: bool = True, seed: int = 0,
                      device=None) -> dict:
    """One net for the live explorer: the clusters of ``p`` in ``d`` dimensions, F = α(f − f₀) (plain f at
    α = 1), both layers or the output layer only, with the outputs on the plane recorded at every record.

    Returns ``x`` [n, 2], ``y`` [n] (training points in the plane), ``grid`` [G, 2], ``grid_out`` [T, G],
    ``steps`` [T], ``margin`` [T], ``test_err`` (final), ``what`` (a caption).
    """
    d = check_int("d", d, 2, 10**4)
    alpha = check_float("alpha", alpha, 0, 1e6, lo_open=True)
    ds = cluster_data(p.k, p.n, p.n_test, d, p.sigma, seed)
    plane = plane_grid(p.grid)
    m = p.width
    lr = (p.eta_both if both else p.eta_output) * m / alpha**2
    res = train_two_layer(ds.x_train[None], ds.y_train[None], ds.x_test[None], ds.y_test[None], seeds=[seed],
                          d_in=[d + 1], width=m, steps=p.steps, lr_first=[lr if both else 0.0], lr_out=[lr],
                          alpha=None if alpha == 1 else [alpha], records=p.records,
                          grid=embed_plane(plane, d, d)[None], grid_every=True, device=device)
    what = f"{'both layers' if both else 'output layer only'}, d = {d}, m = {m}, α = {alpha:g}"
    return {"x": ds.x_train[:, :2], "y": ds.y_train, "grid": plane, "grid_out": res["grid_out"][:, 0],
            "steps": res["steps"], "margin": res["margin"][:, 0], "test_err": float(res["test_err"][-1, 0]),
            "what": what}


@dataclass(frozen=True)
class LazyParams:
    """The two-layer net of :class:`TwoLayerParams` trained as F = α(f − f₀) with both layers at learning
    rate η·m/α² (so F moves at the same speed for every α, to first order), on the clusters in ``d``
    dimensions."""

    alphas: tuple = (1.0, 4.0, 16.0, 64.0, 256.0)
    d: int = 10
    k: int = 3
    sigma: float = 0.05
    n: int = 256
    n_test: int = 2000
    width: int = 256
    steps: int = 1000
    eta: float = 1.0
    seeds: tuple = (0, 1)
    kernel_points: int = 128
    records: int = 20

    @classmethod
    def quick(cls) -> LazyParams:
        return cls()

    @classmethod
    def full(cls) -> LazyParams:
        return cls(alphas=(1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0), width=1000,
                   steps=4000, seeds=(0, 1, 2, 3, 4), n_test=5000, records=30)

    @classmethod
    def preset(cls, mode: str) -> LazyParams:
        return cls.quick() if mode == "quick" else cls.full()


def lazy_sweep(p: LazyParams, device=None) -> dict:
    """Rich to lazy in one knob. Members are ordered (α, seed). Returns ``alphas`` [A], ``weight_change``,
    ``kernel_change``, ``test_err``, ``train_loss`` [A, S] (final), and the trainer's records as ``curves``."""
    if not p.alphas:
        raise ValueError("alphas must name at least one output scale")
    alphas = [check_float("alphas[i]", a, 0, 1e8, lo_open=True) for a in p.alphas]
    sets = {s: cluster_data(p.k, p.n, p.n_test, p.d, p.sigma, s) for s in p.seeds}
    members = [(a, s) for a in alphas for s in p.seeds]
    m = p.width
    lrs = [p.eta * m / a**2 for a, _ in members]
    res = train_two_layer(torch.stack([sets[s].x_train for _, s in members]),
                          torch.stack([sets[s].y_train for _, s in members]),
                          torch.stack([sets[s].x_test for _, s in members]),
                          torch.stack([sets[s].y_test for _, s in members]),
                          seeds=[s for _, s in members], d_in=[p.d + 1] * len(members), width=m, steps=p.steps,
                          lr_first=lrs, lr_out=lrs, alpha=[a for a, _ in members], records=p.records,
                          kernel_points=min(p.kernel_points, p.n), device=device)
    shape = (len(alphas), len(p.seeds))
    return {"alphas": torch.tensor(alphas), "seeds": torch.tensor(p.seeds),
            "weight_change": res["weight_change"].view(shape), "kernel_change": res["kernel_change"].view(shape),
            "test_err": res["test_err"][-1].view(shape), "train_loss": res["train_loss"][-1].view(shape),
            "train_err": res["train_err"][-1].view(shape), "curves": res, "seconds": res["seconds"],
            "params": asdict(p)}


# ---------------------------------------------------------------- 4. deep matrix factorisation


@dataclass(frozen=True)
class MatrixParams:
    """Completion of a ``size``×``size`` rank-``rank`` matrix (‖M‖_F = 1) from a fraction ``observed`` of its
    entries, by GD on ½‖P_Ω(W_N ⋯ W_1 − M)‖²_F with N ∈ ``depths`` factors, each initialised as
    init·N(0, 1)/√size. Masks are redrawn until every row and column has ≥ ``min_seen`` observed entries."""

    size: int = 30
    rank: int = 2
    observed: float = 0.3
    depths: tuple = (1, 2, 3)
    inits: tuple = (1.0, 0.1, 0.01)
    seeds: tuple = (0, 1, 2)
    lr: float = 0.5
    steps: int = 10_000
    records: int = 30
    min_seen: int = 3
    nuclear_iters: int = 2000

    @classmethod
    def quick(cls) -> MatrixParams:
        return cls()

    @classmethod
    def full(cls) -> MatrixParams:
        return cls(inits=(1.0, 0.3, 0.1, 0.03, 0.01), seeds=(0, 1, 2, 3, 4), steps=30_000, records=50,
                   nuclear_iters=5000)

    @classmethod
    def preset(cls, mode: str) -> MatrixParams:
        return cls.quick() if mode == "quick" else cls.full()


def low_rank_problem(size: int, rank: int, observed: float, seed: int, min_seen: int = 0) -> tuple:
    """M = U Vᵀ / ‖U Vᵀ‖_F with Gaussian U, V [size, rank], and a 0/1 mask with each entry observed with
    probability ``observed`` (redrawn until every row and column has ≥ ``min_seen`` entries). Returns
    (M, mask), both [size, size] float64."""
    size = check_int("size", size, 2, 10**4)
    rank = check_int("rank", rank, 1, size)
    observed = check_float("observed", observed, 0, 1, lo_open=True)
    min_seen = check_int("min_seen", min_seen, 0, size)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    M = torch.randn(size, rank, generator=g, dtype=torch.float64) @ torch.randn(rank, size, generator=g,
                                                                                dtype=torch.float64)
    M /= M.norm()
    for _ in range(1000):
        mask = (torch.rand(size, size, generator=g, dtype=torch.float64) < observed).to(torch.float64)
        if mask.sum(0).min() >= min_seen and mask.sum(1).min() >= min_seen:
            return M, mask
    raise ValueError(f"min_seen={min_seen} is not reachable with observed={observed} at size {size}")


def deep_factorization_gd(M, mask, *, depth, init, seeds, lr: float, steps: int, records: int, device=None,
                          dtype=None) -> dict:
    """GD on ½‖P_Ω(W_N ⋯ W_1 − M)‖²_F for K members at once (one per entry of ``depth``, ``init``, ``seeds``).

    M, mask: [K, s, s] (each member its own problem). Every member holds three factors; a member of depth
    N < 3 keeps the last 3 − N at the identity and never updates them, so all depths run in one bmm chain.
    Returns ``steps`` [T], ``singular_values`` [T, K, s], ``train_err``/``test_err`` [T, K] (relative
    Frobenius error on observed/unobserved entries), ``W`` [K, s, s] (the final product), ``seconds``.
    """
    dev = get_device(device)
    dt = get_dtype(dev, dtype)
    K, s, _ = M.shape
    lr = check_float("lr", lr, 0, 1e4, lo_open=True)
    steps = check_int("steps", steps, 0, 10**8)
    depth = [check_int("depth", d, 1, 3) for d in depth]
    if not (len(depth) == len(init) == len(seeds) == K):
        raise ValueError(f"depth, init and seeds must have one entry per member ({K})")
    eye = torch.eye(s, dtype=torch.float64)
    Ws = torch.zeros(3, K, s, s, dtype=torch.float64)
    for k, (d, c, sd) in enumerate(zip(depth, init, seeds, strict=True)):
        g = torch.Generator().manual_seed(int(sd))
        c = check_float("init", c, 0, 1e3, lo_open=True)
        for i in range(3):
            draw = torch.randn(s, s, generator=g, dtype=torch.float64) * (c / math.sqrt(s))
            Ws[i, k] = draw if i < d else eye
    W1, W2, W3 = (w.to(dev, dt) for w in Ws)
    train = torch.tensor([[1.0 if i < d else 0.0 for i in range(3)] for d in depth], device=dev, dtype=dt)
    t1, t2, t3 = (lr * train[:, i, None, None] for i in range(3))
    M, mask = M.to(dev, dt), mask.to(dev, dt)
    unseen = 1 - mask
    m_seen, m_unseen = (M * mask).norm(dim=(1, 2)), (M * unseen).norm(dim=(1, 2))
    at = log_steps(steps, records)
    log = {k: [] for k in ("singular_values", "train_err", "test_err")}
    t0 = time.perf_counter()
    t = 0
    with _one_cpu_thread(dev):
        for target in at:
            for _ in range(target - t):
                W21 = torch.bmm(W2, W1)
                R = (torch.bmm(W3, W21) - M) * mask
                W32 = torch.bmm(W3, W2)
                g1 = torch.bmm(W32.transpose(1, 2), R)
                g2 = torch.bmm(torch.bmm(W3.transpose(1, 2), R), W1.transpose(1, 2))
                g3 = torch.bmm(R, W21.transpose(1, 2))
                W1 = W1 - t1 * g1
                W2 = W2 - t2 * g2
                W3 = W3 - t3 * g3
            t = target
            W = torch.bmm(W3, torch.bmm(W2, W1))
            log["singular_values"].append(torch.linalg.svdvals(W.double()).cpu())
            log["train_err"].append(((W - M) * mask).norm(dim=(1, 2)).div(m_seen).cpu())
            log["test_err"].append(((W - M) * unseen).norm(dim=(1, 2)).div(m_unseen).cpu())
    out = {k: torch.stack(v) for k, v in log.items()}
    out.update(steps=torch.tensor(at), W=torch.bmm(W3, torch.bmm(W2, W1)).cpu(), seconds=time.perf_counter() - t0)
    return out


def min_nuclear_completion(M: torch.Tensor, mask: torch.Tensor, iters: int = 3000,
                           lam_final: float = 1e-6) -> torch.Tensor:
    """The minimum nuclear norm completion min ‖X‖_* s.t. X = M on the mask, approximately, by Soft-Impute
    (Mazumder, Hastie & Tibshirani 2010) on λ‖X‖_* + ½‖P_Ω(X − M)‖²_F with λ decreasing geometrically to
    ``lam_final``·‖M_Ω‖ (warm-started). M, mask: [B, s, s] → X [B, s, s] (float64)."""
    # numpy's SVD on the CPU: torch's batched float64 SVD can be many times slower with several threads, and
    # these matrices are small
    M, mask = M.detach().cpu().to(torch.float64).numpy(), mask.detach().cpu().to(torch.float64).numpy()
    iters = check_int("iters", iters, 10, 10**6)
    X = np.zeros_like(M)
    scale = np.linalg.norm(M * mask, axis=(1, 2))[:, None]
    lam0 = np.linalg.norm(M * mask, ord=2, axis=(1, 2))[:, None] / 2
    for i in range(iters):
        lam = lam0 * (lam_final * scale / lam0) ** min(1.0, i / (0.8 * iters))
        U, S, Vh = np.linalg.svd(mask * M + (1 - mask) * X, full_matrices=False)
        X = (U * np.maximum(S - lam, 0)[:, None, :]) @ Vh
    return torch.from_numpy(X)


def matrix_sweep(p: MatrixParams, device=None) -> dict:
    """Every (depth, init, seed) as one batched family, plus the minimum nuclear norm completion per seed.

    Members are ordered (depth, init, seed). Returns ``depths`` [D], ``inits`` [I], ``test_err``,
    ``train_err``, ``eff_rank`` [D, I, S] (final), ``singular_values`` [T, D, I, S, size], ``steps`` [T],
    ``nuclear_test_err``, ``nuclear_eff_rank``, ``nuclear_norm`` [S] (the min nuclear norm completion),
    ``gd_nuclear_norm`` [D, I, S], ``true_eff_rank`` [S].
    """
    if not p.depths or not p.inits or not p.seeds:
        raise ValueError("depths, inits and seeds must each name at least one value")
    probs = {s: low_rank_problem(p.size, p.rank, p.observed, s, p.min_seen) for s in p.seeds}
    members = [(d, c, s) for d in p.depths for c in p.inits for s in p.seeds]
    Ms = torch.stack([probs[s][0] for *_, s in members])
    masks = torch.stack([probs[s][1] for *_, s in members])
    res = deep_factorization_gd(Ms, masks, depth=[d for d, *_ in members], init=[c for _, c, _ in members],
                                seeds=[s for *_, s in members], lr=p.lr, steps=p.steps, records=p.records,
                                device=device)
    shape = (len(p.depths), len(p.inits), len(p.seeds))
    sv = res["singular_values"]
    M1 = torch.stack([probs[s][0] for s in p.seeds])
    mask1 = torch.stack([probs[s][1] for s in p.seeds])
    X = min_nuclear_completion(M1, mask1, p.nuclear_iters)
    unseen = 1 - mask1
    return {"depths": torch.tensor(p.depths), "inits": torch.tensor(p.inits), "seeds": torch.tensor(p.seeds),
            "steps": res["steps"], "singular_values": sv.view(len(sv), *shape, -1),
            "test_err": res["test_err"][-1].view(shape), "train_err": res["train_err"][-1].view(shape),
            "test_err_curve": res["test_err"].view(-1, *shape), "eff_rank": effective_rank(sv[-1]).view(shape),
            "gd_nuclear_norm": sv[-1].sum(-1).view(shape),
            "nuclear_test_err": ((X - M1) * unseen).norm(dim=(1, 2)) / (M1 * unseen).norm(dim=(1, 2)),
            "nuclear_eff_rank": effective_rank(torch.linalg.svdvals(X)),
            "nuclear_norm": torch.linalg.svdvals(X).sum(-1),
            "nuclear_train_err": ((X - M1) * mask1).norm(dim=(1, 2)) / (M1 * mask1).norm(dim=(1, 2)),
            "true_eff_rank": effective_rank(torch.linalg.svdvals(M1)),
            "seconds": res["seconds"], "params": asdict(p)}
