"""Where and in what precision things run: one device helper, seeding, and the dtype policy.

Everything in the compute core takes a ``device`` argument and passes it to :func:`get_device`, so the
choice is made in one place: the argument, else ``$WIDGETS_DEVICE``, else cuda, then mps, then cpu.
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager

import numpy as np
import torch

MODES = ("quick", "full")


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Resolve the device to train on: argument > ``$WIDGETS_DEVICE`` > cuda > mps > cpu."""
    source = "device" if device is not None else "$WIDGETS_DEVICE"
    choice = device if device is not None else os.environ.get("WIDGETS_DEVICE") or None
    if choice is not None:
        try:
            dev = torch.device(choice)
        except (RuntimeError, TypeError):
            raise ValueError(f"{source} must name a device (cpu, cuda, cuda:N or mps), got {choice!r}") from None
        if dev.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"{source} must be cpu, cuda, cuda:N or mps, got {choice!r}")
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"{source}={choice!r} was asked for, but CUDA is not available here")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"{source}={choice!r} was asked for, but MPS is not available here")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def get_dtype(device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> torch.dtype:
    """The dtype policy: float32 for training everywhere (mps has no float64), unless asked otherwise.

    Kernels and other exact computations ask for float64 explicitly; training does not need it.
    """
    if dtype is not None:
        if get_device(device).type == "mps" and dtype == torch.float64:
            raise ValueError("dtype=float64 is not supported on mps; use float32")
        return dtype
    return torch.float32


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch, and return a fresh CPU generator seeded the same way."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_mode() -> str:
    """The run mode when a chapter does not set one: ``$WIDGETS_MODE``, else full with CUDA, else quick."""
    mode = os.environ.get("WIDGETS_MODE")
    if mode:
        if mode not in MODES:
            raise ValueError(f"$WIDGETS_MODE (the run mode) must be one of {MODES}, got {mode!r}")
        return mode
    return "full" if torch.cuda.is_available() else "quick"


def check_mode(mode: str | None) -> str:
    """Validate a mode string; ``None`` means :func:`default_mode`."""
    if mode is None:
        return default_mode()
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def in_book_build() -> bool:
    """True while the book builder executes chapters (it sets ``$WIDGETS_BOOK_BUILD``): the output is for a
    static page, where nothing needs a kernel."""
    return os.environ.get("WIDGETS_BOOK_BUILD") == "1"


@contextmanager
def one_cpu_thread(device: torch.device):
    """Run a training loop's CPU products on one thread. Small products gain nothing from a second thread,
    and on a busy machine waiting for a descheduled worker made a 30×30 batched product ~85× slower and the
    two-layer net's products ~3× slower (measured); one thread keeps the run time predictable."""
    if device.type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)
