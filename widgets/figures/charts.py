"""Charts: the book's altair theme, its offline renderer, and its standard figures.

Chart functions take plain results (tensors, tidy records or DataFrames) and return altair charts; they never
train anything.

Rendering works in every place a reader meets a chart, with no manual step and no setting. The ``ibgd``
renderer emits one output with two MIME types:

* ``application/vnd.vegalite.v5+json``: JupyterLab draws it with its built-in Vega-Lite renderer, offline;
* ``text/plain``: one line naming the chart, for a terminal.

The static page draws the same spec: when Sphinx writes the page, :mod:`widgets.book.mime` turns it into a
``<div>`` and the chart compiled to Vega (:func:`chart_html`), its tables packed as typed CSV
(:func:`compact_data`), drawn by ``vegaEmbed`` from one local, vendored bundle (``_static/vega-bundle.js``,
written by :func:`write_vega_bundle`): no CDN, and no Vega-Lite compile in the reader's browser. So papermill,
nbconvert, JupyterLab and ``jupyter-book build`` all store the same output.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from pathlib import Path

import altair as alt

VEGA_LITE_VERSION = alt.SCHEMA_VERSION.lstrip("v")  # e.g. "5.20.1"
PALETTE = ["#1f5aa6", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#2e4057", "#c06c84"]
WIDTH, HEIGHT = 520, 260


def theme() -> dict:
    """The book's look: quiet axes, readable labels, one categorical palette."""
    return {
        "config": {
            "view": {"continuousWidth": WIDTH, "continuousHeight": HEIGHT, "stroke": None},
            "font": "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif",
            "axis": {"labelFontSize": 12, "titleFontSize": 13, "titleFontWeight": 500, "grid": True,
                     "gridColor": "#eeeeee", "domainColor": "#888888", "tickColor": "#888888"},
            "legend": {"labelFontSize": 12, "titleFontSize": 12},
            "title": {"fontSize": 15, "fontWeight": 600, "anchor": "start", "offset": 8},
            "range": {"category": PALETTE},
            "line": {"strokeWidth": 2},
            "point": {"filled": True, "size": 40},
        }
    }


def round_sig(v: float, digits: int = 4) -> float:
    """``v`` to ``digits`` significant digits: what a chart needs, and a smaller page (inf and NaN pass)."""
    return float(f"{float(v):.{digits}g}")


def to_vega(spec: dict) -> dict:
    """Compile a Vega-Lite spec to Vega (with vl-convert's bundled compiler, offline). Params, bindings,
    the theme's config and the description carry over; the page then needs only Vega, not Vega-Lite."""
    import vl_convert

    return vl_convert.vegalite_to_vega(spec, vl_version=".".join(VEGA_LITE_VERSION.split(".")[:2]))


def compact_data(vega: dict) -> dict:
    """Inline datasets of a Vega spec rewritten as CSV text with a typed parse: a table of flat rows costs a
    third of its JSON size, and the browser reads one string literal instead of evaluating thousands of
    object literals before it can draw. Rows must share their keys and hold only numbers, strings and
    booleans; other datasets are left as they are. Returns a new spec."""
    import csv
    import io

    def as_csv(rows):
        if not rows or not all(isinstance(r, dict) for r in rows):
            return None
        keys = list(rows[0])
        kinds = {}
        for r in rows:
            if list(r) != keys:
                return None
            for k, v in r.items():
                kind = ("boolean" if isinstance(v, bool) else "number" if isinstance(v, (int, float))
                        else "string" if isinstance(v, str) else None)
                if kind is None or kinds.setdefault(k, kind) != kind:
                    return None
                if kind == "number" and v != v:  # NaN: JSON has none; leave the dataset alone
                    return None
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(keys)
        for r in rows:
            w.writerow([("true" if v else "false") if isinstance(v, bool) else v for v in r.values()])
        parse = {k: kind for k, kind in kinds.items() if kind != "string"}
        return buf.getvalue(), {"type": "csv", "parse": parse}

    def walk(node):
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            if isinstance(node.get("data"), list):
                data = []
                for d in out["data"]:
                    packed = as_csv(d.get("values")) if isinstance(d, dict) and "format" not in d else None
                    if packed is not None and len(d["values"]) >= 20:
                        d = {**d, "values": packed[0], "format": packed[1]}
                    data.append(d)
                out["data"] = data
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(vega)


def chart_html(spec: dict) -> str:
    """The static page's HTML for one Vega-Lite spec: a ``<div>`` and the chart compiled to Vega, drawn by
    the vendored bundle (see the module docstring)."""
    div_id = f"ibgd-chart-{uuid.uuid4().hex[:12]}"
    label = html.escape(str(spec.get("description") or spec.get("title") or "chart"), quote=True)
    payload = json.dumps(compact_data(to_vega(spec)), separators=(",", ":")).replace("</", "<\\/")
    # Already Vega: the reader's browser skips the Vega-Lite compile, which runs synchronously for every chart
    # on the page as the parser reaches it and so delayed even the first chart's drawing.
    return (
        f'<div id="{div_id}" class="ibgd-chart" role="img" aria-label="{label}"></div>\n'
        "<script>(function(){"
        f"var spec={payload};"
        f"function draw(){{if(!window.vegaEmbed){{document.getElementById('{div_id}').textContent="
        "'This chart needs the book\\'s vega bundle (_static/vega-bundle.js).';return;}"
        f"window.vegaEmbed('#{div_id}',spec,{{mode:'vega',renderer:'svg',actions:false}})"
        ".catch(function(e){console.error(e);});}"
        "if(window.vegaEmbed){draw();}else{window.addEventListener('load',draw);}"
        "})();</script>"
    )


