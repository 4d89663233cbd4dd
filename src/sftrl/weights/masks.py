"""Where fine-tuning writes: bf16 update masks, their consistency, and the model's geometry.

Reproduces the analysis of *The Path Not Taken* (arXiv 2511.08567, "paper B") on any
base / fine-tuned checkpoint pair:

- **update masks**: an entry is *updated* when its bf16 value changed
  (:func:`bf16_update_mask`); :func:`update_sparsity` is the fraction left untouched, per
  matrix, kind, layer and overall (:func:`checkpoint_update_masks`, :func:`sparsity_table`,
  :func:`aggregate_rows`);
- **consistency** across K runs from one base (:func:`update_consistency`,
  :func:`fraction_updated_in_all` against :func:`expected_fraction_in_all`, :func:`jaccard`
  against :func:`jaccard_expected`, :func:`consistency_table`);
- **row / column update ratios** and how they form over training
  (:func:`row_update_ratio`, :func:`col_update_ratio`, :func:`update_ratios_over_steps`);
- **updates over training length**: cumulative and per-step sparsity, the sign consistency
  of each entry's updates against a random walk's, and how the drift grows
  (:func:`length_summary`, :func:`sign_consistency`, :func:`drift_exponent`,
  :func:`bf16_half_ulp`, :func:`half_ulp_quantiles`);
- **principal weights** (LIFT, arXiv 2506.00772) and low-magnitude weights, and the update
  mask's overlap with them against the random baseline (:func:`principal_mask`,
  :func:`low_magnitude_mask`, :func:`mask_overlap`);
- **spectral drift and principal angles** per matrix, reusing :mod:`sftrl.weights.spectral`
  (:func:`drift_table`);
- **geometry disruption**: function-preserving re-parametrisations of the base and the maps
  back to the original coordinates (:func:`permute_mlp_hidden`, :func:`unpermute_mlp_hidden`,
  :func:`rotate_attention_values`, :func:`unrotate_attention_values`);
- **gradient masks** for the off-principal probe (:func:`make_gradient_masks`,
  :func:`apply_gradient_masks`).

Weights follow ``W = U @ diag(S) @ Vh`` with ``W`` of shape ``(d_out, d_in)`` as stored by
``torch.nn.Linear``: a *row* is an output unit, a *column* an input feature.

Usage::

    from sftrl.weights import masks
    m = masks.checkpoint_update_masks(base_path, rl_path)     # name -> bool mask
    rows = masks.sparsity_table(m)                            # (name, layer, kind, sparsity, n)
    masks.aggregate_rows(rows, by="kind", value="sparsity")   # {"q": 0.91, ...}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch

from sftrl.weights import checkpoints as ckpt
from sftrl.weights import spectral
from sftrl.weights.checkpoints import CheckpointReader, MatrixKey
from sftrl.errors import SftrlError

#: a bf16 value keeps 8 significant bits, so two distinct normal bf16 numbers differ by at
#: least 2^-8 of the larger magnitude: any eta below this makes the tolerance form bitwise
BF16_RELATIVE_RESOLUTION = 2.0**-8

PathLike = str | Path  #: a checkpoint folder (functions also take an open CheckpointReader)


# --------------------------------------------------------------------------------------
# bf16 update masks and sparsity
# --------------------------------------------------------------------------------------


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, what: str = "tensors") -> None:
    if a.shape != b.shape:
        raise SftrlError(f"{what} differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")


def _check_eta(eta: float | None) -> None:
    if eta is not None and (isinstance(eta, bool) or not (eta >= 0 and math.isfinite(eta))):
        raise SftrlError(f"eta must be None or a finite number >= 0, got {eta!r}")


def bf16_update_mask(
    W0: torch.Tensor, W1: torch.Tensor, *, eta: float | None = None
) -> torch.Tensor:
    """Entries of ``W1`` whose bf16 value differs from ``W0``'s (arXiv 2511.08567).

    Both matrices are cast to bfloat16 first, as paper B analyses bf16 checkpoints.

    - ``eta=None`` (bitwise form): updated where the two bf16 values differ.
    - ``eta`` given (tolerance form, *unconfirmed*: B's text, eta = 1e-3):
      ``|w1 - w0| > eta * max(|w0|, |w1|)`` on the bf16-cast values. For
      ``eta < 2^-8`` (:data:`BF16_RELATIVE_RESOLUTION`; the spec quotes the safe ``2^-9``)
      it equals the bitwise form, since distinct normal bf16 numbers differ relatively by
      at least 2^-8.

    Values are compared, not bit patterns: ``+0`` and ``-0`` count as equal.

    Returns a bool tensor of the common shape, ``True`` = updated.
    """
    _check_same_shape(W0, W1, "W0 and W1")
    _check_eta(eta)
    a0 = W0.detach().to(torch.bfloat16)
    a1 = W1.detach().to(torch.bfloat16)
    if eta is None:
        return a0 != a1
    # float32 holds the difference of two close bf16 numbers exactly (Sterbenz); far-apart
    # pairs differ relatively by ~1, nowhere near eta, so rounding cannot flip them
    f0, f1 = a0.float(), a1.float()
    return (f1 - f0).abs() > eta * torch.maximum(f0.abs(), f1.abs())


def update_density(mask: torch.Tensor) -> float:
    """Fraction of entries updated, ``updated / total`` (arXiv 2511.08567).

    It is also the random baseline of :func:`mask_overlap`: a mask of this density placed
    at random covers that fraction of any region.
    """
    if mask.numel() == 0:
        raise SftrlError("an empty mask has no update density")
    return float(mask.count_nonzero().item() / mask.numel())


def update_sparsity(mask: torch.Tensor) -> float:
    """Update sparsity ``1 - updated / total`` (arXiv 2511.08567).

    1.0 means no entry changed; paper B reports up to ~0.92 for RL, SFT near 0.
    """
    return 1.0 - update_density(mask)


def parse_matrix_name(name: str) -> tuple[int | None, str]:
    """``(layer, kind)`` of a Llama/Qwen2-style parameter name.

    ``"model.layers.3.self_attn.q_proj.weight"`` -> ``(3, "q")`` (the naming of
    :func:`sftrl.weights.checkpoints.parse_matrix_name`); a name outside the blocks has layer
    ``None``; a tensor that is not an analysed matrix has kind ``"other"``.
    """
    key = ckpt.parse_matrix_name(name)
    if key is not None:
        return key.layer, key.kind
    m = re.search(r"(?:^|\.)layers\.(\d+)\.", name)
    return (int(m.group(1)) if m else None), "other"


def _pair_keys(
    base_path: PathLike | CheckpointReader,
    ft_path: PathLike | CheckpointReader,
    kinds: Iterable[str] | None,
) -> tuple[CheckpointReader, CheckpointReader, list[MatrixKey]]:
    """Both readers and the chosen matrices, after checking names and shapes agree."""
    kinds = None if kinds is None else tuple(kinds)
    base, ft = ckpt.as_reader(base_path), ckpt.as_reader(ft_path)
    keys = ckpt.select_keys(base.keys(), kinds=kinds)  # names an unknown kind
    ckpt.check_comparable(base, ft)  # names the first mismatched tensor, before any work
    return base, ft, keys


def checkpoint_update_masks(
    base_path: PathLike,
    ft_path: PathLike,
    eta: float | None = None,
    kinds: Iterable[str] | None = None,
) -> dict[str, torch.Tensor]:
    """bf16 update mask of every matrix of a base / fine-tuned pair (arXiv 2511.08567).

    Reads one matrix at a time through :class:`sftrl.weights.checkpoints.CheckpointReader`;
    ``kinds`` (e.g. ``["q", "k", "v", "o", "down"]``) restricts the matrices. A fine-tuned
    checkpoint missing a base matrix, or with a different shape, is a :class:`SftrlError`.
    The masks themselves are kept (one bool per weight: ~1.5 GB for a 1.5B model).
    """
    _check_eta(eta)
    base, ft, keys = _pair_keys(base_path, ft_path, kinds)
    return {key.name: bf16_update_mask(base.get(key.name), ft.get(key.name), eta=eta) for key in keys}


class SparsityRow(NamedTuple):
    """One matrix's update sparsity."""

    name: str  #: parameter name in the checkpoint
    layer: int | None  #: transformer block, None outside the blocks
    kind: str  #: q, k, v, o, gate, up, down, embed, lm_head
    sparsity: float  #: 1 - updated / total
    n: int  #: number of entries


def sparsity_table(masks: Mapping[str, torch.Tensor]) -> list[SparsityRow]:
    """Per-matrix update sparsity rows ``(name, layer, kind, sparsity, n)`` (arXiv 2511.08567).

    ``pandas.DataFrame(rows)`` gives a table; :func:`aggregate_rows` sums per kind, layer
    or overall.
    """
    rows = []
    for name, mask in masks.items():
        layer, kind = parse_matrix_name(name)
        rows.append(SparsityRow(name, layer, kind, update_sparsity(mask), mask.numel()))
    return rows


def aggregate_rows(
    rows: Sequence[NamedTuple],
    *,
    by: Literal["kind", "layer", "all"],
    value: str,
    weighted: bool = True,
) -> dict[object, float]:
    """Mean of field ``value`` over rows grouped by ``kind``, ``layer`` or ``all``.

    ``weighted`` weights each row by its entry count ``n`` (so aggregated sparsity is
    exactly ``1 - total updated / total entries``); unweighted is the plain mean over
    matrices (natural for drift and angles). Rows whose value is NaN are skipped.
    """
    if by not in ("kind", "layer", "all"):
        raise SftrlError(f"aggregate by 'kind', 'layer' or 'all', got {by!r}")
    sums: dict[object, float] = {}
    weights: dict[object, float] = {}
    for row in rows:
        x = float(getattr(row, value))
        if math.isnan(x):
            continue
        key = "all" if by == "all" else getattr(row, by)
        w = float(getattr(row, "n")) if weighted else 1.0
        sums[key] = sums.get(key, 0.0) + w * x
        weights[key] = weights.get(key, 0.0) + w
    return {key: sums[key] / weights[key] for key in sums}


# --------------------------------------------------------------------------------------
# Consistency across runs
# --------------------------------------------------------------------------------------


def _check_runs(masks: Sequence[torch.Tensor]) -> None:
    if len(masks) < 2:
        raise SftrlError(f"consistency needs at least two runs, got {len(masks)}")
    for i, m in enumerate(masks[1:], start=1):
        _check_same_shape(masks[0], m, f"masks of run 0 and run {i}")


def update_consistency(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-entry fraction of the K runs that updated it (arXiv 2511.08567).

    ``masks``: K >= 2 bool masks of one matrix from K runs that share a base. 1.0 = every
    run updated the entry; the "stripes" are rows/columns of high consistency.
    """
    _check_runs(masks)
    total = torch.zeros(masks[0].shape, dtype=torch.float32)
    for m in masks:
        total += m.float()
    return total / len(masks)


def fraction_updated_in_all(masks: Sequence[torch.Tensor]) -> float:
    """Fraction of entries updated in every one of the K runs (arXiv 2511.08567)."""
    _check_runs(masks)
    every = masks[0].clone()
    for m in masks[1:]:
        every &= m
    return update_density(every)


def _check_density(p: float, what: str = "density") -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise SftrlError(f"{what} must lie in [0, 1], got {p!r}")
    return p


def expected_fraction_in_all(densities: Sequence[float]) -> float:
    """Independence expectation of :func:`fraction_updated_in_all`: ``prod_r p_r``.

    The fraction an entry is updated by all runs if each run r placed its updates at random
    with its own density p_r (arXiv 2511.08567's chance level).
    """
    if len(densities) < 2:
        raise SftrlError(f"consistency needs at least two runs, got {len(densities)}")
    return math.prod(_check_density(p) for p in densities)


def jaccard(a: torch.Tensor, b: torch.Tensor) -> float:
    """Jaccard index ``|a & b| / |a | b|`` of two update masks (arXiv 2511.08567).

    Two empty masks have no union: NaN (so a run that changed nothing shows as a gap,
    not as perfect agreement).
    """
    _check_same_shape(a, b, "the two masks")
    union = (a | b).count_nonzero().item()
    if union == 0:
        return float("nan")
    return float((a & b).count_nonzero().item() / union)


def jaccard_expected(p_a: float, p_b: float) -> float:
    """Jaccard of two independent random masks of densities ``p_a``, ``p_b`` (arXiv 2511.08567).

    ``p_a p_b / (p_a + p_b - p_a p_b)``: expected intersection over expected union. NaN
    when both densities are 0.
    """
    p_a, p_b = _check_density(p_a, "p_a"), _check_density(p_b, "p_b")
    union = p_a + p_b - p_a * p_b
    return float("nan") if union == 0 else p_a * p_b / union


def pairwise_jaccard(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """(K, K) matrix of :func:`jaccard` between every pair of K >= 2 runs; diagonal 1."""
    _check_runs(masks)
    k = len(masks)
    out = torch.ones(k, k, dtype=torch.float64)
    for i in range(k):
        for j in range(i + 1, k):
            out[i, j] = out[j, i] = jaccard(masks[i], masks[j])
    return out


def pairwise_jaccard_expected(densities: Sequence[float]) -> torch.Tensor:
    """(K, K) matrix of :func:`jaccard_expected` for the runs' densities; diagonal 1."""
    if len(densities) < 2:
        raise SftrlError(f"consistency needs at least two runs, got {len(densities)}")
    k = len(densities)
    out = torch.ones(k, k, dtype=torch.float64)
    for i in range(k):
        for j in range(i + 1, k):
            out[i, j] = out[j, i] = jaccard_expected(densities[i], densities[j])
    return out


def _off_diagonal_mean(m: torch.Tensor) -> float:
    k = m.shape[0]
    off = m[~torch.eye(k, dtype=torch.bool)]
    return float(torch.nanmean(off).item())


class ConsistencyRow(NamedTuple):
    """One matrix's agreement across K runs against the independence baseline."""

    name: str  #: parameter name
    layer: int | None  #: transformer block, None outside the blocks
    kind: str  #: q, k, v, o, gate, up, down, embed, lm_head
    in_all: float  #: fraction of entries updated in every run
    in_all_expected: float  #: prod_r p_r, the same if runs were independent
    jaccard: float  #: mean pairwise Jaccard
    jaccard_expected: float  #: mean pairwise Jaccard of independent masks
    n: int  #: number of entries


def consistency_table(runs: Sequence[Mapping[str, torch.Tensor]]) -> list[ConsistencyRow]:
    """Per-matrix consistency rows for K >= 2 runs' mask dicts (arXiv 2511.08567).

    ``runs[r]`` is :func:`checkpoint_update_masks` of run r against the common base; the
    runs must hold the same matrix names.
    """
    if len(runs) < 2:
        raise SftrlError(f"consistency needs at least two runs, got {len(runs)}")
    names = list(runs[0])
    for i, run in enumerate(runs[1:], start=1):
        if set(run) != set(names):
            diff = sorted(set(run) ^ set(names))
            raise SftrlError(f"run {i} holds different matrices from run 0, e.g. {diff[:3]}")
    rows = []
    for name in names:
        ms = [run[name] for run in runs]
        ps = [update_density(m) for m in ms]
        layer, kind = parse_matrix_name(name)
        rows.append(
            ConsistencyRow(
                name,
                layer,
                kind,
                fraction_updated_in_all(ms),
                expected_fraction_in_all(ps),
                _off_diagonal_mean(pairwise_jaccard(ms)),
                _off_diagonal_mean(pairwise_jaccard_expected(ps)),
                ms[0].numel(),
            )
        )
    return rows


# --------------------------------------------------------------------------------------
# Row and column update ratios
# --------------------------------------------------------------------------------------


def _check_2d(x: torch.Tensor, what: str = "matrix") -> None:
    if x.dim() != 2:
        raise SftrlError(f"{what} must be 2-D, got shape {tuple(x.shape)}")


def row_update_ratio(mask: torch.Tensor) -> torch.Tensor:
    """Fraction of entries updated in each row (output unit), shape ``(d_out,)`` (arXiv 2511.08567)."""
    _check_2d(mask, "mask")
    return mask.float().mean(dim=1)


def col_update_ratio(mask: torch.Tensor) -> torch.Tensor:
    """Fraction of entries updated in each column (input feature), shape ``(d_in,)`` (arXiv 2511.08567)."""
    _check_2d(mask, "mask")
    return mask.float().mean(dim=0)


def update_ratios_over_steps(
    base_path: PathLike,
    paths: Sequence[PathLike],
    name: str,
    *,
    eta: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column update ratios of matrix ``name`` at each checkpoint (arXiv 2511.08567).

    Each checkpoint's mask is taken against the base (cumulative since the start), so the
    rows show when the stripe pattern forms. Returns ``(rows, cols)`` of shapes
    ``(steps, d_out)`` and ``(steps, d_in)``.
    """
    if not paths:
        raise SftrlError("update_ratios_over_steps needs at least one checkpoint path")
    _check_eta(eta)
    base = ckpt.as_reader(base_path)
    if name not in {k.name for k in base.keys()}:
        raise SftrlError(f"{name!r} is not a matrix of {base_path}")
    W0 = base.get(name)
    rows, cols = [], []
    for path in paths:
        ft = ckpt.as_reader(path)
        if name not in {k.name for k in ft.keys()}:
            raise SftrlError(f"{name!r} is not a matrix of {path}")
        W1 = ft.get(name)
        _check_same_shape(W0, W1, f"{name} of {base_path} and {path}")
        mask = bf16_update_mask(W0, W1, eta=eta)
        rows.append(row_update_ratio(mask))
        cols.append(col_update_ratio(mask))
    return torch.stack(rows), torch.stack(cols)


# --------------------------------------------------------------------------------------
# Updates over training: cumulative and per-step sparsity, sign consistency, drift growth
# --------------------------------------------------------------------------------------
#
# Two accounts of why RL leaves bf16 weights untouched (arXiv 2511.08567, and issue notes
# from arXiv 2602.03839): *precision* (an entry changes in bf16 only once its total drift
# exceeds about half a unit in its last place, |w| 2^-9) and *accumulation* (noisy
# on-policy gradients flip sign from step to step, so the drift grows like a random walk,
# ~ lr sqrt(T), where consistent SFT gradients give ~ lr T). The statistics below read both
# off one run's kept checkpoints W_0 (the start), W_1, ..., W_n:
#
# - cumulative sparsity: bf16 mask of W_t against W_0;
# - per-step sparsity: bf16 mask of W_t against W_{t-1} (consecutive kept checkpoints);
# - sign consistency: per entry, |sum_i sign(W_i - W_{i-1})| / n over the n intervals,
#   1 for an entry that always moves one way, E|S_n|/n for independent fair signs;
# - drift exponent: the slope of log mean|W_t - W_0| against log t; 1 for consistent
#   updates, 1/2 for a random walk, 0 for an entry that oscillates in place.


def bf16_half_ulp(W: torch.Tensor) -> torch.Tensor:
    """Half a unit in the last place of each entry's bf16 value: the smallest change that
    can alter the entry once rounded to bf16 (the *precision gate* of arXiv 2511.08567).

    A bf16 number keeps 8 significant bits, so for ``2^e <= |w| < 2^(e+1)`` the unit is
    ``2^(e-7)`` and half of it ``2^(e-8)``, between ``|w| 2^-9`` and ``|w| 2^-8``. Zeros get 0.
    """
    a = W.detach().to(torch.bfloat16).float().abs()
    _, exponent = torch.frexp(a)  # a = m 2^exponent with 0.5 <= m < 1, so e = exponent - 1
    return torch.where(a > 0, torch.ldexp(torch.ones_like(a), exponent - 9), torch.zeros_like(a))


def half_ulp_quantiles(
    checkpoint: PathLike | CheckpointReader,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    kinds: Iterable[str] | None = None,
) -> dict[float, float]:
    """Quantiles of :func:`bf16_half_ulp` over every matrix entry of a checkpoint: the
    size a weight's total change must reach before bf16 sees it.

    Exact and streamed: half units are powers of two, so counting entries per power gives
    the quantiles without holding more than one matrix. Zeros (half unit 0) count too.
    """
    if not quantiles or not all(0.0 <= q <= 1.0 for q in quantiles):
        raise SftrlError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    reader = ckpt.as_reader(checkpoint)
    counts: dict[float, int] = {}
    for key in ckpt.select_keys(reader.keys(), kinds=None if kinds is None else tuple(kinds)):
        values, n = torch.unique(bf16_half_ulp(reader.get(key.name)), return_counts=True)
        for v, c in zip(values.tolist(), n.tolist()):
            counts[v] = counts.get(v, 0) + c
    total = sum(counts.values())
    if total == 0:
        raise SftrlError(f"{checkpoint} has no matrices to measure")
    levels = sorted(counts)
    out = {}
    for q in quantiles:
        rank, seen = q * (total - 1), 0
        for v in levels:
            seen += counts[v]
            if seen > rank:
                out[q] = v
                break
    return out


def sign_consistency(deltas: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per entry, ``|sum_i sign(delta_i)| / n`` over ``n`` successive updates of one matrix.

    ``deltas[i] = W_{i+1} - W_i`` between consecutive checkpoints. 1 = the entry always
    moved the same way (consistent gradients, drift ~ T); for independent fair signs the
    mean is :func:`sign_consistency_expected` (a random walk, drift ~ sqrt(T)); 0 = the
    moves cancel. A zero delta counts as no move (sign 0).
    """
    if not deltas:
        raise SftrlError("sign consistency needs at least one update")
    total = torch.zeros(deltas[0].shape, dtype=torch.float32)
    for i, d in enumerate(deltas):
        _check_same_shape(deltas[0], d, f"update 0 and update {i}")
        total += torch.sign(d.detach()).float()
    return total.abs() / len(deltas)


def sign_consistency_expected(n: int) -> float:
    """``E|S_n| / n`` for ``S_n`` a sum of ``n`` independent fair signs: the mean
    :func:`sign_consistency` of a random walk (about ``sqrt(2 / (pi n))`` for large ``n``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SftrlError(f"n must be a positive number of updates, got {n!r}")
    return sum(abs(2 * k - n) * math.comb(n, k) for k in range(n + 1)) / (n * 2.0**n)


def drift_exponent(steps: Sequence[int], drifts: Sequence[float]) -> float:
    """Least-squares slope of ``log drift`` against ``log step``: how the mean distance from
    the start grows with training length (1 = consistent updates, 1/2 = random walk,
    0 = bounded). Steps and drifts must be positive; NaN with fewer than two points."""
    if len(steps) != len(drifts):
        raise SftrlError(f"{len(steps)} steps but {len(drifts)} drifts")
    pts = [(math.log(s), math.log(d)) for s, d in zip(steps, drifts) if s > 0 and d > 0]
    if len(pts) < 2:
        return float("nan")
    x = torch.tensor([p[0] for p in pts], dtype=torch.float64)
    y = torch.tensor([p[1] for p in pts], dtype=torch.float64)
    xc = x - x.mean()
    if float((xc * xc).sum()) == 0.0:
        return float("nan")
    return float((xc * (y - y.mean())).sum() / (xc * xc).sum())


class LengthRow(NamedTuple):
    """One kept checkpoint of a run, pooled over the run's matrices (weighted by entries)."""

    step: int  #: optimizer step of the checkpoint
    sparsity: float  #: cumulative update sparsity, bf16 mask against the start
    step_sparsity: float  #: per-step update sparsity, bf16 mask against the previous kept checkpoint
    drift: float  #: mean |W_t - W_0| over entries (stored precision)
    below_half_ulp: float  #: share of entries whose drift |W_t - W_0| is below bf16's half unit of W_0


class LengthSummary(NamedTuple):
    """How one run's updates accumulated over its kept checkpoints."""

    rows: list[LengthRow]  #: one per kept checkpoint, in training order
    sign_consistency: float  #: mean sign_consistency over entries that moved in every interval
    sign_consistency_chance: float  #: sign_consistency_expected(intervals): a random walk's value
    moved_every_interval: float  #: share of entries whose stored value changed in every interval
    drift_exponent: float  #: drift_exponent over the kept checkpoints
    intervals: int  #: number of intervals between consecutive kept checkpoints (start included)


def length_summary(
    base_path: PathLike,
    steps: Sequence[tuple[int, PathLike]],
    *,
    eta: float | None = None,
    kinds: Iterable[str] | None = None,
) -> LengthSummary:
    """Cumulative and per-step sparsity, sign consistency and drift growth of one run
    (arXiv 2511.08567; the per-step form follows arXiv 2602.03839).

    ``steps``: the run's kept checkpoints ``(step, path)`` in training order, after
    ``base_path`` (its start). Streamed one matrix at a time: peak memory is one matrix of
    every checkpoint. Names and shapes of every checkpoint are checked before any work.
    """
    _check_eta(eta)
    if not steps:
        raise SftrlError("length_summary needs at least one checkpoint after the start")
    numbers = [int(s) for s, _ in steps]
    if any(b <= a for a, b in zip([0, *numbers], numbers)):
        raise SftrlError(f"checkpoint steps must rise from 1, got {numbers}")
    readers = []
    base = None
    for _, path in steps:
        base, ft, keys = _pair_keys(base_path if base is None else base, path, kinds)
        readers.append(ft)
    n_steps = len(steps)
    kept = [0] * n_steps
    kept_step = [0] * n_steps
    drift = [0.0] * n_steps
    below = [0] * n_steps
    total = 0
    moved_all = 0
    consistency_sum = 0.0
    for key in keys:
        W0 = base.get(key.name)
        half = bf16_half_ulp(W0)
        prev = W0
        deltas = []
        for i, ft in enumerate(readers):
            W = ft.get(key.name)
            kept[i] += W.numel() - int(bf16_update_mask(W0, W, eta=eta).count_nonzero())
            kept_step[i] += W.numel() - int(bf16_update_mask(prev, W, eta=eta).count_nonzero())
            d = (W - W0).abs()
            drift[i] += float(d.double().sum())
            below[i] += int((d < half).count_nonzero())
            deltas.append(W - prev)
            prev = W
        moved = torch.stack([x != 0 for x in deltas]).all(dim=0)
        moved_all += int(moved.count_nonzero())
        consistency_sum += float(sign_consistency(deltas)[moved].double().sum())
        total += W0.numel()
    rows = [LengthRow(s, kept[i] / total, kept_step[i] / total, drift[i] / total, below[i] / total)
            for i, s in enumerate(numbers)]
    return LengthSummary(
        rows=rows,
        sign_consistency=consistency_sum / moved_all if moved_all else float("nan"),
        sign_consistency_chance=sign_consistency_expected(n_steps),
        moved_every_interval=moved_all / total,
        drift_exponent=drift_exponent(numbers, [r.drift for r in rows]),
        intervals=n_steps,
    )


# --------------------------------------------------------------------------------------
# Principal and low-magnitude weights
# --------------------------------------------------------------------------------------


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not 0.0 < float(alpha) < 1.0:
        raise SftrlError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def _n_selected(numel: int, alpha: float) -> int:
    """How many entries an alpha-fraction mask holds: at least one, at most all."""
    return min(numel, max(1, round(alpha * numel)))


def _extreme_fraction(scores: torch.Tensor, alpha: float, *, largest: bool) -> torch.Tensor:
    """Bool mask of exactly round(alpha * n) entries with the largest/smallest scores.

    Ties at the threshold are broken by position (as a stable sort would), so the mask is
    deterministic and its density is exact (which makes the random baseline of :func:`mask_overlap` exact too).
    """
    flat = scores.reshape(-1)
    n = flat.numel()
    m = _n_selected(n, alpha)
    # the m-th score in order, found by selection: no n-long index array of a full sort
    t = torch.kthvalue(flat, n - m + 1 if largest else m).values
    mask = flat > t if largest else flat < t
    # entries tied at the threshold are taken in order of position, as a stable sort would
    ties = (flat == t).nonzero().squeeze(1)
    mask[ties[: m - int(mask.count_nonzero())]] = True
    return mask.reshape(scores.shape)


def resolve_rank(k: int | float, rank: int) -> int:
    """``k`` as an int in ``1..rank``: an int as is, a float in (0, 1] as a fraction of rank.

    :func:`sftrl.weights.spectral.resolve_k` with zero directions refused (a rank-0 reconstruction
    has no principal weights).
    """
    k_used = spectral.resolve_k(k, rank)
    if k_used < 1:
        raise SftrlError(f"k={k!r} selects no singular directions (rank {rank})")
    return k_used


def principal_mask(
    W: torch.Tensor,
    *,
    k: int | float,
    alpha: float,
    usv: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Principal weights (LIFT, arXiv 2506.00772; used by arXiv 2511.08567).

    The rank-k reconstruction ``W_k = U_k diag(S_k) Vh_k`` and the top-``alpha`` fraction of
    its entries by ``|W_k|``. ``k``: int in ``1..min(W.shape)`` or a float in (0, 1] as a
    fraction of that rank; ``alpha`` in (0, 1). B's k and alpha are *unconfirmed*.
    ``usv`` passes a precomputed ``(U, S, Vh)`` of ``W`` (e.g. from an SVD cache).
    """
    _check_2d(W, "W")
    alpha = _check_alpha(alpha)
    k = resolve_rank(k, min(W.shape))
    U, S, Vh = usv if usv is not None else spectral.svd(W)
    W_k = (U[:, :k] * S[:k]) @ Vh[:k]  # (d_out, d_in)
    return _extreme_fraction(W_k.abs(), alpha, largest=True)


def low_magnitude_mask(W: torch.Tensor, *, alpha: float) -> torch.Tensor:
    """The bottom-``alpha`` fraction of entries by ``|W|`` (arXiv 2511.08567)."""
    alpha = _check_alpha(alpha)
    if W.numel() == 0:
        raise SftrlError("an empty matrix has no low-magnitude entries")
    return _extreme_fraction(W.detach().abs(), alpha, largest=False)


def mask_overlap(update: torch.Tensor, region: torch.Tensor) -> float:
    """``|update & region| / |region|``: the share of a region that was updated (arXiv 2511.08567).

    The random baseline is :func:`update_density` of ``update``: above it, updates prefer
    the region; below it, they avoid it.
    """
    _check_same_shape(update, region, "update and region masks")
    size = region.count_nonzero().item()
    if size == 0:
        raise SftrlError("the region mask is empty: overlap is undefined")
    return float((update & region).count_nonzero().item() / size)


class OverlapRow(NamedTuple):
    """One matrix's update overlap with its principal and low-magnitude regions."""

    name: str  #: parameter name
    layer: int | None  #: transformer block, None outside the blocks
    kind: str  #: q, k, v, o, gate, up, down, embed, lm_head
    principal: float  #: mask_overlap(update, principal_mask(W0))
    low: float  #: mask_overlap(update, low_magnitude_mask(W0))
    density: float  #: update density, the random baseline of both
    n: int  #: number of entries


# --------------------------------------------------------------------------------------
# Spectral drift and principal angles (through sftrl.weights.spectral)
# --------------------------------------------------------------------------------------


class DriftRow(NamedTuple):
    """One matrix's spectral change from base to fine-tuned."""

    name: str  #: parameter name
    layer: int | None  #: transformer block, None outside the blocks
    kind: str  #: q, k, v, o, gate, up, down, embed, lm_head
    drift: float  #: relative change of the top-k singular values
    angle: float  #: largest principal angle of the top-k subspace, degrees
    n: int  #: number of entries


def drift_table(
    base_path: PathLike,
    ft_path: PathLike,
    *,
    k_frac: float = 0.2,
    kinds: Iterable[str] | None = None,
    side: Literal["left", "right"] = "left",
    cache_root: PathLike | None = None,
) -> list[DriftRow]:
    """Spectral drift and largest principal angle of every matrix (arXiv 2511.08567).

    A view of :func:`sftrl.weights.spectral.compare` (SVDs cached per checkpoint under
    ``cache_root``, default ``paths.CACHE / "svd"``) with ``k = round(k_frac * rank)``.
    Aggregate per layer with ``aggregate_rows(rows, by="layer", value="angle",
    weighted=False)``.
    """
    if side not in ("left", "right"):
        raise SftrlError(f"side must be 'left' or 'right', got {side!r}")
    table = spectral.compare(base_path, ft_path, k_frac=k_frac, kinds=kinds, cache_root=cache_root)
    angle = "max_angle_u" if side == "left" else "max_angle_v"
    return [
        DriftRow(r["name"], r["layer"], r["kind"], r["spectral_drift"], r[angle], math.prod(r["shape"]))
        for r in table
    ]


# --------------------------------------------------------------------------------------
# Geometry disruption: function-preserving re-parametrisations
# --------------------------------------------------------------------------------------
#
# What is provided, and why only this:
# - MLP hidden-unit permutations (rows of gate_proj and up_proj, columns of down_proj):
#   the SwiGLU nonlinearity acts entry-wise, so permuting the hidden units changes nothing
#   computed. They move entries without changing values, so masks map back exactly.
# - Per-head orthogonal rotations of the attention value space (rows of a kv head's block
#   of v_proj, columns of o_proj for every query head using that kv head): attention mixes
#   value vectors linearly and RoPE touches only q and k, so o_proj(R^T R v) = o_proj(v).
#   Rotations mix entries, so only weight *deltas* map back, not masks.
# - NOT provided: an orthogonal rotation of the residual stream. RMSNorm's per-channel
#   weight does not commute with a general rotation, so it is not function-preserving
#   unless the norm weights are first folded into the next layers (the SliceGPT trick),
#   which changes the very weights whose masks we study.


def random_permutation(n: int, seed: int) -> torch.Tensor:
    """A random permutation of ``range(n)`` (int64), reproducible from ``seed``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SftrlError(f"n must be a positive int, got {n!r}")
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=gen)


def random_rotations(n: int, dim: int, seed: int) -> torch.Tensor:
    """``n`` random orthogonal ``(dim, dim)`` matrices (Haar, via QR), shape ``(n, dim, dim)``."""
    if n < 1 or dim < 1:
        raise SftrlError(f"need n >= 1 and dim >= 1, got n={n}, dim={dim}")
    gen = torch.Generator().manual_seed(seed)
    G = torch.randn(n, dim, dim, generator=gen, dtype=torch.float64)
    Q, R = torch.linalg.qr(G)
    # fix the signs so Q is Haar-distributed rather than biased by QR's convention
    Q = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)
    return Q


def _check_permutation(perm: torch.Tensor, n: int) -> torch.Tensor:
    perm = torch.as_tensor(perm)
    if perm.dim() != 1 or perm.numel() != n:
        raise SftrlError(f"perm must be 1-D of length {n}, got shape {tuple(perm.shape)}")
    if perm.dtype.is_floating_point or perm.dtype == torch.bool:
        raise SftrlError(f"perm must hold integers, got dtype {perm.dtype}")
    perm = perm.long()
    if not torch.equal(torch.sort(perm).values, torch.arange(n)):
        raise SftrlError(f"perm is not a permutation of range({n})")
    return perm


def _block_params(names: Iterable[str], layer: int, pattern: str) -> dict[str, str]:
    """``{"<proj>.<weight|bias>": full name}`` for block ``layer`` parameters matching ``pattern``."""
    rx = re.compile(rf"(?:^|\.)layers\.{layer}\.{pattern}\.(weight|bias)$")
    found = {}
    for name in names:
        m = rx.search(name)
        if m:
            found[f"{m.group(1)}.{m.group(2)}"] = name
    return found


def _params_of(model_or_state) -> dict[str, torch.Tensor]:
    if isinstance(model_or_state, torch.nn.Module):
        return dict(model_or_state.state_dict(keep_vars=True))
    if isinstance(model_or_state, Mapping):
        return dict(model_or_state)
    raise SftrlError(
        f"expected a torch.nn.Module or a state dict, got {type(model_or_state).__name__}"
    )


def _write(model_or_state, params: Mapping[str, torch.Tensor], new: Mapping[str, torch.Tensor]):
    """Apply ``new`` values: in place for a module, as a fresh dict for a state dict."""
    if isinstance(model_or_state, torch.nn.Module):
        with torch.no_grad():
            for name, value in new.items():
                params[name].copy_(value)
        return model_or_state
    out = dict(model_or_state)
    out.update(new)
    return out


def _mlp_params(params: Mapping[str, torch.Tensor], layer: int) -> dict[str, str]:
    found = _block_params(params, layer, r"mlp\.(gate_proj|up_proj|down_proj)")
    need = ("gate_proj.weight", "up_proj.weight", "down_proj.weight")
    if not all(n in found for n in need):
        raise SftrlError(
            f"layer {layer} has no Llama/Qwen2-style MLP (gate_proj, up_proj, down_proj)"
        )
    return found


def permute_mlp_hidden(model_or_state, layer: int, perm: torch.Tensor):
    """Permute the MLP hidden units of block ``layer``; the function is unchanged.

    New hidden unit ``i`` is old unit ``perm[i]``: rows of ``gate_proj`` / ``up_proj`` (and
    their biases, if any) and columns of ``down_proj`` are reordered by ``perm``. A
    ``torch.nn.Module`` is changed in place and returned; a state dict is not changed, a
    new dict is returned. Map masks or deltas back with :func:`unpermute_mlp_hidden`.
    Geometry disruption of arXiv 2511.08567.
    """
    params = _params_of(model_or_state)
    found = _mlp_params(params, layer)
    n = params[found["gate_proj.weight"]].shape[0]
    perm = _check_permutation(perm, n)
    new = {}
    for key, name in found.items():
        t = params[name].detach()
        if key == "down_proj.weight":
            new[name] = t[:, perm]
        elif key != "down_proj.bias":  # down's bias lives in the residual: unchanged
            new[name] = t[perm]
    return _write(model_or_state, params, new)


def unpermute_mlp_hidden(x: torch.Tensor, kind: str, perm: torch.Tensor) -> torch.Tensor:
    """Map a mask, weight or delta of a permuted model's MLP back to the original coordinates.

    ``kind`` is ``"gate"``, ``"up"`` (rows permuted) or ``"down"`` (columns permuted);
    ``perm`` the one given to :func:`permute_mlp_hidden`. Exact: entries move, values do not.
    """
    if kind not in ("gate", "up", "down"):
        raise SftrlError(f"kind must be 'gate', 'up' or 'down', got {kind!r}")
    axis = 1 if kind == "down" else 0
    if x.dim() <= axis:
        raise SftrlError(f"a {kind} tensor needs at least {axis + 1} dims, got {x.dim()}")
    perm = _check_permutation(perm, x.shape[axis])
    inverse = torch.argsort(perm)  # original unit j sits at position inverse[j]
    return x[:, inverse] if axis == 1 else x[inverse]


def unpermute_mlp_masks(
    masks: Mapping[str, torch.Tensor], perms: Mapping[int, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """:func:`unpermute_mlp_hidden` over a whole ``name -> mask`` dict; ``perms``: layer -> perm.

    MLP matrices of permuted layers are mapped back; every other entry is passed through.
    """
    out = {}
    for name, x in masks.items():
        layer, kind = parse_matrix_name(name)
        if layer in perms and kind in ("gate", "up", "down") and name.endswith("weight"):
            out[name] = unpermute_mlp_hidden(x, kind, perms[layer])
        else:
            out[name] = x
    return out


def _attention_params(params: Mapping[str, torch.Tensor], layer: int) -> dict[str, str]:
    found = _block_params(params, layer, r"self_attn\.(v_proj|o_proj)")
    if "v_proj.weight" not in found or "o_proj.weight" not in found:
        raise SftrlError(f"layer {layer} has no Llama/Qwen2-style attention (v_proj, o_proj)")
    return found


def _head_layout(n_kv_rows: int, n_o_cols: int, rotations: torch.Tensor) -> tuple[int, int, int]:
    """``(n_kv_heads, head_dim, n_rep)`` after checking ``rotations`` fits the shapes."""
    if rotations.dim() != 3 or rotations.shape[1] != rotations.shape[2]:
        raise SftrlError(
            f"rotations must have shape (n_kv_heads, head_dim, head_dim), got "
            f"{tuple(rotations.shape)}"
        )
    n_kv, hd = rotations.shape[0], rotations.shape[1]
    if n_kv * hd != n_kv_rows or n_o_cols % hd or (n_o_cols // hd) % n_kv:
        raise SftrlError(
            f"rotations of shape {tuple(rotations.shape)} do not fit v_proj rows "
            f"{n_kv_rows} and o_proj columns {n_o_cols}"
        )
    return n_kv, hd, n_o_cols // hd // n_kv


def _rotate_v(v: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Left-multiply each kv head's row block of ``v`` (n_kv*hd, ...) by its rotation."""
    n_kv, hd = rotations.shape[0], rotations.shape[1]
    blocks = v.reshape(n_kv, hd, -1)  # (n_kv, hd, d_in or 1)
    return (rotations.to(v.dtype) @ blocks).reshape(v.shape)


def _rotate_o(o: torch.Tensor, rotations: torch.Tensor, n_rep: int, *, transpose: bool) -> torch.Tensor:
    """Right-multiply each query head's column block of ``o`` by R^T (or R) of its kv head.

    HF's ``repeat_kv`` gives query head h the kv head ``h // n_rep``.
    """
    n_kv, hd = rotations.shape[0], rotations.shape[1]
    R = rotations.to(o.dtype).repeat_interleave(n_rep, dim=0)  # (n_heads, hd, hd)
    if transpose:
        R = R.transpose(1, 2)
    blocks = o.reshape(o.shape[0], n_kv * n_rep, hd).transpose(0, 1)  # (n_heads, d_out, hd)
    return (blocks @ R).transpose(0, 1).reshape(o.shape)


def rotate_attention_values(model_or_state, layer: int, rotations: torch.Tensor):
    """Rotate each kv head's value space of block ``layer`` by an orthogonal matrix.

    ``rotations``: ``(n_kv_heads, head_dim, head_dim)`` orthogonal (see
    :func:`random_rotations`). ``v_proj`` rows (and bias) of kv head g become ``R_g @ ...``;
    ``o_proj`` columns of every query head using kv head g become ``... @ R_g^T``. The
    function is unchanged (attention mixes values linearly; RoPE acts on q and k only).
    A module is changed in place and returned; a state dict yields a new dict. Only deltas
    map back (:func:`unrotate_attention_values`): a rotation mixes entries, masks do not
    survive it. Geometry disruption of arXiv 2511.08567.
    """
    params = _params_of(model_or_state)
    found = _attention_params(params, layer)
    rotations = torch.as_tensor(rotations)
    eye = torch.eye(rotations.shape[-1], dtype=rotations.dtype)
    v_w, o_w = params[found["v_proj.weight"]].detach(), params[found["o_proj.weight"]].detach()
    _, _, n_rep = _head_layout(v_w.shape[0], o_w.shape[1], rotations)
    if not torch.allclose(rotations @ rotations.transpose(1, 2), eye, atol=1e-5):
        raise SftrlError("rotations are not orthogonal (R @ R.T != I)")
    R = rotations.double()
    new = {
        found["v_proj.weight"]: _rotate_v(v_w.double(), R).to(v_w.dtype),
        found["o_proj.weight"]: _rotate_o(o_w.double(), R, n_rep, transpose=True).to(o_w.dtype),
    }
    if "v_proj.bias" in found:
        b = params[found["v_proj.bias"]].detach()
        new[found["v_proj.bias"]] = _rotate_v(b.double().unsqueeze(-1), R).squeeze(-1).to(b.dtype)
    return _write(model_or_state, params, new)


def unrotate_attention_values(
    x: torch.Tensor, kind: Literal["v", "o"], rotations: torch.Tensor
) -> torch.Tensor:
    """Map a weight or weight delta of a rotated model's ``v_proj`` / ``o_proj`` back.

    The inverse of :func:`rotate_attention_values` for one matrix (``R_g^T @`` on v rows,
    ``@ R_g`` on o columns). Linear, so it maps deltas as well as weights; exact up to
    floating-point rounding.
    """
    if kind not in ("v", "o"):
        raise SftrlError(f"kind must be 'v' or 'o', got {kind!r}")
    _check_2d(x, f"{kind}_proj tensor")
    rotations = torch.as_tensor(rotations)
    R = rotations.double()
    if kind == "v":
        _head_layout(x.shape[0], x.shape[0], rotations)  # n_kv * hd must match the rows
        return _rotate_v(x.double(), R.transpose(1, 2)).to(x.dtype)
    n_kv, hd = rotations.shape[0], rotations.shape[-1]
    _, _, n_rep = _head_layout(n_kv * hd, x.shape[1], rotations)
    return _rotate_o(x.double(), R, n_rep, transpose=False).to(x.dtype)


# --------------------------------------------------------------------------------------
# Gradient masks for the off-principal probe
# --------------------------------------------------------------------------------------

_BLOCK_RX = re.compile(r"(?:^|\.)layers\.\d+\.")

MaskKind = Literal["off_principal", "principal", "random"]


def make_gradient_masks(
    model: torch.nn.Module,
    kind: MaskKind,
    alpha: float,
    k: int | float,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Bool masks of the entries RL may train, for every 2-D weight in the blocks.

    The off-principal probe of arXiv 2511.08567 (principal weights from LIFT, arXiv
    2506.00772). Every kind selects exactly ``round(alpha * n)`` entries per matrix, so
    the densities are equal:

    - ``"principal"``: :func:`principal_mask` (top-alpha of ``|W_k|``);
    - ``"off_principal"``: the alpha fraction of smallest ``|W|`` among the entries outside
      the principal mask (low magnitude *and* non-principal; needs ``alpha <= 0.5`` so the
      two fit side by side);
    - ``"random"``: a uniformly random alpha fraction, reproducible from ``seed``.

    ``k`` as in :func:`principal_mask` (unused by ``"random"`` beyond validation).
    """
    if kind not in ("off_principal", "principal", "random"):
        raise SftrlError(f"kind must be 'off_principal', 'principal' or 'random', got {kind!r}")
    alpha = _check_alpha(alpha)
    if kind == "off_principal" and alpha > 0.5:
        raise SftrlError(f"off_principal needs alpha <= 0.5 (disjoint from principal), got {alpha}")
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, p in model.named_parameters():
        if p.dim() != 2 or not _BLOCK_RX.search(name):
            continue
        W = p.detach().float().cpu()
        rank_k = resolve_rank(k, min(W.shape))  # validated for "random" too
        if kind == "random":
            scores = torch.rand(W.shape, generator=gen)
            mask = _extreme_fraction(scores, alpha, largest=True)
        else:
            princ = principal_mask(W, k=rank_k, alpha=alpha)
            if kind == "principal":
                mask = princ
            else:
                # principal entries get +inf so they are never among the smallest
                scores = W.abs().masked_fill(princ, float("inf"))
                mask = _extreme_fraction(scores, alpha, largest=False)
        out[name] = mask.to(p.device)
    if not out:
        raise SftrlError("the model has no 2-D weights inside transformer blocks (layers.N.)")
    return out


def apply_gradient_masks(
    model: torch.nn.Module, masks: Mapping[str, torch.Tensor]
) -> list[torch.utils.hooks.RemovableHandle]:
    """Zero each parameter's gradient outside its mask; returns the hook handles.

    Call ``h.remove()`` on each handle to lift the restriction. Only the gradient is
    masked: with SGD or Adam (no weight decay) masked-out entries stay put, but decoupled
    weight decay (AdamW's default 0.01) still shrinks them, so train with
    ``weight_decay=0``. Off-principal probe of arXiv 2511.08567.
    """
    params = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(params))
    if unknown:
        raise SftrlError(f"masks name parameters the model lacks, e.g. {unknown[:3]}")
    for name, mask in masks.items():
        _check_same_shape(params[name], mask, f"parameter {name} and its mask")
        if mask.dtype != torch.bool:
            raise SftrlError(f"mask of {name} must be bool, got {mask.dtype}")
    handles = []
    for name, mask in masks.items():
        keep = mask.to(params[name].device)
        # masked_fill, not multiply: a NaN/inf gradient outside the mask must not leak
        handles.append(params[name].register_hook(lambda g, keep=keep: g.masked_fill(~keep, 0)))
    return handles


def pool_image(image, max_side: int = 512) -> np.ndarray:
    """Block-mean ``image`` down to at most ``max_side`` pixels per side.

    A 1536 x 8960 consistency map cannot be shown pixel for pixel; the mean over blocks
    keeps row and column stripes (they are averages along one axis anyway).
    """
    a = np.asarray(image, dtype=np.float64)
    if a.ndim != 2:
        raise SftrlError(f"image must be 2-D, got shape {a.shape}")
    fr = max(1, -(-a.shape[0] // max_side))  # ceil division
    fc = max(1, -(-a.shape[1] // max_side))
    if fr == 1 and fc == 1:
        return a
    rows, cols = a.shape[0] // fr * fr, a.shape[1] // fc * fc  # drop a ragged edge
    a = a[:rows, :cols]
    return a.reshape(rows // fr, fr, cols // fc, fc).mean(axis=(1, 3))
