"""Figures and the live explorer of the information-bottleneck chapter. Chart functions take the plain results
of :mod:`widgets.information_bottleneck` and return altair charts; every control is a Vega-Lite param over a
precomputed sweep (an epoch slider over the information plane, dropdowns over layers and binning rules)."""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import pandas as pd
import torch

from widgets import information_bottleneck as ib
from widgets.figures.charts import HEIGHT, PALETTE, WIDTH, round_sig, slider
from widgets.figures.explore import Explorer

LAYER_COLORS = alt.Scale(domain=list(ib.LAYERS), range=PALETTE[:len(ib.LAYERS)])


def lr_text(lr: float) -> str:
    """A learning rate the way the prose writes it: 0.004 → "4e-3", 0.0004 → "4e-4"."""
    return f"{lr:.0e}".replace("e-0", "e-")


def _epoch_label(e: float) -> str:
    return f"epoch {e:,.0f}" if e >= 10 else f"epoch {e:.2f}"


def plane_rows(panels: dict[str, tuple[dict, str]], max_frames: int = 60, max_seeds: int = 10) -> list[dict]:
    """Tidy rows of the information plane: for each panel (title → (result, binning)), record, layer, the
    seed mean (``seed = -1``) and the points of the first ``max_seeds`` seeds. At most ``max_frames`` records
    are shown (evenly spaced in record index, always the first and the last), so a full-mode run of hundreds
    of records still makes a page-sized chart; the seed mean is over all seeds."""
    rows = []
    for panel, (res, binning) in panels.items():
        b = list(ib.BINNINGS).index(binning)
        mi = res["mi"][:, :, b]  # [T, K, L, 2]
        mean = mi.mean(1)
        T = len(mi)
        shown = sorted({round(i * (T - 1) / (max_frames - 1)) for i in range(max_frames)}) if T > max_frames \
            else range(T)
        epochs = res["epochs"].tolist()
        for frame, t in enumerate(shown):
            label = _epoch_label(epochs[t])
            for layer, name in enumerate(ib.LAYERS):
                rows.append({"panel": panel, "frame": frame, "epoch": label, "layer": name, "seed": -1,
                             "ixt": round_sig(mean[t, layer, 0]), "ity": round_sig(mean[t, layer, 1])})
                for k in range(min(mi.shape[1], max_seeds)):  # faint points: three digits are plenty
                    rows.append({"panel": panel, "frame": frame, "epoch": label, "layer": name, "seed": k,
                                 "ixt": round_sig(mi[t, k, layer, 0], 3), "ity": round_sig(mi[t, k, layer, 1], 3)})
    return rows


def information_plane(panels: dict[str, tuple[dict, str]], *, title: str | None = None):
    """The information plane (I(X;T) across, I(T;Y) up) of every layer, one panel per (result, binning), with
    an epoch slider: large points are the seed means at the chosen epoch, faint points the seeds, and the
    line behind them the seed mean's path up to that epoch."""
    df = pd.DataFrame(plane_rows(panels))
    width = WIDTH if len(panels) == 1 else WIDTH // 2 - 10  # one wide panel, or several side by side
    n_frames = int(df["frame"].max()) + 1
    epoch = slider("epoch", 0, n_frames - 1, "evaluated epoch")
    x = alt.X("ixt:Q", title="I(X;T) (bits)", scale=alt.Scale(domain=[0, 12]))
    y = alt.Y("ity:Q", title="I(T;Y) (bits)", scale=alt.Scale(domain=[0, 1.0]))
    color = alt.Color("layer:N", title="layer", scale=LAYER_COLORS)
    means = alt.datum.seed == -1
    trail = (alt.Chart().mark_line(strokeWidth=1.5, opacity=0.6)
             .encode(x=x, y=y, color=color, order="frame:Q")
             .transform_filter(means & (alt.datum.frame <= epoch)))
    seeds = (alt.Chart().mark_point(size=18, opacity=0.35, filled=True)
             .encode(x=x, y=y, color=color)
             .transform_filter((alt.datum.seed >= 0) & (alt.datum.frame == epoch)))
    now = (alt.Chart().mark_point(size=110, filled=True, stroke="white", strokeWidth=1)
           .encode(x=x, y=y, color=color, tooltip=["layer:N", "epoch:N", "ixt:Q", "ity:Q"])
           .transform_filter(means & (alt.datum.frame == epoch)))
    label = (alt.Chart().mark_text(align="right", baseline="bottom", dx=-4, dy=-4, fontSize=12)
             .encode(x=alt.value(width), y=alt.value(HEIGHT - 4), text="epoch:N")
             .transform_filter(means & (alt.datum.frame == epoch) & (alt.datum.layer == "L1")))
    n_seeds = next(iter(panels.values()))[0]["mi"].shape[1]
    return (alt.layer(trail, seeds, now, label, data=df)
            .properties(width=width, height=HEIGHT)
            .facet(column=alt.Column("panel:N", title=None, sort=list(panels)))
            .add_params(epoch)
            .properties(title=title or f"The information plane of the 12-10-7-5-4-3-2 network ({n_seeds} seeds)",
                        description="Information plane: I(X;T) against I(T;Y) for layers L1 to L6, one panel per "
                                    "activation and binning rule, at the epoch chosen with the slider; the "
                                    "lines trace the seed-mean path up to that epoch."))


