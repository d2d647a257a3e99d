"""Infinite-width kernels of ReLU networks (NNGP and NTK) and their exact spectra on the hypercube {-1, 1}^d.

Two architectures, with the conventions of :mod:`widgets.core.models` (``depth`` here counts *hidden* layers,
the nonlinear ones: ``models.mlp(depth=L + 1)`` and ``models.cnn(depth=L)`` have L of them):

* ``"mlp"``: x → L ReLU layers → linear readout;
* ``"cnn"``: a circular 1-D CNN, L ReLU convolutions with filter size q (stride 1, same padding), then a
  linear readout of the flattened features (``readout="flatten"``) or of their spatial mean (``"gap"``).

The kernels are those of the NTK parametrization with the models' init variances: hidden weights
N(0, 2/fan_in) (He), readout weights N(0, 1/fan_in), and bias variance ``bias`` (0 by default: the models
start their biases at zero; :func:`widgets.core.probes.tangent_kernel` with ``parametrization="ntk"`` is
the finite network's counterpart). All arithmetic is float64.

On the hypercube, K(x, x') = k(x ⊙ x') for the MLP and for the CNN with a flatten readout (each patch inner
product is a sum of z = x ⊙ x' over the patch), so every Walsh monomial χ_S(x) = Π_{i∈S} x_i is an
eigenfunction, with eigenvalue λ_S = E_z[k(z) χ_S(z)]. :func:`spectrum` gets all 2^d of them from one fast
Walsh–Hadamard transform of k, in O(d·2^d) instead of the O(8^d) of a dense eigendecomposition.

Indexing. Point r of ``data.hypercube(d)`` has x_i = 1 − 2·bit_i(r); subset S is the integer whose bit i
is set when i ∈ S. Then χ_S(point r) = (−1)^popcount(S & r), the Hadamard matrix, and z = x ⊙ x' is the
point r XOR r'.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from widgets.core.checks import (
    check_choice,
    check_device,
    check_float,
    check_int,
    check_memory,
    check_sequence,
    check_tensor,
)

ARCHS = ("mlp", "cnn")
READOUTS = ("flatten", "gap")
KINDS = ("ntk", "nngp")
MAX_D = 24  # 2^24 float64 values = 128 MiB per array: the largest cube the spectrum handles


# ---------------------------------------------------------------- the ReLU maps (arc-cosine kernels)

def _relu_maps(s12: torch.Tensor, s11: torch.Tensor, s22: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[φ(u)φ(v)] and E[φ'(u)φ'(v)] for φ = ReLU and (u, v) ~ N(0, [[s11, s12], [s12, s22]]).

    κ₁(ρ) = (√(1−ρ²) + (π − arccos ρ)ρ)/π and κ₀(ρ) = (π − arccos ρ)/π give
    E[φφ] = √(s11 s22)·κ₁(ρ)/2 and E[φ'φ'] = κ₀(ρ)/2.

    A zero variance (a zero input, or a zero patch of a CNN's input, without bias) makes u or v zero, so
    E[φφ] = 0: its limit, since E[φφ] is √(s11 s22) times a bounded function of ρ. There ρ is taken as 0,
    which keeps E[φ'φ'] finite; it only ever multiplies a covariance that is zero there too.
    """
    norm = torch.sqrt(s11 * s22)
    rho = s12 / norm
    zero = rho.isnan()  # 0/0 at a zero variance (the inputs are finite): see above
    if bool(zero.any()):
        rho = torch.where(zero, torch.zeros_like(rho), rho)
    rho = rho.clamp(-1.0, 1.0)  # rounding can push |ρ| a hair above 1
    theta = torch.arccos(rho)
    k1 = (torch.sqrt(1 - rho * rho) + (math.pi - theta) * rho) / math.pi
    k0 = (math.pi - theta) / math.pi
    return norm * k1 / 2, k0 / 2


# ---------------------------------------------------------------- kernels on pairs of inputs

