"""Figure 1's quantities: the SFT accuracy curve, its OOD peak, and RL's recovery window.

Everything here reads (or makes, once) cached runs of :mod:`sftrl.training.train`.

Usage::

    curve = study.sft_curve(cfg)            # one row per (step, split)
    peak = study.ood_peak(curve)
    window = study.rl_window(cfg, [50, 300, 1500])   # default: cfg.rl_from_steps x cfg.rl_seeds
    best = study.best_recovery(window)      # None when no start recovered anything
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


from sftrl.evaluation import checkpoint
from sftrl.experiments import pool
from sftrl.training import train
from sftrl import config
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
    rows = checkpoint.evaluate_run(run, cfg, start=train.base_checkpoint(cfg))
    train_log = {r["step"]: r["loss"] for r in run.metrics() if "loss" in r}
    for r in rows:
        r["logged_train_loss"] = train_log.get(r["step"])
    return rows


def by_split(rows: Sequence[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """The rows of one split (``"id"``, ``"id_heldout"`` or ``"ood"``), in their given order."""
    return [r for r in rows if r["split"] == split]


def kept_sft_steps(cfg: StudyConfig) -> list[int]:
    """The SFT steps that have a model: 0 (the base), every configured checkpoint up to
    the last step, and the last step (known from the configuration, before any training)."""
    return config.kept_steps(cfg.sft.steps, cfg.sft.checkpoints)


def check_rl_from_steps(cfg: StudyConfig, from_steps: Sequence[int]) -> list[int]:
    """``from_steps`` as ints; SftrlError naming any step SFT does not keep (before work)."""
    return config.check_kept("rl_from_steps", tuple(from_steps), cfg.sft.steps, cfg.sft.checkpoints)


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
    """The OOD peak of an SFT curve (ties go to the earliest step) and the end of SFT.

    Step 0 (the base) takes part: a curve whose OOD never rises above the base's peaks at 0.
    """
    ood = {r["step"]: r["accuracy"] for r in by_split(rows, "ood")}
    idd = {r["step"]: r["accuracy"] for r in by_split(rows, "id")}
    if not ood:
        raise SftrlError("no OOD evaluations to find a peak in")
    best = max(sorted(ood), key=lambda s: (ood[s], -s))
    end = max(ood)
    return Peak(step=best, ood=ood[best], id=idd[best], end_step=end, ood_end=ood[end], id_end=idd[end])


def prepare(cfg: StudyConfig, from_steps: Sequence[int], workers: int | None = None, seeds: int = 1) -> None:
    """Make what Figure 1 reads and the cache lacks: the SFT run (in this process), then,
    shared among ``workers`` one-thread children (:mod:`sftrl.experiments.pool`; default
    :func:`sftrl.experiments.pool.workers`), the evaluations of the SFT curve and the RL runs
    from ``from_steps`` x ``seeds``, each with its end evaluated."""
    _check_seeds(seeds)
    from_steps = check_rl_from_steps(cfg, from_steps)
    sft_run = train.sft(cfg)  # the parent first, once
    jobs = [pool.evaluation(cfg, s) for s in checkpoint.unevaluated(sft_run, cfg, start=train.base_checkpoint(cfg))]
    for c in (seeded(cfg, i) for i in range(seeds)):
        for s in from_steps:
            run = train.rl_run(c, s)
            if not run.is_done or checkpoint.unevaluated(run, c, steps=[c.rl.steps]):
                jobs.append(pool.rl(c, s, evaluate=True))
    pool.run(jobs, pool.workers(cfg, workers))


def _check_seeds(seeds: int) -> None:
    if seeds < 1:
        raise SftrlError(f"rl_seeds must be at least 1, got {seeds}")


def seeded(cfg: StudyConfig, i: int) -> StudyConfig:
    """``cfg`` with the RL seed moved on by ``i`` (the i-th of ``cfg.rl_seeds`` repeats)."""
    return dataclasses.replace(cfg, rl=dataclasses.replace(cfg.rl, seed=cfg.rl.seed + i))


def rl_runs(cfg: StudyConfig, from_steps: Sequence[int], workers: int | None = None,
            seeds: int = 1) -> list[list[train.Run]]:
    """RL from each SFT step, ``seeds`` runs each (:func:`seeded`): one list of runs per step.

    Missing runs are made by :func:`prepare` (in parallel one-thread children where
    ``workers`` > 1, their ends evaluated there too)."""
    prepare(cfg, from_steps, workers, seeds)
    variants = [seeded(cfg, i) for i in range(seeds)]
    return [[train.rl(c, s) for c in variants] for s in check_rl_from_steps(cfg, from_steps)]


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _grades(row: dict[str, Any]) -> list[int]:
    """The per-hand grades (0/1) of an evaluation row."""
    return [int(c) for c in row["solved"]]


def face_as_id_share(row: dict[str, Any]) -> float:
    """The rule-reading diagnostic of an evaluation row: the share of first attempts that
    give a face card the ID value 10 (``nan`` when no first attempt listed such numbers)."""
    k, n = row["face_as_id"]
    return k / n if n else float("nan")


def outcome_share(row: dict[str, Any], outcome: str) -> float:
    """The share of an evaluation row's first attempts that the verifier put in ``outcome``
    (a category of ``first_outcomes``; ``nan`` for a row without them)."""
    counts = row.get("first_outcomes") or {}
    n = sum(counts.values())
    return counts.get(outcome, 0) / n if n else float("nan")


def reward_spread(run: train.Run) -> float:
    """Share of GRPO groups whose episodes' rewards differ (the rest give no gradient), over
    the run's logged steps; paper A links where RL works to this spread (arXiv 2509.12235)."""
    zero = [r["frac_reward_zero_std"] for r in run.metrics() if "frac_reward_zero_std" in r]
    return 1.0 - _mean(zero) if zero else float("nan")


