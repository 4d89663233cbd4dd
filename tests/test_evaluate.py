"""Wilson intervals, batched generation, and evaluation on scripted and tiny real models."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from sftrl.errors import SftrlError
from sftrl.config import EvalConfig
from sftrl.evaluation.evaluate import EvalResult, evaluate_hands, generate, paired_difference, wilson_interval
from sftrl.training.model import SmallModelConfig, build_model, build_tokenizer
from sftrl.task.prompts import ChatFormat, CompactFormat
from sftrl.task.game import OOD_RULE, sample_hands, solve
from sftrl.task.verifier import Outcome, verify_formula

TINY = SmallModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2)


# --------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize("k, n, lo, hi", [
    (0, 10, 0.0, 0.2775),
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (1, 1, 0.2065, 1.0),
    (20, 100, 0.1333, 0.2888),
])
def test_wilson_known_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_bounds_solve_the_score_equation():
    # the Wilson bounds are the proportions pi with |p - pi| = z * sqrt(pi (1 - pi) / n)
    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(1, 500)
        k = rng.randint(1, n - 1) if n > 1 else 1
        if k == n:
            continue
        p, z = k / n, 1.96
        lo, hi = wilson_interval(k, n, z)
        assert lo < p < hi
        for pi in (lo, hi):
            assert abs(p - pi) == pytest.approx(z * math.sqrt(pi * (1 - pi) / n), rel=1e-9)


def test_wilson_wider_for_larger_z_and_edges_exact():
    assert wilson_interval(0, 7)[0] == 0.0 and wilson_interval(7, 7)[1] == 1.0
    lo90, hi90 = wilson_interval(3, 20, z=1.645)
    lo95, hi95 = wilson_interval(3, 20)
    assert lo95 < lo90 and hi90 < hi95


@pytest.mark.parametrize("k, n", [(0, 0), (3, 2), (-1, 5)])
def test_wilson_rejects_impossible_counts(k, n):
    with pytest.raises(SftrlError, match=f"n={n}"):
        wilson_interval(k, n)


def test_paired_difference_known_values():
    mean, (lo, hi) = paired_difference([[1, 0, 1, 1]], [0, 0, 1, 1])  # d = 1, 0, 0, 0: sd 0.5
    assert mean == pytest.approx(0.25) and (lo, hi) == pytest.approx((0.25 - 0.49, 0.25 + 0.49))
    assert paired_difference([[1, 0, 1]], [1, 0, 1]) == (0.0, (0.0, 0.0))  # the same grades: no change
    mean, _ = paired_difference([[1, 1], [0, 1]], [0, 1])  # two seeds averaged per hand: d = 0.5, 0
    assert mean == pytest.approx(0.25)
    with pytest.raises(SftrlError, match="equal-length"):
        paired_difference([[1, 0]], [1, 0, 1])
    with pytest.raises(SftrlError, match=">= 2 hands"):
        paired_difference([[1]], [0])


def test_paired_interval_is_narrower_than_two_wilson_intervals_when_models_mostly_agree():
    rng = random.Random(1)
    before = [int(rng.random() < 0.2) for _ in range(400)]
    after = [b if rng.random() < 0.95 else 1 - b for b in before]  # 5% of the hands change
    mean, (lo, hi) = paired_difference([after], before)
    wilson_sum = sum((h - l) / 2 for l, h in (wilson_interval(sum(x), 400) for x in (before, after)))
    assert (hi - lo) / 2 < wilson_sum / 2
    assert mean == pytest.approx((sum(after) - sum(before)) / 400)


# --------------------------------------------------------------------------- scripted model


@pytest.fixture(scope="module")
def hands():
    return sample_hands(OOD_RULE, 10, seed=0, face_required=True)


def _correct(fmt, hand, rule=OOD_RULE, *, strict=True):
    return fmt.answer(hand, rule, solve(rule.values(hand))[0], strict=strict)


def _wrong_value(fmt, hand, rule=OOD_RULE):
    """Right numbers, a formula that does not reach 24."""
    a, b, c, d = rule.values(hand)
    for formula in (f"{a} + {b} + {c} + {d}", f"{a} * {b} * {c} * {d}", f"{a} - {b} - {c} - {d}"):
        if verify_formula(formula, (a, b, c, d)).outcome is Outcome.WRONG_VALUE:
            return fmt.answer(hand, rule, formula)
    raise AssertionError(hand)


def _scripted(table: dict[str, str], calls: list[list[str]] | None = None):
    """A generate_fn that answers every context with ``table``'s entry for the first prompt
    it starts with (the scripted fake model: the same answer at every attempt)."""
    def fake_generate(model, tokenizer, prompts, *, max_new_tokens, batch_size, temperature=0.0, seed=0):
        if calls is not None:
            calls.append(list(prompts))
        return [next(v for k, v in table.items() if p.startswith(k)) for p in prompts]
    return fake_generate


def test_scripted_model_accuracy_outcomes_and_ci(hands):
    fmt = CompactFormat()
    prompts = [fmt.prompt(h, OOD_RULE) for h in hands]
    table = {}
    for i, (hand, prompt) in enumerate(zip(hands, prompts)):
        if i < 6:
            table[prompt] = _correct(fmt, hand)
        elif i == 6:
            table[prompt] = _wrong_value(fmt, hand)
        elif i == 7:
            table[prompt] = _correct(fmt, hand, strict=False)  # loose: a format error when strict
        elif i == 8:
            table[prompt] = "number 1 2 3"  # no formula at all
        else:
            table[prompt] = _correct(fmt, hands[0])  # another hand's answer: wrong numbers
    result = evaluate_hands(None, None, fmt, hands, "ood", EvalConfig(attempts=1), generate_fn=_scripted(table))
    assert isinstance(result, EvalResult)
    assert (result.rule, result.n, result.correct, result.accuracy) == ("ood", 10, 6, 0.6)
    assert result.ci == wilson_interval(6, 10)
    assert result.outcomes == {"correct": 6, "wrong_value": 1, "wrong_numbers": 1,
                               "illegal_characters": 0, "malformed": 2}
    assert result.format_error_rate == pytest.approx(0.2)
    assert result.hands_per_s > 0
    assert [r["correct"] for r in result.records] == [True] * 6 + [False] * 4
    assert [r["solved_at"] for r in result.records[:7]] == [1] * 6 + [None]
    assert result.records[7]["attempts"][0]["message"].startswith("format error")
    # the loose answer counts once strictness is not required
    loose = evaluate_hands(None, None, fmt, hands, OOD_RULE, EvalConfig(attempts=1, require_strict=False),
                           generate_fn=_scripted(table))
    assert loose.correct == 7 and loose.format_error_rate == pytest.approx(0.1)
    # json-serialisable, records optional
    d = json.loads(json.dumps(result.to_dict()))
    assert d["ci"] == list(result.ci) and len(d["records"]) == 10
    assert "records" not in result.to_dict(records=False)


def test_papers_protocol_counts_a_hand_solved_on_the_retry(hands):
    """A model that is right only after seeing the verifier's feedback: 0% at 1 attempt, 100% at 2."""
    fmt = ChatFormat()
    first = {fmt.prompt(h, OOD_RULE): h for h in hands}

    def fake_generate(model, tokenizer, prompts, *, max_new_tokens, batch_size, temperature=0.0, seed=0):
        out = []
        for p in prompts:
            hand = next(h for q, h in first.items() if p.startswith(q))
            # the retry prompt holds the first answer and the verifier's message
            out.append(_correct(fmt, hand) if "Try again." in p else _wrong_value(fmt, hand))
        return out

    one = evaluate_hands(None, None, fmt, hands, OOD_RULE, EvalConfig(attempts=1), generate_fn=fake_generate)
    two = evaluate_hands(None, None, fmt, hands, OOD_RULE, EvalConfig(attempts=2), generate_fn=fake_generate)
    assert one.accuracy == 0.0 and one.outcomes["wrong_value"] == 10
    assert two.accuracy == 1.0 and two.outcomes["correct"] == 10 and two.attempts == 2
    assert all(r["solved_at"] == 2 for r in two.records)
    retry = two.records[0]["attempts"][1]["prompt"]
    assert two.records[0]["attempts"][0]["completion"] in retry
    assert two.records[0]["attempts"][0]["message"] in retry
    assert two.format_error_rate == 0.0


