"""Reading checkpoints one matrix at a time: names, layouts, dtypes, tied embeddings, mismatches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sftrl.weights.checkpoints import (
    BLOCK_KINDS,
    CheckpointReader,
    MatrixKey,
    check_comparable,
    matrix_keys,
    parse_kinds,
    parse_matrix_name,
    select_keys,
)
from sftrl.errors import SftrlError

transformers = pytest.importorskip("transformers")


def tiny_llama(path: Path, *, seed: int = 0, tied: bool = False, dtype=torch.float32, shard: str | None = None,
               hidden: int = 32, layers: int = 2) -> Path:
    """A tiny random LlamaForCausalLM saved with save_pretrained (sharded when ``shard``)."""
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=32, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied,
    )
    model = transformers.LlamaForCausalLM(cfg).to(dtype)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(path, **kwargs)
    return path


def state_dict(path: Path) -> dict[str, torch.Tensor]:
    model = transformers.LlamaForCausalLM.from_pretrained(path, dtype=torch.float32)
    return {k: v.detach() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpt")
    return {
        "single": tiny_llama(root / "single"),
        "sharded": tiny_llama(root / "sharded", shard="20KB"),
        "tied": tiny_llama(root / "tied", tied=True),
        "bf16": tiny_llama(root / "bf16", dtype=torch.bfloat16),
        "fp16": tiny_llama(root / "fp16", dtype=torch.float16),
        "wide": tiny_llama(root / "wide", hidden=64),
    }


def test_parse_matrix_name_maps_llama_and_qwen_names():
    assert parse_matrix_name("model.layers.3.self_attn.q_proj.weight") == MatrixKey(
        "model.layers.3.self_attn.q_proj.weight", 3, "q")
    assert parse_matrix_name("model.layers.11.mlp.down_proj.weight").kind == "down"
    assert parse_matrix_name("model.layers.0.mlp.gate_proj.weight").layer == 0
    assert parse_matrix_name("model.embed_tokens.weight").kind == "embed"
    assert parse_matrix_name("lm_head.weight") == MatrixKey("lm_head.weight", None, "lm_head")
    # 1-D tensors and other names are not matrices
    assert parse_matrix_name("model.layers.0.self_attn.q_proj.bias") is None
    assert parse_matrix_name("model.layers.0.input_layernorm.weight") is None
    assert parse_matrix_name("model.norm.weight") is None


def test_reader_lists_every_matrix_in_order_and_reads_float32(ckpts):
    r = CheckpointReader(ckpts["single"])
    keys = r.keys()
    assert len(keys) == 1 + 2 * len(BLOCK_KINDS) + 1
    assert keys[0].kind == "embed" and keys[-1].kind == "lm_head"
    assert [k.kind for k in keys[1:8]] == list(BLOCK_KINDS) and {k.layer for k in keys[1:8]} == {0}
    assert r.num_layers == 2 and not r.tied
    sd = state_dict(ckpts["single"])
    for key in keys:
        W = r.get(key.name)
        assert W.dtype == torch.float32 and W.shape == r.shape(key.name)
        torch.testing.assert_close(W, sd[key.name], rtol=0, atol=0)
    assert r.get(keys[1].name, torch.float64).dtype == torch.float64
    assert r.shape(r.key("k", 1).name) == (16, 32)  # 2 kv heads x head_dim 8
    assert matrix_keys(ckpts["single"]) == keys


def test_sharded_checkpoint_reads_like_a_single_file(ckpts):
    single, sharded = CheckpointReader(ckpts["single"]), CheckpointReader(ckpts["sharded"])
    assert (ckpts["sharded"] / "model.safetensors.index.json").is_file()
    assert len({sharded.file_of(n) for n in sharded.names()}) > 1
    assert sharded.keys() == single.keys()
    for key in single.keys():  # same seed, same weights
        torch.testing.assert_close(sharded.get(key.name), single.get(key.name), rtol=0, atol=0)


@pytest.mark.parametrize("name,disk", [("bf16", "BF16"), ("fp16", "F16")])
def test_half_precision_on_disk_comes_back_as_float32(ckpts, name, disk):
    r = CheckpointReader(ckpts[name])
    key = r.key("q", 0)
    assert r.dtype(key.name) == disk
    W = r.get(key.name)
    assert W.dtype == torch.float32
    torch.testing.assert_close(W, r.get_raw(key.name).float(), rtol=0, atol=0)


def test_get_rows_reads_a_block_of_rows(ckpts):
    r = CheckpointReader(ckpts["sharded"])
    name = r.key("up", 1).name
    torch.testing.assert_close(r.get_rows(name, 5, 17), r.get(name)[5:17], rtol=0, atol=0)
    assert r.get_rows(name, 60, 999).shape == (4, 32)  # clipped at the last row, like a slice


def test_read_rows_into_reuses_buffers_and_converts(ckpts):
    r = CheckpointReader(ckpts["bf16"])
    name = r.key("gate", 0).name
    out, scratch = torch.empty(10, 32), {}
    r.read_rows_into(name, 3, 13, out, scratch)
    raw = scratch["raw"]
    torch.testing.assert_close(out, r.get(name)[3:13], rtol=0, atol=0)
    r.read_rows_into(name, 50, 60, out, scratch)  # same scratch tensor, no new allocation
    assert scratch["raw"] is raw
    torch.testing.assert_close(out, r.get(name)[50:60], rtol=0, atol=0)
    f32 = CheckpointReader(ckpts["single"])
    buf = torch.empty(4, 32)
    assert f32.read_rows_into(name, 0, 4, buf).data_ptr() == buf.data_ptr()  # read in place
    torch.testing.assert_close(buf, f32.get(name)[:4], rtol=0, atol=0)


def test_tied_embeddings_are_flagged_not_duplicated(ckpts):
    r = CheckpointReader(ckpts["tied"])
    assert r.tied
    assert [k.kind for k in r.keys()].count("lm_head") == 0
    assert r.keys()[0].kind == "embed"
    with pytest.raises(SftrlError, match="tied"):
        r.key("lm_head")
    assert not CheckpointReader(ckpts["single"]).tied


def test_check_comparable_names_the_first_mismatch(ckpts, tmp_path):
    check_comparable(ckpts["single"], ckpts["sharded"])  # same layout, different files: fine
    check_comparable(ckpts["single"], ckpts["bf16"])  # dtype may differ
    with pytest.raises(SftrlError, match=r"model\.embed_tokens\.weight has shape"):
        check_comparable(ckpts["single"], ckpts["wide"])
    with pytest.raises(SftrlError, match="tied embeddings"):
        check_comparable(ckpts["single"], ckpts["tied"])
    # a checkpoint missing one tensor
    r = CheckpointReader(ckpts["single"])
    tensors = {n: r.get_raw(n) for n in r.names() if n != "model.layers.1.mlp.up_proj.weight"}
    (tmp_path / "cut").mkdir()
    save_file(tensors, str(tmp_path / "cut" / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(SftrlError, match=r"model\.layers\.1\.mlp\.up_proj\.weight .* missing"):
        check_comparable(ckpts["single"], tmp_path / "cut")


def test_select_keys_validates_kinds_and_layers(ckpts):
    keys = CheckpointReader(ckpts["single"]).keys()
    assert [k.kind for k in select_keys(keys, kinds=["q", "down"])] == ["q", "down", "q", "down"]
    assert {k.layer for k in select_keys(keys, layers=[1])} == {None, 1}  # embed/lm_head pass
    with pytest.raises(SftrlError, match="unknown matrix kind 'attn'"):
        select_keys(keys, kinds=["attn"])
    with pytest.raises(SftrlError, match="layer 2 out of range"):
        select_keys(keys, layers=[2])
    assert parse_kinds("q, k,down") == ("q", "k", "down") and parse_kinds("") is None
    with pytest.raises(SftrlError, match="'qq'"):
        parse_kinds("q,qq")


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(SftrlError, match="not found"):
        CheckpointReader(tmp_path / "nope")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(SftrlError, match="pytorch_model.bin"):
        CheckpointReader(tmp_path / "bin")


def test_missing_shard_is_named(ckpts, tmp_path):
    import shutil

    dst = tmp_path / "broken"
    shutil.copytree(ckpts["sharded"], dst)
    index = json.loads((dst / "model.safetensors.index.json").read_text())
    victim = sorted(set(index["weight_map"].values()))[0]
    (dst / victim).unlink()
    with pytest.raises(SftrlError, match=victim):
        CheckpointReader(dst)


def test_identity_changes_when_the_bytes_change_at_the_same_path_and_mtime(ckpts, tmp_path):
    """Every cache (runs' parents, evaluations, SVDs, edits, masks) keys a checkpoint by this
    identity: rewriting its weights in place must change it, even with the mtime put back."""
    import shutil

    from sftrl.identity import checkpoint_identity
    from sftrl.weights.spectral import SVDCache

    dst = shutil.copytree(ckpts["single"], tmp_path / "c")
    before, svd_dir = checkpoint_identity(dst), SVDCache(dst, root=tmp_path / "svd").dir
    assert checkpoint_identity(dst) == before
    st = os.stat(dst / "model.safetensors")
    os.utime(dst / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert checkpoint_identity(dst) == before  # a touch is no change of content
    data = bytearray((dst / "model.safetensors").read_bytes())
    data[-1] ^= 1  # one bit of the last weight
    (dst / "model.safetensors").write_bytes(bytes(data))
    os.utime(dst / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns))  # the same mtime as before
    assert os.stat(dst / "model.safetensors").st_mtime_ns == st.st_mtime_ns
    assert checkpoint_identity(dst) != before
    assert SVDCache(dst, root=tmp_path / "svd").dir != svd_dir
