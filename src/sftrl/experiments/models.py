"""Figures 2-5 of paper A (arXiv 2509.12235) as data: spectra, angles, restoration, grafting.

Compute once, plot many. The four models come from the pipeline (:func:`sftrl.experiments.figure1.checkpoints`)
or from any local / hub checkpoints a reader names (:func:`models`). Every edited checkpoint
(:mod:`sftrl.weights.edits`) is written once under ``paths.CACHE / "edits"``, in a folder named by a
hash of the edit and of its inputs' *contents* (:func:`checkpoint_identity`), and evaluated
once through :func:`sftrl.evaluation.checkpoint.accuracy`, which caches by weights; the SVDs behind the
edits and the statistics are cached per checkpoint by :class:`sftrl.weights.spectral.SVDCache`.
Asking again costs file reads.

Every function returns plain rows (dicts) or small dicts of numbers; the notebooks plot them
with :mod:`sftrl.book.plots.spectral` and judge them with :mod:`sftrl.claims.rules`.

Evaluated rows (:func:`evaluate`) carry ``id`` / ``ood`` accuracies, their 95% Wilson
intervals ``id_ci`` / ``ood_ci``, the hand counts ``id_n`` / ``ood_n`` and the format-error
rates ``id_format_errors`` / ``ood_format_errors``. The recovery fraction of an edit is
``(OOD_edit - OOD_target) / (OOD_reference - OOD_target)`` (:func:`sftrl.experiments.figure1.recovery_fraction`;
``nan`` when the reference is no better than the target).

Usage::

    m = models.models(cfg)               # Base, SFT peak, SFT end, RL
    rows = models.compare_pairs(m, k_frac=0.2)  # Figure 2 / 3 statistics
    curve = figure4.rank_restoration(m, cfg, reference="sft_peak")  # Figure 4
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from sftrl import config, paths
from sftrl.weights import spectral
from sftrl.evaluation import checkpoint
from sftrl.experiments import figure1 as study
from sftrl.experiments import pool
from sftrl.weights.checkpoints import (
    BLOCK_KINDS,
    INDEX_FILE,
    CheckpointReader,
    SafetensorsFile,
    check_comparable,
    resolve_checkpoint,
    select_keys,
)
from sftrl.config import StudyConfig
from sftrl.weights.edits import (
    EDIT_RECORD,
    SKIP_PATTERNS,
    Edit,
    edit_checkpoint,
    plan_edit,
)
from sftrl.errors import SftrlError
from sftrl.identity import checkpoint_identity, config_hash
from sftrl.provenance import code_key
from sftrl.weights.spectral import SVD, SVDCache, resolve_k

#: the four models, in the order the figures name them
ROLES: tuple[str, ...] = ("base", "sft_peak", "sft_end", "rl")
#: how the book names each model
ROLE_LABELS: dict[str, str] = {"base": "Base", "sft_peak": "SFT peak", "sft_end": "SFT end", "rl": "RL"}
#: the checkpoint pairs of Figures 2 and 3: key -> (from, to)
PAIRS: dict[str, tuple[str, str]] = {
    "base_sft": ("base", "sft_end"),
    "sft_rl": ("sft_end", "rl"),
    "base_rl": ("base", "rl"),
}
#: how the book names each pair
PAIR_LABELS: dict[str, str] = {"base_sft": "Base → SFT", "sft_rl": "SFT → RL", "base_rl": "Base → RL"}
#: the references a restoration may take its directions from
REFERENCES: tuple[str, ...] = ("sft_peak", "base")


# --------------------------------------------------------------------------- the models


@dataclass(frozen=True)
class Models:
    """The four checkpoints Figures 2-5 compare (Hugging Face checkpoint folders)."""

    base: Path
    """The pretrained model SFT started from."""
    sft_peak: Path
    """The SFT checkpoint with the highest OOD accuracy (the default restoration reference)."""
    sft_end: Path
    """The last SFT checkpoint (the target of every restoration)."""
    rl: Path
    """The RL model (started from ``sft_end`` in paper A's setting)."""
    source: str
    """``"pipeline"`` (the project's runs), ``"paths"`` (all four named by the reader) or
    ``"mixed"``."""
    peak_step: int | None = None
    """SFT step of ``sft_peak`` when it comes from the pipeline (0: the base itself)."""
    end_step: int | None = None
    """SFT step of ``sft_end`` when it comes from the pipeline."""
    rl_from: int | None = None
    """SFT step the pipeline's RL model started from."""

    def path(self, role: str) -> Path:
        """The checkpoint of ``role`` (one of :data:`ROLES`)."""
        if role not in ROLES:
            raise SftrlError(f"unknown model {role!r}; choose one of {', '.join(ROLES)}")
        return getattr(self, role)

    @property
    def num_layers(self) -> int:
        """Transformer blocks of the models."""
        return CheckpointReader(self.sft_end).num_layers

    def sentence(self) -> str:
        """What a page compares, as one sentence for its prose (:func:`models_sentence`)."""
        return models_sentence(self)

    def describe(self) -> list[dict[str, Any]]:
        """One row per model for the page's table (:func:`describe_models`)."""
        return describe_models(self)

    def peak_is_base(self) -> bool:
        """Whether the SFT OOD peak is the base itself (same weights)."""
        return checkpoint_identity(self.sft_peak) == checkpoint_identity(self.base)


@dataclass(frozen=True)
class Compared:
    """The four models compared pair by pair: what Figures 2 and 3 share."""

    models: Models
    """The four checkpoints compared."""
    layer: int
    """The layer the page's panel (a) shows."""
    rows: list[dict[str, Any]]
    """:func:`compare_pairs`: one row per (pair, matrix)."""
    summary: list[dict[str, Any]]
    """:func:`pair_summary` of ``rows``."""


def models(cfg: StudyConfig, *, base: str = "", sft_peak: str = "", sft_end: str = "", rl: str = "") -> Models:
    """The four models: ``""`` takes the pipeline's own (trained if missing, through
    :func:`sftrl.experiments.figure1.checkpoints`), anything else is a local checkpoint folder or a hub id.

    When all four are named the pipeline is not touched. Tensor names and shapes of all four
    are checked against each other before any SVD runs (SftrlError naming the difference).
    """
    given = {"base": base, "sft_peak": sft_peak, "sft_end": sft_end, "rl": rl}
    chosen = {role: resolve_checkpoint(text) for role, text in given.items() if text}
    extra: dict[str, Any] = {}
    if len(chosen) < len(ROLES):
        ck = study.checkpoints(cfg)
        for role in ROLES:
            chosen.setdefault(role, Path(ck.as_dict()[role]))
        extra = {"peak_step": ck.peak.step if not sft_peak else None,
                 "end_step": ck.peak.end_step if not sft_end else None,
                 "rl_from": ck.rl_from if not rl else None}
    for role in ROLES[1:]:
        check_comparable(chosen["base"], chosen[role])
    source = "pipeline" if not any(given.values()) else "paths" if all(given.values()) else "mixed"
    return Models(**{r: Path(chosen[r]) for r in ROLES}, source=source, **extra)


def models_sentence(m: Models) -> str:
    """What the page compares, as one sentence for its prose (reads right for any source)."""
    if m.source == "paths":
        return ("This page analyses checkpoints named by the reader: the base, an SFT checkpoint taken as the OOD "
                "peak, the end of SFT and an RL model, as listed in the table below.")
    where = "the pipeline's own runs" if m.source == "pipeline" else "the pipeline's runs and checkpoints the reader named"
    parts = [f"This page analyses {where}"]
    if m.end_step is not None:
        parts.append(f"the end of SFT is step {m.end_step}")
    if m.peak_step is not None:
        parts.append("the highest OOD accuracy along SFT is at step 0, so the SFT-peak model is the base itself"
                     if m.peak_step == 0 else f"the highest OOD accuracy along SFT is at step {m.peak_step}")
    if m.rl_from is not None:
        parts.append(f"the RL model was trained from SFT step {m.rl_from}")
    return "; ".join(parts) + "."


def describe_models(m: Models) -> list[dict[str, Any]]:
    """One row per model: role, label, the checkpoint's last two path parts and, for the
    pipeline's models, where in training it was taken."""
    def step(s: int | None, prefix: str = "SFT step") -> str:
        return "" if s is None else f"{prefix} {s}"

    training = {"base": "pretrained" if m.source == "pipeline" else "", "sft_peak": step(m.peak_step),
                "sft_end": step(m.end_step), "rl": step(m.rl_from, "RL from SFT step")}
    rows = []
    for role in ROLES:
        p = m.path(role)
        rows.append({"role": role, "label": ROLE_LABELS[role], "checkpoint": f"{p.parent.name}/{p.name}",
                     "training": training[role]})
    return rows


# --------------------------------------------------------------------------- identities and caching


def _edit_dir(kind: str, spec: Mapping[str, Any], target: str | Path, reference: str | Path) -> Path:
    key = {**code_key("sftrl.weights.edits"), "edit": dict(spec), "target": checkpoint_identity(target),
           "reference": checkpoint_identity(reference)}
    return paths.CACHE / "edits" / f"{kind}-{config_hash(key)}"


def _is_complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / EDIT_RECORD).is_file()


