"""Figures and live explorers of the loss-choice chapter. Chart functions take the plain results of
:mod:`widgets.loss_choice` and return altair charts; every control is a Vega-Lite param over a precomputed
sweep."""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import pandas as pd

from widgets import loss_choice as lc
from widgets.figures.charts import HEIGHT, PALETTE, WIDTH, round_sig, slider
from widgets.figures.explore import Explorer

LOSS_NAMES = {"mse": "squared (MSE)", "mae": "absolute (L1)", "cross_entropy": "cross-entropy",
              "square": "square loss (raw outputs)", "softmax_mae": "MAE (softmax)"}


def loss_label(spec: str) -> str:
    """A reader's name for a loss spec: ``"huber:0.2"`` → "Huber (δ = 0.2)", ``"gce:0.7"`` → "GCE (q = 0.7)"."""
    name, param = lc.parse_loss(spec)
    if name == "huber":
        return f"Huber (δ = {param:g})"
    if name == "gce":
        return f"GCE (q = {param:g})"
    return LOSS_NAMES.get(name, name)


def _color(field: str, title: str, domain: list[str]):
    return alt.Color(f"{field}:N", title=title, scale=alt.Scale(domain=domain, range=PALETTE[:len(domain)]))


# ---------------------------------------------------------------- 1. outliers


