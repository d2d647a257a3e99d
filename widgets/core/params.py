"""One base for every experiment's parameters: presets derived once, validation run once.

A topic module declares its parameters as a frozen dataclass deriving from :class:`Params`::

    @dataclass(frozen=True)
    class DemoParams(Params):
        FULL: ClassVar[dict] = {"steps": 10_000}   # full mode: the defaults, with these fields overridden

        steps: int = 1500                           # quick mode: the field defaults

        def check(self) -> None:
            check_int("steps", self.steps, 1, 10**7)

``DemoParams.preset(mode)`` gives the quick or full instance. Every construction (also through
:func:`dataclasses.replace`) checks each field's type against its annotation, then runs :meth:`Params.check`
(the ranges), so an experiment receives only valid parameters; :func:`experiment` checks the rest of an
experiment's arguments before it starts.
"""

from __future__ import annotations

import functools
import numbers
import types
import typing
from dataclasses import dataclass, fields
from typing import ClassVar

from widgets.core.checks import check_bool, check_device, check_float, check_instance, check_int, check_sequence
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
        self._check_types()
        self.check()

    def check(self) -> None:
        """Raise ValueError naming the field and its allowed range if a field is out of range. Override it
        (with :mod:`widgets.core.checks`): every field's range, the entries of its tuples, the constraints
        between fields, and :func:`~widgets.core.checks.check_memory` where sizes multiply. The types are
        already checked (:meth:`_check_types`); the base accepts every value of the right type."""

    def _check_types(self) -> None:
        """Each field against its annotation (TypeError or ValueError naming the field): ``int`` an integral
        number (stored as an int), ``float`` a number (its range, finiteness included, is check()'s),
        ``bool``, ``str``, ``tuple`` a list or tuple (stored as a tuple, so the parameters stay hashable),
        ``X | None`` None or an X."""
        for f in fields(self):
            value, kind = getattr(self, f.name), _field_types(type(self))[f.name]
            options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else ()
            if options:
                if value is None:
                    continue
                (kind,) = [k for k in options if k is not type(None)]
            if kind is bool:
                check_bool(f.name, value)
            elif kind is int:
                object.__setattr__(self, f.name, check_int(f.name, value))  # frozen: set once, here
            elif kind is float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
                check_float(f.name, value)  # a ValueError naming it; check() gives the range, NaN included
            elif kind is str:
                check_instance(f.name, value, str, "a string")
            elif kind is tuple:
                object.__setattr__(self, f.name, tuple(check_sequence(f.name, value)))

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


@functools.cache
def _field_types(cls: type) -> dict:
    return typing.get_type_hints(cls)


def experiment(fn):
    """Decorate an experiment ``fn(p, *, device=None, progress=False) -> dict`` so that its arguments are
    checked before any work: ``p`` must be an instance of the Params class its annotation names (its fields
    were checked when it was made), ``device`` is resolved by :func:`widgets.core.checks.check_device` (a
    bad one is a ValueError naming ``device`` or ``$WIDGETS_DEVICE``) and handed on resolved, and
    ``progress`` must be a bool. The body then trusts its arguments."""
    cls = typing.get_type_hints(fn)["p"]

    @functools.wraps(fn)
    def run(p, *, device=None, progress: bool = False) -> dict:
        check_instance("p", p, cls, f"a {cls.__name__} (the experiment's parameters)")
        check_bool("progress", progress)
        return fn(p, device=check_device("device", device), progress=progress)

    return run