def rl_window(cfg: StudyConfig, from_steps: Sequence[int] | None = None,
              workers: int | None = None, seeds: int | None = None) -> list[dict[str, Any]]:
    """OOD/ID after RL from each SFT checkpoint, beside the checkpoint it started from.

    ``from_steps`` defaults to ``cfg.rl_from_steps`` and ``seeds`` (RL runs per start) to
    ``cfg.rl_seeds``. One row per start, in the given order: ``from_step``, ``runs`` (one
    id per seed), ``seeds``; ``reward_spread`` (:func:`reward_spread`, mean over seeds, per
    seed in ``reward_spread_seeds``); ``face_as_id_start`` / ``face_as_id_rl``
    (:func:`face_as_id_share` on OOD, before and after RL); ``{split}_start_1`` /
    ``{split}_rl_1`` (first-attempt accuracy) for every split of
    :data:`sftrl.evaluation.checkpoint.SPLITS`; ``{id,ood}_start`` and ``{id,ood}_rl`` (accuracies within the attempts; after RL
    the mean over seeds, per seed in ``*_rl_seeds``) with their 95% Wilson intervals
    ``*_start_ci`` / ``*_rl_ci`` (the mean's over the same ``n`` hands, so they show the
    hand-sampling error; the seeds' spread is shown by ``*_rl_seeds``); ``ood_gain`` (mean
    RL minus start), ``ood_gain_seeds`` and ``{id,ood}_gain_paired_ci``, the 95% interval of
    the change compared hand by hand (:func:`sftrl.evaluation.evaluate.paired_difference`: start and RL
    models meet the same hands, so it is much narrower than the two Wilson intervals); ``after_peak`` (the start comes after the SFT
    OOD peak) and ``recovery`` (:func:`recovery_fraction` of the mean; ``nan`` for a start
    at or before the peak, where nothing has been lost yet, and wherever nothing was lost).
    """
    from sftrl.evaluation.evaluate import paired_difference, wilson_interval

    seeds = cfg.rl_seeds if seeds is None else seeds
    _check_seeds(seeds)  # bad input fails before any training
    from_steps = check_rl_from_steps(cfg, cfg.rl_from_steps if from_steps is None else from_steps)
    prepare(cfg, from_steps, workers, seeds)  # the curve's evaluations and the runs, shared among workers
    curve = sft_curve(cfg)
    peak = ood_peak(curve)
    start_acc = {(r["step"], r["split"]): r for r in curve}
    out = []
    for step, runs in zip(from_steps, rl_runs(cfg, from_steps, workers, seeds), strict=True):
        ends = [{r["split"]: r for r in checkpoint.evaluate_run(run, cfg, steps=[cfg.rl.steps])} for run in runs]
        row: dict[str, Any] = {"from_step": step, "runs": [run.id for run in runs], "rl_steps": cfg.rl.steps,
                               "seeds": [cfg.rl.seed + i for i in range(seeds)],
                               "reward_spread_seeds": [reward_spread(run) for run in runs]}
        row["reward_spread"] = _mean(row["reward_spread_seeds"])
        for split in checkpoint.SPLITS:
            start = start_acc[(step, split)]
            row[f"{split}_start_1"] = start["accuracy_1"]
            row[f"{split}_rl_1"] = _mean([e[split]["accuracy_1"] for e in ends])
            n = ends[0][split]["n"]
            row[f"{split}_start"] = start["accuracy"]
            row[f"{split}_start_ci"] = (start["ci_low"], start["ci_high"])
            row[f"{split}_rl_seeds"] = [e[split]["accuracy"] for e in ends]
            row[f"{split}_rl"] = _mean(row[f"{split}_rl_seeds"])
            row[f"{split}_rl_ci"] = wilson_interval(_mean([e[split]["correct"] for e in ends]), n)
            row[f"{split}_n"] = n
            row[f"{split}_gain_paired_ci"] = paired_difference(
                [_grades(e[split]) for e in ends], _grades(start))[1]
        row["face_as_id_start"] = face_as_id_share(start_acc[(step, "ood")])
        row["face_as_id_rl"] = _mean([face_as_id_share(e["ood"]) for e in ends])
        row["ood_gain_seeds"] = [a - row["ood_start"] for a in row["ood_rl_seeds"]]
        row["ood_gain"] = row["ood_rl"] - row["ood_start"]
        row["after_peak"] = step > peak.step
        row["recovery"] = (recovery_fraction(row["ood_rl"], row["ood_start"], peak.ood)
                           if row["after_peak"] else float("nan"))
        out.append(row)
    return out


