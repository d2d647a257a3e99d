"""The information-bottleneck chapter's experiments and summaries, on tiny runs."""

from dataclasses import replace

import pytest
import torch

from widgets import information_bottleneck as ib


def test_drop_is_peak_minus_final():
    curve = torch.tensor([[1.0, 5.0], [3.0, 4.0], [2.0, 6.0]])  # [T, seeds]: one falls, one ends at its peak
    assert ib.drop(curve).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="curve"):
        ib.drop(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="NaN"):
        ib.drop(torch.tensor([1.0, float("nan")]))


@pytest.mark.parametrize("field,value,match", [
    ("act", "sigmoid", "act must be one of"), ("batch_size", 5000, "batch_size"), ("layer", 5, "layer"),
    ("kde_vars", (1e-3, -1.0), "kde_vars"), ("lr", 0.0, "lr"), ("seeds", 0, "seeds"), ("init_scale", -1.0,
                                                                                      "init_scale")])
def test_bad_parameters_name_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        replace(ib.PlaneParams(), **{field: value})


def test_presets_quick_and_full():
    assert ib.ReluParams().act == "relu" and ib.ReluParams.preset("full").lr == 4e-4
    full = ib.PlaneParams.preset("full")
    assert (full.lr, full.batch_size, full.epochs, full.seeds, full.kde_n) == (4e-4, 256, 10_000, 50, 4096)
    assert ib.FullBatchParams().batch_size is None and ib.FullBatchParams().steps_per_epoch == 1
    assert ib.PlaneParams().steps_per_epoch == 3277 // 256
    with pytest.raises(ValueError, match="w_max"):
        ib.UnitParams(w_min=1.0, w_max=0.5)


@pytest.fixture(scope="module")
def tiny():
    """Two tanh seeds, three epochs, four records, KDE on 64 inputs."""
    p = replace(ib.PlaneParams(), seeds=2, epochs=3, records=4, kde_n=64)
    return p, ib.information_plane(p)


def test_information_plane_records_every_layer_on_a_tiny_run(tiny):
    p, r = tiny
    T = len(r["steps"])
    assert r["steps"][-1] == 3 * p.steps_per_epoch and r["epochs"][-1] == 3
    assert r["mi"].shape == (T, 2, len(ib.BINNINGS), len(ib.LAYERS), 2)
    assert r["pre"].shape == (T, 2, len(ib.HIDDEN), 2)
    assert r["kde"].shape == (T, 2, 2, 2) and r["saturation"].shape == (T, 2) and r["snr"].shape == (T, 2, 2)
    ixt, ity = r["mi"][..., 0], r["mi"][..., 1]
    assert (ixt <= 12 + 1e-9).all() and (ity <= 1.0).all() and (ity <= ixt + 1e-9).all()
    assert (r["mi"][:, :, 0, 0, 0] > 11.5).all()  # L1 (10 tanh units, 30 bins) keeps almost every input apart
    assert (r["saturation"] == 0).all()  # nothing saturates in three epochs
    drops = ib.layer_drops(r)
    assert set(drops) == {"grid", "width", "pre", "kde 0.001", "kde 0.1"}
    assert all(v.shape == (2,) and (v >= 0).all() for v in drops.values())
    assert "pre" not in ib.layer_drops(r, 5)  # the softmax output has no pre-activation record


def test_full_batch_run_without_kde():
    r = ib.information_plane(replace(ib.FullBatchParams(), seeds=1, epochs=4, records=3))
    assert r["kde"].shape[2] == 0 and len(r["kde_vars"]) == 0
    assert set(ib.layer_drops(r)) == {"grid", "width", "pre"}


def test_single_unit_tanh_loses_entropy_and_relu_does_not():
    u = ib.single_unit(ib.UnitParams(directions=4, scales=17))
    H = u["entropy"]
    assert H.shape == (2, 2, 4, 17)
    assert (ib.drop(H[0, 0].T) >= 2.0).all()  # tanh, grid bins: peak → saturated
    assert (ib.drop(H[1, 1].T) == 0).all()  # relu, width bins: never falls
    assert (H[0, 0, :, 0] < 1.5).all()  # tiny weights: everything in a couple of bins


