"""Tests of widgets.implicit_bias against independent references: scikit-learn's SVM and logistic regression,
autograd, closed forms, and plain per-member loops."""

import math

import pytest
import torch

from widgets import implicit_bias as ib


def _symmetrize(x, y):
    """Add (−x, −y) for every point: the intercept of the SVM is then 0 by symmetry, so scikit-learn's SVC
    (which always fits one) must find the same w as an SVM through the origin."""
    return torch.cat([x, -x]), torch.cat([y, -y])


@pytest.mark.parametrize("support,seed", [("tilted", 0), ("symmetric", 1), ("tilted", 3)])
def test_svm_matches_sklearn(support, seed):
    from sklearn.svm import SVC

    x, y = ib.separable_points(30, 0.5, support, seed)
    ours = ib.hard_margin_svm(x, y)
    xs, ys = _symmetrize(x, y)
    ref = SVC(kernel="linear", C=1e6, tol=1e-8).fit(xs.numpy(), ys.numpy())
    assert abs(ref.intercept_[0]) < 1e-4
    assert torch.allclose(ours["w"], torch.tensor(ref.coef_[0]), atol=1e-4)


def test_svm_random_line_data_matches_sklearn():
    from sklearn.svm import SVC

    g = torch.Generator().manual_seed(5)
    x = torch.randn(60, 3, generator=g, dtype=torch.float64)
    y = torch.sign(x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    ours = ib.hard_margin_svm(x, y)
    xs, ys = _symmetrize(x, y)
    ref = SVC(kernel="linear", C=1e6, tol=1e-10).fit(xs.numpy(), ys.numpy())
    assert torch.allclose(ours["w"], torch.tensor(ref.coef_[0]), rtol=1e-3, atol=1e-3)
    # KKT: every margin ≥ 1, equality where α > 0
    m = (y[:, None] * x) @ ours["w"]
    assert m.min() > 1 - 1e-6
    assert torch.allclose(m[ours["alpha"] > 1e-8], torch.ones(1, dtype=torch.float64), atol=1e-6)


def test_svm_known_solution_of_the_constructed_sets():
    for support in ("symmetric", "tilted"):
        x, y = ib.separable_points(40, 1.0, support, 0)
        svm = ib.hard_margin_svm(x, y)
        assert torch.allclose(svm["w"], torch.tensor([0.5, 0.5], dtype=torch.float64), atol=1e-8)
        assert svm["margin"] == pytest.approx(math.sqrt(2), rel=1e-8)
        others = ((y[:, None] * x) @ torch.tensor([0.5, 0.5], dtype=torch.float64))[len(ib.SUPPORT[support][0]):]
        assert others.min() >= 2


def test_svm_rejects_nonseparable_and_bad_labels():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    assert not ib.separable_2d(y[:, None] * torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]).double())
    with pytest.raises(ValueError, match="not linearly separable"):
        ib.hard_margin_svm(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]).double(), torch.tensor([1.0, 1.0]).double(),
                           max_iter=2000)
    with pytest.raises(ValueError, match="y must"):
        ib.hard_margin_svm(x, torch.tensor([1.0, 2.0, -1.0]).double())
    assert ib.separable_2d(y[:, None] * x) == (((y[:, None] * x) @ torch.tensor([0.05, -1.0]).double()) > 0).all()


def test_logistic_gd_matches_autograd_loop():
    x, y = ib.separable_points(20, 0.5, "tilted", 2)
    z = (y[:, None] * x)[None]
    res = ib.logistic_gd(z, 0.7, 40, 3)
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    for _ in range(40):
        loss = torch.nn.functional.softplus(-(z[0] @ w)).mean()
        (g,) = torch.autograd.grad(loss, w)
        w = (w - 0.7 * g).detach().requires_grad_(True)
    assert res["steps"].tolist()[-1] == 40
    assert torch.allclose(res["w"][-1, 0], w.detach(), atol=1e-12)


