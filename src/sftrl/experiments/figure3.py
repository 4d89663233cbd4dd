"""Figure 3 of paper A (arXiv 2509.12235): principal angles, the singular vectors rotate.

Usage: ``d = figure3.data(config.profile("cpu")); d.curves, d.summary``
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.experiments.models import Compared, PAIR_LABELS, PAIRS, Models, compare_pairs, models, pair_summary
from sftrl.weights import spectral
from sftrl.weights.checkpoints import BLOCK_KINDS, CheckpointReader, parse_kinds, resolve_layer, select_keys
from sftrl.weights.spectral import SVDCache, resolve_k


def angle_curves(m: Models, *, layer: int = -1, kinds: Sequence[str] | None = None, k_frac: float = 0.2,
                 cap: bool = True, pairs: Iterable[str] = tuple(PAIRS)) -> list[dict[str, Any]]:
    """Principal angles of one layer's matrices, one row per (pair, kind, side).

    Each row holds ``angles`` (degrees, ascending), ``forced_zero`` (True for the first
    ``2k - m`` angles, zero by construction), ``k`` (used), ``k_asked`` (``k_frac`` of the
    rank), ``dim`` (m of the subspaces' space) and ``capped`` (k lowered to ``dim // 2``,
    only with ``cap``). ``side`` is ``"left"`` (U) or ``"right"`` (V). arXiv 2509.12235, Fig. 3.
    """
    k_frac = spectral.check_k_frac(k_frac)
    reader = CheckpointReader(m.sft_end)
    layer = resolve_layer(layer, reader.num_layers)
    block = tuple(k for k in (BLOCK_KINDS if kinds is None else kinds) if k in BLOCK_KINDS)
    keys = select_keys(reader.keys(), kinds=block or BLOCK_KINDS, layers=[layer], num_layers=reader.num_layers)
    caches: dict[str, SVDCache] = {}
    rows = []
    for pair in pairs:
        if pair not in PAIRS:
            raise SftrlError(f"unknown pair {pair!r}; choose from {', '.join(PAIRS)}")
        a, b = PAIRS[pair]
        ca = caches.setdefault(a, SVDCache(m.path(a)))
        cb = caches.setdefault(b, SVDCache(m.path(b)))
        for key in keys:
            d_out, d_in = reader.shape(key.name)
            k = max(1, resolve_k(k_frac, min(d_out, d_in)))
            for side in ("left", "right"):
                res = spectral.subspace_angles_between(ca, cb, key, k, side=side, cap=cap)
                rows.append({"pair": pair, "label": PAIR_LABELS[pair], "layer": layer, "kind": key.kind,
                             "side": side, "k": res.k, "k_asked": k, "dim": res.m, "capped": res.k < k,
                             "angles": res.angles.tolist(), "forced_zero": res.forced_zero.tolist(),
                             "mean_angle": res.mean(), "max_angle": res.largest()})
    return rows


def numbers(summary: Sequence[Mapping[str, Any]], curves: Sequence[Mapping[str, Any]] = ()) -> dict[str, float]:
    """Mean and largest principal angles (blocks, left and right) per pair, flat; with the
    angle ``curves``, how many had k capped and how many angles are zero by construction."""
    out: dict[str, float] = {
        "n_curves": len(curves),
        "n_capped": sum(1 for c in curves if c["capped"]),
        "n_forced_zero": sum(sum(1 for z in c["forced_zero"] if z) for c in curves),
    }
    for pair in PAIRS:
        rows = [r for r in summary if r["pair"] == pair and r["group"] == "blocks"]
        for stat in ("mean_angle_u", "max_angle_u", "mean_angle_v", "max_angle_v", "mean_rel_dsigma"):
            out[f"{stat}_{pair}"] = rows[0][stat] if rows else math.nan
        emb = [r for r in summary if r["pair"] == pair and r["group"] == "embeddings"]
        out[f"mean_angle_u_{pair}_embeddings"] = emb[0]["mean_angle_u"] if emb else math.nan
    return out


@dataclass(frozen=True)
class Figure3(Compared):
    """What Figure 3's page draws and its claims are judged on (``layer``: the angle curves')."""
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
    m = models(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl)
    layer_used = resolve_layer(layer, m.num_layers)
    rows = compare_pairs(m, k_frac=k_frac, kinds=kinds_used)  # SVDs cached per checkpoint
    summary = pair_summary(rows)
    curves = angle_curves(m, layer=layer_used, kinds=kinds_used, k_frac=k_frac, cap=cap_k)
    return Figure3(models=m, layer=layer_used, rows=rows, summary=summary, curves=curves,
                   numbers=numbers(summary, curves))
