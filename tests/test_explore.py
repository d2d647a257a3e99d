import pytest

from widgets import intro as demo
from widgets.figures import intro as intro_fig

TINY = demo.DemoParams(n=16, ks=(1,), widths=(4,), depth=2, steps=10, records=3)


def test_displaying_an_explorer_trains_nothing_and_carries_the_static_note():
    pytest.importorskip("ipywidgets")
    ex = intro_fig.SinesExplorer(TINY, device="cpu")
    calls = []
    ex.compute = lambda **v: calls.append(v)
    bundle = ex._repr_mimebundle_()
    # a headless executor runs this and finishes: nothing trained, nothing written to the output area
    assert calls == [] and ex.output.outputs == () and ex.last_result is None
    assert "application/vnd.jupyter.widget-view+json" in bundle  # JupyterLab shows the live controls
    assert "open this chapter in JupyterLab" in bundle["text/markdown"] and "retrain" in bundle["text/markdown"]
    assert "Train" in ex.status.value and "cpu" in ex.status.value
    assert ex._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"] == \
        bundle["application/vnd.jupyter.widget-view+json"]  # built once


def test_the_static_page_prefers_the_note_and_jupyterlab_the_widget():
    from myst_nb.core.render import get_mime_priority

    order = get_mime_priority("html", [])
    assert order.index("text/markdown") < order.index("application/vnd.jupyter.widget-view+json")
    assert order.index("application/vnd.vegalite.v5+json") < order.index("text/plain")


def test_live_explorer_retrains_and_redraws_on_a_control_change():
    pytest.importorskip("ipywidgets")
    ex = intro_fig.SinesExplorer(TINY, device="cpu")
    calls = []
    compute = ex.compute
    ex.compute = lambda **v: calls.append(v) or compute(**v)
    box = ex.widget()
    assert calls == []
    ex.controls["width"].value = 8
    assert [c["width"] for c in calls] == [8] and ex.last_result["widths"].tolist() == [8]
    first = ex.last_result
    ex.controls["steps"].value = 200
    assert [c["width"] for c in calls] == [8, 8] and calls[-1]["steps"] == 200
    assert ex.last_result is not first
    train = box.children[0].children[-1]
    train.click()
    assert len(calls) == 3
    assert len(box.children) == 3 and "Train" in ex.status.value


def test_an_explorer_starts_from_the_quick_preset_in_every_mode():
    from widgets.figures.explore import interactive

    full = demo.DemoParams.preset("full")
    ex = intro_fig.SinesExplorer(full, device="cpu")
    assert ex.params == demo.DemoParams.preset("quick") != full
    assert interactive(None) is None
