"""Multi-turn RL episodes: the sampler's records, trl's env_mask, and one real GRPO step."""

from __future__ import annotations

import os

import pytest
import torch

from sftrl.task import game
from sftrl.task.prompts import CompactFormat, grade
from sftrl.training import rollout
from sftrl.training.model import SmallModelConfig, build_model, build_tokenizer

HANDS = [("A", "5", "J", "Q"), ("3", "3", "8", "8"), ("2", "4", "6", "K"), ("A", "A", "J", "K")]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    tok = build_tokenizer()
    model = build_model(SmallModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2), tok, seed=0)
    return model, tok


def _wrong_verdicts(fmt):
    hand = HANDS[0]
    answers = ["cards A 5 J Q number 1 5 10 10 formula 1 + 5 + 10 + 10", "x",
               "cards A 5 J Q number 1 5 10 10 formula 1 + 5 + 10 + 9", "cards A 5 J Q number 1 formula J"]
    return [grade(fmt, a, hand, game.ID_RULE) for a in answers]


def _segments(r):
    """(is_model, ids) runs of a rollout's completion, split where env_mask changes."""
    out = []
    for tid, m in zip(r.completion_ids, r.env_mask):
        if not out or out[-1][0] != bool(m):
            out.append((bool(m), []))
        out[-1][1].append(tid)
    return out


def test_sampled_episodes_alternate_attempts_and_the_verifiers_turns(tiny):
    model, tok = tiny
    fmt = CompactFormat()
    torch.manual_seed(1)
    played = rollout.sample(model, tok, fmt, [(h, "id") for h in HANDS] * 4, attempts=3,
                            max_new_tokens=12, temperature=1.0)
    assert any(len(r.episode.turns) > 1 for r in played)
    for r in played:
        assert len(r.completion_ids) == len(r.env_mask) == len(r.logprobs)
        assert r.prompt_ids == tok(fmt.prompt(r.episode.hand, game.ID_RULE))["input_ids"]
        turns = r.episode.turns
        segments = _segments(r)
        model_runs = [ids for is_model, ids in segments if is_model]
        env_runs = [ids for is_model, ids in segments if not is_model]
        assert len(env_runs) == len(turns) - 1  # a verifier turn between attempts, none after the last
        for turn, env_ids in zip(turns, env_runs):
            assert tok.decode(env_ids).split() == ["fail", fmt.feedback(turn.verdict).split()[1], "answer"]
        # regrading the model's own tokens gives the verdicts, and their sum is the reward
        graded = [grade(fmt, tok.decode(ids, skip_special_tokens=True), r.episode.hand, game.ID_RULE)
                  for ids in model_runs]
        assert len(graded) <= len(turns)  # an empty attempt leaves no model tokens
        assert r.episode.reward("shaped") == sum(t.verdict.shaped_reward for t in turns)
        if len(graded) == len(turns):
            assert [g.outcome for g in graded] == [t.verdict.outcome for t in turns]
        assert all(lp <= 0 for lp in r.logprobs)
        assert all(lp == 0 for lp, m in zip(r.logprobs, r.env_mask) if not m)
        # the context of each attempt is the prompt and what came before it, token for token
        text = tok.decode(r.prompt_ids + r.completion_ids, skip_special_tokens=True)
        assert text.startswith(turns[-1].context)