def test_summaries_on_a_synthetic_result():
    T, K = 5, 3
    mi = torch.zeros(T, K, 2, 6, 2, dtype=torch.float64)
    mi[:, :, 0, 4, 0] = torch.tensor([1.0, 4.0, 3.0, 2.0, 1.5])[:, None]  # peaks at record 1
    sat = torch.arange(T, dtype=torch.float64)[:, None].expand(T, K) / 10
    snr = torch.tensor([1.0, 8.0, 4.0, 2.0, 0.5], dtype=torch.float64)[:, None, None].expand(T, K, 2)
    acc = torch.tensor([0.5, 0.95, 0.3], dtype=torch.float64).expand(T, K)
    res = {"mi": mi, "saturation": sat, "snr": snr, "train_acc": acc}
    assert ib.fitted(res).tolist() == [False, True, False]
    assert ib.saturation_at_peak(res).tolist() == pytest.approx([0.1] * 3)
    assert ib.snr_fall(res) == pytest.approx(16.0)
    with pytest.raises(ValueError, match="no seed"):
        ib.snr_fall({**res, "train_acc": torch.zeros(T, K)})


def test_figures_build_with_their_controls(tiny):
    from widgets.figures import charts
    from widgets.figures import information_bottleneck as figs

    charts.enable()
    r = tiny[1]
    plane = figs.information_plane({"tanh": (r, "grid"), "tanh, width bins": (r, "width")}).to_dict()
    assert [q["name"] for q in plane["params"]] == ["epoch"]
    curves = figs.compression_curves({"tanh": (r, "grid")}, saturation=("tanh", r)).to_dict()
    assert [q["name"] for q in curves["params"]] == ["layer"]
    strip = figs.estimator_strip({"tanh": ib.layer_drops(r)}).to_dict()
    assert strip["mark"]["type"] == "point"
    figs.snr_curves({"tanh": r}).to_dict()
    figs.single_unit(ib.single_unit(ib.UnitParams(directions=2, scales=5))).to_dict()


def test_explorer_retrains_and_draws_the_plane():
    from widgets.figures import information_bottleneck as figs

    explorer = figs.InformationExplorer(ib.PlaneParams())
    result = explorer.compute(act="relu", lr=1e-3, batch_size=None, epochs=2, binning="width")
    assert result[0]["act"] == "relu" and result[0]["mi"].shape[1] == 3
    spec = explorer.chart(result).to_dict()
    assert [q["name"] for q in spec["params"]] == ["epoch"]


def test_plane_rows_thin_long_runs_to_a_page_sized_chart():
    from widgets.figures import information_bottleneck as figs

    T, K = 400, 50
    res = {"mi": torch.rand(T, K, 2, 6, 2, dtype=torch.float64), "epochs": torch.arange(T, dtype=torch.float64)}
    rows = figs.plane_rows({"p": (res, "grid")}, max_frames=60, max_seeds=10)
    frames = {r["frame"] for r in rows}
    assert frames == set(range(60)) and len(rows) == 60 * 6 * (1 + 10)
    last = [r for r in rows if r["frame"] == 59 and r["seed"] == -1 and r["layer"] == "L1"][0]
    assert last["epoch"] == "epoch 399" and last["ixt"] == pytest.approx(float(res["mi"][-1, :, 0, 0, 0].mean()),
                                                                         rel=1e-3)


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_RES = {"train_acc": torch.ones(3, 2), "snr": torch.ones(3, 2, 2), "mi": torch.ones(3, 2, 2, 6, 2),
        "pre": torch.ones(3, 2, 5, 2), "kde": torch.ones(3, 2, 0, 2), "kde_vars": torch.zeros(0),
        "saturation": torch.ones(3, 2)}
