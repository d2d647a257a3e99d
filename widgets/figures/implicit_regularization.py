"""Charts and the live explorer of the chapter "Implicit regularization I: what the step size does".

Every chart takes the plain result of a function in :mod:`widgets.implicit_regularization`.
"""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import pandas as pd

from widgets.figures.charts import HEIGHT, PALETTE, WIDTH, curves, round_sig, slider
from widgets.figures.explore import Explorer

# ---------------------------------------------------------------- the two-parameter model


def toy_trajectories(result: dict):
    """GD, the gradient flow of E and the flow of the modified loss in the (a, b) plane, with a slider over
    the step size h. ``result``: :func:`widgets.implicit_regularization.toy_igr`."""
    rows = []
    for f, path in enumerate(result["paths"]):
        label = f"h = {path['h']:g}"
        for series in ("gd", "flow", "modified"):
            pts = path[series]
            stride = max(1, len(pts) // 150)
            keep = list(range(0, len(pts), stride))
            if keep[-1] != len(pts) - 1:
                keep.append(len(pts) - 1)
            name = {"gd": "gradient descent", "flow": "flow of E", "modified": "flow of E + (h/4)‖∇E‖²"}[series]
            rows += [{"frame": f, "h": label, "series": name, "i": i, "a": round_sig(float(pts[i, 0])),
                      "b": round_sig(float(pts[i, 1]))} for i in keep]
    df = pd.DataFrame(rows)
    valley = pd.DataFrame([{"a": round_sig(a), "b": round_sig(1 / a)} for a in [0.3 + 0.05 * i for i in range(60)]])
    n = len(result["paths"])
    param = slider("frame", 0, n - 1, "step size h")
    x = alt.X("a:Q", title="parameter a (dimensionless)", scale=alt.Scale(domain=[0, 3.2]))
    y = alt.Y("b:Q", title="parameter b (dimensionless)", scale=alt.Scale(domain=[0, 3.2]))
    color = alt.Color("series:N", title="trajectory", scale=alt.Scale(range=[PALETTE[1], "#555555", PALETTE[0]]))
    base = alt.Chart(df).transform_filter(alt.datum.frame == param)
    lines = base.mark_line(clip=True).encode(x=x, y=y, color=color, order="i:Q",
                                             strokeDash=alt.condition(alt.datum.series == "flow of E",
                                                                      alt.value([5, 3]), alt.value([1, 0])))
    dots = base.transform_filter(alt.datum.series == "gradient descent").mark_point(size=18, clip=True).encode(
        x=x, y=y, color=color, tooltip=["h:N", "i:Q", "a:Q", "b:Q"])
    ref = alt.Chart(valley).mark_line(color="#bbbbbb", strokeWidth=1).encode(x="a:Q", y="b:Q")
    labels = df.groupby("frame", as_index=False)["h"].first()
    label = (alt.Chart(labels).mark_text(align="right", baseline="top", dx=-4, dy=4, fontSize=13)
             .encode(x=alt.value(420), y=alt.value(0), text="h:N").transform_filter(alt.datum.frame == param))
    return (alt.layer(ref, lines, dots, label).add_params(param)
            .properties(title="Gradient descent on ½(1 − ab)² and the two flows it is compared with",
                        description="Trajectories in the (a, b) plane from (2.8, 0.1): gradient descent with step "
                                    "h (points), the gradient flow of E (dashed grey) and the flow of the modified "
                                    "loss (blue); the grey curve ab = 1 is the valley of minima. The slider picks h.",
                        width=420, height=420))


def toy_errors(result: dict):
    """Distance between GD and each flow after the same time, against h, on log-log axes."""
    rows = []
    for h, d1, d2 in zip(result["slope_hs"].tolist(), result["dist_plain"].tolist(),
                         result["dist_modified"].tolist(), strict=True):
        rows += [{"h": h, "distance": round_sig(d1), "compared with": "flow of E"},
                 {"h": h, "distance": round_sig(d2), "compared with": "flow of E + (h/4)‖∇E‖²"}]
    return curves(rows, "h", "distance", color="compared with", log_x=True, log_y=True,
                  title="How far gradient descent strays from each flow",
                  x_title="step size h (log scale)", y_title="‖θ_GD − θ_flow‖ at time 1 (log scale)",
                  description="Distance after one unit of time between gradient descent and the flow of E (slope "
                              "about 1 on log-log axes) and the flow of the modified loss (slope about 2).")


def toy_sharpness(result: dict):
    rows = [{"h": h, "sharpness": round_sig(s)} for h, s in zip(result["sweep_hs"].tolist(),
                                                         result["sharpness"].tolist(), strict=True)]
    return curves(rows, "h", "sharpness", title="Where gradient descent settles: larger steps, flatter minima",
                  x_title="step size h", y_title="a² + b² at the minimum reached (Hessian trace)",
                  description="The sharpness a² + b² of the minimum gradient descent converges to, against the "
                              "step size; it falls as h grows.")


# ---------------------------------------------------------------- IGR in a network


def igr_paths(result: dict):
    """‖∇E‖² against the loss E along training, one line per learning rate (mean over seeds), with the
    small-lr run that carries the explicit penalty."""
    rows = []
    curve_l, curve_g = result["curve_loss"].mean(-1), result["curve_grad_norm_sq"].mean(-1)
    for j, h in enumerate(result["lrs"].tolist()):
        rows += [{"loss": round_sig(float(curve_l[r, j])), "grad": round_sig(float(curve_g[r, j])), "run": f"lr {h:g}",
                  "r": r} for r in range(1, curve_l.shape[0])]
    pl, pg = result["penalized"]["curve_loss"].mean(-1), result["penalized"]["curve_grad_norm_sq"].mean(-1)
    h0 = result["lrs"][0].item()
    rows += [{"loss": round_sig(float(pl[r])), "grad": round_sig(float(pg[r])),
              "run": f"lr {h0:g} + penalty {result['penalty']:g}·‖∇E‖²", "r": r} for r in range(1, len(pl))]
    df = pd.DataFrame(rows)
    return (alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("loss:Q", title="training loss E (MSE, log scale)", scale=alt.Scale(type="log", reverse=True)),
        y=alt.Y("grad:Q", title="‖∇E‖² (log scale)", scale=alt.Scale(type="log")),
        color=alt.Color("run:N", title="run"), order="r:Q", tooltip=["run:N", "loss:Q", "grad:Q"])
        .properties(title="Along the way down, larger steps pass through shallower slopes",
                    description="Squared gradient norm against training loss during training (loss decreases to "
                                "the right), mean over seeds, for each learning rate and for the small learning "
                                "rate with the explicit penalty.", width=WIDTH, height=HEIGHT))


