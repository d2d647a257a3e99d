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


