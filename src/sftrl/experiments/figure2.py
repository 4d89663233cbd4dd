"""Figure 2 of paper A (arXiv 2509.12235): singular values barely move; the sigma-swap ablation.

Usage: ``d = figure2.data(config.profile("cpu")); d.summary, d.swap, d.numbers``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.experiments import spectral_study as ss
from sftrl.weights.checkpoints import parse_kinds, resolve_layer


@dataclass(frozen=True)
class Figure2:
    """What Figure 2's page draws and its claims are judged on."""

    models: ss.Models
    """The four checkpoints compared."""
    layer: int
    """The layer whose spectra panel (a) shows."""
    rows: list[dict[str, Any]]
    """:func:`~sftrl.experiments.spectral_study.compare_pairs`: one row per (pair, matrix)."""
    summary: list[dict[str, Any]]
    """:func:`~sftrl.experiments.spectral_study.pair_summary` of ``rows``."""
    spectra: dict[str, dict[str, list[float]]]
    """Singular values of ``layer``'s matrices, by model and kind."""
    anchors: dict[str, dict[str, Any]]
    """The evaluated SFT peak and SFT end."""
    swap: list[dict[str, Any]]
    """The sigma-swap ablation, one row per swapped fraction."""
    numbers: dict[str, float]
    """Every number the page's prose quotes (glue names as keys)."""


def data(cfg: StudyConfig, *, base: str | None = None, sft_peak: str | None = None, sft_end: str | None = None,
         rl: str | None = None, layer: int = -1, kinds: str = "", k_frac: float = 0.2,
         swap_fractions: str = "0.05,0.2,0.5,1.0") -> Figure2:
    """Figure 2's data; the keyword defaults are the page's (``notebooks/02_...``).

    ``base`` .. ``rl``: checkpoint folders or hub ids (None: the pipeline's models, trained
    if missing); ``layer``: -1 for the middle one; ``kinds``: comma-separated matrix kinds
    ("" for all); ``k_frac``: top-k of the spectral drift as a fraction of the rank.
    """
    kinds_used = parse_kinds(kinds)
    models = ss.models(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl)
    layer_used = resolve_layer(layer, models.num_layers)
    rows = ss.compare_pairs(models, k_frac=k_frac, kinds=kinds_used)  # SVDs cached per checkpoint
    summary = ss.pair_summary(rows)
    anchors = ss.anchors(models, cfg, ("sft_peak", "sft_end"))
    swap = ss.sigma_swap_sweep(models, cfg, fractions=ss.parse_fractions(swap_fractions), kinds=kinds_used)
    return Figure2(models=models, layer=layer_used, rows=rows, summary=summary,
                   spectra=ss.layer_spectra(models, layer=layer_used, kinds=kinds_used), anchors=anchors,
                   swap=swap, numbers=ss.numbers_fig2(summary, swap, anchors))
