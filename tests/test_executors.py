"""Chapters run under the executors readers use, with no project variable, and a hang fails in bounded time.

Every chapter already runs through the papermill command line with no ``WIDGETS_*`` variable (the
``executed`` fixture, which the HTML build reuses); nbconvert runs the downloaded introduction
(``test_site.py``). Here: a plain ``jupyter-book build`` executes a chapter itself, and a cell that never
finishes stops the chapter with the cell named, instead of hanging.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, reader_env

from widgets.book import build as book

pytestmark = pytest.mark.book


def _project(tmp: Path, toc: dict, config_changes: dict) -> Path:
    """A book of a few pages in ``tmp``: the real config with ``config_changes`` merged into its sphinx
    config, and the references."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["timeout"] = 240  # a hang in this test fails in minutes, not in the book's 20
    config["sphinx"]["config"].update(config_changes)
    (tmp / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (tmp / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    (tmp / "book").mkdir(exist_ok=True)
    shutil.copy(ROOT / "book" / "references.bib", tmp / "book" / "references.bib")
    return tmp


def test_plain_jupyter_book_build_executes_a_chapter_and_reports_it_last(tmp_path):
    """``jupyter-book build .`` with execution on, no ``WIDGETS_*`` variable and none of our build script:
    the chapter's charts are drawn, its explorer shows the static note, and the reproducibility page,
    which Sphinx's sorted order would read first (``appendix/`` < ``book/``), reports the chapter's claims."""
    intro = book.notebooks(ROOT)[0]
    toc = {"format": "jb-book", "root": intro, "chapters": [{"file": "appendix/reproducibility"}]}
    project = _project(tmp_path, toc, {"widgets_read_last": ["appendix/reproducibility"]})
    shutil.copy(ROOT / f"{intro}.md", project / f"{intro}.md")
    (project / "appendix").mkdir()
    shutil.copy(ROOT / "book" / "reproducibility.md", project / "appendix" / "reproducibility.md")
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(project)], env=reader_env(), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    html = project / "_build" / "html"
    page = (html / f"{intro}.html").read_text(encoding="utf-8")
    n_charts = len(re.findall(r'class="ibgd-chart"', page))
    assert n_charts >= 1 and "&lt;chart:" not in page, "charts are not drawn on the plain build's page"
    assert "vega-bundle.js" in page and (html / "_static" / "vega-bundle.js").is_file()
    assert "Live explorer: open this chapter in JupyterLab" in page
    assert "application/vnd.jupyter.widget-view+json" not in page.split("Live explorer", 1)[1][:2000]
    report = (html / "appendix" / "reproducibility.html").read_text(encoding="utf-8")
    assert "No claim records" not in report and "demo_loss_ratio" in report
    assert re.search(r"\d+ of \d+ claims hold", report)
    record = json.loads((project / "_build" / "claims" / f"{Path(intro).stem}.json").read_text())
    value = next(c["value"] for c in record["claims"] if c["name"] == "demo_loss_ratio")
    # the prose's {eval}`glued("demo_loss_ratio", ".4f")` is the glued value on the page, not role syntax
    assert f"{value:.4f}" in re.sub(r"<[^>]+>", "", page) and "glued(" not in page


def test_a_hung_cell_fails_the_chapter_in_bounded_time_naming_the_cell(tmp_path):
    project = _project(tmp_path, {"format": "jb-book", "root": "book/hang"}, {})
    (project / "book" / "hang.md").write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n# Hang\n\n"
        "```{code-cell} ipython3\n:tags: [parameters]\n\nmode = None\n```\n\n"
        "```{code-cell} ipython3\nimport time\nwhile True:  # the cell that hangs\n    time.sleep(0.1)\n```\n")
    with pytest.raises(book.ChapterFailed) as err:
        book.execute("book/hang", project, mode="quick", timeout=5, env=reader_env())
    message = str(err.value)
    assert "timed out" in message and "the cell that hangs" in message, message[-2000:]
    assert "5 s per cell" in message


def test_papermill_python_api_runs_a_chapter_with_no_project_variable(tmp_path, monkeypatch):
    """papermill's Python API (the CLI runs every chapter in the ``executed`` fixture): the kernel inherits
    this process's environment, here without any ``WIDGETS_*`` variable."""
    import jupytext
    import papermill

    for k in [k for k in os.environ if k.startswith("WIDGETS_")]:
        monkeypatch.delenv(k)
    intro = book.notebooks(ROOT)[0]
    project = _project(tmp_path, {"format": "jb-book", "root": intro}, {})
    shutil.copy(ROOT / f"{intro}.md", project / f"{intro}.md")
    nb = jupytext.read(project / f"{intro}.md")
    out = papermill.execute_notebook(nb, str(tmp_path / "out.ipynb"), parameters={"mode": "quick"},
                                     cwd=str(project / "book"), kernel_name="python3", progress_bar=False,
                                     execution_timeout=book.CELL_TIMEOUT_S["quick"])
    assert all(o.get("output_type") != "error" for c in out.cells for o in c.get("outputs", []))
    record = json.loads((project / "_build" / "claims" / f"{Path(intro).stem}.json").read_text())
    assert record["claims"] and all(c["passed"] for c in record["claims"])