def test_only_wrong_hands_are_retried(hands):
    fmt = CompactFormat()
    calls: list[list[str]] = []
    n_calls = {"n": 0}

    def fake_generate(model, tokenizer, prompts, **kwargs):
        # right for even hands at once, for odd hands on the third call (like sampling anew)
        calls.append(list(prompts))
        n_calls["n"] += 1
        out = []
        for p in prompts:
            i = next(j for j, h in enumerate(hands) if p.startswith(fmt.prompt(h, OOD_RULE)))
            ok = i % 2 == 0 or n_calls["n"] >= 3
            out.append(_correct(fmt, hands[i]) if ok else "garbage")
        return out

    res = evaluate_hands(None, None, fmt, hands, OOD_RULE, EvalConfig(attempts=5), generate_fn=fake_generate)
    assert [len(c) for c in calls] == [10, 5, 5]  # stops once every hand is solved
    assert res.accuracy == 1.0 and res.format_error_rate == 0.5
    assert [r["solved_at"] for r in res.records] == [1, 3] * 5
    res2 = evaluate_hands(None, None, fmt, hands, OOD_RULE, EvalConfig(attempts=2),
                          generate_fn=_scripted({fmt.prompt(h, OOD_RULE): "garbage" for h in hands}))
    assert res2.accuracy == 0.0 and res2.outcomes["malformed"] == 10
    assert all(len(r["attempts"]) == 2 for r in res2.records)


