"""How the book writes numbers: one convention for every page, rule and table.

Accuracies are fractions in [0, 1] everywhere in the library and are written as
percentages only here; differences of accuracies are written in percentage points.

Usage: ``from sftrl.fmt import pct, pts; pct(0.3931)  # '39.3%'``
"""

from __future__ import annotations

import math


#: how the book names a run's weight dtype (the length study's rows, sentence and plot)
WEIGHTS = {"float32": "fp32 masters", "bfloat16": "bf16 weights"}


def pct(x: float) -> str:
    """An accuracy as the book prints it: ``0.3931`` -> ``'39.3%'`` (``nan`` -> ``'n/a'``)."""
    return "n/a" if not math.isfinite(x) else f"{100 * x:.1f}%"


def pts(x: float) -> str:
    """An accuracy difference in percentage points, signed: ``-0.05`` -> ``'-5.0 points'``."""
    return "n/a" if not math.isfinite(x) else f"{round(100 * x, 1) + 0.0:+.1f} points"  # + 0.0: never "-0.0"
