"""Figures and tables of the task chapter (``notebooks/00_the_task.py``).

The counting is done by :mod:`sftrl.task.game` (the exact solver, cached by value multiset) and the
grading by :mod:`sftrl.task.verifier`; this module only summarises their results for the page:
small tables (:class:`sftrl.book.tables.Table`), a dict of the numbers the
prose quotes (glued by the notebook), and two figures that return ``(fig, ax)``.

Usage: ``from sftrl.book.plots import task as task_plots; fig, ax = task_plots.plot_solvable(task_plots.hand_groups())``
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.colors import to_rgb
import numpy as np

from sftrl.book.plots import COLORS, PAGE_WIDTH, legend_below
from sftrl.book.tables import Table
from sftrl.task.game import (
    FACES,
    ID_RULE,
    OOD_RULE,
    RANKS,
    Hand,
    Rule,
    all_hands,
    canonical,
    parse_hand,
    sample_hands,
    solution_count,
    solve,
)
from sftrl.task.verifier import BinOp, FormulaError, Num, Outcome, parse_formula, verify_formula

#: answers the verifier table grades, as (what the answer tries, the answer text). Chosen to
#: hit every outcome once, plus the inputs a model (or an attacker) could send instead of maths.
VERIFIER_CASES: tuple[tuple[str, str], ...] = (
    ("right", "8/(3-8/3)"),
    ("right, spaced", "8 / ( 3 - 8 / 3 )"),
    ("wrong value", "8+8+3+3"),
    ("cards unused", "8*3"),
    ("a card too many", "8*3*3/3"),
    ("division by zero", "8/(3-3)*8"),
    ("unbalanced", "8/(3-8/3"),
    ("unary minus", "-3*(3-8-8)"),
    ("Python code", "__import__('os').system('ls')"),
    ("full-width digit", "8/(3-8/\uff13)"),
    ("deep nesting", "(" * 40 + "8/(3-8/3)" + ")" * 40),
    ("oversized", "8+" * 120 + "8"),
)
#: how much of an answer the table shows (the hostile ones are long)
ANSWER_CHARS = 20


@dataclass(frozen=True)
class HandGroup:
    """A set of card hands (or value multisets) counted under one rule."""

    label: str
    """Row label on the page."""
    rule: Rule
    """The face-card rule the hands are valued under."""
    counts: tuple[int, ...]
    """Number of distinct solutions of each member (0 = unsolvable)."""

    @property
    def n(self) -> int:
        return len(self.counts)

    @property
    def solvable(self) -> int:
        return sum(1 for c in self.counts if c)


def _counts(hands: Sequence[Hand], rule: Rule) -> tuple[int, ...]:
    # the solver caches by value multiset, so the 1,820 hands cost one solve per multiset
    return tuple(solution_count(rule.values(hand)) for hand in hands)


def _multisets(low: int, high: int) -> list[tuple[int, ...]]:
    """Every sorted multiset of 4 values in ``low..high``."""
    return list(itertools.combinations_with_replacement(range(low, high + 1), 4))


def _has_face(hand: Sequence[str]) -> bool:
    return any(card in FACES for card in hand)


def hand_groups() -> list[HandGroup]:
    """The five populations the chapter counts, in the order the figure shows them.

    Value multisets are what the solver sees (under ID, J, Q, K and 10 are the same 10);
    card hands are what a prompt shows; face-card hands are the OOD population.
    """
    every_hand = all_hands(ID_RULE, solvable=False)
    face_hands = [h for h in every_hand if _has_face(h)]
    id_sets = _multisets(1, max(ID_RULE.values(RANKS)))  # under ID every value lies in 1..10
    ood_sets = _multisets(1, max(OOD_RULE.values(RANKS)))
    return [
        HandGroup("value multisets, ID rule", ID_RULE, tuple(map(solution_count, id_sets))),
        HandGroup("value multisets, OOD rule", OOD_RULE, tuple(map(solution_count, ood_sets))),
        HandGroup("all hands, ID rule", ID_RULE, _counts(every_hand, ID_RULE)),
        HandGroup("face-card hands, ID rule", ID_RULE, _counts(face_hands, ID_RULE)),
        HandGroup("face-card hands, OOD rule", OOD_RULE, _counts(face_hands, OOD_RULE)),
    ]


def rules_table(rules: Sequence[Rule] = (ID_RULE, OOD_RULE)) -> Table:
    """One row per rule, one column per card rank: the value the card is worth."""
    labels = {"id": "ID (training)", "ood": "OOD (test only)"}
    return Table(["rule", *RANKS], [[labels.get(rule.name, rule.name), *(str(rule.value(rank)) for rank in RANKS)]
                                    for rule in rules])


def canonical_key(hand: Sequence[str]) -> tuple[int, ...]:
    """Sort key putting hands in rank order (A < 2 < ... < K, card by card)."""
    return tuple(RANKS.index(c) for c in canonical(hand))


def _shortest(solutions: Sequence[str]) -> str:
    return min(solutions, key=lambda s: (len(s), s)) if solutions else "no solution"


def example_table(hands: Sequence[Sequence[str]], rules: Sequence[Rule] = (ID_RULE, OOD_RULE)) -> Table:
    """Each hand's values, number of distinct solutions and shortest solution under each rule."""
    rows = []
    for cards in hands:
        hand = parse_hand(list(cards))
        row: dict[str, object] = {"cards": " ".join(hand)}
        for rule in rules:
            solutions = solve(rule.values(hand))
            row[f"{rule.name.upper()} values"] = " ".join(map(str, rule.values(hand)))
            row[f"{rule.name.upper()} solutions"] = len(solutions)
            row[f"{rule.name.upper()} example"] = _shortest(solutions)
        rows.append(row)
    return Table.from_rows(rows)


