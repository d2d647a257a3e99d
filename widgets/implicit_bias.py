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

The two-layer net is :mod:`widgets.core.meanfield` (mean-field scaling, gradients by hand); logistic GD and
deep matrix factorisation are solvers of :mod:`widgets.core.solvers`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch

from widgets.core import cost, data
from widgets.core.checks import (
    check_bool,
    check_choice,
    check_float,
    check_floats,
    check_instance,
    check_int,
    check_ints,
    check_memory,
    check_tensor,
)
from widgets.core.meanfield import train_two_layer
from widgets.core.params import Params, experiment
from widgets.core.solvers import (
    deep_factorization_gd,
    hard_margin_svm,
    logistic_gd,
    logistic_minimizer,
    min_nuclear_completion,
)
from widgets.core.stats import effective_rank

# ---------------------------------------------------------------- 1. max margin


@dataclass(frozen=True)
class MaxMarginParams(Params):
    """Logistic regression through the origin on ``n`` separable points in the plane, built like Soudry et
    al.'s (2018) Figure 1: support vectors placed by hand so the SVM solution is known, ŵ = (½, ½) (margin
    √2), plus random points whose margin is at least (1 + ``gap``) times the SVM's.

    ``symmetric``: four support vectors mirrored about ŵ, so both get the same dual weight. ``tilted``: two
    support vectors with unequal dual weights, the generic case. ``n_flip``: labels of the symmetric set
    flipped to make the non-separable contrast. ``check_at``: the step at which the chapter checks the angle.
    """

    FULL: ClassVar[dict] = {"steps": 1_000_000, "records": 80}
    STEPS: ClassVar[tuple] = ("steps", "check_at")

    n: int = 40
    gap: float = 0.5
    lr: float = 1.0
    steps: int = 100_000
    records: int = 60
    n_flip: int = 4
    check_at: int = 100_000
    seed: int = 0

    def check(self) -> None:
        n = check_int("n", self.n, 6, 10**6)  # the four support vectors and both classes of random points
        check_float("gap", self.gap, 0, 1.5, lo_open=True)
        check_float("lr", self.lr, 0, 1e3, lo_open=True)
        steps = check_int("steps", self.steps, 1, 10**7)
        records = check_int("records", self.records, 2, 10**4)
        # after the four support vectors, (n − 4)//2 random points of the smaller class: flips alternate classes
        check_int("n_flip", self.n_flip, 1, (n - 4) // 2)
        check_int("check_at", self.check_at, 1, steps)
        check_int("seed", self.seed, 0)
        check_memory("n × records", 8 * 3 * 2 * (6 * n + 2 * records))  # three problems in float64


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
    angle (degrees) between ŵ log t + w̃ and ŵ at ``steps`` [T] (t ≥ 1; the asymptotics describe large t).

    z: [n, 2] (the points times their labels); ``svm``: :func:`~widgets.core.solvers.hard_margin_svm`'s dict
    for them (``w`` [2], ``alpha`` [n]); ``lr`` > 0."""
    z = check_tensor("z", z, ndim=2, shape="[n, 2]", min_size=1)
    if z.shape[1] != 2:
        raise ValueError(f"z must have shape [n, 2], got {tuple(z.shape)}")
    check_instance("svm", svm, dict, "hard_margin_svm's dict")
    if not {"w", "alpha"} <= svm.keys():
        raise ValueError(f"svm must be hard_margin_svm's dict (with 'w' and 'alpha'), got keys {sorted(svm)}")
    check_tensor("svm['w']", svm["w"], ndim=1, shape="[2]")
    if svm["w"].shape != (2,) or check_tensor("svm['alpha']", svm["alpha"], ndim=1).shape != (len(z),):
        raise ValueError(f"svm must hold w [2] and alpha [{len(z)}] (one dual weight per point of z)")
    lr = check_float("lr", lr, 0, lo_open=True)
    steps = check_tensor("steps", steps, ndim=1, shape="[T]")
    if bool((steps < 1).any()):
        raise ValueError("steps must hold steps t ≥ 1 (the asymptotics take log t)")
    # count the points on the margin, not the α > 0: with repeated support vectors the dual splits α arbitrarily
    sv = ((z.to(torch.float64) @ svm["w"] - 1).abs() < 1e-9).nonzero()[:, 0]
    if len(sv) != 2:
        raise ValueError(f"predicted_angle needs exactly two support vectors, found {len(sv)}")
    Z = z[sv].to(torch.float64)
    if abs(float(torch.linalg.det(Z))) < 1e-12 or not bool((svm["alpha"][sv] > 0).all()):
        raise ValueError("svm's two support vectors must span the plane and have dual weights alpha > 0")
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
    their directions, sorted by angle, leave a circular gap wider than π. A zero vector has z·w = 0 for
    every w, so it is never inside one."""
    z = check_tensor("z", z, ndim=2, shape="[n, 2]", min_size=1)
    if z.shape[1] != 2:
        raise ValueError(f"z must have shape [n, 2], got {tuple(z.shape)}")
    if bool((z == 0).all(1).any()):
        return False
    ang = torch.atan2(z[:, 1], z[:, 0]).sort().values
    gaps = torch.cat([ang.diff(), (ang[:1] + 2 * math.pi) - ang[-1:]])
    return bool(gaps.max() > math.pi + 1e-12)


def _max_margin_cost(p: MaxMarginParams) -> cost.Cost:
    # everything on the CPU in float64 (forced: tiny problems, numpy): GD on the three problems at once, about
    # one CPU operation's time a step (measured: 6 numpy calls); the two SVM duals in plain Python; Newton's
    # method for the non-separable minimiser (at most 100 iterations of ~30 tiny operations)
    rec = cost.records(p.steps, p.records)
    return (cost.Cost(cpu_ops=0.9 * p.steps + 3 * rec + 100 * 30 * cost.TINY_OP)
            + 2 * cost.svm_dual(n=p.n, d=2, sweeps=10))


@cost.model(_max_margin_cost)
@experiment
def max_margin(p: MaxMarginParams, *, device=None, progress: bool = False) -> dict:
    """GD on the symmetric and the tilted separable sets, and on the symmetric set with ``n_flip`` labels
    flipped, as one batched run, against the SVM direction and against the finite minimiser. It runs in
    float64 numpy on the CPU (see :func:`logistic_gd`): ``device`` and ``progress`` are unused.

    Returns ``x`` [n, 2], ``y`` [n] (symmetric set), ``x_tilted``, ``y_tilted``, ``y_flipped`` [n], ``svm`` and
    ``svm_tilted`` (see :func:`hard_margin_svm`), ``steps`` [T], ``w`` [T, 3, 2] (problems: symmetric, tilted,
    non-separable), ``angle_deg`` [T, 2] (GD vs the SVM direction, separable problems),
    ``predicted_angle_deg`` [T] (tilted set, from the asymptotics; NaN at t < 2), ``margin_ratio`` [T, 2] (GD's
    normalised margin min zᵢ·w/‖w‖ over the SVM margin), ``norm`` [T, 3], ``w_star`` [2] (the non-separable
    minimiser by Newton's method), ``dist_to_star`` [T], ``loss`` [T, 3].
    """
    x, y = separable_points(p.n, p.gap, "symmetric", p.seed)
    xt, yt = separable_points(p.n, p.gap, "tilted", p.seed)
    n_flip = int(p.n_flip)
    # flip random non-support points of both classes, alternating, so no line through 0 separates them
    g = torch.Generator().manual_seed(p.seed + 1)
    rest = 4 + torch.randperm(p.n - 4, generator=g)
    pos, neg = rest[y[rest] > 0], rest[y[rest] < 0]
    picks = torch.stack([pos[:n_flip], neg[:n_flip]], 1).flatten()[:n_flip]
    y_flip = y.clone()
    y_flip[picks] = -y_flip[picks]
    if separable_2d(y_flip[:, None] * x):
        raise ValueError(f"n_flip={n_flip} left the data separable; flip more labels")
    svm, svm_t = hard_margin_svm(x, y), hard_margin_svm(xt, yt)
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


@dataclass(frozen=True)
class TwoLayerParams(Params):
    """Chizat & Bach's (2020) setup: a k×k grid of clusters with random ±1 labels in the plane, embedded in
    d dimensions with uniform noise coordinates (plus a constant bias coordinate), fitted by a two-layer
    ReLU net f(x) = (1/m) Σⱼ bⱼ relu(aⱼ·x) with full-batch GD on the logistic loss.

    The learning rate is η·m (the mean-field scaling, so each neuron moves O(η) per step); ``eta_output``
    (output layer only, a convex problem) is larger because that problem is slow.
    """

    FULL: ClassVar[dict] = {"dims": (5, 10, 15, 20, 30), "width": 1000, "steps": 4000, "steps_output": 40_000,
                            "seeds": (0, 1, 2, 3, 4), "n_test": 5000, "records": 30, "grid": 41}
    STEPS: ClassVar[tuple] = ("steps", "steps_output")

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

    def check(self) -> None:
        self._check_common(self.dims, self.seeds)

    def _check_common(self, dims, seeds) -> None:
        """The fields both parameter sets share; ``dims`` and ``seeds``: the nets that train."""
        check_int("k", self.k, 2, 20)
        check_float("sigma", self.sigma, 0, 10)
        n = check_int("n", self.n, 2, 10**6)
        n_test = check_int("n_test", self.n_test, 1, 10**6)
        dims = check_ints("dims", dims, 2, 10**4)
        width = check_int("width", self.width, 1, 10**6)
        check_int("steps", self.steps, 1, 10**7)
        check_int("steps_output", self.steps_output, 1, 10**7)
        # the learning rate is η·m (the mean-field scaling), at most the solver's 1e8
        check_float("eta_both", self.eta_both, 0, 1e8 / width, lo_open=True)
        check_float("eta_output", self.eta_output, 0, 1e8 / width, lo_open=True)
        seeds = check_ints("seeds", seeds, 0)
        records = check_int("records", self.records, 2, 10**4)
        grid = check_int("grid", self.grid, 2, 1000)
        # every member's data, its hidden layer on its train, test and plane points, and the recorded outputs
        K, D, m = 2 * len(dims) * len(seeds), max(dims) + 1, n + n_test + grid * grid
        check_memory("dims × seeds × width × (n + n_test + grid²)",
                     8 * K * (m * D + 4 * m * width + 3 * D * width + records * grid * grid))


@dataclass(frozen=True)
class OneNetParams(TwoLayerParams):
    """One net of :class:`TwoLayerParams` for the live explorer: the clusters in ``d`` dimensions, seed
    ``seed``, trained as F = α(f − f₀) (plain f at ``alpha`` = 1), both layers or (``both`` false) the output
    layer only. ``dims`` and ``seeds`` are not used."""

    d: int = 5
    alpha: float = 1.0
    both: bool = True
    seed: int = 0

    def check(self) -> None:
        d = check_int("d", self.d, 2, 10**4)
        alpha = check_float("alpha", self.alpha, 0, 1e6, lo_open=True)
        check_bool("both", self.both)
        seed = check_int("seed", self.seed, 0)
        check_ints("dims", self.dims, 2, 10**4)  # not used by the one net, but fields all the same
        check_ints("seeds", self.seeds, 0)
        self._check_common((d,), (seed,))
        # the step η·m/α², at most the solver's 1e8
        check_float("eta · width / alpha²", (self.eta_both if self.both else self.eta_output) * self.width / alpha**2,
                    0, 1e8)


def cluster_data(k: int, n: int, n_test: int, d: int, sigma: float, seed: int) -> data.Dataset:
    """:func:`widgets.core.data.clusters` split into train and test, with a constant 1 appended as a bias
    coordinate: x [·, d + 1] float32, y [·] float32 in {−1, +1}."""
    n, n_test = check_int("n", n, 1, 10**7), check_int("n_test", n_test, 1, 10**7)
    x, y, _ = data.clusters(k=k, n=n + n_test, d=d, sigma=sigma, seed=seed)
    x = torch.cat([x, torch.ones(len(x), 1)], 1)
    return data.Dataset(x[:n], y[:n], x[n:], y[n:])


def plane_grid(size: int, lim: float = 0.75) -> torch.Tensor:
    """A size×size grid over [−lim, lim]² in the first two coordinates, row-major (x₂ slow, x₁ fast): [size², 2]."""
    size = check_int("size", size, 2, 1000)
    lim = check_float("lim", lim, 0, 1e6, lo_open=True)
    t = torch.linspace(-lim, lim, size)
    g2, g1 = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([g1.flatten(), g2.flatten()], 1)


def embed_plane(points: torch.Tensor, d: int, d_max: int) -> torch.Tensor:
    """Points of the plane [G, 2] as inputs of a d-dimensional member: noise coordinates 0 (their mean), bias
    coordinate 1, zero padding up to ``d_max`` + 1 columns (2 ≤ d ≤ d_max). Returns [G, d_max + 1]."""
    points = check_tensor("points", points, ndim=2, shape="[G, 2]")
    if points.shape[1] != 2:
        raise ValueError(f"points must have shape [G, 2], got {tuple(points.shape)}")
    d_max = check_int("d_max", d_max, 2, 10**6)
    d = check_int("d", d, 2, d_max)
    check_memory(f"{len(points)} points in {d_max + 1} dimensions", 4 * len(points) * (d_max + 1))
    out = torch.zeros(len(points), d_max + 1)
    out[:, :2] = points
    out[:, d] = 1.0
    return out


def _two_layer_sweep_cost(p: TwoLayerParams) -> cost.Cost:
    # two runs of the hand-written two-layer trainer over (d, seed) members, inputs padded to max(dims) + 1:
    # output layer only (random features: the n×n kernel once, then a kernel-vector product per step), and
    # both layers; the outputs on the plane's grid at the end
    K, D, G = len(p.dims) * len(p.seeds), max(p.dims) + 1, p.grid**2
    common = dict(members=K, n=p.n, n_test=p.n_test, d=D, width=p.width, grid=G)
    return (cost.two_layer_gd(**common, steps=p.steps_output, records=cost.records(p.steps_output, p.records),
                              frozen=True)
            + cost.two_layer_gd(**common, steps=p.steps, records=cost.records(p.steps, p.records)))


@cost.model(_two_layer_sweep_cost)
@experiment
def two_layer_sweep(p: TwoLayerParams, *, device=None, progress: bool = False) -> dict:
    """Output layer only vs both layers, for every d in ``p.dims`` and every seed, as one batched family.

    Members are ordered (mode, d, seed) with mode 0 = output only, 1 = both layers. Returns ``modes``
    [2] names, ``dims`` [D], ``seeds`` [S], ``test_err`` [2, D, S] (final), ``train_err`` [2, D, S],
    ``curves`` (the trainer's records), ``grid`` [G, 2] plane points and ``grid_out`` [2, D, G] (seed 0's
    outputs there, noise coordinates at 0), and the data of seed 0 in the plane: ``plane_x`` [n, 2],
    ``plane_y`` [n].
    """
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
                                    grid=grid[sl], device=device, progress=progress))
    shape = (len(p.dims), len(p.seeds))
    first = sets[p.dims[0], p.seeds[0]]
    stack = lambda key: torch.stack([r[key][-1].view(shape) for r in runs])  # noqa: E731
    return {"modes": ["output layer only", "both layers"], "dims": torch.tensor(p.dims),
            "seeds": torch.tensor(p.seeds), "test_err": stack("test_err"), "train_err": stack("train_err"),
            "margin": stack("margin"), "curves": runs, "grid": plane,
            "grid_out": torch.stack([r["grid_out"].view(shape + (-1,))[:, 0] for r in runs]),
            "plane_x": first.x_train[:, :2], "plane_y": first.y_train,
            "seconds": sum(r["seconds"] for r in runs), "params": asdict(p)}


