"""Claims as data: one call glues a headline number, checks it, and records it for the report page.

    claim("spectral_rank_corr", rho, expect=at_least(0.8), paper="ρ ≈ 0.95", ref="rahaman2019",
          section="sb-low-freq")

* glues ``value`` under ``name`` (and the expectation under ``name + "_expect"``, as Markdown, so the prose
  never repeats a threshold by hand: ``{glue:md}`name_expect```);
* checks ``expect`` and raises :class:`ClaimError` naming the claim, the value and the expectation when it
  fails, so papermill and the book build fail loudly;
* records the claim in ``<claims dir>/<chapter>.json`` (see :func:`claims_dir`), rewritten atomically.

The record file of a chapter is a JSON object (documented in the README)::

    {"chapter": "intro", "title": …, "mode": "quick", "device": "cpu", "torch": "2.13.0",
     "started": "2026-11-28T10:00:00+00:00",
     "claims": [{"name": …, "value": …, "expect": "≥ 0.8", "passed": true, "paper": …, "ref": …,
                 "section": …, "elapsed_s": 12.3}]}

This module needs no plotting library; glueing uses myst-nb when it is installed.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from widgets.book.glue import glue
from widgets.core import env
from widgets.core.checks import check_int
from widgets.core.env import check_mode, get_device

_RANGE_FORMAT = "{:.6g}"


class ClaimError(AssertionError):
    """A claim of the book did not hold."""


@dataclass(frozen=True)
class Expect:
    """An expectation on a number: ``lo``/``hi`` bounds (None = unbounded), open or closed."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __post_init__(self):
        for name in ("lo", "hi"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int | float) or math.isnan(v)):
                raise ValueError(f"expectation bound {name} must be a number, got {v!r}")
        if self.lo is None and self.hi is None:
            raise ValueError("an expectation needs at least one bound")
        if self.lo is not None and self.hi is not None:
            if self.lo > self.hi or (self.lo == self.hi and (self.lo_open or self.hi_open)):
                raise ValueError(f"expectation range is empty: {self.text}")

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))

    @property
    def text(self) -> str:
        f = _RANGE_FORMAT.format
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{f(self.lo)}, {f(self.hi)}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '≥'} {f(self.lo)}"
        return f"{'<' if self.hi_open else '≤'} {f(self.hi)}"


def between(lo: float, hi: float) -> Expect:
    """lo ≤ value ≤ hi."""
    return Expect(lo=lo, hi=hi)


def at_least(x: float) -> Expect:
    return Expect(lo=x)


def at_most(x: float) -> Expect:
    return Expect(hi=x)


def above(x: float) -> Expect:
    return Expect(lo=x, lo_open=True)


def below(x: float) -> Expect:
    return Expect(hi=x, hi_open=True)


def positive() -> Expect:
    """A sign claim: value > 0."""
    return above(0.0)


def negative() -> Expect:
    """A sign claim: value < 0."""
    return below(0.0)


def as_expect(spec) -> Expect:
    """Accept an :class:`Expect`, a (lo, hi) pair, or a string such as ``">= 0.8"``, ``"< 1.2"``."""
    if isinstance(spec, Expect):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2:
        return between(*spec)
    if isinstance(spec, str):
        for op, make in ((">=", at_least), ("<=", at_most), (">", above), ("<", below)):
            if spec.strip().startswith(op):
                try:
                    return make(float(spec.strip()[len(op):]))
                except ValueError:
                    break
    raise ValueError(f"expect must be an Expect, a (lo, hi) pair or a string like '>= 0.8', got {spec!r}")


# ---------------------------------------------------------------- where records go

