"""Charts and the live explorer of the chapter "Implicit regularization II: which solution gradient descent
picks". Compute lives in :mod:`widgets.implicit_bias`; these functions only draw its results."""

from __future__ import annotations

import math
from dataclasses import asdict

import altair as alt
import pandas as pd

from widgets.figures.charts import HEIGHT, PALETTE, WIDTH, curves, round_sig, slider
from widgets.figures.explore import Explorer

SMALL = 300  # side of the square panels, in pixels


# ---------------------------------------------------------------- 1. max margin

def angle_chart(res: dict):
    """Angle between GD's w(t) and the SVM direction against t (log-log), for the symmetric and the tilted
    set, with the tilted set's asymptotic prediction. ``res``: :func:`widgets.implicit_bias.max_margin`."""
    rows = []
    for t, step in enumerate(res["steps"].tolist()):
        if step < 1:
            continue
        for j, name in enumerate(("symmetric set (GD)", "tilted set (GD)")):
            a = float(res["angle_deg"][t, j])
            if a > 0:
                rows.append({"step": step, "angle": round_sig(max(a, 1e-6)), "run": name})
        p = float(res["predicted_angle_deg"][t])
        if math.isfinite(p) and step >= 100:
            rows.append({"step": step, "angle": round_sig(p), "run": "tilted set, predicted ŵ log t + w̃"})
    df = pd.DataFrame(rows)
    return (alt.Chart(df).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=alt.X("step:Q", scale=alt.Scale(type="log"), title="gradient descent step t (log scale)"),
        y=alt.Y("angle:Q", scale=alt.Scale(type="log"), title="angle to the SVM direction (degrees, log)"),
        color=alt.Color("run:N", title=None, scale=alt.Scale(range=PALETTE[:2] + ["#9a9a9a"])),
        strokeDash=alt.condition(alt.datum.run == "tilted set, predicted ŵ log t + w̃", alt.value([5, 3]),
                                 alt.value([1, 0])),
        tooltip=["run", "step", "angle"])
        .properties(title="GD's direction turns towards the max-margin separator", width=WIDTH, height=HEIGHT,
                    description="Angle in degrees between the logistic-regression iterate and the hard-margin "
                                "SVM direction against the step, both on log axes, for two data sets, with the "
                                "asymptotic prediction for the tilted set as a dashed grey line."))


def norm_chart(res: dict):
    """‖w(t)‖ against t (log x) for the three problems: log-t growth on separable data, a plateau on the
    non-separable set."""
    names = ("symmetric set", "tilted set", "non-separable set")
    rows = [{"step": s, "norm": round_sig(float(res["norm"][t, j])), "run": name}
            for t, s in enumerate(res["steps"].tolist()) if s >= 1 for j, name in enumerate(names)]
    return curves(rows, "step", "norm", color="run", log_x=True, color_title="data",
                  title="The weights grow like log t only when the data are separable",
                  x_title="gradient descent step t (log scale)", y_title="‖w(t)‖ (dimensionless)",
                  description="Norm of the logistic-regression weights against the step on a log axis: it grows "
                              "linearly in log t for the two separable sets and levels off for the non-separable "
                              "one.")


def _line_rows(w, level: float = 0.0, L: float = 10.0) -> list[tuple[float, float]]:
    """Two far-apart points of the line {x : w·x = level} (the chart clips them to its axes)."""
    n2 = float(w[0]) ** 2 + float(w[1]) ** 2
    if n2 == 0:
        return []
    n = math.sqrt(n2)
    ox, oy = level * float(w[0]) / n2, level * float(w[1]) / n2
    dx, dy = -float(w[1]) / n, float(w[0]) / n
    return [(ox - L * dx, oy - L * dy), (ox + L * dx, oy + L * dy)]


