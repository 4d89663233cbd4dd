"""Prompt and answer formats for GeneralPoints: compact tokens for the small default model,
and the papers' JSON answer for chat LLMs.

Both formats mirror the papers' answer ``{"cards": [...], "number": [...], "formula": "..."}``
(arXiv 2501.17161): a *strict* answer carries all three fields, a *loose* one only the
numbers and the formula. :func:`grade` turns a completion into a verifier
:class:`~sftrl.task.verifier.Verdict`; an unparseable or (when strictness is required) loose
answer is MALFORMED, so the format error rate is visible in the outcomes.

Compact example (every word is in :data:`COMPACT_VOCAB`)::

    prompt : rule J 11 Q 12 K 13 cards A 5 J Q answer
    answer : cards A 5 J Q number 1 5 11 12 formula ( 11 - 1 ) * 12 / 5

The papers' protocol answers a wrong attempt with the verifier's reason and asks again
(:meth:`AnswerFormat.retry_prompt`). In the compact format the verifier's turn is ``fail``
and one word for its outcome category (:data:`COMPACT_FEEDBACK`); ``answer`` opens the
model's next attempt::

    ... answer cards A 5 J Q number 1 5 10 10 formula ( 10 - 1 ) * 10 / 5 fail numbers answer

Usage: ``fmt = get_format("compact"); grade(fmt, completion, hand, OOD_RULE).outcome``
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sftrl.config import FEEDBACK_MODES, check_value
from sftrl.errors import SftrlError
from sftrl.task.game import TARGET, Rule, normalize_card
from sftrl.task.verifier import FormulaError, Outcome, Verdict, tokenize_formula, verify_formula

#: the small model's whole vocabulary (sftrl.training.model builds its WordLevel tokenizer from it)
COMPACT_VOCAB: list[str] = [
    "<pad>", "<bos>", "<eos>", "<unk>", "rule", "cards", "answer", "number", "formula",
    "A", "J", "Q", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
    "+", "-", "*", "/", "(", ")",
    "fail", "value", "numbers", "illegal", "malformed",
]  # fmt: skip
COMPACT_SPECIAL = ("<pad>", "<bos>", "<eos>", "<unk>")  #: never part of a prompt or answer
#: the verifier's turn in the compact format: this word, then the outcome's word
COMPACT_FAIL = "fail"
#: one word per outcome category of a wrong answer (the verifier's reason, in the vocabulary)
COMPACT_FEEDBACK: dict[Outcome, str] = {
    Outcome.WRONG_VALUE: "value",
    Outcome.WRONG_NUMBERS: "numbers",
    Outcome.ILLEGAL: "illegal",
    Outcome.MALFORMED: "malformed",
}
#: tokens of the longest compact prompt (bos, rule with three two-digit values, four cards, answer)
COMPACT_PROMPT_TOKENS = 14
#: tokens the verifier's turn adds between two attempts ("fail <outcome> answer")
COMPACT_FEEDBACK_TOKENS = 3
MAX_COMPLETION_CHARS = 4000  #: parse looks no further into a completion (bounded work)
_MAX_JSON_CANDIDATES = 8  #: '{' positions tried before giving up on a chat completion


@dataclass(frozen=True)
class ParsedAnswer:
    """The fields found in a completion."""

    cards: tuple[str, ...] | None
    """The cards the model read, as written (None when absent)."""
    numbers: tuple[int, ...] | None
    """The values the model assigned (None when absent)."""
    formula: str
    """The formula text, to be checked by :func:`sftrl.task.verifier.verify_formula`."""
    strict: bool
    """True when cards, numbers and formula were all present."""


@runtime_checkable
class AnswerFormat(Protocol):
    """How a hand becomes a prompt, a solution becomes a completion, and back."""

    name: str

    def prompt(self, hand: Sequence[str], rule: Rule, tokenizer: Any = None) -> str: ...

    def answer(self, hand: Sequence[str], rule: Rule, formula: str, *, strict: bool = True) -> str: ...

    def parse(self, completion: str) -> ParsedAnswer | None: ...

    def feedback_turn(self, completion: str, verdict: Verdict, *, tokenizer: Any = None,
                      mode: str = "verifier") -> str: ...

    def retry_prompt(self, prompt: str, completion: str, verdict: Verdict, *, tokenizer: Any = None,
                     mode: str = "verifier") -> str: ...


def feedback(verdict: Verdict, mode: str = "verifier") -> str:
    """The verifier's message phrased as the multi-attempt protocol's reply to a wrong answer.

    ``mode="bare"`` leaves the reason out (an ablation: is it the reason that helps, or the
    second try?).
    """
    check_value("feedback", mode, FEEDBACK_MODES)
    if mode == "bare":
        return "Your answer is wrong. Try again."
    return (
        f"Your answer is wrong ({verdict.outcome.value.replace('_', ' ')}): {verdict.message}. "
        "Try again."
    )


def compact_context(attempts: int, max_new_tokens: int) -> int:
    """Positions an episode of ``attempts`` compact attempts can need: the longest prompt,
    every attempt at its token budget, and the verifier's turns between them."""
    return COMPACT_PROMPT_TOKENS + attempts * max_new_tokens + (attempts - 1) * COMPACT_FEEDBACK_TOKENS


