"""The book pipeline: execute the chapters (:mod:`~widgets.book.build`), record and check their claims
(:mod:`~widgets.book.claims`) and write the reproducibility report (:mod:`~widgets.book.report`).

Run it as ``python -m widgets.book``.
"""
