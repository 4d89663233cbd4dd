"""The book-level pages: every claim's verdict in one table, the methods, the reproduction guide.

* **Claims** (:func:`claim_rows`): one :class:`ClaimRow` per claim of papers A
  (arXiv 2509.12235) and B (arXiv 2511.08567) that the figure pages test: the paper's number
  (marked "(unconfirmed)" where :mod:`sftrl.claims.papers` says so), ours with its interval where
  one applies, and a verdict. The verdicts come from the figures' own rules
  (:mod:`sftrl.claims.rules` for Figures 1-5) and, for the update-mask claims of paper B, from the
  rules stated in this module (:func:`rl_sparse_sft_dense` ... :func:`off_principal_probe`),
  which turn :mod:`sftrl.experiments.masks_study`'s numbers into the same three verdicts. Every figure
  is computed with the defaults of its own page (read from the page's ``parameters`` cell),
  so after ``make book`` this reads the same cached runs, edits and analyses the figure pages
  made. A figure whose library is not available, or whose inputs cannot be made, shows its
  claims as ``"not evaluated"`` with the reason; the page never crashes on it.
* **Methods** (:func:`settings_rows`, :func:`base_facts`, :func:`eval_sizes`,
  :func:`tried_table`): our SFT, RL and evaluation settings beside paper A's, the small
  base, the study log of configurations tried.
* **Reproduce** (:func:`bench_snapshot`, :func:`stage_table`, :func:`profile_differences`,
  :func:`gpu_estimates`): the committed timing snapshot and the GPU profile's settings, with
  estimates that are labelled as estimates.

Usage::

    cfg = config.profile("cpu")
    rows = report.claim_rows(cfg)              # trains nothing once the figure pages ran
    report.claims_table(rows); report.verdict_counts(rows)
    report.settings_table(cfg)                 # ours against paper A's
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftrl import paths
from sftrl.claims import rules as claims
from sftrl.claims import papers
from sftrl.claims.rules import Verdict, pct
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.book.plots.training import Table

#: the verdict of a claim this build could not judge (its figure's library is missing, or
#: its inputs could not be made); shown with the reason, never counted as a result
NOT_EVALUATED = "not evaluated"
#: every verdict a claim row may carry
ALLOWED = (*claims.VERDICTS, NOT_EVALUATED)


# --------------------------------------------------------------------------- the claims


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of a paper that a figure page tests."""

    key: str
    """The claim's key, as the rule functions name it (``Verdict.claim``)."""
    paper: str
    """``"A"`` (arXiv 2509.12235) or ``"B"`` (arXiv 2511.08567): whose claim it is."""
    group: str
    """The figure group that judges it: a key of :data:`GROUPS`."""
    statement: str
    """The claim, in words."""


#: figure group -> (the book's name for it, its notebook under notebooks/)
GROUPS: dict[str, tuple[str, str]] = {
    "fig1": ("Figure 1", "01_ood_peak_and_decline"),
    "fig2": ("Figure 2", "02_singular_value_stability"),
    "fig3": ("Figure 3", "03_principal_angles"),
    "fig4": ("Figure 4", "04_restoration"),
    "fig5": ("Figure 5", "05_causal_grafting"),
    "fig6": ("Figure 6", "06_rlvr_stripe_masks"),
    "fig7": ("Geometry and probe", "07_geometry_and_probe"),
}

#: every claim the book judges, in the order of the book
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("format_learned_before_peak", "A", "fig1", "The OOD peak comes after the answer format is learned"),
    ClaimSpec("ood_rise_and_decline", "A", "fig1", "OOD accuracy rises during SFT, peaks, then declines"),
    ClaimSpec("id_keeps_rising", "A", "fig1", "ID accuracy keeps rising while OOD declines"),
    ClaimSpec("loss_blind_to_peak", "A", "fig1",
              "Train and held-out loss fall monotonically; nothing in them marks the OOD peak"),
    ClaimSpec("rl_restores_in_window", "A", "fig1", "RL restores OOD accuracy from a window of SFT checkpoints"),
    ClaimSpec("singular_values_stable", "A", "fig2", "Singular values barely move under SFT and RL"),
    ClaimSpec("sigma_swap_keeps_accuracy", "A", "fig2",
              "The SFT-peak's singular values put into the SFT-end model leave its OOD accuracy flat"),
    ClaimSpec("vectors_rotate_values_stable", "A", "fig3",
              "Singular vectors rotate much more than singular values change"),
    ClaimSpec("rl_rotates_less_than_sft", "B", "fig3", "RL rotates the principal subspaces far less than SFT"),
    ClaimSpec("top_directions_restore", "A", "fig4",
              "Restoring the top 20% of singular directions (from the SFT peak) recovers most of the lost OOD "
              "accuracy"),
    ClaimSpec("top_directions_restore_base", "A", "fig4",
              "Restoring the top 20% of singular directions from the base recovers most of the lost OOD accuracy"),
    ClaimSpec("first_layers_restore", "A", "fig4",
              "Restoring the first 25% of layers recovers most of the lost OOD accuracy"),
    ClaimSpec("sft_directions_lower_rl_ood", "A", "fig5",
              "SFT's singular vectors grafted onto RL (RL's singular values kept) lose RL's OOD accuracy"),
    ClaimSpec("rl_directions_keep_ood", "A", "fig5",
              "RL's singular vectors with SFT's singular values keep RL's OOD accuracy"),
    ClaimSpec("sigma_only_swap_changes_nothing", "A", "fig5",
              "Swapping only the singular values changes neither model's accuracy"),
    ClaimSpec("rl_sparse_sft_dense", "B", "fig6", "In bf16, RL leaves most weights untouched; SFT updates densely"),
    ClaimSpec("masks_consistent_across_runs", "B", "fig6",
              "Independent RL runs update the same entries, more often than chance"),
    ClaimSpec("rl_off_principal", "B", "fig6",
              "RL's updates avoid the principal weights and favour small ones; SFT's do not"),
    ClaimSpec("rl_little_spectral_drift", "B", "fig6",
              "RL barely moves the top of the spectrum (drift, principal angle); SFT moves it more"),
    ClaimSpec("preferred_entries_follow_geometry", "B", "fig7",
              "RL's preferred entries follow the model's parametrisation (a permuted start moves them with it)"),
    ClaimSpec("off_principal_probe", "B", "fig7",
              "RL restricted to off-principal entries tracks dense RL; restricted to the principal ones it does "
              "worst"),
)
_SPECS = {c.key: c for c in CLAIMS}

#: paper claims stated without a number that :mod:`sftrl.claims.papers` does not list (yet); a
#: value of the same key in :mod:`sftrl.claims.papers` takes precedence
_EXTRA_PAPER_CLAIMS: dict[str, papers.PaperValue] = {
    v.key: v for v in (
        papers.PaperValue("fig3.vectors_rotate", "fig3", "the singular vectors rotate while the singular values "
                          "barely move", None, "claim", papers.PAPER_A, True),
        papers.PaperValue("fig6.consistency", "fig6", "independent RL runs from one base update the same entries "
                          "(stripes), beyond the independent-masks expectation", None, "claim", papers.PAPER_B, True),
        papers.PaperValue("fig6.off_principal", "fig6", "RL's updates fall below chance on the principal weights and "
                          "above it on low-magnitude ones; SFT the opposite", None, "claim", papers.PAPER_B, True),
        papers.PaperValue("fig6.drift", "fig6", "spectral drift and the largest principal angle are small for RL "
                          "and large for SFT", None, "claim", papers.PAPER_B, True),
        papers.PaperValue("fig6.geometry", "fig6", "after a function-preserving change of coordinates, the same "
                          "RL's mask no longer overlaps the original's beyond chance", None, "claim",
                          papers.PAPER_B, True),
        papers.PaperValue("fig6.probe", "fig6", "RL restricted to off-principal entries tracks dense RL; restricted "
                          "to principal entries it does worst", None, "claim", papers.PAPER_B, True),
    )
}


