"""The information bottleneck in deep networks: Shwartz-Ziv & Tishby (2017) and the critique of Saxe et al. (2019).

The 12-bit task (:func:`widgets.core.data.tishby_bits`), the 12-10-7-5-4-3-2 network, Adam on cross-entropy,
every seed one member of a single batched family. At each record the trainer's probes
(:mod:`widgets.core.information`) measure, on all 4096 inputs, the binned I(X;T) and I(T;Y) of every layer
under two binning rules (the authors' 30-bin grid on [−1, 1], and fixed 0.07-wide bins), the binned
I(X;T) of the hidden pre-activations, the KDE upper bound on one layer at two noise variances, the saturated
fraction of that layer, and the minibatch gradient signal-to-noise ratio of the last and first weight matrices.

Layers are numbered as in the papers: L1 … L5 the hidden layers (widths 10, 7, 5, 4, 3), L6 the softmax output.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

import torch

from widgets.core import cost, data, information, models, train
from widgets.core.checks import (
    check_choice,
    check_float,
    check_floats,
    check_instance,
    check_int,
    check_memory,
    check_tensor,
)
from widgets.core.env import check_mode
from widgets.core.params import Params, experiment

HIDDEN = (10, 7, 5, 4, 3)
LAYERS = tuple(f"L{i + 1}" for i in range(len(HIDDEN) + 1))
# the two binning rules: Shwartz-Ziv & Tishby's code (30 edges on [−1, 1]) and Saxe et al.'s (width 0.07)
BINNINGS = {"grid": {"lo": -1.0, "hi": 1.0, "bins": 30}, "width": {"width": 0.07}}
BINNING_NAMES = {"grid": "30 bins on [−1, 1] (Shwartz-Ziv & Tishby)", "width": "bins of width 0.07 (Saxe et al.)"}
FIT_ACC = 0.9  # a seed whose train accuracy ends below this did not fit the task (dead ReLU units)


# ------------------------------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class PlaneParams(Params):
    """One family on the 12-bit task. ``act``: tanh or relu; ``epochs`` passes over the ``train_frac``
    training split in minibatches of ``batch_size`` (``None``: full batch, and ``epochs`` counts steps);
    ``records``: log-spaced evaluation points; ``layer``: the hidden layer (0-based) that the KDE, the
    saturation and the claims look at (4: L5, the 3-unit layer); ``kde_n``: inputs of the KDE estimate (a
    fixed random subset; 0 turns it off); ``kde_vars``: its noise variances; ``init_scale``: None for the
    papers' initial weights N(0, 1/fan_in), else the book's N(0, (init_scale · gain)²/fan_in).

    Quick mode runs Adam at lr 4e-3, 10× the papers' 4e-4, for 500 epochs: compression grows with lr × steps
    (the weights grow until the tanh units saturate), so ten times the rate shows in 500 epochs what the
    papers' rate shows in thousands. Full mode is the papers' setting."""

    FULL: ClassVar[dict] = {"seeds": 50, "epochs": 10_000, "lr": 4e-4, "records": 400, "kde_n": 4096}
    STEPS: ClassVar[tuple] = ("epochs",)
    CPU_FIT: ClassVar[dict] = {"seeds": "half", "kde_n": "half"}  # 50 seeds' layers binned, and KDE

    act: str = "tanh"
    seeds: int = 10
    epochs: int = 500
    lr: float = 4e-3
    batch_size: int | None = 256
    records: int = 30
    train_frac: float = 0.8
    layer: int = 4
    kde_n: int = 512
    kde_vars: tuple = (1e-3, 0.1)
    init_scale: float | None = None
    split_seed: int = 0
    seed: int = 0

    def check(self) -> None:
        check_choice("act", self.act, tuple(models.ACTIVATIONS))
        if self.init_scale is not None:
            check_float("init_scale", self.init_scale, 0, 100, lo_open=True)
        check_int("seeds", self.seeds, 1, 1000)
        epochs = check_int("epochs", self.epochs, 1, 10**6)
        check_float("lr", self.lr, 0, 1, lo_open=True)
        n_train = round(check_float("train_frac", self.train_frac, 0.01, 0.99) * 4096)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, 1, n_train)
        check_int("epochs × steps per epoch (steps)", epochs * self.steps_per_epoch, 1, 10**8)
        check_int("records", self.records, 2, 2000)
        check_int("layer", self.layer, 0, len(HIDDEN) - 1)
        check_int("kde_n", self.kde_n, 0, 4096)
        check_floats("kde_vars", self.kde_vars, 0, lo_open=True, min_length=0)  # none: no KDE estimate
        check_int("split_seed", self.split_seed, 0)
        check_int("seed", self.seed, 0)
        # no memory budget: at these bounds the layers of 1000 members on the 4096 inputs and the KDE's
        # pairwise distances take a few GB at most

    @property
    def steps_per_epoch(self) -> int:
        return 1 if self.batch_size is None else round(self.train_frac * 4096) // self.batch_size


@dataclass(frozen=True)
class ReluParams(PlaneParams):
    """The same family with ReLU hidden units (Saxe et al.)."""

    FULL: ClassVar[dict] = PlaneParams.FULL
    act: str = "relu"


@dataclass(frozen=True)
class FullBatchParams(PlaneParams):
    """The tanh family trained by full-batch Adam: no minibatch noise at all (Saxe et al.'s control).
    ``epochs`` counts full-batch steps."""

    FULL: ClassVar[dict] = {"seeds": 50, "epochs": 10_000, "lr": 4e-3, "records": 400}
    seeds: int = 5
    epochs: int = 800
    lr: float = 1e-2
    batch_size: int | None = None
    kde_n: int = 0


@dataclass(frozen=True)
class UnitParams(Params):
    """A single unit t = act(w · a·(x − ½)) on the 4096 inputs, for ``directions`` random unit vectors a and
    ``scales`` log-spaced weight scales w in [``w_min``, ``w_max``]."""

    FULL: ClassVar[dict] = {"directions": 100, "scales": 121}
    CPU_FIT: ClassVar[dict] = {"directions": "half", "scales": "half"}

    directions: int = 20
    scales: int = 41
    w_min: float = 0.01
    w_max: float = 100.0
    seed: int = 0

    def check(self) -> None:
        directions = check_int("directions", self.directions, 1, 10**4)
        scales = check_int("scales", self.scales, 2, 10**4)
        w_min = check_float("w_min", self.w_min, 0, 1e6, lo_open=True)
        check_float("w_max", self.w_max, w_min, 1e6, lo_open=True)
        check_int("seed", self.seed, 0)
        # the pre-activations and a unit's outputs on the 4096 inputs for every (direction, scale), float64,
        # with their bin ids and codes
        check_memory("directions × scales × 4096", 8 * 6 * directions * scales * 4096)


# ------------------------------------------------------------------------------------------ cost models
#
# The network has 294 weights in layers at most 12 wide: its batched products run at matrix-vector speed, so
# they are counted per number read and written (cost.MATVEC_FLOPS), not per multiply-add, and a step is
# mostly per-operation overhead. The probes at each record run on the device in float64: binned mutual
# information (np.digitize-style bucketize, row codes one column at a time with a host read of each column's
# maximum, a sort per row for the dense ranks, histograms) and the KDE bound (pairwise distances of kde_n
# points and a logsumexp over them). Sorts and binary searches are counted as passes of cost.PASS_FLOPS per
# comparison level (measured on one CPU core: a sort of rows of 4096 int64 codes 10-35 ns a number,
# bucketize into 30 edges 7-30 ns); passes over large arrays weigh more (cost.size_weight).

_N = 4096  # the 12-bit task's inputs
_SIZES = (12, *HIDDEN, 2)


def _binned_cost(K: int, N: int, w: int, grid: bool) -> cost.Cost:
    """:func:`information.binned_information` of [K, N, w] activations: the bins (float64; bucketize into
    30 edges for the grid rule, a division and a floor for the width rule), the row codes (w columns, each a
    host read of its maximum), a sort for the dense ranks, and the two histograms' entropies (over N and
    2N bins), each pass weighted by its array's size."""
    search = (12 * math.log2(30) * w if grid else 0) + 6 * math.log2(N)  # comparisons: not memory-bound
    per = ((1 + (0 if grid else 3) + 3) * w + 3 * w + 6 + 8 + 16) * cost.size_weight(8 * K * N * w)
    return cost.passes(K * N, search + per, f64=True, ops=38 + 4 * w)


