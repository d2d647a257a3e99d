"""Tests of widgets.core.solvers against independent references: scikit-learn's SVM and logistic regression,
numpy's pseudo-inverse, least squares and SVD, the normal equations, and feasibility of the completion."""


import math

import numpy as np
import pytest
import torch

from widgets import implicit_bias as ib
from widgets.core import solvers

# ---------------------------------------------------------------- max margin and logistic regression


def _symmetrize(x, y):
    """Add (−x, −y) for every point: the intercept of the SVM is then 0 by symmetry, so scikit-learn's SVC
    (which always fits one) must find the same w as an SVM through the origin."""
    return torch.cat([x, -x]), torch.cat([y, -y])


@pytest.mark.parametrize("support,seed", [("tilted", 0), ("symmetric", 1), ("tilted", 3)])
def test_svm_matches_sklearn(support, seed):
    from sklearn.svm import SVC

    x, y = ib.separable_points(30, 0.5, support, seed)
    ours = solvers.hard_margin_svm(x, y)
    xs, ys = _symmetrize(x, y)
    ref = SVC(kernel="linear", C=1e6, tol=1e-8).fit(xs.numpy(), ys.numpy())
    assert abs(ref.intercept_[0]) < 1e-4
    assert torch.allclose(ours["w"], torch.tensor(ref.coef_[0]), atol=1e-4)


def test_svm_random_line_data_matches_sklearn():
    from sklearn.svm import SVC

    g = torch.Generator().manual_seed(5)
    x = torch.randn(60, 3, generator=g, dtype=torch.float64)
    y = torch.sign(x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    ours = solvers.hard_margin_svm(x, y)
    xs, ys = _symmetrize(x, y)
    ref = SVC(kernel="linear", C=1e6, tol=1e-10).fit(xs.numpy(), ys.numpy())
    assert torch.allclose(ours["w"], torch.tensor(ref.coef_[0]), rtol=1e-3, atol=1e-3)
    # KKT: every margin ≥ 1, equality where α > 0
    m = (y[:, None] * x) @ ours["w"]
    assert m.min() > 1 - 1e-6
    assert torch.allclose(m[ours["alpha"] > 1e-8], torch.ones(1, dtype=torch.float64), atol=1e-6)


def test_svm_rejects_nonseparable_and_bad_labels():
    with pytest.raises(ValueError, match="not linearly separable"):
        solvers.hard_margin_svm(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]).double(), torch.tensor([1.0, 1.0]).double(),
                                max_iter=2000)
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [0.0, 1.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="y must"):
        solvers.hard_margin_svm(x, torch.tensor([1.0, 2.0, -1.0]).double())
    with pytest.raises(ValueError, match="origin"):
        solvers.hard_margin_svm(torch.zeros(2, 2, dtype=torch.float64), torch.tensor([1.0, -1.0]).double())


def test_logistic_minimizer_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    p = ib.MaxMarginParams(steps=10, check_at=10, records=3)
    res = ib.max_margin(p)
    z = res["y_flipped"][:, None] * res["x"]
    ref = LogisticRegression(fit_intercept=False, C=1e12, tol=1e-12, max_iter=10_000).fit(
        res["x"].numpy(), (res["y_flipped"] > 0).numpy())
    assert torch.allclose(res["w_star"], torch.tensor(ref.coef_[0]), atol=1e-5)
    assert not ib.separable_2d(z)


# ---------------------------------------------------------------- matrix completion


def test_min_nuclear_completion_is_feasible_and_minimal():
    M, mask = ib.low_rank_problem(20, 2, 0.5, 1, min_seen=3)
    X = solvers.min_nuclear_completion(M[None], mask[None], iters=1500)[0]
    assert ((X - M) * mask).norm() / (M * mask).norm() < 1e-3
    nuc = torch.linalg.svdvals(X).sum()
    assert nuc <= torch.linalg.svdvals(M).sum() + 1e-3  # M itself is feasible
    # fully observed: the only feasible point is M
    full = solvers.min_nuclear_completion(M[None], torch.ones_like(mask)[None], iters=200)[0]
    assert torch.allclose(full, M, atol=1e-5)


