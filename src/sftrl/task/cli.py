"""Command line for trying GeneralPoints by hand: ``solve`` and ``verify``.

``solve`` prints a hand's values under a rule and all its distinct solutions (exit 1 when
there is none); ``verify`` grades one formula and exits 0 only for a correct answer.

Usage: ``python -m sftrl solve A 5 J Q --rule ood``;
``python -m sftrl verify 3 3 8 8 "8/(3-8/3)" --rule id``
"""

from __future__ import annotations

import argparse

from sftrl.errors import SftrlError
from sftrl.task.game import Rule, get_rule, parse_hand, solve
from sftrl.task.verifier import MAX_FORMULA_CHARS, verify_formula

_RULE_HELP = "face-card rule: id (J=Q=K=10), ood (J=11,Q=12,K=13) or a map like J=5,Q=7,K=9 (default: id)"


def _rule_line(rule: Rule) -> str:
    return f"rule: {rule.name} ({rule.describe()})"


def cmd_solve(args: argparse.Namespace) -> int:
    rule = get_rule(args.rule)
    hand = parse_hand(args.cards)
    values = rule.values(hand)
    solutions = solve(values)
    print(f"hand: {' '.join(hand)}   {_rule_line(rule)}")
    print(f"values: {' '.join(map(str, values))}")
    if not solutions:
        print("no solution: this hand cannot make 24 under this rule")
        return 1
    print(f"{len(solutions)} distinct solution{'s' if len(solutions) != 1 else ''}:")
    for formula in solutions:
        print(f"  {formula}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    rule = get_rule(args.rule)
    hand = parse_hand(args.cards)
    formula = args.formula
    if not formula.strip():
        raise SftrlError("empty answer: give a formula such as '8/(3-8/3)'")
    if len(formula) > MAX_FORMULA_CHARS:
        raise SftrlError(f"answer is {len(formula)} characters long, the limit is {MAX_FORMULA_CHARS}")
    values = rule.values(hand)
    verdict = verify_formula(formula, values)
    print(f"hand: {' '.join(hand)}   {_rule_line(rule)}")
    print(f"values: {' '.join(map(str, values))}")
    print(f"formula: {formula}")
    print(f"outcome: {verdict.outcome.value}")
    print(f"message: {verdict.message}")
    print(f"shaped reward: {verdict.shaped_reward:+g}")
    print(f"binary reward: {verdict.binary_reward:g}")
    return 0 if verdict.correct else 1


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``solve`` and ``verify`` on the main parser's subcommands."""
    p = subparsers.add_parser("solve", help="print a hand's values and all its distinct solutions")
    p.add_argument("cards", nargs=4, metavar="CARD", help="four cards: A 2 3 4 5 6 7 8 9 10 J Q K")
    p.add_argument("--rule", default="id", help=_RULE_HELP)
    p.set_defaults(func=cmd_solve)

    p = subparsers.add_parser("verify", help="grade a formula for a hand (exit 0 only when correct)")
    p.add_argument("cards", nargs=4, metavar="CARD", help="four cards: A 2 3 4 5 6 7 8 9 10 J Q K")
    p.add_argument("formula", metavar="FORMULA", help="e.g. '8/(3-8/3)'; quote it for the shell")
    p.add_argument("--rule", default="id", help=_RULE_HELP)
    p.set_defaults(func=cmd_verify)