def embedded_specs(page_html: str) -> list[dict]:
    """The (Vega) specs that :func:`chart_html` embedded in a page's HTML, in page order: its inverse, for tests."""
    return [json.loads(s.replace("<\\/", "</")) for s in re.findall(r"var spec=(\{.*?\});function draw\(", page_html)]


VEGALITE_MIME = f"application/vnd.vegalite.v{VEGA_LITE_VERSION.split('.')[0]}+json"


def _render(spec: dict, **metadata) -> dict:
    """One output for every executor: the Vega-Lite spec, which JupyterLab draws with its own renderer, and
    a text line. The static page's HTML is made from the same spec at build time
    (:mod:`widgets.book.mime`), so the notebook is the same whoever executed it."""
    return {VEGALITE_MIME: spec,
            "text/plain": f"<chart: {spec.get('description') or spec.get('title') or 'altair'}>"}


def enable() -> None:
    """Register and enable the book's theme and renderer (idempotent)."""
    alt.renderers.register("ibgd", _render)
    alt.renderers.enable("ibgd")
    alt.theme.register("ibgd", enable=True)(theme)
    alt.data_transformers.enable("default", max_rows=100_000)


def write_vega_bundle(path: Path | str) -> Path:
    """Write the Vega, Vega-Lite and vega-embed bundle that :func:`chart_html` calls (about 0.9 MB), wrapped in
    a function scope so its top-level names cannot clash with the page's other scripts. (A Vega-only bundle
    would be a third smaller, but vl-convert 1.9's bundler sets ``vega`` to null when vega-embed is left out.)"""
    import vl_convert

    js = vl_convert.javascript_bundle(vl_version=".".join(VEGA_LITE_VERSION.split(".")[:2]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("(function(){\n" + js + "\n})();\n", encoding="utf-8")
    return path


def slider(name: str, lo: int, hi: int, label: str, *, value: int | None = None, step: int = 1,
           tagged: bool = True) -> alt.Parameter:
    """A Vega-Lite range slider: the param ``name`` (for ``alt.datum.<col> == param`` filters) moves from
    ``lo`` to ``hi`` in ``step``s, shown as "<label> (slider) " (or "<label> " with ``tagged=False``).

    It starts at ``value``, by default ``hi`` (the last frame of a sweep), so that moving it to its minimum,
    as the browser tests do, always changes the chart. Add it with ``.add_params`` on the chart that uses it.
    """
    text = f"{label} (slider) " if tagged else f"{label} "
    return alt.param(name=name, value=hi if value is None else value,
                     bind=alt.binding_range(min=lo, max=hi, step=step, name=text))


def frames(data, x: str, y: str, frame: str, *, frame_label: str, color: str | None = None,
           reference=None, title: str, x_title: str, y_title: str, description: str,
           color_title: str | None = None, height: int = HEIGHT):
    """The book's standard figure: a slider (a Vega-Lite param, so it works in the static page) that steps
    through a precomputed sweep.

    ``data``: tidy rows with columns ``x``, ``y``, ``frame`` (0, 1, …: the slider position), ``frame_label``
    (what the slider position means, e.g. the training step) and optionally ``color``. ``reference``: rows
    with ``x`` and ``y`` drawn in every frame (e.g. the target function).
    """
    import pandas as pd

    df = pd.DataFrame(data)
    missing = [c for c in (x, y, frame, frame_label, color) if c is not None and c not in df.columns]
    if missing:
        raise ValueError(f"data is missing the columns {missing}; it has {list(df.columns)}")
    n_frames = int(df[frame].max()) + 1
    param = slider("frame", 0, n_frames - 1, frame_label)
    enc = {"x": alt.X(f"{x}:Q", title=x_title), "y": alt.Y(f"{y}:Q", title=y_title)}
    if color is not None:
        enc["color"] = alt.Color(f"{color}:N", title=color_title or color)
    moving = (alt.Chart(df).mark_line().encode(**enc)
              .transform_filter(alt.datum[frame] == param).add_params(param))
    layers = []
    if reference is not None:
        ref = pd.DataFrame(reference)
        layers.append(alt.Chart(ref).mark_line(color="#9a9a9a", strokeDash=[4, 3], strokeWidth=1.5)
                      .encode(x=f"{x}:Q", y=f"{y}:Q"))
    layers.append(moving)
    labels = df.groupby(frame, as_index=False)[frame_label].first()
    layers.append(alt.Chart(labels).mark_text(align="right", baseline="top", dx=-4, dy=4, fontSize=13)
                  .encode(x=alt.value(WIDTH), y=alt.value(0), text=alt.Text(f"{frame_label}:N"))
                  .transform_filter(alt.datum[frame] == param))
    return alt.layer(*layers).properties(title=title, description=description, width=WIDTH, height=height)


def curves(data, x: str, y: str, *, color: str | None = None, title: str, x_title: str, y_title: str,
           description: str, log_x: bool = False, log_y: bool = False, color_title: str | None = None):
    """Lines of y against x, one per ``color`` group, with hover tooltips."""
    import pandas as pd

    df = pd.DataFrame(data)
    enc = {"x": alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(type="log") if log_x else alt.Undefined),
           "y": alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(type="log") if log_y else alt.Undefined),
           "tooltip": [alt.Tooltip(c) for c in (x, y, color) if c is not None]}
    if color is not None:
        enc["color"] = alt.Color(f"{color}:N", title=color_title or color)
    return (alt.Chart(df).mark_line(point=True).encode(**enc)
            .properties(title=title, description=description, width=WIDTH, height=HEIGHT))