def paper_value(key: str) -> papers.PaperValue:
    """The paper's value ``key`` from :mod:`sftrl.claims.papers`, else from this module's short
    list of qualitative claims; SftrlError naming it when neither has it."""
    try:
        return papers.get(key)
    except SftrlError:
        if key in _EXTRA_PAPER_CLAIMS:
            return _EXTRA_PAPER_CLAIMS[key]
        raise


def value_text(key: str) -> str:
    """A paper value as the claims table prints it: the number (``PaperValue.text``), or
    "qualitative claim" for a claim stated without one; "(unconfirmed)" where it is."""
    v = paper_value(key)
    if v.value is None:
        return "no number (a qualitative claim)" + ("" if v.confirmed else " (unconfirmed)")
    return v.text()


def _fig1_rows(what: Callable[[papers.Figure1Row], str]) -> str:
    out = []
    for row in papers.FIGURE1.values():
        text = what(row)
        out.append(f"{row.model}: {text}" + ("" if row.confirmed else " (unconfirmed)"))
    return "; ".join(out)


#: claim key -> the paper's numbers for it, as one line
_PAPER_TEXT: dict[str, Callable[[], str]] = {
    "format_learned_before_peak": lambda: (
        f"format errors {value_text('fig1.step0_format_errors')} at step 0, "
        f"{value_text('fig1.format_learned_errors')} by {value_text('fig1.format_learned_step')}"),
    "ood_rise_and_decline": lambda: _fig1_rows(
        lambda r: f"OOD peak {pct(r.ood_peak)} at step {r.peak_step}, {pct(r.ood_end)} at step {r.end_step}"),
    "id_keeps_rising": lambda: _fig1_rows(
        lambda r: f"ID {pct(r.id_at_peak)} at the OOD peak, {pct(r.id_end)} at the end"),
    "loss_blind_to_peak": lambda: value_text("fig1.losses_monotone"),
    "rl_restores_in_window": lambda: (
        f"Llama-3.2-11B: window {value_text('fig1.llama.window')}, recovery "
        f"{value_text('fig1.llama.recovery')}, RL from earlier checkpoints {value_text('fig1.llama.early_rl_change')};"
        f" Qwen2.5-7B: recovery {value_text('fig1.qwen.recovery')}"),
    "singular_values_stable": lambda: f"mean |Δσ|/σ {value_text('fig2.sigma_change')}",
    "sigma_swap_keeps_accuracy": lambda: f"Llama OOD after the swap {value_text('fig2.sigma_swap_llama_ood')}",
    "vectors_rotate_values_stable": lambda: value_text("fig3.vectors_rotate"),
    "rl_rotates_less_than_sft": lambda: (f"RL {value_text('fig3.rl_rotation')}, "
                                         f"SFT {value_text('fig3.sft_rotation')}"),
    "top_directions_restore": lambda: f"recovery {value_text('fig4.top20_directions_restore')}",
    "top_directions_restore_base": lambda: f"recovery {value_text('fig4.top20_directions_restore')}",
    "first_layers_restore": lambda: f"recovery {value_text('fig4.first25_layers_restore')}",
    "sft_directions_lower_rl_ood": lambda: value_text("fig5.graft_sft_vectors"),
    "rl_directions_keep_ood": lambda: value_text("fig5.graft_rl_vectors"),
    "sigma_only_swap_changes_nothing": lambda: value_text("fig5.graft_rl_vectors"),
    "rl_sparse_sft_dense": lambda: (f"RL sparsity {value_text('fig6.rl_sparsity')}; SFT dense, no number"
                                    + ("" if paper_value("fig6.sft_dense").confirmed else " (unconfirmed)")),
    "masks_consistent_across_runs": lambda: value_text("fig6.consistency"),
    "rl_off_principal": lambda: value_text("fig6.off_principal"),
    "rl_little_spectral_drift": lambda: value_text("fig6.drift"),
    "preferred_entries_follow_geometry": lambda: value_text("fig6.geometry"),
    "off_principal_probe": lambda: value_text("fig6.probe"),
}


def paper_text(claim: str) -> str:
    """The paper's numbers for ``claim`` (a key of :data:`CLAIMS`) as one line."""
    if claim not in _PAPER_TEXT:
        return "—"
    return _PAPER_TEXT[claim]()


@dataclass(frozen=True)
class ClaimRow:
    """One row of the claims table."""

    key: str
    """The claim's key."""
    paper: str
    """``"A"`` or ``"B"``."""
    figure: str
    """The figure group's name, e.g. ``"Figure 1"``."""
    page: str
    """The figure's notebook (``figures/<page>`` in the book)."""
    statement: str
    """The claim, in words."""
    paper_value: str
    """The paper's numbers, "(unconfirmed)" where they are."""
    ours: str
    """Our numbers the verdict was decided on, with intervals where they apply (for a
    claim not evaluated: why)."""
    verdict: str
    """One of :data:`ALLOWED`."""
    rule: str
    """The decision rule, as the page prints it (empty when not evaluated)."""

    def __post_init__(self) -> None:
        if self.verdict not in ALLOWED:
            raise SftrlError(f"claim {self.key!r}: verdict must be one of {ALLOWED}, not {self.verdict!r}")


# --------------------------------------------------------------------------- rules for paper B's masks
#
# Each takes the flat numbers of :func:`sftrl.experiments.masks_study.numbers` (or the geometry / probe
# summaries) and returns a :class:`sftrl.claims.rules.Verdict`; the rule is the paragraph after
# "Rule:" in the docstring, printed on the page by :func:`sftrl.claims.rules.rule_text`.

#: |z| above this counts as a departure from chance (a guide: mask entries are not independent)
Z_CHANCE = 3.0
#: a Jaccard index counts as above chance when it exceeds the independent-masks value by this factor
JACCARD_ABOVE = 1.1
#: two Jaccard values within this relative difference count as equal (as masks_study.NEAR)
NEAR = 0.1


def _make(fn: Callable[..., Verdict], claim: str, verdict: str, reason: str) -> Verdict:
    return Verdict(claim=claim, statement=_SPECS[claim].statement, verdict=verdict, reason=reason,
                   rule=claims.rule_text(fn))


def _need(n: Mapping[str, Any], *keys: str) -> None:
    missing = [k for k in keys if k not in n]
    if missing:
        raise SftrlError(f"the mask analysis has no {', '.join(missing)} (an SFT checkpoint or a second RL run is "
                         "missing)")


def _still(n: Mapping[str, Any]) -> bool:
    return n.get("rl_density", 1.0) == 0.0


_NOTHING = "no RL run changed a single bf16 weight (no learning signal, or every update rounded away)"


