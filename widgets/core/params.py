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
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from widgets.core.env import check_mode


@dataclass(frozen=True)
class Params:
    """Base of the experiments' frozen parameter dataclasses.

    ``FULL``: the fields full mode overrides (the paper's scale); every other field keeps its default, which
    is the quick mode's value. A subclass whose full sizes are computed from other fields overrides
    :meth:`full_overrides` instead.
    """

    FULL: ClassVar[dict] = {}

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
