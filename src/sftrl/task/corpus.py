"""Datasets of the three stages, built from the GeneralPoints task.

Hand sets (all fixed by one seed, see :func:`splits`):

* ``sft`` / ``rl``: ID-rule hands for SFT and for RL prompts, disjoint by *value multiset*;
* ``id_sft``: ID-rule hands drawn from the SFT hands, as paper A draws its ID test hands
  from the generator of its SFT data (so value multisets may have been seen in SFT);
  the claim "ID accuracy keeps rising" is judged on these;
* ``id_eval``: ID-rule hands whose value multisets appear in neither, so ID accuracy
  measures generalisation rather than memory (a prototype found that holding out by card
  hand only lets ID accuracy saturate by memorisation): the stricter test;
* ``ood_eval``: hands with at least one face card, solvable under the OOD rule
  (J=11, Q=12, K=13), as in GeneralPoints;
* ``ood_pretrain``: the other OOD hands, the only ones the pretraining corpus states under
  the OOD map — so no OOD evaluation hand is ever seen with its OOD answer.

Usage: ``s = splits(42); sft_examples(cfg.sft, fmt, s.sft)``
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sftrl.task import game
from sftrl.config import PretrainConfig, SFTConfig
from sftrl.task.episode import Episode
from sftrl.task.prompts import AnswerFormat
from sftrl.task.verifier import Outcome, verify_formula

#: the kinds of wrong attempt a revision transcript may show, each with its verifier outcome
WRONG_KINDS: dict[str, Outcome] = {
    "misread": Outcome.WRONG_NUMBERS,  # a value misread (a face card as 10 when the rule differs)
    "miscalculated": Outcome.WRONG_VALUE,  # the right numbers, a formula that misses 24
    "illegal": Outcome.ILLEGAL,  # a card letter written into the formula
    "malformed": Outcome.MALFORMED,  # the answer stops before its formula
}


@dataclass(frozen=True)
class Splits:
    """The fixed hand sets of a study (see the module docstring)."""

    sft: tuple[game.Hand, ...]
    rl: tuple[game.Hand, ...]
    id_sft: tuple[game.Hand, ...]
    id_eval: tuple[game.Hand, ...]
    ood_eval: tuple[game.Hand, ...]
    ood_pretrain: tuple[game.Hand, ...]

    def sizes(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("sft", "rl", "id_sft", "id_eval", "ood_eval", "ood_pretrain")}


def _order(hand: game.Hand) -> list[int]:
    return [game.RANKS.index(c) for c in hand]


def _by_values(hands: Sequence[game.Hand], rule: game.Rule, fraction: float, seed: int
               ) -> tuple[list[game.Hand], list[game.Hand]]:
    """Split hands into (rest, held) so that no value multiset is on both sides."""
    groups: dict[tuple[int, ...], list[game.Hand]] = {}
    for hand in hands:
        groups.setdefault(tuple(sorted(rule.values(hand))), []).append(hand)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n_held = round(len(keys) * fraction)
    held = [h for k in keys[:n_held] for h in groups[k]]
    rest = [h for k in keys[n_held:] for h in groups[k]]
    return sorted(rest, key=_order), sorted(held, key=_order)


@functools.lru_cache(maxsize=8)
def splits(seed: int = 42, rl_fraction: float = 0.3, ood_eval_fraction: float = 0.5) -> Splits:
    """The study's hand sets, deterministic in ``seed``."""
    base = game.make_split(seed=seed)
    sft, rl = _by_values(base.train, game.ID_RULE, rl_fraction, seed + 1)
    ood_pretrain, ood_eval = _by_values(base.ood_eval, game.OOD_RULE, ood_eval_fraction, seed + 2)
    # as many hands as the held-out ID set, for the same precision
    id_sft = sorted(random.Random(seed + 4).sample(sft, min(len(base.id_eval), len(sft))), key=_order)
    return Splits(sft=tuple(sft), rl=tuple(rl), id_sft=tuple(id_sft), id_eval=tuple(base.id_eval),
                  ood_eval=tuple(ood_eval), ood_pretrain=tuple(ood_pretrain))


