"""The chapter surface: what a chapter calls, about five names.

    ctx = setup("intro", mode, title=...)           # hidden first cell: mode, seed, device, renderer, record
    result = run(intro.fit_sines, params)           # device and progress passed, timed, cached, recorded
    note(demo_width=int(w), demo_seconds=s)         # numbers for the prose: {eval}`glued("demo_width", "d")`
    claim("demo_loss_ratio", r, expect=at_most(0.05), section="intro-demo")
"""

from __future__ import annotations

import inspect
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from widgets.book import claims, estimate, glue
from widgets.book.claims import above, at_least, at_most, below, between, claim, skip
from widgets.book.glue import glued
from widgets.core import cache, cost
from widgets.core.checks import check_int
from widgets.core.env import check_mode, get_device, seed_everything, use_cpu_threads
from widgets.core.params import Params
from widgets.figures import charts

__all__ = ["Context", "setup", "run", "note", "glued", "claim", "skip",
           "above", "at_least", "at_most", "below", "between"]


@dataclass(frozen=True)
class Context:
    chapter: str
    mode: str
    device: torch.device
    seed: int
    progress: bool = True  # tqdm bars: live in JupyterLab; on the static page, widgets without JS show nothing
    max_steps: int | None = None  # a dry run: every iteration count capped here, sizes kept (Params.dry_run)


def setup(chapter: str, mode: str | None = None, *, max_steps: int | None = None, seed: int = 0, device=None,
          title: str = "") -> Context:
    """Seed everything, pick the device (and on the CPU the thread policy, ``env.CPU_THREADS``), enable the
    chart theme and renderer, start the chapter's claim record, and show one line saying how this page ran; in
    full mode, also what the chapter will cost on this device (:mod:`widgets.book.estimate`), before it starts.

    ``max_steps``: a *dry run*: every experiment keeps the mode's sizes but every training loop, iteration and
    epoch count is capped at ``max_steps`` (see :meth:`widgets.core.params.Params.dry_run`); claims are
    computed and recorded as not checked. None (the default): a real run."""
    mode = check_mode(mode)
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, 2, 10**8)
    dev = get_device(device)
    use_cpu_threads(dev)  # one thread: a chapter never collapses when another process wants a core
    seed_everything(seed)
    charts.enable()
    claims.start(chapter, mode, dev, title=title, max_steps=max_steps)
    other = "full" if mode == "quick" else "quick"
    lines = [f"This page ran in **{mode}** mode on **{dev.type}** (torch {torch.__version__}, seed {seed}). "
             f'To run it at {other} scale, set `mode = "{other}"` in the parameters cell, or '
             f"`WIDGETS_MODE={other}` in the environment."]
    if max_steps is not None:
        lines.append(f"**Dry run:** every training loop is capped at {max_steps} steps (sizes as in {mode} mode), "
                     "so the numbers on this page are not results and its claims are not checked.")
    if mode == "full":
        lines.append(estimate.chapter_note(chapter, dev))
    _show("\n\n".join(f"<small>{line}</small>" for line in lines))
    global _context
    _context = Context(chapter=chapter, mode=mode, device=dev, seed=seed, max_steps=max_steps)
    return _context


def _show(markdown: str) -> None:
    """Display Markdown in a notebook; print it elsewhere (a plain Python run)."""
    try:
        from IPython.display import Markdown, display
    except ImportError:
        print(markdown)
        return
    display(Markdown(markdown))


_context: Context | None = None  # the chapter set up last: run() takes its device, progress and seed