def example_hands(n: int, *, seed: int) -> list[Hand]:
    """``n`` face-card hands solvable under both rules, drawn by the experiments' sampler
    (so every example has an answer in both columns), in rank order."""
    id_solvable = set(all_hands(ID_RULE, face_required=True))
    ood_only = [h for h in all_hands(OOD_RULE, face_required=True) if h not in id_solvable]
    return sorted(sample_hands(OOD_RULE, n, seed=seed, face_required=True, exclude=ood_only), key=canonical_key)


def rule_blind_outcomes(hands: Sequence[Hand] | None = None) -> Counter[str]:
    """Grade a rule-blind player on the OOD hands: it reads every face card as 10 (the
    training rule) and answers with a correct ID formula; the verifier uses the OOD values.

    Returns outcome name -> hands; ``"no ID answer"`` counts hands it cannot even answer.
    """
    hands = all_hands(OOD_RULE, face_required=True) if hands is None else hands
    outcomes: Counter[str] = Counter()
    for hand in hands:
        solutions = solve(ID_RULE.values(hand))
        if not solutions:
            outcomes["no ID answer"] += 1
            continue
        verdict = verify_formula(_shortest(solutions), OOD_RULE.values(hand))
        outcomes[verdict.outcome.value] += 1
    return outcomes


def flip_table() -> Table:
    """Face-card hands cross-tabulated by solvable under ID (rows) and under OOD (columns)."""
    face_hands = [h for h in all_hands(ID_RULE, solvable=False) if _has_face(h)]
    id_ok = [c > 0 for c in _counts(face_hands, ID_RULE)]
    ood_ok = [c > 0 for c in _counts(face_hands, OOD_RULE)]
    cells = Counter(zip(id_ok, ood_ok))
    names = {True: "solvable", False: "unsolvable"}
    return Table(["face-card hands", *(f"OOD rule: {names[o]}" for o in (True, False))],
                 [[f"ID rule: {names[i]}", *(f"{cells[(i, o)]:,d}" for o in (True, False))] for i in (True, False)])


def float_value(formula: str) -> float | None:
    """The formula's value in float arithmetic, as the original float check computes it
    (here by walking the verifier's parse tree, never by ``eval``); None if unparseable."""
    try:
        node = parse_formula(formula)
    except FormulaError:
        return None

    stack: list[tuple[object, bool]] = [(node, False)]
    values: list[float] = []
    while stack:  # iterative post-order: a deep formula cannot exhaust the recursion limit
        item, seen = stack.pop()
        if isinstance(item, Num):
            values.append(float(item.value))
        elif isinstance(item, BinOp) and not seen:
            stack += [(item, True), (item.right, False), (item.left, False)]
        else:
            op = item.op  # type: ignore[union-attr]
            b, a = values.pop(), values.pop()
            if op == "/" and b == 0.0:
                return None
            values.append(a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b)
    return values[0]


def printable(text: str, limit: int = ANSWER_CHARS) -> str:
    """``text`` as a table cell: non-ASCII characters escaped (``\\uff13``: a reader without
    the font would see an empty box), cut to ``limit`` characters with an ellipsis."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verifier_table(cards: str = "3 3 8 8", rule: Rule = ID_RULE, cases=VERIFIER_CASES) -> Table:
    """Grade each case's answer for ``cards``: outcome, shaped and 1/0 reward, message."""
    values = rule.values(parse_hand(cards.split()))
    rows = []
    for _, answer in cases:
        verdict = verify_formula(answer, values)
        rows.append(
            {
                "answer": printable(answer),
                "outcome": verdict.outcome.value.replace("_", " "),
                "reward": f"{verdict.shaped_reward:+g}",
                "1/0": f"{verdict.binary_reward:g}",
                "verifier's message": printable(verdict.message, limit=200),
            }
        )
    return Table.from_rows(rows)


