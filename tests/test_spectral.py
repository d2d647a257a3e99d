import math

import pytest
import torch

from widgets import spectral


def test_spectral_ratio_is_one_for_each_fitted_component():
    n, ks, amps = 200, [3, 7, 20], [0.5, 2.0, 1.0]
    x = torch.arange(n, dtype=torch.float64) / n
    f = sum(a * torch.sin(2 * math.pi * k * x + 0.3 * k) for k, a in zip(ks, amps, strict=True))
    ratio = spectral.spectral_ratio(torch.stack([f, 0.5 * f]), ks, amps)
    assert torch.allclose(ratio[0], torch.ones(3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(ratio[1], torch.full((3,), 0.5, dtype=torch.float64), atol=1e-12)


def test_first_crossing_and_learning_order():
    steps = torch.tensor([0, 1, 10, 100])
    value = torch.tensor([[0.0, 0.0, 0.0], [0.6, 0.1, 0.2], [0.9, 0.7, 0.3], [1.0, 0.9, 0.4]])
    first = spectral.first_crossing(steps, value, 0.5)
    assert first.tolist() == [1.0, 10.0, math.inf]
    assert spectral.first_crossing(steps, 1 - value, 0.5, above=False).tolist() == [1.0, 10.0, math.inf]
    order = spectral.learning_order(steps, value, 0.5)
    assert order[:2].tolist() == [1.0, 10.0] and 100 < order[2] <= 200
    # of two components never learned, the one that came closer ranks first
    value2 = torch.cat([value, torch.tensor([[0.0], [0.0], [0.1], [0.1]])], dim=1)
    order2 = spectral.learning_order(steps, value2, 0.5)
    assert order2[2] < order2[3]


def test_fourier_eigs_reads_the_spectrum_of_a_circulant_kernel():
    n = 64
    lam = torch.tensor([5.0] + [1.0 / (1 + k) ** 2 for k in range(1, n // 2 + 1)], dtype=torch.float64)
    full = torch.cat([lam, lam[1:-1].flip(0)])  # eigenvalue at DFT bin j, symmetric
    first_row = torch.fft.ifft(full).real
    K = torch.stack([first_row.roll(i) for i in range(n)])
    ks = [1, 3, 10]
    assert torch.allclose(spectral.fourier_eigs(K, ks), lam[ks], rtol=1e-10)


def test_gd_learning_time_matches_explicit_linear_dynamics():
    n, lr = 64, 0.3
    x = torch.arange(n, dtype=torch.float64) / n
    lam = torch.tensor([1.0 / (1 + k) ** 2 for k in range(n)], dtype=torch.float64) * n
    u = math.sqrt(2 / n) * torch.cos(2 * math.pi * 3 * x)  # unit vector at k = 3, an eigenvector of K
    K = lam[3] * torch.outer(u, u)
    r, t = u.clone(), 0
    while (u @ r) > 0.5:  # GD on the mean squared error of a linear model with kernel K: r ← r − (2·lr/n)·K r
        r = r - 2 * lr / n * K @ r
        t += 1
    predicted = float(spectral.gd_learning_time(lam[3], lr, n))
    assert t - 1 <= predicted <= t


def test_sobolev_loss_at_zero_is_the_centered_mse_and_matches_its_matrix():
    n = 40
    out, y = torch.randn(3, n, 1, dtype=torch.float64), torch.randn(3, n, 1, dtype=torch.float64)
    assert torch.allclose(spectral.sobolev_loss(0.0, n)(out, y), spectral.centered_mse(out, y), rtol=1e-12)
    per_member = spectral.sobolev_loss([-1.0, 0.5, 2.0], n)(out, y)
    M = spectral.sobolev_matrix(spectral.sobolev_weights([-1.0, 0.5, 2.0], n), n)
    r = (out - y)[..., 0]
    assert torch.allclose(per_member, torch.einsum("ln,lnm,lm->l", r, M, r), rtol=1e-10)
    # M's eigenvalue at a cosine of frequency k is (1 + k²)^s / n
    x = torch.arange(n, dtype=torch.float64) / n
    u = torch.cos(2 * math.pi * 5 * x)
    assert torch.allclose(M[2] @ u, (1 + 25) ** 2.0 / n * u, rtol=1e-10)


def test_gd_runs_small_scale_predicts_the_slow_component():
    p = spectral.KernelParams(n=48, ks=(1, 3), seeds=1, width=256, steps=300, records=40)
    gd = spectral.gd_runs(p, s_values=(0.0, 1.0))
    assert gd["order"].shape == (2, 1, 2) and gd["ratio"].shape[1:] == (len(gd["steps"]), 1, 2)
    pred, obs = float(gd["predicted"][0, 0, 1]), float(gd["order"][0, 0, 1])
    assert obs <= 300 and 0.5 < obs / pred < 2.0
    assert gd["order"][1, 0, 1] < gd["order"][0, 0, 1]  # s = 1 learns k = 3 sooner


def test_shift_augment_and_path_high_frequency():
    x = torch.zeros(1, 64)
    x[0, 8 * 3 + 3] = 1.0
    aug = spectral.shift_augment(x)
    assert aug.shape == (5, 64) and aug.sum(1).tolist() == [1.0] * 5
    assert aug[3].view(8, 8)[3, 4] == 1  # rolled one pixel along the columns
    t = torch.linspace(0, 1, 64, dtype=torch.float64)
    fast = torch.stack([torch.sin(2 * math.pi * 12 * t), 2 + 3 * t], dim=1)  # [M, C]
    slow = torch.stack([torch.sin(math.pi * t), 2 + 3 * t], dim=1)
    assert spectral.path_high_frequency(fast, cutoff=4) > 0.95
    assert spectral.path_high_frequency(slow, cutoff=4) < 0.05


def test_fourier_features_shape_and_bad_input():
    x = torch.linspace(0, 0.99, 10)
    assert spectral.fourier_features(x, m=5).shape == (10, 10)
    with pytest.raises(ValueError, match="m"):
        spectral.fourier_features(x, m=0)
    with pytest.raises(ValueError, match="scale"):
        spectral.fourier_features(x, scale=-1.0)


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match="Nyquist"):
        spectral.SpectralParams(ks=(150,)).check()
    with pytest.raises(ValueError, match="threshold"):
        spectral.SpectralParams(threshold=1.5).check()
    with pytest.raises(ValueError, match="lr_fraction"):
        spectral.KernelParams(lr_fraction=1.0).check()
    with pytest.raises(ValueError, match="s"):
        spectral.sobolev_loss(9.0, 16)
    with pytest.raises(ValueError, match="short"):
        spectral.PracticeParams(short=1000).check()
    with pytest.raises(ValueError, match="amplitudes"):
        spectral.learn_sines(spectral.SpectralParams(steps=1), "loud")
    with pytest.raises(ValueError, match="grid points"):
        spectral.sobolev_loss(1.0, 16)(torch.zeros(1, 8, 1), torch.zeros(1, 8, 1))