_BAD_INPUTS = [
    (ib.PlaneParams, (), {"act": "sigmoid"}, ValueError, r"act must be one of"),
    (ib.PlaneParams, (), {"init_scale": 0.0}, ValueError, r"init_scale must be a finite number in \(0, 100\]"),
    (ib.PlaneParams, (), {"init_scale": "1"}, ValueError, r"init_scale must be a number"),
    (ib.PlaneParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 1000\]"),
    (ib.PlaneParams, (), {"epochs": 0}, ValueError, r"epochs must be an integer in \[1, 1000000\]"),
    (ib.PlaneParams, (), {"lr": 2.0}, ValueError, r"lr must be a finite number in \(0, 1\]"),
    (ib.PlaneParams, (), {"train_frac": _NAN}, ValueError, r"train_frac must be a finite number in \[0.01, 0.99\]"),
    (ib.PlaneParams, (), {"batch_size": 0}, ValueError, r"batch_size must be an integer in \[1, 3277\]"),
    (ib.PlaneParams, (), {"epochs": 10**6, "batch_size": 1}, ValueError,
     r"epochs × steps per epoch \(steps\) must be an integer in \[1, 100000000\]"),
    (ib.PlaneParams, (), {"records": 1}, ValueError, r"records must be an integer in \[2, 2000\]"),
    (ib.PlaneParams, (), {"layer": 5}, ValueError, r"layer must be an integer in \[0, 4\]"),
    (ib.PlaneParams, (), {"kde_n": 5000}, ValueError, r"kde_n must be an integer in \[0, 4096\]"),
    (ib.PlaneParams, (), {"kde_vars": (1e-3, -1.0)}, ValueError, r"kde_vars\[i\] must be a finite number in \(0"),
    (ib.PlaneParams, (), {"split_seed": -1}, ValueError, r"split_seed must be an integer in \[0, inf\]"),
    (ib.FullBatchParams, (), {"kde_n": -1}, ValueError, r"kde_n must be an integer in \[0, 4096\]"),
    (ib.ReluParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (ib.UnitParams, (), {"directions": 0}, ValueError, r"directions must be an integer in \[1, 10000\]"),
    (ib.UnitParams, (), {"scales": 1}, ValueError, r"scales must be an integer in \[2, 10000\]"),
    (ib.UnitParams, (), {"w_min": 0.0}, ValueError, r"w_min must be a finite number in \(0, 1000000"),
    (ib.UnitParams, (), {"w_min": 1.0, "w_max": 0.5}, ValueError, r"w_max must be a finite number in \(1.0"),
    (ib.UnitParams, (), {"directions": 10**4, "scales": 10**4}, ValueError, r"directions × scales × 4096 is too large"),
    (ib.drop, (torch.tensor([1.0]),), {}, ValueError, r"curve must be \[T ≥ 2, \.\.\.\]"),
    (ib.drop, (torch.tensor([1.0, _NAN]),), {}, ValueError, r"curve must hold only finite values"),
    (ib.drop, ([1.0, 2.0],), {}, TypeError, r"curve must be a torch.Tensor"),
    (ib.fitted, ({"mi": 1},), {}, ValueError, r"res must be information_plane's dict, missing \['train_acc'\]"),
    (ib.fitted, ([1],), {}, TypeError, r"res must be the dict of information_plane"),
    (ib.layer_drops, (_RES,), {"layer": 6}, ValueError, r"layer must be an integer in \[0, 5\]"),
    (ib.layer_drops, ({"mi": 1},), {}, ValueError, r"res must be information_plane's dict, missing"),
    (ib.snr_fall, (_RES,), {"which": 2}, ValueError, r"which must be an integer in \[0, 1\]"),
    (ib.snr_fall, ({**_RES, "snr": torch.zeros(3, 2, 2)},), {}, ValueError,
     r"res holds a gradient SNR curve that ends at 0"),
    (ib.snr_fall, ({**_RES, "train_acc": torch.zeros(3, 2)},), {}, ValueError, r"no seed fitted"),
    (ib.saturation_at_peak, (_RES,), {"binning": "quantile"}, ValueError, r"binning must be one of"),
    (ib.saturation_at_peak, (_RES,), {"layer": -1}, ValueError, r"layer must be an integer in \[0, 5\]"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_peak_after_skips_the_early_records_and_names_an_epoch_never_reached():
    res = {"epochs": torch.tensor([0.0, 2.0, 10.0, 20.0, 30.0])}
    curve = torch.tensor([9.0, 8.0, 3.0, 5.0, 4.0])
    assert ib.peak_after(res, curve, 10) == 3 and ib.peak_after(res, curve, 0) == 0
    with pytest.raises(ValueError, match=r"epoch must be one the run reached \(≤ 30\), got 40"):
        ib.peak_after(res, curve, 40)
    with pytest.raises(ValueError, match="curve must hold one value per record"):
        ib.peak_after(res, curve[:3], 10)
