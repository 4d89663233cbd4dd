"""Figure 6 of paper B (arXiv 2511.08567): where RL writes, bf16 update masks across runs.

The mask analysis itself (one pass over the matrices, cached) is
:func:`sftrl.experiments.masks_study.analyse`; this module sums it up for the page.

Usage: ``d = figure6.data(config.profile("cpu")); d.numbers, d.analysis.images``
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.experiments import masks_study as ms
from sftrl.experiments.masks_study import MaskAnalysis, pooled
from sftrl.weights import checkpoints as ckpt
from sftrl.weights import masks
from sftrl.weights.checkpoints import parse_kinds, resolve_layer


class UpdateRatios(NamedTuple):
    """Row / column update ratios of one matrix at each kept step (arXiv 2511.08567)."""

    name: str  #: the matrix
    steps: list[int]  #: training steps, ascending
    rows: torch.Tensor  #: (steps, d_out)
    cols: torch.Tensor  #: (steps, d_in)


def update_ratios(base: str | Path, steps: Sequence[tuple[int, Path]], *, kind: str = "o", layer: int = -1,
                  eta: float | None = None) -> UpdateRatios:
    """:func:`sftrl.weights.masks.update_ratios_over_steps` of the ``kind`` matrix of ``layer``
    (-1 = middle), every checkpoint against ``base``."""
    if not steps:
        raise SftrlError("update_ratios needs at least one checkpoint")
    reader = ckpt.as_reader(base)
    key = reader.key(kind, resolve_layer(layer, reader.num_layers))
    rows, cols = masks.update_ratios_over_steps(reader, [p for _, p in steps], key.name, eta=eta)
    return UpdateRatios(key.name, [int(s) for s, _ in steps], rows, cols)


def sparsity_by(a: MaskAnalysis, by: str = "kind") -> dict[str, dict[Any, float]]:
    """``{"rl": {group: sparsity, ..., "all": s}, "sft": {...}}`` with groups the matrix
    kinds (``by="kind"``) or layers (``by="layer"``, ``None`` = outside the blocks); the
    entries of all runs of a role are pooled (weighted by entries)."""
    if by not in ("kind", "layer"):
        raise SftrlError(f"by must be 'kind' or 'layer', got {by!r}")
    out = {}
    for role, labels in (("rl", a.rl), ("sft", a.sft)):
        rows = pooled(a.sparsity, labels)
        if rows:
            out[role] = {**masks.aggregate_rows(rows, by=by, value="sparsity"),
                         "all": masks.aggregate_rows(rows, by="all", value="sparsity")["all"]}
    return out


def consistency_by_kind(a: MaskAnalysis, value: str = "in_all") -> tuple[dict[str, float], dict[str, float]]:
    """Observed and independence-expected agreement per matrix kind (and ``"all"``).

    ``value``: ``"in_all"`` (fraction updated in every run) or ``"jaccard"`` (mean
    pairwise Jaccard, per-matrix means weighted by entries).
    """
    if value not in ("in_all", "jaccard"):
        raise SftrlError(f"value must be 'in_all' or 'jaccard', got {value!r}")
    rows = a.consistency
    obs = {**masks.aggregate_rows(rows, by="kind", value=value), **masks.aggregate_rows(rows, by="all", value=value)}
    exp = {**masks.aggregate_rows(rows, by="kind", value=f"{value}_expected"),
           **masks.aggregate_rows(rows, by="all", value=f"{value}_expected")}
    return obs, exp


def overlap_by_role(a: MaskAnalysis) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """``({role: {"principal": o, "low": o}}, {role: update density})``, pooled per role."""
    overlaps, chance = {}, {}
    for role, labels in (("rl", a.rl), ("sft", a.sft)):
        rows = pooled(a.overlap, labels)
        if rows:
            overlaps[role] = {"principal": masks.aggregate_rows(rows, by="all", value="principal")["all"],
                              "low": masks.aggregate_rows(rows, by="all", value="low")["all"]}
            chance[role] = masks.aggregate_rows(rows, by="all", value="density")["all"]
    return overlaps, chance


def drift_by_layer(a: MaskAnalysis) -> tuple[list[int], dict[str, list[float]], dict[str, list[float]]]:
    """``(layers, {role: drift per layer}, {role: largest angle per layer})``: unweighted
    means over a layer's matrices and the role's runs."""
    layers = sorted({r.layer for rows in a.drift.values() for r in rows if r.layer is not None})
    drift, angle = {}, {}
    for role, labels in (("rl", a.rl), ("sft", a.sft)):
        rows = [r for r in pooled(a.drift, labels) if r.layer is not None]
        if rows:
            d = masks.aggregate_rows(rows, by="layer", value="drift", weighted=False)
            g = masks.aggregate_rows(rows, by="layer", value="angle", weighted=False)
            drift[role] = [d.get(layer, float("nan")) for layer in layers]
            angle[role] = [g.get(layer, float("nan")) for layer in layers]
    return layers, drift, angle


def _z(observed: float, expected: float, n: float) -> float:
    """Binomial z-score of an observed fraction against its expectation over ``n`` entries
    (entries are not independent: a guide, not a test)."""
    sd = math.sqrt(max(expected * (1 - expected), 0.0) / max(n, 1.0))
    if sd == 0:
        return 0.0 if observed == expected else math.copysign(math.inf, observed - expected)
    return (observed - expected) / sd


def numbers(a: MaskAnalysis) -> dict[str, float]:
    """Every number the Figure 6 prose quotes (fractions in [0, 1], angles in degrees).

    Per-run extremes (``*_min``, ``*_max``) let a verdict say whether all RL runs lie on one
    side of SFT; z-scores compare observed fractions with chance over the entries involved.
    """
    out: dict[str, float] = {"n_rl": len(a.rl), "n_sft": len(a.sft), "layer": a.layer,
                             "alpha": a.settings.get("alpha", float("nan")),
                             "k_frac": a.settings.get("k_frac", float("nan"))}
    for role, labels in (("rl", a.rl), ("sft", a.sft)):
        per_run = [masks.aggregate_rows(a.sparsity[m], by="all", value="sparsity")["all"] for m in labels]
        rows = pooled(a.overlap, labels)
        n = sum(r.n for r in rows)
        if not per_run:
            continue
        out[f"{role}_sparsity"] = sum(per_run) / len(per_run)
        out[f"{role}_sparsity_min"], out[f"{role}_sparsity_max"] = min(per_run), max(per_run)
        density = masks.aggregate_rows(rows, by="all", value="density")["all"]
        out[f"{role}_density"] = density
        for region in ("principal", "low"):
            o = masks.aggregate_rows(rows, by="all", value=region)["all"]
            out[f"{role}_{region}"] = o
            out[f"{role}_{region}_ratio"] = o / density if density > 0 else float("nan")
            out[f"{role}_{region}_z"] = _z(o, density, a.settings.get("alpha", 0.05) * n)
        d_rows = pooled(a.drift, labels)
        if d_rows:
            out[f"{role}_drift"] = masks.aggregate_rows(d_rows, by="all", value="drift", weighted=False)["all"]
            out[f"{role}_angle"] = masks.aggregate_rows(d_rows, by="all", value="angle", weighted=False)["all"]
            per_run_angle = [masks.aggregate_rows(a.drift[m], by="all", value="angle", weighted=False)["all"]
                             for m in labels]
            per_run_drift = [masks.aggregate_rows(a.drift[m], by="all", value="drift", weighted=False)["all"]
                             for m in labels]
            out[f"{role}_angle_min"], out[f"{role}_angle_max"] = min(per_run_angle), max(per_run_angle)
            out[f"{role}_drift_min"], out[f"{role}_drift_max"] = min(per_run_drift), max(per_run_drift)
    if a.consistency:
        n = sum(r.n for r in a.consistency)
        obs, exp = consistency_by_kind(a, "in_all")
        out["in_all"], out["in_all_expected"] = obs["all"], exp["all"]
        out["in_all_ratio"] = obs["all"] / exp["all"] if exp["all"] > 0 else float("nan")
        out["in_all_z"] = _z(obs["all"], exp["all"], n)
        K = a.jaccard.shape[0]
        iu = torch.triu_indices(K, K, offset=1)
        out["jaccard"] = float(torch.nanmean(a.jaccard[iu[0], iu[1]]))
        out["jaccard_expected"] = float(torch.nanmean(a.jaccard_expected[iu[0], iu[1]]))
        out["jaccard_ratio"] = (out["jaccard"] / out["jaccard_expected"]
                                if out["jaccard_expected"] > 0 else float("nan"))
    return out


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
    ratios: UpdateRatios
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
                   ratios=update_ratios(inp.base, inp.steps, kind=ratio_kind, layer=layer, eta=eta),
                   sparsity_by_kind=sparsity_by(analysis, "kind"), in_all=consistency_by_kind(analysis, "in_all"),
                   overlaps=overlap_by_role(analysis), drift=drift_by_layer(analysis),
                   numbers=numbers(analysis))
