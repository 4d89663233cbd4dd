"""Accuracy of a model on GeneralPoints hands: batched generation, grading, Wilson intervals.

Each hand is an episode (:mod:`sftrl.task.episode`): the papers' protocol (arXiv 2508.16546,
following arXiv 2501.17161) answers every wrong attempt with the verifier's reason and lets
the model try again, up to ``EvalConfig.attempts``; a hand counts as solved when an attempt
is correct. Decoding is greedy unless ``temperature > 0``. The first attempts of the same run
give the 1-attempt accuracy (:meth:`EvalResult.accuracy_within`).

Usage::

    from sftrl.config import EvalConfig
    from sftrl.evaluation.evaluate import evaluate_hands
    result = evaluate_hands(model, tok, get_format("compact"), hands, "ood", EvalConfig())
    print(result.accuracy, result.ci)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from sftrl.config import EvalConfig
from sftrl.errors import SftrlError
from sftrl.training.model import eos_ids, sampling_kwargs, suppressed_ids
from sftrl.task.episode import episodes
from sftrl.task.game import FACES, ID_RULE, Rule, get_rule, normalize_card
from sftrl.task.prompts import AnswerFormat
from sftrl.task.verifier import Outcome


def wilson_interval(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n (Wilson 1927; Brown, Cai & DasGupta 2001).

    ``k`` may be fractional: the mean count of several runs graded on the same ``n`` hands.

    Unlike the normal approximation it stays inside [0, 1] and is not degenerate at k=0 or
    k=n (0/10 gives (0, 0.278)). ``z=1.96`` is the 95% interval. Raises SftrlError for n=0
    (no hands: there is no interval to report) or k outside 0..n.
    """
    if n <= 0:
        raise SftrlError(f"wilson_interval needs at least one trial, got n={n}")
    if not 0 <= k <= n:
        raise SftrlError(f"wilson_interval needs 0 <= k <= n, got k={k}, n={n}")
    if z <= 0:
        raise SftrlError(f"wilson_interval needs z > 0, got z={z}")
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n))
    # exact ends at the edges (the formula gives them up to rounding)
    lo = 0.0 if k == 0 else max(0.0, center - half)
    hi = 1.0 if k == n else min(1.0, center + half)
    return lo, hi


def paired_difference(after: Sequence[Sequence[int]], before: Sequence[int],
                      z: float = 1.96) -> tuple[float, tuple[float, float]]:
    """Mean per-hand change in accuracy between models graded on the *same* hands, and its
    normal-approximation interval (a paired comparison; cf. McNemar 1947).

    ``before``: 0/1 per hand for one model (an SFT checkpoint); ``after``: one such list per
    repeat of the other (RL seeds), averaged per hand. With ``d_h = mean(after[:, h]) -
    before[h]``, returns ``mean(d)`` and ``mean(d) ± z * sd(d) / sqrt(n)`` (sample standard
    deviation). Because both models meet the same hands, the hands' difficulty cancels:
    the interval is much narrower than two independent Wilson intervals added together.
    SftrlError for fewer than two hands or lists of different lengths.
    """
    n = len(before)
    if n < 2 or not after or any(len(a) != n for a in after):
        raise SftrlError(f"paired_difference needs >= 2 hands and equal-length gradings, got {n} and "
                         f"{[len(a) for a in after]}")
    d = [sum(a[h] for a in after) / len(after) - before[h] for h in range(n)]
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = z * sd / math.sqrt(n)
    return mean, (mean - half, mean + half)