def edited(target: str | Path, reference: str | Path, edit: Edit) -> Path:
    """``target`` with ``edit`` applied using ``reference``, written once (cached by content).

    The folder is ``paths.CACHE / "edits" / "<op>-<hash>"`` with the hash over the edit and
    both inputs' :func:`checkpoint_identity`; a second call returns it without writing.
    Validation (:func:`sftrl.weights.edits.plan_edit`) comes before any SVD.
    """
    plan_edit(target, reference, edit)
    out = _edit_dir(edit.op, asdict(edit), target, reference)
    if not _is_complete(out):
        tmp = out.with_name(f".{out.name}.new-{os.getpid()}")
        _publish(edit_checkpoint(target, reference, tmp, edit, overwrite=True), out)
    return out


def _publish(tmp: Path, out: Path) -> None:
    """Move a finished edit into place unless another process got there first (a reader of
    ``out`` never sees it replaced under it)."""
    if not _is_complete(out):
        shutil.rmtree(out, ignore_errors=True)  # an incomplete leftover
        try:
            os.rename(tmp, out)
            return
        except OSError:  # another process published it meanwhile: keep theirs
            pass
    shutil.rmtree(tmp, ignore_errors=True)


def sigma_swap_top(target: SVD, S_ref: torch.Tensor, k: int) -> torch.Tensor:
    """The top-k sigma swap: ``U_tgt diag([S_ref[:k], S_tgt[k:]]) Vh_tgt``.

    The target's singular vectors with the reference's k largest singular values and its own
    remaining ones (k = r is :func:`sftrl.weights.edits.sigma_swap`). arXiv 2509.12235, Fig. 2.
    """
    r = target.S.numel()
    if S_ref.shape != target.S.shape:
        raise SftrlError(f"spectra of different lengths: {tuple(S_ref.shape)} vs {tuple(target.S.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= r:
        raise SftrlError(f"k={k!r} out of range 0..{r} (the rank)")
    S = torch.cat([S_ref[:k], target.S[k:]])
    return (target.U * S) @ target.Vh


def _write_checkpoint(target: CheckpointReader, out: Path, new: Mapping[str, torch.Tensor],
                      record: Mapping[str, Any]) -> Path:
    """``target`` with the tensors in ``new`` replaced, written atomically to ``out``.

    Side files (config, tokenizer) are copied, shards without a replaced tensor are copied
    byte for byte, replaced tensors keep the target's dtype. Only for edits that
    :func:`sftrl.weights.edits.edit_checkpoint` does not offer (the top-k sigma swap); tensor names
    never change, so an index file is copied as it is.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for f in sorted(target.path.iterdir()):
            if f.is_file() and not any(fnmatch.fnmatch(f.name, p) for p in SKIP_PATTERNS):
                shutil.copy2(f, tmp / f.name)
        for file in sorted({target.file_of(n) for n in target.names()}):
            names = [n for n in target.names() if target.file_of(n) == file]
            if not set(names) & set(new):
                shutil.copy2(file, tmp / file.name)
                continue
            tensors = {n: target.get_raw(n) for n in names}
            for name in set(names) & set(new):
                tensors[name] = new[name].to(tensors[name].dtype).contiguous()
            save_file(tensors, str(tmp / file.name), metadata=SafetensorsFile(file).metadata or {"format": "pt"})
        if (target.path / INDEX_FILE).is_file():
            shutil.copy2(target.path / INDEX_FILE, tmp / INDEX_FILE)
        (tmp / EDIT_RECORD).write_text(json.dumps(dict(record), indent=2) + "\n")
        _publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def sigma_swapped(target: str | Path, reference: str | Path, fraction: float,
                  kinds: Sequence[str] | None = None) -> Path:
    """``target`` with the top ``fraction`` of each matrix's singular values taken from
    ``reference`` (its singular vectors kept), written once (cached by content).

    ``fraction = 1`` is :class:`~sftrl.weights.edits.Edit` ``("sigma_swap")`` and goes through
    :func:`edited`; ``0`` is the target itself. ``kinds`` defaults to the block kinds.
    """
    fraction = check_fraction(fraction, "sigma-swap fraction")
    kinds_t = tuple(BLOCK_KINDS if kinds is None else kinds)
    if fraction == 0.0:
        plan_edit(target, reference, Edit("sigma_swap", kinds=kinds_t))
        return Path(target)
    if fraction == 1.0:
        return edited(target, reference, Edit("sigma_swap", kinds=kinds_t))
    plan_edit(target, reference, Edit("sigma_swap", kinds=kinds_t))  # validates before any SVD
    spec = {"op": "sigma_swap_top", "fraction": fraction, "kinds": list(kinds_t)}
    out = _edit_dir("sigma_swap_top", spec, target, reference)
    if _is_complete(out):
        return out
    tgt, ref = CheckpointReader(target), CheckpointReader(reference)
    if tgt.tied and any(k in kinds_t for k in ("embed", "lm_head")):
        raise SftrlError("the top-k sigma swap edits block matrices only on a tied checkpoint; "
                         "leave embed/lm_head out of kinds")
    keys = select_keys(tgt.keys(), kinds=kinds_t, num_layers=tgt.num_layers)
    ct, cr = SVDCache(tgt), SVDCache(ref)
    new = {}
    for key in keys:
        svd_t = ct.load(key)
        new[key.name] = sigma_swap_top(svd_t, cr.S(key), resolve_k(fraction, svd_t.S.numel()))
    record = {"edit": spec, "target": str(tgt.path), "reference": str(ref.path), "edited": [k.name for k in keys]}
    return _write_checkpoint(tgt, out, new, record)


# --------------------------------------------------------------------------- evaluation


def evaluate(path: str | Path, cfg: StudyConfig, **fields: Any) -> dict[str, Any]:
    """ID and OOD accuracy of a checkpoint as one flat row (cached by its weights,
    :func:`sftrl.evaluation.checkpoint.accuracy`).

    ``fields`` (a label, the edit's settings) are put first in the row.
    """
    acc = checkpoint.accuracy(path, cfg)
    row: dict[str, Any] = {**fields}
    for split in ("id", "ood"):
        r = acc[split]
        row[split] = r["accuracy"]
        row[f"{split}_ci"] = (r["ci_low"], r["ci_high"])
        row[f"{split}_n"] = r["n"]
        row[f"{split}_format_errors"] = r["format_error_rate"]
    row["path"] = str(path)
    return row


def prefetch(checkpoints: Iterable[str | Path], cfg: StudyConfig) -> None:
    """Evaluate those of ``checkpoints`` the cache lacks, shared among one-thread children
    (:mod:`sftrl.experiments.pool`), so the :func:`evaluate` calls that follow only read."""
    todo = list(dict.fromkeys(str(p) for p in checkpoints if not checkpoint.has_accuracy(p, cfg)))
    pool.run([pool.accuracy(cfg, p) for p in todo], pool.workers(cfg))


def anchors(m: Models, cfg: StudyConfig, roles: Iterable[str] = ROLES) -> dict[str, dict[str, Any]]:
    """:func:`evaluate` rows of the unedited models, by role."""
    return {role: evaluate(m.path(role), cfg, label=ROLE_LABELS[role], role=role) for role in roles}


def check_fraction(f: float, what: str) -> float:
    """``f`` as a float in [0, 1] (:data:`sftrl.config.PROBABILITY`), or SftrlError naming ``what``."""
    config.check_value(what, f, config.PROBABILITY)
    return float(f)


def parse_fractions(text: str | Sequence[float], what: str = "fractions") -> tuple[float, ...]:
    """``"0, 0.2,1"`` (or a sequence) -> ``(0.0, 0.2, 1.0)``, each checked to lie in [0, 1]."""
    items = [t.strip() for t in text.split(",") if t.strip()] if isinstance(text, str) else list(text)
    out = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            raise SftrlError(f"{what}: {item!r} is not a number") from None
        out.append(check_fraction(value, what.removesuffix("s")))
    return tuple(out)


def parse_names(text: str) -> tuple[str, ...] | None:
    """``"Q1, first 25%"`` -> ``("Q1", "first 25%")``; empty -> ``None`` (the default set)."""
    names = tuple(t.strip() for t in str(text).split(",") if t.strip())
    return names or None


def with_recovery(row: dict[str, Any], target: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, Any]:
    row["recovery"] = study.recovery_fraction(row["ood"], target["ood"], reference["ood"])
    row["ood_gain"] = row["ood"] - target["ood"]
    return row


# --------------------------------------------------------------------------- Figure 2 and 3: statistics


def compare_pairs(m: Models, *, k_frac: float = 0.2, kinds: Sequence[str] | None = None,
                  pairs: Iterable[str] = tuple(PAIRS)) -> list[dict[str, Any]]:
    """:func:`sftrl.weights.spectral.compare` rows for Base → SFT, SFT → RL and Base → RL, with ``pair``
    (a key of :data:`PAIRS`) and its ``label``.

    Relative singular-value changes are relative to the pair's first model; angles are
    between top-k subspaces with ``k = max(1, round(k_frac * rank))`` capped at half the
    dimension (no angle is then zero by construction).
    """
    pairs = tuple(pairs)
    for key in pairs:
        if key not in PAIRS:
            raise SftrlError(f"unknown pair {key!r}; choose from {', '.join(PAIRS)}")
    rows = []
    for key in pairs:
        a, b = PAIRS[key]
        for r in spectral.compare(m.path(a), m.path(b), k_frac=k_frac, kinds=kinds):
            rows.append({"pair": key, "label": PAIR_LABELS[key], **r})
    return rows


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def pair_summary(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per pair and group (``"blocks"``: the transformer blocks' matrices; ``"embeddings"``:
    embed and LM head): the mean over matrices of each statistic of :func:`compare_pairs`
    (``max_angle_*`` is the largest over matrices)."""
    out = []
    for pair in dict.fromkeys(r["pair"] for r in rows):
        for group in ("blocks", "embeddings"):
            sel = [r for r in rows if r["pair"] == pair and (r["layer"] is not None) == (group == "blocks")]
            if not sel:
                continue
            row: dict[str, Any] = {"pair": pair, "label": PAIR_LABELS[pair], "group": group, "n_matrices": len(sel)}
            for stat in ("mean_rel_dsigma", "spectral_drift", "mean_angle_u", "mean_angle_v"):
                row[stat] = _mean([r[stat] for r in sel])
            for stat in ("max_angle_u", "max_angle_v"):
                row[stat] = max(r[stat] for r in sel)
            out.append(row)
    return out


# --------------------------------------------------------------------------- Figure 2: the sigma swap


# --------------------------------------------------------------------------- Figure 4: restoration


def check_reference(reference: str) -> str:
    if reference not in REFERENCES:
        raise SftrlError(f"unknown restoration reference {reference!r}; choose one of {', '.join(REFERENCES)}")
    return reference


# --------------------------------------------------------------------------- Figure 5: grafting


# --------------------------------------------------------------------------- numbers for the prose


