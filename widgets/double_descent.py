"""Double descent: random Fourier features fitted by least squares, and MLPs of many widths on MNIST-1D.

Random features (Belkin et al. 2019). Features φ(x) = √(2/N) cos(Wx + b) with W ~ N(0, 1/σ²), b ~ U[0, 2π),
fitted to one-hot labels. One thin SVD Φ = U S Vᵀ per (seed, N), batched over seeds, gives every fit at once:
the minimum-norm least-squares solution a = V S⁺ Uᵀ Y, ridge a_λ = V S/(S² + λ) Uᵀ Y for every λ, and every
label-noise level (only Y changes).

Deep double descent (Nakkiran et al. 2019), small: two-layer ReLU MLPs of many widths and seeds trained as
one batched family with full-batch Adam on cross-entropy. The family is *packed*: all members' hidden units
sit side by side in one hidden layer (no padding to the widest member), so one GEMM serves every member;
see :class:`PackedMLP`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from widgets.core import cost, data, models, train
from widgets.core.checks import (
    check_dtype,
    check_float,
    check_floats,
    check_int,
    check_ints,
    check_memory,
    check_tensor,
)
from widgets.core.env import get_device
from widgets.core.params import Params, experiment
from widgets.core.solvers import filter_factors, least_squares, thin_svd
from widgets.core.stats import first_crossing

# ------------------------------------------------------------------------------------------ parameters


RATIOS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.975, 1.0, 1.025, 1.05, 1.1, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)


@dataclass(frozen=True)
class RFFParams(Params):
    """Random-features sweep on sklearn digits. ``ratios``: N/n values of the model-wise sweep (dense near 1);
    ``lambdas``: ridge strengths (per training point: the penalty is n·λ‖a‖²); ``noises``: label-noise
    fractions; ``sample_N``/``sample_ns``: the fixed N and the training-set sizes of the sample-wise sweep."""

    FULL: ClassVar[dict] = {"seeds": 20,
                            "ratios": tuple(sorted(set(RATIOS) | {0.15, 0.4, 0.6, 0.85, 1.15, 1.3, 7.0, 15.0}))}
    CPU_FIT: ClassVar[dict] = {"seeds": "half", "ratios": "take"}

    n: int = 400
    seeds: int = 5
    sigma: float = 0.6 * 8.0  # 0.6·√d, d = 64 pixels (Belkin et al.'s bandwidth scale)
    ratios: tuple = RATIOS
    lambdas: tuple = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    noises: tuple = (0.0, 0.1, 0.2, 0.3)
    ridge_noise: float = 0.0  # label noise of the ridge fits
    sample_N: int = 400
    sample_ns: tuple = (100, 200, 300, 350, 380, 400, 420, 450, 500, 600, 800, 1000, 1200)
    seed: int = 0

    def check(self) -> None:
        n = check_int("n", self.n, 10, 1500)
        S = check_int("seeds", self.seeds, 1, 1000)
        check_float("sigma", self.sigma, 0, 1e6, lo_open=True)
        ratios = check_floats("ratios", self.ratios, 0, 1000, lo_open=True)
        check_floats("lambdas", self.lambdas, 0, 1e6)
        check_floats("noises", self.noises, 0, 1, min_length=0)  # none: the explorer's min-norm and ridge fits only
        check_float("ridge_noise", self.ridge_noise, 0, 1)
        N = check_int("sample_N", self.sample_N, 1, 100_000)
        check_ints("sample_ns", self.sample_ns, 2, 1500)
        check_int("seed", self.seed, 0)
        # float64 features of the 1797 digits (train and test) at the largest N and its thin SVD; the
        # sample-wise sweep's at sample_N
        N_max = max(1, round(max(ratios) * n))
        check_memory("seeds × max(ratios) × n × 1797 (and sample_N × 1797)",
                     8 * S * (N_max * (3 * n + 1797) + 4 * min(n, N_max) ** 2 + 2 * N * 1797))


@dataclass(frozen=True)
class MLPParams(Params):
    """Model-wise deep double descent on MNIST-1D: ``n`` training points with a ``noise`` fraction of labels
    randomized, every width × seed one member of a single batched family, full-batch Adam on cross-entropy."""

    # the mnist1d repository's setting: 4000 points, 15% noise, widths 2..300-ish (here up to 512)
    FULL: ClassVar[dict] = {"n": 4000, "noise": 0.15, "widths": (1, 2, 4, 8, 12, 16, 24, 32, 40, 48, 56, 64, 80, 96,
                                                                 128, 192, 256, 384, 512),
                            "seeds": 5, "steps": 20_000, "lr": 1e-3, "records": 60, "num_samples": 8000}
    STEPS: ClassVar[tuple] = ("steps",)

    n: int = 500
    noise: float = 0.2
    widths: tuple = (1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 64, 128, 256)
    seeds: int = 3
    steps: int = 2000
    lr: float = 2e-3
    records: int = 30
    interp_tol: float = 0.01  # train error at or below this counts as interpolating
    num_samples: int = 5000
    seed: int = 0

    def check(self) -> None:
        num_samples = check_int("num_samples", self.num_samples, 110, 10**6)
        check_int("n", self.n, 10, num_samples - 100)  # MNIST-1D keeps the rest as the test set
        check_float("noise", self.noise, 0, 1)
        widths = check_ints("widths", self.widths, 1, 100_000)
        S = check_int("seeds", self.seeds, 1, 1000)
        check_int("steps", self.steps, 1, 10**7)
        check_float("lr", self.lr, 0, 10, lo_open=True)
        check_int("records", self.records, 2, 10**4)
        check_float("interp_tol", self.interp_tol, 0, 1)
        check_int("seed", self.seed, 0)
        # one packed hidden layer of every member's units, evaluated on every sample (40 inputs, 10 outputs)
        check_memory("widths × seeds × num_samples",
                     models.training_bytes(1, num_samples, 40, 10 * S * len(widths), S * sum(set(widths)), 2))


# ------------------------------------------------------------------------------------------ cost models
#
# The random features live in float64 on the device (the SVDs through float64 Gram matrices and eigh), but the
# test features and the predictions are float32; the draws of W and b are made on the CPU in float64. Memory-bound
# passes are counted in cost.PASS_FLOPS, weighted by the size of their array (cost.size_weight).

_DIGITS = 1797  # sklearn's digits: n training points, the rest the test set
_SKLEARN = cost.Cost(cpu_ops=2e5)  # importing scikit-learn, once per process: about a second
_MNIST1D = cost.Cost(cpu_ops=8e4)  # importing mnist1d, once per process: about 0.4 s


def _passes(count: float, passes: float, *, f64: bool = True, ops: float = 1) -> cost.Cost:
    """``passes`` elementwise passes over one array of ``count`` numbers on the device, weighted by its size."""
    return cost.passes(count, passes * cost.size_weight(count * (8 if f64 else 4)), f64=f64, ops=ops)


def _features_cost(S: int, rows: int, d: int, N: int, *, f64: bool = True) -> cost.Cost:
    """φ = √(2/N) cos(xW + b) for ``S`` draws on ``rows`` points: the product, then the bias, the cosine
    (~4 passes) and the scale over [S, rows, N]; two such arrays held at once."""
    out = S * rows * N
    return (cost.product(rows, d, N, batch=S, f64=f64) + _passes(out, 6, f64=f64, ops=3)
            + cost.Cost(memory=2 * out * (8 if f64 else 4)))


def _thin_svd_cost(S: int, n: int, N: int) -> cost.Cost:
    """:func:`thin_svd` of [S, n, N] (float64): the finite check, the smaller Gram matrix (r = min(n, N)),
    its eigh, the flips, and the other factor (a product and a scaling). Memory: Φ's factor and its scaled
    copy, the Gram matrix and eigh's buffers."""
    r, big = min(n, N), max(n, N)
    return (_passes(S * n * N, 2, ops=3) + cost.product(r, big, r, batch=S, f64=True) + cost.eigh(r, batch=S)
            + _passes(S * r * r, 2, ops=4) + cost.product(big, r, r, batch=S, f64=True)
            + _passes(S * big * r, 1, ops=2)
            + cost.Cost(memory=8 * S * (2 * big * r + 4 * r * r)))


