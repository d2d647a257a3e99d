"""Figures and the live explorer of the chapter on the pitfalls of simplicity bias (compute: widgets.simplicity)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from widgets.figures.charts import HEIGHT, PALETTE, WIDTH, slider
from widgets.figures.explore import Explorer

CONDITIONS = {"clean": "clean test set", "linear_randomized": "linear coordinate randomized",
              "slabs_randomized": "slab coordinates randomized"}
COND_COLORS = alt.Scale(domain=list(CONDITIONS.values()), range=PALETTE[:3])


def _r(v: float, digits: int = 4) -> float:
    return round(float(v), digits)


def _chance_rule(y: float = 0.5):
    return alt.Chart(pd.DataFrame({"y": [y]})).mark_rule(color="#9a9a9a", strokeDash=[4, 3]).encode(y="y:Q")


def auc_per_seed(result: dict):
    """Section 2 / 4: the three test AUCs of every seed, and of the ensemble (mean logit), as grouped bars.
    ``result``: :func:`widgets.simplicity.extreme_sb`."""
    rows = []
    for cond, label in CONDITIONS.items():
        rows += [{"net": f"seed {s}", "order": i, "AUC": _r(v), "condition": label}
                 for i, (s, v) in enumerate(zip(result["seeds"], result[cond].tolist(), strict=True))]
        rows.append({"net": "ensemble", "order": len(result["seeds"]), "AUC": _r(result["ensemble"][cond]),
                     "condition": label})
    order = [f"seed {s}" for s in result["seeds"]] + ["ensemble"]
    bars = alt.Chart(pd.DataFrame(rows)).mark_bar().encode(
        x=alt.X("net:N", sort=order, title="network (seed; the ensemble averages all logits)"),
        xOffset=alt.XOffset("condition:N", sort=list(CONDITIONS.values())),
        y=alt.Y("AUC:Q", scale=alt.Scale(domain=[0, 1]), title="test AUC (0.5 = chance)"),
        color=alt.Color("condition:N", scale=COND_COLORS, title="test data"),
        tooltip=["net", "condition", "AUC"])
    return alt.layer(bars, _chance_rule()).properties(
        title="Every net ignores the 49 slab coordinates", width=WIDTH, height=HEIGHT,
        description="Grouped bars: test AUC of each seed's network and of their ensemble on clean LMS-5 data, with "
                    "the linear coordinate randomized (about 0.5, chance) and with all slab coordinates randomized "
                    "(unchanged, about 1). A dashed line marks chance.")


def noisy_bars(result: dict):
    """Section 3: test accuracy of the nets trained on the noisy-linear data and of the slab-only nets.
    ``result``: :func:`widgets.simplicity.noisy_linear`."""
    rows = []
    for key, label in (("sb_acc", "trained on all features"), ("slab_acc", "slab-only (linear shuffled)")):
        rows += [{"seed": f"seed {i}", "accuracy": _r(v), "model": label} for i, v in enumerate(result[key].tolist())]
    bars = alt.Chart(pd.DataFrame(rows)).mark_bar(clip=True).encode(
        x=alt.X("seed:N", title="seed", axis=alt.Axis(labelAngle=0)), xOffset="model:N",
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0.8, 1], zero=False), title="test accuracy (fraction correct)"),
        color=alt.Color("model:N", title="network", scale=alt.Scale(range=PALETTE[:2])),
        tooltip=["seed", "model", "accuracy"])
    rule = _chance_rule(result["reliability"]).encode(tooltip=alt.value("accuracy of the linear coordinate alone"))
    return alt.layer(bars, rule).properties(
        title=f"Relying on a {100 * result['reliability']:.0f}%-reliable feature when 100%-reliable ones are there",
        width=WIDTH, height=HEIGHT,
        description="Grouped bars: test accuracy per seed of networks trained on data whose linear coordinate is "
                    "right for only a fraction of points (dashed line), against networks trained with that coordinate "
                    "shuffled, which must use the slabs and score higher.")


def flip_curve(eps_over_gamma, rates, predicted):
    """Section 4: fraction of flipped predictions against the L∞ radius (in units of γ): every net (thin),
    and the closed form for the rule sign(z_0) (dashed). rates: [E, K]; predicted: [E]."""
    rule_name, net_name = "rule sign(z₀), closed form", "network (one line per seed)"
    rows = []
    for e, r_row, p in zip(list(eps_over_gamma), rates.tolist(), predicted.tolist(), strict=True):
        rows += [{"eps": _r(e, 3), "flip": _r(v), "seed": k, "kind": net_name} for k, v in enumerate(r_row)]
        rows.append({"eps": _r(e, 3), "flip": _r(p), "seed": -1, "kind": rule_name})
    color = alt.Color("kind:N", title=None, scale=alt.Scale(domain=[net_name, rule_name], range=PALETTE[:2]))
    df = pd.DataFrame(rows)
    nets = alt.Chart(df[df.kind == net_name]).mark_line(opacity=0.6, strokeWidth=1).encode(
        x=alt.X("eps:Q", title="L∞ radius ε (in units of the margin γ)"),
        y=alt.Y("flip:Q", title="fraction of predictions flipped", scale=alt.Scale(domain=[0, 1])),
        detail="seed:N", color=color, tooltip=["seed", "eps", "flip"])
    rule = alt.Chart(df[df.kind == rule_name]).mark_line(strokeDash=[5, 3]).encode(
        x="eps:Q", y="flip:Q", color=color, tooltip=["kind", "eps", "flip"])
    return alt.layer(nets, rule).properties(
        title="A small L∞ push along the linear direction flips the nets' predictions", width=WIDTH, height=HEIGHT,
        description="Lines: fraction of test predictions each network changes when every input moves by ε in L∞ "
                    "toward the other class along the linear feature's direction; dashed: the closed form for a "
                    "classifier that thresholds the linear coordinate alone.")


def sweep_figure(sweep: dict, n_points: int = 120):
    """Section 6: two sliders (number of slabs k, margin γ) over the precomputed sweep. Left: the three AUCs of
    the net trained at that (k, γ). Right: its decision function projected on (z_0, z_1), with ``n_points``
    training points.
    ``sweep``: :func:`widgets.simplicity.sweep_k_gamma`."""
    recs = sweep["records"]
    gammas = sorted({r["gamma"] for r in recs})
    ks = sorted({r["k"] for r in recs})
    gi = {g: i for i, g in enumerate(gammas)}
    bars, cells, pts = [], [], []
    res = sweep["res"]
    grid = [round(-1 + 2 * i / (res - 1), 3) for i in range(res)]
    for m, r in enumerate(recs):
        key = {"k": r["k"], "g": gi[r["gamma"]]}
        bars += [{**key, "gamma": r["gamma"], "condition": label, "AUC": _r(r[c])} for c, label in CONDITIONS.items()]
        prob = sweep["maps"][m].tolist()
        cells += [{**key, "z0": grid[i], "z1": grid[j], "p": round(prob[i][j], 3)}
                  for i in range(res) for j in range(res)]
        pts += [{**key, "z0": round(a, 3), "z1": round(b, 3), "label": f"class {int(c)}"}
                for a, b, c in sweep["points"][m][:n_points].tolist()]
    k_param = slider("k", min(ks), max(ks), "number of slabs k", value=5 if 5 in ks else ks[0], step=2,
                     tagged=False)
    g_param = slider("g", 0, len(gammas) - 1, f"margin γ (index into {', '.join(map(str, gammas))})",
                     value=gi[min(gammas, key=lambda g: abs(g - 0.1))], tagged=False)
    sel = (alt.datum.k == k_param) & (alt.datum.g == g_param)
    w = 300
    left = alt.layer(
        alt.Chart(pd.DataFrame(bars)).mark_bar().encode(
            x=alt.X("condition:N", sort=list(CONDITIONS.values()), title="test data",
                    axis=alt.Axis(labelAngle=-20, labelLimit=200)),
            y=alt.Y("AUC:Q", scale=alt.Scale(domain=[0, 1]), title="test AUC"),
            color=alt.Color("condition:N", scale=COND_COLORS, legend=None),
            tooltip=["k", "gamma", "condition", "AUC"]).transform_filter(sel),
        _chance_rule(),
        alt.Chart(pd.DataFrame(bars)).mark_text(align="left", x=4, y=8, fontSize=13).encode(
            text=alt.Text("caption:N")).transform_filter(sel).transform_calculate(
            caption="'k = ' + datum.k + ', γ = ' + datum.gamma").transform_filter(
            alt.datum.condition == CONDITIONS["clean"]),
    ).properties(width=w, height=HEIGHT, title="Test AUC at the chosen (k, γ)")
    half = 1 / (res - 1)  # half a grid cell, in z units
    axis = {"x": alt.Axis(values=[-1, -0.5, 0, 0.5, 1]), "y": alt.Axis(values=[-1, -0.5, 0, 0.5, 1])}
    scale = alt.Scale(domain=[-1 - half, 1 + half], nice=False)
    heat = alt.Chart(pd.DataFrame(cells)).mark_rect().transform_filter(sel).transform_calculate(
        x0=alt.datum.z0 - half, x1=alt.datum.z0 + half, y0=alt.datum.z1 - half, y1=alt.datum.z1 + half).encode(
        x=alt.X("x0:Q", scale=scale, axis=axis["x"], title="linear coordinate z₀ (unrotated)"), x2="x1:Q",
        y=alt.Y("y0:Q", scale=scale, axis=axis["y"], title="slab coordinate z₁ (unrotated)"), y2="y1:Q",
        color=alt.Color("p:Q", scale=alt.Scale(scheme="redblue", domain=[0, 1], reverse=True),
                        title="P(class 1)"),
        tooltip=["z0:Q", "z1:Q", "p:Q"])
    scatter = alt.Chart(pd.DataFrame(pts)).mark_point(size=14, filled=True, opacity=0.8).encode(
        x=alt.X("z0:Q", scale=scale), y=alt.Y("z1:Q", scale=scale),
        color=alt.Color("label:N", scale=alt.Scale(domain=["class 0", "class 1"], range=["#111111", "#f5c518"]),
                        title="training point"),
        shape=alt.Shape("label:N", scale=alt.Scale(domain=["class 0", "class 1"], range=["circle", "diamond"]),
                        title="training point")).transform_filter(sel)
    right = alt.layer(heat, scatter).resolve_scale(color="independent").properties(
        width=w, height=w, title="Decision function on the (z₀, z₁) plane")
    return alt.hconcat(left, right).add_params(k_param, g_param).properties(
        title="How many slabs and how wide a margin: reliance on the linear coordinate",
        description="Two sliders choose the number of slabs k and the margin γ of a precomputed sweep. Left: test "
                    "AUC of the network trained at that setting on clean data and with either feature randomized. "
                    "Right: the network's probability of class 1 over the plane of the linear coordinate and one "
                    "slab coordinate (other coordinates averaged over test points), with training points on top.")


def domino_figure(result: dict):
    """Section 5: example dominoes (digit above texture) and the three AUCs per seed of the CNNs, plus the
    complex-only control. ``result``: :func:`widgets.simplicity.domino_experiment`."""
    ex = result["examples"]
    rows = []
    for i in range(ex.shape[0]):
        for r in range(ex.shape[1]):
            rows += [{"image": f"#{i} (class {int(result['example_labels'][i])})", "row": r, "col": c,
                      "v": round(float(ex[i, r, c]), 2)} for c in range(ex.shape[2])]
    images = alt.Chart(pd.DataFrame(rows)).mark_rect().encode(
        x=alt.X("col:O", axis=None), y=alt.Y("row:O", axis=None),
        color=alt.Color("v:Q", scale=alt.Scale(scheme="greys"), legend=None),
        facet=alt.Facet("image:N", columns=6, title="test dominoes: digit (top) over texture (bottom)"),
    ).properties(width=60, height=120)
    labels = {"clean": "clean", "simple_randomized": "digit block shuffled",
              "complex_randomized": "texture block shuffled", "complex_only": "control: trained without digits"}
    bars = [{"seed": f"seed {k}", "condition": lab, "AUC": _r(v)}
            for key, lab in labels.items() for k, v in enumerate(result[key].tolist())]
    chart = alt.layer(alt.Chart(pd.DataFrame(bars)).mark_bar().encode(
        x=alt.X("seed:N", title="CNN (seed)"), xOffset=alt.XOffset("condition:N", sort=list(labels.values())),
        y=alt.Y("AUC:Q", scale=alt.Scale(domain=[0, 1]), title="test AUC (0.5 = chance)"),
        color=alt.Color("condition:N", sort=list(labels.values()), scale=alt.Scale(range=PALETTE[:4]),
                        title="test data / model"),
        tooltip=["seed", "condition", "AUC"]), _chance_rule()).properties(width=WIDTH, height=HEIGHT)
    return alt.vconcat(images, chart).properties(
        title="Dominoes: the CNN reads the digit and ignores the texture",
        description="Top: six test dominoes, an 8×8 digit (0 or 1) above an 8×8 texture with a horizontal (class 1) "
                    "or vertical (class 0) bar. Bottom: test AUC per CNN seed on clean dominoes, with the digit block "
                    "shuffled across images (chance), with the texture block shuffled (unchanged), and of a control "
                    "CNN trained with shuffled digits, which learns the texture.")


def explorer_chart(result: dict):
    rows = [{"condition": label, "AUC": _r(result[c])} for c, label in CONDITIONS.items()]
    return alt.layer(alt.Chart(pd.DataFrame(rows)).mark_bar().encode(
        x=alt.X("condition:N", sort=list(CONDITIONS.values()), title=None),
        y=alt.Y("AUC:Q", scale=alt.Scale(domain=[0, 1]), title="test AUC"),
        color=alt.Color("condition:N", scale=COND_COLORS, legend=None), tooltip=["condition", "AUC"]),
        _chance_rule()).properties(
        width=WIDTH, height=HEIGHT,
        title=f"k = {result['k']}, γ = {result['gamma']:.3g}, reliability {result['reliability']:.2f}: "
              f"test accuracy {result['test_acc']:.3f}",
        description="Test AUC of the live-trained network on clean data and with either feature randomized.")


class SimplicityExplorer(Explorer):
    """Train one net live on LMS-k: pick k, γ, the linear coordinate's reliability, width, depth, optimizer."""

    what = "another number of slabs, margin, reliability of the linear feature, width, depth or optimizer"

    def __init__(self, device=None):
        super().__init__(device=device)

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        kw = {"style": style, "continuous_update": False}
        return {
            "k": W.Dropdown(options=[3, 5, 7], value=5, description="slabs k", style=style),
            "gamma": W.FloatSlider(value=0.1, min=0.02, max=0.15, step=0.01, description="margin γ", **kw),
            "reliability": W.FloatSlider(value=1.0, min=0.8, max=1.0, step=0.01, description="linear reliability",
                                         **kw),
            "width": W.IntSlider(value=100, min=10, max=400, step=10, description="width", **kw),
            "depth": W.IntSlider(value=2, min=1, max=5, description="depth (layers)", **kw),
            "optimizer": W.Dropdown(options=["sgd", "adam"], value="sgd", description="optimizer", style=style),
        }

    def compute(self, **values):
        from widgets.simplicity import explore

        return explore(**values, device=self.device)

    def chart(self, result):
        return explorer_chart(result)


__all__ = ["auc_per_seed", "noisy_bars", "flip_curve", "sweep_figure", "domino_figure", "explorer_chart",
           "SimplicityExplorer"]
