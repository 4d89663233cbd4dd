"""Figure 4 of paper A (arXiv 2509.12235): layer-wise and rank-wise restoration.

Usage: ``d = figure4.data(config.profile("cpu")); d.rank_peak, d.layers``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.experiments import spectral_study as ss
from sftrl.weights.checkpoints import parse_kinds


@dataclass(frozen=True)
class Figure4:
    """What Figure 4's page draws and its claims are judged on."""

    models: ss.Models
    """The four checkpoints (the SFT end is the target of every edit)."""
    anchors: dict[str, dict[str, Any]]
    """The evaluated base, SFT peak and SFT end."""
    rank_peak: list[dict[str, Any]]
    """The SFT peak's top directions restored, one row per fraction."""
    tail_peak: list[dict[str, Any]]
    """The SFT peak's smallest directions restored, one row per fraction."""
    rank_base: list[dict[str, Any]]
    """The base's top directions restored, one row per fraction."""
    layers: list[dict[str, Any]]
    """Layer-wise restoration from the SFT peak, one row per (block, embeddings)."""
    layer_op_text: str
    """What the layer-wise edit puts into the chosen layers, for the prose."""
    numbers: dict[str, float]
    """Every number the page's prose quotes (glue names as keys)."""


def data(cfg: StudyConfig, *, base: str | None = None, sft_peak: str | None = None, sft_end: str | None = None,
         rl: str | None = None, kinds: str = "", fractions: str = "0,0.05,0.1,0.2,0.3,0.5,0.75,1.0",
         tail_fractions: str = "0.2,0.5", layer_op: str = "swap", layer_k_frac: float = 1.0,
         layer_blocks: str = "") -> Figure4:
    """Figure 4's data; the keyword defaults are the page's (``notebooks/04_...``). Every
    edited checkpoint is written once under the cache and evaluated once."""
    kinds_used = parse_kinds(kinds)
    models = ss.models(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl)
    anchors = ss.anchors(models, cfg, ("base", "sft_peak", "sft_end"))
    top = ss.parse_fractions(fractions)
    rank_peak = ss.rank_restoration(models, cfg, reference="sft_peak", fractions=top, kinds=kinds_used)
    tail_peak = ss.rank_restoration(models, cfg, reference="sft_peak", fractions=ss.parse_fractions(tail_fractions),
                                    tail=True, kinds=kinds_used)
    rank_base = ss.rank_restoration(models, cfg, reference="base", fractions=top, kinds=kinds_used)
    layers = ss.layer_restoration(models, cfg, reference="sft_peak", op=layer_op, k_frac=layer_k_frac,
                                  blocks=ss.parse_names(layer_blocks), kinds=kinds_used)
    return Figure4(models=models, anchors=anchors, rank_peak=rank_peak, tail_peak=tail_peak, rank_base=rank_base,
                   layers=layers, layer_op_text=ss.layer_op_text(layer_op, layer_k_frac, "sft_peak"),
                   numbers=ss.numbers_fig4(rank_peak + rank_base, layers))
