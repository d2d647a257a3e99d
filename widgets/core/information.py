"""Mutual information between a network's inputs, its layers and its labels, the way the information-bottleneck
papers estimate it: by binning the activations (Shwartz-Ziv & Tishby 2017), or by a Gaussian-noise (KDE)
upper bound (Kolchinsky & Tracey 2017, as used by Saxe et al. 2019).

The inputs X are a finite set of N distinct patterns, each equally likely (the 12-bit task: N = 4096), and a
layer T = t(X) is a deterministic function of X. Binning T makes it discrete, so

* I(X;T) = H(T_binned): the entropy of the bin occupancy (at most log₂ N bits);
* I(T;Y) = H(T_binned) + H(Y) − H(T_binned, Y).

Binning rules (:func:`bin_ids`): a fixed grid of ``bins`` edges on [lo, hi] (``np.digitize`` on
``linspace(-1, 1, 30)``, the Shwartz-Ziv & Tishby code's rule; values outside the grid land in its end
bins), or fixed-width bins ⌊t / width⌋ over an unbounded range (Saxe et al.'s rule, width 0.07).

The KDE estimate (:func:`kde_information`) adds Gaussian noise ε of variance σ² to T. The entropy of the
resulting equal mixture of N Gaussians N(t_i, σ²I) in d dimensions has the pairwise-KL upper bound

    Ĥ = −(1/N) Σ_i log[(1/N) Σ_j exp(−‖t_i − t_j‖² / 2σ²)] + (d/2) log(2πσ²) + d/2,

and I(X; T + ε) ≤ Ĥ − H(ε) with H(ε) = (d/2) log(2πeσ²). Everything is in bits and batched over leading
axes (one row per member).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from widgets.core import models
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
from widgets.core.train import device_copies

LN2 = math.log(2.0)


# ---------------------------------------------------------------- discrete entropies of codes

def _dense_rank(codes: torch.Tensor) -> torch.Tensor:
    """Replace the int64 codes of each row [..., N] by their dense rank 0, 1, … within the row (equal codes,
    equal ranks), so that they fit in a small range again."""
    s, order = codes.sort(-1)
    new = torch.ones_like(s, dtype=torch.bool)
    new[..., 1:] = s[..., 1:] != s[..., :-1]
    ranks = new.long().cumsum(-1) - 1
    return torch.empty_like(ranks).scatter_(-1, order, ranks)


def row_codes(ids: torch.Tensor) -> torch.Tensor:
    """One int64 code per row of integer bin ids [..., N, w]: two rows of the same [N] slice get equal codes
    iff all their w ids are equal (exact: codes are re-ranked whenever they would overflow). → [..., N]."""
    ids = check_tensor("ids", ids, ndim=tuple(range(2, 65)), shape="[..., N, w]")
    if ids.is_floating_point():
        raise ValueError(f"ids must hold integer bin ids, got dtype {ids.dtype}")
    ids = ids.long()
    ids = ids - ids.amin(dim=-2, keepdim=True)  # ≥ 0 per column
    code = torch.zeros(ids.shape[:-1], dtype=torch.int64, device=ids.device)
    span = 1  # an upper bound on the codes so far
    # every column's largest id, read back once (not once per column: a host sync each on a GPU)
    bases = (ids.flatten(0, -2).amax(0) + 1).tolist() if ids.numel() else [1] * ids.shape[-1]
    for j, base in enumerate(bases):
        col = ids[..., j]
        if span * base >= 2**62:
            code = _dense_rank(code)
            span = code.shape[-1]
        code = code * base + col
        span *= base
    return code


def _small_entropy(codes: torch.Tensor, n_values: int) -> torch.Tensor:
    """Entropy in bits of each row of codes [..., N] that take values in [0, n_values) → [...]."""
    counts = torch.zeros(*codes.shape[:-1], n_values, dtype=torch.float64, device=codes.device)
    counts.scatter_add_(-1, codes, torch.ones(codes.shape, dtype=torch.float64, device=codes.device))
    p = counts / codes.shape[-1]
    return -(p * torch.log2(torch.where(p > 0, p, 1.0))).sum(-1)


def code_entropy(codes: torch.Tensor) -> torch.Tensor:
    """Entropy in bits of the empirical distribution of each row of codes [..., N] (every entry weight 1/N)
    → [...]."""
    codes = check_tensor("codes", codes, ndim=tuple(range(1, 65)), shape="[..., N]")
    if codes.is_floating_point():
        raise ValueError(f"codes must hold integer codes, got dtype {codes.dtype}")
    N = codes.shape[-1]
    if N == 0:
        raise ValueError("codes must hold at least one entry per row")
    return _small_entropy(_dense_rank(codes), N)


def bin_ids(t: torch.Tensor, *, width: float | None = None, lo: float = -1.0, hi: float = 1.0,
            bins: int = 30) -> torch.Tensor:
    """Integer bin of every activation, same shape as t.

    ``width`` given: fixed-width bins ⌊t / width⌋, unbounded (Saxe et al.). Otherwise the grid rule of the
    Shwartz-Ziv & Tishby code: ``bins`` edges ``linspace(lo, hi, bins)`` and ``np.digitize``, values at or
    above the last edge sharing its bin and values below the first edge sharing bin 0.
    """
    t = check_tensor("t", t, ndim=tuple(range(0, 65)), shape="[...]")  # NaN would fall in an arbitrary bin
    if width is not None:
        width = check_float("width", width, 0, lo_open=True)
        return torch.floor(t.double() / width).long()
    bins = check_int("bins", bins, 2, 10**6)
    lo, hi = check_float("lo", lo), check_float("hi", hi)
    if not lo < hi:
        raise ValueError(f"lo must be below hi, got lo={lo}, hi={hi}")
    edges = torch.linspace(lo, hi, bins, dtype=torch.float64, device=t.device)
    # = np.digitize: 0 below lo, `bins` at or above hi
    return torch.bucketize(t.double().contiguous(), edges, right=True)


def binned_information(t: torch.Tensor, y: torch.Tensor, **binning) -> tuple[torch.Tensor, torch.Tensor]:
    """Binned I(X;T) and I(T;Y) in bits of a layer's activations t [..., N, w] on N equally likely, distinct
    inputs with labels y [N] (integers). ``binning``: the arguments of :func:`bin_ids`.
    Returns (I(X;T), I(T;Y)), each of shape [...]."""
    t, y = _check_layer(t, y)
    ranks = _dense_rank(row_codes(bin_ids(t, **binning)))  # [..., N], values < N
    yy = y.to(ranks.device).long()
    yy = yy - yy.min()
    n_y = int(yy.max()) + 1
    h_t = _small_entropy(ranks, ranks.shape[-1])
    h_ty = _small_entropy(ranks * n_y + yy, ranks.shape[-1] * n_y)
    h_y = _small_entropy(yy[None], n_y)[0].to(h_t)
    return h_t, h_t + h_y - h_ty


# ---------------------------------------------------------------- the KDE (pairwise-KL) upper bound

def _check_layer(t, y) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer's activations t [..., N, w] (finite, N ≥ 1) and integer labels y [N]."""
    t = check_tensor("t", t, ndim=tuple(range(2, 65)), shape="[..., N, w]", min_size=1)
    y = check_tensor("y", y, ndim=1, shape=f"[{t.shape[-2]}]")
    if len(y) != t.shape[-2] or y.is_floating_point():
        raise ValueError(f"y must be [N={t.shape[-2]}] integer labels, got {y.dtype} of shape {tuple(y.shape)}")
    return t, y


