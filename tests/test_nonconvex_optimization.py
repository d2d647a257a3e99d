"""The nonconvex-optimization chapter: closed forms against independent references, batched solvers against
lone runs, and the figures on small results."""

import math
from dataclasses import replace

import pytest
import torch

from widgets import nonconvex_optimization as nc
from widgets.core import data, landscapes, train


def _sphere(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True), g


def test_h_inf_closed_form_matches_a_very_wide_random_layer():
    x, _ = _sphere(6, 4)
    fam = landscapes.du_network(4, [200_000], [3], dtype=torch.float64)
    empirical = landscapes.pattern_gram(fam, x)[0]
    closed = landscapes.relu_gram_inf(x)
    assert torch.allclose(torch.diagonal(closed), torch.full((6,), 0.5, dtype=torch.float64))
    assert (empirical - closed).abs().max() < 5e-3  # Monte Carlo error ~ 1/√m
    assert torch.linalg.eigvalsh(closed)[0] > 0  # no two inputs parallel: λ₀ > 0


def test_fixed_readout_forward_is_the_papers_formula():
    x, _ = _sphere(5, 3)
    fam = landscapes.du_network(3, [4, 7], [1, 2], dtype=torch.float64)
    W, a = fam.params[0].detach(), fam.a
    out = fam(x)[..., 0]
    for k, (lo, hi) in enumerate(((0, 4), (4, 11))):
        m = hi - lo
        ref = (a[lo:hi] * torch.relu(x @ W[lo:hi].T)).sum(1) / math.sqrt(m)
        assert torch.allclose(out[k], ref)


def test_a_width_in_the_packed_family_trains_like_a_lone_network():
    x, g = _sphere(12, 6)
    y = torch.randn(12, generator=g, dtype=torch.float64)
    ds = data.Dataset(x, y[:, None], x[:1], y[:1, None])
    kw = dict(steps=15, lr=0.3, loss=landscapes.half_sum_squares, optimizer="gd", records=16, spacing="linear")
    both = train.train(landscapes.du_network(6, [20, 90], [7, 8], dtype=torch.float64), ds, **kw)
    lone = train.train(landscapes.du_network(6, [90], [8], dtype=torch.float64), ds, **kw)
    assert torch.allclose(both.train_loss[:, 1], lone.train_loss[:, 0], rtol=1e-10, atol=1e-12)
    assert torch.allclose(both.params[0][20:], lone.params[0], atol=1e-12)
    assert both.train_loss[-1, 1] < 0.5 * both.train_loss[0, 1]  # it trains


def test_wide_nets_small_run_obeys_the_bound_and_the_kernel():
    p = nc.WideParams(n=16, d=16, widths=(16, 4000), lr=0.5, steps=40, read_at=10.0)
    r = nc.wide_nets(p)
    s = nc.wide_summary(r, p.read_at)
    assert torch.allclose(r["loss"][0], r["kernel_loss"][0], rtol=1e-4)  # same r(0) at k = 0
    assert s["bound_holds"] and s["bound_margin"] <= 1.0 + 1e-9
    assert abs(s["lam_h0_widest"] - 1) < abs(s["lam_h0_narrowest"] - 1)
    assert r["move_max"][0, 1] < r["move_max"][0, 0]
    wide_gap = (r["loss"][-1, 0, 1].log() - r["kernel_loss"][-1, 0, 1].log()).abs()
    assert wide_gap < 0.3  # the wide net follows its kernel prediction


