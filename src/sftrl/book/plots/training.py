"""Figure 1's panels: accuracy and loss along SFT, and RL's recovery window (arXiv 2509.12235).

The helpers take the rows :mod:`sftrl.experiments.figure1` returns (``sft_curve``: one row per (step,
split); ``rl_window``: one row per RL start) and return ``(fig, ax)``; nothing expensive
happens here. The step axis is symmetric-log (linear up to the first checkpoint, then
logarithmic) because checkpoints are dense early and sparse late. Every accuracy carries
its 95% Wilson interval. Tables come back as :class:`Table`, which a notebook shows as
HTML (pandas is not needed).

Usage::

    from sftrl.book.plots import use_style
    from sftrl.book.plots import training as tp
    use_style()
    fig, ax = tp.plot_accuracy(curve, peak=study.ood_peak(curve))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator, PercentFormatter
from matplotlib.transforms import offset_copy

from sftrl.book.plots import COLORS, PAGE_WIDTH, legend_below
from sftrl.book.tables import MISSING, Table, interval_text, pct_interval
from sftrl.claims import papers
from sftrl.errors import SftrlError
from sftrl.fmt import pct

if TYPE_CHECKING:  # plots only draw: they read these objects' fields and import no pipeline
    from sftrl.claims.rules import Verdict
    from sftrl.experiments.figure1 import Peak

Rows = Sequence[dict[str, Any]]

#: height of one Figure-1 panel, in inches (the page width is :data:`sftrl.book.plots.PAGE_WIDTH`)
PANEL_HEIGHT = 3.0
#: how far right of its start checkpoint an RL result is drawn, in points
RL_OFFSET_PT = 6


# --------------------------------------------------------------------------- tables


def by_split(rows: Rows, split: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["split"] == split]


def _ci_text(acc: float, ci: Sequence[float]) -> str:
    return pct_interval(acc, ci[0], ci[1])


def _row_at(window: Rows, step: int) -> dict[str, Any] | None:
    return next((r for r in window if r["from_step"] == step), None)


def paper_table(peak: Peak, window: Rows, *, label: str = "this book") -> Table:
    """Paper A's Figure-1 numbers (both models) beside ours, one row each.

    Our *OOD after RL* and *recovery* are those of the RL run that started from the end of
    SFT (paper A's setting); the cells say "not run" when no such run is in ``window``.
    """
    columns = ["model", "OOD peak", "at step", "ID there", "end of SFT", "OOD at end", "ID at end",
               "OOD after RL", "recovery"]
    rows, notes = [], []
    for row in papers.FIGURE1.values():
        end = pct(row.ood_end) + ("*" if row.ood_end_v1 is not None else "")
        after = pct(row.ood_rl) + ("*" if row.ood_rl_v1 is not None else "")
        rec = papers.format_range(row.recovery, "recovery")
        rows.append([f"paper A: {row.model}", pct(row.ood_peak), str(row.peak_step), pct(row.id_at_peak),
                     str(row.end_step), end, pct(row.id_end), after, rec if row.confirmed else rec + " (unconfirmed)"])
        if row.ood_end_v1 is not None or row.ood_rl_v1 is not None:
            notes.append(f"* {row.model} in the first version (arXiv {papers.PAPER_A_V1}): OOD at end "
                         f"{pct(row.ood_end_v1 or row.ood_end)}, after RL {pct(row.ood_rl_v1 or row.ood_rl)}.")
    rl_end = _row_at(window, peak.end_step)
    after = _ci_text(rl_end["ood_rl"], rl_end["ood_rl_ci"]) if rl_end else "not run"
    rec = "not run" if rl_end is None else (
        f"{100 * rl_end['recovery']:.0f}%" if math.isfinite(rl_end["recovery"]) else "n/a (nothing lost)")
    rows.append([label, pct(peak.ood), str(peak.step), pct(peak.id), str(peak.end_step), pct(peak.ood_end),
                 pct(peak.id_end), after, rec])
    notes.append(f"Paper A: {papers.get('task.eval_hands').text()} hands per rule, "
                 f"{papers.get('task.eval_attempts').text()} attempts with feedback. Recovery = "
                 "(OOD after RL - OOD at end) / (OOD peak - OOD at end); ours in brackets: 95% Wilson interval.")
    return Table(columns, rows, notes=notes)


def _seeds_text(r: dict[str, Any], key: str) -> str:
    """Per-seed values of a window row, e.g. ``'12.1, 13.6, 11.8'`` (empty for one seed)."""
    vals = r.get(key) or []
    return ", ".join(f"{100 * v:.1f}" for v in vals) if len(vals) > 1 else ""


def recovery_table(window: Rows) -> Table:
    """One row per RL start: OOD and ID before and after RL (the mean over seeds, with its
    interval, and each seed's OOD), OOD change and recovery; units in the headers."""
    columns = ["RL from SFT step", "OOD at start, % [95% CI]", "OOD after RL, % (mean) [95% CI]", "per seed, %",
               "OOD change, points [paired 95% CI]", "recovery", "OOD first attempt, %: start → RL",
               "ID at start, %", "ID after RL, % (mean) [95% CI]"]
    rows = []
    for r in sorted(window, key=lambda r: r["from_step"]):
        rec = f"{100 * r['recovery']:.0f}%" if math.isfinite(r["recovery"]) else "n/a"
        paired = r.get("ood_gain_paired_ci")
        change = (interval_text(r["ood_gain"], *paired, signed=True) if paired is not None else
                  f"{100 * r['ood_gain'] + 0.0:+.1f}" if math.isfinite(r["ood_gain"]) else MISSING)
        rows.append([str(r["from_step"]), interval_text(r["ood_start"], *r["ood_start_ci"]),
                     interval_text(r["ood_rl"], *r["ood_rl_ci"]), _seeds_text(r, "ood_rl_seeds") or "one seed",
                     change, rec, f"{100 * r['ood_start_1']:.1f} → {100 * r['ood_rl_1']:.1f}",
                     f"{100 * r['id_start']:.1f}", interval_text(r["id_rl"], *r["id_rl_ci"])])
    n_seeds = sorted({len(r.get("runs") or [None]) for r in window})
    notes = [f"RL seeds per start: {'/'.join(map(str, n_seeds))}. Intervals are 95% Wilson intervals over the "
             "evaluation hands (for the mean, of the mean count); the per-seed column shows the spread between "
             "RL runs. The change's interval compares the start checkpoint and RL hand by hand on the same "
             "hands (paired), so it is narrower than the two accuracies' intervals.",
             "Recovery is n/a for a start at or before the OOD peak (nothing lost yet) or where OOD "
             "had not fallen below the peak."]
    return Table(columns, rows, notes=notes)


# --------------------------------------------------------------------------- the step axis


def _nice_ticks(steps: Sequence[int]) -> list[int]:
    """0, the first checkpoint, the 1-2-5 steps between it and the last, and the last
    (every step when there are only a few)."""
    if len(set(steps)) <= 6:
        return sorted(set(steps))
    last = max(steps)
    first = min((s for s in steps if s > 0), default=last)
    ticks = {0, first, last}
    k = 1
    while k <= last:
        for m in (1, 2, 5):
            # nothing below the first checkpoint (the linear part holds no data), and the
            # last tick's label kept clear of its neighbour
            if first * 1.5 <= m * k < last / 1.8:
                ticks.add(m * k)
        k *= 10
    return sorted(ticks)


def step_axis(ax: Axes, steps: Sequence[int]) -> None:
    """Symmetric-log x axis over SFT steps: linear up to the first checkpoint after 0."""
    positive = [s for s in steps if s > 0]
    if not positive:
        return
    ax.set_xscale("symlog", linthresh=min(positive), linscale=0.6)
    ax.xaxis.set_major_locator(FixedLocator(_nice_ticks(steps)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(t) for t in _nice_ticks(steps)])
    ax.set_xlim(-0.3 * min(positive), max(steps) * 1.3)  # symlog: a small margin left of 0
    ax.set_xlabel("SFT step")


def _series(curve: Rows, split: str, key: str) -> tuple[list[int], list[float]]:
    rows = sorted(by_split(curve, split), key=lambda r: r["step"])
    return [r["step"] for r in rows], [r[key] for r in rows]


def _check_curve(curve: Rows) -> None:
    if not by_split(curve, "ood") or not by_split(curve, "id"):
        raise SftrlError("the SFT curve needs rows for both splits, 'id' and 'ood'")


def _mark_peak(ax: Axes, peak: Peak, *, label: bool = True) -> None:
    ax.axvline(peak.step, color=COLORS["ood"], ls=":", lw=1.2, zorder=1,
               label=f"OOD peak (step {peak.step})" if label else None)


# --------------------------------------------------------------------------- panels


def plot_accuracy(curve: Rows, *, peak: Peak | None = None, format_errors: bool = True):
    """Panel (a): ID and OOD accuracy against SFT step, 95% Wilson bands, the OOD peak marked.

    ``format_errors`` adds the OOD format-error rate of the first attempts (answers the
    verifier could not parse as the strict format) as a thin grey line: it shows when the
    format is learned. With several attempts per hand, a dashed line of the same colour
    shows the first attempt's accuracy; the held-out ID hands are the dotted line.
    """
    _check_curve(curve)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, PANEL_HEIGHT), layout="constrained")
    attempts = curve[0].get("attempts", 1)
    within = f", within {attempts} attempts" if attempts > 1 else ""
    names = {"id": "ID (hands as SFT's)", "id_heldout": "ID (held-out value multisets)", "ood": "OOD"}
    for split in ("id", "ood"):
        steps, acc = _series(curve, split, "accuracy")
        _, lo = _series(curve, split, "ci_low")
        _, hi = _series(curve, split, "ci_high")
        ax.fill_between(steps, lo, hi, color=COLORS[split], alpha=0.2, lw=0)
        ax.plot(steps, acc, color=COLORS[split], marker="o", ms=3.5, lw=1.6, label=f"{names[split]}{within}")
        if attempts > 1:
            _, first = _series(curve, split, "accuracy_1")
            ax.plot(steps, first, color=COLORS[split], lw=1.0, ls="--", label=f"{names[split]}, first attempt")
    if by_split(curve, "id_heldout"):
        steps, acc = _series(curve, "id_heldout", "accuracy")
        ax.plot(steps, acc, color=COLORS["id"], marker="^", ms=3, lw=1.0, ls=":", label=f"{names['id_heldout']}{within}")
    if format_errors:
        steps, err = _series(curve, "ood", "format_error_rate")
        ax.plot(steps, err, color=COLORS["base"], ls="-.", lw=1.0, label="OOD format errors (first attempt)")
    if peak is not None:
        _mark_peak(ax, peak)
        ax.plot([peak.step], [peak.ood], marker="*", ms=12, color=COLORS["ood"], mec="white", zorder=5)
    step_axis(ax, [r["step"] for r in curve])
    ax.set_ylim(-0.03, 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("share of hands (95% CI)")
    legend_below(ax, ncol=2)
    return fig, ax


def plot_losses(curve: Rows, *, peak: Peak | None = None):
    """Panel (b): train and held-out answer loss against SFT step, the OOD-peak step marked.

    Train loss is measured on SFT training examples, held-out loss on the ID evaluation
    hands (canonical answers), both per answer token; the y axis is logarithmic when the
    losses span more than a factor of 10.
    """
    _check_curve(curve)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, PANEL_HEIGHT), layout="constrained")
    split = "id"
    steps, train = _series(curve, split, "train_loss")
    _, held = _series(curve, split, "heldout_loss")
    ax.plot(steps, train, color=COLORS["sft"], marker="o", ms=3.5, lw=1.6, label="train loss")
    ax.plot(steps, held, color=COLORS["id"], marker="s", ms=3.5, lw=1.6, ls="--", label="held-out loss (ID hands)")
    if peak is not None:
        _mark_peak(ax, peak)
    step_axis(ax, steps)
    if min(train + held) > 0 and max(train + held) / min(train + held) > 10:
        ax.set_yscale("log")  # losses spanning decades; label ticks as plain numbers
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylabel("answer loss (nats per token)")
    legend_below(ax, ncol=4)
    return fig, ax


