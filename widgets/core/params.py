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

A full-mode *dry run* (``python -m widgets.book --mode full --max-steps N``) keeps every size at its full value
and caps every iteration count at N: each class names its iteration fields in ``STEPS`` (training steps,
epochs, inner iterations), and :meth:`Params.capped` applies the cap. A size that cannot fit this CPU even for
a few steps is named in ``CPU_FIT``, and a CPU dry run shrinks it by the smallest factor that fits
(:meth:`Params.dry_run`).
"""

from __future__ import annotations

import functools
import numbers
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import ClassVar

import torch

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
    STEPS: ClassVar[tuple[str, ...]] = ()  # the fields that count iterations: a dry run caps them
    CPU_FIT: ClassVar[dict] = {}  # size field → how a CPU dry run may shrink it when a run does not fit

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

    def capped(self, max_steps: int):
        """These parameters with every iteration count capped at ``max_steps`` (sizes unchanged): the fields
        :meth:`cap` names, changed at once."""
        max_steps = check_int("max_steps", max_steps, 2, 10**8)
        return replace(self, **self.cap(max_steps))

    def cap(self, max_steps: int) -> dict:
        """The fields a cap of ``max_steps`` changes: each of ``STEPS`` at most ``max_steps``. A subclass whose
        iteration count is derived (a time horizon over a learning rate) or tied to one extends it."""
        return {f: min(getattr(self, f), max_steps) for f in self.STEPS}

    def dry_run(self, max_steps: int, device, fits: Callable[[Params], bool] | None = None) -> tuple[Params, dict]:
        """The parameters a dry run executes: :meth:`capped`; and on the CPU, where the capped run would not
        fit this machine (``fits(params)`` is False: too slow or too large by the experiment's cost model),
        the ``CPU_FIT`` sizes shrunk, one field after the other in their order, each by the smallest step
        that makes it fit, never below what :meth:`check` accepts. How a field shrinks (``CPU_FIT[name]``):
        ``"half"``: an int, or every int of a tuple, divided by 2, 4, 8, … (at least 1); ``"take"``: a tuple
        cut to its first half, quarter, … (seeds, or a sweep's values in increasing order); ``"minus"``: an int
        lowered by 1, 2, 3, … (an exponent, such as the d of a 2^d grid).

        Returns (params, {field: (full value, value used)}) for the fields it shrank. Raises ValueError if
        even the smallest sizes of every ``CPU_FIT`` field do not fit.
        """
        p = self.capped(max_steps)
        if torch.device(device).type != "cpu" or fits is None or fits(p):
            return p, {}
        shrunk = {}
        for name, how in self.CPU_FIT.items():
            full, k, best = getattr(p, name), 1, None
            while True:
                value = _shrink(full, how, k)
                if value == (best if best is not None else full):
                    break  # as small as this field goes
                try:
                    q = replace(p, **{name: value})
                except ValueError:
                    break  # below what the experiment accepts
                best = value
                if fits(q):
                    break
                k += 1
            if best is not None:
                p = replace(p, **{name: best})
                shrunk[name] = (full, best)
                if fits(p):
                    return p, shrunk
        raise ValueError(f"a dry run of {type(self).__name__} does not fit this CPU even with "
                         f"{', '.join(self.CPU_FIT) or 'no field'} shrunk ({shrunk}): name more fields in CPU_FIT")


SHRINKS = ("half", "take", "minus")


def _shrink(value, how: str, k: int):
    """The k-th smaller value of a size (k = 1, 2, …) by ``how``: see :meth:`Params.dry_run`."""
    if how == "half":
        return tuple(max(1, int(v) >> k) for v in value) if isinstance(value, tuple) else max(1, int(value) >> k)
    if how == "take":
        return value[:max(1, len(value) >> k)]
    if how == "minus":
        return max(1, int(value) - k)
    raise ValueError(f"CPU_FIT values must be one of {SHRINKS}, got {how!r}")


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
