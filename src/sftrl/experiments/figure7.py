"""Where paper B's effects come from (arXiv 2511.08567): the learning-rate / dtype regime,
the geometry disruption and the off-principal probe.

Usage: ``d = figure7.data(config.profile("cpu")); d.regime, d.geometry, d.probe``
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from sftrl.config import StudyConfig
from sftrl.evaluation import checkpoint
from sftrl.experiments import masks_study as ms
from sftrl.experiments.masks_study import (
    MaskStudyConfig,
    analyse,
    cache_file,
    check_settings,
    final_checkpoint,
    load_cached,
    permuted_run,
    probe_runs,
    regime_runs,
    reward_summary,
    rl_runs,
    save_cached,
    start_checkpoint,
)
from sftrl.training import train
from sftrl.identity import checkpoint_identity
from sftrl.weights import checkpoints as ckpt
from sftrl.weights import masks


def regime_table(cfg: StudyConfig, scfg: MaskStudyConfig, *, eta: float | None = None, alpha: float = 0.05,
                 k_frac: float = 0.2, kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One row per (role, lr, dtype): sparsity, update density and the principal /
    low-magnitude overlap against that chance level (ratio 1 = chance)."""
    check_settings(eta, alpha, k_frac)
    runs = regime_runs(cfg, scfg)
    start = start_checkpoint(cfg, scfg)
    models = {f"{k[0]} lr {k[1]:g} {k[2]}": final_checkpoint(run) for k, run in runs.items()}
    rl = {lab: p for lab, p in models.items() if lab.startswith("rl")}
    sft = {lab: p for lab, p in models.items() if lab.startswith("sft")}
    a = analyse(start, rl, sft, eta=eta, alpha=alpha, k_frac=k_frac, kinds=kinds, consistency=False, drift=False)
    rows = []
    for (role, lr, dtype), run in runs.items():
        label = f"{role} lr {lr:g} {dtype}"
        sp = masks.aggregate_rows(a.sparsity[label], by="all", value="sparsity")["all"]
        ov = a.overlap[label]
        density = masks.aggregate_rows(ov, by="all", value="density")["all"]
        row = {"role": role, "lr": lr, "dtype": dtype, "sparsity": sp, "density": density, "run": run.id}
        for region in ("principal", "low"):
            o = masks.aggregate_rows(ov, by="all", value=region)["all"]
            row[region] = o
            row[f"{region}_ratio"] = o / density if density > 0 else float("nan")
        row.update({k: v for k, v in reward_summary(run).items() if role == "rl"})
        rows.append(row)
    return rows


class GeometryRow(NamedTuple):
    """Agreement of one matrix's permuted-run mask with the original run's."""

    name: str  #: parameter name
    layer: int | None  #: transformer block
    kind: str  #: q, k, v, o, gate, up, down, ...
    permuted: bool  #: whether the permutation moved this matrix's entries
    mapped: float  #: Jaccard(original, permuted run's mask mapped back)
    unmapped: float  #: Jaccard(original, permuted run's mask at the same positions)
    other_seed: float  #: Jaccard(original, the run with another seed), the natural spread
    chance: float  #: Jaccard of independent masks of the two densities
    n: int  #: number of entries


