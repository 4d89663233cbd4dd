"""The papers' protocol as one path: format, verifier, feedback and shaped reward together."""

from __future__ import annotations

import pytest

from sftrl.config import EvalConfig
from sftrl.errors import SftrlError
from sftrl.evaluation.evaluate import evaluate_hands, face_read_as_id
from sftrl.task.episode import Episode
from sftrl.task.game import ID_RULE, OOD_RULE
from sftrl.task.prompts import COMPACT_FEEDBACK, CompactFormat, grade

HAND = ("A", "5", "J", "Q")  # OOD values 1 5 11 12
RIGHT = "cards A 5 J Q number 1 5 11 12 formula ( 11 - 1 ) * 12 / 5"
FACE_AS_TEN = "cards A 5 J Q number 1 5 10 10 formula ( 10 - 1 ) * 10 / 5"  # wrong numbers
WRONG_VALUE = "cards A 5 J Q number 1 5 11 12 formula 1 + 5 + 11 + 12"
MALFORMED = "cards A 5 J Q"


def _scripted(answers):
    """A stand-in model: the i-th attempt of every hand answers answers[i]."""
    calls = []

    def generate_fn(model, tokenizer, prompts, **kwargs):
        calls.append(list(prompts))
        return [answers[len(calls) - 1]] * len(prompts)

    return generate_fn, calls


def test_wrong_then_right_is_solved_within_two_attempts_not_one():
    fmt = CompactFormat()
    for attempts, solved in ((1, 0), (2, 1), (5, 1)):
        gen, calls = _scripted([FACE_AS_TEN, RIGHT, RIGHT])
        res = evaluate_hands(None, None, fmt, [HAND], OOD_RULE, EvalConfig(attempts=attempts),
                             generate_fn=gen)
        assert res.correct == solved
        assert len(calls) == min(attempts, 2)  # a solved hand is not asked again
    assert res.accuracy_within(1) == 0.0 and res.accuracy_within(2) == 1.0
    assert res.records[0]["solved_at"] == 2
    assert res.first_outcomes()["wrong_numbers"] == 1


def test_feedback_after_each_wrong_attempt_is_that_attempts_category():
    fmt = CompactFormat()
    script = [FACE_AS_TEN, WRONG_VALUE, MALFORMED, RIGHT]
    gen, calls = _scripted(script)
    res = evaluate_hands(None, None, fmt, [HAND], OOD_RULE, EvalConfig(attempts=5), generate_fn=gen)
    assert res.records[0]["solved_at"] == 4
    prompt = fmt.prompt(HAND, OOD_RULE)
    for i, answer in enumerate(script[:-1]):
        word = COMPACT_FEEDBACK[grade(fmt, answer, HAND, OOD_RULE).outcome]
        # the context of attempt i+2 ends with attempt i+1 and the verifier's word for it
        assert calls[i + 1][0].endswith(f"{answer} fail {word} answer")
        assert calls[i + 1][0].startswith(prompt)
    assert [a["outcome"] for a in res.records[0]["attempts"]] == [
        "wrong_numbers", "wrong_value", "malformed", "correct"]


def test_episode_reward_is_the_sum_of_the_verifiers_shaped_grades():
    ep = Episode(CompactFormat(), HAND, OOD_RULE, attempts=5)
    for answer in (FACE_AS_TEN, WRONG_VALUE, RIGHT):
        ep.step(answer)
    assert ep.done and ep.solved_at == 3
    assert ep.reward("shaped") == -2 - 1 + 5
    assert ep.reward("binary") == 1.0
    with pytest.raises(SftrlError, match="episode is over"):
        ep.step(RIGHT)
    unsolved = Episode(CompactFormat(), HAND, OOD_RULE, attempts=2)
    unsolved.step(MALFORMED)
    unsolved.step(MALFORMED)
    assert unsolved.done and not unsolved.solved and unsolved.reward("shaped") == -6
    assert unsolved.reward("binary") == 0.0


@pytest.mark.parametrize("bad", [0, 11, -1, 2.5, True])
def test_attempts_out_of_range_is_one_clear_error(bad):
    with pytest.raises(SftrlError, match="attempts"):
        EvalConfig(attempts=bad)
    with pytest.raises(SftrlError, match="attempts"):
        Episode(CompactFormat(), HAND, OOD_RULE, attempts=bad)


def test_unknown_feedback_or_reward_mode_is_rejected():
    with pytest.raises(SftrlError, match="eval_feedback='none'"):
        EvalConfig(feedback="none")
    ep = Episode(CompactFormat(), HAND, OOD_RULE)
    with pytest.raises(SftrlError, match="reward='ppo'"):
        ep.reward("ppo")


def test_rule_reading_diagnostic_counts_face_cards_given_the_id_value():
    fmt = CompactFormat()
    gen, _ = _scripted([FACE_AS_TEN])
    hands = [HAND, ("A", "2", "3", "4")]  # the second has no face card: not counted
    res = evaluate_hands(None, None, fmt, hands, OOD_RULE, EvalConfig(attempts=1), generate_fn=gen)
    assert face_read_as_id(fmt, res.records, OOD_RULE) == (1, 1)
    gen, _ = _scripted([RIGHT])
    res = evaluate_hands(None, None, fmt, [HAND], OOD_RULE, EvalConfig(attempts=1), generate_fn=gen)
    assert face_read_as_id(fmt, res.records, OOD_RULE) == (0, 1)
    # under the ID rule a face card is 10: nothing to misread
    assert face_read_as_id(fmt, res.records, ID_RULE) == (0, 0)