def _check(arch: str, depth: int, q: int, readout: str, kind: str, bias: float, d: int | None) -> tuple:
    check_choice("arch", arch, ARCHS)
    depth = check_int("depth", depth, 1, 64)
    check_choice("readout", readout, READOUTS)
    check_choice("kind", kind, KINDS)
    bias = check_float("bias", bias, 0, 1e6)
    if arch == "cnn":
        q = check_int("q", q, 1, d if d is not None else None)
    if arch == "mlp" and readout != "flatten":
        raise ValueError("readout='gap' needs arch='cnn' (an MLP has no spatial axis to pool)")
    return depth, q, bias


def _window(t: torch.Tensor, q: int, dims: tuple[int, ...] = (-1,)) -> torch.Tensor:
    """Mean over the patch of each position, along ``dims`` together (circular, the models' offsets)."""
    left = (q - 1) // 2
    out = 0
    for j in range(q):
        out = out + torch.roll(t, shifts=tuple([left - j] * len(dims)), dims=dims)
    return out / q


def _mlp(s12, s11, s22, depth: int, kind: str, bias: float) -> torch.Tensor:
    """MLP recursion from the first layer's covariances (already including the 2/d weight variance)."""
    theta = s12
    for layer in range(depth):
        top = layer == depth - 1
        w = 1.0 if top else 2.0  # readout variance 1, hidden variance 2 (He)
        e, de = _relu_maps(s12, s11, s22)
        s12 = w * e + bias
        theta = s12 + w * de * theta
        s11, s22 = w * s11 / 2 + bias, w * s22 / 2 + bias
    return theta if kind == "ntk" else s12


def _cnn_flatten(s12, s11, s22, depth: int, q: int, kind: str, bias: float, mean: bool = True) -> torch.Tensor:
    """CNN recursion on same-position covariances [..., d]: with a flatten readout only the pairs (p, p)
    of x and x' ever meet, since each readout weight and each filter tap sees one position of both.
    ``mean=False`` returns each position's term of the readout average, [..., d]."""
    theta = s12
    for layer in range(depth):
        e, de = _relu_maps(s12, s11, s22)
        if layer < depth - 1:
            s12 = 2 * _window(e, q) + bias
            theta = s12 + 2 * _window(de * theta, q)
            s11, s22 = _window(s11, q) + bias, _window(s22, q) + bias
        else:
            s12 = e + bias
            theta = s12 + de * theta
    out = theta if kind == "ntk" else s12
    return out.mean(-1) if mean else out


def _cnn_gap(s12, s11, s22, depth: int, q: int, kind: str, bias: float) -> torch.Tensor:
    """CNN recursion on all position pairs s12: [..., d, d], s11: [..., d, 1], s22: [..., 1, d]; the GAP
    readout averages over every (p, p') pair, so no position pair can be dropped."""
    theta = s12
    for layer in range(depth):
        e, de = _relu_maps(s12, s11, s22)
        if layer < depth - 1:
            s12 = 2 * _window(e, q, (-2, -1)) + bias
            theta = s12 + 2 * _window(de * theta, q, (-2, -1))
            s11, s22 = _window(s11, q, (-2,)) + bias, _window(s22, q, (-1,)) + bias
        else:
            s12 = e.mean((-2, -1)) + bias
            theta = s12 + (de * theta).mean((-2, -1))
    return theta if kind == "ntk" else s12


