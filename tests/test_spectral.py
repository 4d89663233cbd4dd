"""SVD convention, metrics against references, the SVD cache, compare(), and the plot helpers."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from matplotlib.figure import Figure
from safetensors import safe_open
from safetensors.torch import save_file

from sftrl.weights import spectral
from sftrl.weights.checkpoints import CheckpointReader, MatrixKey
from sftrl.errors import SftrlError
from sftrl.weights.spectral import (
    SVDCache,
    compare,
    delta_sigma,
    forced_zero_angles,
    mean_relative_sigma_change,
    principal_angles,
    relative_sigma_change,
    resolve_k,
    spectral_drift,
    svd,
    top_k_principal_angles,
)


def orthonormal(m: int, k: int, gen: torch.Generator) -> torch.Tensor:
    return torch.linalg.qr(torch.randn(m, k, generator=gen, dtype=torch.float64)).Q  # (m, k)


# ---------------------------------------------------------------------------------- svd
@pytest.mark.parametrize("shape", [(40, 12), (12, 40), (25, 25)])
def test_svd_convention_reconstructs_with_orthonormal_factors(shape):
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(*shape, generator=gen)
    U, S, Vh = svd(W, device="cpu")
    r = min(shape)
    assert U.shape == (shape[0], r) and S.shape == (r,) and Vh.shape == (r, shape[1])
    torch.testing.assert_close(U @ torch.diag(S) @ Vh, W, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(U.T @ U, torch.eye(r), rtol=0, atol=1e-5)
    torch.testing.assert_close(Vh @ Vh.T, torch.eye(r), rtol=0, atol=1e-5)
    assert torch.all(S[:-1] >= S[1:])
    torch.testing.assert_close(S, torch.linalg.svdvals(W), rtol=1e-5, atol=1e-6)
    U64, S64, Vh64 = svd(W, dtype=torch.float64, device="cpu")
    assert U64.dtype == S64.dtype == Vh64.dtype == torch.float64


def test_streamed_svd_matches_lapack(monkeypatch):
    monkeypatch.setattr(spectral, "STREAM_BLOCK_BYTES", 7 * 16 * 4)  # 7-row blocks: many passes
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(100, 16, generator=gen, dtype=torch.float64)

    def read(a: int, b: int, out: torch.Tensor) -> torch.Tensor:
        return out.copy_(W[a:b])

    S, Vh, M = spectral.streamed_svd(read, (100, 16), dtype=torch.float64, device="cpu")
    U = torch.cat([u.clone() for u in spectral.streamed_u_blocks(read, 100, M, block_rows=7)])
    torch.testing.assert_close(S, torch.linalg.svdvals(W))
    torch.testing.assert_close(U @ torch.diag(S) @ Vh, W)
    torch.testing.assert_close(U.T @ U, torch.eye(16, dtype=torch.float64))
    # rank-deficient input: refuses (the caller falls back to LAPACK)
    W2 = W[:, :4] @ torch.randn(4, 16, generator=gen, dtype=torch.float64)
    assert spectral.streamed_svd(lambda a, b, out: out.copy_(W2[a:b]), (100, 16), dtype=torch.float64, device="cpu") is None


# ---------------------------------------------------------------------------------- metrics
@pytest.mark.parametrize("m,k,l", [(30, 5, 5), (50, 10, 7), (20, 3, 12)])
def test_principal_angles_agree_with_scipy(m, k, l):
    gen = torch.Generator().manual_seed(m + k)
    A, B = orthonormal(m, k, gen), orthonormal(m, l, gen)
    ours = principal_angles(A, B).numpy()
    ref = np.sort(np.degrees(scipy.linalg.subspace_angles(A.numpy(), B.numpy())))
    assert ours.shape == (min(k, l),)
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert np.all(np.diff(ours) >= 0)


def test_principal_angles_recover_planted_rotations():
    gen = torch.Generator().manual_seed(3)
    m, planted = 40, torch.tensor([0.0, 5.0, 17.5, 30.0, 60.0, 89.0], dtype=torch.float64)
    k = planted.numel()
    Q = orthonormal(m, 2 * k, gen)
    A, C = Q[:, :k], Q[:, k:]  # C orthogonal to A
    theta = torch.deg2rad(planted)
    B = A * torch.cos(theta) + C * torch.sin(theta)  # b_j = cos t_j a_j + sin t_j c_j
    B = B @ orthonormal(k, k, gen)  # another basis of the same subspace: angles unchanged
    angles = principal_angles(A, B)
    torch.testing.assert_close(angles, planted, atol=2e-6, rtol=0)  # 0 deg: arccos ~ sqrt(eps)
    np.testing.assert_allclose(np.sort(np.degrees(scipy.linalg.subspace_angles(A.numpy(), B.numpy()))),
                               planted.numpy(), atol=1e-6)


def test_float32_bases_of_one_subspace_give_angles_near_zero():
    gen = torch.Generator().manual_seed(5)
    U = svd(torch.randn(200, 60, generator=gen), device="cpu").U[:, :20]  # float32, orthonormal to ~1e-7
    rot = torch.linalg.qr(torch.randn(20, 20, generator=gen)).Q
    same = U @ rot  # another float32 basis of the same subspace
    assert principal_angles(U, same).max() < 1e-3
    assert principal_angles(U, same, reorthonormalize=False).max() > 1e-3  # the float32 floor it removes
    A, B = orthonormal(30, 4, gen), orthonormal(30, 4, gen)
    torch.testing.assert_close(principal_angles(A, B, reorthonormalize=False), principal_angles(A, B))
    with pytest.raises(SftrlError, match="linearly independent"):
        principal_angles(torch.zeros(5, 2), A[:5, :2])


def test_forced_zero_angles_are_marked_or_capped():
    gen = torch.Generator().manual_seed(4)
    m, k = 10, 7  # 2k - m = 4 angles are zero by construction
    U_a, U_b = orthonormal(m, m, gen), orthonormal(m, m, gen)
    raw = top_k_principal_angles(U_a, U_b, k, cap=False)
    assert raw.k == 7 and forced_zero_angles(7, 10) == 4
    assert raw.forced_zero.tolist() == [True] * 4 + [False] * 3
    assert torch.all(raw.angles[:4] < 1e-4) and torch.all(raw.angles[4:] > 1.0)
    assert raw.mean() == pytest.approx(float(raw.angles[4:].mean()))
    capped = top_k_principal_angles(U_a, U_b, k)
    assert capped.k == 5 and not capped.forced_zero.any() and capped.angles.shape == (5,)
    with pytest.raises(SftrlError, match="k=11"):
        top_k_principal_angles(U_a, U_b, 11)


def test_spectral_drift_and_sigma_changes_on_known_values():
    S_ref = torch.tensor([4.0, 3.0, 2.0, 1.0])
    S_other = torch.tensor([4.0, 3.0, 2.5, 0.0])
    assert spectral_drift(S_ref, S_other, 2) == 0.0
    assert spectral_drift(S_ref, S_other, 4) == pytest.approx(math.hypot(0.5, 1.0) / math.sqrt(30))
    with pytest.raises(SftrlError, match="k=5"):
        spectral_drift(S_ref, S_other, 5)
    torch.testing.assert_close(delta_sigma(S_ref, S_other), torch.tensor([0.0, 0.0, 0.5, -1.0]))
    torch.testing.assert_close(relative_sigma_change(S_ref, S_other), torch.tensor([0.0, 0.0, 0.25, 1.0]))
    assert mean_relative_sigma_change(S_ref, S_other) == pytest.approx(1.25 / 4)
    # a zero singular value of the reference is skipped, not divided by
    assert mean_relative_sigma_change(torch.tensor([2.0, 0.0]), torch.tensor([3.0, 1.0])) == pytest.approx(0.5)


def test_resolve_k():
    assert resolve_k(0.2, 128) == 26 and resolve_k(1.0, 32) == 32 and resolve_k(0.0, 32) == 0
    assert resolve_k(5, 32) == 5
    for bad in (33, -1, 1.5, True, "3"):
        with pytest.raises(SftrlError):
            resolve_k(bad, 32)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- checkpoints
def write_ckpt(path: Path, tensors: dict[str, torch.Tensor], *, tied: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "config.json").write_text(f'{{"tie_word_embeddings": {str(tied).lower()}}}')
    return path


def llama_tensors(seed: int, *, layers: int = 2, d: int = 16, ff: int = 40, vocab: int = 24) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shapes = {"q": (d, d), "k": (d // 2, d), "v": (d // 2, d), "o": (d, d), "gate": (ff, d), "up": (ff, d), "down": (d, ff)}
    t = {"model.embed_tokens.weight": torch.randn(vocab, d, generator=gen), "lm_head.weight": torch.randn(vocab, d, generator=gen),
         "model.norm.weight": torch.ones(d)}
    for i in range(layers):
        for kind, shape in shapes.items():
            part = "self_attn" if kind in "qkvo" else "mlp"
            t[f"model.layers.{i}.{part}.{kind}_proj.weight"] = torch.randn(*shape, generator=gen)
        t[f"model.layers.{i}.input_layernorm.weight"] = torch.ones(d)
    return t


@pytest.fixture()
def pair(tmp_path) -> tuple[Path, Path, Path]:
    base_t = llama_tensors(0)
    gen = torch.Generator().manual_seed(9)
    other_t = {k: v + 0.05 * torch.randn(v.shape, generator=gen) for k, v in base_t.items()}
    base = write_ckpt(tmp_path / "base", base_t)
    other = write_ckpt(tmp_path / "other", other_t)
    same = write_ckpt(tmp_path / "same", base_t)
    return base, other, same


@pytest.fixture()
def count_svd(monkeypatch) -> dict[str, int]:
    calls = {"n": 0}
    real = spectral.svd

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(spectral, "svd", counting)
    return calls


def test_cache_stores_one_file_per_matrix_and_reuses_it(pair, tmp_path, count_svd):
    base, _, _ = pair
    reader = CheckpointReader(base)
    cache = SVDCache(reader, root=tmp_path / "cache", device="cpu")
    key = reader.key("gate", 1)
    U, S, Vh = cache.load(key)
    assert count_svd["n"] == 1 and cache.file(key).is_file()
    assert cache.dir.parent == tmp_path / "cache" and "f32" in cache.dir.name
    torch.testing.assert_close(U @ torch.diag(S) @ Vh, reader.get(key.name), rtol=1e-5, atol=1e-5)
    with safe_open(cache.file(key), framework="pt") as f:
        assert set(f.keys()) == {"U", "S", "Vh"} and f.metadata()["method"] == "lapack"
    cache2 = SVDCache(base, root=tmp_path / "cache", device="cpu")
    torch.testing.assert_close(cache2.S(key), S, rtol=0, atol=0)
    torch.testing.assert_close(cache2.u_rows(key, 3, 9, 4), U[3:9, :4], rtol=0, atol=0)
    assert count_svd["n"] == 1  # read back, not recomputed
    assert not list(cache.dir.glob(".*tmp*"))  # atomic writes leave no temporaries
    f64 = SVDCache(base, root=tmp_path / "cache", device="cpu", dtype=torch.float64)
    assert f64.dir != cache.dir and f64.S(key).dtype == torch.float64


def test_large_tall_matrices_are_streamed_into_the_cache(pair, tmp_path, monkeypatch, count_svd):
    base, _, _ = pair
    monkeypatch.setattr(spectral, "STREAM_NUMEL", 100)  # the 40 x 16 gate/up matrices qualify
    monkeypatch.setattr(spectral, "STREAM_BLOCK_BYTES", 9 * 16 * 4)
    reader = CheckpointReader(base)
    cache = SVDCache(reader, root=tmp_path / "cache", device="cpu")
    key = reader.key("up", 0)
    U, S, Vh = cache.load(key)
    assert count_svd["n"] == 0
    with safe_open(cache.file(key), framework="pt") as f:
        assert f.metadata()["method"] == "streamed"
    torch.testing.assert_close(U @ torch.diag(S) @ Vh, reader.get(key.name), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(U.T @ U, torch.eye(16), rtol=0, atol=1e-4)
    torch.testing.assert_close(S, torch.linalg.svdvals(reader.get(key.name)), rtol=1e-5, atol=1e-5)


def test_compare_identical_and_perturbed(pair, tmp_path):
    base, other, same = pair
    rows = compare(base, same, cache_root=tmp_path / "c", device="cpu")
    assert len(rows) == 1 + 2 * 7 + 1
    assert [r["kind"] for r in rows[:2]] == ["embed", "q"] and rows[-1]["kind"] == "lm_head"
    for r in rows:
        assert r["spectral_drift"] == 0.0 and r["mean_rel_dsigma"] == 0.0
        assert r["max_angle_u"] < 1e-3 and r["max_angle_v"] < 1e-3
        assert r["k"] == max(1, round(0.2 * r["rank"]))
    rows = compare(base, other, cache_root=tmp_path / "c", device="cpu", kinds=["q", "down"], layers=[1])
    assert [(r["layer"], r["kind"]) for r in rows] == [(1, "q"), (1, "down")]
    for r in rows:
        assert r["spectral_drift"] > 1e-3 and r["mean_rel_dsigma"] > 1e-3
        assert r["max_angle_u"] > 1.0 and r["mean_angle_v"] > 0.5
        assert r["max_angle_u"] >= r["mean_angle_u"]
    assert rows[1]["shape"] == (16, 40) and rows[1]["rank"] == 16


def test_one_base_against_k_checkpoints_costs_k_plus_1_decompositions(pair, tmp_path, count_svd):
    base, other, same = pair
    n = len(compare(base, other, cache_root=tmp_path / "c", device="cpu"))
    compare(base, same, cache_root=tmp_path / "c", device="cpu")
    assert count_svd["n"] == 3 * n


def test_compare_rejects_bad_input_before_any_svd(pair, tmp_path, monkeypatch):
    base, _, _ = pair

    def boom(*a, **k):
        raise AssertionError("an SVD ran before validation")

    monkeypatch.setattr(spectral, "svd", boom)
    t = llama_tensors(1)
    t["model.layers.1.mlp.up_proj.weight"] = torch.randn(41, 16)
    bad = write_ckpt(tmp_path / "bad", t)
    with pytest.raises(SftrlError, match=r"model\.layers\.1\.mlp\.up_proj\.weight has shape \(40, 16\)"):
        compare(base, bad, cache_root=tmp_path / "c")
    with pytest.raises(SftrlError, match="unknown matrix kind 'qkv'"):
        compare(base, base, kinds=["qkv"], cache_root=tmp_path / "c")
    with pytest.raises(SftrlError, match="layer 5 out of range"):
        compare(base, base, layers=[5], cache_root=tmp_path / "c")
    with pytest.raises(SftrlError, match="k_frac=1.5"):
        compare(base, base, k_frac=1.5, cache_root=tmp_path / "c")


def test_rewritten_checkpoint_gets_a_fresh_cache(pair, tmp_path):
    base, other, _ = pair
    moving = shutil.copytree(base, tmp_path / "moving")
    assert compare(base, moving, cache_root=tmp_path / "c", device="cpu", kinds=["q"])[0]["spectral_drift"] == 0.0
    shutil.copy2(other / "model.safetensors", moving / "model.safetensors")
    assert compare(base, moving, cache_root=tmp_path / "c", device="cpu", kinds=["q"])[0]["spectral_drift"] > 0.0


def test_subspace_angles_between_right_vectors_match_direct_computation(pair, tmp_path):
    base, other, _ = pair
    a = SVDCache(base, root=tmp_path / "c", device="cpu")
    b = SVDCache(other, root=tmp_path / "c", device="cpu")
    key = MatrixKey("model.layers.0.mlp.down_proj.weight", 0, "down")
    res = spectral.subspace_angles_between(a, b, key, 6, side="right")
    direct = principal_angles(a.load(key).Vh[:6].T, b.load(key).Vh[:6].T)
    torch.testing.assert_close(res.angles, direct)
    with pytest.raises(SftrlError, match="side"):
        spectral.subspace_angles_between(a, b, key, 6, side="up")


# ---------------------------------------------------------------------------------- plots
def test_plot_helpers_return_figures():
    import matplotlib.pyplot as plt

    from sftrl.book.plots import spectral as ps
    from sftrl.book.plots import use_style

    use_style()
    fig, ax = ps.plot_grouped_bars(["rl", "sft"], {"id": ([0.5, 0.6], [0.4, 0.5], [0.6, 0.7]), "ood": [0.2, 0.1]})
    assert isinstance(fig, Figure)
    heights = sorted(round(bar.get_height(), 3) for bar in ax.patches)
    assert heights == [0.1, 0.2, 0.5, 0.6]  # one bar per (series, label), drawn at its value
    plt.close(fig)
    assert ps.role_color("rl seed 1") == ps.role_color("RL")
    with pytest.raises(SftrlError, match="2 values for 3 groups"):
        ps.plot_grouped_bars(["rl", "sft", "base"], {"ood": [0.1, 0.2]})


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_decompositions_match_cpu(monkeypatch):
    gen = torch.Generator().manual_seed(7)
    W = torch.randn(300, 40, generator=gen, dtype=torch.float64)
    cpu, gpu = svd(W, dtype=torch.float64, device="cpu"), svd(W, dtype=torch.float64, device="cuda")
    assert gpu.U.device.type == "cpu"
    torch.testing.assert_close(gpu.S, cpu.S)
    torch.testing.assert_close(gpu.U @ torch.diag(gpu.S) @ gpu.Vh, W)
    monkeypatch.setattr(spectral, "STREAM_BLOCK_BYTES", 50 * 40 * 8)
    S, Vh, M = spectral.streamed_svd(lambda a, b, out: out.copy_(W[a:b]), (300, 40), dtype=torch.float64, device="cuda")
    U = torch.cat([u.clone() for u in spectral.streamed_u_blocks(lambda a, b, out: out.copy_(W[a:b]), 300, M, block_rows=50)])
    torch.testing.assert_close(U @ torch.diag(S) @ Vh, W)
