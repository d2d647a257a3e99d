"""Argument checks that fail with a ValueError naming the argument and the allowed range (a TypeError for a
wrong type), before any work: numbers, choices, flags, sequences, tensors (shape, finiteness), devices, dtypes,
and the memory a computation would need against one budget, :data:`MEMORY_BUDGET_BYTES`."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import torch

MEMORY_BUDGET_BYTES = 32 * 10**9
"""The most memory (bytes) one call may ask for: a larger array fails with a ValueError naming the size and
the memory it would need (:func:`check_memory`), before any allocation, instead of an allocator error."""


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an int in [lo, hi], or raise ValueError naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or \
            value != int(value):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value}")
    return value


def check_float(name: str, value, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``value`` as a finite float in the given (closed by default) range, or raise ValueError."""
    try:
        if isinstance(value, bool | str):  # float() reads them (True → 1.0, "1e-3" → 0.001): not numbers here
            raise TypeError
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number{_range(lo, hi, lo_open, hi_open)}, got {value!r}") from None
    bad = not math.isfinite(value)
    bad |= lo is not None and (value <= lo if lo_open else value < lo)
    bad |= hi is not None and (value >= hi if hi_open else value > hi)
    if bad:
        raise ValueError(f"{name} must be a finite number{_range(lo, hi, lo_open, hi_open)}, got {value}")
    return value


def check_choice(name: str, value, choices: Iterable):
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is a bool, or raise TypeError naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_sequence(name: str, value, length: int | None = None, min_length: int = 0) -> list:
    """Return ``value`` (a list, tuple, range or 1-D tensor) as a list, or raise TypeError/ValueError naming
    ``name``; ``length``: the exact length it must have."""
    if isinstance(value, torch.Tensor) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, str | bytes | dict) or not isinstance(value, list | tuple | range):
        raise TypeError(f"{name} must be a list or tuple, got {type(value).__name__}")
    value = list(value)
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must have one entry per member ({length}), got {len(value)}")
    if len(value) < min_length:
        raise ValueError(f"{name} must have at least {min_length} entries, got {len(value)}")
    return value


def check_ints(name: str, values, lo: int | None = None, hi: int | None = None, min_length: int = 1) -> list[int]:
    """Return ``values`` (a list or tuple) as a list of ints in [lo, hi], at least ``min_length`` of them, or
    raise TypeError/ValueError naming ``name`` (an entry as ``name[i]``)."""
    return [check_int(f"{name}[i]", v, lo, hi) for v in check_sequence(name, values, min_length=min_length)]


def check_floats(name: str, values, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
                 hi_open: bool = False, min_length: int = 1) -> list[float]:
    """Return ``values`` (a list or tuple) as a list of finite floats in the given range, at least
    ``min_length`` of them, or raise TypeError/ValueError naming ``name`` (an entry as ``name[i]``)."""
    return [check_float(f"{name}[i]", v, lo, hi, lo_open, hi_open)
            for v in check_sequence(name, values, min_length=min_length)]


def check_instance(name: str, value, kind: type, what: str = ""):
    """Return ``value`` if it is an instance of ``kind``, else raise TypeError naming ``name`` (``what``: how
    the message describes ``kind``, default its name)."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what or 'a ' + kind.__name__}, got {type(value).__name__}")
    return value


def check_numbers(name: str, value, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``value`` as a real tensor (a tensor, or a list/tuple/array of numbers; converted straight to ``dtype``
    when given), else TypeError naming it. Shapes and finiteness are the caller's (or :func:`check_tensor`'s)."""
    if dtype is not None and isinstance(value, torch.Tensor) and (value.dtype == torch.bool or value.is_complex()):
        dtype = None  # refused below, by its own dtype
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be a tensor or a sequence of numbers, got a string")
    try:
        t = torch.as_tensor(value, dtype=dtype)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a tensor or a sequence of numbers, got {type(value).__name__}") from None
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
    return t


def check_tensor(name: str, value, *, ndim: int | tuple[int, ...] | None = None, shape: str = "",
                 finite: bool = True, min_size: int = 0) -> torch.Tensor:
    """Return ``value`` if it is a real (integer or floating) tensor with ``ndim`` dimensions (one of them, for
    a tuple), at least ``min_size`` entries along every axis, and only finite values (``finite``), else
    raise TypeError (not a tensor, or a bool or complex one) or ValueError naming ``name``. ``shape``: the
    expected shape as the docstring writes it (e.g. ``"[n, d]"``), for the message."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor{' of shape ' + shape if shape else ''}, "
                        f"got {type(value).__name__}")
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(f"{name} must be a real-valued (integer or floating) tensor, got dtype {value.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            want = shape or " or ".join(f"{k}-D" for k in allowed)
            raise ValueError(f"{name} must have shape {want}, got {tuple(value.shape)}")
    if min_size and any(s < min_size for s in value.shape):
        raise ValueError(f"{name} must have at least {min_size} entries along every axis"
                         f"{' (shape ' + shape + ')' if shape else ''}, got shape {tuple(value.shape)}")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must hold only finite values, got NaN or inf")
    return value


def check_memory(name: str, n_bytes: float, budget: int | None = None) -> int:
    """Raise ValueError naming ``name`` when a computation would need more than ``budget`` bytes (default
    :data:`MEMORY_BUDGET_BYTES`), with the memory needed in GB; return the bytes otherwise."""
    budget = MEMORY_BUDGET_BYTES if budget is None else budget
    if n_bytes > budget:
        raise ValueError(f"{name} is too large: it would need about {n_bytes / 1e9:.3g} GB of memory, over the "
                         f"budget of {budget / 1e9:.3g} GB (widgets.core.checks.MEMORY_BUDGET_BYTES)")
    return int(n_bytes)


def check_dtype(name: str, value) -> torch.dtype | None:
    """Return ``value`` if it is None or a floating torch dtype, else raise TypeError naming ``name``."""
    if value is not None and not (isinstance(value, torch.dtype) and value.is_floating_point):
        raise TypeError(f"{name} must be None or a floating torch dtype (e.g. torch.float32), got {value!r}")
    return value


def check_device(name: str, value) -> torch.device:
    """Resolve a device with :func:`widgets.core.env.get_device` (which names ``device`` or
    ``$WIDGETS_DEVICE`` in its errors); a wrong type is a TypeError naming ``name``."""
    from widgets.core.env import get_device

    if value is not None and not isinstance(value, str | torch.device):
        raise TypeError(f"{name} must be None, a device string or a torch.device, got {type(value).__name__}")
    return get_device(value)


def _range(lo, hi, lo_open=False, hi_open=False) -> str:
    if lo is None and hi is None:
        return ""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    return f" in {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
