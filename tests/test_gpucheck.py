"""The prepared GPU check runs anywhere (here on the CPU, at quick sizes), with torch and numpy only, and writes
one strict-JSON report whose numbers come from the runs it made."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from widgets import gpucheck


def test_the_check_needs_only_torch_and_numpy():
    code = ("import sys, widgets.gpucheck; bad = [m for m in ('altair', 'pandas', 'IPython', 'myst_nb', 'yaml', "
            "'papermill', 'sklearn', 'mnist1d', 'widgets.figures', 'widgets.page') if m in sys.modules]; "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_equivalence_of_a_member_and_a_lone_run():
    eq = gpucheck.equivalence(torch.device("cpu"), steps=20)
    assert eq["passed"] and eq["float64_member_vs_lone"] < 1e-12 and eq["float64_device_vs_cpu"] == 0.0


def test_smoke_run_on_the_cpu_writes_a_report(tmp_path):
    out = tmp_path / "check.json"
    assert gpucheck.main(["--device", "cpu", "--mode", "quick", "--steps", "3", "--chapters", "intro",
                          "--no-bench", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"]["device"] == "cpu" and report["device"]["rate"]["flops_tflops"] > 0
    (row,) = report["chapters"]
    assert row["chapter"] == "intro" and row["experiment"] == "fit_sines" and row["steps_cap"] == 3
    assert row["seconds"] > 0 and row["seconds_extrapolated"] > row["seconds"]  # 1500 steps, not 3
    assert row["capped_estimate"]["gflop"] < row["estimate"]["gflop"]


def test_a_chapter_whose_package_is_missing_is_skipped_not_fatal(monkeypatch):
    def needs_sklearn(p, *, device=None, progress=False):
        raise ImportError("No module named 'sklearn'")

    needs_sklearn.cost = lambda p: gpucheck.cost.Cost(flops=1.0)
    monkeypatch.setattr(gpucheck, "_most_expensive",
                        lambda chapter, mode: (needs_sklearn, gpucheck.estimate.plan("intro", "quick")[0][1],
                                               gpucheck.cost.Cost(flops=1.0)))
    row = gpucheck.chapter_check("intro", torch.device("cpu"), 3, "quick")
    assert row["skipped"].startswith("needs a package this machine lacks")


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="chapters"):
        gpucheck.run("cpu", 3, ["nope"], "quick", bench=False, log=lambda *a: None)
    with pytest.raises(ValueError, match="steps"):
        gpucheck.run("cpu", 1, ["intro"], "quick", bench=False, log=lambda *a: None)
