"""Figures and the live explorer of the nonconvex-optimization chapter. Chart functions take the plain results
of :mod:`widgets.nonconvex_optimization` and return altair charts; every control is a Vega-Lite param over a
precomputed sweep."""

from __future__ import annotations

import math
from dataclasses import replace

import altair as alt
import numpy as np
import pandas as pd

from widgets.figures.charts import HEIGHT, PALETTE, WIDTH, round_sig, slider
from widgets.figures.explore import Explorer
from widgets.nonconvex_optimization import wide_nets

FLOOR = 1e-32  # losses below this (exact zeros) are drawn at it on log axes
CURVES = ["network (GD)", "kernel prediction", "bound (1 − ηλ₀/2)^k L(0)"]


def _loss_rows(r: dict, seed: int, frames=None) -> list[dict]:
    """Loss, kernel prediction and bound of every width (``frame`` = width index) at every recorded step."""
    rows = []
    steps = r["steps"].tolist()
    for i, w in enumerate(r["widths"].tolist()):
        if frames is not None and i not in frames:
            continue
        for kind, key in zip(CURVES, ("loss", "kernel_loss", "bound"), strict=True):
            vals = r[key][:, seed, i].tolist()
            rows += [{"frame": i, "width": f"width m = {w:,}", "k": k, "loss": round_sig(max(v, FLOOR)),
                      "curve": kind} for k, v in zip(steps, vals, strict=True)]
    return rows


def _loss_panel(df: pd.DataFrame, param=None, width: int = WIDTH, height: int = HEIGHT):
    enc = {"x": alt.X("k:Q", title="GD step k"),
           "y": alt.Y("loss:Q", title="training loss Σ ½(f − y)² (log)", scale=alt.Scale(type="log")),
           "color": alt.Color("curve:N", title=None, scale=alt.Scale(domain=CURVES, range=[PALETTE[0], PALETTE[1],
                                                                                            "#555555"]),
                              legend=alt.Legend(orient="bottom")),
           "strokeDash": alt.StrokeDash("curve:N", legend=None,
                                        scale=alt.Scale(domain=CURVES, range=[[1, 0], [6, 3], [2, 2]])),
           "tooltip": ["width:N", "curve:N", "k:Q", "loss:Q"]}
    chart = alt.Chart(df).mark_line().encode(**enc)
    if param is not None:
        chart = chart.transform_filter(alt.datum.frame == param)
        labels = df.groupby("frame", as_index=False)["width"].first()
        text = (alt.Chart(labels).mark_text(align="right", baseline="top", dx=-4, dy=4, fontSize=13)
                .encode(x=alt.value(width), y=alt.value(0), text="width:N")
                .transform_filter(alt.datum.frame == param))
        chart = chart + text
    return chart.properties(width=width, height=height, title="Loss: network, kernel and theorem")