def best_recovery(window: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The :func:`rl_window` row with the highest finite recovery fraction (ties: the
    earliest start), or None when no row has one."""
    finite = [r for r in window if isinstance(r.get("recovery"), float) and math.isfinite(r["recovery"])]
    if not finite:
        return None
    return max(sorted(finite, key=lambda r: r["from_step"]), key=lambda r: r["recovery"])


@dataclass(frozen=True)
class Checkpoints:
    """The four models Figures 2-6 compare (paths of Hugging Face checkpoints)."""

    base: Any
    sft_peak: Any
    sft_end: Any
    rl: Any
    peak: Peak
    rl_from: int

    def as_dict(self) -> dict[str, str]:
        return {"base": str(self.base), "sft_peak": str(self.sft_peak), "sft_end": str(self.sft_end),
                "rl": str(self.rl)}


def checkpoints(cfg: StudyConfig) -> Checkpoints:
    """Base, the SFT OOD-peak checkpoint, the end of SFT and the RL model (made if missing).

    The RL model starts from ``cfg.rl_main_from`` (-1: the end of SFT, as in paper A).
    """
    run = train.sft(cfg)
    peak = ood_peak(sft_curve(cfg))
    rl_from = cfg.main_rl_step
    rl_run = train.rl(cfg, rl_from)
    peak_path = train.base_checkpoint(cfg) if peak.step == 0 else run.checkpoint(peak.step)
    return Checkpoints(base=train.base_checkpoint(cfg), sft_peak=peak_path, sft_end=run.checkpoint(cfg.sft.steps),
                       rl=rl_run.checkpoint(cfg.rl.steps), peak=peak, rl_from=rl_from)


@dataclass(frozen=True)
class Figure1:
    """What Figure 1's page draws and its claims are judged on."""

    curve: list[dict[str, Any]]
    """:func:`sft_curve`: ID/OOD accuracy and losses at every kept SFT step."""
    peak: Peak
    """:func:`ood_peak` of the curve, with the end of SFT."""
    window: list[dict[str, Any]]
    """:func:`rl_window`: OOD/ID after RL from each start, beside the start."""
    best: dict[str, Any] | None
    """:func:`best_recovery` of the window (None when no start recovered anything)."""
    n_hands: dict[str, int]
    """Hands per evaluation set, ``{"id": .., "id_heldout": .., "ood": ..}``."""


def data(cfg: StudyConfig) -> Figure1:
    """Figure 1's data for ``cfg`` (its runs trained once, then read from the cache). The
    page's parameters are all settings of ``cfg``."""
    window = rl_window(cfg)  # first: it shares the curve's evaluations and the runs among workers
    curve = sft_curve(cfg)
    return Figure1(curve=curve, peak=ood_peak(curve), window=window, best=best_recovery(window),
                   n_hands={split: by_split(curve, split)[0]["n"] for split in checkpoint.SPLITS})
