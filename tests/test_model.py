"""The compact tokenizer, the small model factory, and checkpoint save/load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from sftrl.errors import SftrlError
from sftrl.training.model import (
    SmallModelConfig,
    build_model,
    build_tokenizer,
    count_parameters,
    is_complete_checkpoint,
    load_model,
    save_checkpoint,
)
from sftrl.task.prompts import COMPACT_VOCAB, get_format
from sftrl.task.game import OOD_RULE

TINY = SmallModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2)
TEXTS = [
    "rule J 11 Q 12 K 13 cards A 5 J Q answer",
    "cards A 5 J Q number 1 5 11 12 formula ( 11 - 1 ) * 12 / 5",
    "number 3 3 8 8 formula 8 / ( 3 - 8 / 3 )",
]


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_tokenizer_one_id_per_vocabulary_word(tok):
    assert len(tok) == len(COMPACT_VOCAB)
    assert tok.convert_tokens_to_ids(COMPACT_VOCAB) == list(range(len(COMPACT_VOCAB)))
    assert (tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token) == ("<pad>", "<bos>", "<eos>", "<unk>")
    assert tok.padding_side == "left"


def test_tokenizer_adds_bos_and_splits_on_spaces(tok):
    ids = tok("rule J 11 answer")["input_ids"]
    assert ids == [tok.bos_token_id] + tok.convert_tokens_to_ids(["rule", "J", "11", "answer"])
    assert tok("formula 8 / ( 3 - 8 / 3 )")["input_ids"][1:] == tok.convert_tokens_to_ids(
        "formula 8 / ( 3 - 8 / 3 )".split())
    # a word outside the vocabulary is <unk>, never split into pieces
    assert tok("rule banana")["input_ids"] == [tok.bos_token_id, COMPACT_VOCAB.index("rule"), tok.unk_token_id]


def test_tokenizer_left_pads_batches(tok):
    enc = tok(["A", "rule J 11"], padding=True)
    assert enc["input_ids"][0][:2] == [tok.pad_token_id] * 2
    assert enc["attention_mask"] == [[0, 0, 1, 1], [1, 1, 1, 1]]


def test_tokenizer_round_trips_through_save_pretrained(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.padding_side == "left"
    for text in TEXTS + [get_format("compact").prompt(("A", "5", "J", "Q"), OOD_RULE)]:
        ids = tok(text)["input_ids"]
        assert loaded(text)["input_ids"] == ids
        assert loaded.decode(ids, skip_special_tokens=True) == text
        assert tok.decode(ids, skip_special_tokens=True) == text
    assert loaded.decode([tok.bos_token_id, 9, tok.eos_token_id, tok.pad_token_id]) == "<bos> A <eos> <pad>"


def test_default_config_has_the_expected_parameter_count(tok):
    cfg = SmallModelConfig()
    model = build_model(cfg, tok, seed=0)
    v, h, f, n_layers = len(tok), cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    per_layer = 4 * h * h + 3 * h * f + 2 * h  # q,k,v,o (no GQA at defaults) + gate,up,down + 2 norms
    assert count_parameters(model) == 2 * v * h + n_layers * per_layer + h  # untied embed + head, final norm
    assert count_parameters(model) == 1_059_200
    assert model.config.tie_word_embeddings is False


def test_embeddings_are_untied(tok):
    model = build_model(TINY, tok, seed=0)
    head = model.get_output_embeddings().weight.detach().clone()
    with torch.no_grad():
        model.get_input_embeddings().weight.add_(1.0)
    assert torch.equal(model.get_output_embeddings().weight, head)


def test_tied_config_shares_the_matrix(tok):
    cfg = SmallModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, tie_word_embeddings=True)
    model = build_model(cfg, tok, seed=0)
    assert model.get_input_embeddings().weight is model.get_output_embeddings().weight
    assert count_parameters(model) == count_parameters(build_model(
        SmallModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1), tok, seed=0)) - len(tok) * 32


def test_build_model_is_deterministic_and_leaves_global_rng_alone(tok):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(TINY, tok, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    b = build_model(TINY, tok, seed=7)
    c = build_model(TINY, tok, seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["model.layers.0.self_attn.q_proj.weight"], sc["model.layers.0.self_attn.q_proj.weight"])
    assert not a.training
    assert a.config.pad_token_id == tok.pad_token_id and a.config.eos_token_id == tok.eos_token_id


@pytest.mark.parametrize("kwargs, word", [
    (dict(hidden_size=30), "hidden_size=30"),
    (dict(num_attention_heads=4, num_key_value_heads=3), "num_key_value_heads=3"),
    (dict(num_hidden_layers=0), "num_hidden_layers"),
])
def test_bad_config_is_a_user_error(kwargs, word):
    with pytest.raises(SftrlError, match=word):
        SmallModelConfig(**kwargs)


def _logits(model, tok):
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**enc).logits


def test_checkpoint_round_trip(tok, tmp_path):
    model = build_model(TINY, tok, seed=1)
    path = save_checkpoint(model, tok, tmp_path / "ckpt")
    assert is_complete_checkpoint(path) and (path / "model.safetensors").is_file()
    loaded, ltok = load_model(path)
    assert not loaded.training and loaded.dtype == torch.float32
    assert ltok.padding_side == "left" and ltok.pad_token_id == tok.pad_token_id
    assert torch.equal(_logits(loaded, ltok), _logits(model, tok))
    assert json.loads((path / "config.json").read_text())["tie_word_embeddings"] is False
    # the same path given as a string loads the same way
    assert torch.equal(_logits(load_model(str(path))[0], ltok), _logits(model, tok))


def test_save_replaces_an_existing_checkpoint_and_leaves_no_temp_folders(tok, tmp_path):
    path = tmp_path / "ckpt"
    save_checkpoint(build_model(TINY, tok, seed=1), tok, path)
    (path / "stale.txt").write_text("from the first save")
    second = build_model(TINY, tok, seed=2)
    save_checkpoint(second, tok, path)
    assert not (path / "stale.txt").exists()
    assert torch.equal(_logits(load_model(path)[0], tok), _logits(second, tok))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_load_model_bf16(tok, tmp_path):
    path = save_checkpoint(build_model(TINY, tok, seed=1), tok, tmp_path / "ckpt")
    model, _ = load_model(path, dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16


def test_load_model_sets_a_pad_token_when_missing(tok, tmp_path):
    no_pad = build_tokenizer()
    no_pad.pad_token = None
    no_pad.padding_side = "right"
    path = save_checkpoint(build_model(TINY, tok, seed=1), no_pad, tmp_path / "ckpt")
    _, loaded = load_model(path)
    assert loaded.pad_token == loaded.eos_token == "<eos>"
    assert loaded.padding_side == "left"


def test_incomplete_folder_is_refused(tok, tmp_path):
    path = save_checkpoint(build_model(TINY, tok, seed=1), tok, tmp_path / "ckpt")
    (path / "model.safetensors").unlink()
    assert not is_complete_checkpoint(path)
    with pytest.raises(SftrlError, match=r"ckpt.*incomplete.*model\.safetensors"):
        load_model(path)


def test_missing_local_path_is_a_user_error(tmp_path):
    with pytest.raises(SftrlError, match="no-such-run"):
        load_model(tmp_path / "no-such-run")
    with pytest.raises(SftrlError, match="no-such-dir"):
        load_model("./no-such-dir/model")


def test_unreachable_hub_id_is_a_user_error():
    # conftest sets HF_HUB_OFFLINE=1, so this fails at once instead of retrying the network
    with pytest.raises(SftrlError, match="sftrl-test/no-such-model"):
        load_model("sftrl-test/no-such-model")


def test_bad_device_is_a_user_error(tmp_path: Path):
    with pytest.raises(SftrlError, match="tpu9"):
        load_model(tmp_path, device="tpu9")
