"""``python -m sftrl``: see :mod:`sftrl.cli`."""

import sys

from sftrl.cli import main

sys.exit(main())
