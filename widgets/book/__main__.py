"""``python -m widgets.book``: build the book (see :mod:`widgets.book.build`)."""

import sys

from widgets.book.build import main

sys.exit(main())