def plot_recovery(curve: Rows, window: Rows, *, peak: Peak | None = None):
    """Panel (c): OOD accuracy along SFT and, at each RL start, an arrow to OOD after RL.

    The SFT curve carries its 95% band; each RL result (the mean over seeds) its 95%
    interval, and a tick per seed shows the spread between RL runs. The label above an
    RL result is its recovery fraction where one is defined (a start after the peak that
    had lost OOD accuracy), else its OOD change in points.
    """
    _check_curve(curve)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, PANEL_HEIGHT), layout="constrained")
    steps, acc = _series(curve, "ood", "accuracy")
    _, lo = _series(curve, "ood", "ci_low")
    _, hi = _series(curve, "ood", "ci_high")
    ax.fill_between(steps, lo, hi, color=COLORS["ood"], alpha=0.15, lw=0)
    ax.plot(steps, acc, color=COLORS["ood"], lw=1.4, label="OOD along SFT")
    if peak is not None:
        _mark_peak(ax, peak)
        ax.axhline(peak.ood, color=COLORS["ood"], ls=":", lw=0.8, zorder=1)
    # RL results sit a few points right of their start, so a marker never hides the start
    shifted = offset_copy(ax.transData, fig=fig, x=RL_OFFSET_PT, y=0, units="points")
    seed_shift = offset_copy(ax.transData, fig=fig, x=RL_OFFSET_PT + 8, y=0, units="points")  # beside the mean
    for i, r in enumerate(sorted(window, key=lambda r: r["from_step"])):
        x, y0, y1 = r["from_step"], r["ood_start"], r["ood_rl"]
        ax.plot([x], [y0], "o", mfc="white", mec=COLORS["sft"], mew=1.5, ms=6, zorder=4,
                label="RL start (SFT checkpoint)" if i == 0 else None)
        per_seed = r.get("ood_rl_seeds") or []
        if len(per_seed) > 1:
            ax.plot([x] * len(per_seed), per_seed, "_", color=COLORS["rl"], ms=6, mew=1.2, zorder=4,
                    transform=seed_shift, gid="rl_seed", label="one RL seed" if i == 0 else None)
        ci = r["ood_rl_ci"]
        mean = " (mean of seeds)" if len(per_seed) > 1 else ""
        ax.errorbar([x], [y1], yerr=[[y1 - ci[0]], [ci[1] - y1]], fmt="s", color=COLORS["rl"], ms=5, capsize=3,
                    zorder=5, transform=shifted,
                    label=f"OOD after {r['rl_steps']} RL steps{mean}, 95% CI" if i == 0 else None)
        if abs(y1 - y0) > 0.005:
            ax.annotate("", xy=(x, y1), xycoords=shifted, xytext=(x, y0), textcoords="data", zorder=3,
                        arrowprops={"arrowstyle": "->", "color": COLORS["rl"], "lw": 1.3, "shrinkA": 4, "shrinkB": 4})
        rec = r["recovery"]
        text = f"{100 * rec:.0f}%" if math.isfinite(rec) else f"{100 * r['ood_gain'] + 0.0:+.1f} pt"
        ax.annotate(text, (x, max(ci[1], y0, *per_seed)), xycoords=shifted, xytext=(0, 5),
                    textcoords="offset points", ha="center", va="bottom", fontsize=7, color=COLORS["rl"])
    step_axis(ax, steps + [r["from_step"] for r in window])
    top = max([*hi, *(r["ood_rl_ci"][1] for r in window), *(v for r in window for v in r.get("ood_rl_seeds", [])),
               0.05])
    ax.set_ylim(-0.01, min(1.05, top * 1.25 + 0.02))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("OOD accuracy")
    legend_below(ax, ncol=2)
    return fig, ax


