"""Figures and the live explorer of the double-descent chapter. Chart functions take the plain results of
:mod:`widgets.double_descent` and return altair charts; sliders are Vega-Lite params over precomputed sweeps."""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import pandas as pd

from widgets.figures.charts import HEIGHT, PALETTE, WIDTH, round_sig, slider
from widgets.figures.explore import Explorer, interactive


def _threshold_rule(x: float, label: str):
    """A dashed vertical rule at the interpolation threshold, with a text label."""
    df = pd.DataFrame([{"x": x, "label": label}])
    rule = alt.Chart(df).mark_rule(color="#666666", strokeDash=[5, 4]).encode(x="x:Q")
    text = (alt.Chart(df).mark_text(align="left", baseline="top", dx=4, dy=4, color="#444444", fontSize=12)
            .encode(x="x:Q", y=alt.value(0), text="label:N"))
    return rule + text


def _panel(df: pd.DataFrame, y: str, y_title: str, title: str, log_y: bool, x_title: str, width: int,
           height: int):
    enc = {"x": alt.X("ratio:Q", title=x_title, scale=alt.Scale(type="log", nice=False)),
           "y": alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(type="log") if log_y else alt.Undefined),
           "tooltip": [alt.Tooltip("N:Q", title="features N"), alt.Tooltip(f"{y}:Q", title=y_title)]}
    line = alt.Chart(df).mark_line(point=True, color=PALETTE[0]).encode(**enc)
    return (line + _threshold_rule(1.0, "N = n")).properties(title=title, width=width, height=height)


def rff_panels(res: dict, ridge: int | None = None):
    """Four panels against N/n (log): test error, test MSE, ‖a‖ and the smallest nonzero singular value of
    the training feature matrix, each the mean over seeds. ``res``: :func:`widgets.double_descent.rff_sweep`.
    ``ridge``: plot its ridge fit number ``ridge`` (λ = ``res["lambdas"][ridge]``) instead of the min-norm fit."""
    n = res["n"]
    if ridge is None:
        err, mse, norm, fit = res["test_err"], res["test_mse"], res["norm"], "minimum-norm least squares"
    else:
        err, mse, norm = res["ridge_err"][ridge], res["ridge_mse"][ridge], res["ridge_norm"][ridge]
        fit = f"ridge, λ = {float(res['lambdas'][ridge]):.2g}"
    rows = [{"N": int(N), "ratio": round_sig(N / n), "err": round_sig(e), "mse": round_sig(m),
            "norm": round_sig(a), "smin": round_sig(s)}
            for N, e, m, a, s in zip(res["N"].tolist(), err.mean(0).tolist(), mse.mean(0).tolist(),
                                     norm.mean(0).tolist(), res["smin"].mean(0).tolist(), strict=True)]
    df = pd.DataFrame(rows)
    xt = "features per training point N/n"
    w, h = WIDTH // 2 + 10, HEIGHT * 3 // 4
    top = alt.hconcat(_panel(df, "err", "test error (fraction)", "Test 0-1 error", False, xt, w, h),
                      _panel(df, "mse", "test MSE (sum over 10 outputs)", "Test MSE", True,
                             xt, w, h))
    bottom = alt.hconcat(_panel(df, "norm", "‖a‖ (Frobenius norm)", "Norm of the solution", True, xt, w, h),
                         _panel(df, "smin", "smallest nonzero singular value", "Conditioning of Φ_train",
                                True, xt, w, h))
    return alt.vconcat(top, bottom).properties(
        title=f"Random Fourier features on digits, n = {n}, {fit} (mean of {err.shape[0]} seeds)",
        description="Four panels against the number of random features per training point on a log axis: test "
                    "error and test MSE peak at N = n, where the solution norm peaks and the smallest singular "
                    "value of the feature matrix collapses; all recover beyond it.")


def _slider_chart(rows: list[dict], label_col: str, slider_name: str, reference: list[dict], *, title: str,
                  description: str, x_title: str, y_title: str, log_y: bool = False, rule_x: float = 1.0,
                  rule_label: str = "N = n"):
    """Test error against N/n (log) for the sweep value picked by a Vega-Lite slider over ``frame``, with a
    grey dashed reference curve drawn in every frame."""
    df, ref = pd.DataFrame(rows), pd.DataFrame(reference)
    n_frames = int(df["frame"].max()) + 1
    # start at the last frame, so that moving the slider to its minimum changes the chart
    param = slider("frame", 0, n_frames - 1, slider_name)
    x = alt.X("ratio:Q", title=x_title, scale=alt.Scale(type="log", nice=False))
    y = alt.Y("y:Q", title=y_title, scale=alt.Scale(type="log") if log_y else alt.Undefined)
    base = alt.Chart(ref).mark_line(color="#9a9a9a", strokeDash=[4, 3], strokeWidth=1.5).encode(x=x, y=y)
    moving = (alt.Chart(df).mark_line(point=True, color=PALETTE[1])
              .encode(x=x, y=y, tooltip=["N:Q", "y:Q", f"{label_col}:N"])
              .transform_filter(alt.datum.frame == param).add_params(param))
    labels = df.groupby("frame", as_index=False)[label_col].first()
    text = (alt.Chart(labels).mark_text(align="right", baseline="top", dx=-4, dy=4, fontSize=13)
            .encode(x=alt.value(WIDTH), y=alt.value(0), text=alt.Text(f"{label_col}:N"))
            .transform_filter(alt.datum.frame == param))
    return alt.layer(base, moving, text, _threshold_rule(rule_x, rule_label)).properties(
        title=title, description=description, width=WIDTH, height=HEIGHT)


