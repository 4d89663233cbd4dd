"""Runs on disk: identity by configuration, atomic files, resumption, completion markers.

A run is one training stage (``pretrain``, ``sft`` or ``rl``) described completely by a
JSON-able configuration (the stage's settings, its parent, and the pipeline version). Its
folder is ``data/runs/<stage>-<hash of that configuration>/``::

    config.json          the resolved configuration (written first)
    checkpoint-<step>/   Hugging Face checkpoints (complete once trainer_state.json exists)
    metrics.jsonl        one line per logged training step
    evals/<key>.jsonl    evaluations of the checkpoints, one file per evaluation setting
    DONE                 written last, atomically: the run is finished

Asking for a finished run returns it at once; a killed run resumes from its last complete
checkpoint; a folder without ``DONE`` is never taken for a finished run, and a checkpoint
folder without ``trainer_state.json`` (the file the HF Trainer writes last) is never read.

Usage: ``run = Run("sft", cfg_dict); run.is_done or train(...)``
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftrl import paths
from sftrl.errors import SftrlError
from sftrl.identity import config_hash
from sftrl.training import launch

_CKPT = re.compile(r"^checkpoint-(\d+)$")
STAGES = ("pretrain", "sft", "rl")


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Run:
    """One training run, identified by its stage and configuration."""

    stage: str
    config: dict[str, Any]
    root: Path | None = None  # defaults to paths.RUNS at call time (tests redirect it)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise SftrlError(f"unknown stage {self.stage!r}; choose one of {STAGES}")

    @property
    def id(self) -> str:
        return f"{self.stage}-{config_hash(self.config)}"

    @property
    def dir(self) -> Path:
        return (self.root or paths.RUNS) / self.id

    @property
    def is_done(self) -> bool:
        return (self.dir / "DONE").is_file()

    def checkpoints(self) -> dict[int, Path]:
        """Complete checkpoints by step (a folder still being written is left out)."""
        found: dict[int, Path] = {}
        if not self.dir.is_dir():
            return found
        for child in self.dir.iterdir():
            m = _CKPT.match(child.name)
            if m and (child / "trainer_state.json").is_file():
                found[int(m.group(1))] = child
        return dict(sorted(found.items()))

    def checkpoint(self, step: int) -> Path:
        ckpts = self.checkpoints()
        if step not in ckpts:
            raise SftrlError(f"run {self.id} has no checkpoint at step {step}; kept steps: {sorted(ckpts)}")
        return ckpts[step]

    def remove_incomplete_checkpoints(self) -> list[Path]:
        """Delete checkpoint folders a killed process left half-written; return them."""
        removed = []
        if self.dir.is_dir():
            for child in self.dir.iterdir():
                if _CKPT.match(child.name) and not (child / "trainer_state.json").is_file():
                    shutil.rmtree(child)
                    removed.append(child)
        return removed

    def last_checkpoint(self) -> Path | None:
        ckpts = self.checkpoints()
        return ckpts[max(ckpts)] if ckpts else None

    def prepare(self) -> None:
        """Create the folder and write the resolved configuration (first file of a run)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg_path = self.dir / "config.json"
        if not cfg_path.exists():
            write_json_atomic(cfg_path, {"id": self.id, "stage": self.stage, **self.config})

    def mark_done(self, summary: dict[str, Any]) -> None:
        """Write the completion marker: the last file of a run."""
        write_json_atomic(self.dir / "DONE", {"finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **summary})

    def summary(self) -> dict[str, Any]:
        if not self.is_done:
            raise SftrlError(f"run {self.id} is not finished")
        return json.loads((self.dir / "DONE").read_text())

    def metrics(self) -> list[dict[str, Any]]:
        """The training log (one dict per logged step)."""
        path = self.dir / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the run, so two trainings never make it at once.

        Under a launcher (:mod:`sftrl.training.launch`) the processes of one launch train
        the run together: the main one holds the lock for all of them, the others take none.
        """
        if not launch.is_main():
            yield
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON line (flushed, so a killed run keeps what it logged), under an
    exclusive lock, so processes that share a log never interleave their lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(json.dumps(row, sort_keys=True, default=str) + "\n")
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill: everything before it stands
            break
    return rows


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """Every run folder with its stage, state and kept checkpoints."""
    root = root or paths.RUNS
    out = []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        cfg = d / "config.json"
        if not cfg.is_file():
            continue
        conf = json.loads(cfg.read_text())
        run = Run(conf["stage"], {k: v for k, v in conf.items() if k not in ("id", "stage")}, root=root)
        out.append({"id": d.name, "stage": conf["stage"], "done": run.is_done,
                    "checkpoints": sorted(run.checkpoints())})
    return out
