"""Absolute paths of the project, computed from the package location.

papermill and the book run notebooks in different working folders, so nothing in the
project uses a relative path. ``SFTRL_DATA`` overrides where generated data lives (tests
point it at a temporary folder).

Usage: ``from sftrl import paths; paths.RUNS / run_id``
"""

from __future__ import annotations

import os
from pathlib import Path

SRC = Path(__file__).resolve().parent  #: src/sftrl
ROOT = SRC.parent.parent  #: the repository root
NOTEBOOKS = ROOT / "notebooks"  #: jupytext sources, one per figure
BOOK = ROOT / "book"  #: prose pages and _toc.yml
BUILD = ROOT / "_build"  #: executed notebooks, the site, screenshots (generated)
BENCH = ROOT / "bench"  #: benchmark scripts
BASE = ROOT / "data" / "base"  #: the committed, frozen pretrained base (see data/README.md)
DATA = Path(os.environ.get("SFTRL_DATA", ROOT / "data")).resolve()  #: generated data root
RUNS = DATA / "runs"  #: one folder per training run, keyed by its configuration
CACHE = DATA / "cache"  #: derived caches (solver tables, SVDs), safe to delete
