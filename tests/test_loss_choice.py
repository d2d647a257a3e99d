"""The loss-choice chapter's experiments at tiny sizes, its metric helpers against hand values, and its figures."""

import math
from dataclasses import replace

import pytest
import torch

from widgets import loss_choice as lc
from widgets.figures import loss_choice as figs

TINY_OUT = replace(lc.OutlierParams(), n=300, eps=(0.0, 0.2), seeds=2, steps=1500, lr=1e-2)
TINY_FAR = replace(lc.FarParams(), counts=(0, 5), seeds=2, steps=600)
TINY_IMB = replace(lc.ImbalanceParams(), ratios=(1, 100), seeds=1, steps=800)
TINY_SVP = replace(lc.ProliferationParams(), dims=(10, 40, 640), seeds=2)
TINY_NOISE = replace(lc.NoiseParams(), n_train=100, width=16, rates=(0.0, 0.5), losses=("cross_entropy", "gce:0.7"),
                     epochs=4, batch_size=50, records=3, seeds=1)


@pytest.mark.parametrize("cls, field, value, match", [
    (lc.OutlierParams, "eps", (0.0, 0.6), r"eps\[i\] must be a finite number in \[0, 0.49\]"),
    (lc.OutlierParams, "losses", ("mse", "cross_entropy"), "same targets"),
    (lc.OutlierParams, "losses", ("cross_entropy",), "must all be regression losses"),
    (lc.OutlierParams, "losses", ("huber:-1",), "huber delta"),
    (lc.FarParams, "counts", (1, 5), "counts must be increasing and start at 0"),
    (lc.FarParams, "wrong_at", (1.0,), "wrong_at must be a point"),
    (lc.NoiseParams, "rates", (0.2, 1.5), r"rates\[i\] must be a finite number in \[0, 1\]"),
    (lc.NoiseParams, "losses", ("gce:3",), "gce q"),
    (lc.NoiseParams, "batch_size", 10_000, r"batch_size must be an integer in \[1, 500\]"),
    (lc.ImbalanceParams, "ratios", (1, 5000), "minority point"),
    (lc.ProliferationParams, "dims", (), "dims must have at least 1 entries"),
    (lc.CalibrationParams, "n_train", 5000, "n_train"),
])
def test_bad_parameters_are_value_errors_naming_the_field(cls, field, value, match):
    with pytest.raises(ValueError, match=match):
        replace(cls(), **{field: value})


def test_outliers_the_squared_loss_shifts_by_eps_A_and_the_absolute_loss_barely_moves():
    out = lc.outliers(TINY_OUT)
    mse, l1 = out["losses"].index("mse"), out["losses"].index("mae")
    assert out["rms"].shape == (3, 2, 2)
    ratio = out["shift"][mse, 1].mean() / (0.2 * TINY_OUT.A)
    assert 0.85 < float(ratio) < 1.15
    assert float(out["rms"][l1, 1].mean()) < 0.15 < float(out["rms"][mse, 1].mean())
    # the location estimates follow their theory: εA for the mean, σΦ⁻¹(½/(1 − ε)) for the median
    assert float(out["mean_shift"][1]) == pytest.approx(1.0, abs=0.01)
    assert float(out["median_theory"][1]) == pytest.approx(0.1 * 0.318639, rel=1e-4)
    assert float(out["median_shift"][1]) == pytest.approx(float(out["median_theory"][1]), abs=0.01)


def test_legendre_features_are_orthonormal_under_the_uniform_measure():
    x = torch.linspace(-1, 1, 20001, dtype=torch.float64)
    phi = lc.legendre_features(x, 5).double()
    gram = (phi.T @ phi) / len(x)
    assert torch.allclose(gram, torch.eye(5, dtype=torch.float64), atol=2e-3)


def test_far_correct_points_rotate_least_squares_not_logistic_or_the_svm():
    far = lc.far_points(TINY_FAR)
    LS, LOG, SIG, SVM = range(4)
    rot = far["rotation"]  # [method, kind, count, seed]
    assert (rot[:, :, 0][rot[:, :, 0] == rot[:, :, 0]] < 1e-4).all()  # no far points, no rotation
    assert float(rot[LS, 0, 1].mean()) > 10 * float(rot[LOG, 0, 1].mean())
    svm = rot[SVM, 0, 1]
    assert (svm[svm == svm] < 1e-6).all()
    assert torch.isnan(rot[SVM, 1, 1]).all()  # mislabelled far points: no hard-margin SVM
    assert float(rot[SIG, 1, 1].mean()) < float(rot[LOG, 1, 1].mean())


