"""Paper B's Figure 6 and geometry experiments on the project's own runs (arXiv 2511.08567).

Two halves, compute once and plot many:

- **Runs** (through :mod:`sftrl.training.train`, cached like every run): from one SFT checkpoint
  (the *start*), K RL runs that differ in seed, data and recipe (:data:`VARIANTS`); an SFT
  contrast with the same step budget (:func:`sft_contrast`); the regime sweep over the RL
  learning rate and the weight storage dtype (:func:`regime_runs`); the same RL from a
  function-preservingly permuted or rotated start (:func:`permuted_run`,
  :func:`rotated_run`); and RL restricted by
  gradient masks, the off-principal probe (:func:`probe_runs`). The study's own budget is a
  :class:`MaskStudyConfig` (:func:`study_config` picks it per profile).
- **Tables** (reading the runs, or any base / fine-tuned checkpoints a reader names): one
  pass over the matrices computes update sparsity, consistency across the K RL runs, the
  consistency images of one layer, and the overlap with principal and low-magnitude
  weights (:func:`analyse`, cached by the checkpoints' contents); spectral drift and
  principal angles come from :func:`sftrl.weights.masks.drift_table`; row and column update
  ratios over one run's checkpoints from :func:`update_ratios`. Summaries for the plots and
  the glued numbers and verdict sentences sit beside them (:func:`numbers`,
  :func:`verdicts`, ...).

Every metric is :mod:`sftrl.weights.masks`; this module only assembles runs and aggregates.
The start checkpoint plays the role of B's base: masks compare it with the runs' ends.

Usage::

    cfg = config.profile("cpu"); scfg = masks_study.study_config("cpu")
    inp = masks_study.inputs(cfg, scfg)               # trains the missing runs once
    a = masks_study.analyse(inp.base, inp.rl, inp.sft, alpha=0.05, k_frac=0.2)
    masks_study.numbers(a), masks_study.verdicts(masks_study.numbers(a))
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch

# importing the trainers imports tqdm.auto, which warns in a notebook kernel without
# ipywidgets; the book runs without widgets, so the notice would only clutter the page
warnings.filterwarnings("ignore", message="IProgress not found")

from sftrl.weights import checkpoints as ckpt  # noqa: E402
from sftrl.weights.checkpoints import resolve_checkpoint, resolve_layer, split_paths  # noqa: E402
from sftrl import paths
from sftrl.weights import masks
from sftrl.training import train  # noqa: E402
from sftrl import config  # noqa: E402
from sftrl.config import StudyConfig, check_setting  # noqa: E402
from sftrl.errors import SftrlError  # noqa: E402
from sftrl.training.runs import Run  # noqa: E402
from sftrl.identity import checkpoint_identity, config_hash  # noqa: E402
from sftrl.provenance import code_key  # noqa: E402

#: the matrices whose consistency images Figure 6 shows (one layer's attention and down)
IMAGE_KINDS = ("q", "k", "v", "o", "down")

#: named RL variants: overrides of the study's RL recipe (``lr_scale`` multiplies its lr,
#: ``group_scale`` its GRPO group size, at least 2). Each differs from ``"seed 0"`` in one
#: thing: the seed, the training data (two disjoint halves of the RL hands, split by value
#: multiset), or the recipe (group size, a KL anchor to the start, the learning rate).
VARIANTS: dict[str, dict[str, Any]] = {
    "seed 0": {},
    "seed 1": {"seed": 1},
    "seed 2": {"seed": 2},
    "data half 0": {"hand_subset": "half0"},
    "data half 1": {"hand_subset": "half1"},
    "half group": {"group_scale": 0.5},
    "KL 0.05": {"beta": 0.05},
    "lr x3": {"lr_scale": 3.0},
}

#: gradient-mask kinds of the off-principal probe (``"none"`` = dense RL)
PROBE_MASKS = ("none", "off_principal", "principal", "random")


# --------------------------------------------------------------------------------------
# The study's own budget
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskStudyConfig:
    """This study's RL budget, applied over the profile's ``cfg.rl`` (and ``cfg.sft`` for
    the contrast) with :func:`dataclasses.replace`, so its many runs stay cheap."""

    start_step: int = -1
    """SFT step every run starts from (must be a kept SFT checkpoint; 0 = the base);
    -1 = the start of the book's main RL model (``cfg.rl_main_from``, -1 there = end of SFT)."""
    steps: int = 40
    """Optimizer steps of every RL run and of the SFT contrast."""
    prompts_per_step: int = 8
    """Prompts per RL step (each sampled ``num_generations`` times); the SFT contrast
    trains on ``prompts_per_step * num_generations`` sequences per step."""
    checkpoints: tuple[int, ...] = (5, 10, 20, 40)
    """Steps at which each run keeps a checkpoint (for the row/column ratios over steps)."""
    lr: float = 1e-5
    """Learning rate of the K runs and the SFT contrast: the middle of ``regime_lrs``,
    fixed before any result was seen (paper B's runs: ~1e-6 at 1.5B-7B scale)."""
    dtype: str = "float32"
    """Weight dtype during the K runs: ``"float32"`` = fp32 master weights, whose
    checkpoints the masks compare after rounding to bf16 (as B's bf16 checkpoints);
    ``"bfloat16"`` = weights stored and updated in bf16."""
    attempts: int = 1
    """Attempts per RL episode. Paper B's RLVR runs are single-turn (one answer, one
    verifiable reward), so its study's runs are too; the models are still evaluated under
    the book's protocol (``cfg.eval``)."""
    reward: str | None = None
    """RL reward, ``"shaped"`` or ``"binary"`` (None: the profile's)."""
    temperature: float | None = None
    """RL sampling temperature (None: the profile's)."""
    variants: tuple[str, ...] = ("seed 0", "seed 1", "data half 0", "data half 1", "half group",
                                 "KL 0.05", "lr x3")
    """Names from :data:`VARIANTS`: the K >= 2 RL runs of the consistency analysis."""
    regime_lrs: tuple[float, ...] = (1e-4, 1e-5, 1e-6)
    """Learning rates of the regime sweep (RL and SFT alike)."""
    regime_dtypes: tuple[str, ...] = ("float32", "bfloat16")
    """Weight dtypes of the regime sweep."""
    permute_seed: int = 1
    """Seed of the MLP hidden-unit permutations of the geometry disruption."""
    rotate_seed: int = 1
    """Seed of the per-head value rotations of the geometry disruption."""
    probe_masks: tuple[str, ...] = PROBE_MASKS
    """Gradient masks of the off-principal probe (``"none"`` = dense RL)."""
    probe_alpha: float = 0.2
    """Fraction of each block matrix the probe's gradient masks let RL train."""
    probe_rank: float = 0.2
    """Rank of the principal-weight reconstruction of the probe, as a fraction of rank."""
    probe_lr: float = 1e-4
    """Learning rate of the probe runs (the profile's RL rate: the probe asks about reward,
    so it runs where RL learns at all)."""
    probe_steps: int | None = None
    """Optimizer steps of the probe runs (None: ``steps``)."""
    length_lrs: tuple[float, ...] = (1e-4, 1e-5, 1e-6)
    """Learning rates of the sparsity-against-length study (RL and SFT alike): a decade either
    side of ``lr``. With Adam each step moves an entry by about the learning rate, so they sit
    around the bf16 threshold of the weights (half a unit in the last place, ``|w| 2^-9`` to
    ``|w| 2^-8``), which :mod:`sftrl.experiments.length_study` measures on the start."""
    length_steps: int = 240
    """Optimizer steps of each run of the length study."""
    length_every: int = 20
    """Steps between the length study's kept checkpoints: its per-step intervals."""
    length_dtypes: tuple[str, ...] = ("float32", "bfloat16")
    """Weight dtypes of the length study: fp32 master weights rounded to bf16 by the masks,
    and weights stored and updated in bf16."""
    length_seeds: int = 3
    """Seeds of every RL and SFT run of the length study with fp32 master weights (seed i
    sets RL's sampling and data order, SFT's data order). With weights stored in bf16 almost
    every weight stops moving after the first steps, so those runs keep one seed."""


