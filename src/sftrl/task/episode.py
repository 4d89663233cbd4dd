"""A GeneralPoints episode under the papers' protocol: answer, verdict, feedback, again.

Papers A and C (arXiv 2508.16546, 2501.17161) pose a hand as a conversation: the model
answers, the verifier grades the answer, and a wrong answer is followed by the verifier's
reason and another attempt, up to ``attempts`` of them. The hand counts as solved when an
attempt is correct ("success within 5 attempts"). In RL each turn earns paper C's shaped
reward; a GRPO episode has one scalar, their sum (:meth:`Episode.reward`).

This module is the one path from a completion to the next context: evaluation
(:mod:`sftrl.evaluation.evaluate`) and multi-turn RL (:mod:`sftrl.training.rollout`) both
step the same :class:`Episode`, whatever generates the completions.

Usage::

    ep = Episode(fmt, hand, OOD_RULE, attempts=5)
    while not ep.done:
        ep.step(model_answer(ep.context))
    ep.solved, ep.solved_at, ep.reward("shaped")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sftrl.config import ATTEMPTS, FEEDBACK_MODES, REWARD_MODES, check_value
from sftrl.errors import SftrlError
from sftrl.task.game import Rule
from sftrl.task.prompts import AnswerFormat, grade
from sftrl.task.verifier import Verdict


@dataclass(frozen=True)
class Turn:
    """One attempt of an episode and the verifier's judgement of it."""

    context: str
    """The text the attempt continued (the first prompt, or the last retry prompt)."""
    completion: str
    """The model's answer."""
    verdict: Verdict
    """The verifier's grade of the answer."""


@dataclass
class Episode:
    """One hand posed under one rule, answered until solved or out of attempts."""

    fmt: AnswerFormat
    """The answer format (prompt, parsing, the verifier's turn)."""
    hand: tuple[str, ...]
    """The four cards."""
    rule: Rule
    """The rule the hand is posed and graded under."""
    attempts: int = 1
    """Attempts allowed (1..:data:`MAX_ATTEMPTS`)."""
    tokenizer: Any = None
    """A chat-template tokenizer renders the chat format's turns (None for compact)."""
    feedback: str = "verifier"
    """What a wrong attempt is answered with: the verifier's reason, or ``"bare"`` (no reason)."""
    require_strict: bool = True
    """Grade an answer without its ``cards`` part as malformed."""
    turns: list[Turn] = field(default_factory=list)
    """The attempts made so far."""
    context: str = ""
    """The text the next attempt continues (set from the prompt at construction)."""

    def __post_init__(self) -> None:
        check_value("attempts", self.attempts, ATTEMPTS)
        check_value("feedback", self.feedback, FEEDBACK_MODES)
        self.hand = tuple(self.hand)
        if not self.context:
            self.context = self.fmt.prompt(self.hand, self.rule, self.tokenizer)

    @property
    def solved(self) -> bool:
        """True when the last attempt was correct."""
        return bool(self.turns) and self.turns[-1].verdict.correct

    @property
    def solved_at(self) -> int | None:
        """The 1-based attempt that was correct, or None."""
        return len(self.turns) if self.solved else None

    @property
    def done(self) -> bool:
        """Solved, or every attempt used."""
        return self.solved or len(self.turns) >= self.attempts

    def step(self, completion: str) -> Verdict:
        """Grade ``completion`` as the next attempt; a wrong one extends :attr:`context` with
        the attempt, the verifier's turn and the cue for the next attempt."""
        if self.done:
            raise SftrlError("the episode is over: it was solved or used every attempt")
        verdict = grade(self.fmt, completion, self.hand, self.rule, require_strict=self.require_strict)
        self.turns.append(Turn(self.context, completion, verdict))
        if not self.done:
            self.context = self.fmt.retry_prompt(self.context, completion, verdict,
                                                 tokenizer=self.tokenizer, mode=self.feedback)
        return verdict

    def reward(self, mode: str = "shaped") -> float:
        """The episode's reward: the sum of the turns' shaped rewards (+5 correct, -1 wrong
        value, -2 wrong numbers, -3 illegal or malformed; arXiv 2501.17161), or 1/0 for
        ``"binary"`` (solved within the attempts)."""
        check_value("reward", mode, REWARD_MODES)
        if mode == "binary":
            return 1.0 if self.solved else 0.0
        return float(sum(t.verdict.shaped_reward for t in self.turns))

    def record(self) -> dict[str, Any]:
        """The JSON record of the episode (the evaluation's per-hand record)."""
        return {
            "hand": list(self.hand), "correct": self.solved, "solved_at": self.solved_at,
            "outcome": self.turns[-1].verdict.outcome.value if self.turns else None,
            "attempts": [{"prompt": t.context, "completion": t.completion, "outcome": t.verdict.outcome.value,
                          "message": t.verdict.message} for t in self.turns],
        }


def episodes(fmt: AnswerFormat, hands: Sequence[Sequence[str]], rule: Rule, attempts: int, *,
             tokenizer: Any = None, feedback: str = "verifier", require_strict: bool = True) -> list[Episode]:
    """One fresh episode per hand."""
    return [Episode(fmt, tuple(h), rule, attempts, tokenizer, feedback, require_strict) for h in hands]
