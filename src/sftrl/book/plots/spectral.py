"""Plots for the singular-value figures of arXiv 2509.12235 (Figures 2-5 of the book).

Each helper takes precomputed numbers (from :mod:`sftrl.weights.spectral`, :mod:`sftrl.weights.edits` and
the evaluations) and returns ``(fig, ax)`` or ``(fig, axes)``; nothing expensive happens
here. A series label whose first word is a role of :data:`sftrl.book.plots.COLORS` (``base``,
``sft``, ``rl``, ``id``, ``ood``, ...) gets that role's colour everywhere.

Usage::

    from sftrl.book.plots import use_style
    from sftrl.book.plots import spectral as ps
    use_style()
    fig, axes = ps.plot_layer_spectra(figure2.data(cfg).spectra, layer=2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from sftrl.errors import SftrlError
from sftrl.book.plots import COLORS, PAGE_WIDTH, legend_below
from sftrl.book.tables import MISSING, pct_interval

#: Okabe-Ito colours not taken by a role, for labels without one
_FALLBACK = ("#56B4E9", "#F0E442", "#000000", "#999999")


def role_color(label: str, i: int = 0) -> str:
    """The role colour of ``label``'s first word (``"rl (seed 1)"`` -> RL), else a fallback."""
    words = str(label).lower().replace("-", " ").replace("_", " ").split()
    return COLORS[words[0]] if words and words[0] in COLORS else _FALLBACK[i % len(_FALLBACK)]


def _as_1d(x: object, what: str) -> np.ndarray:
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)  # type: ignore[union-attr]
    if a.ndim != 1:
        raise SftrlError(f"{what} must be 1-D, got shape {a.shape}")
    return a


