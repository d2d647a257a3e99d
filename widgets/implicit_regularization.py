"""What a finite step size does: implicit gradient regularization, geometric complexity, feature alignment.

Four experiments, each a function of a frozen parameter dataclass:

* :func:`toy_igr`: gradient descent on E(a, b) = ½(1 − ab)² beside the gradient flows of E and of the
  modified loss Ẽ = E + (h/4)‖∇E‖² (Barrett & Dherin 2021), all vectorized over the step size h;
* :func:`igr_network`: an MLP family over learning rates at equal time lr × steps, its ‖∇E‖² and its top
  Hessian eigenvalue, and a small-lr run with the explicit penalty (h/4)‖∇E‖² added;
* :func:`gc_sweep`: geometric complexity (Dherin et al. 2022) against learning rate, batch size, weight
  decay, initialization scale, a spectral-norm penalty, SAM and dropout, compared at equal fit, and
  :func:`heuristic_effects`, the sign and size of each one's effect;
* :func:`alignment_run`: centered kernel-target alignment and effective rank of the empirical tangent
  kernel over training (Baratin et al. 2021), for rich and lazy output scales.

The measuring tools on a whole family (‖∇E‖², the top Hessian eigenvalue, geometric complexity, the tangent
kernel and its alignment) live in :mod:`widgets.core.probes`; the effective rank in :mod:`widgets.core.stats`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch

from widgets.core import cost, data, models, train
from widgets.core.checks import (
    check_bool,
    check_choice,
    check_float,
    check_floats,
    check_instance,
    check_int,
    check_ints,
    check_memory,
    check_sequence,
    check_tensor,
)
from widgets.core.env import get_device
from widgets.core.hooks import gradient_penalty, sam, spectral_penalty
from widgets.core.losses import LOSSES, member_accuracy, member_losses
from widgets.core.params import Params, experiment
from widgets.core.probes import geometric_complexity, grad_norm_sq, kernel_alignment, tangent_kernel, top_hessian_eig
from widgets.core.stats import effective_rank, first_crossing, loglog_slope, spearman

# ---------------------------------------------------------------- the two-parameter model E(a,b) = ½(1 − ab)²


def toy_grad(theta: torch.Tensor) -> torch.Tensor:
    """∇E for E(a, b) = ½(1 − ab)². theta: [..., 2] finite → [..., 2]."""
    return _grad(_check_theta("theta", theta))


def toy_modified_grad(theta: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """∇Ẽ = ∇E + (h/2)·H∇E, the gradient of Ẽ = E + (h/4)‖∇E‖². theta: [m, 2], h: [m] step sizes ≥ 0 (any
    shape that broadcasts against theta[..., 0]) → [m, 2]."""
    theta = _check_theta("theta", theta)
    h = check_tensor("h", h, ndim=tuple(range(0, 65)), shape="[m]")
    if bool((h < 0).any()):
        raise ValueError("h must hold step sizes ≥ 0")
    try:
        fits = torch.broadcast_shapes(h.shape, theta.shape[:-1]) == theta.shape[:-1]
    except RuntimeError:
        fits = False
    if not fits:  # the result is theta's shape: h must not add rows
        raise ValueError(f"h {tuple(h.shape)} must broadcast against theta's rows {tuple(theta.shape[:-1])}")
    return _modified_grad(theta, h)


def _check_theta(name: str, theta) -> torch.Tensor:
    theta = check_tensor(name, theta, ndim=tuple(range(1, 65)), shape="[..., 2]")
    if theta.shape[-1] != 2:
        raise ValueError(f"{name} must have shape [..., 2] (points (a, b)), got {tuple(theta.shape)}")
    return theta


# the unchecked forms, for the integrators' inner loops (their callers check once)
def _grad(theta: torch.Tensor) -> torch.Tensor:
    a, b = theta[..., 0], theta[..., 1]
    r = 1 - a * b
    return torch.stack([-r * b, -r * a], -1)


def _modified_grad(theta: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    a, b = theta[..., 0], theta[..., 1]
    g = _grad(theta)
    off = 2 * a * b - 1  # the Hessian is [[b², 2ab − 1], [2ab − 1, a²]]
    Hg = torch.stack([b * b * g[..., 0] + off * g[..., 1], off * g[..., 0] + a * a * g[..., 1]], -1)
    return g + (h / 2)[..., None] * Hg


def rk4(field, theta: torch.Tensor, dt: float, n: int, every: int = 0) -> tuple[torch.Tensor, list]:
    """Integrate dθ/dt = field(θ) with ``n`` classical Runge–Kutta steps of size dt (all rows at once).

    Returns the end point and, if ``every`` > 0, the states at every ``every``-th step (the start included).
    ``field`` must return a tensor of theta's shape; the state is not checked along the way, so a field that
    overflows gives inf or NaN.
    """
    if not callable(field):
        raise TypeError(f"field must be a function of theta, got {type(field).__name__}")
    theta = check_tensor("theta", theta, ndim=tuple(range(1, 65)), shape="[..., d]")
    dt = check_float("dt", dt)
    n = check_int("n", n, 0, 10**8)
    every = check_int("every", every, 0)
    if every:
        check_memory(f"the path of {n // every + 1} states of theta {tuple(theta.shape)}",
                     theta.element_size() * theta.numel() * (n // every + 1))
    path = [theta] if every else []
    for i in range(1, n + 1):
        k1 = field(theta)
        if i == 1 and (not isinstance(k1, torch.Tensor) or k1.shape != theta.shape):
            raise ValueError(f"field must return a tensor of theta's shape {tuple(theta.shape)}, got "
                             f"{tuple(k1.shape) if isinstance(k1, torch.Tensor) else type(k1).__name__}")
        k2 = field(theta + dt / 2 * k1)
        k3 = field(theta + dt / 2 * k2)
        k4 = field(theta + dt * k3)
        theta = theta + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if every and i % every == 0:
            path.append(theta)
    return theta, path


def gd_toy(theta0: torch.Tensor, hs: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Gradient descent on E from theta0 [2] with step hs[i] for steps[i] steps, all h at once.

    Returns the path [max(steps) + 1, m, 2]; row i stays put after its own ``steps[i]``. hs: [m] > 0; steps:
    [m] integers ≥ 0. A step too large for the curvature it meets diverges: its row then runs to inf or NaN
    (:func:`toy_igr` refuses such a step size).
    """
    theta0 = check_tensor("theta0", theta0, ndim=1, shape="[2]")
    if theta0.shape != (2,):
        raise ValueError(f"theta0 must be one point (a, b), got shape {tuple(theta0.shape)}")
    hs = check_tensor("hs", hs, ndim=1, shape="[m]", min_size=1)
    if bool((hs <= 0).any()):
        raise ValueError("hs must hold step sizes > 0")
    steps = check_tensor("steps", steps, ndim=1, shape=f"[{len(hs)}]")
    if steps.shape != hs.shape or steps.is_floating_point() or bool((steps < 0).any()):
        raise ValueError(f"steps must be [{len(hs)}] integers ≥ 0 (one per step size), got {steps.dtype} "
                         f"{tuple(steps.shape)}")
    T = check_int("max(steps)", int(steps.max()), 0, 10**8)
    check_memory(f"the path of {T + 1} steps of {len(hs)} step sizes", 8 * 2 * len(hs) * (T + 1))
    theta = theta0.expand(len(hs), 2).clone()
    path = [theta]
    for t in range(T):
        moving = (t < steps)[:, None]
        theta = torch.where(moving, theta - hs[:, None] * _grad(theta), theta)
        path.append(theta)
    return torch.stack(path)


