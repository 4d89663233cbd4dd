"""The claims page: every claim's verdict in one list, judged by the figures' own rules.

One :class:`ClaimRow` per claim of :data:`sftrl.claims.registry.CLAIMS`: the paper's number
(marked "(unconfirmed)" where :mod:`sftrl.claims.papers` says so), ours, and the verdict of
the claim's one rule in :mod:`sftrl.claims.rules`. Each figure's data come from its
:mod:`sftrl.experiments` module, called with the library's defaults, which the figure
page's parameters cell repeats (a test keeps the two equal); so after ``make book`` this
reads the cached runs, edits and analyses the figure pages made. A claim whose inputs
cannot be made is "not evaluated", with the reason; the page never crashes on it.

Usage::

    rows = scoreboard.claim_rows(config.profile("cpu"))   # trains nothing once the figures ran
    scoreboard.verdict_counts(rows); scoreboard.counts_sentence(rows)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sftrl.claims import rules, seeds
from sftrl.claims.registry import CLAIMS, GROUPS, PAPERS, ClaimSpec, paper_text
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.experiments.figures import DATA

#: every verdict a claim row may carry
ALLOWED = (*rules.VERDICTS, rules.MIXED, rules.NOT_EVALUATED)


@dataclass(frozen=True)
class ClaimRow:
    """One row of the claims table."""

    key: str
    """The claim's key."""
    paper: str
    """``"A"`` or ``"B"``."""
    figure: str
    """The figure group's name, e.g. ``"Figure 1"``."""
    page: str
    """The figure's notebook (``figures/<page>`` in the book)."""
    statement: str
    """The claim, in words."""
    paper_value: str
    """The paper's numbers, "(unconfirmed)" where they are."""
    ours: str
    """Our numbers the verdict was decided on, with intervals where they apply (for a
    claim not evaluated: why)."""
    verdict: str
    """One of :data:`ALLOWED`."""
    rule: str
    """The decision rule, as the page prints it (empty when not evaluated)."""

    def __post_init__(self) -> None:
        if self.verdict not in ALLOWED:
            raise SftrlError(f"claim {self.key!r}: verdict must be one of {ALLOWED}, not {self.verdict!r}")


def _row(spec: ClaimSpec, verdict: str, ours: str, rule: str) -> ClaimRow:
    figure, page = GROUPS[spec.group]
    return ClaimRow(key=spec.key, paper=spec.paper, figure=figure, page=page, statement=spec.statement,
                    paper_value=paper_text(spec.key), ours=ours, verdict=verdict, rule=rule)


def judge_group(group: str, cfg: StudyConfig) -> list[ClaimRow]:
    """The rows of one figure group's claims, in the registry's order; "not evaluated" rows
    with the reason when the figure's data cannot be made (:class:`SftrlError`)."""
    if group not in DATA:
        raise SftrlError(f"unknown figure group {group!r}; choose from {', '.join(GROUPS)}")
    specs = [c for c in CLAIMS if c.group == group]
    try:
        verdicts = {v.claim: v for v in seeds.judged(group, DATA[group](cfg), cfg)}
    except SftrlError as exc:
        return [_row(s, rules.NOT_EVALUATED, f"not evaluated: {exc}", "") for s in specs]
    rows = []
    for s in specs:
        v = verdicts.get(s.key)
        if v is None:
            rows.append(_row(s, rules.NOT_EVALUATED, f"not evaluated: the {GROUPS[group][0]} rules give no "
                                                     "verdict on it", ""))
        elif v.verdict == rules.NOT_EVALUATED:
            rows.append(_row(s, v.verdict, f"not evaluated: {v.reason}", ""))
        else:
            rows.append(_row(s, v.verdict, v.reason, v.rule))
    return rows


def claim_rows(cfg: StudyConfig, groups: Iterable[str] | None = None) -> list[ClaimRow]:
    """One :class:`ClaimRow` per claim of the registry (in ``groups``, default all), judged
    on ``cfg``'s runs. Whatever a figure page already made is read from the cache; what is
    missing is made (as the figure page would)."""
    chosen = list(GROUPS) if groups is None else list(groups)
    return [row for group in chosen for row in judge_group(group, cfg)]


def verdict_counts(rows: Sequence[ClaimRow]) -> dict[str, int]:
    """How many rows carry each verdict of :data:`ALLOWED` (zeros included)."""
    return {v: sum(1 for r in rows if r.verdict == v) for v in ALLOWED}


def counts_sentence(rows: Sequence[ClaimRow]) -> str:
    """One sentence on the verdicts, per paper, e.g. for the page's opening."""
    parts = []
    for paper in PAPERS:
        sel = [r for r in rows if r.paper == paper]
        if not sel:
            continue
        c = verdict_counts(sel)
        counted = [f"{c['reproduced']} reproduced", f"{c['partly']} partly", f"{c['not reproduced']} not reproduced"]
        counted += [f"{c[rules.MIXED]} {rules.MIXED}"] if c[rules.MIXED] else []
        text = f"of paper {paper}'s {len(sel)} claims, {', '.join(counted[:-1])} and {counted[-1]}"
        if c[rules.NOT_EVALUATED]:
            text += f" ({c[rules.NOT_EVALUATED]} not evaluated)"
        parts.append(text)
    out = "; ".join(parts)
    return out[:1].upper() + out[1:] + "." if out else "No claims were judged."