def boundary_slider(res: dict, frames: int = 30):
    """The symmetric set with GD's separator and its 10% / 90% probability contours at the step chosen with a
    slider, for the separable labels and for the contrast with four labels flipped, over the SVM separator
    (dashed black). On separable data the contours close in on the separator as ‖w‖ grows like log t; on
    the contrast set they stop at a finite width."""
    steps = res["steps"].tolist()
    keep = [i for i, s in enumerate(steps) if s >= 1]
    keep = [keep[round(j * (len(keep) - 1) / (frames - 1))] for j in range(frames)] if len(keep) > frames else keep
    keep = sorted(set(keep))
    rows = []
    level = math.log(9.0)  # σ(w·x) = 0.9
    for f, t in enumerate(keep):
        for j, name in ((0, "separable labels"), (2, "4 labels flipped")):
            for kind, c in (("separator", 0.0), ("10% / 90% contour", level), ("10% / 90% contour", -level)):
                for k, (a, b) in enumerate(_line_rows(res["w"][t, j], c)):
                    rows.append({"x1": round_sig(a), "x2": round_sig(b), "frame": f, "order": k, "data": name,
                                 "kind": kind, "id": f"{name} {kind} {c:+.1f}", "step": f"step {steps[t]:,}"})
    svm = pd.DataFrame([{"x1": round_sig(a), "x2": round_sig(b), "order": k}
                        for k, (a, b) in enumerate(_line_rows(res["svm"]["w"]))])
    pts = pd.DataFrame({"x1": res["x"][:, 0].round(decimals=3).tolist(),
                        "x2": res["x"][:, 1].round(decimals=3).tolist(),
                        "label": [("+1" if v > 0 else "−1") for v in res["y"].tolist()],
                        "flipped": ["flipped in the contrast" if a != b else "kept" for a, b in
                                    zip(res["y"].tolist(), res["y_flipped"].tolist(), strict=True)]})
    df = pd.DataFrame(rows)
    frame = slider("frame", 0, len(keep) - 1, "training step")
    scale = alt.Scale(domain=[-3.2, 3.2])
    x = alt.X("x1:Q", scale=scale, title="x₁ (dimensionless)")
    y = alt.Y("x2:Q", scale=scale, title="x₂ (dimensionless)")
    dots = alt.Chart(pts).mark_point(filled=True, size=45, clip=True).encode(
        x=x, y=y, fill=alt.Fill("label:N", title="label", scale=alt.Scale(range=["#555555", "#bbbbbb"])),
        color=alt.value("#555555"),
        shape=alt.Shape("flipped:N", title="in the contrast", scale=alt.Scale(range=["cross", "circle"])))
    svm_line = alt.Chart(svm).mark_line(color="#111111", strokeDash=[6, 4], clip=True).encode(
        x=x, y=y, order="order:Q")
    moving = (alt.Chart(df).mark_line(clip=True)
              .encode(x=x, y=y, order="order:Q", detail="id:N",
                      color=alt.Color("data:N", title="GD on", scale=alt.Scale(range=[PALETTE[3], PALETTE[1]])),
                      strokeWidth=alt.StrokeWidth("kind:N", title="line",
                                                  scale=alt.Scale(range=[1.2, 2.8]),
                                                  sort=["10% / 90% contour", "separator"]))
              .transform_filter(alt.datum.frame == frame).add_params(frame))
    label = (alt.Chart(df.groupby("frame", as_index=False)["step"].first())
             .mark_text(align="left", baseline="top", dx=4, dy=4, fontSize=13)
             .encode(x=alt.value(0), y=alt.value(0), text="step:N").transform_filter(alt.datum.frame == frame))
    return alt.layer(dots, moving, svm_line, label).properties(
        title="The separator and its confidence band during training", width=SMALL + 60, height=SMALL + 60,
        description="Training points of the symmetric set (crosses mark the labels flipped in the contrast "
                    "set), the hard-margin SVM separator (dashed black), and, at the training step chosen with "
                    "the slider, the logistic-regression separator (thick) and its 10% and 90% probability "
                    "contours (thin) for the separable labels and for the contrast set.")


# ---------------------------------------------------------------- 2. output layer only vs both layers