# --------------------------------------------------------------------------- compact


def _compact_formula(formula: str) -> str:
    """Space-separated formula tokens; SftrlError when one is not a compact word."""
    try:
        tokens = tokenize_formula(formula)
    except FormulaError as exc:
        raise SftrlError(f"cannot write formula {formula!r} in the compact format: {exc.message}") from None
    bad = [t for t in tokens if t not in _VOCAB_SET]
    if bad:
        raise SftrlError(f"formula token {bad[0]!r} of {formula!r} is not in the compact vocabulary")
    return " ".join(tokens)


_VOCAB_SET = frozenset(COMPACT_VOCAB)


def _cards_text(hand: Sequence[str]) -> str:
    """Cards in hand order, ranks normalised ("a" -> "A"); SftrlError for a bad card."""
    return " ".join(normalize_card(c) for c in hand)


class CompactFormat:
    """Word-level prompts and answers for the project's small default model.

    Every prompt and answer is COMPACT_VOCAB words joined by single spaces, with no
    ``<bos>``/``<eos>`` (the tokenizer adds bos, training appends eos). A wrong attempt is
    followed by the verifier's turn, ``fail <outcome word>`` (:data:`COMPACT_FEEDBACK`),
    and ``answer`` (see :meth:`retry_prompt`).
    """

    name = "compact"

    def prompt(self, hand: Sequence[str], rule: Rule, tokenizer: Any = None) -> str:
        j, q, k = rule.face_values
        return f"rule J {j} Q {q} K {k} cards {_cards_text(hand)} answer"

    def answer(self, hand: Sequence[str], rule: Rule, formula: str, *, strict: bool = True) -> str:
        numbers = " ".join(str(v) for v in rule.values(hand))
        body = f"number {numbers} formula {_compact_formula(formula)}"
        return f"cards {_cards_text(hand)} {body}" if strict else body

    def parse(self, completion: str) -> ParsedAnswer | None:
        if not isinstance(completion, str):
            return None
        words = completion[:MAX_COMPLETION_CHARS].split()
        if "<eos>" in words:  # generation may run on after eos when it is not skipped
            words = words[: words.index("<eos>")]
        words = [w for w in words if w not in COMPACT_SPECIAL]
        if "formula" not in words:
            return None
        f_at = words.index("formula")
        head, formula = words[:f_at], " ".join(words[f_at + 1 :])
        cards: tuple[str, ...] | None = None
        numbers: tuple[int, ...] | None = None
        if head and head[0] == "cards":
            if "number" not in head:
                return None
            n_at = head.index("number")
            cards, number_words = tuple(head[1:n_at]), head[n_at + 1 :]
        elif head and head[0] == "number":
            number_words = head[1:]
        elif not head:
            number_words = None
        else:
            return None
        if number_words is not None:
            if not all(w.isascii() and w.isdigit() for w in number_words):
                return None
            numbers = tuple(int(w) for w in number_words)
        return ParsedAnswer(cards, numbers, formula, strict=cards is not None and numbers is not None)

    def feedback(self, verdict: Verdict, mode: str = "verifier") -> str:
        """``fail numbers`` (the verifier's category of a wrong answer), or ``fail`` when bare."""
        check_value("feedback", mode, FEEDBACK_MODES)
        if verdict.correct:
            raise SftrlError("a correct answer gets no feedback turn")
        return COMPACT_FAIL if mode == "bare" else f"{COMPACT_FAIL} {COMPACT_FEEDBACK[verdict.outcome]}"

    def feedback_turn(self, completion: str, verdict: Verdict, *, tokenizer: Any = None,
                      mode: str = "verifier") -> str:
        """The text between a wrong attempt and the next: `` fail numbers answer``."""
        return f" {self.feedback(verdict, mode)} answer"

    @staticmethod
    def attempt_text(completion: str) -> str:
        """A completion as the context keeps it: its vocabulary words before any ``<eos>``."""
        words = completion[:MAX_COMPLETION_CHARS].split()
        if "<eos>" in words:
            words = words[: words.index("<eos>")]
        return " ".join(w for w in words if w in _VOCAB_SET and w not in COMPACT_SPECIAL)

    def retry_prompt(self, prompt: str, completion: str, verdict: Verdict, *, tokenizer: Any = None,
                     mode: str = "verifier") -> str:
        """``prompt``, the attempt, then :meth:`feedback_turn`, which ends with ``answer``."""
        attempt = self.attempt_text(completion)
        return (f"{prompt} {attempt}" if attempt else prompt) + self.feedback_turn(completion, verdict, mode=mode)


