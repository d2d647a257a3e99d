"""Eigenspace restructuring (Xiao 2022): the experiments of the chapter, on the hypercube {-1, 1}^d.

* :func:`mlp_spectra`: MLP NTK eigenvalues by degree |S|, over depths;
* :func:`cnn_spectra`: CNN NTK eigenvalues over (degree, spatial spread), over depths and filter sizes;
* :func:`kernel_learning`: kernel regression with the MLP and CNN NTKs on a localized and a spread degree-3
  target, over n, against the eigenlearning prediction;
* :func:`trained_learning`: the same with finite MLPs and CNNs trained by gradient descent, every
  (seed, n) one member of one batched family per architecture;
* :func:`mode_counts`: how many eigenmodes come before the localized target, as d grows.

``depth`` counts hidden (ReLU) layers, as in :mod:`widgets.core.kernels`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch

from widgets.core import cost, kernels, models, train
from widgets.core.checks import check_choice, check_float, check_int, check_ints, check_memory, check_tensor
from widgets.core.data import Dataset
from widgets.core.env import get_device
from widgets.core.params import Params, experiment
from widgets.core.stats import first_crossing, loglog_slope

# ---------------------------------------------------------------- cost models
#
# The spectra and the exact kernels are float64 elementwise work over 2^d arrays (integer bit tricks, the ReLU
# arc-cosine maps, circular windows, the Walsh–Hadamard butterflies), all memory-bound, counted in passes of
# cost.PASS_FLOPS, transcendentals (arccos, sqrt) as several. A pass costs more the larger its array, each
# result being freshly allocated (measured on one CPU core: 0.3 ns a float64 number for 2^16 numbers, 1 ns
# for 2^20, 3-4 ns for 2^22; an H100 streams from its 50 MB L2 cache, then from its memory at 0.4 T numbers
# a second, about 64 flops a number at its nominal rate): cost.size_weight scales the passes by the array's size.


def _passes(count: float, passes: float, ops: float = 0.0, memory: float = 0.0, size: float | None = None) -> cost.Cost:
    """``passes`` memory-bound float64/int64 passes over ``count`` elements on the device, in arrays of
    ``size`` numbers (default ``count``); ``ops`` launches, ``memory`` bytes held at the peak."""
    work = cost.passes(count, cost.size_weight(8 * (count if size is None else size)) * passes, f64=True)
    return cost.Cost(flops64=work.flops64, ops=ops, memory=memory)


def _relu_layer(q: int, top: bool) -> tuple[int, int]:
    """(element passes, device ops) of one CNN layer of :func:`kernels._cnn_flatten` per position: the ReLU
    maps (two square roots, a division, the NaN test, the clamp, arccos, the two κ's: ~24 passes, arccos
    counting 4) and, below the top, three circular windows of q rolls and adds (:func:`kernels._window`)."""
    maps = 24
    if top:
        return maps + 3, maps + 4
    return maps + 3 * (2 * q + 1) + 5, maps + 3 * (2 * q + 1) + 6


def _kernel_z_cost(d: int, arch: str, depth: int, q: int, chunk: int = 2**22) -> cost.Cost:
    """:func:`kernels.kernel_z`: k(z) at all 2^d points, float64 on the device."""
    N = 2**d
    if arch == "mlp":  # d + 1 levels through the recursion, then a gather by degree (popcount: ~14 int passes)
        return _passes(N, 15, ops=25 * depth + 16, memory=3 * 8 * N)
    rf = kernels.receptive_field(depth, q)
    layers = [_relu_layer(q, i == depth - 1) for i in range(depth)]
    per_pos = sum(w for w, _ in layers) + 2 * q + 6  # the first window of z, the diagonal, the readout mean
    layer_ops = sum(o for _, o in layers) + 2 * q + 8
    if rf < d:  # 2^rf window patterns through the recursion, then d rotations of all 2^d indices (~7 passes)
        return (_passes(2**rf * d, per_pos, ops=layer_ops + 10, memory=10 * 8 * 2**rf * d)
                + _passes(N, 7 * d + 2, ops=7 * d + 3, memory=4 * 8 * N))
    rows = max(1, chunk // d)
    chunks = math.ceil(N / rows)
    return _passes(N * d, per_pos, ops=chunks * layer_ops, memory=10 * 8 * min(rows, N) * d + 8 * N,
                   size=min(rows, N) * d)


def _fwht_cost(d: int, batch: int = 1) -> cost.Cost:
    """:func:`kernels.fwht`: d butterfly levels, each an add, a subtract and a stack over 2^d values."""
    return _passes(batch * 2**d, 3 * d, ops=4 * d, memory=3 * 8 * batch * 2**d)


def _spectrum_cost(d: int, arch: str, depth: int, q: int) -> cost.Cost:
    """:func:`kernels.spectrum`: kernel_z, the FWHT, and the subsets' degrees (popcount, ~14 int passes) and
    spreads (d rounds of ~7 int passes)."""
    N = 2**d
    return (_kernel_z_cost(d, arch, depth, q) + _fwht_cost(d)
            + _passes(N, 14 + 7 * d + 3, ops=7 * d + 20, memory=4 * 8 * N))


# ---------------------------------------------------------------- spectra

@dataclass(frozen=True)
class SpectraParams(Params):
    """``d``: cube dimension; ``depths`` and ``qs``: the grid of the CNN figure; ``depth``, ``q``: the
    headline architecture (both MLP and CNN)."""

    FULL: ClassVar[dict] = {"d": 20, "depths": (1, 2, 3, 4, 5, 6), "qs": (2, 3, 4, 5, 6, 7)}
    CPU_FIT: ClassVar[dict] = {"d": "minus"}  # the 2^d grid of the CNN kernels

    d: int = 16
    depths: tuple = (1, 2, 3, 4)
    qs: tuple = (2, 3, 4, 5)
    depth: int = 2
    q: int = 3
    kind: str = "ntk"

    def check(self) -> None:
        d = check_int("d", self.d, 2, kernels.MAX_D)
        depths = check_ints("depths", self.depths, 1, 64)
        qs = check_ints("qs", self.qs, 1, d)
        # the headline architecture is read off the grid (cnn_spectra's pairs and local_vs_mlp)
        if check_int("depth", self.depth, 1, 64) not in depths:
            raise ValueError(f"depth must be one of depths {tuple(depths)}, got {self.depth}")
        if check_int("q", self.q, 1, d) not in qs:
            raise ValueError(f"q must be one of qs {tuple(qs)}, got {self.q}")
        check_choice("kind", self.kind, kernels.KINDS)


ZERO = 1e-14  # |λ| below ZERO·trace is rounding noise around an exact zero


def _mlp_spectra_cost(p: SpectraParams) -> cost.Cost:
    # one MLP spectrum per depth, then max/min per degree (two scatter-reduces) and a few reductions
    d = int(p.d)
    c = cost.Cost()
    for L in p.depths:
        c = c + _spectrum_cost(d, "mlp", L, p.q) + _passes(2**d, 6, ops=20)
    return c


@cost.model(_mlp_spectra_cost)
@experiment
def mlp_spectra(p: SpectraParams, *, device=None, progress: bool = False) -> dict:
    """MLP eigenvalues by degree for each depth.

    Returns ``depths`` [D], ``hi``/``lo`` [D, d + 1] (max and min λ_S over |S| = k), ``spread`` [D] (the
    largest spread (hi − lo) within a degree, over the degrees whose eigenvalues are not zero, relative to
    the trace: the scale of the transform's sums, hence of their float64 rounding; an eigenvalue of 10⁻⁸ of the
    trace has a relative rounding error near 10⁻⁹ however exact the arithmetic), ``smallest`` [D] (the
    smallest non-zero |λ| relative to the trace, which a spread must stay far below), ``zero_max`` [D]
    (the largest |λ| among degrees that vanish, relative to the trace), ``simplicity_violations`` [D] (how
    often μ_k < μ_{k+2}, beyond rounding), ``multiplicity`` [d + 1] (C(d, k)). Nothing trains (``progress``
    is unused)."""
    d = int(p.d)
    his, los, spreads, smallest, zeros, viol = [], [], [], [], [], []
    for L in p.depths:
        sp = kernels.spectrum(d, arch="mlp", depth=L, kind=p.kind, device=device)
        hi, lo = sp.by_degree()
        trace = float(sp.eigenvalues.sum())
        live = hi.abs() > ZERO * trace
        spreads.append(float(((hi - lo).abs() / trace)[live].max()))
        smallest.append(float((hi.abs() / trace)[live].min()))
        zeros.append(float(torch.maximum(hi.abs(), lo.abs())[~live].max() / trace) if (~live).any() else 0.0)
        viol.append(int((hi[:-2] < hi[2:] - ZERO * trace).sum()))
        his.append(hi.cpu())
        los.append(lo.cpu())
    return {"d": d, "depths": torch.tensor(p.depths), "hi": torch.stack(his), "lo": torch.stack(los),
            "spread": torch.tensor(spreads), "smallest": torch.tensor(smallest), "zero_max": torch.tensor(zeros),
            "simplicity_violations": torch.tensor(viol),
            "multiplicity": torch.tensor([math.comb(d, k) for k in range(d + 1)])}


def _cnn_spectra_cost(p: SpectraParams) -> cost.Cost:
    # per depth: the MLP spectrum, and one CNN spectrum per q with its (degree, spread) grid (~8 passes of
    # scatter-reduces) and the mask of subsets wider than the receptive field (~3 passes); the headline q
    # reads d/2 + 1 pair eigenvalues one by one (host reads)
    d = int(p.d)
    c = cost.Cost()
    for L in p.depths:
        c = c + _spectrum_cost(d, "mlp", L, p.q)
        for q in p.qs:
            c = c + _spectrum_cost(d, "cnn", L, q) + _passes(2**d, 11, ops=20 + (d // 2 + 1 if q == p.q else 0))
    return c


@cost.model(_cnn_spectra_cost)
@experiment
def cnn_spectra(p: SpectraParams, *, device=None, progress: bool = False) -> dict:
    """CNN (flatten readout) eigenvalues over (degree, spread), for every (depth, q) of the grid.

    Returns ``grid`` [D, Q, d + 1, d + 1]: the largest λ_S in each (degree, spread) cell (NaN: empty cell);
    ``rf`` [D, Q] receptive fields; ``outside_max`` [D, Q]: the largest |λ_S| over subsets wider than the
    receptive field; ``pairs`` [D, d // 2 + 1]: λ of the pair {0, r} at distance r = 0…d//2 (r = 0: the
    singleton) for the headline q; ``reach`` [D]: the farthest r with a nonzero pair eigenvalue;
    ``mlp_pairs`` [D]: the MLP's degree-2 eigenvalue at each depth;
    ``local_vs_mlp``: λ_{0,1} of the headline CNN over the same-depth MLP's degree-2 eigenvalue. Nothing
    trains (``progress`` is unused)."""
    d = int(p.d)
    D, Q = len(p.depths), len(p.qs)
    grid = torch.full((D, Q, d + 1, d + 1), math.nan, dtype=torch.float64)
    rf = torch.zeros(D, Q, dtype=torch.int64)
    outside = torch.zeros(D, Q, dtype=torch.float64)
    pairs = torch.zeros(D, d // 2 + 1, dtype=torch.float64)
    mlp_pairs = torch.zeros(D, dtype=torch.float64)
    local_vs_mlp = math.nan
    for i, L in enumerate(p.depths):
        mlp = kernels.spectrum(d, arch="mlp", depth=L, kind=p.kind, device=device)
        mlp_pairs[i] = mlp.of([0, 1])
        for j, q in enumerate(p.qs):
            sp = kernels.spectrum(d, arch="cnn", depth=L, q=q, kind=p.kind, device=device)
            grid[i, j] = sp.grid().cpu()
            rf[i, j] = kernels.receptive_field(L, q)
            wide = sp.spread > rf[i, j]
            outside[i, j] = float(sp.eigenvalues[wide].abs().max()) if wide.any() else 0.0
            if q == p.q:
                pairs[i] = torch.tensor([sp.of({0, r}) for r in range(d // 2 + 1)])
                if L == p.depth:
                    local_vs_mlp = sp.of([0, 1]) / mlp.of([0, 1])
    reach = ((pairs.abs() > ZERO * pairs[:, :1]) * torch.arange(d // 2 + 1)).amax(1)
    return {"d": d, "depths": torch.tensor(p.depths), "qs": torch.tensor(p.qs), "grid": grid, "rf": rf,
            "outside_max": outside, "pairs": pairs, "reach": reach, "mlp_pairs": mlp_pairs,
            "local_vs_mlp": local_vs_mlp, "q": p.q, "depth": p.depth}


# ---------------------------------------------------------------- learnability

@dataclass(frozen=True)
class LearnParams(Params):
    """Two degree-3 targets χ_S on {-1, 1}^d, a localized and a spread one, learned from n samples.

    Kernel regression: ``ns`` sample sizes, ``seeds`` draws each, a tiny ``ridge`` (relative to K(x, x)),
    ``n_test`` held-out points. Training: ``train_ns`` (powers of two: every member is trained on its n
    points tiled up to the largest n, which leaves its full-batch loss unchanged), ``width`` (MLP hidden
    units), ``channels`` (CNN), ``steps`` of full-batch GD with ``lr`` and heavy-ball ``momentum``.
    """

    FULL: ClassVar[dict] = {"d": 16, "spread": (0, 5, 10), "ns": tuple(int(round(8 * 2 ** (i / 2))) for i in range(21)),
                            "seeds": 8, "n_test": 4096, "train_ns": (32, 64, 128, 256, 512, 1024, 2048),
                            "train_seeds": 2, "width": 512, "channels": 32,
                            "lr": 0.00125, "steps": 800}  # lr ∝ 1/width keeps the SP dynamics
    STEPS: ClassVar[tuple] = ("steps",)
    CPU_FIT: ClassVar[dict] = {"ns": "take", "seeds": "half", "train_ns": "take", "width": "half"}  # n to 8,192

    d: int = 12
    depth: int = 2
    q: int = 3
    local: tuple = (0, 1, 2)
    spread: tuple = (0, 4, 8)
    ns: tuple = (16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
    seeds: int = 2
    ridge: float = 1e-8
    n_test: int = 1024
    threshold: float = 0.1
    train_ns: tuple = (64, 128, 256, 512)
    train_seeds: int = 1
    width: int = 128
    channels: int = 8
    steps: int = 400
    lr: float = 0.005
    momentum: float = 0.9
    optimizer: str = "gd"
    init_scale: float = 1.0

    def check(self) -> None:
        d = check_int("d", self.d, 4, 20)
        depth = check_int("depth", self.depth, 1, 64)
        check_int("q", self.q, 1, d)
        for name in ("local", "spread"):
            S = check_ints(name, getattr(self, name), 0, d - 1)
            if len(set(S)) != len(S):
                raise ValueError(f"{name} must not repeat a coordinate, got {S}")
        ns = check_ints("ns", self.ns, 1, 2**d)
        if ns != sorted(set(ns)):  # n* is the first n of the sweep from which the error stays low
            raise ValueError(f"ns must be increasing sample sizes, got {self.ns}")
        seeds = check_int("seeds", self.seeds, 1, 1000)
        check_float("ridge", self.ridge, 0, 1, lo_open=True)  # > 0: the kernel matrix of n > rank points is singular
        n_test = check_int("n_test", self.n_test, 1, 2**d)
        train_ns = check_ints("train_ns", self.train_ns, 1, 2**d)
        if train_ns != sorted(set(train_ns)):
            raise ValueError(f"train_ns must be increasing sample sizes, got {self.train_ns}")
        if n_test + max(ns + train_ns) > 2**d:
            raise ValueError(f"n_test + max(ns) must be at most 2^d = {2**d}")
        check_float("threshold", self.threshold, 0, 1, lo_open=True)
        # every member is trained on its n points tiled up to the largest n
        n_max = max(train_ns)
        for n in train_ns:
            if n_max % n:
                raise ValueError(f"train_ns must divide max(train_ns) = {n_max}, got {n}")
        train_seeds = check_int("train_seeds", self.train_seeds, 1, 1000)
        width = check_int("width", self.width, 1, 10**5)
        channels = check_int("channels", self.channels, 1, 10**4)
        check_int("steps", self.steps, 1, 10**7)
        check_float("lr", self.lr, 0, 10, lo_open=True)
        check_float("momentum", self.momentum, 0, 1, hi_open=True)
        check_choice("optimizer", self.optimizer, ("gd", "adam"))  # full batch: no minibatch rule
        check_float("init_scale", self.init_scale, 0, 100, lo_open=True)
        # kernel regression's float64 Gram matrices (train, its factor, test rows), and the trained families
        # (a CNN layer: channels × d activations per input)
        K = 2 * len(train_ns) * train_seeds
        check_memory("seeds × max(ns)² (and n_test × max(ns)); train_ns × train_seeds × width × n",
                     8 * seeds * (3 * ns[-1] ** 2 + n_test * ns[-1])
                     + models.training_bytes(K, n_max, d, 1, max(width, channels * d), depth + 1))


def _draws(d: int, n_train: int, n_test: int, seeds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Point indices: a shared held-out test set [n_test] and per-seed training sets [seeds, n_train]
    drawn without replacement from the other points (nested in n: the first n of each row)."""
    g = torch.Generator().manual_seed(1234)
    perm = torch.randperm(2**d, generator=g)
    test, rest = perm[:n_test], perm[n_test:]
    rows = [rest[torch.randperm(len(rest), generator=torch.Generator().manual_seed(s))[:n_train]]
            for s in range(seeds)]
    return test, torch.stack(rows)