@dataclass
class EvalResult:
    """Accuracy of one model on one set of hands under one rule."""

    rule: str
    """Name of the rule the hands were posed under ("id", "ood", or a face map)."""
    n: int
    """Number of hands."""
    correct: int
    """Hands solved within the allowed attempts."""
    accuracy: float
    """correct / n."""
    ci: tuple[float, float]
    """95% Wilson interval of the accuracy."""
    format_error_rate: float
    """Fraction of hands whose FIRST answer was malformed (unparseable or loose when strict)."""
    outcomes: dict[str, int]
    """Final outcome per hand (the last attempt made; "correct" when solved), counted."""
    hands_per_s: float
    """Throughput of the whole evaluation (generation and grading, all attempts)."""
    records: list[dict] = field(default_factory=list)
    """Per hand: hand, correct, solved_at (1-based or None), outcome, attempts
    [{prompt, completion, outcome, message}]."""
    attempts: int = 1
    """Attempts allowed per hand."""

    def accuracy_within(self, k: int) -> float:
        """Share of hands solved within the first ``k`` attempts (k <= :attr:`attempts`)."""
        if not 1 <= k <= self.attempts:
            raise SftrlError(f"accuracy_within({k}): this evaluation allowed 1..{self.attempts} attempts")
        return solved_within(self.records, k) / self.n

    def first_outcomes(self) -> dict[str, int]:
        """Outcome of every hand's first attempt, counted (what the model gets wrong unaided)."""
        return first_outcomes(self.records)

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        """A JSON-serialisable dict (``records=False`` leaves the per-hand records out)."""
        out = asdict(self)
        out["ci"] = list(self.ci)
        if not records:
            del out["records"]
        return out


class GenerateFn(Protocol):
    """The signature of :func:`generate`; evaluate_hands accepts any such function."""

    def __call__(
        self, model: Any, tokenizer: Any, prompts: list[str], *,
        max_new_tokens: int, batch_size: int, temperature: float = 0.0, seed: int = 0,
    ) -> list[str]: ...


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    temperature: float = 0.0,
    seed: int = 0,
) -> list[str]:
    """Complete every prompt; return only the completions' text, in the order of ``prompts``.

    Prompts are sorted by token length and cut into batches of ``batch_size`` (little padding),
    left-padded (the new tokens continue every row at the same position), decoded with the
    KV cache, greedy when ``temperature == 0``. Each completion ends at its first end-of-
    sequence token; no other special token is generated (:func:`sftrl.training.model.suppressed_ids`).
    """
    if batch_size < 1 or max_new_tokens < 1:
        raise SftrlError(f"generate needs batch_size >= 1 and max_new_tokens >= 1, got {batch_size}, {max_new_tokens}")
    if not prompts:
        return []
    if tokenizer.padding_side != "left":
        raise SftrlError("generate needs a left-padding tokenizer (load_model/build_tokenizer set it)")
    # A chat-template prompt already starts with the bos text: do not add a second one.
    bos = tokenizer.bos_token
    add_special = not (bos and all(p.startswith(bos) for p in prompts))
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=add_special)["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])  # stable: ties keep input order
    eos = eos_ids(model, tokenizer)
    eos_set = set(eos)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    device = next(model.parameters()).device
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    completions: list[str] = [""] * len(prompts)
    with torch.inference_mode(), torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                            add_special_tokens=add_special).to(device)
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, use_cache=True,
                pad_token_id=pad_id, eos_token_id=eos,
                **sampling_kwargs(temperature, suppressed_ids(tokenizer, eos)),
            )  # (batch, prompt_len + new_len)
            new = out[:, enc["input_ids"].shape[1]:].tolist()
            for i, row in zip(idx, new):
                cut = next((j for j, t in enumerate(row) if t in eos_set), len(row))
                completions[i] = tokenizer.decode(row[:cut], skip_special_tokens=True)
    return completions


def solved_within(records: Sequence[dict], k: int) -> int:
    """Hands of an evaluation's records solved within the first ``k`` attempts."""
    return sum(1 for r in records if r["solved_at"] is not None and r["solved_at"] <= k)


def first_outcomes(records: Sequence[dict]) -> dict[str, int]:
    """The outcome of each record's first attempt, counted over every category."""
    out = {o.value: 0 for o in Outcome}
    for r in records:
        out[r["attempts"][0]["outcome"]] += 1
    return out


