"""Figure 5 of paper A (arXiv 2509.12235): causal grafting of singular vectors and values.

Usage: ``d = figure5.data(config.profile("cpu")); d.grafts``
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.experiments.models import Models, edited, evaluate, models, prefetch
from sftrl.weights.checkpoints import parse_kinds
from sftrl.weights.edits import Edit, plan_edit


#: the grafting experiments: key -> (label, target role, reference role, op); op None = unedited.
#: ``graft`` writes U_ref diag(S_tgt) Vh_ref, ``sigma_swap`` writes U_tgt diag(S_ref) Vh_tgt.
GRAFTS: dict[str, tuple[str, str, str | None, str | None]] = {
    "rl": ("RL", "rl", None, None),
    "sft_end": ("SFT end", "sft_end", None, None),
    "rl_sft_directions": ("RL + SFT directions", "rl", "sft_end", "graft"),  # U_sft S_rl Vh_sft
    "sft_rl_directions": ("SFT + RL directions", "sft_end", "rl", "graft"),  # U_rl S_sft Vh_rl
    "rl_sft_sigma": ("RL + SFT σ", "rl", "sft_end", "sigma_swap"),  # U_rl S_sft Vh_rl
    "sft_rl_sigma": ("SFT + RL σ", "sft_end", "rl", "sigma_swap"),  # U_sft S_rl Vh_sft
}


def grafting(m: Models, cfg: StudyConfig, *, kinds: Sequence[str] | None = None,
             experiments: Iterable[str] = tuple(GRAFTS)) -> list[dict[str, Any]]:
    """Causal grafting (arXiv 2509.12235, Fig. 5): RL, SFT end, each with the other's singular
    vectors (own singular values) and each with the other's singular values (own vectors).

    Only the selected block matrices are edited; norms, embeddings and LM head stay the
    target's, which is all that separates "RL + SFT directions" from "SFT + RL σ" (their
    block matrices are the same). Rows: ``key``, ``label``, ``target``, ``reference``, ``op``
    and the accuracies.
    """
    experiments = tuple(experiments)
    for key in experiments:
        if key not in GRAFTS:
            raise SftrlError(f"unknown grafting experiment {key!r}; choose from {', '.join(GRAFTS)}")
    plan_edit(m.rl, m.sft_end, Edit("graft", kinds=kinds))
    grafted = {}
    for key in experiments:
        _, target, reference, op = GRAFTS[key]
        grafted[key] = m.path(target) if op is None else edited(m.path(target), m.path(reference), Edit(op, kinds=kinds))
    prefetch(grafted.values(), cfg)
    rows = []
    for key in experiments:
        label, target, reference, op = GRAFTS[key]
        rows.append(evaluate(grafted[key], cfg, key=key, label=label, target=target, reference=reference, op=op))
    return rows


def numbers(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """ID and OOD accuracy of every grafting experiment, flat (``ood_<key>``, ``id_<key>``)."""
    out: dict[str, float] = {}
    for r in rows:
        out[f"ood_{r['key']}"] = r["ood"]
        out[f"id_{r['key']}"] = r["id"]
    return out


@dataclass(frozen=True)
class Figure5:
    """What Figure 5's page draws and its claims are judged on."""

    models: Models
    """The four checkpoints (RL and the SFT end are grafted onto each other)."""
    grafts: list[dict[str, Any]]
    """The grafting experiments, one evaluated row each."""
    numbers: dict[str, float]
    """Every number the page's prose quotes (glue names as keys)."""


def data(cfg: StudyConfig, *, base: str | None = None, sft_peak: str | None = None, sft_end: str | None = None,
         rl: str | None = None, kinds: str = "") -> Figure5:
    """Figure 5's data; the keyword defaults are the page's (``notebooks/05_...``)."""
    m = models(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl)
    grafts = grafting(m, cfg, kinds=parse_kinds(kinds))  # four edited checkpoints, each made once
    return Figure5(models=m, grafts=grafts, numbers=numbers(grafts))