def _points_cost(K: int, points: int, *, train: bool = False, tanh: bool = True) -> cost.Cost:
    """The family on ``points`` points per member, forward (``train``: and backward): the narrow products per
    number read and written (a step: one forward and two backward products a layer), the activations
    (forward: 7 passes a unit for tanh, 2 for ReLU; a step: cost.ACTIVATION_PASSES), and the 2-class
    log-softmax of the loss or the softmax of the probes (~25 passes an output forward, 15 backward: its rows
    are 2 numbers long)."""
    io = sum(a + b for a, b in zip(_SIZES[:-1], _SIZES[1:], strict=False))
    pts = float(K) * points
    if train:
        return cost.Cost(flops=pts * (3 * cost.MATVEC_FLOPS * io + cost.PASS_FLOPS * (
            cost.ACTIVATION_PASSES * sum(HIDDEN) + 40 * _SIZES[-1])))
    act = 7 if tanh else 2
    return cost.Cost(flops=pts * (cost.MATVEC_FLOPS * io + cost.PASS_FLOPS * (act * sum(HIDDEN) + 25 * _SIZES[-1])),
                     ops=3 * len(_SIZES) + 4, memory=2 * pts * sum(_SIZES[1:]) * cost.F32)


def _probes_cost(p: PlaneParams) -> cost.Cost:
    """One record's probes: binned MI of the 6 layers under both binnings, of the hidden pre-activations
    under width bins, the saturation, the gradient SNR (12 minibatches of the training set, each a forward
    and a backward through every layer: 50 operations), and the KDE bound on layer ``p.layer`` for each noise
    variance: per chunk of 8 members the pairwise distances of all kde_n points and of each class's (1.5 kde_n²
    pairs), squared, scaled and log-sum-exp'd (~16 passes a pair, float64)."""
    K, tanh = p.seeds, p.act == "tanh"
    n_train = round(p.train_frac * _N)
    batch = p.batch_size or 256
    widths = (*HIDDEN, 2)
    mi = _points_cost(K, _N, tanh=tanh)
    for w in widths:
        mi = mi + _binned_cost(K, _N, w, True) + _binned_cost(K, _N, w, False)
    pre = _points_cost(K, _N, tanh=tanh)
    for w in widths:
        pre = pre + _binned_cost(K, _N, w, False)
    sat = _points_cost(K, _N, tanh=tanh) + cost.passes(K * _N * HIDDEN[p.layer], 4, f64=True, ops=5)
    nb = n_train // batch
    snr = (_points_cost(K, nb * batch, train=True) + cost.Cost(ops=nb * 50)
           + cost.passes(nb * K * (_SIZES[0] * _SIZES[1] + _SIZES[-2] * _SIZES[-1]), 8, ops=16))
    out = mi + pre + sat + snr
    if p.kde_n and p.kde_vars:
        n = p.kde_n
        pairs = K * n * n * 1.5  # all pairs, then those within each of the two classes
        work = cost.passes(pairs, 16 * cost.size_weight(8 * min(K, 8) * n * n), f64=True)
        # held per chunk: cdist's result and temporaries, its square, the scaled copy, logsumexp's
        per_var = cost.Cost(flops64=work.flops64, ops=46 * math.ceil(K / 8) + 6, memory=5 * 8 * min(K, 8) * n * n)
        out = out + _points_cost(K, n, tanh=tanh) + per_var * len(p.kde_vars)
    return out


