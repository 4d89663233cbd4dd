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
from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: E402
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


def legend_below(ax, *, ncol: int | None = None, fontsize: str | int = "small", **kwargs):
    """The axes' legend under its x-axis label, outside the data, so no legend covers a
    point (the book's one way of placing a legend inside a figure's own axes).

    Its top sits below everything drawn for the axes (ticks and labels), measured on the
    figure's renderer; in a figure with constrained layout it is a figure legend "outside
    lower center", for which the layout makes room. ``ncol`` defaults to up to three
    entries a row. None when the axes has nothing labelled.
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    fig = ax.figure
    ncol = ncol or min(len(labels), 3)
    if isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):  # it makes room for a figure legend
        return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=fontsize,
                          frameon=False, **kwargs)
    fig.draw_without_rendering()
    tight = ax.get_tightbbox(fig.canvas.get_renderer())
    bottom = ax.transAxes.inverted().transform((0, tight.y0))[1]  # below the tick and axis labels
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, bottom - 0.02),
                     ncol=ncol, fontsize=fontsize, frameon=False, **kwargs)


def legend_covers_data(fig) -> list[str]:
    """Which legends of ``fig`` overlap the plotting area of an axes ([] when none does):
    the check behind :func:`legend_below`, for tests."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    found = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for i, ax in enumerate(fig.axes):
            if ax.get_label() == "<colorbar>":
                continue
            if box.overlaps(ax.get_window_extent(renderer)):
                found.append(f"legend {[t.get_text() for t in legend.get_texts()]} covers axes {i}")
    return found