#: the study's budget per profile (smoke: seconds on a CPU, for tests and the smoke book)
_STUDY_PROFILES: dict[str, MaskStudyConfig] = {
    # the smoke model answers almost nothing right: a shaped reward on cooler samples (mostly
    # parseable, wrong answers) still gives GRPO a signal, so the smoke runs move weights
    "smoke": MaskStudyConfig(steps=4, prompts_per_step=4, checkpoints=(2, 4), lr=1e-4, reward="shaped",
                             temperature=0.5, regime_lrs=(1e-4, 1e-6), probe_lr=1e-3,
                             length_lrs=(1e-3, 1e-4, 1e-6), length_steps=4, length_every=1, length_seeds=1),
    # sized for the book's 2-core budget: five runs that differ in seed, data and recipe,
    # 20 steps each; the regime sweep at two learning rates around the runs' own
    "cpu": MaskStudyConfig(steps=20, checkpoints=(5, 10, 20),
                           variants=("seed 0", "seed 1", "data half 0", "data half 1", "KL 0.05"),
                           regime_lrs=(1e-4, 1e-6)),
    "gpu": MaskStudyConfig(steps=100, prompts_per_step=32, checkpoints=(10, 25, 50, 100), lr=1e-6,
                           regime_lrs=(1e-5, 1e-6, 1e-7), probe_lr=1e-6, length_lrs=(1e-5, 1e-6, 1e-7),
                           length_steps=500, length_every=50),
}
#: the chat path's smoke profile has the smoke budget
_STUDY_PROFILES["chat-smoke"] = _STUDY_PROFILES["smoke"]


