"""The small-model study: every configuration tried, and what each gave.

The book's default CPU configuration was chosen by measurement. Each configuration
tried is declared below (flat overrides of the cpu profile, and why it was tried);
``make study`` runs them all through the cached pipeline and writes the summary to
``book/study/tried.json``, a committed snapshot that the Methods page renders. The
numbers in it come only from those runs, and every row records what made it
(:func:`sftrl.provenance.record`: the digest of :data:`STUDY_CODE`, the commit, the package
versions and the processor), so the page can mark a row made by other code than today's.

The default configuration runs under :data:`SFT_SEEDS` SFT seeds, and those rows record
every Figure 1-5 verdict: :mod:`sftrl.claims.seeds` lets a verdict stand only where every
seed gives it.

Usage: ``python -m sftrl.claims.study_log [--only NAME ...]``  (what ``make study`` runs)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftrl import config, paths, provenance, snapshots
from sftrl.claims import rules as claims
from sftrl.experiments import figure1 as study
from sftrl.experiments.figures import DATA, SFT_GROUPS
from sftrl.training.runs import write_json_atomic

SNAPSHOT = paths.BOOK / "study" / "tried.json"
#: the profile every configuration of the log overrides (the book's default)
PROFILE = "cpu"
#: the code a row's numbers and verdicts come from: Figures 1-5's data (and the runs,
#: evaluations and edits they make) and the rules that judge them
STUDY_CODE = ("sftrl.experiments.figures", "sftrl.claims.rules")
#: SFT seeds of the default configuration ``make study`` runs (seed 0 is the book's own run)
SFT_SEEDS = 3


@dataclass(frozen=True)
class Tried:
    """One configuration of the study."""

    name: str
    """Short name, used in the Methods table."""
    why: str
    """What the configuration tests."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Flat overrides of the cpu profile (see :func:`sftrl.config.profile`)."""
    rl: bool = True
    """Also run RL from ``rl_from_steps`` (else the SFT curve only)."""
    claims: bool = False
    """Also judge every claim of Figures 1-5 on this configuration's runs (the default
    configuration under each SFT seed)."""


#: the ``era`` of the snapshot's rows made before the papers' protocol: one greedy attempt per
#: hand, single-turn RL, and a base pretrained without revision transcripts. That base is
#: gone, so they cannot be rerun; they stay in the log, as they were measured, as the
#: documented single-attempt variant.
EARLIER = "earlier protocol"

#: in the order they were tried; ``default`` is the cpu profile itself. Every RL entry runs
#: ``rl_seeds`` seeds (the profile's 3 unless overridden) from each of its starts.
TRIED: tuple[Tried, ...] = (
    Tried("default", "the cpu profile as shipped (Figure 1), under the papers' protocol because it is the "
          "papers' protocol: up to 5 attempts per hand with the verifier's reason after each wrong one, in "
          "evaluation and in RL (GRPO on the same episodes, the shaped reward summed over the turns)", {},
          claims=True),
    *(Tried(f"default, SFT seed {s}", f"the default with SFT seed {s} (the order of the SFT examples): do "
            "Figures 1-5's verdicts survive a reseed?", {"sft_seed": s}, claims=True) for s in range(1, SFT_SEEDS)),
    Tried("single attempt", "the earlier protocol on the revision-trained base: one greedy attempt per hand "
          "in evaluation and single-turn RL, as the rows of the earlier protocol below were measured",
          {"eval_attempts": 1, "rl_attempts": 1, "rl_seeds": 1}),
    Tried("single-turn RL", "evaluation under the papers' protocol, RL on single answers: does RL need the "
          "episodes, or only the evaluation?", {"rl_attempts": 1, "rl_seeds": 1}),
    Tried("SFT lr 1e-4", "a lower SFT learning rate (3e-4 is the default): does SFT then erode less of what "
          "OOD hands need, or erode it along a path the ID episodes of RL also use?",
          {"sft_lr": 1e-4, "rl_seeds": 1}),
    Tried("KL anchor 0.05", "a labelled ablation, never the default: a KL term (beta 0.05) holds RL near its "
          "starting model, where paper A has none", {"rl_beta": 0.05, "rl_seeds": 1}),
    Tried("RL temperature 0.2", "paper A's rollout temperature instead of 1.0: fewer distinct episodes in a "
          "group, so fewer groups with a reward spread", {"rl_temperature": 0.2, "rl_seeds": 1}),
)


def _pct(x: float) -> float:
    return round(100 * x, 1) if x == x else float("nan")


