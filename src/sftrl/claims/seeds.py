"""Verdicts that survive a reseed: a verdict on the book's configuration holds only where
every SFT seed gives it.

``make study`` (:mod:`sftrl.claims.study_log`) runs the book's default configuration under
SFT seeds 0, 1, ... and records each seed's verdicts on Figures 1-5's claims. A figure page
and the claims page judge the book's own run (live) and combine its verdicts with those
the log records for the configuration's other SFT seeds, as long as those rows were made
by today's code: a verdict stands where every seed gives it; otherwise the claim is
:data:`sftrl.claims.rules.MIXED`, with every seed's numbers. Where the log holds no
current rows for the configuration, the verdicts are the one run's, and
:func:`seeds_sentence` says so.

Usage::

    verdicts = seeds.judged("fig4", d, cfg)   # rules.figure4(d), combined across SFT seeds
    seeds.seeds_sentence(cfg)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sftrl import config
from sftrl.claims import rules, study_log
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.experiments.figures import from_pipeline

def _same_study(a: StudyConfig, b: StudyConfig) -> bool:
    """Whether two configurations differ in nothing but the SFT seed (and how they run)."""
    return config.same_results(a, b, ignore=("sft_seed",))


def logged(cfg: StudyConfig) -> dict[int, dict[str, Any]]:
    """The study log's rows for ``cfg``'s configuration under other SFT seeds, made by
    today's code and holding verdicts: ``{sft seed: row}``."""
    out: dict[int, dict[str, Any]] = {}
    for row in study_log.read_log():
        if not row.get("verdicts") or not study_log.is_current(row):
            continue
        try:
            other = config.profile(row.get("profile", "cpu"), **row.get("overrides", {}))
        except SftrlError:  # a row of settings that no longer exist is not this configuration
            continue
        if other.sft.seed != cfg.sft.seed and _same_study(other, cfg):
            out.setdefault(other.sft.seed, row)
    return dict(sorted(out.items()))


def across(verdicts: Sequence[rules.Verdict], seed: int,
           others: Mapping[int, Mapping[str, Any]]) -> list[rules.Verdict]:
    """``verdicts`` (SFT seed ``seed``) combined with the other seeds' logged verdicts
    (``{seed: row}``, each row's ``verdicts`` by claim): unchanged where no other seed judged
    the claim; where all agree the verdict stands and the reason says so; otherwise
    :data:`~sftrl.claims.rules.MIXED`, the reason listing every seed's verdict and numbers."""
    out = []
    for v in verdicts:
        judged = {s: row["verdicts"][v.claim] for s, row in others.items()
                  if row["verdicts"].get(v.claim, {}).get("verdict") not in (None, rules.NOT_EVALUATED)}
        if v.verdict == rules.NOT_EVALUATED or not judged:
            out.append(v)
            continue
        every = {seed: {"verdict": v.verdict, "reason": v.reason}, **judged}
        names = ", ".join(str(s) for s in sorted(every))
        if len({x["verdict"] for x in every.values()}) == 1:
            out.append(dataclasses.replace(v, reason=f"{v.reason} (SFT seed {seed}; the same verdict under every "
                                                     f"SFT seed, {names})"))
        else:
            reason = "; ".join(f"SFT seed {s}: {x['verdict']}, {x['reason']}" for s, x in sorted(every.items()))
            out.append(dataclasses.replace(v, verdict=rules.MIXED, reason=reason))
    return out


def judged(group: str, d: Any, cfg: StudyConfig) -> list[rules.Verdict]:
    """A figure group's verdicts on its data ``d`` (:data:`sftrl.claims.rules.FIGURES`),
    combined across SFT seeds when ``d`` is the pipeline's run of ``cfg``."""
    verdicts = rules.FIGURES[group](d)
    if not from_pipeline(d):
        return verdicts
    return across(verdicts, cfg.sft.seed, logged(cfg))


def seeds_sentence(cfg: StudyConfig) -> str:
    """Which SFT seeds the verdicts rest on, in one sentence."""
    others = logged(cfg)
    if others:
        names = ", ".join(str(s) for s in others)
        return (f"The verdicts on Figures 1-5 combine this build's run (SFT seed {cfg.sft.seed}) with SFT seeds "
                f"{names} from the study log, made by today's code: a verdict stands only where every seed gives "
                f"it, and is *{rules.MIXED}* otherwise, with each seed's numbers.")
    stale = [r for r in study_log.read_log() if r.get("verdicts") and not study_log.is_current(r)]
    why = (" The study log's other seeds were made by earlier code; `make study` reruns them."
           if stale else " The study log holds no other SFT seed of this configuration.")
    return f"The verdicts rest on one SFT run (seed {cfg.sft.seed}), so they may not survive a reseed.{why}"
