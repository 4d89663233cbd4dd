"""sftrl.task.prompts: compact and chat formats, parse round trips, grading, the retry protocol."""

from __future__ import annotations

import json
import random

import pytest

from sftrl.task import game
from sftrl.errors import SftrlError
from sftrl.task.prompts import (
    COMPACT_FAIL,
    COMPACT_FEEDBACK,
    COMPACT_PROMPT_TOKENS,
    COMPACT_VOCAB,
    compact_context,
    AnswerFormat,
    ChatFormat,
    CompactFormat,
    ParsedAnswer,
    face_card_message,
    get_format,
    grade,
)
from sftrl.task.game import ID_RULE, OOD_RULE, Rule
from sftrl.task.verifier import Outcome, verify_formula

HAND = ("A", "5", "J", "Q")
OOD_SOLUTION = "( 11 - 1 ) * 12 / 5"  # for HAND under OOD_RULE


def test_compact_strings_match_the_design():
    fmt = CompactFormat()
    assert fmt.prompt(HAND, OOD_RULE) == "rule J 11 Q 12 K 13 cards A 5 J Q answer"
    assert fmt.answer(HAND, OOD_RULE, OOD_SOLUTION) == (
        "cards A 5 J Q number 1 5 11 12 formula ( 11 - 1 ) * 12 / 5"
    )
    assert fmt.answer(HAND, OOD_RULE, "(11-1)*12/5", strict=False) == (
        "number 1 5 11 12 formula ( 11 - 1 ) * 12 / 5"
    )
    assert fmt.prompt(("a", "5", "j", "q"), ID_RULE) == "rule J 10 Q 10 K 10 cards A 5 J Q answer"