def _kde_entropy(t: torch.Tensor, var: float) -> torch.Tensor:
    """The pairwise-KL upper bound, in nats, on the entropy of an equal mixture of Gaussians N(t_i, var·I)
    over the rows of t [..., n, d] → [...] (Kolchinsky & Tracey 2017, eq. for Ĥ_KL)."""
    n, d = t.shape[-2], t.shape[-1]
    sq = torch.cdist(t, t).square()
    log_p = torch.logsumexp(-sq / (2 * var), dim=-1) - math.log(n) - 0.5 * d * math.log(2 * math.pi * var)
    return -log_p.mean(-1) + 0.5 * d  # the mean of −log of the mixture at its own centres, plus d/2 (the KL term)


def kde_information(t: torch.Tensor, y: torch.Tensor, var: float, chunk: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper bounds on I(X; T+ε) and I(T+ε; Y) in bits for T + ε, ε ~ N(0, var·I), from a layer's
    activations t [..., N, w] on N equally likely inputs with labels y [N] (Saxe et al. 2019's "KDE"
    estimator; their code calls var the noise variance, 1e-3 for this task).

    I(X; T+ε) ≤ Ĥ(T+ε) − H(ε), with H(ε) = (w/2) log(2πe·var); I(T+ε; Y) ≤ Ĥ(T+ε) − Σ_y p(y) Ĥ(T+ε | Y=y).
    Leading axes are processed ``chunk`` rows at a time (the pairwise distances take N² numbers per row).
    Returns (I(X;T), I(T;Y)), each [...]."""
    var = check_float("var", var, 0, lo_open=True)
    chunk = check_int("chunk", chunk, 1)
    t, y = _check_layer(t, y)
    lead, (N, w) = t.shape[:-2], t.shape[-2:]
    check_memory(f"the pairwise distances of {chunk} rows of {N} points",
                 8 * 4 * min(chunk, t[..., 0, 0].numel()) * N * N)
    flat = t.double().reshape(-1, N, w)
    y = y.to(t.device)
    classes = torch.unique(y)
    h_noise = 0.5 * w * (math.log(2 * math.pi * var) + 1)
    ixt, ity = [], []
    for part in flat.split(chunk):
        h = _kde_entropy(part, var)
        h_cond = sum((y == c).double().mean() * _kde_entropy(part[:, y == c], var) for c in classes)
        ixt.append((h - h_noise) / LN2)
        ity.append((h - h_cond) / LN2)
    return torch.cat(ixt).reshape(lead), torch.cat(ity).reshape(lead)


# ---------------------------------------------------------------- probes for the trainer

def layer_information(x: torch.Tensor, y: torch.Tensor, binnings: dict[str, dict], *,
                      pre: bool = False) -> Callable:
    """A trainer probe: binned (I(X;T), I(T;Y)) of every layer of an MLP family on inputs x [N, d] with
    labels y [N], under each named binning (name → arguments of :func:`bin_ids`).

    The last layer is taken as its softmax (the papers' output layer); with ``pre=True`` the hidden layers
    are binned before their activation. Returns [K, B, L, 2]: binning B in the order of ``binnings``, layer
    L, then (I(X;T), I(T;Y)) in bits."""
    x, y = _check_inputs(x, y)
    check_instance("binnings", binnings, dict, "a dict of name → bin_ids arguments")
    names = list(binnings)
    if not names:
        raise ValueError("binnings must name at least one binning")
    for name, spec in binnings.items():
        if not isinstance(spec, dict) or not set(spec) <= {"width", "lo", "hi", "bins"}:
            raise ValueError(f"binnings[{name!r}] must be a dict of bin_ids arguments (width, lo, hi, bins), "
                             f"got {spec!r}")
        bin_ids(torch.zeros(1), **spec)  # its values, checked once here rather than at every record
    check_bool("pre", pre)
    on = device_copies(x, y)

    def probe(family) -> torch.Tensor:
        xd, yd = on(family.device)
        layers = models.layer_outputs(family, xd, pre=pre)
        layers[-1] = torch.softmax(layers[-1], -1)
        rows = []
        for name in names:
            rows.append(torch.stack([torch.stack(binned_information(t, yd, **binnings[name]), -1)
                                     for t in layers], 1))  # [K, L, 2]
        return torch.stack(rows, 1)

    return probe


def kde_layer_information(x: torch.Tensor, y: torch.Tensor, layer: int, variances: Sequence[float]) -> Callable:
    """A trainer probe: KDE upper bounds (I(X;T), I(T;Y)) of one layer (index into the weight layers; the
    last is taken as its softmax) on inputs x [n, d] with labels y [n], for each noise variance.
    Returns [K, V, 2] in bits."""
    x, y = _check_inputs(x, y)
    layer = check_int("layer", layer)
    variances = check_floats("variances", variances, 0, lo_open=True)
    on = device_copies(x, y)

    def probe(family) -> torch.Tensor:
        xd, yd = on(family.device)
        layers = models.layer_outputs(family, xd)
        _check_index("layer", layer, len(layers))
        t = torch.softmax(layers[-1], -1) if layer in (-1, len(layers) - 1) else layers[layer]
        return torch.stack([torch.stack(kde_information(t, yd, v), -1) for v in variances], 1)

    return probe


def saturation(x: torch.Tensor, layer: int, level: float = 0.99) -> Callable:
    """A trainer probe: the fraction of a hidden layer's activations with |t| > ``level`` on inputs x [N, d]
    (for tanh: the share of saturated units × inputs). Returns [K]."""
    x = check_tensor("x", x, ndim=2, shape="[N, d]", min_size=1)
    layer = check_int("layer", layer)
    level = check_float("level", level, 0)
    on = device_copies(x)

    def probe(family) -> torch.Tensor:
        layers = models.layer_outputs(family, on(family.device)[0])
        t = layers[_check_index("layer", layer, len(layers))]
        return (t.abs() > level).double().mean((1, 2))

    return probe


def gradient_snr(x: torch.Tensor, y: torch.Tensor, batch_size: int, params=(-2,),
                 loss: str = "cross_entropy", seed: int = 0) -> Callable:
    """A trainer probe: the signal-to-noise ratio of minibatch gradients, Shwartz-Ziv & Tishby's measure of
    the "drift" (high) and "diffusion" (low) phases. The training set x [n, d], y [n] is cut once (a fixed
    permutation from ``seed``) into ⌊n / batch_size⌋ batches; the gradient of each batch's loss with respect
    to each parameter tensor named in ``params`` (indices into ``family.params``; −2 is the last weight
    matrix of a biased MLP, 0 the first) gives ‖mean over batches‖ / ‖std over batches‖ (Frobenius norms),
    per member. Returns [K, len(params)]."""
    x, y = _check_inputs(x, y)
    batch_size = check_int("batch_size", batch_size, 1, len(x))
    n_batches = len(x) // batch_size
    if n_batches < 2:
        raise ValueError(f"batch_size must leave at least 2 batches of the {len(x)} points, got {batch_size}")
    params = check_ints("params", params)
    from widgets.core.losses import LOSSES

    check_choice("loss", loss, LOSSES)
    seed = check_int("seed", seed, 0)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n_batches * batch_size]
    on = device_copies(x[order].view(n_batches, batch_size, -1), y[order].view(n_batches, batch_size))

    def probe(family) -> torch.Tensor:
        from widgets.core.losses import member_losses

        xb, yb = on(family.device)  # every batch on the family's device, copied there once
        targets = [family.params[_check_index("params[i]", i, len(family.params))] for i in params]
        grads = [[] for _ in params]
        for b in range(n_batches):
            out = family(xb[b])
            for acc, g in zip(grads, torch.autograd.grad(member_losses(out, yb[b], loss).sum(), targets),
                              strict=True):
                acc.append(g.detach())
        ratios = []
        for acc in grads:
            g = torch.stack(acc)  # [B, K, ...]
            ratios.append(g.mean(0).flatten(1).norm(dim=1) / g.std(0).flatten(1).norm(dim=1))
        return torch.stack(ratios, 1)

    return probe


def _check_inputs(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """A probe's inputs x [N, d] (finite, N ≥ 1) and labels y [N] (integers)."""
    x = check_tensor("x", x, ndim=2, shape="[N, d]", min_size=1)
    y = check_tensor("y", y, ndim=1, shape=f"[{len(x)}]")
    if len(y) != len(x) or y.is_floating_point():
        raise ValueError(f"y must be [{len(x)}] integer labels (one per row of x), got {y.dtype} {tuple(y.shape)}")
    return x, y


def _check_index(name: str, i: int, n: int) -> int:
    """A probe's layer or parameter index, checked against the family it meets (a Python comparison)."""
    if not -n <= i < n:
        raise ValueError(f"{name} must be an index into the family's {n} layers or tensors, in [{-n}, {n - 1}], "
                         f"got {i}")
    return i