def halves(hands: Sequence[game.Hand], rule: game.Rule, seed: int) -> tuple[list[game.Hand], list[game.Hand]]:
    """Two disjoint halves of a hand set, split by value multiset (RL runs on other data)."""
    return _by_values(hands, rule, 0.5, seed + 3)


def _completion(fmt: AnswerFormat, hand: game.Hand, rule: game.Rule, formula: str, strict: bool) -> str:
    # trl concatenates prompt and completion *strings*: the compact format's leading space
    # keeps the word-level tokens apart. A chat answer starts its own turn, with no space, as
    # the model then writes it: an attempt's tokens are those of the text the episode keeps
    answer = fmt.answer(hand, rule, formula, strict=strict)
    return " " + answer if fmt.name == "compact" else answer


def _example(fmt: AnswerFormat, hand: game.Hand, rule: game.Rule, formula: str, strict: bool,
             tokenizer=None) -> dict[str, str]:
    return {"prompt": fmt.prompt(hand, rule, tokenizer), "completion": _completion(fmt, hand, rule, formula, strict)}


def sft_examples(cfg: SFTConfig, fmt: AnswerFormat, hands: Sequence[game.Hand], tokenizer=None
                 ) -> list[dict[str, str]]:
    """ID-rule, strict-format examples: one per hand, or one per distinct solution."""
    rng = random.Random(cfg.seed)
    out = []
    for hand in hands:
        solutions = game.solve(game.ID_RULE.values(hand))
        if cfg.targets == "canonical":
            chosen = solutions[:1]
        else:
            chosen = rng.sample(solutions, min(cfg.max_solutions, len(solutions)))
        out += [_example(fmt, hand, game.ID_RULE, f, strict=True, tokenizer=tokenizer) for f in chosen]
    rng.shuffle(out)
    return out


def _misread(hand: game.Hand, rule: game.Rule, rng: random.Random) -> tuple[int, ...]:
    """Values a careless reader gives the hand: face cards as 10 when the rule says
    otherwise (the ID habit), else one value replaced by a neighbour."""
    values = list(rule.values(hand))
    faces = [i for i, c in enumerate(hand) if c in game.FACES and values[i] != 10]
    if faces and rng.random() < 0.7:
        for i in faces:
            values[i] = 10
    else:
        i = rng.randrange(4)
        values[i] = rng.choice([v for v in (values[i] - 1, values[i] + 1) if game.MIN_VALUE <= v <= game.MAX_VALUE])
    return tuple(values)


def _any_formula(values: Sequence[int], rng: random.Random) -> str:
    """A formula over ``values`` in a random order with random operators (any value)."""
    order = list(values)
    rng.shuffle(order)
    a, b, c, d = (str(v) for v in order)
    op = [rng.choice("+-*") for _ in range(3)]
    return rng.choice([f"{a} {op[0]} {b} {op[1]} {c} {op[2]} {d}",
                       f"( {a} {op[0]} {b} ) {op[1]} ( {c} {op[2]} {d} )",
                       f"( {a} {op[0]} {b} {op[1]} {c} ) {op[2]} {d}"])