@dataclass(frozen=True)
class ToyParams(Params):
    """The two-parameter experiment. ``slope_hs``: step sizes for the error-vs-h slopes, compared after
    ``horizon`` units of time; ``sweep_hs``: step sizes for the trajectories and final sharpness, run for
    ``settle_steps`` GD steps; ``plot_time``: how much of each trajectory the figure shows."""

    FULL: ClassVar[dict] = {"slope_hs": (0.04, 0.02, 0.01, 0.005, 0.0025), "rk4_steps": 20_000,
                            "sweep_hs": tuple(round(0.01 + 0.025 * i, 3) for i in range(13)), "settle_steps": 20_000}
    # GD's horizon / h steps (at most 400 on two parameters) are not capped: every h must reach the horizon
    STEPS: ClassVar[tuple] = ("rk4_steps", "settle_steps")

    theta0: tuple = (2.8, 0.1)
    horizon: float = 1.0
    slope_hs: tuple = (0.04, 0.02, 0.01, 0.005)
    rk4_steps: int = 1000
    sweep_hs: tuple = (0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    settle_steps: int = 3000
    plot_time: float = 3.0
    plot_points: int = 60

    def check(self) -> None:
        if len(check_floats("theta0", self.theta0, -100, 100)) != 2:
            raise ValueError(f"theta0 must be two numbers (a, b), got {self.theta0!r}")
        horizon = check_float("horizon", self.horizon, 0, 1e3, lo_open=True)
        check_int("rk4_steps", self.rk4_steps, 1, 10**7)
        hs = check_floats("slope_hs", self.slope_hs, 0, 1, lo_open=True, min_length=2)
        # GD is compared with the flows at the horizon itself, so every h must reach it in whole steps
        check_int("horizon / min(slope_hs) (GD steps)", round(horizon / min(hs)), 1, 10**7)
        steps = [round(horizon / h) * h for h in hs]
        if not all(math.isclose(t, horizon, rel_tol=1e-5, abs_tol=1e-8) for t in steps):
            raise ValueError(f"horizon / h must be a whole number of steps for every h in slope_hs, got {steps}")
        sweep = check_floats("sweep_hs", self.sweep_hs, 0, 2, lo_open=True)
        settle = check_int("settle_steps", self.settle_steps, 1, 10**7)
        check_float("plot_time", self.plot_time, 0, 1e4, lo_open=True)
        check_int("plot_points", self.plot_points, 2, 10**4)
        check_memory("settle_steps × sweep_hs", 8 * 2 * (settle + 1) * len(sweep))  # the GD paths


def _toy_igr_cost(p: ToyParams) -> cost.Cost:
    # everything on the CPU in float64 (forced: two parameters), a loop of tiny operations: GD steps of
    # about 14 operations, RK4 steps of 4 modified-gradient evaluations (about 141 operations)
    gd, rk = 14, 141
    slope_steps = max(round(p.horizon / h) for h in p.slope_hs)
    every = max(1, 2 * p.rk4_steps // p.plot_points)
    tiny = gd * (slope_steps + p.settle_steps) + rk * (p.rk4_steps + every * p.plot_points)
    return cost.Cost(cpu_ops=cost.TINY_OP * tiny)


@cost.model(_toy_igr_cost)
@experiment
def toy_igr(p: ToyParams, *, device=None, progress: bool = False) -> dict:
    """GD on E(a, b) = ½(1 − ab)² against the flows of E and Ẽ, in float64 on the CPU (it is tiny: ``device``
    and ``progress`` are unused).

    Returns ``slope_hs`` [m], ``dist_plain`` / ``dist_modified`` [m] (distance from GD after ``horizon`` time
    to each flow), ``slope_plain`` / ``slope_modified`` (log-log slopes), ``sweep_hs`` [s], ``sharpness`` [s]
    (a² + b² where GD settles), ``final_loss`` [s], and ``paths``: for each swept h, a dict of [P, 2]
    trajectories ``gd``, ``flow``, ``modified`` over ``plot_time``. Raises ValueError naming ``sweep_hs``
    when GD diverges at one of them (how large a step diverges depends on ``theta0``).
    """
    theta0 = torch.tensor(p.theta0, dtype=torch.float64)
    n_rk = int(p.rk4_steps)
    hs = torch.tensor(p.slope_hs, dtype=torch.float64)
    steps = (p.horizon / hs).round().long()
    gd_end = gd_toy(theta0, hs, steps)[-1]
    # both flows in one batch: the flow of E is the modified flow with h = 0
    both = torch.cat([torch.zeros_like(hs), hs])
    ends, _ = rk4(lambda z: -_modified_grad(z, both), theta0.expand(2 * len(hs), 2), p.horizon / n_rk, n_rk)
    flow_end, mod_end = ends[: len(hs)], ends[len(hs):]
    dist_plain = (gd_end - flow_end).norm(dim=-1)
    dist_mod = (gd_end - mod_end).norm(dim=-1)

    sweep = torch.tensor(p.sweep_hs, dtype=torch.float64)
    settle = int(p.settle_steps)
    path = gd_toy(theta0, sweep, torch.full((len(sweep),), settle))
    end = path[-1]
    gone = ~torch.isfinite(path).all(-1).all(0)
    if gone.any():  # GD overshoots and runs away: it has no trajectory to compare, nor a sharpness
        raise ValueError(f"sweep_hs: GD diverges from theta0 = {p.theta0} at h = {sweep[gone].tolist()}; use "
                         "smaller step sizes")
    # the flows, on a grid fine for the smallest h, over the plotted time
    n_plot = int(p.plot_points)
    every = max(1, 2 * n_rk // n_plot)
    dt_plot = p.plot_time / (every * n_plot)
    both = torch.cat([torch.zeros(1, dtype=torch.float64), sweep])
    _, bpath = rk4(lambda z: -_modified_grad(z, both), theta0.expand(len(both), 2), dt_plot, every * n_plot, every)
    bpath = torch.stack(bpath)
    fpath, mpath = bpath[:, 0], bpath[:, 1:]
    paths = []
    for i, h in enumerate(sweep.tolist()):
        n_gd = min(settle, max(1, round(p.plot_time / h)))
        paths.append({"h": h, "gd": path[: n_gd + 1, i], "flow": fpath, "modified": mpath[:, i]})
    return {"slope_hs": hs, "dist_plain": dist_plain, "dist_modified": dist_mod,
            "slope_plain": loglog_slope(hs, dist_plain), "slope_modified": loglog_slope(hs, dist_mod),
            "sweep_hs": sweep, "sharpness": (end**2).sum(-1), "final_loss": 0.5 * (1 - end[:, 0] * end[:, 1]) ** 2,
            "paths": paths, "params": asdict(p)}


# ---------------------------------------------------------------- full-batch GD runs, measured in time lr × steps


def gd_family(family: models.Family, x: torch.Tensor, y: torch.Tensor, *, lr, steps, loss: str = "mse",
              penalty=0.0, scale=1.0, records: int = 20, probe=None, progress: bool = False) -> dict:
    """Full-batch gradient descent on every member at once, in place, through the one trainer
    (:func:`widgets.core.train.train`), with what this chapter varies per member:

    * ``steps``: one number or one per member; member k stops after its own ``steps[k]`` (equal time
      lr × steps across learning rates);
    * ``penalty``: λ_k, the objective becomes E + λ_k ‖∇E‖² (:func:`widgets.core.hooks.gradient_penalty`);
      λ = h/4 is the IGR term of step h;
    * ``scale``: α_k, the output is α_k (f(x) − f₀(x)) with f₀ the output at initialization
      (:func:`widgets.core.models.centered`: lazy training for large α; pair it with lr ∝ 1/α²).

    Records at ``records`` evenly spaced fractions of each member's own run: ``time`` [R, K] (lr × step),
    ``loss`` [R, K] (E), ``grad_norm_sq`` [R, K] (‖∇E‖², always of the plain loss) and, if given,
    ``probe`` (a function of the uncentered family returning [K, ...]) → [R, K, ...].

    ``family``: a :class:`~widgets.core.models.Family`; ``x``, ``y``, ``lr`` and ``steps`` as the trainer
    takes them (it checks them, with the data, before its first step).
    """
    check_instance("family", family, models.Family, "a Family (from models.mlp or models.cnn)")
    check_choice("loss", loss, LOSSES)
    check_tensor("x", x, ndim=(2, 3), shape="[n, d] or [K, n, d]")
    check_tensor("y", y, ndim=(1, 2, 3), shape="[n], [n, o] or [K, n, o]")
    if probe is not None and not callable(probe):
        raise TypeError(f"probe must be None or a function of the family, got {type(probe).__name__}")
    check_bool("progress", progress)
    K, dev, dt = family.size, family.device, family.params[0].dtype
    lam = train.per_member("penalty", penalty, K, 0, 1e6, dev, dt)
    alpha = train.per_member("scale", scale, K, 0, 1e6, dev, dt)
    records = check_int("records", records, 2, 10**4)
    x, y = x.to(dev), y.to(dev)
    trained = models.centered(family, alpha.tolist()) if bool((alpha != 1).any()) else family
    probes = {"grad_norm_sq": lambda f: grad_norm_sq(f, x, y, loss)}
    if probe is not None:
        probes["probe"] = lambda f: probe(family)  # the probe sees the network itself, not α(f − f₀)
    objective = gradient_penalty(lam.tolist(), loss) if bool((lam > 0).any()) else None
    ds = data.Dataset(x, y, x[:1], y[:1])  # no test set: the chapter measures test accuracy itself
    res = train.train(trained, ds, steps=steps if isinstance(steps, int) else list(steps), lr=lr, loss=loss,
                      optimizer="gd", records=records, spacing="linear", probes=probes, objective=objective,
                      progress=progress)
    lrs = torch.tensor(res.config["lr"], dtype=dt)
    step = res.steps if res.steps.ndim == 2 else res.steps[:, None].expand(-1, K)
    out = {"time": step.to(dt) * lrs, "loss": res.train_loss, "grad_norm_sq": res.probes["grad_norm_sq"],
           "seconds": res.seconds, "diverged": res.diverged}
    if probe is not None:
        out["probe"] = res.probes["probe"]
    return out


# ---------------------------------------------------------------- IGR in a real network


@dataclass(frozen=True)
class IGRParams(Params):
    """An MLP on sklearn digits (MSE on one-hot targets, full-batch GD), one member per (lr, seed), all run
    for the same time lr × steps = ``time``; plus small-lr members with the explicit penalty λ‖∇E‖², λ equal
    to the largest lr's IGR coefficient h/4."""

    FULL: ClassVar[dict] = {"n_train": 1024, "width": 256, "lrs": (0.0125, 0.025, 0.05, 0.1, 0.2, 0.4),
                            "time": 20.0, "seeds": tuple(range(5)), "records": 41, "hvp_iters": 50}
    STEPS: ClassVar[tuple] = ("hvp_iters",)
    CPU_FIT: ClassVar[dict] = {"seeds": "take", "width": "half"}

    n_train: int = 256
    width: int = 64
    depth: int = 3
    lrs: tuple = (0.05, 0.1, 0.2, 0.4)
    time: float = 10.0
    seeds: tuple = (0, 1, 2)
    records: int = 41
    hvp_iters: int = 20

    def cap(self, max_steps: int) -> dict:
        """Member k runs ``time / lrs[k]`` steps: the cap shortens the time so the smallest lr takes at most
        ``max_steps``, but never below one step of the largest lr (so, with lrs spanning more than a factor
        ``max_steps``, the smallest lr runs max(lrs)/min(lrs) steps)."""
        return {**super().cap(max_steps), "time": min(self.time, max(max_steps * min(self.lrs), max(self.lrs)))}

    def check(self) -> None:
        n = check_int("n_train", self.n_train, 16, 1500)
        width = check_int("width", self.width, 1, 10**5)
        depth = check_int("depth", self.depth, 1, 64)
        lrs = check_floats("lrs", self.lrs, 0, 2, lo_open=True, min_length=2)
        if sorted(lrs) != lrs:
            raise ValueError(f"lrs must be at least two increasing learning rates, got {self.lrs}")
        time_ = check_float("time", self.time, 0, 1e5, lo_open=True)
        # every member runs time / lr steps, at least one
        check_int("time / max(lrs) (steps)", round(time_ / lrs[-1]), 1)
        check_int("time / min(lrs) (steps)", round(time_ / lrs[0]), 1, 10**7)
        seeds = check_ints("seeds", self.seeds, 0)
        check_int("records", self.records, 2, 10**4)
        check_int("hvp_iters", self.hvp_iters, 1, 10**4)
        # the (lr, seed) family, and ‖∇E‖² at its records (double backward: about twice the training)
        check_memory("lrs × seeds × width × depth × n_train",
                     3 * models.training_bytes(len(lrs) * len(seeds), n, 64, 10, width, depth))


def _igr_network_cost(p: IGRParams) -> cost.Cost:
    # two families trained by full-batch GD on digits (MSE on one-hot targets). Member k stops after time/lr_k
    # steps, but the trainer steps the whole family until the longest budget; every member's linear record
    # marks are records of the whole family (the losses and ‖∇E‖², a backward pass). The penalized members
    # double-backprop at every step. At the end: power iteration on the Hessian, GC and the test outputs
    sizes = cost.mlp_sizes(64, p.width, p.depth, 10)
    P = cost.mlp_weights(sizes)
    L, S = len(p.lrs), len(p.seeds)
    n, n_test = p.n_train, 1797 - p.n_train
    budgets = [round(p.time / h) for h in p.lrs for _ in p.seeds]
    pen_steps = round(p.time / p.lrs[0])
    total = cost.Cost()
    for K, steps, rec, second in ((L * S, max(budgets), cost.records(budgets, p.records, "linear"), False),
                                  (S, pen_steps, cost.records(pen_steps, p.records, "linear"), True)):
        run = dict(members=K, sizes=sizes, batch=n, steps=steps, evals=n + 1, records=rec, optimizer="gd",
                   second_order=second)
        total = total + (cost.family_init(members=K, weights=P, layers=p.depth)
                         + cost.train(**run) + cost.dense_extras(**run)
                         + rec * cost.grad_norm(members=K, sizes=sizes, n=n)
                         + cost.hessian_power(members=K, sizes=sizes, n=n, iters=p.hvp_iters)
                         + cost.geometric_complexity(members=K, sizes=sizes, n=n)
                         + cost.forward(members=K, sizes=sizes, n=n_test))
    return total


@cost.model(_igr_network_cost)
@experiment
def igr_network(p: IGRParams, *, device=None, progress: bool = False) -> dict:
    """Train the lr family and the penalized family; measure ‖∇E‖², the top Hessian eigenvalue, GC and test
    accuracy at the end.

    Returns ``lrs`` [L], ``seeds`` [S], per-member arrays shaped [L, S] (``grad_norm_sq``, ``sharpness``,
    ``loss``, ``test_acc``, ``gc``), the same [S] for the penalized run under ``penalized`` (a dict), its
    ``penalty`` λ, and the curves ``time`` / ``curve_grad_norm_sq`` / ``curve_loss`` [R, L, S] for the
    figure.
    """
    lrs, seeds = [float(h) for h in p.lrs], [int(s) for s in p.seeds]
    dev = get_device(device)
    ds = data.digits(n_train=p.n_train, seed=0)
    x, y = ds.x_train.to(dev), torch.nn.functional.one_hot(ds.y_train, 10).float().to(dev)
    L, S = len(lrs), len(seeds)
    lam = lrs[-1] / 4
    # the (lr, seed) family, and the penalized small-lr members (one per seed) as a second family, since the
    # penalty's double backward would otherwise be paid by every member
    member_lr = [h for h in lrs for _ in seeds]
    fam = models.mlp(64, 10, widths=p.width, seeds=seeds * L, depth=p.depth, device=dev)
    run = gd_family(fam, x, y, lr=member_lr, steps=[round(p.time / h) for h in member_lr], loss="mse",
                    records=p.records, progress=progress)
    pfam = models.mlp(64, 10, widths=p.width, seeds=seeds, depth=p.depth, device=dev)
    prun = gd_family(pfam, x, y, lr=lrs[0], steps=round(p.time / lrs[0]), loss="mse", penalty=lam,
                     records=p.records, progress=progress)
    out = {"lrs": torch.tensor(lrs), "seeds": torch.tensor(seeds), "penalty": lam, "time": p.time,
           "penalized": {}, "params": asdict(p), "seconds": run["seconds"] + prun["seconds"]}
    for key, family, r, shape in (("sweep", fam, run, (L, S)), ("penalized", pfam, prun, (S,))):
        # each member's last record is its final state (it stops there): loss and ‖∇E‖² are already measured
        vals = {"grad_norm_sq": r["grad_norm_sq"][-1], "loss": r["loss"][-1],
                "sharpness": top_hessian_eig(family, x, y, "mse", iters=p.hvp_iters).cpu(),
                "gc": geometric_complexity(family, x).cpu()}
        with torch.no_grad():
            out_test = family(ds.x_test.to(dev))
            vals["test_acc"] = member_accuracy(out_test, ds.y_test.to(dev), "cross_entropy").cpu()
        target = out if key == "sweep" else out["penalized"]
        target.update({k: v.reshape(shape) for k, v in vals.items()})
    # equal loss: ‖∇E‖² where each run first reaches the level that every run reaches
    level = float(torch.cat([run["loss"][-1], prun["loss"][-1]]).max())
    out["loss_level"] = level
    out["grad_norm_sq_at_level"] = _at_level(run, level).reshape(L, S)
    out["penalized"]["grad_norm_sq_at_level"] = _at_level(prun, level)
    R = run["time"].shape[0]
    out["curve_time"] = run["time"].reshape(R, L, S)
    out["curve_grad_norm_sq"] = run["grad_norm_sq"].reshape(R, L, S)
    out["curve_loss"] = run["loss"].reshape(R, L, S)
    out["penalized"]["curve_grad_norm_sq"] = prun["grad_norm_sq"]
    out["penalized"]["curve_loss"] = prun["loss"]
    return out


def _at_level(run: dict, level: float) -> torch.Tensor:
    """‖∇E‖² of each member [K] where its recorded loss [R, K] first falls to ``level``, interpolated in
    (log loss, log ‖∇E‖²) between the two bracketing records; NaN where the loss never gets there."""
    return first_crossing(run["grad_norm_sq"], run["loss"], level, "below", inclusive=True, loglog=True,
                          never=math.nan)


# ---------------------------------------------------------------- geometric complexity against the knobs


@dataclass(frozen=True)
class GCParams(Params):
    """SGD with cross-entropy on sklearn digits, an MLP 64-width-width-10. Each knob moves one setting away
    from the base (``base_lr``, ``base_batch``, no weight decay, init scale 1, no penalty, no dropout). Every
    member is measured at *equal fit*: the first record where its training cross-entropy (of the network
    without dropout) falls below ``fit_loss``. The learning-rate, weight-decay, init and dropout members run
    ``steps``, as do the spectral-norm and SAM families; the batch-size families (at ``base_lr``)
    ``batch_steps``.

    ``spectral_norms``: λ of the penalty (λ/2) Σ_l σ_max(W_l)² (Yoshida & Miyato 2017); ``sam_rhos``: the SAM
    radius ρ (Foret et al. 2021); ``dropouts``: the dropout rate of every hidden layer (Srivastava et al.
    2014)."""

    FULL: ClassVar[dict] = {"n_train": 1200, "width": 128, "seeds": tuple(range(10)),
                            "lrs": (0.01, 0.02, 0.05, 0.1, 0.2, 0.4), "batches": (16, 32, 64, 128, 256, 512),
                            "weight_decays": (0.0, 1e-4, 3e-4, 1e-3, 3e-3),
                            "init_scales": (0.5, 0.75, 1.0, 1.5, 2.0, 3.0),
                            "spectral_norms": (0.0, 1e-3, 3e-3, 1e-2, 2e-2, 3e-2),
                            "sam_rhos": (0.0, 0.01, 0.02, 0.05, 0.1, 0.2),
                            "dropouts": (0.0, 0.05, 0.1, 0.2, 0.3, 0.4),
                            "steps": 20_000, "batch_steps": 10_000, "records": 300, "gc_points": 1200}
    STEPS: ClassVar[tuple] = ("steps", "batch_steps")
    CPU_FIT: ClassVar[dict] = {"seeds": "take"}  # ten seeds of seven knobs, 23 families

    n_train: int = 512
    width: int = 64
    depth: int = 3
    seeds: tuple = (0, 1, 2, 3, 4, 5, 6, 7)
    base_lr: float = 0.1
    base_batch: int = 32
    lrs: tuple = (0.05, 0.1, 0.2, 0.4)
    batches: tuple = (16, 32, 64, 128, 256, 512)
    weight_decays: tuple = (0.0, 3e-4, 1e-3, 3e-3)
    init_scales: tuple = (0.5, 0.75, 1.0, 1.5, 2.0)
    spectral_norms: tuple = (0.0, 3e-3, 1e-2, 2e-2)
    sam_rhos: tuple = (0.0, 0.02, 0.05, 0.1)
    dropouts: tuple = (0.0, 0.1, 0.2, 0.3)
    fit_loss: float = 0.05
    steps: int = 1000
    batch_steps: int = 1000
    records: int = 80
    gc_points: int = 128

    def check(self) -> None:
        n = check_int("n_train", self.n_train, 16, 1500)
        width = check_int("width", self.width, 1, 10**5)
        depth = check_int("depth", self.depth, 1, 64)
        seeds = check_ints("seeds", self.seeds, 0)
        check_float("base_lr", self.base_lr, 0, 10, lo_open=True)
        check_int("base_batch", self.base_batch, 1, n)
        lrs = check_floats("lrs", self.lrs, 0, 10, lo_open=True, min_length=2)
        check_ints("batches", self.batches, 1, n, min_length=2)
        wds = check_floats("weight_decays", self.weight_decays, 0, 10, min_length=2)
        scales = check_floats("init_scales", self.init_scales, 0, 100, lo_open=True, min_length=2)
        check_float("fit_loss", self.fit_loss, 0, 10, lo_open=True)
        check_int("steps", self.steps, 1, 10**7)
        check_int("batch_steps", self.batch_steps, 1, 10**7)
        check_floats("spectral_norms", self.spectral_norms, 0, 1e3, min_length=2)
        check_floats("sam_rhos", self.sam_rhos, 0, 1e3, min_length=2)
        drops = check_floats("dropouts", self.dropouts, 0, 1, hi_open=True, min_length=2)
        check_int("records", self.records, 2, 10**4)
        gc_points = check_int("gc_points", self.gc_points, 1, n)
        # the shared family (dropout members included): training, its full-batch records, and the input
        # gradients of GC (10 per point)
        K = (len(lrs) + len(wds) + len(scales) + len(drops)) * len(seeds)
        check_memory("(lrs + weight_decays + init_scales + dropouts) × seeds × width × depth × n_train",
                     models.training_bytes(K, n + 10 * gc_points, 64, 10, width, depth))


KNOBS = ("lr", "batch", "weight_decay", "init_scale", "spectral_norm", "sam", "dropout")
STRONGER = {"lr": 1, "batch": -1, "weight_decay": 1, "init_scale": -1, "spectral_norm": 1, "sam": 1, "dropout": 1}
"""The direction in which each knob regularizes more, by the paper's account: +1 when a larger value is the
stronger setting (a larger learning rate, more weight decay, a larger penalty, radius or rate), −1 when a smaller
one is (a smaller batch, a smaller initialization)."""


def _gc_sweep_cost(p: GCParams) -> cost.Cost:
    # one SGD family for the lr, weight-decay, init-scale and dropout members, one each for the spectral-norm
    # and SAM members, one per batch size. Every record
    # evaluates the train and test sets and, for the fit test, the train set again (with a host round trip);
    # GC on `gc_points` at initialization, at each record where some member first fits (about half as many
    # records as members, measured at quick size), and at the end
    sizes = cost.mlp_sizes(64, p.width, p.depth, 10)
    P = cost.mlp_weights(sizes)
    S, n, n_test = len(p.seeds), p.n_train, 1797 - p.n_train

    def family(K: int, batch: int, steps: int) -> cost.Cost:
        rec = cost.records(steps, p.records)
        run = dict(members=K, sizes=sizes, batch=batch, steps=steps, evals=2 * n + n_test, records=rec,
                   optimizer="sgd")
        gc = cost.geometric_complexity(members=K, sizes=sizes, n=p.gc_points)
        return (cost.family_init(members=K, weights=P, layers=p.depth) + cost.train(**run)
                + cost.dense_extras(**run) + rec * cost.Cost(ops=10) + (2 + min(rec, K) / 2) * gc)

    configs = len(p.lrs) + len(p.weight_decays) + len(p.init_scales) + len(p.dropouts)
    hidden = p.depth - 1
    # dropout: each dropping member draws its masks on the host, a [batch, width] block per hidden layer a step
    dropping = sum(v > 0 for v in p.dropouts) * S
    masks = cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS / 4 * dropping * p.base_batch * p.width * hidden * p.steps,
                      cpu_ops=3.0 * dropping * hidden * p.steps, ops=2.0 * hidden * p.steps)
    # the spectral penalty: a power iteration (two matrix-vector products per weight) and σ, per step
    K_sn = len(p.spectral_norms) * S
    spectral = cost.Cost(flops=6.0 * P * K_sn * p.steps, ops=12.0 * p.depth * p.steps)
    # SAM: a second forward and backward pass per step, at the moved weights
    K_sam = len(p.sam_rhos) * S
    sam_run = dict(members=K_sam, sizes=sizes, batch=p.base_batch, steps=p.steps, optimizer="sgd")
    sam = cost.train(**sam_run) + cost.dense_extras(**sam_run)
    return (family(configs * S, p.base_batch, p.steps) + masks + family(K_sn, p.base_batch, p.steps) + spectral
            + family(K_sam, p.base_batch, p.steps) + sam
            + sum((family(S, b, p.batch_steps) for b in p.batches), cost.Cost()))


@cost.model(_gc_sweep_cost)
@experiment
def gc_sweep(p: GCParams, *, device=None, progress: bool = False) -> dict:
    """GC at equal fit (and at initialization) for each knob value and seed.

    The lr, weight-decay, init-scale and dropout members share one batched family (``train.train`` takes the
    first two per member, :func:`widgets.core.models.mlp` the last two); the spectral-norm members are one family
    with the per-member penalty :func:`widgets.core.hooks.spectral_penalty` as its objective, the SAM members one
    with :func:`widgets.core.hooks.sam`; batch size is shared by a trainer call, so there is one family per batch
    size.

    Returns ``rows``: one dict per member with ``knob``, ``value``, ``seed``, ``gc`` (at equal fit),
    ``gc_init``, ``test_acc`` (at equal fit), ``step`` (when it reached the fit) and ``reached``;
    ``seconds``, and ``family_seconds`` (each trainer call's wall time, by family).
    """
    steps, batch_steps, seeds = int(p.steps), int(p.batch_steps), [int(s) for s in p.seeds]
    dev = get_device(device)
    ds = data.digits(n_train=p.n_train, seed=0)
    sub = ds.x_train[: p.gc_points].to(dev)
    base = {"lr": p.base_lr, "weight_decay": 0.0, "init_scale": 1.0, "dropout": 0.0, "spectral_norm": 0.0,
            "sam": 0.0}

    def member(knob, v):  # the base settings with one knob moved to v
        return {**base, "knob": knob, "value": float(v), **({knob: float(v)} if knob in base else {})}

    main = [member(k, v) for k, vals in (("lr", p.lrs), ("weight_decay", p.weight_decays),
                                         ("init_scale", p.init_scales), ("dropout", p.dropouts)) for v in vals]
    t0 = time.perf_counter()
    timed = {}
    rows = []
    for name, cfg, n_steps, batch in (("lr, weight decay, init, dropout", main, steps, p.base_batch),
                                      ("spectral norm", [member("spectral_norm", v) for v in p.spectral_norms],
                                       steps, p.base_batch),
                                      ("SAM", [member("sam", v) for v in p.sam_rhos], steps, p.base_batch),
                                      *((f"batch {b}", [member("batch", b)], batch_steps, int(b))
                                        for b in p.batches)):
        t1 = time.perf_counter()
        rows += _gc_family(cfg, seeds, ds, sub, p, n_steps, batch, dev, progress)
        timed[name] = time.perf_counter() - t1
    return {"rows": rows, "seconds": time.perf_counter() - t0, "family_seconds": timed, "params": asdict(p)}


def _gc_family(cfg, seeds, ds, sub, p, steps, batch, dev, progress=False) -> list[dict]:
    """Train one family, a member per (setting, seed), and read each member's GC and test accuracy at the first
    record where it reaches the fit. ``cfg``: dicts with ``knob``, ``value`` and the settings ``lr``,
    ``weight_decay``, ``init_scale``, ``dropout``, ``spectral_norm`` and ``sam``."""
    members = [(c, s) for c in cfg for s in seeds]
    K = len(members)
    fam = models.mlp(64, 10, widths=p.width, seeds=[s for _, s in members], depth=p.depth,
                     init_scale=[c["init_scale"] for c, _ in members], dropout=[c["dropout"] for c, _ in members],
                     device=dev)
    gc_init = geometric_complexity(fam, sub).cpu()
    x_tr, y_tr = ds.x_train.to(dev), ds.y_train.to(dev)
    done = torch.zeros(K, dtype=torch.bool)
    lam, rho = [c["spectral_norm"] for c, _ in members], [c["sam"] for c, _ in members]
    if any(lam) and any(rho):
        raise ValueError("a family takes one objective: put the spectral-norm and SAM members in separate families")
    objective = (spectral_penalty(lam, "cross_entropy") if any(lam)
                 else sam(rho, "cross_entropy") if any(rho) else None)

    def gc_at_fit(f):
        # GC only at the record where a member first reaches the fit (the trainer records the same loss)
        with torch.no_grad():
            fit = (member_losses(f(x_tr), y_tr, "cross_entropy") < p.fit_loss).cpu()
        new = fit & ~done
        out = torch.full((K,), float("nan"))
        if new.any():
            out = torch.where(new, geometric_complexity(f, sub).cpu().float(), out)
            done.logical_or_(new)
        return out

    res = train.train(fam, ds, steps=steps, lr=[c["lr"] for c, _ in members],
                      weight_decay=[c["weight_decay"] for c, _ in members], loss="cross_entropy", optimizer="sgd",
                      batch_size=batch, records=p.records, probes={"gc": gc_at_fit}, objective=objective,
                      progress=progress)
    first = first_crossing(torch.arange(len(res.steps)), res.train_loss, p.fit_loss, "below",
                           never=len(res.steps) - 1).long()  # the first record at fit, else the last
    gc = res.probes["gc"].nan_to_num(-1.0).amax(0)
    gc = torch.where(done, gc, geometric_complexity(fam, sub).cpu().float())  # never fitted: GC at the end
    acc = res.test_acc[first, torch.arange(K)]
    return [{"knob": c["knob"], "value": c["value"], "seed": s, "gc": float(gc[i]), "gc_init": float(gc_init[i]),
             "test_acc": float(acc[i]), "step": int(res.steps[first[i]]), "reached": bool(done[i])}
            for i, (c, s) in enumerate(members)]


def knob_means(rows: list[dict], knob: str, key: str = "gc", min_value: float | None = None):
    """From :func:`gc_sweep` rows: the sorted values of one knob and the seed-mean of ``key`` at each.
    ``min_value``: keep only values ≥ it. → (values [m], means [m])."""
    check_choice("knob", knob, KNOBS)
    rows = check_sequence("rows", rows, min_length=1)
    if not isinstance(key, str) or key in ("knob", "value"):
        raise ValueError(f"key must name a measured field of the rows (e.g. 'gc'), got {key!r}")
    for r in rows:
        if not isinstance(r, dict) or not {"knob", "value", key} <= r.keys():
            raise ValueError(f"rows must be gc_sweep's rows, each a dict with 'knob', 'value' and {key!r}")
        if r["knob"] == knob:
            check_float(f"rows' {key!r}", r[key])
            check_float("rows' 'value'", r["value"])
    if min_value is not None:
        min_value = check_float("min_value", min_value)
    values = sorted({r["value"] for r in rows if r["knob"] == knob and (min_value is None or r["value"] >= min_value)})
    if not values:
        raise ValueError(f"no rows for knob {knob!r} with value ≥ {min_value}")
    means = []
    for v in values:
        vals = [r[key] for r in rows if r["knob"] == knob and r["value"] == v]
        means.append(sum(vals) / len(vals))
    return torch.tensor(values, dtype=torch.float64), torch.tensor(means, dtype=torch.float64)


def seed_spearmans(rows: list[dict], knob: str, key: str = "gc") -> list[float]:
    """From :func:`gc_sweep` rows: the Spearman correlation of one knob's value with ``key``, seed by seed (one
    number per seed, in the order of the seeds)."""
    check_choice("knob", knob, KNOBS)
    seeds = sorted({r["seed"] for r in rows if r["knob"] == knob})
    if not seeds:
        raise ValueError(f"no rows for knob {knob!r}")
    out = []
    for s in seeds:
        mine = sorted((r["value"], r[key]) for r in rows if r["knob"] == knob and r["seed"] == s)
        out.append(float(spearman(torch.tensor([v for v, _ in mine]), torch.tensor([k for _, k in mine]))))
    return out


def heuristic_effects(rows: list[dict]) -> list[dict]:
    """The sign and size of every knob's effect, from :func:`gc_sweep` rows, one dict per knob of
    :data:`KNOBS` (those present), in that order:

    ``knob``; ``values`` (the swept values, sorted); ``stronger`` (:data:`STRONGER`); ``gc_spearman`` and
    ``acc_spearman``: the Spearman correlation of the knob's value with the seed-mean GC at equal fit and with
    the seed-mean test accuracy; ``gc_change``: the relative change of mean GC from the weakest to the strongest
    setting (a fraction; −0.3 is 30 % lower); ``acc_change``: the change of mean test accuracy over the same
    step (a difference of fractions); ``reached`` / ``members``: how many networks reached the fit.
    """
    out = []
    for knob in KNOBS:
        mine = [r for r in rows if r["knob"] == knob]
        if not mine:
            continue
        values, gc = knob_means(rows, knob)
        _, acc = knob_means(rows, knob, "test_acc")
        weak, strong = (0, -1) if STRONGER[knob] > 0 else (-1, 0)
        out.append({"knob": knob, "values": values.tolist(), "stronger": STRONGER[knob],
                    "gc_spearman": float(spearman(values, gc)), "acc_spearman": float(spearman(values, acc)),
                    "gc_change": float(gc[strong] / gc[weak] - 1), "acc_change": float(acc[strong] - acc[weak]),
                    "reached": sum(r["reached"] for r in mine), "members": len(mine)})
    return out


# ---------------------------------------------------------------- neural feature alignment


def disk(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n points uniform in [−1, 1]², labelled +1 inside the centred disk of area 2 (half the square) and −1
    outside. → x [n, 2], y [n] (float)."""
    n = check_int("n", n, 2, 10**7)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    x = torch.rand(n, 2, generator=g) * 2 - 1
    y = torch.where(x.norm(dim=1) < (2 / torch.pi) ** 0.5, 1.0, -1.0)
    return x, y


@dataclass(frozen=True)
class AlignParams(Params):
    """A ReLU MLP (``depth`` − 1 hidden layers of ``width``) with scalar output α(f(x) − f₀(x)) fits ±1 disk
    labels by full-batch GD on MSE with step lr/α², so every α starts with the same function-space
    dynamics. Small α is the rich regime, large α the lazy one (Chizat et al. 2019)."""

    FULL: ClassVar[dict] = {"n": 400, "depth": 5, "steps": 10_000, "alphas": (0.125, 0.25, 0.5, 1.0, 10.0, 100.0),
                            "seeds": tuple(range(5)), "records": 41}
    STEPS: ClassVar[tuple] = ("steps",)
    CPU_FIT: ClassVar[dict] = {"seeds": "take", "n": "half"}

    n: int = 128
    width: int = 60
    depth: int = 4
    lr: float = 0.015
    steps: int = 2000
    alphas: tuple = (0.25, 1.0, 100.0)
    seeds: tuple = (0, 1)
    records: int = 9

    def check(self) -> None:
        n = check_int("n", self.n, 4, 10**5)
        width = check_int("width", self.width, 1, 10**5)
        depth = check_int("depth", self.depth, 2, 64)
        lr = check_float("lr", self.lr, 0, 1e3, lo_open=True)
        check_int("steps", self.steps, 1, 10**7)
        alphas = check_floats("alphas", self.alphas, 0, 1e6, lo_open=True)
        check_float("lr / min(alphas)²", lr / min(alphas) ** 2, 0, 1e6)  # each member's step, for the trainer
        seeds = check_ints("seeds", self.seeds, 0)
        check_int("records", self.records, 2, 10**4)
        # the tangent features (float32 gradients, float64 copy) and kernels of every member, and training
        K = len(alphas) * len(seeds)
        P = (3 + (depth - 2) * width) * width
        check_memory("alphas × seeds × n × width² × depth",
                     16 * n * K * P + 8 * 2 * K * n * n + models.training_bytes(K, n, 2, 1, width, depth))


def _alignment_run_cost(p: AlignParams) -> cost.Cost:
    # one member per (α, seed), trained centered (α(f − f₀): every forward pass runs the network at its
    # current and its initial weights) by full-batch GD; the tangent kernel (float64 J Jᵀ) and its eigvalsh on
    # the device at initialization and at every record, with ‖∇E‖², the alignment and the effective rank
    K, n = len(p.alphas) * len(p.seeds), p.n
    sizes = cost.mlp_sizes(2, p.width, p.depth, 1)
    P = cost.mlp_weights(sizes)
    rec = cost.records(p.steps, p.records, "linear")
    run = dict(members=K, sizes=sizes, batch=n, steps=p.steps, evals=n + 1, records=rec, optimizer="gd")
    kernel = (cost.tangent_kernel(members=K, n=n, weights=P) + cost.tangent_features(members=K, n=n, weights=P)
              + cost.eigh(n, batch=K))
    probe = kernel + cost.grad_norm(members=K, sizes=sizes, n=n) + cost.forward(members=K, sizes=sizes, n=n) \
        + cost.passes(K * n * n, 6, f64=True, ops=20)
    return (cost.family_init(members=K, weights=P, layers=p.depth) + kernel
            + cost.train(**run) + cost.dense_extras(**run)
            + p.steps * cost.forward(members=K, sizes=sizes, n=n)  # f₀, under no_grad, at every step
            + rec * (probe + cost.forward(members=K, sizes=sizes, n=n + 1)))


@cost.model(_alignment_run_cost)
@experiment
def alignment_run(p: AlignParams, *, device=None, progress: bool = False) -> dict:
    """Train one member per (α, seed) and record, over training, the centered kernel-target alignment of
    each member's empirical NTK with the centered labels and the NTK's effective rank.

    Returns ``alphas`` [A], ``seeds`` [S], ``steps`` [R], ``alignment`` / ``effective_rank`` / ``loss``
    [R, A, S], and ``stable_lr`` [A, S]: n / λ_max of each member's initial NTK Gram, the largest
    function-space step for which the linearized model is stable (lr must stay below it for α large).
    """
    alphas, seeds = [float(a) for a in p.alphas], [int(s) for s in p.seeds]
    dev = get_device(device)
    x, y = disk(p.n, seed=0)
    x, y = x.to(dev), y.to(dev)
    A, S = len(alphas), len(seeds)
    scale = [a for a in alphas for _ in seeds]
    fam = models.mlp(2, 1, widths=p.width, seeds=seeds * A, depth=p.depth, device=dev)
    K0 = tangent_kernel(fam, x)
    stable = (p.n / torch.linalg.eigvalsh(K0)[:, -1]).cpu()

    def probe(f):
        K = tangent_kernel(f, x, scale)
        return torch.stack([kernel_alignment(K, y), effective_rank(torch.linalg.eigvalsh(K).clamp_min(0))], 1)

    run = gd_family(fam, x, y, lr=[p.lr / a**2 for a in scale], steps=p.steps, loss="mse", scale=scale,
                    records=p.records, probe=probe, progress=progress)
    R = p.records
    return {"alphas": torch.tensor(alphas), "seeds": torch.tensor(seeds),
            "steps": (run["time"][:, 0] / (p.lr / scale[0] ** 2)).round().long(),
            "alignment": run["probe"][..., 0].reshape(R, A, S), "effective_rank": run["probe"][..., 1].reshape(R, A, S),
            "loss": run["loss"].reshape(R, A, S), "stable_lr": stable.reshape(A, S), "seconds": run["seconds"],
            "params": asdict(p)}


# ---------------------------------------------------------------- the explorer's single run


@dataclass(frozen=True)
class WatchParams(Params):
    """One MLP on digits trained by SGD (cross-entropy), watched over training: the explorer's run."""

    FULL: ClassVar[dict] = {"n_train": 1200, "width": 128, "steps": 5000, "records": 30, "hvp_iters": 20}
    STEPS: ClassVar[tuple] = ("steps", "hvp_iters")

    lr: float = 0.1
    batch: int = 32
    wd: float = 0.0
    n_train: int = 512
    width: int = 64
    depth: int = 3
    steps: int = 600
    records: int = 12
    hvp_iters: int = 10
    seed: int = 0

    def check(self) -> None:
        check_float("lr", self.lr, 0, 10, lo_open=True)
        n = check_int("n_train", self.n_train, 16, 1500)
        check_int("batch", self.batch, 1, n)
        check_float("wd", self.wd, 0, 10)
        width = check_int("width", self.width, 1, 10**5)
        depth = check_int("depth", self.depth, 1, 64)
        check_int("steps", self.steps, 1, 10**7)
        check_int("records", self.records, 2, 10**4)
        check_int("hvp_iters", self.hvp_iters, 1, 10**4)
        check_int("seed", self.seed, 0)
        # one member, and the full-batch probes at each record (double backward, GC's input gradients)
        check_memory("width × depth × n_train", 3 * models.training_bytes(1, 10 * n, 64, 10, width, depth))


@experiment
def watch_training(p: WatchParams, *, device=None, progress: bool = False) -> dict:
    """Train one network and record, at log-spaced steps, the training loss, ‖∇E‖² (full batch), GC and the
    top Hessian eigenvalue. Returns [T] tensors ``steps``, ``train_loss``, ``grad_norm_sq``, ``gc``,
    ``sharpness``, ``test_acc`` and the settings ``lr``, ``batch``, ``wd``."""
    dev = get_device(device)
    ds = data.digits(n_train=p.n_train, seed=0)
    x, y = ds.x_train.to(dev), ds.y_train.to(dev)
    fam = models.mlp(64, 10, widths=p.width, seeds=[p.seed], depth=p.depth, device=dev)
    batch = int(p.batch)
    probes = {"grad_norm_sq": lambda f: grad_norm_sq(f, x, y, "cross_entropy"),
              "gc": lambda f: geometric_complexity(f, x),
              "sharpness": lambda f: top_hessian_eig(f, x, y, "cross_entropy", iters=p.hvp_iters)}
    res = train.train(fam, ds, steps=p.steps, lr=p.lr, weight_decay=p.wd, loss="cross_entropy", optimizer="sgd",
                      batch_size=batch, records=p.records, probes=probes, progress=progress)
    return {"steps": res.steps, "train_loss": res.train_loss[:, 0], "test_acc": res.test_acc[:, 0],
            **{k: v[:, 0] for k, v in res.probes.items()}, "lr": p.lr, "batch": batch, "wd": p.wd}


# ---------------------------------------------------------------- the chapter's plan


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    return [(toy_igr, ToyParams.preset(mode)), (igr_network, IGRParams.preset(mode)),
            (gc_sweep, GCParams.preset(mode)), (alignment_run, AlignParams.preset(mode))]
