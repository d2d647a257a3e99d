"""Where and in what precision things run: one device helper, seeding, and the dtype policy.

Everything in the compute core takes a ``device`` argument and passes it to :func:`get_device`, so the
choice is made in one place: the argument, else ``$WIDGETS_DEVICE``, else cuda, then mps, then cpu.
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from pathlib import Path

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


def project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) holding the book's
    ``_toc.yml``, or None outside the book. A chapter runs with its own folder (``book/``) as the working
    directory under every executor, so this finds the book wherever it is checked out."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "_toc.yml").is_file():
            return folder
    return None


CPU_THREADS = 1
"""The book's one CPU thread policy: torch computes on one intra-op thread. The book's products are small,
so a second thread gains little even on an idle machine, and as soon as anything else wants a core, waiting
for a descheduled worker thread costs far more. Measured on 2 cores (the introduction's quick demo): idle,
3.1 s with 2 threads and 2.7 s with 1; beside one busy process, 8.3 s with 2 threads and 2.5 s with 1 (and a
30×30 batched product was ~85× slower with 2)."""


def use_cpu_threads(device: torch.device) -> None:
    """Apply :data:`CPU_THREADS` to this process when ``device`` is the CPU (a chapter's setup does)."""
    if torch.device(device).type == "cpu":
        torch.set_num_threads(CPU_THREADS)


@contextmanager
def one_cpu_thread(device: torch.device):
    """Run a block under :data:`CPU_THREADS` on the CPU, restoring the caller's setting afterwards: for the
    solvers' and the mean-field net's loops when called outside a chapter."""
    if device.type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(old)
