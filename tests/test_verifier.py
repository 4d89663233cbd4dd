"""sftrl.task.verifier: outcomes, rewards, hostile input, bounds; model text never reaches eval/exec."""

from __future__ import annotations

import builtins
import sys
from fractions import Fraction

import pytest

from sftrl.task import verifier
from sftrl.task.verifier import (
    MAX_DEPTH,
    MAX_FORMULA_CHARS,
    SHAPED_REWARD,
    BinOp,
    FormulaError,
    Num,
    Outcome,
    evaluate,
    parse_formula,
    tokenize_formula,
    verify_formula,
)

HAND = [3, 3, 8, 8]


def test_accepts_the_answer_float_eval_rejects():
    verdict = verify_formula("8/(3-8/3)", HAND)
    assert verdict.outcome is Outcome.CORRECT and verdict.correct
    assert verdict.value == Fraction(24)
    assert (verdict.shaped_reward, verdict.binary_reward) == (5.0, 1.0)
    assert 8 / (3 - 8 / 3) != 24  # the float check the original code relies on fails here


@pytest.mark.parametrize(
    "formula, values",
    [("8 / ( 3 - 8 / 3 )", HAND), ("(12 - 11 + 1) * 12", [12, 11, 1, 12]), ("4*6*1*1", [1, 1, 4, 6]),
     ("  2 * 3 * 4 * 1 ", [4, 3, 2, 1]), ("((((13))) + 11) * 1 * 1", [13, 11, 1, 1]), ("13 + 11", [11, 13])],
)  # fmt: skip
def test_correct_answers(formula, values):
    assert verify_formula(formula, values).outcome is Outcome.CORRECT


@pytest.mark.parametrize(
    "formula, outcome, fragment",
    [
        ("3+3+8+8", Outcome.WRONG_VALUE, "evaluates to 22, not 24"),
        ("8/3+8", Outcome.WRONG_NUMBERS, "unused [3]"),
        ("3*8", Outcome.WRONG_NUMBERS, "unused [3, 8]"),
        ("3*8+3-3", Outcome.WRONG_NUMBERS, "not on the cards [3]"),
        ("3*8+0*8", Outcome.WRONG_NUMBERS, "not on the cards [0]"),
        ("8/(3-3)+8", Outcome.WRONG_VALUE, "division by zero"),
        ("8 / 3 * 3 - 8", Outcome.WRONG_VALUE, "evaluates to 0"),
        ("8 / 3 + 3 * 8", Outcome.WRONG_VALUE, "evaluates to 80/3, not 24"),
        ("3 / 8 + 3 + 8", Outcome.WRONG_VALUE, "evaluates to 91/8, not 24"),
    ],
)
def test_wrong_answers(formula, outcome, fragment):
    verdict = verify_formula(formula, HAND)
    assert verdict.outcome is outcome
    assert fragment in verdict.message
    assert verdict.shaped_reward == SHAPED_REWARD[outcome] and verdict.binary_reward == 0.0


def test_shaped_reward_values():
    # Paper C (arXiv 2501.17161): +5 correct, -1 wrong value, -2 wrong numbers, -3 illegal/grammar
    assert [SHAPED_REWARD[o] for o in Outcome] == [5.0, -1.0, -2.0, -3.0, -3.0]
    assert verify_formula("3 3 8 8", HAND).shaped_reward == -3.0
    assert verify_formula("3+3+8+8", HAND).shaped_reward == -1.0


HOSTILE = [
    ("２*3*8/8", Outcome.ILLEGAL, "non-ASCII digit '２'"),
    ("٣*8*8/8", Outcome.ILLEGAL, "non-ASCII digit '٣'"),
    ("__import__('os').system('echo hi')", Outcome.ILLEGAL, "'_'"),
    ("exec('1')", Outcome.ILLEGAL, "'e'"),
    ("3×8", Outcome.ILLEGAL, "'×'"),
    ("3*8;", Outcome.ILLEGAL, "';'"),
    ("3*8=24", Outcome.ILLEGAL, "'='"),
    ("3*8\n", Outcome.ILLEGAL, r"'\n'"),
    ("3.0*8", Outcome.ILLEGAL, "'.'"),
    ("[3]", Outcome.ILLEGAL, "'['"),
    ("8**3", Outcome.MALFORMED, "'**'"),
    ("8//3+3+8", Outcome.MALFORMED, "'//'"),
    ("-3+3*8+8", Outcome.MALFORMED, "unary minus"),
    ("3*(-8)+8+3", Outcome.MALFORMED, "unary minus"),
    ("+3", Outcome.MALFORMED, "'+'"),
    ("", Outcome.MALFORMED, "empty formula"),
    ("   ", Outcome.MALFORMED, "empty formula"),
    ("3 3 8 8", Outcome.MALFORMED, "missing operator"),
    ("(3)(8)", Outcome.MALFORMED, "missing operator"),
    ("3+", Outcome.MALFORMED, "formula ends"),
    ("()", Outcome.MALFORMED, "')'"),
    ("(3+8", Outcome.MALFORMED, "not closed"),
    ("3+8)", Outcome.MALFORMED, "')' without '('"),
    ("03+8", Outcome.MALFORMED, "leading zero"),
    (None, Outcome.MALFORMED, "must be text"),
]