def outlier_slider(res: dict, max_points: int = 400):
    """Top: seed 0's data (outliers in red) and the three fits at the ε picked by the slider. Bottom left: RMS
    distance of each fit to f* against ε (mean over seeds, log scale), a rule at the current ε. Bottom right:
    the location shift of the MSE and L1 fits against the theoretical shifts of the mean (εA) and the median
    (σΦ⁻¹(½/(1 − ε)))."""
    eps = res["eps"].tolist()
    labels = [loss_label(s) for s in res["losses"]]
    param = slider("eps_i", 0, len(eps) - 1, "outlier fraction ε: step")
    pts, fits, err, shift = [], [], [], []
    step = max(1, len(res["x"]) // max_points)
    for e, ev in enumerate(eps):
        tag = f"ε = {ev:g}"
        for i in range(0, len(res["x"]), step):
            pts.append({"e": e, "x": round(float(res["x"][i]), 3), "y": round(float(res["y"][e, i]), 3),
                        "point": "outlier (+A)" if bool(res["outlier"][e, i]) else "clean", "tag": tag})
        for li, lab in enumerate(labels):
            fits += [{"e": e, "x": round(float(x), 3), "f": round(float(f), 3), "loss": lab}
                     for x, f in zip(res["grid"].tolist(), res["fits"][li, e].tolist(), strict=True)]
            err.append({"e": e, "eps": ev, "rms": round_sig(float(res["rms"][li, e].mean())), "loss": lab})
            if ev > 0 and li < 2:
                shift.append({"eps": ev, "shift": round_sig(abs(float(res["shift"][li, e].mean()))),
                              "curve": f"{lab} fit (measured)"})
        if ev > 0:
            shift.append({"eps": ev, "shift": round_sig(float(res["mean_theory"][e])), "curve": "mean: εA"})
            shift.append({"eps": ev, "shift": round_sig(float(res["median_theory"][e])),
                          "curve": "median: σΦ⁻¹(½/(1−ε))"})
    w2 = WIDTH // 2 + 10
    sel = alt.datum.e == param
    data = (alt.Chart(pd.DataFrame(pts)).mark_circle(size=14, opacity=0.5)
            .encode(x=alt.X("x:Q", title="input x"),
                    y=alt.Y("y:Q", title="target y", scale=alt.Scale(domain=[-1.6, 5.8])),
                    color=alt.Color("point:N", title="point", scale=alt.Scale(domain=["clean", "outlier (+A)"],
                                                                               range=["#9a9a9a", "#d1495b"])))
            .transform_filter(sel))
    lines = (alt.Chart(pd.DataFrame(fits)).mark_line(strokeWidth=2.5)
             .encode(x="x:Q", y="f:Q", color=_color("loss", "fit (loss)", labels),
                     strokeDash=alt.StrokeDash("loss:N", sort=labels, legend=None))
             .transform_filter(sel))
    tag = (alt.Chart(pd.DataFrame(pts).drop_duplicates("e")).mark_text(align="right", baseline="top", dx=-4, dy=4,
                                                                        fontSize=13)
           .encode(x=alt.value(WIDTH), y=alt.value(0), text="tag:N").transform_filter(sel))
    top = alt.layer(data, lines, tag).add_params(param).resolve_scale(color="independent").properties(
        width=WIDTH, height=HEIGHT, title="Fits of sin(πx) with a fraction ε of the points shifted by +A (seed 0)")
    edf = pd.DataFrame(err)
    curves = (alt.Chart(edf).mark_line(point=True)
              .encode(x=alt.X("eps:Q", title="outlier fraction ε"),
                      y=alt.Y("rms:Q", title="RMS distance to f*", scale=alt.Scale(type="log")),
                      color=_color("loss", "loss", labels), tooltip=["loss:N", "eps:Q", "rms:Q"]))
    rule = (alt.Chart(edf).mark_rule(color="#666666", strokeDash=[4, 3]).encode(x="eps:Q")
            .transform_filter(sel & (alt.datum.loss == labels[0])))
    left = alt.layer(curves, rule).properties(width=w2, height=HEIGHT * 3 // 4, title="Error of each fit")
    right = (alt.Chart(pd.DataFrame(shift)).mark_line(point=True)
             .encode(x=alt.X("eps:Q", title="outlier fraction ε"),
                     y=alt.Y("shift:Q", title="location shift", scale=alt.Scale(type="log")),
                     color=alt.Color("curve:N", title="shift"), tooltip=["curve:N", "eps:Q", "shift:Q"])
             .properties(width=w2, height=HEIGHT * 3 // 4, title="Location shift: fits and theory"))
    bottom = alt.hconcat(left, right).resolve_scale(color="independent")
    return alt.vconcat(top, bottom).resolve_scale(color="independent").properties(
        title=f"Gross outliers at +A = {res['A']:g} (noise σ = {res['sigma']:g})",
        description="A slider over the outlier fraction moves the squared, absolute and Huber fits; below, each "
                    "fit's RMS error against the outlier fraction and the fits' location shifts against the "
                    "theoretical shifts of the mean and the median.")


# ---------------------------------------------------------------- 2. far points


def far_slider(res: dict):
    """Left: seed 0's two classes, the far points and the boundary of each method; a slider over the number
    of far points and a toggle between correct and mislabelled ones. Right: rotation of each boundary (mean
    over seeds) against the number of far points, for the toggled kind."""
    counts, methods, kinds = res["counts"].tolist(), res["methods"], res["kinds"]
    n_param = slider("far_i", 0, len(counts) - 1, "far points: step")
    k_param = alt.param(name="far_kind", value=kinds[1],
                        bind=alt.binding_radio(options=kinds, name="far points are (toggle) "))
    rows, rot, far = [], [], []
    for m, meth in enumerate(methods):
        for k, kind in enumerate(kinds):
            for c, cnt in enumerate(counts):
                w1, w2, b = res["w"][m, k, c, 0].tolist()
                if w1 == w1 and abs(w1) > 1e-12:  # not NaN: x₁ = −(w₂x₂ + b)/w₁ along the boundary
                    rows += [{"c": c, "kind": kind, "method": meth, "x2": x2, "x1": round(-(w2 * x2 + b) / w1, 3)}
                             for x2 in (-3.0, 8.0)]
                r = res["rotation"][m, k, c]
                if bool((r == r).any()):
                    rot.append({"kind": kind, "method": meth, "count": cnt,
                                "rotation": round_sig(float(r[r == r].mean()))})
    for k, kind in enumerate(kinds):
        for c, cnt in enumerate(counts):
            x1, x2 = res["far"][k].tolist()
            far.append({"c": c, "kind": kind, "x1": x1, "x2": x2, "label": f"{cnt} × label {'+1' if k == 0 else '−1'}",
                        "size": 40 + 12 * cnt})
    base = pd.DataFrame({"x1": res["x"][:, 0].round(decimals=3).tolist(),
                         "x2": res["x"][:, 1].round(decimals=3).tolist(),
                         "label": ["+1" if v > 0 else "−1" for v in res["y"].tolist()]})
    sel = (alt.datum.c == n_param) & (alt.datum.kind == k_param)
    scale_x, scale_y = alt.Scale(domain=[-4, 8]), alt.Scale(domain=[-3, 8])
    cloud = alt.Chart(base).mark_circle(size=20, opacity=0.6).encode(
        x=alt.X("x1:Q", title="x₁", scale=scale_x), y=alt.Y("x2:Q", title="x₂", scale=scale_y),
        color=alt.Color("label:N", title="class", scale=alt.Scale(domain=["+1", "−1"], range=["#1f5aa6", "#d1495b"])))
    farpts = (alt.Chart(pd.DataFrame(far)).mark_point(shape="diamond", filled=True, color="#2e4057")
              .encode(x="x1:Q", y="x2:Q", size=alt.Size("size:Q", legend=None), tooltip=["label:N"])
              .transform_filter(sel))
    fartext = (alt.Chart(pd.DataFrame(far)).mark_text(dy=-14, fontSize=12).encode(x="x1:Q", y="x2:Q", text="label:N")
               .transform_filter(sel))
    lines = (alt.Chart(pd.DataFrame(rows)).mark_line(strokeWidth=2, clip=True)
             .encode(x=alt.X("x1:Q", scale=scale_x), y=alt.Y("x2:Q", scale=scale_y),
                     strokeDash=alt.StrokeDash("method:N", title="boundary", sort=methods), detail="method:N")
             .transform_filter(sel))
    left = alt.layer(cloud, lines, farpts, fartext).add_params(n_param, k_param).properties(
        width=WIDTH * 2 // 3, height=HEIGHT + 60, title="Boundaries with far points (seed 0)")
    right = (alt.Chart(pd.DataFrame(rot)).mark_line(point=True)
             .encode(x=alt.X("count:Q", title="number of far points"),
                     y=alt.Y("rotation:Q", title="rotation (degrees)"),
                     color=_color("method", "method", methods), tooltip=["method:N", "count:Q", "rotation:Q"])
             .transform_filter(alt.datum.kind == k_param)
             .properties(width=WIDTH // 2, height=HEIGHT + 60, title="Rotation of each boundary"))
    return alt.hconcat(left, right).resolve_scale(color="independent").properties(
        title="Far correct points move least squares only; far mislabelled points move every unbounded loss",
        description="Two Gaussian classes with far points added; a slider sets how many, a toggle whether they "
                    "are correctly labelled or mislabelled. Left: the boundaries of least squares, logistic "
                    "regression, a bounded sigmoid loss and the SVM; right: how far each boundary rotates.")


# ---------------------------------------------------------------- 3. label noise


def noise_slider(res: dict):
    """Clean test accuracy (left) and the fraction of changed training labels the net predicts (right)
    against training epochs, per loss (mean over seeds), at the noise rate picked by the slider."""
    rates, labels = res["rates"].tolist(), [loss_label(s) for s in res["losses"]]
    param = slider("rate_i", 0, len(rates) - 1, "noise rate η: step")
    rows = []
    ep = res["epochs"].tolist()
    for r, rate in enumerate(rates):
        for li, lab in enumerate(labels):
            acc, mem = res["test_acc"][:, li, r].mean(-1).tolist(), res["memorized"][:, li, r].mean(-1).tolist()
            rows += [{"r": r, "rate": f"η = {rate:g}", "epoch": round(e, 2), "loss": lab, "acc": round(a, 4),
                      "mem": None if m != m else round(m, 4)} for e, a, m in zip(ep, acc, mem, strict=True)]
    df = pd.DataFrame(rows)
    sel = alt.datum.r == param
    x = alt.X("epoch:Q", title="epoch")
    color = _color("loss", "loss", labels)
    acc = (alt.Chart(df).mark_line(point=True).encode(x=x, y=alt.Y("acc:Q", title="clean test accuracy",
                                                                      scale=alt.Scale(domain=[0, 1])),
                                                      color=color, tooltip=["loss:N", "epoch:Q", "acc:Q"])
           .transform_filter(sel))
    tag = (alt.Chart(df.drop_duplicates("r")).mark_text(align="right", baseline="bottom", dx=-4, dy=-4, fontSize=13)
           .encode(x=alt.value(WIDTH // 2), y=alt.value(HEIGHT), text="rate:N").transform_filter(sel))
    mem = (alt.Chart(df.dropna(subset=["mem"])).mark_line(point=True)
           .encode(x=x, y=alt.Y("mem:Q", title="memorized fraction of changed labels", scale=alt.Scale(domain=[0, 1])),
                   color=color, tooltip=["loss:N", "epoch:Q", "mem:Q"])
           .transform_filter(sel))
    w = WIDTH // 2 + 10
    return alt.hconcat(alt.layer(acc, tag).add_params(param).properties(width=w, height=HEIGHT,
                                                                        title="Clean test accuracy"),
                       mem.properties(width=w, height=HEIGHT, title="Memorized noisy labels")).properties(
        title="Digits with symmetric label noise: unbounded losses fit the noise, bounded ones do not",
        description="A slider over the label-noise rate; left, clean test accuracy over training for each "
                    "loss; right, the fraction of the changed training labels each network predicts.")


# ---------------------------------------------------------------- 4. imbalance


def imbalance_slider(res: dict, max_points: int = 300):
    """Left: the classes at the ratio picked by the slider (seed 0, subsampled), the boundaries of CE, CE +
    post-hoc logit adjustment and least squares, and the two Bayes boundaries (accuracy: x₁ = ln ρ / 2;
    balanced accuracy: x₁ = 0). Right: minority and majority recall of each method (mean over seeds)."""
    ratios, methods = res["ratios"].tolist(), res["methods"]
    param = slider("ratio_i", 0, len(ratios) - 1, "class ratio ρ: step",
                   value=ratios.index(100) if 100 in ratios else None)
    pts, lines, bars, bayes = [], [], [], []
    for q, rho in enumerate(ratios):
        x, y = res["points_x"][q], res["points_y"][q]
        for i in range(len(y)):
            pts.append({"q": q, "x1": round(float(x[i, 0]), 3), "x2": round(float(x[i, 1]), 3),
                        "class": "minority (+1)" if y[i] > 0 else "majority (−1)"})
        for m, meth in enumerate(methods):
            w1, w2, b = res["w"][m, q, 0].tolist()
            lines += [{"q": q, "method": meth, "x2": x2, "x1": round(max(-8.0, min(8.0, -(w2 * x2 + b) / w1)), 3)}
                      for x2 in (-3.5, 3.5)]
            for which, key in (("minority recall", "recall_min"), ("majority recall", "recall_maj")):
                bars.append({"q": q, "method": meth, "which": which, "value": round(float(res[key][m, q].mean()), 4)})
        for name, x1 in (("Bayes, accuracy", -float(res["bayes_accuracy_threshold"][q])), ("Bayes, balanced", 0.0)):
            bayes += [{"q": q, "bayes": name, "x1": x1, "x2": x2, "tag": f"ρ = {rho:g}"} for x2 in (-3.5, 3.5)]
    sel = alt.datum.q == param
    sx, sy = alt.Scale(domain=[-5, 5]), alt.Scale(domain=[-3.5, 3.5])
    cloud = (alt.Chart(pd.DataFrame(pts)).mark_circle(size=14, opacity=0.5)
             .encode(x=alt.X("x1:Q", title="x₁", scale=sx), y=alt.Y("x2:Q", title="x₂", scale=sy),
                     color=alt.Color("class:N", title="class",
                                     scale=alt.Scale(domain=["minority (+1)", "majority (−1)"],
                                                     range=["#1f5aa6", "#d1495b"])))
             .transform_filter(sel))
    bl = (alt.Chart(pd.DataFrame(bayes)).mark_line(color="#9a9a9a", strokeDash=[4, 3], clip=True)
          .encode(x=alt.X("x1:Q", scale=sx), y=alt.Y("x2:Q", scale=sy), detail="bayes:N", tooltip=["bayes:N"])
          .transform_filter(sel))
    ml = (alt.Chart(pd.DataFrame(lines)).mark_line(strokeWidth=2.5, clip=True)
          .encode(x=alt.X("x1:Q", scale=sx), y=alt.Y("x2:Q", scale=sy),
                  strokeDash=alt.StrokeDash("method:N", title="boundary", sort=methods), detail="method:N")
          .transform_filter(sel))
    tag = (alt.Chart(pd.DataFrame(bayes).drop_duplicates("q")).mark_text(align="right", baseline="top", dx=-4, dy=4,
                                                                          fontSize=13)
           .encode(x=alt.value(WIDTH // 2), y=alt.value(0), text="tag:N").transform_filter(sel))
    left = alt.layer(cloud, bl, ml, tag).add_params(param).properties(
        width=WIDTH // 2 + 20, height=HEIGHT, title="Boundaries (grey dashed: the two Bayes boundaries)")
    right = (alt.Chart(pd.DataFrame(bars)).mark_bar()
             .encode(x=alt.X("method:N", title="training loss (method)", sort=methods), xOffset="which:N",
                     y=alt.Y("value:Q", title="recall (exact under the Gaussian model)",
                             scale=alt.Scale(domain=[0, 1])),
                     color=alt.Color("which:N", title="recall"), tooltip=["method:N", "which:N", "value:Q"])
             .transform_filter(sel).properties(width=WIDTH // 2, height=HEIGHT, title="Recall of each class"))
    return alt.hconcat(left, right).resolve_scale(color="independent").properties(
        title="Class imbalance: CE learns the prior; logit adjustment removes it; least squares is worse",
        description="A slider over the class ratio; left, the two Gaussian classes with the boundaries of "
                    "cross-entropy, cross-entropy with post-hoc logit adjustment and least squares, and the "
                    "Bayes boundaries for accuracy and for balanced accuracy; right, minority and majority "
                    "recall of each method.")


# ---------------------------------------------------------------- 5. support-vector proliferation


def proliferation_slider(res: dict):
    """Against d/n (log): the angle between the SVM and the minimum-norm interpolant, the fraction of support
    vectors, and the test accuracy of both (mean over seeds), a rule at 2n ln n and one at the d/n picked by
    the slider."""
    dims, n = res["dims"].tolist(), res["n"]
    param = slider("d_i", 0, len(dims) - 1, "dimension d: step")
    rows = []
    for i, d in enumerate(dims):
        base = {"i": i, "ratio": round_sig(d / n), "d": d}
        rows.append({**base, "panel": "angle", "curve": "∠(SVM, min-norm), degrees",
                     "value": round_sig(float(res["angle"][i].mean()))})
        rows.append({**base, "panel": "fraction", "curve": "support vectors (fraction)",
                     "value": round_sig(float(res["sv_fraction"][i].mean()))})
        rows.append({**base, "panel": "fraction", "curve": "test accuracy, SVM",
                     "value": round_sig(float(res["acc_svm"][i].mean()))})
        rows.append({**base, "panel": "fraction", "curve": "test accuracy, min-norm",
                     "value": round_sig(float(res["acc_minnorm"][i].mean()))})
    df = pd.DataFrame(rows)
    x = alt.X("ratio:Q", title="dimension per training point d/n", scale=alt.Scale(type="log", nice=False))
    mark = pd.DataFrame([{"ratio": res["two_n_log_n"] / n, "label": "d = 2n ln n"}])
    rule = alt.Chart(mark).mark_rule(color="#666666", strokeDash=[5, 4]).encode(x="ratio:Q")
    text = (alt.Chart(mark).mark_text(align="left", baseline="top", dx=4, dy=4, color="#444444")
            .encode(x="ratio:Q", y=alt.value(0), text="label:N"))
    now = (alt.Chart(df[df.panel == "angle"]).mark_rule(color=PALETTE[1]).encode(x="ratio:Q", tooltip=["d:Q"])
           .transform_filter(alt.datum.i == param))
    now_text = (alt.Chart(df[df.panel == "angle"]).mark_text(align="right", baseline="top", dx=-4, dy=4, fontSize=13)
                .encode(x=alt.value(WIDTH // 2), y=alt.value(0),
                        text=alt.Text("value:Q", format=".3g"))
                .transform_filter(alt.datum.i == param))
    angle = (alt.Chart(df[df.panel == "angle"]).mark_line(point=True, color=PALETTE[0])
             .encode(x=x, y=alt.Y("value:Q", title="angle between the two solutions (degrees)"),
                     tooltip=["d:Q", "value:Q"]))
    frac = (alt.Chart(df[df.panel == "fraction"]).mark_line(point=True)
            .encode(x=x, y=alt.Y("value:Q", title="fraction", scale=alt.Scale(domain=[0, 1])),
                    color=alt.Color("curve:N", title=None), tooltip=["curve:N", "d:Q", "value:Q"]))
    w = WIDTH // 2 + 10
    return alt.hconcat(alt.layer(angle, rule, text, now, now_text).add_params(param)
                       .properties(width=w, height=HEIGHT, title="Max margin vs minimum norm"),
                       alt.layer(frac, rule, now).properties(width=w, height=HEIGHT,
                                                             title="Support vectors and test accuracy")).properties(
        title=f"Where the logistic and the square loss lead GD on separable data (n = {n})",
        description="Against the number of dimensions per training point: the angle between the hard-margin SVM "
                    "and the minimum-norm interpolant, the fraction of training points that are support "
                    "vectors, and the test accuracy of both; a slider moves a rule along d/n and reads off "
                    "the angle.")


# ---------------------------------------------------------------- 6. calibration


def reliability_slider(res: dict):
    """Left: reliability diagrams (accuracy against confidence per bin, seed 0; dots sized by the bin's
    count) for each loss at the epoch picked by the slider, with the diagonal of perfect calibration. Right:
    ECE against epoch (mean over seeds), a rule at the current epoch."""
    epochs, labels = res["epochs"].tolist(), [loss_label(s) for s in res["losses"]]
    param = slider("epoch_i", 1, len(epochs) - 1, "training epoch: step")
    bins, curve = [], []
    for t, ep in enumerate(epochs):
        for li, lab in enumerate(labels):
            ece = float(res["ece"][t, li].mean())
            curve.append({"t": t, "epoch": round(ep, 2), "loss": lab, "ece": round(ece, 4)})
            for b in range(res["bin_count"].shape[-1]):
                n = float(res["bin_count"][t, li, 0, b])
                if n > 0:
                    bins.append({"t": t, "loss": lab, "n": n, "epoch": f"epoch {ep:g}",
                                 "conf": round(float(res["bin_confidence"][t, li, 0, b]), 4),
                                 "acc": round(float(res["bin_accuracy"][t, li, 0, b]), 4)})
    bdf, cdf = pd.DataFrame(bins), pd.DataFrame(curve)
    sel = alt.datum.t == param
    color = _color("loss", "loss", labels)
    diag = (alt.Chart(pd.DataFrame({"conf": [0, 1], "acc": [0, 1]}))
            .mark_line(color="#9a9a9a", strokeDash=[4, 3]).encode(x="conf:Q", y="acc:Q"))
    dots = (alt.Chart(bdf).mark_line(point=True).encode(
        x=alt.X("conf:Q", title="confidence (bin mean)", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("acc:Q", title="accuracy (bin mean)", scale=alt.Scale(domain=[0, 1])), color=color,
        tooltip=["loss:N", "conf:Q", "acc:Q", "n:Q"]).transform_filter(sel))
    tag = (alt.Chart(bdf.drop_duplicates("t")).mark_text(align="left", baseline="top", dx=4, dy=4, fontSize=13)
           .encode(x=alt.value(0), y=alt.value(0), text="epoch:N").transform_filter(sel))
    w = WIDTH // 2 + 10
    left = alt.layer(diag, dots, tag).add_params(param).properties(width=w, height=HEIGHT,
                                                                   title="Reliability diagram (seed 0)")
    line = (alt.Chart(cdf).mark_line(point=True)
            .encode(x=alt.X("epoch:Q", title="epoch"), y=alt.Y("ece:Q", title="expected calibration error"),
                    color=color, tooltip=["loss:N", "epoch:Q", "ece:Q"]))
    rule = (alt.Chart(cdf[cdf.loss == labels[0]]).mark_rule(color="#666666", strokeDash=[4, 3]).encode(x="epoch:Q")
            .transform_filter(sel))
    right = alt.layer(line, rule).properties(width=w, height=HEIGHT, title="ECE over training")
    return alt.hconcat(left, right).properties(
        title="MNIST-1D: cross-entropy grows overconfident as it overfits",
        description="A slider over training epochs; left, the reliability diagram (accuracy against confidence "
                    "per bin) of the cross-entropy and square-loss networks; right, the expected calibration "
                    "error of each over training.")


# ---------------------------------------------------------------- live explorers


class OutlierExplorer(Explorer):
    """The regression experiment, live: pick the loss (Huber's δ), the outlier fraction and its size."""

    what = "another loss, Huber δ, outlier fraction or outlier size"

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        p = self.params or lc.OutlierParams()
        self.params = p
        return {
            "loss": W.Dropdown(options=["mse", "mae", "huber"], value="huber", description="loss", style=style),
            "delta": W.FloatLogSlider(value=0.2, base=10, min=-2, max=1, description="Huber δ", style=style,
                                      continuous_update=False),
            "eps": W.FloatSlider(value=0.1, min=0.0, max=0.49, step=0.01, description="outlier fraction ε",
                                 style=style, continuous_update=False),
            "A": W.FloatSlider(value=p.A, min=0.0, max=20.0, step=0.5, description="outlier size A", style=style,
                               continuous_update=False),
        }

    def compute(self, loss, delta, eps, A):
        spec = f"huber:{delta:.4g}" if loss == "huber" else loss
        p = replace(self.params, losses=("mse", spec) if spec != "mse" else ("mse",), eps=(0.0, eps), A=A,
                    seeds=1)
        return lc.outliers(p, device=self.device, progress=True)

    def chart(self, result):
        return outlier_slider(result)


class NoiseExplorer(Explorer):
    """The label-noise experiment, live: pick the loss (GCE's q), the noise rate and the number of epochs."""

    what = "another loss, GCE q, noise rate or training length"

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        self.params = self.params or lc.NoiseParams()
        return {
            "loss": W.Dropdown(options=["cross_entropy", "square", "softmax_mae", "gce"], value="gce",
                               description="loss", style=style),
            "q": W.FloatSlider(value=0.7, min=0.05, max=1.0, step=0.05, description="GCE q", style=style,
                               continuous_update=False),
            "rate": W.FloatSlider(value=0.4, min=0.0, max=0.9, step=0.05, description="noise rate η", style=style,
                                  continuous_update=False),
            "epochs": W.IntSlider(value=self.params.epochs, min=10, max=1000, step=10, description="epochs",
                                  style=style, continuous_update=False),
        }

    def compute(self, loss, q, rate, epochs):
        spec = f"gce:{q:.4g}" if loss == "gce" else loss
        losses = ("cross_entropy", spec) if spec != "cross_entropy" else ("cross_entropy",)
        p = replace(self.params, losses=losses, rates=(rate,), epochs=epochs, seeds=1)
        return lc.noisy_labels(p, device=self.device, progress=True)

    def chart(self, result):
        return noise_slider(result)


class ImbalanceExplorer(Explorer):
    """The imbalance experiment, live: pick the class ratio and the number of GD steps."""

    what = "another class ratio or training length"

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        self.params = self.params or lc.ImbalanceParams()
        return {
            "ratio": W.FloatLogSlider(value=100, base=10, min=0, max=3, description="class ratio ρ", style=style,
                                      continuous_update=False),
            "steps": W.IntSlider(value=self.params.steps, min=100, max=20_000, step=100, description="GD steps",
                                 style=style, continuous_update=False),
        }

    def compute(self, ratio, steps):
        p = replace(self.params, ratios=(float(ratio),), steps=steps, seeds=1)
        return lc.imbalance(p, device=self.device, progress=True)

    def chart(self, result):
        return imbalance_slider(result)