@experiment
def explore_two_layer(p: OneNetParams, *, device=None, progress: bool = False) -> dict:
    """One net for the live explorer: the clusters of ``p`` in ``p.d`` dimensions, F = α(f − f₀) (plain f at
    α = 1), both layers or the output layer only, with the outputs on the plane recorded at every record.

    Returns ``x`` [n, 2], ``y`` [n] (training points in the plane), ``grid`` [G, 2], ``grid_out`` [T, G],
    ``steps`` [T], ``margin`` [T], ``test_err`` (final), ``what`` (a caption).
    """
    d, alpha, both, seed = int(p.d), float(p.alpha), bool(p.both), int(p.seed)
    ds = cluster_data(p.k, p.n, p.n_test, d, p.sigma, seed)
    plane = plane_grid(p.grid)
    m = p.width
    lr = (p.eta_both if both else p.eta_output) * m / alpha**2
    res = train_two_layer(ds.x_train[None], ds.y_train[None], ds.x_test[None], ds.y_test[None], seeds=[seed],
                          d_in=[d + 1], width=m, steps=p.steps, lr_first=[lr if both else 0.0], lr_out=[lr],
                          alpha=None if alpha == 1 else [alpha], records=p.records,
                          grid=embed_plane(plane, d, d)[None], grid_every=True, device=device, progress=progress)
    what = f"{'both layers' if both else 'output layer only'}, d = {d}, m = {m}, α = {alpha:g}"
    return {"x": ds.x_train[:, :2], "y": ds.y_train, "grid": plane, "grid_out": res["grid_out"][:, 0],
            "steps": res["steps"], "margin": res["margin"][:, 0], "test_err": float(res["test_err"][-1, 0]),
            "what": what}


