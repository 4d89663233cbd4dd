"""Tests of sftrl.weights.masks and sftrl.book.plots.masks on inputs with known answers."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from sftrl.weights import masks as M
from sftrl.errors import SftrlError
from sftrl.book.plots import legend_covers_data
from sftrl.book.plots import masks as pm

Q0 = "model.layers.0.self_attn.q_proj.weight"
DOWN1 = "model.layers.1.mlp.down_proj.weight"


def tiny_llama(seed: int = 0, **overrides):
    import transformers

    cfg = dict(
        vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
        tie_word_embeddings=False,
    )
    cfg.update(overrides)
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**cfg)).eval()
    with torch.no_grad():  # norms start at 1 and biases at 0: make them generic
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                p.normal_(0.0, 0.1)
    return model


def tokens(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 32, (2, 10), generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- bf16 masks


def test_identical_weights_have_no_updates():
    W = torch.randn(16, 8)
    for eta in (None, 1e-3):
        mask = M.bf16_update_mask(W, W.clone(), eta=eta)
        assert mask.dtype == torch.bool and not mask.any()
        assert M.update_sparsity(mask) == 1.0


def test_planted_updates_are_found_exactly():
    gen = torch.Generator().manual_seed(1)
    W0 = torch.randn(32, 24, generator=gen)
    planted = torch.rand(32, 24, generator=gen) < 0.1
    W1 = torch.where(planted, W0 * 1.25, W0)  # 25 % relative change: far above bf16 resolution
    for eta in (None, 1e-3):
        assert torch.equal(M.bf16_update_mask(W0, W1, eta=eta), planted)
    assert M.update_sparsity(planted) == pytest.approx(1 - planted.sum().item() / planted.numel())


@pytest.mark.parametrize("eta", [0.0, 1e-4, 1e-3, 2.0**-9, 2.0**-9 * 0.999])
def test_tolerance_form_equals_bitwise_below_bf16_resolution(eta):
    gen = torch.Generator().manual_seed(2)
    W0 = torch.randn(64, 64, generator=gen) * torch.logspace(-4, 2, 64)  # many binades
    # updates near the bf16 step: some round away, some do not
    W1 = W0 * (1 + 2e-3 * torch.randn(64, 64, generator=gen))
    W1[::7] = W0[::7]  # some rows untouched
    W1[3, :] = -W0[3, :]  # sign flips
    W1[5, :5] = 0.0  # zeroed entries
    bitwise = M.bf16_update_mask(W0, W1)
    assert 0.05 < bitwise.float().mean() < 0.95  # a real mix, or the test could not fail
    assert torch.equal(M.bf16_update_mask(W0, W1, eta=eta), bitwise)


def test_large_eta_is_coarser_than_bitwise():
    W0 = torch.ones(4, 4)
    W1 = W0.clone()
    W1[0, 0] = 1.0 + 2**-7  # one bf16 step: visible bitwise, below a 5 % tolerance
    W1[1, 1] = 1.5
    bitwise = M.bf16_update_mask(W0, W1)
    assert bitwise.sum() == 2
    coarse = M.bf16_update_mask(W0, W1, eta=0.05)
    assert coarse.sum() == 1 and coarse[1, 1]


def test_small_updates_vanish_on_large_weights_only():
    W0 = torch.tensor([1.0, 1e-3])
    W1 = W0 + 1e-4
    assert M.bf16_update_mask(W0, W1).tolist() == [False, True]
    assert M.bf16_update_mask(W0, W1, eta=1e-3).tolist() == [False, True]


def test_bf16_mask_rejects_bad_input():
    with pytest.raises(SftrlError, match="shape"):
        M.bf16_update_mask(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(SftrlError, match="eta"):
        M.bf16_update_mask(torch.zeros(2), torch.zeros(2), eta=-1.0)
    with pytest.raises(SftrlError, match="empty"):
        M.update_sparsity(torch.zeros(0, dtype=torch.bool))


def test_update_sparsity_known_value():
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[0, :3] = True
    assert M.update_sparsity(mask) == pytest.approx(0.75)
    assert M.update_density(mask) == pytest.approx(0.25)


def test_parse_matrix_name():
    assert M.parse_matrix_name(Q0) == (0, "q")
    assert M.parse_matrix_name("model.layers.11.mlp.down_proj.weight") == (11, "down")
    assert M.parse_matrix_name("model.embed_tokens.weight") == (None, "embed")
    assert M.parse_matrix_name("lm_head.weight") == (None, "lm_head")
    assert M.parse_matrix_name("model.layers.2.input_layernorm.weight") == (2, "other")


def test_sparsity_table_and_aggregation_known_values():
    q = torch.zeros(2, 2, dtype=torch.bool)
    q[0, 0] = True  # 1 of 4 updated
    k = torch.zeros(3, 4, dtype=torch.bool)  # 0 of 12
    down = torch.ones(2, 2, dtype=torch.bool)  # 4 of 4
    rows = M.sparsity_table(
        {Q0: q, "model.layers.0.self_attn.k_proj.weight": k, DOWN1: down}
    )
    assert [(r.layer, r.kind, r.sparsity, r.n) for r in rows] == [
        (0, "q", 0.75, 4), (0, "k", 1.0, 12), (1, "down", 0.0, 4)
    ]
    assert M.aggregate_rows(rows, by="kind", value="sparsity") == {"q": 0.75, "k": 1.0, "down": 0.0}
    by_layer = M.aggregate_rows(rows, by="layer", value="sparsity")
    assert by_layer[0] == pytest.approx(15 / 16) and by_layer[1] == 0.0
    assert M.aggregate_rows(rows, by="all", value="sparsity")["all"] == pytest.approx(15 / 20)
    unweighted = M.aggregate_rows(rows, by="all", value="sparsity", weighted=False)
    assert unweighted["all"] == pytest.approx((0.75 + 1.0 + 0.0) / 3)
    with pytest.raises(SftrlError, match="aggregate"):
        M.aggregate_rows(rows, by="head", value="sparsity")


# --------------------------------------------------------------------------- consistency


def test_consistency_known_values():
    a = torch.tensor([True, True, False, False])
    b = torch.tensor([True, False, True, False])
    assert M.update_consistency([a, b]).tolist() == [1.0, 0.5, 0.5, 0.0]
    assert M.fraction_updated_in_all([a, b]) == 0.25
    assert M.expected_fraction_in_all([0.5, 0.5]) == 0.25
    assert M.jaccard(a, b) == pytest.approx(1 / 3)
    assert M.jaccard(a, a) == 1.0
    assert M.jaccard(a, ~a) == 0.0
    assert math.isnan(M.jaccard(a & False, a & False))
    assert M.jaccard_expected(0.5, 0.5) == pytest.approx(1 / 3)
    assert M.jaccard_expected(1.0, 0.3) == pytest.approx(0.3)
    J = M.pairwise_jaccard([a, b, a])
    assert J.shape == (3, 3)
    assert torch.allclose(J, torch.tensor([[1, 1 / 3, 1], [1 / 3, 1, 1 / 3], [1, 1 / 3, 1]],
                                          dtype=torch.float64))
    E = M.pairwise_jaccard_expected([0.5, 0.5])
    assert E[0, 1] == pytest.approx(1 / 3) and E[0, 0] == 1.0


def test_independent_random_masks_match_the_chance_formulas():
    gen = torch.Generator().manual_seed(3)
    ps = [0.1, 0.3, 0.5]
    runs = [torch.rand(400, 500, generator=gen) < p for p in ps]
    dens = [M.update_density(m) for m in runs]
    assert M.fraction_updated_in_all(runs) == pytest.approx(M.expected_fraction_in_all(dens), rel=0.05)
    J, E = M.pairwise_jaccard(runs), M.pairwise_jaccard_expected(dens)
    assert torch.allclose(J, E, rtol=0.03)
    c = M.update_consistency(runs)
    assert c.mean().item() == pytest.approx(sum(dens) / 3, rel=1e-5)


def test_identical_runs_agree_fully():
    gen = torch.Generator().manual_seed(4)
    m = torch.rand(20, 20, generator=gen) < 0.2
    assert torch.equal(M.update_consistency([m, m, m]), m.float())
    assert M.fraction_updated_in_all([m, m]) == M.update_density(m)
    rows = M.consistency_table([{Q0: m}, {Q0: m.clone()}])
    (row,) = rows
    assert row.kind == "q" and row.jaccard == 1.0 and row.in_all == M.update_density(m)
    assert row.in_all_expected == pytest.approx(M.update_density(m) ** 2)
    assert row.jaccard_expected == pytest.approx(M.jaccard_expected(*[M.update_density(m)] * 2))


def test_consistency_needs_two_matching_runs():
    m = torch.zeros(3, 3, dtype=torch.bool)
    for fn in (M.update_consistency, M.fraction_updated_in_all, M.pairwise_jaccard):
        with pytest.raises(SftrlError, match="two runs"):
            fn([m])
    with pytest.raises(SftrlError, match="two runs"):
        M.consistency_table([{Q0: m}])
    with pytest.raises(SftrlError, match="two runs"):
        M.expected_fraction_in_all([0.5])
    with pytest.raises(SftrlError, match="shape"):
        M.update_consistency([m, torch.zeros(3, 4, dtype=torch.bool)])
    with pytest.raises(SftrlError, match="different matrices"):
        M.consistency_table([{Q0: m}, {DOWN1: m}])
    with pytest.raises(SftrlError, match="p_a"):
        M.jaccard_expected(1.5, 0.2)


# --------------------------------------------------------------------------- row/col ratios


def test_row_and_column_ratios_known_values():
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[0] = True  # a full row stripe
    mask[:, 1] = True  # a full column stripe
    assert M.row_update_ratio(mask).tolist() == [1.0, 0.25, 0.25]
    assert M.col_update_ratio(mask).tolist() == pytest.approx([1 / 3, 1.0, 1 / 3, 1 / 3])
    with pytest.raises(SftrlError, match="2-D"):
        M.row_update_ratio(torch.zeros(3, dtype=torch.bool))


# --------------------------------------------------------------------------- principal weights


def test_principal_mask_of_a_low_rank_matrix_is_top_magnitude():
    gen = torch.Generator().manual_seed(5)
    W = torch.randn(20, 2, generator=gen) @ torch.randn(2, 15, generator=gen)  # rank 2
    top = M.principal_mask(W, k=2, alpha=0.1)
    assert top.sum() == 30  # exactly alpha * n entries
    threshold = W.abs()[top].min()
    assert (W.abs()[~top] <= threshold + 1e-5).all()


def test_principal_mask_uses_the_rank_k_reconstruction():
    W = torch.tensor([[10.0, 0.0], [0.0, -9.0]])
    # rank 1 keeps only the 10: the -9 is large in W but zero in W_1
    assert M.principal_mask(W, k=1, alpha=0.25).tolist() == [[True, False], [False, False]]
    both = M.principal_mask(W, k=2, alpha=0.5)
    assert both.tolist() == [[True, False], [False, True]]
    assert torch.equal(M.principal_mask(W, k=0.5, alpha=0.25), M.principal_mask(W, k=1, alpha=0.25))
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    assert torch.equal(M.principal_mask(W, k=1, alpha=0.25, usv=(U, S, Vh)),
                       M.principal_mask(W, k=1, alpha=0.25))


def test_low_magnitude_mask_known_answer():
    W = torch.tensor([[4.0, -1.0, 3.0], [0.5, -6.0, 2.0]])
    low = M.low_magnitude_mask(W, alpha=1 / 3)
    assert low.tolist() == [[False, True, False], [True, False, False]]


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, True])
def test_alpha_outside_unit_interval_is_an_error(alpha):
    W = torch.randn(4, 4)
    with pytest.raises(SftrlError, match="alpha"):
        M.principal_mask(W, k=1, alpha=alpha)
    with pytest.raises(SftrlError, match="alpha"):
        M.low_magnitude_mask(W, alpha=alpha)


@pytest.mark.parametrize("k", [0, 5, -1, 0.0, 1.5, True])
def test_k_out_of_range_is_an_error(k):
    with pytest.raises(SftrlError, match="k"):
        M.principal_mask(torch.randn(4, 6), k=k, alpha=0.1)


def test_mask_overlap_known_values():
    region = torch.tensor([True, True, False, False, True, True])
    assert M.mask_overlap(region, region) == 1.0
    assert M.mask_overlap(~region, region) == 0.0
    update = torch.tensor([True, False, True, False, True, False])
    assert M.mask_overlap(update, region) == 0.5
    with pytest.raises(SftrlError, match="empty"):
        M.mask_overlap(update, region & False)
    with pytest.raises(SftrlError, match="shape"):
        M.mask_overlap(update, region[:3])


def test_random_update_overlaps_at_its_density():
    gen = torch.Generator().manual_seed(6)
    W = torch.randn(200, 150, generator=gen)
    update = torch.rand(200, 150, generator=gen) < 0.2
    for region in (M.principal_mask(W, k=10, alpha=0.1), M.low_magnitude_mask(W, alpha=0.1)):
        assert M.mask_overlap(update, region) == pytest.approx(M.update_density(update), abs=0.03)


# --------------------------------------------------------------------------- drift and angle


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """base, base copy, ft (row 0 of q0 and column 3 of down1 changed), steps 1..2."""
    root = tmp_path_factory.mktemp("ckpts")
    model = tiny_llama()
    paths = {"base": root / "base", "same": root / "same"}
    model.save_pretrained(paths["base"])
    model.save_pretrained(paths["same"])
    params = dict(model.named_parameters())
    with torch.no_grad():
        params[Q0][0] *= 1.5  # step 1: one row of q
        paths["step1"] = root / "step1"
        model.save_pretrained(paths["step1"])
        params[Q0][1] *= 1.5  # step 2: two rows of q, and a column of down
        params[DOWN1][:, 3] *= 1.5
        paths["ft"] = root / "ft"
        model.save_pretrained(paths["ft"])
    wide = tiny_llama(intermediate_size=48)
    paths["wide"] = root / "wide"
    wide.save_pretrained(paths["wide"])
    return paths


def test_identical_checkpoints_give_sparsity_one(ckpts):
    masks = M.checkpoint_update_masks(ckpts["base"], ckpts["same"])
    rows = M.sparsity_table(masks)
    assert {r.kind for r in rows} >= {"q", "k", "v", "o", "gate", "up", "down"}
    assert all(r.sparsity == 1.0 for r in rows)
    assert M.aggregate_rows(rows, by="all", value="sparsity") == {"all": 1.0}
    drift = M.drift_table(ckpts["base"], ckpts["same"], k_frac=0.5, kinds=["q", "down"],
                          cache_root=ckpts["base"].parent / "svd")
    assert {r.kind for r in drift} == {"q", "down"}
    for row in drift:
        assert row.drift == pytest.approx(0.0, abs=1e-6)
        assert row.angle == pytest.approx(0.0, abs=0.1)


def test_checkpoint_masks_find_planted_updates(ckpts):
    masks = M.checkpoint_update_masks(ckpts["base"], ckpts["ft"], kinds=["q", "down"])
    assert all(M.parse_matrix_name(n)[1] in ("q", "down") for n in masks)
    expected_q = torch.zeros_like(masks[Q0])
    expected_q[:2] = True
    assert torch.equal(masks[Q0], expected_q)
    expected_down = torch.zeros_like(masks[DOWN1])
    expected_down[:, 3] = True
    assert torch.equal(masks[DOWN1], expected_down)
    others = [m for n, m in masks.items() if n not in (Q0, DOWN1)]
    assert others and not any(m.any() for m in others)
    by_kind = M.aggregate_rows(M.sparsity_table(masks), by="kind", value="sparsity")
    assert by_kind["q"] == pytest.approx(1 - 64 / (2 * 32 * 32))
    drift = {r.name: r for r in M.drift_table(ckpts["base"], ckpts["ft"], kinds=["q"],
                                              cache_root=ckpts["base"].parent / "svd")}
    assert drift[Q0].drift > 1e-3 and drift[Q0].angle > 0.1
    other = drift["model.layers.1.self_attn.q_proj.weight"]
    assert other.drift == pytest.approx(0.0, abs=1e-6)


def test_update_ratios_over_steps(ckpts):
    rows, cols = M.update_ratios_over_steps(ckpts["base"], [ckpts["step1"], ckpts["ft"]], Q0)
    assert rows.shape == (2, 32) and cols.shape == (2, 32)
    assert rows[0, 0] == 1.0 and rows[0, 1:].sum() == 0
    assert rows[1, :2].tolist() == [1.0, 1.0] and rows[1, 2:].sum() == 0
    assert torch.allclose(cols, torch.tensor([[1 / 32], [2 / 32]]).expand(2, 32))
    with pytest.raises(SftrlError, match="not a matrix"):
        M.update_ratios_over_steps(ckpts["base"], [ckpts["ft"]], "nope.weight")
    with pytest.raises(SftrlError, match="at least one"):
        M.update_ratios_over_steps(ckpts["base"], [], Q0)


# --------------------------------------------------------------------------- length

def test_extreme_fraction_matches_a_stable_sort_with_ties():
    g = torch.Generator().manual_seed(0)
    for _ in range(100):
        n = int(torch.randint(1, 200, (1,), generator=g))
        scores = torch.randint(0, 4, (n,), generator=g).float()  # many ties
        alpha = 0.01 + 0.98 * float(torch.rand(1, generator=g))
        for largest in (True, False):
            ref = torch.zeros(n, dtype=torch.bool)
            ref[torch.sort(scores, descending=largest, stable=True).indices[:M._n_selected(n, alpha)]] = True
            assert torch.equal(M._extreme_fraction(scores, alpha, largest=largest), ref)


def test_bf16_half_ulp_known_values():
    w = torch.tensor([1.0, 1.5, 0.75, 0.0, -3.0])
    assert M.bf16_half_ulp(w).tolist() == [2.0**-8, 2.0**-8, 2.0**-9, 0.0, 2.0**-7]
    # just below half a unit rounds away, just above it changes the bf16 value
    x = torch.full((1,), 1.0)
    assert not M.bf16_update_mask(x, x + 0.9 * 2.0**-8).any()
    assert M.bf16_update_mask(x, x + 1.1 * 2.0**-8).all()


def test_sign_consistency_known_values():
    up, down = torch.ones(3), -torch.ones(3)
    assert M.sign_consistency([up, up, up, up]).tolist() == [1.0] * 3
    assert M.sign_consistency([up, down, up, down]).tolist() == [0.0] * 3
    assert M.sign_consistency([up, down, up]).tolist() == pytest.approx([1 / 3] * 3)
    assert M.sign_consistency_expected(1) == 1.0
    assert M.sign_consistency_expected(2) == 0.5  # +-, -+ give 0; ++, -- give 1
    assert M.sign_consistency_expected(4) == 0.375
    assert M.sign_consistency_expected(400) == pytest.approx(math.sqrt(2 / (math.pi * 400)), rel=0.01)
    with pytest.raises(SftrlError, match="at least one"):
        M.sign_consistency([])
    with pytest.raises(SftrlError, match="positive"):
        M.sign_consistency_expected(0)


def test_drift_exponent_known_values():
    steps = [1, 2, 4, 8, 16]
    assert M.drift_exponent(steps, [3.0 * s for s in steps]) == pytest.approx(1.0)
    assert M.drift_exponent(steps, [3.0 * s**0.5 for s in steps]) == pytest.approx(0.5)
    assert M.drift_exponent(steps, [2.0] * 5) == pytest.approx(0.0)
    assert math.isnan(M.drift_exponent([4], [1.0]))


def _walk(root, name, signs, lr=1e-3):
    """Checkpoints of a planted run: every weight moves by ``lr * signs[t]`` at step t."""
    model = tiny_llama()
    model.save_pretrained(root / f"{name}-0")
    params = dict(model.named_parameters())
    out = []
    with torch.no_grad():
        for t, sign in enumerate(signs, start=1):
            for p in params.values():
                p += lr * sign(p, t)
            model.save_pretrained(root / f"{name}-{t}")
            out.append((t, root / f"{name}-{t}"))
    return root / f"{name}-0", out


def test_length_summary_tells_a_random_walk_from_consistent_updates(tmp_path):
    g = torch.Generator().manual_seed(0)
    n = 16
    consistent = [lambda p, t: torch.ones_like(p)] * n
    flipping = [lambda p, t: torch.randint(0, 2, p.shape, generator=g).float() * 2 - 1] * n
    base, steps = _walk(tmp_path, "consistent", consistent)
    c = M.length_summary(base, steps)
    assert c.sign_consistency == pytest.approx(1.0)
    assert c.drift_exponent == pytest.approx(1.0, abs=1e-3)
    assert c.intervals == n and c.sign_consistency_chance == M.sign_consistency_expected(n)
    base, steps = _walk(tmp_path, "walk", flipping)
    w = M.length_summary(base, steps)
    # the random-walk signature: sign consistency at chance, drift growing like sqrt(T)
    assert w.sign_consistency == pytest.approx(w.sign_consistency_chance, rel=0.05)
    assert w.drift_exponent == pytest.approx(0.5, abs=0.1)
    assert w.moved_every_interval > 0.99
    # the same per-step moves leave more entries unchanged in bf16 when they cancel
    assert [r.step for r in w.rows] == list(range(1, n + 1))
    assert w.rows[-1].sparsity > c.rows[-1].sparsity
    assert w.rows[-1].below_half_ulp > c.rows[-1].below_half_ulp
    # per-step moves are the same size in both runs, so their per-step sparsity agrees
    assert w.rows[-1].step_sparsity == pytest.approx(c.rows[-1].step_sparsity, abs=0.05)


def test_length_summary_of_an_unchanged_run_and_bad_input(tmp_path, ckpts):
    s = M.length_summary(ckpts["base"], [(1, ckpts["same"]), (2, ckpts["same"])])
    assert [r.sparsity for r in s.rows] == [1.0, 1.0]
    assert [r.step_sparsity for r in s.rows] == [1.0, 1.0]
    assert [r.drift for r in s.rows] == [0.0, 0.0] and s.moved_every_interval == 0.0
    assert math.isnan(s.sign_consistency)
    with pytest.raises(SftrlError, match="rise"):
        M.length_summary(ckpts["base"], [(2, ckpts["same"]), (1, ckpts["same"])])
    with pytest.raises(SftrlError, match="at least one"):
        M.length_summary(ckpts["base"], [])
    with pytest.raises(SftrlError, match="shape"):
        M.length_summary(ckpts["base"], [(1, ckpts["same"]), (2, ckpts["wide"])])


def test_checkpoint_mismatch_is_an_error(ckpts):
    with pytest.raises(SftrlError, match="shape"):
        M.checkpoint_update_masks(ckpts["base"], ckpts["wide"])
    with pytest.raises(SftrlError, match="kind"):
        M.checkpoint_update_masks(ckpts["base"], ckpts["same"], kinds=["attention"])


# --------------------------------------------------------------------------- geometry


def test_permuting_every_mlp_preserves_the_function():
    model = tiny_llama(seed=1)
    x = tokens()
    with torch.no_grad():
        before = model(x).logits
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    perms = {layer: M.random_permutation(64, seed=layer) for layer in range(2)}
    for layer, perm in perms.items():
        assert M.permute_mlp_hidden(model, layer, perm) is model
    with torch.no_grad():
        after = model(x).logits
    assert torch.allclose(before, after, atol=1e-5)
    # the weights really moved, and map back exactly
    gate = "model.layers.0.mlp.gate_proj.weight"
    params = dict(model.named_parameters())
    assert not torch.equal(params[gate], original[gate])
    for layer, perm in perms.items():
        for kind in ("gate", "up", "down"):
            name = f"model.layers.{layer}.mlp.{kind}_proj.weight"
            back = M.unpermute_mlp_hidden(params[name].detach(), kind, perm)
            assert torch.equal(back, original[name])
            # a mask computed in permuted coordinates maps back onto the original's
            assert torch.equal(M.unpermute_mlp_hidden(params[name] > 0, kind, perm),
                               original[name] > 0)
    mapped = M.unpermute_mlp_masks({n: p.detach() > 0 for n, p in params.items()}, perms)
    assert all(torch.equal(mapped[n], original[n] > 0) for n in mapped)


def test_permuting_a_state_dict_returns_a_new_one():
    model = tiny_llama(seed=2, mlp_bias=True)
    x = tokens(1)
    with torch.no_grad():
        before = model(x).logits
    state = {n: t.clone() for n, t in model.state_dict().items()}
    perm = M.random_permutation(64, seed=9)
    new = M.permute_mlp_hidden(state, 1, perm)
    assert new is not state
    assert torch.equal(state["model.layers.1.mlp.up_proj.bias"],
                       model.state_dict()["model.layers.1.mlp.up_proj.bias"])  # input unchanged
    assert torch.equal(new["model.layers.1.mlp.up_proj.bias"],
                       state["model.layers.1.mlp.up_proj.bias"][perm])
    model.load_state_dict(new)
    with torch.no_grad():
        assert torch.allclose(model(x).logits, before, atol=1e-5)


def test_bad_permutations_are_errors():
    model = tiny_llama()
    for bad in (torch.arange(63), torch.zeros(64, dtype=torch.long), torch.arange(64.0)):
        with pytest.raises(SftrlError, match="perm"):
            M.permute_mlp_hidden(model, 0, bad)
    with pytest.raises(SftrlError, match="layer 5"):
        M.permute_mlp_hidden(model, 5, torch.arange(64))
    with pytest.raises(SftrlError, match="kind"):
        M.unpermute_mlp_hidden(torch.zeros(4, 4), "q", torch.arange(4))
    with pytest.raises(SftrlError, match="Module or a state dict"):
        M.permute_mlp_hidden([1, 2], 0, torch.arange(64))
    assert torch.equal(M.random_permutation(10, 3), M.random_permutation(10, 3))
    assert sorted(M.random_permutation(10, 3).tolist()) == list(range(10))


def test_rotating_attention_values_preserves_the_function():
    model = tiny_llama(seed=3)  # 4 query heads share 2 kv heads of dim 8
    x = tokens(2)
    with torch.no_grad():
        before = model(x).logits
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    rots = {layer: M.random_rotations(2, 8, seed=layer) for layer in range(2)}
    for layer, R in rots.items():
        M.rotate_attention_values(model, layer, R)
    with torch.no_grad():
        assert torch.allclose(model(x).logits, before, atol=1e-5)
    params = dict(model.named_parameters())
    for layer, R in rots.items():
        for kind in ("v", "o"):
            name = f"model.layers.{layer}.self_attn.{kind}_proj.weight"
            assert not torch.allclose(params[name], original[name], atol=1e-3)
            back = M.unrotate_attention_values(params[name].detach(), kind, R)
            assert torch.allclose(back, original[name], atol=1e-6)


def test_rotation_with_value_bias_preserves_the_function():
    model = tiny_llama(seed=4, attention_bias=True)
    x = tokens(3)
    with torch.no_grad():
        before = model(x).logits
    M.rotate_attention_values(model, 0, M.random_rotations(2, 8, seed=0))
    with torch.no_grad():
        assert torch.allclose(model(x).logits, before, atol=1e-5)


def test_bad_rotations_are_errors():
    model = tiny_llama()
    with pytest.raises(SftrlError, match="orthogonal"):
        M.rotate_attention_values(model, 0, 2 * torch.eye(8).expand(2, 8, 8))
    with pytest.raises(SftrlError, match="do not fit"):
        M.rotate_attention_values(model, 0, M.random_rotations(4, 8, seed=0))
    with pytest.raises(SftrlError, match="shape"):
        M.rotate_attention_values(model, 0, torch.eye(8))
    R = M.random_rotations(3, 5, seed=1)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(5, dtype=R.dtype).expand(3, 5, 5))


# --------------------------------------------------------------------------- gradient masks


def test_gradient_masks_have_equal_density_and_known_structure():
    model = tiny_llama(seed=5)
    alpha, k = 0.2, 0.25
    by_kind = {kind: M.make_gradient_masks(model, kind, alpha, k, seed=0)
               for kind in ("off_principal", "principal", "random")}
    names = set(by_kind["principal"])
    assert len(names) == 2 * 7 and all(".layers." in n for n in names)
    for masks in by_kind.values():
        assert set(masks) == names
        for name, m in masks.items():
            assert m.sum().item() == round(alpha * m.numel())
    params = dict(model.named_parameters())
    for name in names:
        princ, off = by_kind["principal"][name], by_kind["off_principal"][name]
        assert not (princ & off).any()
        assert torch.equal(princ, M.principal_mask(params[name].detach(), k=k, alpha=alpha))
        # off-principal entries are the smallest outside the principal set
        outside = params[name].detach().abs()[~princ]
        assert params[name].detach().abs()[off].max() <= outside.sort().values[off.sum() - 1]
    again = M.make_gradient_masks(model, "random", alpha, k, seed=0)
    other = M.make_gradient_masks(model, "random", alpha, k, seed=1)
    assert all(torch.equal(again[n], by_kind["random"][n]) for n in names)
    assert not all(torch.equal(other[n], again[n]) for n in names)
    with pytest.raises(SftrlError, match="alpha <= 0.5"):
        M.make_gradient_masks(model, "off_principal", 0.6, k)
    with pytest.raises(SftrlError, match="kind"):
        M.make_gradient_masks(model, "dense", alpha, k)


def test_sgd_step_changes_only_masked_entries():
    model = tiny_llama(seed=6)
    model.train()
    masks = M.make_gradient_masks(model, "off_principal", 0.1, 4, seed=0)
    handles = M.apply_gradient_masks(model, masks)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x = tokens(4)
    model(x, labels=x).loss.backward()
    opt.step()
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        changed = params[name].detach() != before[name]
        assert not (changed & ~mask).any(), name
        assert changed.any(), name  # the allowed entries did move
    # with the hooks removed, gradients reach every entry again
    for h in handles:
        h.remove()
    opt.zero_grad()
    model(x, labels=x).loss.backward()
    assert (params[Q0].grad[~masks[Q0]] != 0).any()


def test_apply_gradient_masks_rejects_bad_masks():
    model = tiny_llama()
    with pytest.raises(SftrlError, match="lacks"):
        M.apply_gradient_masks(model, {"nope": torch.ones(2, dtype=torch.bool)})
    with pytest.raises(SftrlError, match="shape"):
        M.apply_gradient_masks(model, {Q0: torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(SftrlError, match="bool"):
        M.apply_gradient_masks(model, {Q0: torch.ones(32, 32)})


# --------------------------------------------------------------------------- plots


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


def test_pool_image_block_means():
    a = torch.arange(16.0).reshape(4, 4)
    assert M.pool_image(a, max_side=2).tolist() == [[2.5, 4.5], [10.5, 12.5]]
    assert M.pool_image(a, max_side=8).shape == (4, 4)
    assert pm.label_color("RL seed 2") == pm.COLORS["rl"]
    assert pm.label_color("sft") == pm.COLORS["sft"]


def test_plot_helpers_return_figures(close_figures):
    from sftrl.book.plots import use_style

    use_style()
    gen = torch.Generator().manual_seed(8)
    img = {k: torch.rand(16, 24, generator=gen) for k in ("q", "k", "v", "o", "down")}
    img["down"] = torch.rand(24, 1200, generator=gen)  # pooled to at most 512 wide
    fig, axes = pm.plot_consistency_images(img, title="layer 0")
    assert isinstance(fig, Figure) and len(axes) == 5
    assert axes[4].images[0].get_array().shape[1] <= 512
    fig.canvas.draw()  # two maps to a row, each wide enough on the page to show its stripes
    assert min(ax.get_position().width for ax in axes) > 0.3
    assert len({round(ax.get_position().x0, 2) for ax in axes}) == 2
    outs = [
        pm.plot_sparsity_bars({"rl": {"q": 0.9, "k": 0.8}, "sft": {"q": 0.1, "k": 0.05}}, paper=0.92),
        pm.plot_consistency_vs_chance({"q": 0.3, "down": 0.2}, {"q": 0.1, "down": 0.05}),
        pm.plot_jaccard_vs_chance(torch.tensor([[1, 0.4], [0.4, 1]]), torch.tensor([[1, 0.2], [0.2, 1]]),
                                  names=["a", "b"]),
        pm.plot_overlap_vs_chance({"rl": {"principal": 0.05, "low": 0.2}, "sft": {"principal": 0.9, "low": 0.8}},
                                  {"rl": 0.1, "sft": 0.85}),
        pm.plot_drift_angle([0, 1, 2], {"rl": [0.01, 0.02, 0.01], "sft": [0.1, 0.2, 0.1]},
                            {"rl": [1, 2, 1], "sft": [10, 20, 15]}),
        pm.plot_update_ratios([10, 20, 30], torch.rand(3, 32, generator=gen), torch.rand(3, 16, generator=gen)),
    ]
    assert all(isinstance(fig, Figure) for fig, _ in outs)
    (_, sparsity_ax), (_, consistency_ax), (_, jaccard_ax), (_, overlap_ax), (_, drift_axes), (_, ratio_axes) = outs

    def heights(ax):
        return sorted(round(bar.get_height(), 6) for bar in ax.patches)

    # each helper draws the values it is given: one bar per (model, group), one point per run pair...
    assert heights(sparsity_ax) == [0.05, 0.1, 0.8, 0.9]
    assert heights(consistency_ax) == [0.05, 0.1, 0.2, 0.3]
    assert heights(overlap_ax) == [0.05, 0.2, 0.8, 0.9]
    (chance, observed), = jaccard_ax.collections[0].get_offsets().tolist()  # the pair (a, b) only
    assert (chance, observed) == (pytest.approx(0.2), pytest.approx(0.4))
    assert [list(line.get_ydata()) for line in drift_axes[0].get_lines()] == [[0.01, 0.02, 0.01], [0.1, 0.2, 0.1]]
    assert [list(line.get_ydata()) for line in drift_axes[1].get_lines()] == [[1, 2, 1], [10, 20, 15]]
    assert [ax.images[0].get_array().shape for ax in ratio_axes] == [(3, 32), (3, 16)]  # (steps, rows/columns)
    with pytest.raises(SftrlError, match="ratios"):
        pm.plot_update_ratios([1, 2], torch.rand(3, 4), torch.rand(3, 4))


def test_study_plot_helpers_draw_what_they_are_given(close_figures):
    """The regime, geometry and probe plots (inputs as sftrl.experiments.masks_study returns them)."""
    from sftrl.book.plots import use_style

    use_style()
    regime = [{"role": role, "lr": lr, "dtype": dtype, "sparsity": s, "principal_ratio": p, "low_ratio": low}
              for role in ("rl", "sft") for dtype in ("float32", "bfloat16")
              for lr, s, p, low in ((1e-4, 0.1, 0.9, 1.1), (1e-6, 0.9, 0.2, 4.0))]
    fig, axes = pm.plot_regime(regime)
    assert len(axes) == 3 and all(len(ax.lines) >= 4 for ax in axes)  # 4 series (+ chance lines)
    assert axes[0].get_xscale() == "log"
    fig, ax = pm.plot_geometry({"MLP (permuted)": {"mapped": 1.0, "unmapped": 0.3, "other_seed": 0.5, "chance": 0.3},
                                "attention (not permuted)": {"mapped": 1.0, "unmapped": 1.0, "other_seed": 0.5,
                                                             "chance": 0.3}})
    assert len(ax.patches) == 8 and max(p.get_height() for p in ax.patches) == 1.0
    fig, ax = pm.plot_reward_curves({"none": ([1, 2, 3], [0.1, 0.2, 0.3]), "principal": ([1, 2, 3], [0.1, 0.1, 0.1])})
    assert [line.get_label() for line in ax.lines] == ["dense RL", "principal"]
    rows = [{"mask": m, "id": 0.8, "ood": 0.3, "id_ci": (0.7, 0.9), "ood_ci": (0.2, 0.4)} for m in ("start", "none")]
    fig, ax = pm.plot_probe_accuracy(rows)
    assert sorted(round(p.get_height(), 3) for p in ax.patches) == [0.3, 0.3, 0.8, 0.8]
    length = [{"role": role, "lr": lr, "dtype": dtype, "steps": [10, 20, 40], "sparsity": [0.9, 0.8, 0.7],
               "step_sparsity": [0.9, 0.9, 0.9], "drift": [1e-5, 2e-5, 4e-5] if lr > 1e-6 else [0.0, 0.0, 0.0]}
              for role in ("rl", "sft") for dtype in ("float32", "bfloat16") for lr in (1e-4, 1e-6)]
    fig, axes = pm.plot_length(length, paper=0.92)
    assert axes.shape == (2, 3)
    assert [len(ax.lines) for ax in axes[0]] == [5, 4, 4]  # 4 runs (+ B's line; + 2 slopes, less 2 still runs)
    assert sorted({tuple(line.get_xdata()) for ax in axes[:, 0] for line in ax.lines[:4]}) == [(10, 20, 40)]
    assert axes[0, 2].get_xscale() == axes[0, 2].get_yscale() == "log"
    assert not legend_covers_data(fig)
    fig, axes = pm.plot_length([*length, {**length[0], "seed": 1}])  # a second seed: a line, no new legend entry
    assert len(axes[0, 0].lines) == 5
    assert len(fig.legends[0].get_texts()) == len({(r["role"], r["lr"]) for r in length}) + 2  # + two slopes
    for bad in (lambda: pm.plot_regime([]), lambda: pm.plot_geometry({}), lambda: pm.plot_probe_accuracy([]),
                lambda: pm.plot_length([])):
        with pytest.raises(SftrlError):
            bad()
