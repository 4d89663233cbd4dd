"""The GeneralPoints verifier: grade a formula against a hand, never running model text.

The original environment checks answers with float ``eval``: it runs model text as Python
and wrongly rejects exact answers such as ``8/(3-8/3)``. This verifier has its own
tokenizer and recursive-descent parser over ASCII digits, ``+ - * /``, parentheses and
spaces, evaluates in exact :class:`fractions.Fraction` arithmetic, and bounds both the
input length and the nesting depth before it recurses.

Grammar (binary operators only, left-associative, ``*``/``/`` bind tighter)::

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := NUMBER | "(" expr ")"          NUMBER := "0" | [1-9][0-9]*

Outcomes map to Paper C's shaped reward (+5 correct, -1 wrong value, -2 wrong or unused
numbers, -3 illegal characters or grammar) and to a 1/0 reward.

Usage: ``verify_formula("8/(3-8/3)", [3, 3, 8, 8]).shaped_reward  # 5.0``
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

MAX_FORMULA_CHARS = 200  #: longer answers are malformed (no answer needs more than ~30)
MAX_DEPTH = 32  #: deepest parenthesis nesting accepted; keeps the parser's recursion bounded
ALLOWED_CHARS = frozenset("0123456789+-*/() ")  #: anything else is an illegal character
_DIGITS = "0123456789"
_OPERATORS = "+-*/"


class Outcome(str, Enum):
    """What a graded answer got wrong first (checks run in this order, bottom up)."""

    CORRECT = "correct"
    WRONG_VALUE = "wrong_value"
    WRONG_NUMBERS = "wrong_numbers"
    ILLEGAL = "illegal_characters"
    MALFORMED = "malformed"


#: Paper C's reward shaping (arXiv 2501.17161 GeneralPoints environment)
SHAPED_REWARD: dict[Outcome, float] = {
    Outcome.CORRECT: 5.0,
    Outcome.WRONG_VALUE: -1.0,
    Outcome.WRONG_NUMBERS: -2.0,
    Outcome.ILLEGAL: -3.0,
    Outcome.MALFORMED: -3.0,
}


@dataclass(frozen=True)
class Verdict:
    """The verifier's judgement of one answer."""

    outcome: Outcome
    """The category (first failed check, or CORRECT)."""
    message: str
    """A one-line reason, fit to show a user or to feed back to a model."""
    value: Fraction | None = None
    """The formula's exact value when it could be evaluated."""

    @property
    def correct(self) -> bool:
        return self.outcome is Outcome.CORRECT

    @property
    def shaped_reward(self) -> float:
        """+5 / -1 / -2 / -3 (Paper C)."""
        return SHAPED_REWARD[self.outcome]

    @property
    def binary_reward(self) -> float:
        """1.0 for a correct answer, else 0.0."""
        return 1.0 if self.correct else 0.0