def eigenlearning(lam: torch.Tensor, target: int, n: float, ridge: float = 0.0) -> float:
    """Predicted test MSE of kernel ridge regression on n samples for the single-mode target χ_target
    (variance 1), from the eigenvalues λ [M] alone (Simon et al. 2021): κ solves Σ λ/(λ+κ) + ridge/κ = n,
    L_i = λ_i/(λ_i+κ), E = n/(n − Σ L_i²)·(1 − L_target)².

    ``lam``: [M] finite (negative rounding noise is read as 0); ``target`` an index into it; ``n`` > 0;
    ``ridge`` ≥ 0."""
    lam = check_tensor("lam", lam, ndim=1, shape="[M]", min_size=1)
    target = check_int("target", target, 0, len(lam) - 1)
    n = check_float("n", n, 0, lo_open=True)
    ridge = check_float("ridge", ridge, 0)
    lam = lam.clamp(min=0).double()
    # bisection on log κ (the left side falls monotonically in κ), kept on lam's device: one host read at the
    # end instead of one per step; float64 throughout, as the scalar version computed it
    lo = torch.tensor(1e-30, dtype=torch.float64, device=lam.device)
    hi = lam.sum() * 10 + (ridge * 10 + 1.0)
    for _ in range(200):
        mid = (lo * hi).sqrt()
        above = (lam / (lam + mid)).sum() + ridge / mid > n
        lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
    kappa = (lo * hi).sqrt()
    L = lam / (lam + kappa)
    e0 = n / max(n - float((L * L).sum()), 1e-12)
    return e0 * (1 - float(L[target])) ** 2