@dataclass(frozen=True)
class LazyParams(Params):
    """The two-layer net of :class:`TwoLayerParams` trained as F = α(f − f₀) with both layers at learning
    rate η·m/α² (so F moves at the same speed for every α, to first order), on the clusters in ``d``
    dimensions."""

    FULL: ClassVar[dict] = {"alphas": (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0), "width": 1000,
                            "steps": 4000, "seeds": (0, 1, 2, 3, 4), "n_test": 5000, "records": 30}
    STEPS: ClassVar[tuple] = ("steps",)

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

    def check(self) -> None:
        alphas = check_floats("alphas", self.alphas, 0, 1e8, lo_open=True)
        check_int("d", self.d, 2, 10**4)
        check_int("k", self.k, 2, 20)
        check_float("sigma", self.sigma, 0, 10)
        n = check_int("n", self.n, 2, 10**6)
        n_test = check_int("n_test", self.n_test, 1, 10**6)
        width = check_int("width", self.width, 1, 10**6)
        check_int("steps", self.steps, 1, 10**7)
        # both layers at η·m/α², at most the solver's 1e8
        eta = check_float("eta", self.eta, 0, 1e8, lo_open=True)
        check_float("eta · width / min(alphas)²", eta * width / min(alphas) ** 2, 0, 1e8)
        seeds = check_ints("seeds", self.seeds, 0)
        kernel_points = check_int("kernel_points", self.kernel_points, 0, 10**5)
        check_int("records", self.records, 2, 10**4)
        K, m = len(alphas) * len(seeds), max(n, n_test)
        check_memory("alphas × seeds × width × n (and kernel_points²)",
                     8 * K * width * (4 * m + 3 * (self.d + 1)) + 8 * 2 * K * min(kernel_points, n) ** 2)