def rl_sparse_sft_dense(n: Mapping[str, Any]) -> Verdict:
    """RL leaves most weights bit-for-bit unchanged in bf16; SFT updates densely.

    Rule: sparsity is the share of all matrix entries whose bf16 value did not change.
    Reproduced when every RL run is sparser than SFT, the RL runs' mean sparsity is at least
    50% and SFT's is below 50%; partly when every RL run is sparser than SFT but one of the
    two 50% conditions fails; not reproduced when some RL run is not sparser than SFT, or when
    no RL run changed any weight (a trivial sparsity).
    """
    fn, claim = rl_sparse_sft_dense, "rl_sparse_sft_dense"
    _need(n, "rl_sparsity", "rl_sparsity_min", "rl_sparsity_max", "sft_sparsity")
    lo, hi, mean, sft = n["rl_sparsity_min"], n["rl_sparsity_max"], n["rl_sparsity"], n["sft_sparsity"]
    reason = (f"sparsity of RL {pct(mean)} (runs {pct(lo)} to {pct(hi)}, {int(n['n_rl'])} runs), "
              f"of SFT {pct(sft)}")
    if _still(n):
        return _make(fn, claim, "not reproduced", reason + f"; {_NOTHING}")
    if not lo > sft:
        return _make(fn, claim, "not reproduced", reason + " (some RL run is not sparser than SFT)")
    if mean >= 0.5 and sft < 0.5:
        return _make(fn, claim, "reproduced", reason)
    return _make(fn, claim, "partly", reason + (" (RL leaves less than half untouched)" if mean < 0.5
                                                 else " (SFT is sparse too)"))


def masks_consistent_across_runs(n: Mapping[str, Any]) -> Verdict:
    """Independent RL runs update the same entries, more often than chance.

    Rule: two measures over all matrices, each against independent masks of the runs' own
    densities: the share of entries every RL run updated (above chance when its binomial
    z-score exceeds 3; entries are not independent, so the score is a guide) and the mean
    pairwise Jaccard index of the runs' masks (above chance when it exceeds the independent
    value by 10%). Reproduced when both are above chance; partly when one is; not reproduced
    when neither is, or when no RL run changed any weight.
    """
    fn, claim = masks_consistent_across_runs, "masks_consistent_across_runs"
    _need(n, "in_all", "in_all_expected", "in_all_z", "jaccard", "jaccard_expected")
    reason = (f"updated by all {int(n['n_rl'])} RL runs: {pct(n['in_all'])} of the entries against "
              f"{pct(n['in_all_expected'])} for independent runs (z = {n['in_all_z']:.3g}); mean pairwise "
              f"Jaccard {n['jaccard']:.3f} against {n['jaccard_expected']:.3f}")
    if _still(n):
        return _make(fn, claim, "not reproduced", reason + f"; {_NOTHING}")
    above = [n["in_all_z"] > Z_CHANCE,
             n["jaccard_expected"] > 0 and n["jaccard"] > JACCARD_ABOVE * n["jaccard_expected"]]
    verdict = "reproduced" if all(above) else "partly" if any(above) else "not reproduced"
    return _make(fn, claim, verdict, reason)


def _off_principal(n: Mapping[str, Any], role: str) -> tuple[bool, bool]:
    """(below chance on the principal weights, above chance on the low-magnitude ones)."""
    return n[f"{role}_principal_z"] < -Z_CHANCE, n[f"{role}_low_z"] > Z_CHANCE


def rl_off_principal(n: Mapping[str, Any]) -> Verdict:
    """RL's updates avoid the principal weights and favour small ones; SFT's do not.

    Rule: the share of a region's entries that a model updated, against its update density
    (the chance level), for the principal weights (the top alpha of the entries of the
    rank-k reconstruction, LIFT) and the low-magnitude weights (the bottom alpha of the
    entries); below or above chance means a binomial z-score below -3 or above 3. A model
    shows the bias when it is below chance on the principal weights and above on the
    low-magnitude ones. Reproduced when RL shows the bias and SFT does not; partly when both
    show it (the bias is not RL's own), or RL is below chance on the principal weights only;
    not reproduced otherwise, or when no RL run changed any weight.
    """
    fn, claim = rl_off_principal, "rl_off_principal"
    _need(n, "rl_principal", "rl_low", "rl_density", "rl_principal_z", "rl_low_z", "sft_principal_z", "sft_low_z")
    parts = []
    for role in ("rl", "sft"):
        parts.append(f"{role.upper()} updated {pct(n[f'{role}_principal'])} of the principal and "
                     f"{pct(n[f'{role}_low'])} of the low-magnitude weights against chance "
                     f"{pct(n[f'{role}_density'])} (z = {n[f'{role}_principal_z']:.3g} and {n[f'{role}_low_z']:.3g})")
    reason = "; ".join(parts)
    if _still(n):
        return _make(fn, claim, "not reproduced", reason + f"; {_NOTHING}")
    rl_below, rl_above = _off_principal(n, "rl")
    sft_bias = all(_off_principal(n, "sft")) and n["sft_density"] > 0
    if rl_below and rl_above:
        if sft_bias:
            return _make(fn, claim, "partly", reason + " (SFT shows the same bias)")
        return _make(fn, claim, "reproduced", reason)
    if rl_below:
        return _make(fn, claim, "partly", reason + " (RL avoids the principal weights but does not favour "
                                                   "the small ones)")
    return _make(fn, claim, "not reproduced", reason)


def rl_little_spectral_drift(n: Mapping[str, Any]) -> Verdict:
    """RL barely moves the top of the spectrum; SFT moves it more.

    Rule: per run, the mean over matrices of the top-k spectral drift
    ||sigma_1:k(W_ft) - sigma_1:k(W_0)|| / ||sigma_1:k(W_0)|| and of the largest principal
    angle between the top-k left singular subspaces. Reproduced when every RL run is below
    SFT on both; partly when the RL runs' mean is below SFT's on both, or every RL run is
    below SFT on one of them; not reproduced otherwise, or when no RL run changed any weight.
    """
    fn, claim = rl_little_spectral_drift, "rl_little_spectral_drift"
    _need(n, "rl_drift", "rl_drift_max", "rl_angle", "rl_angle_max", "sft_drift", "sft_angle")
    reason = (f"mean top-k spectral drift: RL {n['rl_drift']:.2g} (runs up to {n['rl_drift_max']:.2g}), SFT "
              f"{n['sft_drift']:.2g}; mean largest principal angle: RL {n['rl_angle']:.2g}° (runs up to "
              f"{n['rl_angle_max']:.2g}°), SFT {n['sft_angle']:.2g}°")
    if _still(n):
        return _make(fn, claim, "not reproduced", reason + f"; {_NOTHING}")
    every = [n["rl_drift_max"] < n["sft_drift"], n["rl_angle_max"] < n["sft_angle"]]
    mean = n["rl_drift"] < n["sft_drift"] and n["rl_angle"] < n["sft_angle"]
    verdict = "reproduced" if all(every) else "partly" if mean or any(every) else "not reproduced"
    return _make(fn, claim, verdict, reason)


def preferred_entries_follow_geometry(groups: Mapping[str, Mapping[str, float]]) -> Verdict:
    """RL's preferred entries move with the model's parametrisation.

    Rule: the same RL run from a start whose MLP hidden units are permuted (a change of
    coordinates that leaves the function unchanged); over the permuted MLP matrices, the mean
    Jaccard index of its update mask with the original run's, mapped back through the
    permutation and left in place, against another seed's mask and independent masks of the
    same densities (chance). Reproduced when mapped back it agrees at least about as well as
    another seed (no more than 10% less) and left in place it falls to within 10% of chance
    or below; partly when one of the two holds; not reproduced when neither does, or when the
    runs updated no MLP weight.
    """
    fn, claim = preferred_entries_follow_geometry, "preferred_entries_follow_geometry"
    g = groups.get("MLP (permuted)")
    if not g:
        raise SftrlError("the geometry test has no permuted MLP matrices")
    if any(math.isnan(g[k]) for k in ("mapped", "unmapped", "other_seed", "chance")):
        return _make(fn, claim, "not reproduced", "the runs updated no MLP weight, so there is nothing to compare")
    reason = (f"MLP masks' Jaccard with the original run: permuted run mapped back {g['mapped']:.3f}, left in "
              f"place {g['unmapped']:.3f}; another seed {g['other_seed']:.3f}, chance {g['chance']:.3f}")
    travels = g["mapped"] >= (1 - NEAR) * g["other_seed"]
    falls = g["unmapped"] <= (1 + NEAR) * g["chance"]
    verdict = "reproduced" if travels and falls else "partly" if travels or falls else "not reproduced"
    return _make(fn, claim, verdict, reason)


