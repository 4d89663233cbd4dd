"""Benchmark of the papers' protocol on this machine: evaluation and multi-turn RL.

* Evaluation throughput (hands per second, generation and grading) of one checkpoint on
  the OOD hands at 1 attempt and at ``--attempts`` attempts with the verifier's feedback.
* One multi-turn RL step through trl's ``GRPOTrainer`` with the project's ``rollout_func``
  against a bare PyTorch GRPO step on the same episodes (the same sampler, then group-
  normalised advantages, one policy-gradient loss over the model's tokens, AdamW): the
  difference is trl's overhead per step; and trl's step again with gradient checkpointing
  (trl's default, off in the small profiles), for what recomputing the activations costs.

Writes a JSON snapshot with the code version, the package versions and the processor.

Usage: ``OMP_NUM_THREADS=2 .venv/bin/python bench/protocol.py [--checkpoint PATH] --json bench/results/protocol.json``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from sftrl.provenance import record as provenance  # the code digest, commit, packages and processor


def eval_throughput(model, tok, attempts: int, hands) -> dict[str, float]:
    from sftrl.config import EvalConfig
    from sftrl.evaluation.evaluate import evaluate_hands
    from sftrl.task.prompts import get_format

    t0 = time.perf_counter()
    res = evaluate_hands(model, tok, get_format("compact"), hands, "ood", EvalConfig(attempts=attempts))
    seconds = time.perf_counter() - t0
    return {"hands": res.n, "seconds": round(seconds, 2), "hands_per_s": round(res.n / seconds, 1),
            "accuracy": round(res.accuracy, 4), "accuracy_first_attempt": round(res.accuracy_within(1), 4)}


def rl_steps(model_path, cfg, steps: int) -> dict[str, float]:
    """Seconds per multi-turn RL step: trl's GRPOTrainer vs a bare PyTorch GRPO step."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from sftrl.task import corpus, game
    from sftrl.task.prompts import get_format
    from sftrl.training import rollout, train

    r = cfg.rl
    fmt = get_format("compact")
    hands = [h for h in train.rl_hands(cfg)]
    rows = corpus.rl_prompts(fmt, hands, game.ID_RULE)
    group, n_prompts = r.num_generations, r.prompts_per_step

    # bare: the same sampler, advantages within groups, one policy-gradient step
    model, tok = train.load(model_path, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=r.lr)
    torch.manual_seed(0)
    times, sample_times = [], []
    for step in range(steps):
        tasks = [(rows[(step * n_prompts + i) % len(rows)]["hand"].split(), "id") for i in range(n_prompts)
                 for _ in range(group)]
        t0 = time.perf_counter()
        model.eval()
        played = rollout.sample(model, tok, fmt, tasks, attempts=r.attempts, max_new_tokens=r.max_completion_length,
                                temperature=r.temperature)
        sample_times.append(time.perf_counter() - t0)
        model.train()
        rewards = torch.tensor([p.episode.reward(r.reward) for p in played]).view(-1, group)
        adv = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)).flatten()
        seqs = [p.prompt_ids + p.completion_ids for p in played]
        width = max(map(len, seqs))
        ids = torch.tensor([s + [tok.pad_token_id] * (width - len(s)) for s in seqs])
        att = (torch.arange(width)[None] < torch.tensor([len(s) for s in seqs])[:, None]).long()
        mask = torch.zeros_like(ids, dtype=torch.float)
        for i, p in enumerate(played):
            start = len(p.prompt_ids)
            mask[i, start:start + len(p.env_mask)] = torch.tensor(p.env_mask, dtype=torch.float)
        logits = model(input_ids=ids, attention_mask=att).logits[:, :-1].float()
        logp = logits.log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        m = mask[:, 1:]
        loss = -((logp * adv[:, None]) * m).sum() / m.sum().clamp(min=1)
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    bare = sum(times[1:]) / max(1, len(times) - 1)
    sampling = sum(sample_times[1:]) / max(1, len(sample_times) - 1)

    # trl: GRPOTrainer with the project's rollout_func, without and with gradient checkpointing
    from transformers import TrainerCallback

    def trl_step(checkpointing: bool) -> float:
        model, tok = train.load(model_path, cfg)
        play = rollout.rollout_func(rows, fmt, tok, attempts=r.attempts, max_new_tokens=r.max_completion_length,
                                    temperature=r.temperature, reward=r.reward)
        stamps: list[float] = []

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                stamps.append(time.perf_counter())

        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        with tempfile.TemporaryDirectory() as out:
            args = GRPOConfig(output_dir=out, max_steps=steps, learning_rate=r.lr,
                              per_device_train_batch_size=n_prompts * group, num_generations=group, beta=r.beta,
                              temperature=r.temperature, max_completion_length=r.attempts * (r.max_completion_length + 32),
                              use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_steps=1000,
                              disable_tqdm=True, seed=0, gradient_checkpointing=checkpointing)
            trainer = GRPOTrainer(model=model, reward_funcs=rollout.episode_reward, args=args,
                                  train_dataset=Dataset.from_list(rows), processing_class=tok, rollout_func=play,
                                  callbacks=[Clock()])
            trainer.train()
        return (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)

    plain, recomputed = trl_step(False), trl_step(True)
    return {"episodes_per_step": n_prompts * group, "attempts": r.attempts, "steps_timed": steps - 1,
            "sampling_s": round(sampling, 3), "bare_step_s": round(bare, 3), "trl_step_s": round(plain, 3),
            "trl_over_bare": round(plain / bare, 2),
            "trl_step_gradient_checkpointing_s": round(recomputed, 3),
            "gradient_checkpointing_over_plain": round(recomputed / plain, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--checkpoint", help="model to measure (default: the profile's base)")
    ap.add_argument("--attempts", type=int, default=5)
    ap.add_argument("--rl-steps", type=int, default=4, help="RL steps per method (the first is not timed)")
    ap.add_argument("--json", type=Path, help="write the snapshot here")
    args = ap.parse_args(argv)

    from sftrl import config
    from sftrl.task import corpus
    from sftrl.training import train

    cfg = config.profile(args.profile)
    train.setup_torch(cfg.threads)
    path = args.checkpoint or train.base_checkpoint(cfg)
    model, tok = train.load(path, cfg)
    hands = corpus.splits(cfg.split_seed).ood_eval
    out = {"profile": args.profile, "checkpoint": str(path) if args.checkpoint else "the profile's base",
           "provenance": provenance(),
           "evaluation": {"1 attempt": eval_throughput(model, tok, 1, hands),
                          f"{args.attempts} attempts": eval_throughput(model, tok, args.attempts, hands)},
           "rl_step": rl_steps(path, cfg, args.rl_steps)}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