def igr_summary(result: dict):
    """Sharpness and ‖∇E‖² at equal loss for each run: one point per seed and the mean."""
    rows = []
    names = [f"lr {h:g}" for h in result["lrs"].tolist()]
    pen = f"lr {result['lrs'][0].item():g} + penalty"
    for metric, key in (("top Hessian eigenvalue", "sharpness"),
                        ("‖∇E‖² at equal loss", "grad_norm_sq_at_level")):
        vals = result[key]
        for j, name in enumerate(names):
            rows += [{"run": name, "metric": metric, "value": round_sig(float(v))} for v in vals[j].tolist()]
        rows += [{"run": pen, "metric": metric,
                 "value": round_sig(float(v))} for v in result["penalized"][key].tolist()]
    df = pd.DataFrame(rows)
    order = names + [pen]
    base = alt.Chart(df).encode(x=alt.X("run:N", sort=order, title="run (learning rate h)"))
    pts = base.mark_point(opacity=0.5).encode(y=alt.Y("value:Q", title="value (loss units)",
                                                      scale=alt.Scale(zero=False)), color=alt.Color(
        "run:N", sort=order, legend=None), tooltip=["run:N", "value:Q"])
    mean = base.mark_tick(thickness=3, size=24, color="#333333").encode(y="mean(value):Q")
    return (alt.layer(pts, mean, data=df).properties(width=250, height=HEIGHT)
            .facet(column=alt.Column("metric:N", title=None))
            .resolve_scale(y="independent")
            .properties(title="Larger steps end flatter; the explicit penalty moves a small step the same way",
                        description="Top Hessian eigenvalue at the end of training and squared gradient norm at "
                                    "equal loss, for each learning rate (points: seeds; ticks: mean) and for the "
                                    "smallest learning rate with the penalty of the largest."))


