import math

import pytest
import torch

from widgets import spectral
from widgets.core import losses


def test_spectral_ratio_is_one_for_each_fitted_component():
    n, ks, amps = 200, [3, 7, 20], [0.5, 2.0, 1.0]
    x = torch.arange(n, dtype=torch.float64) / n
    f = sum(a * torch.sin(2 * math.pi * k * x + 0.3 * k) for k, a in zip(ks, amps, strict=True))
    ratio = spectral.spectral_ratio(torch.stack([f, 0.5 * f]), ks, amps)
    assert torch.allclose(ratio[0], torch.ones(3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(ratio[1], torch.full((3,), 0.5, dtype=torch.float64), atol=1e-12)


def test_learning_order():
    steps = torch.tensor([0, 1, 10, 100])
    value = torch.tensor([[0.0, 0.0, 0.0], [0.6, 0.1, 0.2], [0.9, 0.7, 0.3], [1.0, 0.9, 0.4]])
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


def test_sobolev_matrix_is_the_quadratic_form_of_the_sobolev_loss():
    n = 40
    out, y = torch.randn(3, n, 1, dtype=torch.float64), torch.randn(3, n, 1, dtype=torch.float64)
    per_member = losses.sobolev_loss([-1.0, 0.5, 2.0], n)(out, y)
    M = spectral.sobolev_matrix(losses.sobolev_weights([-1.0, 0.5, 2.0], n), n)
    r = (out - y)[..., 0]
    assert torch.allclose(per_member, torch.einsum("ln,lnm,lm->l", r, M, r), rtol=1e-10)
    # M's eigenvalue at a cosine of frequency k is (1 + k²)^s / n
    x = torch.arange(n, dtype=torch.float64) / n
    u = torch.cos(2 * math.pi * 5 * x)
    assert torch.allclose(M[2] @ u, (1 + 25) ** 2.0 / n * u, rtol=1e-10)


def test_gd_runs_small_scale_predicts_the_slow_component():
    p = spectral.KernelParams(n=48, ks=(1, 3), seeds=1, width=256, steps=300, records=40, s_values=(0.0, 1.0))
    gd = spectral.gd_runs(p)
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


def test_shift_augment_shifts_every_channel_of_a_colour_image():
    img = torch.zeros(1, 3, 4, 4)
    img[0, :, 1, 2] = torch.tensor([1.0, 2.0, 3.0])
    aug = spectral.shift_augment(img.reshape(1, -1), (3, 4, 4)).view(5, 3, 4, 4)
    for k, (r, c) in enumerate([(1, 2), (2, 2), (0, 2), (1, 3), (1, 1)]):  # as is, down, up, right, left
        assert aug[k, :, r, c].tolist() == [1.0, 2.0, 3.0] and aug[k].abs().sum() == 6


def test_practice_runs_on_cifar10_files_and_full_mode_picks_them(tmp_path, monkeypatch):
    from test_data import _write_cifar

    _write_cifar(tmp_path / "cifar-10-batches-py", n_per_batch=8, n_test=6)
    monkeypatch.delenv("WIDGETS_DATA", raising=False)
    assert spectral.PracticeParams.preset("full").dataset == "digits"  # no files: the offline analogue
    monkeypatch.setenv("WIDGETS_DATA", str(tmp_path))
    full = spectral.PracticeParams.preset("full")
    assert (full.dataset, full.n_small, full.n_large) == ("cifar10", 5000, 50_000)
    p = spectral.PracticeParams(dataset="cifar10", n_small=20, n_large=40, width=8, steps=4, short=2, seeds=2,
                                points=8, pairs=2, cutoff=2, records=2)
    out = spectral.practice(p)
    assert out["dataset"] == "cifar10"
    assert {r["intervention"] for r in out["rows"]} >= {"baseline", "more data", "augmentation"}
    assert {r["n_train"] for r in out["rows"]} == {20, 40, 100}
    assert all(0 <= r["test_acc"] <= 1 and 0 <= r["hf_same"] <= 1 for r in out["rows"])
    with pytest.raises(ValueError, match="n_large"):
        spectral.PracticeParams(dataset="digits", n_large=5000)


def test_fourier_features_shape_and_bad_input():
    x = torch.linspace(0, 0.99, 10)
    assert spectral.fourier_features(x, m=5).shape == (10, 10)
    with pytest.raises(ValueError, match="m"):
        spectral.fourier_features(x, m=0)
    with pytest.raises(ValueError, match="scale"):
        spectral.fourier_features(x, scale=-1.0)


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match="Nyquist"):
        spectral.SpectralParams(ks=(150,))
    with pytest.raises(ValueError, match="threshold"):
        spectral.SpectralParams(threshold=1.5)
    with pytest.raises(ValueError, match="lr_fraction"):
        spectral.KernelParams(lr_fraction=1.0)
    with pytest.raises(ValueError, match="short"):
        spectral.PracticeParams(short=1000)
    with pytest.raises(ValueError, match="amplitudes"):
        spectral.SpectralParams(steps=1, amplitudes="loud")
    with pytest.raises(ValueError, match="s_values"):
        spectral.KernelParams(s_values=())
    with pytest.raises(ValueError, match="features"):
        spectral.SpectralParams(features=-1)


def test_learn_sines_with_fourier_features_feeds_the_network_2m_inputs():
    p = spectral.SpectralParams(n=32, ks=(2, 5), seeds=2, width=8, depth=2, steps=3, records=2, features=4,
                                amplitudes="rising")
    r = spectral.learn_sines(p)
    assert r["outputs"].shape == (len(r["steps"]), 2, 32) and r["amplitude_case"] == "rising"
    assert torch.allclose(r["amplitudes"].double(), torch.tensor([0.1, 0.2], dtype=torch.float64))
    plain = spectral.learn_sines(spectral.SpectralParams(n=32, ks=(2, 5), seeds=2, width=8, depth=2, steps=3,
                                                         records=2))
    # same targets, a different input map: the initial functions differ
    assert torch.equal(plain["targets"], spectral.learn_sines(
        spectral.SpectralParams(n=32, ks=(2, 5), seeds=2, width=8, depth=2, steps=3, records=2, features=4))["targets"])
    assert not torch.allclose(plain["outputs"][0], r["outputs"][0])


def test_deep_ntk_eigs_returns_one_eigenvalue_per_seed_and_frequency():
    r = spectral.deep_ntk_eigs(spectral.SpectralParams(n=32, ks=(2, 5), seeds=2, width=8, depth=2))
    assert r["eigs"].shape == (2, 2) and (r["eigs"] > 0).all()


def test_time_slope_uses_only_frequencies_learned_within_the_run():
    ks = [1.0, 2.0, 4.0, 8.0]
    order = torch.tensor([[10.0, 40.0, 160.0, 0.0], [10.0, 40.0, 160.0, 1e9]], dtype=torch.float64)
    # learning step ∝ k²: slope 2, from the entries with 0 < order ≤ steps_run (never learned: 0 or past the run)
    assert spectral.time_slope(ks, order, 1000.0) == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("ks, amps, match", [
    ([2.5], [1.0], "ks"), ([0], [1.0], "ks"), ([9], [1.0], "ks"), ([2], [0.0], "amplitudes"),
    ([2, 3], [1.0], "equally long"),
])
def test_spectral_ratio_bad_frequencies_and_amplitudes(ks, amps, match):
    f = torch.zeros(2, 16, dtype=torch.float64)
    with pytest.raises(ValueError, match=match):
        spectral.spectral_ratio(f, ks, amps)