def _lazy_sweep_cost(p: LazyParams) -> cost.Cost:
    # one run of the hand-written two-layer trainer over (α, seed) members, centred, both layers; tangent
    # kernels on the first kernel_points inputs at the start and the end
    return cost.two_layer_gd(members=len(p.alphas) * len(p.seeds), n=p.n, n_test=p.n_test, d=p.d + 1,
                             width=p.width, steps=p.steps, records=cost.records(p.steps, p.records), centred=True,
                             kernel_points=min(p.kernel_points, p.n))


@cost.model(_lazy_sweep_cost)
@experiment
def lazy_sweep(p: LazyParams, *, device=None, progress: bool = False) -> dict:
    """Rich to lazy in one knob. Members are ordered (α, seed). Returns ``alphas`` [A], ``weight_change``,
    ``kernel_change``, ``test_err``, ``train_loss`` [A, S] (final), and the trainer's records as ``curves``."""
    alphas = [float(a) for a in p.alphas]
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
                          kernel_points=min(p.kernel_points, p.n), device=device, progress=progress)
    shape = (len(alphas), len(p.seeds))
    return {"alphas": torch.tensor(alphas), "seeds": torch.tensor(p.seeds),
            "weight_change": res["weight_change"].view(shape), "kernel_change": res["kernel_change"].view(shape),
            "test_err": res["test_err"][-1].view(shape), "train_loss": res["train_loss"][-1].view(shape),
            "train_err": res["train_err"][-1].view(shape), "curves": res, "seconds": res["seconds"],
            "params": asdict(p)}