def run(experiment: Callable[..., dict], params, *args, **extra) -> dict:
    """``experiment(params, *args, device=ctx.device, progress=ctx.progress, **extra)``, through the cache.

    The result is stored by :func:`widgets.core.cache.cached` under the experiment's qualified name, keyed
    by ``params`` (a Params dataclass), ``args``, ``extra``, the chapter's seed, the device type and the
    code and library versions, so a second build recomputes nothing. ``device`` and ``progress`` go only to
    an experiment that accepts them; ``extra`` may override them. The global RNGs are seeded with the
    chapter's seed before computing, so a result never depends on which earlier runs were cache hits.

    Returns the experiment's dict in its stored form (tensors on the CPU); a result without ``"seconds"``
    gets the compute time there. The run (experiment, cache hit or miss, seconds) goes in the chapter's
    claim record. Raises ValueError if the result is not plain data (see :mod:`widgets.core.cache`).
    """
    ctx = _current("run")
    device = extra.pop("device", ctx.device)
    progress = extra.pop("progress", ctx.progress)
    accepted = _accepted(experiment)
    kwargs = dict(extra)
    if accepted is None or "device" in accepted:
        kwargs["device"] = device
    if accepted is None or "progress" in accepted:
        kwargs["progress"] = progress
    name = _run_name(experiment)
    estimated = cost.of(experiment, params)  # of the parameters asked for, before a dry run caps them
    asked = None
    if ctx.max_steps is not None and isinstance(params, Params):  # other parameters name no step to cap
        asked = _slot(name, params, args, extra, ctx.seed, device)  # the run it stands for
        params, shrunk = params.dry_run(ctx.max_steps, device, lambda q: estimate.fits_dry_run(experiment, q))
        if shrunk:
            _show("<small>Dry run on the CPU: " + ", ".join(f"`{f}` {a} → {b}" for f, (a, b) in shrunk.items())
                  + f" in `{name}` (the full size does not fit this machine even for a few steps).</small>")
    key = _key(params, args, extra, ctx.seed)

    def compute() -> dict:
        seed_everything(ctx.seed)
        t0 = time.perf_counter()
        out = experiment(params, *args, **kwargs)
        if isinstance(out, dict) and "seconds" not in out:
            out = {**out, "seconds": time.perf_counter() - t0}
        return out

    t0 = time.perf_counter()
    with warnings.catch_warnings():  # a stale entry is recomputed; the claim record notes it, the page need not
        warnings.simplefilter("ignore", cache.StaleEntryWarning)
        value, status = cache.cached(name, key, compute, device=device, status=True)
    seconds = time.perf_counter() - t0
    compute_s = value.get("seconds") if isinstance(value, dict) else None
    claims.record_run(name, _slot(name, params, args, extra, ctx.seed, device), status, seconds,
                      float(compute_s) if isinstance(compute_s, int | float) else None,
                      cost=None if estimated is None else estimated.record(device), asked=asked)
    return value


def _key(params, args, extra: dict, seed: int) -> dict:
    """What a run's result depends on besides the experiment, the device and the code: its cache key."""
    return {"params": params, "args": list(args), "extra": extra, "seed": seed}


def _slot(name: str, params, args, extra: dict, seed: int, device) -> str:
    return cache.cache_slot(name, _key(params, args, extra, seed), device)[:12]


def run_slot(experiment: Callable[..., dict], params, *args, seed: int = 0, device=None, **extra) -> str:
    """The digest :func:`run` records for ``experiment(params, *args, **extra)`` (the claim record's ``slot``):
    which run of the chapter it was, whatever the code version."""
    return _slot(_run_name(experiment), params, args, extra, seed, get_device(device))


def note(**values) -> None:
    """Glue each value under its name for the prose: ``{eval}`glued("name", ".3f")``` (a formatted number),
    ``{eval}`glued("name")``` (Markdown); see :mod:`widgets.book.glue`.

    Values: numbers (a one-element tensor becomes its number), strings, IPython ``Markdown`` (or any object
    with a rich display, such as a chart, for ``{glue:figure}``), or a function of no arguments computing one
    (like :func:`claim`'s): in a dry run, a value its capped training cannot give (an arithmetic, value,
    index or runtime error, e.g. a slope over too few points) is glued as ``"n/a (dry run)"`` instead of
    stopping the page; in a real run the error stands. Raises ValueError naming the value otherwise, or
    when a name is not an identifier; nothing is glued then. Displays nothing.
    """
    glued_values = {}
    for name, value in values.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"note name must be an identifier, got {name!r}")
        if callable(value) and not any(hasattr(value, r) for r in _RICH):
            try:
                value = value()
            except (ArithmeticError, ValueError, IndexError, RuntimeError):
                if claims.dry_run_reason() is None:
                    raise
                value = "n/a (dry run)"
        glued_values[name] = _gluable(name, value)
    for name, value in glued_values.items():
        glue.glue(name, value)


def _gluable(name: str, value):
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"note {name!r} must be a single number, got a tensor of shape {tuple(value.shape)}")
        return value.item()
    if isinstance(value, bool | int | float | str) or any(hasattr(value, r) for r in _RICH):
        return value
    if hasattr(value, "item") and getattr(value, "size", 0) == 1:  # a numpy scalar
        return value.item()
    raise ValueError(f"note {name!r} must be a number, a string or Markdown, got {type(value).__name__}")


_RICH = ("_repr_markdown_", "_repr_html_", "_repr_mimebundle_")  # Markdown, tables, charts


def _current(caller: str) -> Context:
    if _context is None:
        raise RuntimeError(f"call widgets.page.setup(chapter, mode) before {caller}()")
    return _context


def _accepted(fn: Callable) -> set[str] | None:
    """The keyword names ``fn`` accepts; None when it takes ``**kwargs`` (then it accepts any)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: pass everything
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {n for n, p in sig.parameters.items() if p.kind is not inspect.Parameter.POSITIONAL_ONLY}


def _run_name(experiment: Callable) -> str:
    """``module.qualname``, with characters a file name cannot hold (``<locals>``) replaced by ``_``."""
    qualname = getattr(experiment, "__qualname__", None) or type(experiment).__name__
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{experiment.__module__}.{qualname}")
