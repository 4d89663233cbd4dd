"""Figures 2-5 as data (sftrl.experiments.models): edits cached by content, their identities, and
notebook 02 executed in the smoke profile with its glued numbers checked."""

from __future__ import annotations

from types import SimpleNamespace

import json
import math

import nbformat
import pytest
import torch

from sftrl.book.pages import glued_values
from sftrl.book import pages
from sftrl import config, paths
from sftrl.book import execute as book
from sftrl.claims import registry, scoreboard
from sftrl.evaluation import checkpoint
from sftrl.identity import checkpoint_identity, file_digest
from sftrl.claims import rules as claims
from sftrl.experiments import models as ss
from sftrl.experiments import figure2, figure3, figure4, figure5
from sftrl.weights.checkpoints import BLOCK_KINDS, CheckpointReader
from sftrl.weights.edits import Edit, sigma_swap
from sftrl.errors import SftrlError
from sftrl.weights.spectral import svd

NOTEBOOK = "02_singular_value_stability"


# --------------------------------------------------------------------------- pure parts


def _svd(m: int, n: int, seed: int):
    W = torch.randn(m, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return W, svd(W, dtype=torch.float64, device="cpu")


def test_top_k_sigma_swap_interpolates_between_the_target_and_the_full_swap():
    W_t, t = _svd(9, 6, 0)
    _, r = _svd(9, 6, 1)
    torch.testing.assert_close(ss.sigma_swap_top(t, r.S, 0), W_t)  # nothing swapped
    torch.testing.assert_close(ss.sigma_swap_top(t, r.S, 6), sigma_swap(t, r.S))  # everything: edits' swap
    k = 2  # the reference's two largest values, the target's others (in descending order here)
    mixed = torch.cat([r.S[:k], t.S[k:]])  # need not be descending: the values are what count
    torch.testing.assert_close(torch.linalg.svdvals(ss.sigma_swap_top(t, r.S, k)),
                               torch.sort(mixed, descending=True).values)
    with pytest.raises(SftrlError, match="k=7"):
        ss.sigma_swap_top(t, r.S, 7)


def test_parsers_refuse_bad_values_by_name():
    assert ss.parse_fractions("0, 0.2,1") == (0.0, 0.2, 1.0)
    assert ss.parse_fractions("") == ()
    assert ss.parse_names(" Q1, first 25% ,") == ("Q1", "first 25%") and ss.parse_names("") is None
    with pytest.raises(SftrlError, match="1.5"):
        ss.parse_fractions("0.2,1.5")
    with pytest.raises(SftrlError, match="'x'"):
        ss.parse_fractions("0.2,x")


def _tiny_checkpoint(path, seed: int, *, sharded: bool = False):
    """A 2-layer Llama saved by transformers (single file, or two shards with an index)."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(cfg)
    model.save_pretrained(path, max_shard_size="60KB" if sharded else "2GB")
    return path


def test_identity_is_the_pipelines_for_one_file_and_covers_every_shard(tmp_path):
    one = _tiny_checkpoint(tmp_path / "one", 0)
    assert checkpoint_identity(one) == f"sha256:{file_digest(one / 'model.safetensors')}"
    a = _tiny_checkpoint(tmp_path / "a", 1, sharded=True)
    b = _tiny_checkpoint(tmp_path / "b", 2, sharded=True)
    index_a = json.loads((a / "model.safetensors.index.json").read_text())
    assert len(set(index_a["weight_map"].values())) > 1  # really sharded
    assert (a / "model.safetensors.index.json").read_text() == (b / "model.safetensors.index.json").read_text()
    assert checkpoint_identity(a) != checkpoint_identity(b)  # same index, other weights


def test_the_top_k_sigma_swap_writes_a_loadable_checkpoint_changing_only_block_matrices(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    tgt = _tiny_checkpoint(tmp_path / "tgt", 3)
    ref = _tiny_checkpoint(tmp_path / "ref", 4)
    out = ss.sigma_swapped(tgt, ref, 0.5)
    assert out.parent == tmp_path / "cache" / "edits"
    rt, rr, ro = CheckpointReader(tgt), CheckpointReader(ref), CheckpointReader(out)
    for name in rt.names():
        key = next((k for k in rt.keys() if k.name == name), None)
        W_o = ro.get(name)
        if key is None or key.kind not in BLOCK_KINDS:
            assert torch.equal(W_o, rt.get(name)), name  # norms, embedding, LM head: the target's
            continue
        S_t, S_r = torch.linalg.svdvals(rt.get(name)), torch.linalg.svdvals(rr.get(name))
        k = int(0.5 * S_t.numel() + 0.5)
        want = torch.sort(torch.cat([S_r[:k], S_t[k:]]), descending=True).values
        torch.testing.assert_close(torch.linalg.svdvals(W_o), want, rtol=1e-4, atol=1e-5)
    transformers = pytest.importorskip("transformers")
    transformers.AutoModelForCausalLM.from_pretrained(out)  # a complete HF checkpoint
    stamp = out.stat().st_mtime_ns
    assert ss.sigma_swapped(tgt, ref, 0.5) == out and out.stat().st_mtime_ns == stamp  # cached
    with pytest.raises(SftrlError, match="unknown matrix kind 'qq'"):
        ss.sigma_swapped(tgt, ref, 0.5, kinds=("qq",))


def test_named_checkpoints_are_analysed_without_the_pipeline(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    ck = {role: _tiny_checkpoint(tmp_path / role, i) for i, role in enumerate(ss.ROLES)}
    cfg = config.profile("smoke")
    runs_before = sorted(paths.RUNS.glob("*")) if paths.RUNS.exists() else []
    m = ss.models(cfg, **{role: str(p) for role, p in ck.items()})
    assert m.source == "paths" and m.peak_step is None and m.rl_from is None
    assert (sorted(paths.RUNS.glob("*")) if paths.RUNS.exists() else []) == runs_before  # nothing trained
    rows = ss.compare_pairs(m, k_frac=0.2)
    assert len(rows) == 3 * 16 and {r["pair"] for r in rows} == set(ss.PAIRS)  # 2 layers x 7 + embed + lm_head
    summary = ss.pair_summary(rows)
    assert {(r["pair"], r["group"]) for r in summary} == {(p, g) for p in ss.PAIRS for g in ("blocks", "embeddings")}
    spectra = figure2.layer_spectra(m, layer=-1)
    assert list(spectra) == ["base", "sft end", "rl"] and len(spectra["base"]["up"]) == 32
    # k = 75% of the rank of a 32 x 32 query: 24 > 32 / 2, so 2k - m = 16 angles are zero by construction
    free = figure3.angle_curves(m, kinds=("q",), k_frac=0.75, cap=False, pairs=("base_sft",))
    assert all(c["k"] == 24 and sum(c["forced_zero"]) == 16 and not c["capped"] for c in free)
    assert all(a < 1e-3 for c in free for a, z in zip(c["angles"], c["forced_zero"], strict=True) if z)
    capped = figure3.angle_curves(m, kinds=("q",), k_frac=0.75, pairs=("base_sft",))
    assert all(c["k"] == 16 and c["capped"] and not any(c["forced_zero"]) for c in capped)


def test_checkpoints_of_different_shapes_are_refused_by_name(tmp_path):
    transformers = pytest.importorskip("transformers")
    ok = _tiny_checkpoint(tmp_path / "ok", 0)
    cfg = transformers.LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    transformers.LlamaForCausalLM(cfg).save_pretrained(tmp_path / "wide")
    with pytest.raises(SftrlError, match=r"layers\.0\.mlp\.\w+_proj\.weight has shape"):
        ss.models(config.profile("smoke"), base=str(ok), sft_peak=str(ok), sft_end=str(tmp_path / "wide"),
                  rl=str(ok))
    with pytest.raises(SftrlError, match="nowhere"):
        ss.models(config.profile("smoke"), base=str(tmp_path / "nowhere"), sft_peak=str(ok), sft_end=str(ok),
                  rl=str(ok))


# --------------------------------------------------------------------------- the smoke pipeline


@pytest.fixture(scope="module")
def smoke():
    """The smoke profile's four models (trained once per session) and their configuration."""
    cfg = config.profile("smoke")
    return cfg, ss.models(cfg)


def _tree(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")} if root.exists() else {}


def _blocks(path) -> dict[str, torch.Tensor]:
    r = CheckpointReader(path)
    return {k.name: r.get(k.name) for k in r.keys() if k.kind in BLOCK_KINDS}


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], rtol: float = 1e-4) -> None:
    assert a.keys() == b.keys()
    for name, W in a.items():
        err = torch.linalg.matrix_norm(W - b[name]) / torch.linalg.matrix_norm(b[name])
        assert err < rtol, (name, float(err))