def study_config(profile: str, **overrides: Any) -> MaskStudyConfig:
    """The profile's study budget with overrides (``None`` keeps the profile's value, as
    everywhere in the project).

    Values are checked here, before any training: unknown names, variants, masks or dtypes
    raise :class:`SftrlError` naming them.
    """
    if profile not in _STUDY_PROFILES:
        raise SftrlError(f"unknown profile {profile!r}; choose one of {sorted(_STUDY_PROFILES)}")
    scfg = _STUDY_PROFILES[profile]
    names = {f.name: f for f in dataclasses.fields(MaskStudyConfig)}
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise SftrlError(f"unknown study setting(s) {unknown}; valid names: {sorted(names)}")
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        current = getattr(scfg, key)
        if isinstance(current, tuple) and isinstance(value, str):
            kind = type(current[0]) if current else str
            value = tuple(kind(v.strip()) for v in value.split(",") if v.strip())
        changes[key] = value
    scfg = replace(scfg, **changes)
    check_study_config(scfg)
    return scfg


#: each study setting's allowed values: the page parameter's rule where the page has one
#: (:data:`sftrl.config.ANALYSIS_RULES`), else the run setting it replaces (:data:`sftrl.config.RULES`)
STUDY_RULES: dict[str, config.Rule] = {
    "start_step": config.ANALYSIS_RULES["start_step"], "steps": config.ANALYSIS_RULES["study_steps"],
    "prompts_per_step": config.RULES["rl_prompts_per_step"], "checkpoints": config.RULES["rl_checkpoints"],
    "lr": config.ANALYSIS_RULES["study_lr"], "dtype": config.ANALYSIS_RULES["study_dtype"],
    "attempts": config.RULES["rl_attempts"], "reward": config.RULES["rl_reward"],
    "temperature": config.RULES["rl_temperature"], "variants": tuple(VARIANTS),
    "regime_lrs": config.ANALYSIS_RULES["study_lr"], "regime_dtypes": config.ANALYSIS_RULES["study_dtype"],
    "permute_seed": config.ANALYSIS_RULES["permute_seed"], "rotate_seed": config.ANALYSIS_RULES["rotate_seed"],
    "probe_masks": PROBE_MASKS,
    "probe_alpha": config.ANALYSIS_RULES["probe_alpha"], "probe_rank": config.ANALYSIS_RULES["probe_rank"],
    "probe_lr": config.ANALYSIS_RULES["probe_lr"], "probe_steps": config.ANALYSIS_RULES["probe_steps"],
    "length_lrs": config.ANALYSIS_RULES["study_lr"], "length_steps": config.ANALYSIS_RULES["study_steps"],
    "length_every": config.ANALYSIS_RULES["study_steps"], "length_dtypes": config.ANALYSIS_RULES["study_dtype"],
    "length_seeds": config.RULES["rl_seeds"],
}


def check_study_config(scfg: MaskStudyConfig) -> None:
    """SftrlError naming the first bad setting of ``scfg`` (:data:`STUDY_RULES`; None keeps
    the profile's value where a field allows it)."""
    for f in dataclasses.fields(scfg):
        value = getattr(scfg, f.name)
        if value is not None:
            config.check_value(f.name, value, STUDY_RULES[f.name])
    for name in ("length_lrs", "length_dtypes"):
        if not getattr(scfg, name):
            raise SftrlError(f"{name} is empty: the length study needs at least one value")
    if scfg.length_every > scfg.length_steps:
        raise SftrlError(f"length_every ({scfg.length_every}) must not exceed length_steps ({scfg.length_steps}): "
                         "the length study needs checkpoints along the run")
    if len(set(scfg.variants)) < 2:
        raise SftrlError(f"consistency needs at least two distinct RL variants, got {list(scfg.variants)}")


# --------------------------------------------------------------------------------------
# Run configurations
# --------------------------------------------------------------------------------------


def start_step(cfg: StudyConfig, scfg: MaskStudyConfig) -> int:
    """The SFT step all runs start from, checked against the steps SFT keeps."""
    step = scfg.start_step
    if step < 0:
        step = cfg.main_rl_step
    kept = {0, cfg.sft.steps, *cfg.sft.checkpoints}
    if step not in kept:
        raise SftrlError(f"start_step {step} is not a kept SFT checkpoint; kept: {sorted(kept)}")
    return step