def wrong_attempt(kind: str, fmt: AnswerFormat, hand: game.Hand, rule: game.Rule, rng: random.Random) -> str:
    """A strict answer to ``hand`` under ``rule`` that is wrong in the way ``kind`` names
    (:data:`WRONG_KINDS`); the verifier's outcome for it is ``WRONG_KINDS[kind]``."""
    values = rule.values(hand)
    cards = " ".join(hand)
    if kind == "misread":
        read = _misread(hand, rule, rng)
        solutions = game.solve(read)
        formula = rng.choice(solutions) if solutions else _any_formula(read, rng)
        body = f"number {' '.join(map(str, read))} formula {fmt.answer(hand, rule, formula).split(' formula ')[1]}"
        return f"cards {cards} {body}"
    if kind == "miscalculated":
        for _ in range(20):
            formula = _any_formula(values, rng)
            if verify_formula(formula, values).outcome is Outcome.WRONG_VALUE:
                return fmt.answer(hand, rule, formula)
        return fmt.answer(hand, rule, f"{values[0]} - {values[0]} + {values[1]} * 0 * {values[2]} * {values[3]}")
    right = fmt.answer(hand, rule, rng.choice(game.solve(values)))
    if kind == "illegal":
        face = next((c for c in hand if c in game.FACES), "A")
        number = str(rule.value(face))
        head, formula = right.split(" formula ")
        words = formula.split()
        at = words.index(number) if number in words else next(i for i, w in enumerate(words) if w.isdigit())
        words[at] = face
        return f"{head} formula {' '.join(words)}"
    if kind == "malformed":
        return right.split(" formula ")[0]
    raise ValueError(f"unknown kind of wrong attempt {kind!r}")


def revision_example(fmt: AnswerFormat, hand: game.Hand, rule: game.Rule, formula: str, n_wrong: int,
                     rng: random.Random, *, strict: bool = True) -> dict[str, str]:
    """A revision transcript: ``n_wrong`` wrong attempts of random kinds, each answered by the
    verifier's turn (the same :class:`~sftrl.task.episode.Episode` path evaluation uses),
    then the correct answer, the only part that carries the loss."""
    ep = Episode(fmt, hand, rule, attempts=n_wrong + 1)
    for _ in range(n_wrong):
        ep.step(wrong_attempt(rng.choice(list(WRONG_KINDS)), fmt, hand, rule, rng))
    return {"prompt": ep.context, "completion": _completion(fmt, hand, rule, formula, strict)}


def pretrain_examples(cfg: PretrainConfig, fmt: AnswerFormat, s: Splits) -> list[dict[str, str]]:
    """The mixed-rule corpus: ID map on SFT/RL hands, OOD map on ``ood_pretrain`` hands,
    random face-card maps on any hand; strict or loose format independent of the rule.

    A share ``cfg.revision_fraction`` of the examples are revision transcripts
    (:func:`revision_example`): the base learns to read the verifier's reply and correct
    itself, as a pretrained chat LLM can before it meets the papers' protocol."""
    rng = random.Random(cfg.seed)
    id_hands = list(s.sft) + list(s.rl)
    ood_hands = list(s.ood_pretrain)
    all_cards = game.all_hands(game.ID_RULE, solvable=False)
    face_cards = [h for h in all_cards if any(c in game.FACES for c in h)]
    plain_cards = [h for h in all_cards if not any(c in game.FACES for c in h)]
    p_id, p_ood, _ = cfg.rule_mix
    out: list[dict[str, str]] = []
    while len(out) < cfg.corpus_size:
        u = rng.random()
        if u < p_id:
            rule, hand = game.ID_RULE, rng.choice(id_hands)
        elif u < p_id + p_ood:
            rule, hand = game.OOD_RULE, rng.choice(ood_hands)
        else:
            rule = game.random_rule(rng)
            pool = face_cards if rng.random() < cfg.face_fraction else plain_cards
            hand = rng.choice(pool)
        solutions = game.solve(rule.values(hand))
        if not solutions:
            continue
        formula, strict = rng.choice(solutions), rng.random() < cfg.strict_fraction
        if rng.random() < cfg.revision_fraction:
            out.append(revision_example(fmt, hand, rule, formula, rng.randint(1, cfg.max_wrong), rng, strict=strict))
        else:
            out.append(_example(fmt, hand, rule, formula, strict=strict))
    return out


def rl_prompts(fmt: AnswerFormat, hands: Sequence[game.Hand], rule: game.Rule, tokenizer=None
               ) -> list[dict[str, str]]:
    """GRPO's dataset: the prompt text plus the hand and rule the reward needs."""
    return [{"prompt": fmt.prompt(h, rule, tokenizer), "hand": " ".join(h), "rule": rule.name} for h in hands]