@pytest.mark.parametrize("kwargs, word", [
    (dict(attempts=0), "attempts"), (dict(batch_size=0), "batch_size"),
    (dict(temperature=-1.0), "temperature"), (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_hands=-1), "max_hands"), (dict(temperature=float("nan")), "temperature"),
])
def test_bad_eval_config(kwargs, word):
    with pytest.raises(SftrlError, match=word):
        EvalConfig(**kwargs)


def test_evaluate_hands_without_a_config_keeps_its_own_defaults(hands):
    """No ``cfg``: 256 prompts per batch, 40 new tokens, greedy, seed 0 (the settings
    evaluate_hands had before the one EvalConfig, whose own defaults are 512 and 32), and
    the papers' 5 attempts, attempt i sampling with seed i."""
    fmt = CompactFormat()
    seen = []

    def fake_generate(model, tokenizer, prompts, *, max_new_tokens, batch_size, temperature=0.0, seed=0):
        seen.append((max_new_tokens, batch_size, temperature, seed))
        return ["garbage"] * len(prompts)

    res = evaluate_hands(None, None, fmt, hands[:4], OOD_RULE, generate_fn=fake_generate)
    assert seen == [(40, 256, 0.0, i) for i in range(5)] and res.attempts == 5
    assert (EvalConfig().batch_size, EvalConfig().max_new_tokens) == (512, 32)


def test_no_hands_is_a_user_error():
    with pytest.raises(SftrlError, match="no hands"):
        evaluate_hands(None, None, CompactFormat(), [], OOD_RULE, generate_fn=_scripted({}))


# --------------------------------------------------------------------------- generate()