#: the verifier's categories of a first attempt, in the order panel (d) stacks them
OUTCOME_ORDER = ("correct", "wrong_value", "wrong_numbers", "illegal_characters", "malformed")
OUTCOME_LABELS = {"correct": "correct", "wrong_value": "wrong value", "wrong_numbers": "wrong numbers",
                  "illegal_characters": "illegal characters", "malformed": "malformed"}
OUTCOME_COLORS = {"correct": COLORS["id"], "wrong_value": "#56B4E9", "wrong_numbers": COLORS["ood"],
                  "illegal_characters": COLORS["chance"], "malformed": COLORS["base"]}


def plot_forgetting(curve: Rows, *, peak: Peak | None = None):
    """Panel (d): what SFT erodes on OOD hands: the verifier's categories of every OOD first
    attempt along SFT (stacked shares), and the rule-reading diagnostic (black line): the
    share of first attempts that give a face card the ID value 10."""
    _check_curve(curve)
    rows = sorted(by_split(curve, "ood"), key=lambda r: r["step"])
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, PANEL_HEIGHT), layout="constrained")
    shares = [[r["first_outcomes"].get(o, 0) / r["n"] for r in rows] for o in OUTCOME_ORDER]
    ax.stackplot(steps, shares, colors=[OUTCOME_COLORS[o] for o in OUTCOME_ORDER], alpha=0.75,
                 labels=[OUTCOME_LABELS[o] for o in OUTCOME_ORDER])
    face = [(r["face_as_id"][0] / r["face_as_id"][1]) if r["face_as_id"][1] else float("nan") for r in rows]
    ax.plot(steps, face, color=COLORS["paper"], lw=1.6, marker="o", ms=3, label="face card read as 10")
    if peak is not None:
        _mark_peak(ax, peak, label=False)
    step_axis(ax, steps)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("OOD first attempts")
    legend_below(ax, ncol=3)
    return fig, ax


