import math
from dataclasses import replace

import pytest
import torch

from widgets import eigenspace
from widgets.core import data, kernels, models, train

SMALL = eigenspace.LearnParams(d=8, spread=(0, 3, 6), ns=(8, 16, 32, 64, 128), seeds=2, n_test=128,
                               train_ns=(16, 32), steps=3, width=16, channels=4)


def test_spectra_claims_hold_at_small_d():
    p = eigenspace.SpectraParams(d=8, depths=(1, 2), qs=(2, 3))
    mlp = eigenspace.mlp_spectra(p)
    assert mlp["spread"].max() < 1e-13 < 1e-6 < mlp["smallest"].min() and int(mlp["simplicity_violations"].sum()) == 0
    assert mlp["zero_max"][0] < 1e-12 and mlp["zero_max"][1] == 0  # depth 1: odd degrees ≥ 3 vanish
    cnn = eigenspace.cnn_spectra(p)
    assert cnn["outside_max"].max() < 1e-12
    assert cnn["local_vs_mlp"] > 1
    assert cnn["grid"].shape == (2, 2, 9, 9) and torch.equal(cnn["rf"], torch.tensor([[2, 3], [3, 5]]))


def test_mode_ranks_match_binomial_counts():
    # for a depth-2 MLP the eigenvalue falls strictly with the degree, so the degree-3 target's rank is the
    # number of subsets of size ≤ 3: an independent closed form
    r = eigenspace.mode_counts(eigenspace.ModeParams(ds=(6, 8, 10, 12)))
    for j, d in enumerate((6, 8, 10, 12)):
        assert int(r["rank"][0, j]) == sum(math.comb(d, k) for k in range(4))
    assert (r["rank"][1] < r["rank"][0]).all()
    with pytest.raises(ValueError, match="ds must have at least 3 entries"):
        eigenspace.ModeParams(ds=(6, 8))


def test_eigenlearning_on_a_flat_spectrum():
    # M equal eigenvalues, no ridge: κ = λ(M − n)/n, every L = n/M, E = (1 − n/M)²·n/(n − n²/M) = 1 − n/M
    lam = torch.full((64,), 0.5, dtype=torch.float64)
    assert eigenspace.eigenlearning(lam, 3, 16) == pytest.approx(1 - 16 / 64, rel=1e-6)


def test_kernel_learning_small():
    r = eigenspace.kernel_learning(SMALL)
    assert r["mse"].shape == (2, 2, 5, 2) and torch.isfinite(r["mse"]).all()
    assert abs(float(r["lam"][1, 1])) < 1e-12  # the spread target is outside the CNN's receptive field
    assert r["mse"][1, 1].mean() > 0.5 and math.isinf(float(r["n_star"][1, 1]))
    assert r["mse"][1, 0, -1].mean() < 0.1  # the CNN learns the local one


