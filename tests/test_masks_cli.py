"""``python -m sftrl masks``: paper B's measures for checkpoints a user brings.

The runs are made by hand from one tiny Llama base, so every number has a known value:
two runs that scale the same four rows of every matrix (identical masks, so consistency is
exactly the share of those rows), a run that scales every entry by 3% (bitwise all
updated, below a 5% tolerance, singular values up 3% with the vectors unmoved), and a run
that updates exactly each matrix's principal region.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from sftrl.cli import main
from sftrl.weights import masks, masks_report
from sftrl.weights.checkpoints import CheckpointReader

transformers = pytest.importorskip("transformers")

ROWS = 4  #: rows scaled by the two "striped" runs
ALPHA = 0.05
K_FRAC = 0.2


def tiny_llama(hidden: int = 32) -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=32, hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    return transformers.LlamaForCausalLM(cfg)


def edited(base: Path, out: Path, edit, shard: str | None = None) -> Path:
    """``base`` with ``edit(name, W) -> W'`` applied to every analysed matrix, saved to ``out``."""
    model = transformers.LlamaForCausalLM.from_pretrained(base)
    keys = {k.name for k in CheckpointReader(base).keys()}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in keys:
                p.copy_(edit(name, p.detach().clone()))
    model.save_pretrained(out, **({"max_shard_size": shard} if shard else {}))
    return out


def scale_rows(name: str, W: torch.Tensor) -> torch.Tensor:
    W[:ROWS] *= 1.2
    return W


def scale_principal(name: str, W: torch.Tensor) -> torch.Tensor:
    region = masks.principal_mask(W, k=K_FRAC, alpha=ALPHA)
    return torch.where(region, W * 1.2, W)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("masks_cli")
    tiny_llama().save_pretrained(root / "base")
    base = root / "base"
    tiny_llama(hidden=48).save_pretrained(root / "wide")
    return {
        "base": base,
        "wide": root / "wide",
        "rows_a": edited(base, root / "rows_a", scale_rows),
        "rows_b": edited(base, root / "rows_b", scale_rows, shard="20KB"),  # the same edit, sharded
        "all3": edited(base, root / "all3", lambda name, W: W * 1.03),
        "principal": edited(base, root / "principal", scale_principal),
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_masks_table_csv_and_image(ckpts, tmp_path, capsys):
    capsys.readouterr()
    out, image = tmp_path / "m.csv", tmp_path / "o.png"
    code = main(["masks", str(ckpts["base"]), str(ckpts["rows_a"]), str(ckpts["rows_b"]), "--eta", "0.05",
                 "--out", str(out), "--image", "1.o", str(image)])
    captured = capsys.readouterr()
    assert code == 0
    assert "masks" in captured.err and "16/16" in captured.err  # the progress bar: embed + 2 x 7 + lm_head
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_csv(out)
    assert len(rows) == 2 * 16
    for r in rows:
        d_out = int(r["shape"].split("x")[0])
        assert float(r["sparsity"]) == pytest.approx(1 - ROWS / d_out)  # exactly the scaled rows
        assert float(r["sparsity@eta"]) == pytest.approx(1 - ROWS / d_out)  # 20% is above the tolerance
        assert float(r["chance"]) == pytest.approx(ROWS / d_out)
    cons = read_csv(out.with_suffix(".consistency.csv"))
    assert len(cons) == 16
    for r in cons:
        p = float(r["in_all"])
        assert float(r["jaccard"]) == 1.0  # the two runs made the same edit
        assert float(r["in_all_chance"]) == pytest.approx(p * p)
        assert float(r["jaccard_chance"]) == pytest.approx(p / (2 - p))
    assert "consistency across 2 runs" in captured.out


def test_tolerance_form_drift_and_one_run(ckpts, capsys):
    result = masks_report.report(ckpts["base"], [ckpts["all3"]], settings=masks_report.Settings(eta=0.05))
    assert result.consistency == [] and len(result.runs) == 16
    for r in result.runs:
        assert r.sparsity < 0.02  # a 3% change moves every nonzero bf16 value
        assert r.sparsity_eta == 1.0  # and none by more than 5%
        assert r.drift == pytest.approx(0.03, abs=1e-4)  # every singular value up 3%
        assert r.angle < 0.5  # the singular vectors stay
    same = masks_report.report(ckpts["base"], [ckpts["base"]], settings=masks_report.Settings(kinds=("q",)))
    assert [(r.sparsity, r.drift) for r in same.runs] == [(1.0, 0.0), (1.0, 0.0)]


def test_principal_overlap_is_one_where_the_run_updated_the_principal_region(ckpts):
    settings = masks_report.Settings(alpha=ALPHA, k_frac=K_FRAC, drift=False)
    result = masks_report.report(ckpts["base"], [ckpts["principal"]], settings=settings)
    for r in result.runs:
        assert r.principal == 1.0
        assert r.density == pytest.approx(ALPHA, abs=1 / r.n)  # only that region moved
        assert r.low < 0.5


def test_masks_by_kind_merges_the_layers(ckpts, capsys):
    capsys.readouterr()
    assert main(["masks", str(ckpts["base"]), str(ckpts["rows_a"]), "--by", "kind", "--kinds", "q,down",
                 "--no-drift", "--quiet"]) == 0
    captured = capsys.readouterr()
    body = captured.out.strip().splitlines()[2:]
    assert [line.split()[2] for line in body] == ["q", "down"]
    assert float(body[0].split()[4]) == pytest.approx(1 - ROWS / 32)  # q is 32 x 32 in both layers
    assert captured.err == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["{base}", "{missing}"], "neither a local folder nor a hub id"),
        (["{base}", "{wide}"], "shape"),
        (["{base}", "{rows_a}", "--eta", "-1"], "eta=-1.0"),
        (["{base}", "{rows_a}", "--alpha", "1.5"], "alpha=1.5"),
        (["{base}", "{rows_a}", "--k-frac", "0"], "k_frac=0.0"),
        (["{base}", "{rows_a}", "--kinds", "q,attn"], "unknown matrix kind 'attn'"),
        (["{base}", "{rows_a}", "--image", "9.o", "{png}"], "layer 9 out of range"),
        (["{base}", "{rows_a}", "--image", "1.embed", "{png}"], "not a block matrix type"),
        (["{base}", "{rows_a}", "--image", "o.1", "{png}"], "LAYER.TYPE"),
        (["{base}", "{rows_a}", "--image", "1.o", "{tmp}/o.jpg"], "--image must name a .png"),
        (["{base}", "{rows_a}", "--kinds", "q", "--image", "1.o", "{png}"], "not among the analysed"),
        (["{base}", "{rows_a}", "--out", "{tmp}/t.txt"], "--out must name a .csv"),
    ],
)
def test_bad_input_is_one_line_before_any_work(ckpts, tmp_path, capsys, args, message):
    names = {**{k: str(v) for k, v in ckpts.items()}, "missing": str(tmp_path / "missing"),
             "png": str(tmp_path / "o.png"), "tmp": str(tmp_path)}
    capsys.readouterr()
    assert main(["masks", *(a.format(**names) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing written: no image, no table