def plot_mechanism(window: Rows):
    """Panel (e): per RL start, the share of GRPO groups whose rewards differ (bars; the rest
    give no gradient), and the rule-reading diagnostic on OOD first attempts before (open)
    and after RL (filled)."""
    rows = sorted(window, key=lambda r: r["from_step"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(PAGE_WIDTH, PANEL_HEIGHT), layout="constrained")
    x = list(range(len(rows)))
    labels = [str(r["from_step"]) for r in rows]
    ax.bar(x, [r["reward_spread"] for r in rows], color=COLORS["rl"], alpha=0.8)
    for i, r in enumerate(rows):
        seeds = r.get("reward_spread_seeds") or []
        if len(seeds) > 1:
            ax.plot([i] * len(seeds), seeds, "_", color=COLORS["paper"], ms=8, mew=1.2)
    ax.set_ylabel("groups with reward spread")
    bx.plot(x, [r["face_as_id_start"] for r in rows], "o", mfc="white", mec=COLORS["sft"], mew=1.5, ms=6,
            label="SFT checkpoint")
    bx.plot(x, [r["face_as_id_rl"] for r in rows], "s", color=COLORS["rl"], ms=5, label="after RL (mean of seeds)")
    bx.set_ylabel("OOD first attempts: face card as 10")
    for a in (ax, bx):
        a.set_xticks(x, labels)
        a.set_xlabel("RL started from SFT step")
        a.set_ylim(0, 1.02)
        a.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    legend_below(bx, ncol=1)
    return fig, (ax, bx)


# --------------------------------------------------------------------------- the size panel


def plot_sizes(rows: Rows, verdicts: Sequence[Verdict]):
    """Panel (f): the best recovery fraction against parameter count, one point per size of
    the size study (:mod:`sftrl.experiments.size_study`) with its 95% interval (filled where
    the seed-robust rule says RL restored OOD, open where it did not; a cross at 0 where no
    start came after the OOD peak), and paper A's two models at their sizes, not joined:
    they are not the same family. ``verdicts``: :func:`sftrl.claims.rules.size_verdicts` of ``rows``."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, PANEL_HEIGHT), layout="constrained")
    shown = {"restored": False, "not": False, "none": False}
    for r, v in zip(rows, verdicts, strict=True):
        x = r["params"]
        if r.get("best_recovery") is None:
            ax.plot([x], [0.0], "x", color=COLORS["rl"], ms=8, mew=2,
                    label=None if shown["none"] else "no start after the OOD peak lost OOD")
            shown["none"] = True
        else:
            y = r["best_recovery"] / 100
            lo, hi = (v / 100 for v in r["best_recovery_ci"]) if r.get("best_recovery_ci") else (y, y)
            kind = "restored" if v.verdict == "reproduced" else "not"
            ax.errorbar([x], [y], yerr=[[y - lo], [hi - y]], fmt="o", color=COLORS["rl"], ms=7, capsize=3,
                        mfc=COLORS["rl"] if kind == "restored" else "white", mew=1.5,
                        label=None if shown[kind] else ("RL restored OOD (every seed)" if kind == "restored"
                                                        else "best recovery, not restored by the rule"))
            shown[kind] = True
        y_label = 0.0 if r.get("best_recovery") is None else r["best_recovery"] / 100
        ax.annotate(r["size"], (x, y_label), xytext=(5, 3), textcoords="offset points", fontsize="x-small")
    for marker, (name, row) in zip(("s", "D"), papers.FIGURE1.items()):
        lo, hi = row.recovery
        mid = (lo + hi) / 2
        ax.errorbar([row.params], [mid], yerr=[[mid - lo], [hi - mid]], fmt=marker, color=COLORS["paper"],
                    ms=6, capsize=3, label=f"paper A: {name}")
    ax.axhline(0, color=COLORS["base"], lw=0.8)
    ax.axhline(1, color=COLORS["base"], lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("best recovery")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if not rows:
        ax.text(0.3, 0.5, "no size measured yet: run make study", transform=ax.transAxes, ha="center")
    legend_below(ax, ncol=2)
    return fig, ax
