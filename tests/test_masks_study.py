"""Tests of sftrl.experiments.masks_study: known answers on planted checkpoints, then the study's runs
end to end on the smoke profile with a tiny budget (slow)."""

from __future__ import annotations

import dataclasses
import math
import time
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from sftrl import config
from sftrl.book import pages
from sftrl.claims import rules as claims
from sftrl.weights import masks
from sftrl.training import train
from sftrl.experiments import masks_study as ms
from sftrl.experiments import figure6, figure7
from sftrl.weights.checkpoints import CheckpointReader, resolve_checkpoint
from sftrl.errors import SftrlError

def tiny_llama(seed: int = 0):
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
                                   tie_word_embeddings=False)
    return transformers.LlamaForCausalLM(cfg).eval()


def write_ckpt(path, model, state=None):
    """A checkpoint folder (config.json + model.safetensors) holding ``state`` (default: the model's)."""
    path.mkdir(parents=True)
    model.config.to_json_file(str(path / "config.json"))
    state = state if state is not None else model.state_dict()
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(path / "model.safetensors"))
    return path


def planted(model, where):
    """A copy of the model's state with every block matrix changed by 25% where ``where(W)`` holds."""
    out = {}
    for name, W in model.state_dict().items():
        W = W.detach().clone()
        if W.dim() == 2 and ".layers." in name:
            W = torch.where(where(W), W * 1.25, W)
        out[name] = W
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A base, three RL checkpoints that update the same first four rows of every block
    matrix, and one SFT checkpoint that updates every block entry."""
    root = tmp_path_factory.mktemp("planted")
    model = tiny_llama()
    rows = lambda W: (torch.arange(W.shape[0]) < 4).unsqueeze(1).expand_as(W)  # noqa: E731
    base = write_ckpt(root / "base", model)
    rl = {f"rl {i}": write_ckpt(root / f"rl{i}", model, planted(model, rows)) for i in range(3)}
    sft = {"sft": write_ckpt(root / "sft", model, planted(model, lambda W: torch.ones_like(W, dtype=torch.bool)))}
    return model, base, rl, sft


# --------------------------------------------------------------------------- known answers


def test_identical_checkpoints_have_sparsity_one_and_no_rotation(tiny, tmp_path):
    model, base, _, _ = tiny
    same = {"rl a": write_ckpt(tmp_path / "a", model), "rl b": write_ckpt(tmp_path / "b", model)}
    a = ms.analyse(base, same, kinds=["q", "k", "v", "o", "gate", "up", "down"])
    n = figure6.numbers(a)
    assert n["rl_sparsity"] == 1.0 and n["rl_density"] == 0.0 and n["in_all"] == 0.0
    assert n["rl_drift"] == 0.0 and n["rl_angle"] < 0.05  # degrees; float32 SVD noise only
    assert math.isnan(n["jaccard"])  # two empty masks have no union: a gap, not agreement
    assert all(float(img.max()) == 0.0 for img in a.images.values())
    v = claims.masks_consistent_across_runs(n)
    assert v.verdict == "not reproduced" and "no RL run changed a single bf16 weight" in v.reason


def test_planted_rows_give_full_agreement_and_the_right_sparsity(tiny):
    model, base, rl, sft = tiny
    a = ms.analyse(base, rl, sft, kinds=["q", "o", "down"], layer=1)
    n = figure6.numbers(a)
    rows = a.sparsity["rl 0"]
    for r in rows:  # exactly four rows of each matrix changed
        shape = model.state_dict()[r.name].shape
        assert r.sparsity == pytest.approx(1 - 4 / shape[0])
    assert n["sft_sparsity"] == 0.0
    by_layer = figure6.sparsity_by(a, "layer")
    assert set(by_layer["sft"].values()) == {0.0} and set(by_layer["rl"]) == {0, 1, "all"}
    assert by_layer["rl"]["all"] == pytest.approx(n["rl_sparsity"])
    with pytest.raises(SftrlError, match="by must be"):
        figure6.sparsity_by(a, "head")
    assert n["in_all"] == pytest.approx(n["rl_density"])  # every run updated the same entries
    assert n["in_all_expected"] < n["in_all"]
    assert torch.allclose(a.jaccard, torch.ones(3, 3, dtype=torch.float64))
    assert a.layer == 1 and set(a.images) == {"q", "o", "down"}
    assert torch.equal(a.images["q"][:4], torch.ones(4, 32)) and float(a.images["q"][4:].max()) == 0.0
    assert claims.rl_sparse_sft_dense(n).verdict == "reproduced"  # every run sparser than SFT, which is dense
    assert claims.masks_consistent_across_runs(n).verdict == "reproduced"  # the same rows in every run
    # the principal / low overlaps are the library's, region by region
    W = CheckpointReader(base).get(a.overlap["rl 0"][0].name)
    update = torch.zeros_like(W, dtype=torch.bool)
    update[:4] = True
    assert a.overlap["rl 0"][0].low == masks.mask_overlap(update, masks.low_magnitude_mask(W, alpha=0.05))


def test_analysis_is_cached_by_the_checkpoints_and_the_settings(tiny):
    _, base, rl, sft = tiny
    first = ms.analyse(base, rl, sft, kinds=["q"], alpha=0.1)
    t0 = time.perf_counter()
    again = ms.analyse(base, rl, sft, kinds=["q"], alpha=0.1)
    assert time.perf_counter() - t0 < 1.0
    assert again.overlap == first.overlap and torch.equal(again.jaccard, first.jaccard)
    other = ms.analyse(base, rl, sft, kinds=["q"], alpha=0.3)
    assert other.settings["alpha"] == 0.3


def test_a_permuted_run_maps_back_exactly(tiny, tmp_path):
    model, base, _, _ = tiny
    perms = train.mlp_permutations(model, seed=3)
    # the "original run" updates the low-magnitude half of every block matrix; the
    # "permuted run" is the same run seen in the permuted model's coordinates
    orig_state = planted(model, lambda W: W.abs() < W.abs().median())
    perm_state = dict(orig_state)
    for layer, perm in perms.items():
        perm_state = masks.permute_mlp_hidden(perm_state, layer, perm)
    original = write_ckpt(tmp_path / "orig", model, orig_state)
    permuted = write_ckpt(tmp_path / "perm", model, perm_state)
    mapped, unmapped = figure7.permuted_masks(base, permuted, perms)
    truth = masks.checkpoint_update_masks(base, original)
    assert set(mapped) == set(truth)
    for name in truth:
        assert mapped[name].shape == truth[name].shape
        assert torch.equal(mapped[name], truth[name])
    rows = figure7.geometry_rows(base, original, permuted, original, perms)
    groups = figure7.geometry_by_group(rows)
    assert groups["MLP (permuted)"]["mapped"] == 1.0
    assert groups["MLP (permuted)"]["unmapped"] < 0.9  # positions moved: agreement near chance
    assert groups["attention (not permuted)"]["unmapped"] == 1.0
    assert figure7.ROTATED not in groups  # no rotated run given


def test_a_rotated_run_maps_back_through_its_update(tiny, tmp_path):
    model, base, _, _ = tiny
    rot = train.value_rotations(model, seed=3)
    # the "original run" updates the low-magnitude half of every block matrix; the "rotated
    # run" is the same update seen in the rotated model's coordinates (rotation is linear)
    orig_state = planted(model, lambda W: W.abs() < W.abs().median())
    start = {n: p.detach().clone() for n, p in model.state_dict().items()}
    rot_start, rot_final = dict(start), dict(orig_state)
    for layer, r in rot.items():
        rot_start = masks.rotate_attention_values(rot_start, layer, r)
        rot_final = masks.rotate_attention_values(rot_final, layer, r)
    original = write_ckpt(tmp_path / "orig", model, orig_state)
    rotated = write_ckpt(tmp_path / "rot", model, rot_final)
    mapped, unmapped = figure7.rotated_masks(base, rotated, rot)
    truth = masks.checkpoint_update_masks(base, original)
    v0 = "model.layers.0.self_attn.v_proj.weight"
    for name in truth:  # the update maps back up to rounding: the masks agree almost everywhere
        if truth[name].any():
            assert masks.jaccard(mapped[name], truth[name]) > 0.99, name
        else:
            assert not mapped[name].any(), name
    assert masks.jaccard(unmapped[v0], truth[v0]) < 0.9  # rotated entries: positions no longer match
    rows = figure7.rotation_rows(base, original, rotated, original, rot)
    assert {r.kind for r in rows if r.permuted} == {"v", "o"}
    groups = figure7.geometry_by_group([], rows)
    assert groups[figure7.ROTATED]["mapped"] > 0.99
    assert claims.preferred_entries_follow_geometry(groups).verdict in ("reproduced", "partly")


def test_start_permutations_are_the_pipelines(tmp_path):
    from sftrl.training.model import build_tokenizer, save_checkpoint

    model = tiny_llama()
    path = save_checkpoint(model, build_tokenizer(), tmp_path / "m")
    got = figure7.start_permutations(path, seed=5)
    want = train.mlp_permutations(model, 5)
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)


def test_update_ratios_follow_a_run_over_steps(tiny):
    model, base, rl, _ = tiny
    steps = [(1, base), (2, rl["rl 0"])]
    r = figure6.update_ratios(base, steps, kind="o", layer=0)
    assert r.name == "model.layers.0.self_attn.o_proj.weight" and r.steps == [1, 2]
    assert r.rows.shape == (2, 32) and r.cols.shape == (2, 32)
    assert float(r.rows[0].max()) == 0.0  # the base against itself
    assert torch.equal(r.rows[1], (torch.arange(32) < 4).float())  # the planted rows


# --------------------------------------------------------------------------- bad input


def test_bad_inputs_are_named_before_any_work(tiny, tmp_path):
    model, base, rl, sft = tiny
    with pytest.raises(SftrlError, match="alpha"):
        ms.analyse(base, rl, alpha=1.0)
    with pytest.raises(SftrlError, match="k_frac"):
        ms.analyse(base, rl, k_frac=0.0)
    with pytest.raises(SftrlError, match="at least two RL"):
        ms.analyse(base, {"rl 0": rl["rl 0"]})
    with pytest.raises(SftrlError, match="both RL and SFT"):
        ms.analyse(base, rl, {"rl 0": sft["sft"]})
    with pytest.raises(SftrlError, match="layer 7 out of range"):
        ms.analyse(base, rl, layer=7)
    wider = write_ckpt(tmp_path / "wide", tiny_llama_wide())
    with pytest.raises(SftrlError, match="shape"):
        ms.analyse(base, {**rl, "rl wide": wider})
    cfg, scfg = config.profile("smoke"), ms.study_config("smoke")
    with pytest.raises(SftrlError, match="need base_path"):
        ms.inputs(cfg, scfg, rl_paths=f"{rl['rl 0']},{rl['rl 1']}")
    with pytest.raises(SftrlError, match="at least two RL checkpoints"):
        ms.inputs(cfg, scfg, base_path=str(base), rl_paths=str(rl["rl 0"]))
    with pytest.raises(SftrlError, match="shape"):
        ms.inputs(cfg, scfg, base_path=str(base), rl_paths=f"{rl['rl 0']},{wider}")
    with pytest.raises(SftrlError, match="neither a local folder"):
        resolve_checkpoint(str(tmp_path / "missing" / "deep" / "x"))


def tiny_llama_wide():
    import transformers

    cfg = transformers.LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=96, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
                                   tie_word_embeddings=False)
    return transformers.LlamaForCausalLM(cfg)


def test_inputs_read_named_checkpoints(tiny):
    _, base, rl, sft = tiny
    cfg, scfg = config.profile("smoke"), ms.study_config("smoke")
    inp = ms.inputs(cfg, scfg, base_path=str(base), rl_paths=",".join(map(str, rl.values())),
                    sft_paths=str(sft["sft"]))
    assert inp.source == "paths" and len(inp.rl) == 3 and len(inp.sft) == 1
    assert [s for s, _ in inp.steps] == [1, 2, 3]  # the RL checkpoints, in the order given
    assert "3 RL checkpoints and 1 SFT checkpoints" in ms.inputs_sentence(inp, scfg)
    assert [r["role"] for r in ms.describe_inputs(inp)] == ["rl", "rl", "rl", "sft"]


def test_study_config_overrides_and_refusals():
    s = ms.study_config("smoke", steps=None, lr=None, dtype=None, variants="seed 0, seed 1", regime_lrs="1e-3,1e-5")
    assert s.steps == ms.study_config("smoke").steps and s.lr == ms.study_config("smoke").lr
    assert s.variants == ("seed 0", "seed 1") and s.regime_lrs == (1e-3, 1e-5)
    for bad, match in (({"nonsense": 1}, "unknown study setting"),
                       ({"variants": "seed 0,seed 9"}, r"variants=\('seed 0', 'seed 9'\) is not allowed; choose one of"),
                       ({"variants": "seed 0"}, "at least two"),
                       ({"dtype": "float16"}, "dtype='float16' is not allowed; choose one of float32, bfloat16"),
                       ({"probe_masks": "none,lowest"}, r"probe_masks=\('none', 'lowest'\) is not allowed"),
                       ({"probe_alpha": 0.7}, r"probe_alpha=0.7: must be a number in \(0, 0.5\]"),
                       ({"lr": -1.0}, "lr=-1.0: must be a number > 0"), ({"steps": 0}, "steps=0: must be an integer >= 1"),
                       ({"regime_lrs": "1e-4,0"}, r"regime_lrs=\(0.0001, 0.0\): every item must be a number > 0"),
                       ({"reward": ""}, "reward='' is not allowed")):
        with pytest.raises(SftrlError, match=match):
            ms.study_config("smoke", **bad)
    with pytest.raises(SftrlError, match="unknown profile"):
        ms.study_config("laptop")
    with pytest.raises(SftrlError, match="not a kept SFT checkpoint"):
        ms.start_step(config.profile("smoke"), ms.study_config("smoke", start_step=7))


def test_each_variant_changes_one_thing():
    cfg = config.profile("cpu")  # nothing is trained: configurations only
    scfg = ms.study_config("cpu", variants=",".join(ms.VARIANTS))
    configs = ms.variant_configs(cfg, scfg)
    ref = dataclasses.asdict(configs["seed 0"].rl)
    assert ref["lr"] == scfg.lr and ref["steps"] == scfg.steps and ref["dtype"] == scfg.dtype
    expected = {"seed 1": {"seed": 1}, "seed 2": {"seed": 2}, "data half 0": {"hand_subset": "half0"},
                "data half 1": {"hand_subset": "half1"}, "half group": {"num_generations": cfg.rl.num_generations // 2},
                "KL 0.05": {"beta": 0.05}, "lr x3": {"lr": pytest.approx(3 * scfg.lr)}}
    for name, changes in expected.items():
        got = dataclasses.asdict(configs[name].rl)
        assert {k for k in got if got[k] != ref[k]} == set(changes), name
        assert {k: got[k] for k in changes} == changes
    # the SFT contrast: same step budget, lr and dtype as the runs, as many sequences per step
    sft = ms.sft_config(cfg, scfg)
    assert (sft.sft.steps, sft.sft.lr, sft.model.dtype) == (scfg.steps, scfg.lr, scfg.dtype)
    assert sft.sft.batch_size == scfg.prompts_per_step * cfg.rl.num_generations
    # a variant that is no change under a profile is refused (it would fake agreement)
    same = dataclasses.replace(cfg, rl=dataclasses.replace(cfg.rl, num_generations=2))
    with pytest.raises(SftrlError, match="are the same run"):
        ms.variant_configs(same, ms.study_config("cpu", variants="seed 0,half group"))


# --------------------------------------------------------------------------- verdicts


def test_regime_sentence_says_whether_the_pattern_is_rls_own():
    def row(role, lr, dtype, sparsity, p, low):
        return {"role": role, "lr": lr, "dtype": dtype, "sparsity": sparsity, "density": 1 - sparsity,
                "principal_ratio": p, "low_ratio": low}

    own = [row("rl", 1e-6, "float32", 0.9, 0.2, 5.0), row("sft", 1e-6, "float32", 0.1, 0.9, 1.1)]
    assert "RL's own" in claims.regime_sentence(own)
    shared = [row("rl", 1e-6, "float32", 0.9, 0.2, 5.0), row("sft", 1e-6, "float32", 0.9, 0.2, 5.0)]
    assert "precision alone" in claims.regime_sentence(shared)
    dense = [row("rl", 1e-4, "float32", 0.1, 1.0, 1.0), row("sft", 1e-4, "float32", 0.05, 1.0, 1.0)]
    assert "changed more than half" in claims.regime_sentence(dense)
    still = [row("rl", 1e-4, "float32", 1.0, float("nan"), float("nan"))]
    assert "no learning signal" in claims.regime_sentence(still)


# --------------------------------------------------------------------------- the study's runs (smoke)


@pytest.fixture(scope="module")
def smoke():
    cfg = config.profile("smoke")
    scfg = ms.study_config("smoke", steps=2, checkpoints="1,2",
                           variants="seed 0,seed 1,data half 0,data half 1,half group",
                           regime_lrs="1e-4", regime_dtypes="bfloat16", probe_masks="none,off_principal")
    return cfg, scfg


@pytest.mark.slow
def test_the_study_runs_through_the_pipeline(smoke):
    cfg, scfg = smoke
    inp = ms.inputs(cfg, scfg)
    assert inp.source == "pipeline" and len(inp.rl) == 5 and set(inp.sft) == {"sft"}
    assert inp.base == ms.start_checkpoint(cfg, scfg)
    assert [s for s, _ in inp.steps] == [1, 2]
    runs = ms.rl_runs(cfg, scfg)
    assert all(r.is_done for r in runs.values()) and ms.sft_contrast(cfg, scfg).is_done
    ids = [r.id for r in runs.values()]
    assert len(set(ids)) == len(ids) == 5  # K distinct runs

    a = ms.analyse(inp.base, inp.rl, inp.sft)
    n = figure6.numbers(a)
    n_matrices = len(CheckpointReader(inp.base).keys())
    assert all(len(rows) == n_matrices for rows in a.sparsity.values())
    assert n["sft_sparsity"] < 1.0  # SFT moves weights
    assert n["rl_density"] > 0.0  # the smoke study's reward gives RL a signal
    assert a.jaccard.shape == (5, 5) and torch.equal(a.jaccard, a.jaccard.T)
    base = CheckpointReader(inp.base)
    for kind, image in a.images.items():
        assert image.shape == base.shape(base.key(kind, a.layer).name)
    verdicts = claims.figure6(SimpleNamespace(numbers=n))
    assert [v.claim for v in verdicts] == [fn.__name__ for fn in claims.MASK_RULES[:4]]
    assert all(v.verdict in claims.VERDICTS for v in verdicts)  # every input there: each one judged
    layers, drift, angle = figure6.drift_by_layer(a)
    assert layers == [0, 1] and set(drift) == set(angle) == {"rl", "sft"}

    regime = figure7.regime_table(cfg, scfg)
    assert {(r["role"], r["lr"], r["dtype"]) for r in regime} == {("rl", 1e-4, "bfloat16"), ("sft", 1e-4, "bfloat16")}
    sentence = claims.regime_sentence(regime)
    assert any(s in sentence for s in ("RL leaves at least half", "Wherever RL changed", "Nowhere in the sweep"))


@pytest.mark.slow
def test_the_permuted_run_maps_back_onto_the_original(smoke):
    cfg, scfg = smoke
    groups = figure7.geometry_by_group(figure7.geometry_table(cfg, scfg))
    mlp, attn = groups["MLP (permuted)"], groups["attention (not permuted)"]
    # a permutation is an exact symmetry of the training: mapped back, the masks agree up
    # to floating-point rounding; left in place, the MLP masks agree only about as much as
    # random masks of their densities (the smoke study's runs do change weights)
    assert mlp["mapped"] > 0.95 and attn["mapped"] > 0.95
    assert mlp["unmapped"] < mlp["mapped"] and attn["unmapped"] == attn["mapped"]


@pytest.mark.slow
def test_the_probe_reports_reward_and_accuracy(smoke):
    cfg, scfg = smoke
    curves = figure7.probe_curves(cfg, scfg)
    assert set(curves) == {"none", "off_principal"} and all(steps for steps, _ in curves.values())
    rows = figure7.probe_table(cfg, scfg)
    assert [r["mask"] for r in rows] == ["start", "none", "off_principal"]
    assert all(0.0 <= r[s] <= 1.0 for r in rows for s in ("id", "ood"))
    with pytest.raises(SftrlError, match="principal"):  # the rule needs the principal-masked run
        claims.off_principal_probe(rows)


def _glued(nb) -> dict[str, object]:
    """Every glued value (numbers parsed back from text/plain, Markdown as its text)."""
    import ast

    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                data = o["data"]
                md = data.get("application/papermill.record/text/markdown")
                text = data["application/papermill.record/text/plain"]
                try:
                    out[name] = md if md is not None else ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    out[name] = text
    return out


@pytest.mark.slow
def test_the_figure_notebook_reads_any_checkpoints_and_glues_the_librarys_numbers(tiny, tmp_path):
    """Notebook 06 pointed at checkpoints by path (as a reader would at a 1.5B model and its
    RL descendants): every number and sentence the prose quotes is glued, and equals the
    library's. (07 needs the pipeline's runs; the smoke book executes it.)"""
    from sftrl.book import execute as book

    _, base, rl, sft = tiny
    params = {"base_path": str(base), "rl_paths": ",".join(map(str, rl.values())), "sft_paths": str(sft["sft"]),
              "alpha": 0.1, "kinds": "q,k,v,o,down"}
    nb = book.run("06_rlvr_stripe_masks", tmp_path / "06.ipynb", profile="smoke", params=params)
    glued = _glued(nb)
    quoted = pages.quoted_glue_names(nb)
    assert quoted and quoted <= set(glued), quoted - set(glued)
    n = figure6.numbers(ms.analyse(base, {f"rl {p.name}": p for p in rl.values()}, {"sft sft": sft["sft"]},
                              eta=0.0, alpha=0.1, k_frac=0.2, kinds=["q", "k", "v", "o", "down"]))
    for key in ("rl_sparsity", "sft_sparsity", "in_all", "in_all_expected", "jaccard", "rl_principal", "rl_low"):
        assert glued[key] == pytest.approx(n[key]), key
    for v in claims.figure6(SimpleNamespace(numbers=n)):  # the claims page's rules, on the page
        assert glued[f"verdict_{v.claim}"] == pages.VerdictBlock(v)._repr_markdown_()  # as the page shows it
    assert "3 RL checkpoints and 1 SFT checkpoints" in glued["inputs_sentence"]


def test_the_mask_cache_misses_when_a_checkpoints_bytes_change_at_the_same_path_and_mtime(tiny, tmp_path):
    import os
    import shutil

    _, base, rl, _ = tiny
    runs = {label: shutil.copytree(path, tmp_path / label.replace(" ", "")) for label, path in rl.items()}
    first = ms.analyse(base, runs, kinds=["q"])
    weights = runs["rl 0"] / "model.safetensors"
    st = os.stat(weights)
    state = load_file(str(weights))
    state = {k: (v * 2 if ".layers.0.self_attn.q_proj" in k else v) for k, v in state.items()}  # every q entry
    save_file(state, str(weights))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same path and mtime as before
    again = ms.analyse(base, runs, kinds=["q"])  # a cache keyed by path and mtime would return `first`
    assert again.sparsity["rl 0"] != first.sparsity["rl 0"]
    assert again.sparsity["rl 1"] == first.sparsity["rl 1"]


def test_the_rotated_start_computes_what_the_start_computes():
    """RL's rotated start (rotate_seed) changes v_proj and o_proj and nothing the model computes."""
    from types import SimpleNamespace as NS

    model = tiny_llama()
    ids = torch.randint(0, 32, (2, 10), generator=torch.Generator().manual_seed(0))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        logits = model(ids).logits
    train._prepare_rl_model(model, NS(grad_mask="none", permute_seed=-1, rotate_seed=4))
    after = dict(model.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all(("v_proj" in n or "o_proj" in n) for n in changed)
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, logits, atol=1e-5)
    rot = train.value_rotations(model, 4)
    assert set(rot) == {0, 1} and rot[0].shape[0] == model.config.num_key_value_heads
    for layer, R in rot.items():  # the rotation maps back exactly
        name = f"model.layers.{layer}.self_attn.v_proj.weight"
        back = masks.unrotate_attention_values(after[name].detach(), "v", R)
        assert torch.allclose(back, before[name], atol=1e-6)
