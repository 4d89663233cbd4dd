"""Benchmark of the training pipeline on this machine (issue: budget of the default profile).

Runs, from a cold cache in a temporary data folder, every training and evaluation run the
book's figures need in a profile (default: cpu, starting from the committed base), and
prints the wall time of each stage, training tokens per second, evaluation hands per
second, and the cost of one trl training step relative to a bare PyTorch step on the same
batch.

Usage: ``OMP_NUM_THREADS=2 .venv/bin/python bench/pipeline.py [--profile cpu] [--skip-runs]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _bare_vs_trl(cfg, steps: int = 20) -> tuple[float, float]:
    """Seconds per step: a bare PyTorch AdamW loop vs trl's SFTTrainer, same model and batch."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from sftrl.task import corpus
    from sftrl.training import train
    from sftrl.task.prompts import get_format

    model, tok = train.load(train.base_checkpoint(cfg), cfg)
    fmt = get_format("compact")
    examples = corpus.sft_examples(cfg.sft, fmt, corpus.splits(cfg.split_seed).sft)
    bs = cfg.sft.batch_size
    batch = examples[:bs]
    enc = [tok(e["prompt"] + e["completion"] + tok.eos_token)["input_ids"] for e in batch]
    width = max(map(len, enc))
    ids = torch.tensor([e + [tok.pad_token_id] * (width - len(e)) for e in enc])
    att = (ids != tok.pad_token_id).long()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=att, labels=ids.masked_fill(att == 0, -100)).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    bare = (time.perf_counter() - t0) / steps

    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, max_steps=steps + 3, per_device_train_batch_size=bs, learning_rate=1e-4,
                         save_strategy="no", report_to="none", use_cpu=True, bf16=False, logging_steps=1000,
                         disable_tqdm=True, completion_only_loss=True)
        times: list[float] = []

        from transformers import TrainerCallback

        class Clock(TrainerCallback):
            def on_step_end(self, a, state, control, **kw):
                times.append(time.perf_counter())

        model2, tok2 = train.load(train.base_checkpoint(cfg), cfg)
        trainer = SFTTrainer(model=model2, args=args, train_dataset=Dataset.from_list(examples[: bs * (steps + 3)]),
                             processing_class=tok2, callbacks=[Clock()])
        trainer.train()
    trl_step = (times[-1] - times[2]) / (len(times) - 3)
    return bare, trl_step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--skip-runs", action="store_true", help="only the step-cost comparison")
    args = ap.parse_args()
    os.environ.setdefault("SFTRL_DATA", tempfile.mkdtemp(prefix="sftrl-bench-"))
    import torch

    from sftrl import config
    from sftrl.experiments import figure1 as study
    from sftrl.experiments import pool
    from sftrl.training import train

    cfg = config.profile(args.profile)
    train.setup_torch(cfg.threads)
    print(f"profile {cfg.profile}, torch threads {torch.get_num_threads()}, data {os.environ['SFTRL_DATA']}")
    rows: list[tuple[str, float, str]] = []
    if not args.skip_runs:
        t = time.time()
        train.sft(cfg)
        dt = time.time() - t
        tokens = cfg.sft.steps * cfg.sft.batch_size * 36  # ~36 tokens per compact example
        rows.append(("SFT", dt, f"{cfg.sft.steps} steps, ~{tokens / dt:,.0f} tok/s"))
        t = time.time()
        study.prepare(cfg, cfg.rl_from_steps, seeds=cfg.rl_seeds)  # as make book makes them
        workers = pool.workers(cfg)
        n_runs = len(cfg.rl_from_steps) * cfg.rl_seeds
        n_ckpts = len(study.kept_sft_steps(cfg))
        rows.append(("Figure 1's runs and evaluations", time.time() - t,
                     f"{n_ckpts} SFT checkpoints evaluated, {n_runs} RL runs ({len(cfg.rl_from_steps)} starts x "
                     f"{cfg.rl_seeds} seeds) of {cfg.rl.steps} steps x {cfg.rl.prompts_per_step * cfg.rl.num_generations} "
                     f"rollouts, each end evaluated; {workers} worker(s)"))
        t = time.time()
        study.rl_window(cfg, cfg.rl_from_steps)
        rows.append(("read Figure 1's window", time.time() - t, "from the caches"))
        total = sum(r[1] for r in rows)
        rows.append(("total", total, "budget for the figures' runs: 600 s"))
    bare, trl_step = _bare_vs_trl(cfg)
    rows.append(("bare PyTorch step", bare, f"batch {cfg.sft.batch_size}"))
    rows.append(("trl SFTTrainer step", trl_step, f"ratio {trl_step / bare:.2f}x the bare step"))
    width = max(len(r[0]) for r in rows)
    for name, seconds, note in rows:
        print(f"{name:<{width}}  {seconds:9.2f} s  {note}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
