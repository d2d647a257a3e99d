"""One base for every experiment's parameters: presets derived once, validation run once.

A topic module declares its parameters as a frozen dataclass deriving from :class:`Params`::

    @dataclass(frozen=True)
    class DemoParams(Params):
        FULL: ClassVar[dict] = {"steps": 10_000}   # full mode: the defaults, with these fields overridden

        steps: int = 1500                           # quick mode: the field defaults

        def check(self) -> None:
            check_int("steps", self.steps, 1, 10**7)

``DemoParams.preset(mode)`` gives the quick or full instance, and :meth:`Params.check` runs on every
construction (also through :func:`dataclasses.replace`), so an experiment receives only valid parameters.

A full-mode *dry run* (``python -m widgets.book --mode full --max-steps N``) keeps every size at its full value
and caps every iteration count at N: each class names its iteration fields in ``STEPS`` (training steps,
epochs, inner iterations), and :meth:`Params.capped` applies the cap. A size that cannot fit this CPU even for
a few steps is named in ``CPU_FIT`` with the value a CPU dry run uses instead (:meth:`Params.dry_run`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import ClassVar

import torch

from widgets.core.checks import check_int
from widgets.core.env import check_mode


@dataclass(frozen=True)
class Params:
    """Base of the experiments' frozen parameter dataclasses.

    ``FULL``: the fields full mode overrides (the paper's scale); every other field keeps its default, which
    is the quick mode's value. A subclass whose full sizes are computed from other fields overrides
    :meth:`full_overrides` instead.
    """

    FULL: ClassVar[dict] = {}
    STEPS: ClassVar[tuple[str, ...]] = ()  # the fields that count iterations: a dry run caps them
    CPU_FIT: ClassVar[dict] = {}  # size fields a dry run on the CPU shrinks (full value too big for a CPU)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ValueError naming the field and its allowed range if a field is out of range. Override it
        (with :mod:`widgets.core.checks`); the base accepts everything."""

    @classmethod
    def full_overrides(cls) -> dict:
        """The fields full mode changes, as {name: value}: ``FULL`` unless a subclass computes them."""
        return dict(cls.FULL)

    @classmethod
    def preset(cls, mode: str | None = None):
        """The parameters of a run mode: ``"quick"`` → the defaults, ``"full"`` → the defaults with
        :meth:`full_overrides` applied; ``None`` → :func:`widgets.core.env.default_mode`."""
        if check_mode(mode) == "quick":
            return cls()
        overrides = cls.full_overrides()
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{cls.__name__}.FULL names fields it does not have: {sorted(unknown)}")
        return cls(**overrides)

    def capped(self, max_steps: int):
        """These parameters with every iteration count of ``STEPS`` capped at ``max_steps`` (sizes unchanged).
        A subclass whose iteration count is derived (e.g. a time horizon over a learning rate) extends it."""
        max_steps = check_int("max_steps", max_steps, 1, 10**8)
        return replace(self, **{f: min(getattr(self, f), max_steps) for f in self.STEPS})

    def dry_run(self, max_steps: int, device) -> tuple[Params, dict]:
        """The parameters a dry run executes: :meth:`capped`, and on the CPU the ``CPU_FIT`` sizes where the
        full value is larger. Returns (params, {field: (full value, value used)}) for the sizes it shrank."""
        p = self.capped(max_steps)
        if torch.device(device).type != "cpu":
            return p, {}
        shrunk = {f: (getattr(p, f), v) for f, v in self.CPU_FIT.items() if _larger(getattr(p, f), v)}
        return replace(p, **{f: v for f, (_, v) in shrunk.items()}), shrunk


def _larger(full, fit) -> bool:
    """Whether a full-size value exceeds the CPU-fit one (numbers, or tuples compared by length then max)."""
    if isinstance(full, tuple):
        return (len(full), max(full, default=0)) > (len(fit), max(fit, default=0))
    return full > fit
