"""bench/gpu.py's command line: its help, and its refusals before any model is built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_help_names_the_options():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--shape", "--device", "--max-seconds", "--json"):
        assert option in proc.stdout


def test_a_budget_must_be_positive():
    proc = _run("--max-seconds", "0")
    assert proc.returncode == 2
    assert "--max-seconds must be positive" in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
@pytest.mark.parametrize("args", [(), ("--device", "cuda", "--shape", "tiny")])
def test_without_cuda_it_refuses_in_one_line(args, tmp_path):
    proc = _run(*args, "--workdir", str(tmp_path), "--json", str(tmp_path / "out.json"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gpu.py: no CUDA device on this machine; add --device cpu to run on the CPU instead"]
    assert not any(tmp_path.iterdir())  # nothing built, no snapshot


@pytest.mark.slow
def test_the_tiny_shape_runs_every_stage_on_a_cpu(tmp_path):
    """The script a GPU session will run, end to end at tiny_chat's size on the CPU."""
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--shape", "tiny", "--device", "cpu", "--json", str(out),
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    snap = json.loads(out.read_text())
    assert snap["complete"] and not snap["skipped"] and not snap["errors"]
    assert {"build", "sft", "rl", "spectral cpu"} <= set(snap["stages"])
    assert snap["svd_check"]["passed"] and snap["svd_check"]["matrices"] > 0
    assert snap["provenance"]["code"] and snap["settings"]["profile"] == "gpu"