# ------------------------------------------------------------------------------------------ experiments


def _task(p: PlaneParams) -> tuple[torch.Tensor, torch.Tensor, data.Dataset]:
    """The 12-bit inputs x [4096, 12], labels y [4096] and the seeded train/test split of ``p``."""
    x, y = data.tishby_bits()
    return x, y, data.split(x, y, round(p.train_frac * 4096), seed=p.split_seed, n_classes=2)


def _information_plane_cost(p: PlaneParams) -> cost.Cost:
    # one family of p.seeds 12-10-7-5-4-3-2 nets, Adam on cross-entropy, minibatches (each epoch a CPU
    # permutation per member, copied to the device; each step's batch gathered: ~8 passes a number) or the
    # full training set; at every record the train and test sets' forward passes, their losses and
    # accuracies, and the probes (_probes_cost)
    K = p.seeds
    n_train = round(p.train_frac * _N)
    steps = p.epochs * p.steps_per_epoch
    batch = p.batch_size or n_train
    run = dict(members=K, sizes=_SIZES, batch=batch, steps=steps)
    rec = cost.records(steps, p.records)
    fit = (cost.family_init(members=K, weights=cost.mlp_weights(_SIZES), layers=len(_SIZES) - 1)
           + cost.train(**run, optimizer="adam") + _points_cost(K, batch, train=True) * steps)
    if p.batch_size is not None:
        fit = (fit + cost.passes(K * batch * (_SIZES[0] + 1), 8, ops=3) * steps
               + cost.Cost(cpu_flops=cost.PASS_FLOPS * 10 * K * n_train * p.epochs, cpu_ops=(K + 2) * p.epochs,
                           ops=p.epochs))
    tanh = p.act == "tanh"
    evals = (_points_cost(K, n_train, tanh=tanh) + _points_cost(K, _N - n_train, tanh=tanh)
             + cost.passes(K * _N * 2, 20, ops=20))
    return fit + rec * (evals + _probes_cost(p)) + cost.Cost(memory=_N * 14 * cost.F32)


