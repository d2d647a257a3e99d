"""Every notebook in _toc.yml runs through the papermill command line in quick mode, with no WIDGETS_*
variable and a per-cell timeout (a hang fails, naming the cell), once per session; the HTML build reuses it."""

import pytest
from conftest import ROOT

from widgets.book import build as book

CHAPTERS = book.notebooks(ROOT)


@pytest.mark.book
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.split("/")[-1] for c in CHAPTERS])
def test_chapter_executes_in_quick_mode(chapter, executed):
    seconds = executed(chapter)
    assert (ROOT / "_build" / "executed" / f"{chapter}.ipynb").exists()
    assert seconds < 180, f"{chapter} took {seconds:.0f} s in quick mode; the budget is 3 min per chapter"
