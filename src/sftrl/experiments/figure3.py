"""Figure 3 of paper A (arXiv 2509.12235): principal angles, the singular vectors rotate.

Usage: ``d = figure3.data(config.profile("cpu")); d.curves, d.summary``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.experiments import spectral_study as ss
from sftrl.weights.checkpoints import parse_kinds, resolve_layer


@dataclass(frozen=True)
class Figure3:
    """What Figure 3's page draws and its claims are judged on."""

    models: ss.Models
    """The four checkpoints compared."""
    layer: int
    """The layer whose angle curves panel (a) shows."""
    rows: list[dict[str, Any]]
    """:func:`~sftrl.experiments.spectral_study.compare_pairs`: one row per (pair, matrix)."""
    summary: list[dict[str, Any]]
    """:func:`~sftrl.experiments.spectral_study.pair_summary` of ``rows``."""
    curves: list[dict[str, Any]]
    """Principal angles of ``layer``'s matrices, one row per (pair, kind, side)."""
    numbers: dict[str, float]
    """Every number the page's prose quotes (glue names as keys)."""


def data(cfg: StudyConfig, *, base: str | None = None, sft_peak: str | None = None, sft_end: str | None = None,
         rl: str | None = None, layer: int = -1, kinds: str = "", k_frac: float = 0.2,
         cap_k: bool = True) -> Figure3:
    """Figure 3's data; the keyword defaults are the page's (``notebooks/03_...``).

    ``cap_k``: cap k at half the dimension in the angle curves (False marks the angles that
    are zero by construction instead).
    """
    kinds_used = parse_kinds(kinds)
    models = ss.models(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl)
    layer_used = resolve_layer(layer, models.num_layers)
    rows = ss.compare_pairs(models, k_frac=k_frac, kinds=kinds_used)  # SVDs cached per checkpoint
    summary = ss.pair_summary(rows)
    curves = ss.angle_curves(models, layer=layer_used, kinds=kinds_used, k_frac=k_frac, cap=cap_k)
    return Figure3(models=models, layer=layer_used, rows=rows, summary=summary, curves=curves,
                   numbers=ss.numbers_fig3(summary, curves))