@pytest.mark.slow
def test_bad_requests_fail_before_any_work(smoke):
    cfg, m = smoke
    with pytest.raises(SftrlError, match="reference 'rl'"):
        figure4.rank_restoration(m, cfg, reference="rl")
    with pytest.raises(SftrlError, match="layer block 'Q9'"):
        figure4.layer_restoration(m, cfg, blocks=["Q9"])
    with pytest.raises(SftrlError, match="'rotate'"):
        figure4.layer_restoration(m, cfg, op="rotate")
    with pytest.raises(SftrlError, match="grafting experiment 'x'"):
        figure5.grafting(m, cfg, experiments=["x"])
    with pytest.raises(SftrlError, match="layer 7 out of range"):
        figure2.layer_spectra(m, layer=7)


@pytest.mark.slow
def test_two_children_evaluate_the_edits_as_this_process_would(smoke):
    from sftrl.evaluation import checkpoint

    cfg, m = smoke
    two = config.profile("smoke", threads=2)  # two one-thread children evaluate
    rows = figure4.rank_restoration(m, two, fractions=(0.0, 0.3, 0.6), kinds=("k", "up"))
    assert all(checkpoint.has_accuracy(r["path"], cfg) for r in rows)  # the cache the children filled
    for r in rows:  # the same numbers an evaluation in this process gives
        fresh = checkpoint.evaluate_checkpoint(r["path"], cfg)
        assert [(e["split"], e["solved"]) for e in fresh if e["split"] != "id_heldout"] == [
            ("id", checkpoint.accuracy(r["path"], cfg)["id"]["solved"]),
            ("ood", checkpoint.accuracy(r["path"], cfg)["ood"]["solved"])]


