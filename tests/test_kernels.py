import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from widgets.core import data, kernels


@pytest.mark.parametrize("arch,depth,q", [("mlp", 1, 3), ("mlp", 3, 3), ("cnn", 1, 3), ("cnn", 2, 3),
                                          ("cnn", 3, 2), ("cnn", 2, 5)])
def test_fwht_spectrum_matches_dense_eigendecomposition(arch, depth, q):
    d = 8
    fast = kernels.spectrum(d, arch=arch, depth=depth, q=q).eigenvalues.sort().values
    dense = kernels.dense_spectrum(d, arch=arch, depth=depth, q=q)
    assert (fast - dense).abs().max() / dense.abs().max() < 1e-6


def test_fwht_spectrum_matches_dense_at_d10_nngp():
    fast = kernels.spectrum(10, arch="mlp", depth=2, kind="nngp").eigenvalues.sort().values
    dense = kernels.dense_spectrum(10, arch="mlp", depth=2, kind="nngp")
    assert (fast - dense).abs().max() / dense.abs().max() < 1e-6


def test_fwht_is_the_hadamard_matrix():
    d = 6
    v = torch.randn(3, 2**d, dtype=torch.float64)
    r = torch.arange(2**d)
    H = (-1.0) ** kernels._popcount(r[:, None] & r[None]).to(torch.float64)
    assert torch.allclose(kernels.fwht(v), v @ H.T)


def test_eigenvalue_is_the_walsh_coefficient_of_the_kernel():
    # λ_S = E_x'[K(x, x') χ_S(x')] χ_S(x) for any x: a direct check of one eigenpair on the Gram matrix
    d = 7
    x = kernels.hypercube_points(d)
    G = kernels.kernel(x, arch="cnn", depth=2, q=3)
    sp = kernels.spectrum(d, arch="cnn", depth=2, q=3)
    for S in ([0, 1], [2, 3, 4], [5]):
        chi = kernels.walsh(S, torch.arange(2**d))  # point r of hypercube_points has index r
        assert torch.allclose(G @ chi / 2**d, sp.of(S) * chi, atol=1e-12)


def test_points_match_data_hypercube_order():
    assert torch.equal(kernels.hypercube_points(5).float(), data.hypercube(5))


def test_kernel_z_is_the_first_row_of_the_gram_matrix():
    for arch, depth, q in (("mlp", 2, 3), ("cnn", 2, 3), ("cnn", 4, 3)):  # (cnn, 4, 3): receptive field ≥ d
        G = kernels.gram(8, arch=arch, depth=depth, q=q)
        assert torch.allclose(G[0], kernels.kernel_z(8, arch=arch, depth=depth, q=q), atol=1e-13)


def test_degree_and_spread_against_brute_force():
    d = 7
    spread, degree = kernels.subset_spread(d), kernels.subset_degree(d)
    for S in range(2**d):
        members = kernels.subset_members(S, d)
        best = 0 if not members else min(
            n for n in range(1, d + 1) for s in range(d) if all((i - s) % d < n for i in members))
        assert int(spread[S]) == best and int(degree[S]) == len(members)
    assert kernels.subset_index([0, 2], d) == 5


def test_mlp_eigenvalues_depend_only_on_degree():
    sp = kernels.spectrum(10, arch="mlp", depth=2)
    hi, lo = sp.by_degree()
    assert ((hi - lo) / hi.abs()).max() < 1e-9
    assert sp.of([0, 1]) == pytest.approx(sp.of([3, 8]), rel=1e-12)


def test_cnn_zero_outside_receptive_field_and_positive_inside():
    sp = kernels.spectrum(12, arch="cnn", depth=2, q=3)
    rf = kernels.receptive_field(2, 3)
    assert sp.eigenvalues[sp.spread > rf].abs().max() < 1e-12
    assert sp.of([0, 4]) > 1e-6 and abs(sp.of([0, 5])) < 1e-12
    # eigenvalues sum to the trace K(x, x)
    assert float(sp.eigenvalues.sum()) == pytest.approx(float(kernels.kernel_z(12, arch="cnn", depth=2)[0]))


