"""Presentation for one chapter each: ``widgets/figures/<topic>.py`` holds the chapter's altair charts and its
live explorer, built on :mod:`widgets.charts` and :mod:`widgets.explore`. Compute lives in ``widgets/<topic>.py``.
"""
