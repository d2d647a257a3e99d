"""The loss is a prior too: what each loss makes gradient descent estimate, and what it ignores.

Five experiments, each one batched computation (losses × settings × seeds as one family, through
:func:`widgets.core.train.train`, or one batched closed form):

* :func:`outliers`: a linear model on Legendre features fitted with the squared, absolute and Huber losses
  to data with a fraction ε of one-sided gross outliers (Huber 1964): the squared loss estimates a mean.
* :func:`far_points`: 2-D classification with far *correct* or far *mislabelled* points added: least
  squares, logistic, a bounded sigmoid loss and the SVM (Bishop 2006, §4.1.3; Ghosh et al. 2017).
* :func:`noisy_labels`: an MLP on digits with symmetric label noise under CE, the square loss, the MAE and
  GCE (Ghosh et al. 2017; Zhang & Sabuncu 2018; Hui & Belkin 2021 for the clean comparison).
* :func:`imbalance`: linear logits on two Gaussians at class ratios 1…1000: CE, CE with post-hoc logit
  adjustment (Menon et al. 2021) and least squares, scored exactly under the Gaussian model.
* :func:`proliferation`: on separable Gaussian data, the hard-margin SVM (where GD on the logistic loss
  heads) against the minimum-norm interpolant (where GD on the square loss from zero ends) as d/n grows
  (Soudry et al. 2018; Muthukumar et al. 2021).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

import numpy as np
import torch

from widgets.core import cost, data, models, train
from widgets.core.checks import (
    check_float,
    check_floats,
    check_instance,
    check_int,
    check_ints,
    check_memory,
    check_sequence,
    check_tensor,
)
from widgets.core.losses import loss_kind, parse_loss
from widgets.core.params import Params, experiment
from widgets.core.solvers import hard_margin_svm, least_squares


def _check_losses(name: str, specs, kind: str) -> None:
    """Loss names (with their parameters) of :mod:`widgets.core.losses`, all of one ``kind`` of target."""
    specs = check_sequence(name, specs, min_length=1)
    for spec in specs:
        try:
            parse_loss(spec)
        except ValueError as e:
            raise ValueError(f"{name}[i] must be a loss of widgets.core.losses.LOSSES: {e}") from None
    try:
        found = loss_kind(specs)
    except ValueError as e:
        raise ValueError(f"{name} must all take the same targets: {e}") from None
    if found != kind:
        raise ValueError(f"{name} must all be {kind} losses, got {specs}")


def _check_steps(epochs: int, n_train: int, batch_size: int) -> None:
    """The trainer's step budget: epochs × (n_train // batch_size) steps of minibatches."""
    check_int("epochs × (n_train // batch_size) (steps)", epochs * (n_train // batch_size), 1, 10**8)


def _angle_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between the rows of a and b ([..., d]), in float64."""
    a, b = a.double(), b.double()
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-300)
    return torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(z / math.sqrt(2)))


# ---------------------------------------------------------------- 1. regression with gross outliers


@dataclass(frozen=True)
class OutlierParams(Params):
    """f*(x) = sin(πx) on x ~ U[−1, 1], n points with N(0, σ²) noise; a fraction ε of them (chosen at
    random) is shifted by +A. The model is linear in the first ``features`` orthonormal Legendre
    polynomials, trained from zero by full-batch Adam for ``steps`` steps at ``lr`` with each loss (Huber's
    δ in the name, ``"huber:0.2"`` = 2σ). ``grid``: points on which the fit is compared with f*.
    ``n_location``: draws for the location estimates (mean and median of contaminated samples)."""

    FULL: ClassVar[dict] = {"seeds": 10, "steps": 10_000, "lr": 1e-3,
                            "eps": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)}
    STEPS: ClassVar[tuple] = ("steps",)

    n: int = 1000
    sigma: float = 0.1
    A: float = 5.0
    eps: tuple = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45)
    losses: tuple = ("mse", "mae", "huber:0.2")
    features: int = 8
    steps: int = 3000
    lr: float = 3e-3
    seeds: int = 4
    grid: int = 201
    n_location: int = 2000
    seed: int = 0

    def check(self) -> None:
        check_int("n", self.n, 10, 10**6)
        check_float("sigma", self.sigma, 0, 10, lo_open=True)
        check_float("A", self.A, 0, 1e4)
        check_floats("eps", self.eps, 0, 0.49)
        _check_losses("losses", self.losses, "regression")
        check_int("features", self.features, 1, 30)
        check_int("steps", self.steps, 1, 10**7)
        check_float("lr", self.lr, 0, 10, lo_open=True)
        check_int("seeds", self.seeds, 1, 1000)
        check_int("grid", self.grid, 2, 10**5)
        check_int("n_location", self.n_location, 10, 10**7)
        check_int("seed", self.seed, 0)
        # one linear member per (loss, ε, seed) on its own copy of the features, and the location samples
        K = len(self.losses) * len(self.eps) * self.seeds
        check_memory("losses × eps × seeds × n × features (and n_location)",
                     4 * 4 * K * self.n * (self.features + 1) + 8 * 3 * self.seeds * len(self.eps) * self.n_location)


def legendre_features(x: torch.Tensor, m: int) -> torch.Tensor:
    """The first m Legendre polynomials at x ∈ [−1, 1], scaled by √(2k + 1) so they are orthonormal under
    x ~ U[−1, 1]: [..., n] → [..., n, m] float32."""
    x = check_tensor("x", x, ndim=tuple(range(1, 65)), shape="[..., n]")
    m = check_int("m", m, 1, 100)
    check_memory(f"{m} Legendre features of {x.numel()} points", 8 * 3 * x.numel() * m)
    v = np.polynomial.legendre.legvander(x.detach().double().cpu().numpy(), m - 1) * np.sqrt(2 * np.arange(m) + 1)
    return torch.from_numpy(v).float()


def _linear_family(*, members: int, n: int, d: int, steps: int, optimizer: str, groups: int, loss_passes: float,
                   records: int = 2) -> cost.Cost:
    """A family of linear models (one weight vector each) on their own n points of d features, trained full
    batch: its products are matrix-vector products (the forward, and the weights' gradient), the loss an
    elementwise pass or a few over the n outputs; ``groups`` > 1: one loss name per member."""
    sizes = (d, 1)
    step = (cost.matvec(members, n, d, ops=0) * 2 + cost.passes(members * n, loss_passes, ops=0)
            + (cost.loss_groups(members=members, n=n, outputs=1, groups=groups) if groups > 1 else cost.Cost()))
    return (cost.family_init(members=members, weights=d, layers=1)
            + cost.train(members=members, sizes=sizes, batch=n, steps=steps, evals=n + 2, records=records,
                         optimizer=optimizer, per_member_data=True)
            + steps * step + records * cost.matvec(members, n + 2, d, ops=0))


def _outliers_cost(p: OutlierParams) -> cost.Cost:
    # (loss, ε, seed) linear models on their own Legendre features, full-batch Adam, one loss name per member
    K = len(p.losses) * len(p.eps) * p.seeds
    return (_linear_family(members=K, n=p.n, d=p.features, steps=p.steps, optimizer="adam", groups=len(p.losses),
                           loss_passes=4)
            + cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS * p.seeds * (2 * p.n + p.n_location), cpu_ops=50))


@cost.model(_outliers_cost)
@experiment
def outliers(p: OutlierParams, *, device=None, progress: bool = False) -> dict:
    """Fit every (loss, ε, seed) as one family of linear models (K = losses × ε × seeds).

    Returns ``eps`` [E], ``losses`` (names), ``rms`` [L, E, S] (RMS of f̂ − f* on the grid), ``shift``
    [L, E, S] (mean of f̂ − f* on the grid: the location shift), ``grid`` [G], ``truth`` [G], ``fits`` [L, E, G]
    (seed 0), ``x`` [n], ``y`` [E, n], ``outlier`` [E, n] bool (seed 0's data), the location estimates
    ``mean_shift``, ``median_shift`` [E] (means over seeds) and their theory ``mean_theory`` = εA and
    ``median_theory`` = σ Φ⁻¹(½/(1 − ε)), and ``seconds``."""
    L, E, S = len(p.losses), len(p.eps), p.seeds
    g = torch.Generator().manual_seed(p.seed)
    xs = 2 * torch.rand(S, p.n, generator=g, dtype=torch.float64) - 1  # [S, n]
    clean = torch.sin(math.pi * xs) + p.sigma * torch.randn(S, p.n, generator=g, dtype=torch.float64)
    flags = torch.zeros(E, S, p.n, dtype=torch.bool)
    for s in range(S):
        order = torch.randperm(p.n, generator=g)  # nested outlier sets: a larger ε adds points
        for e, eps in enumerate(p.eps):
            flags[e, s, order[: round(eps * p.n)]] = True
    ys = clean[None] + p.A * flags
    phi = legendre_features(xs, p.features)  # [S, n, m]
    # members in (loss, ε, seed) order
    x_k = phi[None, None].expand(L, E, S, p.n, p.features).reshape(-1, p.n, p.features)
    y_k = ys[None].expand(L, E, S, p.n).reshape(-1, p.n, 1).float()
    specs = [spec for spec in p.losses for _ in range(E * S)]
    K = len(specs)
    fam = models.mlp(p.features, 1, widths=1, seeds=list(range(K)), depth=1, bias=False, init_scale=0.0,
                     device=device)
    ds = data.Dataset(x_k, y_k, x_k[:, :2], y_k[:, :2])
    res = train.train(fam, ds, steps=p.steps, lr=p.lr, loss=specs, optimizer="adam", records=2,
                      progress=progress)
    w = res.params[0][..., 0].double()  # [K, m]
    grid = torch.linspace(-1, 1, p.grid, dtype=torch.float64)
    truth = torch.sin(math.pi * grid)
    f = (legendre_features(grid, p.features).double() @ w.T).T.reshape(L, E, S, p.grid)
    err = f - truth
    # location estimates of N(0, σ²) samples with a fraction ε shifted by +A
    loc = p.sigma * torch.randn(S, p.n_location, generator=g, dtype=torch.float64)
    cut = torch.tensor([round(e * p.n_location) for e in p.eps])
    shifted = loc[None] + p.A * (torch.arange(p.n_location)[None, None] < cut[:, None, None])
    eps_t = torch.tensor(p.eps, dtype=torch.float64)
    median_theory = p.sigma * math.sqrt(2) * torch.erfinv(2 * (0.5 / (1 - eps_t)) - 1)
    return {"eps": eps_t, "losses": list(p.losses), "rms": err.pow(2).mean(-1).sqrt(), "shift": err.mean(-1),
            "grid": grid, "truth": truth, "fits": f[:, :, 0], "x": xs[0], "y": ys[:, 0], "outlier": flags[:, 0],
            "mean_shift": shifted.mean(-1).mean(-1), "median_shift": shifted.median(-1).values.mean(-1),
            "mean_theory": eps_t * p.A, "median_theory": median_theory, "A": p.A, "sigma": p.sigma,
            "seconds": res.seconds, "params": asdict(p)}


# ---------------------------------------------------------------- 2. far correct and far mislabelled points


@dataclass(frozen=True)
class FarParams(Params):
    """Two classes N((±``mu``, 0), ``std``² I) with ``n`` points each, linear boundaries w·x + b = 0. Far
    points are added in ``counts``: *correct* ones at ``correct_at`` labelled +1, or *mislabelled* ones at
    ``wrong_at`` labelled −1. Logistic and sigmoid losses train by full-batch GD from zero for ``steps``
    steps at ``lr``; least squares (±1 targets) and the SVM are exact."""

    FULL: ClassVar[dict] = {"seeds": 20, "steps": 20_000}
    STEPS: ClassVar[tuple] = ("steps",)

    n: int = 50
    mu: float = 1.5
    std: float = 0.5
    counts: tuple = (0, 1, 2, 5, 10, 20)
    correct_at: tuple = (7.0, 7.0)
    wrong_at: tuple = (5.0, 0.0)
    steps: int = 5000
    lr: float = 0.2
    seeds: int = 5
    seed: int = 0

    def check(self) -> None:
        check_int("n", self.n, 2, 10**5)
        check_float("mu", self.mu, 0, 100, lo_open=True)
        check_float("std", self.std, 0, 100, lo_open=True)
        if not self.counts or self.counts[0] != 0 or list(self.counts) != sorted(set(self.counts)):
            raise ValueError(f"counts must be increasing and start at 0, got {self.counts}")
        for c in self.counts:
            check_int("counts[i]", c, 0, 10**4)
        for name in ("correct_at", "wrong_at"):
            if len(check_floats(name, getattr(self, name), -1e4, 1e4)) != 2:
                raise ValueError(f"{name} must be a point (x1, x2), got {getattr(self, name)}")
        check_int("steps", self.steps, 1, 10**7)
        check_float("lr", self.lr, 0, 100, lo_open=True)
        check_int("seeds", self.seeds, 1, 1000)
        check_int("seed", self.seed, 0)
        # the (kind, count, seed) problems in float64 and the four methods' test margins on 4000 points
        C, N = len(self.counts), 2 * self.n + max(self.counts)
        check_memory("counts × seeds × (n + max(counts))", 8 * C * self.seeds * (3 * 2 * 4 * N + 3 * 4 * 2 * 4000))


FAR_KINDS = ("correct", "mislabelled")
FAR_METHODS = ("least squares", "logistic", "sigmoid", "SVM")


def _far_points_cost(p: FarParams) -> cost.Cost:
    # (loss, kind, count, seed) linear models on [x, 1], full-batch GD, one loss name per member; least squares
    # exact on the CPU; the SVM of each seed in plain Python on the CPU (about 100 sweeps, measured)
    C, S = len(p.counts), p.seeds
    N = 2 * p.n + max(p.counts)
    K = 4 * C * S
    return (_linear_family(members=K, n=N, d=3, steps=p.steps, optimizer="gd", groups=2, loss_passes=12)
            + 2 * S * cost.svm_dual(n=2 * p.n + 1, d=3, sweeps=100)
            + cost.Cost(cpu_flops=60.0 * 2 * C * S * N + 40.0 * K * 4000, cpu_ops=10 * C * 2 + 20))


@cost.model(_far_points_cost)
@experiment
def far_points(p: FarParams, *, device=None, progress: bool = False) -> dict:
    """Every (loss, kind, count, seed) as one family of linear models on [x₁, x₂, 1] (the bias is part of
    w, as in GD on the logistic loss, so the SVM is the max margin of the augmented vector). A member with
    fewer far points than the largest count has zero rows in their place, which give zero gradient; its
    learning rate is scaled by n_total / n_real, so it takes exactly the steps it would take without them.

    Returns ``counts`` [C], ``w`` [M, 2, C, S, 3] for the methods of :data:`FAR_METHODS` and the kinds of
    :data:`FAR_KINDS` (the SVM only where separable, NaN elsewhere), ``rotation`` [M, 2, C, S] (degrees
    between the normal (w₁, w₂) and the same method's without far points), ``test_acc`` [M, 2, C, S] (on
    fresh clean points), ``x`` [2n, 2], ``y`` [2n] (seed 0), ``far`` [2, 2] (the two far positions)."""
    C, S, top, n2 = len(p.counts), p.seeds, max(p.counts), 2 * p.n
    g = torch.Generator().manual_seed(p.seed)
    y0 = torch.cat([torch.ones(p.n), -torch.ones(p.n)]).double()
    base = torch.randn(S, n2, 2, generator=g, dtype=torch.float64) * p.std
    base[..., 0] += p.mu * y0
    test = torch.randn(S, 4000, 2, generator=g, dtype=torch.float64) * p.std
    y_test = torch.where(torch.arange(4000) < 2000, 1.0, -1.0).double()
    test[..., 0] += p.mu * y_test
    far = torch.tensor([p.correct_at, p.wrong_at], dtype=torch.float64)
    far_y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    N = n2 + top
    X = torch.zeros(2, C, S, N, 3, dtype=torch.float64)  # [kind, count, seed, point, feature]
    Y = torch.ones(2, C, S, N, dtype=torch.float64)
    X[..., :n2, :2], X[..., :n2, 2] = base[None, None], 1.0
    Y[..., :n2] = y0
    for kind in range(2):
        for c, m in enumerate(p.counts):
            X[kind, c, :, n2:n2 + m, :2], X[kind, c, :, n2:n2 + m, 2] = far[kind], 1.0
            Y[kind, c, :, n2:n2 + m] = far_y[kind]
    real = torch.tensor([(n2 + m) for m in p.counts], dtype=torch.float64)
    # least squares, exact (zero rows add nothing)
    w_ls = least_squares(X.reshape(-1, N, 3), Y.reshape(-1, N, 1))[..., 0].reshape(2, C, S, 3)
    # logistic and sigmoid losses: one family
    specs = [spec for spec in ("logistic", "sigmoid") for _ in range(2 * C * S)]
    lrs = [p.lr * N / float(real[c]) for _ in range(2) for _ in range(2) for c in range(C) for _ in range(S)]
    x_k = X[None].expand(2, 2, C, S, N, 3).reshape(-1, N, 3).float()
    y_k = Y[None].expand(2, 2, C, S, N).reshape(-1, N).float()
    fam = models.mlp(3, 1, widths=1, seeds=list(range(len(specs))), depth=1, bias=False, init_scale=0.0,
                     device=device)
    res = train.train(fam, data.Dataset(x_k, y_k, x_k[:, :2], y_k[:, :2]), steps=p.steps, lr=lrs, loss=specs,
                      optimizer="gd", records=2, progress=progress)
    w_gd = res.params[0][..., 0].double().reshape(2, 2, C, S, 3)
    # the SVM: far correct points are never support vectors, so every count ≥ 1 has the SVM of count 1
    w_svm = torch.full((2, C, S, 3), float("nan"), dtype=torch.float64)
    for s in range(S):
        for with_far in (False, True):
            pts = torch.cat([base[s], far[:1]]) if with_far else base[s]
            lab = torch.cat([y0, far_y[:1]]) if with_far else y0
            try:
                w = hard_margin_svm(torch.cat([pts, torch.ones(len(pts), 1, dtype=torch.float64)], 1), lab)["w"]
            except ValueError:  # this seed's clean classes are not linearly separable
                continue
            if with_far:  # far correct points only: far mislabelled ones make the data non-separable
                w_svm[0, 1:, s] = w
            else:
                w_svm[:, 0, s] = w
    w_all = torch.stack([w_ls, w_gd[0], w_gd[1], w_svm])  # [M, 2, C, S, 3]
    rotation = _angle_deg(w_all[..., :2], w_all[:, :, :1, :, :2])
    margin = (test @ w_all[..., :2, None])[..., 0] + w_all[..., 2:]  # [M, 2, C, S, 4000]
    test_acc = (torch.sign(margin) == y_test).double().mean(-1)
    return {"counts": torch.tensor(p.counts), "methods": list(FAR_METHODS), "kinds": list(FAR_KINDS),
            "w": w_all, "rotation": rotation, "test_acc": test_acc, "x": base[0], "y": y0, "far": far,
            "seconds": res.seconds, "params": asdict(p)}


# ---------------------------------------------------------------- 3. symmetric label noise


@dataclass(frozen=True)
class NoiseParams(Params):
    """An MLP 64 → ``width`` → ``width`` → 10 (ReLU) on ``n_train`` digits, the rest as a clean test set.
    A fraction η of the training labels (``rates``) is *resampled uniformly from all 10 classes*
    (:func:`widgets.core.data.label_noise`), so a fraction η·9/10 actually changes. Adam at ``lr``,
    minibatches of ``batch_size``, ``epochs`` passes; ``records`` evenly spaced records."""

    FULL: ClassVar[dict] = {"seeds": 6, "rates": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)}
    STEPS: ClassVar[tuple] = ("epochs",)

    n_train: int = 500
    width: int = 128
    rates: tuple = (0.0, 0.2, 0.4, 0.6)
    losses: tuple = ("cross_entropy", "square", "softmax_mae", "gce:0.7")
    lr: float = 2e-3
    batch_size: int = 100
    epochs: int = 200
    records: int = 21
    seeds: int = 2
    seed: int = 0

    def check(self) -> None:
        check_int("n_train", self.n_train, 20, 1700)
        check_int("width", self.width, 1, 10**5)
        check_floats("rates", self.rates, 0, 1)
        _check_losses("losses", self.losses, "multiclass")
        check_float("lr", self.lr, 0, 10, lo_open=True)
        check_int("batch_size", self.batch_size, 1, self.n_train)
        check_int("epochs", self.epochs, 1, 10**5)
        check_int("records", self.records, 2, 1000)
        check_int("seeds", self.seeds, 1, 1000)
        check_int("seed", self.seed, 0)
        _check_steps(self.epochs, self.n_train, self.batch_size)
        # training every (loss, rate, seed) member, its full-batch records (1797 images) and the predictions
        K = len(self.losses) * len(self.rates) * self.seeds
        check_memory("losses × rates × seeds × width (and records × n_train)",
                     models.training_bytes(K, 1797, 64, 10, self.width, 3) + 8 * self.records * K * self.n_train)

    def clean_comparison(self) -> NoiseParams:
        """The clean square-loss-vs-CE comparison (Hui & Belkin 2021's question at digits size): no noise,
        CE and the square loss, 1000 training images, 100 epochs at lr 1e-3, at least 4 seeds."""
        return replace(self, rates=(0.0,), losses=("cross_entropy", "square"), n_train=1000, epochs=100, lr=1e-3,
                       seeds=max(4, self.seeds))


def _noisy_labels_cost(p: NoiseParams) -> cost.Cost:
    # one family over (loss, rate, seed), Adam on minibatches of digits with per-member labels, one loss name
    # per member; every record evaluates the train and test sets and the predictions on the train set
    K = len(p.losses) * len(p.rates) * p.seeds
    sizes = cost.mlp_sizes(64, p.width, 3, 10)
    steps = p.epochs * (p.n_train // p.batch_size)
    n_test = 1797 - p.n_train
    rec = cost.records(steps, p.records, "linear")
    run = dict(members=K, sizes=sizes, batch=p.batch_size, steps=steps, evals=2 * p.n_train + n_test, records=rec,
               optimizer="adam")
    groups = cost.loss_groups(members=K, n=p.batch_size, outputs=10, groups=len(p.losses))
    return (cost.family_init(members=K, weights=cost.mlp_weights(sizes), layers=3)
            + cost.train(**run, per_member_data=True) + cost.dense_extras(**run) + steps * groups
            + rec * cost.loss_groups(members=K, n=p.n_train + n_test, outputs=10, groups=len(p.losses)))


@cost.model(_noisy_labels_cost)
@experiment
def noisy_labels(p: NoiseParams, *, device=None, progress: bool = False) -> dict:
    """One family over (loss, rate, seed); seeds vary the noise draw, the init and the batch order.

    Returns ``epochs`` [T], ``test_acc`` [T, L, R, S] (clean test accuracy), ``train_acc`` [T, L, R, S]
    (against the noisy labels), ``memorized`` [T, L, R, S] (fraction of the changed training labels the net
    predicts; NaN at η = 0), ``changed`` [R, S] (fraction of labels that changed), ``rates``, ``losses``."""
    L, R, S = len(p.losses), len(p.rates), p.seeds
    ds = data.digits(n_train=p.n_train, seed=p.seed)
    noisy = torch.stack([data.label_noise(ds.y_train, float(r), 10, seed=p.seed + 1 + s)
                         for r in p.rates for s in range(S)]).reshape(R, S, -1)
    changed = noisy != ds.y_train
    y_k = noisy[None].expand(L, R, S, -1).reshape(L * R * S, -1)
    specs = [spec for spec in p.losses for _ in range(R * S)]
    seeds = [p.seed + s for _ in range(L * R) for s in range(S)]
    fam = models.mlp(64, 10, widths=p.width, seeds=seeds, depth=3, device=device)
    x_train = ds.x_train.to(fam.device)

    def predictions(f) -> torch.Tensor:
        with torch.no_grad():
            return f(x_train).argmax(-1)

    steps_per_epoch = p.n_train // p.batch_size
    res = train.train(fam, data.Dataset(ds.x_train, y_k, ds.x_test, ds.y_test), steps=p.epochs * steps_per_epoch,
                      lr=p.lr, loss=specs, optimizer="adam", batch_size=p.batch_size, records=p.records,
                      spacing="linear", probes={"pred": predictions}, progress=progress)
    pred = res.probes["pred"].reshape(-1, L, R, S, p.n_train)
    hit = (pred == noisy[None, None]) & changed[None, None]
    memorized = hit.sum(-1) / changed.sum(-1).clamp_min(1)
    memorized = torch.where(changed.any(-1)[None, None], memorized.double(), torch.nan)
    shape = (-1, L, R, S)
    return {"epochs": res.steps.double() / steps_per_epoch, "test_acc": res.test_acc.reshape(shape),
            "train_acc": res.train_acc.reshape(shape), "memorized": memorized,
            "changed": changed.double().mean(-1), "rates": torch.tensor(p.rates, dtype=torch.float64),
            "losses": list(p.losses),
            "n_test": len(ds.y_test), "seconds": res.seconds, "params": asdict(p)}


# ---------------------------------------------------------------- 4. class imbalance


@dataclass(frozen=True)
class ImbalanceParams(Params):
    """Two Gaussians N(±e₁, I) in the plane; the +1 class is the minority, at ratios ρ = n₋/n₊ in
    ``ratios`` with ``n_total`` points in all (so every member has the same n). CE is the logistic loss on a
    linear logit, full-batch GD from zero for ``steps`` steps at ``lr``; least squares with ±1 targets is
    exact (where GD on the square loss from zero converges)."""

    FULL: ClassVar[dict] = {"seeds": 10, "steps": 20_000, "n_total": 20_002}
    STEPS: ClassVar[tuple] = ("steps",)

    n_total: int = 2002
    ratios: tuple = (1, 3, 10, 30, 100, 300, 1000)
    steps: int = 3000
    lr: float = 2.0
    seeds: int = 3
    seed: int = 0

    def check(self) -> None:
        check_int("n_total", self.n_total, 10, 10**7)
        check_floats("ratios", self.ratios, 1, 10**5)
        if max(self.ratios) >= self.n_total:
            raise ValueError(f"ratios must leave at least one minority point in n_total = {self.n_total}, "
                             f"got {max(self.ratios)}")
        check_int("steps", self.steps, 1, 10**7)
        check_float("lr", self.lr, 0, 100, lo_open=True)
        check_int("seeds", self.seeds, 1, 1000)
        check_int("seed", self.seed, 0)
        # the points of every (ratio, seed) in float64, their float32 copy, and one linear member each
        check_memory("ratios × seeds × n_total", 8 * 6 * len(self.ratios) * self.seeds * self.n_total)


def _imbalance_cost(p: ImbalanceParams) -> cost.Cost:
    # (ratio, seed) linear logits on their own n_total points, full-batch GD on the logistic loss; least
    # squares exact on the CPU in float64
    K, N = len(p.ratios) * p.seeds, p.n_total
    return (_linear_family(members=K, n=N, d=3, steps=p.steps, optimizer="gd", groups=1, loss_passes=6)
            + cost.Cost(cpu_flops=cost.RANDOM_DRAW_FLOPS * p.seeds * N * 2 + 60.0 * K * N, cpu_ops=30))


@cost.model(_imbalance_cost)
@experiment
def imbalance(p: ImbalanceParams, *, device=None, progress: bool = False) -> dict:
    """Returns ``ratios`` [Q], per method in ``methods`` (CE, CE + post-hoc LA, least squares):
    ``recall_min``, ``recall_maj``, ``balanced``, ``accuracy`` [3, Q, S] exact under the Gaussian model
    (accuracy under the training prior), ``threshold`` [3, Q, S] (b/‖w‖: the boundary's offset along its
    normal), ``bayes_accuracy_threshold`` [Q] = −log(ρ)/2, ``w`` [3, Q, S, 3] and ``n_min`` [Q];
    ``points_x`` [Q, 300, 2], ``points_y`` [Q, 300]: seed 0's points for a scatter (up to 150 of the
    minority, the rest majority)."""
    Q, S, N = len(p.ratios), p.seeds, p.n_total
    g = torch.Generator().manual_seed(p.seed)
    n_min = [max(1, round(N / (1 + r))) for r in p.ratios]
    noise = torch.randn(S, N, 2, generator=g, dtype=torch.float64)
    X = torch.ones(Q, S, N, 3, dtype=torch.float64)
    Y = -torch.ones(Q, S, N, dtype=torch.float64)
    for q, m in enumerate(n_min):
        Y[q, :, :m] = 1.0
    X[..., :2] = noise[None]
    X[..., 0] += Y
    fam = models.mlp(3, 1, widths=1, seeds=list(range(Q * S)), depth=1, bias=False, init_scale=0.0,
                     device=device)
    x_k, y_k = X.reshape(-1, N, 3).float(), Y.reshape(-1, N).float()
    res = train.train(fam, data.Dataset(x_k, y_k, x_k[:, :2], y_k[:, :2]), steps=p.steps, lr=p.lr,
                      loss="logistic", optimizer="gd", records=2, progress=progress)
    w_ce = res.params[0][..., 0].double().reshape(Q, S, 3)
    prior = torch.tensor([math.log(m / (N - m)) for m in n_min], dtype=torch.float64)  # log π₊/π₋
    w_la = w_ce.clone()
    w_la[..., 2] -= prior[:, None]  # post-hoc: f − log π₊ + log π₋
    w_ls = least_squares(X.reshape(-1, N, 3), Y.reshape(-1, N, 1))[..., 0].reshape(Q, S, 3)
    w = torch.stack([w_ce, w_la, w_ls])  # [3, Q, S, 3]
    norm = w[..., :2].norm(dim=-1)
    recall_min = _normal_cdf((w[..., 0] + w[..., 2]) / norm)  # x ~ N(+e₁, I): P(w·x + b > 0)
    recall_maj = _normal_cdf((w[..., 0] - w[..., 2]) / norm)
    pi = torch.tensor(n_min, dtype=torch.float64)[:, None] / N
    shown = [torch.cat([torch.arange(min(m, 150)), m + torch.arange(300 - min(m, 150))]) for m in n_min]
    return {"ratios": torch.tensor(p.ratios, dtype=torch.float64), "methods": ["CE", "CE + logit adjustment",
                                                                             "least squares"],
            "recall_min": recall_min, "recall_maj": recall_maj, "balanced": (recall_min + recall_maj) / 2,
            "accuracy": pi * recall_min + (1 - pi) * recall_maj, "threshold": w[..., 2] / norm,
            "bayes_accuracy_threshold": -torch.log(torch.tensor(p.ratios, dtype=torch.float64)) / 2,
            "bayes_balanced": float(_normal_cdf(torch.tensor(1.0))), "w": w, "n_min": torch.tensor(n_min),
            "points_x": torch.stack([X[q, 0, i, :2] for q, i in enumerate(shown)]),
            "points_y": torch.stack([Y[q, 0, i] for q, i in enumerate(shown)]), "seconds": res.seconds,
            "params": asdict(p)}


# ---------------------------------------------------------------- 5. the loss picks the solution


@dataclass(frozen=True)
class ProliferationParams(Params):
    """n points x ~ N(0, I_d) with labels y = sign(x₁) (separable through the origin), for d in ``dims``.
    The SVM is exact (:func:`widgets.core.solvers.hard_margin_svm`), the minimum-norm interpolant
    w = Xᵀ(XXᵀ)⁻¹y exact (least squares where d < n)."""

    FULL: ClassVar[dict] = {"seeds": 50, "dims": (10, 20, 30, 40, 50, 60, 80, 120, 160, 240, 320, 480, 640,
                                                  1280, 2560)}

    n: int = 40
    dims: tuple = (10, 20, 30, 40, 50, 80, 160, 320, 640, 1280)
    seeds: int = 5
    seed: int = 0

    def check(self) -> None:
        check_int("n", self.n, 2, 2000)
        dims = check_ints("dims", self.dims, 1, 10**6)
        check_int("seeds", self.seeds, 1, 10**4)
        check_int("seed", self.seed, 0)
        # the reduced [n, n] problems of every (d, seed) and the widest draw with its QR, in float64
        check_memory("dims × seeds × n² (and seeds × n × max(dims))",
                     8 * self.seeds * self.n * (4 * len(dims) * self.n + 3 * max(dims)))


def _svm_sweeps(n: int, d: int) -> float:
    """Sweeps :func:`hard_margin_svm` takes on n Gaussian points labelled by one coordinate in d dimensions
    (fitted to measured means: ~540 at d = n/4, ~150 at d = n, ~10 at d = 64n)."""
    return min(550.0, 10 + 140 * (n / d) ** 1.4)


def _proliferation_cost(p: ProliferationParams) -> cost.Cost:
    # all on the CPU in float64 (forced): a QR per dimension above n, least squares for every problem through
    # one batched eigh of n×n Gram matrices, and an exact SVM per problem in plain Python (n coordinates: the
    # reduced problems are n-dimensional), whose sweeps grow as d/n shrinks
    D, S, n = len(p.dims), p.seeds, p.n
    qr = sum(4.0 * S * d * n * n for d in p.dims if d > n)
    draws = cost.RANDOM_DRAW_FLOPS * S * n * sum(p.dims)
    lsq = cost.Cost(cpu_flops=D * S * (2.0 + 9.0 + 4.0) * n**3, cpu_ops=20)
    svms = sum((S * cost.svm_dual(n=n, d=n, sweeps=_svm_sweeps(n, d)) for d in p.dims), cost.Cost())
    return cost.Cost(cpu_flops=qr + draws, cpu_ops=10 * D) + lsq + svms


@cost.model(_proliferation_cost)
@experiment
def proliferation(p: ProliferationParams, *, device=None, progress: bool = False) -> dict:
    """Both solutions depend on the data only through inner products, so each problem is first written in
    n coordinates (X = Rᵀ Qᵀ from a QR of Xᵀ when d > n; zero-padded columns when d ≤ n, which neither
    solution uses) and all of them are solved as one batch of [n, n] problems; angles and norms are the
    same in these coordinates. The test accuracy of a direction w is exactly 1 − ∠(w, e₁)/π.

    Returns ``dims`` [D], ``angle`` [D, S] (degrees between SVM and min-norm), ``sv_fraction`` [D, S],
    ``all_sv`` [D, S] bool, ``acc_svm``, ``acc_minnorm`` [D, S], ``n``, ``two_n_log_n`` = 2n ln n."""
    D, S, n = len(p.dims), p.seeds, p.n
    g = torch.Generator().manual_seed(p.seed)
    Z = torch.zeros(D, S, n, n, dtype=torch.float64)  # reduced inputs
    E1 = torch.zeros(D, S, n, dtype=torch.float64)  # e₁ in the reduced coordinates
    Y = torch.zeros(D, S, n, dtype=torch.float64)
    for i, d in enumerate(p.dims):
        x = torch.randn(S, n, d, generator=g, dtype=torch.float64)
        Y[i] = torch.sign(x[..., 0])
        if d <= n:
            Z[i, :, :, :d], E1[i, :, 0] = x, 1.0
        else:
            Qm, Rm = torch.linalg.qr(x.transpose(1, 2))  # xᵀ = Q R: Q [S, d, n]
            Z[i], E1[i] = Rm.transpose(1, 2), Qm[:, 0, :]
    w_mn = least_squares(Z.reshape(-1, n, n), Y.reshape(-1, n, 1))[..., 0].reshape(D, S, n)
    w_svm, sv = torch.zeros(D, S, n, dtype=torch.float64), torch.zeros(D, S, n, dtype=torch.bool)
    for i in range(D):
        for s in range(S):  # the exact SVM, one problem at a time (a dual solver, not a model)
            out = hard_margin_svm(Z[i, s], Y[i, s])
            w_svm[i, s], sv[i, s] = out["w"], out["alpha"] > 1e-9 * out["alpha"].max()
    angle = _angle_deg(w_svm, w_mn)
    # cos ∠(w, e₁) = w₁/‖w‖, with w₁ = E1·w' and ‖w‖ = ‖w'‖ (Q has orthonormal columns)
    acc = [1 - torch.arccos(((w * E1).sum(-1) / w.norm(dim=-1)).clamp(-1, 1)) / math.pi for w in (w_svm, w_mn)]
    return {"dims": torch.tensor(p.dims), "angle": angle, "sv_fraction": sv.double().mean(-1),
            "all_sv": sv.all(-1), "acc_svm": acc[0], "acc_minnorm": acc[1], "n": n,
            "two_n_log_n": 2 * n * math.log(n), "params": asdict(p)}


# ---------------------------------------------------------------- 6. calibration


@dataclass(frozen=True)
class CalibrationParams(Params):
    """An MLP 40 → ``width`` → ``width`` → 10 (ReLU) on ``n_train`` MNIST-1D samples (``num_samples``
    generated, the rest for testing), trained with CE and the square loss by Adam at ``lr`` with minibatches
    of ``batch_size`` for ``epochs``; ``records`` evenly spaced records of the test outputs. Confidences:
    softmax for CE; for the square loss the raw outputs clipped at 0 and renormalized (its population
    minimizer is p(y | x); a softmax of them means nothing). ``bins``: equal-width confidence bins of the ECE
    (15, as Guo et al. 2017)."""

    FULL: ClassVar[dict] = {"seeds": 5, "epochs": 100, "records": 21}
    STEPS: ClassVar[tuple] = ("epochs",)

    n_train: int = 4000
    num_samples: int = 5000
    width: int = 128
    losses: tuple = ("cross_entropy", "square")
    lr: float = 1e-3
    batch_size: int = 100
    epochs: int = 60
    records: int = 13
    bins: int = 15
    seeds: int = 2
    seed: int = 0

    def check(self) -> None:
        check_int("num_samples", self.num_samples, 40, 10**6)
        check_int("n_train", self.n_train, 20, self.num_samples - 10)
        check_int("width", self.width, 1, 10**5)
        _check_losses("losses", self.losses, "multiclass")
        check_float("lr", self.lr, 0, 10, lo_open=True)
        check_int("batch_size", self.batch_size, 1, self.n_train)
        check_int("epochs", self.epochs, 1, 10**5)
        check_int("records", self.records, 2, 1000)
        check_int("bins", self.bins, 2, 1000)
        check_int("seeds", self.seeds, 1, 1000)
        check_int("seed", self.seed, 0)
        _check_steps(self.epochs, self.n_train, self.batch_size)
        # training, and the recorded test outputs of every (loss, seed) with calibration()'s float64 copies
        K, n_test = len(self.losses) * self.seeds, self.num_samples - self.n_train
        check_memory("losses × seeds × records × (num_samples − n_train)",
                     models.training_bytes(K, self.num_samples, 40, 10, self.width, 3)
                     + 8 * 6 * self.records * K * n_test * 10)


def calibration_bins(prob: torch.Tensor, y: torch.Tensor, bins: int = 15) -> dict:
    """Reliability of predicted probabilities prob [..., n, c] against labels y [n]: with confidence the
    largest probability, ``count``, ``confidence`` and ``accuracy`` per equal-width bin [..., B] (NaN in an
    empty bin) and ``ece`` [...] = Σ_b (n_b/n)·|acc_b − conf_b| (Guo et al. 2017).

    ``prob``: finite probabilities in [0, 1] with n ≥ 1 points and c ≥ 1 classes; ``y``: int64 labels in
    [0, c)."""
    prob = check_tensor("prob", prob, ndim=tuple(range(2, 65)), shape="[..., n, c]", min_size=1)
    if not prob.is_floating_point() or bool(((prob < 0) | (prob > 1)).any()):
        raise ValueError("prob must hold probabilities in [0, 1]")
    n, c = prob.shape[-2:]
    y = check_tensor("y", y, ndim=1, shape=f"[{n}]")
    if y.shape != (n,) or y.dtype != torch.int64 or int(y.min()) < 0 or int(y.max()) >= c:
        raise ValueError(f"y must be [{n}] int64 labels in [0, {c - 1}] (one per point of prob), got {y.dtype} "
                         f"{tuple(y.shape)}")
    bins = check_int("bins", bins, 1, 10**5)
    check_memory(f"{bins} bins for {prob.numel() // c} points", 3 * prob.element_size() * (prob.numel() // c) * bins)
    conf, pred = prob.max(-1)
    hit = (pred == y).to(prob.dtype)
    b = (conf * bins).long().clamp(0, bins - 1)
    onehot = torch.nn.functional.one_hot(b, bins).to(prob.dtype)  # [..., n, B]
    count = onehot.sum(-2)
    s_conf = (onehot * conf[..., None]).sum(-2)
    s_hit = (onehot * hit[..., None]).sum(-2)
    ece = (s_hit - s_conf).abs().sum(-1) / conf.shape[-1]
    empty = count == 0
    return {"count": count, "confidence": torch.where(empty, torch.nan, s_conf / count.clamp_min(1)),
            "accuracy": torch.where(empty, torch.nan, s_hit / count.clamp_min(1)), "ece": ece}


def _calibration_cost(p: CalibrationParams) -> cost.Cost:
    # MNIST-1D generated on the CPU (numpy, about 50 CPU operations' time a sample, measured); one family
    # over (loss, seed), Adam on minibatches, one loss name per member; every record evaluates the train and
    # test sets and the outputs on the test set
    K = len(p.losses) * p.seeds
    sizes = cost.mlp_sizes(40, p.width, 3, 10)
    steps = p.epochs * (p.n_train // p.batch_size)
    n_test = p.num_samples - p.n_train
    rec = cost.records(steps, p.records, "linear")
    run = dict(members=K, sizes=sizes, batch=p.batch_size, steps=steps, evals=p.n_train + 2 * n_test, records=rec,
               optimizer="adam")
    return (cost.Cost(cpu_ops=50.0 * p.num_samples)
            + cost.family_init(members=K, weights=cost.mlp_weights(sizes), layers=3)
            + cost.train(**run) + cost.dense_extras(**run)
            + steps * cost.loss_groups(members=K, n=p.batch_size, outputs=10, groups=len(p.losses))
            + rec * cost.loss_groups(members=K, n=p.n_train + n_test, outputs=10, groups=len(p.losses))
            + cost.Cost(cpu_flops=100.0 * rec * K * n_test * 10))


@cost.model(_calibration_cost)
@experiment
def calibration(p: CalibrationParams, *, device=None, progress: bool = False) -> dict:
    """One family over (loss, seed). Returns ``epochs`` [T], ``ece``, ``confidence`` (mean), ``accuracy``,
    ``nll`` (CE members' test NLL; NaN for the others) [T, L, S], reliability ``bin_accuracy``,
    ``bin_confidence``, ``bin_count`` [T, L, S, B] and ``losses``."""
    L, S = len(p.losses), p.seeds
    ds = data.mnist1d(n_train=p.n_train, seed=p.seed, num_samples=p.num_samples)
    specs = [spec for spec in p.losses for _ in range(S)]
    fam = models.mlp(ds.x_train.shape[1], 10, widths=p.width, seeds=[p.seed + s for _ in range(L) for s in range(S)],
                     depth=3, device=device)
    steps_per_epoch = p.n_train // p.batch_size
    res = train.train(fam, ds, steps=p.epochs * steps_per_epoch, lr=p.lr, loss=specs, optimizer="adam",
                      batch_size=p.batch_size, records=p.records, spacing="linear",
                      probes={"out": train.outputs_on(ds.x_test)}, progress=progress)
    out = res.probes["out"].double().reshape(-1, L, S, len(ds.y_test), 10)
    is_ce = torch.tensor([parse_loss(s)[0] in ("cross_entropy", "gce", "softmax_mae") for s in p.losses])
    soft = out.softmax(-1)
    clip = out.clamp_min(0)
    total = clip.sum(-1, keepdim=True)
    clip = torch.where(total > 0, clip / total.clamp_min(1e-300), torch.full_like(clip, 0.1))
    prob = torch.where(is_ce[None, :, None, None, None], soft, clip)
    rel = calibration_bins(prob, ds.y_test, p.bins)
    nll = -torch.log_softmax(out, -1).gather(-1, ds.y_test.expand(out.shape[:-1])[..., None])[..., 0].mean(-1)
    return {"epochs": res.steps.double() / steps_per_epoch, "ece": rel["ece"],
            "confidence": prob.max(-1).values.mean(-1), "accuracy": (prob.argmax(-1) == ds.y_test).double().mean(-1),
            "nll": torch.where(is_ce[None, :, None], nll, torch.nan), "bin_accuracy": rel["accuracy"],
            "bin_confidence": rel["confidence"], "bin_count": rel["count"], "losses": list(p.losses),
            "seconds": res.seconds, "params": asdict(p)}


def record_at_epoch(result: dict, epoch: float) -> int:
    """The index of the record of :func:`calibration`'s ``result`` taken at ``epoch`` exactly; a ValueError
    naming ``epoch`` when the run has no record there (e.g. a dry run's capped training never reached it)."""
    check_instance("result", result, dict, "calibration's dict")
    epochs = result["epochs"].tolist()
    epoch = check_float("epoch", epoch, 0)
    if epoch not in epochs:
        raise ValueError(f"epoch must be one the run recorded ({epochs[0]:g} … {epochs[-1]:g}), got {epoch:g}")
    return epochs.index(epoch)


# ---------------------------------------------------------------- the chapter's plan


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    return [(outliers, OutlierParams.preset(mode)), (far_points, FarParams.preset(mode)),
            (noisy_labels, NoiseParams.preset(mode)), (noisy_labels, NoiseParams.preset(mode).clean_comparison()),
            (imbalance, ImbalanceParams.preset(mode)), (proliferation, ProliferationParams.preset(mode)),
            (calibration, CalibrationParams.preset(mode))]