def _kept(steps: int, wanted: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted({s for s in wanted if 0 < s <= steps} | {steps}))


def rl_config(cfg: StudyConfig, scfg: MaskStudyConfig, **changes: Any) -> StudyConfig:
    """``cfg`` with the study's RL budget and then ``changes`` (RLConfig fields, or
    ``lr_scale``) applied to ``cfg.rl``."""
    lr_scale = float(changes.pop("lr_scale", 1.0))
    group_scale = float(changes.pop("group_scale", 1.0))
    steps = int(changes.pop("steps", scfg.steps))
    r = replace(cfg.rl, steps=steps, prompts_per_step=scfg.prompts_per_step,
                checkpoints=_kept(steps, scfg.checkpoints), lr=scfg.lr, dtype=scfg.dtype,
                attempts=scfg.attempts, reward=cfg.rl.reward if scfg.reward is None else scfg.reward,
                temperature=cfg.rl.temperature if scfg.temperature is None else scfg.temperature)
    r = replace(r, **changes)
    r = replace(r, lr=r.lr * lr_scale, num_generations=max(2, round(r.num_generations * group_scale)))
    return replace(cfg, rl=r)


def sft_config(cfg: StudyConfig, scfg: MaskStudyConfig) -> StudyConfig:
    """The SFT contrast: ``scfg.steps`` steps at the K runs' lr and weight dtype, on as many
    sequences per step as one RL step samples, no warm-up (RL has none)."""
    s = replace(cfg.sft, steps=scfg.steps, batch_size=scfg.prompts_per_step * cfg.rl.num_generations,
                lr=scfg.lr, warmup_steps=0, checkpoints=_kept(scfg.steps, scfg.checkpoints))
    # a configuration is valid as a whole: RL may start only where this SFT keeps a model
    return replace(cfg, sft=s, model=replace(cfg.model, dtype=scfg.dtype), rl_from_steps=(scfg.steps,),
                   rl_main_from=-1)


def variant_configs(cfg: StudyConfig, scfg: MaskStudyConfig) -> dict[str, StudyConfig]:
    """The K RL variants' configurations, by name."""
    check_study_config(scfg)
    out = {name: rl_config(cfg, scfg, **VARIANTS[name]) for name in scfg.variants}
    seen: dict[Any, str] = {}
    for name, c in out.items():  # two equal runs would count as perfect agreement
        rl = dataclasses.astuple(c.rl)
        if rl in seen:
            raise SftrlError(f"RL variants {seen[rl]!r} and {name!r} are the same run under profile {cfg.profile!r}")
        seen[rl] = name
    return out


def regime_configs(cfg: StudyConfig, scfg: MaskStudyConfig) -> dict[tuple[str, float, str], StudyConfig]:
    """``(role, lr, dtype) -> configuration`` of the regime sweep (role ``"rl"`` / ``"sft"``)."""
    out: dict[tuple[str, float, str], StudyConfig] = {}
    for lr in scfg.regime_lrs:
        for dtype in scfg.regime_dtypes:
            s = replace(scfg, lr=lr, dtype=dtype)
            out[("rl", lr, dtype)] = rl_config(cfg, s)
            out[("sft", lr, dtype)] = sft_config(cfg, s)
    return out


def permuted_config(cfg: StudyConfig, scfg: MaskStudyConfig) -> StudyConfig:
    """``"seed 0"`` from a start whose MLP hidden units are permuted (``permute_seed``)."""
    return rl_config(cfg, scfg, permute_seed=scfg.permute_seed)


def rotated_config(cfg: StudyConfig, scfg: MaskStudyConfig) -> StudyConfig:
    """``"seed 0"`` from a start whose attention value spaces are rotated per head (``rotate_seed``)."""
    return rl_config(cfg, scfg, rotate_seed=scfg.rotate_seed)


def probe_configs(cfg: StudyConfig, scfg: MaskStudyConfig) -> dict[str, StudyConfig]:
    """The probe runs by gradient mask; they differ only in ``grad_mask``."""
    check_study_config(scfg)
    s = replace(scfg, lr=scfg.probe_lr)
    steps = scfg.steps if scfg.probe_steps is None else scfg.probe_steps
    return {m: rl_config(cfg, s, steps=steps, grad_mask=m, grad_mask_alpha=scfg.probe_alpha,
                         grad_mask_rank=scfg.probe_rank) for m in scfg.probe_masks}


# --------------------------------------------------------------------------------------
# Runs (each trained once, then read from the cache)
# --------------------------------------------------------------------------------------


def start_checkpoint(cfg: StudyConfig, scfg: MaskStudyConfig) -> Path:
    """The checkpoint every run starts from (trains the profile's SFT if missing)."""
    return Path(train.start_checkpoint(cfg, start_step(cfg, scfg)))


