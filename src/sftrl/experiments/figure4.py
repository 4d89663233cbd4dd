"""Figure 4 of paper A (arXiv 2509.12235): layer-wise and rank-wise restoration.

Usage: ``d = figure4.data(config.profile("cpu")); d.rank_peak, d.layers``
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.experiments.models import (
    REFERENCES,
    ROLE_LABELS,
    Models,
    anchors,
    check_fraction,
    check_reference,
    edited,
    evaluate,
    models,
    parse_fractions,
    parse_names,
    prefetch,
    with_recovery,
)
from sftrl.weights.checkpoints import parse_kinds
from sftrl.weights.edits import Edit, layer_blocks, plan_edit


DEFAULT_FRACTIONS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


def rank_restoration(m: Models, cfg: StudyConfig, *, reference: str = "sft_peak",
                     fractions: Sequence[float] = DEFAULT_FRACTIONS, tail: bool = False,
                     kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rank-wise restoration into the SFT end: for each fraction f, every selected matrix gets
    the reference's top (``tail``: smallest) f of its singular directions with the SFT end's
    singular values (:func:`sftrl.weights.edits.restore_directions`); evaluated.

    f = 0 is the SFT end itself (no edit). With the base as reference, f = 1 gives
    ``U_base diag(S_sft) Vh_base``, which is nearly the base (its format included) when the
    singular values barely moved. Rows: ``reference``, ``fraction``, ``tail``, the
    accuracies, ``ood_gain`` and ``recovery``.
    """
    check_reference(reference)
    fractions = parse_fractions(fractions)
    ref = m.path(reference)
    plan_edit(m.sft_end, ref, Edit("restore", k=max(fractions, default=0.0), tail=tail, kinds=kinds))
    restored = {f: m.sft_end if f == 0.0 else edited(m.sft_end, ref, Edit("restore", k=f, tail=tail, kinds=kinds))
                for f in fractions}
    prefetch([m.sft_end, ref, *restored.values()], cfg)
    a = anchors(m, cfg, ("sft_end", reference))
    rows = []
    for f in fractions:
        path = restored[f]
        side = "smallest" if tail else "top"
        label = "SFT end (nothing restored)" if f == 0.0 else f"{side} {100 * f:.0f}% from {ROLE_LABELS[reference]}"
        row = evaluate(path, cfg, label=label, reference=reference, fraction=f, tail=tail)
        rows.append(with_recovery(row, a["sft_end"], a[reference]))
    return rows


