"""Where paper B's effects come from (arXiv 2511.08567): the learning-rate / dtype regime,
the geometry disruption and the off-principal probe.

Usage: ``d = figure7.data(config.profile("cpu")); d.regime, d.geometry, d.probe``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.experiments import masks_study as ms


@dataclass(frozen=True)
class Figure7:
    """What the geometry-and-probe page draws and its claims are judged on."""

    scfg: ms.MaskStudyConfig
    """The mask study's budget."""
    regime: list[dict[str, Any]]
    """One row per (role, lr, dtype) of the regime sweep."""
    geometry: dict[str, dict[str, float]]
    """Mean Jaccard of the permuted run's masks with the original's, by matrix group."""
    curves: dict[str, tuple[list[int], list[float]]]
    """Reward over training of each probe run, by gradient mask."""
    probe: list[dict[str, Any]]
    """One row per probe mask (and the start): reward and accuracy."""


def data(cfg: StudyConfig, *, start_step: int = -1, study_steps: int | None = None, study_lr: float | None = None,
         study_dtype: str | None = None, eta: float = 0.0, alpha: float = 0.05, k_frac: float = 0.2,
         permute_seed: int = 1, probe_alpha: float = 0.2, probe_rank: float = 0.2, probe_lr: float | None = None,
         probe_steps: int | None = None) -> Figure7:
    """The page's data; the keyword defaults are the page's (``notebooks/07_...``). Runs
    missing from the cache are trained once."""
    scfg = ms.study_config(cfg.profile, start_step=start_step, steps=study_steps, lr=study_lr, dtype=study_dtype,
                           permute_seed=permute_seed, probe_alpha=probe_alpha, probe_rank=probe_rank,
                           probe_lr=probe_lr, probe_steps=probe_steps)
    return Figure7(scfg=scfg, regime=ms.regime_table(cfg, scfg, eta=eta, alpha=alpha, k_frac=k_frac),
                   geometry=ms.geometry_by_group(ms.geometry_table(cfg, scfg, eta=eta)),
                   curves=ms.probe_curves(cfg, scfg), probe=ms.probe_table(cfg, scfg))