def boundaries_chart(res: dict):
    """Each mode's function on the plane (noise coordinates at 0), seed 0, with a slider over d; the training
    points of seed 0 on top. ``res``: :func:`widgets.implicit_bias.two_layer_sweep`.

    Grid cells are sent as (index, value) pairs and placed by a Vega-Lite calculation, which keeps the page
    small."""
    grid = res["grid"]
    dims = res["dims"].tolist()
    side = round(math.sqrt(len(grid)))
    lo, cell = float(grid[0, 0]), float(grid[1, 0] - grid[0, 0])
    rows = []
    for mi in range(len(res["modes"])):
        for di in range(len(dims)):
            out = res["grid_out"][mi, di]
            out = (out / (float(out.abs().max()) or 1.0)).tolist()
            rows += [{"g": g, "f": round(v, 2), "m": mi, "k": di} for g, v in enumerate(out)]
    # the training points of seed 0 in the plane, drawn in every frame and both panels (k = −1)
    for mi in range(len(res["modes"])):
        rows += [{"x1": round(float(a), 3), "x2": round(float(b), 3), "m": mi, "k": -1,
                  "label": "+1" if v > 0 else "−1"}
                 for (a, b), v in zip(res["plane_x"].tolist(), res["plane_y"].tolist(), strict=True)]
    data = alt.InlineData(values=rows)  # rows keep only their own keys (no NaN padding, as a DataFrame would)
    frame = slider("frame", 0, len(dims) - 1, "input dimension d")
    x = alt.X("x1:Q", title="x₁ (dimensionless)", scale=alt.Scale(domain=[-0.75, 0.75]))
    y = alt.Y("x2:Q", title="x₂ (dimensionless)", scale=alt.Scale(domain=[-0.75, 0.75]))
    heat = (alt.Chart().mark_rect(width=SMALL * cell / 1.5 + 1, height=SMALL * cell / 1.5 + 1)
            .transform_filter(alt.datum.k == frame)
            .transform_calculate(x1=f"{lo} + (datum.g % {side}) * {cell}",
                                 x2=f"{lo} + floor(datum.g / {side}) * {cell}")
            .encode(x=x, y=y, color=alt.Color("f:Q", title="f / max|f|",
                                              scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True))))
    dots = (alt.Chart().mark_point(size=12, filled=True, opacity=0.7)
            .encode(x=x, y=y, shape=alt.Shape("label:N", title="training label"), color=alt.value("#222222"))
            .transform_filter(alt.datum.k == -1))
    label = (alt.Chart().mark_text(align="left", baseline="top", dx=4, dy=4, fontSize=13)
             .transform_filter((alt.datum.k == frame) & (alt.datum.g == 0))
             .transform_calculate(text=f"'d = ' + {dims}[datum.k]")
             .encode(x=alt.value(0), y=alt.value(0), text="text:N"))
    names = res["modes"]
    header = alt.Header(title=None, labelExpr=f"datum.value == 0 ? '{names[0]}' : '{names[1]}'", labelFontSize=13)
    return (alt.layer(heat, dots, label, data=data).properties(width=SMALL, height=SMALL)
            .facet(column=alt.Column("m:O", header=header))
            .add_params(frame).resolve_scale(color="shared")
            .properties(title="What each net computes in the plane of the clusters",
                        description="Output of the trained two-layer net on the plane of the cluster coordinates "
                                    "(noise coordinates at their mean), red for positive and blue for negative, "
                                    "for the net trained on its output layer only (left) and on both layers "
                                    "(right), with the training points of the first seed; the slider picks the "
                                    "input dimension d."))


def test_error_chart(res: dict):
    """Test error against d for both modes: the mean over seeds (lines) and each seed (points)."""
    dims = res["dims"].tolist()
    rows, pts = [], []
    for mi, mode in enumerate(res["modes"]):
        for di, d in enumerate(dims):
            errs = res["test_err"][mi, di]
            rows.append({"d": d, "err": round_sig(float(errs.mean())), "mode": mode})
            pts += [{"d": d, "err": round_sig(float(e)), "mode": mode, "seed": s}
                    for s, e in zip(res["seeds"].tolist(), errs.tolist(), strict=True)]
    color = alt.Color("mode:N", title="trained", sort=list(res["modes"]))
    x = alt.X("d:Q", title="input dimension d (2 informative + d − 2 noise)")
    line = alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=x, y=alt.Y("err:Q", title="test error (fraction misclassified)"), color=color,
        tooltip=["mode", "d", "err"])
    dots = alt.Chart(pd.DataFrame(pts)).mark_point(opacity=0.5, size=30).encode(
        x=x, y="err:Q", color=color, tooltip=["mode", "d", "seed", "err"])
    return alt.layer(line, dots).properties(
        title="Training both layers degrades less with noise dimensions", width=WIDTH, height=HEIGHT,
        description="Test error of the two-layer net against the input dimension d, training only the output "
                    "layer or both layers: lines are the mean over seeds, points single seeds.")


def two_layer_table(res: dict) -> pd.DataFrame:
    """Mean test error over seeds per d (rows) and mode (columns)."""
    err = res["test_err"].mean(-1)
    return pd.DataFrame({mode: err[i].tolist() for i, mode in enumerate(res["modes"])},
                        index=pd.Index(res["dims"].tolist(), name="d")).round(4)


# ---------------------------------------------------------------- 3. lazy vs rich