class _EchoModel(torch.nn.Module):
    """Emits a fixed continuation per prompt: the prompt's last real token, eos, then junk."""

    def __init__(self, eos_id: int, junk_id: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.generation_config = type("GC", (), {"eos_token_id": eos_id})()
        self.eos_id, self.junk_id = eos_id, junk_id
        self.batch_sizes: list[int] = []

    def generate(self, input_ids, attention_mask, max_new_tokens, **kwargs):
        assert kwargs["use_cache"] is True and kwargs["do_sample"] is False
        assert (attention_mask[:, -1] == 1).all()  # left padding: every row ends in a real token
        self.batch_sizes.append(input_ids.shape[0])
        last = input_ids[:, -1:]
        tail = torch.tensor([[self.eos_id, self.junk_id]]).expand(input_ids.shape[0], 2)
        return torch.cat([input_ids, last, tail], dim=1)[:, : input_ids.shape[1] + max_new_tokens]


def test_generate_restores_order_and_cuts_at_eos():
    tok = build_tokenizer()
    model = _EchoModel(tok.eos_token_id, tok.convert_tokens_to_ids("K"))
    prompts = ["rule A", "rule J 11 Q 12 2", "3", "rule 4 4", "cards 5", "( 6"]
    out = generate(model, tok, prompts, max_new_tokens=5, batch_size=4)
    assert out == ["A", "2", "3", "4", "5", "6"]
    assert model.batch_sizes == [4, 2]
    assert generate(model, tok, [], max_new_tokens=5, batch_size=4) == []


@pytest.fixture(scope="module")
def tiny():
    tok = build_tokenizer()
    return build_model(TINY, tok, seed=0), tok


def test_batched_generation_equals_unbatched(tiny):
    model, tok = tiny
    prompts = [
        "rule J 11 Q 12 K 13 cards A 5 J Q answer",
        "cards A",
        "rule J 10 Q 10 K 10 cards 3 3 8 8 answer",
        "number 1 2",
        "formula ( 3 + 4 ) *",
        "rule",
        "rule J 5 Q 7 K 9 cards 2 J Q K answer",
    ]
    batched = generate(model, tok, prompts, max_new_tokens=12, batch_size=3)
    alone = [generate(model, tok, [p], max_new_tokens=12, batch_size=1)[0] for p in prompts]
    assert batched == alone
    assert any(batched)  # the random model does produce tokens
    assert all(len(c.split()) <= 12 for c in batched)


def test_sampling_is_seeded(tiny):
    model, tok = tiny
    prompts = ["rule J 11 Q 12 K 13 cards A 5 J Q answer"] * 4
    a = generate(model, tok, prompts, max_new_tokens=10, batch_size=4, temperature=1.0, seed=3)
    b = generate(model, tok, prompts, max_new_tokens=10, batch_size=4, temperature=1.0, seed=3)
    c = generate(model, tok, prompts, max_new_tokens=10, batch_size=4, temperature=1.0, seed=4)
    assert a == b and a != c
    assert len(set(a)) > 1  # rows sample independently


def test_evaluate_hands_end_to_end_on_a_tiny_model(tiny, hands):
    model, tok = tiny
    fmt = CompactFormat()
    res = evaluate_hands(model, tok, fmt, hands[:8], OOD_RULE, EvalConfig(batch_size=3, max_new_tokens=20))
    assert res.n == 8 and sum(res.outcomes.values()) == 8
    assert 0.0 <= res.accuracy <= 1.0 and res.ci[0] <= res.accuracy <= res.ci[1]
    expected = generate(model, tok, [fmt.prompt(h, OOD_RULE) for h in hands[:8]], max_new_tokens=20, batch_size=8)
    assert [r["attempts"][0]["completion"] for r in res.records] == expected
    assert res.outcomes[Outcome.MALFORMED.value] == round(res.format_error_rate * 8)


def test_sampled_evaluation_is_seeded(tiny, hands):
    model, tok = tiny
    fmt = CompactFormat()
    runs = [evaluate_hands(model, tok, fmt, hands[:6], OOD_RULE, EvalConfig(attempts=3, temperature=1.0, seed=s,
                                                                            max_new_tokens=12))
            for s in (5, 5, 6)]
    texts = [[a["completion"] for r in res.records for a in r["attempts"]] for res in runs]
    assert texts[0] == texts[1] and texts[0] != texts[2]