def _interval_arrays(series: object, what: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``values`` or ``(values, lo, hi)`` -> arrays (lo, hi are absolute bounds)."""
    if isinstance(series, tuple) and len(series) == 3:
        v, lo, hi = (_as_1d(s, what) for s in series)
        if not (v.shape == lo.shape == hi.shape):
            raise SftrlError(f"{what}: values and interval bounds differ in length")
        return v, lo, hi
    return _as_1d(series, what), None, None


def plot_grouped_bars(
    groups: Sequence[str],
    series: Mapping[str, object],
    *,
    ax: Axes | None = None,
    ylabel: str = "accuracy",
) -> tuple[Figure, Axes]:
    """Grouped bars with interval whiskers (arXiv 2509.12235, Fig. 5: one group per model).

    ``series[label]`` is ``values`` or ``(values, lo, hi)`` with one value per group, e.g.
    ``{"id": (acc_id, lo_id, hi_id), "ood": ...}`` over ``["rl", "sft", "rl + sft dirs"]``.
    """
    if not groups or not series:
        raise SftrlError("grouped bars need at least one group and one series")
    fig, ax = _fig_ax(ax)
    x = np.arange(len(groups))
    width = 0.8 / len(series)
    for i, (label, s) in enumerate(series.items()):
        v, lo, hi = _interval_arrays(s, label)
        if v.size != len(groups):
            raise SftrlError(f"series {label!r} has {v.size} values for {len(groups)} groups")
        pos = x - 0.4 + width * (i + 0.5)
        err = None if lo is None else np.vstack([v - lo, hi - v])
        ax.bar(pos, v, width, yerr=err, capsize=2, color=role_color(label, i), label=label)
    ax.set_xticks(x, list(groups))
    ax.set_ylabel(ylabel)
    legend_below(ax)
    return fig, ax


def _fig_ax(ax: Axes | None, size: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig, ax = plt.subplots(figsize=size or (PAGE_WIDTH * 0.6, PAGE_WIDTH * 0.4))
    return fig, ax


# --------------------------------------------------------------------------------------------
# Figures 2-5 from the rows of sftrl.experiments.models
# --------------------------------------------------------------------------------------------
#: colour and line style of each checkpoint pair: what changed is SFT (blue) or RL (vermillion);
#: Base -> RL, both stages together, is dashed vermillion
PAIR_STYLES: dict[str, tuple[str, str]] = {
    "base_sft": (COLORS["sft"], "-"),
    "sft_rl": (COLORS["rl"], "-"),
    "base_rl": (COLORS["rl"], "--"),
}
#: column titles of :func:`plot_pair_heatmaps` for the statistics of ``spectral.compare`` rows
STAT_TITLES: dict[str, str] = {
    "mean_rel_dsigma": r"mean $|\Delta\sigma|/\sigma$ (%)",
    "spectral_drift": "top-k spectral drift (%)",
    "mean_angle_u": "mean angle, left (°)",
    "mean_angle_v": "mean angle, right (°)",
    "max_angle_u": "largest angle, left (°)",
    "max_angle_v": "largest angle, right (°)",
}


def _pair_label(rows: Sequence[Mapping[str, object]], pair: str) -> str:
    return next((str(r["label"]) for r in rows if r.get("pair") == pair and "label" in r), pair)


def plot_layer_spectra(
    spectra: Mapping[str, Mapping[str, object]],
    *,
    layer: int | str = "",
    reference: str | None = None,
    per_row: int = 4,
) -> tuple[Figure, np.ndarray]:
    """One layer's spectra, readable for all seven matrix types: for each type, sigma_i of
    every checkpoint (log axis) and, underneath, the relative change
    ``(sigma_role - sigma_reference) / sigma_reference`` in percent.

    ``spectra[role][kind]``, singular values in descending order (reference = the first role
    unless named). Types are laid out ``per_row`` to a row (attention, then MLP for a
    Llama block). arXiv 2509.12235, Fig. 2.
    """
    from matplotlib.ticker import NullFormatter

    roles = list(spectra)
    if not roles:
        raise SftrlError("no spectra to plot")
    reference = reference or roles[0]
    if reference not in spectra:
        raise SftrlError(f"reference {reference!r} is not among the spectra {roles}")
    kinds = list(spectra[reference])
    n_rows = -(-len(kinds) // per_row)
    fig, axes = plt.subplots(2 * n_rows, per_row, squeeze=False, layout="constrained",
                             figsize=(PAGE_WIDTH, 2.9 * n_rows + 0.4),
                             gridspec_kw={"height_ratios": [1.3, 1.0] * n_rows})
    for j, kind in enumerate(kinds):
        top, bottom = axes[2 * (j // per_row), j % per_row], axes[2 * (j // per_row) + 1, j % per_row]
        S_ref = _as_1d(spectra[reference][kind], f"sigma of {reference}/{kind}")
        x = np.arange(1, S_ref.size + 1)
        for i, role in enumerate(roles):
            S = _as_1d(spectra[role][kind], f"sigma of {role}/{kind}")
            top.plot(x, S, color=role_color(role, i), lw=1.2, label=role,
                     ls="--" if i == len(roles) - 1 and len(roles) > 2 else "-")
            if role != reference:
                with np.errstate(divide="ignore", invalid="ignore"):
                    rel = 100 * (S - S_ref) / S_ref
                bottom.plot(x, rel, color=role_color(role, i), lw=0.9, label=role)
        bottom.axhline(0.0, color=role_color(reference), lw=0.8)
        top.set_yscale("log")
        top.yaxis.set_minor_formatter(NullFormatter())
        top.set_title(kind)
        top.tick_params(labelsize=7, labelbottom=False)
        bottom.tick_params(labelsize=7)
        bottom.set_xlabel("index i", fontsize=8)
    for r in range(n_rows):
        axes[2 * r, 0].set_ylabel(r"$\sigma_i$")
        axes[2 * r + 1, 0].set_ylabel(r"$\Delta\sigma_i/\sigma_i$ (%)")
    for j in range(len(kinds), n_rows * per_row):  # empty slots of the last row
        axes[2 * (j // per_row), j % per_row].set_axis_off()
        axes[2 * (j // per_row) + 1, j % per_row].set_axis_off()
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=len(names), fontsize="small")
    if layer != "":
        fig.suptitle(f"layer {layer} (changes relative to {reference})", fontsize=10)
    return fig, axes


def plot_pair_heatmaps(
    rows: Sequence[Mapping[str, object]],
    values: Sequence[str] = ("mean_rel_dsigma",),
    *,
    labels: Mapping[str, str] | None = None,
    scale: Mapping[str, float] | None = None,
    fmt: str = "{:.2g}",
) -> tuple[Figure, np.ndarray]:
    """Layers x matrix types heat maps of ``spectral.compare`` statistics, one column per pair.

    ``rows`` carry ``pair`` (e.g. from :func:`sftrl.experiments.models.compare_pairs`); one row
    of panels per statistic in ``values``, sharing one colour scale per statistic. Relative
    changes are shown in percent (``scale`` overrides, e.g. ``{"mean_angle_u": 1.0}``);
    embed and LM head have no layer and are left out. arXiv 2509.12235, Figs. 2 and 3.
    """
    pairs = list(dict.fromkeys(str(r["pair"]) for r in rows))
    if not pairs or not values:
        raise SftrlError("no pairs or no statistics to plot")
    scales = {"mean_rel_dsigma": 100.0, "spectral_drift": 100.0, **(scale or {})}
    block = [r for r in rows if r.get("layer") is not None]
    layers = sorted({int(r["layer"]) for r in block})  # type: ignore[arg-type]
    kinds = list(dict.fromkeys(str(r["kind"]) for r in block))
    if not layers:
        raise SftrlError("no per-layer rows to plot")
    fig, axes = plt.subplots(len(values), len(pairs), squeeze=False, layout="constrained",
                             figsize=(PAGE_WIDTH, (0.32 * len(layers) + 1.3) * len(values)))
    for i, value in enumerate(values):
        grids = []
        for pair in pairs:
            grid = np.full((len(layers), len(kinds)), np.nan)
            for r in block:
                if r["pair"] == pair:
                    grid[layers.index(int(r["layer"])), kinds.index(str(r["kind"]))] = (  # type: ignore[arg-type]
                        float(r[value]) * scales.get(value, 1.0))  # type: ignore[arg-type]
            grids.append(grid)
        finite = np.concatenate([g[np.isfinite(g)] for g in grids])
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        vmax = vmax if vmax > vmin else vmin + 1e-12
        for j, (pair, grid) in enumerate(zip(pairs, grids)):
            ax = axes[i, j]
            im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
            mid = (vmin + vmax) / 2
            for a in range(len(layers)):
                for b in range(len(kinds)):
                    if np.isfinite(grid[a, b]):
                        v = grid[a, b]
                        text = fmt.format(v) if abs(v) >= 0.01 or v == 0 else "≈0"  # rounding-sized values
                        ax.text(b, a, text, ha="center", va="center", fontsize=6,
                                color="black" if grid[a, b] > mid else "white")
            ax.set_xticks(range(len(kinds)), kinds, fontsize=7)
            ax.set_yticks(range(len(layers)), [str(x) for x in layers], fontsize=7)
            ax.grid(False)
            if i == 0:
                ax.set_title((labels or {}).get(pair, _pair_label(rows, pair)))
            if j == 0:
                ax.set_ylabel("layer")
        fig.colorbar(im, ax=list(axes[i]), label=STAT_TITLES.get(value, value), shrink=0.9)
    return fig, axes


def plot_angle_grid(curves: Sequence[Mapping[str, object]]) -> tuple[Figure, np.ndarray]:
    """Principal-angle curves of one layer: rows = left / right vectors, columns = matrix types.

    ``curves`` are :func:`sftrl.experiments.figure3.angle_curves` rows (``pair``, ``kind``,
    ``side``, ``angles``, ``forced_zero``). Each panel has one curve per pair
    (:data:`PAIR_STYLES`); angles that are zero by construction (2k > m) are shaded.
    arXiv 2509.12235, Fig. 3.
    """
    if not curves:
        raise SftrlError("no angle curves to plot")
    kinds = list(dict.fromkeys(str(c["kind"]) for c in curves))
    sides = [s for s in ("left", "right") if any(c["side"] == s for c in curves)]
    fig, axes = plt.subplots(len(sides), len(kinds), squeeze=False, sharey=True, layout="constrained",
                             figsize=(PAGE_WIDTH, 1.7 * len(sides) + 0.8))
    for c in curves:
        ax = axes[sides.index(str(c["side"])), kinds.index(str(c["kind"]))]
        a = _as_1d(c["angles"], "angles")
        color, ls = PAIR_STYLES.get(str(c["pair"]), (role_color(str(c["pair"])), "-"))
        ax.plot(np.arange(1, a.size + 1), a, color=color, ls=ls, lw=1.2, label=str(c.get("label", c["pair"])))
        mask = np.asarray(c["forced_zero"], dtype=bool)
        if mask.any():
            ax.axvspan(0.5, np.flatnonzero(mask).max() + 1.5, color=COLORS["chance"], alpha=0.15, lw=0)
    from matplotlib.ticker import MaxNLocator

    for i, side in enumerate(sides):
        axes[i, 0].set_ylabel(r"$\theta_i$ (°), " + ("left (U)" if side == "left" else "right (V)"))
        for j, kind in enumerate(kinds):
            axes[i, j].tick_params(labelsize=7)
            axes[i, j].xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
            if i == 0:
                axes[i, j].set_title(kind)
            if i == len(sides) - 1:
                axes[i, j].set_xlabel("i", fontsize=8)
            axes[i, j].set_ylim(bottom=0)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=len(names), fontsize="small")
    return fig, axes


def _acc_arrays(rows: Sequence[Mapping[str, object]], split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.array([float(r[split]) for r in rows])  # type: ignore[arg-type]
    lo = np.array([float(r[f"{split}_ci"][0]) for r in rows])  # type: ignore[index]
    hi = np.array([float(r[f"{split}_ci"][1]) for r in rows])  # type: ignore[index]
    return v, lo, hi


def plot_fraction_sweep(
    rows: Sequence[Mapping[str, object]],
    *,
    target: Mapping[str, object],
    reference: Mapping[str, object],
    ax: Axes | None = None,
    xlabel: str = "fraction of top singular directions restored",
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """ID and OOD accuracy (95% bands) of edited models against the edited ``fraction``.

    Rows with ``tail=True`` (the smallest directions restored) are drawn as separate crosses.
    Horizontal lines mark the target's OOD accuracy (dotted) and the reference's (dashed),
    labelled with their ``label``. arXiv 2509.12235, Figs. 2 (sigma swap) and 4.
    """
    if not rows:
        raise SftrlError("no rows to plot")
    fig, ax = _fig_ax(ax, (PAGE_WIDTH * 0.75, PAGE_WIDTH * 0.42))
    top = sorted((r for r in rows if not r.get("tail")), key=lambda r: float(r["fraction"]))  # type: ignore[arg-type]
    tail = sorted((r for r in rows if r.get("tail")), key=lambda r: float(r["fraction"]))  # type: ignore[arg-type]
    for split in ("id", "ood"):
        if top:
            x = np.array([float(r["fraction"]) for r in top])  # type: ignore[arg-type]
            v, lo, hi = _acc_arrays(top, split)
            ax.fill_between(x, lo, hi, color=COLORS[split], alpha=0.18, lw=0)
            ax.plot(x, v, marker="o", ms=3.5, color=COLORS[split], label=f"{split.upper()} accuracy")
        if tail:
            x = np.array([float(r["fraction"]) for r in tail])  # type: ignore[arg-type]
            v, lo, hi = _acc_arrays(tail, split)
            ax.errorbar(x, v, yerr=[v - lo, hi - v], fmt="x", ms=5, capsize=2, color=COLORS[split], lw=0.8,
                        label=f"{split.upper()}, smallest directions")
    ax.axhline(float(target["ood"]), color=COLORS["ood"], ls=":", lw=1.1,  # type: ignore[arg-type]
               label=f"OOD of {target.get('label', 'target')}")
    ax.axhline(float(reference["ood"]), color=COLORS["ood"], ls="--", lw=1.1,  # type: ignore[arg-type]
               label=f"OOD of {reference.get('label', 'reference')}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_ylim(-0.03, 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title)
    return fig, ax


def plot_block_restoration(
    rows: Sequence[Mapping[str, object]],
    *,
    target: Mapping[str, object],
    reference: Mapping[str, object],
) -> tuple[Figure, np.ndarray]:
    """Layer-wise restoration: OOD and ID accuracy (95% whiskers) per layer block, layers
    only (solid) and with the embeddings and LM head (hatched); the target's and the
    reference's accuracy as dotted and dashed lines. arXiv 2509.12235, Fig. 4."""
    blocks = list(dict.fromkeys(str(r["block"]) for r in rows))
    variants = [e for e in (False, True) if any(bool(r["embeddings"]) == e for r in rows)]
    if not blocks:
        raise SftrlError("no layer-wise rows to plot")
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, PAGE_WIDTH * 0.42), sharey=True, layout="constrained")
    x = np.arange(len(blocks))
    width = 0.8 / len(variants)
    for ax, split in zip(axes, ("ood", "id")):
        for i, emb in enumerate(variants):
            sel = [next(r for r in rows if r["block"] == b and bool(r["embeddings"]) == emb) for b in blocks]
            v, lo, hi = _acc_arrays(sel, split)
            ax.bar(x - 0.4 + width * (i + 0.5), v, width, yerr=np.vstack([v - lo, hi - v]), capsize=2,
                   color=COLORS[split], alpha=0.55 if emb else 0.95, hatch="//" if emb else None,
                   edgecolor="white", label="+ embeddings, LM head" if emb else "layers only")
        ax.axhline(float(target[split]), color=COLORS["sft"], ls=":", lw=1.1,  # type: ignore[arg-type]
                   label=str(target.get("label", "target")))
        ax.axhline(float(reference[split]), color=COLORS["base"] if reference.get("role") == "base" else COLORS["sft"],
                   ls="--", lw=1.1, label=str(reference.get("label", "reference")))  # type: ignore[arg-type]
        ax.set_xticks(x, blocks, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="x", visible=False)
        ax.set_title(f"{split.upper()} accuracy")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes[0].set_ylabel("accuracy (95% CI)")
    axes[0].set_ylim(0, 1.03)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=len(names), fontsize="x-small")
    return fig, axes


