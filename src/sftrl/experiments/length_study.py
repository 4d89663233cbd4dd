"""Sparsity against training length: paper B's two accounts of RL's sparse bf16 updates,
measured (arXiv 2511.08567; the per-step form after arXiv 2602.03839).

- **Precision**: with Adam each step moves an entry by about the learning rate, and bf16
  sees a change only once an entry's total drift passes half a unit in its last place
  (:func:`sftrl.weights.masks.bf16_half_ulp`).
- **Accumulation**: noisy on-policy gradients flip sign from step to step, so RL's drift
  grows like a random walk (``lr sqrt(T)``), where SFT's consistent gradients give
  ``lr T``. If so, RL's and SFT's sparsity separate as training gets longer at a matched
  learning rate.

The study: RL and SFT from the mask study's start (:func:`sftrl.experiments.masks_study.start_checkpoint`)
at every ``length_lrs`` and ``length_dtypes`` of the profile's :class:`MaskStudyConfig`
(``length_seeds`` seeds each with fp32 master weights), each for ``length_steps`` steps
with a checkpoint every ``length_every`` steps. Per run,
:func:`sftrl.weights.masks.length_summary` gives the cumulative and per-step sparsity at
each kept checkpoint, the sign consistency of each entry's updates against a random walk's,
and the drift exponent. The runs are cached like every run; the summaries by the
checkpoints' contents.

At the cpu profile the study takes longer than the book's budget, so ``make study`` runs it
(``python -m sftrl.experiments.length_study``) and writes :data:`SNAPSHOT`, a committed
record with its provenance; the geometry page reads it and says whether today's code made
it.

Usage::

    cfg = config.profile("cpu"); scfg = masks_study.study_config("cpu")
    rows = length_study.table(cfg, scfg)       # trains the missing runs once
    snap = length_study.read()                 # the committed snapshot, or None
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from sftrl import config, paths, provenance, snapshots
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.experiments import masks_study as ms
from sftrl.experiments import pool
from sftrl.experiments.masks_study import MaskStudyConfig
from sftrl.identity import checkpoint_identity
from sftrl.training import train
from sftrl.training.runs import Run, write_json_atomic
from sftrl.weights import masks

#: the committed snapshot the geometry page reads (written by ``make study``)
SNAPSHOT = paths.BOOK / "study" / "length.json"
#: the profile ``make study`` runs the study under (the book's default)
PROFILE = "cpu"
#: the code the snapshot's numbers come from (its digest is the snapshot's ``made_by``)
CODE = ("sftrl.experiments.length_study",)
#: quantiles of the start's bf16 half units the snapshot records
QUANTILES = (0.1, 0.5, 0.9)


def kept_steps(scfg: MaskStudyConfig) -> tuple[int, ...]:
    """The steps each run keeps a checkpoint at: every ``length_every``, and the last."""
    return tuple(sorted({*range(scfg.length_every, scfg.length_steps + 1, scfg.length_every), scfg.length_steps}))


Key = tuple[str, float, str, int]  #: (role, lr, dtype, seed) of one run of the study


def seeds(scfg: MaskStudyConfig, dtype: str) -> range:
    """The seeds the study runs at weight dtype ``dtype`` (``length_seeds`` with fp32 masters, else one)."""
    return range(scfg.length_seeds if dtype == "float32" else 1)


def configs(cfg: StudyConfig, scfg: MaskStudyConfig) -> dict[Key, StudyConfig]:
    """``(role, lr, dtype, seed) -> configuration``: the regime sweep's recipe
    (:func:`sftrl.experiments.masks_study.regime_configs`) at the study's lengths, rates,
    dtypes and seeds (seed 0 is the recipe's own)."""
    ms.check_study_config(scfg)
    long = replace(scfg, steps=scfg.length_steps, checkpoints=kept_steps(scfg), regime_lrs=scfg.length_lrs,
                   regime_dtypes=scfg.length_dtypes)
    out: dict[Key, StudyConfig] = {}
    for (role, lr, dtype), c in ms.regime_configs(cfg, long).items():
        for seed in seeds(scfg, dtype):
            if role == "rl":
                out[(role, lr, dtype, seed)] = replace(c, rl=replace(c.rl, seed=c.rl.seed + seed))
            else:
                out[(role, lr, dtype, seed)] = replace(c, sft=replace(c.sft, seed=c.sft.seed + seed))
    return out


def runs(cfg: StudyConfig, scfg: MaskStudyConfig) -> dict[Key, Run]:
    """The study's runs by ``(role, lr, dtype, seed)``; the missing ones are trained first,
    shared among one-thread children (:mod:`sftrl.experiments.pool`)."""
    step, start = ms.start_step(cfg, scfg), ms.start_checkpoint(cfg, scfg)
    todo = configs(cfg, scfg)
    made = {key: (train.rl_run(c, step) if key[0] == "rl" else train.sft_run(c, start=start)) for key, c in todo.items()}
    pool.run([pool.rl(c, step) if key[0] == "rl" else pool.sft(c, start=start)
              for key, c in todo.items() if not made[key].is_done], pool.workers(cfg))
    return {key: (train.rl(c, step) if key[0] == "rl" else train.sft(c, start=start)) for key, c in todo.items()}


def summarise(start: str | Path, run: Run, *, eta: float | None = None) -> dict[str, Any]:
    """:func:`sftrl.weights.masks.length_summary` of one finished run as a plain dict
    (cached by the checkpoints' contents)."""
    steps = sorted(run.checkpoints().items())
    if not run.is_done or not steps:
        raise SftrlError(f"run {run.id} is not finished")
    # keyed by this module's code too: it repackages what the mask study's code computes
    key = {"fp": [checkpoint_identity(start), *(checkpoint_identity(p) for _, p in steps)], "eta": eta,
           "length_code": provenance.code_digest(*CODE)}
    cache = ms.cache_file("length", key)
    cached = ms.load_cached(cache)
    if cached is not None:
        return cached
    s = masks.length_summary(start, steps, eta=eta)
    out = {"steps": [r.step for r in s.rows], **{f: [getattr(r, f) for r in s.rows] for f in
           ("sparsity", "step_sparsity", "drift", "below_half_ulp")},
           "sign_consistency": s.sign_consistency, "sign_consistency_chance": s.sign_consistency_chance,
           "moved_every_interval": s.moved_every_interval, "drift_exponent": s.drift_exponent,
           "intervals": s.intervals}
    ms.save_cached(cache, out)
    return out


def table(cfg: StudyConfig, scfg: MaskStudyConfig, *, eta: float | None = None) -> list[dict[str, Any]]:
    """One row per run: ``role``, ``lr``, ``dtype``, ``seed``, ``run`` (its folder's name), the series
    of :func:`summarise` and, for RL, the reward summary
    (:func:`sftrl.experiments.masks_study.reward_summary`)."""
    ms.check_settings(eta, 0.5, 1.0)
    start = ms.start_checkpoint(cfg, scfg)
    rows = []
    for (role, lr, dtype, seed), run in runs(cfg, scfg).items():
        row = {"role": role, "lr": lr, "dtype": dtype, "seed": seed, "run": run.id, **summarise(start, run, eta=eta)}
        if role == "rl":
            row.update(ms.reward_summary(run))
        rows.append(row)
    return rows


def snapshot(profile: str = PROFILE, *, eta: float | None = None) -> dict[str, Any]:
    """Run (or read) the study under ``profile`` and return what :data:`SNAPSHOT` holds:
    ``made_by`` (:func:`sftrl.provenance.record`), ``profile``, ``study`` (the budget),
    ``half_ulp`` (quantile -> the start's bf16 half unit) and ``runs`` (:func:`table`)."""
    cfg = config.profile(profile)
    scfg = ms.study_config(profile)
    made_by = provenance.record(*CODE)
    start = ms.start_checkpoint(cfg, scfg)
    half = masks.half_ulp_quantiles(start, QUANTILES)
    return {"made_by": made_by, "profile": profile, "study": {k: v for k, v in asdict(scfg).items()
                                                             if k.startswith("length_") or k == "start_step"},
            "start_step": ms.start_step(cfg, scfg), "eta": eta,
            "half_ulp": {str(q): v for q, v in half.items()}, "runs": table(cfg, scfg, eta=eta)}


def read(path: Path | None = None) -> dict[str, Any] | None:
    """The committed snapshot (default :data:`SNAPSHOT`), or None when there is none;
    SftrlError when the file is not a snapshot."""
    return snapshots.read(SNAPSHOT if path is None else path,
                          lambda x: isinstance(x, dict) and isinstance(x.get("runs"), list),
                          "a length-study snapshot")


def is_current(snap: dict[str, Any]) -> bool:
    """Whether the snapshot was made by today's code (its ``made_by`` digest is today's)."""
    return snapshots.made_today(snap, *CODE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=PROFILE, help=f"run size (default {PROFILE}; the snapshot the book reads)")
    ap.add_argument("--out", type=Path, default=SNAPSHOT, help="where to write the snapshot")
    args = ap.parse_args(argv)
    try:  # a bad profile: one error, before any training
        config.profile(args.profile)
        ms.study_config(args.profile)
    except SftrlError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    snap = snapshot(args.profile)
    clean = json.loads(json.dumps(snap, default=lambda x: None).replace("NaN", "null"))
    write_json_atomic(args.out, clean)
    print(f"wrote {args.out.name}: {len(snap['runs'])} runs", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