def summarise(t: Tried, profile: str = PROFILE) -> dict[str, Any]:
    """Run (or read) one configuration and summarise its Figure-1 quantities (percent).

    Keys: ``name``, ``why``, ``overrides``; the SFT curve's ``base_any_format_ood``,
    ``peak_step``, ``peak_ood``, ``id_at_peak``, ``end_step``, ``ood_end``, ``id_end``; with
    RL, ``rl_seeds``, ``rl`` (one entry per start: ``from``, ``ood_start``, ``ood_rl`` and
    ``id_rl`` as the mean over seeds, ``ood_rl_seeds``, ``ood_change_paired_ci`` (the
    paired 95% interval of the OOD change), ``id_start``, ``id_rl_seeds``) and
    ``rl_verdict`` / ``rl_reason`` from :func:`sftrl.claims.rules.rl_restores_in_window`.
    """

    cfg = config.profile(profile, **t.overrides)
    made_by = provenance.record(*STUDY_CODE)
    curve = study.sft_curve(cfg)
    peak = study.ood_peak(curve)
    ood0 = next(r for r in curve if r["step"] == 0 and r["split"] == "ood")
    rl_protocol = f"RL on episodes of up to {cfg.rl.attempts} attempts" if cfg.rl.attempts > 1 else "single-turn RL"
    row: dict[str, Any] = {
        "name": t.name, "why": t.why, "overrides": t.overrides, "profile": profile, "sft_seed": cfg.sft.seed,
        "made_by": made_by, "protocol": f"{cfg.eval.describe()}; {rl_protocol}",
        "base_any_format_ood": _pct(ood0["any_format_accuracy"]),
        "peak_step": peak.step, "peak_ood": _pct(peak.ood), "id_at_peak": _pct(peak.id),
        "end_step": peak.end_step, "ood_end": _pct(peak.ood_end), "id_end": _pct(peak.id_end),
    }
    if t.rl:
        window = study.rl_window(cfg, cfg.rl_from_steps)
        row["rl_seeds"] = cfg.rl_seeds
        row["rl"] = [{"from": w["from_step"], "ood_start": _pct(w["ood_start"]), "ood_rl": _pct(w["ood_rl"]),
                      "ood_rl_seeds": [_pct(x) for x in w["ood_rl_seeds"]], "id_start": _pct(w["id_start"]),
                      "ood_change_paired_ci": [_pct(x) for x in w["ood_gain_paired_ci"]],
                      "id_rl": _pct(w["id_rl"]), "id_rl_seeds": [_pct(x) for x in w["id_rl_seeds"]],
                      "ood_start_1": _pct(w["ood_start_1"]), "ood_rl_1": _pct(w["ood_rl_1"]),
                      "reward_spread": _pct(w["reward_spread"])}
                     for w in window]
        verdict = claims.rl_restores_in_window(curve, window)
        row["rl_verdict"], row["rl_reason"] = verdict.verdict, verdict.reason
    if t.claims:
        row.update(judge(cfg))
    return row


def judge(cfg: config.StudyConfig) -> dict[str, Any]:
    """Every Figure 1-5 verdict on ``cfg``'s runs (one SFT seed, not combined), and the
    edits' numbers the restoration and grafting verdicts rest on (percent):
    ``{"verdicts": {claim: {"verdict", "reason"}}, "edits": {...}}``."""
    data = {g: DATA[g](cfg) for g in SFT_GROUPS}
    verdicts = {v.claim: {"verdict": v.verdict, "reason": v.reason}
                for g in SFT_GROUPS for v in claims.FIGURES[g](data[g])}
    d4, d5 = data["fig4"], data["fig5"]
    top, top_base = claims.top_directions_row(d4.rank_peak), claims.top_directions_row(d4.rank_base)
    first = claims.first_layers_row(d4.layers)
    edits = {"top20_ood": _pct(top["ood"]), "top20_recovery": _pct(top["recovery"]),
             "top20_base_recovery": _pct(top_base["recovery"]),
             "first25_ood": _pct(first["ood"]) if first else None,
             "first25_recovery": _pct(first["recovery"]) if first else None,
             **{f"graft_{r['key']}_ood": _pct(r["ood"]) for r in d5.grafts}}
    return {"verdicts": verdicts, "edits": edits}


def read_log(path: Path | None = None) -> list[dict[str, Any]]:
    """The study log's rows (default :data:`SNAPSHOT`; [] when none is committed);
    SftrlError when the file is not a list of rows."""
    rows = snapshots.read(SNAPSHOT if path is None else path,
                          lambda x: isinstance(x, list) and all(isinstance(r, dict) for r in x),
                          "a list of configurations")
    return rows or []


def code_today() -> str:
    """The digest of :data:`STUDY_CODE` as the code stands (what a current row records)."""
    return provenance.code_digest(*STUDY_CODE)


def is_current(row: dict[str, Any]) -> bool:
    """Whether a log row was made by today's code (its ``made_by`` digest is today's)."""
    return snapshots.made_today(row, *STUDY_CODE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="names to (re)run; the others are kept from the snapshot")
    ap.add_argument("--profile", default=PROFILE)
    args = ap.parse_args(argv)
    old_rows = read_log()
    old = {r["name"]: r for r in old_rows if r.get("era") != EARLIER}
    rows = []
    for t in TRIED:
        if args.only and t.name not in args.only and t.name in old:
            rows.append(old[t.name])
            continue
        rows.append(summarise(t, args.profile))
        print(json.dumps(rows[-1]), flush=True)
    rows += [r for r in old_rows if r.get("era") == EARLIER]
    clean = json.loads(json.dumps(rows, default=lambda x: None).replace("NaN", "null"))
    write_json_atomic(SNAPSHOT, clean)
    return 0


if __name__ == "__main__":
    sys.exit(main())