def _draw_cost(S: int, d: int, N: int) -> cost.Cost:
    """:func:`rff_draw` on the CPU (float64 normal and uniform draws), then copied to the device."""
    return cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS * S * (d + 1) * N, cpu_ops=6, ops=2)


# ------------------------------------------------------------------------------------------ random features


def rff_features(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x: [m, d], W: [S, d, N], b: [S, 1, N] → φ(x): [S, m, N] = √(2/N) cos(xW + b)."""
    x = check_tensor("x", x, ndim=2, shape="[m, d]")
    W = check_tensor("W", W, ndim=3, shape=f"[S, {x.shape[1]}, N]", min_size=1)
    b = check_tensor("b", b, ndim=3, shape=f"[{W.shape[0]}, 1, {W.shape[2]}]")
    S, d, N = W.shape
    if d != x.shape[1] or b.shape != (S, 1, N):
        raise ValueError(f"x [m, d], W [S, d, N] and b [S, 1, N] must agree, got {tuple(x.shape)}, "
                         f"{tuple(W.shape)} and {tuple(b.shape)}")
    check_memory(f"the features of {len(x)} points for {S} draws of {N}", 2 * W.element_size() * S * len(x) * N)
    return math.sqrt(2.0 / W.shape[-1]) * torch.cos(torch.matmul(x, W) + b)


def rff_draw(d: int, N: int, seeds: int, sigma: float, seed: int = 0, dtype=torch.float64):
    """Random frequencies W: [seeds, d, N] ~ N(0, 1/σ²) and phases b: [seeds, 1, N] ~ U[0, 2π)."""
    d, N = check_int("d", d, 1, 10**6), check_int("N", N, 1, 10**7)
    seeds = check_int("seeds", seeds, 1, 10**4)
    sigma = check_float("sigma", sigma, 0, lo_open=True)
    seed = check_int("seed", seed, 0)
    if check_dtype("dtype", dtype) is None:
        raise TypeError("dtype must be a floating torch dtype (e.g. torch.float64), got None")
    check_memory(f"{seeds} draws of {N} features in {d} dimensions", 8 * seeds * (d + 1) * N)
    g = torch.Generator().manual_seed(seed * 7919 + N)
    W = torch.randn(seeds, d, N, generator=g, dtype=dtype) / sigma
    b = 2 * math.pi * torch.rand(seeds, 1, N, generator=g, dtype=dtype)
    return W, b


def one_hot(y: torch.Tensor, c: int) -> torch.Tensor:
    """Labels y in [0, c) (int64, any shape) → one-hot rows [..., c] float64."""
    c = check_int("c", c, 1, 10**6)
    y = check_tensor("y", y, ndim=tuple(range(0, 65)))
    if y.dtype != torch.int64 or (y.numel() and (int(y.min()) < 0 or int(y.max()) >= c)):
        raise ValueError(f"y must hold int64 class labels in [0, {c - 1}], got {y.dtype}"
                         + (f" in [{int(y.min())}, {int(y.max())}]" if y.numel() else ""))
    return F.one_hot(y, c).to(torch.float64)


def _errors(pred: torch.Tensor, y: torch.Tensor, Y: torch.Tensor) -> tuple:
    """pred: [..., m, c] → (0-1 error [...], MSE per point summed over outputs [...])."""
    return (pred.argmax(-1) != y).double().mean(-1), ((pred - Y) ** 2).sum(-1).mean(-1)


def _rff_sweep_cost(p: RFFParams) -> cost.Cost:
    # per N: the draws (CPU); Φ_train [S, n, N] in float64 and Φ_test [S, m, N] in float32; the thin SVD of
    # Φ_train; UᵀY for the 2 + Q label sets; every fit's coefficients V·(filter·UᵀY) in float64, then one
    # float32 product with Φ_test for all 1 + Q + L fits; the errors over [fits, S, m, c] (float64); the
    # train MSE and the norms. Memory: Φ_train and Φ_test held through the SVD.
    n, S, c, d = int(p.n), int(p.seeds), 10, 64
    m = _DIGITS - n
    Q, L = len(p.noises), len(p.lambdas)
    F = 1 + Q + L
    total = _SKLEARN + cost.Cost(cpu_flops=cost.PASS_FLOPS * 20 * _DIGITS * d, cpu_ops=200)
    for N in sorted({max(1, round(float(r) * n)) for r in p.ratios}):
        r = min(n, N)
        svd = _thin_svd_cost(S, n, N)
        held = cost.Cost(memory=8 * S * n * N + max(2 * 4 * S * m * N, 4 * S * m * N + svd.memory))
        step = (_draw_cost(S, d, N) + _features_cost(S, n, d, N) + _passes(S * d * N, 1, f64=False)
                + _features_cost(S, m, d, N, f64=False) + svd
                + cost.product(r, n, c * (2 + Q), batch=S, f64=True) + _passes(S * r * c * F, 2 * F, ops=3 * F)
                + cost.product(N, r, c * F, batch=S, f64=True) + _passes(S * N * c * F, 1, ops=1)
                + cost.product(m, N, c * F, batch=S) + _passes(F * S * m * c, 8, ops=12)
                + cost.product(n, r, c, batch=S, f64=True) + _passes(S * n * c, 4, ops=20))
        total = total + held + step
    return total


@cost.model(_rff_sweep_cost)
@experiment
def rff_sweep(p: RFFParams, *, device=None, progress: bool = False) -> dict:
    """Model-wise sweep over N (min-norm, every λ, every label-noise level), batched over seeds.

    Returns plain tensors (CPU, float64), axes [seed, N] or [λ, seed, N] or [noise, seed, N]:
    ``N`` [R]; ``test_err``, ``test_mse``, ``train_mse``, ``norm`` (‖a‖_F), ``smin`` (smallest nonzero singular
    value of Φ_train) [S, R]; ``ridge_err``, ``ridge_mse``, ``ridge_norm`` [L, S, R] (ridge fits of the labels
    with ``ridge_noise`` of them randomized); ``noise_err``, ``noise_mse`` [Q, S, R].
    """
    n, S = int(p.n), int(p.seeds)
    ratios = [float(r) for r in p.ratios]
    lams = [float(v) for v in p.lambdas]
    noises = [float(v) for v in p.noises]
    dev = get_device(device)
    t0 = time.perf_counter()
    ds = data.digits(n_train=n, seed=p.seed)
    x, xt = ds.x_train.double().to(dev), ds.x_test.double().to(dev)
    y, yt = ds.y_train.to(dev), ds.y_test.to(dev)
    Y, Yt = one_hot(y, 10), one_hot(yt, 10)
    Yr = one_hot(data.label_noise(ds.y_train, float(p.ridge_noise), 10,
                                  seed=p.seed + 1), 10).to(dev)
    Yq = [one_hot(data.label_noise(ds.y_train, q, 10, seed=p.seed + 1), 10).to(dev) for q in noises]
    Ns = sorted({max(1, round(r * n)) for r in ratios})
    out = {k: [] for k in ("test_err", "test_mse", "train_mse", "norm", "smin", "ridge_err", "ridge_mse",
                           "ridge_norm", "noise_err", "noise_mse")}
    for N in Ns:  # sizes differ, so each N is its own batched (over seeds) SVD
        W, b = rff_draw(x.shape[1], N, S, p.sigma, p.seed)
        W, b = W.to(dev), b.to(dev)
        # test features in float32: they only multiply a fixed solution (the ill-conditioned part, Φ_train's
        # spectrum, stays in float64); this halves the largest tensors of the sweep
        phi, phit = rff_features(x, W, b), rff_features(xt.float(), W.float(), b.float())
        U, s, V = thin_svd(phi)
        UY = U.transpose(1, 2) @ torch.cat([Y, *Yq, Yr], -1)  # [S, r, c·(2+Q)]
        c = Y.shape[1]
        # every fit is a = V · diag(filter) · UᵀY: solve them all, then one product with Φ_test predicts all
        coefs = [filter_factors(s, 0.0, n)[..., None] * UY[..., :-c]]  # min-norm, clean and noisy labels
        coefs += [filter_factors(s, lam, n)[..., None] * UY[..., -c:] for lam in lams]  # ridge
        coef = torch.cat(coefs, -1)
        pred = (phit @ (V @ coef).float()).double().unflatten(-1, (-1, c)).movedim(-2, 0)  # [fits, S, m, c]
        err, mse = _errors(pred, yt, Yt)
        Q = len(noises)
        out["test_err"].append(err[0])
        out["test_mse"].append(mse[0])
        out["noise_err"].append(err[1:1 + Q])
        out["noise_mse"].append(mse[1:1 + Q])
        out["ridge_err"].append(err[1 + Q:])
        out["ridge_mse"].append(mse[1 + Q:])
        mn = coef[..., :c]
        out["train_mse"].append(((U @ (s[..., None] * mn) - Y) ** 2).sum(-1).mean(-1))
        out["norm"].append(mn.square().sum((1, 2)).sqrt())  # ‖a‖ = ‖coef‖: V has orthonormal columns
        out["ridge_norm"].append(coef[..., c * (1 + Q):].unflatten(-1, (-1, c)).square().sum((1, 3)).sqrt().T)
        out["smin"].append(torch.where(s > 0, s, torch.inf).amin(-1))
    res = {k: torch.stack(v, -1).cpu() for k, v in out.items()}
    res.update(N=torch.tensor(Ns), n=n, lambdas=torch.tensor(lams, dtype=torch.float64),
               noises=torch.tensor(noises, dtype=torch.float64), seconds=time.perf_counter() - t0,
               params=asdict(p))
    return res


def _rff_sample_sweep_cost(p: RFFParams) -> cost.Cost:
    # one draw of N = sample_N features; Φ on the largest training set and on the test set (float64); per
    # training-set size, a min-norm fit (thin SVD of its rows of Φ, UᵀY, V·(filter·UᵀY)) and the test
    # predictions (a product with c = 10 columns) and errors. scikit-learn is already imported: the chapter
    # runs rff_sweep first
    N, S, c, d = int(p.sample_N), int(p.seeds), 10, 64
    ns = sorted(int(v) for v in p.sample_ns)
    m = _DIGITS - ns[-1]
    total = (cost.Cost(cpu_flops=cost.PASS_FLOPS * 20 * _DIGITS * d, cpu_ops=200) + _draw_cost(S, d, N)
             + _features_cost(S, ns[-1], d, N) + _features_cost(S, m, d, N))
    for n in ns:
        r = min(n, N)
        svd = _thin_svd_cost(S, n, N)
        total = (total + svd + cost.Cost(memory=8 * S * (ns[-1] + m) * N + svd.memory) + _passes(S * r, 4, ops=8)
                 + cost.product(r, n, c, batch=S, f64=True) + cost.product(N, r, c, batch=S, f64=True)
                 + cost.product(m, N, c, batch=S, f64=True) + _passes(S * m * c, 8, ops=12))
    return total


@cost.model(_rff_sample_sweep_cost)
@experiment
def rff_sample_sweep(p: RFFParams, *, device=None, progress: bool = False) -> dict:
    """Sample-wise sweep: fixed N = ``sample_N`` features, training sets of ``sample_ns`` points drawn as
    nested prefixes of one shuffled pool (the rest of digits is the test set), min-norm fit, batched over seeds.

    Returns ``ns`` [P], ``test_err`` and ``test_mse`` [S, P], ``N``.
    """
    N, S = int(p.sample_N), int(p.seeds)
    ns = sorted(int(v) for v in p.sample_ns)
    dev = get_device(device)
    ds = data.digits(n_train=ns[-1], seed=p.seed)
    x, xt = ds.x_train.double().to(dev), ds.x_test.double().to(dev)
    y, yt = ds.y_train.to(dev), ds.y_test.to(dev)
    W, b = rff_draw(x.shape[1], N, S, p.sigma, p.seed + 1)
    phi, phit = rff_features(x, W.to(dev), b.to(dev)), rff_features(xt, W.to(dev), b.to(dev))
    errs, mses = [], []
    for m in ns:  # sizes differ: one batched (over seeds) solve per training-set size
        a = least_squares(phi[:, :m], one_hot(y[:m], 10))
        e, q = _errors(phit @ a, yt, one_hot(yt, 10))
        errs.append(e)
        mses.append(q)
    return {"ns": torch.tensor(ns), "N": N, "test_err": torch.stack(errs, -1).cpu(),
            "test_mse": torch.stack(mses, -1).cpu()}


# ------------------------------------------------------------------------------------------ curves


def peak_after_minimum(y: torch.Tensor, split: int = 0) -> int:
    """Index of the double-descent peak of a curve y: [R]: the maximum of y at or after the minimum of
    y[:split] (the classical, under-parametrised optimum). ``split`` = 0 means the global maximum."""
    y = check_tensor("y", y, ndim=1, shape="[R]", min_size=1)
    split = check_int("split", split, 0, len(y))
    start = int(torch.argmin(y[:split])) if split > 0 else 0
    return start + int(torch.argmax(y[start:]))


# ------------------------------------------------------------------------------------------ model-wise: MLP widths


def _mnist1d_noisy(p: MLPParams, device=None):
    """MNIST-1D with ``n`` training points, a ``noise`` fraction of their labels randomized (test labels clean)."""
    ds = data.mnist1d(n_train=int(p.n), seed=p.seed, num_samples=p.num_samples)
    y = data.label_noise(ds.y_train, float(p.noise), 10, seed=p.seed + 1)
    dev = get_device(device)
    return ds.x_train.to(dev), y.to(dev), ds.x_test.to(dev), ds.y_test.to(dev)


def _width_sweep_cost(p: MLPParams) -> cost.Cost:
    # MNIST-1D generated on the CPU (numpy, ~40 CPU operations a sample); the packed family built on the CPU
    # in float64 (padded to the widest member, then packed); full-batch Adam on cross-entropy: a step is
    # cost.train of one dense net with all H hidden units (one GEMM), plus the ReLUs' elementwise work
    # (cost.dense_extras), the readout's G width groups (a batched product each, forward and backward: ~9
    # operations a group), and the loss: log-softmax over a transposed [M, n, 10] output (~60 passes a number,
    # measured); every record evaluates the train and the test set (the hidden layer's bias copy and ReLU on
    # [H, points], weighted by size, and the loss, accuracy and argmax over the transposed outputs)
    widths, S, n, c, d = sorted({int(w) for w in p.widths}), int(p.seeds), int(p.n), 10, 40
    G, M, H = len(widths), len(widths) * S, S * sum(widths)
    m = p.num_samples - n
    sizes = (d, H, c)
    run = dict(members=1, sizes=sizes, batch=n, steps=p.steps)
    rec = cost.records(p.steps, p.records)
    data = _MNIST1D + cost.Cost(cpu_ops=40 * p.num_samples)
    build = (cost.family_init(members=M, weights=(d + 1 + c) * max(widths), layers=2)
             + cost.Cost(cpu_flops=cost.PASS_FLOPS * 6 * M * (d + 1 + c) * max(widths), cpu_ops=10 * M))
    loss = cost.passes(M * n * c, 60, ops=10) * p.steps
    groups = cost.Cost(ops=9 * G * p.steps)

    def evaluate(pts: int) -> cost.Cost:
        return (cost.Cost(flops=2.0 * H * (d + c) * pts, ops=8 + 4 * G)
                + cost.passes(H * pts, 2 * cost.size_weight(4 * H * pts)) + cost.passes(M * pts * c, 100, ops=20)
                + cost.Cost(memory=4 * (2 * H * pts + 2 * M * pts * c)))

    return (data + build + cost.train(**run, optimizer="adam") + cost.dense_extras(**run) + loss + groups
            + rec * (evaluate(n) + evaluate(m)))


@cost.model(_width_sweep_cost)
@experiment
def width_sweep(p: MLPParams, *, device=None, progress: bool = False) -> dict:
    """Train every width × seed as one packed family; average over seeds.

    Returns (CPU tensors) ``widths`` [G]; ``steps`` [T]; ``train_err``, ``test_err`` [T, S, G] (every record);
    ``final_train_err``, ``final_test_err`` [G] (seed means at the last step); ``interp_width``;
    ``peak_width``; ``seconds``.
    """
    widths, S = sorted({int(w) for w in p.widths}), int(p.seeds)
    x, y, xt, yt = _mnist1d_noisy(p, device)
    member_w = [w for _ in range(S) for w in widths]
    member_s = [p.seed * 1000 + s for s in range(S) for _ in widths]
    model = models.packed_mlp(x.shape[1], 10, member_w, member_s, device=x.device)
    # full-batch Adam on the summed cross-entropy: each member gets exactly its own gradient, and Adam is
    # elementwise, so each member trains as it would alone
    r = train.train(model, data.Dataset(x, y, xt, yt, n_classes=10), steps=p.steps, lr=p.lr, loss="cross_entropy",
                    optimizer="adam", records=p.records, progress=progress)
    G = len(widths)
    # packed order is width-major: member g·S + s has width widths[g]
    tr = (1 - r.train_acc).view(-1, G, S).transpose(1, 2)
    te = (1 - r.test_acc).view(-1, G, S).transpose(1, 2)
    ftr, fte = tr[-1].mean(0).double(), te[-1].mean(0).double()
    W = torch.tensor(widths)
    # the first width whose seed-mean train error is at or below the tolerance (the widest if none is)
    i_int = int(first_crossing(torch.arange(G), ftr, p.interp_tol, "below", inclusive=True, never=G - 1))
    i_peak = peak_after_minimum(fte, split=max(i_int, 1))
    return {"widths": W, "steps": r.steps, "train_err": tr, "test_err": te, "final_train_err": ftr,
            "final_test_err": fte, "interp_width": int(W[i_int]), "interpolates": bool((ftr <= p.interp_tol).any()),
            "peak_width": int(W[i_peak]), "seconds": r.seconds, "params": asdict(p)}


# ---------------------------------------------------------------- the chapter's plan


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    rp = RFFParams.preset(mode)
    return [(rff_sweep, rp), (rff_sample_sweep, rp), (width_sweep, MLPParams.preset(mode))]
