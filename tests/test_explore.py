import pytest

from widgets import intro as demo
from widgets.figures import intro as intro_fig

TINY = demo.DemoParams(n=16, ks=(1,), widths=(4,), depth=2, steps=10, records=3)


def test_static_book_shows_a_note_not_dead_controls(monkeypatch):
    monkeypatch.setenv("WIDGETS_BOOK_BUILD", "1")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    intro_fig.SinesExplorer(TINY)._ipython_display_()
    (md,) = shown
    assert "open this chapter in JupyterLab" in md.data and "retrain" in md.data


def test_live_explorer_retrains_and_redraws_on_a_control_change(monkeypatch):
    monkeypatch.delenv("WIDGETS_BOOK_BUILD", raising=False)
    pytest.importorskip("ipywidgets")
    ex = intro_fig.SinesExplorer(TINY, device="cpu")
    calls = []
    compute = ex.compute
    ex.compute = lambda **v: calls.append(v) or compute(**v)
    box = ex.widget()
    assert len(calls) == 1 and ex.last_result["widths"].tolist() == [64]
    first = ex.last_result
    ex.controls["width"].value = 8
    ex.controls["steps"].value = 200
    assert [c["width"] for c in calls] == [64, 8, 8] and calls[-1]["steps"] == 200
    assert ex.last_result is not first and ex.last_result["widths"].tolist() == [8]
    assert len(box.children) == 2
