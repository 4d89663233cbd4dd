"""No legend covers data: every legend of the book's plots sits outside the plotting area."""

from __future__ import annotations

import ast
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sftrl.book import plots

PLOTS = Path(plots.__file__).parent


def _busy_axes():
    fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH, 3))
    x = np.linspace(0, 1, 50)
    for i in range(4):  # lines through every corner of the axes
        ax.plot(x, (x * (i + 1)) % 1, label=f"series {i}")
    ax.set(xlabel="a long x-axis label", ylabel="y")
    return fig, ax


def test_a_legend_below_covers_no_axes():
    fig, ax = _busy_axes()
    assert plots.legend_below(ax) is not None
    assert plots.legend_covers_data(fig) == []
    plt.close(fig)


def test_the_check_sees_a_legend_inside_the_axes():
    fig, ax = _busy_axes()
    ax.legend(loc="center")
    assert plots.legend_covers_data(fig) == ["legend ['series 0', 'series 1', 'series 2', 'series 3'] covers axes 0"]
    plt.close(fig)


def test_every_legend_of_the_plots_is_placed_outside_the_data():
    """An axes' ``.legend(...)`` call in the plot modules must anchor the legend outside the
    axes (``bbox_to_anchor``); everything else goes through :func:`plots.legend_below` or a
    figure legend placed "outside"."""
    bad = []
    for path in sorted(PLOTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "legend"):
                continue
            words = {k.arg: k.value for k in node.keywords}
            owner = ast.unparse(node.func.value)
            outside = "bbox_to_anchor" in words or (
                owner == "fig" and isinstance(words.get("loc"), ast.Constant) and str(words["loc"].value).startswith("outside"))
            if not outside:
                bad.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    assert bad == []


def test_in_a_constrained_layout_the_legend_goes_below_every_panel():
    fig, axes = plt.subplots(1, 3, figsize=(plots.PAGE_WIDTH, 2.5), layout="constrained")
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="a line")
        ax.plot([0, 1], [1, 0], label="another")
    plots.legend_below(axes[0], ncol=2)
    assert len(fig.legends) == 1 and plots.legend_covers_data(fig) == []
    widths = [ax.get_window_extent().width for ax in axes]
    assert max(widths) - min(widths) < 2  # the panels keep one width
    plt.close(fig)