# ---------------------------------------------------------------- least squares


def features(S=2, n=30, N=45, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(S, n, N, generator=g, dtype=torch.float64), torch.randn(n, 3, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("N", [12, 29, 30, 31, 90])
def test_min_norm_matches_numpy_pinv(N):
    phi, Y = features(N=N)
    a = solvers.least_squares(phi, Y)
    for s in range(phi.shape[0]):
        ref = np.linalg.pinv(phi[s].numpy()) @ Y.numpy()
        np.testing.assert_allclose(a[s].numpy(), ref, rtol=1e-6, atol=1e-8)
        lst = np.linalg.lstsq(phi[s].numpy(), Y.numpy(), rcond=None)[0]  # also minimum-norm
        np.testing.assert_allclose(a[s].numpy(), lst, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("N", [10, 30, 80])
def test_ridge_matches_normal_equations(N):
    phi, Y = features(N=N)
    n, lam = phi.shape[1], 1e-2
    a = solvers.least_squares(phi, Y, lam=lam)
    for s in range(phi.shape[0]):
        P = phi[s].numpy()
        ref = np.linalg.solve(P.T @ P + n * lam * np.eye(N), P.T @ Y.numpy())
        np.testing.assert_allclose(a[s].numpy(), ref, rtol=1e-7, atol=1e-9)


def test_thin_svd_matches_svd_and_rank_deficiency():
    phi, _ = features(N=50)
    phi[:, :, 25:] = phi[:, :, :25]  # rank 25 < min(n, N) = 30: five singular values must be cut to zero
    U, s, V = solvers.thin_svd(phi)
    for k in range(phi.shape[0]):
        ref = np.linalg.svd(phi[k].numpy(), compute_uv=False)
        np.testing.assert_allclose(s[k, :25].numpy(), ref[:25], rtol=1e-8)
    assert (s[:, 25:] == 0).all()
    np.testing.assert_allclose((U[:, :, :25] * s[:, None, :25]) @ V[:, :, :25].transpose(1, 2), phi, atol=1e-10)


def test_least_squares_bad_input():
    with pytest.raises(ValueError, match="phi"):
        solvers.least_squares(torch.zeros(4, 4), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="lam"):
        solvers.least_squares(*features(), lam=-1.0)


# ---------------------------------------------------------------- bad input

_NAN = float("nan")
_XS = torch.tensor([[1.0, 2.0], [2.0, 1.0], [-1.0, -2.0]], dtype=torch.float64)
_YS = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
_M = torch.ones(2, 3, 3, dtype=torch.float64)
_MASK = torch.eye(3, dtype=torch.float64).expand(2, 3, 3).clone()
_PHI = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
_HUGE = torch.ones(1, 1, 1, dtype=torch.float64)  # expanded: a huge shape without the memory
_FACT = dict(depth=[1, 2], init=[0.1, 0.1], seeds=[0, 1], lr=0.1, steps=2, records=2)
_BAD_INPUTS = [
    (solvers.hard_margin_svm, (_XS[0], _YS), {}, ValueError, r"x must have shape \[n, d\]"),
    (solvers.hard_margin_svm, (_XS, _YS[:2]), {}, ValueError, r"y must have shape \[3\]"),
    (solvers.hard_margin_svm, (_XS, torch.tensor([1.0, 0.0, 1.0])), {},
     ValueError, r"y must hold labels in \{-1, \+1\}"),
    (solvers.hard_margin_svm, (_XS, _YS), {"tol": 0}, ValueError, r"tol must be a finite number in \(0"),
    (solvers.hard_margin_svm, (_XS, _YS), {"max_iter": 0}, ValueError, r"max_iter must be an integer"),
    (solvers.hard_margin_svm, (torch.full((3, 2), _NAN), _YS), {}, ValueError, r"x must hold only finite"),
    (solvers.hard_margin_svm, (torch.zeros(3, 2), _YS), {}, ValueError, r"x must not contain the origin"),
    (solvers.hard_margin_svm, (_XS.tolist(), _YS), {}, TypeError, r"x must be a torch\.Tensor"),
    (solvers.logistic_minimizer, (torch.ones(3),), {}, ValueError, r"z must have shape \[n, d\]"),
    (solvers.logistic_minimizer, (torch.full((3, 2), math.inf),), {}, ValueError, r"z must hold only finite"),
    (solvers.logistic_minimizer, (_XS,), {"iters": 0}, ValueError, r"iters must be an integer"),
    (solvers.logistic_minimizer, (torch.ones(0, 2),), {}, ValueError, r"z must have at least 1 entries"),
    (solvers.logistic_minimizer, (torch.tensor([[1.0, 1.0], [2.0, 1.0], [1.0, 3.0]]),), {}, ValueError,
     r"z must not be linearly separable"),
    (solvers.min_nuclear_completion, (_M[0], _MASK[0]), {}, ValueError, r"M must have shape \[B, s, s\]"),
    (solvers.min_nuclear_completion, (_M, _MASK[:1]), {}, ValueError, r"mask must have M's shape"),
    (solvers.min_nuclear_completion, (_M, _MASK / 2), {}, ValueError, r"mask must hold only 0 and 1"),
    (solvers.min_nuclear_completion, (_M, _MASK), {"iters": 0}, ValueError,
     r"iters must be an integer in \[1, 1000000\]"),
    (solvers.min_nuclear_completion, (_M, _MASK), {"lam_final": 0.0},
     ValueError, r"lam_final must be a finite number in \(0"),
    (solvers.min_nuclear_completion, (_M, _MASK), {"lam_final": -1.0}, ValueError, r"lam_final must be"),
    (solvers.min_nuclear_completion, (_M * 0, _MASK), {}, ValueError, r"M must have a nonzero observed entry"),
    (solvers.min_nuclear_completion, (_M, _MASK * 0), {}, ValueError, r"M must have a nonzero observed entry"),
    (solvers.min_nuclear_completion, (_M * _NAN, _MASK), {}, ValueError, r"M must hold only finite"),
    (solvers.min_nuclear_completion, (_HUGE.expand(10, 10**5, 10**5), _HUGE.expand(10, 10**5, 10**5)), {},
     ValueError, r"completion of 10 matrices of 100000 × 100000.* GB"),
    (solvers.thin_svd, (_PHI[0],), {}, ValueError, r"phi must have shape \[S, n, N\]"),
    (solvers.thin_svd, (_PHI * _NAN,), {}, ValueError, r"phi must hold only finite"),
    (solvers.thin_svd, (_PHI,), {"rcond": -1.0}, ValueError, r"rcond must be a finite number in \[0, 1\)"),
    (solvers.thin_svd, (_PHI,), {"rcond": 1.0}, ValueError, r"rcond must be"),
    (solvers.thin_svd, (torch.ones(1, 2, 2, dtype=torch.long),), {}, TypeError, r"phi must be a floating tensor"),
    (solvers.thin_svd, (torch.ones(1, 1, 1).expand(10**4, 10**3, 10**3),), {}, ValueError, r"thin SVD of phi.* GB"),
    (solvers.filter_factors, (torch.ones(3), -1.0, 4), {}, ValueError, r"lam must be a finite number in \[0"),
    (solvers.filter_factors, (torch.ones(3), 0.1, 0), {}, ValueError, r"n must be an integer"),
    (solvers.filter_factors, (torch.tensor([1.0, -1.0]), 0.1, 4), {}, ValueError, r"s must hold singular values"),
    (solvers.filter_factors, (torch.tensor([1.0, _NAN]), 0.1, 4), {}, ValueError, r"s must hold only finite"),
    (solvers.least_squares, (_PHI, torch.ones(4, 1)), {"lam": -1e-3},
     ValueError, r"lam must be a finite number in \[0"),
    (solvers.least_squares, (_PHI, torch.ones(4, 1)), {"lam": _NAN}, ValueError, r"lam must be a finite number"),
    (solvers.least_squares, (_PHI, torch.ones(5, 1)), {}, ValueError, r"Y must have shape \[4, c\]"),
    (solvers.least_squares, (_PHI, torch.ones(3, 4, 1)), {}, ValueError, r"Y must have shape \[4, c\] or \[2, 4, c\]"),
    (solvers.least_squares, (_PHI, torch.ones(4)), {}, ValueError, r"Y must have shape"),
    (solvers.least_squares, (_PHI[0], torch.ones(4, 1)), {}, ValueError, r"phi must have shape \[S, n, N\]"),
    (solvers.least_squares, (_PHI, torch.full((4, 1), math.inf)), {}, ValueError, r"Y must hold only finite"),
    (solvers.logistic_gd, (_XS[None], 0.0, 10, 2), {}, ValueError, r"lr must be a finite number in \(0"),
    (solvers.logistic_gd, (_XS[None], 0.1, 0, 2), {}, ValueError, r"steps must be an integer"),
    (solvers.logistic_gd, (_XS[None], 0.1, 10, 1), {}, ValueError, r"records must be an integer in \[2"),
    (solvers.logistic_gd, (_XS, 0.1, 10, 2), {}, ValueError, r"z must have shape \[R, n, d\]"),
    (solvers.logistic_gd, (_XS[None] * _NAN, 0.1, 10, 2), {}, ValueError, r"z must hold only finite"),
    (solvers.logistic_gd, (_XS[None], _NAN, 10, 2), {}, ValueError, r"lr must be a finite number"),
    (solvers.deep_factorization_gd, (_M, _MASK), {**_FACT, "depth": [4, 1]},
     ValueError, r"depth must be an integer in \[1, 3\]"),
    (solvers.deep_factorization_gd, (_M, _MASK[:1]), _FACT, ValueError, r"M and mask must both have shape"),
    (solvers.deep_factorization_gd, (_M[:, :2], _MASK[:, :2]), _FACT,
     ValueError, r"M and mask must both have shape \[K, s, s\]"),
    (solvers.deep_factorization_gd, (_M, _MASK), {**_FACT, "device": "bogus"},
     ValueError, r"device must name a device"),
    (solvers.deep_factorization_gd, (_M, _MASK), {**_FACT, "init": [0.0, 0.1]},
     ValueError, r"init must be a finite number in \(0"),
    (solvers.deep_factorization_gd, (_M, _MASK), {**_FACT, "seeds": [0]},
     ValueError, r"seeds must have one entry per member \(2\)"),
    (solvers.deep_factorization_gd, (_M, _MASK), {**_FACT, "depth": 2}, TypeError, r"depth must be a list or tuple"),
    (solvers.deep_factorization_gd, (_M, _MASK), {**_FACT, "lr": _NAN}, ValueError, r"lr must be a finite number"),
    (solvers.deep_factorization_gd, (_M, _MASK), {**_FACT, "dtype": "float32"},
     TypeError, r"dtype must be None or a floating"),
    (solvers.deep_factorization_gd, (_M * 0, _MASK), _FACT, ValueError, r"M must have a nonzero observed entry"),
    (solvers.deep_factorization_gd, (_M, _MASK), {**_FACT, "records": 1},
     ValueError, r"records must be an integer in \[2"),
    (solvers.deep_factorization_gd, (_M, _MASK * 3), _FACT, ValueError, r"mask must hold only 0 and 1"),
    (solvers.deep_factorization_gd, (_HUGE.expand(2, 10**5, 10**5), _HUGE.expand(2, 10**5, 10**5)),
     _FACT, ValueError, r"factorization of 2 matrices of 100000 × 100000.* GB"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
