"""GeneralPoints ("make 24"): cards, face-card rules, an exact solver, hand samplers, splits.

A hand is four cards of rank A, 2..10, J, Q, K. The rule written in the prompt says what
J, Q and K are worth (ID: all 10; OOD: 11, 12, 13; or any map, used for pretraining). The
goal is an arithmetic expression over ``+ - * /`` and parentheses that uses each card's
value exactly once and equals 24.

The solver works in exact rational arithmetic (:class:`fractions.Fraction`): float checks
wrongly reject answers such as ``8 / ( 3 - 8 / 3 )``. It runs on sub-multisets of values
rather than on whole expressions: the set of values reachable from every sub-multiset is
computed once (at most 455 triples of 1..13), a hand is solvable when some split of it into
two parts and an operator reaches the target, and solution strings are built top-down
along those splits only. Enumerating all 1,820 value multisets takes well under a second.

Usage: ``from sftrl.task.game import OOD_RULE, parse_hand, solve; solve(OOD_RULE.values(parse_hand("A 5 J Q".split())))``
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from sftrl import paths
from sftrl.errors import SftrlError
from sftrl.provenance import code_digest

RANKS: tuple[str, ...] = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
FACES: tuple[str, ...] = ("J", "Q", "K")
Hand = tuple[str, str, str, str]  #: card ranks, canonical order = sorted by RANKS index

TARGET = 24  #: the number every formula must reach
MIN_VALUE, MAX_VALUE = 1, 13  #: a face card's value under any rule lies in this range
MAX_SOLVER_VALUES = 6  #: the solver's cost grows super-exponentially; cards come in fours

_RANK_INDEX = {rank: i for i, rank in enumerate(RANKS)}
_PLAIN_VALUES = {rank: i + 1 for i, rank in enumerate(RANKS[:10])}  # A=1, "2"=2, ..., "10"=10


# --------------------------------------------------------------------------- cards and rules


def normalize_card(card: object) -> str:
    """The rank ``card`` names (letters case-insensitive); SftrlError naming a bad card."""
    text = str(card).strip().upper()
    if text not in _RANK_INDEX:
        hint = " (the ace is written A)" if text == "1" else ""
        raise SftrlError(f"unknown card {card!r}{hint}: a card is one of {' '.join(RANKS)}")
    return text


@dataclass(frozen=True)
class Rule:
    """What each card is worth; the face-card part is written in every prompt."""

    name: str
    """``"id"``, ``"ood"``, or the map itself, e.g. ``"J=5,Q=7,K=9"``."""
    face_values: tuple[int, int, int]
    """Values of J, Q and K, each in 1..13."""

    def __post_init__(self) -> None:
        values = tuple(self.face_values)
        if len(values) != 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and MIN_VALUE <= v <= MAX_VALUE
            for v in values
        ):
            raise SftrlError(
                f"rule {self.name!r}: face values {self.face_values!r} must be three integers "
                f"in {MIN_VALUE}..{MAX_VALUE} (for J, Q, K)"
            )
        object.__setattr__(self, "face_values", values)

    def value(self, card: str) -> int:
        """A=1, "2".."10" their face value, J/Q/K from :attr:`face_values`."""
        rank = normalize_card(card)
        if rank in FACES:
            return self.face_values[FACES.index(rank)]
        return _PLAIN_VALUES[rank]

    def values(self, hand: Sequence[str]) -> tuple[int, ...]:
        """The cards' values, in hand order."""
        return tuple(self.value(card) for card in hand)

    def describe(self) -> str:
        """``"J=11, Q=12, K=13"``."""
        return ", ".join(f"{face}={v}" for face, v in zip(FACES, self.face_values))


ID_RULE = Rule("id", (10, 10, 10))  #: training rule: J, Q and K all count as 10
OOD_RULE = Rule("ood", (11, 12, 13))  #: test-only rule: J=11, Q=12, K=13
_NAMED_RULES = {"id": ID_RULE, "ood": OOD_RULE}
_MAP_ITEM = re.compile(r"^\s*([JQK])\s*=\s*(\d{1,2})\s*$", re.IGNORECASE)


def _map_name(face_values: Sequence[int]) -> str:
    return ",".join(f"{face}={v}" for face, v in zip(FACES, face_values))


