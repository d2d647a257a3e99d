"""Compute core and presentation helpers for the book *Inductive Bias of Gradient Descent*.

Importing ``widgets`` loads only the compute core (torch and numpy). The presentation modules
(``widgets.charts``, ``widgets.explore``, ``widgets.claims``, ``widgets.book``) import altair, ipywidgets,
pandas or myst-nb, and are imported on their own.
"""

from . import data, models, train
from .device import default_mode, get_device, get_dtype, seed_everything
from .train import TrainResult, log_steps, sweep

__all__ = ["data", "models", "train", "default_mode", "get_device", "get_dtype", "seed_everything",
           "TrainResult", "log_steps", "sweep"]