def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``_toc.yml``; else ``start``."""
    start = (start or Path.cwd()).resolve()
    return env.project_root(start) or start


def claims_dir() -> Path:
    """``$WIDGETS_CLAIMS_DIR``, else ``<project root>/_build/claims``."""
    env = os.environ.get("WIDGETS_CLAIMS_DIR")
    return Path(env) if env else project_root() / "_build" / "claims"


@dataclass
class Session:
    chapter: str
    title: str
    mode: str
    device: str
    started: str
    t0: float
    claims: list
    runs: list = field(default_factory=list)  # one entry per widgets.page.run(): experiment, cache, seconds
    max_steps: int | None = None  # a dry run: training capped at this many steps, claims recorded, not checked

    @property
    def path(self) -> Path:
        """``<claims dir>/<chapter>.json``; a dry run's record goes to ``<claims dir>/dry-run/``, apart from
        the results the report reads."""
        folder = claims_dir() if self.max_steps is None else claims_dir() / "dry-run"
        return folder / f"{self.chapter}.json"

    def write(self) -> None:
        record = {"chapter": self.chapter, "title": self.title, "mode": self.mode, "device": self.device,
                  "torch": torch.__version__, "started": self.started, "max_steps": self.max_steps,
                  "claims": self.claims, "runs": self.runs}
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.chapter}-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1, ensure_ascii=False, allow_nan=False)  # strict JSON
        os.replace(tmp, self.path)


_session: Session | None = None


def start(chapter: str, mode: str | None = None, device=None, title: str = "",
          max_steps: int | None = None) -> Session:
    """Begin a chapter's run: its record file is reset, and elapsed times count from now. ``max_steps``: a
    dry run (training capped at that many steps), whose claims are recorded as not checked."""
    global _session
    if not chapter or not chapter.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"chapter must be a file stem (letters, digits, _ and -), got {chapter!r}")
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, 2, 10**8)
    _session = Session(chapter=chapter, title=title or chapter, mode=check_mode(mode),
                       device=str(get_device(device)),
                       started=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                       t0=time.perf_counter(), claims=[], max_steps=max_steps)
    _session.write()
    return _session


@dataclass
class Claim:
    name: str
    value: float
    expect: str
    passed: bool
    paper: str | None
    ref: str | None
    section: str | None
    elapsed_s: float
    error: str | None = None  # why the value could not be computed, when it could not

    def _repr_markdown_(self) -> str:
        mark = "✓" if self.passed else "✗ FAILED:"
        paper = f"; paper: {self.paper}" if self.paper else ""
        return f"{mark} **{self.name}** = {_fmt(self.value)} (claim: {self.expect}{paper})"


@dataclass
class DryRunClaim(Claim):
    """A claim of a dry run: computed, recorded, not checked."""

    skipped: str | None = None

    def _repr_markdown_(self) -> str:
        value = "not computable" if self.value is None else _fmt(self.value)
        return f"– **{self.name}** = {value} (not checked: {self.skipped}; claim: {self.expect})"


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def claim(name: str, value, expect, *, paper: str | None = None, ref: str | None = None,
          section: str | None = None) -> Claim:
    """Glue ``value`` as ``name``, check it against ``expect``, record it, and raise if it fails.

    ``value``: a number, or a function of no arguments that computes it. A value that cannot be computed
    (the function raises an arithmetic, value, index or runtime error, e.g. a slope over too few points after a
    short or diverged run) fails the claim like a value out of range: recorded with the reason, then
    :class:`ClaimError` naming the claim and why.
    ``expect``: :func:`between`, :func:`at_least`, :func:`above`, … or a (lo, hi) pair or ``">= 0.8"``.
    ``paper``: the paper's own figure, as text. ``ref``: its bibtex key. ``section``: the MyST label of the
    section that makes the claim (the report links to it).
    """
    _check_name(name, "claim")
    exp = as_expect(expect)
    value, why, err = _evaluate(name, value)
    if _session.max_steps is not None:
        return _dry_run_claim(name, value, exp, why, paper=paper, ref=ref, section=section)
    if why is not None:
        _record(asdict(Claim(name=name, value=None, expect=exp.text, passed=False, paper=paper, ref=ref,
                             section=section, elapsed_s=round(time.perf_counter() - _session.t0, 2), error=why)))
        raise ClaimError(f"claim {name!r} failed: its value could not be computed ({why}) "
                         f"(chapter {_session.chapter}, mode {_session.mode}, device {_session.device})") from err
    finite = math.isfinite(value)
    passed = finite and exp.holds(value)  # inf would pass at_least(…): a value that is not finite never holds
    record = Claim(name=name, value=value if finite else None, expect=exp.text, passed=passed, paper=paper,
                   ref=ref, section=section, elapsed_s=round(time.perf_counter() - _session.t0, 2))
    _record(asdict(record))
    if finite:
        _glue(name, value, exp.text)
    if not passed:
        why = "is NaN" if math.isnan(value) else ("is not finite" if not finite else f"is not {exp.text}")
        raise ClaimError(f"claim {name!r} failed: value {_fmt(value)} {why} "
                         f"(chapter {_session.chapter}, mode {_session.mode}, device {_session.device})")
    return record


def dry_run_reason() -> str | None:
    """Why claims are not checked in this chapter's run (a dry run), or None when they are."""
    if _session is None or _session.max_steps is None:
        return None
    return f"dry run (every training loop capped at {_session.max_steps} steps)"


