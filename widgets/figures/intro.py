"""The introduction's figure and explorer: MLPs of several widths fitting a sum of sines."""

from __future__ import annotations

from dataclasses import replace

from widgets.figures.charts import frames
from widgets.figures.explore import Explorer
from widgets.intro import fit_sines


def sines_fit(result: dict, decimals: int = 3):
    """The introduction's figure: each width's fitted function against the target, with a slider over the
    recorded training steps. ``result``: the dict returned by :func:`widgets.intro.fit_sines`."""
    x = result["x"].tolist()
    rows = []
    for t, step in enumerate(result["steps"].tolist()):
        for k, width in enumerate(result["widths"].tolist()):
            out = result["outputs"][t, k].tolist()
            rows += [{"x": round(xi, 4), "f": round(fi, decimals), "frame": t, "step": f"step {step:,}",
                      "width": f"width {width}"} for xi, fi in zip(x, out, strict=True)]
    target = [{"x": round(xi, 4), "f": round(yi, decimals)} for xi, yi in zip(x, result["target"].tolist(),
                                                                              strict=True)]
    return frames(rows, "x", "f", "frame", frame_label="step", color="width", reference=target,
                  title="Networks fitting a sum of sines during training",
                  x_title="input x (position in [0, 1))", y_title="f(x) (dimensionless)",
                  color_title="hidden width",
                  description="Fitted functions of MLPs of several widths (colored lines) against the target "
                              "(dashed grey), at the training step chosen with the slider.")


class SinesExplorer(Explorer):
    """The introduction's demo, live: pick the width, depth, learning rate and number of steps."""

    what = "another width, depth, learning rate or number of steps"

    def make_controls(self) -> dict:
        import ipywidgets as W

        style = {"description_width": "initial"}
        return {
            "width": W.IntSlider(value=64, min=4, max=512, step=4, description="width", style=style,
                                 continuous_update=False),
            "depth": W.IntSlider(value=self.params.depth, min=1, max=6, description="depth (layers)", style=style,
                                 continuous_update=False),
            "lr": W.FloatLogSlider(value=self.params.lr, base=10, min=-4, max=-1, description="learning rate",
                                   style=style, continuous_update=False),
            "steps": W.IntSlider(value=self.params.steps, min=100, max=10_000, step=100, description="steps",
                                 style=style, continuous_update=False),
        }

    def compute(self, width, depth, lr, steps):
        p = replace(self.params, widths=(width,), depth=depth, lr=lr, steps=steps)
        return fit_sines(p, device=self.device, progress=True)

    def chart(self, result):
        return sines_fit(result)