def off_principal_probe(rows: Sequence[Mapping[str, Any]]) -> Verdict:
    """RL restricted to off-principal entries tracks dense RL; restricted to the principal ones it does worst.

    Rule: the mean reward over the last quarter of each run's logged steps, with its standard
    error; two runs differ when the gap exceeds twice the standard error of the difference.
    Off-principal RL tracks dense RL when it is not below it by such a gap; principal RL does
    worst when it is the lowest of the restricted runs and below off-principal RL by such a
    gap. Reproduced when both hold; partly when one holds; not reproduced when neither does,
    or when too few steps were logged for a standard error.
    """
    fn, claim = off_principal_probe, "off_principal_probe"
    by = {r["mask"]: r for r in rows}
    missing = [m for m in ("none", "off_principal", "principal") if m not in by]
    if missing:
        raise SftrlError(f"the probe has no run with gradient mask {', '.join(missing)}")
    reward = {m: by[m]["reward_end"] for m in by if m != "start"}
    se = {m: by[m].get("reward_end_se", math.nan) for m in reward}
    names = {"none": "dense", "off_principal": "off-principal", "principal": "principal", "random": "random"}
    listing = ", ".join(f"{names.get(m, m)} {reward[m]:.3g}" + (f" ± {se[m]:.2g}" if math.isfinite(se[m]) else "")
                        for m in sorted(reward, key=lambda m: -reward[m]))
    reason = f"mean reward over the last quarter of training (± standard error): {listing}"

    def gap(a: str, b: str) -> float:
        return 2 * math.sqrt(se[a] ** 2 + se[b] ** 2)

    if not all(math.isfinite(se[m]) for m in ("none", "off_principal", "principal")):
        return _make(fn, claim, "not reproduced", reason + " (too few logged steps for a standard error)")
    tracks = reward["none"] - reward["off_principal"] <= gap("none", "off_principal")
    restricted = [m for m in reward if m != "none"]
    worst = (min(restricted, key=lambda m: reward[m]) == "principal"
             and reward["off_principal"] - reward["principal"] > gap("off_principal", "principal"))
    verdict = "reproduced" if tracks and worst else "partly" if tracks or worst else "not reproduced"
    return _make(fn, claim, verdict, reason)


#: the rules this module states (paper B's mask claims), in the order of the book
MASK_RULES: tuple[Callable[..., Verdict], ...] = (
    rl_sparse_sft_dense, masks_consistent_across_runs, rl_off_principal, rl_little_spectral_drift,
    preferred_entries_follow_geometry, off_principal_probe,
)


# --------------------------------------------------------------------------- gathering the verdicts


class Unavailable(Exception):
    """A figure's library (module or function) is not available in this checkout."""


def _module(name: str, *functions: str):
    """Import ``sftrl.<name>`` and check it offers ``functions``; :class:`Unavailable` if not."""
    try:
        module = importlib.import_module(f"sftrl.{name}")
    except ImportError as exc:
        raise Unavailable(f"sftrl.{name} is not available ({exc})") from None
    missing = [f for f in functions if not hasattr(module, f)]
    if missing:
        raise Unavailable(f"sftrl.{name} has no {', '.join(missing)} yet")
    return module


@functools.lru_cache(maxsize=32)
def figure_defaults(notebook: str) -> dict[str, Any]:
    """The defaults of a figure page's ``parameters`` cell, as Python values (``{}`` when the
    page does not exist). The claims page computes each figure with these, so it reads the
    same cached results as the figure page."""
    from sftrl.book import execute as book

    try:
        declared = book.notebook_parameters(notebook)
    except SftrlError:
        return {}
    out = {}
    for name, p in declared.items():
        try:
            out[name] = ast.literal_eval(p["default"])
        except (ValueError, SyntaxError):
            continue
    return out