def permuted_masks(start: str | Path, final: str | Path, perms: Mapping[int, torch.Tensor], *,
                   eta: float | None = None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(mapped_back, unmapped)`` update masks of a run trained from ``start`` with its MLP
    hidden units permuted by ``perms`` (layer -> perm, :func:`sftrl.training.train.mlp_permutations`).

    The mask is taken in the run's own coordinates (``final`` against the permuted start),
    then mapped back with :func:`sftrl.weights.masks.unpermute_mlp_masks`; ``unmapped`` is the
    same mask left where it is (what a comparison that ignored the permutation would see).
    """
    base, ft = ckpt.as_reader(start), ckpt.as_reader(final)
    ckpt.check_comparable(base, ft)
    keys = base.keys()
    state = {k.name: base.get(k.name) for k in keys}
    for layer, perm in perms.items():
        state = masks.permute_mlp_hidden(state, layer, perm)
    unmapped = {k.name: masks.bf16_update_mask(state[k.name], ft.get(k.name), eta=eta) for k in keys}
    return masks.unpermute_mlp_masks(unmapped, perms), unmapped


def start_permutations(start: str | Path, seed: int) -> dict[int, torch.Tensor]:
    """The permutations :func:`sftrl.training.train.rl` applies for ``permute_seed=seed``."""
    from sftrl.training.model import load_model

    train.quiet_libraries()  # no weight-loading progress bar on the page
    model, _ = load_model(start)
    return train.mlp_permutations(model, seed)


def geometry_rows(start: str | Path, original: str | Path, permuted: str | Path, other: str | Path,
                  perms: Mapping[int, torch.Tensor], *, eta: float | None = None) -> list[GeometryRow]:
    """Per-matrix Jaccard of the original run's mask with the permuted run's (mapped back
    and not), with another seed's, and the chance level (arXiv 2511.08567's geometry test)."""
    mapped, unmapped = permuted_masks(start, permuted, perms, eta=eta)
    orig = masks.checkpoint_update_masks(start, original, eta=eta)
    oth = masks.checkpoint_update_masks(start, other, eta=eta)
    rows = []
    for name, m0 in orig.items():
        layer, kind = masks.parse_matrix_name(name)
        moved = layer in perms and kind in ("gate", "up", "down")
        p0, p1 = masks.update_density(m0), masks.update_density(mapped[name])
        rows.append(GeometryRow(name, layer, kind, moved, masks.jaccard(m0, mapped[name]),
                                masks.jaccard(m0, unmapped[name]), masks.jaccard(m0, oth[name]),
                                masks.jaccard_expected(p0, p1), m0.numel()))
    return rows


def geometry_table(cfg: StudyConfig, scfg: MaskStudyConfig, *, eta: float | None = None) -> list[GeometryRow]:
    """:func:`geometry_rows` for the study's runs: ``"seed 0"``, the permuted run, and the
    next variant as the other seed (cached)."""
    check_settings(eta, 0.5, 1.0)
    runs = rl_runs(cfg, scfg)
    names = list(runs)
    start = start_checkpoint(cfg, scfg)
    original, other = final_checkpoint(runs[names[0]]), final_checkpoint(runs[names[1]])
    permuted = final_checkpoint(permuted_run(cfg, scfg))
    key = {"fp": [checkpoint_identity(p) for p in (start, original, permuted, other)],
           "seed": scfg.permute_seed, "eta": eta}
    cache = cache_file("geometry", key)
    state = load_cached(cache)
    if state is not None:
        return [GeometryRow(**r) for r in state]
    rows = geometry_rows(start, original, permuted, other, start_permutations(start, scfg.permute_seed), eta=eta)
    save_cached(cache, [r._asdict() for r in rows])
    return rows


def geometry_by_group(rows: Sequence[GeometryRow]) -> dict[str, dict[str, float]]:
    """``{"MLP (permuted)": {...}, "attention (not permuted)": {...}}``: each comparison's
    mean Jaccard over the group's matrices (weighted by entries, NaN pairs skipped)."""
    groups = {"MLP (permuted)": [r for r in rows if r.permuted],
              "attention (not permuted)": [r for r in rows if r.kind in ("q", "k", "v", "o")]}
    out = {}
    for group, rs in groups.items():
        if rs:
            out[group] = {v: masks.aggregate_rows(rs, by="all", value=v).get("all", float("nan"))
                          for v in ("mapped", "unmapped", "other_seed", "chance")}
    return out


def probe_curves(cfg: StudyConfig, scfg: MaskStudyConfig) -> dict[str, tuple[list[int], list[float]]]:
    """``{mask: (steps, mean reward)}`` from each probe run's training log."""
    out = {}
    for m, run in probe_runs(cfg, scfg).items():
        rows = [r for r in run.metrics() if "reward" in r]
        out[m] = ([int(r["step"]) for r in rows], [float(r["reward"]) for r in rows])
    return out


def probe_table(cfg: StudyConfig, scfg: MaskStudyConfig) -> list[dict[str, Any]]:
    """One row per probe mask (plus ``"start"``): reward at the start and end of training,
    and ID / OOD accuracy (with Wilson intervals) of the final checkpoint."""
    train.quiet_libraries()  # evaluation loads models: no progress bars on the page
    rows = []
    start = start_checkpoint(cfg, scfg)
    entries: list[tuple[str, Path, dict[str, float]]] = [("start", start, {})]
    for m, run in probe_runs(cfg, scfg).items():
        entries.append((m, final_checkpoint(run), reward_summary(run)))
    for mask, path, reward in entries:
        acc = checkpoint.accuracy(path, cfg)
        row: dict[str, Any] = {"mask": mask, "density": 1.0 if mask in ("start", "none") else scfg.probe_alpha}
        for k in ("reward_start", "reward_end", "reward_end_se", "no_signal"):
            row[k] = reward.get(k, float("nan"))
        for split in ("id", "ood"):
            row[split] = acc[split]["accuracy"]
            row[f"{split}_ci"] = (acc[split]["ci_low"], acc[split]["ci_high"])
        rows.append(row)
    return rows


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
    return Figure7(scfg=scfg, regime=regime_table(cfg, scfg, eta=eta, alpha=alpha, k_frac=k_frac),
                   geometry=geometry_by_group(geometry_table(cfg, scfg, eta=eta)),
                   curves=probe_curves(cfg, scfg), probe=probe_table(cfg, scfg))