class FormulaError(ValueError):
    """A formula that cannot be evaluated, with the outcome it earns."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


@dataclass(frozen=True)
class Num:
    """A number literal."""

    value: int


@dataclass(frozen=True)
class BinOp:
    """``left op right``."""

    op: str
    left: Node
    right: Node


Node = Num | BinOp


def _describe_char(ch: str) -> str:
    name = unicodedata.name(ch, "")
    code = f"U+{ord(ch):04X} {name}".rstrip()
    if ch.isdigit() or unicodedata.category(ch) == "Nd":
        return f"non-ASCII digit {ch!r} ({code}): only ASCII digits 0-9 are allowed"
    if ch.isalpha() or ch == "_":
        return f"illegal character {ch!r} ({code}): letters and names are not allowed"
    return f"illegal character {ch!r} ({code})"


def _check_text(text: object) -> str:
    """Length, emptiness and character checks, done before any parsing."""
    if not isinstance(text, str):
        raise FormulaError(Outcome.MALFORMED, f"formula must be text, got {type(text).__name__}")
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(
            Outcome.MALFORMED, f"formula is {len(text)} characters long, the limit is {MAX_FORMULA_CHARS}"
        )
    if not text.strip(" "):
        raise FormulaError(Outcome.MALFORMED, "empty formula")
    for ch in text:
        if ch not in ALLOWED_CHARS:
            raise FormulaError(Outcome.ILLEGAL, _describe_char(ch))
    return text


def tokenize_formula(text: str) -> list[str]:
    """Split into number and operator/parenthesis tokens (ASCII only; spaces separate).

    Raises :class:`FormulaError`: MALFORMED for empty/too long text or a number with a
    leading zero, ILLEGAL for any character outside ``0-9 + - * / ( )`` and space.
    """
    text = _check_text(text)
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == " ":
            i += 1
        elif ch in _DIGITS:
            j = i
            while j < len(text) and text[j] in _DIGITS:
                j += 1
            number = text[i:j]
            if len(number) > 1 and number[0] == "0":
                raise FormulaError(Outcome.MALFORMED, f"number {number!r} has a leading zero")
            tokens.append(number)
            i = j
        else:
            tokens.append(ch)
            i += 1
    return tokens


def _check_nesting(tokens: Sequence[str]) -> None:
    depth = 0
    for tok in tokens:
        if tok == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise FormulaError(Outcome.MALFORMED, f"parentheses nested deeper than {MAX_DEPTH}")
        elif tok == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(Outcome.MALFORMED, "unbalanced parentheses: ')' without '('")
    if depth:
        raise FormulaError(Outcome.MALFORMED, f"unbalanced parentheses: {depth} '(' not closed")


class _Parser:
    """Recursive descent over a token list; recursion depth <= 3 * MAX_DEPTH + 3."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expr(self) -> Node:
        node = self.term()
        while (tok := self.peek()) in ("+", "-"):
            self.pos += 1
            node = BinOp(tok, node, self.term())  # type: ignore[arg-type]
        return node

    def term(self) -> Node:
        node = self.factor()
        while (tok := self.peek()) in ("*", "/"):
            self.pos += 1
            node = BinOp(tok, node, self.factor())  # type: ignore[arg-type]
        return node

    def factor(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise FormulaError(Outcome.MALFORMED, "formula ends where a number or '(' is expected")
        if tok[0] in _DIGITS:
            self.pos += 1
            return Num(int(tok))
        if tok == "(":
            self.pos += 1
            node = self.expr()
            if self.peek() != ")":
                raise FormulaError(Outcome.MALFORMED, "missing ')'")
            self.pos += 1
            return node
        prev = self.tokens[self.pos - 1] if self.pos else None
        if tok == "-" and prev in (None, "(", "+", "-", "*", "/"):
            raise FormulaError(Outcome.MALFORMED, "unary minus is not allowed (use each card's value as given)")
        if tok in ("*", "/") and prev == tok:
            raise FormulaError(Outcome.MALFORMED, f"'{tok}{tok}' is not an operator (only + - * / are)")
        if tok == ")":
            raise FormulaError(Outcome.MALFORMED, "empty or incomplete parentheses: ')' where a number is expected")
        raise FormulaError(Outcome.MALFORMED, f"operator {tok!r} where a number or '(' is expected")


def parse_formula(text: str) -> Node:
    """Parse to a tree of :class:`Num` / :class:`BinOp`; raises :class:`FormulaError`."""
    tokens = tokenize_formula(text)
    _check_nesting(tokens)  # before the recursive descent, so recursion stays bounded
    parser = _Parser(tokens)
    node = parser.expr()
    if parser.pos != len(tokens):
        tok = tokens[parser.pos]
        if tok[0] in _DIGITS or tok == "(":
            raise FormulaError(Outcome.MALFORMED, f"missing operator before {tok!r}")
        raise FormulaError(Outcome.MALFORMED, f"unexpected {tok!r} after a complete formula")
    return node


def numbers(node: Node) -> list[int]:
    """The number literals in the formula, left to right."""
    out: list[int] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Num):
            out.append(item.value)
        else:
            stack.append(item.right)
            stack.append(item.left)
    return out


def evaluate(node: Node) -> Fraction:
    """Exact value; division by zero -> FormulaError(WRONG_VALUE, "division by zero")."""
    if isinstance(node, Num):
        return Fraction(node.value)
    left, right = evaluate(node.left), evaluate(node.right)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if not right:
        raise FormulaError(Outcome.WRONG_VALUE, "division by zero")
    return left / right


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _numbers_message(used: list[int], expected: list[int]) -> str:
    used_c, expected_c = Counter(used), Counter(expected)
    parts = []
    if missing := sorted((expected_c - used_c).elements()):
        parts.append(f"unused {missing}")
    if extra := sorted((used_c - expected_c).elements()):
        parts.append(f"not on the cards {extra}")
    return f"numbers {sorted(used)} do not match the cards' values {sorted(expected)} ({', '.join(parts)})"


def verify_formula(formula: str, values: Sequence[int], target: int = 24) -> Verdict:
    """Grade ``formula`` for a hand with these card ``values``.

    Checks in order: empty / too long -> MALFORMED; a character outside
    ``0-9 + - * / ( )`` and space -> ILLEGAL (named); grammar -> MALFORMED; the multiset
    of numbers != values -> WRONG_NUMBERS; value != target (or division by zero) ->
    WRONG_VALUE; else CORRECT.
    """
    try:
        node = parse_formula(formula)
    except FormulaError as exc:
        return Verdict(exc.outcome, exc.message)
    used, expected = numbers(node), [int(v) for v in values]
    if Counter(used) != Counter(expected):
        return Verdict(Outcome.WRONG_NUMBERS, _numbers_message(used, expected))
    try:
        value = evaluate(node)
    except FormulaError as exc:
        return Verdict(exc.outcome, exc.message)
    if value != target:
        return Verdict(Outcome.WRONG_VALUE, f"formula evaluates to {_fmt(value)}, not {target}", value)
    return Verdict(Outcome.CORRECT, f"correct: the formula evaluates to {target}", value)
