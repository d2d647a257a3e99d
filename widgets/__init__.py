"""Compute core, chapter science and presentation for the book *Inductive Bias of Gradient Descent*.

The layers are folders, and imports flow one way (a test checks it):

* ``widgets/core/``: torch and numpy only. Datasets, families of networks, the one trainer, the cache,
  kernels, statistics.
* ``widgets/<topic>.py``: one chapter's science each (parameters and experiments returning plain dicts),
  built on the core.
* ``widgets/figures/``: altair charts and ipywidgets explorers, one module per chapter.
* ``widgets/page.py``: what a chapter calls (``setup``, ``run``, ``note``, ``claim``), and
  ``widgets/book/``: the build, the claim records and the reproducibility report.

Importing ``widgets`` loads only the compute core.
"""

from widgets.core import data, models, train
from widgets.core.env import default_mode, get_device, get_dtype, seed_everything
from widgets.core.train import TrainResult, log_steps

__all__ = ["data", "models", "train", "default_mode", "get_device", "get_dtype", "seed_everything",
           "TrainResult", "log_steps"]
