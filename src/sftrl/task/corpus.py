"""Datasets of the three stages, built from the GeneralPoints task.

Hand sets (all fixed by one seed, see :func:`splits`):

* ``sft`` / ``rl``: ID-rule hands for SFT and for RL prompts, disjoint by *value multiset*;
* ``id_eval``: ID-rule hands whose value multisets appear in neither, so ID accuracy
  measures generalisation rather than memory (a prototype found that holding out by card
  hand only lets ID accuracy saturate by memorisation);
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
from sftrl.task.prompts import AnswerFormat


@dataclass(frozen=True)
class Splits:
    """The fixed hand sets of a study (see the module docstring)."""

    sft: tuple[game.Hand, ...]
    rl: tuple[game.Hand, ...]
    id_eval: tuple[game.Hand, ...]
    ood_eval: tuple[game.Hand, ...]
    ood_pretrain: tuple[game.Hand, ...]

    def sizes(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("sft", "rl", "id_eval", "ood_eval", "ood_pretrain")}


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
    return Splits(sft=tuple(sft), rl=tuple(rl), id_eval=tuple(base.id_eval),
                  ood_eval=tuple(ood_eval), ood_pretrain=tuple(ood_pretrain))


def halves(hands: Sequence[game.Hand], rule: game.Rule, seed: int) -> tuple[list[game.Hand], list[game.Hand]]:
    """Two disjoint halves of a hand set, split by value multiset (RL runs on other data)."""
    return _by_values(hands, rule, 0.5, seed + 3)


def _example(fmt: AnswerFormat, hand: game.Hand, rule: game.Rule, formula: str, strict: bool,
             tokenizer=None) -> dict[str, str]:
    # trl concatenates prompt and completion *strings*: the leading space keeps the
    # word-level tokens apart (a chat format's answer starts its own turn anyway)
    return {"prompt": fmt.prompt(hand, rule, tokenizer), "completion": " " + fmt.answer(hand, rule, formula, strict=strict)}


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


def pretrain_examples(cfg: PretrainConfig, fmt: AnswerFormat, s: Splits) -> list[dict[str, str]]:
    """The mixed-rule corpus: ID map on SFT/RL hands, OOD map on ``ood_pretrain`` hands,
    random face-card maps on any hand; strict or loose format independent of the rule."""
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
        out.append(_example(fmt, hand, rule, rng.choice(solutions), strict=rng.random() < cfg.strict_fraction))
    return out


def rl_prompts(fmt: AnswerFormat, hands: Sequence[game.Hand], rule: game.Rule, tokenizer=None
               ) -> list[dict[str, str]]:
    """GRPO's dataset: the prompt text plus the hand and rule the reward needs."""
    return [{"prompt": fmt.prompt(h, rule, tokenizer), "hand": " ".join(h), "rule": rule.name} for h in hands]
