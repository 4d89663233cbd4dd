"""Where paper B's effects come from (arXiv 2511.08567): the learning-rate / dtype regime,
sparsity against training length, the geometry disruption and the off-principal probe.

Usage: ``d = figure7.data(config.profile("cpu")); d.regime, d.geometry, d.probe``
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from sftrl.config import StudyConfig, check_setting
from sftrl.evaluation import checkpoint
from sftrl.errors import SftrlError
from sftrl.experiments import length_study
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
    rotated_run,
    save_cached,
    start_checkpoint,
)
from sftrl.training import train
from sftrl.identity import checkpoint_identity
from sftrl.provenance import code_key
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
    permuted: bool  #: whether the change of coordinates (permutation or rotation) touched this matrix
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
    return _compare(orig, mapped, unmapped, oth, lambda layer, kind: layer in perms and kind in ("gate", "up", "down"))


def rotated_masks(start: str | Path, final: str | Path, rotations: Mapping[int, torch.Tensor], *,
                  eta: float | None = None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(mapped_back, unmapped)`` update masks of a run trained from ``start`` with its
    attention value spaces rotated by ``rotations`` (layer -> per-head rotations,
    :func:`sftrl.training.train.value_rotations`).

    A rotation mixes entries, so a mask cannot be mapped back, only the update: the run's
    delta in its own coordinates (``final`` minus the rotated start) is rotated back with
    :func:`sftrl.weights.masks.unrotate_attention_values` and added to the start, and that
    model's mask against the start is ``mapped_back``. ``unmapped`` is the run's own mask
    (``final`` against the rotated start) at the same positions.
    """
    base, ft = ckpt.as_reader(start), ckpt.as_reader(final)
    ckpt.check_comparable(base, ft)
    keys = base.keys()
    original = {k.name: base.get(k.name) for k in keys}
    state = dict(original)
    for layer, rot in rotations.items():
        state = masks.rotate_attention_values(state, layer, rot)
    mapped, unmapped = {}, {}
    for k in keys:
        W1 = ft.get(k.name)
        unmapped[k.name] = masks.bf16_update_mask(state[k.name], W1, eta=eta)
        delta = W1.double() - state[k.name].double()
        layer, kind = masks.parse_matrix_name(k.name)
        if layer in rotations and kind in ("v", "o"):
            delta = masks.unrotate_attention_values(delta, kind, rotations[layer])
        moved = (original[k.name].double() + delta).float()
        mapped[k.name] = masks.bf16_update_mask(original[k.name], moved, eta=eta)
    return mapped, unmapped


def start_rotations(start: str | Path, seed: int) -> dict[int, torch.Tensor]:
    """The rotations :func:`sftrl.training.train.rl` applies for ``rotate_seed=seed``."""
    from sftrl.training.model import load_model

    train.quiet_libraries()
    model, _ = load_model(start)
    return train.value_rotations(model, seed)


def _compare(orig: Mapping[str, torch.Tensor], mapped: Mapping[str, torch.Tensor],
             unmapped: Mapping[str, torch.Tensor], other: Mapping[str, torch.Tensor],
             moved: Any) -> list[GeometryRow]:
    rows = []
    for name, m0 in orig.items():
        layer, kind = masks.parse_matrix_name(name)
        p0, p1 = masks.update_density(m0), masks.update_density(mapped[name])
        rows.append(GeometryRow(name, layer, kind, moved(layer, kind), masks.jaccard(m0, mapped[name]),
                                masks.jaccard(m0, unmapped[name]), masks.jaccard(m0, other[name]),
                                masks.jaccard_expected(p0, p1), m0.numel()))
    return rows


def rotation_rows(start: str | Path, original: str | Path, rotated: str | Path, other: str | Path,
                  rotations: Mapping[int, torch.Tensor], *, eta: float | None = None) -> list[GeometryRow]:
    """:func:`geometry_rows` for the rotated start: per matrix, the Jaccard of the original
    run's mask with the rotated run's (update mapped back, and mask left in place), with
    another seed's, and chance; ``permuted`` marks the rotated v and o matrices."""
    mapped, unmapped = rotated_masks(start, rotated, rotations, eta=eta)
    orig = masks.checkpoint_update_masks(start, original, eta=eta)
    oth = masks.checkpoint_update_masks(start, other, eta=eta)
    return _compare(orig, mapped, unmapped, oth, lambda layer, kind: layer in rotations and kind in ("v", "o"))


def _changed_start_table(cfg: StudyConfig, scfg: MaskStudyConfig, change: str,
                         eta: float | None) -> list[GeometryRow]:
    """The rows of one change of coordinates (``"permute"`` or ``"rotate"``) for the study's
    runs: ``"seed 0"``, the run from the changed start, and the next variant as the other
    seed (cached by the checkpoints, the seed, eta and this module's code)."""
    check_settings(eta, 0.5, 1.0)
    run, seed, maps, compare = {
        "permute": (permuted_run, scfg.permute_seed, start_permutations, geometry_rows),
        "rotate": (rotated_run, scfg.rotate_seed, start_rotations, rotation_rows)}[change]
    runs = rl_runs(cfg, scfg)
    names = list(runs)
    start = start_checkpoint(cfg, scfg)
    original, other = final_checkpoint(runs[names[0]]), final_checkpoint(runs[names[1]])
    changed = final_checkpoint(run(cfg, scfg))
    key = {"fp": [checkpoint_identity(p) for p in (start, original, changed, other)], "seed": seed, "eta": eta,
           **code_key("sftrl.experiments.figure7")}  # the comparison lives here, not in masks_study
    cache = cache_file("geometry" if change == "permute" else "rotation", key)
    state = load_cached(cache)
    if state is not None:
        return [GeometryRow(**r) for r in state]
    rows = compare(start, original, changed, other, maps(start, seed), eta=eta)
    save_cached(cache, [r._asdict() for r in rows])
    return rows