# ---------------------------------------------------------------- geometric complexity

KNOB_TITLES = {"lr": "learning rate", "batch": "batch size", "weight_decay": "weight decay",
               "init_scale": "initialization scale", "spectral_norm": "spectral-norm penalty λ",
               "sam": "SAM radius ρ", "dropout": "dropout rate"}


def gc_knobs(result: dict, which: str = "gc"):
    """GC at equal fit against the value of one knob, picked with a selector (a Vega-Lite param bound to a
    dropdown, so it works on the static page). ``which``: ``"gc"`` or ``"gc_init"``."""
    rows = []
    for r in result["rows"]:
        rows.append({"knob": KNOB_TITLES[r["knob"]], "value": r["value"], "label": f"{r['value']:g}",
                     "seed": r["seed"], "gc": round_sig(r[which]), "test accuracy": round_sig(r["test_acc"], 3),
                     "reached fit": r["reached"]})
    df = pd.DataFrame(rows)
    knobs = list(dict.fromkeys(df["knob"]))
    sel = alt.param(name="knob", value=knobs[0], bind=alt.binding_select(options=knobs, name="knob (selector) "))
    x = alt.X("label:O", title="value of the chosen knob", sort=alt.EncodingSortField("value", order="ascending"))
    base = alt.Chart(df).transform_filter(alt.datum.knob == sel)
    pts = base.mark_point(opacity=0.6).encode(x=x, y=alt.Y("gc:Q", title="geometric complexity (mean ‖∇ₓf‖²)"),
                                              tooltip=["knob:N", "label:N", "seed:Q", "gc:Q", "test accuracy:Q"])
    line = base.mark_line(color=PALETTE[0]).encode(x=x, y="mean(gc):Q")
    what = "at equal fit" if which == "gc" else "at initialization"
    return (alt.layer(line, pts).add_params(sel)
            .properties(title=f"Geometric complexity {what} against each training knob",
                        description=f"Geometric complexity {what} of MLPs on digits (points: seeds; line: mean) "
                                    "against the value of the knob chosen in the selector: learning rate, batch "
                                    "size, weight decay, initialization scale, spectral-norm penalty, SAM radius "
                                    "or dropout rate.", width=WIDTH, height=HEIGHT))


def heuristic_table(effects: list[dict]) -> str:
    """A Markdown table of each heuristic's measured effect on GC and on test accuracy, one row per knob, from
    :func:`widgets.implicit_regularization.heuristic_effects` (nothing in it is typed by hand)."""
    head = ("| heuristic | values swept | stronger when the value is | Spearman (value, GC) "
            "| GC, weakest → strongest | Spearman (value, test accuracy) | test accuracy, weakest → strongest "
            "| reached the fit |")
    lines = [head, "|" + " --- |" * 8]
    for e in effects:
        values = ", ".join(f"{v:g}" for v in e["values"])
        lines.append(f"| {KNOB_TITLES[e['knob']]} | {values} | {'larger' if e['stronger'] > 0 else 'smaller'} "
                     f"| {_signed(e['gc_spearman'], '.2f')} | {_signed(100 * e['gc_change'], '.0f')} % "
                     f"| {_signed(e['acc_spearman'], '.2f')} | {_signed(100 * e['acc_change'], '.1f')} points "
                     f"| {e['reached']} of {e['members']} |")
    return "\n".join(lines)


def _signed(x: float, fmt: str) -> str:
    """x with its sign shown, a typographic minus for negatives (as in the prose); one that rounds to zero
    unsigned; NaN as "n/a"."""
    if x != x:
        return "n/a"
    text = format(x, "+" + fmt)
    return format(0.0, fmt) if float(text) == 0 else text.replace("-", "−")


