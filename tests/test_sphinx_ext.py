from types import SimpleNamespace

import pytest

from widgets.book import lab, sphinx_ext


def _app(last):
    return SimpleNamespace(config=SimpleNamespace(widgets_read_last=last))


def test_read_last_moves_the_report_after_every_chapter():
    docnames = ["book/double_descent", "book/intro", "book/reproducibility", "book/simplicity_bias"]
    sphinx_ext.read_last(_app(["book/reproducibility"]), None, docnames)
    assert docnames == ["book/double_descent", "book/intro", "book/simplicity_bias", "book/reproducibility"]
    docnames = ["book/intro"]
    sphinx_ext.read_last(_app(["book/reproducibility"]), None, docnames)  # not being read: nothing added
    assert docnames == ["book/intro"]


def test_the_report_is_reread_whenever_a_chapter_is():
    env = SimpleNamespace(found_docs={"book/intro", "book/reproducibility"})
    app = _app(["book/reproducibility"])
    assert sphinx_ext.reread_last(app, env, set(), {"book/intro"}, set()) == ["book/reproducibility"]
    assert sphinx_ext.reread_last(app, env, set(), set(), set()) == []
    assert sphinx_ext.reread_last(app, env, set(), {"book/reproducibility"}, set()) == []


def test_lab_command_passes_the_books_settings(tmp_path):
    from conftest import ROOT

    cmd = lab.command(ROOT, ["--no-browser"])
    assert f"--LabApp.app_settings_dir={ROOT / 'jupyter' / 'settings'}" in cmd and cmd[-1] == "--no-browser"
    import json

    overrides = json.loads((ROOT / "jupyter" / "settings" / "overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Jupytext Notebook"
    (tmp_path / "_toc.yml").write_text("root: x\n")
    with pytest.raises(FileNotFoundError, match="settings"):
        lab.command(tmp_path)