def test_saddle_gd_batched_rows_equal_lone_rows_and_offsets_grow_at_one_plus_eta_gamma():
    d, lr = 6, 0.05
    A = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0].T
    u_s = (A[0] + A[1]) / math.sqrt(2)
    escape_dir = (A[0] - A[1]) / math.sqrt(2)  # inside span(S), orthogonal to u_S: curvature −8/|S| = −4
    starts = torch.stack([u_s + eps * escape_dir for eps in (1e-4, 1e-8)])
    starts = starts / starts.norm(dim=1, keepdim=True)
    both = landscapes.sphere_saddle_gd(A, starts, lr=lr, steps=400, noise=0.0)
    lone = landscapes.sphere_saddle_gd(A, starts[1:], lr=lr, steps=400, noise=0.0)
    assert torch.allclose(both["u"][1], lone["u"][0], atol=1e-12)  # rounding may differ, not the run
    assert abs(int(both["escape"][1]) - int(lone["escape"][0])) <= 1
    gap = int(both["escape"][1] - both["escape"][0])
    assert abs(gap - math.log(1e4) / math.log(1 + lr * 4)) <= 2
    assert both["f"].max() < -0.99  # both reach a minimum ±a_k, where f = −1


def test_saddle_gd_noise_argument_is_checked():
    A = torch.eye(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="noise"):
        landscapes.sphere_saddle_gd(A, A[:1], lr=0.1, steps=1, noise=-1.0)