def test_a_multi_turn_grpo_step_trains_only_the_models_tokens(tiny, tmp_path):
    """One real GRPOTrainer step on rollout_func episodes: the loss's gradient at the verifier's
    positions is zero, the weights move, and the logged reward is the episodes' reward."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tok = tiny
    fmt = CompactFormat()
    rows = [{"prompt": fmt.prompt(h, game.ID_RULE), "hand": " ".join(h), "rule": "id"} for h in HANDS]
    play = rollout.rollout_func(rows, fmt, tok, attempts=3, max_new_tokens=12, temperature=1.0, reward="shaped")
    seen = {}

    def recording(prompts, trainer):
        out = play(prompts, trainer)
        seen.update(out)
        return out

    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, learning_rate=1e-2, per_device_train_batch_size=16,
                      num_generations=4, beta=0.0, temperature=1.0, max_completion_length=64, use_cpu=True,
                      bf16=False, report_to="none", save_strategy="no", logging_steps=1, seed=3,
                      disable_tqdm=True)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    def spread(prompts, completions, **kwargs):
        """A second reward that differs within groups, so that the advantages are not all zero
        while the untrained model fails every episode alike."""
        return [0.01 * len(c) for c in completions]

    trainer = GRPOTrainer(model=model, reward_funcs=[rollout.episode_reward, spread], args=args,
                          train_dataset=Dataset.from_list(rows * 4), processing_class=tok, rollout_func=recording)
    batch = next(iter(trainer.get_train_dataloader()))
    model.train()
    trainer.current_gradient_accumulation_steps = 1  # what train() sets per step (no accumulation here)
    inputs = trainer._prepare_inputs(batch)
    assert inputs["advantages"].abs().max() > 0, "no reward spread: the test would be vacuous"
    captured = []

    def keep_grad(module, args, output):  # trl scores tokens with a fused head: per-token log-probs
        output.log_probs.retain_grad()
        captured.append(output.log_probs)

    hook = trainer.model.register_forward_hook(keep_grad)
    try:
        loss = trainer.compute_loss(trainer.model, inputs)
        loss.backward()
    finally:
        hook.remove()
    width = inputs["completion_ids"].shape[1]
    grad = captured[-1].grad[:, -width:].abs()  # d loss / d log p(completion token k)
    env = inputs["tool_mask"] == 0  # trl's copy of our env_mask (the batch is reshuffled)
    real = inputs["completion_mask"] == 1
    feedback_words = {"fail", "answer", *(fmt.feedback(v).split()[1] for v in _wrong_verdicts(fmt))}
    words = [tok.convert_ids_to_tokens(int(t)) for t in inputs["completion_ids"][env & real]]
    assert words and set(words) <= feedback_words  # the masked tokens are the verifier's
    assert grad[env].max() == 0
    assert grad[~env & real].max() > 0
    model.zero_grad()

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    seen.clear()
    trainer.train()
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())
    logged = next(h for h in trainer.state.log_history if "rewards/episode_reward/mean" in h)
    assert logged["rewards/episode_reward/mean"] == pytest.approx(sum(seen["reward"]) / len(seen["reward"]))


def test_the_cached_sampler_plays_the_episodes_the_text_path_plays():
    """Greedy episodes with the KV cache kept across turns are the episodes of re-encoding
    each turn's whole text (evaluation's turn-by-turn path): same completions, same verdicts."""
    from sftrl.config import EvalConfig
    from sftrl.evaluation.evaluate import evaluate_hands, generate

    tok = build_tokenizer()
    model = build_model(SmallModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2, initializer_range=0.3),
                        tok, seed=1)  # a sharp random model: answers of every kind, and retries
    model.eval()
    fmt = CompactFormat()
    hands = [h for h in game.all_hands(game.OOD_RULE, face_required=True)[:24]]
    played = rollout.sample(model, tok, fmt, [(h, "ood") for h in hands], attempts=4, max_new_tokens=10,
                            temperature=0.0, batch_size=7)
    text = evaluate_hands(model, tok, fmt, hands, "ood", EvalConfig(attempts=4, max_new_tokens=10, batch_size=5),
                          generate_fn=generate)
    assert sum(len(r.episode.turns) for r in played) > len(hands)  # retries happened
    special = set(tok.all_special_ids) - {tok.eos_token_id}
    assert not any(t in special for r in played for t in r.completion_ids)
    for r, rec in zip(played, text.records):
        assert [t.completion for t in r.episode.turns] == [a["completion"] for a in rec["attempts"]]
        assert [t.context for t in r.episode.turns] == [a["prompt"] for a in rec["attempts"]]
