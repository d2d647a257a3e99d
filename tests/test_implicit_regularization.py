"""Tests of widgets.implicit_regularization against independent references: conserved quantities, autograd on the
modified loss, dense Hessians, finite differences and hand computations."""

from __future__ import annotations

import math

import pytest
import torch
from reference_nets import flat_loss, tiny_family

from widgets import implicit_regularization as ir
from widgets.core import data, models, train

# ---------------------------------------------------------------- the two-parameter model


def test_gradient_flow_conserves_a2_minus_b2_and_descends():
    theta0 = torch.tensor([[2.8, 0.1], [0.5, 1.5]], dtype=torch.float64)
    end, path = ir.rk4(lambda z: -ir.toy_grad(z), theta0, 1e-2, 3000, every=500)
    c0 = theta0[:, 0] ** 2 - theta0[:, 1] ** 2
    for state in path:
        assert torch.allclose(state[:, 0] ** 2 - state[:, 1] ** 2, c0, atol=1e-9)
    # it ends on the valley ab = 1 with a² + b² = √(c² + 4), the closed form for that conserved c
    assert torch.allclose(end[:, 0] * end[:, 1], torch.ones(2, dtype=torch.float64), atol=1e-8)
    assert torch.allclose((end**2).sum(1), (c0**2 + 4).sqrt(), atol=1e-6)