def test_gap_spectrum_keeps_one_mode_per_shift_orbit():
    # pooling averages the flatten kernel over circular shifts of x': each shift orbit of subsets keeps one
    # eigenvalue (the flatten one) and loses the rest. The dense GAP kernel is computed independently.
    d = 6
    for depth in (1, 2):
        lam = kernels.spectrum(d, arch="cnn", depth=depth, q=3).eigenvalues
        reps = torch.unique(kernels.shift_orbits(d))
        predicted = torch.zeros(2**d, dtype=torch.float64)
        predicted[:len(reps)] = lam[reps]
        dense = kernels.dense_spectrum(d, arch="cnn", depth=depth, q=3, readout="gap")
        assert (predicted.sort().values - dense).abs().max() < 1e-10


def test_bad_arguments():
    with pytest.raises(ValueError, match="q"):
        kernels.spectrum(6, arch="cnn", q=7)
    with pytest.raises(ValueError, match="d"):
        kernels.spectrum(25)
    with pytest.raises(ValueError, match="depth"):
        kernels.spectrum(6, depth=0)
    with pytest.raises(ValueError, match="depth"):
        kernels.kernel(torch.ones(2, 4), depth=0)
    with pytest.raises(ValueError, match="readout"):
        kernels.kernel(torch.ones(2, 4), arch="mlp", readout="gap")
    with pytest.raises(ValueError, match="arch"):
        kernels.spectrum(6, arch="rnn")
    with pytest.raises(ValueError, match="x2"):
        kernels.kernel(torch.ones(2, 4), torch.ones(2, 5))
    with pytest.raises(ValueError, match="2\\^d"):
        kernels.fwht(torch.ones(6))
    assert kernels.receptive_field(3, 3) == 7 and not math.isnan(kernels.spectrum(4).eigenvalues.sum())


# ---------------------------------------------------------------- bad input, zero inputs, and no NaN