def get_rule(spec: str | Rule) -> Rule:
    """``"id"`` | ``"ood"`` | a face-card map ``"J=5,Q=7,K=9"`` (all three faces, any order)."""
    if isinstance(spec, Rule):
        return spec
    if not isinstance(spec, str):
        raise SftrlError(f"rule must be a name or a J/Q/K map, got {spec!r}")
    key = spec.strip().lower()
    if key in _NAMED_RULES:
        return _NAMED_RULES[key]
    found: dict[str, int] = {}
    for item in spec.split(","):
        match = _MAP_ITEM.match(item)
        if match is None:
            break
        face, value = match.group(1).upper(), int(match.group(2))
        if face in found:
            raise SftrlError(f"rule {spec!r} gives {face} twice")
        found[face] = value
    if set(found) != set(FACES) or len(spec.split(",")) != 3:
        raise SftrlError(
            f"unknown rule {spec!r}: use 'id' (J=Q=K=10), 'ood' (J=11,Q=12,K=13) "
            "or a map such as 'J=5,Q=7,K=9'"
        )
    face_values = tuple(found[face] for face in FACES)
    return Rule(_map_name(face_values), face_values)  # type: ignore[arg-type]


def random_rule(rng: random.Random) -> Rule:
    """A face-card map with J, Q, K values drawn uniformly from 1..13 (for pretraining)."""
    face_values = tuple(rng.randint(MIN_VALUE, MAX_VALUE) for _ in FACES)
    return Rule(_map_name(face_values), face_values)  # type: ignore[arg-type]


def canonical(hand: Iterable[str]) -> tuple[str, ...]:
    """The cards sorted by rank order (A < 2 < ... < 10 < J < Q < K)."""
    return tuple(sorted((normalize_card(c) for c in hand), key=_RANK_INDEX.__getitem__))


def parse_hand(cards: Sequence[str]) -> Hand:
    """Four card ranks (letters case-insensitive) -> canonical :data:`Hand`."""
    if isinstance(cards, str):
        cards = cards.split()
    if len(cards) != 4:
        raise SftrlError(f"a hand has 4 cards, got {len(cards)}: {' '.join(map(str, cards))!r}")
    return canonical(cards)  # type: ignore[return-value]


def has_face(hand: Iterable[str]) -> bool:
    """True when the hand holds a J, Q or K (the OOD rule then changes its values)."""
    return any(normalize_card(c) in FACES for c in hand)


def value_key(hand: Sequence[str], rule: Rule) -> tuple[int, ...]:
    """The hand's value multiset under ``rule`` (sorted values): what the solver sees."""
    return tuple(sorted(rule.values(hand)))


# --------------------------------------------------------------------------- the solver

_OPS = ("+", "-", "*", "/")
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
_LEAF_PREC = 3  # a number never needs parentheses


