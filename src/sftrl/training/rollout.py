"""Multi-turn RL episodes for trl's ``GRPOTrainer(rollout_func=...)`` (the papers' protocol).

Paper A's RL rollouts are the evaluation's episodes under the ID rule
(arXiv 2508.16546, after arXiv 2501.17161): the model answers, the verifier grades the
answer, a wrong answer is followed by the verifier's reason, and the model tries again, up
to ``RLConfig.attempts`` times. :func:`sample` plays a batch of such episodes
(:class:`sftrl.task.episode.Episode`, the path evaluation uses): batched, left-padded, one
``generate()`` call per turn with the KV cache kept from turn to turn, and records for each episode

* ``prompt_ids``: the first prompt's tokens;
* ``completion_ids``: every attempt's tokens and, between them, the verifier's turn;
* ``env_mask``: 1 on the model's tokens, 0 on the verifier's (trl keeps those out of the loss);
* ``logprobs``: the sampling log-probabilities of the model's tokens (0 on the verifier's);
* ``reward``: the episode's reward (:meth:`Episode.reward`: paper C's shaped turn rewards
  summed, or 1/0 for success).

A wrong attempt's end-of-sequence token is not kept, and no other special token can be
generated (:func:`sftrl.training.model.suppressed_ids`): the verifier's turn follows the
attempt's text directly, as in the text the evaluation grades, so sampling, training and
evaluation see the same sequence. GRPO has one scalar per
episode where paper A's PPO has per-turn returns (GAE over the turns); the book states it.

Usage::

    trainer = GRPOTrainer(..., reward_funcs=episode_reward, rollout_func=rollout_func(rows, fmt, tok, cfg.rl))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from sftrl.task.episode import Episode
from sftrl.task.game import Rule, get_rule
from sftrl.task.prompts import AnswerFormat
from sftrl.training.model import eos_ids, sampling_kwargs, suppressed_ids


@dataclass
class Rollout:
    """One played episode, as trl's rollout_func returns it (see the module docstring)."""

    episode: Episode
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)

    def extend(self, ids: Sequence[int], logprobs: Sequence[float] | None = None, *, model: bool = True) -> None:
        self.completion_ids += list(ids)
        self.env_mask += [1 if model else 0] * len(ids)
        self.logprobs += list(logprobs) if logprobs is not None else [0.0] * len(ids)


def _encode(tokenizer: Any, text: str, *, first: bool) -> list[int]:
    """Token ids of ``text``; the first prompt gets the tokenizer's bos unless it has it already."""
    bos = tokenizer.bos_token
    add = first and not (bos and text.startswith(bos))
    return tokenizer(text, add_special_tokens=add)["input_ids"]


def sample(model: Any, tokenizer: Any, fmt: AnswerFormat, tasks: Sequence[tuple[Sequence[str], Rule | str]], *,
           attempts: int, max_new_tokens: int, temperature: float, feedback: str = "verifier",
           batch_size: int = 256, require_strict: bool = True) -> list[Rollout]:
    """Play one episode per ``(hand, rule)`` of ``tasks`` with ``model``; see the module docstring.

    Episodes are played in batches of ``batch_size``, turn by turn. The KV cache is kept
    from one turn to the next: a turn computes only the verifier's new tokens and the new
    attempt, not the whole context again. A finished episode leaves the batch; inside a
    row, the end-of-sequence token of a wrong attempt and the padding after it are masked
    out of attention (position ids follow the attention mask, so the model sees the same
    sequence as the episode's text). Sampling draws from torch's global generator (the
    trainer seeds it); ``temperature=0`` is greedy.
    """
    chat = fmt.name == "chat"
    rollouts = []
    for hand, rule in tasks:
        ep = Episode(fmt, tuple(hand), get_rule(rule), attempts, tokenizer if chat else None, feedback,
                     require_strict)
        rollouts.append(Rollout(ep, _encode(tokenizer, ep.context, first=True)))
    eos = eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    device = next(model.parameters()).device
    # prompts of like length share a batch (less padding)
    order = sorted(range(len(rollouts)), key=lambda i: len(rollouts[i].prompt_ids))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            _play_batch(model, tokenizer, fmt, [rollouts[i] for i in order[start:start + batch_size]],
                        attempts=attempts, max_new_tokens=max_new_tokens, temperature=temperature,
                        feedback=feedback, eos=eos, pad_id=pad_id, device=device)
    return rollouts


