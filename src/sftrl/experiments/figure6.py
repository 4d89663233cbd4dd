"""Figure 6 of paper B (arXiv 2511.08567): where RL writes, bf16 update masks across runs.

Usage: ``d = figure6.data(config.profile("cpu")); d.numbers, d.analysis.images``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.experiments import masks_study as ms
from sftrl.weights.checkpoints import parse_kinds


@dataclass(frozen=True)
class Figure6:
    """What Figure 6's page draws and its claims are judged on."""

    scfg: ms.MaskStudyConfig
    """The mask study's budget the pipeline's runs were made with."""
    inputs: ms.Inputs
    """The checkpoints analysed (the pipeline's runs, or the ones a reader named)."""
    checkpoints: list[dict[str, Any]]
    """One row per analysed checkpoint (label, role, folder, reward summary)."""
    inputs_sentence: str
    """What the page compares, as the end of a sentence."""
    analysis: ms.MaskAnalysis
    """Sparsity, consistency, overlaps, drift and the consistency images."""
    ratios: ms.UpdateRatios
    """Row and column update ratios of one matrix over one run's checkpoints."""
    sparsity_by_kind: dict[str, dict[Any, float]]
    """Update sparsity per matrix kind and over all matrices, by model."""
    in_all: tuple[dict[str, float], dict[str, float]]
    """Share of entries every RL run updated, per kind: observed and for independent runs."""
    overlaps: tuple[dict[str, dict[str, float]], dict[str, float]]
    """Overlap with the principal and low-magnitude weights by model, and the chance levels."""
    drift: tuple[list[int], dict[str, list[float]], dict[str, list[float]]]
    """Layers, and per model the spectral drift and largest principal angle per layer."""
    numbers: dict[str, float]
    """Every number the page's prose quotes and the rules read (glue names as keys)."""


def data(cfg: StudyConfig, *, base_path: str | None = None, rl_paths: str | None = None,
         sft_paths: str | None = None, step_paths: str | None = None, start_step: int = -1,
         study_steps: int | None = None, study_lr: float | None = None, study_dtype: str | None = None,
         layer: int = -1, eta: float = 0.0, alpha: float = 0.05, k_frac: float = 0.2, ratio_kind: str = "o",
         kinds: str = "") -> Figure6:
    """Figure 6's data; the keyword defaults are the page's (``notebooks/06_...``).

    ``base_path`` with ``rl_paths`` (comma-separated, at least two) analyse a reader's own
    checkpoints; None takes the pipeline's runs (trained if missing). ``study_*``: the mask
    study's budget (None: the profile's).
    """
    scfg = ms.study_config(cfg.profile, start_step=start_step, steps=study_steps, lr=study_lr, dtype=study_dtype)
    inp = ms.inputs(cfg, scfg, base_path=base_path, rl_paths=rl_paths, sft_paths=sft_paths, step_paths=step_paths)
    analysis = ms.analyse(inp.base, inp.rl, inp.sft, eta=eta, alpha=alpha, k_frac=k_frac, layer=layer,
                          kinds=parse_kinds(kinds))
    return Figure6(scfg=scfg, inputs=inp, checkpoints=ms.describe_inputs(inp),
                   inputs_sentence=ms.inputs_sentence(inp, scfg), analysis=analysis,
                   ratios=ms.update_ratios(inp.base, inp.steps, kind=ratio_kind, layer=layer, eta=eta),
                   sparsity_by_kind=ms.sparsity_by(analysis, "kind"), in_all=ms.consistency_by_kind(analysis, "in_all"),
                   overlaps=ms.overlap_by_role(analysis), drift=ms.drift_by_layer(analysis),
                   numbers=ms.numbers(analysis))
