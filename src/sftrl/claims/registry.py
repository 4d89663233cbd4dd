"""Every claim the book judges, stated once: its key, its paper, its figure and its words.

A claim's *statement* lives here and nowhere else: the rules of :mod:`sftrl.claims.rules`
put it into their verdicts, and the figure pages and the claims page print those verdicts.
The paper's numbers for each claim come from :mod:`sftrl.claims.papers`.

Usage: ``from sftrl.claims import registry; registry.statement("ood_rise_and_decline")``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sftrl.claims import papers
from sftrl.errors import SftrlError
from sftrl.fmt import pct


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


#: the papers whose claims the book judges, by their letter
PAPERS: dict[str, str] = {"A": papers.PAPER_A, "B": papers.PAPER_B}

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
              "RL's preferred entries follow the model's geometry (a rotated start moves them with it)"),
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


def spec(key: str) -> ClaimSpec:
    """The claim ``key``; SftrlError naming the known keys when there is none."""
    if key not in _SPECS:
        raise SftrlError(f"unknown claim {key!r}; the book's claims: {', '.join(_SPECS)}")
    return _SPECS[key]


def statement(key: str) -> str:
    """The claim ``key`` in words, as every page prints it."""
    return spec(key).statement
