"""The pitfalls of simplicity bias (Shah et al. 2020): data with a simple and many complex features, networks
that use only the simple one, and the measurements that show it.

Data live in an *unrotated* basis z ∈ [−1, 1]^d: coordinate 0 is the simple feature (linear, or a 5-slab for
MS-(5,7)), coordinates 1..d−1 are k-slab features, each of which alone predicts the label perfectly. The
network sees x = z Q for a random orthogonal Q, so no input axis is special. Randomizing a feature means
shuffling its z-coordinate across examples and rotating back: the feature keeps its marginal distribution but
loses all information about the label.

Slab geometry (authors' generator, data width 1): a k-slab coordinate splits [−1, 1] into k slabs of width
w = (2 − 2(k−1)γ)/k separated by gaps of width 2γ, so each slab boundary has margin γ. Slabs alternate in
label, the centre one is class 0. Class-conditional slab probabilities follow the authors' code, chosen so that
E[z_j² | y] is the same for both classes (k = 5, 7): otherwise ‖x‖² = ‖z‖² would leak the label.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

import torch

from widgets.core import cost, hooks, models, train
from widgets.core import data as wdata
from widgets.core.checks import (
    check_choice,
    check_device,
    check_float,
    check_floats,
    check_instance,
    check_int,
    check_ints,
    check_memory,
    check_tensor,
)
from widgets.core.env import get_device
from widgets.core.params import Params, experiment
from widgets.core.stats import auc

SLAB_KS = (3, 5, 7)

# P(slab pair | class): keys are |slab index| from the centre (0 = centre slab); pairs ±j share the mass.
# Authors' values: 5-slab negatives sit in the centre with 3/4; 7-slab positives in the inner pair with 7/8.
_SLAB_PROBS = {
    3: {0: {0: 1.0}, 1: {1: 1.0}},
    5: {0: {0: 0.75, 2: 0.25}, 1: {1: 1.0}},
    7: {0: {0: 0.5, 2: 0.5}, 1: {1: 0.875, 3: 0.125}},
}


def max_gamma(k: int) -> float:
    """The largest margin a k-slab coordinate admits (slab width → 0): γ < 1/(k − 1)."""
    return 1.0 / (check_choice("k", k, SLAB_KS) - 1)


def slab_intervals(k: int, gamma: float) -> torch.Tensor:
    """The k slabs of [−1, 1] as [k, 2] (left, right) edges, left to right; slab i has label (i − k//2) mod 2."""
    k = check_choice("k", k, SLAB_KS)
    gamma = check_float("gamma", gamma, 0, max_gamma(k), lo_open=True, hi_open=True)
    w = (2 - 2 * (k - 1) * gamma) / k
    left = -1 + torch.arange(k, dtype=torch.float64) * (w + 2 * gamma)
    return torch.stack([left, left + w], 1)


def _check_labels(name: str, y) -> torch.Tensor:
    """Labels y ∈ {0, 1}: [n] int64."""
    y = check_tensor(name, y, ndim=1, shape="[n]")
    if y.dtype != torch.int64 or not bool(((y == 0) | (y == 1)).all()):
        raise ValueError(f"{name} must hold int64 labels in {{0, 1}}, got {y.dtype} values {y.unique()[:5].tolist()}")
    return y


def _check_generator(g) -> torch.Generator:
    return check_instance("g", g, torch.Generator, "a torch.Generator")


def sample_slab(y: torch.Tensor, k: int, gamma: float, g: torch.Generator) -> torch.Tensor:
    """One k-slab coordinate for labels y ∈ {0, 1} ([n] int64) → [n] float64 in [−1, 1]."""
    y, g = _check_labels("y", y), _check_generator(g)
    edges = slab_intervals(k, gamma)
    n, centre = len(y), k // 2
    out = torch.empty(n, dtype=torch.float64)
    for cls in (0, 1):
        idx = (y == cls).nonzero()[:, 0]
        pairs = torch.tensor(list(_SLAB_PROBS[k][cls]), dtype=torch.int64)
        probs = torch.tensor(list(_SLAB_PROBS[k][cls].values()), dtype=torch.float64)
        j = pairs[torch.multinomial(probs, len(idx), replacement=True, generator=g)]
        side = torch.where(torch.rand(len(idx), generator=g) < 0.5, -1, 1)
        slab = centre + side * j
        lo, hi = edges[slab, 0], edges[slab, 1]
        out[idx] = lo + (hi - lo) * torch.rand(len(idx), generator=g, dtype=torch.float64)
    return out


def sample_linear(y: torch.Tensor, gamma: float, g: torch.Generator, reliability: float = 1.0) -> torch.Tensor:
    """The linear coordinate (2y − 1)(γ + (1 − γ)U), U ~ U[0, 1]; then a random round((1 − reliability)·n)
    examples get its sign flipped, so it predicts the label for exactly a ``reliability`` fraction."""
    y, g = _check_labels("y", y), _check_generator(g)
    gamma = check_float("gamma", gamma, 0, 1, lo_open=True, hi_open=True)
    reliability = check_float("reliability", reliability, 0.5, 1)
    n = len(y)
    z = (2 * y.double() - 1) * (gamma + (1 - gamma) * torch.rand(n, generator=g, dtype=torch.float64))
    flip = torch.randperm(n, generator=g)[: round((1 - reliability) * n)]
    z[flip] = -z[flip]
    return z


def random_rotation(d: int, g: torch.Generator) -> torch.Tensor:
    """A Haar-random orthogonal [d, d] matrix (QR of a Gaussian with the sign of R's diagonal fixed)."""
    d, g = check_int("d", d, 1, 10**5), _check_generator(g)
    check_memory(f"a rotation of {d} dimensions", 8 * 4 * d * d)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


@dataclass
class SBData:
    """A train/test split of an LMS-k or MS-(5,7) dataset.

    ``x_*``: [n, d] float32 network inputs (rotated); ``z_*``: [n, d] float64 the same points unrotated;
    ``y_*``: [n] int64 labels in {0, 1}; ``rotation``: [d, d] orthogonal Q with x = z Q; coordinate 0 of z is
    the simple feature, 1..d−1 the complex (slab) ones. ``info``: how it was made.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    z_train: torch.Tensor
    z_test: torch.Tensor
    rotation: torch.Tensor
    info: dict

    def dataset(self) -> wdata.Dataset:
        """For :func:`widgets.core.train.train` with the logistic loss: labels mapped to ±1 floats."""
        return wdata.Dataset(self.x_train, 2 * self.y_train.float() - 1, self.x_test, 2 * self.y_test.float() - 1,
                             n_classes=2)


def generate(n_train: int, n_test: int = 5000, *, dim: int = 50, k: int = 5, gamma: float = 0.1,
             simple: str = "linear", reliability: float = 1.0, rotate: bool = True, seed: int = 0) -> SBData:
    """LMS-k (``simple="linear"``: one linear coordinate with margin γ and dim − 1 k-slab coordinates), its
    noisy variant (``reliability`` < 1: the linear coordinate is right for only that fraction of examples),
    or MS-(5,7) (``simple="slab5"``: one 5-slab coordinate and dim − 1 7-slab ones; ``k`` must be 7).

    Labels are balanced coin flips; every coordinate is drawn independently given the label; then the whole
    point is rotated by one random orthogonal matrix (``rotate=False``: the identity).
    """
    n_train = check_int("n_train", n_train, 2, 10**7)
    n_test = check_int("n_test", n_test, 2, 10**7)
    dim = check_int("dim", dim, 2, 10**4)
    check_choice("simple", simple, ("linear", "slab5"))
    k = check_choice("k", k, SLAB_KS)
    if simple == "slab5" and k != 7:
        raise ValueError(f"simple='slab5' is MS-(5,7): k must be 7, got {k}")
    gamma = check_float("gamma", gamma, 0, max_gamma(k), lo_open=True, hi_open=True)
    reliability = check_float("reliability", reliability, 0.5, 1)
    if simple == "slab5" and reliability != 1:
        raise ValueError("reliability < 1 is defined for the linear coordinate only (simple='linear')")
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    n = n_train + n_test
    check_memory(f"{n} points in {dim} dimensions", 8 * 3 * n * dim + 8 * 4 * dim * dim)
    y = torch.randint(0, 2, (n,), generator=g)
    first = sample_linear(y, gamma, g, reliability) if simple == "linear" else sample_slab(y, 5, gamma, g)
    z = torch.stack([first] + [sample_slab(y, k, gamma, g) for _ in range(dim - 1)], 1)
    Q = random_rotation(dim, g) if rotate else torch.eye(dim, dtype=torch.float64)
    x = (z @ Q).float()
    info = {"dim": dim, "k": k, "gamma": gamma, "simple": simple, "reliability": reliability, "seed": seed}
    return SBData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], z[:n_train], z[n_train:], Q, info)


def randomize(z: torch.Tensor, rotation: torch.Tensor, coords, seed: int = 0) -> torch.Tensor:
    """Shuffle the unrotated coordinates ``coords`` across examples (one permutation for all of them) and
    rotate: z [n, d] float64, rotation [d, d] → x [n, d] float32. The shuffled features keep their marginal
    law but carry no information about the label."""
    z = check_tensor("z", z, ndim=2, shape="[n, d]", min_size=1)
    rotation = check_tensor("rotation", rotation, ndim=2, shape=f"[{z.shape[1]}, {z.shape[1]}]")
    if rotation.shape != (z.shape[1], z.shape[1]):
        raise ValueError(f"rotation must have shape [{z.shape[1]}, {z.shape[1]}] (z's dimension), got "
                         f"{tuple(rotation.shape)}")
    coords = torch.tensor(check_ints("coords", coords, 0, z.shape[1] - 1), dtype=torch.int64)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    perm = torch.randperm(len(z), generator=g)
    z = z.clone()
    z[:, coords] = z[perm][:, coords]
    return (z @ rotation).float()


# ---------------------------------------------------------------- cost models
#
# The datasets are made, randomized and scored (AUCs) on the CPU in float64 whatever the device: that part is
# counted in cpu_flops and cpu_ops. Training and forward passes run on the device.


def _generate_cost(n: int, dim: int) -> cost.Cost:
    """:func:`generate` on the CPU: per coordinate and point three random draws (the slab pair from a
    multinomial, its side, the position) and ~30 float64 passes (masks, gathers, the slab edges), about 30
    small calls per coordinate (measured: 65-75 ns a number, counted as 6 cost.RANDOM_DRAW_FLOPS and 30
    passes), the QR of a dim×dim Gaussian and the rotation z Q (float64)."""
    return cost.Cost(cpu_flops=(6 * cost.RANDOM_DRAW_FLOPS + 30 * cost.PASS_FLOPS) * n * dim
                     + 2.0 * n * dim * dim + 10.0 * dim**3, cpu_ops=30 * dim)


def _randomize_cost(n: int, dim: int) -> cost.Cost:
    """:func:`randomize` on the CPU: a permutation, a copy and a gather of z (float64), then z Q."""
    return cost.Cost(cpu_flops=cost.PASS_FLOPS * 5 * n * dim + 2.0 * n * dim * dim, cpu_ops=8)


def _auc_cost(rows: int, n: int) -> cost.Cost:
    """:func:`widgets.core.stats.auc` of ``rows`` rows of n scores on the CPU: a sort and two binary searches
    of every score, float64 (measured: ~300 ns a score at n = 5000, about 60 passes per log₂ n)."""
    return cost.Cost(cpu_flops=cost.PASS_FLOPS * 60 * math.log2(max(n, 2)) * rows * n, cpu_ops=25)


def _forward_cost(members: int, sizes, n: int, chunk: int | None = None) -> cost.Cost:
    """A forward pass of ``members`` MLPs on n points (shared inputs), in chunks of ``chunk`` points: the
    products, the single-output readout as matrix-vector products (cost.MATVEC_FLOPS), and per hidden unit
    and point two passes over [K, chunk, width] (the bias copied into the product's output, the ReLU),
    weighted by that array's size."""
    P, L, hidden = cost.mlp_weights(sizes), len(sizes) - 1, sum(sizes[1:-1])
    rows = min(n, chunk or n)
    weight = cost.size_weight(members * rows * max(sizes) * 4)
    out = cost.Cost(flops=2.0 * P * members * n + cost.PASS_FLOPS * 2 * weight * members * hidden * n,
                    ops=math.ceil(n / rows) * (3 * L + 4), memory=members * rows * 2 * max(sizes) * cost.F32)
    if sizes[-1] == 1:
        out = out + cost.matvec(members, 1, sizes[-2], ops=0) * n
    return out


def _scores_cost(members: int, sizes, n: int) -> cost.Cost:
    """:func:`scores`: forwards of ``members`` MLPs on n points in chunks of 8192 (each chunk copied to the
    device, its logits back to the CPU)."""
    return _forward_cost(members, sizes, n, 8192)


def _sgd_cost(members: int, sizes, n: int, n_test: int, steps: int, batch: int,
              per_member_data: bool = False) -> cost.Cost:
    """A family built (:func:`cost.family_init`) and trained with minibatch SGD (:class:`train.Batches`):
    :func:`cost.train` and :func:`cost.dense_extras` for the steps; two records, each a forward pass on the
    whole training set and one on the test set; the gather of each step's [K, B, d] batch on the device
    (advanced indexing: ~8 passes a number); and the reshuffles: each epoch, one permutation of the n points
    per member on the CPU (~10 passes a number) and its copy to the device."""
    epochs = math.ceil(steps * batch / n)
    run = dict(members=members, sizes=sizes, batch=batch, steps=steps)
    records = cost.records(steps, 2) * (_forward_cost(members, sizes, n) + _forward_cost(members, sizes, n_test))
    gather = cost.passes(members * batch * (sizes[0] + sizes[-1]), 8, ops=3) * steps
    shuffle = cost.Cost(cpu_flops=cost.PASS_FLOPS * 10 * epochs * members * n, cpu_ops=epochs * (members + 2),
                        ops=epochs)
    data = cost.Cost(memory=(members if per_member_data else 1) * (n + n_test) * (sizes[0] + 1) * cost.F32)
    return (cost.family_init(members=members, weights=cost.mlp_weights(sizes), layers=len(sizes) - 1)
            + cost.train(**run, optimizer="sgd", per_member_data=per_member_data) + cost.dense_extras(**run)
            + records + gather + shuffle + data)


def _feature_aucs_cost(members: int, sizes, n_test: int, dim: int) -> cost.Cost:
    """:func:`feature_aucs`: two randomized copies of the test set, the three test sets' logits, and the AUCs
    of every member and of the ensemble on each."""
    return (_randomize_cost(n_test, dim) * 2 + _scores_cost(members, sizes, n_test) * 3
            + (_auc_cost(members, n_test) + _auc_cost(1, n_test)) * 3)


# ---------------------------------------------------------------- experiments

@dataclass(frozen=True)
class SBParams(Params):
    """One LMS experiment. Data: ``n_train`` / ``n_test`` points in ``dim`` dimensions, ``k`` slabs, margin
    ``gamma``; network: ``depth`` weight layers of ``width`` ReLU units; training: SGD on the logistic loss
    (paper: lr 0.1, batch 256, weight decay 5e-5) for ``epochs`` passes; ``seeds`` members, one batched family.
    ``reliability``: the linear coordinate's accuracy in the noisy variant, whose ``noisy_seeds`` nets train
    for ``noisy_epochs`` with heavy-ball ``noisy_momentum`` (the slab-only net needs that long to learn slabs).
    ``eps_train``: the L∞ radius of adversarial training (PGD with ``pgd_steps`` steps); ``eps_grid``: radii
    for the flip-rate curve, in units of γ. ``grid_ks`` × ``grid_gammas``: the precomputed sweep behind the
    interactive figure, ``grid_n_train`` points each."""

    # the noisy-variant nets keep about the quick mode's number of steps (≈ 4k): that is the regime where
    # the slab-only net has learned the slabs and the others have not; longer runs are untested
    FULL: ClassVar[dict] = {"n_train": 100_000, "n_test": 10_000, "epochs": 20, "noisy_epochs": 10, "noisy_seeds": 5,
                            "adv_seeds": 5, "grid_n_train": 50_000}
    STEPS: ClassVar[tuple] = ("epochs", "noisy_epochs", "pgd_steps")

    n_train: int = 20_000
    n_test: int = 5_000
    dim: int = 50
    k: int = 5
    gamma: float = 0.1
    width: int = 100
    depth: int = 2
    lr: float = 0.1
    weight_decay: float = 5e-5
    batch_size: int = 256
    epochs: int = 2
    seeds: int = 10
    reliability: float = 0.95
    noisy_epochs: int = 40
    noisy_momentum: float = 0.9
    noisy_seeds: int = 2
    eps_train: float = 0.025
    pgd_steps: int = 3
    adv_seeds: int = 3
    eps_grid: tuple = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    grid_ks: tuple = (3, 5, 7)
    grid_gammas: tuple = (0.05, 0.1, 0.15)
    grid_n_train: int = 10_000
    grid_res: int = 21
    seed: int = 0

    def check(self) -> None:
        n_train = check_int("n_train", self.n_train, 2, 10**7)
        n_test = check_int("n_test", self.n_test, 2, 10**7)
        dim = check_int("dim", self.dim, 2, 10**4)
        k = check_choice("k", self.k, SLAB_KS)
        check_float("gamma", self.gamma, 0, max_gamma(k), lo_open=True, hi_open=True)
        width = check_int("width", self.width, 1, 10**5)
        depth = check_int("depth", self.depth, 1, 64)
        check_float("lr", self.lr, 0, 10, lo_open=True)
        check_float("weight_decay", self.weight_decay, 0, 1)
        grid_n_train = check_int("grid_n_train", self.grid_n_train, 2, 10**7)
        batch = check_int("batch_size", self.batch_size, 1, min(n_train, grid_n_train))
        for name in ("seeds", "noisy_seeds", "adv_seeds", "epochs", "noisy_epochs", "pgd_steps"):
            check_int(name, getattr(self, name), 1, 10**6)
        check_float("reliability", self.reliability, 0.5, 1)
        check_float("noisy_momentum", self.noisy_momentum, 0, 1, hi_open=True)
        check_float("eps_train", self.eps_train, 0, 1)
        check_floats("eps_grid", self.eps_grid, 0, 100)
        grid_ks = [check_choice("grid_ks[i]", v, SLAB_KS) for v in check_ints("grid_ks", self.grid_ks)]
        gammas = check_floats("grid_gammas", self.grid_gammas, 0, 1, lo_open=True, hi_open=True)
        pairs = sum(g < max_gamma(k) for k in grid_ks for g in gammas)
        if not pairs:
            raise ValueError("grid_ks × grid_gammas holds no valid (k, γ) pair (need γ < 1/(k − 1))")
        res = check_int("grid_res", self.grid_res, 2, 1000)
        check_int("seed", self.seed, 0)
        # the data (float64 z and float32 x), the sweep's per-member sets twice, training the largest family
        # on a batch and scoring it in chunks of 8192, and a decision map (res² × 32 context points)
        members = max(self.seeds, self.noisy_seeds, self.adv_seeds, pairs)
        check_memory("(n_train + n_test, or grid sweep) × dim; seeds × width × depth",
                     12 * dim * max(n_train + n_test, 2 * pairs * (grid_n_train + n_test))
                     + models.training_bytes(members, max(batch, 8192), dim, 1, width, depth)
                     + 8 * res * res * 32 * dim)

    def steps(self, n: int | None = None, epochs: int | None = None) -> int:
        """SGD steps for ``epochs`` (default ``self.epochs``) passes over ``n`` points (default ``n_train``)."""
        n = self.n_train if n is None else check_int("n", n, 1, 10**8)
        epochs = self.epochs if epochs is None else check_int("epochs", epochs, 1, 10**6)
        return max(1, epochs * n // self.batch_size)


def _family(p: SBParams, d_in: int, seeds, device=None) -> models.Family:
    return models.mlp(d_in, 1, widths=p.width, seeds=list(seeds), depth=p.depth, device=device)


def _fit(p: SBParams, d: SBData, seeds, epochs: int | None = None, momentum: float = 0.0,
         device=None, progress: bool = False) -> models.Family:
    """Train one family (one member per seed) with SGD on the logistic loss, through the shared trainer."""
    family = _family(p, d.x_train.shape[1], seeds, device)
    train.train(family, d.dataset(), steps=p.steps(len(d.x_train), epochs), lr=p.lr, loss="logistic",
                optimizer="sgd", weight_decay=p.weight_decay, momentum=momentum, batch_size=p.batch_size,
                records=2, progress=progress)
    return family


def scores(family: models.Family, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """The logit f(x) of every member: x [n, d] → [K, n] on the CPU (evaluated in chunks). ``family``: a
    single-output :class:`~widgets.core.models.Family`; NaN or inf in x give non-finite logits."""
    _check_family(family)
    x = check_tensor("x", x, ndim=2, shape="[n, d]", finite=False)
    chunk = check_int("chunk", chunk, 1)
    with torch.no_grad():
        return torch.cat([family(x[i:i + chunk].to(family.device))[..., 0].cpu()
                          for i in range(0, len(x), chunk)], 1)


def feature_aucs(family: models.Family, d: SBData, seed: int = 0) -> dict:
    """Test AUC of every member on clean data, with the simple coordinate randomized (S-randomized) and with
    all complex coordinates randomized (S^c-randomized). Returns [K] tensors, plus the ensemble's (the mean
    logit of all members) under ``ensemble_*``."""
    _check_family(family)
    d = _check_data(d)
    dim = d.z_test.shape[1]
    xs = {"clean": d.x_test, "linear_randomized": randomize(d.z_test, d.rotation, [0], seed),
          "slabs_randomized": randomize(d.z_test, d.rotation, range(1, dim), seed)}
    out = {}
    for name, x in xs.items():
        s = scores(family, x)
        out[name] = auc(s, d.y_test)
        out[f"ensemble_{name}"] = auc(s.mean(0), d.y_test)
    return out


def accuracy(family: models.Family, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of y ∈ {0, 1} predicted right by the sign of each member's logit → [K]."""
    y = _check_labels("y", y)
    if check_tensor("x", x, ndim=2, shape="[n, d]").shape[0] != len(y):
        raise ValueError(f"x and y must hold the same points, got {len(x)} and {len(y)}")
    return ((scores(family, x) > 0).long() == y).double().mean(1)


def _check_family(family) -> models.Family:
    family = check_instance("family", family, models.Family, "a Family (from models.mlp or models.cnn)")
    if family.info.get("d_out") != 1:
        raise ValueError(f"family must have one output (a logit), got {family.info.get('d_out')}")
    return family


def _check_data(d) -> SBData:
    return check_instance("d", d, SBData, "an SBData (from generate)")


def _check_radii(eps) -> torch.Tensor:
    """L∞ radii ε ≥ 0: [E] float64."""
    return torch.tensor(check_floats("eps", eps, 0), dtype=torch.float64)




def _sizes(p: SBParams) -> tuple:
    return cost.mlp_sizes(p.dim, p.width, p.depth, 1)


def _extreme_sb_cost(p: SBParams) -> cost.Cost:
    # LMS-k generated on the CPU; one family of p.seeds MLPs, minibatch SGD; the three AUCs; the flip rates:
    # one clean and len(eps_grid) perturbed forwards of the test set (each perturbed copy built on the CPU)
    sizes, E = _sizes(p), len(p.eps_grid)
    return (_generate_cost(p.n_train + p.n_test, p.dim)
            + _sgd_cost(p.seeds, sizes, p.n_train, p.n_test, p.steps(p.n_train), p.batch_size)
            + _feature_aucs_cost(p.seeds, sizes, p.n_test, p.dim)
            + _scores_cost(p.seeds, sizes, p.n_test) * (E + 1)
            + cost.Cost(cpu_flops=cost.PASS_FLOPS * 6 * (E + 1) * (p.n_test * p.dim + p.seeds * p.n_test),
                        cpu_ops=8 * E))


@cost.model(_extreme_sb_cost)
@experiment
def extreme_sb(p: SBParams, *, device=None, progress: bool = False) -> dict:
    """Section 2 and the ensemble of section 4: ``p.seeds`` nets (one family) trained on LMS-k.

    Returns plain data: the per-seed AUCs ([K] each: ``clean``, ``linear_randomized``, ``slabs_randomized``),
    the ensemble's (floats), and for the small-perturbation test at radii ``eps`` = ``p.eps_grid`` × γ [E]:
    ``flip_rate`` [E, K] (:func:`flip_rate` of the trained nets), ``rule_flip_rate`` [E] (the rule sign(z₀),
    :func:`linear_rule_flip_rate`) and ``q_l1``, ‖q‖₁ of the linear direction (an L∞ step ε moves z₀ by ε‖q‖₁).
    """
    d = generate(p.n_train, p.n_test, dim=p.dim, k=p.k, gamma=p.gamma, seed=p.seed)
    family = _fit(p, d, range(p.seeds), device=device, progress=progress)
    aucs = feature_aucs(family, d, seed=p.seed + 1)
    eps = torch.tensor(p.eps_grid) * p.gamma
    return {**{k: v for k, v in aucs.items() if not k.startswith("ensemble")},
            "ensemble": {k[len("ensemble_"):]: float(v) for k, v in aucs.items() if k.startswith("ensemble")},
            "seeds": list(range(p.seeds)), "eps": eps, "flip_rate": flip_rate(family, d, eps),
            "rule_flip_rate": linear_rule_flip_rate(d, eps), "q_l1": float(d.rotation[0].abs().sum()),
            "params": asdict(p)}


def _noisy_linear_cost(p: SBParams) -> cost.Cost:
    # two families of p.noisy_seeds MLPs (the data as it is; the slab-only copy, randomized on the CPU), each
    # minibatch SGD with heavy-ball momentum for noisy_epochs; two test accuracies and the first family's AUCs
    sizes, steps = _sizes(p), p.steps(p.n_train, p.noisy_epochs)
    fit = _sgd_cost(p.noisy_seeds, sizes, p.n_train, p.n_test, steps, p.batch_size)
    return (_generate_cost(p.n_train + p.n_test, p.dim) + _randomize_cost(p.n_train, p.dim) + fit * 2
            + _scores_cost(p.noisy_seeds, sizes, p.n_test) * 2
            + _feature_aucs_cost(p.noisy_seeds, sizes, p.n_test, p.dim))


@cost.model(_noisy_linear_cost)
@experiment
def noisy_linear(p: SBParams, *, device=None, progress: bool = False) -> dict:
    """Section 3: the linear coordinate is right for only ``p.reliability`` of the points, every slab for all.

    One family trains on the data as it is; a second, the slab-only model, trains on the same points with the
    linear coordinate shuffled (so only the slabs carry the label). Both are tested on the same clean test set
    (its linear coordinate equally noisy). Returns test accuracies [K] (``sb_acc``, ``slab_acc``) and the
    S-randomized AUC of the first family (``sb_linear_randomized``).
    """
    d = generate(p.n_train, p.n_test, dim=p.dim, k=p.k, gamma=p.gamma, reliability=p.reliability, seed=p.seed + 7)
    seeds = range(p.noisy_seeds)
    sb = _fit(p, d, seeds, epochs=p.noisy_epochs, momentum=p.noisy_momentum, device=device, progress=progress)
    slab_only = replace(d, x_train=randomize(d.z_train, d.rotation, [0], seed=p.seed + 2))
    so = _fit(p, slab_only, seeds, epochs=p.noisy_epochs, momentum=p.noisy_momentum, device=device,
              progress=progress)
    return {"sb_acc": accuracy(sb, d.x_test, d.y_test), "slab_acc": accuracy(so, d.x_test, d.y_test),
            "sb_linear_randomized": feature_aucs(sb, d, seed=p.seed + 3)["linear_randomized"],
            "reliability": p.reliability}


def flip_rate(family: models.Family, d: SBData, eps) -> torch.Tensor:
    """Fraction of test predictions that change under the L∞ perturbation of radius ε that pushes every point
    along the linear direction toward the other class: δ = −ε (2y − 1) sign(q), q = Q[0] the linear feature's
    direction in input space (the steepest L∞ step against it). eps: [E] radii ≥ 0 → [E, K]."""
    _check_family(family)
    d = _check_data(d)
    eps = _check_radii(eps).float()
    q = d.rotation[0].float()
    sign_y = (2 * d.y_test.float() - 1)[:, None]
    clean = scores(family, d.x_test) > 0
    rates = []
    for e in eps.tolist():
        x = d.x_test - e * sign_y * torch.sign(q)
        rates.append(((scores(family, x) > 0) != clean).double().mean(1))
    return torch.stack(rates)


def linear_rule_flip_rate(d: SBData, eps) -> torch.Tensor:
    """Closed form of :func:`flip_rate` for the rule sign(z_0) on LMS data with a reliable linear coordinate.

    The perturbation moves z_0 = x·q by ε‖q‖₁ toward the other class, and |z_0| ~ U[γ, 1], so the rule
    flips a fraction clip((ε‖q‖₁ − γ)/(1 − γ), 0, 1) of the points. eps: [E] radii ≥ 0 → [E]."""
    d = _check_data(d)
    if d.info.get("simple") != "linear" or d.info.get("reliability") != 1:
        raise ValueError("d must be LMS data with a reliable linear coordinate (generate(simple='linear', "
                         "reliability=1)): the closed form is for that rule")
    gamma = d.info["gamma"]
    shift = _check_radii(eps) * d.rotation[0].abs().sum()
    return ((shift - gamma) / (1 - gamma)).clamp(0, 1)


def _adversarial_training_cost(p: SBParams) -> cost.Cost:
    # one family of p.adv_seeds MLPs, minibatch SGD; before every step, pgd_steps PGD steps on the batch, each
    # a forward and a backward to the inputs (no weight gradients: about 2 forwards' products; the ReLUs'
    # elementwise work of a training step; the single-output readout as matrix-vector products) and the
    # signed update and projection (~6 float32 passes over [K, B, d]); then the AUCs and the clean accuracy
    sizes, steps, K, B = _sizes(p), p.steps(p.n_train), p.adv_seeds, p.batch_size
    P, L, hidden = cost.mlp_weights(sizes), len(sizes) - 1, sum(sizes[1:-1])
    inner = cost.Cost(flops=4.0 * P * K * B + cost.PASS_FLOPS * K * B * (cost.ACTIVATION_PASSES * hidden
                                                                         + 6 * p.dim),
                      ops=8 * L + 17,
                      memory=3 * K * B * (sum(sizes[1:]) + 3 * p.dim) * cost.F32)
    if sizes[-1] == 1:
        inner = inner + cost.matvec(K, 1, sizes[-2], ops=0) * (2 * B)
    return (_generate_cost(p.n_train + p.n_test, p.dim)
            + _sgd_cost(K, sizes, p.n_train, p.n_test, steps, B) + inner * (p.pgd_steps * steps)
            + _feature_aucs_cost(K, sizes, p.n_test, p.dim) + _scores_cost(K, sizes, p.n_test))


@cost.model(_adversarial_training_cost)
@experiment
def adversarial_training(p: SBParams, *, device=None, progress: bool = False) -> dict:
    """Section 4: ``p.adv_seeds`` nets (one family) trained with L∞ PGD adversarial training of radius
    ``p.eps_train`` (SGD, logistic loss, the same schedule as the standard nets). Returns their AUCs
    (as :func:`feature_aucs`) and their clean test accuracy [K]. The data are :func:`extreme_sb`'s (the same
    draw)."""
    d = generate(p.n_train, p.n_test, dim=p.dim, k=p.k, gamma=p.gamma, seed=p.seed)
    family = _family(p, d.x_train.shape[1], range(p.adv_seeds), device)
    train.train(family, d.dataset(), steps=p.steps(len(d.x_train)), lr=p.lr, loss="logistic", optimizer="sgd",
                weight_decay=p.weight_decay, batch_size=p.batch_size, records=2,
                perturb=hooks.pgd(p.eps_train, p.pgd_steps, loss="logistic"), progress=progress)
    aucs = feature_aucs(family, d, seed=p.seed + 1)
    return {**{k: v for k, v in aucs.items() if not k.startswith("ensemble")},
            "eps_train": p.eps_train, "clean_acc": accuracy(family, d.x_test, d.y_test)}


# ---------------------------------------------------------------- the (k, γ) sweep behind the figure

def decision_map(family: models.Family, d: SBData, res: int, j: int = 1, n_context: int = 32) -> torch.Tensor:
    """A 2-D projection of each member's decision function: P(y = 1) on a res × res grid of (z_0, z_j) ∈
    [−1, 1]², the other coordinates taken from ``n_context`` test points and averaged over. → [K, res, res]
    (first axis z_0, the simple coordinate; second axis z_j)."""
    _check_family(family)
    d = _check_data(d)
    res = check_int("res", res, 2, 1000)
    j = check_int("j", j, 1, d.z_test.shape[1] - 1)
    n_context = check_int("n_context", n_context, 1, len(d.z_test))
    check_memory(f"a {res} × {res} map over {n_context} context points",
                 8 * 3 * res * res * n_context * d.z_test.shape[1])
    u = torch.linspace(-1, 1, res, dtype=torch.float64)
    a, b = torch.meshgrid(u, u, indexing="ij")
    ctx = d.z_test[:n_context]
    z = ctx[None].repeat(res * res, 1, 1)  # [res², m, d]
    z[..., 0] = a.reshape(-1, 1)
    z[..., j] = b.reshape(-1, 1)
    x = (z.reshape(-1, z.shape[-1]) @ d.rotation).float()
    prob = torch.sigmoid(scores(family, x)).reshape(family.size, res * res, len(ctx)).mean(-1)
    return prob.reshape(family.size, res, res)


def _sweep_k_gamma_cost(p: SBParams) -> cost.Cost:
    # one dataset per valid (k, γ) generated on the CPU and stacked ([M, n, d] per member); one family of M
    # MLPs, minibatch SGD with per-member data; then member by member: a copy of the member, its AUCs and its
    # decision map (res² × 32 context points built and rotated on the CPU in float64, then scored)
    M = sum(1 for k in p.grid_ks for g in p.grid_gammas if g < max_gamma(k))
    sizes, n, m = _sizes(p), p.grid_n_train, p.n_test
    grid_pts = p.grid_res**2 * 32
    per_member = (_feature_aucs_cost(1, sizes, m, p.dim) + _scores_cost(1, sizes, grid_pts)
                  + cost.Cost(cpu_flops=cost.PASS_FLOPS * 6 * grid_pts * p.dim + 2.0 * grid_pts * p.dim**2,
                              cpu_ops=40, ops=10))
    stack = cost.Cost(cpu_flops=cost.PASS_FLOPS * 2 * M * (n + m) * (p.dim + 2), cpu_ops=8 * M)
    return (_generate_cost(n + m, p.dim) * M + stack
            + _sgd_cost(M, sizes, n, m, p.steps(n), p.batch_size, per_member_data=True) + per_member * M)


@cost.model(_sweep_k_gamma_cost)
@experiment
def sweep_k_gamma(p: SBParams, *, device=None, progress: bool = False) -> dict:
    """Train one net per (k, γ) of ``p.grid_ks`` × ``p.grid_gammas`` (one batched computation, each member on
    its own dataset; pairs with γ ≥ 1/(k − 1) are skipped) and measure its three AUCs and its decision map.

    Returns ``records``: one dict per net (k, gamma, clean, linear_randomized, slabs_randomized); ``maps``:
    [M, res, res]; ``points``: per net, a few training points (z_0, z_1, y) for the figure.
    """
    dev = get_device(device)
    pairs = [(k, g) for k in p.grid_ks for g in p.grid_gammas if g < max_gamma(k)]  # not empty: see check()
    sets = [generate(p.grid_n_train, p.n_test, dim=p.dim, k=k, gamma=g, seed=p.seed + 100 + i)
            for i, (k, g) in enumerate(pairs)]
    # one member per (k, γ), each on its own dataset; all share the seed, so all draw the same batches
    family = _family(p, p.dim, [p.seed] * len(pairs), dev)
    per_member = wdata.Dataset(*(torch.stack([getattr(s.dataset(), f) for s in sets])
                                 for f in ("x_train", "y_train", "x_test", "y_test")), n_classes=2)
    train.train(family, per_member, steps=p.steps(p.grid_n_train), lr=p.lr, loss="logistic", optimizer="sgd",
                weight_decay=p.weight_decay, batch_size=p.batch_size, records=2, progress=progress)
    records, maps, points = [], [], []
    for i, ((k, g), s) in enumerate(zip(pairs, sets, strict=True)):
        member = family.member(i)
        a = feature_aucs(member, s, seed=p.seed + 1)
        records.append({"k": k, "gamma": g, **{name: float(a[name][0]) for name in
                                               ("clean", "linear_randomized", "slabs_randomized")}})
        maps.append(decision_map(member, s, p.grid_res)[0])
        points.append(torch.stack([s.z_train[:200, 0], s.z_train[:200, 1], s.y_train[:200].double()], 1))
    return {"records": records, "maps": torch.stack(maps), "points": points, "res": p.grid_res}


# ---------------------------------------------------------------- dominoes: an image analogue

@dataclass(frozen=True)
class DominoParams(Params):
    """Dominoes: an 8×8 sklearn digit (0 vs 1: the simple block) above an 8×8 texture patch (the complex
    block): a bar of ``bar`` pixels at a uniformly random (wrapped) position in Gaussian noise of standard
    deviation ``noise``, horizontal for label 1 and vertical for label 0. Both blocks predict the label; the
    texture's mean image is the same for both classes, so no linear rule reads it. A small CNN (circular 1-D
    convolutions over the flattened 16×8 image) trains with SGD on the logistic loss."""

    FULL: ClassVar[dict] = {"n_train": 20_000, "n_test": 5000, "seeds": 5, "epochs": 8}
    STEPS: ClassVar[tuple] = ("epochs",)

    n_train: int = 4000
    n_test: int = 2000
    bar: int = 3
    noise: float = 0.1
    channels: int = 8
    q: int = 3
    depth: int = 1
    lr: float = 0.05
    batch_size: int = 64
    epochs: int = 8
    seeds: int = 2
    seed: int = 0

    def check(self) -> None:
        n_train = check_int("n_train", self.n_train, 2, 10**7)
        n_test = check_int("n_test", self.n_test, 6, 10**7)  # the figure shows six test images
        check_int("bar", self.bar, 2, SIDE)
        check_float("noise", self.noise, 0, 10)
        channels = check_int("channels", self.channels, 1, 10**4)
        check_int("q", self.q, 1, 2 * SIDE * SIDE)
        depth = check_int("depth", self.depth, 1, 64)
        check_float("lr", self.lr, 0, 10, lo_open=True)
        batch = check_int("batch_size", self.batch_size, 1, n_train)
        check_int("epochs", self.epochs, 1, 10**5)
        seeds = check_int("seeds", self.seeds, 1, 10**4)
        check_int("seed", self.seed, 0)
        # the images (built, standardized, shuffled), and a CNN layer's channels × 128 activations per input
        check_memory("(n_train + n_test) × 128; seeds × channels × depth × batch_size",
                     4 * 6 * (n_train + n_test) * 2 * SIDE * SIDE
                     + models.training_bytes(seeds, max(batch, n_test), 2 * SIDE * SIDE, 1,
                                             channels * 2 * SIDE * SIDE, depth + 1))


SIDE = 8  # both blocks are SIDE × SIDE


def _standardize(a: torch.Tensor, b: torch.Tensor) -> tuple:
    """Centre both splits of a block on the training split's mean image and scale to unit overall variance."""
    mu = a.mean(0)
    sd = (a - mu).std()
    return (a - mu) / sd, (b - mu) / sd


def bars(y: torch.Tensor, bar: int, noise: float, g: torch.Generator) -> torch.Tensor:
    """Texture patches for labels y ∈ {0, 1}: [n, SIDE·SIDE], a bar of ``bar`` ones (horizontal if y = 1,
    vertical if y = 0) at a random position, wrapping around the patch edges, plus N(0, noise²) pixels."""
    y, g = _check_labels("y", y), _check_generator(g)
    bar = check_int("bar", bar, 2, SIDE)
    noise = check_float("noise", noise, 0, 10)
    n = len(y)
    r0, c0 = torch.randint(0, SIDE, (n,), generator=g), torch.randint(0, SIDE, (n,), generator=g)
    step = torch.arange(bar)
    horiz = (y == 1)[:, None]
    rows = torch.where(horiz, r0[:, None], (r0[:, None] + step) % SIDE)
    cols = torch.where(horiz, (c0[:, None] + step) % SIDE, c0[:, None])
    img = noise * torch.randn(n, SIDE, SIDE, generator=g)
    img[torch.arange(n)[:, None], rows, cols] += 1.0
    return img.reshape(n, SIDE * SIDE)


def dominoes(n_train: int, n_test: int, *, bar: int = 3, noise: float = 0.1, seed: int = 0) -> dict:
    """Build ``n_train`` + ``n_test`` dominoes with bars of ``bar`` pixels in noise of deviation ``noise``
    (see :class:`DominoParams`), drawn from ``seed``. The digits are split into train and test images first
    (250 / 110), so no test digit is seen in training; each domino pairs a random digit of its label with a
    fresh texture patch.
    Returns x_train/x_test [n, 128] (row-major 16×8 images: digit rows 0–7, texture rows 8–15),
    y_train/y_test [n] in {0, 1}, and ``block``: [128], 0 for simple-block pixels and 1 for complex ones."""
    n_train, n_test = check_int("n_train", n_train, 1, 10**7), check_int("n_test", n_test, 1, 10**7)
    check_int("bar", bar, 2, SIDE)
    check_float("noise", noise, 0, 10)
    seed = check_int("seed", seed, 0)
    check_memory(f"{n_train + n_test} dominoes", 4 * 6 * (n_train + n_test) * 2 * SIDE * SIDE)
    dig = wdata.digits(n_train=250, classes=[0, 1], seed=seed)
    d_tr, d_te = _standardize(dig.x_train, dig.x_test)
    g = torch.Generator().manual_seed(seed)

    def build(n, dx, dy):
        y = torch.randint(0, 2, (n,), generator=g)
        pick = torch.empty(n, dtype=torch.int64)
        for c in (0, 1):
            pool, where = (dy == c).nonzero()[:, 0], (y == c).nonzero()[:, 0]
            pick[where] = pool[torch.randint(0, len(pool), (len(where),), generator=g)]
        return dx[pick], bars(y, bar, noise, g), y

    tr, te = build(n_train, d_tr, dig.y_train), build(n_test, d_te, dig.y_test)
    t_tr, t_te = _standardize(tr[1], te[1])
    block = torch.cat([torch.zeros(SIDE * SIDE), torch.ones(SIDE * SIDE)]).long()
    return {"x_train": torch.cat([tr[0], t_tr], 1), "y_train": tr[2], "x_test": torch.cat([te[0], t_te], 1),
            "y_test": te[2], "block": block}


def shuffle_block(x: torch.Tensor, block: torch.Tensor, which: int, seed: int = 0) -> torch.Tensor:
    """Replace block ``which`` (0 simple, 1 complex) of every image by that block of a random other image.
    x: [n, D]; block: [D] of 0 and 1 (:func:`dominoes`' ``block``)."""
    x = check_tensor("x", x, ndim=2, shape="[n, D]", min_size=1)
    block = check_tensor("block", block, ndim=1, shape=f"[{x.shape[1]}]")
    if block.shape != (x.shape[1],) or not bool(((block == 0) | (block == 1)).all()):
        raise ValueError(f"block must be [{x.shape[1]}] (one entry per pixel of x) holding 0 and 1")
    which = check_int("which", which, 0, 1)
    seed = check_int("seed", seed, 0)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    x = x.clone()
    cols = block == which
    x[:, cols] = x[perm][:, cols]
    return x


def _domino_experiment_cost(p: DominoParams) -> cost.Cost:
    # the dominoes built on the CPU (sklearn's digits; the bars: a Gaussian draw per texture pixel), two CNN
    # families (the clean images; the simple block shuffled on the CPU), each minibatch SGD with two records
    # on the train and test sets; the four test sets' logits (three for the first family, one for the
    # control) and their AUCs on the CPU
    n, m, K = p.n_train, p.n_test, p.seeds
    d = 2 * SIDE * SIDE
    steps = max(1, p.epochs * n // p.batch_size)
    epochs = math.ceil(steps * p.batch_size / n)
    C = p.channels
    weights = C * p.q * (1 + (p.depth - 1) * C) + C * d
    fit = (cost.family_init(members=K, weights=weights, layers=p.depth + 1)
           + cost.cnn_train(members=K, d=d, channels=C, depth=p.depth, q=p.q, batch=p.batch_size, steps=steps,
                       evals=n, records=cost.records(steps, 2))
           + cost.cnn_train(members=K, d=d, channels=C, depth=p.depth, q=p.q, batch=0, steps=0, evals=m,
                       records=cost.records(steps, 2))
           + cost.passes(K * p.batch_size * (d + 1), 2, ops=3) * steps  # each step's batch gathered
           + cost.Cost(cpu_flops=cost.PASS_FLOPS * 10 * epochs * K * n, cpu_ops=epochs * (K + 2), ops=epochs))
    scores = (cost.cnn_train(members=K, d=d, channels=C, depth=p.depth, q=p.q, batch=0, steps=0, evals=m, records=1)
              + cost.Cost(cpu_flops=cost.PASS_FLOPS * 60 * math.log2(m) * K * m, cpu_ops=25))
    # importing scikit-learn for its digits takes about a second, once per process (as 2e5 CPU operations)
    data = cost.Cost(cpu_flops=(cost.RANDOM_DRAW_FLOPS * SIDE * SIDE + cost.PASS_FLOPS * 20 * d) * (n + m),
                     cpu_ops=2e5 + 300)
    shuffles = cost.Cost(cpu_flops=cost.PASS_FLOPS * 6 * (n + 2 * m) * d, cpu_ops=30)
    return data + fit * 2 + scores * 4 + shuffles


@cost.model(_domino_experiment_cost)
@experiment
def domino_experiment(p: DominoParams, *, device=None, progress: bool = False) -> dict:
    """Train ``p.seeds`` CNNs (one family) on dominoes; test AUC on clean images and with each block
    shuffled across images. Returns [K] tensors ``clean``, ``simple_randomized``, ``complex_randomized``;
    ``complex_only``: the clean test AUC of a second family trained just as long on images whose simple block
    was shuffled (is the complex block learnable at all?); and six test images ``examples`` [6, 16, 8]."""
    dm = dominoes(p.n_train, p.n_test, bar=p.bar, noise=p.noise, seed=p.seed)
    n = len(dm["x_train"])

    def fit(x_train, epochs):
        fam = models.cnn(x_train.shape[1], 1, channels=p.channels, seeds=list(range(p.seeds)), depth=p.depth,
                         q=p.q, readout="flatten", device=device)
        ds = wdata.Dataset(x_train, 2 * dm["y_train"].float() - 1, dm["x_test"], 2 * dm["y_test"].float() - 1)
        train.train(fam, ds, steps=max(1, epochs * n // p.batch_size), lr=p.lr, loss="logistic", optimizer="sgd",
                    batch_size=p.batch_size, records=2, progress=progress)
        return fam

    fam = fit(dm["x_train"], p.epochs)
    tests = {"clean": dm["x_test"], "simple_randomized": shuffle_block(dm["x_test"], dm["block"], 0, p.seed + 1),
             "complex_randomized": shuffle_block(dm["x_test"], dm["block"], 1, p.seed + 1)}
    out = {name: auc(scores(fam, x), dm["y_test"]) for name, x in tests.items()}
    control = fit(shuffle_block(dm["x_train"], dm["block"], 0, p.seed + 2), p.epochs)
    out["complex_only"] = auc(scores(control, dm["x_test"]), dm["y_test"])
    out["examples"] = dm["x_test"][:6].reshape(6, 2 * SIDE, SIDE)
    out["example_labels"] = dm["y_test"][:6]
    return out


# ---------------------------------------------------------------- one net, for the live explorer

def explore(k: int = 5, gamma: float = 0.1, reliability: float = 1.0, width: int = 100, depth: int = 2,
            optimizer: str = "sgd", n_train: int = 10_000, epochs: int = 2, device=None) -> dict:
    """Train one net on LMS-k (linear coordinate right for a ``reliability`` fraction) and return its three AUCs."""
    check_choice("optimizer", optimizer, ("sgd", "adam"))
    device = check_device("device", device)
    p = SBParams(n_train=n_train, k=k, gamma=gamma, width=width, depth=depth, epochs=epochs,
                 lr=0.1 if optimizer == "sgd" else 1e-3, reliability=reliability)
    d = generate(p.n_train, p.n_test, dim=p.dim, k=k, gamma=gamma, reliability=reliability, seed=p.seed)
    family = _family(p, p.dim, [0], device)
    train.train(family, d.dataset(), steps=p.steps(), lr=p.lr, loss="logistic", optimizer=optimizer,
                weight_decay=p.weight_decay, batch_size=p.batch_size, records=2)
    a = feature_aucs(family, d)
    return {name: float(a[name][0]) for name in ("clean", "linear_randomized", "slabs_randomized")} | {
        "k": k, "gamma": gamma, "reliability": reliability, "test_acc": float(accuracy(family, d.x_test, d.y_test)[0])}


__all__ = ["SLAB_KS", "SBData", "SBParams", "DominoParams", "generate", "randomize", "slab_intervals",
           "sample_slab", "sample_linear", "random_rotation", "max_gamma", "feature_aucs", "accuracy", "scores",
           "extreme_sb", "noisy_linear", "flip_rate", "adversarial_training", "decision_map", "sweep_k_gamma",
           "dominoes", "shuffle_block", "domino_experiment", "explore"]


# ---------------------------------------------------------------- the chapter's plan


def plan(mode: str | None = None) -> list:
    """The chapter's runs, (experiment, params), as it makes them: its cost before it starts."""
    p = SBParams.preset(mode)
    return [(extreme_sb, p), (noisy_linear, p), (adversarial_training, p),
            (domino_experiment, DominoParams.preset(mode)), (sweep_k_gamma, p)]