def layer_restoration(m: Models, cfg: StudyConfig, *, reference: str = "sft_peak", op: str = "swap",
                      k_frac: float = 1.0, blocks: Sequence[str] | None = None,
                      embeddings: Sequence[bool] = (False, True),
                      kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Layer-wise restoration into the SFT end: the reference's matrices (``op="swap"``, as
    paper A's script) or its top ``k_frac`` directions (``op="restore"``) in a block of
    layers only, without and with the embeddings and LM head; evaluated.

    ``blocks`` are names of :func:`sftrl.weights.edits.layer_blocks` (``"Q1"``..``"Q4"``, ``"first
    25%"``, ``"first 50%"``, ``"first 75%"``, ``"all"``; default all of them). Blocks with the
    same layers share one edited checkpoint. Rows: ``block``, ``layers``, ``embeddings``, the
    accuracies, ``ood_gain`` and ``recovery``.
    """
    check_reference(reference)
    if op not in ("swap", "restore"):
        raise SftrlError(f"layer-wise op {op!r} must be 'swap' or 'restore'")
    k_frac = check_fraction(k_frac, "k_frac")
    all_blocks = layer_blocks(m.num_layers)
    names = list(all_blocks) if blocks is None else list(blocks)
    for name in names:
        if name not in all_blocks:
            raise SftrlError(f"unknown layer block {name!r}; choose from {', '.join(all_blocks)}")
    ref = m.path(reference)
    k = k_frac if op == "restore" else Edit.k  # the swap ignores k: keep its hash stable
    for emb in embeddings:
        plan_edit(m.sft_end, ref, Edit(op, k=k, layers=all_blocks[names[0]] if names else None,
                                       embeddings=bool(emb), kinds=kinds))
    swapped = {(name, emb): edited(m.sft_end, ref, Edit(op, k=k, layers=all_blocks[name], embeddings=bool(emb),
                                                        kinds=kinds))
               for name in names for emb in embeddings}
    prefetch([m.sft_end, ref, *swapped.values()], cfg)
    a = anchors(m, cfg, ("sft_end", reference))
    rows = []
    for name in names:
        for emb in embeddings:
            row = evaluate(swapped[(name, emb)], cfg,
                           label=f"{name}{' + embeddings' if emb else ''}", reference=reference, block=name,
                           layers=all_blocks[name], embeddings=bool(emb), op=op)
            rows.append(with_recovery(row, a["sft_end"], a[reference]))
    return rows


def layer_op_text(op: str, k_frac: float, reference: str) -> str:
    """What a layer-wise restoration puts into the chosen layers, for the prose."""
    who = ROLE_LABELS[check_reference(reference)]
    if op == "swap":
        return f"the {who} model's whole weight matrices"
    return f"the {who} model's top {100 * k_frac:.0f}% of singular directions (the SFT end's singular values kept)"


def nearest(rows: Sequence[Mapping[str, Any]], field: str, value: float) -> dict[str, Any]:
    """The row whose ``field`` is closest to ``value`` (ties: the smaller)."""
    if not rows:
        raise SftrlError(f"no rows to pick {field}={value} from")
    return dict(min(rows, key=lambda r: (abs(r[field] - value), r[field])))


def numbers(rank: Sequence[Mapping[str, Any]], layers: Sequence[Mapping[str, Any]], *,
                 fraction: float = 0.2, block: str = "first 25%") -> dict[str, float]:
    """OOD, ID and recovery of the restoration closest to ``fraction`` (per reference) and of
    ``block`` (without and with embeddings), flat."""
    out: dict[str, float] = {}
    for reference in REFERENCES:
        rows = [r for r in rank if r["reference"] == reference and not r["tail"]]
        if rows:
            r = nearest(rows, "fraction", fraction)
            out[f"rank_{reference}_fraction"] = r["fraction"]
            for stat in ("ood", "id", "recovery"):
                out[f"rank_{reference}_{stat}"] = r[stat]
            full = nearest(rows, "fraction", 1.0)
            out[f"rank_{reference}_full_fraction"] = full["fraction"]
            out[f"rank_{reference}_full_ood"] = full["ood"]
            out[f"rank_{reference}_full_id"] = full["id"]
            out[f"rank_{reference}_full_format_errors"] = full["ood_format_errors"]
    for emb in (False, True):
        rows = [r for r in layers if r["block"] == block and r["embeddings"] == emb]
        for stat in ("ood", "id", "recovery"):
            out[f"layers_{'emb' if emb else 'only'}_{stat}"] = rows[0][stat] if rows else math.nan
    return out


@dataclass(frozen=True)
class Figure4:
    """What Figure 4's page draws and its claims are judged on."""

    models: Models
    """The four checkpoints (the SFT end is the target of every edit)."""
    anchors: dict[str, dict[str, Any]]
    """The evaluated base, SFT peak and SFT end."""
    rank_peak: list[dict[str, Any]]
    """The SFT peak's top directions restored, one row per fraction."""
    tail_peak: list[dict[str, Any]]
    """The SFT peak's smallest directions restored, one row per fraction."""
    rank_base: list[dict[str, Any]]
    """The base's top directions restored, one row per fraction."""
    layers: list[dict[str, Any]]
    """Layer-wise restoration from the SFT peak, one row per (block, embeddings)."""
    layer_op_text: str
    """What the layer-wise edit puts into the chosen layers, for the prose."""
    numbers: dict[str, float]
    """Every number the page's prose quotes (glue names as keys)."""


def data(cfg: StudyConfig, *, base: str | None = None, sft_peak: str | None = None, sft_end: str | None = None,
         rl: str | None = None, kinds: str = "", fractions: str = "0,0.05,0.1,0.2,0.3,0.5,0.75,1.0",
         tail_fractions: str = "0.2,0.5", layer_op: str = "swap", layer_k_frac: float = 1.0,
         layer_blocks: str = "") -> Figure4:
    """Figure 4's data; the keyword defaults are the page's (``notebooks/04_...``). Every
    edited checkpoint is written once under the cache and evaluated once."""
    kinds_used = parse_kinds(kinds)
    m = models(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl)
    anchor = anchors(m, cfg, ("base", "sft_peak", "sft_end"))
    top = parse_fractions(fractions)
    rank_peak = rank_restoration(m, cfg, reference="sft_peak", fractions=top, kinds=kinds_used)
    tail_peak = rank_restoration(m, cfg, reference="sft_peak", fractions=parse_fractions(tail_fractions),
                                    tail=True, kinds=kinds_used)
    rank_base = rank_restoration(m, cfg, reference="base", fractions=top, kinds=kinds_used)
    layers = layer_restoration(m, cfg, reference="sft_peak", op=layer_op, k_frac=layer_k_frac,
                                  blocks=parse_names(layer_blocks), kinds=kinds_used)
    return Figure4(models=m, anchors=anchor, rank_peak=rank_peak, tail_peak=tail_peak, rank_base=rank_base,
                   layers=layers, layer_op_text=layer_op_text(layer_op, layer_k_frac, "sft_peak"),
                   numbers=numbers(rank_peak + rank_base, layers))