@lru_cache(maxsize=None)
def _splits(m: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """Distinct ordered splits of a sorted multiset into two non-empty sorted parts."""
    n = len(m)
    out = set()
    for mask in range(1, (1 << n) - 1):
        left = tuple(m[i] for i in range(n) if mask >> i & 1)
        right = tuple(m[i] for i in range(n) if not mask >> i & 1)
        out.add((left, right))
    return tuple(sorted(out))


@lru_cache(maxsize=1 << 16)
def _reachable(m: tuple[int, ...]) -> frozenset[Fraction]:
    """Every value an expression using each number of ``m`` exactly once can take."""
    if len(m) == 1:
        return frozenset({Fraction(m[0])})
    out: set[Fraction] = set()
    for left, right in _splits(m):
        right_values = _reachable(right)
        for a in _reachable(left):
            for b in right_values:
                out.add(a + b)
                out.add(a - b)
                out.add(a * b)
                if b:
                    out.add(a / b)
    return frozenset(out)


def _matches(
    left: frozenset[Fraction], right: frozenset[Fraction], t: Fraction
) -> list[tuple[str, Fraction, Fraction]]:
    """All ``(op, a, b)`` with ``a`` in left, ``b`` in right and ``a op b == t``.

    Iterates over the smaller side and solves for the other operand, so a 4-card hand costs
    a few hundred Fraction operations instead of the full left x right product.
    """
    out: list[tuple[str, Fraction, Fraction]] = []
    if len(left) <= len(right):
        for a in left:
            if (b := t - a) in right:
                out.append(("+", a, b))
            if (b := a - t) in right:
                out.append(("-", a, b))
            if a:
                if (b := t / a) in right:
                    out.append(("*", a, b))
            elif not t:  # 0 * anything == 0
                out.extend(("*", a, b) for b in right)
            if t:
                if a and (b := a / t) in right:  # b != 0 because a != 0
                    out.append(("/", a, b))
            elif not a:  # 0 / nonzero == 0
                out.extend(("/", a, b) for b in right if b)
    else:
        for b in right:
            if (a := t - b) in left:
                out.append(("+", a, b))
            if (a := t + b) in left:
                out.append(("-", a, b))
            if b:
                if (a := t / b) in left:
                    out.append(("*", a, b))
                if (a := t * b) in left:
                    out.append(("/", a, b))
            elif not t:  # anything * 0 == 0
                out.extend(("*", a, b) for a in left)
    return out


def _reaches(m: tuple[int, ...], t: Fraction) -> bool:
    if len(m) == 1:
        return m[0] == t
    return any(_matches(_reachable(left), _reachable(right), t) for left, right in _splits(m))


def _wrap(text: str, prec: int, op: str, *, right: bool) -> str:
    """Minimal parentheses: needed for a looser child, and for a right child of - or /
    at the same level (a - (b - c) != a - b - c). Dropped ones never change the value."""
    if prec < _PREC[op] or (right and prec == _PREC[op] and op in "-/"):
        return f"( {text} )"
    return text


@lru_cache(maxsize=1 << 16)
def _expressions(m: tuple[int, ...], t: Fraction) -> frozenset[tuple[str, int]]:
    """Distinct (formula, precedence of its top operator) over ``m`` with value ``t``."""
    if len(m) == 1:
        return frozenset({(str(m[0]), _LEAF_PREC)}) if m[0] == t else frozenset()
    out: set[tuple[str, int]] = set()
    for left, right in _splits(m):
        for op, a, b in _matches(_reachable(left), _reachable(right), t):
            rights = [_wrap(s, p, op, right=True) for s, p in _expressions(right, b)]
            for s, p in _expressions(left, a):
                ls = _wrap(s, p, op, right=False)
                out.update((f"{ls} {op} {rs}", _PREC[op]) for rs in rights)
    return frozenset(out)


def _check_values(values: Sequence[int]) -> tuple[int, ...]:
    vals = tuple(values)
    if not 1 <= len(vals) <= MAX_SOLVER_VALUES:
        raise SftrlError(f"the solver takes 1..{MAX_SOLVER_VALUES} values, got {len(vals)}")
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise SftrlError(f"solver values must be non-negative integers, got {v!r}")
    return tuple(sorted(vals))


def _check_target(target: int) -> Fraction:
    if isinstance(target, bool) or not isinstance(target, int):
        raise SftrlError(f"target must be an integer, got {target!r}")
    return Fraction(target)


@lru_cache(maxsize=1 << 14)
def _solve_sorted(m: tuple[int, ...], target: int) -> tuple[str, ...]:
    return tuple(sorted(s for s, _ in _expressions(m, Fraction(target))))


def solve(values: Sequence[int], target: int = TARGET) -> list[str]:
    """ALL distinct solutions as formula strings, sorted.

    Exact Fractions over all permutations x operators x bracketings. Tokens are separated
    by single spaces with minimal parentheses, e.g. ``"( 12 - 11 + 5 ) * 4"``; two
    bracketings that print the same string count once (``a + b + c``), commuted operands
    count separately (``4 * 6`` and ``6 * 4``).
    """
    m = _check_values(values)
    _check_target(target)
    return list(_solve_sorted(m, target))


@lru_cache(maxsize=1 << 14)
def _is_solvable_sorted(m: tuple[int, ...], target: int) -> bool:
    return _reaches(m, Fraction(target))


def is_solvable(values: Sequence[int], target: int = TARGET) -> bool:
    """True when some formula over ``values`` reaches ``target`` (reachable-set DP, cached)."""
    m = _check_values(values)
    _check_target(target)
    return _is_solvable_sorted(m, target)


def solution_count(values: Sequence[int], target: int = TARGET) -> int:
    """Number of distinct solution strings (see :func:`solve`)."""
    return len(solve(values, target))


def value_multisets(low: int = MIN_VALUE, high: int = MAX_VALUE) -> list[tuple[int, ...]]:
    """Every sorted multiset of 4 values in ``low..high`` (1,820 for 1..13)."""
    return list(itertools.combinations_with_replacement(range(low, high + 1), 4))


def solver_version() -> str:
    """What keys the on-disk solution table: the digest of this module's code."""
    return code_digest("sftrl.task.game")


def _table_path(target: int) -> Path:
    return paths.CACHE / f"gp_solutions_{solver_version()}_t{target}.json"


def _write_json_atomic(path: Path, payload: object) -> None:
    """A reader sees the old file or the complete new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def solution_table(
    target: int = TARGET, *, use_disk_cache: bool = True
) -> dict[tuple[int, ...], tuple[str, ...]]:
    """Solutions of every value multiset of 1..13 (1,820 keys, unsolvable ones map to ()).

    Cached in memory and, with ``use_disk_cache``, as JSON under ``paths.CACHE`` keyed by
    :func:`solver_version` and the target; a stale or unreadable file is recomputed.
    """
    _check_target(target)
    path = _table_path(target)
    if use_disk_cache and path.is_file():
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("version") == solver_version() and payload.get("target") == target:
                return {
                    tuple(int(v) for v in key.split()): tuple(sols)
                    for key, sols in payload["table"].items()
                }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # recompute below and overwrite
    table = {m: _solve_sorted(m, target) for m in value_multisets()}
    if use_disk_cache:
        payload = {
            "version": solver_version(),
            "target": target,
            "table": {" ".join(map(str, m)): list(s) for m, s in table.items()},
        }
        _write_json_atomic(path, payload)
    return table


# --------------------------------------------------------------------------- hands


@lru_cache(maxsize=512)
def _all_hands(
    face_values: tuple[int, int, int], face_required: bool, solvable: bool, target: int
) -> tuple[Hand, ...]:
    rule = Rule(_map_name(face_values), face_values)
    out = []
    for hand in itertools.combinations_with_replacement(RANKS, 4):  # canonical order already
        if face_required and not any(c in FACES for c in hand):
            continue
        if solvable and not _is_solvable_sorted(value_key(hand, rule), target):
            continue
        out.append(hand)
    return tuple(out)


def all_hands(
    rule: Rule | str, *, face_required: bool = False, solvable: bool = True, target: int = TARGET
) -> list[Hand]:
    """Every distinct card multiset (1,820 in all), filtered; deterministic (rank) order."""
    rule = get_rule(rule)
    _check_target(target)
    return list(_all_hands(rule.face_values, bool(face_required), bool(solvable), target))


def sample_hands(
    rule: Rule | str,
    n: int,
    *,
    seed: int,
    face_required: bool = False,
    exclude: Iterable[Sequence[str]] = frozenset(),
) -> list[Hand]:
    """``n`` distinct solvable hands drawn without replacement (SftrlError if too few exist)."""
    rule = get_rule(rule)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise SftrlError(f"number of hands must be a non-negative integer, got {n!r}")
    excluded = {canonical(h) for h in exclude}
    pool = [h for h in all_hands(rule, face_required=face_required) if h not in excluded]
    if n > len(pool):
        what = "face-card " if face_required else ""
        raise SftrlError(
            f"asked for {n} distinct hands but only {len(pool)} solvable {what}hands exist "
            f"under rule {rule.name!r} ({len(excluded)} excluded)"
        )
    return random.Random(seed).sample(pool, n)


@dataclass(frozen=True)
class HandSplit:
    """Fixed, seed-determined hand sets: what SFT/RL train on and what evaluation holds out."""

    train: list[Hand]
    """Hands solvable under the ID rule, for training (rank order)."""
    id_eval: list[Hand]
    """Held-out ID hands; with ``holdout_by="values"`` none shares a value multiset with train."""
    ood_eval: list[Hand]
    """Every hand with at least one face card that is solvable under the OOD rule."""

    def sizes(self) -> dict[str, int]:
        """``{"train": ..., "id_eval": ..., "ood_eval": ...}``."""
        return {"train": len(self.train), "id_eval": len(self.id_eval), "ood_eval": len(self.ood_eval)}


def make_split(
    *, seed: int = 42, id_eval_fraction: float = 0.25, holdout_by: str = "values"
) -> HandSplit:
    """Split the ID-solvable hands into train / held-out ID eval; OOD eval is all face hands.

    ``holdout_by="values"`` holds out whole value multisets (under the ID rule), taking
    shuffled multisets until a fraction ``id_eval_fraction`` of the hands is held out: the
    prototype showed that holding out card hands only lets ID accuracy become memorisation
    (A 5 J Q and A 5 10 K are the same problem under ID). ``"cards"`` holds out hands only.
    """
    if not isinstance(id_eval_fraction, (int, float)) or not 0.0 < id_eval_fraction < 1.0:
        raise SftrlError(f"id_eval_fraction must lie strictly between 0 and 1, got {id_eval_fraction!r}")
    if holdout_by not in ("values", "cards"):
        raise SftrlError(f"holdout_by must be 'values' or 'cards', got {holdout_by!r}")
    hands = all_hands(ID_RULE)
    rng = random.Random(seed)
    n_eval = round(id_eval_fraction * len(hands))
    held: set[Hand] = set()
    if holdout_by == "cards":
        held = set(rng.sample(hands, n_eval))
    else:
        groups: dict[tuple[int, ...], list[Hand]] = {}
        for hand in hands:
            groups.setdefault(value_key(hand, ID_RULE), []).append(hand)
        keys = sorted(groups)
        rng.shuffle(keys)
        for key in keys:
            if len(held) >= n_eval:
                break
            held.update(groups[key])
    return HandSplit(
        train=[h for h in hands if h not in held],
        id_eval=[h for h in hands if h in held],
        ood_eval=all_hands(OOD_RULE, face_required=True),
    )