def _kernel_learning_cost(p: LearnParams) -> cost.Cost:
    # per architecture: k(z) on the cube and its FWHT (float64); per (architecture, target, n): the seeds'
    # n×n and n_test×n Gram matrices gathered from k by XOR of indices (int64 index, float64 values, the ridge's
    # n×n eye), a batched float64 Cholesky and solve, the test predictions (float64 product), and the
    # eigenlearning prediction: 200 bisection steps over the 2^d eigenvalues, on the device
    d, S, m = int(p.d), int(p.seeds), int(p.n_test)
    N = 2**d
    c = cost.Cost()
    for arch in ("mlp", "cnn"):
        c = c + _kernel_z_cost(d, arch, p.depth, p.q) + _fwht_cost(d)
    for _ in range(2):  # the two targets (the Cholesky is redone for each target)
        for _arch in range(2):
            for n in p.ns:
                # peak: the int64 XOR index, the gathered and the ridged Gram matrices, the eye, and the
                # previous size's matrices still bound
                gram = _passes(S * n * n, 5, ops=8, memory=8 * (3 * S * n * n + 2 * n * n + 2 * S * m * n))
                test = _passes(S * m * n, 3, ops=6)
                # the factorization and solve, counted twice: a Cholesky runs at about half a batched
                # product's rate (measured on a CPU core: 10-15 GFLOP/s for n = 1024-2048, against 25)
                chol = cost.solve(n, 1, batch=S) * 2
                pred = cost.matvec(S, m, n, f64=True) + _passes(S * m, 4, ops=6)
                eig = _passes(N, 200 * 3 + 6, ops=200 * 4 + 12)
                c = c + gram + test + chol + pred + eig
    return c