def lazy_chart(res: dict):
    """Relative weight change, relative kernel change and test error against α (log-log, mean over seeds).
    ``res``: :func:`widgets.implicit_bias.lazy_sweep`."""
    rows = []
    names = {"weight_change": "relative weight change ‖θ_T − θ₀‖/‖θ₀‖",
             "kernel_change": "relative kernel change ‖K_T − K₀‖/‖K₀‖", "test_err": "test error"}
    for key, name in names.items():
        for a, v in zip(res["alphas"].tolist(), res[key].mean(1).tolist(), strict=True):
            rows.append({"alpha": a, "value": round_sig(max(v, 1e-6)), "quantity": name})
    return curves(rows, "alpha", "value", color="quantity", log_x=True, log_y=True, color_title=None,
                  title="Scaling the output up makes training lazy",
                  x_title="output scale α (log scale)", y_title="value (dimensionless, log scale)",
                  description="Relative change of the weights and of the tangent kernel during training, and the "
                              "final test error, against the output scale α, averaged over seeds, on log axes.")


# ---------------------------------------------------------------- 4. deep matrix factorisation

def _setup(d: int, c: float) -> str:
    return f"depth {d}, init {c:g}"


def singular_values_chart(res: dict, top: int = 8, seed: int = 0):
    """The ``top`` singular values of W(t) for every (depth, init), seed ``seed``, with a slider over the
    recorded steps. ``res``: :func:`widgets.implicit_bias.matrix_sweep`."""
    sv = res["singular_values"][:, :, :, seed, :top]
    steps = res["steps"].tolist()
    rows = []
    for t, s in enumerate(steps):
        for di, d in enumerate(res["depths"].tolist()):
            for ci, c in enumerate(res["inits"].tolist()):
                for i in range(top):
                    rows.append({"i": i + 1, "sigma": round_sig(max(float(sv[t, di, ci, i]), 1e-5), 3), "frame": t,
                                 "setup": _setup(d, c), "depth": f"depth {d}", "init": f"{c:g}",
                                 "step": f"step {s:,}"})
    df = pd.DataFrame(rows)
    frame = slider("frame", 0, len(steps) - 1, "training step")
    base = alt.Chart().encode(
        x=alt.X("i:O", title="index i of the singular value"),
        y=alt.Y("sigma:Q", scale=alt.Scale(type="log", domain=[1e-5, 10]), title="σᵢ(W) (log scale)"),
        color=alt.Color("init:N", title="init scale", sort=[f"{c:g}" for c in res["inits"].tolist()]))
    lines = base.mark_line(point=True).encode(tooltip=["setup", "i", "sigma", "step"]).transform_filter(
        alt.datum.frame == frame)
    label = (alt.Chart().mark_text(align="left", baseline="top", dx=4, dy=4, fontSize=12)
             .encode(x=alt.value(0), y=alt.value(0), text="step:N")
             .transform_filter((alt.datum.frame == frame) & (alt.datum.i == 1)))
    return (alt.layer(lines, label, data=df).properties(width=220, height=240)
            .facet(column=alt.Column("depth:N", title=None)).add_params(frame)
            .properties(title="Singular values of the product during training",
                        description="The largest singular values of the end-to-end matrix W(t), one panel per "
                                    "number of factors, one line per initialisation scale, at the training step "
                                    "chosen with the slider (log scale)."))


def matrix_table(res: dict) -> pd.DataFrame:
    """Mean test error, effective rank and nuclear norm per (depth, init) over seeds, with the minimum
    nuclear norm completion as the last row."""
    rows = []
    for di, d in enumerate(res["depths"].tolist()):
        for ci, c in enumerate(res["inits"].tolist()):
            rows.append({"setup": _setup(d, c), "test rel. error": float(res["test_err"][di, ci].mean()),
                         "effective rank": float(res["eff_rank"][di, ci].mean()),
                         "nuclear norm": float(res["gd_nuclear_norm"][di, ci].mean())})
    rows.append({"setup": "min nuclear norm completion", "test rel. error": float(res["nuclear_test_err"].mean()),
                 "effective rank": float(res["nuclear_eff_rank"].mean()),
                 "nuclear norm": float(res["nuclear_norm"].mean())})
    return pd.DataFrame(rows).set_index("setup").round(3)


def matrix_error_chart(res: dict):
    """Test error against init scale, one line per depth (mean over seeds), with the min nuclear norm
    completion as a horizontal rule."""
    rows = [{"init": c, "err": round_sig(float(res["test_err"][di, ci].mean())), "depth": f"depth {d}"}
            for di, d in enumerate(res["depths"].tolist()) for ci, c in enumerate(res["inits"].tolist())]
    line = alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=alt.X("init:Q", scale=alt.Scale(type="log"), title="initialisation scale (log scale)"),
        y=alt.Y("err:Q", scale=alt.Scale(type="log"), title="test relative error (log scale)"),
        color=alt.Color("depth:N", title="factors"), tooltip=["depth", "init", "err"])
    nuc = pd.DataFrame([{"err": round_sig(float(res["nuclear_test_err"].mean())), "what": "min nuclear norm"}])
    rule = alt.Chart(nuc).mark_rule(color="#9a9a9a", strokeDash=[4, 3]).encode(y="err:Q", tooltip=["what", "err"])
    return alt.layer(line, rule).properties(
        title="Deeper factorisations from smaller inits complete the matrix", width=WIDTH, height=HEIGHT,
        description="Relative error on the unobserved entries against the initialisation scale, one line per "
                    "number of factors (mean over seeds), with the minimum nuclear norm completion as a dashed "
                    "grey rule; both axes logarithmic.")