@cost.model(_information_plane_cost)
@experiment
def information_plane(p: PlaneParams, *, device=None, progress: bool = False) -> dict:
    """Train ``p.seeds`` networks 12-10-7-5-4-3-2 as one family and measure their information plane.

    Returns ``epochs`` [T] (float: step / steps per epoch) and ``steps`` [T]; ``mi`` [T, K, B, L, 2]: binned
    (I(X;T), I(T;Y)) in bits for binning B (:data:`BINNINGS` order) and layer L (:data:`LAYERS`); ``pre``
    [T, K, L−1, 2]: the same of the hidden pre-activations under width bins; ``kde`` [T, K, V, 2]: the KDE
    upper bounds of layer ``p.layer`` for each of ``p.kde_vars`` (empty V when ``kde_n`` is 0);
    ``saturation`` [T, K]: the share of |t| > 0.99 in that layer; ``snr`` [T, K, 2]: gradient SNR of the last
    and the first weight matrix; ``train_acc``, ``test_acc`` [T, K]; ``weight_norm`` [K, L]: final Frobenius
    norms of the weight matrices; ``seconds``."""
    x, y, ds = _task(p)
    # the papers' initialisation: weights ~ N(0, 1/fan_in) whatever the activation (init_scale undoes the gain)
    scale = 1.0 / models.GAINS[p.act] if p.init_scale is None else p.init_scale
    family = models.mlp(12, 2, None, seeds=[p.seed + k for k in range(p.seeds)], act=p.act, hidden=HIDDEN,
                        init_scale=scale, device=device)
    snr_batch = p.batch_size or 256
    probes = {"mi": information.layer_information(x, y, BINNINGS),
              "pre": information.layer_information(x, y, {"width": BINNINGS["width"]}, pre=True),
              "saturation": information.saturation(x, p.layer),
              "snr": information.gradient_snr(ds.x_train, ds.y_train, snr_batch, params=(-2, 0))}
    if p.kde_n and p.kde_vars:
        sub = torch.randperm(4096, generator=torch.Generator().manual_seed(p.split_seed + 1))[:p.kde_n]
        probes["kde"] = information.kde_layer_information(x[sub], y[sub], p.layer, p.kde_vars)
    r = train.train(family, ds, steps=p.epochs * p.steps_per_epoch, lr=p.lr, loss="cross_entropy",
                    optimizer="adam", batch_size=p.batch_size, records=p.records, probes=probes,
                    progress=progress)
    T, K = r.train_acc.shape
    kde = r.probes.get("kde", torch.zeros(T, K, 0, 2, dtype=torch.float64))
    weights = r.params[0::2]
    return {"steps": r.steps, "epochs": r.steps.double() / p.steps_per_epoch, "mi": r.probes["mi"],
            "pre": r.probes["pre"][:, :, 0, :-1], "kde": kde, "saturation": r.probes["saturation"],
            "snr": r.probes["snr"],
            "train_acc": r.train_acc, "test_acc": r.test_acc,
            "weight_norm": torch.stack([W.flatten(1).norm(dim=1) for W in weights], 1),
            "kde_vars": torch.tensor(p.kde_vars if "kde" in probes else (), dtype=torch.float64), "act": p.act,
            "seconds": r.seconds, "params": asdict(p)}


