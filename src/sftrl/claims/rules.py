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

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sftrl.errors import SftrlError
from sftrl.experiments.figure1 import best_recovery, by_split, ood_peak

#: the three possible verdicts, strongest first
VERDICTS = ("reproduced", "partly", "not reproduced")
#: a loss "falls monotonically" when its Spearman correlation with the step is below this
SPEARMAN_MAX = -0.9
#: the format counts as learned when the OOD format-error rate is at most this (paper A: ~5%)
FORMAT_LEARNED = 0.05
#: ...and as not yet learned when it is at least this (paper A: 100% at step 0)
FORMAT_UNLEARNED = 0.5

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
        if self.verdict not in VERDICTS:
            raise SftrlError(f"verdict must be one of {VERDICTS}, not {self.verdict!r}")

    @property
    def sentence(self) -> str:
        """``'<statement>: <verdict>. <reason>.'`` -- reads correctly whatever the verdict."""
        return f"{self.statement}: {self.verdict}. {self.reason[:1].upper()}{self.reason[1:]}."


# --------------------------------------------------------------------------- helpers


def pct(x: float) -> str:
    """An accuracy as the book prints it: ``0.3931`` -> ``'39.3%'`` (``nan`` -> ``'n/a'``)."""
    return "n/a" if not math.isfinite(x) else f"{100 * x:.1f}%"


def pts(x: float) -> str:
    """An accuracy difference in percentage points, signed: ``-0.05`` -> ``'-5.0 points'``."""
    return "n/a" if not math.isfinite(x) else f"{round(100 * x, 1) + 0.0:+.1f} points"  # + 0.0: never "-0.0"


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


def _verdict(fn: Callable[..., Verdict], claim: str, statement: str, verdict: str, reason: str) -> Verdict:
    return Verdict(claim=claim, statement=statement, verdict=verdict, reason=reason, rule=rule_text(fn))


# --------------------------------------------------------------------------- Figure 1 rules


def format_learned_before_peak(curve: Rows) -> Verdict:
    """The answer format is not known at step 0; the OOD peak comes after it is learned.

    Rule: reproduced when the OOD format-error rate is at least 50% at step 0 and at most 5%
    at the OOD-peak step (paper A: 100% at step 0, under about 5% by steps 40-50); partly
    when the format is learned by the peak but was already known at step 0; not reproduced
    when format errors at the peak exceed 5%.
    """
    fn, claim = format_learned_before_peak, "format_learned_before_peak"
    statement = "The OOD peak comes after the answer format is learned"
    peak = ood_peak(curve)
    first = min(r["step"] for r in by_split(curve, "ood"))
    err0 = _point(curve, first, "ood")["format_error_rate"]
    err_peak = _point(curve, peak.step, "ood")["format_error_rate"]
    reason = (f"OOD format errors {pct(err0)} at step {first}, {pct(err_peak)} at the OOD-peak "
              f"step {peak.step}")
    if err_peak > FORMAT_LEARNED:
        return _verdict(fn, claim, statement, "not reproduced", reason + " (format not learned by the peak)")
    if err0 < FORMAT_UNLEARNED:
        return _verdict(fn, claim, statement, "partly", reason + " (format already known before SFT)")
    return _verdict(fn, claim, statement, "reproduced", reason)


def ood_rise_and_decline(curve: Rows) -> Verdict:
    """OOD accuracy rises during SFT, peaks, then declines with more SFT.

    Rule: with the peak the highest OOD accuracy over all checkpoints (ties: the earliest),
    the rise is peak minus step-0 OOD and the decline is peak minus end-of-SFT OOD; each is
    significant when it exceeds the sum of the two 95% Wilson half-widths. Reproduced when
    both are significant; partly when only one is; not reproduced when neither is.
    """
    fn, claim = ood_rise_and_decline, "ood_rise_and_decline"
    statement = "OOD accuracy rises during SFT, then declines"
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
    return _verdict(fn, claim, statement, verdict, reason)