@pytest.mark.parametrize("formula, outcome, fragment", HOSTILE)
def test_hostile_and_malformed_inputs(formula, outcome, fragment):
    verdict = verify_formula(formula, HAND)
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message
    assert verdict.value is None


def test_model_text_never_reaches_eval_or_exec(monkeypatch):
    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError("eval/exec called on model text")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", forbidden)
    for formula, _, _ in HOSTILE:
        verify_formula(formula, HAND)
    assert verify_formula("8/(3-8/3)", HAND).correct
    assert calls == []
    source = open(verifier.__file__, encoding="utf-8").read()
    assert "eval(" not in source.replace("evaluate(", "") and "exec(" not in source


def test_length_limit_checked_first():
    at_limit = "+".join(["1"] * (MAX_FORMULA_CHARS // 2)) + " "  # 200 chars, legal
    assert len(at_limit) == MAX_FORMULA_CHARS
    assert verify_formula(at_limit, HAND).outcome is Outcome.WRONG_NUMBERS
    too_long = "x" * (MAX_FORMULA_CHARS + 1)  # also illegal: length is reported first
    verdict = verify_formula(too_long, HAND)
    assert verdict.outcome is Outcome.MALFORMED and f"limit is {MAX_FORMULA_CHARS}" in verdict.message
    huge = "1+" * 10**6 + "1"
    assert verify_formula(huge, HAND).outcome is Outcome.MALFORMED


def test_deep_nesting_never_recurses_too_far():
    ok = "(" * MAX_DEPTH + "3" + ")" * MAX_DEPTH + "*8*8/8"
    assert verify_formula(ok, HAND).outcome is Outcome.WRONG_NUMBERS  # parsed fine, 3 not 3,3
    too_deep = "(" * (MAX_DEPTH + 1) + "3" + ")" * (MAX_DEPTH + 1)
    verdict = verify_formula(too_deep, HAND)
    assert verdict.outcome is Outcome.MALFORMED and f"deeper than {MAX_DEPTH}" in verdict.message
    # even a tight interpreter stack suffices: the parser's depth is bounded by MAX_DEPTH
    old = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(250)
        assert verify_formula(ok, HAND).outcome is Outcome.WRONG_NUMBERS
        assert verify_formula("(" * 99 + "3", HAND).outcome is Outcome.MALFORMED
        longest_chain = "+".join(["1"] * 100)
        assert verify_formula(longest_chain, HAND).outcome is Outcome.WRONG_NUMBERS
    finally:
        sys.setrecursionlimit(old)


def test_parser_structure_and_precedence():
    assert tokenize_formula("8/(3-8/3)") == ["8", "/", "(", "3", "-", "8", "/", "3", ")"]
    assert tokenize_formula(" 10 *  13 ") == ["10", "*", "13"]
    tree = parse_formula("1 - 2 - 3")  # left-associative
    assert tree == BinOp("-", BinOp("-", Num(1), Num(2)), Num(3))
    assert evaluate(parse_formula("2 + 3 * 4")) == 14
    assert evaluate(parse_formula("(2 + 3) * 4")) == 20
    assert evaluate(parse_formula("12 / 8 / 3")) == Fraction(1, 2)
    assert evaluate(parse_formula("0")) == 0
    with pytest.raises(FormulaError) as info:
        evaluate(parse_formula("1 / (2 - 2)"))
    assert info.value.outcome is Outcome.WRONG_VALUE


def test_every_solution_of_a_hand_verifies():
    from sftrl.task.game import solve

    for values in ([1, 5, 11, 12], [3, 3, 8, 8], [13, 13, 13, 2], [1, 1, 4, 6]):
        solutions = solve(values)
        assert solutions
        assert all(verify_formula(f, values).correct for f in solutions)
        assert all(verify_formula(f.replace(" ", ""), values).correct for f in solutions)