def test_tensor_decomposition_true_components_are_a_fixed_point_and_batching_is_exact():
    d = 5
    A = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64))[0].T
    U0 = torch.randn(3, d, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    U0 = torch.cat([A[None], U0 / U0.norm(dim=-1, keepdim=True)])
    both = landscapes.tensor_decomposition_gd(A, U0, lr=0.02, steps=300, noise=0.0)
    lone = landscapes.tensor_decomposition_gd(A, U0[2:3], lr=0.02, steps=300, noise=0.0)
    assert both["objective"][0] < 1e-28 and both["recovery"][0] > 1 - 1e-12
    assert torch.allclose(both["U"][2], lone["U"][0], atol=1e-12)


def test_psd_completion_gradient_and_batching():
    g = torch.Generator().manual_seed(0)
    d, r = 12, 2
    Z = torch.randn(d, r, generator=g, dtype=torch.float64)
    M = Z @ Z.T
    up = torch.triu(torch.rand(d, d, generator=g) < 0.6).double()
    mask = up + torch.triu(up, 1).T
    U = torch.randn(1, d, r, generator=g, dtype=torch.float64, requires_grad=True)
    p = float(mask.mean())
    f = ((U[0] @ U[0].T - M) * mask).pow(2).sum() / (2 * p)
    (grad,) = torch.autograd.grad(f, U)
    lr = 1e-3
    step = landscapes.psd_completion_gd(M, mask, U.detach(), lr=lr, steps=1, records=2)
    assert torch.allclose(step["U"], U.detach() - lr * grad)
    U0 = torch.randn(3, d, r, generator=g, dtype=torch.float64)
    both = landscapes.psd_completion_gd(M, mask, U0, lr=0.01, steps=50, records=3)
    lone = landscapes.psd_completion_gd(M, mask, U0[1:2], lr=0.01, steps=50, records=3)
    assert torch.allclose(both["U"][1], lone["U"][0], atol=1e-13)
    with pytest.raises(ValueError, match="symmetric"):
        landscapes.psd_completion_gd(M, up, U0, lr=0.01, steps=1)


def test_relu_teacher_loss_matches_monte_carlo_and_its_gradient_finite_differences():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    V = torch.eye(3, dtype=torch.float64)
    F, G = landscapes.relu_teacher_loss(W, V, grad=True)
    x = torch.randn(400_000, 3, generator=g, dtype=torch.float64)
    r = torch.relu(x @ W[0].T).sum(1) - torch.relu(x @ V.T).sum(1)
    assert abs(float(F[0]) - float(0.5 * (r**2).mean())) < 0.02 * float(F[0])
    D = torch.randn(W.shape, generator=g, dtype=torch.float64)
    h = 1e-6
    fd = (landscapes.relu_teacher_loss(W + h * D, V) - landscapes.relu_teacher_loss(W - h * D, V)) / (2 * h)
    assert torch.allclose(fd, (G * D).sum((1, 2)), rtol=1e-6)
    F0, G0 = landscapes.relu_teacher_loss(V[None], V, grad=True)  # the teacher itself: a global minimum
    assert abs(float(F0[0])) < 1e-12 and float(G0.abs().max()) < 1e-12


def test_relu_teacher_gd_batched_equals_lone():
    g = torch.Generator().manual_seed(3)
    W0 = torch.randn(3, 4, 4, generator=g, dtype=torch.float64) / 2
    V = torch.eye(4, dtype=torch.float64)
    both = landscapes.relu_teacher_gd(W0, V, lr=0.5, steps=200, records=3)
    lone = landscapes.relu_teacher_gd(W0[2:], V, lr=0.5, steps=200, records=3)
    assert torch.allclose(both["W"][2], lone["W"][0], atol=1e-13)
    assert (both["loss"][-1] < both["loss"][0]).all()


def test_affine_regime_point_is_the_least_squares_fit_with_every_unit_linear():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, 2, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.sin(3 * x[:, 0]) * x[:, 1]
    pt = landscapes.affine_regime_point(x, y, hidden=5)
    pre = x @ pt["W1"] + pt["b1"]
    assert float(pre.min()) >= 1 - 1e-12
    f = torch.relu(pre) @ pt["W2"] + pt["b2"]
    assert torch.allclose(f, x @ pt["beta"] + pt["beta0"])
    assert abs(float(((f - y) ** 2).mean()) - pt["ls_mse"]) < 1e-12


def test_affine_minimum_small_run():
    r = nc.affine_minimum(nc.AffineParams(n=20, hidden=4, perturbations=50, inits=3, steps=300))
    assert abs(r["point_loss"] - r["ls_loss"]) < 1e-12 and r["grad_norm"] < 1e-10
    assert float(r["deltas"].min()) >= -1e-12
    assert r["n_params"] == 4 * 2 + 4 + 4 + 1


@pytest.mark.parametrize("cls, field, value", [
    (nc.WideParams, "lr", 2.0), (nc.WideParams, "widths", ()), (nc.WideParams, "read_at", 1e6),
    (nc.SaddleParams, "orders", (1,)), (nc.SaddleParams, "sigmas", (2.0,)),
    (nc.CompletionParams, "p", 0.0), (nc.StudentParams, "ks", (1,)), (nc.AffineParams, "lr", 0.5)])
def test_bad_parameters_raise_naming_the_field(cls, field, value):
    with pytest.raises(ValueError, match=field):
        replace(cls(), **{field: value})


def test_figures_build_from_small_results():
    from widgets.figures import nonconvex_optimization as figs
    from widgets.figures.charts import to_vega

    wide = nc.wide_nets(nc.WideParams(n=8, d=8, widths=(8, 64), steps=10, read_at=2.0))
    sad = nc.saddles(nc.SaddleParams(d=4, orders=(2, 4), sigmas=(1e-2, 1e-6), reps=3, steps=600, stall_steps=10,
                                     inits=2, tensor_steps=20, clean_steps=5))
    ss = nc.students(nc.StudentParams(ks=(3,), inits=4, steps=20, records=2))
    mc = nc.completion(nc.CompletionParams(d=10, r=2, inits=3, steps=20, records=2))
    hwt = nc.affine_minimum(nc.AffineParams(n=10, hidden=3, perturbations=5, inits=2, steps=20, records=2))
    for chart in (figs.wide_net_panels(wide), figs.saddle_escape(sad), figs.student_strips(ss),
                  figs.landscape_strips(ss, mc, hwt), figs.WideNetExplorer(nc.WideParams()).chart(wide)):
        spec = chart.to_dict()
        assert spec.get("description")
        assert to_vega(spec)  # the static page's compile succeeds (params, bindings and all)
    params = {p["name"] for p in figs.wide_net_panels(wide).to_dict().get("params", [])}
    assert "width_index" in params


def test_a_saddle_in_the_coordinate_basis_is_an_exact_fixed_point_and_noise_leaves_it():
    eye = torch.eye(5, dtype=torch.float64)
    u_s = torch.stack([eye[:2].sum(0) / math.sqrt(2), eye[:3].sum(0) / math.sqrt(3)])
    still = landscapes.sphere_saddle_gd(eye, u_s, lr=0.05, steps=2000, noise=0.0)
    assert float(still["distance"].max()) < 1e-15 and (still["escape"] < 0).all()
    noisy = landscapes.sphere_saddle_gd(eye, u_s, lr=0.05, steps=2000, noise=1e-6)
    assert (noisy["escape"] > 0).all() and float(noisy["f"].max()) < -0.99


def test_explorer_trains_only_on_a_control_change():
    pytest.importorskip("ipywidgets")
    from widgets.figures import nonconvex_optimization as figs

    ex = figs.WideNetExplorer(nc.WideParams.preset("full"), device="cpu")
    assert ex.params == nc.WideParams()  # explorers start from the quick preset
    calls = []
    compute = ex.compute
    ex.compute = lambda **v: calls.append(v) or compute(**v)
    ex.widget()
    assert calls == [] and ex.last_result is None
    ex.controls["dim"].value = 20
    assert calls[-1]["dim"] == 20 and ex.last_result["params"]["n"] == 20
    assert ex.last_result["widths"].tolist() == [ex.controls["width"].value]


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_WIDE = {"widths": torch.tensor([8, 16]), "loss": torch.ones(3, 1, 2), "lr": 0.4, "steps": torch.arange(3),
         "lam0": 0.1, "kernel_loss": torch.ones(3, 1, 2), "move_max": torch.ones(1, 2), "flip": torch.ones(1, 2),
         "bound": torch.ones(3, 1, 2), "lam_h0": torch.ones(1, 2)}
_BAD_INPUTS = [
    (nc.WideParams, (), {"n": 1}, ValueError, r"n must be an integer in \[2, 100000\]"),
    (nc.WideParams, (), {"d": 1}, ValueError, r"d must be an integer in \[2, 100000\]"),
    (nc.WideParams, (), {"widths": ()}, ValueError, r"widths must have at least 1 entries"),
    (nc.WideParams, (), {"widths": (0, 8)}, ValueError, r"widths\[i\] must be an integer in \[1, 1000000\]"),
    (nc.WideParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 100\]"),
    (nc.WideParams, (), {"lr": 2.0}, ValueError, r"lr must be a finite number in \(0, 1.5\]"),
    (nc.WideParams, (), {"steps": 10**5}, ValueError, r"steps must be an integer in \[2, 99999\]"),
    (nc.WideParams, (), {"read_at": 100.0}, ValueError, r"read_at must be a finite number in \(0, 40"),
    (nc.WideParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (nc.WideParams, (), {"n": 10**5, "d": 10**5, "widths": (10**6,)}, ValueError,
     r"seeds × widths × \(d \+ n\) \(and seeds × widths × n²\) is too large"),
    (nc.wide_summary, ([1, 2], 1.0), {}, TypeError, r"r must be the dict of wide_nets"),
    (nc.wide_summary, ({"loss": torch.ones(2)}, 1.0), {}, ValueError, r"r must be wide_nets' dict, missing"),
    (nc.wide_summary, (_WIDE, 5.0), {}, ValueError, r"read_at must be a finite number in \(0, 0.8"),
    (nc.wide_summary, (_WIDE, _NAN), {}, ValueError, r"read_at must be a finite number"),
    (nc.SaddleParams, (), {"d": 1}, ValueError, r"d must be an integer in \[2, 10000\]"),
    (nc.SaddleParams, (), {"lr": 1.0}, ValueError, r"lr must be a finite number in \(0, 0.5\]"),
    (nc.SaddleParams, (), {"orders": (1,)}, ValueError, r"orders\[i\] must be an integer in \[2, 10\]"),
    (nc.SaddleParams, (), {"orders": ()}, ValueError, r"orders must have at least 1 entries"),
    (nc.SaddleParams, (), {"sigmas": (2.0,)}, ValueError, r"sigmas\[i\] must be a finite number in \(0, 1\)"),
    (nc.SaddleParams, (), {"sigmas": ("x",)}, ValueError, r"sigmas\[i\] must be a number"),
    (nc.SaddleParams, (), {"reps": 0}, ValueError, r"reps must be an integer in \[1, 100000\]"),
    (nc.SaddleParams, (), {"stall_steps": 0}, ValueError, r"stall_steps must be an integer in \[1, 10000000\]"),
    (nc.SaddleParams, (), {"radius": 0.0}, ValueError, r"radius must be a finite number in \(0, 1\]"),
    (nc.SaddleParams, (), {"tensor_noise": -1.0}, ValueError, r"tensor_noise must be a finite number in \[0, 1\]"),
    (nc.SaddleParams, (), {"clean_steps": -1}, ValueError, r"clean_steps must be an integer in \[0, 10000000\]"),
    (nc.SaddleParams, (), {"d": 10**4, "inits": 10**5}, ValueError, r"orders × sigmas × reps × d .* is too large"),
    (nc.CompletionParams, (), {"d": 1}, ValueError, r"d must be an integer in \[2, 100000\]"),
    (nc.CompletionParams, (), {"r": 101}, ValueError, r"r must be an integer in \[1, 100\]"),
    (nc.CompletionParams, (), {"p": 0.0}, ValueError, r"p must be a finite number in \(0, 1\]"),
    (nc.CompletionParams, (), {"lr": _NAN}, ValueError, r"lr must be a finite number in \(0, 1\]"),
    (nc.CompletionParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (nc.CompletionParams, (), {"d": 10**5, "inits": 10}, ValueError, r"inits × d² is too large"),
    (nc.StudentParams, (), {"ks": (1,)}, ValueError, r"ks\[i\] must be an integer in \[2, 1000\]"),
    (nc.StudentParams, (), {"extra": 0}, ValueError, r"extra must be an integer in \[1, 100\]"),
    (nc.StudentParams, (), {"inits": 0}, ValueError, r"inits must be an integer in \[1, 100000\]"),
    (nc.StudentParams, (), {"spurious_loss": 0.0}, ValueError, r"spurious_loss must be a finite number in \(0"),
    (nc.StudentParams, (), {"stationary_grad": _NAN}, ValueError, r"stationary_grad must be a finite number"),
    (nc.StudentParams, (), {"ks": (1000,), "inits": 10**5}, ValueError,
     r"inits × \(max\(ks\) \+ extra\)² is too large"),
    (nc.AffineParams, (), {"n": 3}, ValueError, r"n must be an integer in \[4, 1000000\]"),
    (nc.AffineParams, (), {"hidden": 0}, ValueError, r"hidden must be an integer in \[1, 100000\]"),
    (nc.AffineParams, (), {"perturbations": 0}, ValueError, r"perturbations must be an integer in \[1, 1000000\]"),
    (nc.AffineParams, (), {"radius": 2.0}, ValueError, r"radius must be a finite number in \(0, 1\]"),
    (nc.AffineParams, (), {"lr": 0.5}, ValueError, r"lr must be a finite number in \(0, 0.08\]"),
    (nc.AffineParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (nc.AffineParams, (), {"n": 10**6, "hidden": 10**5}, ValueError,
     r"\(perturbations \+ inits\) × hidden × n is too large"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_a_run_too_short_to_escape_is_reported_not_raised():
    """A run that never escapes has an infinite escape time: its median and slope are not finite, so the
    chapter's claim fails (or, in a dry run, is recorded), instead of the experiment raising."""
    out = nc.saddles(nc.SaddleParams(d=4, orders=(2,), sigmas=(1e-12, 1e-10), reps=1, steps=3, stall_steps=1,
                                     inits=1, tensor_steps=1, clean_steps=1))
    assert (out["escape"] == -1).all() and torch.isinf(out["median"]).all() and not torch.isfinite(out["slope"]).any()