class _Inputs:
    """What the claims of one configuration are judged on, each made once (lazily)."""

    def __init__(self, cfg: StudyConfig):
        self.cfg = cfg
        self._memo: dict[str, Any] = {}

    def get(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def defaults(self, group: str) -> dict[str, Any]:
        return figure_defaults(GROUPS[group][1])

    # ----- Figure 1
    def curve(self):
        study = _module("study", "sft_curve")
        return self.get("curve", lambda: study.sft_curve(self.cfg))

    def window(self):
        study = _module("study", "rl_window")
        return self.get("window", lambda: study.rl_window(self.cfg))

    # ----- Figures 2-5
    def ss(self):
        return _module("spectral_study", "models", "compare_pairs", "pair_summary", "anchors", "sigma_swap_sweep",
                       "rank_restoration", "layer_restoration", "grafting", "parse_fractions", "parse_names")

    def kinds(self, group: str):
        from sftrl.weights.checkpoints import parse_kinds

        return parse_kinds(self.defaults(group).get("kinds", ""))

    def models(self):
        return self.get("models", lambda: self.ss().models(self.cfg))

    def summary(self, group: str):
        ss = self.ss()
        d = self.defaults(group)
        k_frac, kinds = d.get("k_frac", 0.2), self.kinds(group)
        key = f"summary-{k_frac}-{kinds}"
        return self.get(key, lambda: ss.pair_summary(ss.compare_pairs(self.models(), k_frac=k_frac, kinds=kinds)))

    # ----- Figures 6-7
    def ms(self):
        return _module("masks_study", "study_config", "inputs", "analyse", "numbers", "geometry_table",
                       "geometry_by_group", "probe_table")

    def scfg(self):
        return self.get("scfg", lambda: self.ms().study_config(self.cfg.profile))


def _figure1(inp: _Inputs) -> list[Verdict]:
    _module("claims", "figure1")
    return claims.figure1(inp.curve(), inp.window())


def _figure2(inp: _Inputs) -> list[Verdict]:
    ss, _ = inp.ss(), _module("claims", "figure2")
    d = inp.defaults("fig2")
    fractions = ss.parse_fractions(d.get("swap_fractions", "0.05,0.2,0.5,1.0"))
    m = inp.models()
    anchor = ss.anchors(m, inp.cfg, ("sft_peak", "sft_end"))
    swap = ss.sigma_swap_sweep(m, inp.cfg, fractions=fractions, kinds=inp.kinds("fig2"))
    return claims.figure2(inp.summary("fig2"), swap, anchor["sft_peak"], anchor["sft_end"])


def _figure3(inp: _Inputs) -> list[Verdict]:
    _module("claims", "figure3")
    return claims.figure3(inp.summary("fig3"))


def _closest(values: Sequence[float], target: float) -> float:
    """The value closest to ``target`` (ties: the smaller), as the Figure-4 rule picks it."""
    return min(values, key=lambda v: (abs(v - target), v))


def _figure4(inp: _Inputs) -> list[Verdict]:
    ss, _ = inp.ss(), _module("claims", "figure4")
    d, m, kinds = inp.defaults("fig4"), inp.models(), inp.kinds("fig4")
    # the rules judge the fraction closest to 20% and the "first 25%" block only: edit and
    # evaluate just those (each edit is cached by content, so these are the page's own)
    fractions = ss.parse_fractions(d.get("fractions", "0,0.05,0.1,0.2,0.3,0.5,0.75,1.0"))
    top = (_closest(fractions, 0.2),) if fractions else ()
    blocks = ss.parse_names(d.get("layer_blocks", ""))
    block = "first 25%"
    if blocks is not None and block not in blocks:
        raise SftrlError(f"the Figure 4 page's layer blocks {list(blocks)} leave out {block!r}")
    anchor = ss.anchors(m, inp.cfg, ("base", "sft_peak", "sft_end"))
    rank_peak = ss.rank_restoration(m, inp.cfg, reference="sft_peak", fractions=top, kinds=kinds)
    rank_base = ss.rank_restoration(m, inp.cfg, reference="base", fractions=top, kinds=kinds)
    layers = ss.layer_restoration(m, inp.cfg, reference="sft_peak", op=d.get("layer_op", "swap"),
                                  k_frac=d.get("layer_k_frac", 1.0), blocks=(block,), kinds=kinds)
    return claims.figure4(rank_peak, rank_base, layers, anchor)


def _figure5(inp: _Inputs) -> list[Verdict]:
    ss, _ = inp.ss(), _module("claims", "figure5")
    return claims.figure5(ss.grafting(inp.models(), inp.cfg, kinds=inp.kinds("fig5")))


def _each(claim_inputs: Sequence[tuple[str, Callable[[], Verdict]]]) -> list[Verdict | tuple[str, str]]:
    """Apply each rule on its own: one whose inputs are missing (SftrlError) becomes
    ``(claim, reason)`` instead of taking the group's other verdicts down with it."""
    out: list[Verdict | tuple[str, str]] = []
    for claim, judge in claim_inputs:
        try:
            out.append(judge())
        except SftrlError as exc:
            out.append((claim, str(exc)))
    return out


def _figure6(inp: _Inputs) -> list[Verdict | tuple[str, str]]:
    from sftrl.weights.checkpoints import parse_kinds

    ms = inp.ms()
    d = inp.defaults("fig6")
    scfg = inp.scfg()
    data = ms.inputs(inp.cfg, scfg)
    a = ms.analyse(data.base, data.rl, data.sft, eta=d.get("eta", 0.0), alpha=d.get("alpha", 0.05),
                   k_frac=d.get("k_frac", 0.2), layer=d.get("layer", -1), kinds=parse_kinds(d.get("kinds", "")))
    n = ms.numbers(a)
    return _each([(fn.__name__, functools.partial(fn, n)) for fn in
                  (rl_sparse_sft_dense, masks_consistent_across_runs, rl_off_principal, rl_little_spectral_drift)])


def _figure7(inp: _Inputs) -> list[Verdict | tuple[str, str]]:
    ms = inp.ms()
    d = inp.defaults("fig7")
    scfg = inp.scfg()
    return _each([
        ("preferred_entries_follow_geometry", lambda: preferred_entries_follow_geometry(
            ms.geometry_by_group(ms.geometry_table(inp.cfg, scfg, eta=d.get("eta", 0.0))))),
        ("off_principal_probe", lambda: off_principal_probe(ms.probe_table(inp.cfg, scfg))),
    ])


#: figure group -> the function that judges its claims
_JUDGES: dict[str, Callable[[_Inputs], Sequence[Verdict | tuple[str, str]]]] = {
    "fig1": _figure1, "fig2": _figure2, "fig3": _figure3, "fig4": _figure4, "fig5": _figure5,
    "fig6": _figure6, "fig7": _figure7,
}


def _row(spec: ClaimSpec, verdict: str, ours: str, rule: str) -> ClaimRow:
    figure, page = GROUPS[spec.group]
    return ClaimRow(key=spec.key, paper=spec.paper, figure=figure, page=page, statement=spec.statement,
                    paper_value=paper_text(spec.key), ours=ours, verdict=verdict, rule=rule)


def judge_group(group: str, inp: _Inputs) -> list[ClaimRow]:
    """The rows of one figure group's claims; "not evaluated" rows with the reason when its
    library is not available or its inputs cannot be made (:class:`SftrlError`)."""
    if group not in _JUDGES:
        raise SftrlError(f"unknown figure group {group!r}; choose from {', '.join(GROUPS)}")
    specs = [c for c in CLAIMS if c.group == group]
    try:
        results = _JUDGES[group](inp)
    except (Unavailable, SftrlError) as exc:
        return [_row(s, NOT_EVALUATED, f"not evaluated: {exc}", "") for s in specs]
    skipped = {r[0]: r[1] for r in results if isinstance(r, tuple)}
    verdicts = {v.claim: v for v in results if isinstance(v, Verdict)}
    rows = []
    for s in specs:
        v = verdicts.pop(s.key, None)
        if v is not None:
            rows.append(_row(s, v.verdict, v.reason, v.rule))
        else:
            why = skipped.get(s.key, f"the {GROUPS[group][0]} rules give no verdict on it")
            rows.append(_row(s, NOT_EVALUATED, f"not evaluated: {why}", ""))
    for v in verdicts.values():  # a rule the figure added that this list does not know yet
        extra = ClaimSpec(v.claim, "A" if group in ("fig1", "fig2", "fig3", "fig4", "fig5") else "B", group,
                          v.statement)
        rows.append(_row(extra, v.verdict, v.reason, v.rule))
    return rows


def claim_rows(cfg: StudyConfig, groups: Iterable[str] | None = None) -> list[ClaimRow]:
    """One :class:`ClaimRow` per claim of :data:`CLAIMS` (in ``groups``, default all), judged
    on ``cfg``'s runs. Whatever a figure page already made is read from the cache; what is
    missing is made (as the figure page would)."""
    inp = _Inputs(cfg)
    chosen = list(GROUPS) if groups is None else list(groups)
    rows: list[ClaimRow] = []
    for group in chosen:
        rows += judge_group(group, inp)
    return rows


def verdict_counts(rows: Sequence[ClaimRow]) -> dict[str, int]:
    """How many rows carry each verdict of :data:`ALLOWED` (zeros included)."""
    return {v: sum(1 for r in rows if r.verdict == v) for v in ALLOWED}


def counts_sentence(rows: Sequence[ClaimRow]) -> str:
    """One sentence on the verdicts, per paper, e.g. for the page's opening."""
    parts = []
    for paper in ("A", "B"):
        sel = [r for r in rows if r.paper == paper]
        if not sel:
            continue
        c = verdict_counts(sel)
        text = f"of paper {paper}'s {len(sel)} claims, {c['reproduced']} reproduced, {c['partly']} partly and " \
               f"{c['not reproduced']} not reproduced"
        if c[NOT_EVALUATED]:
            text += f" ({c[NOT_EVALUATED]} not evaluated)"
        parts.append(text)
    out = "; ".join(parts)
    return out[:1].upper() + out[1:] + "." if out else "No claims were judged."


#: the papers whose claims the book judges, by their letter
PAPERS: dict[str, str] = {"A": papers.PAPER_A, "B": papers.PAPER_B}


def claims_table(rows: Sequence[ClaimRow], paper: str | None = None) -> Table:
    """The claims page's table (one paper's rows when ``paper`` is given): the claim and
    its figure, the verdict, the paper's number and ours."""
    if paper is not None and paper not in PAPERS:
        raise SftrlError(f"unknown paper {paper!r}; choose one of {', '.join(PAPERS)}")
    body = [[f"{r.statement} ({r.figure})", r.verdict, r.paper_value, r.ours]
            for r in rows if paper is None or r.paper == paper]
    notes = ["Ours: the numbers the verdict was decided on; accuracies with their 95% Wilson interval in brackets."]
    return Table(["claim", "verdict", f"paper {paper}'s number" if paper else "the paper's number", "ours"], body,
                 notes=notes)


def rules_table(rows: Sequence[ClaimRow]) -> Table:
    """Each judged claim and the rule its verdict was computed by."""
    body = [[r.statement, r.rule] for r in rows if r.rule]
    return Table(["claim", "rule"], body)


# --------------------------------------------------------------------------- methods


def _flat(cfg: StudyConfig) -> dict[str, Any]:
    """The configuration as flat ``section_field`` names (the names papermill and --set take)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            for k, v in dataclasses.asdict(value).items():
                out[f"{f.name}_{k}"] = tuple(v) if isinstance(v, list) else v
        else:
            out[f.name] = value
    return out


def eval_sizes(cfg: StudyConfig) -> dict[str, int]:
    """Hands per evaluation set (``"id"``, ``"ood"``) as the pipeline evaluates them
    (the held-out sets of :func:`sftrl.task.corpus.splits`, capped at ``eval.max_hands``)."""
    from sftrl.task import corpus

    s = corpus.splits(cfg.split_seed)
    cap = cfg.eval.max_hands
    return {split: (min(cap, len(hands)) if cap > 0 else len(hands))
            for split, hands in (("id", s.id_eval), ("ood", s.ood_eval))}


def split_sizes(cfg: StudyConfig) -> dict[str, int]:
    """Sizes of every hand set of :func:`sftrl.task.corpus.splits` (before any evaluation cap)."""
    from sftrl.task import corpus

    return corpus.splits(cfg.split_seed).sizes()


def half_width_at(n: int, accuracy: float = 0.2) -> float:
    """Half the width of the 95% Wilson interval of ``round(accuracy * n)`` of ``n`` hands."""
    from sftrl.evaluation.evaluate import wilson_interval

    if n < 1:
        raise SftrlError(f"an interval needs at least one hand, got n={n}")
    return claims.half_width(wilson_interval(round(accuracy * n), n))


def trl_defaults() -> dict[str, Any]:
    """The trl / transformers defaults the pipeline leaves as they are, from this installation."""
    import trl

    fields = {f.name: f.default for f in dataclasses.fields(trl.GRPOConfig)}
    return {"trl_version": trl.__version__, "clip_epsilon": fields["epsilon"],
            "max_grad_norm": fields["max_grad_norm"], "loss_type": fields.get("loss_type", "")}


def base_record() -> dict[str, Any] | None:
    """The committed base's record ``data/base/sftrl_base.json`` (config, run, seconds,
    torch), or None when no base is committed."""
    meta = paths.BASE / "sftrl_base.json"
    return json.loads(meta.read_text()) if meta.is_file() else None


def base_facts(cfg: StudyConfig) -> dict[str, Any]:
    """The model SFT starts from, measured by loading it: where it comes from, its size and
    its vocabulary; for the small base also how long its pretraining took.

    Keys: ``path``, ``source`` (``"committed"``, ``"pretraining run"`` or ``"hub"``),
    ``n_params``, ``vocab_size``, ``hidden_size``, ``num_hidden_layers``,
    ``num_attention_heads``, ``intermediate_size``, ``max_position_embeddings``,
    ``tie_word_embeddings``, ``pretrain_seconds`` (nan when unknown), ``pretrain_run``,
    ``pretrain_note`` (the committed base's note, if any).
    """
    from sftrl.training import train
    from sftrl.training.model import count_parameters, load_model

    path = train.base_checkpoint(cfg)
    train.quiet_libraries()
    model, tokenizer = load_model(path)
    c = model.config
    facts: dict[str, Any] = {
        "path": str(path), "n_params": count_parameters(model), "vocab_size": len(tokenizer),
        "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads, "intermediate_size": c.intermediate_size,
        "max_position_embeddings": c.max_position_embeddings,
        "tie_word_embeddings": bool(getattr(c, "tie_word_embeddings", False)),
        "pretrain_seconds": math.nan, "pretrain_run": "", "pretrain_note": "",
    }
    if cfg.model.base != "small":
        facts["source"] = "hub"
    elif Path(path) == paths.BASE:
        record = base_record() or {}
        facts.update(source="committed", pretrain_seconds=float(record.get("seconds", math.nan)),
                     pretrain_run=record.get("run", ""), pretrain_note=record.get("note", ""))
    else:
        run = train.pretrain_run(cfg)
        facts.update(source="pretraining run", pretrain_seconds=float(run.summary().get("seconds", math.nan)),
                     pretrain_run=run.id)
    del model
    return facts


def duration(seconds: float) -> str:
    """``42.0`` -> ``'42 s'``, ``1900`` -> ``'32 minutes'``, ``7300`` -> ``'2.0 hours'``."""
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def model_sentences(facts: Mapping[str, Any]) -> dict[str, str]:
    """``model_intro`` and ``vocab_sentence`` of the Methods page, for the small base or a
    hub model (``facts`` from :func:`base_facts`)."""
    if facts["source"] == "hub":
        return {"model_intro": f"This profile fine-tunes {facts['path']}, a pretrained decoder",
                "vocab_sentence": f"Its tokenizer has {facts['vocab_size']:,} tokens, and it answers in the papers' "
                                  "JSON format through its chat template."}
    return {"model_intro": "No pretrained weights can be downloaded where this book is built, so it pretrains its "
                           "own model: a Llama-style decoder",
            "vocab_sentence": f"Its vocabulary holds {facts['vocab_size']} words: the card ranks, the numbers 1 to 13, "
                              "the four operators and parentheses, a few field names and the special tokens."
                              + ("" if facts["tie_word_embeddings"] else " The embeddings are untied so that an edit "
                                 "of the input embedding cannot silently change the output layer.")}


def pretrain_sentence(facts: Mapping[str, Any]) -> str:
    """Where the base came from and how long its pretraining took, as one sentence
    (``facts`` from :func:`base_facts`)."""
    seconds = facts.get("pretrain_seconds", math.nan)
    if facts["source"] == "hub":
        return f"this profile fine-tunes {facts['path']} instead, which needs no pretraining here."
    took = duration(seconds) if math.isfinite(seconds) else "an unrecorded time"
    if facts["source"] == "committed":
        note = f" ({facts['pretrain_note']})" if facts.get("pretrain_note") else ""
        return (f"that took {took} on the machine that made it{note}, so its result is committed under data/base "
                "(make base rebuilds it).")
    return f"in this profile it is pretrained as part of the build (run {facts['pretrain_run']}, in {took})."


def compact_example(cards: Sequence[str] = ("A", "5", "J", "Q"), rule: str = "ood") -> str:
    """A compact-format prompt and its strict answer (the first solution), two lines."""
    from sftrl.task import game
    from sftrl.task.prompts import get_format

    fmt, r = get_format("compact"), game.get_rule(rule)
    hand = game.parse_hand(cards)
    solutions = game.solve(r.values(hand))
    if not solutions:
        raise SftrlError(f"hand {' '.join(cards)} has no solution under rule {rule!r}")
    return f"prompt: {fmt.prompt(hand, r)}\nanswer: {fmt.answer(hand, r, solutions[0])}"


def _setting(x: Any) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, (tuple, list)):
        return ", ".join(_setting(v) for v in x)
    return str(x)


def _paper_setting(key: str) -> str:
    v = paper_value(key)
    return v.text() if v.value is not None else value_text(key)


#: what the settings table prints where sftrl.claims.papers records no value of paper A
NOT_RECORDED = "—"


def settings_rows(cfg: StudyConfig) -> list[list[str]]:
    """``[stage, setting, ours, paper A]`` rows: our settings from ``cfg`` (and the trl
    defaults it keeps) beside paper A's from :mod:`sftrl.claims.papers` (:data:`NOT_RECORDED`
    where the module has none)."""
    t = trl_defaults()
    s, r, e = cfg.sft, cfg.rl, cfg.eval
    llama, qwen = papers.FIGURE1["Llama-3.2-11B"], papers.FIGURE1["Qwen2.5-7B"]
    sizes = eval_sizes(cfg)
    n_paper = int(papers.get("task.eval_hands").value)  # type: ignore[arg-type]
    kept = sorted({*s.checkpoints, s.steps} - {0})
    model = "small Llama-style base (see above)" if cfg.model.base == "small" else cfg.model.base
    rows = [
        ["model", "fine-tuned model", model, f"{llama.model}, {qwen.model}"],
        ["model", "answer format", cfg.model.answer_format, "JSON {cards, number, formula}, no chain of thought"],
        ["model", "weights during fine-tuning", cfg.model.dtype, NOT_RECORDED],
        ["SFT", "optimizer steps", _setting(s.steps),
         f"{llama.end_step} ({llama.model}), {qwen.end_step} ({qwen.model})"],
        ["SFT", "sequences per step", _setting(s.batch_size), NOT_RECORDED],
        ["SFT", "learning rate (AdamW)", f"{s.lr:g}, constant after {s.warmup_steps} warm-up steps", NOT_RECORDED],
        ["SFT", "answers per training hand",
         f"up to {s.max_solutions} distinct solutions" if s.targets == "random" else "one canonical solution",
         NOT_RECORDED],
        ["SFT", "checkpoints kept", f"{len(kept)}, at steps {kept[0]}-{kept[-1]}", NOT_RECORDED],
        ["RL", "algorithm", f"GRPO (trl {t['trl_version']}, loss {t['loss_type']!r}), group of {r.num_generations}",
         "PPO with a value head"],
        ["RL", "KL coefficient", _setting(r.beta), _paper_setting("fig1.rl.kl")],
        ["RL", "learning rate", _setting(r.lr), _paper_setting("fig1.rl.lr")],
        ["RL", "clip range", f"{t['clip_epsilon']:g} (trl default)", _paper_setting("fig1.rl.clip")],
        ["RL", "discount γ, GAE λ", "none (one-turn episodes, no value head)",
         f"{_paper_setting('fig1.rl.gamma')}, {_paper_setting('fig1.rl.lambda')}"],
        ["RL", "gradient-norm clip", f"{t['max_grad_norm']:g} (transformers default)",
         _paper_setting("fig1.rl.grad_clip")],
        ["RL", "rollout temperature", _setting(r.temperature), _paper_setting("fig1.rl.temperature")],
        ["RL", "optimizer steps", _setting(r.steps), NOT_RECORDED],
        ["RL", "rollouts per step", f"{r.prompts_per_step} prompts × {r.num_generations}", NOT_RECORDED],
        ["RL", "reward", f"{r.reward} (verifier)", NOT_RECORDED],
        ["RL", "started from SFT steps", _setting(cfg.rl_from_steps),
         f"checkpoints along SFT; restoring window {value_text('fig1.llama.window')} ({llama.model})"],
        ["RL", "seeds per start (Figure 1)", _setting(cfg.rl_seeds), NOT_RECORDED],
        ["evaluation", "hands per rule", f"ID {sizes['id']}, OOD {sizes['ood']}", _setting(n_paper)],
        ["evaluation", "attempts per hand", f"{e.attempts}, greedy",
         f"{_paper_setting('task.eval_attempts')}, each wrong one answered by the verifier"],
        ["evaluation", "95% half-width at 20% accuracy",
         f"ID ±{100 * half_width_at(sizes['id']):.1f}, OOD ±{100 * half_width_at(sizes['ood']):.1f} points",
         f"±{100 * half_width_at(n_paper):.1f} points"],
    ]
    return rows


def settings_table(cfg: StudyConfig) -> Table:
    """:func:`settings_rows` as a table."""
    notes = [(f"{NOT_RECORDED}: not among paper A's numbers recorded in sftrl.claims.papers. "
              "Paper A's RL settings are those of its PPO runs.")]
    return Table(["stage", "setting", f"this book ({cfg.profile} profile)", "paper A"], settings_rows(cfg),
                 notes=notes)


#: where the lead's study log of configurations tried lives (a committed snapshot)
TRIED = paths.BOOK / "study" / "tried.json"


def _cell(x: Any) -> str:
    if isinstance(x, Mapping):
        return "; ".join(f"{k} = {_cell(v)}" for k, v in x.items())
    if isinstance(x, float):
        return f"{x:.3g}"
    if isinstance(x, (list, tuple)):
        return ", ".join(_cell(v) for v in x)
    return str(x)


def _signed(x: float) -> str:
    return f"{x + 0.0:+.1f}"


def _tried_row(entry: Mapping[str, Any]) -> list[str]:
    """One study-log entry (as :func:`sftrl.experiments.study_log.summarise` writes it) as table cells."""
    sft = (f"OOD {entry['peak_ood']:.1f}% at step {entry['peak_step']} → {entry['ood_end']:.1f}% at "
           f"{entry['end_step']}; ID {entry['id_at_peak']:.1f}% → {entry['id_end']:.1f}%")
    ood, idd, verdict = "not run", "not run", "SFT only"
    if entry.get("rl"):
        ood_parts, id_parts = [], []
        for r in entry["rl"]:
            gains = [x - r["ood_start"] for x in r.get("ood_rl_seeds") or [r["ood_rl"]]]
            spread = f" (seeds {_signed(min(gains))} to {_signed(max(gains))})" if len(gains) > 1 else ""
            paired = r.get("ood_change_paired_ci")
            paired = f" [{_signed(paired[0])}, {_signed(paired[1])}]" if paired else ""
            ood_parts.append(f"{r['from']}: {_signed(r['ood_rl'] - r['ood_start'])}{paired}{spread}")
            id_parts.append(f"{r['from']}: {_signed(r['id_rl'] - r['id_start'])}")
        seeds = entry.get("rl_seeds", 1)
        ood = f"{'; '.join(ood_parts)} ({seeds} seed{'s' if seeds != 1 else ''} each)"
        idd = "; ".join(id_parts)
        verdict = entry.get("rl_verdict", "")
    return [str(entry["name"]), str(entry.get("why", "")), _cell(entry.get("overrides") or "none"), sft, ood, idd,
            verdict]


def tried_table(path: Path = TRIED) -> Table | None:
    """The study log written by ``make study`` (:mod:`sftrl.experiments.study_log`) as a table, or None when
    no log is committed. SftrlError naming the entry that is malformed."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SftrlError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(entries, list):
        raise SftrlError(f"{path} must hold a list of configurations, not {type(entries).__name__}")
    rows = []
    for i, entry in enumerate(entries):
        try:
            rows.append(_tried_row(entry))
        except (KeyError, TypeError, ValueError) as exc:
            raise SftrlError(f"{path}: entry {i} is not a study-log entry of sftrl.experiments.study_log ({exc!r}); "
                             "rerun `make study`") from None
    notes = ["Settings: flat overrides of the cpu profile (sftrl.config.profile); none = the default. "
             "SFT: the OOD peak and the end of SFT, ID at both. RL: OOD after RL minus OOD at the start "
             "checkpoint, in points, by start step: the mean over seeds, its paired 95% interval (the same "
             "hands before and after RL) in square brackets and the seeds' range; "
             "held-out ID likewise (mean). Verdict: the Figure-1 rule for RL's recovery window "
             "(sftrl.claims.rules.rl_restores_in_window) applied to that configuration's runs."]
    return Table(["configuration", "what it tests", "settings", "SFT", "RL: OOD change (points)",
                  "RL: ID change (points)", "RL window verdict"], rows, notes=notes)


