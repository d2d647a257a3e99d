"""What a finite step size does: implicit gradient regularization, geometric complexity, feature alignment.

Four experiments, each a function of a frozen parameter dataclass:

* :func:`toy_igr`: gradient descent on E(a, b) = ½(1 − ab)² beside the gradient flows of E and of the
  modified loss Ẽ = E + (h/4)‖∇E‖² (Barrett & Dherin 2021), all vectorized over the step size h;
* :func:`igr_network`: an MLP family over learning rates at equal time lr × steps, its ‖∇E‖² and its top
  Hessian eigenvalue, and a small-lr run with the explicit penalty (h/4)‖∇E‖² added;
* :func:`gc_sweep`: geometric complexity (Dherin et al. 2022) against learning rate, batch size, weight
  decay and initialization scale, compared at equal fit;
* :func:`alignment_run`: centered kernel-target alignment and effective rank of the empirical tangent
  kernel over training (Baratin et al. 2021), for rich and lazy output scales.

The measuring tools (:func:`grad_norm_sq`, :func:`top_hessian_eig`, :func:`geometric_complexity`,
:func:`kernel_alignment`, with :func:`widgets.core.models.tangent_kernel` and :func:`widgets.core.stats.effective_rank`)
take a whole family and return one number per member.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import torch

from widgets.core import data, models, train
from widgets.core.checks import check_choice, check_float, check_int
from widgets.core.env import get_device
from widgets.core.losses import LOSSES, member_accuracy, member_losses
from widgets.core.stats import effective_rank, loglog_slope

# ---------------------------------------------------------------- the two-parameter model E(a,b) = ½(1 − ab)²


def toy_grad(theta: torch.Tensor) -> torch.Tensor:
    """∇E for E(a, b) = ½(1 − ab)². theta: [..., 2] → [..., 2]."""
    a, b = theta[..., 0], theta[..., 1]
    r = 1 - a * b
    return torch.stack([-r * b, -r * a], -1)


def toy_modified_grad(theta: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """∇Ẽ = ∇E + (h/2)·H∇E, the gradient of Ẽ = E + (h/4)‖∇E‖². theta: [m, 2], h: [m] → [m, 2]."""
    a, b = theta[..., 0], theta[..., 1]
    g = toy_grad(theta)
    off = 2 * a * b - 1  # the Hessian is [[b², 2ab − 1], [2ab − 1, a²]]
    Hg = torch.stack([b * b * g[..., 0] + off * g[..., 1], off * g[..., 0] + a * a * g[..., 1]], -1)
    return g + (h / 2)[..., None] * Hg


def rk4(field, theta: torch.Tensor, dt: float, n: int, every: int = 0) -> tuple[torch.Tensor, list]:
    """Integrate dθ/dt = field(θ) with ``n`` classical Runge–Kutta steps of size dt (all rows at once).

    Returns the end point and, if ``every`` > 0, the states at every ``every``-th step (the start included).
    """
    path = [theta] if every else []
    for i in range(1, n + 1):
        k1 = field(theta)
        k2 = field(theta + dt / 2 * k1)
        k3 = field(theta + dt / 2 * k2)
        k4 = field(theta + dt * k3)
        theta = theta + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if every and i % every == 0:
            path.append(theta)
    return theta, path


def gd_toy(theta0: torch.Tensor, hs: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Gradient descent on E from theta0 [2] with step hs[i] for steps[i] steps, all h at once.

    Returns the path [max(steps) + 1, m, 2]; row i stays put after its own ``steps[i]``.
    """
    theta = theta0.expand(len(hs), 2).clone()
    path = [theta]
    for t in range(int(steps.max())):
        moving = (t < steps)[:, None]
        theta = torch.where(moving, theta - hs[:, None] * toy_grad(theta), theta)
        path.append(theta)
    return torch.stack(path)


