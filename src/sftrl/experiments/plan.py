"""Every training run the book reads, as named jobs: what ``make runs`` computes.

The figure pages train what is missing when they first ask for it, which suits a laptop.
At paper scale the runs belong on a GPU node, under a launcher, and the pages should only
read them. This module names the same runs the pages ask for -- taken from the figure
modules' own configurations (:func:`sftrl.experiments.figure1.seeded`, the mask study's
``*_configs``) with every page's default parameters -- in the order they depend on each
other. ``python -m sftrl plan`` prints the names; ``python -m sftrl job NAME``
trains one (each under ``LAUNCHER`` in ``make runs``); a finished run returns at once.

Names read as the book does: ``sft``, ``rl-from-<step>-seed-<i>`` (Figure 1's window and
the main RL model), ``masks-rl-<variant>``, ``masks-sft``, ``regime-<role>-<lr>-<dtype>``,
``geometry-permuted``, ``geometry-rotated`` and ``probe-<mask>`` (Figures 6 and 7).

Usage::

    jobs = plan.jobs(config.profile("smoke"))
    for name, make in jobs.items():
        make()          # trains the run (and its parents) once, then reads it from the cache
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from sftrl import config
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.experiments import figure1
from sftrl.experiments import masks_study as ms
from sftrl.training import train
from sftrl.training.runs import Run

#: a job: trains its run once (parents first) and returns it
Job = Callable[[], Run]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def jobs(cfg: StudyConfig) -> dict[str, Job]:
    """The runs the book's pages read under ``cfg``, by name, parents before children.

    Two names never train the same run: a run that two pages share (Figure 1's window
    and the main RL model, for instance) is listed once, under its first name.
    """
    scfg = ms.study_config(cfg.profile)  # the pages' defaults: every study_* parameter None
    out: dict[str, Job] = {}
    seen: set[tuple[str, Any, int]] = set()

    def add(name: str, stage: str, c: StudyConfig, step: int, make: Job) -> None:
        key = (stage, tuple(sorted(config.flat(dataclasses.replace(c, threads=1, device="auto")).items())), step)
        if key not in seen:
            seen.add(key)
            out[name] = make

    if cfg.model.base == "small" and train.committed_base_config() != train.base_identity(cfg):
        out["pretrain"] = lambda: train.pretrain(cfg)
    add("sft", "sft", cfg, 0, lambda: train.sft(cfg))
    for step in (*cfg.rl_from_steps, cfg.main_rl_step):
        for i in range(cfg.rl_seeds if step in cfg.rl_from_steps else 1):
            c = figure1.seeded(cfg, i)
            add(f"rl-from-{step}-seed-{i}", "rl", c, step, lambda c=c, step=step: train.rl(c, step))
    start = ms.start_step(cfg, scfg)
    for name, c in ms.variant_configs(cfg, scfg).items():
        add(f"masks-rl-{_slug(name)}", "rl", c, start, lambda c=c: train.rl(c, start))
    add("masks-sft", "sft-contrast", ms.sft_config(cfg, scfg), start, lambda: ms.sft_contrast(cfg, scfg))
    for (role, lr, dtype), c in ms.regime_configs(cfg, scfg).items():
        make = (lambda c=c: train.rl(c, start)) if role == "rl" else \
            (lambda c=c: train.sft(c, start=ms.start_checkpoint(cfg, scfg)))
        add(f"regime-{role}-{lr:g}-{dtype}", "rl" if role == "rl" else "sft-contrast", c, start, make)
    add("geometry-permuted", "rl", ms.permuted_config(cfg, scfg), start, lambda: ms.permuted_run(cfg, scfg))
    add("geometry-rotated", "rl", ms.rotated_config(cfg, scfg), start, lambda: ms.rotated_run(cfg, scfg))
    for mask, c in ms.probe_configs(cfg, scfg).items():
        add(f"probe-{_slug(mask)}", "rl", c, start, lambda c=c: train.rl(c, start))
    return out


def run_jobs(cfg: StudyConfig, names: list[str]) -> list[Run]:
    """Train the named jobs of :func:`jobs` in the given order; SftrlError naming any
    unknown name (with the valid ones) before any training."""
    known = jobs(cfg)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SftrlError(f"unknown job(s) {unknown} under profile {cfg.profile!r}; the book's jobs: "
                         f"{', '.join(known)}")
    return [known[n]() for n in names]