def test_padding_rows_leave_a_member_exactly_as_without_them():
    """A member with fewer far points than the largest count has zero rows and a rescaled lr: the same run
    as a family whose largest count is its own."""
    a = lc.far_points(replace(TINY_FAR, counts=(0, 5), seeds=1, steps=200))
    b = lc.far_points(replace(TINY_FAR, counts=(0, 5, 20), seeds=1, steps=200))
    assert torch.allclose(a["w"][:3, :, :2], b["w"][:3, :, :2], rtol=1e-4, atol=1e-5)


def test_imbalance_ce_learns_the_prior_and_logit_adjustment_removes_it():
    imb = lc.imbalance(TINY_IMB)
    CE, LA, LS = range(3)
    bal = imb["balanced"][:, :, 0]
    bayes = imb["bayes_balanced"]
    assert bayes == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))))
    assert torch.allclose(bal[:, 0], torch.full((3,), bayes, dtype=torch.float64), atol=0.02)  # ρ = 1
    assert float(bal[CE, 1]) < 0.7 < 0.8 < float(bal[LA, 1])
    assert float(imb["recall_min"][LS, 1, 0]) <= float(imb["recall_min"][CE, 1, 0])
    assert float(imb["threshold"][CE, 1, 0]) == pytest.approx(-math.log(100) / 2, rel=0.2)


def test_proliferation_svm_and_min_norm_coincide_far_past_2n_log_n():
    svp = lc.proliferation(TINY_SVP)
    assert float(svp["angle"][2].max()) < 1e-3 and bool(svp["all_sv"][2].all())
    assert float(svp["angle"][1].mean()) > 10
    assert float(svp["acc_svm"][1].mean()) > float(svp["acc_minnorm"][1].mean())
    assert ((svp["acc_svm"] > 0.5) & (svp["acc_svm"] <= 1)).all()


def test_test_accuracy_of_a_direction_is_one_minus_its_angle_to_e1_over_pi():
    # the identity the proliferation experiment scores with, against a Monte-Carlo estimate
    g = torch.Generator().manual_seed(0)
    w = torch.tensor([1.0, 0.7, -0.4], dtype=torch.float64)
    x = torch.randn(400_000, 3, generator=g, dtype=torch.float64)
    mc = float((torch.sign(x @ w) == torch.sign(x[:, 0])).double().mean())
    exact = 1 - math.acos(float(w[0] / w.norm())) / math.pi
    assert mc == pytest.approx(exact, abs=3e-3)


def test_noisy_labels_shapes_and_the_noise_model():
    res = lc.noisy_labels(TINY_NOISE)
    T = len(res["epochs"])
    assert res["test_acc"].shape == (T, 2, 2, 1) and res["memorized"].shape == (T, 2, 2, 1)
    assert torch.isnan(res["memorized"][:, :, 0]).all()  # η = 0: nothing changed, nothing to memorize
    # labels are resampled from all 10 classes: about η·9/10 change, never more than η
    assert float(res["changed"][0, 0]) == 0
    assert 0.3 < float(res["changed"][1, 0]) <= 0.5
    assert float(res["epochs"][-1]) == TINY_NOISE.epochs


def test_clean_comparison_is_noise_free_ce_against_the_square_loss():
    p = lc.NoiseParams().clean_comparison()
    assert p.rates == (0.0,) and p.losses == ("cross_entropy", "square") and p.n_train == 1000


def test_calibration_bins_against_hand_values():
    prob = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0])
    rel = lc.calibration_bins(prob, y, bins=2)
    # bin [0.5, 1) holds all four: confidences 0.9, 0.6, 0.7, 0.55 (mean 0.6875), three correct (0.75)
    assert rel["count"].tolist() == [0.0, 4.0]
    assert float(rel["confidence"][1]) == pytest.approx(0.6875)
    assert float(rel["accuracy"][1]) == pytest.approx(0.75)
    assert torch.isnan(rel["accuracy"][0])
    assert float(rel["ece"]) == pytest.approx(abs(0.75 - 0.6875))
    rel = lc.calibration_bins(prob, y, bins=10)  # bins 5, 6, 7, 9 with one point each
    assert float(rel["ece"]) == pytest.approx((abs(1 - 0.55) + abs(0 - 0.6) + abs(1 - 0.7) + abs(1 - 0.9)) / 4)


def test_loss_labels():
    assert figs.loss_label("huber:0.2") == "Huber (δ = 0.2)"
    assert figs.loss_label("gce") == "GCE (q = 0.7)"
    assert figs.loss_label("mse") == "squared (MSE)"


def test_figures_build_with_their_sliders():
    charts = [figs.outlier_slider(lc.outliers(replace(TINY_OUT, steps=20))),
              figs.far_slider(lc.far_points(replace(TINY_FAR, steps=20))),
              figs.imbalance_slider(lc.imbalance(replace(TINY_IMB, steps=20))),
              figs.proliferation_slider(lc.proliferation(TINY_SVP)),
              figs.noise_slider(lc.noisy_labels(TINY_NOISE))]
    for chart in charts:
        spec = chart.to_dict()
        text = str(spec)
        assert "(slider)" in text and "description" in spec
    assert "(toggle)" in str(charts[1].to_dict())


