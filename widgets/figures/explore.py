"""Live explorers: ipywidgets controls that retrain through the batched trainer and redraw a chart in place.

They need a running kernel, so in the static book (see :func:`widgets.core.env.in_book_build`) an explorer shows
one line saying how to run it live, never a control that drives nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from widgets.core.env import in_book_build

STATIC_NOTE = ("*Live explorer: open this chapter in JupyterLab (see the README) to retrain with "
               "{what}. The static page shows no controls, since they need a running kernel.*")


class Explorer:
    """Controls → ``compute(**values)`` → ``chart(result)``, redrawn in place on every change.

    Subclasses (or callers) provide ``controls`` (name → ipywidget), ``compute`` and ``chart``. Training runs
    on the best device (``widgets.get_device``) and shows a progress bar while it runs.
    """

    what = "its controls"

    def __init__(self, params=None, device=None, *, controls: dict | None = None, compute: Callable | None = None,
                 chart: Callable | None = None, what: str | None = None):
        self.params, self.device = params, device  # what compute() starts from, and where it trains
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
        self.last_result = None

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
        """Retrain with the current control values and redraw the chart in the output area."""
        from IPython.display import display

        with self.output:
            self.output.clear_output(wait=True)
            self.last_result = self.compute(**self.values())
            display(self.chart(self.last_result))

    def widget(self):
        import ipywidgets as W

        self.controls = self.make_controls()
        self.output = W.Output()
        for w in self.controls.values():
            w.observe(self.update, names="value")
        self.update()
        return W.VBox([W.HBox(list(self.controls.values())), self.output])

    def _ipython_display_(self):
        from IPython.display import Markdown, display

        if in_book_build():
            display(Markdown(STATIC_NOTE.format(what=self.what)))
        else:
            display(self.widget())