@pytest.mark.slow
def test_restorations_are_written_and_evaluated_once(smoke):
    cfg, m = smoke
    first = figure4.rank_restoration(m, cfg, fractions=(0.0, 0.5), kinds=("q", "down"))
    before = _tree(paths.CACHE)
    again = figure4.rank_restoration(m, cfg, fractions=(0.0, 0.5), kinds=("q", "down"))
    assert _tree(paths.CACHE) == before  # no edit written, no evaluation appended
    assert [r["path"] for r in again] == [r["path"] for r in first]
    assert first[1]["path"].startswith(str(paths.CACHE / "edits"))
    # fraction 0 is the SFT end itself: its accuracy, exactly
    end = ss.evaluate(m.sft_end, cfg)
    for key in ("id", "ood", "id_ci", "ood_ci", "id_format_errors", "ood_format_errors"):
        assert first[0][key] == end[key]
    assert first[0]["ood_gain"] == 0.0


@pytest.mark.slow
def test_restoring_every_direction_then_the_sigma_gives_the_reference(smoke):
    _, m = smoke
    ref = m.sft_peak
    # k = 0 through the edit itself: the target's weights (up to float32 rounding)
    zero = ss.edited(m.sft_end, ref, Edit("restore", k=0))
    _close(_blocks(zero), _blocks(m.sft_end), rtol=1e-5)
    # all directions, then the reference's singular values: U_ref diag(S_ref) Vh_ref = W_ref
    dirs = ss.edited(m.sft_end, ref, Edit("restore", k=1.0))
    full = ss.edited(dirs, ref, Edit("sigma_swap"))
    _close(_blocks(full), _blocks(ref), rtol=1e-4)
    assert full != dirs and json.loads((full / "sftrl_edit.json").read_text())["edit"]["op"] == "sigma_swap"


@pytest.mark.slow
def test_grafting_a_model_with_itself_is_the_identity(smoke):
    cfg, m = smoke
    same = ss.edited(m.sft_end, m.sft_end, Edit("graft"))
    _close(_blocks(same), _blocks(m.sft_end), rtol=1e-5)
    assert ss.evaluate(same, cfg)["ood"] == ss.evaluate(m.sft_end, cfg)["ood"]
    rows = figure5.grafting(m, cfg)
    assert [r["key"] for r in rows] == list(figure5.GRAFTS)
    for r in rows:
        for split in ("id", "ood"):
            lo, hi = r[f"{split}_ci"]
            assert 0 <= lo <= r[split] <= hi <= 1


