"""Runs computed outside the notebooks: the book's job plan, `make runs`, and several
processes training one run through accelerate (gloo on the CPU)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sftrl import config, paths
from sftrl.errors import SftrlError
from sftrl.experiments import plan
from sftrl.training import launch, train
from sftrl.training.runs import Run, list_runs

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = Path(sys.executable).with_name("accelerate")


def _sftrl(*args: str, data: Path, env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
           timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m sftrl ARGS`` (after a launcher ``prefix``) with its data in ``data``."""
    full = {**os.environ, "SFTRL_DATA": str(data), "OMP_NUM_THREADS": "1", **(env or {})}
    cmd = [*prefix, "-m", "sftrl", *args] if prefix else [sys.executable, "-m", "sftrl", *args]
    return subprocess.run(cmd, cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- one process or several


def test_a_process_count_that_does_not_divide_a_batch_is_refused_naming_it(monkeypatch):
    launch.check_divides("sft_batch_size", 16, 4)
    with pytest.raises(SftrlError, match=r"sft_batch_size=16 cannot be split over 3 processes"):
        launch.check_divides("sft_batch_size", 16, 3)
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert launch.per_process("sft_batch_size", 16) == 4
    with pytest.raises(SftrlError, match="sft_batch_size=16 cannot be split over 3"):
        train.check_inputs(config.profile("smoke"), processes=3)


def test_only_the_main_process_holds_the_lock(tmp_path, monkeypatch):
    import fcntl

    run = Run("sft", {"x": 1}, root=tmp_path)
    monkeypatch.setenv("RANK", "1")
    with run.lock():  # a second process of a launch takes no lock: the main one holds it
        assert not (run.dir / ".lock").exists()
    monkeypatch.setenv("RANK", "0")
    with run.lock():
        with open(run.dir / ".lock") as fh, pytest.raises(BlockingIOError):
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)


# --------------------------------------------------------------------------- the model a run starts from


def test_a_model_that_is_neither_a_folder_nor_a_reachable_hub_id_is_refused(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = config.profile("smoke", model_base="nobody-here/no-such-model", model_answer_format="chat")
    with pytest.raises(SftrlError, match=r"model_base='nobody-here/no-such-model' is neither a model folder nor"):
        train.check_inputs(cfg)


def test_a_folder_without_a_model_or_without_a_chat_template_is_refused(tmp_path):
    with pytest.raises(SftrlError, match="is a folder without a Hugging Face model"):
        train.check_inputs(config.profile("smoke", model_base=str(tmp_path), model_answer_format="chat"))
    # the committed small base is a real model folder whose tokenizer has no chat template
    compact = str(paths.BASE)
    train.check_inputs(config.profile("smoke", model_base=compact, model_answer_format="compact"))
    with pytest.raises(SftrlError, match="has no chat template, which model_answer_format='chat' needs"):
        train.check_inputs(config.profile("smoke", model_base=compact, model_answer_format="chat"))


def test_a_page_is_refused_a_model_it_cannot_reach_before_its_kernel_starts(tmp_path, capsys, monkeypatch):
    from sftrl.book import execute

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "x.ipynb"
    code = execute.main(["run", "01_ood_peak_and_decline", "--out", str(out), "--profile", "gpu",
                         "--model-base", "nobody-here/no-such-model"])
    assert code == 2 and "model_base='nobody-here/no-such-model' is neither" in capsys.readouterr().err
    assert not out.exists()


def test_no_stage_starts_on_a_model_it_cannot_reach(tmp_path):
    before = set(paths.RUNS.glob("*")) if paths.RUNS.is_dir() else set()
    for stage in (train.sft, lambda c: train.rl(c, 10)):
        with pytest.raises(SftrlError, match="model_base="):
            stage(config.profile("smoke", model_base=str(tmp_path / "missing"), model_answer_format="chat"))
    assert (set(paths.RUNS.glob("*")) if paths.RUNS.is_dir() else set()) == before


# --------------------------------------------------------------------------- the book's plan


def test_the_plan_names_each_run_the_pages_read_once():
    names = list(plan.jobs(config.profile("cpu")))
    cfg = config.profile("cpu")
    window = [f"rl-from-{s}-seed-{i}" for s in cfg.rl_from_steps for i in range(cfg.rl_seeds)]
    assert names[0] == "sft" and names[1:1 + len(window)] == window  # parents first
    assert len(set(names)) == len(names)
    assert {"masks-sft", "geometry-permuted", "probe-off-principal"} <= set(names)
    # a run two pages share is listed once: the probe's dense run is the regime's run at its lr
    assert "probe-none" not in names and "regime-rl-0.0001-float32" in names
    with pytest.raises(SftrlError, match=r"unknown job\(s\) \['nope'\]"):
        plan.run_jobs(cfg, ["nope"])


def test_make_runs_refuses_a_launcher_that_does_not_divide_a_batch_before_any_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(SFTRL_DATA=str(tmp_path))
    proc = subprocess.run(["make", "--no-print-directory", "runs", "PROFILE=smoke",
                           "LAUNCHER=accelerate launch --multi_gpu --num_processes 3"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "cannot be split over 3 processes" in proc.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_make_runs_computes_exactly_the_runs_the_smoke_book_read(smoke_book):
    """`make runs PROFILE=smoke` then `make book PROFILE=smoke` gives the pages of `make
    book` alone: the plan names exactly the runs the book trained, so after the book it
    has nothing left to train, and every run the book made is one of its jobs."""
    data = smoke_book.data
    made = {p.name: (p / "DONE").stat().st_mtime_ns for p in (data / "runs").iterdir()}
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(SFTRL_DATA=str(data))
    proc = subprocess.run(["make", "--no-print-directory", "runs", "PROFILE=smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {p.name: (p / "DONE").stat().st_mtime_ns for p in (data / "runs").iterdir()} == made  # nothing new
    listed = _sftrl("job", *_plan_names(data), "--profile", "smoke", data=data)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert {Path(line).name for line in listed.stdout.split()} == set(made)


def _plan_names(data: Path) -> list[str]:
    proc = _sftrl("plan", "--profile", "smoke", data=data)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()


@pytest.mark.slow
@pytest.mark.skipif(not ACCELERATE.is_file(), reason="accelerate's launcher is not installed beside this Python")
def test_two_processes_train_one_smoke_sft_run_through_accelerate(tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` (gloo on a CPU): both processes
    train the run, the main one writes it, and exactly one finished SFT folder is left."""
    assert _sftrl("train", "pretrain", "--profile", "smoke", data=tmp_path).returncode == 0
    launcher = (str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517")
    proc = _sftrl("train", "sft", "--profile", "smoke", "--set", "threads=1", data=tmp_path, prefix=launcher,
                  env={"PATH": f"{ACCELERATE.parent}{os.pathsep}{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    runs = [r for r in list_runs(tmp_path / "runs") if r["stage"] == "sft"]
    assert len(runs) == 1 and runs[0]["done"]
    folder = tmp_path / "runs" / runs[0]["id"]
    done = json.loads((folder / "DONE").read_text())
    assert done["processes"] == 2
    cfg = config.profile("smoke")
    assert runs[0]["checkpoints"] == sorted({*cfg.sft.checkpoints, cfg.sft.steps})
    assert proc.stdout.split() == [str(folder)]  # the main process names the one run
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == len({r["step"] for r in rows if "loss" in r})  # one process logged
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5  # the launch learned
    assert not [p for p in folder.rglob("*") if ".tmp" in p.name]
    shutil.rmtree(tmp_path / "runs")