def face_read_as_id(fmt: AnswerFormat, records: Sequence[dict], rule: Rule | str) -> tuple[int, int]:
    """Rule-reading diagnostic: ``(k, n)``, the first attempts that give some face card the
    ID value 10 where ``rule`` says otherwise, out of the first attempts that list numbers
    for a hand holding such a face card. A model that ignores the rule text answers with the
    ID map it was fine-tuned on (cf. Lin et al., arXiv 2510.00237)."""
    rule = get_rule(rule)
    k = n = 0
    for r in records:
        hand = [normalize_card(c) for c in r["hand"]]
        faces = [i for i, c in enumerate(hand) if c in FACES and rule.value(c) != ID_RULE.value(c)]
        parsed = fmt.parse(r["attempts"][0]["completion"])
        if not faces or parsed is None or parsed.numbers is None or len(parsed.numbers) != len(hand):
            continue
        n += 1
        k += any(parsed.numbers[i] == ID_RULE.value(hand[i]) for i in faces)
    return k, n


#: What :func:`evaluate_hands` uses when it is given no ``cfg``: 256 prompts per batch and 40
#: new tokens, greedy, strict, one attempt (its settings before the one EvalConfig; the
#: pipeline passes ``cfg.eval`` instead, whose defaults are 512 and 32).
DEFAULT_HANDS_EVAL = EvalConfig(batch_size=256, max_new_tokens=40)


def evaluate_hands(
    model: Any,
    tokenizer: Any,
    fmt: AnswerFormat,
    hands: Sequence[Sequence[str]],
    rule: Rule | str,
    cfg: EvalConfig | None = None,
    *,
    generate_fn: GenerateFn | Callable[..., list[str]] | None = None,
) -> EvalResult:
    """Pose every hand under ``rule`` in ``fmt`` as an episode; generate, grade, and answer
    each wrong attempt with the verifier's feedback, up to ``cfg.attempts`` attempts.

    ``cfg`` defaults to :data:`DEFAULT_HANDS_EVAL`. By default the episodes are played by
    the multi-turn sampler RL uses (:func:`sftrl.training.rollout.sample`: batched, its KV
    cache kept across turns; sampling, if any, seeded with ``cfg.seed``). With
    ``generate_fn`` (:func:`generate`, or a scripted stand-in in tests) each turn's whole
    text is generated again instead, attempt i with seed ``cfg.seed + i``; both give the
    same greedy episodes.
    """
    cfg = DEFAULT_HANDS_EVAL if cfg is None else cfg
    rule = get_rule(rule)
    if not hands:
        raise SftrlError("evaluate_hands got no hands to evaluate")
    t0 = time.perf_counter()
    if generate_fn is None:
        from sftrl.training.rollout import sample

        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            eps = [r.episode for r in sample(
                model, tokenizer, fmt, [(h, rule) for h in hands], attempts=cfg.attempts,
                max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, feedback=cfg.feedback,
                batch_size=cfg.batch_size, require_strict=cfg.require_strict)]
    else:
        eps = episodes(fmt, hands, rule, cfg.attempts, tokenizer=tokenizer, feedback=cfg.feedback,
                       require_strict=cfg.require_strict)
        for attempt in range(cfg.attempts):
            pending = [ep for ep in eps if not ep.done]
            if not pending:
                break
            completions = generate_fn(
                model, tokenizer, [ep.context for ep in pending], max_new_tokens=cfg.max_new_tokens,
                batch_size=cfg.batch_size, temperature=cfg.temperature, seed=cfg.seed + attempt,
            )
            if len(completions) != len(pending):
                raise RuntimeError(f"generate_fn returned {len(completions)} completions for {len(pending)} prompts")
            for ep, completion in zip(pending, completions):
                ep.step(completion)
    records = [ep.record() for ep in eps]
    first_malformed = sum(1 for ep in eps if ep.turns[0].verdict.outcome == Outcome.MALFORMED)
    elapsed = time.perf_counter() - t0
    n = len(hands)
    correct = sum(r["correct"] for r in records)
    outcomes = {o.value: 0 for o in Outcome}
    for r in records:
        outcomes[r["outcome"]] += 1
    return EvalResult(
        rule=rule.name, n=n, correct=correct, accuracy=correct / n, ci=wilson_interval(correct, n),
        format_error_rate=first_malformed / n, outcomes=outcomes,
        hands_per_s=n / elapsed if elapsed > 0 else float("inf"), records=records, attempts=cfg.attempts,
    )