def rl_runs(cfg: StudyConfig, scfg: MaskStudyConfig) -> dict[str, Run]:
    """The K RL variants, by name (trained if missing)."""
    step = start_step(cfg, scfg)
    return {name: train.rl(c, step) for name, c in variant_configs(cfg, scfg).items()}


def sft_contrast(cfg: StudyConfig, scfg: MaskStudyConfig) -> Run:
    """SFT continued from the RL start with the same step budget (trained if missing)."""
    return train.sft(sft_config(cfg, scfg), start=start_checkpoint(cfg, scfg))


def regime_runs(cfg: StudyConfig, scfg: MaskStudyConfig) -> dict[tuple[str, float, str], Run]:
    """RL and SFT at every (lr, dtype) of the sweep, by ``(role, lr, dtype)``."""
    step, start = start_step(cfg, scfg), start_checkpoint(cfg, scfg)
    return {key: (train.rl(c, step) if key[0] == "rl" else train.sft(c, start=start))
            for key, c in regime_configs(cfg, scfg).items()}


def permuted_run(cfg: StudyConfig, scfg: MaskStudyConfig) -> Run:
    """RL from the permuted start (trained if missing)."""
    return train.rl(permuted_config(cfg, scfg), start_step(cfg, scfg))


def rotated_run(cfg: StudyConfig, scfg: MaskStudyConfig) -> Run:
    """RL from the rotated start (trained if missing)."""
    return train.rl(rotated_config(cfg, scfg), start_step(cfg, scfg))


def probe_runs(cfg: StudyConfig, scfg: MaskStudyConfig) -> dict[str, Run]:
    """The off-principal probe's runs, by gradient mask (trained if missing)."""
    step = start_step(cfg, scfg)
    return {m: train.rl(c, step) for m, c in probe_configs(cfg, scfg).items()}


def final_checkpoint(run: Run) -> Path:
    """A finished run's last checkpoint."""
    ckpts = run.checkpoints()
    if not run.is_done or not ckpts:
        raise SftrlError(f"run {run.id} is not finished")
    return ckpts[max(ckpts)]