def test_explorers_retrain_and_draw():
    ex = figs.OutlierExplorer(replace(TINY_OUT, steps=20))
    res = ex.compute(loss="huber", delta=0.3, eps=0.1, A=5.0)
    assert res["losses"] == ["mse", "huber:0.3"] and res["rms"].shape == (2, 2, 1)
    ex.chart(res).to_dict()
    nx = figs.NoiseExplorer(TINY_NOISE)
    res = nx.compute(loss="gce", q=0.5, rate=0.3, epochs=2)
    assert res["losses"] == ["cross_entropy", "gce:0.5"]
    nx.chart(res).to_dict()
    ix = figs.ImbalanceExplorer(TINY_IMB)
    res = ix.compute(ratio=31.6, steps=50)
    assert res["ratios"].tolist() == [31.6] and res["balanced"].shape == (3, 1, 1)
    ix.chart(res).to_dict()


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_P = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
_BAD_INPUTS = [
    (lc.OutlierParams, (), {"n": 5}, ValueError, r"n must be an integer in \[10, 1000000\]"),
    (lc.OutlierParams, (), {"sigma": 0.0}, ValueError, r"sigma must be a finite number in \(0, 10\]"),
    (lc.OutlierParams, (), {"A": -1.0}, ValueError, r"A must be a finite number in \[0, 10000"),
    (lc.OutlierParams, (), {"eps": ()}, ValueError, r"eps must have at least 1 entries"),
    (lc.OutlierParams, (), {"losses": ("mse", 3)}, ValueError, r"losses\[i\] must be a loss of"),
    (lc.OutlierParams, (), {"losses": ("mse", "cross_entropy")}, ValueError, r"losses must all take the same targets"),
    (lc.OutlierParams, (), {"features": 31}, ValueError, r"features must be an integer in \[1, 30\]"),
    (lc.OutlierParams, (), {"grid": 1}, ValueError, r"grid must be an integer in \[2, 100000\]"),
    (lc.OutlierParams, (), {"n_location": 5}, ValueError, r"n_location must be an integer in \[10, 10000000\]"),
    (lc.OutlierParams, (), {"n": 10**6, "seeds": 1000}, ValueError,
     r"losses × eps × seeds × n × features \(and n_location\) is too large"),
    (lc.legendre_features, (torch.zeros(3), 0), {}, ValueError, r"m must be an integer in \[1, 100\]"),
    (lc.legendre_features, (torch.tensor([0.1, _NAN]), 3), {}, ValueError, r"x must hold only finite values"),
    (lc.legendre_features, ([0.1, 0.2], 3), {}, TypeError, r"x must be a torch.Tensor"),
    (lc.legendre_features, (torch.tensor(0.5), 3), {}, ValueError, r"x must have shape \[\.\.\., n\]"),
    (lc.legendre_features, (torch.zeros(10**8), 100), {}, ValueError, r"100 Legendre features of 100000000 points"),
    (lc.FarParams, (), {"n": 1}, ValueError, r"n must be an integer in \[2, 100000\]"),
    (lc.FarParams, (), {"mu": 0.0}, ValueError, r"mu must be a finite number in \(0, 100\]"),
    (lc.FarParams, (), {"std": _NAN}, ValueError, r"std must be a finite number"),
    (lc.FarParams, (), {"counts": (0, 5, 5)}, ValueError, r"counts must be increasing and start at 0"),
    (lc.FarParams, (), {"counts": (0, 10**5)}, ValueError, r"counts\[i\] must be an integer in \[0, 10000\]"),
    (lc.FarParams, (), {"correct_at": (7.0, _NAN)}, ValueError, r"correct_at\[i\] must be a finite number"),
    (lc.FarParams, (), {"wrong_at": (1.0, 2.0, 3.0)}, ValueError, r"wrong_at must be a point \(x1, x2\)"),
    (lc.FarParams, (), {"steps": 0}, ValueError, r"steps must be an integer in \[1, 10000000\]"),
    (lc.FarParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 1000\]"),
    (lc.FarParams, (), {"n": 10**5, "seeds": 1000, "counts": (0, 10**4)}, ValueError,
     r"counts × seeds × \(n \+ max\(counts\)\) is too large"),
    (lc.NoiseParams, (), {"n_train": 1800}, ValueError, r"n_train must be an integer in \[20, 1700\]"),
    (lc.NoiseParams, (), {"width": 0}, ValueError, r"width must be an integer in \[1, 100000\]"),
    (lc.NoiseParams, (), {"rates": (_NAN,)}, ValueError, r"rates\[i\] must be a finite number in \[0, 1\]"),
    (lc.NoiseParams, (), {"losses": ("logistic",)}, ValueError, r"losses must all be multiclass losses"),
    (lc.NoiseParams, (), {"lr": 0.0}, ValueError, r"lr must be a finite number in \(0, 10\]"),
    (lc.NoiseParams, (), {"epochs": 0}, ValueError, r"epochs must be an integer in \[1, 100000\]"),
    (lc.NoiseParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 1000\]"),
    (lc.NoiseParams, (), {"epochs": 10**5, "batch_size": 1, "n_train": 1700}, ValueError,
     r"epochs × \(n_train // batch_size\) \(steps\) must be an integer in \[1, 100000000\]"),
    (lc.NoiseParams, (), {"width": 10**5, "seeds": 1000}, ValueError,
     r"losses × rates × seeds × width .* is too large"),
    (lc.ImbalanceParams, (), {"n_total": 5}, ValueError, r"n_total must be an integer in \[10, 10000000\]"),
    (lc.ImbalanceParams, (), {"ratios": (0.5,)}, ValueError, r"ratios\[i\] must be a finite number in \[1, 100000\]"),
    (lc.ImbalanceParams, (), {"ratios": ()}, ValueError, r"ratios must have at least 1 entries"),
    (lc.ImbalanceParams, (), {"ratios": (1, 5000)}, ValueError, r"ratios must leave at least one minority point"),
    (lc.ImbalanceParams, (), {"lr": 200.0}, ValueError, r"lr must be a finite number in \(0, 100\]"),
    (lc.ImbalanceParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (lc.ImbalanceParams, (), {"n_total": 10**7, "seeds": 1000}, ValueError, r"ratios × seeds × n_total is too large"),
    (lc.ProliferationParams, (), {"n": 1}, ValueError, r"n must be an integer in \[2, 2000\]"),
    (lc.ProliferationParams, (), {"dims": (0,)}, ValueError, r"dims\[i\] must be an integer in \[1, 1000000\]"),
    (lc.ProliferationParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 10000\]"),
    (lc.ProliferationParams, (), {"n": 2000, "dims": (10**6,), "seeds": 1000}, ValueError,
     r"dims × seeds × n² \(and seeds × n × max\(dims\)\) is too large"),
    (lc.CalibrationParams, (), {"num_samples": 30}, ValueError, r"num_samples must be an integer in \[40, 1000000\]"),
    (lc.CalibrationParams, (), {"n_train": 4995}, ValueError, r"n_train must be an integer in \[20, 4990\]"),
    (lc.CalibrationParams, (), {"losses": ("mse",)}, ValueError, r"losses must all be multiclass losses"),
    (lc.CalibrationParams, (), {"batch_size": 0}, ValueError, r"batch_size must be an integer in \[1, 4000\]"),
    (lc.CalibrationParams, (), {"bins": 1}, ValueError, r"bins must be an integer in \[2, 1000\]"),
    (lc.CalibrationParams, (), {"num_samples": 10**6, "n_train": 20, "batch_size": 10, "records": 1000,
                           "seeds": 1000}, ValueError,
     r"losses × seeds × records × \(num_samples − n_train\) is too large"),
    (lc.calibration_bins, (_P, torch.tensor([0, 2])), {}, ValueError, r"y must be \[2\] int64 labels in \[0, 1\]"),
    (lc.calibration_bins, (_P, torch.tensor([0, 1, 1])), {}, ValueError, r"y must be \[2\] int64 labels"),
    (lc.calibration_bins, (_P, torch.tensor([0.0, 1.0])), {}, ValueError, r"y must be \[2\] int64 labels"),
    (lc.calibration_bins, (_P * 2, torch.tensor([0, 1])), {}, ValueError, r"prob must hold probabilities in \[0, 1\]"),
    (lc.calibration_bins, (_P * _NAN, torch.tensor([0, 1])), {}, ValueError, r"prob must hold only finite values"),
    (lc.calibration_bins, (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), {}, ValueError,
     r"prob must have at least 1 entries"),
    (lc.calibration_bins, (_P, torch.tensor([0, 1])), {"bins": 0}, ValueError,
     r"bins must be an integer in \[1, 100000\]"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_record_at_epoch_finds_an_exact_record_or_says_which_exist():
    result = {"epochs": torch.tensor([0.0, 5.0, 10.0, 20.0])}
    assert lc.record_at_epoch(result, 20) == 3
    with pytest.raises(ValueError, match=r"epoch must be one the run recorded \(0 … 20\), got 15"):
        lc.record_at_epoch(result, 15)
