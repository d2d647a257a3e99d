from dataclasses import replace

import pytest
import torch

from widgets import double_descent as dd
from widgets.core import data


def test_peak_after_minimum_on_synthetic_curves():
    # underfitting at the left, classical minimum at index 2, peak at 5, second descent below the minimum
    y = torch.tensor([0.9, 0.5, 0.3, 0.35, 0.45, 0.6, 0.4, 0.25, 0.2])
    assert dd.peak_after_minimum(y, split=5) == 5
    assert dd.peak_after_minimum(y) == 0  # split=0: the global maximum
    x = torch.logspace(-1, 1.3, 200)
    bump = 0.1 + 0.8 * torch.exp(-(torch.log(x) ** 2) / 0.01)  # a sharp peak at x = 1
    assert abs(float(x[dd.peak_after_minimum(bump)]) - 1) < 0.05
    assert dd.peak_after_minimum(torch.tensor([3.0, 2.0, 1.0]), split=2) == 1  # monotone: no peak past the min


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="y"):
        dd.peak_after_minimum(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="split"):
        dd.peak_after_minimum(torch.tensor([1.0, 2.0]), split=5)
    with pytest.raises(ValueError, match="n"):
        replace(dd.RFFParams(), n=5)
    with pytest.raises(ValueError, match="ratios"):
        replace(dd.RFFParams(), ratios=(0.5, -1.0))
    with pytest.raises(ValueError, match="noises"):
        replace(dd.RFFParams(), noises=(1.5,))
    with pytest.raises(ValueError, match="sample_ns"):
        replace(dd.RFFParams(), sample_ns=())
    with pytest.raises(ValueError, match="widths"):
        replace(dd.MLPParams(), widths=(0, 4))
    with pytest.raises(ValueError, match="n must be"):
        dd.MLPParams(n=5000, num_samples=5000)  # no test points left


def test_rff_sweep_peaks_at_threshold_and_ridge_removes_it():
    p = replace(dd.RFFParams(), n=120, seeds=2, ratios=(0.25, 0.8, 1.0, 1.25, 5.0), lambdas=(0.0, 1e-4),
                noises=(0.0, 0.3))
    r = dd.rff_sweep(p)
    err, norm = r["test_err"].mean(0), r["norm"].mean(0)
    assert int(r["N"][dd.peak_after_minimum(err)]) == 120
    assert int(r["N"][dd.peak_after_minimum(norm)]) == 120
    assert int(r["N"][r["smin"].mean(0).argmin()]) == 120
    torch.testing.assert_close(r["ridge_err"][0], r["test_err"])  # λ = 0 is the min-norm fit
    torch.testing.assert_close(r["noise_err"][0], r["test_err"])
    assert r["ridge_err"][1].mean(0)[2] < 0.5 * err[2]
    assert (r["train_mse"][:, 3:] < 1e-12).all()  # past the threshold the fit interpolates
    torch.testing.assert_close(r["ridge_norm"][0], r["norm"])  # λ = 0: the min-norm solution's norm
    # the ridge solution's norm, against the normal equations at N = n
    ds = data.digits(n_train=120, seed=p.seed)
    W, b = dd.rff_draw(ds.x_train.shape[1], 120, 2, p.sigma, p.seed)
    phi = dd.rff_features(ds.x_train.double(), W, b)
    eye = torch.eye(phi.shape[-1], dtype=phi.dtype)
    a = torch.linalg.solve(phi.mT @ phi + 120 * 1e-4 * eye, phi.mT @ dd.one_hot(ds.y_train, 10))
    torch.testing.assert_close(r["ridge_norm"][1][:, 2], a.square().sum((1, 2)).sqrt())
    assert (r["ridge_norm"][1] < r["norm"]).all()  # ridge shrinks the solution




# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_W, _B = torch.zeros(2, 3, 5, dtype=torch.float64), torch.zeros(2, 1, 5, dtype=torch.float64)
_BAD_INPUTS = [
    (dd.RFFParams, (), {"n": 5}, ValueError, r"n must be an integer in \[10, 1500\]"),
    (dd.RFFParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 1000\]"),
    (dd.RFFParams, (), {"sigma": 0.0}, ValueError, r"sigma must be a finite number in \(0, 1000000"),
    (dd.RFFParams, (), {"ratios": ()}, ValueError, r"ratios must have at least 1 entries"),
    (dd.RFFParams, (), {"ratios": (0.5, -1.0)}, ValueError, r"ratios\[i\] must be a finite number in \(0, 1000"),
    (dd.RFFParams, (), {"lambdas": (-1e-3,)}, ValueError, r"lambdas\[i\] must be a finite number in \[0"),
    (dd.RFFParams, (), {"noises": (1.5,)}, ValueError, r"noises\[i\] must be a finite number in \[0, 1\]"),
    (dd.RFFParams, (), {"ridge_noise": _NAN}, ValueError, r"ridge_noise must be a finite number in \[0, 1\]"),
    (dd.RFFParams, (), {"sample_N": 0}, ValueError, r"sample_N must be an integer in \[1, 100000\]"),
    (dd.RFFParams, (), {"sample_ns": ()}, ValueError, r"sample_ns must have at least 1 entries"),
    (dd.RFFParams, (), {"sample_ns": (1, 100)}, ValueError, r"sample_ns\[i\] must be an integer in \[2, 1500\]"),
    (dd.RFFParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (dd.RFFParams, (), {"ratios": (1000.0,), "n": 1500, "seeds": 1000}, ValueError,
     r"seeds × max\(ratios\) × n × 1797 \(and sample_N × 1797\) is too large"),
    (dd.MLPParams, (), {"n": 4950}, ValueError, r"n must be an integer in \[10, 4900\]"),
    (dd.MLPParams, (), {"num_samples": 100}, ValueError, r"num_samples must be an integer in \[110, 1000000\]"),
    (dd.MLPParams, (), {"noise": 1.1}, ValueError, r"noise must be a finite number in \[0, 1\]"),
    (dd.MLPParams, (), {"widths": ()}, ValueError, r"widths must have at least 1 entries"),
    (dd.MLPParams, (), {"widths": (0, 4)}, ValueError, r"widths\[i\] must be an integer in \[1, 100000\]"),
    (dd.MLPParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 1000\]"),
    (dd.MLPParams, (), {"steps": 0}, ValueError, r"steps must be an integer in \[1, 10000000\]"),
    (dd.MLPParams, (), {"lr": _NAN}, ValueError, r"lr must be a finite number in \(0, 10\]"),
    (dd.MLPParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (dd.MLPParams, (), {"interp_tol": -0.1}, ValueError, r"interp_tol must be a finite number in \[0, 1\]"),
    (dd.MLPParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (dd.MLPParams, (), {"widths": (100_000, 99_999), "seeds": 1000, "num_samples": 10**6}, ValueError,
     r"widths × seeds × num_samples is too large"),
    (dd.rff_features, (torch.zeros(4, 2), _W, _B), {}, ValueError, r"x \[m, d\], W \[S, d, N\] and b \[S, 1, N\]"),
    (dd.rff_features, (torch.zeros(4, 3), _W, _B[:1]), {}, ValueError, r"x \[m, d\], W \[S, d, N\] and b"),
    (dd.rff_features, (torch.zeros(4, 3), _W[0], _B), {}, ValueError, r"W must have shape \[S, 3, N\]"),
    (dd.rff_features, (torch.full((4, 3), _NAN), _W, _B), {}, ValueError, r"x must hold only finite values"),
    (dd.rff_features, ([[0.0, 1.0, 2.0]], _W, _B), {}, TypeError, r"x must be a torch.Tensor"),
    (dd.rff_draw, (0, 5, 2, 1.0), {}, ValueError, r"d must be an integer in \[1, 1000000\]"),
    (dd.rff_draw, (3, 0, 2, 1.0), {}, ValueError, r"N must be an integer in \[1, 10000000\]"),
    (dd.rff_draw, (3, 5, 0, 1.0), {}, ValueError, r"seeds must be an integer in \[1, 10000\]"),
    (dd.rff_draw, (3, 5, 2, 0.0), {}, ValueError, r"sigma must be a finite number in \(0, inf\]"),
    (dd.rff_draw, (3, 5, 2, 1.0), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (dd.rff_draw, (3, 5, 2, 1.0), {"dtype": torch.int64}, TypeError, r"dtype must be None or a floating torch dtype"),
    (dd.rff_draw, (3, 5, 2, 1.0), {"dtype": None}, TypeError, r"dtype must be a floating torch dtype"),
    (dd.rff_draw, (10**5, 10**6, 10), {"sigma": 1.0}, ValueError, r"10 draws of 1000000 features .* is too large"),
    (dd.one_hot, (torch.tensor([0, 10]), 10), {}, ValueError, r"y must hold int64 class labels in \[0, 9\]"),
    (dd.one_hot, (torch.tensor([-1, 2]), 10), {}, ValueError, r"y must hold int64 class labels in \[0, 9\]"),
    (dd.one_hot, (torch.tensor([0.0, 1.0]), 10), {}, ValueError, r"y must hold int64 class labels"),
    (dd.one_hot, (torch.tensor([0, 1]), 0), {}, ValueError, r"c must be an integer in \[1, 1000000\]"),
    (dd.peak_after_minimum, (torch.tensor([1.0, _NAN]),), {}, ValueError, r"y must hold only finite values"),
    (dd.peak_after_minimum, (torch.zeros(0),), {}, ValueError, r"y must have at least 1 entries"),
    (dd.peak_after_minimum, (torch.zeros(2, 2),), {}, ValueError, r"y must have shape \[R\]"),
    (dd.peak_after_minimum, ([1.0, 2.0],), {}, TypeError, r"y must be a torch.Tensor"),
    (dd.peak_after_minimum, (torch.tensor([1.0, 2.0]),), {"split": 5}, ValueError,
     r"split must be an integer in \[0, 2\]"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_no_label_noise_levels_is_valid():
    """The explorer fits min-norm and ridge only: an empty noises is a valid setting, not a bad input."""
    assert dd.RFFParams(noises=()).noises == ()
