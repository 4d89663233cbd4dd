"""Edits in singular-vector space: the formulas' identities and the checkpoints they write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sftrl.weights import spectral
from sftrl.weights.checkpoints import CheckpointReader
from sftrl.weights.edits import (
    EDIT_RECORD,
    Edit,
    edit_checkpoint,
    graft,
    layer_blocks,
    plan_edit,
    restore_directions,
    sigma_swap,
)
from sftrl.errors import SftrlError
from sftrl.weights.spectral import SVD, svd

transformers = pytest.importorskip("transformers")


def rand_svd(m: int, n: int, seed: int) -> tuple[torch.Tensor, SVD]:
    W = torch.randn(m, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return W, svd(W, dtype=torch.float64, device="cpu")


# ---------------------------------------------------------------------------------- formulas
@pytest.mark.parametrize("m,n", [(12, 7), (7, 12)])
def test_restore_identities(m, n):
    W_tgt, tgt = rand_svd(m, n, 0)
    W_ref, ref = rand_svd(m, n, 1)
    r = min(m, n)
    torch.testing.assert_close(restore_directions(ref, tgt, 0), W_tgt)  # k=0: the target
    torch.testing.assert_close(restore_directions(ref, tgt, r, S=ref.S), W_ref)  # all, S_ref: the reference
    torch.testing.assert_close(restore_directions(ref, tgt, r, S=ref.S, tail=True), W_ref)
    torch.testing.assert_close(restore_directions(ref, tgt, 0, tail=True), W_tgt)
    for k in range(r + 1):  # restoring a matrix from itself changes nothing
        torch.testing.assert_close(restore_directions(tgt, tgt, k), W_tgt)
        torch.testing.assert_close(restore_directions(tgt, tgt, k, tail=True), W_tgt)


def test_restore_is_the_papers_mixed_basis_formula():
    _, tgt = rand_svd(10, 6, 2)
    _, ref = rand_svd(10, 6, 3)
    k = 2
    U = torch.cat([ref.U[:, :k], tgt.U[:, k:]], dim=1)
    V = torch.cat([ref.Vh[:k].T, tgt.Vh[k:].T], dim=1)
    torch.testing.assert_close(restore_directions(ref, tgt, k), U @ torch.diag(tgt.S) @ V.T)
    Ut = torch.cat([tgt.U[:, : 6 - k], ref.U[:, 6 - k:]], dim=1)
    Vt = torch.cat([tgt.Vh[: 6 - k].T, ref.Vh[6 - k:].T], dim=1)
    torch.testing.assert_close(restore_directions(ref, tgt, k, tail=True), Ut @ torch.diag(tgt.S) @ Vt.T)
    # the mixed basis is not orthonormal, so the edited matrix's singular values are not S_tgt
    assert not torch.allclose(torch.linalg.svdvals(U @ torch.diag(tgt.S) @ V.T), tgt.S, atol=1e-3)
    with pytest.raises(SftrlError, match="k=7"):
        restore_directions(ref, tgt, 7)


def test_graft_and_sigma_swap_identities():
    W_a, a = rand_svd(9, 5, 4)
    W_b, b = rand_svd(9, 5, 5)
    torch.testing.assert_close(graft(a.U, a.S, a.Vh), W_a)  # graft(a, a) = a
    torch.testing.assert_close(sigma_swap(a, a.S), W_a)  # identical spectra: identity
    swapped = sigma_swap(a, b.S)  # U_a diag(S_b) Vh_a has exactly the values S_b
    torch.testing.assert_close(torch.linalg.svdvals(swapped), b.S)
    torch.testing.assert_close(graft(b.U, a.S, b.Vh), restore_directions(b, a, 5))  # graft = restore all


def test_layer_blocks():
    assert layer_blocks(4) == {"Q1": (0,), "Q2": (1,), "Q3": (2,), "Q4": (3,), "first 25%": (0,),
                               "first 50%": (0, 1), "first 75%": (0, 1, 2), "all": (0, 1, 2, 3)}
    b = layer_blocks(24)
    assert b["Q2"] == tuple(range(6, 12)) and b["first 75%"] == tuple(range(18))
    assert sum(len(b[f"Q{i}"]) for i in range(1, 5)) == 24
    assert set(layer_blocks(2)) == {"Q1", "Q3", "first 25%", "first 50%", "first 75%", "all"}


# ---------------------------------------------------------------------------------- checkpoints
def tiny_llama(path: Path, seed: int, *, tied: bool = False, dtype=torch.float32, shard: str | None = None,
               hidden: int = 32) -> Path:
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=32, hidden_size=hidden, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied,
    )
    model = transformers.LlamaForCausalLM(cfg).to(dtype)
    with torch.no_grad():  # norms away from 1 so "taken from the target" is checkable
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.uniform_(0.5, 1.5)
    model.save_pretrained(path, **({"max_shard_size": shard} if shard else {}))
    (path / "tokenizer_config.json").write_text('{"model_max_length": 64}')
    (path / "optimizer.pt").write_bytes(b"not copied")
    return path


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("edit")
    return {
        "tgt": tiny_llama(root / "tgt", 0),
        "ref": tiny_llama(root / "ref", 1),
        "tgt_sharded": tiny_llama(root / "tgt_sharded", 0, shard="20KB"),
        "tied_tgt": tiny_llama(root / "tied_tgt", 2, tied=True),
        "tied_ref": tiny_llama(root / "tied_ref", 3, tied=True),
        "bf16": tiny_llama(root / "bf16", 0, dtype=torch.bfloat16),
        "wide": tiny_llama(root / "wide", 1, hidden=48),
    }


def tensors(path: Path) -> dict[str, torch.Tensor]:
    r = CheckpointReader(path)
    return {n: r.get_raw(n) for n in r.names()}


def run_edit(ckpts, tmp_path, edit: Edit, tgt: str = "tgt", ref: str = "ref", name: str = "out") -> dict[str, torch.Tensor]:
    out = edit_checkpoint(ckpts[tgt], ckpts[ref], tmp_path / name, edit, device="cpu", cache_root=tmp_path / "cache")
    return tensors(out)


def test_restore_k0_gives_the_target_and_graft_of_itself_is_identity(ckpts, tmp_path):
    T = tensors(ckpts["tgt"])
    out = run_edit(ckpts, tmp_path, Edit("restore", k=0, embeddings=True), name="k0")
    assert out.keys() == T.keys()
    for n in T:
        torch.testing.assert_close(out[n], T[n], rtol=1e-5, atol=1e-5)
    same = run_edit(ckpts, tmp_path, Edit("graft", embeddings=True), ref="tgt_sharded", name="self")
    for n in T:
        torch.testing.assert_close(same[n], T[n], rtol=1e-5, atol=1e-5)
    swap = run_edit(ckpts, tmp_path, Edit("sigma_swap"), ref="tgt_sharded", name="sig")
    for n in T:
        torch.testing.assert_close(swap[n], T[n], rtol=1e-5, atol=1e-5)


def test_layerwise_restore_edits_only_the_chosen_layers(ckpts, tmp_path):
    T, R = tensors(ckpts["tgt"]), tensors(ckpts["ref"])
    out = run_edit(ckpts, tmp_path, Edit("restore", k=1.0, layers=(0,)))
    q0 = "model.layers.0.self_attn.q_proj.weight"
    t, r = svd(T[q0], device="cpu"), svd(R[q0], device="cpu")
    torch.testing.assert_close(out[q0], graft(r.U, t.S, r.Vh), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out[q0], T[q0], atol=1e-3)
    for n in T:  # layer 1, embeddings, LM head and all norms are the target's, bit for bit
        if not n.startswith("model.layers.0.") or n.endswith("norm.weight"):
            assert torch.equal(out[n], T[n]), n


def test_full_swap_with_and_without_embeddings(ckpts, tmp_path):
    T, R = tensors(ckpts["tgt"]), tensors(ckpts["ref"])
    out = run_edit(ckpts, tmp_path, Edit("swap", layers=(1,), embeddings=True), name="with")
    assert torch.equal(out["model.layers.1.mlp.down_proj.weight"], R["model.layers.1.mlp.down_proj.weight"])
    assert torch.equal(out["model.embed_tokens.weight"], R["model.embed_tokens.weight"])
    assert torch.equal(out["lm_head.weight"], R["lm_head.weight"])
    assert torch.equal(out["model.layers.1.input_layernorm.weight"], T["model.layers.1.input_layernorm.weight"])
    out = run_edit(ckpts, tmp_path, Edit("swap", layers=(1,)), name="without")
    assert torch.equal(out["model.embed_tokens.weight"], T["model.embed_tokens.weight"])
    assert torch.equal(out["lm_head.weight"], T["lm_head.weight"])


def test_rank_restore_top_and_tail_on_a_sharded_target(ckpts, tmp_path):
    out_dir = edit_checkpoint(ckpts["tgt_sharded"], ckpts["ref"], tmp_path / "sh", Edit("restore", k=3, tail=True, kinds=("v",)),
                              device="cpu", cache_root=tmp_path / "cache")
    index = json.loads((out_dir / "model.safetensors.index.json").read_text())
    assert index == json.loads((ckpts["tgt_sharded"] / "model.safetensors.index.json").read_text())
    T, R, out = tensors(ckpts["tgt"]), tensors(ckpts["ref"]), tensors(out_dir)
    v1 = "model.layers.1.self_attn.v_proj.weight"
    expect = restore_directions(svd(R[v1], device="cpu"), svd(T[v1], device="cpu"), 3, tail=True)
    torch.testing.assert_close(out[v1], expect, rtol=1e-5, atol=1e-5)
    assert torch.equal(out["model.layers.1.self_attn.q_proj.weight"], T["model.layers.1.self_attn.q_proj.weight"])
    # it is a checkpoint transformers loads, with the side files but not the optimizer state
    model = transformers.LlamaForCausalLM.from_pretrained(out_dir)
    torch.testing.assert_close(model.model.layers[1].self_attn.v_proj.weight.detach(), expect, rtol=1e-5, atol=1e-5)
    assert (out_dir / "tokenizer_config.json").is_file() and not (out_dir / "optimizer.pt").exists()
    record = json.loads((out_dir / EDIT_RECORD).read_text())
    assert record["edit"]["op"] == "restore" and record["edited"] == [
        "model.layers.0.self_attn.v_proj.weight", v1]


def test_bf16_target_stays_bf16(ckpts, tmp_path):
    out_dir = edit_checkpoint(ckpts["bf16"], ckpts["ref"], tmp_path / "b", Edit("sigma_swap", kinds=("o",)),
                              device="cpu", cache_root=tmp_path / "cache")
    r = CheckpointReader(out_dir)
    assert {r.dtype(n) for n in r.names()} == {"BF16"}


def test_tied_embedding_edit_unties_explicitly(ckpts, tmp_path):
    T, R = tensors(ckpts["tied_tgt"]), tensors(ckpts["tied_ref"])
    assert "lm_head.weight" not in T
    out_dir = edit_checkpoint(ckpts["tied_tgt"], ckpts["tied_ref"], tmp_path / "emb", Edit("swap", kinds=("embed",)),
                              device="cpu", cache_root=tmp_path / "cache")
    cfg = json.loads((out_dir / "config.json").read_text())
    assert cfg["tie_word_embeddings"] is False
    reader = CheckpointReader(out_dir)
    assert not reader.tied
    out = tensors(out_dir)
    assert torch.equal(out["model.embed_tokens.weight"], R["model.embed_tokens.weight"])
    assert torch.equal(out["lm_head.weight"], T["model.embed_tokens.weight"])  # LM head not overwritten
    model = transformers.LlamaForCausalLM.from_pretrained(out_dir)
    assert torch.equal(model.lm_head.weight.detach(), T["model.embed_tokens.weight"])
    assert torch.equal(model.model.embed_tokens.weight.detach(), R["model.embed_tokens.weight"])
    # LM head only: the embedding stays the target's
    out = tensors(edit_checkpoint(ckpts["tied_tgt"], ckpts["tied_ref"], tmp_path / "head", Edit("swap", kinds=("lm_head",)),
                                  device="cpu", cache_root=tmp_path / "cache"))
    assert torch.equal(out["lm_head.weight"], R["model.embed_tokens.weight"])
    assert torch.equal(out["model.embed_tokens.weight"], T["model.embed_tokens.weight"])
    # both: still tied, the one shared matrix edited
    both = edit_checkpoint(ckpts["tied_tgt"], ckpts["tied_ref"], tmp_path / "both", Edit("swap", kinds=(), embeddings=True),
                           device="cpu", cache_root=tmp_path / "cache")
    assert CheckpointReader(both).tied and "lm_head.weight" not in tensors(both)


def test_bad_input_is_named_before_any_svd(ckpts, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("an SVD ran before validation")

    monkeypatch.setattr(spectral, "svd", boom)
    cases = [
        (Edit("restore"), "wide", r"model\.embed_tokens\.weight has shape"),
        (Edit("restore", k=40), "ref", r"k=40 out of range 0\.\.32 .*q_proj"),
        (Edit("restore", k=1.5), "ref", r"k=1\.5"),
        (Edit("restore", kinds=("attn",)), "ref", "unknown matrix kind 'attn'"),
        (Edit("restore", layers=(2,)), "ref", "layer 2 out of range"),
        (Edit("rotate"), "ref", "unknown edit 'rotate'"),
        (Edit("restore"), "tied_ref", "tied embeddings"),
    ]
    for edit, ref, message in cases:
        with pytest.raises(SftrlError, match=message):
            edit_checkpoint(ckpts["tgt"], ckpts[ref], tmp_path / "x", edit, device="cpu", cache_root=tmp_path / "c")
    assert not (tmp_path / "x").exists() and not (tmp_path / "c").exists()
    with pytest.raises(SftrlError, match="exists"):
        edit_checkpoint(ckpts["tgt"], ckpts["ref"], ckpts["ref"].parent / "tgt_sharded", Edit("swap"))
    with pytest.raises(SftrlError, match="overwrite an input"):
        edit_checkpoint(ckpts["tgt"], ckpts["ref"], ckpts["tgt"], Edit("swap"), overwrite=True)
    assert len(plan_edit(ckpts["tgt"], ckpts["ref"], Edit("restore", layers=(1,), embeddings=True)).keys) == 9