# --------------------------------------------------------------------------- chat


def face_card_message(rule: Rule) -> str:
    """``'J', 'Q', and 'K' count as '10'`` (the papers' wording) for any face-card map."""
    j, q, k = rule.face_values
    if j == q == k:
        return f"'J', 'Q', and 'K' count as '{j}'"
    return f"'J', 'Q', and 'K' count as '{j}', '{q}', and '{k}' respectively"


_CHAT_TEMPLATE = """[Task Description]
You are an expert {target} points card game player. You will receive a set of 4 cards.
Note that {faces}, 'A' counts as '1', and each card must be used once.
Your goal is to output a formula that evaluates to {target} using the numbers from the cards and the operators '+', '-', '*', '/', '(' and ')'.

[Input]
Cards: {cards}

[Output]
Answer with one JSON object and nothing else:
{{
  "cards": [x, y, z, w], the cards as given,
  "number": [a, b, c, d], the numbers the cards count as,
  "formula": "an expression over those numbers that equals {target}, without '='"
}}
"""


def _first_json_object(text: str) -> dict | None:
    """The first ``{...}`` in ``text`` that json.loads into a dict (string-aware brace match)."""
    start = text.find("{")
    tried = 0
    while start != -1 and tried < _MAX_JSON_CANDIDATES:
        tried += 1
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        obj = json.loads(text[start : i + 1])
                    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nesting
                        obj = None
                    if isinstance(obj, dict):
                        return obj
                    break
        start = text.find("{", start + 1)
    return None


