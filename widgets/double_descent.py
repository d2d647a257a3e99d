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
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from widgets.core import data, models
from widgets.core.checks import check_float, check_int
from widgets.core.env import get_device
from widgets.core.train import log_steps

# ------------------------------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class RFFParams:
    """Random-features sweep on sklearn digits. ``ratios``: N/n values of the model-wise sweep (dense near 1);
    ``lambdas``: ridge strengths (per training point: the penalty is n·λ‖a‖²); ``noises``: label-noise
    fractions; ``sample_N``/``sample_ns``: the fixed N and the training-set sizes of the sample-wise sweep."""

    n: int = 400
    seeds: int = 5
    sigma: float = 0.6 * 8.0  # 0.6·√d, d = 64 pixels (Belkin et al.'s bandwidth scale)
    ratios: tuple = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.975, 1.0, 1.025, 1.05, 1.1, 1.2, 1.5, 2.0,
                     3.0, 5.0, 10.0, 20.0)
    lambdas: tuple = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    noises: tuple = (0.0, 0.1, 0.2, 0.3)
    ridge_noise: float = 0.0  # label noise of the ridge fits
    sample_N: int = 400
    sample_ns: tuple = (100, 200, 300, 350, 380, 400, 420, 450, 500, 600, 800, 1000, 1200)
    seed: int = 0

    @classmethod
    def quick(cls) -> RFFParams:
        return cls()

    @classmethod
    def full(cls) -> RFFParams:
        return cls(seeds=20, ratios=tuple(sorted(set(cls.ratios) | {0.15, 0.4, 0.6, 0.85, 1.15, 1.3, 7.0, 15.0})))

    @classmethod
    def preset(cls, mode: str) -> RFFParams:
        return cls.quick() if mode == "quick" else cls.full()


@dataclass(frozen=True)
class MLPParams:
    """Model-wise deep double descent on MNIST-1D: ``n`` training points with a ``noise`` fraction of labels
    randomized, every width × seed one member of a single batched family, full-batch Adam on cross-entropy."""

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

    @classmethod
    def quick(cls) -> MLPParams:
        return cls()

    @classmethod
    def full(cls) -> MLPParams:
        # the mnist1d repository's setting: 4000 points, 15% noise, widths 2..300-ish (here up to 512)
        return cls(n=4000, noise=0.15, widths=(1, 2, 4, 8, 12, 16, 24, 32, 40, 48, 56, 64, 80, 96, 128, 192,
                                               256, 384, 512), seeds=5, steps=20_000, lr=1e-3, records=60,
                   num_samples=8000)

    @classmethod
    def preset(cls, mode: str) -> MLPParams:
        return cls.quick() if mode == "quick" else cls.full()


# ------------------------------------------------------------------------------------------ random features


