"""Figure 1's quantities: the SFT accuracy curve, its OOD peak, and RL's recovery window.

Everything here reads (or makes, once) cached runs of :mod:`sftrl.train`.

Usage::

    curve = study.sft_curve(cfg)            # one row per (step, split)
    peak = study.ood_peak(curve)
    window = study.rl_window(cfg, [50, 300, 1500])
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sftrl import train
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError


def recovery_fraction(ood_rl: float, ood_start: float, ood_peak: float) -> float:
    """Share of the OOD accuracy lost since the peak that RL wins back.

    ``(OOD_RL - OOD_start) / (OOD_peak - OOD_start)`` where *start* is the SFT checkpoint RL
    began from (paper A, arXiv 2509.12235, quotes it with start = the end of SFT: Llama
    ~85-88%, Qwen ~99%). ``nan`` when nothing was lost (peak == start).
    """
    lost = ood_peak - ood_start
    return float("nan") if abs(lost) < 1e-12 else (ood_rl - ood_start) / lost


def sft_curve(cfg: StudyConfig) -> list[dict[str, Any]]:
    """ID/OOD accuracy and losses at step 0 (the base) and every kept SFT checkpoint."""
    run = train.sft(cfg)
    rows = train.evaluate_run(run, cfg, start=train.base_checkpoint(cfg))
    train_log = {r["step"]: r["loss"] for r in run.metrics() if "loss" in r}
    for r in rows:
        r["logged_train_loss"] = train_log.get(r["step"])
    return rows


def by_split(rows: Sequence[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["split"] == split]


@dataclass(frozen=True)
class Peak:
    """The SFT checkpoint with the highest OOD accuracy (ties: the earliest)."""

    step: int
    ood: float
    id: float
    end_step: int
    ood_end: float
    id_end: float

    @property
    def decline(self) -> float:
        """OOD points lost between the peak and the end of SFT."""
        return self.ood - self.ood_end


def ood_peak(rows: Sequence[dict[str, Any]]) -> Peak:
    ood = {r["step"]: r["accuracy"] for r in by_split(rows, "ood")}
    idd = {r["step"]: r["accuracy"] for r in by_split(rows, "id")}
    if not ood:
        raise SftrlError("no OOD evaluations to find a peak in")
    best = max(sorted(ood), key=lambda s: (ood[s], -s))
    end = max(ood)
    return Peak(step=best, ood=ood[best], id=idd[best], end_step=end, ood_end=ood[end], id_end=idd[end])


def _rl_in_subprocess(profile: str, overrides: dict[str, Any], from_step: int) -> None:
    cmd = [sys.executable, "-m", "sftrl", "train", "rl", "--profile", profile, "--from-step", str(from_step)]
    for k, v in overrides.items():
        cmd += ["--set", f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"RL from step {from_step} failed:\n{done.stderr[-3000:]}")


def _flat(cfg: StudyConfig) -> dict[str, Any]:
    """The configuration as flat overrides (to rebuild it in a child process)."""
    out: dict[str, Any] = {}
    for section in ("model", "pretrain", "sft", "rl", "eval"):
        for k, v in dataclasses.asdict(getattr(cfg, section)).items():
            out[f"{section}_{k}"] = tuple(v) if isinstance(v, list) else v
    out.update(split_seed=cfg.split_seed, device=cfg.device)
    return out


def rl_runs(cfg: StudyConfig, from_steps: Sequence[int], workers: int = 1) -> list[train.Run]:
    """RL from each SFT step; with ``workers`` > 1, missing runs train in parallel child
    processes of one thread each (only worth it where measured faster, see bench/)."""
    train.sft(cfg)  # the parent first, once
    todo = [s for s in from_steps if not train.rl_run(cfg, s).is_done]
    if workers > 1 and len(todo) > 1:
        one_thread = dataclasses.replace(cfg, threads=1)
        flat = {k: v for k, v in _flat(one_thread).items()}
        flat["threads"] = 1
        with cf.ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda s: _rl_in_subprocess(cfg.profile, flat, s), todo))
    return [train.rl(cfg, s) for s in from_steps]


def rl_window(cfg: StudyConfig, from_steps: Sequence[int], workers: int = 1) -> list[dict[str, Any]]:
    """OOD/ID after RL from each SFT checkpoint, beside the checkpoint it started from."""
    curve = sft_curve(cfg)
    peak = ood_peak(curve)
    start_acc = {(r["step"], r["split"]): r for r in curve}
    out = []
    for step, run in zip(from_steps, rl_runs(cfg, from_steps, workers), strict=True):
        end = {r["split"]: r for r in train.evaluate_run(run, cfg, steps=[cfg.rl.steps])}
        row: dict[str, Any] = {"from_step": step, "run": run.id}
        for split in ("id", "ood"):
            row[f"{split}_start"] = start_acc[(step, split)]["accuracy"]
            row[f"{split}_rl"] = end[split]["accuracy"]
            row[f"{split}_rl_ci"] = (end[split]["ci_low"], end[split]["ci_high"])
        row["ood_gain"] = row["ood_rl"] - row["ood_start"]
        row["recovery"] = recovery_fraction(row["ood_rl"], row["ood_start"], peak.ood)
        out.append(row)
    return out