def plot_accuracy_bars(rows: Sequence[Mapping[str, object]], *, ax: Axes | None = None) -> tuple[Figure, Axes]:
    """ID and OOD accuracy with 95% whiskers, one group per evaluated model (``label``).

    For the grafting experiments of :func:`sftrl.experiments.figure5.grafting` (arXiv 2509.12235,
    Fig. 5) or any :func:`sftrl.experiments.models.evaluate` rows.
    """
    if not rows:
        raise SftrlError("no rows to plot")
    series = {split: _acc_arrays(rows, split) for split in ("id", "ood")}
    fig, ax = plot_grouped_bars([str(r["label"]) for r in rows], series, ax=ax, ylabel="accuracy (95% CI)")
    fig.set_size_inches(PAGE_WIDTH, PAGE_WIDTH * 0.42)
    ax.set_ylim(0, 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", visible=False)
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    ax.legend([s.upper() for s in series], fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig, ax


# --------------------------------------------------------------------------------------------
# tables (HTML in a notebook, through sftrl.book.plots.training.Table)
# --------------------------------------------------------------------------------------------
def _ci(row: Mapping[str, object], split: str) -> str:
    lo, hi = row[f"{split}_ci"]  # type: ignore[misc]
    return pct_interval(float(row[split]), lo, hi)  # type: ignore[arg-type]


def _pct_or_na(x: object) -> str:
    from sftrl.claims.rules import pct

    return pct(float(x)) if x is not None else MISSING  # type: ignore[arg-type]


def accuracy_table(rows: Sequence[Mapping[str, object]], *, recovery: bool = True, caption: str = ""):
    """One line per evaluated model: label, ID and OOD accuracy [95% CI], OOD format errors and,
    with ``recovery``, the recovery fraction (n/a where the reference is no better)."""
    from sftrl.book.plots.training import Table

    columns = ["model", "ID [95% CI]", "OOD [95% CI]", "OOD format errors"] + (["recovery"] if recovery else [])
    out = []
    for r in rows:
        line = [str(r["label"]), _ci(r, "id"), _ci(r, "ood"), _pct_or_na(r["ood_format_errors"])]
        if recovery:
            rec = float(r.get("recovery", float("nan")))  # type: ignore[arg-type]
            line.append(f"{100 * rec:.0f}%" if np.isfinite(rec) else "n/a")
        out.append(line)
    note = ("Recovery = (OOD of the edit - OOD of the SFT end) / (OOD of the reference - OOD of the SFT end); "
            "n/a when the reference is not above the SFT end.")
    notes = [note] if recovery else []
    return Table(columns, out, caption=caption, notes=notes)


def summary_table(summary: Sequence[Mapping[str, object]], stats: Sequence[str]):
    """:func:`sftrl.experiments.models.pair_summary` rows as a table of the chosen statistics."""
    from sftrl.book.plots.training import Table

    names = {"mean_rel_dsigma": "mean |Δσ|/σ", "spectral_drift": "spectral drift", "mean_angle_u": "mean angle U",
             "max_angle_u": "largest angle U", "mean_angle_v": "mean angle V", "max_angle_v": "largest angle V"}
    rows = []
    for r in summary:
        cells = [str(r["label"]), str(r["group"]), str(r["n_matrices"])]
        for s in stats:
            v = float(r[s])  # type: ignore[arg-type]
            cells.append(f"{100 * v:.2f}%" if s in ("mean_rel_dsigma", "spectral_drift") else
                         (f"{v:.2f}°" if v >= 0.01 or v == 0 else f"{v:.1e}°"))
        rows.append(cells)
    return Table(["pair", "matrices", "count", *(names.get(s, s) for s in stats)], rows)


def paper_table(lines: Sequence[tuple[str, object, str]]):
    """Paper vs. this book: ``(quantity, paper value, ours)`` lines; a :class:`sftrl.claims.papers.PaperValue`
    prints with its source and "(unconfirmed)" where the spec could not confirm it."""
    from sftrl.claims import papers
    from sftrl.book.plots.training import Table

    rows = []
    for what, paper, ours in lines:
        if isinstance(paper, papers.PaperValue):
            who = "paper A" if paper.source in (papers.PAPER_A, papers.PAPER_A_V1) else \
                "paper B" if paper.source == papers.PAPER_B else f"arXiv {paper.source}"
            text = f"{who}: {paper.text()}"
        else:
            text = str(paper)
        rows.append([what, text, ours])
    return Table(["quantity", "paper", "this book"], rows)


def models_table(rows: Sequence[Mapping[str, object]]):
    """:func:`sftrl.experiments.models.describe_models` rows as a table."""
    from sftrl.book.plots.training import Table

    from sftrl.book.tables import folders_note

    return Table(["model", "taken at"], [[str(r["label"]), str(r["training"])] for r in rows],
                 notes=[folders_note([(str(r["label"]), str(r["checkpoint"])) for r in rows])] if rows else [])


def _pct_text(x: float, digits: int = 1) -> str:
    return MISSING if not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def _deg_text(x: float) -> str:
    return MISSING if not np.isfinite(x) else (f"{x:.2f}°" if x >= 0.01 or x == 0 else f"{x:.1e}°")


def fig2_paper_table(numbers: Mapping[str, float]):
    """Paper A's Figure-2 numbers beside ours (:func:`sftrl.experiments.figure2.numbers`)."""
    from sftrl.claims import papers

    ours_sigma = ", ".join(f"{name} {_pct_text(numbers[f'dsigma_{key}'], 2)}" for key, name in
                           (("base_sft", "Base → SFT"), ("sft_rl", "SFT → RL"), ("base_rl", "Base → RL")))
    lo, hi = _pct_text(numbers["swap_ood_min"]), _pct_text(numbers["swap_ood_max"])
    ours_swap = (f"{lo if lo == hi else f'{lo} to {hi}'} over the swapped "
                 f"fractions (SFT end {_pct_text(numbers['ood_sft_end'])}, SFT peak {_pct_text(numbers['ood_sft_peak'])})")
    return paper_table([
        ("mean |Δσ|/σ", papers.get("fig2.sigma_change"), ours_sigma),
        ("OOD after the SFT-peak σ are put into the SFT-end model (paper: Llama-3.2-11B)",
         papers.get("fig2.sigma_swap_llama_ood"), ours_swap),
    ])


def fig3_paper_table(numbers: Mapping[str, float]):
    """Paper B's rotation readings (unconfirmed) beside our principal angles."""
    from sftrl.claims import papers

    def ours(pair: str) -> str:
        return (f"mean {_deg_text(numbers[f'mean_angle_u_{pair}'])}, largest "
                f"{_deg_text(numbers[f'max_angle_u_{pair}'])} (top-k left subspaces, block matrices)")

    return paper_table([
        ("rotation of the principal subspaces by SFT", papers.get("fig3.sft_rotation"), ours("base_sft")),
        ("rotation of the principal subspaces by RL", papers.get("fig3.rl_rotation"), ours("sft_rl")),
    ])


def fig4_paper_table(numbers: Mapping[str, float]):
    """Paper A's restoration claims (unconfirmed) beside our recovery fractions."""
    from sftrl.claims import papers

    def rank(ref: str) -> str:
        f = numbers.get(f"rank_{ref}_fraction", float("nan"))
        return f"{_pct_text(numbers.get(f'rank_{ref}_recovery', float('nan')), 0)} (top {_pct_text(f, 0)})"

    return paper_table([
        ("OOD recovered by the top 20% of directions, from the SFT peak",
         papers.get("fig4.top20_directions_restore"), rank("sft_peak")),
        ("the same, from the base", papers.get("fig4.top20_directions_restore"), rank("base")),
        ("OOD recovered by the first 25% of layers (+ embeddings, LM head)",
         papers.get("fig4.first25_layers_restore"), _pct_text(numbers["layers_emb_recovery"], 0)),
        ("the same, layers only", "(not reported)", _pct_text(numbers["layers_only_recovery"], 0)),
    ])


def fig5_paper_table(numbers: Mapping[str, float]):
    """Paper A's grafting claims beside our OOD accuracies."""
    from sftrl.claims import papers

    def ood(key: str) -> str:
        return _pct_text(numbers.get(f"ood_{key}", float("nan")))

    return paper_table([
        ("OOD of RL + SFT directions (U_SFT Σ_RL V_SFTᵀ)", papers.get("fig5.graft_sft_vectors"),
         f"{ood('rl_sft_directions')} (RL {ood('rl')}, SFT end {ood('sft_end')})"),
        ("OOD of SFT + RL directions (U_RL Σ_SFT V_RLᵀ) and σ-only swaps", papers.get("fig5.graft_rl_vectors"),
         f"{ood('sft_rl_directions')}; RL + SFT σ {ood('rl_sft_sigma')}, SFT + RL σ {ood('sft_rl_sigma')}"),
    ])

__all__ = [
    "role_color", "plot_grouped_bars",
    "PAIR_STYLES", "plot_layer_spectra", "plot_pair_heatmaps", "plot_angle_grid", "plot_fraction_sweep", "plot_block_restoration",
    "plot_accuracy_bars", "accuracy_table", "summary_table", "paper_table", "models_table",
    "fig2_paper_table", "fig3_paper_table", "fig4_paper_table", "fig5_paper_table",
]