def test_tiling_leaves_full_batch_training_unchanged():
    x = data.hypercube(6, n=8, seed=0)
    y = x[:, :2].prod(1, keepdim=True)
    runs = []
    for reps in (1, 4):
        fam = models.mlp(6, 1, widths=8, seeds=[5], depth=2, bias=False, device="cpu")
        ds = data.Dataset(x.repeat(reps, 1)[None], y.repeat(reps, 1)[None], x, y[:, 0])
        runs.append(train.train(fam, ds, steps=10, lr=0.05, optimizer="gd", momentum=0.9, records=2).params)
    for a, b in zip(*runs, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_trained_learning_runs_small():
    r = eigenspace.trained_learning(SMALL)
    assert r["mse"].shape == (2, 2, 2, 1) and torch.isfinite(r["mse"]).all()


def test_bad_parameters():
    with pytest.raises(ValueError, match="n_test"):
        replace(SMALL, n_test=250)
    with pytest.raises(ValueError, match="train_ns"):
        replace(SMALL, train_ns=(16, 24))
    with pytest.raises(ValueError, match="local\\[i\\]"):
        replace(SMALL, local=(0, 1, 9))
    with pytest.raises(ValueError, match="qs"):
        eigenspace.SpectraParams(d=4, qs=(5,))
    with pytest.raises(ValueError, match="depth"):
        kernels.spectrum(6, depth=0)


def test_presets():
    for cls in (eigenspace.SpectraParams, eigenspace.LearnParams, eigenspace.ModeParams):
        assert cls.preset("quick") == cls() != cls.preset("full")


def test_figures_build_with_titles_and_sliders():
    from widgets.figures import eigenspace as fig

    p = eigenspace.SpectraParams(d=6, depths=(1, 2), qs=(2, 3))
    charts = [fig.mlp_by_degree(eigenspace.mlp_spectra(p)), fig.cnn_heatmap(eigenspace.cnn_spectra(p)),
              fig.pair_distance(eigenspace.cnn_spectra(p)), fig.learning_curves(eigenspace.kernel_learning(SMALL)),
              fig.mode_ranks(eigenspace.mode_counts(eigenspace.ModeParams(ds=(6, 8, 10)))),
              fig.top_modes(kernels.spectrum(6, arch="cnn", depth=2))]
    for c in charts:
        spec = c.to_dict()
        assert spec.get("title") and spec.get("description")
    params = [q["name"] for q in charts[1].to_dict()["params"]]
    assert params == ["depth", "filter"]


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_BAD_INPUTS = [
    (eigenspace.SpectraParams, (), {"d": 1}, ValueError, r"d must be an integer in \[2, 24\]"),
    (eigenspace.SpectraParams, (), {"d": 30}, ValueError, r"d must be an integer in \[2, 24\]"),
    (eigenspace.SpectraParams, (), {"depths": ()}, ValueError, r"depths must have at least 1 entries"),
    (eigenspace.SpectraParams, (), {"depths": (0, 2)}, ValueError, r"depths\[i\] must be an integer in \[1, 64\]"),
    (eigenspace.SpectraParams, (), {"qs": (3, 17)}, ValueError, r"qs\[i\] must be an integer in \[1, 16\]"),
    (eigenspace.SpectraParams, (), {"depth": 5}, ValueError, r"depth must be one of depths \(1, 2, 3, 4\)"),
    (eigenspace.SpectraParams, (), {"q": 7}, ValueError, r"q must be one of qs \(2, 3, 4, 5\)"),
    (eigenspace.SpectraParams, (), {"kind": "gp"}, ValueError, r"kind must be one of"),
    (eigenspace.LearnParams, (), {"d": 3}, ValueError, r"d must be an integer in \[4, 20\]"),
    (eigenspace.LearnParams, (), {"depth": 0}, ValueError, r"depth must be an integer in \[1, 64\]"),
    (eigenspace.LearnParams, (), {"q": 13}, ValueError, r"q must be an integer in \[1, 12\]"),
    (eigenspace.LearnParams, (), {"local": ()}, ValueError, r"local must have at least 1 entries"),
    (eigenspace.LearnParams, (), {"spread": (0, 0, 4)}, ValueError, r"spread must not repeat a coordinate"),
    (eigenspace.LearnParams, (), {"spread": (0, 4, 12)}, ValueError, r"spread\[i\] must be an integer in \[0, 11\]"),
    (eigenspace.LearnParams, (), {"ns": (64, 32)}, ValueError, r"ns must be increasing sample sizes"),
    (eigenspace.LearnParams, (), {"ns": (0, 16)}, ValueError, r"ns\[i\] must be an integer in \[1, 4096\]"),
    (eigenspace.LearnParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 1000\]"),
    (eigenspace.LearnParams, (), {"ridge": 0.0}, ValueError, r"ridge must be a finite number in \(0, 1\]"),
    (eigenspace.LearnParams, (), {"n_test": 0}, ValueError, r"n_test must be an integer in \[1, 4096\]"),
    (eigenspace.LearnParams, (), {"n_test": 3000}, ValueError, r"n_test \+ max\(ns\) must be at most 2\^d = 4096"),
    (eigenspace.LearnParams, (), {"threshold": 0.0}, ValueError, r"threshold must be a finite number in \(0, 1\]"),
    (eigenspace.LearnParams, (), {"train_ns": (64, 96)}, ValueError, r"train_ns must divide max\(train_ns\) = 96"),
    (eigenspace.LearnParams, (), {"train_ns": (128, 64)}, ValueError, r"train_ns must be increasing"),
    (eigenspace.LearnParams, (), {"train_seeds": 0}, ValueError, r"train_seeds must be an integer in \[1, 1000\]"),
    (eigenspace.LearnParams, (), {"width": 0}, ValueError, r"width must be an integer in \[1, 100000\]"),
    (eigenspace.LearnParams, (), {"channels": 0}, ValueError, r"channels must be an integer in \[1, 10000\]"),
    (eigenspace.LearnParams, (), {"lr": -0.1}, ValueError, r"lr must be a finite number in \(0, 10\]"),
    (eigenspace.LearnParams, (), {"momentum": 1.0}, ValueError, r"momentum must be a finite number in \[0, 1\)"),
    (eigenspace.LearnParams, (), {"optimizer": "sgd"}, ValueError, r"optimizer must be one of \('gd', 'adam'\)"),
    (eigenspace.LearnParams, (), {"init_scale": 0.0}, ValueError, r"init_scale must be a finite number in \(0, 100"),
    (eigenspace.LearnParams, (), {"d": 20, "ns": (2**19,), "n_test": 1024, "seeds": 1000}, ValueError,
     r"seeds × max\(ns\)² .* is too large"),
    (eigenspace.eigenlearning, ("lam", 0, 10), {}, TypeError, r"lam must be a torch.Tensor"),
    (eigenspace.eigenlearning, (torch.tensor([1.0, _NAN]), 0, 10), {}, ValueError, r"lam must hold only finite"),
    (eigenspace.eigenlearning, (torch.ones(2, 2), 0, 10), {}, ValueError, r"lam must have shape \[M\]"),
    (eigenspace.eigenlearning, (torch.ones(4), 4, 10), {}, ValueError, r"target must be an integer in \[0, 3\]"),
    (eigenspace.eigenlearning, (torch.ones(4), 0, 0), {}, ValueError, r"n must be a finite number in \(0, inf\]"),
    (eigenspace.eigenlearning, (torch.ones(4), 0, 10, -1.0), {}, ValueError, r"ridge must be a finite number in \[0"),
    (eigenspace.ModeParams, (), {"degree": 0}, ValueError, r"degree must be an integer in \[1, 8\]"),
    (eigenspace.ModeParams, (), {"ds": (6, 8)}, ValueError, r"ds must have at least 3 entries"),
    (eigenspace.ModeParams, (), {"ds": (6, 10, 8)}, ValueError, r"ds must hold at least 3 increasing dimensions"),
    (eigenspace.ModeParams, (), {"ds": (2, 8, 10)}, ValueError, r"ds\[i\] must be an integer in \[3, 24\]"),
    (eigenspace.ModeParams, (), {"q": 0}, ValueError, r"q must be an integer in \[1, 24\]"),
    (eigenspace.ModeParams, (), {"depth": 65}, ValueError, r"depth must be an integer in \[1, 64\]"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