def test_modified_gradient_matches_autograd():
    theta = torch.tensor([[2.8, 0.1], [0.3, -1.2], [1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    h = torch.tensor([0.1, 0.3, 0.05], dtype=torch.float64)
    E = 0.5 * (1 - theta[:, 0] * theta[:, 1]) ** 2
    (g,) = torch.autograd.grad(E.sum(), theta, create_graph=True)
    Et = E + h / 4 * (g**2).sum(1)
    (gt,) = torch.autograd.grad(Et.sum(), theta)
    assert torch.allclose(ir.toy_modified_grad(theta.detach(), h), gt, atol=1e-12)
    assert torch.allclose(ir.toy_grad(theta.detach()), g.detach(), atol=1e-12)


def test_gd_error_slopes_and_sharpness():
    p = ir.ToyParams(rk4_steps=400, sweep_hs=(0.01, 0.1, 0.2, 0.3), settle_steps=1500)
    r = ir.toy_igr(p)
    assert 0.8 <= r["slope_plain"] <= 1.2
    assert 1.8 <= r["slope_modified"] <= 2.2
    assert (r["dist_modified"] < r["dist_plain"]).all()
    assert (r["sharpness"].diff() < 0).all()
    assert float(r["final_loss"].max()) < 1e-10


def test_gd_toy_is_gradient_descent():
    hs = torch.tensor([0.1, 0.2], dtype=torch.float64)
    path = ir.gd_toy(torch.tensor([2.0, 0.5], dtype=torch.float64), hs, torch.tensor([3, 1]))
    a, b = 2.0, 0.5
    for _ in range(3):
        r = 1 - a * b
        a, b = a + 0.1 * r * b, b + 0.1 * r * a
    assert torch.allclose(path[-1, 0], torch.tensor([a, b], dtype=torch.float64))
    assert torch.equal(path[1, 1], path[-1, 1])  # the second row stopped after its single step


# ---------------------------------------------------------------- the GD loop


def test_gd_family_matches_train_gd_and_stops_per_member():
    ds = data.digits(n_train=64, seed=0)
    y = torch.nn.functional.one_hot(ds.y_train, 10).double()
    ours = models.mlp(64, 10, widths=8, seeds=[0, 1], depth=2, dtype=torch.float64)
    ref = models.mlp(64, 10, widths=8, seeds=[0, 1], depth=2, dtype=torch.float64)
    ds2 = data.Dataset(ds.x_train.double(), y, ds.x_test.double(), torch.nn.functional.one_hot(ds.y_test, 10).double())
    ir.gd_family(ours, ds.x_train.double(), y, lr=[0.1, 0.2], steps=[5, 0], loss="mse", records=2)
    train.train(ref, ds2, steps=5, lr=[0.1, 0.0], loss="mse", optimizer="gd", records=2)
    for a, b in zip(ours.params, ref.params, strict=True):
        assert torch.allclose(a, b, atol=1e-12)


def test_gd_family_penalty_step_is_grad_plus_2lambda_H_grad():
    torch.manual_seed(4)
    fam = tiny_family(K=1)
    x, y = torch.randn(9, 3, dtype=torch.float64), torch.randn(9, 2, dtype=torch.float64)
    f, theta = flat_loss(fam, 0, x, y, "mse")
    g = torch.autograd.functional.jacobian(f, theta)
    H = torch.autograd.functional.hessian(f, theta)
    lr, lam = 0.05, 0.3
    expected = theta - lr * (g + 2 * lam * H @ g)
    ir.gd_family(fam, x, y, lr=lr, steps=1, loss="mse", penalty=lam, records=2)
    assert torch.allclose(torch.cat([p[0].detach().flatten() for p in fam.params]), expected, atol=1e-10)


def test_gd_family_records_and_lazy_scale():
    torch.manual_seed(5)
    fam = tiny_family(K=2, d_out=1)
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    before = [p.detach().clone() for p in fam.params]
    r = ir.gd_family(fam, x, y, lr=[0.1, 0.1 / 1e4], steps=[10, 10], scale=[1.0, 100.0], records=3)
    # centered output: both members start at zero output, so the first loss is mean(y²) for both
    assert torch.allclose(r["loss"][0], (y**2).mean().expand(2).float().double(), atol=1e-12)
    assert torch.allclose(r["time"][:, 0], torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    moved = [float((p.detach() - b)[k].norm()) for k in range(2) for p, b in zip(fam.params, before, strict=True)]
    assert max(moved[len(moved) // 2:]) < 0.05 * max(moved[: len(moved) // 2])  # the lazy member barely moves


def test_bad_input():
    with pytest.raises(ValueError, match="slope_hs"):
        ir.ToyParams(slope_hs=(0.04,))
    with pytest.raises(ValueError, match="horizon"):
        ir.ToyParams(slope_hs=(0.3, 0.07))
    with pytest.raises(ValueError, match="theta0"):
        ir.ToyParams(theta0=(1.0, 2.0, 3.0))
    fam = tiny_family()
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="lr must be"):
        ir.gd_family(fam, x, y, lr=[0.1, 0.1, 0.1], steps=2)
    with pytest.raises(ValueError, match="penalty"):
        ir.gd_family(fam, x, y, lr=0.1, steps=2, penalty=-1.0)
    with pytest.raises(ValueError, match="lrs"):
        ir.IGRParams(lrs=(0.4, 0.1))
    with pytest.raises(ValueError, match="knob"):
        ir.knob_means([], "momentum")
    with pytest.raises(ValueError, match="n must be"):
        ir.disk(1)
    with pytest.raises(ValueError, match="fit_loss"):
        ir.GCParams(fit_loss=0.0)
    with pytest.raises(ValueError, match="dropouts"):
        ir.GCParams(dropouts=(0.0, 1.0))
    with pytest.raises(ValueError, match="sam_rhos"):
        ir.GCParams(sam_rhos=(0.0, -0.1))
    with pytest.raises(ValueError, match="spectral_norms must have at least 2 entries"):
        ir.GCParams(spectral_norms=(0.0,))
    with pytest.raises(ValueError, match="knob"):
        ir.seed_spearmans([], "momentum")


def test_presets_differ_and_figures_build():
    for cls in (ir.ToyParams, ir.IGRParams, ir.GCParams, ir.AlignParams,
                ir.WatchParams):
        assert cls.preset("quick") == cls() != cls.preset("full")
    from widgets.figures import implicit_regularization as figs

    toy = ir.toy_igr(ir.ToyParams(rk4_steps=200, sweep_hs=(0.05, 0.3), settle_steps=200))
    spec = figs.toy_trajectories(toy).to_dict()
    assert spec["params"][0]["bind"]["input"] == "range"
    rows = [{"knob": k, "value": v, "seed": 0, "gc": 1.0 + v, "gc_init": v, "test_acc": 0.9, "step": 1,
             "reached": True} for k in ir.KNOBS for v in (1.0, 2.0)]
    spec = figs.gc_knobs({"rows": rows}).to_dict()
    assert spec["params"][0]["bind"]["input"] == "select"
    assert ir.knob_means(rows, "lr", min_value=1.5)[1].tolist() == [3.0]


def test_watch_training_records_every_quantity():
    r = ir.watch_training(ir.WatchParams(n_train=64, width=8, steps=6, records=3, hvp_iters=3))
    for key in ("train_loss", "grad_norm_sq", "gc", "sharpness"):
        assert r[key].shape == r["steps"].shape and torch.isfinite(r[key]).all()
    assert r["steps"][0] == 0 and r["steps"][-1] == 6
    with pytest.raises(ValueError, match="batch"):
        ir.WatchParams(n_train=64, batch=100)


def test_alignment_run_small_measures_the_tangent_kernel_over_training():
    p = ir.AlignParams(n=16, width=8, depth=3, steps=4, alphas=(1.0, 10.0), seeds=(0,), records=3)
    r = ir.alignment_run(p, device="cpu")
    assert r["alignment"].shape == r["effective_rank"].shape == r["loss"].shape == (3, 2, 1)
    assert ((r["alignment"] >= -1) & (r["alignment"] <= 1)).all()  # a PSD kernel's centered alignment
    assert ((r["effective_rank"] >= 1) & (r["effective_rank"] <= p.n)).all()
    assert (r["stable_lr"] > 0).all()


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_T = torch.tensor([[2.8, 0.1]], dtype=torch.float64)
_ROWS = [{"knob": "lr", "value": 0.1, "seed": 0, "gc": 1.0}]


def _fam():
    return tiny_family()


_BAD_INPUTS = [
    (ir.toy_grad, (torch.zeros(3, 3),), {}, ValueError, r"theta must have shape \[\.\.\., 2\]"),
    (ir.toy_grad, ([1.0, 2.0],), {}, TypeError, r"theta must be a torch.Tensor"),
    (ir.toy_grad, (torch.tensor([_NAN, 1.0]),), {}, ValueError, r"theta must hold only finite values"),
    (ir.toy_modified_grad, (_T, torch.tensor([-0.1])), {}, ValueError, r"h must hold step sizes ≥ 0"),
    (ir.toy_modified_grad, (_T, torch.ones(3)), {}, ValueError, r"h \(3,\) must broadcast against theta's rows"),
    (ir.toy_modified_grad, (_T, torch.tensor([_NAN])), {}, ValueError, r"h must hold only finite values"),
    (ir.toy_modified_grad, (torch.zeros(2, 3), torch.ones(2)), {}, ValueError, r"theta must have shape"),
    (ir.rk4, ("field", _T, 0.1, 3), {}, TypeError, r"field must be a function of theta"),
    (ir.rk4, (ir.toy_grad, _T, _NAN, 3), {}, ValueError, r"dt must be a finite number"),
    (ir.rk4, (ir.toy_grad, _T, 0.1, -1), {}, ValueError, r"n must be an integer in \[0, 100000000\]"),
    (ir.rk4, (ir.toy_grad, _T, 0.1, 3), {"every": -2}, ValueError, r"every must be an integer in \[0, inf\]"),
    (ir.rk4, (lambda z: z[:, :1], _T, 0.1, 3), {}, ValueError, r"field must return a tensor of theta's shape"),
    (ir.rk4, (ir.toy_grad, torch.zeros(10**4, 2), 0.1, 10**8), {"every": 1}, ValueError,
     r"the path of 100000001 states of theta \(10000, 2\) is too large"),
    (ir.gd_toy, (torch.zeros(3), torch.ones(1), torch.ones(1, dtype=torch.long)), {}, ValueError,
     r"theta0 must be one point \(a, b\)"),
    (ir.gd_toy, (torch.zeros(2), torch.zeros(1), torch.ones(1, dtype=torch.long)), {}, ValueError,
     r"hs must hold step sizes > 0"),
    (ir.gd_toy, (torch.zeros(2), torch.ones(2), torch.ones(1, dtype=torch.long)), {}, ValueError,
     r"steps must be \[2\] integers ≥ 0"),
    (ir.gd_toy, (torch.zeros(2), torch.ones(1), torch.ones(1)), {}, ValueError, r"steps must be \[1\] integers"),
    (ir.gd_toy, (torch.zeros(2), torch.ones(1), torch.tensor([10**9])), {}, ValueError,
     r"max\(steps\) must be an integer in \[0, 100000000\]"),
    (ir.ToyParams, (), {"theta0": (1.0, _NAN)}, ValueError, r"theta0\[i\] must be a finite number"),
    (ir.ToyParams, (), {"theta0": (1.0,)}, ValueError, r"theta0 must be two numbers"),
    (ir.ToyParams, (), {"horizon": 0.0}, ValueError, r"horizon must be a finite number in \(0, 1000"),
    (ir.ToyParams, (), {"rk4_steps": 0}, ValueError, r"rk4_steps must be an integer in \[1, 10000000\]"),
    (ir.ToyParams, (), {"slope_hs": (0.04,)}, ValueError, r"slope_hs must have at least 2 entries"),
    (ir.ToyParams, (), {"slope_hs": (1e-9, 2e-9), "horizon": 1.0}, ValueError,
     r"horizon / min\(slope_hs\) \(GD steps\) must be an integer in \[1, 10000000\]"),
    (ir.ToyParams, (), {"sweep_hs": ()}, ValueError, r"sweep_hs must have at least 1 entries"),
    (ir.ToyParams, (), {"sweep_hs": (3.0,)}, ValueError, r"sweep_hs\[i\] must be a finite number in \(0, 2\]"),
    (ir.ToyParams, (), {"settle_steps": 0}, ValueError, r"settle_steps must be an integer in \[1, 10000000\]"),
    (ir.ToyParams, (), {"plot_time": -1.0}, ValueError, r"plot_time must be a finite number in \(0"),
    (ir.ToyParams, (), {"plot_points": 1}, ValueError, r"plot_points must be an integer in \[2, 10000\]"),
    (ir.toy_igr, (ir.ToyParams(sweep_hs=(0.05, 0.9), settle_steps=50),), {}, ValueError,
     r"sweep_hs: GD diverges from theta0 = \(2.8, 0.1\) at h = \[0.9\]"),
    (ir.gd_family, ("net", torch.zeros(4, 3), torch.zeros(4)), {"lr": 0.1, "steps": 2}, TypeError,
     r"family must be a Family"),
    (ir.gd_family, (_fam(), torch.zeros(4), torch.zeros(4)), {"lr": 0.1, "steps": 2}, ValueError,
     r"x must have shape \[n, d\] or \[K, n, d\]"),
    (ir.gd_family, (_fam(), torch.zeros(4, 3), torch.full((4,), _NAN)), {"lr": 0.1, "steps": 2}, ValueError,
     r"y must hold only finite values"),
    (ir.gd_family, (_fam(), torch.zeros(4, 3), torch.zeros(4)), {"lr": 0.1, "steps": 2, "loss": "hinge"},
     ValueError, r"loss must be one of"),
    (ir.gd_family, (_fam(), torch.zeros(4, 3), torch.zeros(4)), {"lr": 0.1, "steps": 2, "probe": 3}, TypeError,
     r"probe must be None or a function"),
    (ir.gd_family, (_fam(), torch.zeros(4, 3), torch.zeros(4)), {"lr": 0.1, "steps": 2, "records": 1}, ValueError,
     r"records must be an integer in \[2, 10000\]"),
    (ir.gd_family, (_fam(), torch.zeros(4, 3), torch.zeros(4)), {"lr": 0.1, "steps": 2, "scale": _NAN}, ValueError,
     r"scale must be a finite number"),
    (ir.gd_family, (_fam(), torch.zeros(4, 3), torch.zeros(4)), {"lr": 0.1, "steps": 2, "progress": 1}, TypeError,
     r"progress must be True or False"),
    (ir.IGRParams, (), {"n_train": 2000}, ValueError, r"n_train must be an integer in \[16, 1500\]"),
    (ir.IGRParams, (), {"width": 0}, ValueError, r"width must be an integer in \[1, 100000\]"),
    (ir.IGRParams, (), {"depth": 0}, ValueError, r"depth must be an integer in \[1, 64\]"),
    (ir.IGRParams, (), {"lrs": (0.1, _NAN)}, ValueError, r"lrs\[i\] must be a finite number"),
    (ir.IGRParams, (), {"lrs": (0.4, 0.1)}, ValueError, r"lrs must be at least two increasing learning rates"),
    (ir.IGRParams, (), {"time": 0.1}, ValueError, r"time / max\(lrs\) \(steps\) must be an integer in \[1, inf\]"),
    (ir.IGRParams, (), {"time": 1e5, "lrs": (1e-3, 0.1)}, ValueError, r"time / min\(lrs\) \(steps\) must be"),
    (ir.IGRParams, (), {"seeds": ()}, ValueError, r"seeds must have at least 1 entries"),
    (ir.IGRParams, (), {"seeds": (-1,)}, ValueError, r"seeds\[i\] must be an integer in \[0, inf\]"),
    (ir.IGRParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (ir.IGRParams, (), {"hvp_iters": 0}, ValueError, r"hvp_iters must be an integer in \[1, 10000\]"),
    (ir.IGRParams, (), {"width": 10**5, "seeds": tuple(range(100))}, ValueError,
     r"lrs × seeds × width × depth × n_train is too large"),
    (ir.GCParams, (), {"base_batch": 0}, ValueError, r"base_batch must be an integer in \[1, 512\]"),
    (ir.GCParams, (), {"batches": (0, 16)}, ValueError, r"batches\[i\] must be an integer in \[1, 512\]"),
    (ir.GCParams, (), {"lrs": (0.1,)}, ValueError, r"lrs must have at least 2 entries"),
    (ir.GCParams, (), {"weight_decays": (-1.0, 0.0)}, ValueError, r"weight_decays\[i\] must be a finite number"),
    (ir.GCParams, (), {"init_scales": (0.0, 1.0)}, ValueError, r"init_scales\[i\] must be a finite number in \(0"),
    (ir.GCParams, (), {"base_lr": _NAN}, ValueError, r"base_lr must be a finite number"),
    (ir.GCParams, (), {"gc_points": 0}, ValueError, r"gc_points must be an integer in \[1, 512\]"),
    (ir.GCParams, (), {"seeds": "01"}, TypeError, r"seeds must be a list or tuple"),
    (ir.GCParams, (), {"records": 0}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (ir.GCParams, (), {"width": 10**5}, ValueError,
     r"\(lrs \+ weight_decays \+ init_scales \+ dropouts\) × seeds .* is too large"),
    (ir.knob_means, (_ROWS, "momentum"), {}, ValueError, r"knob must be one of"),
    (ir.knob_means, ([], "lr"), {}, ValueError, r"rows must have at least 1 entries"),
    (ir.knob_means, ([{"knob": "lr"}], "lr"), {}, ValueError, r"rows must be gc_sweep's rows"),
    (ir.knob_means, (_ROWS, "lr"), {"key": "acc"}, ValueError,
     r"rows must be gc_sweep's rows, each a dict with .*'acc'"),
    (ir.knob_means, (_ROWS, "lr"), {"key": "value"}, ValueError, r"key must name a measured field"),
    (ir.knob_means, ([{**_ROWS[0], "gc": _NAN}], "lr"), {}, ValueError, r"rows' 'gc' must be a finite number"),
    (ir.knob_means, (_ROWS, "lr"), {"min_value": _NAN}, ValueError, r"min_value must be a finite number"),
    (ir.knob_means, (_ROWS, "lr"), {"min_value": 1.0}, ValueError, r"no rows for knob 'lr' with value ≥ 1.0"),
    (ir.disk, (1,), {}, ValueError, r"n must be an integer in \[2, 10000000\]"),
    (ir.disk, (2.5,), {}, ValueError, r"n must be an integer"),
    (ir.disk, (10,), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (ir.AlignParams, (), {"n": 2}, ValueError, r"n must be an integer in \[4, 100000\]"),
    (ir.AlignParams, (), {"depth": 1}, ValueError, r"depth must be an integer in \[2, 64\]"),
    (ir.AlignParams, (), {"alphas": ()}, ValueError, r"alphas must have at least 1 entries"),
    (ir.AlignParams, (), {"alphas": (1e-6,)}, ValueError, r"lr / min\(alphas\)² must be a finite number in \[0"),
    (ir.AlignParams, (), {"steps": 0}, ValueError, r"steps must be an integer in \[1, 10000000\]"),
    (ir.AlignParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 10000\]"),
    (ir.AlignParams, (), {"lr": -0.1}, ValueError, r"lr must be a finite number in \(0, 1000"),
    (ir.AlignParams, (), {"n": 10**5}, ValueError, r"alphas × seeds × n × width² × depth is too large"),
    (ir.WatchParams, (), {"batch": 0}, ValueError, r"batch must be an integer in \[1, 512\]"),
    (ir.WatchParams, (), {"wd": -1.0}, ValueError, r"wd must be a finite number in \[0, 10\]"),
    (ir.WatchParams, (), {"lr": math.inf}, ValueError, r"lr must be a finite number"),
    (ir.WatchParams, (), {"hvp_iters": 0}, ValueError, r"hvp_iters must be an integer in \[1, 10000\]"),
    (ir.WatchParams, (), {"seed": -3}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (ir.WatchParams, (), {"width": 10**5, "depth": 64}, ValueError, r"width × depth × n_train is too large"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


# ---------------------------------------------------------------- geometric complexity over the seven knobs


def test_gc_sweep_small_runs_every_knob_and_every_family_starts_from_the_same_base():
    p = ir.GCParams(n_train=64, width=8, depth=2, seeds=(0,), lrs=(0.1, 0.2), batches=(16, 32),
                    weight_decays=(0.0, 1e-3), init_scales=(1.0, 2.0), spectral_norms=(0.0, 0.05),
                    sam_rhos=(0.0, 0.1), dropouts=(0.0, 0.3), steps=6, batch_steps=6, records=3, gc_points=16,
                    fit_loss=5.0)
    r = ir.gc_sweep(p, device="cpu")
    rows = {(row["knob"], row["value"]): row for row in r["rows"]}
    assert len(r["rows"]) == 14 and {k for k, _ in rows} == set(ir.KNOBS)
    assert all(row["reached"] for row in r["rows"])  # a loose fit: every member is read at its first record
    assert set(r["family_seconds"]) == {"lr, weight decay, init, dropout", "spectral norm", "SAM", "batch 16",
                                        "batch 32"}
    # λ = 0, ρ = 0 and p = 0 are the base network (lr 0.1, batch 32) in whichever family it trains
    base = rows[("lr", 0.1)]
    for key in (("dropout", 0.0), ("weight_decay", 0.0), ("spectral_norm", 0.0), ("sam", 0.0), ("batch", 32.0)):
        assert rows[key]["gc"] == pytest.approx(base["gc"], rel=1e-4)
        assert rows[key]["gc_init"] == pytest.approx(base["gc_init"], rel=1e-6)


def test_heuristic_effects_and_their_table():
    rows = []
    for seed in (0, 1):
        for v in (0.0, 0.1, 0.2):
            rows.append({"knob": "dropout", "value": v, "seed": seed, "gc": 100 - 100 * v + seed,
                         "test_acc": 0.9 + 0.1 * v, "step": 10, "reached": True})
        for v in (16.0, 32.0, 64.0):
            rows.append({"knob": "batch", "value": v, "seed": seed, "gc": 50 + v, "test_acc": 0.9, "step": 10,
                         "reached": seed == 0})
    effects = ir.heuristic_effects(rows)
    assert [e["knob"] for e in effects] == ["batch", "dropout"]  # in the order of KNOBS
    batch, dropout = effects
    # dropout: stronger when larger; GC 100.5 → 80.5 as p goes 0 → 0.2; accuracy 0.90 → 0.92
    assert dropout["stronger"] == 1 and dropout["gc_spearman"] == pytest.approx(-1.0)
    assert dropout["gc_change"] == pytest.approx(80.5 / 100.5 - 1)
    assert dropout["acc_change"] == pytest.approx(0.02) and dropout["acc_spearman"] == pytest.approx(1.0)
    # batch: stronger when smaller, so the change runs from the largest batch (GC 114) to the smallest (66)
    assert batch["stronger"] == -1 and batch["gc_spearman"] == pytest.approx(1.0)
    assert batch["gc_change"] == pytest.approx(66 / 114 - 1)
    assert math.isnan(batch["acc_spearman"])  # constant accuracy: no order to correlate
    assert (batch["reached"], batch["members"]) == (3, 6)
    assert ir.seed_spearmans(rows, "dropout") == [pytest.approx(-1.0), pytest.approx(-1.0)]
    from widgets.figures import implicit_regularization as figs

    table = figs.heuristic_table(effects).splitlines()
    assert len(table) == 4 and table[0].startswith("| heuristic |")
    assert "| dropout rate | 0, 0.1, 0.2 | larger | −1.00 | −20 % | +1.00 | +2.0 points | 6 of 6 |" in table
    assert table[2] == "| batch size | 16, 32, 64 | smaller | +1.00 | −42 % | n/a | 0.0 points | 3 of 6 |"
