"""Profiles, overrides and run bookkeeping (no training here)."""

from __future__ import annotations

import json

import pytest

from sftrl import config
from sftrl.errors import SftrlError
from sftrl.training.runs import Run, list_runs, read_jsonl, write_json_atomic
from sftrl.identity import config_hash


def test_profiles_exist_and_differ():
    smoke, cpu, gpu = (config.profile(n) for n in ("smoke", "cpu", "gpu"))
    assert smoke.sft.steps < cpu.sft.steps
    assert gpu.model.base != "small" and gpu.model.answer_format == "chat"


@pytest.mark.parametrize("name, max_hands, batch_size, max_new_tokens", [
    ("smoke", 24, 512, 24), ("cpu", 0, 512, 32), ("gpu", 0, 64, 128),
])
def test_profiles_evaluate_under_the_papers_protocol(name, max_hands, batch_size, max_new_tokens):
    """The pipeline's effective evaluation of every profile: the papers' protocol (up to 5
    greedy, strict attempts, each wrong one answered with the verifier's reason), the
    profile's caps and budgets; RL plays the same episodes."""
    cfg = config.profile(name)
    e = cfg.eval
    assert (e.max_hands, e.batch_size, e.max_new_tokens) == (max_hands, batch_size, max_new_tokens)
    assert (e.attempts, e.feedback, e.temperature, e.require_strict, e.seed) == (5, "verifier", 0.0, True, 0)
    assert (cfg.rl.attempts, cfg.rl.reward) == (5, "shaped")
    assert config.profile(name, eval_attempts="5", eval_temperature="0.7").eval.attempts == 5


def test_flat_overrides_are_typed_and_nested():
    cfg = config.profile("cpu", sft_lr="3e-4", rl_steps="50", sft_checkpoints="10,20", rl_from_steps="10 20",
                         threads="1")
    assert cfg.sft.lr == pytest.approx(3e-4) and isinstance(cfg.sft.lr, float)
    assert cfg.rl.steps == 50 and cfg.sft.checkpoints == (10, 20) and cfg.threads == 1
    assert cfg.rl_from_steps == (10, 20)
    for word, value in [("True", True), ("no", False), ("1", True), (" false ", False)]:
        assert config.profile("cpu", gradient_checkpointing=word).gradient_checkpointing is value


def test_none_keeps_the_profile_value_and_nothing_else_does():
    assert config.profile("cpu", sft_lr=None, model_base=None) == config.profile("cpu")
    with pytest.raises(SftrlError, match="sft_steps"):  # "" is not "the profile's value"
        config.profile("cpu", sft_steps="")


@pytest.mark.parametrize("bad", [{"sft_lrr": 1}, {"nonsense": 2}])
def test_unknown_setting_is_named(bad):
    with pytest.raises(SftrlError, match=next(iter(bad))):
        config.profile("cpu", **bad)


def test_unknown_profile_and_bad_value():
    with pytest.raises(SftrlError, match="laptop"):
        config.profile("laptop")
    with pytest.raises(SftrlError, match="sft_steps"):
        config.profile("cpu", sft_steps="many")


def test_config_hash_ignores_key_order_and_tuple_vs_list():
    assert config_hash({"a": 1, "b": (1, 2)}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_run_identity_and_markers(tmp_path):
    run = Run("sft", {"x": 1}, root=tmp_path)
    assert run.id.startswith("sft-") and run.id == Run("sft", {"x": 1}, root=tmp_path).id
    assert not run.is_done
    run.prepare()
    assert json.loads((run.dir / "config.json").read_text())["x"] == 1
    # a checkpoint still being written (no trainer_state.json) is invisible and removable
    (run.dir / "checkpoint-10").mkdir()
    (run.dir / "checkpoint-20").mkdir()
    (run.dir / "checkpoint-20" / "trainer_state.json").write_text("{}")
    assert list(run.checkpoints()) == [20]
    assert run.remove_incomplete_checkpoints() == [run.dir / "checkpoint-10"]
    with pytest.raises(SftrlError, match="step 10"):
        run.checkpoint(10)
    run.mark_done({"steps": 20})
    assert run.is_done and run.summary()["steps"] == 20
    assert list_runs(tmp_path) == [{"id": run.id, "stage": "sft", "done": True, "checkpoints": [20]}]


def test_unknown_stage():
    with pytest.raises(SftrlError, match="ppo"):
        Run("ppo", {})


def test_jsonl_reader_stops_at_a_cut_line(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    assert read_jsonl(p) == [{"a": 1}, {"a": 2}]


def test_atomic_json_leaves_no_temp_files(tmp_path):
    write_json_atomic(tmp_path / "x.json", {"k": [1, 2]})
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_sharded_checkpoint_identity_covers_every_shard(tmp_path):
    import json as _json

    from sftrl.identity import checkpoint_identity

    for name, payload in (("a", b"one"), ("b", b"two")):
        d = tmp_path / name
        d.mkdir()
        (d / "model.safetensors.index.json").write_text(_json.dumps({"weight_map": {"w": "model-1.safetensors"}}))
        (d / "model-1.safetensors").write_bytes(payload)
    # same index, different weights: different identities
    assert checkpoint_identity(tmp_path / "a") != checkpoint_identity(tmp_path / "b")
    assert checkpoint_identity("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