def id_keeps_rising(curve: Rows) -> Verdict:
    """ID accuracy keeps rising while OOD accuracy declines.

    Rule: compares the OOD-peak step with the end of SFT. Reproduced when OOD declines beyond
    the intervals (as in ood_rise_and_decline) and ID rises beyond them; partly when OOD
    declines and ID holds (neither rises nor falls beyond the intervals, e.g. ID saturated);
    not reproduced when OOD does not decline beyond the intervals or ID falls beyond them.
    """
    fn, claim = id_keeps_rising, "id_keeps_rising"
    statement = "ID accuracy keeps rising while OOD declines"
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
    return _verdict(fn, claim, statement, verdict, reason)


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
    statement = "Train and held-out loss fall monotonically, and nothing in them marks the OOD peak"
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
        return _verdict(fn, claim, statement, "not reproduced", reason + f" (no OOD peak inside SFT: highest {where})")
    marked = [LOSS_NAMES[name] for name, v in losses.items() if _marks(v, peak.step)]
    if marked:
        return _verdict(fn, claim, statement, "not reproduced",
                        reason + f" ({' and '.join(marked)} loss {'marks' if len(marked) == 1 else 'mark'} "
                                 "the peak step)")
    monotone = all(math.isfinite(r) and r < SPEARMAN_MAX for r in rho.values())
    return _verdict(fn, claim, statement, "reproduced" if monotone else "partly",
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
    statement = "RL restores OOD accuracy inside a window of SFT checkpoints"
    if not window:
        return _verdict(fn, claim, statement, "not reproduced", "no RL runs to judge")
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
        return _verdict(fn, claim, statement, "not reproduced", reason)
    earlier = [s for s in gains if s < restoring[0] and s not in raised]
    later = [s for s in gains if s > restoring[-1] and s not in raised]
    if earlier and later:
        return _verdict(fn, claim, statement, "reproduced",
                        reason + f"; window steps {restoring[0]}-{restoring[-1]}")
    open_side = " and ".join(side for side, found in (("early", earlier), ("late", later)) if not found)
    return _verdict(fn, claim, statement, "partly", reason + f"; window open on the {open_side} side")


#: the Figure-1 rules in the order the book states them
FIGURE1_RULES: tuple[Callable[..., Verdict], ...] = (
    format_learned_before_peak, ood_rise_and_decline, id_keeps_rising, loss_blind_to_peak, rl_restores_in_window,
)


def figure1(curve: Rows, window: Rows) -> list[Verdict]:
    """Every Figure-1 verdict, in :data:`FIGURE1_RULES` order."""
    out = []
    for fn in FIGURE1_RULES:
        out.append(fn(curve, window) if fn is rl_restores_in_window else fn(curve))
    return out



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
# These take the rows of :mod:`sftrl.experiments.spectral_study`: ``pair_summary`` rows (one per pair
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
    statement = "Singular values barely move under SFT and RL"
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
    return _verdict(fn, claim, statement, verdict, reason)


def sigma_swap_keeps_accuracy(swap: Rows, peak: dict[str, Any], end: dict[str, Any]) -> Verdict:
    """The SFT-peak's singular values put into the SFT-end model leave its OOD accuracy flat.

    Rule: informative only when the SFT-peak checkpoint's OOD accuracy exceeds the SFT end's
    beyond the intervals (sum of the 95% half-widths); otherwise not reproduced, as there is
    no OOD difference for the singular values to carry. Reproduced when, in addition, every
    swapped model's OOD accuracy is within the intervals of the SFT end's (and none exceeds
    it); partly when some are; not reproduced when none is.
    """
    fn, claim = sigma_swap_keeps_accuracy, "sigma_swap_keeps_accuracy"
    statement = "Putting the SFT-peak singular values into the SFT-end model leaves OOD accuracy flat"
    flat = [r for r in swap if _same(r, end)]
    parts = "; ".join(f"top {100 * r['fraction']:.0f}%: {pct(r['ood'])}" for r in swap)
    reason = f"OOD at the SFT peak {_acc_text(peak)}, at the SFT end {_acc_text(end)}; after the swap {parts}"
    if not _above(peak, end):
        return _verdict(fn, claim, statement, "not reproduced",
                        reason + " (uninformative: the SFT peak is not above the SFT end beyond the intervals)")
    verdict = "reproduced" if len(flat) == len(swap) and swap else "partly" if flat else "not reproduced"
    return _verdict(fn, claim, statement, verdict, reason + f"; {len(flat)} of {len(swap)} within the intervals")


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
    statement = "Singular vectors rotate much more than singular values change"
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
    return _verdict(fn, claim, statement, verdict, reason)


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
    statement = "RL rotates the principal subspaces far less than SFT (paper B)"
    sft, rl = _blocks(summary, "base_sft")["mean_angle_u"], _blocks(summary, "sft_rl")["mean_angle_u"]
    reason = f"mean top-k left principal angle: SFT {_deg(sft)}, RL {_deg(rl)}"
    if rl < ANGLE_FLOOR:
        return _verdict(fn, claim, statement, "not reproduced", reason + " (RL did not move the weights measurably)")
    if rl <= sft / 2:
        verdict = "reproduced"
    elif rl < sft:
        verdict = "partly"
    else:
        verdict = "not reproduced"
    return _verdict(fn, claim, statement, verdict, reason)


def _restoration_verdict(fn: Callable[..., Verdict], claim: str, statement: str, row: dict[str, Any],
                         target: dict[str, Any], reference: dict[str, Any], what: str) -> Verdict:
    reason = (f"{what}: OOD {_acc_text(row)} against {_acc_text(target)} for the SFT end and "
              f"{_acc_text(reference)} for the reference")
    rec = row.get("recovery", math.nan)
    if not _above(reference, target):
        return _verdict(fn, claim, statement, "not reproduced",
                        reason + " (uninformative: the reference is not above the SFT end beyond the intervals)")
    reason += f"; recovery {100 * rec:.0f}%" if math.isfinite(rec) else "; recovery n/a"
    if not _above(row, target):
        return _verdict(fn, claim, statement, "not reproduced", reason + " (no gain beyond the intervals)")
    verdict = "reproduced" if rec >= RECOVERY_MIN else "partly"
    return _verdict(fn, claim, statement, verdict, reason)


def top_directions_restore(rank: Rows, target: dict[str, Any], reference: dict[str, Any],
                           fraction: float = 0.2) -> Verdict:
    """Restoring the top 20% of singular directions recovers most of the lost OOD accuracy.

    Rule: at the restored fraction closest to 20% (reference: the SFT OOD-peak checkpoint,
    or the base where named; the SFT end's singular values kept). Informative only when the reference's OOD accuracy
    exceeds the SFT end's beyond the intervals (else not reproduced). Reproduced when the
    edit's OOD exceeds the SFT end's beyond the intervals and the recovery fraction
    (OOD_edit - OOD_end) / (OOD_ref - OOD_end) is at least 50% (paper A: 70-80%,
    unconfirmed); partly when the gain is beyond the intervals but recovers less; not
    reproduced otherwise.
    """
    fn, claim = top_directions_restore, "top_directions_restore"
    statement = "Restoring the top 20% of singular directions recovers most of the lost OOD accuracy"
    rows = [r for r in rank if not r.get("tail")]
    if not rows:
        raise SftrlError("no top-direction restoration rows")
    row = min(rows, key=lambda r: (abs(r["fraction"] - fraction), r["fraction"]))
    what = f"top {100 * row['fraction']:.0f}% of directions"
    return _restoration_verdict(fn, claim, statement, row, target, reference, what)


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
    statement = "Restoring the first 25% of layers recovers most of the lost OOD accuracy"
    match = sorted((r for r in layers if r["block"] == block), key=lambda r: not r["embeddings"])
    if not match:
        return _verdict(fn, claim, statement, "not reproduced", f"the block {block!r} was not among the restored blocks")
    what = f"layers {block}{' with embeddings and LM head' if match[0]['embeddings'] else ' (layers only)'}"
    return _restoration_verdict(fn, claim, statement, match[0], target, reference, what)


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
    statement = "SFT's singular vectors with RL's singular values lose RL's OOD accuracy"
    rl, sft, g = _row(rows, "rl"), _row(rows, "sft_end"), _row(rows, "rl_sft_directions")
    reason = f"OOD of RL {_acc_text(rl)}, SFT end {_acc_text(sft)}, RL + SFT directions {_acc_text(g)}"
    if (why := _graft_gate(rl, sft)) is not None:
        return _verdict(fn, claim, statement, "not reproduced", reason + why)
    if not _above(rl, g):
        verdict = "not reproduced"
    else:
        verdict = "partly" if _above(g, sft) else "reproduced"
    return _verdict(fn, claim, statement, verdict, reason)


def rl_directions_keep_ood(rows: Rows) -> Verdict:
    """RL's singular vectors with SFT's singular values keep RL's OOD accuracy.

    Rule: informative only when RL's OOD accuracy exceeds the SFT end's beyond the intervals;
    otherwise not reproduced. Reproduced when the SFT model with RL's directions has OOD
    within the intervals of RL's and above the SFT end's beyond them; partly when it is above
    the SFT end's but below RL's beyond the intervals; not reproduced when it is not above
    the SFT end's.
    """
    fn, claim = rl_directions_keep_ood, "rl_directions_keep_ood"
    statement = "RL's singular vectors with SFT's singular values keep RL's OOD accuracy"
    rl, sft, g = _row(rows, "rl"), _row(rows, "sft_end"), _row(rows, "sft_rl_directions")
    reason = f"OOD of RL {_acc_text(rl)}, SFT end {_acc_text(sft)}, SFT + RL directions {_acc_text(g)}"
    if (why := _graft_gate(rl, sft)) is not None:
        return _verdict(fn, claim, statement, "not reproduced", reason + why)
    if not _above(g, sft):
        verdict = "not reproduced"
    else:
        verdict = "reproduced" if not _above(rl, g) else "partly"
    return _verdict(fn, claim, statement, verdict, reason)


def sigma_only_swap_changes_nothing(rows: Rows) -> Verdict:
    """Swapping only the singular values between RL and SFT changes neither model's accuracy.

    Rule: informative only when RL's OOD accuracy exceeds the SFT end's beyond the intervals;
    otherwise not reproduced. A swap keeps a model when its ID and its OOD accuracy are both
    within the intervals of the model whose singular vectors it keeps (RL + SFT σ against
    RL, SFT + RL σ against the SFT end). Reproduced when both swaps keep their model; partly
    when one does; not reproduced when neither does.
    """
    fn, claim = sigma_only_swap_changes_nothing, "sigma_only_swap_changes_nothing"
    statement = "Swapping only the singular values changes neither model's accuracy"
    rl, sft = _row(rows, "rl"), _row(rows, "sft_end")
    a, b = _row(rows, "rl_sft_sigma"), _row(rows, "sft_rl_sigma")
    kept = [_same(a, rl, "ood") and _same(a, rl, "id"), _same(b, sft, "ood") and _same(b, sft, "id")]
    reason = (f"RL + SFT σ: OOD {pct(a['ood'])}, ID {pct(a['id'])} against RL's {_acc_text(rl)}, "
              f"{_acc_text(rl, 'id')}; SFT + RL σ: OOD {pct(b['ood'])}, ID {pct(b['id'])} against the SFT end's "
              f"{_acc_text(sft)}, {_acc_text(sft, 'id')}")
    if (why := _graft_gate(rl, sft)) is not None:
        return _verdict(fn, claim, statement, "not reproduced", reason + why)
    verdict = "reproduced" if all(kept) else "partly" if any(kept) else "not reproduced"
    return _verdict(fn, claim, statement, verdict, reason)


def figure2(summary: Rows, swap: Rows, peak: dict[str, Any], end: dict[str, Any]) -> list[Verdict]:
    """Figure 2's verdicts: stable singular values, and the flat sigma-swap ablation."""
    return [singular_values_stable(summary), sigma_swap_keeps_accuracy(swap, peak, end)]


def figure3(summary: Rows) -> list[Verdict]:
    """Figure 3's verdicts: vectors rotate while values stay, and RL rotates less than SFT."""
    return [vectors_rotate_values_stable(summary), rl_rotates_less_than_sft(summary)]


def figure4(rank_peak: Rows, rank_base: Rows, layers: Rows, anchors: dict[str, dict[str, Any]]) -> list[Verdict]:
    """Figure 4's verdicts: the top directions from the SFT peak and from the base (claim
    ``top_directions_restore_base``), and the first layers from the SFT peak. ``anchors``
    holds the evaluated ``sft_end``, ``sft_peak`` and ``base`` rows."""
    import dataclasses

    end = anchors["sft_end"]
    from_base = top_directions_restore(rank_base, end, anchors["base"])
    from_base = dataclasses.replace(from_base, claim=from_base.claim + "_base",
                                    statement=from_base.statement + ", with the base as reference")
    return [top_directions_restore(rank_peak, end, anchors["sft_peak"]), from_base,
            first_layers_restore(layers, end, anchors["sft_peak"])]


def figure5(rows: Rows) -> list[Verdict]:
    """Figure 5's verdicts on the grafting experiments."""
    return [sft_directions_lower_rl_ood(rows), rl_directions_keep_ood(rows), sigma_only_swap_changes_nothing(rows)]


#: the Figures 2-5 rules in the order the book states them
FIGURE2_5_RULES: tuple[Callable[..., Verdict], ...] = (
    singular_values_stable, sigma_swap_keeps_accuracy, vectors_rotate_values_stable, rl_rotates_less_than_sft,
    top_directions_restore, first_layers_restore, sft_directions_lower_rl_ood, rl_directions_keep_ood,
    sigma_only_swap_changes_nothing,
)
