from dataclasses import replace

import numpy as np
import pytest
import torch

from widgets import double_descent as dd
from widgets.core import data, models, train


def features(S=2, n=30, N=45, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(S, n, N, generator=g, dtype=torch.float64), torch.randn(n, 3, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("N", [12, 29, 30, 31, 90])
def test_min_norm_matches_numpy_pinv(N):
    phi, Y = features(N=N)
    a = dd.least_squares(phi, Y)
    for s in range(phi.shape[0]):
        ref = np.linalg.pinv(phi[s].numpy()) @ Y.numpy()
        np.testing.assert_allclose(a[s].numpy(), ref, rtol=1e-6, atol=1e-8)
        lst = np.linalg.lstsq(phi[s].numpy(), Y.numpy(), rcond=None)[0]  # also minimum-norm
        np.testing.assert_allclose(a[s].numpy(), lst, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("N", [10, 30, 80])
def test_ridge_matches_normal_equations(N):
    phi, Y = features(N=N)
    n, lam = phi.shape[1], 1e-2
    a = dd.least_squares(phi, Y, lam=lam)
    for s in range(phi.shape[0]):
        P = phi[s].numpy()
        ref = np.linalg.solve(P.T @ P + n * lam * np.eye(N), P.T @ Y.numpy())
        np.testing.assert_allclose(a[s].numpy(), ref, rtol=1e-7, atol=1e-9)


def test_spectrum_matches_svd_and_rank_deficiency():
    phi, _ = features(N=50)
    phi[:, :, 25:] = phi[:, :, :25]  # rank 25 < min(n, N) = 30: five singular values must be cut to zero
    U, s, V = dd.spectrum(phi)
    for k in range(phi.shape[0]):
        ref = np.linalg.svd(phi[k].numpy(), compute_uv=False)
        np.testing.assert_allclose(s[k, :25].numpy(), ref[:25], rtol=1e-8)
    assert (s[:, 25:] == 0).all()
    np.testing.assert_allclose((U[:, :, :25] * s[:, None, :25]) @ V[:, :, :25].transpose(1, 2), phi, atol=1e-10)


def test_peak_after_minimum_on_synthetic_curves():
    # underfitting at the left, classical minimum at index 2, peak at 5, second descent below the minimum
    y = torch.tensor([0.9, 0.5, 0.3, 0.35, 0.45, 0.6, 0.4, 0.25, 0.2])
    assert dd.peak_after_minimum(y, split=5) == 5
    assert dd.peak_after_minimum(y) == 0  # split=0: the global maximum
    x = torch.logspace(-1, 1.3, 200)
    bump = 0.1 + 0.8 * torch.exp(-(torch.log(x) ** 2) / 0.01)  # a sharp peak at x = 1
    assert abs(float(x[dd.peak_after_minimum(bump)]) - 1) < 0.05
    assert dd.first_below(torch.tensor([0.5, 0.2, 0.0, 0.0]), 0.01) == 2
    assert dd.peak_after_minimum(torch.tensor([3.0, 2.0, 1.0]), split=2) == 1  # monotone: no peak past the min


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="y"):
        dd.peak_after_minimum(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="split"):
        dd.peak_after_minimum(torch.tensor([1.0, 2.0]), split=5)
    with pytest.raises(ValueError, match="tol"):
        dd.first_below(torch.tensor([0.5, 0.4]), 0.01)
    with pytest.raises(ValueError, match="phi"):
        dd.least_squares(torch.zeros(4, 4), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="lam"):
        dd.least_squares(*features(), lam=-1.0)
    with pytest.raises(ValueError, match="n"):
        dd.rff_sweep(replace(dd.RFFParams(), n=5))
    with pytest.raises(ValueError, match="ratios"):
        dd.rff_sweep(replace(dd.RFFParams(), ratios=(0.5, -1.0)))
    with pytest.raises(ValueError, match="noises"):
        dd.rff_sweep(replace(dd.RFFParams(), noises=(1.5,)))
    with pytest.raises(ValueError, match="sample_ns"):
        dd.rff_sample_sweep(replace(dd.RFFParams(), sample_ns=()))
    with pytest.raises(ValueError, match="widths"):
        dd.width_sweep(replace(dd.MLPParams(), widths=(0, 4)), data_=(None,) * 4)
    with pytest.raises(ValueError, match="steps"):
        dd.train_packed(dd.packed_mlp(2, 2, [3], [0]), torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64),
                        torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64), steps=-1, lr=1e-3)


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


def test_packed_family_trains_like_widgets_train():
    """Every packed member must follow the same trajectory as models.mlp + train.train (the core's reference)."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (24,), generator=g)
    widths, seeds = [4, 1, 7, 4], [0, 1, 2, 3]
    packed = dd.packed_mlp(5, 3, widths, seeds, device="cpu", dtype=torch.float64)
    r = dd.train_packed(packed, x, y, x, y, steps=40, lr=1e-2, records=3)
    fam = models.mlp(5, 3, widths=widths, seeds=seeds, depth=2, device="cpu", dtype=torch.float64)
    ref = train.train(fam, data.Dataset(x, y, x, y, n_classes=3), steps=40, lr=1e-2, loss="cross_entropy",
                      records=3)
    order = [sorted(range(4), key=lambda k: (widths[k], k)).index(k) for k in range(4)]
    torch.testing.assert_close(r["train_loss"][:, order], ref.train_loss, rtol=1e-9, atol=1e-10)
    assert r["train_loss"][-1].mean() < 0.8 * r["train_loss"][0].mean()
