"""Spectral bias: which frequencies a network fits first, and why (compute only; torch and numpy).

Every experiment fits functions sampled on a grid of x ∈ [0, 1) with a family of MLPs that see the input
rescaled to [-1, 1), and reads the *network's* spectrum off a discrete Fourier transform of its outputs on
that grid. Results are dicts of CPU tensors (see each function), so they can be cached and charted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

import torch

from widgets.core import cost, data, models, optim, train
from widgets.core.checks import (
    check_choice,
    check_float,
    check_floats,
    check_instance,
    check_int,
    check_ints,
    check_memory,
    check_numbers,
    check_sequence,
    check_tensor,
)
from widgets.core.losses import centered_mse, sobolev_loss, sobolev_weights
from widgets.core.params import Params, experiment
from widgets.core.probes import tangent_kernel
from widgets.core.stats import first_crossing, loglog_slope, spearman

# ----------------------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class SpectralParams(Params):
    """One spectral-bias experiment: a sum of sines at ``ks`` (cycles on [0, 1)) sampled at ``n`` points,
    fitted by ``seeds`` MLPs (one phase draw each) of ``depth`` layers and ``width`` units.

    ``bias_std``: the biases' initial standard deviation; with a one-dimensional input, zero biases would
    put every first-layer kink at the same point. ``threshold``: a frequency counts as learned once the
    network's normalized amplitude 2|f̂(k)|/A_k first exceeds it. ``amplitudes``: ``"equal"`` (A_k = 1) or
    ``"rising"`` (A_k ∝ k's rank). ``features``: 0 feeds the network x rescaled to [-1, 1); m > 0 feeds it
    Tancik et al.'s m random Fourier features of x with frequencies of scale ``feature_scale``
    (:func:`fourier_features`).
    """

    # Rahaman et al.'s own setup: 6 layers of 256, full-batch Adam at 3e-4 for 60k steps, 20 phase draws
    FULL: ClassVar[dict] = {"width": 256, "seeds": 20, "lr": 3e-4, "steps": 60_000, "records": 200}
    STEPS: ClassVar[tuple] = ("steps",)
    CPU_FIT: ClassVar[dict] = {"seeds": "half"}  # deep_ntk_eigs: 20 seeds' tangent features take 17 GB

    n: int = 200
    ks: tuple = tuple(range(5, 55, 5))
    seeds: int = 5
    width: int = 64
    depth: int = 6
    act: str = "relu"
    optimizer: str = "adam"
    lr: float = 3e-3
    steps: int = 1500
    bias_std: float = 1.0
    records: int = 80
    threshold: float = 0.5
    amplitudes: str = "equal"
    features: int = 0
    feature_scale: float = 10.0

    def check(self) -> None:
        n = check_int("n", self.n, 16, 10**6)
        _check_frequencies(self.ks, n)
        seeds = check_int("seeds", self.seeds, 1, 10**4)
        width = check_int("width", self.width, 1, 10**5)
        depth = check_int("depth", self.depth, 2, 64)
        check_choice("act", self.act, tuple(models.ACTIVATIONS))
        check_choice("optimizer", self.optimizer, optim.RULES)
        check_float("lr", self.lr, 0, 10, lo_open=True)
        check_int("steps", self.steps, 1, 10**7)
        check_float("bias_std", self.bias_std, 0, 100)
        records = check_int("records", self.records, 2, 10**4)
        check_float("threshold", self.threshold, 0, 1, lo_open=True, hi_open=True)
        check_choice("amplitudes", self.amplitudes, ("equal", "rising"))
        d_in = 2 * check_int("features", self.features, 0, 10**5) or 1
        check_float("feature_scale", self.feature_scale, 0, 1e4, lo_open=True)
        # training, the recorded outputs and their float64 ratios
        check_memory("seeds × width² × depth × n × records",
                     models.training_bytes(seeds, n, d_in, 1, width, depth)
                     + 4 * records * seeds * n + 8 * records * seeds * len(self.ks))


def _check_frequencies(ks, n: int) -> list[int]:
    """Integer frequencies of a grid of n points, from 1 up to below its Nyquist frequency n/2."""
    ks = check_ints("ks", ks, 1)
    if max(ks) >= n / 2:
        raise ValueError(f"ks must lie below the Nyquist frequency n/2 = {n / 2}, got {ks}")
    return ks


# ----------------------------------------------------------------------------------------- measurements


def spectral_ratio(f: torch.Tensor, ks, amplitudes) -> torch.Tensor:
    """2|f̂(k)|/A_k for functions sampled on the uniform grid x_j = j/n: f [..., n] → [..., m].

    A sine of amplitude A at integer frequency k has |f̂(k)| = A/2 under f̂(k) = (1/n) Σ_j f(x_j) e^{−2πikx_j},
    so the ratio is 1 when the component is fitted exactly. ``ks``: integer frequencies in [1, n/2];
    ``amplitudes``: one positive A_k each. NaN or inf in f (a diverged run) give NaN or inf ratios.
    """
    f = check_tensor("f", f, ndim=tuple(range(1, 65)), shape="[..., n]", finite=False)
    n = f.shape[-1]
    ks = check_ints("ks", ks, 1, n // 2)  # resolvable on n points
    amps = check_floats("amplitudes", amplitudes, 0, 1e12, lo_open=True)
    if len(ks) != len(amps):
        raise ValueError(f"ks and amplitudes must be equally long, got {len(ks)} and {len(amps)}")
    ks, amps = torch.tensor(ks), torch.tensor(amps, dtype=f.dtype)
    return 2 * (torch.fft.rfft(f, dim=-1) / n)[..., ks].abs() / amps


def learning_order(steps: torch.Tensor, ratio: torch.Tensor, threshold: float) -> torch.Tensor:
    """A key that orders components by when they were learned: the first step above ``threshold`` for those
    learned within the run, and for the rest T·(2 − peak/threshold) ∈ (T, 2T], so they rank after every
    learned one, in order of how close they came. steps [T]; ratio [T, ...] → [...] float64.

    ``threshold`` > 0. A component whose ratio holds NaN (a diverged member) and that was not learned before
    gets NaN: it has no place in the order."""
    threshold = check_float("threshold", threshold, 0, lo_open=True)
    steps = check_tensor("steps", steps, ndim=1, shape="[T]", min_size=1)
    ratio = check_tensor("ratio", ratio, ndim=tuple(range(1, 65)), shape="[T, ...]", finite=False)
    if len(ratio) != len(steps):
        raise ValueError(f"ratio must have one row per record (T = {len(steps)}), got shape {tuple(ratio.shape)}")
    first = first_crossing(steps, ratio, threshold, "above")
    T = float(steps[-1])
    late = T * (2 - ratio.max(0).values.double() / threshold)
    return torch.where(torch.isfinite(first), first, late)


def time_slope(ks, order: torch.Tensor, steps_run: float) -> float:
    """Log-log slope of learning step against frequency, over the (seed, k) entries learned within the run
    (0 < order ≤ steps_run). ks [m] positive; order [S, m] or [m] (:func:`learning_order`). Raises
    ValueError (from :func:`~widgets.core.stats.loglog_slope`) when fewer than two entries were learned."""
    check_float("steps_run", steps_run, 0, lo_open=True)
    order = check_tensor("order", order, ndim=(1, 2), shape="[S, m]", finite=False)
    ks = torch.tensor(check_floats("ks", ks, 0, lo_open=True), dtype=torch.float64)
    if len(ks) != order.shape[-1]:
        raise ValueError(f"ks must have one frequency per column of order ({order.shape[-1]}), got {len(ks)}")
    ks = ks.expand_as(order)
    ok = (order > 0) & (order <= steps_run)
    return loglog_slope(ks[ok], order[ok])


def sobolev_slope(result: dict, s: float) -> float:
    """:func:`time_slope` of :func:`gd_runs`' ``result`` under the H^s loss of exponent ``s`` (one of its
    ``s`` values), over the frequencies learned within the run; a ValueError naming ``s`` otherwise."""
    check_instance("result", result, dict, "gd_runs' dict")
    values = result["s"].tolist()
    if s not in values:
        raise ValueError(f"s must be one of the run's exponents {values}, got {s!r}")
    return time_slope(result["ks"], result["order"][values.index(s)], float(result["steps"][-1]))


# ----------------------------------------------------------------------------------------- 1. low first


def _family(p: SpectralParams, d_in: int = 1, seeds=None, device=None) -> models.Family:
    seeds = list(range(p.seeds)) if seeds is None else list(seeds)
    return models.mlp(d_in, 1, widths=p.width, seeds=seeds, depth=p.depth, act=p.act, bias_std=p.bias_std,
                      device=device)


def _fit(p: SpectralParams, seeds: list[int], amplitudes: str, loss, inputs, device, progress) -> dict:
    """Member j fits the phase draw ``seeds[j]`` from initialization ``seeds[j]``."""
    sines = [data.sinusoids(p.n, ks=p.ks, amplitudes=amplitudes, seed=s) for s in seeds]
    x = sines[0].inputs if inputs is None else inputs.float()
    targets = torch.stack([s.y for s in sines])  # [K, n, 1]: each member fits its own phase draw
    family = _family(p, d_in=x.shape[1], seeds=seeds, device=device)
    result = train.train(family, data.Dataset(x, targets, x, targets), steps=p.steps, lr=p.lr, loss=loss,
                         optimizer=p.optimizer, records=p.records, probes={"f": train.outputs_on(x)},
                         progress=progress)
    outputs = result.probes["f"][..., 0]
    amps = sines[0].amplitudes
    ratio = spectral_ratio(outputs.double(), p.ks, amps)
    first = first_crossing(result.steps, ratio, p.threshold, "above")
    order = learning_order(result.steps, ratio, p.threshold)
    ks = torch.tensor(p.ks, dtype=torch.float64)
    return {"x": sines[0].x, "targets": targets[..., 0], "ks": ks, "amplitudes": amps, "steps": result.steps,
            "outputs": outputs, "ratio": ratio, "first": first, "order": order,
            "rank_corr": torch.tensor([spearman(ks, o) for o in order]),
            "train_loss": result.train_loss, "seconds": result.seconds, "params": asdict(p),
            "amplitude_case": amplitudes}


def _learn_sines_cost(p: SpectralParams) -> cost.Cost:
    # one family of `seeds` members (per-member targets), full batch on the n grid points; every record
    # evaluates the train and the test set and the outputs probe (3n points), then small FFTs on the host
    sizes = cost.mlp_sizes(2 * p.features if p.features else 1, p.width, p.depth, 1)
    run = dict(members=p.seeds, sizes=sizes, batch=p.n, steps=p.steps, evals=3 * p.n,
               records=cost.records(p.steps, p.records), optimizer=p.optimizer)
    return (cost.family_init(members=p.seeds, weights=cost.mlp_weights(sizes), layers=p.depth)
            + cost.train(**run, per_member_data=True) + cost.dense_extras(**run))


@cost.model(_learn_sines_cost)
@experiment
def learn_sines(p: SpectralParams, *, device=None, progress: bool = False) -> dict:
    """Fit Rahaman et al.'s sum of sines (amplitudes ``p.amplitudes``), one phase draw per member, all members
    in one batched family.

    The network sees x rescaled to [-1, 1), or with ``p.features`` > 0 that many random Fourier features of
    the grid (:func:`fourier_features`, seed 0, scale ``p.feature_scale``): [n, 2m].

    Returns ``x`` [n], ``targets`` [S, n], ``ks`` [m], ``amplitudes`` [m], ``steps`` [T], ``outputs``
    [T, S, n] (the network's function at each record), ``ratio`` [T, S, m] (2|f̂(k)|/A_k), ``first`` [S, m]
    (first step above the threshold, inf if never), ``order`` [S, m] (:func:`learning_order`), ``rank_corr``
    [S] (Spearman between k and ``order``), ``train_loss`` [T, S], ``seconds``, ``params``.
    """
    grid = torch.arange(p.n, dtype=torch.float64) / p.n  # data.sinusoids' grid
    inputs = fourier_features(grid, m=p.features, scale=p.feature_scale) if p.features else None
    return _fit(p, list(range(p.seeds)), p.amplitudes, "mse", inputs, device, progress)


# ----------------------------------------------------------------------------------------- 2. the NTK


def fourier_eigs(kernel: torch.Tensor, ks) -> torch.Tensor:
    """The kernel's eigenvalue at frequency k, read as the mean Rayleigh quotient of the unit cosine and
    sine vectors at k on the uniform grid: kernel [..., n, n] → [..., m] (units of the kernel matrix).
    ``ks``: integer frequencies with both vectors nonzero, 1 ≤ k < n/2."""
    kernel = check_tensor("kernel", kernel, ndim=tuple(range(2, 65)), shape="[..., n, n]")
    n = kernel.shape[-1]
    if kernel.shape[-2] != n:
        raise ValueError(f"kernel must be square in its last two axes, got shape {tuple(kernel.shape)}")
    ks = _check_frequencies(ks, n)
    x = torch.arange(n, dtype=torch.float64, device=kernel.device) / n
    ks = torch.tensor(ks, dtype=torch.float64, device=kernel.device)
    basis = torch.cat([torch.cos(2 * math.pi * ks[:, None] * x), torch.sin(2 * math.pi * ks[:, None] * x)])
    basis = basis / basis.norm(dim=1, keepdim=True)  # [2m, n]
    q = torch.einsum("an,...nm,am->...a", basis, kernel.double(), basis)
    m = len(ks)
    return 0.5 * (q[..., :m] + q[..., m:])



def circle(x: torch.Tensor) -> torch.Tensor:
    """Positions x ∈ [0, 1) [n] as points on the unit circle [n, 2]. A network of these inputs has a
    kernel that depends only on x − x′ (up to finite-width noise), so Fourier modes are its eigenvectors."""
    x = check_tensor("x", check_numbers("x", x, torch.float64), ndim=1, shape="[n]")
    return torch.stack([torch.cos(2 * math.pi * x), torch.sin(2 * math.pi * x)], dim=1).float()


def gd_learning_time(eig: torch.Tensor, lr, n: int, fraction: float = 0.5) -> torch.Tensor:
    """Linearized prediction of the step at which gradient descent on mean squared error has fitted
    ``fraction`` of a component whose kernel eigenvalue is ``eig``: its residual shrinks by 1 − 2·lr·eig/n
    per step, so t = log(1 − fraction) / log(1 − 2·lr·eig/n) ≈ 1/eig.

    ``eig`` (> 0) and ``lr`` (> 0): numbers or tensors that broadcast together; ``n`` ≥ 1; ``fraction`` in
    (0, 1). A step past the stability limit (rate ≥ 1) is read as rate 1 − 1e-12: a learning time near 0."""
    eig, lr_t = check_numbers("eig", eig), check_numbers("lr", lr, torch.float64)
    for name, t in (("eig", eig), ("lr", lr_t)):
        if not bool(torch.isfinite(t).all()) or bool((t <= 0).any()):
            raise ValueError(f"{name} must hold positive finite numbers")
    try:
        torch.broadcast_shapes(eig.shape, lr_t.shape)
    except RuntimeError:
        raise ValueError(f"eig {tuple(eig.shape)} and lr {tuple(lr_t.shape)} must broadcast together") from None
    n = check_int("n", n, 1)
    fraction = check_float("fraction", fraction, 0, 1, lo_open=True, hi_open=True)
    rate = (2 * lr_t * eig / n).clamp(max=1 - 1e-12)
    return math.log(1 - fraction) / torch.log1p(-rate)


@dataclass(frozen=True)
class KernelParams(Params):
    """The linearized-dynamics experiments: a wide one-hidden-layer ReLU network of inputs on the circle,
    trained by full-batch gradient descent at ``lr_fraction`` of its stability limit (lazy enough that its
    tangent kernel at initialization describes its training). ``s_values``: the Sobolev exponents of
    :func:`gd_runs` (s = 0: the mean squared error)."""

    FULL: ClassVar[dict] = {"ks": tuple(range(1, 11)), "seeds": 10, "width": 4096, "steps": 20_000,
                            "records": 160, "density_n": 420}
    STEPS: ClassVar[tuple] = ("steps",)

    n: int = 200
    ks: tuple = (1, 2, 3, 4, 5, 6, 7)
    seeds: int = 3
    width: int = 512
    steps: int = 1500
    lr_fraction: float = 0.9
    bias_std: float = 1.0
    records: int = 80
    threshold: float = 0.5
    density: tuple = (1, 2, 4)
    density_k: int = 4
    density_n: int = 210
    s_values: tuple = (0.0, -1.0, 1.0)

    def check(self) -> None:
        n = check_int("n", self.n, 16, 10**6)
        _check_frequencies(self.ks, n)
        seeds = check_int("seeds", self.seeds, 1, 10**4)
        width = check_int("width", self.width, 1, 10**6)
        check_int("steps", self.steps, 1, 10**7)
        check_float("lr_fraction", self.lr_fraction, 0, 1, lo_open=True, hi_open=True)
        check_float("bias_std", self.bias_std, 0, 100)
        records = check_int("records", self.records, 2, 10**4)
        check_float("threshold", self.threshold, 0, 1, lo_open=True, hi_open=True)
        regions = check_floats("density", self.density, 0, 1e6, lo_open=True)
        density_n = check_int("density_n", self.density_n, 2 * len(regions), 10**6)
        check_int("density_k", self.density_k, 1, 10**4)
        L = len(check_floats("s_values", self.s_values, -4, 4))
        # gd_runs, the larger run: the tangent features (float64) and kernels of its seeds, the loss matrices,
        # training L·seeds members and their recorded outputs (density_times: the same on density_n points)
        K, m = L * seeds, max(n, density_n)
        check_memory("seeds × width × n × s_values × records",
                     8 * (2 * 4 * width * seeds * m + (seeds + 3 * L) * m * m)
                     + models.training_bytes(K, m, 2, 1, width, 2) + 4 * records * K * m)


def _wide(p: KernelParams, device=None, seeds=None) -> models.Family:
    seeds = list(range(p.seeds)) if seeds is None else list(seeds)
    return models.mlp(2, 1, widths=p.width, seeds=seeds, depth=2, bias_std=p.bias_std, device=device)


def _stable_lr(theta: torch.Tensor, fraction: float) -> torch.Tensor:
    """``fraction`` of the largest stable GD step for :func:`centered_mse`: n / λ_max(PΘP), P the centering
    projector. theta: [K, n, n] → [K]."""
    n = theta.shape[-1]
    P = torch.eye(n, dtype=theta.dtype, device=theta.device) - 1.0 / n
    return (fraction * n / torch.linalg.eigvalsh(P @ theta @ P)[:, -1]).cpu()


def _deep_ntk_eigs_cost(p: SpectralParams) -> cost.Cost:
    # the tangent kernels of learn_sines's family at initialization (float64 J Jᵀ), then Rayleigh quotients
    # of 2m Fourier vectors: one [S, n, n] contraction in float64 on the device
    sizes = cost.mlp_sizes(1, p.width, p.depth, 1)
    P = cost.mlp_weights(sizes)
    return (cost.family_init(members=p.seeds, weights=P, layers=p.depth)
            + cost.tangent_kernel(members=p.seeds, n=p.n, weights=P)
            + cost.tangent_features(members=p.seeds, n=p.n, weights=P)
            + cost.product(2 * len(p.ks), p.n, p.n, batch=p.seeds, f64=True))


@cost.model(_deep_ntk_eigs_cost)
@experiment
def deep_ntk_eigs(p: SpectralParams, *, device=None, progress: bool = False) -> dict:
    """λ_k of the empirical NTK at initialization of :func:`learn_sines`'s own networks, on its grid
    (inputs in [-1, 1), so the modes are only approximately eigenvectors). Nothing trains (``progress`` is
    unused). Returns ``eigs`` [S, m], ``ks`` [m], ``params``."""
    x = data.sinusoids(p.n, ks=p.ks).inputs
    eigs = fourier_eigs(tangent_kernel(_family(p, device=device), x), p.ks).cpu()
    return {"eigs": eigs, "ks": torch.tensor(p.ks, dtype=torch.float64), "params": asdict(p)}


# ----------------------------------------------------------------------------------------- 3. density


def _density_times_cost(p: KernelParams) -> cost.Cost:
    # one tangent kernel per member (each sees its own sample), the stable step from eigvalsh(PΘP) in float64
    # on the device, then full-batch GD on per-member inputs; each record evaluates the train and test sets
    # and the residual probe (3n points) and reduces over regions in float64
    n, S = p.density_n, p.seeds
    sizes = (2, p.width, 1)
    P = cost.mlp_weights(sizes)
    stable = (cost.product(n, n, n, batch=S, f64=True) * 2 + cost.eigh(n, batch=S))
    probe = cost.passes(S * n, 6, f64=True, ops=12) + cost.matvec(S, n, len(p.density), f64=True)
    run = dict(members=S, sizes=sizes, batch=n, steps=p.steps, evals=3 * n, records=cost.records(p.steps, p.records),
               optimizer="gd")
    return (cost.family_init(members=S, weights=P, layers=2)
            + S * (cost.tangent_kernel(members=1, n=n, weights=P) + cost.tangent_features(members=1, n=n, weights=P))
            + stable + cost.train(**run, per_member_data=True) + cost.dense_extras(**run)
            + p.steps * cost.passes(S * n, 4, ops=6)  # the centered MSE (a callable loss) and its backward
            + run["records"] * probe)


@cost.model(_density_times_cost)
@experiment
def density_times(p: KernelParams, *, device=None, progress: bool = False) -> dict:
    """Basri et al.'s non-uniform density on the circle: x drawn from a piecewise-constant density with
    levels ∝ ``p.density`` on equal thirds, target sin(2π k x + 2πφ) at one frequency k, the wide network
    trained by GD. Tracks the relative residual in each region.

    Returns ``density`` [R] (the density level of each region, integrating to 1 on [0, 1)), ``steps`` [T],
    ``residual`` [T, S, R] (RMS residual over the region's points / RMS target there), ``time`` [S, R]
    (first step with residual < 1 − threshold; its slope against density: :func:`density_slope`),
    ``x`` [S, n], ``seconds``, ``params``.
    """
    R = len(p.density)
    dens = torch.tensor(p.density, dtype=torch.float64)
    dens = dens / dens.mean()  # density on [0, 1) with R equal pieces
    xs, ys, regions = [], [], []
    for s in range(p.seeds):
        x = data.density_grid(p.density_n, weights=p.density, seed=s)
        xs.append(x)
        ys.append(data.sinusoids(ks=(p.density_k,), seed=s, x=x).y)
        regions.append((x * R).long().clamp(max=R - 1))
    empty = [(s, r) for s, reg in enumerate(regions) for r in range(R) if not bool((reg == r).any())]
    if empty:  # its residual would be 0/0
        raise ValueError(f"density_n = {p.density_n} left region {empty[0][1]} without points for seed "
                         f"{empty[0][0]}: raise density_n")
    # members see different samples, so each gets its own kernel and step size; inputs are per member
    family = _wide(p, device)
    X = torch.stack([circle(x) for x in xs])  # [S, n, 2]
    thetas = torch.stack([tangent_kernel(family.member(s), X[s])[0] for s in range(p.seeds)])
    lrs = _stable_lr(thetas, p.lr_fraction)
    Y = torch.stack(ys)  # [S, n, 1]
    onehot = torch.nn.functional.one_hot(torch.stack(regions), R).double()  # [S, n, R]

    energy = torch.einsum("sn,snr->sr", Y[..., 0].double() ** 2, onehot)  # each region's target energy
    on = train.device_copies(X, Y, onehot, energy)  # copied to the family's device once

    def residual(fam: models.Family) -> torch.Tensor:  # on the family's device: no host round trip per record
        Xd, Yd, hot, den = on(fam.device)
        with torch.no_grad():
            r = (fam(Xd) - Yd).double()[..., 0]
        r = r - r.mean(1, keepdim=True)
        return (torch.einsum("sn,snr->sr", r**2, hot) / den).sqrt()

    result = train.train(family, data.Dataset(X, Y, X, Y), steps=p.steps, lr=lrs.tolist(), loss=centered_mse,
                         optimizer="gd", records=p.records, probes={"residual": residual}, progress=progress)
    res = result.probes["residual"]
    time_ = first_crossing(result.steps, res, 1 - p.threshold, "below")
    return {"density": dens, "steps": result.steps, "residual": res, "time": time_, "x": torch.stack(xs),
            "seconds": result.seconds, "params": asdict(p)}


def density_slope(result: dict) -> float:
    """Log-log slope of each region's time to converge against its density, from :func:`density_times`.

    Raises ValueError (from :func:`~widgets.core.stats.loglog_slope`) when fewer than two regions converged
    within the run: a short or diverged run has no slope, and the chapter's claim then fails, saying so."""
    check_instance("result", result, dict, "the dict of density_times")
    if not {"time", "density"} <= result.keys():
        raise ValueError(f"result must be density_times' dict (with 'time' and 'density'), got keys {sorted(result)}")
    time_ = result["time"]
    return loglog_slope(result["density"].expand_as(time_), time_)


# ----------------------------------------------------------------------------------------- 4. Sobolev loss


def sobolev_matrix(weights: torch.Tensor, n: int) -> torch.Tensor:
    """The loss's quadratic form: Σ_k w_k |DFT(r)(k)|² = rᵀ M r. weights [L, n//2 + 1] → M [L, n, n]."""
    n = check_int("n", n, 2)
    weights = check_tensor("weights", weights, ndim=2, shape=f"[L, {n // 2 + 1}]")
    if weights.shape[1] != n // 2 + 1:
        raise ValueError(f"weights must have n//2 + 1 = {n // 2 + 1} columns (one per frequency of n = {n} "
                         f"points), got shape {tuple(weights.shape)}")
    # the DFT matrix and the weighted product (complex128), the result (float64)
    check_memory(f"the quadratic forms of {len(weights)} losses on n = {n} points", (16 * 3 + 8) * len(weights) * n * n)
    F = torch.fft.rfft(torch.eye(n, dtype=torch.float64), dim=0)  # [n//2 + 1, n]
    return torch.einsum("kn,lk,km->lnm", F.conj(), weights.to(torch.complex128), F).real


def _gd_runs_cost(p: KernelParams) -> cost.Cost:
    # (s, seed) members trained by full-batch GD under the Sobolev loss (an rFFT of the residual every step);
    # before it, the seeds' tangent kernels, and on the CPU in float64 (forced: the kernels are moved there)
    # the loss matrices and one general (non-symmetric) eigensolve of ΘM per member for its stable step
    L, S, n = len(p.s_values), p.seeds, p.n
    K = L * S
    sizes = (2, p.width, 1)
    P = cost.mlp_weights(sizes)
    run = dict(members=K, sizes=sizes, batch=n, steps=p.steps, evals=3 * n, records=cost.records(p.steps, p.records),
               optimizer="gd")
    fft = cost.passes(K * n, 2 * math.log2(n) + 8, ops=10)  # rfft, |·|², weights, sum, and the backward
    on_cpu = cost.Cost(cpu_flops=8.0 * L * n * n * (n // 2 + 1) + K * (2.0 * n**3 + 25.0 * n**3), cpu_ops=3 * K)
    return (cost.family_init(members=K + S, weights=P, layers=2)
            + cost.tangent_kernel(members=S, n=n, weights=P) + cost.tangent_features(members=S, n=n, weights=P)
            + on_cpu + cost.train(**run, per_member_data=True) + cost.dense_extras(**run)
            + (p.steps + 2 * run["records"]) * fft)


@cost.model(_gd_runs_cost)
@experiment
def gd_runs(p: KernelParams, *, device=None, progress: bool = False) -> dict:
    """Predict when each frequency is learned from the empirical NTK Θ at initialization, then train and see:
    the wide network on the circle, by full-batch GD under the H^s loss for each s of ``p.s_values`` (s = 0:
    the mean squared error), all (s, seed) pairs in one batched family with the same phase draws and initializations for
    every s. Each member's step is ``p.lr_fraction`` of its stability limit 1/λ_max(ΘM), M the loss matrix.

    ``M``'s eigenvalue at k is w_k·n/2 = (1 + k²)^s/n, so the loss multiplies the kernel's spectrum by
    (1 + k²)^s. Returns ``s`` [L], ``ks`` [m], ``steps`` [T], ``ratio``
    [L, T, S, m], ``order`` [L, S, m] (:func:`learning_order`), ``predicted`` [L, S, m] (steps),
    ``rank_corr`` [L, S] (Spearman of k vs order), ``ntk_eigs`` [S, m] (λ_k), ``lr`` [L, S],
    ``time_corr`` [L, S] (Spearman of predicted vs order), ``seconds``, ``params``.
    """
    s_values = p.s_values
    L, S = len(s_values), p.seeds
    seeds = list(range(S)) * L
    sines = [data.sinusoids(p.n, ks=p.ks, seed=s) for s in seeds]
    x = circle(sines[0].x)
    family = _wide(p, device, seeds)
    # the kernel at initialization depends on the seed only, so it is shared by every s
    # [S, n, n], on the host in float64: the step sizes come from a non-symmetric eigenvalue problem (ΘM),
    # solved once before training and small at these n (for a CUDA tensor, torch.linalg.eigvals synchronizes
    # with the host anyway)
    thetas = tangent_kernel(_wide(p, device), x).cpu()
    weights = sobolev_weights(list(s_values), p.n)  # [L, n//2 + 1]
    M = sobolev_matrix(weights, p.n)  # [L, n, n]
    # GD moves f by −2·lr·ΘM·r per step, so it is stable while lr < 1/λ_max(ΘM)
    top = torch.stack([torch.linalg.eigvals(thetas[j] @ M[i]).real.max() for i in range(L) for j in range(S)])
    lrs = (p.lr_fraction / top).view(L, S)
    eigs = fourier_eigs(thetas, p.ks)  # [S, m]
    wk = weights[:, torch.tensor(p.ks)]  # [L, m]
    # under the H^s loss, component k shrinks like plain MSE on a kernel with eigenvalue λ_k·w_k·n²/2
    # (M's eigenvalue at k is w_k·n/2, the mean squared error's is 1/n)
    predicted = gd_learning_time(eigs[None] * wk[:, None, :] * p.n**2 / 2, lrs[:, :, None], p.n, p.threshold)
    targets = torch.stack([s.y for s in sines])
    loss = sobolev_loss([v for v in s_values for _ in range(S)], p.n)
    result = train.train(family, data.Dataset(x, targets, x, targets), steps=p.steps, lr=lrs.flatten().tolist(),
                         loss=loss, optimizer="gd", records=p.records, probes={"f": train.outputs_on(x)},
                         progress=progress)
    ratio = spectral_ratio(result.probes["f"][..., 0].double(), p.ks, sines[0].amplitudes)
    T, m = len(result.steps), len(p.ks)
    ratio = ratio.view(T, L, S, m).transpose(0, 1)
    order = torch.stack([learning_order(result.steps, r, p.threshold) for r in ratio])
    ks = torch.tensor(p.ks, dtype=torch.float64)
    return {"s": torch.tensor(s_values, dtype=torch.float64), "ks": ks, "steps": result.steps, "ratio": ratio,
            "order": order, "predicted": predicted, "ntk_eigs": eigs, "lr": lrs,
            "rank_corr": torch.tensor([[spearman(ks, o) for o in row] for row in order]),
            "time_corr": torch.tensor([[spearman(a, b) for a, b in zip(pr, o, strict=True)]
                                       for pr, o in zip(predicted, order, strict=True)]),
            "seconds": result.seconds, "params": asdict(p)}


# ----------------------------------------------------------------------------------------- 6. Fourier features


def fourier_features(x: torch.Tensor, m: int = 64, scale: float = 10.0, seed: int = 0) -> torch.Tensor:
    """Tancik et al.'s random Fourier features of positions x ∈ [0, 1) [n]: [cos 2πbx, sin 2πbx] with m
    frequencies b ~ N(0, scale²) (cycles per unit), → [n, 2m]."""
    x = check_tensor("x", check_numbers("x", x, torch.float64), ndim=1, shape="[n]")
    m = check_int("m", m, 1, 10**5)
    scale = check_float("scale", scale, 0, 1e4, lo_open=True)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    check_memory(f"{m} Fourier features of {len(x)} positions", 8 * 4 * len(x) * m)
    b = torch.randn(m, generator=g, dtype=torch.float64) * scale
    phase = 2 * math.pi * x[:, None] * b
    return torch.cat([phase.cos(), phase.sin()], dim=1).float()


# ----------------------------------------------------------------------------------------- 5. in practice


@dataclass(frozen=True)
class PracticeParams(Params):
    """Fridovich-Keil et al.'s measurement, offline: MLP classifiers of sklearn's 8×8 digits, and the
    frequency content of their logits along straight paths between training images.

    ``dataset``: ``"digits"``, or ``"cifar10"`` (the paper's own data: 32×32×3 images from
    ``$WIDGETS_DATA``, see :func:`widgets.core.data.cifar10`), which full mode uses when the reader has it.
    ``n_small`` / ``n_large``: training-set sizes; ``short``: the early step that stands for "less
    training"; ``points``: samples per path; ``pairs``: paths of each kind (same class, different class);
    ``cutoff``: the lowest frequency (cycles per path) counted as high."""

    FULL: ClassVar[dict] = {"width": 512, "steps": 4000, "short": 200, "seeds": 10, "pairs": 300, "points": 128,
                            "records": 40}
    CIFAR: ClassVar[dict] = {"dataset": "cifar10", "n_small": 5000, "n_large": 50_000}  # full mode, given the files
    STEPS: ClassVar[tuple] = ("steps", "short")
    CPU_FIT: ClassVar[dict] = {"pairs": "half", "seeds": "half"}  # the logits on every path, at every record

    dataset: str = "digits"
    n_small: int = 200
    n_large: int = 1200
    width: int = 64
    depth: int = 3
    lr: float = 2e-3
    steps: int = 300
    short: int = 30
    seeds: int = 3
    points: int = 64
    pairs: int = 60
    cutoff: int = 4
    records: int = 10

    @classmethod
    def full_overrides(cls) -> dict:
        """The paper's scale, on CIFAR-10 when ``$WIDGETS_DATA`` holds it (else the digits analogue)."""
        return {**cls.FULL, **(cls.CIFAR if data.cifar10_available() else {})}

    def check(self) -> None:
        check_choice("dataset", self.dataset, tuple(IMAGES))
        n_large = check_int("n_large", self.n_large, 20, IMAGES[self.dataset][1])
        n_small = check_int("n_small", self.n_small, 20, n_large)
        width = check_int("width", self.width, 1, 10**5)
        depth = check_int("depth", self.depth, 1, 64)
        check_float("lr", self.lr, 0, 10, lo_open=True)
        steps = check_int("steps", self.steps, 2, 10**7)
        check_int("short", self.short, 1, steps)
        seeds = check_int("seeds", self.seeds, 1, 10**4)
        points = check_int("points", self.points, 8, 4096)
        check_int("cutoff", self.cutoff, 1, points // 2)
        pairs = check_int("pairs", self.pairs, 1, 10**5)
        check_int("records", self.records, 2, 10**4)
        # training on the largest set (all images, or the augmented small one), and the logits along every
        # path with their spectra (float64)
        check_memory("seeds × width × depth × pairs × points",
                     models.training_bytes(seeds, max(n_large, 5 * n_small), math.prod(IMAGES[self.dataset][0]),
                                           10, width, depth)
                     + 8 * 3 * seeds * 2 * pairs * points * 10)


IMAGES = {"digits": ((1, 8, 8), 1500), "cifar10": ((3, 32, 32), 50_000)}
"""Each dataset's image shape (channels, height, width) and the most training images :class:`PracticeParams`
may take from it (digits keeps the rest of its 1797 for testing)."""


def shift_augment(x: torch.Tensor, shape: tuple = (1, 8, 8)) -> torch.Tensor:
    """The images x [n, C·H·W] (channel-major, of ``shape`` (C, H, W)) and their four one-pixel shifts (up,
    down, left, right; zero fill) → [5n, C·H·W], grouped by shift."""
    x = check_tensor("x", x, ndim=2, shape="[n, C·H·W]")
    shape = tuple(check_int("shape[i]", v, 1, 10**4) for v in check_sequence("shape", shape, length=3))
    if x.shape[1] != math.prod(shape):
        raise ValueError(f"x must have shape [n, {math.prod(shape)}] (images of shape {shape}), got {tuple(x.shape)}")
    img = x.reshape(-1, *shape)
    out = [img]
    for dim, step in ((2, 1), (2, -1), (3, 1), (3, -1)):
        s = torch.roll(img, step, dims=dim)
        edge = 0 if step == 1 else -1
        s.select(dim, edge).zero_()
        out.append(s)
    return torch.cat(out).reshape(len(out) * len(img), -1)


def path_high_frequency(logits: torch.Tensor, cutoff: int) -> torch.Tensor:
    """The fraction of the logits' energy along each path at frequencies ≥ ``cutoff`` (cycles per path).

    logits: [..., M, C] sampled at M evenly spaced points from one image to the other. Each logit has the
    straight line between its end values removed first, so the path's endpoints don't alias into high
    frequencies. Returns [...]: Σ_{f ≥ cutoff} |ĝ(f)|² / Σ_{f ≥ 1} |ĝ(f)|², summed over logits; 0 along a
    straight path (no energy above the line). ``cutoff``: in [1, M // 2]. Runs as a probe on the family's
    device at every record, so the logits' finiteness is not checked (a host round trip): NaN logits (a
    diverged member) give NaN.
    """
    logits = check_tensor("logits", logits, ndim=tuple(range(2, 65)), shape="[..., M, C]", finite=False)
    M = logits.shape[-2]
    cutoff = check_int("cutoff", cutoff, 1, M // 2)
    t = torch.linspace(0, 1, M, dtype=logits.dtype, device=logits.device)[:, None]
    line = logits[..., :1, :] * (1 - t) + logits[..., -1:, :] * t
    power = torch.fft.rfft(logits - line, dim=-2).abs() ** 2  # [..., M//2 + 1, C]
    return power[..., cutoff:, :].sum((-2, -1)) / power[..., 1:, :].sum((-2, -1)).clamp_min(1e-30)


def _practice_cost(p: PracticeParams) -> cost.Cost:
    # three families (baseline, more data, augmentation), full-batch Adam; every record evaluates the train
    # set, the test set and the logits on every path point (one split at a time), with the paths' FFTs in
    # float64 on the device. The images (and the paths) stay on the device for the whole run
    shape = IMAGES[p.dataset][0]
    d_in = math.prod(shape)
    n_test = 1797 - p.n_large if p.dataset == "digits" else 10_000
    sizes = cost.mlp_sizes(d_in, p.width, p.depth, 10)
    P, S = cost.mlp_weights(sizes), p.seeds
    paths = 2 * p.pairs * p.points
    rec = cost.records(p.steps, p.records)
    hf = cost.passes(S * paths * 10, 2 * math.log2(p.points) + 10, f64=True, ops=20)
    load = cost.Cost() if p.dataset == "digits" else cost.Cost(cpu_flops=3 * cost.PASS_FLOPS * 60_000 * d_in)
    total = load
    for n in (p.n_small, p.n_large, 5 * p.n_small):
        run = dict(members=S, sizes=sizes, batch=n, steps=p.steps, optimizer="adam")
        record = (sum((cost.forward(members=S, sizes=sizes, n=m) for m in (n, n_test, paths)), cost.Cost())
                  + cost.passes(S * (n + n_test) * 10, 10, ops=8) + hf)
        fit = cost.train(**run)  # its memory holds the training images: add the test images and the paths
        fit = replace(fit, memory=fit.memory + cost.F32 * (n_test + paths) * d_in)
        total = total + (cost.family_init(members=S, weights=P, layers=p.depth)
                         + fit + cost.dense_extras(**run) + rec * record)
    return total


@cost.model(_practice_cost)
@experiment
def practice(p: PracticeParams, *, device=None, progress: bool = False) -> dict:
    """Train MLP families (one per intervention, batched over seeds) and measure test accuracy and the
    high-frequency fraction of their logits along same-class and different-class paths between training
    images of the small training set (which every intervention's training set contains).

    Returns ``rows``: one dict per (intervention, seed) with ``intervention``, ``seed``, ``test_acc``,
    ``hf_same``, ``hf_diff``; and ``seconds``, ``params``.
    """
    shape = IMAGES[p.dataset][0]
    # digits: sklearn's copy, shipped with the package; CIFAR-10: the reader's own files, never downloaded
    base = data.digits(n_train=p.n_large, seed=0) if p.dataset == "digits" else data.cifar10(p.n_large, seed=0)
    d_in = base.x_train.shape[1]
    small_x, small_y = base.x_train[: p.n_small], base.y_train[: p.n_small]
    g = torch.Generator().manual_seed(0)
    same, diff = [], []
    while len(same) < p.pairs or len(diff) < p.pairs:
        i, j = torch.randint(p.n_small, (2,), generator=g).tolist()
        if i == j:
            continue
        bucket = same if small_y[i] == small_y[j] else diff
        if len(bucket) < p.pairs:
            bucket.append((i, j))
    ends = torch.tensor(same + diff)  # [2P, 2]
    t = torch.linspace(0, 1, p.points)[None, :, None]
    paths = (small_x[ends[:, 0]][:, None] * (1 - t) + small_x[ends[:, 1]][:, None] * t).reshape(-1, d_in)

    on = train.device_copies(paths)  # copied to the family's device once; the FFT runs there too

    def hf(family: models.Family) -> torch.Tensor:  # [K, 2]: mean fraction over same / different pairs
        with torch.no_grad():
            logits = family(on(family.device)[0]).double()
        frac = path_high_frequency(logits.view(family.size, 2 * p.pairs, p.points, -1), p.cutoff)
        return torch.stack([frac[:, : p.pairs].mean(1), frac[:, p.pairs:].mean(1)], dim=1)

    sets = {"baseline": (small_x, small_y),
            "more data": (base.x_train, base.y_train),
            "augmentation": (shift_augment(small_x, shape), small_y.repeat(5))}
    rows, seconds = [], 0.0
    for name, (x, y) in sets.items():
        family = models.mlp(d_in, 10, widths=p.width, seeds=list(range(p.seeds)), depth=p.depth, device=device)
        result = train.train(family, data.Dataset(x, y, base.x_test, base.y_test, 10), steps=p.steps, lr=p.lr,
                             loss="cross_entropy", records=p.records, probes={"hf": hf}, progress=progress)
        seconds += result.seconds
        picks = [(name, len(result.steps) - 1)]
        if name == "baseline":  # less training: the same run at an early record
            early = int((result.steps <= p.short).nonzero().max())
            picks.append((f"shorter training (step {int(result.steps[early])})", early))
        for label, r in picks:
            for k in range(p.seeds):
                rows.append({"intervention": label, "seed": k, "n_train": len(x), "step": int(result.steps[r]),
                             "test_acc": float(result.test_acc[r, k]), "hf_same": float(result.probes["hf"][r, k, 0]),
                             "hf_diff": float(result.probes["hf"][r, k, 1])})
    return {"rows": rows, "seconds": seconds, "dataset": p.dataset, "params": asdict(p)}


# ---------------------------------------------------------------- the chapter's plan


def fourier_feature_run(sp) -> SpectralParams:
    """The chapter's Fourier-feature run, from its :class:`SpectralParams` ``sp``: the same network and target
    through γ(x), 64 random Fourier features of bandwidth 10, for a third of the steps."""
    return replace(sp, steps=sp.steps // 3, features=64, feature_scale=10.0)


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    sp, kp = SpectralParams.preset(mode), KernelParams.preset(mode)
    return [(learn_sines, sp), (learn_sines, replace(sp, amplitudes="rising")),
            (gd_runs, replace(kp, s_values=(0.0, -1.0, 1.0))), (deep_ntk_eigs, sp), (density_times, kp),
            (practice, PracticeParams.preset(mode)), (learn_sines, fourier_feature_run(sp))]
