import math

import pytest
import torch

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
