"""Plots for the singular-value figures of arXiv 2509.12235 (Figures 2-5 of the book).

Each helper takes precomputed numbers (from :mod:`sftrl.spectral`, :mod:`sftrl.edits` and
the evaluations) and returns ``(fig, ax)`` or ``(fig, axes)``; nothing expensive happens
here. A series label whose first word is a role of :data:`sftrl.plots.COLORS` (``base``,
``sft``, ``rl``, ``id``, ``ood``, ...) gets that role's colour everywhere.

Usage::

    from sftrl.plots import use_style
    from sftrl.plots import spectral as ps
    use_style()
    fig, axes = ps.plot_sigma_spectra({"base": S_base, "sft": S_sft, "rl": S_rl}, layer=2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sftrl.errors import SftrlError
from sftrl.plots import COLORS, PAGE_WIDTH

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


def plot_sigma_spectra(
    spectra: Mapping[str, Mapping[str, object]],
    *,
    layer: int | str = "",
    reference: str | None = None,
    log: bool = True,
) -> tuple[Figure, np.ndarray]:
    """Singular values of one layer's matrices for several checkpoints, with delta-sigma.

    ``spectra[role][kind]`` is a 1-D sigma (descending), e.g. ``{"base": {"q": S, ...},
    "sft": ..., "rl": ...}``. Top row: sigma_i per kind (one column per kind); bottom row:
    ``sigma_role - sigma_reference`` (reference = the first role unless named).
    arXiv 2509.12235, Fig. 2.
    """
    roles = list(spectra)
    if not roles:
        raise SftrlError("no spectra to plot")
    reference = reference or roles[0]
    if reference not in spectra:
        raise SftrlError(f"reference {reference!r} is not among the spectra {roles}")
    kinds = list(spectra[reference])
    fig, axes = plt.subplots(2, len(kinds), figsize=(PAGE_WIDTH, 3.6), sharex="col", squeeze=False)
    for j, kind in enumerate(kinds):
        S_ref = _as_1d(spectra[reference][kind], f"sigma of {reference}/{kind}")
        top, bottom = axes[0, j], axes[1, j]
        for i, role in enumerate(roles):
            S = _as_1d(spectra[role][kind], f"sigma of {role}/{kind}")
            top.plot(np.arange(1, S.size + 1), S, color=role_color(role, i), lw=1.2, label=role)
            if role != reference:
                bottom.plot(np.arange(1, S.size + 1), S - S_ref, color=role_color(role, i), lw=1.0, label=role)
        bottom.axhline(0.0, color=role_color(reference), lw=0.8)
        if log:
            top.set_yscale("log")
        top.set_title(kind)
        bottom.set_xlabel("index i")
    axes[0, 0].set_ylabel(r"$\sigma_i$")
    axes[1, 0].set_ylabel(r"$\Delta\sigma_i$ vs " + reference)
    axes[0, -1].legend(fontsize="small")
    if layer != "":
        fig.suptitle(f"layer {layer}")
    fig.tight_layout()
    return fig, axes


def plot_layer_heatmap(
    rows: Sequence[Mapping[str, object]],
    value: str = "mean_rel_dsigma",
    *,
    ax: Axes | None = None,
    title: str | None = None,
    fmt: str = "{:.2g}",
    scale: float = 1.0,
) -> tuple[Figure, Axes]:
    """Heat map of one statistic, layers x matrix types, from :func:`sftrl.spectral.compare` rows.

    Rows without a layer (embed, lm_head) are left out. ``scale`` multiplies the values
    (e.g. 100 for percent). Each cell is annotated with its value.
    """
    cells = [(int(r["layer"]), str(r["kind"]), float(r[value]) * scale) for r in rows if r.get("layer") is not None]  # type: ignore[arg-type]
    if not cells:
        raise SftrlError(f"no per-layer rows with {value!r} to plot")
    layers = sorted({c[0] for c in cells})
    kinds = list(dict.fromkeys(c[1] for c in cells))
    grid = np.full((len(layers), len(kinds)), np.nan)
    for layer, kind, v in cells:
        grid[layers.index(layer), kinds.index(kind)] = v
    fig, ax = _fig_ax(ax, (PAGE_WIDTH * 0.6, 0.45 * len(layers) + 1.2))
    im = ax.imshow(grid, aspect="auto", cmap="viridis")
    finite = grid[np.isfinite(grid)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(len(layers)):
        for j in range(len(kinds)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, fmt.format(grid[i, j]), ha="center", va="center", fontsize=7,
                        color="black" if grid[i, j] > mid else "white")
    ax.set_xticks(range(len(kinds)), kinds)
    ax.set_yticks(range(len(layers)), [str(layer) for layer in layers])
    ax.set_xlabel("matrix type")
    ax.set_ylabel("layer")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label=title or value)
    if title:
        ax.set_title(title)
    return fig, ax


def plot_angle_curves(
    curves: Mapping[str, object],
    *,
    forced_zero: Mapping[str, object] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """Principal angles theta_i (degrees) against i for several checkpoint pairs.

    ``curves[label]`` is a 1-D array of angles (ascending, as :func:`sftrl.spectral.principal_angles`
    returns them). ``forced_zero[label]``, a boolean mask, greys out the angles that are zero
    by construction (2k > m). arXiv 2509.12235, Fig. 3.
    """
    fig, ax = _fig_ax(ax)
    for i, (label, angles) in enumerate(curves.items()):
        a = _as_1d(angles, f"angles of {label}")
        x = np.arange(1, a.size + 1)
        ax.plot(x, a, color=role_color(label, i), lw=1.3, label=label)
        if forced_zero is not None and label in forced_zero:
            mask = np.asarray(forced_zero[label], dtype=bool)
            if mask.any():
                ax.axvspan(0.5, x[mask].max() + 0.5, color=COLORS["chance"], alpha=0.15, lw=0)
    ax.set_xlabel("index i (top-k subspace)")
    ax.set_ylabel(r"principal angle $\theta_i$ (degrees)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig, ax


def _interval_arrays(series: object, what: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``values`` or ``(values, lo, hi)`` -> arrays (lo, hi are absolute bounds)."""
    if isinstance(series, tuple) and len(series) == 3:
        v, lo, hi = (_as_1d(s, what) for s in series)
        if not (v.shape == lo.shape == hi.shape):
            raise SftrlError(f"{what}: values and interval bounds differ in length")
        return v, lo, hi
    return _as_1d(series, what), None, None


