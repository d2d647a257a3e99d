"""Presentation: :mod:`~widgets.figures.charts` (theme, renderer, the slider-over-a-sweep figure) and
:mod:`~widgets.figures.explore` (live explorers), then one module per chapter with its charts and explorer.
Compute lives in ``widgets/core/`` and ``widgets/<topic>.py``.
"""