def reward_summary(run: Run | _LoggedRun) -> dict[str, float]:
    """Mean reward over the first and the last quarter of an RL run's logged steps (with
    the standard error of the latter) and the mean share of prompts whose samples all
    scored alike (GRPO's zero-advantage groups: no learning signal)."""
    nan = float("nan")
    rows = [r for r in run.metrics() if "reward" in r] if run.stage == "rl" else []
    if not rows:
        return {"reward_start": nan, "reward_end": nan, "reward_end_se": nan, "no_signal": nan}
    q = max(1, len(rows) // 4)
    start = torch.tensor([r["reward"] for r in rows[:q]], dtype=torch.float64)
    end = torch.tensor([r["reward"] for r in rows[-q:]], dtype=torch.float64)
    flat = torch.tensor([r.get("frac_reward_zero_std", nan) for r in rows], dtype=torch.float64)
    se = float(end.std() / math.sqrt(len(end))) if len(end) > 1 else nan
    return {"reward_start": float(start.mean()), "reward_end": float(end.mean()), "reward_end_se": se,
            "no_signal": float(flat.nanmean())}


# --------------------------------------------------------------------------------------
# What the analysis reads: the pipeline's runs, or any checkpoints a reader names
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """The checkpoints one figure compares."""

    base: Path
    """Where every fine-tuned model started (the masks' reference)."""
    rl: dict[str, Path]
    """RL checkpoints by label (K >= 2 for consistency)."""
    sft: dict[str, Path]
    """SFT checkpoints by label (may be empty)."""
    steps: list[tuple[int, Path]]
    """One run's checkpoints in training order, for the row/column ratios over steps."""
    source: str
    """``"pipeline"`` (the project's runs) or ``"paths"`` (checkpoints a reader named)."""


def _labels(prefix: str, items: Sequence[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for i, p in enumerate(items):
        label = f"{prefix} {p.name or i}"
        out[label if label not in out else f"{label} ({i})"] = p
    return out


def inputs(
    cfg: StudyConfig,
    scfg: MaskStudyConfig,
    *,
    base_path: str = "",
    rl_paths: str = "",
    sft_paths: str = "",
    step_paths: str = "",
) -> Inputs:
    """The checkpoints to analyse: the pipeline's (all paths ``""``; trains what is missing)
    or the named ones (``base_path`` and comma-separated lists of fine-tuned checkpoints).

    ``step_paths``: one run's checkpoints in training order for the ratios over steps
    (``""``: the first RL run's kept checkpoints, or ``rl_paths`` in order). Names and shapes
    of every checkpoint are checked against the base before any work.
    """
    if not base_path:
        if rl_paths or sft_paths or step_paths:
            raise SftrlError("rl_paths, sft_paths and step_paths need base_path (the checkpoint they started from)")
        runs = rl_runs(cfg, scfg)
        base = start_checkpoint(cfg, scfg)
        rl = {f"rl {name}": final_checkpoint(run) for name, run in runs.items()}
        sft = {"sft": final_checkpoint(sft_contrast(cfg, scfg))}
        first = next(iter(runs.values()))
        return Inputs(base, rl, sft, list(first.checkpoints().items()), "pipeline")
    base = resolve_checkpoint(base_path)
    rl_list = [resolve_checkpoint(p) for p in split_paths(rl_paths)]
    if len(rl_list) < 2:
        raise SftrlError(f"consistency needs at least two RL checkpoints in rl_paths, got {len(rl_list)}")
    sft_list = [resolve_checkpoint(p) for p in split_paths(sft_paths)]
    step_list = [resolve_checkpoint(p) for p in split_paths(step_paths)] or rl_list
    for p in [*rl_list, *sft_list, *step_list]:
        ckpt.check_comparable(base, p)
    return Inputs(base, _labels("rl", rl_list), _labels("sft", sft_list),
                  list(enumerate(step_list, start=1)), "paths")


def describe_inputs(inp: Inputs) -> list[dict[str, Any]]:
    """One row per analysed checkpoint: label, role, ``run/checkpoint`` folder names, and
    for the pipeline's RL runs the reward summary of :func:`run_table`."""
    rows = []
    for role, table in (("rl", inp.rl), ("sft", inp.sft)):
        for label, path in table.items():
            row: dict[str, Any] = {"label": label, "role": role, "checkpoint": f"{path.parent.name}/{path.name}"}
            if inp.source == "pipeline" and role == "rl":
                row.update(reward_summary(_run_at(path.parent)))
            rows.append(row)
    return rows


def inputs_sentence(inp: Inputs, scfg: MaskStudyConfig) -> str:
    """What the figure compares, as the end of a sentence (for the page's caption)."""
    if inp.source == "paths":
        sft = f" and {len(inp.sft)} SFT checkpoints" if inp.sft else " (no SFT checkpoint)"
        return (f"checkpoints a reader named: {len(inp.rl)} RL checkpoints{sft}, each against the base "
                f"{inp.base.name}.")
    weights = ("fp32 master weights, compared after rounding to bf16 as B's checkpoints are"
               if scfg.dtype == "float32" else "weights stored and updated in bf16")
    names = ", ".join(scfg.variants)
    return (f"the project's own model: {len(inp.rl)} RL runs ({names}) of {scfg.steps} steps at learning "
            f"rate {scfg.lr:g} with {weights}, all from one SFT checkpoint and differing in seed, training data "
            f"(disjoint halves of the RL hands) or recipe (GRPO group size, a KL anchor, the learning rate), and "
            f"SFT continued from the same checkpoint for as many steps at the same learning rate.")


class _LoggedRun(NamedTuple):
    """The two things :func:`reward_summary` reads from a run folder."""

    stage: str
    dir: Path

    def metrics(self) -> list[dict[str, Any]]:
        from sftrl.training.runs import read_jsonl

        return read_jsonl(self.dir / "metrics.jsonl")


def _run_at(folder: Path) -> _LoggedRun:
    return _LoggedRun(folder.name.split("-")[0], folder)


# --------------------------------------------------------------------------------------
# The analysis: one pass over the matrices, cached
# --------------------------------------------------------------------------------------


@dataclass
class MaskAnalysis:
    """Tables of one base against its RL and SFT checkpoints (arXiv 2511.08567).

    Row types are :mod:`sftrl.weights.masks`' (``SparsityRow``, ``OverlapRow``, ``DriftRow``,
    ``ConsistencyRow``); per-model tables are keyed by the model's label.
    """

    rl: list[str]  #: RL labels, in input order
    sft: list[str]  #: SFT labels
    layer: int  #: the layer of the consistency images
    sparsity: dict[str, list[masks.SparsityRow]]  #: label -> one row per matrix
    overlap: dict[str, list[masks.OverlapRow]]  #: label -> principal / low overlap per matrix
    drift: dict[str, list[masks.DriftRow]]  #: label -> drift and largest angle per matrix
    consistency: list[masks.ConsistencyRow]  #: per matrix, across the RL runs
    jaccard: torch.Tensor  #: (K, K) pooled over matrices: sum |a & b| / sum |a | b|
    jaccard_expected: torch.Tensor  #: (K, K) the same for independent masks of each matrix's densities
    #: kind -> consistency map of ``layer`` (block-averaged to at most 512 pixels a side)
    images: dict[str, torch.Tensor] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  #: eta, alpha, k_frac, kinds

    def role(self, label: str) -> str:
        return "rl" if label in self.rl else "sft"

    def to_state(self) -> dict[str, Any]:
        tables = ("sparsity", "overlap", "drift")
        state = {t: {m: [r._asdict() for r in rows] for m, rows in getattr(self, t).items()} for t in tables}
        state.update(rl=self.rl, sft=self.sft, layer=self.layer, consistency=[r._asdict() for r in self.consistency],
                     jaccard=self.jaccard, jaccard_expected=self.jaccard_expected, images=self.images,
                     settings=self.settings)
        return state

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> MaskAnalysis:
        def rows(table: str, kind: type) -> dict[str, list]:
            return {m: [kind(**r) for r in rs] for m, rs in s[table].items()}

        return cls(rl=list(s["rl"]), sft=list(s["sft"]), layer=int(s["layer"]),
                   sparsity=rows("sparsity", masks.SparsityRow), overlap=rows("overlap", masks.OverlapRow),
                   drift=rows("drift", masks.DriftRow),
                   consistency=[masks.ConsistencyRow(**r) for r in s["consistency"]],
                   jaccard=s["jaccard"], jaccard_expected=s["jaccard_expected"], images=dict(s["images"]),
                   settings=dict(s["settings"]))


def cache_file(kind: str, key: dict[str, Any]) -> Path:
    digest = config_hash({**code_key("sftrl.experiments.masks_study"), **key})
    return paths.CACHE / "masks_study" / f"{kind}-{digest}.pt"


def save_cached(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_cached(path: Path) -> Any | None:
    return torch.load(path, weights_only=True) if path.is_file() else None


def check_settings(eta: float | None, alpha: float, k_frac: float) -> None:
    """SftrlError for a bad eta (None: the default), alpha or k_frac
    (:data:`sftrl.config.ANALYSIS_RULES`)."""
    for name, value in (("eta", eta), ("alpha", alpha), ("k_frac", k_frac)):
        if value is not None:
            check_setting(name, value)


def analyse(
    base: str | Path,
    rl: Mapping[str, str | Path],
    sft: Mapping[str, str | Path] | None = None,
    *,
    eta: float | None = None,
    alpha: float = 0.05,
    k_frac: float = 0.2,
    layer: int = -1,
    kinds: Iterable[str] | None = None,
    consistency: bool = True,
    drift: bool = True,
) -> MaskAnalysis:
    """Sparsity, consistency, principal / low-magnitude overlap and drift of RL and SFT
    checkpoints against ``base`` (arXiv 2511.08567; principal weights: arXiv 2506.00772).

    One pass over the matrices: each base matrix, its SVD (through
    :class:`sftrl.weights.spectral.SVDCache`) and its principal and low-magnitude regions are made
    once and every model's bf16 update mask is compared with them, so only one matrix's
    masks are in memory at a time. ``eta``: None = bitwise bf16 mask (0 is the same),
    else the tolerance form. ``alpha``, ``k_frac``: the regions' fraction of entries and
    rank fraction (B's values *unconfirmed*). ``layer`` of the consistency images
    (-1 = middle). ``consistency=False`` skips the across-run tables (the regime sweep),
    ``drift=False`` the spectral table. Cached under ``paths.CACHE / "masks_study"`` by
    the checkpoints' contents and these settings.
    """
    sft = dict(sft or {})
    rl = dict(rl)
    check_settings(eta, alpha, k_frac)
    if consistency and len(rl) < 2:
        raise SftrlError(f"consistency needs at least two RL checkpoints, got {len(rl)}")
    overlap_labels = set(rl) & set(sft)
    if overlap_labels:
        raise SftrlError(f"labels used for both RL and SFT: {sorted(overlap_labels)}")
    reader = ckpt.as_reader(base)
    kinds_t = None if kinds is None else tuple(kinds)
    keys = ckpt.select_keys(reader.keys(), kinds=kinds_t)
    if not keys:
        raise SftrlError(f"no matrices of kinds {kinds_t} in {base}")
    models = {label: ckpt.as_reader(p) for label, p in {**rl, **sft}.items()}
    for r in models.values():
        ckpt.check_comparable(reader, r)  # names the first mismatch, before any work
    layer = resolve_layer(layer, reader.num_layers) if reader.num_layers else 0
    key = {"base": checkpoint_identity(reader.path), "rl": {k: checkpoint_identity(models[k].path) for k in rl},
           "sft": {k: checkpoint_identity(models[k].path) for k in sft}, "eta": eta, "alpha": float(alpha),
           "k_frac": float(k_frac), "layer": layer, "kinds": kinds_t, "consistency": consistency, "drift": drift}
    cache = cache_file("analysis", key)
    state = load_cached(cache)
    if state is not None:
        return MaskAnalysis.from_state(state)
    result = _analyse(reader, models, list(rl), list(sft), keys, eta=eta, alpha=float(alpha),
                      k_frac=float(k_frac), layer=layer, consistency=consistency)
    if drift:
        result.drift = {label: masks.drift_table(reader, r, k_frac=k_frac, kinds=kinds_t)
                        for label, r in models.items()}
    result.settings = {"eta": eta, "alpha": float(alpha), "k_frac": float(k_frac), "kinds": kinds_t}
    save_cached(cache, result.to_state())
    return result


def _analyse(base, models, rl_labels, sft_labels, keys, *, eta, alpha, k_frac, layer, consistency) -> MaskAnalysis:
    from sftrl.weights import spectral

    svds = spectral.SVDCache(base)
    K = len(rl_labels)
    inter_w = torch.zeros(K, K, dtype=torch.float64)  # sum of per-matrix Jaccard x union
    union = torch.zeros(K, K, dtype=torch.float64)
    exp_w = torch.zeros(K, K, dtype=torch.float64)  # the same for independent masks
    exp_union = torch.zeros(K, K, dtype=torch.float64)
    sparsity: dict[str, list] = {m: [] for m in models}
    overlap: dict[str, list] = {m: [] for m in models}
    cons_rows: list[masks.ConsistencyRow] = []
    images: dict[str, torch.Tensor] = {}
    for key in keys:
        W0 = base.get(key.name)
        princ = masks.principal_mask(W0, k=k_frac, alpha=alpha, usv=tuple(svds.load(key)))
        low = masks.low_magnitude_mask(W0, alpha=alpha)
        run_masks: list[torch.Tensor] = []
        for label, reader in models.items():
            m = masks.bf16_update_mask(W0, reader.get(key.name), eta=eta)
            sparsity[label] += masks.sparsity_table({key.name: m})
            overlap[label].append(masks.OverlapRow(key.name, key.layer, key.kind, masks.mask_overlap(m, princ),
                                                   masks.mask_overlap(m, low), masks.update_density(m), m.numel()))
            if label in rl_labels:
                run_masks.append(m)
        if not consistency:
            continue
        cons_rows += masks.consistency_table([{key.name: m} for m in run_masks])
        J = masks.pairwise_jaccard(run_masks)
        ps = [masks.update_density(m) for m in run_masks]
        E = masks.pairwise_jaccard_expected(ps)
        n = run_masks[0].numel()
        for i in range(K):
            for j in range(i + 1, K):
                u = float((run_masks[i] | run_masks[j]).count_nonzero())
                eu = n * (ps[i] + ps[j] - ps[i] * ps[j])
                if u:
                    inter_w[i, j] += J[i, j] * u
                    union[i, j] += u
                if eu:
                    exp_w[i, j] += E[i, j] * eu
                    exp_union[i, j] += eu
        if key.layer == layer and key.kind in IMAGE_KINDS:
            images[key.kind] = torch.from_numpy(masks.pool_image(masks.update_consistency(run_masks).numpy()))
    jac, jac_exp = _symmetric(inter_w, union), _symmetric(exp_w, exp_union)
    return MaskAnalysis(rl=rl_labels, sft=sft_labels, layer=layer, sparsity=sparsity, overlap=overlap, drift={},
                        consistency=cons_rows, jaccard=jac, jaccard_expected=jac_exp,
                        images={k: images[k] for k in IMAGE_KINDS if k in images})


def _symmetric(weighted: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Upper-triangle weighted means mirrored, diagonal 1 (NaN where no weight)."""
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    upper = torch.where(weights > 0, weighted / weights.clamp(min=1e-300), nan)  # (K, K), i < j filled
    i, j = torch.triu_indices(*upper.shape, offset=1)
    out = torch.full_like(upper, float("nan"))
    out[i, j] = out[j, i] = upper[i, j]
    out.fill_diagonal_(1.0)
    return out


# --------------------------------------------------------------------------------------
# Row and column update ratios over one run's checkpoints
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# Summaries for the plots
# --------------------------------------------------------------------------------------


def pooled(table: Mapping[str, list], labels: Iterable[str]) -> list:
    return [row for label in labels for row in table.get(label, [])]


# --------------------------------------------------------------------------------------
# The regime question: effect against RL learning rate and weight dtype
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# Geometry disruption: the same RL from a permuted start, its masks mapped back
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# The off-principal probe: RL restricted by gradient masks
# --------------------------------------------------------------------------------------