def test_compact_vocabulary_is_the_contract():
    assert COMPACT_VOCAB[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert len(COMPACT_VOCAB) == len(set(COMPACT_VOCAB)) == 37


def test_compact_text_uses_only_vocab_words():
    vocab = set(COMPACT_VOCAB) - {"<pad>", "<bos>", "<eos>", "<unk>"}
    fmt = CompactFormat()
    rng = random.Random(0)
    rules = [ID_RULE, OOD_RULE] + [game.random_rule(rng) for _ in range(30)]
    checked = 0
    for rule in rules:
        for hand in game.sample_hands(rule, 8, seed=rng.randrange(10**6)):
            for text in (fmt.prompt(hand, rule), *(fmt.answer(hand, rule, f) for f in game.solve(rule.values(hand))[:3])):
                assert text == " ".join(text.split())  # single spaces, no edges
                assert set(text.split()) <= vocab, text
                checked += 1
    assert checked > 500
    with pytest.raises(SftrlError, match="'24'"):
        fmt.answer(HAND, OOD_RULE, "24 * 1")
    with pytest.raises(SftrlError, match="'x'"):
        fmt.answer(HAND, OOD_RULE, "x")


@pytest.mark.parametrize("fmt", [CompactFormat(), ChatFormat()], ids=lambda f: f.name)
def test_round_trip_and_grading(fmt):
    assert isinstance(fmt, AnswerFormat)
    strict = fmt.answer(HAND, OOD_RULE, OOD_SOLUTION)
    parsed = fmt.parse(strict)
    assert parsed.cards == HAND and parsed.numbers == (1, 5, 11, 12) and parsed.strict
    assert verify_formula(parsed.formula, OOD_RULE.values(HAND)).correct
    assert grade(fmt, strict, HAND, OOD_RULE).outcome is Outcome.CORRECT
    # the same text under the ID rule is a wrong-numbers answer: the rule matters
    assert grade(fmt, strict, HAND, ID_RULE).outcome is Outcome.WRONG_NUMBERS

    loose = fmt.answer(HAND, OOD_RULE, OOD_SOLUTION, strict=False)
    parsed = fmt.parse(loose)
    assert parsed.cards is None and parsed.numbers == (1, 5, 11, 12) and not parsed.strict
    verdict = grade(fmt, loose, HAND, OOD_RULE)
    assert verdict.outcome is Outcome.MALFORMED and verdict.message.startswith("format error")
    assert "cards" in verdict.message
    assert grade(fmt, loose, HAND, OOD_RULE, require_strict=False).correct

    wrong = fmt.answer(HAND, OOD_RULE, "1 + 5 + 11 + 12")
    assert grade(fmt, wrong, HAND, OOD_RULE).outcome is Outcome.WRONG_VALUE
    for junk in ("", "hello", "cards A 5 J Q", "{}", "{'formula': '1'}", None):
        verdict = grade(fmt, junk, HAND, OOD_RULE)
        assert verdict.outcome is Outcome.MALFORMED and verdict.message.startswith("format error")


def test_every_true_solution_grades_correct_in_both_formats():
    for fmt in (CompactFormat(), ChatFormat()):
        for rule in (ID_RULE, OOD_RULE):
            for hand in game.sample_hands(rule, 15, seed=5, face_required=True):
                for formula in game.solve(rule.values(hand))[:5]:
                    assert grade(fmt, fmt.answer(hand, rule, formula), hand, rule).correct


def test_compact_parse_edge_cases():
    fmt = CompactFormat()
    text = "cards A 5 J Q number 1 5 11 12 formula ( 11 - 1 ) * 12 / 5"
    assert fmt.parse(text + " <eos> <pad> garbage") == fmt.parse(text)
    assert fmt.parse("  " + text.replace(" ", "  ") + " ") == fmt.parse(text)
    assert fmt.parse("formula 1 + 2") == ParsedAnswer(None, None, "1 + 2", strict=False)
    assert fmt.parse("cards A 5 J Q formula 1") is None  # cards without numbers
    assert fmt.parse("number A formula 1") is None
    assert fmt.parse("answer formula 1") is None
    assert fmt.parse("cards A 5 J Q number 1 5 11 12 formula") == ParsedAnswer(
        ("A", "5", "J", "Q"), (1, 5, 11, 12), "", strict=True
    )
    assert grade(fmt, "cards A 5 J Q number 1 5 11 12 formula", HAND, OOD_RULE).outcome is Outcome.MALFORMED


def test_chat_prompt_states_rule_cards_and_json():
    fmt = ChatFormat()
    text = fmt.prompt(HAND, OOD_RULE)
    assert "'J', 'Q', and 'K' count as '11', '12', and '13' respectively" in text
    assert "Cards: ['A', '5', 'J', 'Q']" in text
    assert all(key in text for key in ('"cards"', '"number"', '"formula"'))
    assert "count as '10'" in fmt.prompt(HAND, ID_RULE)
    assert face_card_message(game.get_rule("J=5,Q=7,K=9")) == "'J', 'Q', and 'K' count as '5', '7', and '9' respectively"
    answer = json.loads(fmt.answer(HAND, OOD_RULE, "(11-1)*12/5"))
    assert answer == {"cards": list(HAND), "number": [1, 5, 11, 12], "formula": "(11-1)*12/5"}


def test_chat_parse_is_robust():
    fmt = ChatFormat()
    body = '{"cards": ["A", "5", "J", "Q"], "number": [1, 5, 11, 12], "formula": "(11-1)*12/5"}'
    for text in (body, f"Sure!\n```json\n{body}\n```\nDone.", f"{{not json}} then {body}", f"{body} {{\"formula\": \"9\"}}"):
        parsed = fmt.parse(text)
        assert parsed is not None and parsed.formula == "(11-1)*12/5" and parsed.strict, text
    tricky = '{"cards": ["}"], "number": [1, 5, 11, 12], "formula": "(11-1)*12/5 = 24"}'
    parsed = fmt.parse(tricky)
    assert parsed.cards == ("}",) and parsed.formula == "(11-1)*12/5"  # the papers' "= 24" tail
    assert fmt.parse('{"formula": "1+2", "number": [1, "x"]}') == ParsedAnswer(None, None, "1+2", False)
    assert fmt.parse('{"formula": 24}') is None
    assert fmt.parse("{'formula': '(11-1)*12/5'}") is None  # not JSON; never eval'd
    assert fmt.parse('{"a": ' + "[" * 3000) is None  # deep nesting: no RecursionError
    assert fmt.parse('{"formula": "1"' + " " * 10_000 + "}") is None  # beyond the bounded window
    assert fmt.parse("x" * 100_000) is None


class _TemplateTokenizer:
    """A stand-in with a chat template (the real one is exercised below)."""

    chat_template = "fake"

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=True):
        assert tokenize is False
        text = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")