# ---------------------------------------------------------------- 4. deep matrix factorisation


@dataclass(frozen=True)
class MatrixParams(Params):
    """Completion of a ``size``×``size`` rank-``rank`` matrix (‖M‖_F = 1) from a fraction ``observed`` of its
    entries, by GD on ½‖P_Ω(W_N ⋯ W_1 − M)‖²_F with N ∈ ``depths`` factors, each initialised as
    init·N(0, 1)/√size. Masks are redrawn until every row and column has ≥ ``min_seen`` observed entries."""

    FULL: ClassVar[dict] = {"inits": (1.0, 0.3, 0.1, 0.03, 0.01), "seeds": (0, 1, 2, 3, 4), "steps": 30_000,
                            "records": 50, "nuclear_iters": 5000}
    STEPS: ClassVar[tuple] = ("steps", "nuclear_iters")

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

    def check(self) -> None:
        size = check_int("size", self.size, 2, 10**4)
        check_int("rank", self.rank, 1, size)
        check_float("observed", self.observed, 0, 1, lo_open=True)
        depths = check_ints("depths", self.depths, 1, 3)
        inits = check_floats("inits", self.inits, 0, 1e3, lo_open=True)
        seeds = check_ints("seeds", self.seeds, 0)
        check_float("lr", self.lr, 0, 1e4, lo_open=True)
        check_int("steps", self.steps, 1, 10**7)
        records = check_int("records", self.records, 2, 10**4)
        check_int("min_seen", self.min_seen, 0, size)
        check_int("nuclear_iters", self.nuclear_iters, 1, 10**6)
        # the factorization's solver, and the nuclear-norm completion of each seed
        K = len(depths) * len(inits) * len(seeds)
        check_memory("depths × inits × seeds × size² (and records)",
                     8 * K * size * (14 * size + records) + 8 * 10 * len(seeds) * size * size)


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