def ridge_slider(res: dict):
    """Test error against N/n for each ridge λ (slider), over the min-norm curve (grey dashed)."""
    n = res["n"]
    ratios = [round_sig(N / n) for N in res["N"].tolist()]
    rows = []
    for i, lam in enumerate(res["lambdas"].tolist()):
        for N, r, e in zip(res["N"].tolist(), ratios, res["ridge_err"][i].mean(0).tolist(), strict=True):
            rows.append({"frame": i, "lam": f"λ = {lam:g}", "N": N, "ratio": r, "y": round_sig(e)})
    ref = [{"ratio": r, "y": round_sig(e)} for r, e in zip(ratios, res["test_err"].mean(0).tolist(), strict=True)]
    return _slider_chart(rows, "lam", "ridge λ", ref, title="Ridge regularization flattens the peak",
                         description="Test error of ridge-regularized random-feature fits against N/n (red) for "
                                     "the λ chosen with the slider; the grey dashed curve is the min-norm fit "
                                     "(λ = 0), which peaks at N = n.",
                         x_title="features per training point N/n", y_title="test error (fraction)")


def noise_slider(res: dict):
    """Min-norm test error against N/n for each label-noise level (slider), over the clean curve."""
    n = res["n"]
    ratios = [round_sig(N / n) for N in res["N"].tolist()]
    rows = []
    for i, q in enumerate(res["noises"].tolist()):
        for N, r, e in zip(res["N"].tolist(), ratios, res["noise_mse"][i].mean(0).tolist(), strict=True):
            rows.append({"frame": i, "noise": f"{100 * q:.0f}% labels randomized", "N": N, "ratio": r,
                        "y": round_sig(e)})
    ref = [{"ratio": r, "y": round_sig(e)} for r, e in zip(ratios, res["test_mse"].mean(0).tolist(), strict=True)]
    return _slider_chart(rows, "noise", "label noise", ref, log_y=True,
                         title="Label noise raises the peak",
                         description="Test MSE of the min-norm random-feature fit against N/n with a fraction of "
                                     "training labels randomized (slider, red), over the clean-label curve (grey "
                                     "dashed); the peak at N = n grows with the noise.",
                         x_title="features per training point N/n",
                         y_title="test MSE (squared error, summed over 10 outputs)")


def sample_wise(res: dict):
    """Test error against the number of training points n at fixed N, with the rule at n = N."""
    N = res["N"]
    df = pd.DataFrame({"n": res["ns"].tolist(), "err": [round_sig(e) for e in res["test_err"].mean(0).tolist()]})
    line = (alt.Chart(df).mark_line(point=True, color=PALETTE[0])
            .encode(x=alt.X("n:Q", title="training points n", scale=alt.Scale(type="log", nice=False)),
                    y=alt.Y("err:Q", title="test error (fraction)"),
                    tooltip=["n:Q", "err:Q"]))
    return (line + _threshold_rule(N, "n = N")).properties(
        title=f"More data can hurt: N = {N} random features, min-norm fit",
        description="Test error of the min-norm random-feature fit with a fixed number of features against the "
                    "number of training points: it rises as n approaches N and falls again beyond it.",
        width=WIDTH, height=HEIGHT)


