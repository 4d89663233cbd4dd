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
from sftrl.training.model import eos_ids, suppressed_ids


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


#: positions reserved for one verifier turn in the sampler's cache (a chat template's turn
#: with the verifier's sentence; the compact format's is 3 tokens)
_TURN_TOKENS = {"compact": 4, "chat": 160}


def _growing_cache(model: Any, max_len: int):
    """A KV cache allocated once for ``max_len`` positions and written in place (no copy of
    the whole cache per token, as a concatenating cache makes), whose attention reads only
    the positions filled so far. Decoding a tiny model with many rows is bound by reading
    the cache, so both halve a turn's time."""
    from transformers import StaticCache
    from transformers.cache_utils import StaticLayer

    class GrowingLayer(StaticLayer):
        def update(self, key_states, value_states, *args, **kwargs):
            keys, values = super().update(key_states, value_states, *args, **kwargs)
            n = int(self.cumulative_length)
            return keys[:, :, :n], values[:, :, :n]

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.get_seq_length() + query_length, 0

        def get_seq_length(self) -> int:
            return int(self.cumulative_length) if self.is_initialized else 0

    cache = StaticCache(config=model.config, max_cache_len=max_len)
    cache.layers = [GrowingLayer(max_cache_len=max_len) for _ in cache.layers]
    return cache


def _play_batch(model: Any, tokenizer: Any, fmt: AnswerFormat, batch: list[Rollout], *, attempts: int,
                max_new_tokens: int, temperature: float, feedback: str, eos: list[int], pad_id: int,
                device: Any) -> None:
    """Play a batch of episodes to the end with one static KV cache for all their turns.

    Column ``j`` of the cache and of the attention mask holds the ``j``-th token fed to the
    model; a token the episode's text does not hold (left padding, a wrong attempt's
    end-of-sequence token and what follows it in its row) is masked, and every row's
    position ids count only its visible tokens.
    """
    chat = fmt.name == "chat"
    eos_t = torch.tensor(eos, device=device)
    suppress = torch.tensor(suppressed_ids(tokenizer, eos), dtype=torch.long, device=device)
    width = max(len(r.prompt_ids) for r in batch)
    total = width + attempts * (max_new_tokens + 1) + (attempts - 1) * _TURN_TOKENS.get(fmt.name, 160)
    cache = _growing_cache(model, total)
    mask = torch.zeros((len(batch), total), dtype=torch.long, device=device)
    seen = torch.zeros(len(batch), dtype=torch.long, device=device)  # visible tokens per row so far
    col = 0  # next free column

    def feed(tokens: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """Append ``tokens`` (rows, n) with their visibility; return the last position's logits."""
        nonlocal col
        n = tokens.shape[1]
        if col + n > total:
            raise RuntimeError(f"the sampler's cache of {total} positions is full")
        mask[:, col:col + n] = visible
        positions = (seen[:, None] + visible.cumsum(1) - 1).clamp(min=0)
        seen.add_(visible.sum(1))
        col += n
        out = model(input_ids=tokens, attention_mask=mask[:, :col], position_ids=positions, cache=cache,
                    use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float()

    prompts = torch.tensor([[pad_id] * (width - len(r.prompt_ids)) + r.prompt_ids for r in batch], device=device)
    logits = feed(prompts, (torch.arange(width, device=device)[None] >= width - torch.tensor(
        [len(r.prompt_ids) for r in batch], device=device)[:, None]).long())
    live = list(batch)
    for _ in range(attempts):
        rows = len(live)
        tokens = torch.full((rows, max_new_tokens), pad_id, dtype=torch.long, device=device)
        logps = torch.zeros((rows, max_new_tokens), device=device)
        done = torch.zeros(rows, dtype=torch.bool, device=device)
        n_new = 0
        for t in range(max_new_tokens):
            if suppress.numel():
                logits[:, suppress] = float("-inf")
            if temperature == 0.0:
                choice = logits.argmax(-1)
                lp = logits.log_softmax(-1).gather(-1, choice[:, None]).squeeze(-1)
            else:
                scaled = (logits / temperature).log_softmax(-1)
                choice = torch.multinomial(scaled.exp(), 1).squeeze(-1)
                lp = scaled.gather(-1, choice[:, None]).squeeze(-1)
            choice = torch.where(done, torch.full_like(choice, pad_id), choice)
            tokens[:, t], logps[:, t] = choice, torch.where(done, torch.zeros_like(lp), lp)
            n_new = t + 1
            finished = done | torch.isin(choice, eos_t)
            # an attempt's tokens are visible; its end-of-sequence token and the padding after are not
            logits = feed(choice[:, None], (~finished).long()[:, None])
            done = finished
            if bool(done.all()):
                break
        keep, turns = [], []
        for i, r in enumerate(live):
            row, lp = tokens[i, :n_new].tolist(), logps[i, :n_new].tolist()
            cut = next((j for j, tok in enumerate(row) if tok in eos), len(row))
            text = tokenizer.decode(row[:cut], skip_special_tokens=True)  # unstripped: the text of its tokens
            verdict = r.episode.step(text)
            if r.episode.done:  # the last attempt keeps its end-of-sequence token
                end = min(cut + 1, len(row))
                r.extend(row[:end], lp[:end])
                continue
            r.extend(row[:cut], lp[:cut])
            turn = _encode(tokenizer, fmt.feedback_turn(text, verdict, tokenizer=tokenizer if chat else None,
                                                        mode=feedback), first=False)
            r.extend(turn, model=False)
            keep.append(i)
            turns.append(turn)
        live = [live[i] for i in keep]
        if not live:
            return
        if len(keep) < rows:  # finished episodes leave the batch
            index = torch.tensor(keep, device=device)
            for layer in cache.layers:
                layer.keys, layer.values = layer.keys[index], layer.values[index]
                layer.batch_size = len(keep)
            mask, seen = mask[index], seen[index]
        longest = max(map(len, turns))
        env = torch.tensor([[pad_id] * (longest - len(t)) + t for t in turns], device=device)
        visible = torch.tensor([[0] * (longest - len(t)) + [1] * len(t) for t in turns], device=device)
        logits = feed(env, visible)


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