@dataclass(frozen=True)
class ToyParams:
    """The two-parameter experiment. ``slope_hs``: step sizes for the error-vs-h slopes, compared after
    ``horizon`` units of time; ``sweep_hs``: step sizes for the trajectories and final sharpness, run for
    ``settle_steps`` GD steps; ``plot_time``: how much of each trajectory the figure shows."""

    theta0: tuple = (2.8, 0.1)
    horizon: float = 1.0
    slope_hs: tuple = (0.04, 0.02, 0.01, 0.005)
    rk4_steps: int = 1000
    sweep_hs: tuple = (0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    settle_steps: int = 3000
    plot_time: float = 3.0
    plot_points: int = 60

    @classmethod
    def quick(cls) -> ToyParams:
        return cls()

    @classmethod
    def full(cls) -> ToyParams:
        return cls(slope_hs=(0.04, 0.02, 0.01, 0.005, 0.0025), rk4_steps=20_000,
                   sweep_hs=tuple(round(0.01 + 0.025 * i, 3) for i in range(13)), settle_steps=20_000)

    @classmethod
    def preset(cls, mode: str) -> ToyParams:
        return cls.quick() if mode == "quick" else cls.full()


def toy_igr(p: ToyParams) -> dict:
    """GD on E(a, b) = ½(1 − ab)² against the flows of E and Ẽ, in float64 on the CPU (it is tiny).

    Returns ``slope_hs`` [m], ``dist_plain`` / ``dist_modified`` [m] (distance from GD after ``horizon`` time
    to each flow), ``slope_plain`` / ``slope_modified`` (log-log slopes), ``sweep_hs`` [s], ``sharpness`` [s]
    (a² + b² where GD settles), ``final_loss`` [s], and ``paths``: for each swept h, a dict of [P, 2]
    trajectories ``gd``, ``flow``, ``modified`` over ``plot_time``.
    """
    theta0 = torch.tensor(p.theta0, dtype=torch.float64)
    if theta0.shape != (2,):
        raise ValueError(f"theta0 must be two numbers (a, b), got {p.theta0!r}")
    check_float("horizon", p.horizon, 0, 1e3, lo_open=True)
    n_rk = check_int("rk4_steps", p.rk4_steps, 10, 10**7)
    hs = torch.tensor([check_float("slope_hs[i]", h, 0, 1, lo_open=True) for h in p.slope_hs], dtype=torch.float64)
    if len(hs) < 2:
        raise ValueError("slope_hs needs at least two step sizes")
    steps = (p.horizon / hs).round().long()
    if not torch.allclose(steps * hs, torch.full_like(hs, p.horizon)):
        raise ValueError(f"horizon / h must be a whole number of steps for every h in slope_hs, got {steps * hs}")
    gd_end = gd_toy(theta0, hs, steps)[-1]
    # both flows in one batch: the flow of E is the modified flow with h = 0
    both = torch.cat([torch.zeros_like(hs), hs])
    ends, _ = rk4(lambda z: -toy_modified_grad(z, both), theta0.expand(2 * len(hs), 2), p.horizon / n_rk, n_rk)
    flow_end, mod_end = ends[: len(hs)], ends[len(hs):]
    dist_plain = (gd_end - flow_end).norm(dim=-1)
    dist_mod = (gd_end - mod_end).norm(dim=-1)

    sweep = torch.tensor([check_float("sweep_hs[i]", h, 0, 2, lo_open=True) for h in p.sweep_hs],
                         dtype=torch.float64)
    settle = check_int("settle_steps", p.settle_steps, 1, 10**7)
    path = gd_toy(theta0, sweep, torch.full((len(sweep),), settle))
    end = path[-1]
    # the flows, on a grid fine for the smallest h, over the plotted time
    n_plot = check_int("plot_points", p.plot_points, 2, 10**4)
    every = max(1, 2 * n_rk // n_plot)
    dt_plot = p.plot_time / (every * n_plot)
    both = torch.cat([torch.zeros(1, dtype=torch.float64), sweep])
    _, bpath = rk4(lambda z: -toy_modified_grad(z, both), theta0.expand(len(both), 2), dt_plot, every * n_plot, every)
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


# ---------------------------------------------------------------- measuring tools on a family


def _with(family: models.Family, params) -> models.Family:
    return replace(family, params=list(params))


def _member_loss(family: models.Family, x: torch.Tensor, y: torch.Tensor, loss: str, params=None) -> torch.Tensor:
    fam = family if params is None else _with(family, params)
    return member_losses(fam(x), y, loss)


def grad_norm_sq(family: models.Family, x: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy") -> torch.Tensor:
    """‖∇_θ E‖² of each member's full-batch loss E on (x, y). → [K]."""
    check_choice("loss", loss, LOSSES)
    grads = torch.autograd.grad(_member_loss(family, x, y, loss).sum(), family.params)
    return sum((g * m).pow(2).flatten(1).sum(1) for g, m in zip(grads, family.masks, strict=True))


def _dot(u, v) -> torch.Tensor:
    return sum((a * b).flatten(1).sum(1) for a, b in zip(u, v, strict=True))


def hvp(family: models.Family, x: torch.Tensor, y: torch.Tensor, v: list, loss: str = "cross_entropy") -> list:
    """Hessian-vector products of every member's loss at once. ``v``: a list shaped like ``family.params``.

    The family's loss is a sum of the members' losses, so its Hessian is block-diagonal over members and one
    product with the stacked vector ``v`` gives each member its own H_k v_k.
    """
    return _hvp_operator(family, x, y, loss)(v)


def _hvp_operator(family, x, y, loss):
    # reverse-over-reverse on a graph built once: each product is one extra backward pass. (torch.func's
    # forward-over-reverse jvp(grad) gives the same numbers but was ~45× slower on CPU here.)
    params = [p.detach().requires_grad_(True) for p in family.params]
    grads = torch.autograd.grad(_member_loss(family, x, y, loss, params).sum(), params, create_graph=True)

    def apply(v):
        out = torch.autograd.grad(grads, params, [t.to(p) for t, p in zip(v, params, strict=True)],
                                  retain_graph=True)
        return [o.detach() * m for o, m in zip(out, family.masks, strict=True)]

    return apply


def top_hessian_eig(family: models.Family, x: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy",
                    iters: int = 30, seed: int = 0) -> torch.Tensor:
    """The largest-magnitude Hessian eigenvalue of each member's loss, by ``iters`` steps of power iteration
    on Hessian-vector products (all members in one batched product per step). → [K]."""
    check_choice("loss", loss, LOSSES)
    iters = check_int("iters", iters, 1, 10**5)
    H = _hvp_operator(family, x, y, loss)
    g = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device) * m
         for p, m in zip(family.params, family.masks, strict=True)]
    eig = torch.zeros(family.size, dtype=family.params[0].dtype, device=family.device)
    for _ in range(iters):
        norm = _dot(v, v).sqrt().clamp_min(1e-30)
        v = [t / norm.view(-1, *[1] * (t.ndim - 1)) for t in v]
        Hv = H(v)
        eig = _dot(v, Hv)
        v = Hv
    return eig.detach()


def geometric_complexity(family: models.Family, x: torch.Tensor, chunk: int = 0) -> torch.Tensor:
    """GC = mean over the n inputs of ‖∇_x f(x)‖²_F, the squared Frobenius norm of the input Jacobian of the
    output vector (Dherin et al. 2022). x: [n, d] shared by all members → [K].

    Samples do not interact, so one backward pass per output unit gives every sample's (and member's) row.
    """
    if x.ndim != 2:
        raise ValueError(f"x must have shape [n, d], got {tuple(x.shape)}")
    xs = x.to(family.device, family.params[0].dtype).expand(family.size, *x.shape).clone().requires_grad_(True)
    out = family(xs)  # [K, n, o]
    total = torch.zeros(family.size, dtype=out.dtype, device=out.device)
    for c in range(out.shape[-1]):
        (gx,) = torch.autograd.grad(out[..., c].sum(), xs, retain_graph=c < out.shape[-1] - 1)
        total = total + gx.pow(2).sum((1, 2))
    return (total / x.shape[0]).detach()


def centered(K: torch.Tensor) -> torch.Tensor:
    """H K H with H = I − 11ᵀ/n, for K: [..., n, n]."""
    return K - K.mean(-1, keepdim=True) - K.mean(-2, keepdim=True) + K.mean((-1, -2), keepdim=True)


def kernel_alignment(K: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Centered kernel-target alignment A = ỹᵀK̃ỹ / (‖K̃‖_F ‖ỹ‖²), with K̃ the centered kernel and ỹ the
    centered targets. K: [..., n, n]; y: [n] (or [n, c] one-hot, summed over columns) → [...]. It lies in
    [−1, 1] for a positive semi-definite K, and equals 1 when K̃ ∝ ỹỹᵀ."""
    if K.shape[-1] != K.shape[-2] or K.shape[-1] != y.shape[0]:
        raise ValueError(f"K must be [..., n, n] with n = len(y) = {y.shape[0]}, got {tuple(K.shape)}")
    Y = y.to(K.dtype).reshape(len(y), -1)
    Y = Y - Y.mean(0)
    Kc = centered(K)
    num = torch.einsum("ic,...ij,jc->...", Y, Kc, Y)
    return num / (Kc.flatten(-2).norm(dim=-1) * Y.pow(2).sum()).clamp_min(1e-300)


# ---------------------------------------------------------------- a full-batch GD loop with the extras we need


def gd_family(family: models.Family, x: torch.Tensor, y: torch.Tensor, *, lr, steps, loss: str = "mse",
              penalty=0.0, scale=1.0, records: int = 20, probe=None) -> dict:
    """Full-batch gradient descent on every member at once, in place, with per-member extras that
    :func:`widgets.core.train.train` does not have:

    * ``steps``: one number or one per member; member k stops after its own ``steps[k]`` (equal time
      lr × steps across learning rates);
    * ``penalty``: λ_k, the loss becomes E + λ_k ‖∇E‖² (double backprop); λ = h/4 is the IGR term of step h;
    * ``scale``: α_k, the output is α_k (f(x) − f₀(x)) with f₀ the output at initialization (lazy training
      for large α; pair it with lr ∝ 1/α²).

    Records at ``records`` evenly spaced fractions of each member's own run: ``time`` [R, K] (lr × step),
    ``loss`` [R, K] (E), ``grad_norm_sq`` [R, K] (‖∇E‖², always of the plain loss) and, if given,
    ``probe`` (a function of the family returning [K, ...]) → [R, K, ...].
    """
    check_choice("loss", loss, LOSSES)
    K, dev, dt = family.size, family.device, family.params[0].dtype

    lrs = train.per_member("lr", lr, K, 0, 1e6, dev, dt)
    lam = train.per_member("penalty", penalty, K, 0, 1e6, dev, dt)
    alpha = train.per_member("scale", scale, K, 0, 1e6, dev, dt)
    n_steps = train.per_member("steps", steps, K, 0, 10**8, dev, dt).round().long()
    records = check_int("records", records, 2, 10**4)
    x, y = x.to(dev), y.to(dev)
    with torch.no_grad():
        f0 = family(x)
    centered_out = bool((alpha != 1).any())
    view = [(K,) + (1,) * (p.ndim - 1) for p in family.params]

    def losses():
        out = family(x)
        if centered_out:
            out = alpha.view(K, 1, 1) * (out - f0)
        return member_losses(out, y, loss)

    # record points: for member k, the steps round(i · steps[k] / (records − 1))
    marks = torch.stack([(torch.arange(records, device=dev) * n / (records - 1)).round().long() for n in n_steps], 1)
    log = {k: torch.full((records, K), float("nan"), dtype=dt) for k in ("time", "loss", "grad_norm_sq")}
    plog = None
    t0 = time.perf_counter()
    for t in range(int(n_steps.max()) + 1):
        L = losses()
        need_pen = bool((lam > 0).any()) and t < int(n_steps.max())
        grads = torch.autograd.grad(L.sum(), family.params, create_graph=need_pen)
        g2 = sum((g * m).pow(2).flatten(1).sum(1) for g, m in zip(grads, family.masks, strict=True))
        rows, cols = (marks == t).nonzero(as_tuple=True)
        if len(rows):
            rows, cols = rows.cpu(), cols.cpu()
            log["time"][rows, cols] = (t * lrs).detach().cpu()[cols]
            log["loss"][rows, cols] = L.detach().cpu()[cols]
            log["grad_norm_sq"][rows, cols] = g2.detach().cpu()[cols]
            if probe is not None:
                value = probe(family).detach().cpu()
                if plog is None:
                    plog = torch.full((records, *value.shape), float("nan"), dtype=value.dtype)
                plog[rows, cols] = value[cols]
        if t == int(n_steps.max()):
            break
        if need_pen:
            pen = (lam * g2).sum()
            extra = torch.autograd.grad(pen, family.params)
            grads = [g.detach() + e for g, e in zip(grads, extra, strict=True)]
        with torch.no_grad():
            active = (t < n_steps).to(dt) * lrs
            for p, g, m, s in zip(family.params, grads, family.masks, view, strict=True):
                p.sub_(active.view(s) * g * m)
    out = dict(log)
    if probe is not None:
        out["probe"] = plog
    out["seconds"] = time.perf_counter() - t0
    out["diverged"] = ~torch.isfinite(out["loss"]).all(0)
    return out




# ---------------------------------------------------------------- IGR in a real network


@dataclass(frozen=True)
class IGRParams:
    """An MLP on sklearn digits (MSE on one-hot targets, full-batch GD), one member per (lr, seed), all run
    for the same time lr × steps = ``time``; plus small-lr members with the explicit penalty λ‖∇E‖², λ equal
    to the largest lr's IGR coefficient h/4."""

    n_train: int = 256
    width: int = 64
    depth: int = 3
    lrs: tuple = (0.05, 0.1, 0.2, 0.4)
    time: float = 10.0
    seeds: tuple = (0, 1, 2)
    records: int = 41
    hvp_iters: int = 20

    @classmethod
    def quick(cls) -> IGRParams:
        return cls()

    @classmethod
    def full(cls) -> IGRParams:
        return cls(n_train=1024, width=256, lrs=(0.0125, 0.025, 0.05, 0.1, 0.2, 0.4), time=20.0,
                   seeds=tuple(range(5)), records=41, hvp_iters=50)

    @classmethod
    def preset(cls, mode: str) -> IGRParams:
        return cls.quick() if mode == "quick" else cls.full()


def igr_network(p: IGRParams, device=None) -> dict:
    """Train the lr family and the penalized family; measure ‖∇E‖², the top Hessian eigenvalue, GC and test
    accuracy at the end.

    Returns ``lrs`` [L], ``seeds`` [S], per-member arrays shaped [L, S] (``grad_norm_sq``, ``sharpness``,
    ``loss``, ``test_acc``, ``gc``), the same [S] for the penalized run under ``penalized`` (a dict), its
    ``penalty`` λ, and the curves ``time`` / ``curve_grad_norm_sq`` / ``curve_loss`` [R, L, S] for the
    figure.
    """
    check_int("n_train", p.n_train, 16, 1500)
    lrs = [check_float("lrs[i]", h, 0, 2, lo_open=True) for h in p.lrs]
    if len(lrs) < 2 or sorted(lrs) != lrs:
        raise ValueError(f"lrs must be at least two increasing learning rates, got {p.lrs}")
    check_float("time", p.time, 0, 1e5, lo_open=True)
    seeds = [check_int("seeds[i]", s, 0) for s in p.seeds]
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
                    records=p.records)
    pfam = models.mlp(64, 10, widths=p.width, seeds=seeds, depth=p.depth, device=dev)
    prun = gd_family(pfam, x, y, lr=lrs[0], steps=round(p.time / lrs[0]), loss="mse", penalty=lam,
                     records=p.records)
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
    out["grad_norm_sq_at_level"] = value_at_level(run["loss"], run["grad_norm_sq"], level).reshape(L, S)
    out["penalized"]["grad_norm_sq_at_level"] = value_at_level(prun["loss"], prun["grad_norm_sq"], level)
    R = run["time"].shape[0]
    out["curve_time"] = run["time"].reshape(R, L, S)
    out["curve_grad_norm_sq"] = run["grad_norm_sq"].reshape(R, L, S)
    out["curve_loss"] = run["loss"].reshape(R, L, S)
    out["penalized"]["curve_grad_norm_sq"] = prun["grad_norm_sq"]
    out["penalized"]["curve_loss"] = prun["loss"]
    return out


def value_at_level(loss: torch.Tensor, value: torch.Tensor, level: float) -> torch.Tensor:
    """For each column of the records loss / value [R, K], ``value`` where ``loss`` first falls to
    ``level``, interpolated linearly in (log loss, log value) between the two bracketing records. → [K];
    NaN for a column whose loss never reaches the level."""
    if loss.shape != value.shape or loss.ndim != 2:
        raise ValueError(f"loss and value must both be [R, K], got {tuple(loss.shape)} and {tuple(value.shape)}")
    out = torch.full((loss.shape[1],), float("nan"), dtype=torch.float64)
    for k in range(loss.shape[1]):
        below = (loss[:, k] <= level).nonzero()
        if len(below) == 0:
            continue
        i = int(below[0])
        if i == 0:
            out[k] = float(value[0, k])
            continue
        l0, l1 = math.log(loss[i - 1, k]), math.log(loss[i, k])
        v0, v1 = math.log(value[i - 1, k]), math.log(value[i, k])
        w = (math.log(level) - l0) / (l1 - l0) if l1 != l0 else 1.0
        out[k] = math.exp(v0 + w * (v1 - v0))
    return out


# ---------------------------------------------------------------- geometric complexity against the knobs


@dataclass(frozen=True)
class GCParams:
    """SGD with cross-entropy on sklearn digits, an MLP 64-width-width-10. Each knob moves one setting away
    from the base (``base_lr``, ``base_batch``, no weight decay, init scale 1). Every member is measured at
    *equal fit*: the first record where its training cross-entropy falls below ``fit_loss``. The learning-rate,
    weight-decay and init members run ``steps``; the batch-size families (at ``base_lr``) ``batch_steps``."""

    n_train: int = 512
    width: int = 64
    depth: int = 3
    seeds: tuple = (0, 1)
    base_lr: float = 0.1
    base_batch: int = 32
    lrs: tuple = (0.05, 0.1, 0.2, 0.4)
    batches: tuple = (16, 32, 64, 128)
    weight_decays: tuple = (0.0, 3e-4, 1e-3, 3e-3)
    init_scales: tuple = (0.5, 0.75, 1.0, 1.5, 2.0)
    fit_loss: float = 0.05
    steps: int = 1000
    batch_steps: int = 700
    records: int = 80
    gc_points: int = 128

    @classmethod
    def quick(cls) -> GCParams:
        return cls()

    @classmethod
    def full(cls) -> GCParams:
        return cls(n_train=1200, width=128, seeds=(0, 1, 2, 3, 4), lrs=(0.01, 0.02, 0.05, 0.1, 0.2, 0.4),
                   batches=(16, 32, 64, 128, 256, 512), weight_decays=(0.0, 1e-4, 3e-4, 1e-3, 3e-3),
                   init_scales=(0.5, 0.75, 1.0, 1.5, 2.0, 3.0), steps=20_000, batch_steps=10_000, records=300,
                   gc_points=1200)

    @classmethod
    def preset(cls, mode: str) -> GCParams:
        return cls.quick() if mode == "quick" else cls.full()


KNOBS = ("lr", "batch", "weight_decay", "init_scale")


def gc_sweep(p: GCParams, device=None) -> dict:
    """GC at equal fit (and at initialization) for each knob value and seed.

    The lr, weight-decay and init-scale members share one batched family (``train.train`` takes them per
    member); batch size is shared by a trainer call, so there is one family per batch size.

    Returns ``rows``: one dict per member with ``knob``, ``value``, ``seed``, ``gc`` (at equal fit),
    ``gc_init``, ``test_acc`` (at equal fit), ``step`` (when it reached the fit) and ``reached``;
    and ``seconds``.
    """
    check_float("fit_loss", p.fit_loss, 0, 10, lo_open=True)
    steps = check_int("steps", p.steps, 1, 10**7)
    batch_steps = check_int("batch_steps", p.batch_steps, 1, 10**7)
    seeds = [check_int("seeds[i]", s, 0) for s in p.seeds]
    dev = get_device(device)
    ds = data.digits(n_train=p.n_train, seed=0)
    sub = ds.x_train[: check_int("gc_points", p.gc_points, 1, p.n_train)].to(dev)
    for name, vals in (("lrs", p.lrs), ("batches", p.batches), ("weight_decays", p.weight_decays),
                       ("init_scales", p.init_scales)):
        if len(vals) < 2:
            raise ValueError(f"{name} needs at least two values, got {vals}")
    cfg = ([("lr", v, v, 0.0, 1.0) for v in p.lrs]
           + [("weight_decay", v, p.base_lr, v, 1.0) for v in p.weight_decays]
           + [("init_scale", v, p.base_lr, 0.0, v) for v in p.init_scales])
    t0 = time.perf_counter()
    rows = _gc_family(cfg, seeds, ds, sub, p, steps, p.base_batch, dev)
    for b in p.batches:
        rows += _gc_family([("batch", b, p.base_lr, 0.0, 1.0)], seeds, ds, sub, p, batch_steps,
                           check_int("batches[i]", b, 1, p.n_train), dev)
    return {"rows": rows, "seconds": time.perf_counter() - t0, "params": asdict(p)}


def _gc_family(cfg, seeds, ds, sub, p, steps, batch, dev) -> list[dict]:
    members = [(c, s) for c in cfg for s in seeds]
    K = len(members)
    fam = models.mlp(64, 10, widths=p.width, seeds=[s for _, s in members], depth=p.depth,
                     init_scale=[c[4] for c, _ in members], device=dev)
    gc_init = geometric_complexity(fam, sub).cpu()
    x_tr, y_tr = ds.x_train.to(dev), ds.y_train.to(dev)
    done = torch.zeros(K, dtype=torch.bool)

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

    res = train.train(fam, ds, steps=steps, lr=[c[2] for c, _ in members], weight_decay=[c[3] for c, _ in members],
                      loss="cross_entropy", optimizer="sgd", batch_size=batch, records=p.records,
                      probes={"gc": gc_at_fit})
    fit = res.train_loss < p.fit_loss
    first = torch.where(fit.any(0), fit.float().argmax(0), torch.tensor(len(res.steps) - 1))
    gc = res.probes["gc"].nan_to_num(-1.0).amax(0)
    gc = torch.where(done, gc, geometric_complexity(fam, sub).cpu().float())  # never fitted: GC at the end
    acc = res.test_acc[first, torch.arange(K)]
    return [{"knob": c[0], "value": float(c[1]), "seed": s, "gc": float(gc[i]), "gc_init": float(gc_init[i]),
             "test_acc": float(acc[i]), "step": int(res.steps[first[i]]), "reached": bool(done[i])}
            for i, (c, s) in enumerate(members)]


def knob_means(rows: list[dict], knob: str, key: str = "gc", min_value: float | None = None):
    """From :func:`gc_sweep` rows: the sorted values of one knob and the seed-mean of ``key`` at each.
    ``min_value``: keep only values ≥ it. → (values [m], means [m])."""
    check_choice("knob", knob, KNOBS)
    values = sorted({r["value"] for r in rows if r["knob"] == knob and (min_value is None or r["value"] >= min_value)})
    if not values:
        raise ValueError(f"no rows for knob {knob!r} with value ≥ {min_value}")
    means = []
    for v in values:
        vals = [r[key] for r in rows if r["knob"] == knob and r["value"] == v]
        means.append(sum(vals) / len(vals))
    return torch.tensor(values, dtype=torch.float64), torch.tensor(means, dtype=torch.float64)


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
class AlignParams:
    """A ReLU MLP (``depth`` − 1 hidden layers of ``width``) with scalar output α(f(x) − f₀(x)) fits ±1 disk
    labels by full-batch GD on MSE with step lr/α², so every α starts with the same function-space
    dynamics. Small α is the rich regime, large α the lazy one (Chizat et al. 2019)."""

    n: int = 128
    width: int = 60
    depth: int = 4
    lr: float = 0.015
    steps: int = 2000
    alphas: tuple = (0.25, 1.0, 100.0)
    seeds: tuple = (0, 1)
    records: int = 9

    @classmethod
    def quick(cls) -> AlignParams:
        return cls()

    @classmethod
    def full(cls) -> AlignParams:
        return cls(n=400, depth=5, steps=10_000, alphas=(0.125, 0.25, 0.5, 1.0, 10.0, 100.0),
                   seeds=tuple(range(5)), records=41)

    @classmethod
    def preset(cls, mode: str) -> AlignParams:
        return cls.quick() if mode == "quick" else cls.full()


def alignment_run(p: AlignParams, device=None) -> dict:
    """Train one member per (α, seed) and record, over training, the centered kernel-target alignment of
    each member's empirical NTK with the centered labels and the NTK's effective rank.

    Returns ``alphas`` [A], ``seeds`` [S], ``steps`` [R], ``alignment`` / ``effective_rank`` / ``loss``
    [R, A, S], and ``stable_lr`` [A, S]: n / λ_max of each member's initial NTK Gram, the largest
    function-space step for which the linearized model is stable (lr must stay below it for α large).
    """
    alphas = [check_float("alphas[i]", a, 0, 1e6, lo_open=True) for a in p.alphas]
    seeds = [check_int("seeds[i]", s, 0) for s in p.seeds]
    check_float("lr", p.lr, 0, 1e3, lo_open=True)
    dev = get_device(device)
    x, y = disk(p.n, seed=0)
    x, y = x.to(dev), y.to(dev)
    A, S = len(alphas), len(seeds)
    scale = [a for a in alphas for _ in seeds]
    fam = models.mlp(2, 1, widths=p.width, seeds=seeds * A, depth=p.depth, device=dev)
    K0 = models.tangent_kernel(fam, x)
    stable = (p.n / torch.linalg.eigvalsh(K0)[:, -1]).cpu()

    def probe(f):
        K = models.tangent_kernel(f, x, scale)
        return torch.stack([kernel_alignment(K, y), effective_rank(torch.linalg.eigvalsh(K).clamp_min(0))], 1)

    run = gd_family(fam, x, y, lr=[p.lr / a**2 for a in scale], steps=p.steps, loss="mse", scale=scale,
                    records=p.records, probe=probe)
    R = p.records
    return {"alphas": torch.tensor(alphas), "seeds": torch.tensor(seeds),
            "steps": (run["time"][:, 0] / (p.lr / scale[0] ** 2)).round().long(),
            "alignment": run["probe"][..., 0].reshape(R, A, S), "effective_rank": run["probe"][..., 1].reshape(R, A, S),
            "loss": run["loss"].reshape(R, A, S), "stable_lr": stable.reshape(A, S), "seconds": run["seconds"],
            "params": asdict(p)}


# ---------------------------------------------------------------- the explorer's single run


@dataclass(frozen=True)
class WatchParams:
    """One MLP on digits trained by SGD (cross-entropy), watched over training: the explorer's run."""

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

    @classmethod
    def quick(cls) -> WatchParams:
        return cls()

    @classmethod
    def full(cls) -> WatchParams:
        return cls(n_train=1200, width=128, steps=5000, records=30, hvp_iters=20)

    @classmethod
    def preset(cls, mode: str) -> WatchParams:
        return cls.quick() if mode == "quick" else cls.full()


def watch_training(p: WatchParams, device=None) -> dict:
    """Train one network and record, at log-spaced steps, the training loss, ‖∇E‖² (full batch), GC and the
    top Hessian eigenvalue. Returns [T] tensors ``steps``, ``train_loss``, ``grad_norm_sq``, ``gc``,
    ``sharpness``, ``test_acc`` and the settings ``lr``, ``batch``, ``wd``."""
    dev = get_device(device)
    ds = data.digits(n_train=p.n_train, seed=0)
    x, y = ds.x_train.to(dev), ds.y_train.to(dev)
    fam = models.mlp(64, 10, widths=p.width, seeds=[p.seed], depth=p.depth, device=dev)
    batch = check_int("batch", p.batch, 1, p.n_train)
    probes = {"grad_norm_sq": lambda f: grad_norm_sq(f, x, y, "cross_entropy"),
              "gc": lambda f: geometric_complexity(f, x),
              "sharpness": lambda f: top_hessian_eig(f, x, y, "cross_entropy", iters=p.hvp_iters)}
    res = train.train(fam, ds, steps=p.steps, lr=p.lr, weight_decay=p.wd, loss="cross_entropy", optimizer="sgd",
                      batch_size=batch, records=p.records, probes=probes)
    return {"steps": res.steps, "train_loss": res.train_loss[:, 0], "test_acc": res.test_acc[:, 0],
            **{k: v[:, 0] for k, v in res.probes.items()}, "lr": p.lr, "batch": batch, "wd": p.wd}
