"""Tests of widgets.implicit_bias against independent references: scikit-learn's SVM and logistic regression,
autograd, closed forms, and plain per-member loops."""

import math

import pytest
import torch

from widgets import implicit_bias as ib
from widgets.core import solvers


def test_svm_known_solution_of_the_constructed_sets():
    for support in ("symmetric", "tilted"):
        x, y = ib.separable_points(40, 1.0, support, 0)
        svm = solvers.hard_margin_svm(x, y)
        assert torch.allclose(svm["w"], torch.tensor([0.5, 0.5], dtype=torch.float64), atol=1e-8)
        assert svm["margin"] == pytest.approx(math.sqrt(2), rel=1e-8)
        others = ((y[:, None] * x) @ torch.tensor([0.5, 0.5], dtype=torch.float64))[len(ib.SUPPORT[support][0]):]
        assert others.min() >= 2


def test_separable_2d_on_small_sets():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    assert not ib.separable_2d(y[:, None] * torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]).double())
    assert ib.separable_2d(y[:, None] * x) == (((y[:, None] * x) @ torch.tensor([0.05, -1.0]).double()) > 0).all()


def test_logistic_gd_matches_autograd_loop():
    x, y = ib.separable_points(20, 0.5, "tilted", 2)
    z = (y[:, None] * x)[None]
    res = solvers.logistic_gd(z, 0.7, 40, 3)
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    for _ in range(40):
        loss = torch.nn.functional.softplus(-(z[0] @ w)).mean()
        (g,) = torch.autograd.grad(loss, w)
        w = (w - 0.7 * g).detach().requires_grad_(True)
    assert res["steps"].tolist()[-1] == 40
    assert torch.allclose(res["w"][-1, 0], w.detach(), atol=1e-12)


def test_max_margin_short_run_and_bad_input():
    res = ib.max_margin(ib.MaxMarginParams(steps=2000, check_at=2000, records=10))
    assert res["angle_deg"].shape == (len(res["steps"]), 2)
    assert torch.isnan(res["angle_deg"][0]).all()  # w = 0 has no direction
    assert (res["norm"][-1, :2] > res["norm"][-1, 2]).all()
    with pytest.raises(ValueError, match="gap"):
        ib.separable_points(40, 2.0)
    with pytest.raises(ValueError, match="support"):
        ib.separable_points(40, 1.0, "round")
    with pytest.raises(ValueError, match="check_at"):
        ib.MaxMarginParams(steps=100, check_at=1000)
    with pytest.raises(ValueError, match="lr"):
        solvers.logistic_gd(torch.ones(1, 3, 2), -1.0, 10, 3)


def test_predicted_angle_needs_two_support_vectors():
    x, y = ib.separable_points(40, 1.0, "symmetric", 0)
    with pytest.raises(ValueError, match="two support vectors"):
        ib.predicted_angle(y[:, None] * x, solvers.hard_margin_svm(x, y), 1.0, torch.tensor([10, 100]))


def test_two_layer_params_bad_input():
    with pytest.raises(ValueError, match="dims"):
        ib.TwoLayerParams(dims=(1,))
    with pytest.raises(ValueError, match="alphas"):
        ib.LazyParams(alphas=())
    with pytest.raises(ValueError, match="alpha"):
        ib.OneNetParams(alpha=0.0)


def test_lazy_sweep_small_runs_and_weights_move_less():
    res = ib.lazy_sweep(ib.LazyParams(alphas=(1.0, 100.0), width=32, steps=30, n=64, n_test=64, seeds=(0,),
                                      kernel_points=16), device="cpu")
    assert res["weight_change"][1, 0] < res["weight_change"][0, 0] / 10


def test_deep_factorization_matches_autograd_and_identity_padding():
    M, mask = ib.low_rank_problem(6, 2, 0.6, 0, min_seen=2)
    Ms, masks = M.expand(3, 6, 6), mask.expand(3, 6, 6)
    res = solvers.deep_factorization_gd(Ms, masks, depth=[1, 2, 3], init=[0.5, 0.5, 0.5], seeds=[0, 1, 2], lr=0.1,
                                   steps=5, records=2, dtype=torch.float64, device="cpu")
    for k, d in enumerate([1, 2, 3]):
        g = torch.Generator().manual_seed(k)
        Ws = [(torch.randn(6, 6, generator=g, dtype=torch.float64) * (0.5 / math.sqrt(6))).requires_grad_(True)
              for _ in range(3)][:d]
        for _ in range(5):
            W = Ws[0]
            for F in Ws[1:]:
                W = F @ W
            loss = 0.5 * (((W - M) * mask) ** 2).sum()
            grads = torch.autograd.grad(loss, Ws)
            Ws = [(F - 0.1 * gF).detach().requires_grad_(True) for F, gF in zip(Ws, grads, strict=True)]
        W = Ws[0]
        for F in Ws[1:]:
            W = F @ W
        assert torch.allclose(res["W"][k], W.detach(), atol=1e-12)
    # depth 1 never touches the unobserved entries: they keep their initial values
    W0 = torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * (0.5 / math.sqrt(6))
    assert torch.equal(res["W"][0] * (1 - mask), W0 * (1 - mask))