@cost.model(_kernel_learning_cost)
@experiment
def kernel_learning(p: LearnParams, *, device=None, progress: bool = False) -> dict:
    """Kernel regression (ridge ``p.ridge``·K(x,x)) with the MLP and CNN NTKs on both targets.

    Returns ``ns`` [N], ``mse`` [2 arch, 2 target, N, seeds] (test MSE over the target's variance, 1),
    ``predicted`` [2, 2, N] (eigenlearning), ``n_star`` [2, 2] (smallest n of ``ns`` whose mean MSE is below
    the threshold; inf if none), ``lam`` [2, 2] (the targets' eigenvalues), ``prediction_log_error`` (median
    |log(measured/predicted)| where the prediction is above threshold/5), ``archs``, ``targets``. Nothing
    trains (``progress`` is unused)."""
    d = int(p.d)
    dev = get_device(device)
    test, train_idx = _draws(d, max(p.ns), p.n_test, p.seeds)
    test, train_idx = test.to(dev), train_idx.to(dev)
    archs, targets = ("mlp", "cnn"), ("local", "spread")
    N = len(p.ns)
    mse = torch.zeros(2, 2, N, p.seeds, dtype=torch.float64)
    pred = torch.zeros(2, 2, N, dtype=torch.float64)
    lams = torch.zeros(2, 2, dtype=torch.float64)
    for a, arch in enumerate(archs):
        k = kernels.kernel_z(d, arch=arch, depth=p.depth, q=p.q, device=dev)  # K(x, x') = k[i XOR j]
        lam = kernels.fwht(k) / 2**d
        ridge = p.ridge * float(k[0])
        for t, name in enumerate(targets):
            S = getattr(p, name)
            mask = sum(1 << i for i in S)
            lams[a, t] = lam[mask]
            for j, n in enumerate(p.ns):
                idx = train_idx[:, :n]  # [seeds, n]
                K_tr = k[idx[:, :, None] ^ idx[:, None, :]] + ridge * torch.eye(n, dtype=k.dtype, device=dev)
                K_te = k[test[None, :, None] ^ idx[:, None, :]]  # [seeds, n_test, n]
                alpha = torch.cholesky_solve(kernels.walsh(S, idx)[..., None], torch.linalg.cholesky(K_tr))
                f = (K_te @ alpha)[..., 0]
                mse[a, t, j] = ((f - kernels.walsh(S, test)[None]) ** 2).mean(1).cpu()
                pred[a, t, j] = eigenlearning(lam, mask, n, ridge)
    # the smallest n from which the mean error stays below the threshold
    n_star = first_crossing(torch.tensor(p.ns), mse.mean(-1), p.threshold, "below", stays=True, dim=-1)
    live = pred > p.threshold / 5  # compare where both errors are well above zero
    log_error = float((mse.mean(-1) / pred).log().abs()[live].median())
    return {"ns": torch.tensor(p.ns), "mse": mse, "predicted": pred, "n_star": n_star, "lam": lams,
            "prediction_log_error": log_error,
            "archs": archs, "targets": targets, "params": asdict(p)}


