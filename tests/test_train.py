"""The training pipeline end to end in the smoke profile: real trl trainers, tiny model."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from sftrl import config, paths
from sftrl.task import game
from sftrl.evaluation import checkpoint
from sftrl.training import train
from sftrl.errors import SftrlError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cfg():
    return config.profile("smoke")


@pytest.fixture(scope="module")
def sft_run(cfg):
    return train.sft(cfg)


def _weights(path):
    return load_file(str(path / "model.safetensors"))


def _changed(a, b):
    return sum(not torch.equal(a[k], b[k]) for k in a)


def test_pretrain_then_sft_keeps_the_configured_checkpoints(cfg, sft_run):
    pre = train.pretrain_run(cfg)
    assert pre.is_done and cfg.pretrain.steps in pre.checkpoints()
    assert sft_run.is_done
    assert sorted(sft_run.checkpoints()) == sorted({*cfg.sft.checkpoints, cfg.sft.steps})
    losses = [r["loss"] for r in sft_run.metrics() if "loss" in r]
    assert losses and all(math.isfinite(x) for x in losses)
    # only the newest checkpoint keeps the optimizer state (the others are for analysis)
    ckpts = sft_run.checkpoints()
    assert (ckpts[max(ckpts)] / "optimizer.pt").exists()
    assert not (ckpts[min(ckpts)] / "optimizer.pt").exists()


def test_a_training_step_changes_the_weights(cfg, sft_run):
    base = _weights(train.base_checkpoint(cfg))
    first = _weights(sft_run.checkpoint(min(sft_run.checkpoints())))
    assert base.keys() == first.keys()
    assert _changed(base, first) == len(base)  # every tensor moved (AdamW, lr > 0)


def test_finished_run_is_a_cache_hit_and_a_new_setting_a_miss(cfg, sft_run):
    t0 = time.time()
    again = train.sft(cfg)
    assert again.id == sft_run.id and time.time() - t0 < 5
    other = train.sft_run(config.profile("smoke", sft_lr=5e-4))
    assert other.id != sft_run.id and not other.is_done


def test_rl_with_the_shaped_reward_moves_weights(cfg, sft_run):
    step = max(sft_run.checkpoints())  # the strict format is learned: outcomes differ
    shaped = config.profile("smoke", rl_reward="shaped")
    run = train.rl(shaped, from_step=step)
    assert run.is_done and run.summary()["from_step"] == step
    rewards = [r["reward"] for r in run.metrics() if "reward" in r]
    # an episode's shaped reward is the sum over its turns: -3 for each of up to `attempts`
    # malformed answers at worst, +5 for a first-attempt solve at best
    assert rewards and all(-3.0 * shaped.rl.attempts <= x <= 5.0 for x in rewards)
    start, end = _weights(sft_run.checkpoint(step)), _weights(run.checkpoint(cfg.rl.steps))
    assert _changed(start, end) > 0


def test_rl_without_reward_signal_leaves_weights_unchanged(cfg, sft_run):
    # the tiny smoke model never solves a hand: every binary reward is 0, every group's
    # advantage is 0, so GRPO has no gradient (what the prototype saw after a long SFT)
    step = min(sft_run.checkpoints())
    run = train.rl(config.profile("smoke", rl_reward="binary"), from_step=step)
    rewards = [r["reward"] for r in run.metrics() if "reward" in r]
    assert rewards and max(rewards) == 0.0
    start, end = _weights(sft_run.checkpoint(step)), _weights(run.checkpoint(cfg.rl.steps))
    assert _changed(start, end) == 0


def test_rl_from_a_step_that_was_not_kept_is_refused(cfg, sft_run):
    with pytest.raises(SftrlError, match="step 7"):
        train.rl(cfg, from_step=7)


def test_evaluation_rows_for_every_checkpoint(cfg, sft_run):
    rows = checkpoint.evaluate_run(sft_run, cfg, start=train.base_checkpoint(cfg))
    steps = sorted({r["step"] for r in rows})
    assert steps == [0, *sorted(sft_run.checkpoints())]
    for r in rows:
        assert r["split"] in checkpoint.SPLITS and r["n"] == cfg.eval.max_hands
        assert 0 <= r["ci_low"] <= r["accuracy"] <= r["ci_high"] <= 1
        assert math.isfinite(r["train_loss"]) and math.isfinite(r["heldout_loss"])
    # a second call reads the cache: same rows, no new lines
    path = next((sft_run.dir / "evals").glob("*.jsonl"))
    n_lines = len(path.read_text().splitlines())
    assert checkpoint.evaluate_run(sft_run, cfg, start=train.base_checkpoint(cfg)) == rows
    assert len(path.read_text().splitlines()) == n_lines


def test_multi_turn_rl_moves_the_weights_and_logs_the_episode_reward(cfg, sft_run):
    step = max(sft_run.checkpoints())
    run = train.rl(cfg, from_step=step)
    start, end = _weights(sft_run.checkpoint(step)), _weights(run.checkpoint(cfg.rl.steps))
    assert any(not torch.equal(start[k], end[k]) for k in start)
    logs = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    rewards = [r["rewards/episode_reward/mean"] for r in logs if "rewards/episode_reward/mean" in r]
    # the shaped reward of an episode of up to `attempts` turns lies in [-3 * attempts, 5]
    assert rewards and all(-3 * cfg.rl.attempts <= x <= 5 for x in rewards)


def test_a_killed_run_resumes_from_its_last_checkpoint(cfg, sft_run):
    # a fresh SFT configuration, trained in a child process that we SIGKILL mid-run
    steps = 60
    over = {"sft_steps": steps, "sft_checkpoints": "10,20,30,40,50", "sft_lr": 2e-3, "sft_batch_size": 64}
    run = train.sft_run(config.profile("smoke", **over))
    env = {**os.environ, "SFTRL_DATA": str(paths.DATA)}
    cmd = [sys.executable, "-m", "sftrl", "train", "sft", "--profile", "smoke",
           *[a for k, v in over.items() for a in ("--set", f"{k}={v}")]]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and 20 not in run.checkpoints() and child.poll() is None:
        time.sleep(0.2)
    assert child.poll() is None, child.stderr.read().decode()[-2000:]
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not run.is_done and 20 in run.checkpoints()
    # a half-written checkpoint left by the kill must never be read
    (run.dir / "checkpoint-55").mkdir(exist_ok=True)
    done = train.sft(config.profile("smoke", **over))
    assert done.is_done and not (run.dir / "checkpoint-55").exists()
    summary = done.summary()
    assert summary["resumed_from"] >= 20
    state = json.loads((done.checkpoint(steps) / "trainer_state.json").read_text())
    assert state["global_step"] == steps


def test_gradient_masked_rl_changes_only_allowed_entries(cfg, sft_run):
    from sftrl.weights import masks
    from sftrl.training.model import load_model

    step = max(sft_run.checkpoints())
    probe = config.profile("smoke", rl_reward="shaped", rl_grad_mask="random", rl_grad_mask_alpha=0.3)
    run = train.rl(probe, from_step=step)
    start_model, _ = load_model(sft_run.checkpoint(step))
    allowed = masks.make_gradient_masks(start_model, "random", 0.3, probe.rl.grad_mask_rank, seed=probe.rl.seed)
    start, end = _weights(sft_run.checkpoint(step)), _weights(run.checkpoint(probe.rl.steps))
    moved_inside = 0
    for name, mask in allowed.items():
        changed = start[name] != end[name]
        assert not (changed & ~mask).any(), f"{name} changed outside its gradient mask"
        moved_inside += int(changed.sum())
    assert moved_inside > 0
    # only the blocks' matrices are restricted: the embedding trains in every variant
    assert not torch.equal(start["model.embed_tokens.weight"], end["model.embed_tokens.weight"])


def test_bf16_rl_stores_bf16_weights(cfg, sft_run):
    step = max(sft_run.checkpoints())
    run = train.rl(config.profile("smoke", rl_reward="shaped", rl_dtype="bfloat16"), from_step=step)
    end = _weights(run.checkpoint(cfg.rl.steps))
    assert {t.dtype for t in end.values()} == {torch.bfloat16}


def test_rl_hand_halves_are_disjoint_by_value_multiset(cfg):
    halves = [train.rl_hands(config.profile("smoke", rl_hand_subset=h)) for h in ("half0", "half1")]
    everything = train.rl_hands(cfg)
    assert sorted(halves[0] + halves[1]) == sorted(everything)
    values = [{tuple(sorted(game.ID_RULE.values(h))) for h in half} for half in halves]
    assert not values[0] & values[1]
    with pytest.raises(SftrlError, match="half2"):
        train.rl_hands(config.profile("smoke", rl_hand_subset="half2"))


def test_the_committed_base_is_the_cpu_profiles_base():
    # changing a pretraining default without `make base` would silently retrain the base
    assert train.committed_base_config() is not None, "data/base is missing: run `make base`"
    assert train.base_checkpoint(config.profile("cpu")) == paths.BASE


@pytest.mark.parametrize("stage", ["pretrain", "sft", "rl"])
def test_a_context_too_short_for_the_episodes_is_refused_before_any_work(stage, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS", tmp_path / "runs")
    short = config.profile("smoke", model_context=64, eval_attempts=5)
    call = {"pretrain": lambda: train.pretrain(short), "sft": lambda: train.sft(short),
            "rl": lambda: train.rl(short, from_step=10)}[stage]
    with pytest.raises(SftrlError, match="model_context=64 is too short for eval_attempts=5"):
        call()
    assert not (tmp_path / "runs").exists()


def test_gradient_checkpointing_changes_the_cost_not_the_weights(cfg, sft_run, tmp_path, monkeypatch):
    step = max(sft_run.checkpoints())
    plain = train.rl(cfg, from_step=step)
    a = _weights(plain.checkpoint(cfg.rl.steps))
    # the same pipeline (base, SFT, RL) again in an empty runs folder, recomputing activations
    monkeypatch.setattr(paths, "RUNS", tmp_path / "runs")
    again = config.profile("smoke", gradient_checkpointing="true")
    assert train.rl_run(again, step).id == plain.id  # a setting of the computation, not of the result
    assert not train.rl_run(again, step).is_done
    run = train.rl_run(again, step)
    assert train._common_args(again, run, steps=1, lr=1e-3, seed=0)["gradient_checkpointing"] is True
    assert train._common_args(cfg, run, steps=1, lr=1e-3, seed=0)["gradient_checkpointing"] is False
    b = _weights(train.rl(again, from_step=step).checkpoint(cfg.rl.steps))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