@pytest.mark.slow
def test_sharded_checkpoints_with_one_index_get_their_own_accuracy(smoke, tmp_path):
    cfg, m = smoke
    from sftrl.training.model import load_model

    for name, src in (("a", m.sft_end), ("b", m.base)):
        model, tokenizer = load_model(src)
        model.save_pretrained(tmp_path / name, max_shard_size="40KB")
        tokenizer.save_pretrained(tmp_path / name)
    index = "model.safetensors.index.json"
    assert (tmp_path / "a" / index).read_text() == (tmp_path / "b" / index).read_text()
    evals = paths.CACHE / "evals"
    before = set(evals.glob("*.jsonl"))
    acc_a, acc_b = checkpoint.accuracy(tmp_path / "a", cfg), checkpoint.accuracy(tmp_path / "b", cfg)
    assert len(set(evals.glob("*.jsonl")) - before) == 2  # one cache file each, not one shared
    for split in ("id", "ood"):  # the same numbers as the single-file originals
        assert acc_a[split]["format_error_rate"] == checkpoint.accuracy(m.sft_end, cfg)[split]["format_error_rate"]
        assert acc_b[split]["format_error_rate"] == checkpoint.accuracy(m.base, cfg)[split]["format_error_rate"]


# --------------------------------------------------------------------------- notebook 02


_glued = glued_values


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15)
    return a == b


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:traitlets.*", "ignore::DeprecationWarning:nbclient.*")
def test_notebook_02_glues_what_the_library_computes(smoke, tmp_path):
    cfg, m = smoke  # the kernel inherits SFTRL_DATA, so it reads the same cached runs and edits
    out = tmp_path / f"{NOTEBOOK}.ipynb"
    book.run(NOTEBOOK, out, profile="smoke")
    nb = nbformat.read(out, as_version=4)
    glued = _glued(nb)
    quoted = pages.quoted_glue_names(nb)
    assert quoted and quoted <= set(glued), quoted - set(glued)

    rows = ss.compare_pairs(m, k_frac=0.2)
    summary = ss.pair_summary(rows)
    anchor = ss.anchors(m, cfg, ("sft_peak", "sft_end"))
    swap = figure2.sigma_swap_sweep(m, cfg, fractions=(0.05, 0.2, 0.5, 1.0))
    expected: dict[str, object] = dict(figure2.numbers(summary, swap, anchor))
    expected["layer_used"] = m.num_layers // 2
    expected["models_sentence"] = ss.models_sentence(m)
    for v in claims.figure2(SimpleNamespace(summary=summary, swap=swap, anchors=anchor)):
        expected[f"verdict_{v.claim}"] = v.sentence
        expected[f"verdict_{v.claim}_short"] = v.verdict
    for key, value in expected.items():
        assert _same(glued[key], value), (key, glued[key], value)
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    tables = sum("text/html" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images == 3 and tables == 5
    assert checkpoint.accuracy(m.sft_end, cfg)["ood"]["accuracy"] == anchor["sft_end"]["ood"]


def _expected_verdicts(name: str, cfg, m) -> dict[str, str]:
    """The verdict sentences notebooks 03-05 should glue: the figure's data and rules, as the
    claims page computes them (cached)."""
    group = next(g for g, (_, page) in registry.GROUPS.items() if page == name)
    return {f"verdict_{v.claim}": v.sentence for v in claims.FIGURES[group](scoreboard.DATA[group](cfg))}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:traitlets.*", "ignore::DeprecationWarning:nbclient.*")
@pytest.mark.parametrize("name", ["03_principal_angles", "04_restoration", "05_causal_grafting"])
def test_notebooks_03_to_05_run_and_glue_the_library_verdicts(smoke, tmp_path, name):
    cfg, m = smoke
    out = tmp_path / f"{name}.ipynb"
    book.run(name, out, profile="smoke")
    nb = nbformat.read(out, as_version=4)
    glued = _glued(nb)
    quoted = pages.quoted_glue_names(nb)
    assert quoted and quoted <= set(glued), quoted - set(glued)
    expected = _expected_verdicts(name, cfg, m)
    assert expected and all(glued[k] == v for k, v in expected.items()), expected
