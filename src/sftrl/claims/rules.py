"""Verdicts on the papers' claims, computed from our measured numbers by stated rules.

Each rule function takes the rows the study produces (:func:`sftrl.experiments.figure1.sft_curve`: one
row per (step, split) with ``accuracy``, its 95% Wilson interval ``ci_low``/``ci_high``,
``format_error_rate``, ``train_loss``, ``heldout_loss``; :func:`sftrl.experiments.figure1.rl_window`:
one row per RL start) and returns a :class:`Verdict`: ``"reproduced"``, ``"partly"`` or
``"not reproduced"``, with a one-line reason that quotes the numbers it was decided on.
The rule itself is the paragraph after ``Rule:`` in each function's docstring;
:func:`rule_text` returns it for the book, so the page prints the rule the code applies.

Two accuracies differ *beyond their intervals* when the difference exceeds the sum of
their 95% interval half-widths (half of ``ci_high - ci_low``). Summing the half-widths is
deliberately stricter than the usual root-sum-of-squares: the peak is the maximum of many
checkpoints, which biases it upward.

Usage::

    from sftrl.claims import rules as claims
    from sftrl.experiments import figure1 as study
    curve = study.sft_curve(cfg); window = study.rl_window(cfg)
    for v in claims.figure1(curve, window):
        print(v.sentence)
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sftrl.claims import registry
from sftrl.errors import SftrlError
from sftrl.experiments.figure1 import best_recovery, by_split, face_as_id_share, ood_peak, outcome_share
from sftrl.experiments.figure7 import ROTATED
from sftrl.fmt import WEIGHTS, pct, pts

#: the three possible verdicts, strongest first
VERDICTS = ("reproduced", "partly", "not reproduced")
#: the verdict where SFT seeds disagree (:mod:`sftrl.claims.seeds`): no verdict holds
MIXED = "mixed across seeds"
#: a loss "falls monotonically" when its Spearman correlation with the step is below this
SPEARMAN_MAX = -0.9
#: the format counts as learned when the OOD format-error rate is at most this (paper A: ~5%)
FORMAT_LEARNED = 0.05
#: ...and as not yet learned when it is at least this (paper A: 100% at step 0)
FORMAT_UNLEARNED = 0.5
#: the shares of GRPO groups with a reward spread are "the same at every start" when they
#: differ by less than this (a description of Figure 1's panel (e), not a claim's rule)
SPREAD_FLAT = 0.05

Rows = Sequence[dict[str, Any]]
#: the losses of an SFT curve row, as the verdicts name them
LOSS_NAMES = {"train_loss": "train", "heldout_loss": "held-out"}


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim."""

    claim: str
    """Short key of the claim, e.g. ``"ood_rise_and_decline"``."""
    statement: str
    """The paper's claim, in words."""
    verdict: str
    """One of :data:`VERDICTS`."""
    reason: str
    """One line with the numbers the verdict was decided on."""
    rule: str
    """The decision rule, as printed in the book."""

    def __post_init__(self) -> None:
        if self.verdict not in (*VERDICTS, MIXED, NOT_EVALUATED):
            raise SftrlError(f"verdict must be one of {(*VERDICTS, MIXED, NOT_EVALUATED)}, not {self.verdict!r}")

    @property
    def sentence(self) -> str:
        """``'<statement>: <verdict>. <reason>.'`` -- reads correctly whatever the verdict."""
        return f"{self.statement}: {self.verdict}. {self.reason[:1].upper()}{self.reason[1:]}."


# --------------------------------------------------------------------------- helpers


def half_width(ci: tuple[float, float]) -> float:
    """Half the width of an interval (Wilson intervals are asymmetric; this is their mean reach)."""
    return (ci[1] - ci[0]) / 2


def _point(rows: Rows, step: int, split: str) -> dict[str, Any]:
    for r in rows:
        if r["step"] == step and r["split"] == split:
            return r
    raise SftrlError(f"no {split} evaluation at SFT step {step}")


def _ci(row: dict[str, Any]) -> tuple[float, float]:
    return (row["ci_low"], row["ci_high"])


def _with_ci(row: dict[str, Any]) -> str:
    return f"{pct(row['accuracy'])} [{pct(row['ci_low'])}, {pct(row['ci_high'])}]"