def tried_verdicts_sentence(path: Path = TRIED) -> str:
    """How many of the study log's RL configurations reproduce RL's recovery window (by the
    verdict each row records), or an empty string when no log is committed."""
    path = Path(path)
    if not path.is_file():
        return ""
    verdicts = [e.get("rl_verdict") for e in json.loads(path.read_text()) if e.get("rl")]
    if not verdicts:
        return "No configuration of the log ran RL."
    counts = {v: verdicts.count(v) for v in ("reproduced", "partly", "not reproduced")}
    return (f"Of the {len(verdicts)} RL configurations, {counts['reproduced']} reproduced RL's recovery window, "
            f"{counts['partly']} partly, and {counts['not reproduced']} did not.")


def tried_sentence(table: Table | None, path: Path = TRIED) -> str:
    """The sentence that introduces the study log (or says that none is recorded)."""
    where = path.relative_to(paths.ROOT) if path.is_relative_to(paths.ROOT) else path
    if table is None:
        return (f"The study log is not yet recorded: once committed as {where}, it lists here the design choices "
                "tried and rejected, with their numbers.")
    return (f"The design choices tried before settling on the settings above, with their numbers and what was "
            f"decided ({len(table.rows)} configurations, from the study log {where}).")


# --------------------------------------------------------------------------- reproduce