def _evaluate(name: str, value) -> tuple[float | None, str | None, BaseException | None]:
    """A claim's value as a float: a function of no arguments is called first, and an arithmetic, value,
    index or runtime error computing it gives (None, why, the error). Raises ValueError for a value that is
    not a single number (a programming error, in a real run and a dry run alike)."""
    if callable(value):
        try:
            value = value()
        except (ArithmeticError, ValueError, IndexError, RuntimeError) as err:
            return None, f"{type(err).__name__}: {err}", err
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"value of claim {name!r} must be a single number, got shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool):
        raise ValueError(f"value of claim {name!r} must be a number (state a boolean as 0/1 with at_least(1))")
    try:
        return float(value), None, None
    except (TypeError, ValueError):
        raise ValueError(f"value of claim {name!r} must be a number, got {value!r}") from None


def _dry_run_claim(name: str, value: float | None, exp: Expect, why: str | None, **where) -> Claim:
    """A claim in a dry run: its value is computed where it can be (so the code that computes it runs) and
    glued, but it is recorded as not checked and never fails: capped training proves nothing either way."""
    if value is not None and not math.isfinite(value):
        value = None
    reason = dry_run_reason()
    _record({"name": name, "value": value, "expect": exp.text, "passed": None, **where, "skipped": reason,
             "error": why, "elapsed_s": round(time.perf_counter() - _session.t0, 2)})
    if value is not None:
        _glue(name, value, exp.text)
    return DryRunClaim(name=name, value=value, expect=exp.text, passed=None, elapsed_s=0.0, error=why,
                       skipped=reason, **where)


def skip(name: str, reason: str, *, paper: str | None = None, ref: str | None = None,
         section: str | None = None) -> None:
    """Record that claim ``name`` is not checked in this run, and why (e.g. "full mode only"), so the report
    lists it as not checked instead of as missing. Nothing is glued and nothing can fail."""
    _check_name(name, "skip")
    if not reason:
        raise ValueError("skip needs a reason")
    _record({"name": name, "value": None, "expect": None, "passed": None, "paper": paper, "ref": ref,
             "section": section, "skipped": reason, "elapsed_s": round(time.perf_counter() - _session.t0, 2)})


def record_run(experiment: str, slot: str, cache: str, seconds: float, compute_s: float | None,
               cost: dict | None = None, asked: str | None = None) -> None:
    """Record one experiment run of the chapter: its name, ``slot`` (a digest of its parameters), what the
    cache did (``hit``, ``miss``, …), the seconds this call took, the seconds the stored result took to
    compute, and ``cost``: its estimate before it ran (:meth:`widgets.core.cost.Cost.record`, of the parameters
    asked for, which a dry run then caps); in a dry run, ``asked``: the slot of the uncapped run it stands for.
    Running the same experiment with the same parameters again replaces its entry."""
    if _session is None:
        raise RuntimeError("call widgets.page.setup(chapter, mode) (or claims.start) before run()")
    entry = {"experiment": experiment, "slot": slot, "cache": cache, "seconds": round(seconds, 3),
             "compute_s": None if compute_s is None else round(compute_s, 3), "cost": cost,
             **({"asked": asked} if asked is not None else {}),
             "elapsed_s": round(time.perf_counter() - _session.t0, 2)}
    _session.runs = [r for r in _session.runs if (r["experiment"], r["slot"]) != (experiment, slot)] + [entry]
    _session.write()


def _check_name(name: str, caller: str) -> None:
    if _session is None:
        raise RuntimeError(f"call widgets.page.setup(chapter, mode) (or claims.start) before {caller}()")
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"name must be an identifier (letters, digits and _), got {name!r}")


def _record(entry: dict) -> None:
    """Add a claim's record to the session's file; a re-run cell replaces its claim rather than listing it
    twice."""
    _session.claims = [c for c in _session.claims if c["name"] != entry["name"]] + [entry]
    _session.write()


def _glue(name: str, value: float, expect_text: str) -> None:
    try:
        from IPython.display import Markdown
    except ImportError:  # a bare compute machine: the check and the record still happen
        return
    glue(name, value)
    glue(f"{name}_expect", Markdown(expect_text))
