"""``python -m sftrl spectra``: table, CSV, progress bar, sharded checkpoints and bad input."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sftrl.cli import main

transformers = pytest.importorskip("transformers")


def tiny_llama(path: Path, *, seed: int = 0, shard: str | None = None, hidden: int = 32, noise: float = 0.0) -> Path:
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=32, hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2,
    )
    model = transformers.LlamaForCausalLM(cfg)
    if noise:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(noise * torch.randn_like(p))
    model.save_pretrained(path, **({"max_shard_size": shard} if shard else {}))
    return path


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    return {
        "base": tiny_llama(root / "base"),
        "sharded": tiny_llama(root / "sharded", shard="20KB"),  # the same weights, in 5 shards
        "perturbed": tiny_llama(root / "perturbed", noise=0.01),
        "wide": tiny_llama(root / "wide", hidden=48),
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_spectra_identical_sharded_and_perturbed(ckpts, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "t.csv"
    code = main(["spectra", str(ckpts["base"]), str(ckpts["sharded"]), str(ckpts["perturbed"]), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    lines = captured.out.strip().splitlines()
    assert lines[0].split()[:5] == ["other", "layer", "type", "shape", "k"]
    assert len(lines) == 1 + 2 * 16  # header + (embed + 2 x 7 + lm_head) per other
    assert "spectra" in captured.err and "32/32" in captured.err  # the progress bar, on stderr
    rows = read_csv(out)
    assert len(rows) == 32 and set(rows[0]) >= {"other", "layer", "type", "shape", "drift", "mean|dS|/S",
                                                "max_angle_U", "mean_angle_U", "max_angle_V", "mean_angle_V"}
    same = [r for r in rows if r["other"] == str(ckpts["sharded"])]
    moved = [r for r in rows if r["other"] == str(ckpts["perturbed"])]
    assert len(same) == len(moved) == 16
    for r in same:
        assert float(r["drift"]) == 0.0 and float(r["mean|dS|/S"]) == 0.0
        assert float(r["max_angle_U"]) < 1e-3 and float(r["max_angle_V"]) < 1e-3
    for r in moved:
        assert float(r["drift"]) > 0.0 and float(r["max_angle_U"]) > 0.1
    assert same[0]["layer"] == "" and same[0]["type"] == "embed" and same[1]["shape"] == "32x32"


def test_spectra_kinds_and_layers_filter(ckpts, capsys):
    capsys.readouterr()
    assert main(["spectra", str(ckpts["base"]), str(ckpts["perturbed"]), "--kinds", "q,down", "--layers", "1", "--quiet"]) == 0
    captured = capsys.readouterr()
    body = captured.out.strip().splitlines()[1:]
    assert [line.split()[1:3] for line in body] == [["1", "q"], ["1", "down"]]
    assert captured.err == ""


@pytest.mark.parametrize("extra,message", [
    ([], "model.embed_tokens.weight has shape"),
    (["--kinds", "q,attn"], "unknown matrix kind 'attn'"),
])
def test_spectra_bad_input_exits_2_with_one_line(ckpts, capsys, extra, message):
    capsys.readouterr()
    code = main(["spectra", str(ckpts["base"]), str(ckpts["perturbed"]), str(ckpts["wide"]), *extra])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ") and message in captured.err


def test_spectra_other_bad_options(ckpts, tmp_path, capsys):
    for extra, message in [(["--k-frac", "0"], "k_frac=0.0"), (["--out", str(tmp_path / "t.txt")], ".csv"),
                           (["--layers", "9"], "layer 9 out of range")]:
        capsys.readouterr()
        assert main(["spectra", str(ckpts["base"]), str(ckpts["perturbed"]), *extra]) == 2
        assert message in capsys.readouterr().err
    assert main(["spectra", str(ckpts["base"]), str(tmp_path / "missing")]) == 2
    assert "neither a local folder nor a hub id" in capsys.readouterr().err


def test_spectra_as_a_subprocess(ckpts, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SFTRL_DATA": str(tmp_path / "data")}
    res = subprocess.run([sys.executable, "-m", "sftrl", "spectra", str(ckpts["base"]), str(ckpts["wide"])],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "has shape" in res.stderr
    res = subprocess.run([sys.executable, "-m", "sftrl", "spectra", str(ckpts["base"]), str(ckpts["perturbed"]), "--kinds", "v"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0 and len(res.stdout.strip().splitlines()) == 3
    assert any((tmp_path / "data" / "cache" / "svd").iterdir())  # the SVDs went to paths.CACHE
