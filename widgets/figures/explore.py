"""Live explorers: ipywidgets controls that retrain through the batched trainer and redraw a chart in place.

An explorer trains only when a reader moves a control (or presses its *Train* button), never while its
cell runs. A headless executor (papermill, nbconvert, ``jupyter-book build``) therefore only stores the
controls and finishes at once: nothing trains, and no ``Output`` widget is written to while a cell runs,
which is what makes nbclient wait forever (jupyter/nbclient#312, nteract/papermill#723).

The cell's output carries two forms of the explorer. JupyterLab shows the live controls (the widget
view); the static page, which has no kernel, shows a one-line note instead (the Markdown form, picked by
:mod:`widgets.book.mime`), never controls that would drive nothing.
"""

from __future__ import annotations

from collections.abc import Callable

STATIC_NOTE = ("*Live explorer: open this chapter in JupyterLab (see the README) to retrain with "
               "{what}. The static page shows no controls, since they need a running kernel.*")
READY = "Move a control, or press <b>Train</b>, to retrain with {what} ({where})."


def interactive(params):
    """The parameters an explorer starts from: the quick preset of ``params``' class, whatever mode the
    chapter runs in. An explorer answers a control in seconds on every device; a chapter's full-mode sizes
    would make each change a long run (about 80 s per change in the spectral explorer on a GPU)."""
    from widgets.core.params import Params

    return type(params).preset("quick") if isinstance(params, Params) else params


class Explorer:
    """Controls → ``compute(**values)`` → ``chart(result)``, redrawn in place on every change.

    Subclasses (or callers) provide ``controls`` (name → ipywidget), ``compute`` and ``chart``. Training runs
    on ``device`` (default: the best one, ``widgets.get_device``) and shows a progress bar while it runs.
    ``params`` (a Params object, or None) is replaced by its quick preset (:func:`interactive`).
    """

    what = "its controls"

    def __init__(self, params=None, device=None, *, controls: dict | None = None, compute: Callable | None = None,
                 chart: Callable | None = None, what: str | None = None):
        self.params, self.device = interactive(params), device  # what compute() starts from, where it trains
        if controls is not None:
            self.make_controls = lambda: controls
        if compute is not None:
            self.compute = compute
        if chart is not None:
            self.chart = chart
        if what is not None:
            self.what = what
        self.controls = None
        self.output = None
        self.status = None
        self.last_result = None
        self._widget = None

    # to override
    def make_controls(self) -> dict:
        raise NotImplementedError

    def compute(self, **values):
        raise NotImplementedError

    def chart(self, result):
        raise NotImplementedError

    # machinery
    def values(self) -> dict:
        return {name: w.value for name, w in self.controls.items()}

    def update(self, *_):
        """Retrain with the current control values and redraw the chart in the output area. Called by the
        controls (a message from a live front end), never while the explorer's cell runs."""
        from IPython.display import display

        self.status.value = "Training…"
        with self.output:
            self.output.clear_output(wait=True)
            self.last_result = self.compute(**self.values())
            display(self.chart(self.last_result))
        self.status.value = READY.format(what=self.what, where=self._where())

    def widget(self):
        """The controls, a Train button, a status line and an empty output area (built once; nothing trains)."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as W

        self.controls = self.make_controls()
        self.output = W.Output()
        self.status = W.HTML(READY.format(what=self.what, where=self._where()))
        train = W.Button(description="Train", tooltip="retrain with the current settings")
        train.on_click(self.update)
        for w in self.controls.values():
            w.observe(self.update, names="value")
        self._widget = W.VBox([W.HBox([*self.controls.values(), train]), self.status, self.output])
        return self._widget

    def _where(self) -> str:
        from widgets.core.env import get_device

        return f"training on {get_device(self.device).type}"

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.widget()._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/markdown"] = STATIC_NOTE.format(what=self.what)
        bundle["text/plain"] = f"{type(self).__name__}: a live explorer (needs a running kernel)"
        return bundle