def rotation_table(cfg: StudyConfig, scfg: MaskStudyConfig, *, eta: float | None = None) -> list[GeometryRow]:
    """:func:`rotation_rows` for the study's runs (the rotated start)."""
    return _changed_start_table(cfg, scfg, "rotate", eta)


def geometry_table(cfg: StudyConfig, scfg: MaskStudyConfig, *, eta: float | None = None) -> list[GeometryRow]:
    """:func:`geometry_rows` for the study's runs (the permuted start)."""
    return _changed_start_table(cfg, scfg, "permute", eta)


#: the group of rotated matrices in :func:`geometry_by_group`: the rows the geometry claim is judged on
ROTATED = "attention values (rotated)"


def geometry_by_group(rows: Sequence[GeometryRow], rotated: Sequence[GeometryRow] = ()) -> dict[str, dict[str, float]]:
    """``{"MLP (permuted)": {...}, "attention (not permuted)": {...}, ROTATED: {...}}``:
    each comparison's mean Jaccard over the group's matrices (weighted by entries, NaN pairs
    skipped); ``rows`` from the permuted start, ``rotated`` (optional) from the rotated one."""
    groups = {"MLP (permuted)": [r for r in rows if r.permuted],
              "attention (not permuted)": [r for r in rows if r.kind in ("q", "k", "v", "o")],
              ROTATED: [r for r in rotated if r.permuted]}
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
class Length:
    """The sparsity-against-length study as the page shows it."""

    runs: list[dict[str, Any]]
    """One row per run (:func:`sftrl.experiments.length_study.table`)."""
    half_ulp: dict[str, float]
    """Quantile (as text) -> the start's bf16 half unit at it: the precision threshold."""
    source: str
    """One sentence: which profile and code made the numbers, and whether it is today's."""


def length_data(cfg: StudyConfig, scfg: MaskStudyConfig, source: str = "log") -> Length:
    """The length study: ``source="log"`` reads the committed snapshot of ``make study``
    (:data:`sftrl.experiments.length_study.SNAPSHOT`, made under its own profile),
    ``"run"`` runs the study under ``cfg``'s profile now (cached like every run)."""
    check_setting("length_from", source)
    if source == "run":
        start = start_checkpoint(cfg, scfg)
        half = masks.half_ulp_quantiles(start, length_study.QUANTILES)
        return Length(length_study.table(cfg, scfg), {str(q): v for q, v in half.items()},
                      f"The runs below were trained for this page under the {cfg.profile} profile.")
    snap = length_study.read()
    if snap is None:
        raise SftrlError(f"no length-study snapshot at {length_study.SNAPSHOT.name}: run `make study`, or set "
                         "length_from='run'")
    made = snap.get("made_by") or {}
    today = ("today's code made it" if length_study.is_current(snap) else
             "code older than today's made it (rerun `make study` to refresh it)")
    commit = str(made.get("commit", "?"))
    at = f"commit {commit[:7]}" + (" with changes not yet committed" if "+" in commit else "")
    source_text = (f"These numbers are `make study`'s committed snapshot under the {snap.get('profile')} profile, "
                   f"made from {at} (code digest {made.get('code', '?')}) on {made.get('processor', '?')} "
                   f"({made.get('cpus', '?')} cores); {today}.")
    return Length(snap["runs"], snap.get("half_ulp", {}), source_text)


@dataclass(frozen=True)
class Figure7:
    """What the geometry-and-probe page draws and its claims are judged on."""

    scfg: ms.MaskStudyConfig
    """The mask study's budget."""
    regime: list[dict[str, Any]]
    """One row per (role, lr, dtype) of the regime sweep."""
    geometry: dict[str, dict[str, float]]
    """Mean Jaccard of the permuted and the rotated run's masks with the original's, by matrix group."""
    curves: dict[str, tuple[list[int], list[float]]]
    """Reward over training of each probe run, by gradient mask."""
    probe: list[dict[str, Any]]
    """One row per probe mask (and the start): reward and accuracy."""
    length: Length
    """The sparsity-against-length study."""


def data(cfg: StudyConfig, *, start_step: int = -1, study_steps: int | None = None, study_lr: float | None = None,
         study_dtype: str | None = None, eta: float = 0.0, alpha: float = 0.05, k_frac: float = 0.2,
         permute_seed: int = 1, rotate_seed: int = 1, probe_alpha: float = 0.2, probe_rank: float = 0.2,
         probe_lr: float | None = None, probe_steps: int | None = None, length_from: str = "log") -> Figure7:
    """The page's data; the keyword defaults are the page's (``notebooks/07_...``). Runs
    missing from the cache are trained once."""
    check_setting("length_from", length_from)  # before any run is trained
    scfg = ms.study_config(cfg.profile, start_step=start_step, steps=study_steps, lr=study_lr, dtype=study_dtype,
                           permute_seed=permute_seed, rotate_seed=rotate_seed, probe_alpha=probe_alpha,
                           probe_rank=probe_rank, probe_lr=probe_lr, probe_steps=probe_steps)
    return Figure7(scfg=scfg, regime=regime_table(cfg, scfg, eta=eta, alpha=alpha, k_frac=k_frac),
                   geometry=geometry_by_group(geometry_table(cfg, scfg, eta=eta),
                                              rotation_table(cfg, scfg, eta=eta)),
                   curves=probe_curves(cfg, scfg), probe=probe_table(cfg, scfg),
                   length=length_data(cfg, scfg, length_from))