def _play_batch(model: Any, tokenizer: Any, fmt: AnswerFormat, batch: list[Rollout], *, attempts: int,
                max_new_tokens: int, temperature: float, feedback: str, eos: list[int], pad_id: int,
                device: Any) -> None:
    """Play a batch of episodes to the end, keeping the KV cache between turns."""
    chat = fmt.name == "chat"
    eos_set = set(eos)
    special = set(tokenizer.all_special_ids)
    width = max(len(r.prompt_ids) for r in batch)
    ids = torch.tensor([[pad_id] * (width - len(r.prompt_ids)) + r.prompt_ids for r in batch], device=device)
    mask = torch.tensor([[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in batch], device=device)
    cache = None
    live = list(batch)
    for _ in range(attempts):
        out = model.generate(input_ids=ids, attention_mask=mask, cache=cache,
                             max_new_tokens=max_new_tokens, use_cache=True, pad_token_id=pad_id,
                             eos_token_id=eos, output_scores=True, return_dict_in_generate=True,
                             **sampling_kwargs(temperature, suppressed_ids(tokenizer, eos)))
        cache = out.cache
        new = out.sequences[:, ids.shape[1]:]
        logps = torch.stack(out.scores, dim=1).float().log_softmax(-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
        keep, turns, attempt_masks = [], [], []
        for i, (r, row, lp) in enumerate(zip(live, new.tolist(), logps.tolist())):
            cut = next((j for j, t in enumerate(row) if t in eos_set), len(row))
            text = tokenizer.decode(row[:cut], skip_special_tokens=True).strip()
            verdict = r.episode.step(text)
            # generation suppresses special tokens (suppressed_ids); were one there, it would be
            # unseen and unrecorded, as it is absent from the attempt's text
            seen = [j for j in range(cut) if row[j] not in special]
            if r.episode.done:  # the last attempt keeps its end-of-sequence token
                seen += [cut] if cut < len(row) else []
                r.extend([row[j] for j in seen], [lp[j] for j in seen])
                continue
            r.extend([row[j] for j in seen], [lp[j] for j in seen])
            turn = _encode(tokenizer, fmt.feedback_turn(text, verdict, tokenizer=tokenizer if chat else None,
                                                        mode=feedback), first=False)
            r.extend(turn, model=False)
            keep.append(i)
            turns.append(turn)
            visible = set(seen)  # the eos, the padding after it and special tokens: unseen
            attempt_masks.append([1 if j in visible else 0 for j in range(len(row))])
        live = [live[i] for i in keep]
        if not live:
            return
        index = torch.tensor(keep, device=device)
        longest = max(map(len, turns))
        env = torch.tensor([[pad_id] * (longest - len(t)) + t for t in turns], device=device)
        env_mask = torch.tensor([[0] * (longest - len(t)) + [1] * len(t) for t in turns], device=device)
        ids = torch.cat([out.sequences[index], env], dim=1)
        mask = torch.cat([mask[index], torch.tensor(attempt_masks, device=device), env_mask], dim=1)
        cache.batch_select_indices(index)


def rollout_func(rows: Sequence[dict[str, str]], fmt: AnswerFormat, tokenizer: Any, *, attempts: int,
                 max_new_tokens: int, temperature: float, reward: str, feedback: str = "verifier"):
    """The ``rollout_func`` of ``GRPOTrainer``: plays each prompt it is given as an episode.

    ``rows`` are the trainer's dataset (``prompt``, ``hand``, ``rule``): trl passes only the
    prompts, and each is looked up there. The returned ``reward`` field reaches the reward
    function :func:`episode_reward`.
    """
    tasks = {row["prompt"]: (tuple(row["hand"].split()), row["rule"]) for row in rows}

    def play(prompts: list[str], trainer: Any) -> dict[str, list]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        was_training = model.training
        model.eval()
        try:
            played = sample(model, tokenizer, fmt, [tasks[p] for p in prompts], attempts=attempts,
                            max_new_tokens=max_new_tokens, temperature=temperature, feedback=feedback)
        finally:
            model.train(was_training)
        return {
            "prompt_ids": [r.prompt_ids for r in played],
            "completion_ids": [r.completion_ids for r in played],
            "logprobs": [r.logprobs for r in played],
            "env_mask": [r.env_mask for r in played],
            "reward": [r.episode.reward(reward) for r in played],
            "solved_at": [r.episode.solved_at or 0 for r in played],
        }

    return play


def episode_reward(prompts, completions, reward, **kwargs) -> list[float]:
    """GRPO's reward function: the episode's reward computed while it was played."""
    return [float(x) for x in reward]
