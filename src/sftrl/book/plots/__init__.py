"""The book's one plotting style: a seaborn theme and a fixed colour per model.

Every figure uses :func:`use_style` and the colours below, so Base, SFT and RL look the
same on every page. The palette is the colour-blind-safe Okabe-Ito set. Plotting helpers
in the submodules take data and return ``(fig, ax)`` (or ``(fig, axes)``); they never
compute anything expensive.

Usage: ``from sftrl.book.plots import use_style, COLORS; use_style()``
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # deterministic, non-interactive: figures are files

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

#: one colour per model role across the whole book (Okabe-Ito, colour-blind safe)
COLORS: dict[str, str] = {
    "base": "#7f7f7f",  # grey
    "sft": "#0072B2",  # blue
    "rl": "#D55E00",  # vermillion
    "id": "#009E73",  # bluish green
    "ood": "#CC79A7",  # reddish purple
    "paper": "#000000",  # the paper's number, as a reference line
    "chance": "#E69F00",  # orange: a random / independence baseline
}

#: width of a figure that fills the page column, in inches
PAGE_WIDTH = 7.0


def use_style() -> None:
    """Apply the book's theme (call once per notebook, before plotting)."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.9)
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "figure.figsize": (PAGE_WIDTH, PAGE_WIDTH * 0.45),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "image.cmap": "viridis",
        }
    )