def width_curves(res: dict):
    """Train and test error (mean over seeds, final step) against MLP width, with the interpolation threshold
    (dashed rule) and the test-error peak (ringed point)."""
    rows = []
    for w, tr, te in zip(res["widths"].tolist(), res["final_train_err"].tolist(), res["final_test_err"].tolist(),
                         strict=True):
        rows += [{"width": w, "split": "train (noisy labels)", "err": round_sig(tr)},
                 {"width": w, "split": "test (clean labels)", "err": round_sig(te)}]
    df = pd.DataFrame(rows)
    x = alt.X("width:Q", title="hidden width (units)", scale=alt.Scale(type="log", nice=False))
    lines = (alt.Chart(df).mark_line(point=True)
             .encode(x=x, y=alt.Y("err:Q", title="error (fraction)"),
                     color=alt.Color("split:N", title="split", scale=alt.Scale(range=PALETTE[:2])),
                     tooltip=["width:Q", "split:N", "err:Q"]))
    peak = pd.DataFrame([{"width": res["peak_width"],
                          "err": round_sig(res["final_test_err"][res["widths"].tolist().index(res["peak_width"])])}])
    ring = (alt.Chart(peak).mark_point(shape="circle", size=260, filled=False, color="#222222", strokeWidth=2)
            .encode(x="width:Q", y="err:Q"))
    p = res["params"]
    return alt.layer(lines, ring, _threshold_rule(res["interp_width"], f"interpolation: width {res['interp_width']}")
                     ).properties(
        title=f"Two-layer MLPs on MNIST-1D, n = {p['n']}, {100 * p['noise']:.0f}% label noise "
              f"(mean of {p['seeds']} seeds)",
        description="Train and test error of two-layer MLPs against hidden width on a log axis. Training error "
                    "reaches zero at the interpolation width (dashed rule); test error peaks near it (ringed) "
                    "and falls again for wider networks.",
        width=WIDTH, height=HEIGHT)


def epoch_curves(res: dict):
    """Train and test error over training steps for the width picked by a slider (mean over seeds)."""
    widths, steps = res["widths"].tolist(), res["steps"].tolist()
    tr, te = res["train_err"].mean(1), res["test_err"].mean(1)  # [T, G]
    rows = []
    for g, w in enumerate(widths):
        for t, s in enumerate(steps):
            if s == 0:
                continue
            for split, e in (("train (noisy labels)", tr[t, g]), ("test (clean labels)", te[t, g])):
                rows.append({"frame": g, "wl": f"width {w}", "step": s, "split": split, "err": round_sig(e)})
    df = pd.DataFrame(rows)
    param = slider("frame", 0, len(widths) - 1, "width index")
    lines = (alt.Chart(df).mark_line(point=True)
             .encode(x=alt.X("step:Q", title="Adam step (full batch)", scale=alt.Scale(type="log", nice=False)),
                     y=alt.Y("err:Q", title="error (fraction)", scale=alt.Scale(domain=[0, 1])),
                     color=alt.Color("split:N", title="split", scale=alt.Scale(range=PALETTE[:2])),
                     tooltip=["step:Q", "split:N", "err:Q", "wl:N"])
             .transform_filter(alt.datum.frame == param).add_params(param))
    labels = df.groupby("frame", as_index=False)["wl"].first()
    text = (alt.Chart(labels).mark_text(align="right", baseline="top", dx=-4, dy=4, fontSize=13)
            .encode(x=alt.value(WIDTH), y=alt.value(0), text="wl:N").transform_filter(alt.datum.frame == param))
    return alt.layer(lines, text).properties(
        title="Error over training, one width at a time",
        description="Train and test error of the MLPs against the training step (log axis) for the hidden width "
                    "chosen with the slider, mean over seeds.",
        width=WIDTH, height=HEIGHT)


class DoubleDescentExplorer(Explorer):
    """Live: random features (pick n, label noise, ridge λ and the largest N/n) or MLPs on MNIST-1D (pick n,
    label noise and the widest width); the sweep is recomputed and redrawn."""

    what = "another model, training-set size, label noise, ridge λ or largest model"

    def __init__(self, rff_params, mlp_params, device=None):
        super().__init__(device=device)
        self.rff, self.mlp = interactive(rff_params), interactive(mlp_params)

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        return {
            "model": W.Dropdown(options=["random features", "MLP"], value="random features", description="model",
                                style=style),
            "n": W.IntSlider(value=self.rff.n, min=100, max=1000, step=50, description="training points n",
                             style=style, continuous_update=False),
            "noise": W.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.05, description="label noise",
                                   style=style, continuous_update=False),
            "lam": W.FloatLogSlider(value=1e-9, base=10, min=-9, max=-1, description="ridge λ (RF only)",
                                    style=style, continuous_update=False),
            "largest": W.FloatLogSlider(value=20, base=10, min=0.5, max=1.7,
                                        description="largest N/n (RF) or width/10 (MLP)", style=style,
                                        continuous_update=False),
        }

    def compute(self, model, n, noise, lam, largest):
        from widgets import double_descent as dd

        if model == "random features":
            ratios = tuple(r for r in self.rff.ratios if r <= largest) or (largest,)
            p = replace(self.rff, n=n, ratios=ratios, lambdas=(lam,), noises=(), ridge_noise=noise, seeds=3)
            return ("rff", dd.rff_sweep(p, device=self.device))
        widths = tuple(w for w in self.mlp.widths if w <= 10 * largest) or (1,)
        p = replace(self.mlp, n=n, noise=noise, widths=widths, seeds=1)
        return ("mlp", dd.width_sweep(p, device=self.device))

    def chart(self, result):
        kind, res = result
        return rff_panels(res, ridge=0) if kind == "rff" else width_curves(res)