class ChatFormat:
    """The papers' text prompt and JSON answer, for Hugging Face chat LLMs."""

    name = "chat"

    def __init__(self, target: int = TARGET) -> None:
        self.target = target  #: the number the formula must reach (24 in both papers)
        self._equals_target = re.compile(rf"\s*=\s*{target}\s*$")

    def user_message(self, hand: Sequence[str], rule: Rule) -> str:
        """The prompt text before any chat template."""
        cards = "[" + ", ".join(f"'{normalize_card(c)}'" for c in hand) + "]"
        return _CHAT_TEMPLATE.format(target=self.target, faces=face_card_message(rule), cards=cards)

    def prompt(self, hand: Sequence[str], rule: Rule, tokenizer: Any = None) -> str:
        text = self.user_message(hand, rule)
        if tokenizer is not None and getattr(tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": text}]
            return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return text

    def answer(self, hand: Sequence[str], rule: Rule, formula: str, *, strict: bool = True) -> str:
        payload: dict[str, Any] = {"cards": [normalize_card(c) for c in hand]} if strict else {}
        payload["number"] = list(rule.values(hand))
        payload["formula"] = formula
        return json.dumps(payload)

    def parse(self, completion: str) -> ParsedAnswer | None:
        if not isinstance(completion, str):
            return None
        obj = _first_json_object(completion[:MAX_COMPLETION_CHARS])
        if obj is None or not isinstance(obj.get("formula"), str):
            return None
        # the papers' answers end with "= 24" ("an equation that equals 24"): accept that
        formula = self._equals_target.sub("", obj["formula"]).strip()
        cards = obj.get("cards")
        cards_t = tuple(str(c) for c in cards) if isinstance(cards, list) and cards else None
        numbers = obj.get("number")
        numbers_t = None
        if isinstance(numbers, list) and all(
            isinstance(n, int) and not isinstance(n, bool) for n in numbers
        ):
            numbers_t = tuple(numbers)
        return ParsedAnswer(cards_t, numbers_t, formula, strict=cards_t is not None and numbers_t is not None)

    def feedback_turn(self, completion: str, verdict: Verdict, *, tokenizer: Any = None,
                      mode: str = "verifier") -> str:
        """The text between a wrong ``completion`` and the next attempt: the end of the
        assistant turn, the verifier's feedback (:func:`feedback`) as the next user turn, and
        the cue for the assistant's reply.

        With a chat-template ``tokenizer`` the turns are rendered by the template (the part
        after a one-message conversation and the completion, which a template may trim of
        surrounding whitespace); otherwise, or when the template does not extend that prefix,
        the feedback is plain text between blank lines.
        """
        text = feedback(verdict, mode)
        if tokenizer is not None and getattr(tokenizer, "chat_template", None):
            first = [{"role": "user", "content": "PROMPT"}]
            base = tokenizer.apply_chat_template(first, add_generation_prompt=True, tokenize=False)
            turns = first + [{"role": "assistant", "content": completion}, {"role": "user", "content": text}]
            full = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
            for shown in (completion, completion.strip()):
                if full.startswith(base + shown):
                    return full[len(base) + len(shown):]
        return f"\n\n{text}\n\n"

    def retry_prompt(self, prompt: str, completion: str, verdict: Verdict, *, tokenizer: Any = None,
                     mode: str = "verifier") -> str:
        """``prompt + completion`` followed by :meth:`feedback_turn`."""
        return prompt + completion + self.feedback_turn(completion, verdict, tokenizer=tokenizer, mode=mode)


# --------------------------------------------------------------------------- grading

_FORMATS = {"compact": CompactFormat, "chat": ChatFormat}


def get_format(name: str) -> AnswerFormat:
    """``"compact"`` | ``"chat"``."""
    if name not in _FORMATS:
        raise SftrlError(f"unknown answer format {name!r}: use one of {', '.join(_FORMATS)}")
    return _FORMATS[name]()


def grade(
    fmt: AnswerFormat,
    completion: str,
    hand: Sequence[str],
    rule: Rule,
    *,
    require_strict: bool = True,
    target: int = TARGET,
) -> Verdict:
    """Verdict for one completion: format errors are MALFORMED ("format error: ...")."""
    parsed = fmt.parse(completion)
    if parsed is None:
        return Verdict(Outcome.MALFORMED, f"format error: no {fmt.name} answer with a formula found")
    if require_strict and not parsed.strict:
        missing = [n for n, v in (("cards", parsed.cards), ("number", parsed.numbers)) if v is None]
        return Verdict(Outcome.MALFORMED, f"format error: the answer lacks {' and '.join(missing)}")
    return verify_formula(parsed.formula, rule.values(hand), target)

