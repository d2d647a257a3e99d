"""What each chapter costs before it runs, from its plan and its experiments' cost models.

Each topic module lists its chapter's runs as ``plan(mode) → [(experiment, params), …]`` and each experiment
carries a cost model (:mod:`widgets.core.cost`). From these, without training anything:

    python -m widgets.book --mode full --estimate      # a table: work, peak memory, time on one H100 and here

and a chapter in full mode shows its own line in its setup note. The test suite checks that each chapter's
plan is exactly the runs the chapter makes (against its claim record) and the estimates against measured times.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

from widgets.core import cost
from widgets.core.env import get_device

TOPICS = {"intro": "intro", "spectral_bias": "spectral", "nonconvex_optimization": "nonconvex_optimization",
          "implicit_regularization": "implicit_regularization", "implicit_bias": "implicit_bias",
          "loss_choice": "loss_choice", "eigenspace_restructuring": "eigenspace", "simplicity_bias": "simplicity",
          "double_descent": "double_descent", "information_bottleneck": "information_bottleneck"}
"""Chapter (the file stem in ``book/``) → the topic module (in ``widgets/``) holding its experiments."""

GPU_MEMORY_LIMIT = 80e9
"""No experiment may need more device memory than one 80 GB GPU holds (``tests/test_cost.py`` checks it)."""


def plan(chapter: str, mode: str | None = None) -> list:
    """The runs of ``chapter`` (a file stem) in ``mode``: [(experiment, params), …]."""
    if chapter not in TOPICS:
        raise ValueError(f"chapter must be one of {sorted(TOPICS)}, got {chapter!r}")
    return importlib.import_module(f"widgets.{TOPICS[chapter]}").plan(mode)


DRY_RUN_SECONDS = 15.0
"""The most a dry run of one experiment may take on the CPU (estimated): beyond it, its ``CPU_FIT`` sizes
shrink, so the dry run of the whole book stays within CI's budget."""

DRY_RUN_BYTES = 3e9
"""The most memory a dry run of one experiment may hold on the CPU (estimated); a CI machine has 24 GB."""


def fits_dry_run(experiment, params) -> bool:
    """Whether ``experiment(params)`` fits a dry run on a CPU (:data:`DRY_RUN_SECONDS` at the reference rates
    :data:`widgets.core.cost.CPU_REFERENCE`, so the sizes a dry run uses never depend on how busy the machine
    is; :data:`DRY_RUN_BYTES`); an experiment without a cost model always does."""
    c = cost.of(experiment, params)
    ref = cost.CPU_REFERENCE
    return c is None or (c.seconds(device_rate=ref, cpu_rate=ref) <= DRY_RUN_SECONDS and c.memory <= DRY_RUN_BYTES)


@dataclass(frozen=True)
class Line:
    """One experiment of a plan with its estimate."""

    chapter: str
    experiment: str
    cost: cost.Cost


def lines(chapter: str, mode: str | None = None) -> list[Line]:
    """Each distinct run of the chapter's plan with its cost (a run the chapter repeats with the same parameters
    is a cache hit, counted once); a ValueError if an experiment has no cost model."""
    out, seen = [], set()
    for experiment, params in plan(chapter, mode):
        if (experiment, params) in seen:
            continue
        seen.add((experiment, params))
        c = cost.of(experiment, params)
        if c is None:
            raise ValueError(f"{experiment.__module__}.{experiment.__name__} has no cost model "
                             "(attach one with widgets.core.cost.model)")
        out.append(Line(chapter, experiment.__name__, c))
    return out


def total(chapter: str, mode: str | None = None) -> cost.Cost:
    """The chapter's whole cost: its runs one after another."""
    return sum((line.cost for line in lines(chapter, mode)), cost.Cost())


def _minutes(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _tflop(c: cost.Cost) -> str:
    t = c.work / 1e12
    return f"{t:,.0f}" if t >= 10 else f"{t:.2g}"


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:.1f}" if nbytes >= 1e9 else f"{nbytes / 1e9:.2f}"


def chapter_note(chapter: str, device=None) -> str:
    """One line for a full-mode page's setup note: the chapter's work, peak memory and estimated time."""
    dev = get_device(device)
    try:
        c = total(chapter, "full")
    except ValueError as err:  # an experiment without a cost model: say so, never stop the chapter for it
        return f"Full mode here: no estimate ({err})."
    here = f"about {_minutes(c.seconds(dev))} on this {dev.type}"
    return (f"Full mode here: {_tflop(c)} TFLOP in all, at most {_gb(c.memory)} GB of device memory at once; "
            f"{here} "
            f"(one H100: about {_minutes(c.seconds(device_rate=cost.H100))}). Estimates, from "
            "`python -m widgets.book --estimate`.")


def table(mode: str = "full", device=None, chapters: list[str] | None = None) -> str:
    """A Markdown table: per chapter, its work, peak device memory and estimated time on one H100 and on
    ``device`` (default: the CPU, measured), with the total."""
    dev = torch.device(device or "cpu")
    rows = ["| chapter | runs | work (TFLOP) | peak memory (GB) | one H100 | this " + dev.type + " |",
            "|---|---|---|---|---|---|"]
    grand = cost.Cost()
    for chapter in chapters or list(TOPICS):
        ls = lines(chapter, mode)
        c = sum((line.cost for line in ls), cost.Cost())
        grand = grand + c
        rows.append(f"| {chapter} | {len(ls)} | {_tflop(c)} | {_gb(c.memory)} | "
                    f"{_minutes(c.seconds(device_rate=cost.H100))} | {_minutes(c.seconds(dev))} |")
    rows.append(f"| **all** | | {_tflop(grand)} | {_gb(grand.memory)} | "
                f"{_minutes(grand.seconds(device_rate=cost.H100))} | {_minutes(grand.seconds(dev))} |")
    return "\n".join(rows)


def experiments_table(mode: str = "full", chapters: list[str] | None = None) -> str:
    """A Markdown table with one row per run: the chapter, the experiment, its work, memory and H100 time."""
    rows = ["| chapter | experiment | work (GFLOP) | peak memory (GB) | one H100 | this cpu |",
            "|---|---|---|---|---|---|"]
    for chapter in chapters or list(TOPICS):
        for line in lines(chapter, mode):
            c = line.cost
            rows.append(f"| {chapter} | {line.experiment} | {c.work / 1e9:,.0f} | "
                        f"{_gb(c.memory)} | {_minutes(c.seconds(device_rate=cost.H100))} | "
                        f"{_minutes(c.seconds('cpu'))} |")
    return "\n".join(rows)
