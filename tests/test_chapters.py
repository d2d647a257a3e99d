"""Every notebook in _toc.yml runs through the papermill command line in quick mode, with no WIDGETS_*
variable and a per-cell timeout (a hang fails, naming the cell), once per session; the HTML build reuses it.

And every chapter runs a *dry run of full mode* the same way (``-p mode full -p max_steps 3``): every size at
its full value (where this CPU cannot hold one even for a few steps, shrunk by the smallest factor that fits,
as the page says), every training loop capped at three steps, every cell executed, claims recorded as not
checked. It is the full-mode code path a GPU reader runs, exercised on every CI run."""

import json
from pathlib import Path

import pytest
from conftest import ROOT, reader_env

from widgets import page
from widgets.book import build as book
from widgets.book import estimate

CHAPTERS = book.notebooks(ROOT)
DRY_RUN_STEPS = 3


@pytest.mark.book
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.split("/")[-1] for c in CHAPTERS])
def test_chapter_executes_in_quick_mode(chapter, executed):
    seconds = executed(chapter)
    assert (ROOT / "_build" / "executed" / f"{chapter}.ipynb").exists()
    assert seconds < 180, f"{chapter} took {seconds:.0f} s in quick mode; the budget is 3 min per chapter"


@pytest.mark.book
@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if Path(c).stem in estimate.TOPICS],
                         ids=[c.split("/")[-1] for c in CHAPTERS if Path(c).stem in estimate.TOPICS])
def test_chapter_dry_run_of_full_mode(chapter):
    stem = Path(chapter).stem
    seconds = book.execute(chapter, ROOT, mode="full", max_steps=DRY_RUN_STEPS, env=reader_env())
    assert (ROOT / "_build" / "dry-run" / f"{chapter}.ipynb").exists()
    rec = json.loads((ROOT / "_build" / "claims" / "dry-run" / f"{stem}.json").read_text())
    assert (rec["mode"], rec["max_steps"]) == ("full", DRY_RUN_STEPS)
    assert rec["claims"], f"{stem}: no claim was reached"
    assert all(c["passed"] is None and c["skipped"].startswith("dry run") for c in rec["claims"])
    # it ran the full-mode plan: each run stands for a planned full-size run, with its estimate recorded
    asked = sorted((r["experiment"], r["asked"]) for r in rec["runs"])
    planned = sorted({(f"{e.__module__}.{e.__qualname__}", page.run_slot(e, p, device="cpu"))
                      for e, p in estimate.plan(stem, "full")})
    assert asked == planned, f"{stem}: the dry run made {asked}, the full-mode plan says {planned}"
    assert all(r["cost"]["seconds_h100"] >= 0 for r in rec["runs"])
    assert seconds < 240, f"{stem}'s dry run took {seconds:.0f} s; CI's budget is 4 min a chapter"
