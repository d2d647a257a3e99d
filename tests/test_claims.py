import json
import math

import pytest
import torch
from conftest import ROOT

from widgets.book import claims, report
from widgets.book.claims import ClaimError, above, as_expect, at_least, at_most, below, between, claim


@pytest.fixture
def session(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDGETS_CLAIMS_DIR", str(tmp_path))
    return claims.start("unit_chapter", "quick", "cpu", title="Unit chapter")


def test_expectations():
    assert between(0.95, 1.05).holds(1.0) and not between(0.95, 1.05).holds(1.06)
    assert at_least(0.8).holds(0.8) and not above(0.8).holds(0.8)
    assert at_most(1).holds(1) and not below(1).holds(1)
    assert claims.positive().holds(1e-9) and not claims.positive().holds(0)
    assert claims.negative().holds(-2)
    assert not at_least(0).holds(math.nan)
    assert between(1, 2).text == "in [1, 2]" and at_least(0.8).text == "≥ 0.8" and below(1.2).text == "< 1.2"
    assert as_expect(">= 0.8") == at_least(0.8) and as_expect("< 3") == below(3) and as_expect((1, 2)) == between(1, 2)


@pytest.mark.parametrize("bad", [lambda: between(2, 1), lambda: between(math.nan, 1), lambda: at_least(math.nan),
                                 lambda: claims.Expect(lo=1, hi=1, lo_open=True), lambda: claims.Expect(),
                                 lambda: as_expect("about 3"), lambda: as_expect(">= x"), lambda: as_expect(3)])
def test_bad_expectations_are_rejected(bad):
    with pytest.raises(ValueError):
        bad()


def test_claim_records_and_returns(session, tmp_path):
    c = claim("corr", torch.tensor(0.93), at_least(0.8), paper="0.95", ref="rahaman2019", section="sec")
    assert c.passed and c.value == pytest.approx(0.93)
    assert "✓" in c._repr_markdown_()
    rec = json.loads((tmp_path / "unit_chapter.json").read_text())
    assert rec["chapter"] == "unit_chapter" and rec["mode"] == "quick" and rec["device"] == "cpu"
    assert rec["torch"] == torch.__version__ and rec["title"] == "Unit chapter"
    (entry,) = rec["claims"]
    assert entry["name"] == "corr" and entry["expect"] == "≥ 0.8" and entry["passed"] is True
    assert entry["paper"] == "0.95" and entry["ref"] == "rahaman2019" and entry["elapsed_s"] >= 0
    claim("corr", 0.9, at_least(0.8))  # a re-run cell replaces, not duplicates
    assert len(json.loads((tmp_path / "unit_chapter.json").read_text())["claims"]) == 1


def test_failing_claim_names_claim_value_and_expectation(session, tmp_path):
    with pytest.raises(ClaimError, match=r"claim 'corr' failed: value 0\.61 is not ≥ 0\.8"):
        claim("corr", 0.61, at_least(0.8))
    rec = json.loads((tmp_path / "unit_chapter.json").read_text())
    assert rec["claims"][0]["passed"] is False  # the failure is on record too
    with pytest.raises(ClaimError, match="is NaN"):
        claim("other", math.nan, at_most(1))


def test_a_claim_that_is_not_finite_fails_and_the_record_stays_strict_json(session, tmp_path):
    for value in (math.inf, -math.inf):
        with pytest.raises(ClaimError, match="is not finite"):
            claim("big", value, at_least(0.8))  # inf ≥ 0.8 must not pass
    with pytest.raises(ClaimError, match="is NaN"):
        claim("undefined", math.nan, at_least(0.8))
    text = (tmp_path / "unit_chapter.json").read_text()
    rec = json.loads(text, parse_constant=lambda c: pytest.fail(f"record holds {c}, which is not JSON"))
    assert [(c["name"], c["value"], c["passed"]) for c in rec["claims"]] == [("big", None, False),
                                                                            ("undefined", None, False)]


def test_bad_values_and_names(session):
    with pytest.raises(ValueError, match="single number"):
        claim("v", torch.ones(3), at_least(0))
    with pytest.raises(ValueError, match="must be a number"):
        claim("v", "high", at_least(0))
    with pytest.raises(ValueError, match="must be a number"):
        claim("v", True, at_least(0))
    with pytest.raises(ValueError, match="identifier"):
        claim("has space", 1.0, at_least(0))


def test_start_resets_the_record(session, tmp_path):
    claim("a", 1.0, at_least(0))
    claims.start("unit_chapter", "quick", "cpu")
    assert json.loads((tmp_path / "unit_chapter.json").read_text())["claims"] == []
    with pytest.raises(ValueError, match="chapter"):
        claims.start("../evil", "quick", "cpu")


def test_claim_needs_a_session(monkeypatch):
    monkeypatch.setattr(claims, "_session", None)
    with pytest.raises(RuntimeError, match="setup"):
        claim("x", 1.0, at_least(0))


@pytest.mark.book
def test_failing_claim_fails_papermill(tmp_path, monkeypatch):
    """A chapter whose claim fails must stop papermill with the claim's message."""
    import jupytext
    import papermill
    from conftest import ROOT

    monkeypatch.setenv("WIDGETS_CLAIMS_DIR", str(tmp_path / "claims"))
    nb = jupytext.read(ROOT / "tests" / "data" / "failing_claim.md")
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(nb, str(tmp_path / "out.ipynb"), parameters={"mode": "quick"},
                                   kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    assert "ClaimError" in str(err.value)
    assert "claim 'always_wrong' failed: value 1 is not ≥ 2" in str(err.value)
    rec = json.loads((tmp_path / "claims" / "failing_claim.json").read_text())
    assert rec["claims"][0]["passed"] is False


def test_skipped_claims_are_recorded_and_reported_as_not_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDGETS_CLAIMS_DIR", str(tmp_path))
    claims.start("intro", "quick", "cpu", title="Intro")
    claims.claim("demo_loss_ratio", 0.01, expect=claims.at_most(0.05), section="intro-demo")
    claims.skip("later_claim", "full mode only", paper="p", section="intro-demo")
    rec = json.loads((tmp_path / "intro.json").read_text())
    assert [c["name"] for c in rec["claims"]] == ["demo_loss_ratio", "later_claim"]
    assert rec["claims"][1]["skipped"] == "full mode only" and rec["claims"][1]["passed"] is None
    md = report.report_markdown(ROOT, tmp_path)
    assert "not checked: full mode only" in md and md.startswith("**1 of 1 claims hold**")
    with pytest.raises(ValueError, match="reason"):
        claims.skip("x", "")


def test_a_claim_that_cannot_be_computed_fails_as_a_claim(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDGETS_CLAIMS_DIR", str(tmp_path))
    claims.start("intro", "quick", "cpu", title="Intro")
    assert claims.claim("fine", lambda: 3.0, expect=at_least(2)).value == 3.0
    with pytest.raises(claims.ClaimError, match=r"claim 'slope' failed: its value could not be computed "
                                                r"\(ZeroDivisionError: float division by zero\)"):
        claims.claim("slope", lambda: 1.0 / 0.0, expect=at_least(0))
    with pytest.raises(claims.ClaimError, match="ValueError: need at least two"):
        claims.claim("fit", lambda: (_ for _ in ()).throw(ValueError("need at least two points")), expect=at_least(0))
    rec = json.loads((tmp_path / "intro.json").read_text())
    failed = {c["name"]: c for c in rec["claims"]}
    assert failed["slope"]["passed"] is False and failed["slope"]["value"] is None
    assert "ZeroDivisionError" in failed["slope"]["error"] and failed["fine"]["error"] is None
    md = report.report_markdown(ROOT, tmp_path)
    assert "not computable: ZeroDivisionError" in md
    with pytest.raises(KeyError):  # a bug in the chapter (not a numeric failure) is not hidden as a claim
        claims.claim("bug", lambda: {}["missing"], expect=at_least(0))


# ---------------------------------------------------------------- a dry run: computed, recorded, never checked


@pytest.fixture
def dry_session(tmp_path, monkeypatch):
    monkeypatch.setenv("WIDGETS_CLAIMS_DIR", str(tmp_path))
    return claims.start("unit_chapter", "full", "cpu", title="Unit chapter", max_steps=3)


def test_a_dry_run_records_claims_as_not_checked_apart_from_results(dry_session, tmp_path):
    out_of_range = claim("corr", 0.1, at_least(0.8), paper="0.95", section="sec")  # would fail a real run
    assert out_of_range.passed is None and "not checked: dry run" in out_of_range._repr_markdown_()
    broken = claim("slope", lambda: 1 / 0, at_least(0.8))  # not computable after capped training
    assert broken.value is None and "ZeroDivisionError" in broken.error
    assert claim("inf", float("inf"), at_least(0)).value is None
    assert not (tmp_path / "unit_chapter.json").exists()  # the report reads results only
    rec = json.loads((tmp_path / "dry-run" / "unit_chapter.json").read_text())
    assert rec["max_steps"] == 3 and rec["mode"] == "full"
    assert [(c["name"], c["value"], c["passed"]) for c in rec["claims"]] == [
        ("corr", 0.1, None), ("slope", None, None), ("inf", None, None)]
    assert all(c["skipped"] == "dry run (every training loop capped at 3 steps)" for c in rec["claims"])
    with pytest.raises(ValueError, match="max_steps"):
        claims.start("unit_chapter", "full", "cpu", max_steps=1)


def test_a_real_run_after_a_dry_run_checks_again(dry_session, tmp_path):
    claims.start("unit_chapter", "full", "cpu")
    assert claims.dry_run_reason() is None
    with pytest.raises(ClaimError, match="corr"):
        claim("corr", 0.1, at_least(0.8))
