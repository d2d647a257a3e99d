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

from widgets.core.checks import check_dtype

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
    if check_dtype("dtype", dtype) is not None:
        if get_device(device).type == "mps" and dtype == torch.float64:
            raise ValueError("dtype=float64 is not supported on mps; use float32")
        return dtype
    return torch.float32


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch, and return a fresh CPU generator seeded the same way."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2^63), got {seed!r}")
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
    if start is not None and not isinstance(start, str | Path):
        raise TypeError(f"start must be None, a str or a Path, got {type(start).__name__}")
    start = Path(start or Path.cwd()).resolve()
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
    if _device_type(device) == "cpu":
        torch.set_num_threads(CPU_THREADS)


@contextmanager
def one_cpu_thread(device: torch.device):
    """Run a block under :data:`CPU_THREADS` on the CPU, restoring the caller's setting afterwards: for the
    solvers' and the mean-field net's loops when called outside a chapter."""
    if _device_type(device) != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _device_type(device) -> str:
    """The type of any torch device (``meta`` included: only whether it is the CPU matters here)."""
    if not isinstance(device, str | torch.device):
        raise TypeError(f"device must be a device string or a torch.device, got {type(device).__name__}")
    try:
        return torch.device(device).type
    except RuntimeError:
        raise ValueError(f"device must name a device (cpu, cuda, cuda:N, mps, ...), got {device!r}") from None
