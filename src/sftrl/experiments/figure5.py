"""Figure 5 of paper A (arXiv 2509.12235): causal grafting of singular vectors and values.

Usage: ``d = figure5.data(config.profile("cpu")); d.grafts``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.experiments import spectral_study as ss
from sftrl.weights.checkpoints import parse_kinds


@dataclass(frozen=True)
class Figure5:
    """What Figure 5's page draws and its claims are judged on."""

    models: ss.Models
    """The four checkpoints (RL and the SFT end are grafted onto each other)."""
    grafts: list[dict[str, Any]]
    """The grafting experiments, one evaluated row each."""
    numbers: dict[str, float]
    """Every number the page's prose quotes (glue names as keys)."""


def data(cfg: StudyConfig, *, base: str | None = None, sft_peak: str | None = None, sft_end: str | None = None,
         rl: str | None = None, kinds: str = "") -> Figure5:
    """Figure 5's data; the keyword defaults are the page's (``notebooks/05_...``)."""
    models = ss.models(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl)
    grafts = ss.grafting(models, cfg, kinds=parse_kinds(kinds))  # four edited checkpoints, each made once
    return Figure5(models=models, grafts=grafts, numbers=ss.numbers_fig5(grafts))