def margin(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The difference two accuracies must exceed to differ beyond their intervals."""
    return half_width(a) + half_width(b)


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank (as Spearman's rho needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y``; ``nan`` if either is constant or n < 3."""
    if len(x) != len(y):
        raise SftrlError(f"spearman needs equal lengths, got {len(x)} and {len(y)}")
    if len(x) < 3:
        return float("nan")
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return float("nan")
    return sxy / math.sqrt(sxx * syy)


def rule_text(fn: Callable[..., Verdict]) -> str:
    """The paragraph(s) after ``Rule:`` in a rule function's docstring, on one line."""
    doc = inspect.getdoc(fn) or ""
    if "Rule:" not in doc:
        raise SftrlError(f"{fn.__name__} states no rule")
    return " ".join(doc.split("Rule:", 1)[1].split())


def _verdict(fn: Callable[..., Verdict], claim: str, verdict: str, reason: str) -> Verdict:
    """The verdict on ``claim`` by the rule ``fn``; the statement is the registry's."""
    return Verdict(claim=claim, statement=registry.statement(claim), verdict=verdict, reason=reason,
                   rule=rule_text(fn))


# --------------------------------------------------------------------------- Figure 1 rules


def format_learned_before_peak(curve: Rows) -> Verdict:
    """The answer format is not known at step 0; the OOD peak comes after it is learned.

    Rule: reproduced when the OOD format-error rate is at least 50% at step 0 and at most 5%
    at the OOD-peak step (paper A: 100% at step 0, under about 5% by steps 40-50); partly
    when the format is learned by the peak but was already known at step 0; not reproduced
    when format errors at the peak exceed 5%.
    """
    fn, claim = format_learned_before_peak, "format_learned_before_peak"
    peak = ood_peak(curve)
    first = min(r["step"] for r in by_split(curve, "ood"))
    err0 = _point(curve, first, "ood")["format_error_rate"]
    err_peak = _point(curve, peak.step, "ood")["format_error_rate"]
    reason = (f"OOD format errors {pct(err0)} at step {first}, {pct(err_peak)} at the OOD-peak "
              f"step {peak.step}")
    if err_peak > FORMAT_LEARNED:
        return _verdict(fn, claim, "not reproduced", reason + " (format not learned by the peak)")
    if err0 < FORMAT_UNLEARNED:
        return _verdict(fn, claim, "partly", reason + " (format already known before SFT)")
    return _verdict(fn, claim, "reproduced", reason)


def ood_rise_and_decline(curve: Rows) -> Verdict:
    """OOD accuracy rises during SFT, peaks, then declines with more SFT.

    Rule: with the peak the highest OOD accuracy over all checkpoints (ties: the earliest),
    the rise is peak minus step-0 OOD and the decline is peak minus end-of-SFT OOD; each is
    significant when it exceeds the sum of the two 95% Wilson half-widths. Reproduced when
    both are significant; partly when only one is; not reproduced when neither is.
    """
    fn, claim = ood_rise_and_decline, "ood_rise_and_decline"
    peak = ood_peak(curve)
    first = min(r["step"] for r in by_split(curve, "ood"))
    p0, pk, pe = (_point(curve, s, "ood") for s in (first, peak.step, peak.end_step))
    rise, m_rise = pk["accuracy"] - p0["accuracy"], margin(_ci(pk), _ci(p0))
    decline, m_decline = pk["accuracy"] - pe["accuracy"], margin(_ci(pk), _ci(pe))
    rose, declined = rise > m_rise, decline > m_decline
    reason = (f"OOD {_with_ci(p0)} at step {first}, highest {_with_ci(pk)} at step {peak.step}, "
              f"{_with_ci(pe)} at the end (step {peak.end_step}); rise {pts(rise)} (counts beyond "
              f"+{100 * m_rise:.1f}), then {pts(-decline)} to the end (counts beyond -{100 * m_decline:.1f})")
    verdict = "reproduced" if rose and declined else "partly" if rose or declined else "not reproduced"
    return _verdict(fn, claim, verdict, reason)


def id_keeps_rising(curve: Rows) -> Verdict:
    """ID accuracy keeps rising while OOD accuracy declines.

    Rule: compares the OOD-peak step with the end of SFT. Reproduced when OOD declines beyond
    the intervals (as in ood_rise_and_decline) and ID rises beyond them; partly when OOD
    declines and ID holds (neither rises nor falls beyond the intervals, e.g. ID saturated);
    not reproduced when OOD does not decline beyond the intervals or ID falls beyond them.
    """
    fn, claim = id_keeps_rising, "id_keeps_rising"
    peak = ood_peak(curve)
    ok, oe = _point(curve, peak.step, "ood"), _point(curve, peak.end_step, "ood")
    ik, ie = _point(curve, peak.step, "id"), _point(curve, peak.end_step, "id")
    ood_decline = ok["accuracy"] - oe["accuracy"] > margin(_ci(ok), _ci(oe))
    id_change, m_id = ie["accuracy"] - ik["accuracy"], margin(_ci(ik), _ci(ie))
    reason = (f"from the OOD-peak step {peak.step} to the end (step {peak.end_step}): OOD "
              f"{pct(ok['accuracy'])} -> {pct(oe['accuracy'])}"
              f"{'' if ood_decline else ' (no decline beyond the intervals)'}, ID {pct(ik['accuracy'])} -> "
              f"{pct(ie['accuracy'])} ({pts(id_change)}, intervals +-{100 * m_id:.1f})")
    if not ood_decline or id_change < -m_id:
        verdict = "not reproduced"
    elif id_change > m_id:
        verdict = "reproduced"
    else:
        verdict = "partly"
    return _verdict(fn, claim, verdict, reason)


def _marks(losses: dict[int, float], step: int) -> bool:
    """Whether a loss curve singles out ``step``: its global minimum, or a strict local
    minimum between two checkpoints."""
    steps = sorted(losses)
    if min(steps, key=lambda s: (losses[s], s)) == step:
        return True
    i = steps.index(step)
    return 0 < i < len(steps) - 1 and losses[step] < losses[steps[i - 1]] and losses[step] < losses[steps[i + 1]]


def loss_blind_to_peak(curve: Rows) -> Verdict:
    """Train and held-out loss fall monotonically; nothing in them marks the OOD peak.

    Rule: needs an OOD peak after step 0 and before the end of SFT (otherwise not
    reproduced: there is no peak to mark). A loss marks the peak when its lowest value, or a
    strict local minimum, is at the peak step; a loss falls monotonically when its Spearman
    correlation with the step over all checkpoints is below -0.9. Reproduced when neither
    the train nor the held-out loss marks the peak and both fall monotonically; partly when
    neither marks the peak but one does not fall monotonically; not reproduced when either
    marks the peak.
    """
    fn, claim = loss_blind_to_peak, "loss_blind_to_peak"
    peak = ood_peak(curve)
    rows = by_split(curve, "id") or by_split(curve, "ood")
    steps = sorted({r["step"] for r in rows})
    losses = {name: {r["step"]: r[name] for r in rows} for name in LOSS_NAMES}
    rho = {name: spearman(steps, [v[s] for s in steps]) for name, v in losses.items()}
    reason = (f"Spearman correlation with step: train loss {rho['train_loss']:.2f}, held-out loss "
              f"{rho['heldout_loss']:.2f} over {len(steps)} checkpoints; held-out loss lowest at step "
              f"{min(steps, key=lambda s: (losses['heldout_loss'][s], s))}, OOD highest at step {peak.step}")
    if peak.step in (steps[0], peak.end_step):
        where = "before SFT" if peak.step == steps[0] else "at the end of SFT"
        return _verdict(fn, claim, "not reproduced", reason + f" (no OOD peak inside SFT: highest {where})")
    marked = [LOSS_NAMES[name] for name, v in losses.items() if _marks(v, peak.step)]
    if marked:
        return _verdict(fn, claim, "not reproduced",
                        reason + f" ({' and '.join(marked)} loss {'marks' if len(marked) == 1 else 'mark'} "
                                 "the peak step)")
    monotone = all(math.isfinite(r) and r < SPEARMAN_MAX for r in rho.values())
    return _verdict(fn, claim, "reproduced" if monotone else "partly",
                    reason if monotone else reason + " (not monotone)")


def rl_restores_in_window(curve: Rows, window: Rows) -> Verdict:
    """RL restores OOD accuracy from middle/late SFT checkpoints, not from too-early or too-late ones.

    Rule: a start raises OOD when RL's OOD accuracy (the mean over its seeds) exceeds the
    start checkpoint's by more than the sum of the two 95% half-widths and, with several
    seeds, every seed's RL run ends above the start; it restores when it also comes after
    the OOD peak. Reproduced when some start restores and the restoring starts form a
    window: an earlier start and a later start both fail to raise OOD. Partly when some
    start restores but the window is open on one side (or no start lies beyond it); not
    reproduced when no start restores. The reason states the seeds per start, since a
    change of a few points needs at least three.
    """
    fn, claim = rl_restores_in_window, "rl_restores_in_window"
    if not window:
        return _verdict(fn, claim, "not reproduced", "no RL runs to judge")
    peak = ood_peak(curve)
    rows = sorted(window, key=lambda r: r["from_step"])
    gains, raised = {}, set()
    for r in rows:
        start_ci = r.get("ood_start_ci") or _ci(_point(curve, r["from_step"], "ood"))
        g, m = r["ood_rl"] - r["ood_start"], margin(tuple(start_ci), tuple(r["ood_rl_ci"]))
        per_seed = r.get("ood_gain_seeds") or [g]
        gains[r["from_step"]] = (g, per_seed)
        if g > m and min(per_seed) > 0:
            raised.add(r["from_step"])
    restoring = sorted(s for s in raised if s > peak.step)
    parts = []
    for s, (g, per_seed) in gains.items():
        spread = (f" (seeds {100 * min(per_seed) + 0.0:+.1f} to {100 * max(per_seed) + 0.0:+.1f})"
                  if len(per_seed) > 1 else "")
        parts.append(f"{s}: {pts(g)}{spread}{'*' if s in raised else ''}")
    n_seeds = sorted({len(p) for _, p in gains.values()})
    seeds = "/".join(map(str, n_seeds)) + (" seed" if n_seeds == [1] else " seeds")
    reason = (f"mean OOD change from RL by start step, {seeds} each, with the seeds' range "
              f"(* raised beyond intervals in every seed): {'; '.join(parts)}; OOD peak at step {peak.step}")
    finite = [r for r in rows if math.isfinite(r.get("recovery", float("nan"))) and r["from_step"] in restoring]
    if finite:
        best = max(finite, key=lambda r: r["recovery"])
        reason += f"; best recovery {100 * best['recovery']:.0f}% from step {best['from_step']}"
    if not restoring:
        return _verdict(fn, claim, "not reproduced", reason)
    earlier = [s for s in gains if s < restoring[0] and s not in raised]
    later = [s for s in gains if s > restoring[-1] and s not in raised]
    if earlier and later:
        return _verdict(fn, claim, "reproduced",
                        reason + f"; window steps {restoring[0]}-{restoring[-1]}")
    open_side = " and ".join(side for side, found in (("early", earlier), ("late", later)) if not found)
    return _verdict(fn, claim, "partly", reason + f"; window open on the {open_side} side")


#: the Figure-1 rules in the order the book states them
FIGURE1_RULES: tuple[Callable[..., Verdict], ...] = (
    format_learned_before_peak, ood_rise_and_decline, id_keeps_rising, loss_blind_to_peak, rl_restores_in_window,
)


def paired_changes_sentence(window: Rows) -> str:
    """What a hand-by-hand (paired) comparison says about RL's OOD changes, by start step.

    A supplement to :func:`rl_restores_in_window`, whose rule (like every verdict here)
    compares two accuracies by their separate intervals: the paired interval of
    :func:`sftrl.evaluation.evaluate.paired_difference` is narrower, so it can resolve smaller changes.
    """
    rows = [r for r in sorted(window, key=lambda r: r["from_step"]) if r.get("ood_gain_paired_ci")]
    if not rows:
        return "No paired comparison is available (the evaluations carry no per-hand grades)."
    groups: dict[str, list[str]] = {"raised": [], "lowered": [], "left": []}
    for r in rows:
        lo, hi = r["ood_gain_paired_ci"]
        key = "raised" if lo > 0 else "lowered" if hi < 0 else "left"
        groups[key].append(f"{r['from_step']} ({100 * r['ood_gain'] + 0.0:+.1f} [{100 * lo + 0.0:+.1f}, "
                           f"{100 * hi + 0.0:+.1f}] points)")
    parts = []
    for key, words in (("raised", "higher than at the start from step(s)"),
                       ("lowered", "lower than at the start from step(s)"),
                       ("left", "not distinguishable from the start from step(s)")):
        if groups[key]:
            parts.append(f"{words} {', '.join(groups[key])}")
    return ("Compared hand by hand on the same OOD hands (a paired 95% interval, narrower than the rule's "
            f"separate intervals), OOD accuracy after RL was {'; '.join(parts)}.")


def forgetting_sentence(curve: Rows) -> str:
    """What the OOD first attempts got wrong at the OOD peak and at the end of SFT, in the
    verifier's categories, and how often they gave a face card the ID value 10 (the
    rule-reading diagnostic): a description of Figure 1's panel (d), not a claim."""
    peak = ood_peak(curve)
    ood = {r["step"]: r for r in by_split(curve, "ood")}
    if "first_outcomes" not in ood[peak.step]:
        return "The evaluations carry no outcome categories (they were made by earlier code)."
    a, b = ood[peak.step], ood[peak.end_step]
    parts = [f"{label} {pct(outcome_share(a, key))} → {pct(outcome_share(b, key))}"
             for key, label in (("wrong_value", "wrong value"), ("wrong_numbers", "wrong numbers"),
                                ("malformed", "malformed"), ("correct", "correct"))]
    return (f"From the OOD peak (step {peak.step}) to the end of SFT (step {peak.end_step}), the OOD first "
            f"attempts were: {', '.join(parts)}; a face card was given the ID value 10 in "
            f"{pct(face_as_id_share(a))} → {pct(face_as_id_share(b))} of the first attempts that list numbers "
            "for a hand with a face card.")


def mechanism_sentence(window: Rows) -> str:
    """Figure 1's panel (e) in words: the share of GRPO groups with a reward spread across
    the RL starts, and the rule-reading diagnostic before and after RL. A description, not a
    claim; it says when the spread is the same at every start (then it cannot tell the
    starts apart)."""
    rows = [r for r in sorted(window, key=lambda r: r["from_step"]) if math.isfinite(r.get("reward_spread", math.nan))]
    if not rows:
        return "No RL run logged its groups' reward spread."
    spreads = [r["reward_spread"] for r in rows]
    text = (f"The share of GRPO groups whose episodes earned different rewards was {pct(min(spreads))} to "
            f"{pct(max(spreads))} across the {len(rows)} RL starts")
    if max(spreads) - min(spreads) < SPREAD_FLAT:
        text += (", nearly the same at every start, so here it does not separate the starts where RL "
                 "raised OOD accuracy from those where it did not")
    face = [(r["face_as_id_start"], r["face_as_id_rl"]) for r in rows]
    return (text + ". OOD first attempts that give a face card the value 10: "
            + "; ".join(f"{r['from_step']}: {pct(a)} → {pct(b)}" for r, (a, b) in zip(rows, face)) + ".")


def best_recovery_sentence(window: Rows) -> str:
    """One sentence on the largest recovery fraction among the RL runs, or why there is none."""
    best = best_recovery(window)
    if best is None:
        return ("No RL run has a recovery fraction: no RL start came after the OOD peak with OOD "
                "accuracy below it, so there was nothing to recover")
    return (f"The largest recovery is {100 * best['recovery']:.0f}% of the OOD accuracy lost since the peak, "
            f"by RL from SFT step {best['from_step']} (OOD {pct(best['ood_start'])} -> {pct(best['ood_rl'])})")


# --------------------------------------------------------------------------- Figures 2-5 rules
#
# These take the rows of :mod:`sftrl.experiments.models`: ``pair_summary`` rows (one per pair
# ``"base_sft"``, ``"sft_rl"``, ``"base_rl"`` and group ``"blocks"`` / ``"embeddings"``) and
# evaluated rows with ``id``, ``ood`` and their 95% Wilson intervals ``id_ci``, ``ood_ci``.

#: mean |delta sigma| / sigma counted as "barely moves" (paper A: about 0.3-0.4%)
SIGMA_STABLE = 0.01
#: ...and as "moves little" (the partly band)
SIGMA_LOOSE = 0.05
#: how many times larger than the singular values' relative change the rotation must be
ROTATION_RATIO = 10.0
#: principal angles below this many degrees are rounding, not rotation (float32 SVDs)
ANGLE_FLOOR = 1e-3
#: the recovery fraction an edit must reach to count as restoring "most" of the OOD accuracy
RECOVERY_MIN = 0.5


def _deg(x: float) -> str:
    """An angle in degrees as the verdicts print it (rounding-sized ones in scientific form)."""
    return f"{x:.2f}°" if x >= 0.01 or x == 0 else f"{x:.1e}°"


def _acc(row: dict[str, Any], split: str = "ood") -> tuple[float, tuple[float, float]]:
    return row[split], tuple(row[f"{split}_ci"])  # type: ignore[return-value]


def _acc_text(row: dict[str, Any], split: str = "ood") -> str:
    acc, ci = _acc(row, split)
    return f"{pct(acc)} [{pct(ci[0])}, {pct(ci[1])}]"


def _above(a: dict[str, Any], b: dict[str, Any], split: str = "ood") -> bool:
    """``a``'s accuracy exceeds ``b``'s by more than the sum of the 95% half-widths."""
    (x, cx), (y, cy) = _acc(a, split), _acc(b, split)
    return x - y > margin(cx, cy)


def _same(a: dict[str, Any], b: dict[str, Any], split: str = "ood") -> bool:
    """Neither accuracy exceeds the other beyond the intervals."""
    return not _above(a, b, split) and not _above(b, a, split)


def _blocks(summary: Rows, pair: str) -> dict[str, Any]:
    for r in summary:
        if r["pair"] == pair and r["group"] == "blocks":
            return r
    raise SftrlError(f"no block-matrix summary for pair {pair!r}")


def _row(rows: Rows, key: str) -> dict[str, Any]:
    for r in rows:
        if r.get("key") == key:
            return r
    raise SftrlError(f"no row {key!r} among {[r.get('key') for r in rows]}")


def singular_values_stable(summary: Rows) -> Verdict:
    """Singular values barely move under SFT and RL.

    Rule: the mean over the transformer blocks' matrices of mean |delta sigma_i| / sigma_i
    (each pair relative to its first model). Reproduced when it is at most 1% for every pair
    (Base -> SFT, SFT -> RL, Base -> RL; paper A: about 0.3-0.4%); partly when the largest is
    at most 5%, or the smallest at most 1%; not reproduced otherwise.
    """
    fn, claim = singular_values_stable, "singular_values_stable"
    rows = [_blocks(summary, p) for p in ("base_sft", "sft_rl", "base_rl")]
    values = [r["mean_rel_dsigma"] for r in rows]
    reason = "mean |Δσ|/σ over block matrices " + ", ".join(
        f"{r['label']} {100 * v:.2f}%" + (" (the weights did not change)" if r["mean_angle_u"] < ANGLE_FLOOR else "")
        for r, v in zip(rows, values))
    if max(values) <= SIGMA_STABLE:
        verdict = "reproduced"
    elif max(values) <= SIGMA_LOOSE or min(values) <= SIGMA_STABLE:
        verdict = "partly"
    else:
        verdict = "not reproduced"
    return _verdict(fn, claim, verdict, reason)


def sigma_swap_keeps_accuracy(swap: Rows, peak: dict[str, Any], end: dict[str, Any]) -> Verdict:
    """The SFT-peak's singular values put into the SFT-end model leave its OOD accuracy flat.

    Rule: informative only when the SFT-peak checkpoint's OOD accuracy exceeds the SFT end's
    beyond the intervals (sum of the 95% half-widths); otherwise not reproduced, as there is
    no OOD difference for the singular values to carry. Reproduced when, in addition, every
    swapped model's OOD accuracy is within the intervals of the SFT end's (and none exceeds
    it); partly when some are; not reproduced when none is.
    """
    fn, claim = sigma_swap_keeps_accuracy, "sigma_swap_keeps_accuracy"
    flat = [r for r in swap if _same(r, end)]
    parts = "; ".join(f"top {100 * r['fraction']:.0f}%: {pct(r['ood'])}" for r in swap)
    reason = f"OOD at the SFT peak {_acc_text(peak)}, at the SFT end {_acc_text(end)}; after the swap {parts}"
    if not _above(peak, end):
        return _verdict(fn, claim, "not reproduced",
                        reason + " (uninformative: the SFT peak is not above the SFT end beyond the intervals)")
    verdict = "reproduced" if len(flat) == len(swap) and swap else "partly" if flat else "not reproduced"
    return _verdict(fn, claim, verdict, reason + f"; {len(flat)} of {len(swap)} within the intervals")


def vectors_rotate_values_stable(summary: Rows) -> Verdict:
    """Singular vectors rotate much more than singular values change.

    Rule: for Base -> SFT and SFT -> RL, the mean principal angle between the top-k left
    singular subspaces, in radians (the displacement of a unit vector turned by that angle),
    over the mean |delta sigma_i| / sigma_i, both averaged over the block matrices.
    Reproduced when the ratio is at least 10 (an order of magnitude) for both pairs; partly
    when it is at least 10 for one pair, or above 1 for both; not reproduced otherwise. A
    pair whose mean angle is below 0.001 degrees (float32 rounding) did not move and has no
    ratio.
    """
    fn, claim = vectors_rotate_values_stable, "vectors_rotate_values_stable"
    ratios, parts = [], []
    for pair in ("base_sft", "sft_rl"):
        r = _blocks(summary, pair)
        rot, ds = math.radians(r["mean_angle_u"]), r["mean_rel_dsigma"]
        if r["mean_angle_u"] < ANGLE_FLOOR:
            ratios.append(math.nan)
            parts.append(f"{r['label']}: the weights did not move measurably (mean angle {_deg(r['mean_angle_u'])})")
            continue
        ratio = rot / ds if ds > 0 else math.inf
        ratios.append(ratio)
        parts.append(f"{r['label']}: mean angle {_deg(r['mean_angle_u'])} ({rot:.4f} rad) against "
                     f"|Δσ|/σ {100 * ds:.2f}%, ratio {ratio:.3g}")
    reason = "; ".join(parts)
    big = sum(1 for x in ratios if x >= ROTATION_RATIO)  # nan compares False
    if big == 2:
        verdict = "reproduced"
    elif big == 1 or all(x > 1 for x in ratios):
        verdict = "partly"
    else:
        verdict = "not reproduced"
    return _verdict(fn, claim, verdict, reason)


def rl_rotates_less_than_sft(summary: Rows) -> Verdict:
    """RL rotates the principal subspaces far less than SFT (paper B, about 5 against 50 degrees).

    Rule: the mean principal angle between the top-k left singular subspaces over the block
    matrices, SFT -> RL against Base -> SFT. Reproduced when RL's is at most half of SFT's;
    partly when it is smaller but more than half; not reproduced when it is not smaller, or
    when RL did not move the weights measurably (mean angle below 0.001 degrees).
    The two runs differ in length (the pipeline's SFT runs more steps than its RL), as in
    the papers.
    """
    fn, claim = rl_rotates_less_than_sft, "rl_rotates_less_than_sft"
    sft, rl = _blocks(summary, "base_sft")["mean_angle_u"], _blocks(summary, "sft_rl")["mean_angle_u"]
    reason = f"mean top-k left principal angle: SFT {_deg(sft)}, RL {_deg(rl)}"
    if rl < ANGLE_FLOOR:
        return _verdict(fn, claim, "not reproduced", reason + " (RL did not move the weights measurably)")
    if rl <= sft / 2:
        verdict = "reproduced"
    elif rl < sft:
        verdict = "partly"
    else:
        verdict = "not reproduced"
    return _verdict(fn, claim, verdict, reason)


def _restoration_verdict(fn: Callable[..., Verdict], claim: str, row: dict[str, Any],
                         target: dict[str, Any], reference: dict[str, Any], what: str) -> Verdict:
    reason = (f"{what}: OOD {_acc_text(row)} against {_acc_text(target)} for the SFT end and "
              f"{_acc_text(reference)} for the reference")
    rec = row.get("recovery", math.nan)
    if not _above(reference, target):
        return _verdict(fn, claim, "not reproduced",
                        reason + " (uninformative: the reference is not above the SFT end beyond the intervals)")
    reason += f"; recovery {100 * rec:.0f}%" if math.isfinite(rec) else "; recovery n/a"
    if not _above(row, target):
        return _verdict(fn, claim, "not reproduced", reason + " (no gain beyond the intervals)")
    verdict = "reproduced" if rec >= RECOVERY_MIN else "partly"
    return _verdict(fn, claim, verdict, reason)


def top_directions_row(rank: Rows, fraction: float = 0.2) -> dict[str, Any]:
    """The rank-wise restoration row the top-directions rule judges: the top (not tail)
    fraction closest to ``fraction``."""
    rows = [r for r in rank if not r.get("tail")]
    if not rows:
        raise SftrlError("no top-direction restoration rows")
    return min(rows, key=lambda r: (abs(r["fraction"] - fraction), r["fraction"]))


def first_layers_row(layers: Rows, block: str = "first 25%") -> dict[str, Any] | None:
    """The layer-wise row the first-layers rule judges: ``block`` with the embeddings and
    LM head where that variant ran, else layers only; None when the block was not run."""
    match = sorted((r for r in layers if r["block"] == block), key=lambda r: not r["embeddings"])
    return match[0] if match else None


def top_directions_restore(rank: Rows, target: dict[str, Any], reference: dict[str, Any],
                           fraction: float = 0.2, claim: str = "top_directions_restore") -> Verdict:
    """Restoring the top 20% of singular directions recovers most of the lost OOD accuracy.

    Rule: at the restored fraction closest to 20% (reference: the SFT OOD-peak checkpoint,
    or the base where named; the SFT end's singular values kept). Informative only when the reference's OOD accuracy
    exceeds the SFT end's beyond the intervals (else not reproduced). Reproduced when the
    edit's OOD exceeds the SFT end's beyond the intervals and the recovery fraction
    (OOD_edit - OOD_end) / (OOD_ref - OOD_end) is at least 50% (paper A: 70-80%,
    unconfirmed); partly when the gain is beyond the intervals but recovers less; not
    reproduced otherwise.
    """
    fn = top_directions_restore
    row = top_directions_row(rank, fraction)
    what = f"top {100 * row['fraction']:.0f}% of directions"
    return _restoration_verdict(fn, claim, row, target, reference, what)


def first_layers_restore(layers: Rows, target: dict[str, Any], reference: dict[str, Any],
                         block: str = "first 25%") -> Verdict:
    """Restoring the first 25% of layers recovers most of the lost OOD accuracy.

    Rule: the layer-wise restoration of the first quarter of the layers, with the embeddings
    and LM head as in paper A's script (layers only when that variant was not run), judged
    as the top-directions rule: informative only
    when the reference is above the SFT end beyond the intervals; reproduced when the edit's
    OOD gain is beyond the intervals and recovers at least 50% (paper A: 70-80%,
    unconfirmed); partly when the gain is beyond the intervals but recovers less; not
    reproduced otherwise.
    """
    fn, claim = first_layers_restore, "first_layers_restore"
    row = first_layers_row(layers, block)
    if row is None:
        return _verdict(fn, claim, "not reproduced", f"the block {block!r} was not among the restored blocks")
    what = f"layers {block}{' with embeddings and LM head' if row['embeddings'] else ' (layers only)'}"
    return _restoration_verdict(fn, claim, row, target, reference, what)


def _graft_gate(rl: dict[str, Any], sft: dict[str, Any]) -> str | None:
    """Why a grafting verdict is uninformative (RL not above SFT in OOD), or None."""
    if _above(rl, sft):
        return None
    return (" (uninformative: RL's OOD accuracy is not above the SFT end's beyond the intervals, so there is no "
            "OOD gain for the directions or the singular values to carry)")


def sft_directions_lower_rl_ood(rows: Rows) -> Verdict:
    """Imposing SFT's singular vectors on the RL model (RL's singular values kept) lowers OOD.

    Rule: informative only when RL's OOD accuracy exceeds the SFT end's beyond the intervals
    (sum of the 95% half-widths); otherwise not reproduced. Reproduced when the grafted
    model's OOD is below RL's beyond the intervals and not above the SFT end's beyond them;
    partly when it is below RL's but still above the SFT end's; not reproduced when it is not
    below RL's.
    """
    fn, claim = sft_directions_lower_rl_ood, "sft_directions_lower_rl_ood"
    rl, sft, g = _row(rows, "rl"), _row(rows, "sft_end"), _row(rows, "rl_sft_directions")
    reason = f"OOD of RL {_acc_text(rl)}, SFT end {_acc_text(sft)}, RL + SFT directions {_acc_text(g)}"
    if (why := _graft_gate(rl, sft)) is not None:
        return _verdict(fn, claim, "not reproduced", reason + why)
    if not _above(rl, g):
        verdict = "not reproduced"
    else:
        verdict = "partly" if _above(g, sft) else "reproduced"
    return _verdict(fn, claim, verdict, reason)


def rl_directions_keep_ood(rows: Rows) -> Verdict:
    """RL's singular vectors with SFT's singular values keep RL's OOD accuracy.

    Rule: informative only when RL's OOD accuracy exceeds the SFT end's beyond the intervals;
    otherwise not reproduced. Reproduced when the SFT model with RL's directions has OOD
    within the intervals of RL's and above the SFT end's beyond them; partly when it is above
    the SFT end's but below RL's beyond the intervals; not reproduced when it is not above
    the SFT end's.
    """
    fn, claim = rl_directions_keep_ood, "rl_directions_keep_ood"
    rl, sft, g = _row(rows, "rl"), _row(rows, "sft_end"), _row(rows, "sft_rl_directions")
    reason = f"OOD of RL {_acc_text(rl)}, SFT end {_acc_text(sft)}, SFT + RL directions {_acc_text(g)}"
    if (why := _graft_gate(rl, sft)) is not None:
        return _verdict(fn, claim, "not reproduced", reason + why)
    if not _above(g, sft):
        verdict = "not reproduced"
    else:
        verdict = "reproduced" if not _above(rl, g) else "partly"
    return _verdict(fn, claim, verdict, reason)


def sigma_only_swap_changes_nothing(rows: Rows) -> Verdict:
    """Swapping only the singular values between RL and SFT changes neither model's accuracy.

    Rule: informative only when RL's OOD accuracy exceeds the SFT end's beyond the intervals;
    otherwise not reproduced. A swap keeps a model when its ID and its OOD accuracy are both
    within the intervals of the model whose singular vectors it keeps (RL + SFT σ against
    RL, SFT + RL σ against the SFT end). Reproduced when both swaps keep their model; partly
    when one does; not reproduced when neither does.
    """
    fn, claim = sigma_only_swap_changes_nothing, "sigma_only_swap_changes_nothing"
    rl, sft = _row(rows, "rl"), _row(rows, "sft_end")
    a, b = _row(rows, "rl_sft_sigma"), _row(rows, "sft_rl_sigma")
    kept = [_same(a, rl, "ood") and _same(a, rl, "id"), _same(b, sft, "ood") and _same(b, sft, "id")]
    reason = (f"RL + SFT σ: OOD {pct(a['ood'])}, ID {pct(a['id'])} against RL's {_acc_text(rl)}, "
              f"{_acc_text(rl, 'id')}; SFT + RL σ: OOD {pct(b['ood'])}, ID {pct(b['id'])} against the SFT end's "
              f"{_acc_text(sft)}, {_acc_text(sft, 'id')}")
    if (why := _graft_gate(rl, sft)) is not None:
        return _verdict(fn, claim, "not reproduced", reason + why)
    verdict = "reproduced" if all(kept) else "partly" if any(kept) else "not reproduced"
    return _verdict(fn, claim, verdict, reason)


#: the Figures 2-5 rules in the order the book states them
FIGURE2_5_RULES: tuple[Callable[..., Verdict], ...] = (
    singular_values_stable, sigma_swap_keeps_accuracy, vectors_rotate_values_stable, rl_rotates_less_than_sft,
    top_directions_restore, first_layers_restore, sft_directions_lower_rl_ood, rl_directions_keep_ood,
    sigma_only_swap_changes_nothing,
)


#: |z| above this counts as a departure from chance (a guide: mask entries are not independent)
Z_CHANCE = 3.0


#: a Jaccard index counts as above chance when it exceeds the independent-masks value by this factor
JACCARD_ABOVE = 1.1


#: two Jaccard values within this relative difference count as equal
NEAR = 0.1


def _need(n: Mapping[str, Any], *keys: str) -> None:
    missing = [k for k in keys if k not in n]
    if missing:
        raise SftrlError(f"the mask analysis has no {', '.join(missing)} (an SFT checkpoint or a second RL run is "
                         "missing)")


def _still(n: Mapping[str, Any]) -> bool:
    return n.get("rl_density", 1.0) == 0.0


_NOTHING = "no RL run changed a single bf16 weight (no learning signal, or every update rounded away)"


def rl_sparse_sft_dense(n: Mapping[str, Any]) -> Verdict:
    """RL leaves most weights bit-for-bit unchanged in bf16; SFT updates densely.

    Rule: sparsity is the share of all matrix entries whose bf16 value did not change.
    Reproduced when every RL run is sparser than SFT, the RL runs' mean sparsity is at least
    50% and SFT's is below 50%; partly when every RL run is sparser than SFT but one of the
    two 50% conditions fails; not reproduced when some RL run is not sparser than SFT, or when
    no RL run changed any weight (a trivial sparsity).
    """
    fn, claim = rl_sparse_sft_dense, "rl_sparse_sft_dense"
    _need(n, "rl_sparsity", "rl_sparsity_min", "rl_sparsity_max", "sft_sparsity")
    lo, hi, mean, sft = n["rl_sparsity_min"], n["rl_sparsity_max"], n["rl_sparsity"], n["sft_sparsity"]
    reason = (f"sparsity of RL {pct(mean)} (runs {pct(lo)} to {pct(hi)}, {int(n['n_rl'])} runs), "
              f"of SFT {pct(sft)}")
    if _still(n):
        return _verdict(fn, claim, "not reproduced", reason + f"; {_NOTHING}")
    if not lo > sft:
        return _verdict(fn, claim, "not reproduced", reason + " (some RL run is not sparser than SFT)")
    if mean >= 0.5 and sft < 0.5:
        return _verdict(fn, claim, "reproduced", reason)
    return _verdict(fn, claim, "partly", reason + (" (RL leaves less than half untouched)" if mean < 0.5
                                                 else " (SFT is sparse too)"))


def masks_consistent_across_runs(n: Mapping[str, Any]) -> Verdict:
    """Independent RL runs update the same entries, more often than chance.

    Rule: two measures over all matrices, each against independent masks of the runs' own
    densities: the share of entries every RL run updated (above chance when its binomial
    z-score exceeds 3; entries are not independent, so the score is a guide) and the mean
    pairwise Jaccard index of the runs' masks (above chance when it exceeds the independent
    value by 10%). Reproduced when both are above chance; partly when one is; not reproduced
    when neither is, or when no RL run changed any weight.
    """
    fn, claim = masks_consistent_across_runs, "masks_consistent_across_runs"
    _need(n, "in_all", "in_all_expected", "in_all_z", "jaccard", "jaccard_expected")
    reason = (f"updated by all {int(n['n_rl'])} RL runs: {pct(n['in_all'])} of the entries against "
              f"{pct(n['in_all_expected'])} for independent runs (z = {n['in_all_z']:.3g}); mean pairwise "
              f"Jaccard {n['jaccard']:.3f} against {n['jaccard_expected']:.3f}")
    if _still(n):
        return _verdict(fn, claim, "not reproduced", reason + f"; {_NOTHING}")
    above = [n["in_all_z"] > Z_CHANCE,
             n["jaccard_expected"] > 0 and n["jaccard"] > JACCARD_ABOVE * n["jaccard_expected"]]
    verdict = "reproduced" if all(above) else "partly" if any(above) else "not reproduced"
    return _verdict(fn, claim, verdict, reason)


def _off_principal(n: Mapping[str, Any], role: str) -> tuple[bool, bool]:
    """(below chance on the principal weights, above chance on the low-magnitude ones)."""
    return n[f"{role}_principal_z"] < -Z_CHANCE, n[f"{role}_low_z"] > Z_CHANCE


def rl_off_principal(n: Mapping[str, Any]) -> Verdict:
    """RL's updates avoid the principal weights and favour small ones; SFT's do not.

    Rule: the share of a region's entries that a model updated, against its update density
    (the chance level), for the principal weights (the top alpha of the entries of the
    rank-k reconstruction, LIFT) and the low-magnitude weights (the bottom alpha of the
    entries); below or above chance means a binomial z-score below -3 or above 3. A model
    shows the bias when it is below chance on the principal weights and above on the
    low-magnitude ones. Reproduced when RL shows the bias and SFT does not; partly when both
    show it (the bias is not RL's own), or RL is below chance on the principal weights only;
    not reproduced otherwise, or when no RL run changed any weight.
    """
    fn, claim = rl_off_principal, "rl_off_principal"
    _need(n, "rl_principal", "rl_low", "rl_density", "rl_principal_z", "rl_low_z", "sft_principal_z", "sft_low_z")
    parts = []
    for role in ("rl", "sft"):
        parts.append(f"{role.upper()} updated {pct(n[f'{role}_principal'])} of the principal and "
                     f"{pct(n[f'{role}_low'])} of the low-magnitude weights against chance "
                     f"{pct(n[f'{role}_density'])} (z = {n[f'{role}_principal_z']:.3g} and {n[f'{role}_low_z']:.3g})")
    reason = "; ".join(parts)
    if _still(n):
        return _verdict(fn, claim, "not reproduced", reason + f"; {_NOTHING}")
    rl_below, rl_above = _off_principal(n, "rl")
    sft_bias = all(_off_principal(n, "sft")) and n["sft_density"] > 0
    if rl_below and rl_above:
        if sft_bias:
            return _verdict(fn, claim, "partly", reason + " (SFT shows the same bias)")
        return _verdict(fn, claim, "reproduced", reason)
    if rl_below:
        return _verdict(fn, claim, "partly", reason + " (RL avoids the principal weights but does not favour "
                                                   "the small ones)")
    return _verdict(fn, claim, "not reproduced", reason)


def rl_little_spectral_drift(n: Mapping[str, Any]) -> Verdict:
    """RL barely moves the top of the spectrum; SFT moves it more.

    Rule: per run, the mean over matrices of the top-k spectral drift
    ||sigma_1:k(W_ft) - sigma_1:k(W_0)|| / ||sigma_1:k(W_0)|| and of the largest principal
    angle between the top-k left singular subspaces. Reproduced when every RL run is below
    SFT on both; partly when the RL runs' mean is below SFT's on both, or every RL run is
    below SFT on one of them; not reproduced otherwise, or when no RL run changed any weight.
    """
    fn, claim = rl_little_spectral_drift, "rl_little_spectral_drift"
    _need(n, "rl_drift", "rl_drift_max", "rl_angle", "rl_angle_max", "sft_drift", "sft_angle")
    reason = (f"mean top-k spectral drift: RL {n['rl_drift']:.2g} (runs up to {n['rl_drift_max']:.2g}), SFT "
              f"{n['sft_drift']:.2g}; mean largest principal angle: RL {n['rl_angle']:.2g}° (runs up to "
              f"{n['rl_angle_max']:.2g}°), SFT {n['sft_angle']:.2g}°")
    if _still(n):
        return _verdict(fn, claim, "not reproduced", reason + f"; {_NOTHING}")
    every = [n["rl_drift_max"] < n["sft_drift"], n["rl_angle_max"] < n["sft_angle"]]
    mean = n["rl_drift"] < n["sft_drift"] and n["rl_angle"] < n["sft_angle"]
    verdict = "reproduced" if all(every) else "partly" if mean or any(every) else "not reproduced"
    return _verdict(fn, claim, verdict, reason)


def preferred_entries_follow_geometry(groups: Mapping[str, Mapping[str, float]]) -> Verdict:
    """RL's preferred entries move with the model's geometry, not with fixed positions.

    Rule: the same RL run from a start whose attention value spaces are rotated per head (a
    change of coordinates that leaves the function unchanged, mixes entries, and to which
    Adam, unlike SGD, is not equivariant); over the rotated value and output matrices, the
    mean Jaccard index of its update mask with the original run's, once with its update
    rotated back onto the start (mapped back) and once with its own mask left in place,
    against another seed's mask and independent masks of the same densities (chance).
    Reproduced when mapped back it agrees at least about as well as another seed (no more
    than 10% less) and left in place it falls to within 10% of chance or below; partly when
    one of the two holds; not reproduced when neither does, or when the runs updated no
    value or output weight. The MLP permutation is reported beside it as a control: Adam
    treats every entry alike, so a permuted run maps back exactly by construction.
    """
    fn, claim = preferred_entries_follow_geometry, "preferred_entries_follow_geometry"
    g = groups.get(ROTATED)
    if not g:
        raise SftrlError("the geometry test has no rotated value or output matrices")
    if any(math.isnan(g[k]) for k in ("mapped", "unmapped", "other_seed", "chance")):
        return _verdict(fn, claim, "not reproduced", "the runs updated no value or output weight, so there is "
                        "nothing to compare")
    reason = (f"rotated value/output masks' Jaccard with the original run: update rotated back {g['mapped']:.3f}, "
              f"mask left in place {g['unmapped']:.3f}; another seed {g['other_seed']:.3f}, chance "
              f"{g['chance']:.3f}")
    control = groups.get("MLP (permuted)")
    if control and not math.isnan(control["mapped"]):
        reason += (f" (control, MLP permutation: mapped back {control['mapped']:.3f}, left in place "
                   f"{control['unmapped']:.3f})")
    travels = g["mapped"] >= (1 - NEAR) * g["other_seed"]
    falls = g["unmapped"] <= (1 + NEAR) * g["chance"]
    verdict = "reproduced" if travels and falls else "partly" if travels or falls else "not reproduced"
    return _verdict(fn, claim, verdict, reason)


def off_principal_probe(rows: Sequence[Mapping[str, Any]]) -> Verdict:
    """RL restricted to off-principal entries tracks dense RL; restricted to the principal ones it does worst.

    Rule: the mean reward over the last quarter of each run's logged steps, with its standard
    error; two runs differ when the gap exceeds twice the standard error of the difference.
    Off-principal RL tracks dense RL when it is not below it by such a gap; principal RL does
    worst when it is the lowest of the restricted runs and below off-principal RL by such a
    gap. Reproduced when both hold; partly when one holds; not reproduced when neither does,
    or when too few steps were logged for a standard error.
    """
    fn, claim = off_principal_probe, "off_principal_probe"
    by = {r["mask"]: r for r in rows}
    missing = [m for m in ("none", "off_principal", "principal") if m not in by]
    if missing:
        raise SftrlError(f"the probe has no run with gradient mask {', '.join(missing)}")
    reward = {m: by[m]["reward_end"] for m in by if m != "start"}
    se = {m: by[m].get("reward_end_se", math.nan) for m in reward}
    names = {"none": "dense", "off_principal": "off-principal", "principal": "principal", "random": "random"}
    listing = ", ".join(f"{names.get(m, m)} {reward[m]:.3g}" + (f" ± {se[m]:.2g}" if math.isfinite(se[m]) else "")
                        for m in sorted(reward, key=lambda m: -reward[m]))
    reason = f"mean reward over the last quarter of training (± standard error): {listing}"

    def gap(a: str, b: str) -> float:
        return 2 * math.sqrt(se[a] ** 2 + se[b] ** 2)

    if not all(math.isfinite(se[m]) for m in ("none", "off_principal", "principal")):
        return _verdict(fn, claim, "not reproduced", reason + " (too few logged steps for a standard error)")
    tracks = reward["none"] - reward["off_principal"] <= gap("none", "off_principal")
    restricted = [m for m in reward if m != "none"]
    worst = (min(restricted, key=lambda m: reward[m]) == "principal"
             and reward["off_principal"] - reward["principal"] > gap("off_principal", "principal"))
    verdict = "reproduced" if tracks and worst else "partly" if tracks or worst else "not reproduced"
    return _verdict(fn, claim, verdict, reason)


#: the rules this module states (paper B's mask claims), in the order of the book
MASK_RULES: tuple[Callable[..., Verdict], ...] = (
    rl_sparse_sft_dense, masks_consistent_across_runs, rl_off_principal, rl_little_spectral_drift,
    preferred_entries_follow_geometry, off_principal_probe,
)


# --------------------------------------------------------------------------- the figures' verdicts
#
# One function per figure: it takes the figure's data (the object its :mod:`sftrl.experiments`
# module returns, which the figure page and the claims page both compute) and returns a
# verdict for each of the figure's claims, in the book's order. A claim whose inputs the data
# lack (say, no SFT checkpoint was named on page 06) is "not evaluated", with the reason.

#: the status of a claim that could not be judged (never counted as a result)
NOT_EVALUATED = "not evaluated"


def _each(*judged: tuple[str, Callable[[], Verdict]]) -> list[Verdict]:
    """Apply each rule on its own: one whose inputs are missing (SftrlError) becomes a
    "not evaluated" verdict with the reason, and the figure's other verdicts stand."""
    out = []
    for claim, judge in judged:
        try:
            out.append(judge())
        except SftrlError as exc:
            out.append(Verdict(claim=claim, statement=registry.statement(claim), verdict=NOT_EVALUATED,
                               reason=str(exc), rule=""))
    return out


def figure1(d: Any) -> list[Verdict]:
    """Figure 1's verdicts (``d``: :class:`sftrl.experiments.figure1.Figure1`), in :data:`FIGURE1_RULES` order."""
    return _each(*((fn.__name__, functools.partial(fn, d.curve, d.window) if fn is rl_restores_in_window
                    else functools.partial(fn, d.curve)) for fn in FIGURE1_RULES))


def figure2(d: Any) -> list[Verdict]:
    """Figure 2's verdicts: stable singular values, and the flat sigma-swap ablation."""
    return _each(("singular_values_stable", lambda: singular_values_stable(d.summary)),
                 ("sigma_swap_keeps_accuracy", lambda: sigma_swap_keeps_accuracy(
                     d.swap, d.anchors["sft_peak"], d.anchors["sft_end"])))


def figure3(d: Any) -> list[Verdict]:
    """Figure 3's verdicts: vectors rotate while values stay, and RL rotates less than SFT."""
    return _each(("vectors_rotate_values_stable", lambda: vectors_rotate_values_stable(d.summary)),
                 ("rl_rotates_less_than_sft", lambda: rl_rotates_less_than_sft(d.summary)))


def figure4(d: Any) -> list[Verdict]:
    """Figure 4's verdicts: the top directions from the SFT peak and from the base, and the
    first layers from the SFT peak (``d.anchors``: the evaluated unedited models)."""
    end, peak, base = d.anchors["sft_end"], d.anchors["sft_peak"], d.anchors["base"]
    return _each(
        ("top_directions_restore", lambda: top_directions_restore(d.rank_peak, end, peak)),
        ("top_directions_restore_base", lambda: top_directions_restore(
            d.rank_base, end, base, claim="top_directions_restore_base")),
        ("first_layers_restore", lambda: first_layers_restore(d.layers, end, peak)))


def figure5(d: Any) -> list[Verdict]:
    """Figure 5's verdicts on the grafting experiments."""
    return _each(*((fn.__name__, functools.partial(fn, d.grafts)) for fn in
                   (sft_directions_lower_rl_ood, rl_directions_keep_ood, sigma_only_swap_changes_nothing)))


def figure6(d: Any) -> list[Verdict]:
    """Figure 6's verdicts on paper B's update masks (``d.numbers``: the mask analysis' numbers)."""
    return _each(*((fn.__name__, functools.partial(fn, d.numbers)) for fn in MASK_RULES[:4]))


def figure7(d: Any) -> list[Verdict]:
    """The geometry test's and the off-principal probe's verdicts."""
    return _each(("preferred_entries_follow_geometry", lambda: preferred_entries_follow_geometry(d.geometry)),
                 ("off_principal_probe", lambda: off_principal_probe(d.probe)))


#: figure group (a key of :data:`sftrl.claims.registry.GROUPS`) -> its verdicts
FIGURES: dict[str, Callable[[Any], list[Verdict]]] = {
    "fig1": figure1, "fig2": figure2, "fig3": figure3, "fig4": figure4, "fig5": figure5, "fig6": figure6,
    "fig7": figure7,
}


def regime_sentence(rows: Sequence[Mapping[str, Any]]) -> str:
    """Where, if anywhere, the sweep shows B's pattern, and whether it is RL's own.

    B's pattern at one (lr, dtype): RL sparse (at least half of the weights untouched, some
    changed) with its updates below chance on the principal weights and above on the small
    ones. It is RL's own only where SFT at the same setting is not sparse; where SFT is
    sparse too, precision alone explains it (B's third gate).
    """
    rl = [r for r in rows if r["role"] == "rl"]
    sft = {(r["lr"], r["dtype"]): r for r in rows if r["role"] == "sft"}
    still = ", ".join(f"lr {r['lr']:g} ({r['dtype']})" for r in rl if r["density"] == 0)
    note = f" RL changed no weight at all at {still}." if still else ""
    moved = [r for r in rl if r["density"] > 0]
    hits = [r for r in moved if r["sparsity"] >= 0.5 and r["principal_ratio"] < 1 < r["low_ratio"]]
    if hits:
        own = [r for r in hits if (r["lr"], r["dtype"]) in sft and sft[(r["lr"], r["dtype"])]["sparsity"] < 0.5]
        shared = [r for r in hits if r not in own]
        fmt = lambda rs: ", ".join(f"lr {r['lr']:g} with {r['dtype']} weights" for r in rs)  # noqa: E731
        text = (f"RL leaves at least half of the weights untouched, with its updates off the principal weights "
                f"and on the small ones, at {fmt(hits)}.")
        if own:
            text += f" SFT at the same settings changes most weights at {fmt(own)}: there the pattern is RL's own."
        if shared:
            text += (f" SFT at the same settings is as sparse at {fmt(shared)}: there precision alone explains the "
                     f"pattern, whatever the training objective.")
        return text + note
    sparse = [r for r in moved if r["sparsity"] >= 0.5]
    if sparse:
        where = ", ".join(f"lr {r['lr']:g} ({r['dtype']})" for r in sparse)
        return (f"RL leaves at least half of the weights untouched at {where}, but there its updates do not "
                f"also avoid the principal weights: sparsity without B's off-principal bias.{note}")
    if moved:
        return f"Wherever RL changed weights in the sweep, it changed more than half of them.{note}"
    return f"Nowhere in the sweep did RL change a weight: it had no learning signal.{note}"


#: how much sparser than SFT (in share of weights) RL must stay after the longest run for the
#: length study to call the two separated
LENGTH_GAP = 0.10



#: the share of entries that must move in every interval for a run's sign consistency to be
#: judged (with weights stored in bf16 most entries stop moving, and the few left are no sample)
MOVED_MIN = 0.5


def _random_walk(rows: Sequence[Mapping[str, Any]]) -> tuple[bool, float] | None:
    """Whether runs' mean sign consistency lies nearer a random walk's than an always-same-way
    update's, and that mean, over the runs where at least :data:`MOVED_MIN` of the entries
    moved in every interval (None when there is no such run)."""
    judged = [r for r in rows if r.get("sign_consistency") is not None and not math.isnan(r["sign_consistency"])
              and r.get("moved_every_interval", 0.0) >= MOVED_MIN]
    if not judged:
        return None
    sc = sum(float(r["sign_consistency"]) for r in judged) / len(judged)
    return sc - float(judged[0]["sign_consistency_chance"]) < 1 - sc, sc


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def length_sentence(runs: Sequence[Mapping[str, Any]]) -> str:
    """Where, if anywhere, RL's and SFT's bf16 sparsity separate with training length, and
    whether the accumulation account (RL's updates a random walk, SFT's consistent) holds.

    Per learning rate and weight dtype with RL and SFT runs
    (:func:`sftrl.experiments.length_study.table`, one or more seeds each): RL is
    *separated* from SFT when, after the longest run, it leaves on average at least
    :data:`LENGTH_GAP` more of the weights untouched than SFT, the gap has grown since the
    first kept checkpoint, and every RL seed is sparser than every SFT seed. B's pattern is
    there when, in addition, RL leaves at least half of the weights untouched and SFT fewer
    than half (the rule of the claim ``rl_sparse_sft_dense``). Updates read as a random walk
    when the mean sign consistency over the seeds is nearer the random walk's value than 1;
    it is judged only over runs where at least :data:`MOVED_MIN` of the entries moved in
    every interval.
    """
    pairs: dict[tuple[float, str], dict[str, list[Mapping[str, Any]]]] = {}
    for r in runs:
        pairs.setdefault((float(r["lr"]), str(r["dtype"])), {}).setdefault(str(r["role"]), []).append(r)
    pairs = {k: v for k, v in sorted(pairs.items(), key=lambda kv: (kv[0][1] != "float32", -kv[0][0]))
             if {"rl", "sft"} <= set(v)}
    if not pairs:
        raise SftrlError("the length study needs an RL and an SFT run at the same learning rate and dtype")
    where = lambda k: f"lr {k[0]:g} with {WEIGHTS.get(k[1], k[1])}"  # noqa: E731
    end = {k: {role: [float(r["sparsity"][-1]) for r in rs] for role, rs in p.items()} for k, p in pairs.items()}
    first = {k: {role: _mean([float(r["sparsity"][0]) for r in rs]) for role, rs in p.items()}
             for k, p in pairs.items()}
    gaps = {k: (first[k]["rl"] - first[k]["sft"], _mean(end[k]["rl"]) - _mean(end[k]["sft"])) for k in pairs}
    separated = [k for k, (g0, g1) in gaps.items() if g1 >= LENGTH_GAP and g1 > g0
                 and min(end[k]["rl"]) > max(end[k]["sft"])]
    pattern = [k for k in separated if _mean(end[k]["rl"]) >= 0.5 > _mean(end[k]["sft"])]
    steps = max(int(r["steps"][-1]) for p in pairs.values() for rs in p.values() for r in rs)
    n_seeds = max(len(rs) for p in pairs.values() for rs in p.values())
    over = f" (means over {n_seeds} seeds)" if n_seeds > 1 else ""
    inside = f"; means over {n_seeds} seeds" if n_seeds > 1 else ""
    both = lambda k: f"RL {pct(_mean(end[k]['rl']))} against SFT {pct(_mean(end[k]['sft']))}"  # noqa: E731
    if pattern:
        text = (f"B's pattern appears with length at {', '.join(where(k) for k in pattern)}: after {steps} steps, "
                + "; ".join(f"{where(k)}: {both(k)} of the weights untouched" for k in pattern) + f"{over}.")
    elif separated:
        every = ", in every seed," if n_seeds > 1 else ""
        text = (f"RL stays sparser than SFT as training gets longer{every} at "
                + ", ".join(f"{where(k)} ({both(k)} of the weights untouched after {steps} steps{inside})"
                            for k in separated)
                + ", but not with RL sparse and SFT dense, as B reports.")
    else:
        k = max(gaps, key=lambda k: gaps[k][1])
        every = " in every seed" if n_seeds > 1 else ""
        text = (f"At no learning rate and length tried (up to {steps} steps) does RL stay sparser than SFT by "
                f"{round(100 * LENGTH_GAP)} points or more{every}: the largest mean gap at the end is "
                f"{pts(gaps[k][1])} at {where(k)} ({both(k)}{inside}).")
    walks = []
    for k, p in pairs.items():
        rl, sft = _random_walk(p["rl"]), _random_walk(p["sft"])
        if rl is not None and sft is not None:
            walks.append((k, rl[0] and not sft[0], rl[1], sft[1]))
    if walks:
        chance = float(pairs[walks[0][0]]["rl"][0]["sign_consistency_chance"])
        detail = "; ".join(f"{where(k)}, RL {a:.2f} and SFT {b:.2f}" for k, _, a, b in walks)
        text += (f" The mean sign consistency of each entry's updates (1 = always the same way, {chance:.2f} = a "
                 f"random walk) is: {detail}.")
        held = [k for k, ok, _, _ in walks if ok]
        text += (f" The accumulation account (RL a random walk, SFT consistent) holds at "
                 f"{', '.join(where(k) for k in held)}." if held else
                 " At no setting are RL's updates a random walk while SFT's are consistent, so the accumulation "
                 "account does not explain this model's masks.")
    stuck = [k for k, p in pairs.items() if _random_walk(p["rl"]) is None and _random_walk(p["sft"]) is None]
    if stuck:
        text += (f" At {', '.join(where(k) for k in stuck)}, fewer than {round(100 * MOVED_MIN)}% of the weights moved "
                 f"in every interval, too few to judge how their updates accumulate.")
    return text


def size_verdict(row: Mapping[str, Any]) -> Verdict:
    """:func:`rl_restores_in_window` on one row of the size study's log
    (:mod:`sftrl.experiments.size_study`): its SFT curve and RL window, as the study kept them."""
    window = [{**w, "recovery": math.nan if w.get("recovery") is None else w["recovery"]} for w in row["window"]]
    return rl_restores_in_window(row["curve"], window)


def size_verdicts(rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    """:func:`size_verdict` of every row, in order."""
    return [size_verdict(r) for r in rows]


def size_sentence(rows: Sequence[Mapping[str, Any]], verdicts: Sequence[Verdict]) -> str:
    """The size study in words: at which sizes RL restored OOD by the seed-robust window rule
    (``verdicts``, :func:`size_verdicts` of ``rows``), and at which it did not."""
    if not rows:
        return ("No size has been measured yet: `make study` runs the size study and writes its log, which "
                "this panel reads.")
    by = {v: [r["size"] for r, d in zip(rows, verdicts, strict=True) if d.verdict == v] for v in VERDICTS}
    sizes = f"{rows[0]['size']} to {rows[-1]['size']}" if len(rows) > 1 else rows[0]["size"]
    parts = []
    for v, words in (("reproduced", "RL restored OOD accuracy, in every seed, from a window of SFT starts at"),
                     ("partly", "RL restored it from some starts, without a closed window, at"),
                     ("not reproduced", "no RL start restored it beyond the intervals at")):
        if by[v]:
            parts.append(f"{words} {', '.join(by[v])}")
    return f"Measured at {len(rows)} size(s), {sizes} parameters: {'; '.join(parts)}."
