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


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_F = torch.zeros(2, 16, dtype=torch.float64)
_K = torch.eye(16, dtype=torch.float64)
_BAD_INPUTS = [
    (spectral.SpectralParams, (), {"n": 8}, ValueError, r"n must be an integer in \[16, 1000000\]"),
    (spectral.SpectralParams, (), {"ks": ()}, ValueError, r"ks must have at least 1 entries"),
    (spectral.SpectralParams, (), {"ks": (2.5,)}, ValueError, r"ks\[i\] must be an integer"),
    (spectral.SpectralParams, (), {"ks": 5}, TypeError, r"ks must be a list or tuple"),
    (spectral.SpectralParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 10000\]"),
    (spectral.SpectralParams, (), {"width": 10**6}, ValueError, r"width must be an integer in \[1, 100000\]"),
    (spectral.SpectralParams, (), {"depth": 1}, ValueError, r"depth must be an integer in \[2, 64\]"),
    (spectral.SpectralParams, (), {"act": "gelu"}, ValueError, r"act must be one of"),
    (spectral.SpectralParams, (), {"optimizer": "lbfgs"}, ValueError, r"optimizer must be one of"),
    (spectral.SpectralParams, (), {"lr": _NAN}, ValueError, r"lr must be a finite number"),
    (spectral.SpectralParams, (), {"steps": 0}, ValueError, r"steps must be an integer in \[1, 10000000\]"),
    (spectral.SpectralParams, (), {"bias_std": -1.0}, ValueError, r"bias_std must be a finite number in \[0, 100\]"),
    (spectral.SpectralParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (spectral.SpectralParams, (), {"features": 2.5}, ValueError, r"features must be an integer"),
    (spectral.SpectralParams, (), {"feature_scale": math.inf}, ValueError, r"feature_scale must be a finite number"),
    (spectral.SpectralParams, (), {"seeds": 10**4, "width": 10**5}, ValueError,
     r"seeds × width² × depth × n × records is too large: it would need about .* GB"),
    (spectral.KernelParams, (), {"ks": (0, 1)}, ValueError, r"ks\[i\] must be an integer in \[1, inf\]"),
    (spectral.KernelParams, (), {"ks": (100,)}, ValueError, r"ks must lie below the Nyquist frequency"),
    (spectral.KernelParams, (), {"width": 0}, ValueError, r"width must be an integer in \[1, 1000000\]"),
    (spectral.KernelParams, (), {"lr_fraction": 0.0}, ValueError, r"lr_fraction must be a finite number in \(0, 1\)"),
    (spectral.KernelParams, (), {"records": 0}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (spectral.KernelParams, (), {"density": ()}, ValueError, r"density must have at least 1 entries"),
    (spectral.KernelParams, (), {"density": (1, -2)}, ValueError, r"density\[i\] must be a finite number in \(0"),
    (spectral.KernelParams, (), {"density_n": 3}, ValueError, r"density_n must be an integer in \[6, 1000000\]"),
    (spectral.KernelParams, (), {"density_k": 0}, ValueError, r"density_k must be an integer in \[1, 10000\]"),
    (spectral.KernelParams, (), {"s_values": (_NAN,)}, ValueError, r"s_values\[i\] must be a finite number"),
    (spectral.KernelParams, (), {"s_values": ("x",)}, ValueError, r"s_values\[i\] must be a number"),
    (spectral.KernelParams, (), {"seeds": 10**4, "n": 10**5, "ks": (1,)}, ValueError,
     r"seeds × width × n × s_values × records is too large"),
    (spectral.PracticeParams, (), {"n_large": 2000}, ValueError, r"n_large must be an integer in \[20, 1500\]"),
    (spectral.PracticeParams, (), {"n_small": 10}, ValueError, r"n_small must be an integer in \[20, 1200\]"),
    (spectral.PracticeParams, (), {"width": -4}, ValueError, r"width must be an integer in \[1, 100000\]"),
    (spectral.PracticeParams, (), {"lr": 0.0}, ValueError, r"lr must be a finite number in \(0, 10\]"),
    (spectral.PracticeParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 10000\]"),
    (spectral.PracticeParams, (), {"cutoff": 40}, ValueError, r"cutoff must be an integer in \[1, 32\]"),
    (spectral.PracticeParams, (), {"records": True}, ValueError, r"records must be an integer"),
    (spectral.PracticeParams, (), {"pairs": 10**5, "points": 4096, "seeds": 10**3}, ValueError,
     r"seeds × width × depth × pairs × points is too large"),
    (spectral.spectral_ratio, ("f", [2], [1.0]), {}, TypeError, r"f must be a torch.Tensor"),
    (spectral.spectral_ratio, (torch.tensor(1.0), [2], [1.0]), {}, ValueError, r"f must have shape \[\.\.\., n\]"),
    (spectral.spectral_ratio, (_F, [2.5], [1.0]), {}, ValueError, r"ks\[i\] must be an integer in \[1, 8\]"),
    (spectral.spectral_ratio, (_F, [], []), {}, ValueError, r"ks must have at least 1 entries"),
    (spectral.spectral_ratio, (_F, [2], [_NAN]), {}, ValueError, r"amplitudes\[i\] must be a finite number"),
    (spectral.spectral_ratio, (_F, "ab", [1.0]), {}, TypeError, r"ks must be a list or tuple"),
    (spectral.learning_order, (torch.arange(3), torch.zeros(3, 2), 0.0), {}, ValueError,
     r"threshold must be a finite number in \(0, inf\]"),
    (spectral.learning_order, (torch.arange(3), torch.zeros(4, 2), 0.5), {}, ValueError,
     r"ratio must have one row per record \(T = 3\)"),
    (spectral.learning_order, (torch.zeros(0), torch.zeros(0, 2), 0.5), {}, ValueError,
     r"steps must have at least 1 entries"),
    (spectral.learning_order, ([0, 1], torch.zeros(2, 2), 0.5), {}, TypeError, r"steps must be a torch.Tensor"),
    (spectral.time_slope, ([1.0, 2.0], torch.ones(2, 2), 0.0), {}, ValueError,
     r"steps_run must be a finite number in \(0"),
    (spectral.time_slope, ([1.0, -2.0], torch.ones(2, 2), 10.0), {}, ValueError,
     r"ks\[i\] must be a finite number in \(0"),
    (spectral.time_slope, ([1.0, 2.0, 3.0], torch.ones(2, 2), 10.0), {}, ValueError,
     r"ks must have one frequency per column of order \(2\)"),
    (spectral.time_slope, ([1.0, 2.0], "order", 10.0), {}, TypeError, r"order must be a torch.Tensor"),
    (spectral.fourier_eigs, (torch.zeros(4, 5), [1]), {}, ValueError, r"kernel must be square"),
    (spectral.fourier_eigs, (_K, [8]), {}, ValueError, r"ks must lie below the Nyquist frequency n/2 = 8"),
    (spectral.fourier_eigs, (_K, [0]), {}, ValueError, r"ks\[i\] must be an integer in \[1, inf\]"),
    (spectral.fourier_eigs, (_K * _NAN, [1]), {}, ValueError, r"kernel must hold only finite values"),
    (spectral.fourier_eigs, (torch.zeros(3), [1]), {}, ValueError, r"kernel must have shape \[\.\.\., n, n\]"),
    (spectral.circle, ("abc",), {}, TypeError, r"x must be a tensor or a sequence of numbers"),
    (spectral.circle, (torch.zeros(2, 2),), {}, ValueError, r"x must have shape \[n\]"),
    (spectral.circle, ([0.1, _NAN],), {}, ValueError, r"x must hold only finite values"),
    (spectral.gd_learning_time, (torch.tensor([1.0, 0.0]), 0.1, 10), {}, ValueError, r"eig must hold positive finite"),
    (spectral.gd_learning_time, (torch.tensor([1.0]), _NAN, 10), {}, ValueError, r"lr must hold positive finite"),
    (spectral.gd_learning_time, (torch.ones(3), torch.ones(2), 10), {}, ValueError,
     r"eig \(3,\) and lr \(2,\) must broadcast"),
    (spectral.gd_learning_time, (torch.ones(3), 0.1, 0), {}, ValueError, r"n must be an integer in \[1, inf\]"),
    (spectral.gd_learning_time, (torch.ones(3), 0.1, 10), {"fraction": 1.0}, ValueError,
     r"fraction must be a finite number in \(0, 1\)"),
    (spectral.sobolev_matrix, (torch.ones(2, 5), 10), {}, ValueError, r"weights must have n//2 \+ 1 = 6 columns"),
    (spectral.sobolev_matrix, (torch.ones(2, 6), 1), {}, ValueError, r"n must be an integer in \[2, inf\]"),
    (spectral.sobolev_matrix, (torch.ones(6), 10), {}, ValueError, r"weights must have shape \[L, 6\]"),
    (spectral.sobolev_matrix, (torch.ones(2, 50_001), 100_000), {}, ValueError,
     r"the quadratic forms of 2 losses on n = 100000 points is too large"),
    (spectral.fourier_features, (torch.zeros(4),), {"m": 0}, ValueError, r"m must be an integer in \[1, 100000\]"),
    (spectral.fourier_features, (torch.zeros(4),), {"scale": -1.0}, ValueError,
     r"scale must be a finite number in \(0"),
    (spectral.fourier_features, (torch.zeros(4),), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (spectral.fourier_features, (torch.zeros(4, 1),), {}, ValueError, r"x must have shape \[n\]"),
    (spectral.fourier_features, (torch.zeros(10**6),), {"m": 10**5}, ValueError,
     r"100000 Fourier features of 1000000 positions is too large"),
    (spectral.shift_augment, (torch.zeros(3, 63),), {}, ValueError, r"x must have shape \[n, 64\]"),
    (spectral.shift_augment, ("x",), {}, TypeError, r"x must be a torch.Tensor"),
    (spectral.shift_augment, (torch.full((2, 64), _NAN),), {}, ValueError, r"x must hold only finite values"),
    (spectral.path_high_frequency, (torch.zeros(3, 8, 2), 5), {}, ValueError, r"cutoff must be an integer in \[1, 4\]"),
    (spectral.path_high_frequency, (torch.zeros(3, 8, 2), 0), {}, ValueError, r"cutoff must be an integer in \[1, 4\]"),
    (spectral.path_high_frequency, (torch.zeros(8), 2), {}, ValueError, r"logits must have shape \[\.\.\., M, C\]"),
    (spectral.density_slope, ({"time": torch.ones(2)},), {}, ValueError, r"result must be density_times' dict"),
    (spectral.density_slope, ([1, 2],), {}, TypeError, r"result must be the dict of density_times"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_density_times_refuses_a_region_left_without_points():
    p = spectral.KernelParams(density=(1, 1, 1e6), density_n=6, seeds=1, width=8, steps=1)
    with pytest.raises(ValueError, match=r"density_n = 6 left region . without points"):
        spectral.density_times(p)


def test_sobolev_slope_reads_one_exponent_of_a_run():
    ks = torch.tensor([1.0, 2.0, 4.0])
    order = torch.stack([torch.tensor([[10.0, 40.0, 160.0]]), torch.tensor([[10.0, 20.0, 40.0]])])  # [L, S, m]
    result = {"s": torch.tensor([0.0, 1.0]), "ks": ks, "order": order, "steps": torch.tensor([0, 200])}
    assert spectral.sobolev_slope(result, 0.0) == pytest.approx(2.0)
    assert spectral.sobolev_slope(result, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"s must be one of the run's exponents \[0.0, 1.0\], got -1.0"):
        spectral.sobolev_slope(result, -1.0)