def plot_restoration_curves(
    fractions: Sequence[float],
    series: Mapping[str, object],
    *,
    references: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    xlabel: str = "fraction of top directions restored",
    ylabel: str = "accuracy",
) -> tuple[Figure, Axes]:
    """Accuracy against the restored fraction, with shaded intervals (arXiv 2509.12235, Fig. 4).

    ``series[label]`` is ``acc`` or ``(acc, lo, hi)`` over ``fractions``; ``references``
    draws dashed horizontal lines (e.g. ``{"sft peak OOD": 0.39}``).
    """
    x = _as_1d(list(fractions), "fractions")
    fig, ax = _fig_ax(ax)
    for i, (label, s) in enumerate(series.items()):
        v, lo, hi = _interval_arrays(s, label)
        if v.shape != x.shape:
            raise SftrlError(f"series {label!r} has {v.size} values for {x.size} fractions")
        color = role_color(label, i)
        ax.plot(x, v, marker="o", ms=3, color=color, label=label)
        if lo is not None:
            ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
    for j, (label, y) in enumerate((references or {}).items()):
        ax.axhline(y, ls="--", lw=1.0, color=role_color(label, j), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return fig, ax


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
    ax.legend(fontsize="small")
    return fig, ax


def _fig_ax(ax: Axes | None, size: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig, ax = plt.subplots(figsize=size or (PAGE_WIDTH * 0.6, PAGE_WIDTH * 0.4))
    return fig, ax


__all__ = [
    "role_color", "plot_sigma_spectra", "plot_layer_heatmap", "plot_angle_curves",
    "plot_restoration_curves", "plot_grouped_bars",
]