def summary(groups: Sequence[HandGroup], blind: Counter[str]) -> dict[str, int | float]:
    """The numbers the chapter's prose quotes (each glued under its key)."""
    by = {g.label: g for g in groups}
    vid, vood = by["value multisets, ID rule"], by["value multisets, OOD rule"]
    hid, fid, food = by["all hands, ID rule"], by["face-card hands, ID rule"], by["face-card hands, OOD rule"]
    id_solved = [c for c in hid.counts if c]
    ood_solved = [c for c in food.counts if c]
    both = sum(1 for a, b in zip(fid.counts, food.counts) if a and b)
    n_ood = food.solvable
    return {
        "n_hands": hid.n,
        "n_ranks": len(RANKS),
        "n_faces": len(FACES),
        "n_id_value_sets": vid.n,
        "n_id_value_sets_solvable": vid.solvable,
        "n_ood_value_sets": vood.n,
        "n_ood_value_sets_solvable": vood.solvable,
        "n_id_solvable": hid.solvable,
        "pct_id_solvable": 100 * hid.solvable / hid.n,
        "n_face_hands": fid.n,
        "n_face_id_solvable": fid.solvable,
        "n_face_ood_solvable": n_ood,
        "n_face_both": both,
        "n_face_id_only": fid.solvable - both,
        "n_face_ood_only": n_ood - both,
        "median_solutions_id": statistics.median(id_solved),
        "median_solutions_ood": statistics.median(ood_solved),
        "max_solutions_id": max(id_solved),
        "max_solutions_ood": max(ood_solved),
        "n_one_solution_ood": sum(1 for c in ood_solved if c == 1),
        "n_blind_correct": blind.get(Outcome.CORRECT.value, 0),
        "n_blind_wrong_numbers": blind.get(Outcome.WRONG_NUMBERS.value, 0),
        "n_blind_no_answer": blind.get("no ID answer", 0),
        "pct_blind_correct": 100 * blind.get(Outcome.CORRECT.value, 0) / max(n_ood, 1),
    }


# --------------------------------------------------------------------------- figures

#: unsolvable members: the base grey lightened (opaque, so grid lines do not show through)
_UNSOLVABLE = tuple(0.35 * c + 0.65 for c in to_rgb(COLORS["base"]))


def plot_solvable(groups: Sequence[HandGroup]):
    """Horizontal bars: solvable (rule colour) and unsolvable (grey) members of each group."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 0.5 * len(groups) + 1.0))
    y = np.arange(len(groups))[::-1]  # first group on top
    for yi, g in zip(y, groups):
        colour = COLORS[g.rule.name] if g.rule.name in COLORS else COLORS["base"]
        ax.barh(yi, g.solvable, color=colour)
        ax.barh(yi, g.n - g.solvable, left=g.solvable, color=_UNSOLVABLE)
        ax.text(g.n, yi, f"  {g.solvable:,} / {g.n:,}", va="center", fontsize="small")
    ax.set_yticks(y, [g.label for g in groups])
    ax.set_xlabel("count (solvable in the rule's colour, unsolvable in grey)")
    ax.set_xlim(0, 1.3 * max(g.n for g in groups))  # room for the labels
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig, ax


def plot_solution_counts(
    groups: Sequence[HandGroup], labels: Sequence[str] = ("all hands, ID rule", "face-card hands, OOD rule")
):
    """Share of solvable hands by number of distinct solutions, in doubling bins (1, 2-3,
    4-7, ...): grouped bars, one colour per rule. Shares, not counts: the groups differ in size."""
    by = {g.label: g for g in groups}
    chosen = [by[label] for label in labels]
    top = max(max(g.counts) for g in chosen)
    edges = [2**k for k in range(int(np.log2(top)) + 2)]  # 1, 2, 4, ... past the largest count
    names = [f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}" for lo, hi in zip(edges, edges[1:])]
    x = np.arange(len(names))
    width = 0.8 / len(chosen)
    fig, ax = plt.subplots()
    for i, g in enumerate(chosen):
        solved = np.array([c for c in g.counts if c])
        share, _ = np.histogram(solved, bins=edges)
        ax.bar(
            x + (i - (len(chosen) - 1) / 2) * width,
            100 * share / len(solved),
            width,
            color=COLORS.get(g.rule.name, COLORS["base"]),
            label=f"{g.label} ({len(solved):,} solvable, median {statistics.median(solved):g})",
        )
    ax.set_xticks(x, names)
    ax.set_xlabel("distinct solutions of a hand")
    ax.set_ylabel("% of solvable hands")
    fig.tight_layout()
    legend_below(ax, ncol=1)
    return fig, ax
