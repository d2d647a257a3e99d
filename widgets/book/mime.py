"""How the static page shows what a chapter displayed: a myst-nb MIME render plugin (registered in
``pyproject.toml`` under ``myst_nb.mime_renderers``), so it serves every way the book is built.

* A chart's Vega-Lite output becomes the page's offline chart (:func:`widgets.figures.charts.chart_html`).
* An output that carries both a live widget and a Markdown line (an explorer, see
  :mod:`widgets.figures.explore`) shows the Markdown: the static page has no kernel, so the widget's
  controls would do nothing there. JupyterLab, which prefers the widget, still shows the controls.
"""

from __future__ import annotations

import json
from typing import ClassVar

HTML_BUILDERS = ("html", "dirhtml", "singlehtml")
VEGALITE_MIMES = ("application/vnd.vegalite.v5+json", "application/vnd.vegalite.v6+json")


class BookOutputs:
    """myst-nb's ``MimeRenderPlugin`` protocol: priority overrides, and ``handle_mime`` for the chart."""

    # Lower numbers win. The widget view is 10 for HTML builders; text/markdown must beat it (an explorer
    # carries both), and a chart's Vega-Lite spec must beat its text/plain line.
    mime_priority_overrides: ClassVar[list[tuple[str, str, int]]] = [
        *((b, m, 5) for b in HTML_BUILDERS for m in VEGALITE_MIMES),
        *((b, "text/markdown", 8) for b in HTML_BUILDERS),
    ]

    @staticmethod
    def handle_mime(renderer, data, inline: bool):
        if data.mime_type not in VEGALITE_MIMES:
            return None  # myst-nb's own renderers handle everything else
        from docutils import nodes

        from widgets.figures.charts import chart_html

        spec = data.content if isinstance(data.content, dict) else json.loads(data.string)
        # the classes myst-nb gives an HTML output, so the page styles a chart as it styles any HTML output
        return [nodes.raw(text=chart_html(spec), format="html", classes=["output", "text_html"])]