def test_logistic_minimizer_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    p = ib.MaxMarginParams(steps=10, check_at=10, records=3)
    res = ib.max_margin(p)
    z = res["y_flipped"][:, None] * res["x"]
    ref = LogisticRegression(fit_intercept=False, C=1e12, tol=1e-12, max_iter=10_000).fit(
        res["x"].numpy(), (res["y_flipped"] > 0).numpy())
    assert torch.allclose(res["w_star"], torch.tensor(ref.coef_[0]), atol=1e-5)
    assert not ib.separable_2d(z)


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
        ib.max_margin(ib.MaxMarginParams(steps=100, check_at=1000))
    with pytest.raises(ValueError, match="lr"):
        ib.logistic_gd(torch.ones(1, 3, 2), -1.0, 10, 3)


def test_predicted_angle_needs_two_support_vectors():
    x, y = ib.separable_points(40, 1.0, "symmetric", 0)
    with pytest.raises(ValueError, match="two support vectors"):
        ib.predicted_angle(y[:, None] * x, ib.hard_margin_svm(x, y), 1.0, torch.tensor([10, 100]))


def _problem(K=3, n=12, D=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(K, n, D, generator=g, dtype=torch.float64)
    y = torch.where(torch.rand(K, n, generator=g) < 0.5, -1.0, 1.0).double()
    return x, y


def test_two_layer_grads_match_autograd():
    x, y = _problem()
    A, b = ib.init_two_layer([0, 1, 2], [5, 4, 5], 7, 5, "cpu", torch.float64)
    alpha = torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
    f0 = torch.randn(3, 12, dtype=torch.float64)
    loss, gA, gb = ib.two_layer_grads(A, b, x, y, alpha, f0)
    A_, b_ = A.clone().requires_grad_(True), b.clone().requires_grad_(True)
    f = (torch.relu(torch.bmm(x, A_)) * b_[:, None, :]).sum(-1) / 7
    ref = torch.nn.functional.softplus(-y * alpha[:, None] * (f - f0)).mean(1)
    rA, rb = torch.autograd.grad(ref.sum(), (A_, b_))
    assert torch.allclose(loss, ref.detach())
    assert torch.allclose(gA, rA, atol=1e-12) and torch.allclose(gb, rb, atol=1e-12)


def test_tangent_kernel_matches_autograd():
    x, _ = _problem(K=1, n=4, D=3)
    A, b = ib.init_two_layer([4], [3], 6, 3, "cpu", torch.float64)
    K = ib.tangent_kernel(A, b, x)[0]
    rows = []
    for i in range(4):
        A_, b_ = A.clone().requires_grad_(True), b.clone().requires_grad_(True)
        f = ib.two_layer_forward(A_, b_, x)[0][0, i]
        rows.append(torch.cat([t.flatten() for t in torch.autograd.grad(f, (A_, b_))]))
    J = torch.stack(rows)
    assert torch.allclose(K, J @ J.T, atol=1e-12)


def test_output_only_function_space_matches_parameter_gd():
    """The output-only path trains in function space with the fixed kernel; compare with plain GD on b."""
    x, y = _problem(K=2, n=10, D=4, seed=3)
    xt, yt = _problem(K=2, n=6, D=4, seed=4)
    steps, m, lr, alpha = 30, 9, 5.0, [1.0, 2.0]
    res = ib.train_two_layer(x, y, xt, yt, seeds=[0, 1], d_in=[4, 4], width=m, steps=steps, lr_first=[0.0, 0.0],
                             lr_out=[lr, lr], alpha=alpha, records=3, grid=xt, dtype=torch.float64, device="cpu")
    A, b = ib.init_two_layer([0, 1], [4, 4], m, 4, "cpu", torch.float64)
    al = torch.tensor(alpha, dtype=torch.float64)
    f0, f0t = ib.two_layer_forward(A, b, x)[0], ib.two_layer_forward(A, b, xt)[0]
    for _ in range(steps):
        _, _, gb = ib.two_layer_grads(A, b, x, y, al, f0)
        b = b - lr * gb
    ref = al[:, None] * (ib.two_layer_forward(A, b, xt)[0] - f0t)
    assert torch.allclose(res["grid_out"], ref, atol=1e-10)


def test_two_layer_member_in_batch_equals_alone():
    """Padding a member's input with zero columns (to batch it with wider members) changes nothing."""
    x, y = _problem(K=2, n=10, D=6, seed=7)
    x[0, :, 4:] = 0  # member 0 lives in 4 dimensions
    kw = dict(width=8, steps=20, records=2, dtype=torch.float64, device="cpu", kernel_points=5)
    both = ib.train_two_layer(x, y, x, y, seeds=[3, 4], d_in=[4, 6], lr_first=[2.0, 2.0], lr_out=[2.0, 2.0], **kw)
    alone = ib.train_two_layer(x[:1, :, :4], y[:1], x[:1, :, :4], y[:1], seeds=[3], d_in=[4], lr_first=[2.0],
                               lr_out=[2.0], **kw)
    assert torch.allclose(both["train_loss"][:, 0], alone["train_loss"][:, 0], atol=1e-12)
    assert torch.allclose(both["kernel_change"][0], alone["kernel_change"][0], atol=1e-10)


def test_train_two_layer_bad_input():
    x, y = _problem(K=2)
    with pytest.raises(ValueError, match="one entry per member"):
        ib.train_two_layer(x, y, x, y, seeds=[0, 1], d_in=[5], width=4, steps=1, lr_first=[1, 1], lr_out=[1, 1])
    with pytest.raises(ValueError, match="alpha"):
        ib.train_two_layer(x, y, x, y, seeds=[0, 1], d_in=[5, 5], width=4, steps=1, lr_first=[1, 1],
                           lr_out=[1, 1], alpha=[1.0, 0.0])
    with pytest.raises(ValueError, match="dims"):
        ib.two_layer_sweep(ib.TwoLayerParams(dims=(1,)))
    with pytest.raises(ValueError, match="alphas"):
        ib.lazy_sweep(ib.LazyParams(alphas=()))


def test_lazy_sweep_small_runs_and_weights_move_less():
    res = ib.lazy_sweep(ib.LazyParams(alphas=(1.0, 100.0), width=32, steps=30, n=64, n_test=64, seeds=(0,),
                                      kernel_points=16), device="cpu")
    assert res["weight_change"][1, 0] < res["weight_change"][0, 0] / 10


def test_deep_factorization_matches_autograd_and_identity_padding():
    M, mask = ib.low_rank_problem(6, 2, 0.6, 0, min_seen=2)
    Ms, masks = M.expand(3, 6, 6), mask.expand(3, 6, 6)
    res = ib.deep_factorization_gd(Ms, masks, depth=[1, 2, 3], init=[0.5, 0.5, 0.5], seeds=[0, 1, 2], lr=0.1,
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


def test_min_nuclear_completion_is_feasible_and_minimal():
    M, mask = ib.low_rank_problem(20, 2, 0.5, 1, min_seen=3)
    X = ib.min_nuclear_completion(M[None], mask[None], iters=1500)[0]
    assert ((X - M) * mask).norm() / (M * mask).norm() < 1e-3
    nuc = torch.linalg.svdvals(X).sum()
    assert nuc <= torch.linalg.svdvals(M).sum() + 1e-3  # M itself is feasible
    # fully observed: the only feasible point is M
    full = ib.min_nuclear_completion(M[None], torch.ones_like(mask)[None], iters=200)[0]
    assert torch.allclose(full, M, atol=1e-5)


def test_matrix_problem_bad_input():
    with pytest.raises(ValueError, match="min_seen"):
        ib.low_rank_problem(10, 2, 0.05, 0, min_seen=8)
    with pytest.raises(ValueError, match="depth"):
        ib.deep_factorization_gd(torch.zeros(1, 3, 3), torch.ones(1, 3, 3), depth=[4], init=[1.0], seeds=[0],
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
    out = ib.explore_two_layer(ib.TwoLayerParams(width=16, steps=5, n=32, n_test=32, records=3, grid=5), d=4,
                               alpha=10.0, both=False, device="cpu")
    assert out["grid_out"].shape == (len(out["steps"]), 25)
    figs.explorer_chart(out).to_dict()