def rff_features(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x: [m, d], W: [S, d, N], b: [S, 1, N] → φ(x): [S, m, N] = √(2/N) cos(xW + b)."""
    return math.sqrt(2.0 / W.shape[-1]) * torch.cos(torch.matmul(x, W) + b)


def rff_draw(d: int, N: int, seeds: int, sigma: float, seed: int = 0, dtype=torch.float64):
    """Random frequencies W: [seeds, d, N] ~ N(0, 1/σ²) and phases b: [seeds, 1, N] ~ U[0, 2π)."""
    g = torch.Generator().manual_seed(seed * 7919 + N)
    W = torch.randn(seeds, d, N, generator=g, dtype=dtype) / sigma
    b = 2 * math.pi * torch.rand(seeds, 1, N, generator=g, dtype=dtype)
    return W, b


def spectrum(phi: torch.Tensor, rcond: float = 1e-7):
    """Thin SVD Φ = U diag(s) Vᵀ of a batch phi: [S, n, N], from the eigendecomposition of the smaller Gram
    matrix (ΦΦᵀ or ΦᵀΦ; in float64 this keeps s to ~1e-8 relative, plenty for a pseudo-inverse and much
    faster than an SVD of a wide matrix). Returns U [S, n, r], s [S, r] (descending), V [S, N, r] with
    r = min(n, N); singular values below ``rcond`` · s_max are set to zero (the pseudo-inverse's cut-off)."""
    if phi.ndim != 3:
        raise ValueError(f"phi must have shape [S, n, N], got {tuple(phi.shape)}")
    wide = phi.shape[2] >= phi.shape[1]
    gram = phi @ phi.transpose(1, 2) if wide else phi.transpose(1, 2) @ phi
    lam, vec = torch.linalg.eigh(gram)
    lam, vec = lam.flip(-1), vec.flip(-1)
    s = lam.clamp_min(0).sqrt()
    s = torch.where(s > rcond * s[..., :1], s, torch.zeros_like(s))
    inv = torch.where(s > 0, 1 / s.clamp_min(1e-300), torch.zeros_like(s))[:, None, :]
    if wide:
        return vec, s, (phi.transpose(1, 2) @ vec) * inv
    return (phi @ vec) * inv, s, vec


def filter_factors(s: torch.Tensor, lam: float, n: int) -> torch.Tensor:
    """Spectral filter of the fit: 1/s (λ = 0: minimum norm, zero where s = 0) or s/(s² + nλ) (ridge)."""
    lam = check_float("lam", lam, 0)
    if lam == 0:
        return torch.where(s > 0, 1.0 / s.clamp_min(1e-300), torch.zeros_like(s))
    return s / (s**2 + n * lam)


def least_squares(phi: torch.Tensor, Y: torch.Tensor, lam: float = 0.0) -> torch.Tensor:
    """Minimum-norm least squares (λ = 0) or ridge, minimising ‖Φa − Y‖² + nλ‖a‖². phi: [S, n, N],
    Y: [n, c] or [S, n, c] → a: [S, N, c]."""
    U, s, V = spectrum(phi)
    f = filter_factors(s, lam, phi.shape[1])
    return V @ (f[..., None] * (U.transpose(1, 2) @ Y.to(phi.dtype)))


def one_hot(y: torch.Tensor, c: int) -> torch.Tensor:
    return F.one_hot(y, c).to(torch.float64)


def _errors(pred: torch.Tensor, y: torch.Tensor, Y: torch.Tensor) -> tuple:
    """pred: [..., m, c] → (0-1 error [...], MSE per point summed over outputs [...])."""
    return (pred.argmax(-1) != y).double().mean(-1), ((pred - Y) ** 2).sum(-1).mean(-1)


def rff_sweep(p: RFFParams, device=None) -> dict:
    """Model-wise sweep over N (min-norm, every λ, every label-noise level), batched over seeds.

    Returns plain tensors (CPU, float64), axes [seed, N] or [λ, seed, N] or [noise, seed, N]:
    ``N`` [R]; ``test_err``, ``test_mse``, ``train_mse``, ``norm`` (‖a‖_F), ``smin`` (smallest nonzero singular
    value of Φ_train) [S, R]; ``ridge_err``, ``ridge_mse``, ``ridge_norm`` [L, S, R] (ridge fits of the labels
    with ``ridge_noise`` of them randomized); ``noise_err``, ``noise_mse`` [Q, S, R].
    """
    n = check_int("n", p.n, 10, 1500)
    S = check_int("seeds", p.seeds, 1, 1000)
    check_float("sigma", p.sigma, 0, lo_open=True)
    if not p.ratios:
        raise ValueError("ratios must name at least one N/n")
    ratios = [check_float("ratios[i]", r, 0, 1000, lo_open=True) for r in p.ratios]
    lams = [check_float("lambdas[i]", v, 0) for v in p.lambdas]
    noises = [check_float("noises[i]", v, 0, 1) for v in p.noises]
    dev = get_device(device)
    t0 = time.perf_counter()
    ds = data.digits(n_train=n, seed=p.seed)
    x, xt = ds.x_train.double().to(dev), ds.x_test.double().to(dev)
    y, yt = ds.y_train.to(dev), ds.y_test.to(dev)
    Y, Yt = one_hot(y, 10), one_hot(yt, 10)
    Yr = one_hot(data.label_noise(ds.y_train, check_float("ridge_noise", p.ridge_noise, 0, 1), 10,
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
        U, s, V = spectrum(phi)
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


def rff_sample_sweep(p: RFFParams, device=None) -> dict:
    """Sample-wise sweep: fixed N = ``sample_N`` features, training sets of ``sample_ns`` points drawn as
    nested prefixes of one shuffled pool (the rest of digits is the test set), min-norm fit, batched over seeds.

    Returns ``ns`` [P], ``test_err`` and ``test_mse`` [S, P], ``N``.
    """
    N = check_int("sample_N", p.sample_N, 1, 100_000)
    S = check_int("seeds", p.seeds, 1, 1000)
    if not p.sample_ns:
        raise ValueError("sample_ns must name at least one training-set size")
    ns = sorted(check_int("sample_ns[i]", v, 2, 1500) for v in p.sample_ns)
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
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y must be a non-empty 1-D curve, got shape {tuple(y.shape)}")
    if not torch.isfinite(y).all():
        raise ValueError("y holds NaN or inf")
    split = check_int("split", split, 0, len(y))
    start = int(torch.argmin(y[:split])) if split > 0 else 0
    return start + int(torch.argmax(y[start:]))


def first_below(y: torch.Tensor, tol: float) -> int:
    """Index of the first entry of y: [R] at or below ``tol``; ValueError if none is."""
    hits = (y <= tol).nonzero()
    if len(hits) == 0:
        raise ValueError(f"no entry is at or below tol={tol}; the smallest is {float(y.min()):.4g}")
    return int(hits[0])


# ------------------------------------------------------------------------------------------ packed MLP family


@dataclass
class PackedMLP:
    """Two-layer ReLU MLPs of different widths, M members stored *packed*: member m owns hidden units
    [offset_m, offset_m + width_m) of one hidden layer of H = Σ widths units, so the first layer is one GEMM
    with no padding. Members are grouped by width (``groups``: (width, first member, count)), and each
    group's readout is one batched matmul.

    Weights are stored unit-major so that each group's hidden activations are a contiguous block (no copies):
    ``W1``: [H, d], ``b1``: [H, 1], ``W2``: [H, c] (row u: unit u's readout), ``b2``: [M, c].
    """

    W1: torch.Tensor
    b1: torch.Tensor
    W2: torch.Tensor
    b2: torch.Tensor
    widths: list[int]
    seeds: list[int]
    groups: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def params(self) -> list[torch.Tensor]:
        return [self.W1, self.b1, self.W2, self.b2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, d] → outputs [M, n, c]."""
        hT = torch.relu(torch.addmm(self.b1, self.W1, x.T))  # [H, n]
        sizes = [w * count for w, _, count in self.groups]
        # split (not slicing) so the backward pass concatenates the groups' gradients instead of adding
        # one zero-padded full-size gradient per group
        outs = [torch.bmm(W2g.view(count, w, -1).transpose(1, 2), hg.view(count, w, -1))  # [count, c, n]
                for (w, _, count), hg, W2g in zip(self.groups, hT.split(sizes), self.W2.split(sizes), strict=True)]
        return torch.cat(outs).transpose(1, 2) + self.b2[:, None, :]


def packed_mlp(d_in: int, d_out: int, widths, seeds, device=None, dtype=torch.float32) -> PackedMLP:
    """Pack the members of ``widgets.core.models.mlp(d_in, d_out, widths, seeds)`` (same initialisation, member by
    member). Members are reordered so equal widths are adjacent; ``widths``/``seeds`` give the new order."""
    widths, seeds = list(widths), list(seeds)
    if len(widths) != len(seeds) or not widths:
        raise ValueError(f"widths and seeds must be equally long and non-empty, got {len(widths)} and {len(seeds)}")
    order = sorted(range(len(widths)), key=lambda k: (widths[k], k))
    widths, seeds = [widths[k] for k in order], [seeds[k] for k in order]
    fam = models.mlp(d_in, d_out, widths=widths, seeds=seeds, depth=2, device="cpu", dtype=torch.float64)
    W1, b1, W2, b2 = (p.detach() for p in fam.params)
    cols = [W1[k, :, :w] for k, w in enumerate(widths)]
    rows = [W2[k, :w] for k, w in enumerate(widths)]
    groups, k = [], 0
    while k < len(widths):
        count = widths.count(widths[k])  # sorted, so equal widths are adjacent
        groups.append((widths[k], k, count))
        k += count
    dev = get_device(device)
    dt = dict(device=dev, dtype=dtype)
    W1p = torch.cat(cols, 1).T.contiguous().to(**dt)
    b1p = torch.cat([b1[k, 0, :w] for k, w in enumerate(widths)])[:, None].contiguous().to(**dt)
    return PackedMLP(W1p.requires_grad_(True), b1p.requires_grad_(True), torch.cat(rows).to(**dt).requires_grad_(True),
                     b2[:, 0].clone().to(**dt).requires_grad_(True), widths, seeds, groups)


def train_packed(model: PackedMLP, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                 *, steps: int, lr: float, records: int = 30, betas=(0.9, 0.999), eps: float = 1e-8) -> dict:
    """Full-batch Adam on the summed cross-entropy of all members (each member gets exactly its own gradient,
    and Adam is elementwise, so each member trains as it would alone; the same update as ``widgets.core.train``).

    Returns ``steps`` [T], ``train_err``, ``test_err``, ``train_loss`` [T, M] (CPU) and ``seconds``.
    """
    steps = check_int("steps", steps, 0, 10**7)
    lr = check_float("lr", lr, 0, 1, lo_open=True)
    b1, b2 = betas
    params = model.params
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    at = set(log_steps(steps, records))
    log = {"steps": [], "train_err": [], "test_err": [], "train_loss": []}

    def record(t):
        with torch.no_grad():
            out, out_t = model.forward(x), model.forward(x_test)
            log["steps"].append(t)
            log["train_err"].append((out.argmax(-1) != y).float().mean(1).cpu())
            log["test_err"].append((out_t.argmax(-1) != y_test).float().mean(1).cpu())
            log["train_loss"].append(_ce(out, y).cpu())

    t0 = time.perf_counter()
    if 0 in at:
        record(0)
    for t in range(1, steps + 1):
        grads = torch.autograd.grad(_ce(model.forward(x), y).sum(), params)
        with torch.no_grad():
            bc1, bc2 = 1 - b1**t, math.sqrt(1 - b2**t)
            for p, g, s1, s2 in zip(params, grads, m1, m2, strict=True):
                s1.lerp_(g, 1 - b1)
                s2.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.addcdiv_(s1, s2.sqrt().add_(eps * bc2), value=-lr * bc2 / bc1)
        if t in at:
            record(t)
    res = {k: torch.tensor(v) if k == "steps" else torch.stack(v) for k, v in log.items()}
    res["seconds"] = time.perf_counter() - t0
    return res


def _ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    M, n, c = out.shape
    return F.cross_entropy(out.reshape(M * n, c), y.repeat(M), reduction="none").view(M, n).mean(1)


def mnist1d_noisy(p: MLPParams, device=None):
    """MNIST-1D with ``n`` training points, a ``noise`` fraction of their labels randomized (test labels clean)."""
    n = check_int("n", p.n, 10, p.num_samples - 100)
    noise = check_float("noise", p.noise, 0, 1)
    ds = data.mnist1d(n_train=n, seed=p.seed, num_samples=p.num_samples)
    y = data.label_noise(ds.y_train, noise, 10, seed=p.seed + 1)
    dev = get_device(device)
    return ds.x_train.to(dev), y.to(dev), ds.x_test.to(dev), ds.y_test.to(dev)


def width_sweep(p: MLPParams, device=None, data_=None) -> dict:
    """Train every width × seed as one packed family; average over seeds.

    Returns (CPU tensors) ``widths`` [G]; ``steps`` [T]; ``train_err``, ``test_err`` [T, S, G] (every record);
    ``final_train_err``, ``final_test_err`` [G] (seed means at the last step); ``interp_width``;
    ``peak_width``; ``seconds``.
    """
    if not p.widths:
        raise ValueError("widths must name at least one width")
    widths = sorted({check_int("widths[i]", w, 1, 100_000) for w in p.widths})
    S = check_int("seeds", p.seeds, 1, 1000)
    check_float("interp_tol", p.interp_tol, 0, 1)
    x, y, xt, yt = data_ if data_ is not None else mnist1d_noisy(p, device)
    member_w = [w for _ in range(S) for w in widths]
    member_s = [p.seed * 1000 + s for s in range(S) for _ in widths]
    model = packed_mlp(x.shape[1], 10, member_w, member_s, device=x.device)
    r = train_packed(model, x, y, xt, yt, steps=p.steps, lr=p.lr, records=p.records)
    G = len(widths)
    # packed order is width-major: member g·S + s has width widths[g]
    tr = r["train_err"].view(-1, G, S).transpose(1, 2)
    te = r["test_err"].view(-1, G, S).transpose(1, 2)
    ftr, fte = tr[-1].mean(0).double(), te[-1].mean(0).double()
    W = torch.tensor(widths)
    i_int = first_below(ftr, p.interp_tol) if (ftr <= p.interp_tol).any() else G - 1
    i_peak = peak_after_minimum(fte, split=max(i_int, 1))
    return {"widths": W, "steps": r["steps"], "train_err": tr, "test_err": te, "final_train_err": ftr,
            "final_test_err": fte, "interp_width": int(W[i_int]), "interpolates": bool((ftr <= p.interp_tol).any()),
            "peak_width": int(W[i_peak]), "seconds": r["seconds"], "params": asdict(p)}
