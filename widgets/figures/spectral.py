"""Figures and the live explorer of the spectral-bias chapter. They take the dicts of :mod:`widgets.spectral`."""

from __future__ import annotations

import altair as alt
import pandas as pd
import torch

from widgets import spectral
from widgets.figures.charts import HEIGHT, WIDTH, frames, round_sig
from widgets.figures.explore import Explorer

CASES = {"equal": "equal amplitudes (A_k = 1)", "rising": "rising amplitudes (A_k = 0.1·i)"}


def spectrum_heatmap(results: list[dict], labels: list[str] | None = None, title: str | None = None):
    """2|f̂(k)|/A_k of the network's function (mean over seeds) against training step, one panel per result
    of :func:`widgets.spectral.learn_sines`, with the step where each frequency is first learned marked."""
    labels = labels or [CASES.get(r["amplitude_case"], r["amplitude_case"]) for r in results]
    rows = []
    for res, label in zip(results, labels, strict=True):
        mean = res["ratio"].mean(1)  # [T, m]
        steps = res["steps"].tolist()
        for t, step in enumerate(steps):
            for j, k in enumerate(res["ks"].tolist()):
                rows.append({"case": label, "record": t, "step": step, "k": int(k),
                             "ratio": round_sig(min(float(mean[t, j]), 1.5))})
    df = pd.DataFrame(rows)
    ticks = sorted({int(t) for t in torch.linspace(0, len(results[0]["steps"]) - 1, 6).round().tolist()})
    label_expr = " : ".join(f"datum.value == {t} ? '{results[0]['steps'][t]:,}'" for t in ticks) + " : ''"
    heat = (alt.Chart(df).mark_rect().encode(
        x=alt.X("record:O", title="training step (log-spaced records)",
                axis=alt.Axis(values=ticks, labelExpr=label_expr, labelAngle=0)),
        y=alt.Y("k:O", title="frequency k (cycles on [0, 1))", sort="descending"),
        color=alt.Color("ratio:Q", title="2|f̂(k)|/A_k", scale=alt.Scale(scheme="viridis", domain=[0, 1.2])),
        tooltip=["step:Q", "k:O", alt.Tooltip("ratio:Q", format=".2f")],
    ).properties(width=WIDTH // max(1, len(results)) + 80, height=HEIGHT - 40))
    return heat.facet(column=alt.Column("case:N", title=None, sort=labels)).properties(
        title=title or "The network's spectrum during training (mean over phase draws)",
        description="Heatmap of the normalized amplitude 2|f̂(k)|/A_k of the network's function at each "
                    "frequency k (rows) and recorded training step (columns); yellow means fitted.")


def fit_over_training(res: dict, seed: int = 0, max_frames: int = 24):
    """The network's function against the target on [0, 1), with a slider over recorded steps."""
    T = len(res["steps"])
    picks = sorted({int(t) for t in torch.linspace(0, T - 1, min(T, max_frames)).round().tolist()})
    x = res["x"].tolist()
    rows = []
    for frame, t in enumerate(picks):
        out = res["outputs"][t, seed].tolist()
        rows += [{"x": round(xi, 4), "f": round(fi, 3), "frame": frame, "step": f"step {int(res['steps'][t]):,}"}
                 for xi, fi in zip(x, out, strict=True)]
    target = [{"x": round(xi, 4), "f": round(yi, 3)} for xi, yi in zip(x, res["targets"][seed].tolist(), strict=True)]
    return frames(rows, "x", "f", "frame", frame_label="step", reference=target,
                  title="The fit during training (one phase draw)", x_title="x (position in [0, 1))",
                  y_title="f(x) (dimensionless)",
                  description="The network's function (solid) against the target sum of sines (dashed grey) "
                              "at the training step chosen with the slider.")


def ntk_times(gd: dict, s_index: int = 0):
    """Predicted (from the NTK at initialization) against observed learning step, per frequency and seed."""
    rows = []
    for seed in range(gd["order"].shape[1]):
        for j, k in enumerate(gd["ks"].tolist()):
            obs, pred = float(gd["order"][s_index, seed, j]), float(gd["predicted"][s_index, seed, j])
            if obs > 0 and pred > 0:
                rows.append({"k": int(k), "seed": seed, "observed": round_sig(obs), "predicted": round_sig(pred)})
    df = pd.DataFrame(rows)
    lo, hi = min(df.observed.min(), df.predicted.min()) / 1.5, max(df.observed.max(), df.predicted.max()) * 1.5
    diag = alt.Chart(pd.DataFrame({"a": [lo, hi]})).mark_line(color="#9a9a9a", strokeDash=[4, 3]).encode(
        x="a:Q", y="a:Q")
    pts = alt.Chart(df).mark_point(size=70).encode(
        x=alt.X("predicted:Q", title="predicted step, log(2)/(2·lr·λ_k/n) (steps)",
                scale=alt.Scale(type="log", domain=[lo, hi])),
        y=alt.Y("observed:Q", title="observed step (steps)", scale=alt.Scale(type="log", domain=[lo, hi])),
        color=alt.Color("k:O", title="frequency k", scale=alt.Scale(scheme="viridis")),
        tooltip=["k:O", "seed:O", "predicted:Q", "observed:Q"])
    return alt.layer(diag, pts).properties(
        title="When each frequency is learned: NTK prediction vs gradient descent", width=WIDTH - 120,
        height=HEIGHT + 40,
        description="Scatter on log-log axes of the step at which each frequency reaches half its amplitude, "
                    "predicted from the tangent kernel at initialization against observed; the dashed line "
                    "is equality.")


def density_residuals(d: dict):
    """Relative residual in each density region against training step (mean over seeds), log step axis."""
    res = d["residual"].mean(1)  # [T, R]
    rows = []
    for t, step in enumerate(d["steps"].tolist()):
        if step == 0:
            continue
        for r, dens in enumerate(d["density"].tolist()):
            rows.append({"step": step, "region": f"density {dens:.2f} (region {r + 1} of 3)",
                         "residual": round_sig(float(res[t, r]))})
    return (alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=alt.X("step:Q", title="training step (log scale)", scale=alt.Scale(type="log")),
        y=alt.Y("residual:Q", title="RMS residual / RMS target (dimensionless)"),
        color=alt.Color("region:N", title="data density p(x)"),
        tooltip=["step:Q", "region:N", "residual:Q"])
        .properties(title="Sparse regions converge last", width=WIDTH, height=HEIGHT,
                    description="Relative residual of a single-frequency target in each third of [0, 1), "
                                "whose data densities differ 1:2:4, against training step."))


def sobolev_orders(gd: dict):
    """Learning step against frequency under the H^s loss, one line per s (mean over seeds), observed solid
    and predicted dashed; a selector picks which losses to show."""
    rows = []
    for i, s in enumerate(gd["s"].tolist()):
        T = float(gd["steps"][-1])
        for j, k in enumerate(gd["ks"].tolist()):
            obs = gd["order"][i, :, j]
            learned = bool((obs <= T).all())
            rows.append({"s": f"s = {s:g}", "k": int(k), "kind": "observed" if learned else "observed (not learned)",
                         "step": round_sig(float(obs.clamp(max=T).mean()))})
            rows.append({"s": f"s = {s:g}", "k": int(k), "kind": "predicted",
                         "step": round_sig(float(gd["predicted"][i, :, j].mean()))})
    df = pd.DataFrame(rows)
    df = df[df.step > 0]
    pick = alt.param(name="loss_s", value="all", bind=alt.binding_radio(
        options=["all"] + [f"s = {s:g}" for s in gd["s"].tolist()], name="Sobolev exponent "))
    base = alt.Chart(df).transform_filter((pick == "all") | (alt.datum.s == pick)).encode(
        x=alt.X("k:Q", title="frequency k (cycles on [0, 1), log scale)", scale=alt.Scale(type="log")),
        y=alt.Y("step:Q", title="step when half-learned (steps, log scale)", scale=alt.Scale(type="log")),
        color=alt.Color("s:N", title="loss H^s"), tooltip=["s:N", "k:Q", "kind:N", "step:Q"])
    pred = base.transform_filter(alt.datum.kind == "predicted").mark_line(strokeDash=[4, 3], opacity=0.7)
    obs = base.transform_filter(alt.datum.kind != "predicted").mark_line(point=True).encode(
        shape=alt.Shape("kind:N", title=None))
    return alt.layer(pred, obs).add_params(pick).properties(
        title="Tuning the bias with a Sobolev loss", width=WIDTH, height=HEIGHT,
        description="Step at which each frequency is half-learned against k on log-log axes, for losses H^s "
                    "with several s; solid: observed (capped at the end of the run), dashed: predicted "
                    "from the tangent kernel. A radio button selects the exponent.")


def practice_summary(rows: list[dict]):
    """Test accuracy and the high-frequency fraction of logits along paths, per intervention (mean ± seeds)."""
    df = pd.DataFrame(rows)
    long = df.melt(id_vars=["intervention", "seed"], value_vars=["hf_same", "hf_diff"], var_name="pairs",
                   value_name="hf")
    long["pairs"] = long.pairs.map({"hf_same": "same class", "hf_diff": "different class"})
    long["hf"] = long.hf.map(round_sig)
    order = list(dict.fromkeys(df.intervention))
    acc = alt.Chart(df.assign(test_acc=df.test_acc.map(round_sig))).mark_point(size=70).encode(
        y=alt.Y("intervention:N", sort=order, title="intervention"),
        x=alt.X("test_acc:Q", title="test accuracy (fraction)", scale=alt.Scale(zero=False)),
        tooltip=["intervention:N", "seed:O", "test_acc:Q"]).properties(width=200, height=140)
    hf = alt.Chart(long).mark_point(size=70).encode(
        y=alt.Y("intervention:N", sort=order, title="intervention", axis=alt.Axis(labels=False, ticks=False)),
        x=alt.X("hf:Q", title="high-frequency energy fraction along paths", scale=alt.Scale(zero=False)),
        color=alt.Color("pairs:N", title="path between"),
        tooltip=["intervention:N", "pairs:N", "seed:O", "hf:Q"]).properties(width=280, height=140)
    return alt.hconcat(acc, hf).properties(
        title="Interventions on a digits classifier: accuracy and function frequency",
        description="Per intervention and seed: test accuracy (left) and the fraction of the logits' energy "
                    "at high frequency along straight paths between training images (right).")


class SpectralExplorer(Explorer):
    """Pick frequencies, amplitudes, width, depth, activation, optimizer and learning rate; retrain one
    network on the best device and redraw the spectrum heatmap."""

    what = "your own frequencies, amplitudes, width, depth, activation, optimizer and learning rate"

    def make_controls(self) -> dict:
        import ipywidgets as W

        p = self.params
        return {
            "ks": W.Text(value=", ".join(str(k) for k in p.ks), description="frequencies"),
            "amplitudes": W.Dropdown(options=["equal", "rising"], value="equal", description="amplitudes"),
            "width": W.IntSlider(value=p.width, min=8, max=512, step=8, description="width"),
            "depth": W.IntSlider(value=p.depth, min=2, max=10, description="depth"),
            "act": W.Dropdown(options=["relu", "tanh"], value=p.act, description="activation"),
            "optimizer": W.Dropdown(options=["adam", "gd"], value=p.optimizer, description="optimizer"),
            "lr": W.FloatLogSlider(value=p.lr, base=10, min=-4, max=-1, description="learning rate"),
        }

    def compute(self, ks, amplitudes, width, depth, act, optimizer, lr):
        try:
            ks = tuple(int(k) for k in ks.replace(",", " ").split())
        except ValueError:
            raise ValueError(f"frequencies must be whole numbers separated by commas, got {ks!r}") from None
        p = spectral.SpectralParams(n=self.params.n, ks=ks, seeds=1, width=width, depth=depth, act=act,
                                    optimizer=optimizer, lr=lr, steps=self.params.steps,
                                    records=self.params.records, amplitudes=amplitudes)
        return spectral.learn_sines(p, device=self.device, progress=True)

    def chart(self, result):
        return spectrum_heatmap([result], title="Your network's spectrum during training")


def practice_table(rows: list[dict]) -> pd.DataFrame:
    """Mean over seeds per intervention, rounded for display."""
    df = pd.DataFrame(rows)
    order = list(dict.fromkeys(df.intervention))
    t = df.groupby("intervention", sort=False)[["n_train", "step", "test_acc", "hf_same", "hf_diff"]].mean()
    t = t.loc[order].reset_index()
    t.columns = ["intervention", "training images", "step", "test accuracy", "HF same class", "HF different class"]
    return t.astype({"training images": int, "step": int}).round(
        {"test accuracy": 3, "HF same class": 5, "HF different class": 5})


def practice_verdict(table: pd.DataFrame):
    """Markdown: for each intervention, whether accuracy and the path frequency moved as the paper says
    (accuracy up with frequency up overall; here 'overall' is the different-class paths, 'near a class'
    the same-class paths)."""
    from IPython.display import Markdown

    t = table.set_index("intervention")
    base = t.loc["baseline"]
    lines = []
    for name, row in t.iterrows():
        if name == "baseline":
            continue
        dacc = row["test accuracy"] - base["test accuracy"]
        dsame = row["HF same class"] - base["HF same class"]
        ddiff = row["HF different class"] - base["HF different class"]
        better = dacc > 0
        agrees = better == (ddiff > 0) and better == (dsame < 0)
        lines.append(f"- **{name}**: test accuracy {'+' if dacc >= 0 else '−'}{abs(dacc):.3f}; high-frequency "
                     f"fraction {'+' if ddiff >= 0 else '−'}{abs(ddiff):.5f} between classes and "
                     f"{'+' if dsame >= 0 else '−'}{abs(dsame):.5f} within a class. "
                     + ("This matches the paper's direction." if agrees else
                        "This does **not** match the paper's direction (higher accuracy with higher frequency "
                        "between classes and lower within a class)."))
    return Markdown("Against the baseline:\n\n" + "\n".join(lines))


def practice_data(dataset: str, mode: str):
    """Markdown: which images this page's "spectral bias in practice" section trained on, and why."""
    from IPython.display import Markdown

    if dataset == "cifar10":
        return Markdown("This page ran on **CIFAR-10**, the paper's own data, read from `$WIDGETS_DATA`.")
    why = ("Quick mode always uses them; full mode uses CIFAR-10 instead" if mode == "quick" else
           "CIFAR-10 was not found: full mode uses it")
    return Markdown(f"This page ran on **scikit-learn's 8 × 8 digits**, the offline analogue. {why} when "
                    "`$WIDGETS_DATA/cifar-10-batches-py` holds its python batches (nothing is downloaded).")