def kernel(x1: torch.Tensor, x2: torch.Tensor | None = None, *, arch: str = "mlp", depth: int = 1, q: int = 3,
           readout: str = "flatten", kind: str = "ntk", bias: float = 0.0, chunk: int = 2**22) -> torch.Tensor:
    """The infinite-width kernel between x1: [n, d] and x2: [m, d] (x1 when None) → [n, m] float64, on x1's
    device. ``chunk`` bounds the number of float64 values held per intermediate (rows are processed in
    blocks; the GAP kernel needs d² values per pair).

    A zero input (or, for the CNN, a zero patch) is allowed: with ``bias`` 0 its kernel with every input is
    0, the limit of K(εx, x') = ε K(x, x') (ReLU kernels without bias are positively homogeneous)."""
    x1 = check_tensor("x1", x1, ndim=2, shape="[n, d]")
    if x1.shape[1] == 0:
        raise ValueError("x1 must have shape [n, d] with d ≥ 1 input coordinates, got d = 0")
    x2 = x1 if x2 is None else check_tensor("x2", x2, ndim=2, shape=f"[m, {x1.shape[1]}]")
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(f"x2 must have shape [m, {x1.shape[1]}], got {tuple(x2.shape)}")
    d = x1.shape[1]
    depth, q, bias = _check(arch, depth, q, readout, kind, bias, d)
    chunk = check_int("chunk", chunk, 1)
    n, m = len(x1), len(x2)
    if arch == "mlp":  # the output and about five [n, m] float64 intermediates
        need = 6 * 8 * n * m
    else:  # the output, and about eight intermediates per block of rows (at least one row)
        per_row = m * d * (d if readout == "gap" else 1)
        need = 8 * n * m + 8 * 8 * min(n, max(1, chunk // max(per_row, 1))) * per_row
    check_memory(f"the kernel of x1 ({n} rows) with x2 ({m} rows)", need)
    x1 = x1.to(torch.float64)
    x2 = x2.to(device=x1.device, dtype=torch.float64)
    if arch == "mlp":
        s12 = 2 * x1 @ x2.T / d + bias
        s11 = 2 * (x1 * x1).sum(1, keepdim=True) / d + bias
        s22 = 2 * (x2 * x2).sum(1)[None] / d + bias
        return _mlp(s12, s11, s22, depth, kind, bias)
    # first layer: the mean over each patch of the products, times the He variance 2
    w11, w22 = 2 * _window(x1 * x1, q) + bias, 2 * _window(x2 * x2, q) + bias
    per_row = m * d * (d if readout == "gap" else 1)
    rows = max(1, chunk // max(per_row, 1))
    out = []
    for i in range(0, n, rows):
        a = x1[i:i + rows]
        if readout == "flatten":
            s12 = 2 * _window(a[:, None, :] * x2[None], q) + bias
            out.append(_cnn_flatten(s12, w11[i:i + rows, None, :], w22[None], depth, q, kind, bias))
        else:
            prod = a[:, None, :, None] * x2[None, :, None, :]  # [r, m, p, p']
            s12 = 2 * _window(prod, q, (-2, -1)) + bias
            out.append(_cnn_gap(s12, w11[i:i + rows, None, :, None], w22[None, :, None, :], depth, q, kind, bias))
    return torch.cat(out)


# ---------------------------------------------------------------- the hypercube, subsets and the FWHT

def _cube_d(d: int) -> int:
    return check_int("d", d, 1, MAX_D)


def hypercube_points(d: int, device=None) -> torch.Tensor:
    """All 2^d points of {-1, 1}^d as [2^d, d] float64, in the order of ``data.hypercube(d)``."""
    d = _cube_d(d)
    idx = torch.arange(2**d, device=check_device("device", device))
    return (1 - 2 * ((idx[:, None] >> torch.arange(d, device=idx.device)) & 1)).to(torch.float64)


def subset_index(S: Iterable[int], d: int) -> int:
    """The index (bit mask) of the subset S ⊆ {0, …, d−1}."""
    d = _cube_d(d)
    S = [check_int("S[i]", i, 0, d - 1) for i in _subset("S", S)]
    if len(set(S)) != len(S):
        raise ValueError(f"S must not repeat a coordinate, got {S}")
    return sum(1 << i for i in S)


def subset_members(index: int, d: int) -> list[int]:
    """The coordinates of the subset with bit mask ``index``."""
    d = _cube_d(d)
    index = check_int("index", index, 0, 2**d - 1)
    return [i for i in range(d) if index >> i & 1]


def _popcount(r: torch.Tensor) -> torch.Tensor:
    """Number of set bits of each entry of an int64 tensor of values below 2^32 (SWAR)."""
    r = r - ((r >> 1) & 0x55555555)
    r = (r & 0x33333333) + ((r >> 2) & 0x33333333)
    r = (r + (r >> 4)) & 0x0F0F0F0F
    return ((r * 0x01010101) & 0xFFFFFFFF) >> 24


def subset_degree(d: int, device=None) -> torch.Tensor:
    """|S| of every subset: [2^d] int64."""
    return _popcount(torch.arange(2 ** _cube_d(d), device=check_device("device", device)))


def subset_spread(d: int, device=None) -> torch.Tensor:
    """Spatial spread of every subset: [2^d] int64, the length of the shortest circular arc of positions
    covering S (0 for the empty set, 1 for a single coordinate, 2 for an adjacent pair, d at most).

    It is d minus the longest circular run of positions outside S: after t rounds of ``m &= rotate(m)`` on
    the complement m, a bit survives exactly where a run of t + 1 outside positions starts."""
    d = _cube_d(d)
    full = 2**d - 1
    m = ~torch.arange(2**d, device=check_device("device", device)) & full
    longest = torch.zeros_like(m)
    for _ in range(d):
        longest += m != 0
        m = m & (((m << 1) | (m >> (d - 1))) & full)
    return d - longest


def shift_orbits(d: int, device=None) -> torch.Tensor:
    """For every subset, the smallest index among its circular shifts: [2^d] int64 (an orbit label)."""
    d = _cube_d(d)
    idx = torch.arange(2**d, device=check_device("device", device))
    best, cur = idx.clone(), idx.clone()
    mask = 2**d - 1
    for _ in range(d - 1):
        cur = ((cur << 1) | (cur >> (d - 1))) & mask
        best = torch.minimum(best, cur)
    return best


def receptive_field(depth: int, q: int) -> int:
    """Number of input positions one output position of a depth-L, filter-q CNN sees: L(q − 1) + 1."""
    return check_int("depth", depth, 1, 64) * (check_int("q", q, 1) - 1) + 1


def fwht(v: torch.Tensor) -> torch.Tensor:
    """Unnormalised Walsh–Hadamard transform along the last axis (length 2^d): out[S] = Σ_r (−1)^|S&r| v[r]."""
    v = check_tensor("v", v, ndim=tuple(range(1, 65)), shape="[..., 2^d]")
    n = v.shape[-1]
    d = n.bit_length() - 1
    if n < 1 or 2**d != n:
        raise ValueError(f"the last axis of v must have length 2^d, got {n}")
    batch = v.shape[:-1]
    for i in range(d):
        v = v.reshape(*batch, n >> (i + 1), 2, 1 << i)
        v = torch.stack((v[..., 0, :] + v[..., 1, :], v[..., 0, :] - v[..., 1, :]), dim=-2)
    return v.reshape(*batch, n)


def kernel_z(d: int, *, arch: str = "mlp", depth: int = 1, q: int = 3, kind: str = "ntk", bias: float = 0.0,
             device=None, chunk: int = 2**22) -> torch.Tensor:
    """k(z) = K(1, z) at every point z of the cube (the order of ``data.hypercube``): [2^d] float64. Only
    for kernels of the form k(x ⊙ x'): the MLP, and the CNN with a flatten readout."""
    d = _cube_d(d)
    depth, q, bias = _check(arch, depth, q, "flatten", kind, bias, d)
    chunk = check_int("chunk", chunk, 1)
    dev = check_device("device", device)
    s = torch.tensor(2.0 + bias, dtype=torch.float64, device=dev)  # the first layer's variance at x = x'
    if arch == "mlp":  # k depends on z only through its mean: evaluate at the d + 1 values, then gather
        levels = 1 - 2 * torch.arange(d + 1, dtype=torch.float64, device=dev) / d
        k = _mlp(2 * levels + bias, s, s, depth, kind, bias)
        return k[subset_degree(d, dev)]
    rf = receptive_field(depth, q)
    if rf < d:
        # the readout term of position p depends on z only through the rf positions p sees: evaluate it once
        # per pattern of a window (2^rf inputs), then average the d windows of every z by bit rotations
        a = depth * ((q - 1) // 2)  # the window of position 0 starts a positions to its left
        c = torch.arange(2**rf, device=dev)
        w = (1 - 2 * ((c[:, None] >> torch.arange(rf, device=dev)) & 1)).to(torch.float64)
        z = torch.ones(2**rf, d, dtype=torch.float64, device=dev)
        z[:, (torch.arange(rf, device=dev) - a) % d] = w
        diag = torch.full_like(z, 2.0 + bias)
        g = _cnn_flatten(2 * _window(z, q) + bias, diag, diag, depth, q, kind, bias, mean=False)[:, 0]
        r = torch.arange(2**d, device=dev)
        k = torch.zeros(2**d, dtype=torch.float64, device=dev)
        full, low = 2**d - 1, 2**rf - 1
        for p in range(d):
            s = (p - a) % d
            rot = ((r >> s) | (r << (d - s))) & full
            k += g[rot & low]
        return k / d
    out = []
    idx = torch.arange(2**d, device=dev)
    bits = torch.arange(d, device=dev)
    rows = max(1, chunk // d)
    for i in range(0, 2**d, rows):
        z = (1 - 2 * ((idx[i:i + rows, None] >> bits) & 1)).to(torch.float64)
        diag = torch.full_like(z, 2.0 + bias)
        out.append(_cnn_flatten(2 * _window(z, q) + bias, diag, diag, depth, q, kind, bias))
    return torch.cat(out)


@dataclass
class Spectrum:
    """All 2^d eigenvalues of a kernel on {-1, 1}^d (uniform measure), indexed by subset bit mask.

    ``eigenvalues``: [2^d] float64, λ_S for S = index; ``degree``: [2^d] |S|; ``spread``: [2^d] the circular
    span of S (see :func:`subset_spread`); ``config``: the kernel's settings. The eigenvalues sum to k(1) =
    K(x, x), the trace of the integral operator.
    """

    d: int
    eigenvalues: torch.Tensor
    degree: torch.Tensor
    spread: torch.Tensor
    config: dict

    def of(self, S: Iterable[int]) -> float:
        """λ_S for a subset given by its coordinates."""
        return float(self.eigenvalues[subset_index(S, self.d)])

    def by_degree(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Max and min eigenvalue at each degree k = 0…d: two [d + 1] tensors."""
        hi = torch.full((self.d + 1,), -math.inf, dtype=torch.float64, device=self.eigenvalues.device)
        lo = torch.full_like(hi, math.inf)
        hi = hi.scatter_reduce(0, self.degree, self.eigenvalues, "amax")
        lo = lo.scatter_reduce(0, self.degree, self.eigenvalues, "amin")
        return hi, lo

    def grid(self, reduce: str = "amax") -> torch.Tensor:
        """Eigenvalue reduced (``"amax"``, ``"amin"`` or ``"mean"``) over each (degree, spread) cell:
        [d + 1, d + 1], NaN where no subset has that degree and spread."""
        check_choice("reduce", reduce, ("amax", "amin", "mean"))
        cell = self.degree * (self.d + 1) + self.spread
        init = {"amax": -math.inf, "amin": math.inf, "mean": 0.0}[reduce]
        out = torch.full(((self.d + 1) ** 2,), init, dtype=torch.float64, device=self.eigenvalues.device)
        out = out.scatter_reduce(0, cell, self.eigenvalues, reduce, include_self=reduce != "mean")
        count = torch.zeros_like(out).scatter_add(0, cell, torch.ones_like(self.eigenvalues))
        return out.masked_fill(count == 0, math.nan).view(self.d + 1, self.d + 1)


def spectrum(d: int, *, arch: str = "mlp", depth: int = 1, q: int = 3, kind: str = "ntk", bias: float = 0.0,
             device=None) -> Spectrum:
    """Every Walsh eigenvalue λ_S = 2^{-d} Σ_z k(z) χ_S(z) of the MLP or flatten-CNN kernel on {-1, 1}^d,
    by one fast Walsh–Hadamard transform of k (O(d·2^d)); d ≤ 24. For a GAP readout use
    :func:`dense_spectrum`: its kernel is not a function of x ⊙ x' alone."""
    d = _cube_d(d)
    dev = check_device("device", device)
    k = kernel_z(d, arch=arch, depth=depth, q=q, kind=kind, bias=bias, device=dev)
    lam = fwht(k) / 2**d
    config = {"arch": arch, "depth": depth, "q": q if arch == "cnn" else None, "kind": kind, "bias": bias}
    return Spectrum(d, lam, subset_degree(d, dev), subset_spread(d, dev), config)


def gram(d: int, **kw) -> torch.Tensor:
    """The 2^d × 2^d Gram matrix of ``kernel`` on every point of the cube (``kw``: kernel's settings, and
    ``device``). Its size is checked against :data:`widgets.core.checks.MEMORY_BUDGET_BYTES` first."""
    unknown = sorted(set(kw) - _GRAM_KW)
    if unknown:
        raise TypeError(f"gram got unexpected keyword arguments {unknown}; it takes {sorted(_GRAM_KW)}")
    d = _cube_d(d)
    device = check_device("device", kw.pop("device", None))
    check_memory(f"the Gram matrix at d = {d} (2^{d} × 2^{d} float64)", 6 * 8 * 4**d)
    x = hypercube_points(d, device)
    return kernel(x, **kw)


_GRAM_KW = {"arch", "depth", "q", "readout", "kind", "bias", "chunk", "device"}


def dense_spectrum(d: int, device=None, **kw) -> torch.Tensor:
    """Eigenvalues of the integral operator on the uniform cube, by a dense ``eigh`` of the Gram matrix
    divided by 2^d: [2^d] in ascending order. O(8^d); d ≤ 12. Works for every readout."""
    d = check_int("d", d, 1, 12)
    return torch.linalg.eigvalsh(gram(d, device=device, **kw) / 2**d)


def walsh(S: Iterable[int], idx: torch.Tensor) -> torch.Tensor:
    """The Walsh function χ_S(x) = Π_{i∈S} x_i at the cube points with indices ``idx`` (the order of
    :func:`hypercube_points`, where bit i of the index set means x_i = −1): (−1)^|S ∩ bits(idx)|, float64 of
    idx's shape (1 for the empty set). Indices, not points, so no point array is ever built."""
    S = [check_int("S[i]", i, 0, MAX_D - 1) for i in _subset("S", S)]
    idx = check_tensor("idx", idx)
    if idx.is_floating_point():
        raise TypeError(f"idx must be an integer tensor of cube point indices, got dtype {idx.dtype}")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= 2**MAX_D):
        raise ValueError(f"idx must hold point indices in [0, 2^{MAX_D}), got values in "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    if len(set(S)) != len(S):
        raise ValueError(f"S must not repeat a coordinate, got {S}")
    mask = sum(1 << i for i in S)
    return 1.0 - 2.0 * (_popcount(idx & mask) % 2).to(torch.float64)


def _subset(name: str, S) -> list:
    """S as a list of coordinates: a set, list, tuple or range (an int or a string is a TypeError)."""
    if isinstance(S, set | frozenset):
        return sorted(S)
    return check_sequence(name, S)