def test_chat_template_and_retry_protocol():
    fmt = ChatFormat()
    tok = _TemplateTokenizer()
    prompt = fmt.prompt(HAND, OOD_RULE, tokenizer=tok)
    assert prompt == f"<user>{fmt.user_message(HAND, OOD_RULE)}</user><assistant>"
    completion = '{"cards": ["A", "5", "J", "Q"], "number": [1, 5, 11, 12], "formula": "1+5+11+12"}'
    verdict = grade(fmt, completion, HAND, OOD_RULE)
    retry = fmt.retry_prompt(prompt, completion, verdict, tokenizer=tok)
    assert retry.startswith(prompt + completion + "</assistant><user>")
    assert "formula evaluates to 29, not 24" in retry and "Try again" in retry
    assert retry.endswith("</user><assistant>")
    plain = fmt.prompt(HAND, OOD_RULE)
    retry_plain = fmt.retry_prompt(plain, completion, verdict)
    assert retry_plain.startswith(plain + completion) and verdict.message in retry_plain
    # a second wrong attempt extends the transcript
    again = fmt.retry_prompt(retry_plain, completion, verdict)
    assert again.startswith(retry_plain) and again.count(verdict.message) == 2


def test_chat_template_with_a_real_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>")
    tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )
    fmt = ChatFormat()
    prompt = fmt.prompt(HAND, ID_RULE, tokenizer=tok)
    assert prompt.startswith("<|user|>\n[Task Description]") and prompt.endswith("<|assistant|>\n")
    verdict = grade(fmt, "no idea", HAND, ID_RULE)
    retry = fmt.retry_prompt(prompt, "no idea", verdict, tokenizer=tok)
    assert retry.startswith(prompt + "no idea<|end|>\n<|user|>\n") and retry.endswith("<|assistant|>\n")
    assert verdict.message in retry


def test_compact_retry_states_the_verifiers_category():
    fmt = CompactFormat()
    prompt = fmt.prompt(HAND, OOD_RULE)  # A 5 J Q: values 1 5 11 12
    cases = {
        "cards A 5 J Q number 1 5 10 10 formula ( 10 - 1 ) * 10 / 5": "numbers",  # J, Q read as 10
        "cards A 5 J Q number 1 5 11 12 formula 1 + 5 + 11 + 12": "value",  # 29
        "cards A 5 J Q number 1 5 11 12 formula": "malformed",
        "number 1 5 11 12 formula ( 11 - 1 ) * 12 / 5": "malformed",  # loose, strict required
    }
    for completion, word in cases.items():
        verdict = grade(fmt, completion, HAND, OOD_RULE)
        assert COMPACT_FEEDBACK[verdict.outcome] == word
        retry = fmt.retry_prompt(prompt, completion, verdict)
        assert retry == f"{prompt} {completion} fail {word} answer"
        assert all(w in COMPACT_VOCAB for w in retry.split())
        assert fmt.retry_prompt(prompt, completion, verdict, mode="bare") == f"{prompt} {completion} fail answer"
    # what follows an <eos> is not part of the attempt
    verdict = grade(fmt, "number 1 formula 1 <eos> 7 7", HAND, OOD_RULE)
    assert fmt.retry_prompt(prompt, "number 1 formula 1 <eos> 7 7", verdict).endswith("formula 1 fail malformed answer")
    with pytest.raises(SftrlError, match="feedback='loud'"):
        fmt.retry_prompt(prompt, "x", verdict, mode="loud")
    correct = grade(fmt, "cards A 5 J Q number 1 5 11 12 formula ( 11 - 1 ) * 12 / 5", HAND, OOD_RULE)
    with pytest.raises(SftrlError, match="no feedback"):
        fmt.feedback(correct)


def test_compact_feedback_has_a_word_for_every_wrong_outcome():
    wrong = [o for o in Outcome if o is not Outcome.CORRECT]
    assert sorted(COMPACT_FEEDBACK) == sorted(wrong)
    assert len(set(COMPACT_FEEDBACK.values())) == len(wrong)
    assert all(w in COMPACT_VOCAB for w in (*COMPACT_FEEDBACK.values(), COMPACT_FAIL))


def test_compact_context_holds_the_longest_episode():
    from sftrl.training.model import build_tokenizer

    tok = build_tokenizer()
    longest = fmt_prompt = CompactFormat().prompt(("10", "10", "Q", "K"), Rule("m", (13, 12, 11)))
    assert len(tok(fmt_prompt)["input_ids"]) == COMPACT_PROMPT_TOKENS
    verdict = grade(CompactFormat(), "x", ("10", "10", "Q", "K"), OOD_RULE)
    attempt = " ".join(["1"] * 20)
    for _ in range(4):
        longest = CompactFormat().retry_prompt(longest, attempt, verdict)
    longest += " " + attempt
    assert len(tok(longest)["input_ids"]) == compact_context(5, 20)


def test_get_format():
    assert get_format("compact").name == "compact" and get_format("chat").name == "chat"
    with pytest.raises(SftrlError, match="'json'"):
        get_format("json")
