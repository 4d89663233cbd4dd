"""Paper B's questions for checkpoints a user brings, one matrix at a time.

:func:`report` compares a base with one or more fine-tuned descendants (runs from that
base: RL or SFT, any Hugging Face folder) and answers, per weight matrix, the questions of
*The Path Not Taken* (arXiv 2511.08567) with the measures of :mod:`sftrl.weights.masks`:

- **update sparsity**, in the bitwise bf16 form and in the tolerance form
  (``|w' - w| > eta max(|w|, |w'|)``);
- **principal and low-magnitude overlap**: the share of the base's principal region
  (LIFT, arXiv 2506.00772) and of its low-magnitude region that a run updated, beside the
  chance level (the run's update density);
- **spectral drift** of the top-k singular values and the largest principal angle of the
  top-k left singular subspace (through :class:`sftrl.weights.spectral.SVDCache`);
- **consistency** across the runs (two or more): the fraction updated in every run and the
  mean pairwise Jaccard index, each beside its independence baseline.

The overlaps, the consistency and the images use the bitwise mask, paper B's main form.
Only one matrix is in memory at a time (its base, each run's copy and their masks), so a
1.5B model is analysed on a laptop; the SVDs are cached per checkpoint like ``spectra``'s.
The book's Figures 6 and 7 compute the same measures for the book's own runs
(:mod:`sftrl.experiments.masks_study`).

Usage::

    from sftrl.weights import masks_report
    result = masks_report.report("base", ["rl-seed0", "rl-seed1"], settings=masks_report.Settings())
    result.runs[0]          # one RunRow: a matrix of one run
    result.consistency[0]   # one ConsistencyRow (two or more runs)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from sftrl.config import check_setting
from sftrl.errors import SftrlError
from sftrl.weights import checkpoints as ckpt
from sftrl.weights import masks, spectral
from sftrl.weights.checkpoints import CheckpointReader, MatrixKey


@dataclass(frozen=True)
class Settings:
    """What :func:`report` measures; checked once by :meth:`check`, before any work."""

    eta: float = 1e-3
    """tolerance of the tolerance form: an entry counts as updated when
    ``|w' - w| > eta max(|w|, |w'|)`` in bf16 (paper B's form, its value *unconfirmed*);
    any eta below 2^-9 gives the bitwise mask"""
    alpha: float = 0.05
    """fraction of a matrix's entries in its principal and in its low-magnitude region"""
    k_frac: float = 0.2
    """rank of the principal reconstruction, and the top-k of the drift and the angle, as a
    fraction of each matrix's rank"""
    kinds: tuple[str, ...] | None = None
    """matrix types to analyse (embed, q, k, v, o, gate, up, down, lm_head); None: all"""
    layers: tuple[int, ...] | None = None
    """transformer blocks to analyse; None: all (embed and lm_head are not in a block)"""
    drift: bool = True
    """also compute the spectral drift and angle (two SVDs per matrix and run, cached)"""
    image: tuple[int, str] | None = None
    """(layer, type) of the matrix whose consistency image :func:`report` keeps"""

    def check(self) -> Settings:
        """SftrlError naming the first bad setting; the settings themselves otherwise."""
        check_setting("eta", self.eta)
        check_setting("alpha", self.alpha)
        spectral.check_k_frac(self.k_frac)
        ckpt.select_keys([], kinds=self.kinds)  # names an unknown type
        if self.image is not None and self.image[1] not in ckpt.BLOCK_KINDS:
            raise SftrlError(f"image: type {self.image[1]!r} is not a block matrix type "
                             f"(one of {', '.join(ckpt.BLOCK_KINDS)})")
        return self


class RunRow(NamedTuple):
    """One matrix of one run against the base (arXiv 2511.08567)."""

    run: str  #: the run's checkpoint, as given
    name: str  #: parameter name
    layer: int | None  #: transformer block, None outside the blocks
    kind: str  #: q, k, v, o, gate, up, down, embed, lm_head
    shape: tuple[int, int]  #: (d_out, d_in)
    sparsity: float  #: 1 - updated / total, bitwise bf16 mask
    sparsity_eta: float  #: the same in the tolerance form
    principal: float  #: share of the base's principal region updated
    low: float  #: share of the base's low-magnitude region updated
    density: float  #: share of all entries updated: the chance level of both overlaps
    drift: float  #: relative change of the top-k singular values (NaN without drift)
    angle: float  #: largest principal angle of the top-k left subspace, degrees (NaN without drift)
    n: int  #: number of entries


@dataclass
class Report:
    """What :func:`report` found: a row per matrix and run, and per matrix across runs."""

    base: str  #: the base checkpoint, as given
    runs_given: list[str]  #: the runs, as given
    settings: Settings  #: what was measured
    runs: list[RunRow] = field(default_factory=list)  #: per matrix and run
    consistency: list[masks.ConsistencyRow] = field(default_factory=list)  #: per matrix (2+ runs)
    image: np.ndarray | None = None  #: the consistency image of ``settings.image`` (pooled)


def open_checkpoint(checkpoint: str | Path | CheckpointReader) -> CheckpointReader:
    """A reader for a local folder or a hub id (:func:`checkpoints.resolve_checkpoint`);
    a reader is returned as it is."""
    if isinstance(checkpoint, CheckpointReader):
        return checkpoint
    return CheckpointReader(ckpt.resolve_checkpoint(checkpoint))


def _label(checkpoint: str | Path | CheckpointReader) -> str:
    return str(checkpoint.path if isinstance(checkpoint, CheckpointReader) else checkpoint)


def plan(base: CheckpointReader, runs: Sequence[CheckpointReader], settings: Settings) -> list[MatrixKey]:
    """The matrices :func:`report` will read, after every check that needs no weights:
    the settings, the runs' names and shapes against the base, the image's matrix."""
    settings.check()
    if not runs:
        raise SftrlError("masks needs at least one run to compare with the base")
    for run in runs:
        ckpt.check_comparable(base, run)  # names the first mismatched tensor
    keys = ckpt.select_keys(base.keys(), kinds=settings.kinds, layers=settings.layers, num_layers=base.num_layers)
    if not keys:
        raise SftrlError(f"no matrices of types {settings.kinds} / layers {settings.layers} in {base.path}")
    if settings.image is not None:
        layer, kind = settings.image
        ckpt.resolve_layer(layer, base.num_layers)  # names a layer the model lacks
        if not any(k.layer == layer and k.kind == kind for k in keys):
            raise SftrlError(f"image: matrix {layer}.{kind} is not among the analysed matrices "
                             "(check --kinds and --layers)")
    return keys


def report(
    base: str | Path | CheckpointReader,
    runs: Sequence[str | Path | CheckpointReader],
    *,
    settings: Settings = Settings(),
    labels: Sequence[str] | None = None,
    device: str = "auto",
    cache_root: str | Path | None = None,
    progress: Callable[[MatrixKey], None] | None = None,
) -> Report:
    """Paper B's measures for every matrix of ``runs`` against ``base`` (arXiv 2511.08567).

    ``base`` and each run: a folder, a hub id or an open reader; ``labels`` name the runs
    in the rows (default: as given, or a reader's folder). Everything is checked (:func:`plan`) before the first weight is read. ``progress`` is
    called after each matrix.
    """
    base_r = open_checkpoint(base)
    run_rs = [open_checkpoint(r) for r in runs]
    keys = plan(base_r, run_rs, settings)
    spectral.resolve_device(device)
    if labels is not None and len(labels) != len(runs):
        raise SftrlError(f"{len(labels)} labels for {len(runs)} runs")
    out = Report(_label(base), list(labels) if labels is not None else [_label(r) for r in runs], settings)
    base_svd = spectral.SVDCache(base_r, device=device, root=cache_root)
    run_svds = [spectral.SVDCache(r, device=device, root=cache_root) for r in run_rs]
    for key in keys:
        W0 = base_r.get(key.name)
        principal = masks.principal_mask(W0, k=settings.k_frac, alpha=settings.alpha,
                                         usv=tuple(base_svd.load(key)))
        low = masks.low_magnitude_mask(W0, alpha=settings.alpha)
        run_masks = []
        for label, reader, svds in zip(out.runs_given, run_rs, run_svds):
            W1 = reader.get(key.name)
            bitwise = masks.bf16_update_mask(W0, W1)
            tolerant = masks.bf16_update_mask(W0, W1, eta=settings.eta)
            drift = angle = math.nan
            if settings.drift:
                row = spectral.compare_matrix(base_svd, svds, key, k_frac=settings.k_frac)
                drift, angle = row["spectral_drift"], row["max_angle_u"]
                svds.forget()
            out.runs.append(RunRow(label, key.name, key.layer, key.kind, tuple(W0.shape),
                                   masks.update_sparsity(bitwise), masks.update_sparsity(tolerant),
                                   masks.mask_overlap(bitwise, principal), masks.mask_overlap(bitwise, low),
                                   masks.update_density(bitwise), drift, angle, W0.numel()))
            run_masks.append(bitwise)
        if len(run_masks) >= 2:
            out.consistency += masks.consistency_table([{key.name: m} for m in run_masks])
        if settings.image == (key.layer, key.kind):
            stack = run_masks if len(run_masks) >= 2 else run_masks * 2  # one run: its own mask
            out.image = masks.pool_image(masks.update_consistency(stack).numpy())
        base_svd.forget()
        if progress is not None:
            progress(key)
    return out


def by_group(rows: Sequence[NamedTuple], by: str) -> list[dict]:
    """Rows merged per (run, type) or (run, layer) through :func:`masks.aggregate_rows`:
    entry-weighted means of the shares, plain means over matrices of the drift and the
    angle (``by``: "kind" or "layer")."""
    if by not in ("kind", "layer"):
        raise SftrlError(f"group by 'kind' or 'layer', got {by!r}")
    unweighted = {"drift", "angle"}
    runs: dict[str, list] = {}
    for row in rows:
        runs.setdefault(getattr(row, "run", ""), []).append(row)
    merged = []
    for run, members in runs.items():
        fields = [f for f, v in members[0]._asdict().items() if isinstance(v, float)]
        means = {f: masks.aggregate_rows(members, by=by, value=f, weighted=f not in unweighted) for f in fields}
        for group in dict.fromkeys(getattr(m, by) for m in members):
            entry = {"run": run, "layer": None, "kind": "all", "shape": None,
                     "n": sum(m.n for m in members if getattr(m, by) == group)}
            entry[by] = group
            entry |= {f: means[f].get(group, math.nan) for f in fields}
            merged.append(entry)
    return merged