# ---------------------------------------------------------------- explorer

def explorer_chart(result: dict):
    """The explorer's figure: the decision function in the plane with a slider over training, and the
    normalised margin against the step."""
    grid, steps = result["grid"], result["steps"].tolist()
    rows = []
    for t in range(len(steps)):
        out = result["grid_out"][t]
        scale = float(out.abs().max()) or 1.0
        rows += [{"x1": round(float(grid[g, 0]), 3), "x2": round(float(grid[g, 1]), 3),
                  "f": round(float(out[g]) / scale, 2), "frame": t, "step": f"step {steps[t]:,}"}
                 for g in range(len(grid))]
    frame = slider("frame", 0, len(steps) - 1, "training step")
    cell = float(grid[1, 0] - grid[0, 0])
    x = alt.X("x1:Q", title="x₁", scale=alt.Scale(domain=[-0.75, 0.75]))
    y = alt.Y("x2:Q", title="x₂", scale=alt.Scale(domain=[-0.75, 0.75]))
    heat = (alt.Chart(pd.DataFrame(rows)).mark_rect(width=SMALL * cell / 1.5 + 1, height=SMALL * cell / 1.5 + 1)
            .encode(x=x, y=y, color=alt.Color("f:Q", title="F / max|F|",
                                              scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True)))
            .transform_filter(alt.datum.frame == frame).add_params(frame))
    pts = pd.DataFrame({"x1": result["x"][:, 0].tolist(), "x2": result["x"][:, 1].tolist(),
                        "label": [("+1" if v > 0 else "−1") for v in result["y"].tolist()]})
    dots = alt.Chart(pts).mark_point(size=14, filled=True).encode(
        x=x, y=y, shape=alt.Shape("label:N", title="label"), color=alt.value("#222222"))
    left = alt.layer(heat, dots).properties(width=SMALL, height=SMALL, title="decision function")
    m = [{"step": s, "margin": round_sig(float(v)), "what": "normalised margin"}
         for s, v in zip(steps, result["margin"].tolist(), strict=True) if s >= 1]
    right = (alt.Chart(pd.DataFrame(m)).mark_line(point=True)
             .encode(x=alt.X("step:Q", scale=alt.Scale(type="log"), title="step (log scale)"),
                     y=alt.Y("margin:Q", title="min yᵢFᵢ / ‖θ‖² (dimensionless)"))
             .properties(width=SMALL, height=SMALL, title="normalised margin"))
    return alt.hconcat(left, right).properties(
        title=f"{result['what']}: test error {result['test_err']:.3f}",
        description="Left: the trained network's decision function on the plane of the clusters at the step "
                    "chosen with the slider. Right: the normalised margin over training.")


class ImplicitBiasExplorer(Explorer):
    """Train one two-layer net live on the clusters: pick the grid, dimension, width, output scale α and
    which layers train, and watch the decision function and the margin evolve."""

    what = "another data set, width, output scale α or choice of trained layers"

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        slider = {"style": style, "continuous_update": False}
        return {
            "k": W.IntSlider(value=self.params.k, min=2, max=5, description="grid k×k", **slider),
            "d": W.IntSlider(value=self.params.dims[0], min=2, max=40, description="dimension d", **slider),
            "width": W.IntSlider(value=256, min=16, max=2048, step=16, description="width m", **slider),
            "alpha": W.FloatLogSlider(value=1.0, base=10, min=0, max=3, description="output scale α", **slider),
            "layers": W.Dropdown(options=["both layers", "output layer only"], value="both layers",
                                 description="train", style=style),
            "steps": W.IntSlider(value=self.params.steps, min=100, max=5000, step=100, description="steps",
                                 **slider),
        }

    def compute(self, k, d, width, alpha, layers, steps):
        from widgets.implicit_bias import OneNetParams, explore_two_layer

        p = OneNetParams(**{**asdict(self.params), "k": k, "width": width, "steps": steps, "d": d, "alpha": alpha,
                            "both": layers == "both layers"})
        return explore_two_layer(p, device=self.device)

    def chart(self, result):
        return explorer_chart(result)
