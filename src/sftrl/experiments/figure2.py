"""Figure 2 of paper A (arXiv 2509.12235): singular values barely move; the sigma-swap ablation.

Usage: ``d = figure2.data(config.profile("cpu")); d.summary, d.swap, d.numbers``
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.experiments.models import (
    Compared,
    PAIRS,
    ROLE_LABELS,
    Models,
    anchors,
    compare_pairs,
    evaluate,
    models,
    pair_summary,
    parse_fractions,
    prefetch,
    sigma_swapped,
    with_recovery,
)
from sftrl.weights.checkpoints import BLOCK_KINDS, CheckpointReader, parse_kinds, resolve_layer, select_keys
from sftrl.weights.edits import Edit, plan_edit
from sftrl.weights.spectral import SVDCache


DEFAULT_SWAP_FRACTIONS: tuple[float, ...] = (0.05, 0.2, 0.5, 1.0)


def layer_spectra(m: Models, *, layer: int = -1, kinds: Sequence[str] | None = None,
                  roles: Sequence[str] = ("base", "sft_end", "rl")) -> dict[str, dict[str, list[float]]]:
    """Singular values (descending) of one layer's block matrices, ``{role label: {kind: sigma}}``.

    ``layer = -1`` is the middle layer; role labels are ``"base"``, ``"sft end"``, ``"rl"``
    (the first word picks the book's colour).
    """
    reader = CheckpointReader(m.sft_end)
    layer = resolve_layer(layer, reader.num_layers)
    block = tuple(k for k in (BLOCK_KINDS if kinds is None else kinds) if k in BLOCK_KINDS)
    keys = select_keys(reader.keys(), kinds=block or BLOCK_KINDS, layers=[layer], num_layers=reader.num_layers)
    out: dict[str, dict[str, list[float]]] = {}
    for role in roles:
        cache = SVDCache(m.path(role))
        out[ROLE_LABELS[role].lower()] = {k.kind: cache.S(k).tolist() for k in keys}
    return out


def sigma_swap_sweep(m: Models, cfg: StudyConfig, *, fractions: Sequence[float] = DEFAULT_SWAP_FRACTIONS,
                     kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The sigma-swap ablation: the SFT-peak's top ``fraction`` of singular values put into
    the SFT-end model (its singular vectors kept), evaluated; one row per fraction with
    ``fraction``, the accuracies, ``ood_gain`` over the SFT end and ``recovery``.
    """
    fractions = parse_fractions(fractions)
    plan_edit(m.sft_end, m.sft_peak, Edit("sigma_swap", kinds=kinds))  # bad kinds / shapes: before work
    swapped = {f: sigma_swapped(m.sft_end, m.sft_peak, f, kinds) for f in fractions}
    prefetch([m.sft_peak, m.sft_end, *swapped.values()], cfg)
    a = anchors(m, cfg, ("sft_peak", "sft_end"))
    rows = []
    for f in fractions:
        path = swapped[f]
        label = "SFT end (nothing swapped)" if f == 0.0 else f"top {100 * f:.0f}% of σ from SFT peak"
        row = evaluate(path, cfg, label=label, fraction=f)
        rows.append(with_recovery(row, a["sft_end"], a["sft_peak"]))
    return rows


def numbers(summary: Sequence[Mapping[str, Any]], swap: Sequence[Mapping[str, Any]],
                 anchor: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The numbers Figure 2's prose quotes, flat (glue names as keys)."""
    out: dict[str, float] = {}
    for pair in PAIRS:
        rows = [r for r in summary if r["pair"] == pair and r["group"] == "blocks"]
        out[f"dsigma_{pair}"] = rows[0]["mean_rel_dsigma"] if rows else math.nan
    ood = [r["ood"] for r in swap]
    out["swap_ood_min"] = min(ood) if ood else math.nan
    out["swap_ood_max"] = max(ood) if ood else math.nan
    for role in ("sft_peak", "sft_end"):
        out[f"ood_{role}"] = anchor[role]["ood"]
        out[f"id_{role}"] = anchor[role]["id"]
    return out


@dataclass(frozen=True)
class Figure2(Compared):
    """What Figure 2's page draws and its claims are judged on (``layer``: the spectra's)."""
    spectra: dict[str, dict[str, list[float]]]
    """Singular values of ``layer``'s matrices, by model and kind."""
    anchors: dict[str, dict[str, Any]]
    """The evaluated SFT peak and SFT end."""
    swap: list[dict[str, Any]]
    """The sigma-swap ablation, one row per swapped fraction."""
    numbers: dict[str, float]
    """Every number the page's prose quotes (glue names as keys)."""


def data(cfg: StudyConfig, *, base: str | None = None, sft_peak: str | None = None, sft_end: str | None = None,
         rl: str | None = None, layer: int = -1, kinds: str = "", k_frac: float = 0.2,
         swap_fractions: str = "0.05,0.2,0.5,1.0") -> Figure2:
    """Figure 2's data; the keyword defaults are the page's (``notebooks/02_...``).

    ``base`` .. ``rl``: checkpoint folders or hub ids (None: the pipeline's models, trained
    if missing); ``layer``: -1 for the middle one; ``kinds``: comma-separated matrix kinds
    ("" for all); ``k_frac``: top-k of the spectral drift as a fraction of the rank.
    """
    kinds_used = parse_kinds(kinds)
    m = models(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl)
    layer_used = resolve_layer(layer, m.num_layers)
    rows = compare_pairs(m, k_frac=k_frac, kinds=kinds_used)  # SVDs cached per checkpoint
    summary = pair_summary(rows)
    anchor = anchors(m, cfg, ("sft_peak", "sft_end"))
    swap = sigma_swap_sweep(m, cfg, fractions=parse_fractions(swap_fractions), kinds=kinds_used)
    return Figure2(models=m, layer=layer_used, rows=rows, summary=summary,
                   spectra=layer_spectra(m, layer=layer_used, kinds=kinds_used), anchors=anchor,
                   swap=swap, numbers=numbers(summary, swap, anchor))
