"""Runs and evaluations shared among child processes of one torch thread each.

The tiny models are too small for one process's threads to keep the cores busy; one-thread
processes side by side do (``threads`` cores, ``threads`` children). A *job* is one
cached unit of work, made by :func:`pretrain`, :func:`rl`, :func:`sft`, :func:`evaluation`
or :func:`accuracy`; :func:`run`
deals the missing ones to ``workers`` children (the costliest first, each to the child
with the least work so far) and returns when all are in the caches, where the caller reads
them as usual. With one worker, or one job, it does them in this process.

Usage::

    jobs = [pool.rl(c, 600, evaluate=True) for c in variants] + [pool.evaluation(cfg, 20)]
    pool.run(jobs, pool.workers(cfg))
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sftrl import config
from sftrl.config import StudyConfig
from sftrl.evaluation import checkpoint
from sftrl.training import train

#: a job's relative cost (a run of the cpu profile costs about eight evaluations of one model)
COST = {"pretrain": 16, "rl": 8, "sft": 8, "eval": 1, "accuracy": 1}


def _job(kind: str, cfg: StudyConfig, **fields: Any) -> dict[str, Any]:
    """A job as JSON: the configuration as its profile and flat settings, one thread."""
    flat = config.flat(dataclasses.replace(cfg, threads=1))
    return {"kind": kind, "profile": flat.pop("profile"), "flat": flat, **fields}


def pretrain(cfg: StudyConfig) -> dict[str, Any]:
    """Pretrain the small base of ``cfg`` (:func:`sftrl.training.train.pretrain`)."""
    return _job("pretrain", cfg)


def rl(cfg: StudyConfig, from_step: int, *, evaluate: bool = False) -> dict[str, Any]:
    """Train the RL run of ``cfg`` from SFT step ``from_step``; with ``evaluate``, evaluate
    its last step too (:func:`sftrl.evaluation.checkpoint.evaluate_run`)."""
    return _job("rl", cfg, step=int(from_step), evaluate=evaluate)


def sft(cfg: StudyConfig, start: str | Path | None = None) -> dict[str, Any]:
    """Train the SFT run of ``cfg`` from ``start`` (None: the base)."""
    return _job("sft", cfg, start=None if start is None else str(start))


def evaluation(cfg: StudyConfig, step: int) -> dict[str, Any]:
    """Evaluate step ``step`` of ``cfg``'s SFT run (step 0: the base)."""
    return _job("eval", cfg, step=int(step))


def accuracy(cfg: StudyConfig, path: str | Path) -> dict[str, Any]:
    """Evaluate any checkpoint (an edited one, say): :func:`sftrl.evaluation.checkpoint.accuracy`."""
    return _job("accuracy", cfg, path=str(path))


def workers(cfg: StudyConfig, n: int | None = None) -> int:
    """``n``, or by default as many one-thread children as ``cfg.threads`` on a CPU, one on
    a GPU (where one process keeps the device busy)."""
    if n is not None:
        return n
    return 1 if train.device_of(cfg) == "cuda" else max(1, cfg.threads)


def share(jobs: Sequence[dict[str, Any]], n: int) -> list[list[dict[str, Any]]]:
    """``jobs`` dealt to ``n`` shares of about equal cost (:data:`COST`): the costliest
    first, each to the share with the least so far (ties: the first such share)."""
    shares: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    load = [0] * n
    for job in sorted(jobs, key=lambda j: -COST[j["kind"]]):
        i = load.index(min(load))
        shares[i].append(job)
        load[i] += COST[job["kind"]]
    return shares


def do(job: dict[str, Any]) -> None:
    """Do one job in this process (what a child does with each of its share)."""
    cfg = config.profile(job["profile"], **job["flat"])
    if job["kind"] == "pretrain":
        train.pretrain(cfg)
    elif job["kind"] == "rl":
        made = train.rl(cfg, job["step"])
        if job["evaluate"]:
            checkpoint.evaluate_run(made, cfg, steps=[cfg.rl.steps])
    elif job["kind"] == "sft":
        train.sft(cfg, start=job["start"])
    elif job["kind"] == "accuracy":
        checkpoint.accuracy(job["path"], cfg)
    else:
        checkpoint.evaluate_run(train.sft(cfg), cfg, steps=[job["step"]], start=train.base_checkpoint(cfg))


def _child(jobs: Sequence[dict[str, Any]]) -> None:
    if not jobs:
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "sftrl.experiments.pool"], input=json.dumps(list(jobs)), env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"jobs {[(j['kind'], j.get('step')) for j in jobs]} failed:\n{done.stderr[-3000:]}")


def run(jobs: Sequence[dict[str, Any]], n: int) -> None:
    """Do ``jobs``: in ``n`` child processes of one thread (:func:`share`), or here when
    ``n`` < 2 or there is one job. A child's failure is raised here with its error's end;
    what the others finished stays in the caches."""
    if n < 2 or len(jobs) < 2:
        for job in jobs:
            do(job)
        return
    with cf.ThreadPoolExecutor(n) as threads:
        list(threads.map(_child, share(jobs, n)))


if __name__ == "__main__":
    for job in json.loads(sys.stdin.read()):
        do(job)