def _matrix_sweep_cost(p: MatrixParams) -> cost.Cost:
    # every (depth, init, seed) as three size×size factors (float32 on the device; shallower members keep
    # identity factors and compute their gradients anyway): 7 batched products a step; at each record the
    # product's singular values in float64; then Soft-Impute in numpy on the CPU (forced), a full SVD per
    # seed and iteration (about 150 s³ of the CPU's float64 rate each, measured on 30 × 30)
    K, s = len(p.depths) * len(p.inits) * len(p.seeds), p.size
    S = len(p.seeds)
    step = cost.product(s, s, s, batch=K) * 7 + cost.passes(K * s * s, 8, ops=10)
    rec = (cost.product(s, s, s, batch=K) * 2 + cost.Cost(flops64=80.0 * K * s**3, ops=K)
           + cost.passes(K * s * s, 8, ops=12))
    init = cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS * 3 * K * s * s, cpu_ops=6 * K)
    nuclear = cost.Cost(cpu_flops=p.nuclear_iters * S * (150.0 * s**3 + 30.0 * s * s), cpu_ops=3.0 * p.nuclear_iters)
    return (init + p.steps * step + cost.records(p.steps, p.records) * rec + nuclear
            + cost.Cost(memory=cost.F32 * 14 * K * s * s))


@cost.model(_matrix_sweep_cost)
@experiment
def matrix_sweep(p: MatrixParams, *, device=None, progress: bool = False) -> dict:
    """Every (depth, init, seed) as one batched family, plus the minimum nuclear norm completion per seed.

    Members are ordered (depth, init, seed). Returns ``depths`` [D], ``inits`` [I], ``test_err``,
    ``train_err``, ``eff_rank`` [D, I, S] (final), ``singular_values`` [T, D, I, S, size], ``steps`` [T],
    ``nuclear_test_err``, ``nuclear_eff_rank``, ``nuclear_norm`` [S] (the min nuclear norm completion),
    ``gd_nuclear_norm`` [D, I, S], ``true_eff_rank`` [S].
    """
    probs = {s: low_rank_problem(p.size, p.rank, p.observed, s, p.min_seen) for s in p.seeds}
    members = [(d, c, s) for d in p.depths for c in p.inits for s in p.seeds]
    Ms = torch.stack([probs[s][0] for *_, s in members])
    masks = torch.stack([probs[s][1] for *_, s in members])
    res = deep_factorization_gd(Ms, masks, depth=[d for d, *_ in members], init=[c for _, c, _ in members],
                                seeds=[s for *_, s in members], lr=p.lr, steps=p.steps, records=p.records,
                                device=device, progress=progress)
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


# ---------------------------------------------------------------- the chapter's plan


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    return [(max_margin, MaxMarginParams.preset(mode)), (two_layer_sweep, TwoLayerParams.preset(mode)),
            (lazy_sweep, LazyParams.preset(mode)), (matrix_sweep, MatrixParams.preset(mode))]
