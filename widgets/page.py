"""What the hidden first cell of every chapter calls: mode, seed, device, renderer, claims, one visible note."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from widgets.book import claims
from widgets.book.claims import above, at_least, at_most, below, between, claim, skip
from widgets.core.env import check_mode, get_device, in_book_build, seed_everything
from widgets.figures import charts

__all__ = ["Context", "setup", "claim", "skip", "above", "at_least", "at_most", "below", "between"]


@dataclass(frozen=True)
class Context:
    chapter: str
    mode: str
    device: torch.device
    seed: int
    progress: bool = True  # show tqdm bars: live in JupyterLab, never on the static page (they are widgets)


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