def _trained_learning_cost(p: LearnParams) -> cost.Cost:
    # two families of K = 2 targets × len(train_ns) × train_seeds members, each member on its own n_max points
    # (per-member inputs): full-batch GD with momentum; 2 records, each a forward pass on the training sets
    # and one on the shared test set; then one more test forward
    n_max, m = max(p.train_ns), int(p.n_test)
    K = 2 * len(p.train_ns) * p.train_seeds
    opt = "adam" if p.optimizer == "adam" else ("sgd" if p.momentum else "gd")
    rec = cost.records(p.steps, 2)
    sizes = cost.mlp_sizes(p.d, p.width, p.depth + 1, 1)
    mlp = cost.family_init(members=K, weights=cost.mlp_weights(sizes), layers=p.depth + 1)
    for points, times in ((n_max, rec), (m, rec + 1)):
        run = dict(members=K, sizes=sizes, batch=n_max, steps=p.steps if points == n_max else 0, evals=points,
                   records=times)
        mlp = mlp + cost.train(**run, optimizer=opt, per_member_data=True) + cost.dense_extras(**run)
    C = p.channels
    cnn = cost.family_init(members=K, weights=C * p.q * (1 + (p.depth - 1) * C) + C * p.d, layers=p.depth + 1)
    for points, times in ((n_max, rec), (m, rec + 1)):
        cnn = cnn + cost.cnn_train(members=K, d=p.d, channels=C, depth=p.depth, q=p.q, batch=n_max,
                              steps=p.steps if points == n_max else 0, evals=points, records=times,
                              optimizer=opt, per_member_data=True)
    return mlp + cnn