def _single_unit_cost(p: UnitParams) -> cost.Cost:
    # everything on the CPU in float64 whatever the device (the experiment never moves to it): the D × S × 4096
    # pre-activations, and for each activation (tanh, ReLU) the unit's outputs and their binned entropy under
    # both binnings (_binned_cost). Its memory (a few [D, S, 4096] float64 arrays) is host memory.
    rows = p.directions * p.scales
    big = cost.size_weight(8 * rows * _N)
    work = cost.passes(rows * _N, 2 * big, f64=True, ops=4)
    for _ in range(2):
        work = (work + cost.passes(rows * _N, 4 * big, f64=True, ops=2) + _binned_cost(rows, _N, 1, True)
                + _binned_cost(rows, _N, 1, False))
    return cost.Cost(cpu_flops=work.flops64 + work.flops, cpu_ops=work.ops, memory=8 * rows * _N * cost.F64)


@cost.model(_single_unit_cost)
@experiment
def single_unit(p: UnitParams, *, device=None, progress: bool = False) -> dict:
    """The binned entropy H(T) = I(X;T) of one unit t = act(w · a·(x − ½)) on the 4096 inputs, for tanh and
    ReLU, under both binning rules, as the weight scale w grows.

    Returns ``w`` [S]; ``entropy`` [2 activations (tanh, relu), 2 binnings (grid, width), D, S] in bits.

    Nothing trains: it runs on the CPU in float64 whatever ``device`` is (exact bin edges for a closed-form
    unit; 4096 inputs by a few hundred directions and scales), and ``progress`` is unused."""
    x, _ = data.tishby_bits()
    g = torch.Generator().manual_seed(p.seed)
    a = torch.randn(p.directions, 12, generator=g, dtype=torch.float64)
    a = a / a.norm(dim=1, keepdim=True)
    z = (x.double() - 0.5) @ a.T  # [4096, D]
    w = torch.logspace(math.log10(p.w_min), math.log10(p.w_max), p.scales, dtype=torch.float64)
    pre = (w[None, None, :] * z[:, :, None]).permute(1, 2, 0)[..., None]  # [D, S, 4096, 1]
    out = []
    for act in (torch.tanh, torch.relu):
        t = act(pre)
        out.append(torch.stack([information.binned_information(t, torch.zeros(4096, dtype=torch.long),
                                                               **BINNINGS[b])[0] for b in BINNINGS]))
    return {"w": w, "entropy": torch.stack(out)}


# ------------------------------------------------------------------------------------------ summaries


def drop(curve: torch.Tensor) -> torch.Tensor:
    """Compression of I(X;T) curves [T, ...]: the maximum over the evaluated records minus the final value
    (0 for a curve that never falls) → [...]."""
    curve = check_tensor("curve", curve, ndim=tuple(range(1, 65)), shape="[T, ...]")
    if len(curve) < 2:
        raise ValueError(f"curve must be [T ≥ 2, ...], got shape {tuple(curve.shape)}")
    return curve.max(0).values - curve[-1]