def curve_rows(runs: dict[str, tuple[dict, str]]) -> list[dict]:
    """Rows of I(X;T) against epoch per layer: seed mean, min and max, for each run (label → (result,
    binning)); the epoch-0 record is left out (log axis)."""
    rows = []
    for run, (res, binning) in runs.items():
        b = list(ib.BINNINGS).index(binning)
        ixt = res["mi"][:, :, b, :, 0]  # [T, K, L]
        for t, e in enumerate(res["epochs"].tolist()):
            if e <= 0:
                continue
            for layer, name in enumerate(ib.LAYERS):
                v = ixt[t, :, layer]
                rows.append({"run": run, "epoch": round_sig(e), "layer": name, "mean": round_sig(v.mean()),
                             "lo": round_sig(v.min()), "hi": round_sig(v.max())})
    return rows


def compression_curves(runs: dict[str, tuple[dict, str]], saturation: tuple[str, dict] | None = None, *,
                       x_title: str = "epoch", title: str = "I(X;T) of one layer during training"):
    """I(X;T) against epoch (log) for each run, seed mean and min-max band, for the layer picked in a
    dropdown (L5 at first). ``saturation``: (label, result) adds a panel below with that run's saturated
    fraction of its claim layer (mean and band)."""
    df = pd.DataFrame(curve_rows(runs))
    layer = alt.param(name="layer", value="L5",
                      bind=alt.binding_select(options=list(ib.LAYERS), name="layer (dropdown) "))
    x = alt.X("epoch:Q", title=x_title, scale=alt.Scale(type="log"))
    color = alt.Color("run:N", title=None, sort=list(runs), legend=alt.Legend(labelLimit=320))
    base = alt.Chart(df).transform_filter(alt.datum.layer == layer)
    band = base.mark_area(opacity=0.18).encode(x=x, y="lo:Q", y2="hi:Q", color=color)
    line = base.mark_line(point=True).encode(
        x=x, y=alt.Y("mean:Q", title="binned I(X;T) (bits)"), color=color,
        tooltip=["run:N", "layer:N", "epoch:Q", "mean:Q", "lo:Q", "hi:Q"])
    top = (band + line).properties(width=WIDTH, height=HEIGHT, title=title)
    if saturation is None:
        return top.add_params(layer).properties(
            description="Binned I(X;T) of the layer chosen in the dropdown against epoch on a log axis: seed mean "
                        "(line) and min-max band, one colour per run.")
    label, res = saturation
    srows = [{"epoch": round_sig(e), "mean": round_sig(s.mean()), "lo": round_sig(s.min()), "hi": round_sig(s.max())}
             for e, s in zip(res["epochs"].tolist(), res["saturation"], strict=True) if e > 0]
    sdf = pd.DataFrame(srows)
    sat = alt.Chart(sdf)
    bottom = (sat.mark_area(opacity=0.18, color=PALETTE[0]).encode(x=x, y="lo:Q", y2="hi:Q")
              + sat.mark_line(point=True, color=PALETTE[0]).encode(
                  x=x, y=alt.Y("mean:Q", title="saturated share (|t| > 0.99)"),
                  tooltip=["epoch:Q", "mean:Q"])).properties(
        width=WIDTH, height=HEIGHT * 2 // 3, title=f"Saturation of L5 in the {label} network")
    return alt.vconcat(top, bottom).add_params(layer).properties(
        title=f"Compression and saturation ({res['saturation'].shape[1]} seeds)",
        description="Top: binned I(X;T) of the layer chosen in the dropdown against epoch (log axis), seed mean and "
                    "min-max band per run. Bottom: the share of saturated tanh activations in L5, which rises as "
                    "I(X;T) falls.")


def single_unit(res: dict):
    """Binned entropy of one unit against its weight scale (log), tanh and ReLU, mean and min-max band over
    the random directions, for the binning rule picked in a dropdown."""
    rows = []
    for a, act in enumerate(("tanh", "ReLU")):
        for b, binning in enumerate(ib.BINNINGS):
            H = res["entropy"][a, b]  # [D, S]
            for s, w in enumerate(res["w"].tolist()):
                v = H[:, s]
                rows.append({"act": act, "binning": ib.BINNING_NAMES[binning], "w": round_sig(w),
                             "mean": round_sig(v.mean()), "lo": round_sig(v.min()), "hi": round_sig(v.max())})
    df = pd.DataFrame(rows)
    names = [ib.BINNING_NAMES[b] for b in ib.BINNINGS]
    # starts on Saxe et al.'s fixed-width bins, where tanh falls and ReLU does not
    pick = alt.param(name="binning", value=names[1], bind=alt.binding_select(options=names, name="binning (dropdown) "))
    x = alt.X("w:Q", title="weight scale w", scale=alt.Scale(type="log"))
    color = alt.Color("act:N", title="activation", sort=["tanh", "ReLU"])
    base = alt.Chart(df).transform_filter(alt.datum.binning == pick)
    n_dir = res["entropy"].shape[2]
    return (base.mark_area(opacity=0.2).encode(x=x, y="lo:Q", y2="hi:Q", color=color)
            + base.mark_line().encode(x=x, y=alt.Y("mean:Q", title="binned H(T) = I(X;T) (bits)"), color=color,
                                      tooltip=["act:N", "w:Q", "mean:Q", "lo:Q", "hi:Q"])).add_params(pick).properties(
        width=WIDTH, height=HEIGHT, title=f"One unit t = act(w·a·(x − ½)), {n_dir} random directions a",
        description="Binned entropy of a single tanh or ReLU unit on the 4096 inputs against its weight scale on a "
                    "log axis (mean and min-max band over random directions), for the binning chosen in the "
                    "dropdown: the tanh entropy rises, then falls as the unit saturates.")


ESTIMATOR_NAMES = {"grid": "30 bins on [−1, 1]", "width": "bins of width 0.07", "pre": "pre-activations, width 0.07",
                   "kde 0.001": "KDE, σ² = 0.001", "kde 0.1": "KDE, σ² = 0.1"}


def estimator_strip(groups: dict[str, dict[str, object]]):
    """Per-seed I(X;T) drop of L5 under each estimator: ``groups`` maps an activation label to
    {estimator label → [K] drops}. One dot per seed, coloured by activation."""
    rows = []
    order = []
    for act, drops in groups.items():
        for est, values in drops.items():
            est = ESTIMATOR_NAMES.get(est, est)
            if est not in order:
                order.append(est)
            rows += [{"act": act, "estimator": est, "seed": k, "drop": round_sig(v)}
                     for k, v in enumerate(values.tolist())]
    df = pd.DataFrame(rows)
    return (alt.Chart(df).mark_point(filled=True, size=45, opacity=0.75)
            .encode(x=alt.X("estimator:N", title="estimator of I(X;T)", sort=order, axis=alt.Axis(labelAngle=-20)),
                    xOffset=alt.XOffset("act:N"),
                    y=alt.Y("drop:Q", title="drop of L5's I(X;T), peak − final (bits)"),
                    color=alt.Color("act:N", title="network", sort=list(groups)),
                    tooltip=["act:N", "estimator:N", "seed:Q", "drop:Q"])
            .properties(width=WIDTH, height=HEIGHT, title="How much L5 compresses depends on the estimator",
                        description="Strip plot: the per-seed drop of L5's I(X;T) from its peak to its final value "
                                    "under each estimator, for tanh and ReLU networks."))


def snr_curves(runs: dict[str, dict]):
    """Median (over fitting seeds) gradient signal-to-noise ratio against epoch, log-log, with the
    interquartile band, for each run (label → result); a dropdown picks the last or the first weight
    matrix."""
    rows = []
    for run, res in runs.items():
        keep = ib.fitted(res)
        keep = keep if keep.any() else torch.ones_like(keep)  # nothing fitted yet (a short run): show every seed
        for m, which in enumerate(("last weight matrix", "first weight matrix")):
            snr = res["snr"][:, keep, m]
            q = snr.quantile(torch.tensor([0.25, 0.5, 0.75], dtype=snr.dtype), dim=1)
            for t, e in enumerate(res["epochs"].tolist()):
                if e > 0:
                    rows.append({"run": run, "matrix": which, "epoch": round_sig(e), "median": round_sig(q[1, t]),
                                 "lo": round_sig(q[0, t]), "hi": round_sig(q[2, t])})
    df = pd.DataFrame(rows)
    pick = alt.param(name="matrix", value="last weight matrix",
                     bind=alt.binding_select(options=["last weight matrix", "first weight matrix"],
                                             name="gradient of (dropdown) "))
    x = alt.X("epoch:Q", title="epoch", scale=alt.Scale(type="log"))
    color = alt.Color("run:N", title=None, sort=list(runs), legend=alt.Legend(labelLimit=320))
    base = alt.Chart(df).transform_filter(alt.datum.matrix == pick)
    return (base.mark_area(opacity=0.15).encode(x=x, y=alt.Y("lo:Q", scale=alt.Scale(type="log")), y2="hi:Q",
                                                 color=color)
            + base.mark_line(point=True).encode(
                x=x, y=alt.Y("median:Q", title="gradient SNR ‖mean‖ / ‖std‖", scale=alt.Scale(type="log")),
                color=color, tooltip=["run:N", "epoch:Q", "median:Q"])).add_params(pick).properties(
        width=WIDTH, height=HEIGHT, title="Drift, then diffusion: the minibatch gradient SNR",
        description="Median gradient signal-to-noise ratio over seeds against epoch, log-log, with the interquartile "
                    "band, for tanh and ReLU networks; the dropdown picks the weight matrix.")


class InformationExplorer(Explorer):
    """The information plane, live: pick the activation, learning rate, batch size, epochs and binning rule,
    retrain a few seeds, and watch the plane."""

    what = "another activation, learning rate, batch size, number of epochs or binning rule"

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        return {
            "act": W.Dropdown(options=["tanh", "relu"], value=self.params.act, description="activation", style=style),
            "lr": W.FloatLogSlider(value=self.params.lr, base=10, min=-4, max=-1.5, description="learning rate",
                                   style=style, continuous_update=False),
            "batch_size": W.Dropdown(options=[("64", 64), ("256", 256), ("1024", 1024), ("full batch", None)],
                                     value=self.params.batch_size, description="batch size", style=style),
            "epochs": W.IntSlider(value=200, min=20, max=2000, step=20, description="epochs", style=style,
                                  continuous_update=False),
            "binning": W.Dropdown(options=[(v, k) for k, v in ib.BINNING_NAMES.items()], value="grid",
                                  description="binning", style=style),
        }

    def compute(self, act, lr, batch_size, epochs, binning):
        p = replace(self.params, act=act, lr=lr, batch_size=batch_size, epochs=epochs, seeds=3, records=25,
                    kde_n=0)
        return ib.information_plane(p, device=self.device, progress=True), binning

    def chart(self, result):
        res, binning = result
        return information_plane({f"{res['act']}, {ib.BINNING_NAMES[binning]}": (res, binning)})