@cost.model(_trained_learning_cost)
@experiment
def trained_learning(p: LearnParams, *, device=None, progress: bool = False) -> dict:
    """Finite MLPs (``depth`` hidden layers of ``width``) and CNNs (``depth`` circular convolutions of
    ``channels`` channels, filter q, flatten readout), no biases, trained by full-batch GD with momentum on
    the MSE. Each architecture is one family whose members are every (target, n, seed); member (t, n, s)
    sees its own n points, tiled up to max(train_ns) so that all members share one batch shape.

    Returns ``ns`` [N], ``mse`` [2 arch, 2 target, N, seeds] (final test MSE), ``train_mse`` (same shape),
    ``n_star`` [2, 2] (as in :func:`kernel_learning`), ``seconds``."""
    d, n_max = int(p.d), max(p.train_ns)
    dev = get_device(device)
    test, train_idx = _draws(d, n_max, p.n_test, p.train_seeds)
    cube = kernels.hypercube_points(d)
    targets = ("local", "spread")
    xs, ys, seeds = [], [], []
    for t, name in enumerate(targets):
        S = getattr(p, name)
        for n in p.train_ns:
            for s in range(p.train_seeds):
                idx = train_idx[s, :n].repeat(n_max // n)
                xs.append(cube[idx])
                ys.append(kernels.walsh(S, idx))
                seeds.append(1000 * t + 10 * s + n)
    x_tr, y_tr = torch.stack(xs), torch.stack(ys)[..., None]  # [K, n_max, d], [K, n_max, 1]
    x_te = cube[test]
    y_te = torch.stack([kernels.walsh(getattr(p, name), test) for name in targets])  # [2, n_test]
    N, R = len(p.train_ns), p.train_seeds
    mse = torch.zeros(2, 2, N, R, dtype=torch.float64)
    train_mse = torch.zeros_like(mse)
    seconds = 0.0
    for a, arch in enumerate(("mlp", "cnn")):
        if arch == "mlp":
            fam = models.mlp(d, 1, widths=p.width, seeds=seeds, depth=p.depth + 1, bias=False,
                             init_scale=p.init_scale, device=dev)
        else:
            fam = models.cnn(d, 1, channels=p.channels, seeds=seeds, depth=p.depth, q=p.q, bias=False,
                             init_scale=p.init_scale, device=dev)
        dt = fam.params[0].dtype
        ds = Dataset(x_tr.to(dev, dt), y_tr.to(dev, dt), x_te.to(dev, dt), torch.zeros(len(test), device=dev))
        res = train.train(fam, ds, steps=p.steps, lr=p.lr, optimizer=p.optimizer,
                          momentum=p.momentum if p.optimizer != "adam" else 0.0, records=2,
                          progress=progress)
        seconds += res.seconds
        with torch.no_grad():
            out = fam(x_te.to(dev, dt))[..., 0].to(torch.float64).cpu()  # [K, n_test]
        y_member = y_te.repeat_interleave(N * R, 0)  # member order is (target, n, seed)
        mse[a] = ((out - y_member) ** 2).mean(1).view(2, N, R)
        train_mse[a] = res.train_loss[-1].to(torch.float64).view(2, N, R)
    n_star = first_crossing(torch.tensor(p.train_ns), mse.mean(-1), p.threshold, "below", stays=True, dim=-1)
    return {"ns": torch.tensor(p.train_ns), "mse": mse, "train_mse": train_mse, "n_star": n_star,
            "seconds": seconds, "params": asdict(p)}


# ---------------------------------------------------------------- the curse of dimensionality

@dataclass(frozen=True)
class ModeParams(Params):
    """Cube dimensions ``ds`` at which to count the eigenmodes that come before the localized target
    χ_{0,1,…,k−1} (k = ``degree``), for the MLP and CNN NTKs of ``depth`` and filter ``q``."""

    FULL: ClassVar[dict] = {"ds": (6, 8, 10, 12, 14, 16, 18, 20, 22)}

    ds: tuple = (6, 8, 10, 12, 14, 16)
    depth: int = 2
    q: int = 3
    degree: int = 3

    def check(self) -> None:
        degree = check_int("degree", self.degree, 1, 8)
        check_int("depth", self.depth, 1, 64)
        q = check_int("q", self.q, 1, kernels.MAX_D)
        ds = check_ints("ds", self.ds, max(degree, q), kernels.MAX_D, min_length=3)
        if ds != sorted(set(ds)):  # the slope is fitted on the largest half: the last entries
            raise ValueError(f"ds must hold at least 3 increasing dimensions (the slope uses the largest half), "
                             f"got {self.ds}")


def _mode_counts_cost(p: ModeParams) -> cost.Cost:
    # two spectra (MLP, CNN) per d, then a count over the 2^d eigenvalues read back to the host
    c = cost.Cost()
    for d in p.ds:
        for arch in ("mlp", "cnn"):
            c = c + _spectrum_cost(int(d), arch, p.depth, p.q) + _passes(2**int(d), 2, ops=4)
    return c


@cost.model(_mode_counts_cost)
@experiment
def mode_counts(p: ModeParams, *, device=None, progress: bool = False) -> dict:
    """For each d: the number of eigenmodes λ_S ≥ λ_target (the target's rank, which sets how many samples
    kernel regression needs to reach it), for the MLP and the CNN; and the log-log slope of rank against d.

    Returns ``ds`` [M], ``rank`` [2 arch, M], ``slope`` [2] (least squares on the largest half of ds). Nothing
    trains (``progress`` is unused)."""
    degree = int(p.degree)
    ranks = torch.zeros(2, len(p.ds))
    for j, d in enumerate(p.ds):
        d = int(d)
        for a, arch in enumerate(("mlp", "cnn")):
            sp = kernels.spectrum(d, arch=arch, depth=p.depth, q=p.q, device=device)
            lam = sp.eigenvalues
            target = lam[2**degree - 1]
            ranks[a, j] = int((lam >= target * (1 - 1e-9)).sum())
    ds = torch.tensor(p.ds, dtype=torch.float64)
    half = len(p.ds) // 2
    slopes = [loglog_slope(ds[half:], ranks[a, half:]) for a in range(2)]
    return {"ds": torch.tensor(p.ds), "rank": ranks, "slope": torch.tensor(slopes), "params": asdict(p)}


# ---------------------------------------------------------------- the chapter's plan


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    sp, lp = SpectraParams.preset(mode), LearnParams.preset(mode)
    return [(mlp_spectra, sp), (cnn_spectra, sp), (kernel_learning, lp), (trained_learning, lp),
            (mode_counts, ModeParams.preset(mode))]
