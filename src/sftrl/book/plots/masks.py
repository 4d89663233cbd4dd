"""Plots for the RLVR update-mask figure (arXiv 2511.08567, Figure 6 and the geometry pages).

Each helper takes precomputed numbers (from :mod:`sftrl.weights.masks`) and returns
``(fig, ax)`` or ``(fig, axes)``; nothing expensive happens here. Colours follow
:data:`sftrl.book.plots.COLORS`: a label starting with ``rl`` / ``sft`` / ``base`` gets that
model's colour, the random or independence baseline is ``COLORS["chance"]``.

Usage::

    from sftrl.book.plots import use_style
    from sftrl.book.plots import masks as pm
    use_style()
    fig, axes = pm.plot_consistency_images({"q": c_q, "k": c_k, "v": c_v, "o": c_o, "down": c_d})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from sftrl.errors import SftrlError
from sftrl.fmt import WEIGHTS
from sftrl.weights.masks import pool_image
from sftrl.book.plots import COLORS, PAGE_WIDTH, legend_below

#: fallback colours (Okabe-Ito, not used by COLORS' roles) for labels with no role
_EXTRA = ("#56B4E9", "#F0E442", "#009E73", "#CC79A7", "#000000")


def label_color(label: str, i: int = 0) -> str:
    """Colour for a series label: the role colour of its first word, else a fixed fallback."""
    head = str(label).lower().replace("-", " ").replace("_", " ").split()
    if head and head[0] in COLORS:
        return COLORS[head[0]]
    return _EXTRA[i % len(_EXTRA)]


def plot_consistency_images(
    images: Mapping[str, object],
    *,
    title: str | None = None,
    max_side: int = 512,
    columns: int = 2,
) -> tuple[Figure, np.ndarray]:
    """Consistency maps (e.g. one layer's q, k, v, o, down), ``columns`` to a row, with one
    colour bar: each map wide enough on the page to show its row and column stripes.

    ``images``: panel title -> 2-D per-entry update frequency in [0, 1]
    (:func:`sftrl.weights.masks.update_consistency`); rows are output units, columns input
    features. Returns the figure and the maps' axes, in the order of ``images``.
    """
    if not images:
        raise SftrlError("plot_consistency_images needs at least one image")
    if columns < 1:
        raise SftrlError(f"columns={columns}: must be at least 1")
    n = len(images)
    ncols = min(n, columns)
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(
        nrows, ncols, figsize=(PAGE_WIDTH, nrows * PAGE_WIDTH / ncols * 0.78), squeeze=False,
        layout="constrained",
    )
    cells = grid.ravel()
    axes = cells[:n]
    for ax in cells[n:]:
        ax.set_visible(False)
    mappable = None
    for i, (ax, (name, image)) in enumerate(zip(axes, images.items(), strict=True)):
        a = pool_image(image, max_side)
        mappable = ax.imshow(a, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.set_title(str(name))
        ax.grid(False)
        if i % ncols == 0:
            ax.set_ylabel("output unit")
        if i >= n - ncols:
            ax.set_xlabel("input feature")
    fig.colorbar(mappable, ax=list(axes), label="fraction of runs", shrink=0.9)
    if title:
        fig.suptitle(title)
    return fig, axes


def _grouped_bars(
    ax: Axes,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    colors: Sequence[str],
) -> np.ndarray:
    """Bars of each series side by side within each group; returns the bar centres (series, groups)."""
    x = np.arange(len(groups))
    n = max(len(series), 1)
    width = 0.8 / n
    centres = []
    for i, ((label, values), color) in enumerate(zip(series.items(), colors, strict=True)):
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, list(values), width=width, color=color, label=str(label))
        centres.append(pos)
    ax.set_xticks(x, [str(g) for g in groups])
    return np.array(centres)


def _groups_of(data: Mapping[str, Mapping[str, float]]) -> list[str]:
    groups: list[str] = []
    for per_group in data.values():
        for g in per_group:
            if g not in groups:
                groups.append(g)
    return groups


def plot_sparsity_bars(
    sparsity: Mapping[str, Mapping[str, float]],
    *,
    paper: float | None = None,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Update sparsity per matrix kind (or layer), one bar colour per model.

    ``sparsity``: model label (``"rl"``, ``"sft"``, ``"rl seed 2"``...) -> group -> sparsity
    (e.g. ``aggregate_rows(rows, by="kind", value="sparsity")``). ``paper`` draws the
    paper's number (B: ~0.92 for RL) as a reference line.
    """
    fig, ax = _fig_ax(ax)
    groups = _groups_of(sparsity)
    series = {m: [per.get(g, np.nan) for g in groups] for m, per in sparsity.items()}
    _grouped_bars(ax, groups, series, [label_color(m, i) for i, m in enumerate(series)])
    if paper is not None:
        ax.axhline(paper, color=COLORS["paper"], ls=":", lw=1, label="paper")
    ax.set_ylim(0, 1)
    ax.set_ylabel("update sparsity (1 - updated / total)")
    legend_below(ax)
    return fig, ax


def plot_consistency_vs_chance(
    observed: Mapping[str, float],
    expected: Mapping[str, float],
    *,
    ylabel: str = "fraction updated in every run",
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Observed agreement across runs next to its independence expectation, per group.

    ``observed`` / ``expected``: group (matrix kind, layer...) -> value, e.g.
    ``aggregate_rows(consistency_table(runs), by="kind", value="in_all")`` and the same for
    ``"in_all_expected"`` (or ``"jaccard"`` / ``"jaccard_expected"``).
    """
    fig, ax = _fig_ax(ax)
    groups = list(observed)
    series = {
        "observed": [observed[g] for g in groups],
        "chance (independent runs)": [expected.get(g, np.nan) for g in groups],
    }
    _grouped_bars(ax, groups, series, [COLORS["rl"], COLORS["chance"]])
    ax.set_ylabel(ylabel)
    legend_below(ax)
    return fig, ax


def plot_jaccard_vs_chance(
    jaccard,
    expected,
    *,
    names: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Pairwise Jaccard of K runs against the independent-masks value, one point per pair.

    ``jaccard`` / ``expected``: (K, K) matrices (:func:`sftrl.weights.masks.pairwise_jaccard`,
    :func:`sftrl.weights.masks.pairwise_jaccard_expected`). Points above the diagonal agree more
    than chance.
    """
    fig, ax = _fig_ax(ax)
    J, E = np.asarray(jaccard, dtype=float), np.asarray(expected, dtype=float)
    if J.shape != E.shape or J.ndim != 2 or J.shape[0] != J.shape[1]:
        raise SftrlError(f"need two square matrices of one shape, got {J.shape} and {E.shape}")
    iu = np.triu_indices(J.shape[0], k=1)
    ax.scatter(E[iu], J[iu], color=COLORS["rl"], zorder=3, label="run pairs")
    if names is not None:
        for i, j in zip(*iu, strict=True):
            ax.annotate(f"{names[i]}/{names[j]}", (E[i, j], J[i, j]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    hi = float(np.nanmax(np.concatenate([J[iu], E[iu], [1e-3]])))
    ax.plot([0, hi], [0, hi], color=COLORS["chance"], ls="--", label="chance")
    ax.set_xlabel("Jaccard of independent masks")
    ax.set_ylabel("observed Jaccard")
    legend_below(ax)
    return fig, ax


def plot_overlap_vs_chance(
    overlaps: Mapping[str, Mapping[str, float]],
    baselines: Mapping[str, float],
    *,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Update overlap with principal / low-magnitude regions, each bar with its chance level.

    ``overlaps``: model -> region (``"principal"``, ``"low"``) -> ``mask_overlap``;
    ``baselines``: model -> update density (the random overlap). A black tick over each bar
    marks its model's chance. B's claim: RL below chance on principal, above on low.
    """
    fig, ax = _fig_ax(ax)
    groups = _groups_of(overlaps)
    series = {m: [per.get(g, np.nan) for g in groups] for m, per in overlaps.items()}
    centres = _grouped_bars(ax, groups, series, [label_color(m, i) for i, m in enumerate(series)])
    width = 0.8 / max(len(series), 1)
    for k, model in enumerate(series):
        chance = baselines.get(model, np.nan)
        ax.hlines(
            [chance] * len(groups), centres[k] - width / 2, centres[k] + width / 2,
            color=COLORS["chance"], lw=2, label="chance (update density)" if k == 0 else None,
        )
    ax.set_ylabel("|update ∩ region| / |region|")
    legend_below(ax)
    return fig, ax


def plot_drift_angle(
    layers: Sequence[int],
    drift: Mapping[str, Sequence[float]],
    angle: Mapping[str, Sequence[float]],
) -> tuple[Figure, np.ndarray]:
    """Spectral drift and largest principal angle per layer, one line per model.

    ``drift`` / ``angle``: model -> one value per layer (e.g. ``aggregate_rows(drift_table(...),
    by="layer", value="drift", weighted=False)``). B: small for RL, large for SFT.
    """
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, PAGE_WIDTH * 0.4), layout="constrained")
    for ax, data, ylabel in (
        (axes[0], drift, "spectral drift (top-k σ)"),
        (axes[1], angle, "largest principal angle (°)"),
    ):
        for i, (model, values) in enumerate(data.items()):
            ax.plot(list(layers), list(values), marker="o", color=label_color(model, i),
                    label=str(model))
        ax.set_xlabel("layer")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
    legend_below(axes[0])
    return fig, axes


def plot_update_ratios(
    steps: Sequence[int],
    row_ratios,
    col_ratios,
    *,
    sort: bool = True,
    max_side: int = 512,
) -> tuple[Figure, np.ndarray]:
    """Row and column update ratios over training steps, as two heat maps.

    ``row_ratios`` (steps, d_out) and ``col_ratios`` (steps, d_in) from
    :func:`sftrl.weights.masks.update_ratios_over_steps`. ``sort`` orders rows / columns by their
    final ratio, so a pattern that forms early shows as a stable band.
    """
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, PAGE_WIDTH * 0.4), layout="constrained")
    mappable = None
    for ax, ratios, what in ((axes[0], row_ratios, "row"), (axes[1], col_ratios, "column")):
        a = np.asarray(ratios, dtype=float)
        if a.ndim != 2 or a.shape[0] != len(steps):
            raise SftrlError(f"{what} ratios must be (steps={len(steps)}, n), got {a.shape}")
        if sort:
            a = a[:, np.argsort(-a[-1], kind="stable")]
        a = pool_image(a, max_side)
        mappable = ax.imshow(
            a, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest",
            extent=(0, a.shape[1], len(steps) - 0.5, -0.5),
        )
        every = -(-len(steps) // 12)  # at most ~12 step labels
        ticks = list(range(0, len(steps), every))
        ax.set_yticks(ticks, [str(steps[i]) for i in ticks])
        ax.set_xlabel(f"{what} (sorted by final ratio)" if sort else what)
        ax.grid(False)
    axes[0].set_ylabel("step")
    fig.colorbar(mappable, ax=list(axes), label="fraction updated", shrink=0.9)
    return fig, axes


def _fig_ax(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(layout="constrained")


# --------------------------------------------------------------------------------------
# The regime sweep, the geometry disruption and the off-principal probe
# (inputs from sftrl.experiments.masks_study)
# --------------------------------------------------------------------------------------

#: line style per weight dtype in the regime plot
_DTYPE_STYLE = {"float32": "-", "bfloat16": "--"}
#: colour per probe mask: dense RL in the RL colour, the random mask in the chance colour
_PROBE_COLORS = {"none": COLORS["rl"], "random": COLORS["chance"], "off_principal": _EXTRA[2],
                 "principal": _EXTRA[0], "start": COLORS["sft"]}
_PROBE_LABELS = {"none": "dense RL", "off_principal": "off-principal", "principal": "principal",
                 "random": "random", "start": "start (SFT)"}


def plot_regime(rows: Sequence[Mapping[str, object]]) -> tuple[Figure, np.ndarray]:
    """Sparsity and principal / low-magnitude overlap (relative to chance) against the
    learning rate, one line per role (colour) and weight dtype (solid fp32, dashed bf16).

    ``rows``: :func:`sftrl.experiments.figure7.regime_table` (keys role, lr, dtype, sparsity,
    principal_ratio, low_ratio). A ratio of 1 is chance; missing ratios (a run that
    changed nothing) leave gaps.
    """
    if not rows:
        raise SftrlError("plot_regime needs at least one row")
    fig, axes = plt.subplots(1, 3, figsize=(PAGE_WIDTH, PAGE_WIDTH * 0.36), layout="constrained")
    series: dict[tuple[str, str], list[Mapping[str, object]]] = {}
    for r in rows:
        series.setdefault((str(r["role"]), str(r["dtype"])), []).append(r)
    panels = (("sparsity", "update sparsity"), ("principal_ratio", "principal overlap / chance"),
              ("low_ratio", "low-magnitude overlap / chance"))
    for ax, (key, ylabel) in zip(axes, panels, strict=True):
        for (role, dtype), rs in series.items():
            rs = sorted(rs, key=lambda r: float(r["lr"]))
            ax.plot([float(r["lr"]) for r in rs], [float(r[key]) for r in rs], marker="o",
                    ls=_DTYPE_STYLE.get(dtype, ":"), color=label_color(role), label=f"{role} {dtype}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(ylabel)
        if key == "sparsity":
            ax.set_ylim(0, 1.02)
        else:
            ax.axhline(1.0, color=COLORS["chance"], lw=1, ls=":")
            ax.set_ylim(bottom=0)
    legend_below(axes[0], ncol=4)
    return fig, axes


#: line style per role in the length plot, and its colours per learning rate (no yellow)
_ROLE_STYLE = {"rl": "-", "sft": "--"}
_LR_COLORS = (_EXTRA[0], _EXTRA[2], _EXTRA[3], COLORS["base"])


def plot_length(runs: Sequence[Mapping[str, object]], *, paper: float | None = None) -> tuple[Figure, np.ndarray]:
    """Update sparsity against training length: one row of panels per weight dtype, one
    line per run (colour: learning rate; solid RL, dashed SFT; seeds after the first fainter).

    Columns: cumulative sparsity (each checkpoint against the start, with paper B's RL
    sparsity ``paper`` dotted), per-step sparsity (each checkpoint against the previous
    kept one), and the mean distance from the start on log-log axes, with reference slopes
    1/2 (a random walk) and 1 (consistent updates) through the first point of the fastest run.

    ``runs``: :func:`sftrl.experiments.length_study.table` rows (keys role, lr, dtype,
    steps, sparsity, step_sparsity, drift).
    """
    if not runs:
        raise SftrlError("plot_length needs at least one run")
    dtypes = list(dict.fromkeys(str(r["dtype"]) for r in runs))
    lrs = sorted({float(r["lr"]) for r in runs}, reverse=True)
    color = {lr: _LR_COLORS[i % len(_LR_COLORS)] for i, lr in enumerate(lrs)}
    fig, axes = plt.subplots(len(dtypes), 3, figsize=(PAGE_WIDTH, PAGE_WIDTH * 0.33 * len(dtypes) + 0.4),
                             layout="constrained", squeeze=False)
    for row, dtype in zip(axes, dtypes, strict=True):
        rs = [r for r in runs if str(r["dtype"]) == dtype]
        for r in rs:
            steps = [int(x) for x in r["steps"]]
            label = f"{str(r['role']).upper()} lr {float(r['lr']):g}"
            first = not int(r.get("seed", 0))  # seeds share a label, one legend entry
            style = dict(color=color[float(r["lr"])], ls=_ROLE_STYLE.get(str(r["role"]), ":"), marker=".", ms=3,
                         label=label if first else f"_{label}", alpha=1.0 if first else 0.6)
            row[0].plot(steps, [float(x) for x in r["sparsity"]], **style)
            row[1].plot(steps, [float(x) for x in r["step_sparsity"]], **style)
            drift = [(s, float(d)) for s, d in zip(steps, r["drift"]) if float(d) > 0]
            if drift:
                row[2].plot(*zip(*drift), **style)
        moving = [r for r in rs if float(r["drift"][0]) > 0]
        if moving:
            top = max(moving, key=lambda r: float(r["drift"][0]))
            s0, d0, s1 = int(top["steps"][0]), float(top["drift"][0]), int(top["steps"][-1])
            for power, ls in ((0.5, ":"), (1.0, "-.")):
                row[2].plot([s0, s1], [d0, d0 * (s1 / s0) ** power], color=COLORS["chance"], ls=ls, lw=1,
                            label=f"slope {power:g}")
        row[2].set_xscale("log")
        row[2].set_yscale("log")
        if paper is not None:
            row[0].axhline(paper, color=COLORS["paper"], ls=":", lw=1, label="paper B, RL")
        row[2].xaxis.set_minor_formatter(NullFormatter())  # no crowded labels between the decades
        row[0].set_title(WEIGHTS.get(dtype, dtype), fontsize="small", loc="left")
        for ax, ylabel in zip(row, ("sparsity since start", "sparsity per interval", "mean |w - w0|")):
            ax.set_ylabel(ylabel)
        for ax in row[:2]:
            ax.set_ylim(0, 1.02)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    handles: dict[str, object] = {}
    for ax in axes.flat:  # one legend for every panel: legend_below's placement, over all axes' labels
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=4, fontsize="small",
               frameon=False)
    return fig, axes


def plot_geometry(groups: Mapping[str, Mapping[str, float]], *, ax: Axes | None = None) -> tuple[Figure, Axes]:
    """Jaccard of the original run's mask with the run from a changed start (permuted or
    rotated; mapped back and not), with another seed's run, and the chance level, per
    matrix group.

    ``groups``: :func:`sftrl.experiments.figure7.geometry_by_group`.
    """
    if not groups:
        raise SftrlError("plot_geometry needs at least one group")
    fig, ax = _fig_ax(ax)
    labels = {"mapped": "changed start, mapped back", "unmapped": "changed start, left in place",
              "other_seed": "another seed", "chance": "chance"}
    series = {labels[k]: [groups[g].get(k, np.nan) for g in groups] for k in labels}
    colors = [COLORS["rl"], _EXTRA[0], _EXTRA[2], COLORS["chance"]]
    _grouped_bars(ax, list(groups), series, colors)
    ax.set_ylabel("Jaccard with the original run's mask")
    ax.set_ylim(0, 1.05)
    ax.set_yticks(np.linspace(0, 1, 6))
    legend_below(ax, ncol=2)
    return fig, ax


def plot_reward_curves(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]], *,
                       ax: Axes | None = None) -> tuple[Figure, Axes]:
    """Mean reward per logged RL step, one line per gradient mask (``"none"`` = dense RL).

    ``curves``: :func:`sftrl.experiments.figure7.probe_curves`.
    """
    fig, ax = _fig_ax(ax)
    for i, (mask, (steps, reward)) in enumerate(curves.items()):
        ax.plot(list(steps), list(reward), marker=".", color=_PROBE_COLORS.get(mask, _EXTRA[i % len(_EXTRA)]),
                label=_PROBE_LABELS.get(mask, mask))
    ax.set_xlabel("RL step")
    ax.set_ylabel("mean reward")
    legend_below(ax, ncol=4)
    return fig, ax


def plot_probe_accuracy(rows: Sequence[Mapping[str, object]], *, ax: Axes | None = None) -> tuple[Figure, Axes]:
    """ID and OOD accuracy (Wilson 95% intervals) of the start and of each probe run's end.

    ``rows``: :func:`sftrl.experiments.figure7.probe_table` (keys mask, id, ood, id_ci, ood_ci).
    """
    if not rows:
        raise SftrlError("plot_probe_accuracy needs at least one row")
    fig, ax = _fig_ax(ax)
    masks_ = [str(r["mask"]) for r in rows]
    x = np.arange(len(masks_))
    for k, (split, color) in enumerate((("id", COLORS["id"]), ("ood", COLORS["ood"]))):
        acc = np.array([float(r[split]) for r in rows])
        ci = np.array([r[f"{split}_ci"] for r in rows], dtype=float)  # (masks, 2)
        err = np.vstack([acc - ci[:, 0], ci[:, 1] - acc])
        ax.bar(x - 0.2 + 0.4 * k, acc, width=0.4, color=color, yerr=err, capsize=2, label=split.upper())
    ax.set_xticks(x, [_PROBE_LABELS.get(m, m) for m in masks_], fontsize=8)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    legend_below(ax)
    return fig, ax