def peak_after(res: dict, curve: torch.Tensor, epoch: float) -> int:
    """The record where ``curve`` [T] (one value per record of :func:`information_plane`'s ``res``) is
    largest among the records from ``epoch`` on: the peak that follows an early transient. A ValueError
    naming ``epoch`` when the run has no record that late (e.g. a dry run's capped training)."""
    _check_result(res, ("epochs",))
    curve = check_tensor("curve", curve, ndim=1, shape="[T]")
    if len(curve) != len(res["epochs"]):
        raise ValueError(f"curve must hold one value per record ({len(res['epochs'])}), got {len(curve)}")
    late = (res["epochs"] >= check_float("epoch", epoch, 0)).nonzero()[:, 0]
    if len(late) == 0:
        raise ValueError(f"epoch must be one the run reached (≤ {float(res['epochs'][-1]):g}), got {epoch:g}")
    return int(late[0]) + int(curve[late].argmax())


def fitted(res: dict) -> torch.Tensor:
    """[K] bool: the seeds whose final train accuracy reaches :data:`FIT_ACC`."""
    _check_result(res, ("train_acc",))
    return res["train_acc"][-1] >= FIT_ACC


def layer_drops(res: dict, layer: int = 4) -> dict:
    """Per-seed I(X;T) drop of one layer under each estimator of :func:`information_plane`'s result:
    ``grid``, ``width`` (binned), ``pre`` (width-binned pre-activations, hidden layers only) and
    ``kde <var>`` (the KDE layer). → name → [K]."""
    _check_result(res, ("mi", "pre", "kde", "kde_vars"))
    layer = check_int("layer", layer, 0, len(LAYERS) - 1)
    out = {b: drop(res["mi"][:, :, i, layer, 0]) for i, b in enumerate(BINNINGS)}
    if layer < res["pre"].shape[2]:
        out["pre"] = drop(res["pre"][:, :, layer, 0])
    for v, var in enumerate(res["kde_vars"].tolist()):
        out[f"kde {var:g}"] = drop(res["kde"][:, :, v, 0])
    return out


def snr_fall(res: dict, which: int = 0) -> float:
    """How far the median (over fitting seeds) gradient SNR falls: its peak over the records divided by its
    final value. ``which``: 0 the last weight matrix, 1 the first. Raises ValueError when no seed fitted,
    or when the final SNR is 0 or not finite (no ratio to take)."""
    _check_result(res, ("snr", "train_acc"))
    which = check_int("which", which, 0, 1)
    keep = fitted(res)
    if not keep.any():
        raise ValueError("no seed fitted the training set")
    curve = res["snr"][:, keep, which].median(1).values
    if not (bool(torch.isfinite(curve).all()) and float(curve[-1]) > 0):
        raise ValueError(f"res holds a gradient SNR curve that ends at {float(curve[-1])} or is not finite: no fall "
                         "to measure")
    return float(curve.max() / curve[-1])


def saturation_at_peak(res: dict, binning: str = "grid", layer: int = 4) -> torch.Tensor:
    """[K] the saturated fraction of each seed's layer at the record where its I(X;T) peaks."""
    _check_result(res, ("mi", "saturation"))
    b = list(BINNINGS).index(check_choice("binning", binning, tuple(BINNINGS)))
    layer = check_int("layer", layer, 0, len(LAYERS) - 1)
    peak = res["mi"][:, :, b, layer, 0].argmax(0)
    return res["saturation"][peak, torch.arange(len(peak))]


def _check_result(res, keys: tuple[str, ...]) -> None:
    """``res`` must be :func:`information_plane`'s dict, with ``keys``."""
    check_instance("res", res, dict, "the dict of information_plane")
    missing = [k for k in keys if k not in res]
    if missing:
        raise ValueError(f"res must be information_plane's dict, missing {missing}")


# ---------------------------------------------------------------- the chapter's plan


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    relu = ReluParams.preset(mode)
    slow = replace(relu, lr=4e-4, kde_n=0) if check_mode(mode) == "quick" else relu  # the SNR at the papers' rate
    return [(information_plane, PlaneParams.preset(mode)), (information_plane, relu),
            (single_unit, UnitParams.preset(mode)), (information_plane, FullBatchParams.preset(mode)),
            (information_plane, slow)]
