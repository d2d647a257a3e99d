"""Cost models: every run a chapter makes has one, its plan is the runs it really makes, the estimates track
the measured times, and nothing at full size needs more than one 80 GB GPU."""

import json

import pytest
import torch
from conftest import ROOT

from widgets import page
from widgets.book import estimate
from widgets.core import cost

CHAPTERS = list(estimate.TOPICS)
TOLERANCE = 4.0  # estimated / measured CPU seconds must lie in [1/4, 4] for runs of at least MIN_SECONDS
MIN_SECONDS = 2.0


@pytest.mark.parametrize("mode", ["quick", "full"])
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_planned_run_has_a_cost_model(chapter, mode):
    for experiment, params in estimate.plan(chapter, mode):
        c = cost.of(experiment, params)
        assert isinstance(c, cost.Cost), f"{experiment.__name__} has no cost model"
        assert c.flops + c.flops64 + c.cpu_flops + c.cpu_ops > 0, f"{experiment.__name__}: {c}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_nothing_at_full_size_needs_more_than_one_80_gb_gpu(chapter):
    for line in estimate.lines(chapter, "full"):
        assert line.cost.memory <= estimate.GPU_MEMORY_LIMIT, \
            f"{chapter}: {line.experiment} needs {line.cost.memory / 1e9:.1f} GB at full size"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_estimates_grow_with_the_training_they_count(chapter):
    """Capping every iteration count can only lower an estimate; at full size it lowers the largest run's."""
    lines = []
    for experiment, params in estimate.plan(chapter, "full"):
        full, capped = cost.of(experiment, params), cost.of(experiment, params.capped(2))
        assert capped.seconds(device_rate=cost.H100) <= full.seconds(device_rate=cost.H100) * (1 + 1e-9)
        lines.append((full.seconds(device_rate=cost.H100), capped.seconds(device_rate=cost.H100), params))
    longest = max(lines, key=lambda t: t[0])
    if longest[2].STEPS:
        assert longest[1] < longest[0], f"{chapter}: capping its longest run's training costs nothing"


def test_the_estimate_table_lists_every_chapter_and_the_totals():
    table = estimate.table("full", "cpu")
    for chapter in CHAPTERS:
        assert f"| {chapter} |" in table
    assert "| **all** |" in table
    assert estimate.chapter_note("intro", "cpu").startswith("Full mode here:")


def test_costs_add_and_refuse_nonsense():
    a, b = cost.Cost(flops=1e9, memory=3e9), cost.Cost(flops64=2e9, ops=10, memory=1e9)
    assert (a + b).memory == 3e9 and (a + b).flops == 1e9 and (a + b).flops64 == 2e9
    assert (3 * a).flops == 3e9 and (3 * a).memory == 3e9
    r = cost.Rate("test", 1e9, 1e9, 1e-6)
    assert (a + b).seconds(device_rate=r) == pytest.approx(1 + 2 + 1e-5)
    with pytest.raises(ValueError, match="flops"):
        cost.Cost(flops=float("nan"))
    with pytest.raises(ValueError, match="memory"):
        cost.Cost(memory=-1)


def test_the_tangent_kernel_block_counts_what_the_probe_checks():
    """The probe's own memory check and the block's count are one formula: a 16 GB NTK is 16 GB in both."""
    from widgets.core import checks, models, probes

    fam = models.mlp(2, 1, widths=64, seeds=[0, 1, 2], depth=3)
    P = sum(p[0].numel() for p in fam.params)
    seen = {}
    real = checks.check_memory

    def spy(what, nbytes):
        seen["bytes"] = nbytes
        return real(what, nbytes)

    probes.check_memory = spy
    try:
        probes.tangent_kernel(fam, torch.randn(10, 2))
    finally:
        probes.check_memory = real
    assert cost.tangent_kernel(members=3, n=10, weights=P).memory == seen["bytes"]


# ---------------------------------------------------------------- against the chapters' own runs (quick mode)


def _records(executed) -> dict:
    executed.all()
    return {c: json.loads((ROOT / "_build" / "claims" / f"{c}.json").read_text()) for c in CHAPTERS}


@pytest.mark.book
def test_each_plan_is_exactly_the_runs_its_chapter_makes(executed):
    """A plan that drifted from its chapter would estimate another book: the recorded runs (experiment and
    parameter digest) of each quick chapter run must be the plan's, one for one."""
    for chapter, rec in _records(executed).items():
        ran = sorted((r["experiment"], r["slot"]) for r in rec["runs"])
        planned = sorted((f"{e.__module__}.{e.__qualname__}", page.run_slot(e, p, device="cpu"))
                         for e, p in estimate.plan(chapter, "quick"))
        assert ran == sorted(set(planned)), f"{chapter}: ran {ran}, planned {planned}"


@pytest.mark.book
def test_estimates_match_the_measured_quick_times(executed):
    """Every run of at least MIN_SECONDS took between 1/TOLERANCE and TOLERANCE times its estimate on this CPU
    (the estimate recorded before it ran, at this machine's measured rates)."""
    off, checked = [], 0
    for chapter, rec in _records(executed).items():
        for r in rec["runs"]:
            if r["compute_s"] is None or r["compute_s"] < MIN_SECONDS or r["cache"] == "hit":
                continue
            checked += 1
            ratio = r["cost"]["seconds"] / r["compute_s"]
            if not 1 / TOLERANCE <= ratio <= TOLERANCE:
                off.append(f"{chapter}: {r['experiment']} estimated {r['cost']['seconds']:.1f} s, "
                           f"took {r['compute_s']:.1f} s")
    assert checked >= 15, f"only {checked} runs long enough to check"
    assert not off, "\n".join(off)


DRY_RUN_STEPS = 3  # what CI's full-mode dry run caps training at (tests/test_chapters.py)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_full_size_run_fits_a_cpu_dry_run(chapter):
    """Capped at CI's steps, each run fits the dry run's budget on this CPU, shrinking only the sizes its
    Params name in CPU_FIT, and only where the full size does not fit."""
    for experiment, params in estimate.plan(chapter, "full"):
        fits = lambda q, e=experiment: estimate.fits_dry_run(e, q)  # noqa: E731
        dry, shrunk = params.dry_run(DRY_RUN_STEPS, "cpu", fits)
        assert fits(dry)
        assert set(shrunk) <= set(type(params).CPU_FIT)
        if shrunk:
            assert not fits(params.capped(DRY_RUN_STEPS)), f"{experiment.__name__} shrank {shrunk} needlessly"
