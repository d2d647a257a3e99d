import json

from widgets.book import report


def write(path, claims, chapter="intro"):
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{chapter}.json").write_text(json.dumps({
        "chapter": chapter, "title": "Intro", "mode": "quick", "device": "cpu", "torch": "2.13.0",
        "started": "2026-11-28T00:00:00+00:00", "claims": claims}))


def test_sources_list_the_claims_of_each_chapter():
    from conftest import ROOT

    srcs = {s["chapter"]: s for s in report.chapter_sources(ROOT)}
    assert "intro" in srcs and "reproducibility" not in srcs  # the report page makes no claims
    assert "demo_loss_ratio" in srcs["intro"]["claims"]
    assert report.toc_files(ROOT)[0] == "book/intro"


def test_missing_records_are_loud(tmp_path):
    from conftest import ROOT

    md = report.report_markdown(ROOT, tmp_path / "nothing")
    assert ":::{error}" in md and "No claim records" in md and "demo_loss_ratio" in md


def test_records_become_a_table_with_links(tmp_path):
    from conftest import ROOT

    write(tmp_path, [{"name": "demo_loss_ratio", "value": 0.01, "expect": "≤ 0.05", "passed": True,
                      "paper": None, "ref": "rahaman2019", "section": "intro-demo", "elapsed_s": 3.0}])
    md = report.report_markdown(ROOT, tmp_path)
    assert "{ref}`demo_loss_ratio <intro-demo>`" in md and "✓ holds" in md and "{cite:p}`rahaman2019`" in md
    assert md.startswith("**1 of 1 claims hold**")


def test_unreached_and_failed_claims_are_flagged(tmp_path):
    from conftest import ROOT

    write(tmp_path, [])
    md = report.report_markdown(ROOT, tmp_path)
    assert "have no record: demo_loss_ratio" in md
    write(tmp_path, [{"name": "demo_loss_ratio", "value": 0.5, "expect": "≤ 0.05", "passed": False,
                      "paper": None, "ref": None, "section": None, "elapsed_s": 3.0}])
    md = report.report_markdown(ROOT, tmp_path)
    assert "✗ fails" in md and "**0 of 1 claims hold**" in md and "{doc}`demo_loss_ratio </book/intro>`" in md


def test_corrupt_record_is_reported(tmp_path):
    from conftest import ROOT

    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "intro.json").write_text("{not json")
    md = report.report_markdown(ROOT, tmp_path)
    assert "No claim records" in md and "JSONDecodeError" in md


def test_runs_and_their_cache_state_are_reported(tmp_path):
    from conftest import ROOT

    write(tmp_path, [])
    rec = json.loads((tmp_path / "intro.json").read_text())
    rec["runs"] = [{"experiment": "widgets.intro.fit_sines", "slot": "a", "cache": "hit", "seconds": 0.01,
                    "compute_s": 12.0, "elapsed_s": 1.0},
                   {"experiment": "widgets.intro.other", "slot": "b", "cache": "miss", "seconds": 3.0,
                    "compute_s": 3.0, "elapsed_s": 4.0}]
    (tmp_path / "intro.json").write_text(json.dumps(rec))
    md = report.report_markdown(ROOT, tmp_path)
    assert "Its 2 experiment(s): 1 computed in this build and 1 read from the cache (15 s of compute" in md