#: the committed snapshot of `bench/book.py --json` (see bench/results/README.md)
BENCH_BOOK = paths.BENCH / "results" / "book.json"


def bench_snapshot(path: Path = BENCH_BOOK) -> dict[str, Any] | None:
    """The committed benchmark of ``make book`` (``{profile, fresh, cpus, stages}``), or None."""
    path = Path(path)
    if not path.is_file():
        return None
    snap = json.loads(path.read_text())
    if not isinstance(snap, Mapping) or not isinstance(snap.get("stages"), Mapping):
        raise SftrlError(f"{path} has no 'stages' table; regenerate it with bench/book.py --json")
    return dict(snap)


def stage_table(snapshot: Mapping[str, Any] | None) -> Table | None:
    """One row per stage of the snapshot: seconds and minutes (None without a snapshot)."""
    if snapshot is None:
        return None
    rows = [[name, f"{float(s):.1f}", f"{float(s) / 60:.1f}"] for name, s in snapshot["stages"].items()]
    env = "a fresh environment" if snapshot.get("fresh") else "an environment already installed"
    return Table(["stage", "seconds", "minutes"], rows,
                 notes=[(f"Measured by bench/book.py on {snapshot.get('cpus', '?')} CPUs, profile "
                         f"{snapshot.get('profile', '?')}, with {env}.")])