def gc_accuracy(result: dict):
    rows = [{"knob": KNOB_TITLES[r["knob"]], "gc": round_sig(r["gc"]), "test accuracy": round_sig(r["test_acc"], 3),
             "value": f"{r['value']:g}"} for r in result["rows"]]
    return (alt.Chart(pd.DataFrame(rows)).mark_point().encode(
        x=alt.X("gc:Q", title="geometric complexity at equal fit"),
        y=alt.Y("test accuracy:Q", title="test accuracy (fraction)", scale=alt.Scale(zero=False)),
        color=alt.Color("knob:N", title="knob"), tooltip=["knob:N", "value:N", "gc:Q", "test accuracy:Q"])
        .properties(title="Geometric complexity and test accuracy", width=WIDTH, height=HEIGHT,
                    description="Each trained network of the sweep at equal fit: its geometric complexity against "
                                "its test accuracy, colored by the knob that was moved."))


# ---------------------------------------------------------------- alignment


def alignment_curves(result: dict):
    """Kernel-target alignment and effective rank of the tangent kernel over training, per output scale α."""
    rows = []
    for a, alpha in enumerate(result["alphas"].tolist()):
        for r, step in enumerate(result["steps"].tolist()):
            rows.append({"step": step, "alpha": f"α = {alpha:g}",
                         "alignment": round_sig(float(result["alignment"][r, a].mean())),
                         "rank": round_sig(float(result["effective_rank"][r, a].mean()))})
    df = pd.DataFrame(rows)
    color = alt.Color("alpha:N", title="output scale")
    left = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("step:Q", title="GD step"), y=alt.Y("alignment:Q", title="centered kernel-target alignment"),
        color=color, tooltip=["alpha:N", "step:Q", "alignment:Q"]).properties(width=300, height=HEIGHT)
    right = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("step:Q", title="GD step"), y=alt.Y("rank:Q", title="effective rank of the NTK (directions)"),
        color=color, tooltip=["alpha:N", "step:Q", "rank:Q"]).properties(width=300, height=HEIGHT)
    return alt.hconcat(left, right).properties(
        title="The tangent kernel turns toward the labels in the rich regime and stays put in the lazy one",
        description="Mean over seeds of the centered alignment between the empirical NTK and the labels (left) and "
                    "of the NTK's effective rank (right) during training, for each output scale α.")


# ---------------------------------------------------------------- live explorer


def watch_chart(result: dict):
    rows = []
    for t, step in enumerate(result["steps"].tolist()):
        for name in ("grad_norm_sq", "gc", "sharpness", "train_loss"):
            rows.append({"step": step, "value": round_sig(float(result[name][t])),
                         "quantity": {"grad_norm_sq": "‖∇E‖²", "gc": "geometric complexity",
                                      "sharpness": "top Hessian eigenvalue", "train_loss": "training loss"}[name]})
    return (alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=alt.X("step:Q", title="SGD step"), y=alt.Y("value:Q", title="value", scale=alt.Scale(type="log")),
        tooltip=["quantity:N", "step:Q", "value:Q"])
        .properties(width=250, height=160).facet(facet=alt.Facet("quantity:N", title=None), columns=2)
        .resolve_scale(y="independent")
        .properties(title=f"One run: lr {result['lr']:g}, batch {result['batch']}, weight decay {result['wd']:g}",
                    description="Training loss, squared gradient norm, geometric complexity and top Hessian "
                                "eigenvalue over training of one MLP on digits."))


class StepSizeExplorer(Explorer):
    """Pick the step size, batch size and weight decay; retrain an MLP on digits and watch ‖∇E‖², GC and the
    sharpness over training."""

    what = "another step size, batch size or weight decay"

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        return {
            "lr": W.FloatLogSlider(value=self.params.lr, base=10, min=-2.5, max=0, description="step size",
                                   style=style, continuous_update=False),
            "batch": W.Dropdown(options=[8, 16, 32, 64, 128, 256, 512], value=self.params.batch,
                                description="batch size", style=style),
            "wd": W.FloatLogSlider(value=max(self.params.wd, 1e-5), base=10, min=-5, max=-1,
                                   description="weight decay", style=style, continuous_update=False),
        }

    def compute(self, lr, batch, wd):
        from widgets.implicit_regularization import watch_training

        return watch_training(replace(self.params, lr=lr, batch=batch, wd=wd), device=self.device)

    def chart(self, result):
        return watch_chart(result)