def test_matrix_problem_bad_input():
    with pytest.raises(ValueError, match="min_seen"):
        ib.low_rank_problem(10, 2, 0.05, 0, min_seen=8)
    with pytest.raises(ValueError, match="depth"):
        solvers.deep_factorization_gd(torch.zeros(1, 3, 3), torch.ones(1, 3, 3), depth=[4], init=[1.0], seeds=[0],
                                 lr=0.1, steps=1, records=2)
    with pytest.raises(ValueError, match="observed"):
        ib.low_rank_problem(10, 2, 0.0, 0)


def test_charts_and_explorer_build():
    pytest.importorskip("altair")
    from widgets.figures import implicit_bias as figs

    mm = ib.max_margin(ib.MaxMarginParams(steps=300, check_at=300, records=8))
    tl = ib.two_layer_sweep(ib.TwoLayerParams(dims=(3, 5), width=16, steps=5, steps_output=5, n=32, n_test=32,
                                              seeds=(0,), records=3, grid=5), device="cpu")
    lz = ib.lazy_sweep(ib.LazyParams(alphas=(1.0, 10.0), width=16, steps=5, n=32, n_test=32, seeds=(0,),
                                     kernel_points=8, records=3), device="cpu")
    mf = ib.matrix_sweep(ib.MatrixParams(size=8, depths=(1, 3), inits=(1.0, 0.1), seeds=(0,), steps=10, records=3,
                                         nuclear_iters=20, min_seen=1), device="cpu")
    charts = [figs.angle_chart(mm), figs.norm_chart(mm), figs.boundary_slider(mm), figs.boundaries_chart(tl),
              figs.test_error_chart(tl), figs.lazy_chart(lz), figs.singular_values_chart(mf, top=4),
              figs.matrix_error_chart(mf)]
    for c in charts:
        spec = c.to_dict()
        assert spec.get("description") and spec.get("title")
    assert list(figs.matrix_table(mf).columns) == ["test rel. error", "effective rank", "nuclear norm"]
    assert figs.two_layer_table(tl).shape == (2, 2)
    out = ib.explore_two_layer(ib.OneNetParams(width=16, steps=5, n=32, n_test=32, records=3, grid=5, d=4,
                                               alpha=10.0, both=False), device="cpu")
    assert out["grid_out"].shape == (len(out["steps"]), 25)
    figs.explorer_chart(out).to_dict()


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_Z = torch.tensor([[0.0, 2.0], [2.5, -0.5], [3.0, 1.0]], dtype=torch.float64)  # the tilted set's z, plus a point
_SVM = solvers.hard_margin_svm(_Z, torch.ones(3, dtype=torch.float64))
_BAD_INPUTS = [
    (ib.MaxMarginParams, (), {"n": 5}, ValueError, r"n must be an integer in \[6, 1000000\]"),
    (ib.MaxMarginParams, (), {"gap": _NAN}, ValueError, r"gap must be a finite number in \(0, 1.5\]"),
    (ib.MaxMarginParams, (), {"lr": 0.0}, ValueError, r"lr must be a finite number in \(0, 1000"),
    (ib.MaxMarginParams, (), {"steps": 0}, ValueError, r"steps must be an integer in \[1, 10000000\]"),
    (ib.MaxMarginParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (ib.MaxMarginParams, (), {"n_flip": 19}, ValueError, r"n_flip must be an integer in \[1, 18\]"),
    (ib.MaxMarginParams, (), {"check_at": 10**6}, ValueError, r"check_at must be an integer in \[1, 100000\]"),
    (ib.MaxMarginParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (ib.separable_points, (40, 0.5, "round"), {}, ValueError, r"support must be one of"),
    (ib.separable_points, (5,), {}, ValueError, r"n must be an integer in \[6, 1000000\]"),
    (ib.separable_points, (40, 2.0), {}, ValueError, r"gap must be a finite number in \(0, 1.5\]"),
    (ib.separable_points, (40, 0.5, "tilted", -1), {}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (ib.predicted_angle, (_Z[:, :1], _SVM, 1.0, torch.tensor([2])), {}, ValueError, r"z must have shape \[n, 2\]"),
    (ib.predicted_angle, (_Z, {"w": _SVM["w"]}, 1.0, torch.tensor([2])), {}, ValueError,
     r"svm must be hard_margin_svm's dict"),
    (ib.predicted_angle, (_Z, [1, 2], 1.0, torch.tensor([2])), {}, TypeError, r"svm must be hard_margin_svm's dict"),
    (ib.predicted_angle, (_Z, {**_SVM, "alpha": torch.ones(2)}, 1.0, torch.tensor([2])), {}, ValueError,
     r"svm must hold w \[2\] and alpha \[3\]"),
    (ib.predicted_angle, (_Z, _SVM, _NAN, torch.tensor([2])), {}, ValueError, r"lr must be a finite number in \(0"),
    (ib.predicted_angle, (_Z, _SVM, 1.0, torch.tensor([0, 2])), {}, ValueError, r"steps must hold steps t ≥ 1"),
    (ib.predicted_angle, (_Z, _SVM, 1.0, [2, 3]), {}, TypeError, r"steps must be a torch.Tensor"),
    (ib.separable_2d, (torch.zeros(3, 3),), {}, ValueError, r"z must have shape \[n, 2\]"),
    (ib.separable_2d, (torch.zeros(0, 2),), {}, ValueError, r"z must have at least 1 entries"),
    (ib.separable_2d, (torch.tensor([[_NAN, 1.0]]),), {}, ValueError, r"z must hold only finite values"),
    (ib.TwoLayerParams, (), {"k": 1}, ValueError, r"k must be an integer in \[2, 20\]"),
    (ib.TwoLayerParams, (), {"sigma": -0.1}, ValueError, r"sigma must be a finite number in \[0, 10\]"),
    (ib.TwoLayerParams, (), {"n": 1}, ValueError, r"n must be an integer in \[2, 1000000\]"),
    (ib.TwoLayerParams, (), {"n_test": 0}, ValueError, r"n_test must be an integer in \[1, 1000000\]"),
    (ib.TwoLayerParams, (), {"dims": (1,)}, ValueError, r"dims\[i\] must be an integer in \[2, 10000\]"),
    (ib.TwoLayerParams, (), {"dims": ()}, ValueError, r"dims must have at least 1 entries"),
    (ib.TwoLayerParams, (), {"width": 0}, ValueError, r"width must be an integer in \[1, 1000000\]"),
    (ib.TwoLayerParams, (), {"steps_output": 0}, ValueError, r"steps_output must be an integer in \[1, 10000000\]"),
    (ib.TwoLayerParams, (), {"eta_both": 1e6}, ValueError, r"eta_both must be a finite number in \(0, 195312.5\]"),
    (ib.TwoLayerParams, (), {"eta_output": _NAN}, ValueError, r"eta_output must be a finite number"),
    (ib.TwoLayerParams, (), {"seeds": (0, -1)}, ValueError, r"seeds\[i\] must be an integer in \[0, inf\]"),
    (ib.TwoLayerParams, (), {"grid": 1}, ValueError, r"grid must be an integer in \[2, 1000\]"),
    (ib.TwoLayerParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (ib.TwoLayerParams, (), {"width": 10**6, "n": 10**6}, ValueError,
     r"dims × seeds × width × \(n \+ n_test \+ grid²\) is too large"),
    (ib.OneNetParams, (), {"d": 1}, ValueError, r"d must be an integer in \[2, 10000\]"),
    (ib.OneNetParams, (), {"alpha": 0.0}, ValueError, r"alpha must be a finite number in \(0, 1000000"),
    (ib.OneNetParams, (), {"alpha": 1e-6}, ValueError, r"eta · width / alpha² must be a finite number in \[0"),
    (ib.OneNetParams, (), {"both": 1}, TypeError, r"both must be True or False"),
    (ib.OneNetParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (ib.cluster_data, (3, 0, 10, 5, 0.05, 0), {}, ValueError, r"n must be an integer in \[1, 10000000\]"),
    (ib.cluster_data, (3, 10, 0, 5, 0.05, 0), {}, ValueError, r"n_test must be an integer in \[1, 10000000\]"),
    (ib.cluster_data, (0, 10, 10, 5, 0.05, 0), {}, ValueError, r"k must be an integer in \[1, 100\]"),
    (ib.cluster_data, (3, 10, 10, 5, _NAN, 0), {}, ValueError, r"sigma must be a finite number"),
    (ib.plane_grid, (1,), {}, ValueError, r"size must be an integer in \[2, 1000\]"),
    (ib.plane_grid, (5,), {"lim": -1.0}, ValueError, r"lim must be a finite number in \(0"),
    (ib.plane_grid, ("5",), {}, ValueError, r"size must be an integer"),
    (ib.embed_plane, (torch.zeros(4, 3), 2, 5), {}, ValueError, r"points must have shape \[G, 2\]"),
    (ib.embed_plane, (torch.zeros(4, 2), 6, 5), {}, ValueError, r"d must be an integer in \[2, 5\]"),
    (ib.embed_plane, (torch.zeros(4, 2), 2, 1), {}, ValueError, r"d_max must be an integer in \[2, 1000000\]"),
    (ib.embed_plane, (torch.full((4, 2), _NAN), 2, 5), {}, ValueError, r"points must hold only finite values"),
    (ib.embed_plane, (torch.zeros(10**6, 2), 2, 10**5), {}, ValueError,
     r"1000000 points in 100001 dimensions is too large"),
    (ib.LazyParams, (), {"alphas": ()}, ValueError, r"alphas must have at least 1 entries"),
    (ib.LazyParams, (), {"alphas": (-1.0,)}, ValueError, r"alphas\[i\] must be a finite number in \(0"),
    (ib.LazyParams, (), {"alphas": (1e-3,)}, ValueError, r"eta · width / min\(alphas\)² must be a finite number"),
    (ib.LazyParams, (), {"d": 1}, ValueError, r"d must be an integer in \[2, 10000\]"),
    (ib.LazyParams, (), {"eta": 0.0}, ValueError, r"eta must be a finite number in \(0"),
    (ib.LazyParams, (), {"sigma": _NAN}, ValueError, r"sigma must be a finite number"),
    (ib.LazyParams, (), {"kernel_points": -1}, ValueError, r"kernel_points must be an integer in \[0, 100000\]"),
    (ib.LazyParams, (), {"seeds": ()}, ValueError, r"seeds must have at least 1 entries"),
    (ib.LazyParams, (), {"width": 10**6, "n": 10**6}, ValueError, r"alphas × seeds × width × n .* is too large"),
    (ib.MatrixParams, (), {"size": 1}, ValueError, r"size must be an integer in \[2, 10000\]"),
    (ib.MatrixParams, (), {"rank": 31}, ValueError, r"rank must be an integer in \[1, 30\]"),
    (ib.MatrixParams, (), {"observed": 0.0}, ValueError, r"observed must be a finite number in \(0, 1\]"),
    (ib.MatrixParams, (), {"depths": (4,)}, ValueError, r"depths\[i\] must be an integer in \[1, 3\]"),
    (ib.MatrixParams, (), {"inits": (0.0,)}, ValueError, r"inits\[i\] must be a finite number in \(0, 1000"),
    (ib.MatrixParams, (), {"seeds": ()}, ValueError, r"seeds must have at least 1 entries"),
    (ib.MatrixParams, (), {"lr": -1.0}, ValueError, r"lr must be a finite number in \(0"),
    (ib.MatrixParams, (), {"min_seen": 31}, ValueError, r"min_seen must be an integer in \[0, 30\]"),
    (ib.MatrixParams, (), {"nuclear_iters": 0}, ValueError, r"nuclear_iters must be an integer in \[1, 1000000\]"),
    (ib.MatrixParams, (), {"size": 10**4, "seeds": tuple(range(20))}, ValueError,
     r"depths × inits × seeds × size² \(and records\) is too large"),
    (ib.low_rank_problem, (1, 1, 0.5, 0), {}, ValueError, r"size must be an integer in \[2, 10000\]"),
    (ib.low_rank_problem, (10, 11, 0.5, 0), {}, ValueError, r"rank must be an integer in \[1, 10\]"),
    (ib.low_rank_problem, (10, 2, 1.5, 0), {}, ValueError, r"observed must be a finite number in \(0, 1\]"),
    (ib.low_rank_problem, (10, 2, 0.5, -1), {}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (ib.low_rank_problem, (10, 2, 0.05, 0, 5), {}, ValueError, r"min_seen=5 is not reachable"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_a_zero_vector_is_never_strictly_inside_a_half_plane():
    z = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 0.1]], dtype=torch.float64)
    assert not ib.separable_2d(z)
    assert ib.separable_2d(z[[0, 2]])