def wide_net_panels(r: dict, seed: int = 0, bins: int = 30):
    """Du et al.'s experiment. A width slider moves (a) the loss curve against the kernel prediction and the
    theorem's bound and (b) the histogram of per-neuron movement ‖w_r(T) − w_r(0)‖; (c) shows the largest
    movement and the pattern-flip fraction of every width on log-log axes with a slope −½ reference, the
    selected width ringed. ``r``: :func:`widgets.nonconvex_optimization.wide_nets`."""
    widths = r["widths"].tolist()
    M = len(widths)
    param = slider("width_index", 0, M - 1, "width index (0 = narrowest)")
    loss = _loss_panel(pd.DataFrame(_loss_rows(r, seed)), param, width=WIDTH // 2 + 20, height=HEIGHT * 3 // 4)

    moves = r["moves"].numpy()
    member = r["unit_member"].numpy()
    edges = np.logspace(math.log10(moves[moves > 0].min()), math.log10(moves.max()), bins + 1)
    hist = []
    for i, w in enumerate(widths):
        m = moves[member == seed * M + i]
        counts, _ = np.histogram(m, bins=edges)
        hist += [{"frame": i, "lo": round_sig(a), "hi": round_sig(b), "share": round_sig(c / len(m)),
                  "width": f"width m = {w:,}"} for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)]
    bars = (alt.Chart(pd.DataFrame(hist)).mark_rect(color=PALETTE[3])
            .encode(x=alt.X("lo:Q", title="distance moved ‖w_r(T) − w_r(0)‖ (log)", scale=alt.Scale(type="log")),
                    x2="hi:Q", y=alt.Y("share:Q", title="share of the width's neurons"),
                    tooltip=["width:N", "lo:Q", "hi:Q", "share:Q"])
            .transform_filter(alt.datum.frame == param)
            .properties(width=WIDTH // 2 + 20, height=HEIGHT * 3 // 4, title="How far each neuron moved"))

    pts = []
    for i, w in enumerate(widths):
        pts.append({"frame": i, "m": w, "y": round_sig(float(r["move_max"][seed, i])),
                    "quantity": "max distance moved"})
        pts.append({"frame": i, "m": w, "y": round_sig(float(r["flip"][seed, i])),
                    "quantity": "flipped patterns (share)"})
    df = pd.DataFrame(pts)
    ref = []
    for q in ("max distance moved", "flipped patterns (share)"):
        sub = df[df.quantity == q]
        c = float(np.exp(np.mean(np.log(sub.y) + 0.5 * np.log(sub.m))))  # slope −½ through the points' centre
        ref += [{"m": w, "y": round_sig(c / math.sqrt(w)), "quantity": q} for w in (widths[0], widths[-1])]
    x = alt.X("m:Q", title="width m (hidden neurons, log)", scale=alt.Scale(type="log", nice=False))
    y = alt.Y("y:Q", title="max ‖Δw_r‖, or share of flipped signs (log)", scale=alt.Scale(type="log"))
    color = alt.Color("quantity:N", title=None,
                      scale=alt.Scale(domain=["max distance moved", "flipped patterns (share)"],
                                      range=[PALETTE[3], PALETTE[5]]),
                      legend=alt.Legend(orient="bottom"))
    lines = alt.Chart(pd.DataFrame(ref)).mark_line(strokeDash=[4, 3], color="#888888", strokeWidth=1.2).encode(
        x=x, y=y, detail="quantity:N")
    dots = alt.Chart(df).mark_line(point=True).encode(x=x, y=y, color=color, tooltip=["m:Q", "quantity:N", "y:Q"])
    ring = (alt.Chart(df).mark_point(size=220, filled=False, color="#222222", strokeWidth=1.5)
            .encode(x=x, y=y).transform_filter(alt.datum.frame == param))
    scaling = (lines + dots + ring).properties(width=WIDTH // 2 + 20, height=HEIGHT * 3 // 4,
                                               title="Movement and flips shrink like m^(−1/2) (dashed)")
    lam = (alt.Chart(pd.DataFrame([{"m": w, "ratio": round_sig(float(r["lam_h0"][seed, i])), "frame": i}
                                   for i, w in enumerate(widths)]))
           .mark_line(point=True, color=PALETTE[4])
           .encode(x=x, y=alt.Y("ratio:Q", title="λ_min(H(0)) / λ₀", scale=alt.Scale(zero=False)),
                   tooltip=["m:Q", "ratio:Q"])
           .properties(width=WIDTH // 2 + 20, height=HEIGHT * 3 // 4, title="The Gram matrix at init nears H∞"))
    return alt.vconcat(alt.hconcat(loss, bars), alt.hconcat(scaling, lam)).add_params(param).resolve_scale(
        color="independent", strokeDash="independent").properties(
        title=f"Over-parameterized ReLU nets, n = {r['params']['n']}, d = {r['params']['d']}, η = {r['lr']}",
        description="Top: for the width chosen with the slider, the training loss of GD (solid) against the "
                    "kernel prediction (dashed) and the theorem's guaranteed rate (dotted), and the histogram of "
                    "how far each neuron's weights moved. Bottom: on log-log axes, the largest movement and the "
                    "share of flipped activation patterns against width, with slope −1/2 references; and "
                    "λ_min of the Gram matrix at initialization over λ₀.")


def saddle_escape(r: dict):
    """Escape step from each saddle order |S| against ln(1/σ): every run (faint), the medians (dots) and a line
    of the predicted slope 1/ln(1 + ηγ) through the medians' centre. Click a legend entry to pick one order.
    ``r``: :func:`widgets.nonconvex_optimization.saddles`."""
    orders, sigmas = r["orders"].tolist(), r["sigmas"].tolist()
    runs, med, lines = [], [], []
    for i, s in enumerate(orders):
        label = f"|S| = {s} (γ = {8 / s:.2g})"
        for j, sg in enumerate(sigmas):
            ln = round_sig(math.log(1 / sg))
            runs += [{"ln": ln, "t": int(t), "order": label} for t in r["escape"][i, j].tolist()]
            med.append({"ln": ln, "t": float(r["median"][i, j]), "order": label})
        lns = [math.log(1 / sg) for sg in sigmas]
        mean_ln, mean_t = sum(lns) / len(lns), float(r["median"][i].mean())
        pred = float(r["predicted"][i])
        lines += [{"ln": round_sig(v), "t": round_sig(mean_t + pred * (v - mean_ln)), "order": label}
                  for v in (min(lns), max(lns))]
    pick = alt.selection_point(fields=["order"], bind="legend", name="saddle_order")
    x = alt.X("ln:Q", title="ln(1/σ), σ the noise per step")
    y = alt.Y("t:Q", title="escape step (GD iterations)")
    color = alt.Color("order:N", title="saddle order", sort=None)
    opacity = alt.condition(pick, alt.value(1.0), alt.value(0.1))
    faint = alt.Chart(pd.DataFrame(runs)).mark_circle(size=12, opacity=0.25).encode(
        x=x, y=y, color=color, opacity=alt.condition(pick, alt.value(0.3), alt.value(0.03)))
    dots = alt.Chart(pd.DataFrame(med)).mark_point(size=60, filled=True).encode(
        x=x, y=y, color=color, opacity=opacity, tooltip=["order:N", "ln:Q", "t:Q"])
    pred = alt.Chart(pd.DataFrame(lines)).mark_line(strokeDash=[5, 3]).encode(
        x=x, y=y, color=color, opacity=opacity)
    return alt.layer(faint, pred, dots).add_params(pick).properties(
        width=WIDTH, height=HEIGHT, title="Noise escapes strict saddles in a time linear in ln(1/σ)",
        description="Escape step of noisy projected GD from saddles of orthogonal tensor decomposition against "
                    "ln(1/σ): every run (faint), the median per noise level (dots), and dashed lines with the "
                    "predicted slope 1/ln(1 + ηγ); click a legend entry to show one saddle order.")


def student_strips(r: dict):
    """Final population loss of every random start of a ReLU student (log, zeros at the floor), with a slider
    over the teacher size k and a toggle between n = k and n = k + extra student units.
    ``r``: :func:`widgets.nonconvex_optimization.students`."""
    ks, extra = r["ks"].tolist(), int(r["extra"])
    rng = np.random.default_rng(0)
    rows = []
    for i, k in enumerate(ks):
        for j, units in enumerate(("n = k", f"n = k + {extra}")):
            losses = r["loss"][i, j].tolist()
            jitter = rng.uniform(-0.4, 0.4, len(losses))
            rows += [{"frame": i, "k": f"k = {k}", "units": units, "jitter": round(float(u), 3),
                      "loss": round_sig(max(v, 1e-12))} for v, u in zip(losses, jitter, strict=True)]
    k_param = slider("teacher_k", 0, len(ks) - 1, "teacher size index (k = " + ", ".join(map(str, ks)) + ")")
    units = alt.param(name="student_units", value="n = k",
                      bind=alt.binding_radio(options=["n = k", f"n = k + {extra}"], name="student units "))
    df = pd.DataFrame(rows)
    rule = alt.Chart(pd.DataFrame([{"y": 1e-5}])).mark_rule(color="#888888", strokeDash=[4, 3]).encode(y="y:Q")
    dots = (alt.Chart(df).mark_circle(size=40, opacity=0.7, color=PALETTE[1])
            .encode(x=alt.X("jitter:Q", title="random start (jittered)", axis=alt.Axis(labels=False, ticks=False),
                            scale=alt.Scale(domain=[-0.5, 0.5])),
                    y=alt.Y("loss:Q", title="final population loss F (log; 1e−12 = converged)",
                            scale=alt.Scale(type="log", domain=[1e-12, 1])),
                    tooltip=["k:N", "units:N", "loss:Q"])
            .transform_filter((alt.datum.frame == k_param) & (alt.datum.units == units)))
    labels = df.groupby("frame", as_index=False)["k"].first()
    text = (alt.Chart(labels).mark_text(align="right", baseline="top", dx=-4, dy=4, fontSize=13)
            .encode(x=alt.value(WIDTH // 2), y=alt.value(0), text="k:N").transform_filter(alt.datum.frame == k_param))
    return alt.layer(rule, dots, text).add_params(k_param, units).properties(
        width=WIDTH // 2, height=HEIGHT, title="ReLU students: spurious minima, and two extra units",
        description="Final population loss of GD from each random start of a ReLU student fitting a ReLU "
                    "teacher of k units, for the k chosen with the slider and n = k or n = k + 2 student units "
                    "(toggle); dots above the dashed line at 1e-5 are spurious minima.")


def benign_vs_spurious(mc: dict, hwt: dict):
    """Two strips of final losses per random start: PSD matrix completion (relative error, log) and the ReLU
    net against the constructed local minimum (loss over the constructed point's loss)."""
    rng = np.random.default_rng(1)
    a = mc["rel_err"][-1].tolist()
    left = pd.DataFrame([{"jitter": round(float(u), 3), "err": round_sig(max(v, 1e-18))}
                         for v, u in zip(a, rng.uniform(-0.4, 0.4, len(a)), strict=True)])
    ax = alt.X("jitter:Q", title="random start (jittered)", axis=alt.Axis(labels=False, ticks=False),
               scale=alt.Scale(domain=[-0.5, 0.5]))
    mc_chart = (alt.Chart(left).mark_circle(size=45, color=PALETTE[0])
                .encode(x=ax, y=alt.Y("err:Q", title="‖UUᵀ − M‖_F / ‖M‖_F (log)",
                                      scale=alt.Scale(type="log", domain=[1e-18, 1])), tooltip=["err:Q"])
                .properties(width=WIDTH // 2 - 20, height=HEIGHT,
                            title=f"Matrix completion, p = {mc['params']['p']}: one minimum"))
    ratios = (hwt["gd_loss"] / hwt["point_loss"]).tolist()
    right = pd.DataFrame([{"jitter": round(float(u), 3), "ratio": round_sig(v), "what": "GD from a random start"}
                          for v, u in zip(ratios, rng.uniform(-0.4, 0.4, len(ratios)), strict=True)]
                         + [{"jitter": 0.0, "ratio": 1.0, "what": "constructed local minimum θ*"}])
    hwt_chart = (alt.Chart(right).mark_point(size=60, filled=True)
                 .encode(x=ax, y=alt.Y("ratio:Q", title="final loss / loss at θ* (log)", scale=alt.Scale(type="log")),
                         color=alt.Color("what:N", title=None, scale=alt.Scale(range=[PALETTE[1], "#222222"]),
                                         legend=alt.Legend(orient="bottom")),
                         shape=alt.Shape("what:N", legend=None), tooltip=["what:N", "ratio:Q"])
                 .properties(width=WIDTH // 2 - 20, height=HEIGHT, title="ReLU net: a spurious local minimum"))
    return alt.hconcat(mc_chart, hwt_chart).properties(
        description="Left: the relative error of PSD matrix completion reached by GD from each random start, all "
                    "at rounding level. Right: the loss GD reaches from random starts of a ReLU network, over the "
                    "loss of the constructed local minimum (black, at 1).")


class WideNetExplorer(Explorer):
    """Du et al.'s experiment, live: one width, step size η and dimension n = d, retrained on the best device."""

    what = "another width, step size or input dimension"

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        return {
            "width": W.SelectionSlider(options=[25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800], value=400,
                                       description="width m", style=style, continuous_update=False),
            "lr": W.FloatSlider(value=self.params.lr, min=0.05, max=1.5, step=0.05, description="step size η",
                                style=style, continuous_update=False),
            "dim": W.IntSlider(value=self.params.d, min=20, max=1000, step=20, description="n = d",
                               style=style, continuous_update=False),
        }

    def compute(self, width, lr, dim):
        p = replace(self.params, widths=(width,), lr=lr, n=dim, d=dim, seeds=1,
                    read_at=min(self.params.read_at, lr * self.params.steps))
        return wide_nets(p, device=self.device, progress=True)

    def chart(self, result):
        df = pd.DataFrame(_loss_rows(result, 0))
        return _loss_panel(df).properties(
            title=f"width {result['widths'][0]:,}, η = {result['lr']}, λ₀ = {result['lam0']:.3f}",
            description="Training loss of GD against the kernel prediction and the theorem's bound.")


def landscape_strips(ss: dict, mc: dict, hwt: dict):
    """The chapter's benign-versus-spurious figure: :func:`student_strips` beside :func:`benign_vs_spurious`."""
    return alt.hconcat(student_strips(ss), benign_vs_spurious(mc, hwt)).resolve_scale(color="independent").properties(
        title="Final losses from random starts: spurious minima and benign landscapes",
        description="Left: final population loss of each random start of a ReLU student (slider over the teacher "
                    "size k, toggle for two extra units); dots above 1e-5 are spurious minima. Middle: PSD matrix "
                    "completion, every start at rounding-level error. Right: GD from random starts of a ReLU "
                    "net against the constructed spurious local minimum (at 1).")