_NAN = float("nan")
_SPEC = kernels.spectrum(4)
_BAD_INPUTS = [
    (kernels.kernel, (torch.ones(3),), {}, ValueError, r"x1 must have shape \[n, d\]"),
    (kernels.kernel, ([[1.0, 2.0]],), {}, TypeError, r"x1 must be a torch\.Tensor"),
    (kernels.kernel, (torch.ones(2, 3, dtype=torch.complex64),), {}, TypeError, r"x1 must be a real"),
    (kernels.kernel, (torch.ones(2, 0),), {}, ValueError, r"x1 .*d ≥ 1"),
    (kernels.kernel, (torch.tensor([[_NAN, 1.0]]),), {}, ValueError, r"x1 must hold only finite"),
    (kernels.kernel, (torch.ones(2, 2), torch.tensor([[1.0, math.inf]])), {}, ValueError, r"x2 must hold only finite"),
    (kernels.kernel, (torch.ones(2, 3), torch.ones(2, 4)), {}, ValueError, r"x2 must have shape \[m, 3\]"),
    (kernels.kernel, (torch.ones(2, 3), torch.ones(4)), {}, ValueError, r"x2 must have shape"),
    (kernels.kernel, (torch.ones(2, 2),), {"arch": "rnn"}, ValueError, r"arch must be one of"),
    (kernels.kernel, (torch.ones(2, 2),), {"depth": 0}, ValueError, r"depth must be an integer in \[1, 64\]"),
    (kernels.kernel, (torch.ones(2, 2),), {"bias": -1.0}, ValueError, r"bias must be a finite number in \[0"),
    (kernels.kernel, (torch.ones(2, 2),), {"bias": _NAN}, ValueError, r"bias must be a finite number"),
    (kernels.kernel, (torch.ones(2, 2),), {"kind": "gp"}, ValueError, r"kind must be one of"),
    (kernels.kernel, (torch.ones(2, 3),), {"arch": "cnn", "q": 5}, ValueError, r"q must be an integer in \[1, 3\]"),
    (kernels.kernel, (torch.ones(2, 3),), {"readout": "gap"}, ValueError, r"readout='gap' needs arch='cnn'"),
    (kernels.kernel, (torch.ones(2, 3),), {"arch": "cnn", "chunk": 0}, ValueError, r"chunk must be an integer"),
    (kernels.kernel, (torch.ones(1, 2).expand(10**5, 2),), {}, ValueError, r"x1 .*rows.* GB .*budget"),
    (kernels.hypercube_points, (0,), {}, ValueError, r"d must be an integer in \[1, 24\]"),
    (kernels.hypercube_points, (25,), {}, ValueError, r"d must be an integer in \[1, 24\]"),
    (kernels.hypercube_points, (2.5,), {}, ValueError, r"d must be an integer"),
    (kernels.hypercube_points, (3,), {"device": "bogus"}, ValueError, r"device must name a device"),
    (kernels.subset_index, (3, 4), {}, TypeError, r"S must be a list or tuple"),
    (kernels.subset_index, ([5], 3), {}, ValueError, r"S\[i\] must be an integer in \[0, 2\]"),
    (kernels.subset_index, ([1, 1], 3), {}, ValueError, r"S must not repeat"),
    (kernels.subset_index, ([0], 0), {}, ValueError, r"d must be an integer"),
    (kernels.subset_members, (8, 3), {}, ValueError, r"index must be an integer in \[0, 7\]"),
    (kernels.subset_members, (-1, 3), {}, ValueError, r"index must be an integer"),
    (kernels.subset_degree, (0,), {}, ValueError, r"d must be an integer"),
    (kernels.subset_degree, (3,), {"device": "bogus"}, ValueError, r"device must name a device"),
    (kernels.subset_spread, (30,), {}, ValueError, r"d must be an integer in \[1, 24\]"),
    (kernels.subset_spread, (3,), {"device": 3}, TypeError, r"device must be None, a device string"),
    (kernels.shift_orbits, (-1,), {}, ValueError, r"d must be an integer"),
    (kernels.shift_orbits, (3,), {"device": "nope:0"}, ValueError, r"device must"),
    (kernels.receptive_field, (0, 3), {}, ValueError, r"depth must be an integer"),
    (kernels.receptive_field, (2, 0), {}, ValueError, r"q must be an integer"),
    (kernels.fwht, (torch.ones(6),), {}, ValueError, r"the last axis of v must have length 2\^d"),
    (kernels.fwht, (torch.tensor(1.0),), {}, ValueError, r"v must have shape \[\.\.\., 2\^d\]"),
    (kernels.fwht, ([1.0, 2.0],), {}, TypeError, r"v must be a torch\.Tensor"),
    (kernels.fwht, (torch.tensor([1.0, math.inf]),), {}, ValueError, r"v must hold only finite"),
    (kernels.kernel_z, (0,), {}, ValueError, r"d must be an integer"),
    (kernels.kernel_z, (4,), {"kind": "gp"}, ValueError, r"kind must be one of"),
    (kernels.kernel_z, (4,), {"arch": "cnn", "q": 10}, ValueError, r"q must be an integer in \[1, 4\]"),
    (kernels.kernel_z, (4,), {"chunk": 0}, ValueError, r"chunk must be an integer"),
    (kernels.kernel_z, (4,), {"device": "bogus"}, ValueError, r"device must name a device"),
    (kernels.spectrum, (25,), {}, ValueError, r"d must be an integer in \[1, 24\]"),
    (kernels.spectrum, (4,), {"depth": 65}, ValueError, r"depth must be an integer in \[1, 64\]"),
    (kernels.spectrum, (4,), {"bias": _NAN}, ValueError, r"bias must be a finite number"),
    (kernels.spectrum, (4,), {"device": "bogus"}, ValueError, r"device must name a device"),
    (kernels.gram, (16,), {}, ValueError, r"Gram matrix at d = 16.* GB .*budget"),
    (kernels.gram, (3,), {"foo": 1}, TypeError, r"unexpected keyword arguments \['foo'\]"),
    (kernels.gram, (3,), {"device": "bogus"}, ValueError, r"device must name a device"),
    (kernels.gram, (0,), {}, ValueError, r"d must be an integer"),
    (kernels.dense_spectrum, (13,), {}, ValueError, r"d must be an integer in \[1, 12\]"),
    (kernels.dense_spectrum, (3,), {"readout": "gap"}, ValueError, r"readout='gap' needs arch='cnn'"),
    (kernels.walsh, ([25], torch.arange(4)), {}, ValueError, r"S\[i\] must be an integer in \[0, 23\]"),
    (kernels.walsh, ([1, 1], torch.arange(4)), {}, ValueError, r"S must not repeat"),
    (kernels.walsh, ("ab", torch.arange(4)), {}, TypeError, r"S must be a list or tuple"),
    (kernels.walsh, ([0], torch.arange(4.0)), {}, TypeError, r"idx must be an integer tensor"),
    (kernels.walsh, ([0], torch.tensor([-1, 2])), {}, ValueError, r"idx must hold point indices"),
    (kernels.walsh, ([0], [0, 1]), {}, TypeError, r"idx must be a torch\.Tensor"),
    (_SPEC.of, ([9],), {}, ValueError, r"S\[i\] must be an integer in \[0, 3\]"),
    (_SPEC.grid, ("median",), {}, ValueError, r"reduce must be one of"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


@pytest.mark.parametrize("kind,scale", [("ntk", 2.0), ("nngp", 1.0)])
def test_kernel_of_a_zero_input_is_its_limit_zero(kind, scale):
    """Without bias the ReLU kernels are positively homogeneous, K(εx, x') = ε K(x, x') → 0, and the one-layer
    MLP's diagonal has the closed form K(x, x) = scale · ‖x‖²/d (NTK: 2, NNGP: 1)."""
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.5, -2.0]])
    K = kernels.kernel(x, kind=kind)
    assert torch.isfinite(K).all()
    assert torch.equal(K[0], torch.zeros(3, dtype=torch.float64)) and torch.equal(K[:, 0], K[0])
    assert torch.allclose(K.diagonal()[1:], scale * (x[1:].double() ** 2).sum(1) / 2)
    eps = kernels.kernel(torch.tensor([[1e-6, 1e-6]]), x[1:], kind=kind)
    assert eps.abs().max() < 1e-5  # continuous at zero
    for depth in (2, 3):  # deeper: still zero, and homogeneous of degree 1 elsewhere
        Kd = kernels.kernel(x, kind=kind, depth=depth)
        assert torch.equal(Kd[0], torch.zeros(3, dtype=torch.float64))
        assert torch.allclose(kernels.kernel(3 * x, x, kind=kind, depth=depth), 3 * Kd)


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_cnn_kernel_with_zero_patches_is_finite_and_homogeneous(readout):
    x = torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, 1.0, 1.0, 0, 1.0, 0], [0.0] * 6])
    K = kernels.kernel(x, arch="cnn", depth=2, readout=readout)
    assert torch.isfinite(K).all() and torch.equal(K[2], torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(kernels.kernel(2 * x, x, arch="cnn", depth=2, readout=readout), 2 * K)
    # a zero patch contributes zero: the limit from a tiny perturbation of it agrees
    x_eps = x.clone()
    x_eps[0, 1:] = 1e-7
    assert torch.allclose(kernels.kernel(x_eps, x, arch="cnn", depth=2, readout=readout)[0], K[0], atol=1e-5)


_entries = st.sampled_from([0.0, 0.0, 1.0, -1.0, 0.5, -3.0, 1e-3, 20.0])


@settings(max_examples=50, deadline=None, database=None)
@given(rows=st.integers(1, 4), d=st.integers(1, 5), data=st.data(), arch=st.sampled_from(["mlp", "cnn"]),
       depth=st.integers(1, 3), kind=st.sampled_from(["ntk", "nngp"]), bias=st.sampled_from([0.0, 0.1]))
def test_random_valid_inputs_give_a_finite_kernel(rows, d, data, arch, depth, kind, bias):
    x = torch.tensor(data.draw(st.lists(st.lists(_entries, min_size=d, max_size=d), min_size=rows, max_size=rows)))
    readout = data.draw(st.sampled_from(["flatten", "gap"])) if arch == "cnn" else "flatten"
    q = data.draw(st.integers(1, d))
    K = kernels.kernel(x, arch=arch, depth=depth, q=q, readout=readout, kind=kind, bias=bias)
    assert K.shape == (rows, rows) and torch.isfinite(K).all()
    assert torch.isfinite(kernels.spectrum(d, arch=arch, depth=depth, q=q, kind=kind, bias=bias).eigenvalues).all()
