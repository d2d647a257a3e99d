"""What the hidden first cell of every chapter calls: mode, seed, device, renderer, claims, one visible note."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from . import charts, claims
from .device import check_mode, get_device, seed_everything


@dataclass(frozen=True)
class Context:
    chapter: str
    mode: str
    device: torch.device
    seed: int
    progress: bool = True  # show tqdm bars: live in JupyterLab, never on the static page (they are widgets)


def in_book_build() -> bool:
    """True while the book builder executes chapters (it sets ``$WIDGETS_BOOK_BUILD``): the output is for a
    static page, where nothing needs a kernel."""
    return os.environ.get("WIDGETS_BOOK_BUILD") == "1"


def setup(chapter: str, mode: str | None = None, *, seed: int = 0, device=None, title: str = "") -> Context:
    """Seed everything, pick the device, enable the chart theme and renderer, start the chapter's claim
    record, and show one line saying how this page ran."""
    mode = check_mode(mode)
    dev = get_device(device)
    seed_everything(seed)
    charts.enable()
    claims.start(chapter, mode, dev, title=title)
    try:
        from IPython.display import Markdown, display

        other = "full" if mode == "quick" else "quick"
        display(Markdown(
            f"<small>This page ran in **{mode}** mode on **{dev.type}** (torch {torch.__version__}, seed {seed}). "
            f'To run it at {other} scale, set `mode = "{other}"` in the parameters cell, or '
            f"`WIDGETS_MODE={other}` in the environment.</small>"))
    except ImportError:
        pass
    return Context(chapter=chapter, mode=mode, device=dev, seed=seed, progress=not in_book_build())
