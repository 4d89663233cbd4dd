"""``python -m sftrl.book``: execute, list or describe the book's notebooks (:mod:`sftrl.book.execute`)."""

import sys

from sftrl.book.execute import main

sys.exit(main())
