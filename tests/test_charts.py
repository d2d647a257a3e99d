import re

import altair as alt
import pytest
import torch

from widgets.figures import charts
from widgets.figures import intro as intro_fig


@pytest.fixture(autouse=True)
def enabled():
    charts.enable()


def small_result():
    return {"x": torch.linspace(0, 0.9, 10), "target": torch.zeros(10), "steps": torch.tensor([0, 5, 50]),
            "outputs": torch.randn(3, 2, 10), "train_loss": torch.ones(3, 2), "widths": torch.tensor([4, 8])}


def test_renderer_emits_the_same_output_under_every_executor(monkeypatch):
    bundle = alt.Chart({"values": [{"a": 1}]}).mark_point().encode(x="a:Q").to_dict()
    # JupyterLab must get only the Vega-Lite part: it would prefer an HTML part it cannot draw
    assert set(charts._render(bundle)) == {"application/vnd.vegalite.v5+json", "text/plain"}
    monkeypatch.setenv("WIDGETS_BOOK_BUILD", "1")  # a variable of the old design: it changes nothing now
    assert set(charts._render(bundle)) == {"application/vnd.vegalite.v5+json", "text/plain"}


def test_static_page_html_is_made_from_the_vegalite_output():
    from docutils import nodes
    from myst_nb.core.render import MimeData

    from widgets.book.mime import BookOutputs

    spec = alt.Chart({"values": [{"a": 1}]}).mark_point().encode(x="a:Q").to_dict()
    (node,) = BookOutputs.handle_mime(None, MimeData("application/vnd.vegalite.v5+json", spec), False)
    assert isinstance(node, nodes.raw) and node["format"] == "html"
    html = node.astext()
    assert "mode:'vega'" in html and "http" not in html.replace("https://vega.github.io/schema", "")
    (compiled,) = charts.embedded_specs(html)
    assert compiled["$schema"].endswith("/vega/v5.json")  # compiled at build time: the page needs no Vega-Lite
    assert [m["type"] for m in compiled["marks"]] == ["symbol"]  # Vega-Lite's point mark
    assert "</script" not in html.split("<script>", 1)[1].rsplit("</script>", 1)[0]
    assert BookOutputs.handle_mime(None, MimeData("text/plain", "x"), False) is None


def test_html_escapes_script_end_in_data():
    spec = alt.Chart(alt.Data(values=[{"s": "</script><b>", "v": 1}])).mark_point().encode(x="v:Q").to_dict()
    out = charts.chart_html(spec)
    body = out.split("<script>", 1)[1].rsplit("</script>", 1)[0]
    assert "</script" not in body


def test_frames_has_a_slider_over_every_frame():
    chart = intro_fig.sines_fit(small_result())
    spec = chart.to_dict()
    params = spec.get("params", []) + [p for layer in spec["layer"] for p in layer.get("params", [])]
    (param,) = params
    assert param["bind"]["input"] == "range" and param["bind"]["max"] == 2 and param["value"] == 2
    assert spec["description"] and spec["title"]
    (data,) = [d for d in spec["datasets"].values() if "width" in d[0]]
    assert {r["frame"] for r in data} == {0, 1, 2} and len(data) == 3 * 2 * 10


def test_to_vega_keeps_the_slider_the_theme_and_the_description():
    charts.enable()
    vega = charts.to_vega(intro_fig.sines_fit(small_result()).to_dict())
    signals = [sig for sig in vega["signals"] if "bind" in sig]
    assert len(signals) == 1 and signals[0]["bind"]["input"] == "range" and signals[0]["bind"]["max"] == 2
    assert vega["description"] and vega["title"]
    assert vega["config"]["range"]["category"] == charts.PALETTE


def test_frames_rejects_missing_columns():
    with pytest.raises(ValueError, match="missing the columns"):
        charts.frames([{"x": 1, "y": 2}], "x", "y", "frame", frame_label="step", title="t", x_title="x",
                      y_title="y", description="d")


def test_vega_bundle_is_self_contained(tmp_path):
    path = charts.write_vega_bundle(tmp_path / "vega.js")
    js = path.read_text()
    assert js.startswith("(function(){") and "window.vegaEmbed" in js and len(js) > 500_000
    assert not re.search(r"""(import\s*\(|from\s*["']https?:)""", js)


def test_compact_data_packs_flat_tables_as_typed_csv_and_leaves_the_rest():
    import csv
    import io

    rows = [{"x": i / 7, "n": i, "label": f'step "{i}", a', "on": i % 2 == 0} for i in range(30)]
    spec = {"data": [{"name": "t", "values": rows},
                     {"name": "short", "values": rows[:3]},
                     {"name": "nested", "values": [{"a": [1, 2]}] * 30},
                     {"name": "mixed", "values": [{"a": 1}] * 29 + [{"a": "x"}]},
                     {"name": "nan", "values": [{"a": float("nan")}] * 30},
                     {"name": "derived", "source": "t"}],
            "marks": [{"type": "group", "data": [{"name": "inner", "values": rows}]}]}
    out = charts.compact_data(spec)
    packed = out["data"][0]
    assert packed["format"] == {"type": "csv", "parse": {"x": "number", "n": "number", "on": "boolean"}}
    read = list(csv.DictReader(io.StringIO(packed["values"])))
    cast = {"number": float, "boolean": lambda v: v == "true"}
    back = [{k: cast.get(packed["format"]["parse"].get(k), str)(v) for k, v in r.items()} for r in read]
    assert back == rows  # the same table, quotes and commas included
    assert out["data"][1:] == spec["data"][1:]  # too short, nested, mixed types, NaN, derived: untouched
    assert out["marks"][0]["data"][0]["format"]["type"] == "csv"  # nested group marks too
    assert spec["data"][0]["values"] is rows  # the input is not modified


def test_slider_binds_a_range_that_starts_at_its_maximum():
    spec = charts.slider("frame", 0, 4, "training step").param.to_dict()
    assert spec == {"name": "frame", "value": 4,
                    "bind": {"input": "range", "min": 0, "max": 4, "step": 1, "name": "training step (slider) "}}
    plain = charts.slider("k", 3, 7, "number of slabs k", value=5, step=2, tagged=False).param.to_dict()
    assert plain["value"] == 5 and plain["bind"]["step"] == 2 and plain["bind"]["name"] == "number of slabs k "
