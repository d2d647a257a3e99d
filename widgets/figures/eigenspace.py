"""Figures and the live explorer of the eigenspace-restructuring chapter (results from widgets.eigenspace)."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

from widgets.figures.charts import HEIGHT, PALETTE, WIDTH, curves, round_sig, slider
from widgets.figures.explore import Explorer


def _live(v: float, trace: float) -> bool:
    from widgets.eigenspace import ZERO

    return v > ZERO * trace


def mlp_by_degree(res: dict):
    """Eigenvalue of the MLP NTK against the degree |S|, one line per depth (exact zeros are left out)."""
    rows = []
    for i, L in enumerate(res["depths"].tolist()):
        hi = res["hi"][i]
        trace = float((hi * res["multiplicity"]).sum())
        rows += [{"degree k = |S|": k, "eigenvalue": round_sig(float(v)), "depth": f"L = {L}"}
                 for k, v in enumerate(hi.tolist()) if _live(v, trace)]
    return curves(rows, "degree k = |S|", "eigenvalue", color="depth", log_y=True, color_title="hidden layers",
                  title=f"MLP NTK on {{-1,1}}^{res['d']}: one eigenvalue per degree",
                  x_title="degree k = |S| (interaction order)", y_title="eigenvalue λ_k (log scale)",
                  description="Eigenvalue of every Walsh monomial of degree k for ReLU MLP NTKs of several depths. "
                              "All subsets of one degree share one eigenvalue. With one hidden layer and no "
                              "biases the odd degrees from 3 on are exactly zero and are not drawn.")


def cnn_heatmap(res: dict):
    """Largest CNN eigenvalue in each (degree, spread) cell, with sliders over depth and filter size."""
    d = res["d"]
    rows = []
    depths, qs = res["depths"].tolist(), res["qs"].tolist()
    for i, L in enumerate(depths):
        for j, q in enumerate(qs):
            grid = res["grid"][i, j]
            top = float(grid[0, 0])
            rf = int(res["rf"][i, j])
            for k in range(d + 1):
                for s in range(d + 1):
                    v = float(grid[k, s])
                    if math.isnan(v):
                        continue
                    zero = v <= 1e-14 * top
                    rows.append({"L": L, "q": q, "degree": k, "spread": s, "rf": rf,
                                 "log10 λ": None if zero else round(math.log10(v), 2),
                                 "λ": 0.0 if zero else round_sig(v, 3)})
    df = pd.DataFrame(rows)
    p_depth = slider("depth", min(depths), max(depths), "depth L", value=res["depth"])
    p_q = slider("filter", min(qs), max(qs), "filter size q", value=res["q"])
    base = (alt.Chart(df).transform_filter((alt.datum.L == p_depth) & (alt.datum.q == p_q)))
    axis = list(range(d + 1))
    x = alt.X("spread:O", title="spatial spread of S (length of the shortest arc covering it)",
              scale=alt.Scale(domain=axis), axis=alt.Axis(grid=False, labelAngle=0))
    y = alt.Y("degree:O", title="degree |S|", scale=alt.Scale(domain=axis[::-1]), axis=alt.Axis(grid=False))
    cells = base.mark_rect().encode(
        x=x, y=y,
        color=alt.condition("datum['log10 λ'] === null", alt.value("#e8e8e8"),
                            alt.Color("log10 λ:Q", title="log₁₀ λ", scale=alt.Scale(scheme="viridis"))),
        tooltip=["degree", "spread", "λ", "rf"])
    at_rf = base.transform_filter(alt.datum.degree == 0)
    rf = at_rf.mark_rule(color=PALETTE[1], strokeWidth=2).encode(
        x=alt.X("rf:O", scale=alt.Scale(domain=axis), bandPosition=1))
    label = at_rf.mark_text(align="left", dx=4, dy=8, color=PALETTE[1]).encode(
        x=alt.X("rf:O", scale=alt.Scale(domain=axis), bandPosition=1), y=alt.value(0),
        text=alt.Text("label:N")).transform_calculate(label="'receptive field ' + datum.rf")
    return (alt.layer(cells, rf, label).add_params(p_depth, p_q)
            .properties(title=f"CNN NTK on {{-1,1}}^{d}: eigenvalue by degree and spread",
                        description="Heatmap of the largest eigenvalue of a circular 1-D CNN NTK (flatten readout) in "
                                    "each cell of (degree, spatial spread of the interacting coordinates), for the "
                                    "depth and filter size chosen with the sliders. Grey cells are exact zeros; the "
                                    "red rule marks the receptive field L(q−1)+1.",
                        width=WIDTH, height=HEIGHT + 60))


def pair_distance(res: dict):
    """λ of the pair {0, r} against the distance r, one colour per depth: CNN solid, MLP dashed."""
    rows = []
    for i, L in enumerate(res["depths"].tolist()):
        pairs = res["pairs"][i]
        top = float(pairs[0])
        rows += [{"distance r": r, "eigenvalue": round_sig(float(v)), "depth": f"L = {L}", "model": "CNN"}
                 for r, v in enumerate(pairs.tolist()) if r >= 1 and v > 1e-14 * top]
        rows += [{"distance r": r, "eigenvalue": round_sig(float(res["mlp_pairs"][i])), "depth": f"L = {L}",
                  "model": "MLP"} for r in (1, len(pairs) - 1)]
    df = pd.DataFrame(rows)
    return (alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("distance r:Q", title="distance r between the two interacting coordinates",
                axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("eigenvalue:Q", title="eigenvalue of χ_{0,r} (log scale)", scale=alt.Scale(type="log")),
        color=alt.Color("depth:N", title="hidden layers"),
        strokeDash=alt.StrokeDash("model:N", title="model", scale=alt.Scale(domain=["CNN", "MLP"],
                                                                             range=[[1, 0], [5, 3]])),
        detail="model:N",
        tooltip=["model", "depth", "distance r", "eigenvalue"])
        .properties(title=f"Pairs χ_{{0,r}}: CNNs (q = {res['q']}) favour short range, deeper ones reach farther",
                    description="Eigenvalue of the degree-2 monomial x_0 x_r against the distance r for CNN NTKs of "
                                "several depths (solid; missing points are exact zeros) and the same-depth MLP "
                                "(dashed, flat in r).", width=WIDTH, height=HEIGHT))


def learning_curves(res: dict, predicted: bool = True, title: str = "Test error against sample size: MLP vs CNN",
                    threshold: float = 0.1):
    """Test MSE against n for the MLP and the CNN on both targets (one panel each); dashed: eigenlearning."""
    rows = []
    ns = res["ns"].tolist()
    names = {"local": "localized target", "spread": "spread target"}
    for a, arch in enumerate(("MLP", "CNN")):
        for t, target in enumerate(("local", "spread")):
            mse = res["mse"][a, t].mean(-1)
            for j, n in enumerate(ns):
                rows.append({"n": n, "mse": round_sig(max(float(mse[j]), 1e-6), 3), "model": arch,
                             "target": names[target], "curve": "measured"})
                if predicted:
                    rows.append({"n": n, "mse": round_sig(max(float(res["predicted"][a, t, j]), 1e-6), 3),
                                 "model": arch, "target": names[target], "curve": "eigenvalue prediction"})
    df = pd.DataFrame(rows)
    ticks = ns if len(ns) <= 8 else [v for v in (16, 64, 256, 1024, 4096, 16384) if min(ns) <= v <= max(ns)]
    enc = {"x": alt.X("n:Q", title="training samples n (log scale)",
                      scale=alt.Scale(type="log", domain=[min(ns), max(ns)], nice=False), axis=alt.Axis(values=ticks)),
           "y": alt.Y("mse:Q", title="test MSE / target variance (log scale)", scale=alt.Scale(type="log")),
           "color": alt.Color("model:N", title="model"),
           "tooltip": ["model", "curve", "n", "mse"]}
    measured = alt.Chart().mark_line(point=True).encode(**enc).transform_filter(alt.datum.curve == "measured")
    layers = [measured]
    if predicted:
        layers.append(alt.Chart().mark_line(strokeDash=[5, 3], opacity=0.8).encode(**enc)
                      .transform_filter(alt.datum.curve != "measured"))
    layers.append(alt.Chart().mark_rule(color="#9a9a9a", strokeDash=[2, 2]).encode(y=alt.datum(threshold)))
    return (alt.layer(*layers, data=df).properties(width=WIDTH // 2 - 20, height=HEIGHT)
            .facet(column=alt.Column("target:N", title=None))
            .properties(title=title, description="Test mean squared error (relative to the target's variance) "
                        "against the number of training samples, for the MLP and the CNN on a localized and on a "
                        "spread degree-3 target" + (", with the eigenvalue-based prediction dashed" if predicted
                                                    else "") + f"; the grey rule is the {threshold} threshold."))


def mode_ranks(res: dict):
    """Rank of the localized target among the eigenmodes against d, log-log, for the MLP and the CNN."""
    rows = [{"d": int(d), "modes": int(res["rank"][a, j]), "model": arch}
            for a, arch in enumerate(("MLP", "CNN")) for j, d in enumerate(res["ds"].tolist())]
    chart = curves(rows, "d", "modes", color="model", log_x=True, log_y=True, color_title="model",
                  title="Eigenmodes ranked at or above the localized degree-3 target, against d",
                  x_title="input dimension d (log scale)", y_title="number of modes λ_S ≥ λ_target (log scale)",
                  description="How many Walsh modes have an eigenvalue at least that of χ_{0,1,2}, for the MLP and "
                              "the CNN NTK, as the dimension grows: about C(d,≤3) ∝ d³ for the MLP, ∝ d for "
                              "the CNN.")
    ds = res["ds"].tolist()
    chart.encoding.x.scale = alt.Scale(type="log", domain=[min(ds), max(ds)], nice=False)
    chart.encoding.x.axis = alt.Axis(values=ds, format="d")
    return chart


def top_modes(spec, top: int = 12):
    """The ``top`` largest eigenmodes of a Spectrum as rows of coordinates (filled: in S)."""
    from widgets.core.kernels import subset_members

    order = spec.eigenvalues.sort(descending=True, stable=True).indices[:top].tolist()
    rows = []
    for rank, s in enumerate(order):
        lam = float(spec.eigenvalues[s])
        members = set(subset_members(s, spec.d))
        label = f"#{rank + 1}: λ = {lam:.3g}"
        rows += [{"mode": label, "rank": rank, "coordinate": i, "in S": i in members} for i in range(spec.d)]
    df = pd.DataFrame(rows)
    cfg = spec.config
    name = cfg["arch"].upper() + (f", q = {cfg['q']}" if cfg["q"] else "")
    return (alt.Chart(df).mark_rect(stroke="white").encode(
        x=alt.X("coordinate:O", title="input coordinate i"),
        y=alt.Y("mode:N", title="eigenmode (largest first)", sort=alt.EncodingSortField("rank")),
        color=alt.Color("in S:N", title="i ∈ S", scale=alt.Scale(domain=[True, False], range=[PALETTE[0], "#eeeeee"])))
        .properties(title=f"Top eigenfunctions χ_S of the {name} NTK, depth {cfg['depth']}, d = {spec.d}",
                    description="Each row is one of the largest eigenmodes; filled cells are the coordinates whose "
                                "product is the eigenfunction.", width=WIDTH, height=HEIGHT))


class SpectrumExplorer(Explorer):
    """Pick the architecture, depth, filter size and d; the exact spectrum is recomputed live."""

    what = "another architecture, depth, filter size or dimension"

    def __init__(self, device=None, d: int = 12):
        super().__init__(device=device)
        self.d = d

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        return {
            "arch": W.Dropdown(options=["mlp", "cnn"], value="cnn", description="architecture", style=style),
            "depth": W.IntSlider(value=2, min=1, max=6, description="hidden layers L", style=style,
                                 continuous_update=False),
            "q": W.IntSlider(value=3, min=1, max=7, description="filter size q", style=style,
                             continuous_update=False),
            "d": W.IntSlider(value=self.d, min=4, max=20, description="dimension d", style=style,
                             continuous_update=False),
        }

    def compute(self, arch, depth, q, d):
        from widgets.core.kernels import spectrum

        return spectrum(d, arch=arch, depth=depth, q=min(q, d), device=self.device)

    def chart(self, result):
        return top_modes(result)