def stage_seconds(snapshot: Mapping[str, Any] | None, stage: str) -> float:
    """Seconds of one stage of a snapshot (``"total make book"``, ``"notebook NAME"``...),
    nan when there is no snapshot or no such stage."""
    if snapshot is None:
        return math.nan
    return float(snapshot["stages"].get(stage, math.nan))


def stage_text(snapshot: Mapping[str, Any] | None, stage: str) -> str:
    """One stage's time as the prose quotes it, or "not benchmarked yet"."""
    seconds = stage_seconds(snapshot, stage)
    return duration(seconds) if math.isfinite(seconds) else "not benchmarked yet"


def rerun_sentence(snapshot: Mapping[str, Any] | None, notebook: str) -> str:
    """How long rerunning ``notebook`` with new training settings takes, from the snapshot."""
    seconds = stage_seconds(snapshot, f"notebook {notebook}")
    if not math.isfinite(seconds):
        return "How long that takes is the page's stage in the benchmark, which is not committed yet."
    return f"That takes about as long as the page's stage in the table above, {duration(seconds)}."


def budget_sentence(snapshot: Mapping[str, Any] | None) -> str:
    """What the benchmark snapshot says about ``make book``'s time, as one sentence."""
    if snapshot is None:
        return ("No benchmark snapshot is committed yet (bench/results/book.json): make bench times every stage "
                "on your machine, and bench/results/README.md says how the snapshot is made.")
    total, rebuild = stage_seconds(snapshot, "total make book"), stage_seconds(snapshot, "rebuild, nothing changed")
    env = "a fresh environment" if snapshot.get("fresh") else "an environment already installed"
    return (f"On the machine of the committed benchmark ({snapshot.get('cpus', '?')} CPUs, {env}), make book "
            f"took {duration(total)} in all and a rebuild with nothing changed {duration(rebuild)}; the stages:")


def base_rebuild_sentence(record: Mapping[str, Any] | None) -> str:
    """How long ``make base`` took when the committed base was made (from its record)."""
    if record is None:
        return ("This checkout has no committed base (data/base), so the first make book pretrains it with the "
                "cpu profile's settings.")
    seconds = float(record.get("seconds", math.nan))
    note = f" ({record['note']})" if record.get("note") else ""
    return (f"The committed base (run {record.get('run', '?')}, torch {record.get('torch', '?')}) took "
            f"{duration(seconds)} to pretrain when it was made{note}.")


def profile_differences(a: str = "cpu", b: str = "gpu") -> list[list[str]]:
    """``[setting, value in a, value in b]`` for every setting the two profiles set differently."""
    from sftrl import config

    fa, fb = _flat(config.profile(a)), _flat(config.profile(b))
    return [[k, _setting(fa[k]), _setting(fb[k])] for k in fa if k != "profile" and fa[k] != fb[k]]


def profile_table(a: str = "cpu", b: str = "gpu") -> Table:
    """:func:`profile_differences` as a table."""
    return Table(["setting", f"{a} profile", f"{b} profile"], profile_differences(a, b),
                 notes=["Settings are named as papermill parameters and --set take them (section_field)."])


#: the assumptions behind :func:`gpu_estimates`: nothing here is measured, and the page says so
GPU_ASSUMPTIONS: dict[str, float] = {
    "peak_bf16_flops": 989e12,  # an H100 SXM's dense bf16 peak (its data sheet)
    "utilisation": 0.3,  # share of that peak a small model's training reaches (a guess)
    "tokens_per_example": 200,  # chat-template prompt plus JSON answer, Qwen tokenizer (a guess)
    "decode_step_s": 0.03,  # one decoding step of a whole batch of rollouts (a guess)
    "bytes_per_param": 8,  # bf16 weights and gradients, AdamW's two moments in bf16
}
#: parameter counts of hub models the gpu profile names (from their model cards)
HUB_PARAMS: dict[str, float] = {"Qwen/Qwen2.5-0.5B-Instruct": 0.49e9}


def gpu_estimates(cfg: StudyConfig, n_params: float | None = None) -> dict[str, float]:
    """Rough memory and time of the gpu profile's main stages, from :data:`GPU_ASSUMPTIONS`.

    ``model_state_gb``: weights, gradients and optimizer states (activations come on top);
    ``sft_minutes``: 6 x parameters x training tokens at the assumed utilisation;
    ``rl_minutes_per_run``: decoding-bound, steps x completion length x one decoding step.
    SftrlError when the model's size is unknown.
    """
    a = GPU_ASSUMPTIONS
    n = n_params if n_params is not None else HUB_PARAMS.get(cfg.model.base)
    if n is None:
        raise SftrlError(f"no parameter count known for {cfg.model.base!r}; pass n_params")
    tokens = cfg.sft.steps * cfg.sft.batch_size * a["tokens_per_example"]
    sft_s = 6 * n * tokens / (a["peak_bf16_flops"] * a["utilisation"])
    rl_s = cfg.rl.steps * cfg.rl.max_completion_length * a["decode_step_s"]
    return {"n_params": float(n), "model_state_gb": n * a["bytes_per_param"] / 1e9, "sft_minutes": sft_s / 60,
            "rl_minutes_per_run": rl_s / 60, "rl_runs": float(len(cfg.rl_from_steps) * cfg.rl_seeds)}
