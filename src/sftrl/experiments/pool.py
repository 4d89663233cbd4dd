"""Runs and evaluations shared among child processes of one torch thread each.

The tiny models are too small for one process's threads to keep the cores busy; one-thread
processes side by side do (``threads`` cores, ``threads`` children). A *job* is one
cached unit of work, made by :func:`pretrain`, :func:`rl`, :func:`sft`, :func:`evaluation`
or :func:`accuracy`; :func:`run`
hands them to ``workers`` children, the costliest first, each to the next child that is
free, and returns when all are in the caches, where the caller reads them as usual. With
one worker, or one job, it does them in this process.

Usage::

    jobs = [pool.rl(c, 600, evaluate=True) for c in variants] + [pool.evaluation(cfg, 20)]
    pool.run(jobs, pool.workers(cfg))
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import os
import queue
import subprocess
import sys
import tempfile
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


def order(jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``jobs``, the costliest first (:data:`COST`; ties keep their order): the order in
    which free children take them, so that the long runs start first."""
    return sorted(jobs, key=lambda j: -COST[j["kind"]])


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


#: how a child is started: it reads one job per line and answers each with a line
CHILD = (sys.executable, "-m", "sftrl.experiments.pool")
DONE = "done"


def _child(todo: queue.SimpleQueue) -> None:
    """One child process of one thread: it takes the next job from ``todo`` each time it is
    free, until none is left. RuntimeError with the end of its stderr when a job fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(CHILD, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        try:
            while True:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    proc.stdin.write(json.dumps(job) + "\n")
                    proc.stdin.flush()
                    answer = proc.stdout.readline()
                except BrokenPipeError:
                    answer = ""
                if answer.strip() != DONE:
                    proc.wait()
                    err.seek(0)
                    raise RuntimeError(f"job {(job['kind'], job.get('step'))} failed:\n{err.read()[-3000:]}")
        finally:
            if proc.stdin and not proc.stdin.closed:
                try:
                    proc.stdin.close()  # the child ends at the end of its input
                except BrokenPipeError:
                    pass
            proc.wait()


def run(jobs: Sequence[dict[str, Any]], n: int) -> None:
    """Do ``jobs``: in ``n`` child processes of one thread, each taking the next job
    (:func:`order`) when it is free, or here when ``n`` < 2 or there is one job. A child's
    failure is raised here with its error's end, once the other children have finished
    the jobs left: what they finished stays in the caches."""
    if n < 2 or len(jobs) < 2:
        for job in jobs:
            do(job)
        return
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for job in order(jobs):
        todo.put(job)
    with cf.ThreadPoolExecutor(n) as threads:
        for done in [threads.submit(_child, todo) for _ in range(min(n, len(jobs)))]:
            done.result()


def _serve() -> None:
    """A child: one job per line of stdin, each answered on stdout once it is in the caches.
    What the libraries print goes to stderr, so stdout carries only the answers."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        if line.strip():
            do(json.loads(line))
            answers.write(DONE + "\n")
            answers.flush()


if __name__ == "__main__":
    _serve()
