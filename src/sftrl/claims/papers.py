"""The papers' own numbers, as data: what every figure of the book is compared against.

Each value is copied from the project's science spec (``shared/spec/science.md``), which
gathered them from the papers, their public code and their figures. Every entry names its
source (an arXiv id) and says whether the value could be confirmed from the paper itself:
an unconfirmed value must be shown as such (:meth:`PaperValue.text` appends
"(unconfirmed)") and never presented as the paper's number. Nothing measured by this
project belongs here; claims about *our* runs are computed in :mod:`sftrl.claims.rules`.

Units: accuracies are fractions of hands (``0.1752`` is 17.52 %), accuracy changes are
differences of such fractions (``-0.09`` is -9 points), steps are optimizer steps.

Usage::

    from sftrl.claims import papers
    papers.FIGURE1["Llama-3.2-11B"].ood_peak        # 0.1752
    papers.get("fig6.rl_sparsity").text()            # 'up to about 92%'
"""

from __future__ import annotations

from dataclasses import dataclass

from sftrl.errors import SftrlError

#: paper A: Jin et al., *RL Fine-Tuning Heals OOD Forgetting in SFT*
PAPER_A = "2509.12235"
#: paper A's first version: *RL Is Neither a Panacea Nor a Mirage* (some numbers differ)
PAPER_A_V1 = "2508.16546"
#: paper B: Zhu et al., *The Path Not Taken: RLVR Provably Learns Off the Principals*
PAPER_B = "2511.08567"
#: paper C: Chu et al., *SFT Memorizes, RL Generalizes* (the GeneralPoints task)
PAPER_C = "2501.17161"
#: LIFT (Liu et al.): the principal-weight definition paper B uses
LIFT = "2506.00772"

#: the bibliography key of each source in ``book/references.bib`` (for ``{cite}``)
CITE_KEYS: dict[str, str] = {
    PAPER_A: "jin2025heals",
    PAPER_A_V1: "jin2025panacea",
    PAPER_B: "zhu2025pathnottaken",
    PAPER_C: "chu2025sftmemorizes",
    LIFT: "liu2025lift",
}

#: the units a :class:`PaperValue` may carry, and how :meth:`PaperValue.text` prints them
UNITS = ("accuracy", "accuracy change", "relative change", "recovery", "step", "degrees",
         "sparsity", "count", "setting", "claim")

Number = float | int


@dataclass(frozen=True)
class PaperValue:
    """One number (or range, or qualitative claim) a paper reports."""

    key: str
    """Unique name, ``"<figure>.<what>"``, e.g. ``"fig2.sigma_change"``."""
    figure: str
    """The book's figure it belongs to: ``"task"``, ``"fig1"`` ... ``"fig6"``."""
    what: str
    """One line saying what was measured, in the paper's setting."""
    value: Number | tuple[Number, Number] | None
    """A number, a ``(low, high)`` range, or ``None`` for a claim stated without a number."""
    unit: str
    """One of :data:`UNITS`."""
    source: str
    """arXiv id of the paper that reports it (a key of :data:`CITE_KEYS`)."""
    confirmed: bool
    """False where the spec could not confirm the value from the paper itself."""
    note: str = ""
    """Qualifiers the number needs (model, "up to", "about", a differing version)."""

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise SftrlError(f"{self.key}: unknown unit {self.unit!r}; choose one of {UNITS}")
        if self.source not in CITE_KEYS:
            raise SftrlError(f"{self.key}: unknown source {self.source!r}; known: {sorted(CITE_KEYS)}")

    @property
    def low(self) -> float | None:
        """The value, or the low end of its range (None for a claim without a number)."""
        if self.value is None:
            return None
        return float(self.value[0] if isinstance(self.value, tuple) else self.value)

    @property
    def high(self) -> float | None:
        """The value, or the high end of its range."""
        if self.value is None:
            return None
        return float(self.value[1] if isinstance(self.value, tuple) else self.value)

    def text(self) -> str:
        """The value as the book prints it, e.g. ``'85-88%'``; unconfirmed ones say so."""
        out = self.what if self.value is None else format_range(self.value, self.unit)
        qualifier = self.note.split(";")[0]
        if self.value is not None and qualifier.startswith(("up to", "about", "under")):
            out = f"{qualifier} {out}"
        return out if self.confirmed else f"{out} (unconfirmed)"


def format_number(x: Number, unit: str) -> str:
    """One number in its unit: accuracies as percentages, changes as signed points."""
    if unit in ("accuracy", "recovery", "sparsity", "relative change"):
        return f"{100 * x:.3g}%"
    if unit == "accuracy change":
        return f"{100 * x:+.3g} points"
    if unit == "degrees":
        return f"{x:g}°"
    if unit == "step":
        return f"step {int(x)}"
    return f"{x:g}"


def format_range(value: Number | tuple[Number, Number], unit: str) -> str:
    """A number or a ``(low, high)`` range in its unit, e.g. ``'0.3-0.4%'``."""
    if not isinstance(value, tuple):
        return format_number(value, unit)
    lo, hi = value
    if lo == hi:  # one approximate value given as a range
        return "about " + format_number(lo, unit)
    if unit == "step":
        return f"steps {int(lo)}-{int(hi)}"
    a, b = format_number(lo, unit), format_number(hi, unit)
    # "0.3%-0.4%" reads better as "0.3-0.4%": drop the first unit when both share it
    for suffix in ("%", "°", " points"):
        if a.endswith(suffix) and b.endswith(suffix):
            joiner = " to " if a.startswith("-") or b.startswith("-") else "-"  # "-9 to -8", not "-9--8"
            return f"{a[: -len(suffix)]}{joiner}{b}"
    return f"{a} to {b}"


# --------------------------------------------------------------------------- Figure 1


@dataclass(frozen=True)
class Figure1Row:
    """Paper A's Figure 1 for one model: the OOD peak during SFT, the end of SFT, RL.

    Read off the figures of paper A's repository (arXiv 2509.12235). Accuracies are
    fractions of A's 234 evaluation hands, each solved within 5 attempts with feedback.
    """

    model: str
    """The fine-tuned model."""
    ood_peak: float
    """Highest OOD accuracy during SFT."""
    peak_step: int
    """SFT step of that peak."""
    id_at_peak: float
    """ID accuracy at the peak step."""
    end_step: int
    """Last SFT step."""
    ood_end: float
    """OOD accuracy at the end of SFT."""
    id_end: float
    """ID accuracy at the end of SFT."""
    ood_rl: float
    """OOD accuracy after RL from the end of SFT."""
    recovery: tuple[float, float]
    """The recovery fraction the paper quotes, ``(low, high)`` (equal ends: one approximate
    value), defined as (OOD_RL - OOD_end) / (OOD_peak - OOD_end)."""
    params: float = float("nan")
    """Parameters of the model, as its name states them (the size panel's x)."""
    source: str = PAPER_A
    """Where the row comes from."""
    confirmed: bool = True
    """Whether the spec confirmed these values from the paper's own figures."""
    ood_end_v1: float | None = None
    """OOD at the end of SFT as printed in the first version (arXiv 2508.16546), if it differs."""
    ood_rl_v1: float | None = None
    """OOD after RL as printed in the first version, if it differs."""


#: paper A's Figure 1, one row per model (the two models it fine-tuned)
FIGURE1: dict[str, Figure1Row] = {
    "Llama-3.2-11B": Figure1Row(
        model="Llama-3.2-11B", ood_peak=0.1752, peak_step=140, id_at_peak=0.2479, end_step=1100,
        ood_end=0.0692, id_end=0.6838, ood_rl=0.1624, recovery=(0.85, 0.88), params=11e9,
        ood_end_v1=0.0897, ood_rl_v1=0.1538,
    ),
    "Qwen2.5-7B": Figure1Row(
        model="Qwen2.5-7B", ood_peak=0.1967, peak_step=120, id_at_peak=0.2607, end_step=800,
        ood_end=0.1709, id_end=0.4359, ood_rl=0.1966, recovery=(0.99, 0.99), params=7e9,
    ),
}

# --------------------------------------------------------------------------- every number

_V = PaperValue

#: every number and claim of the papers the book uses, in figure order
NUMBERS: tuple[PaperValue, ...] = (
    # the task and its evaluation
    _V("task.eval_hands", "task", "evaluation hands per rule (drawn with seed 42)", 234, "count", PAPER_A, True),
    _V("task.eval_attempts", "task", "attempts per hand, each wrong one answered with the verifier's message",
       5, "count", PAPER_A, True),
    # Figure 1
    _V("fig1.step0_ood", "fig1", "OOD accuracy before SFT (the answer format is not yet learned)",
       0.0, "accuracy", PAPER_A, True),
    _V("fig1.step0_format_errors", "fig1", "format-error rate before SFT", 1.0, "accuracy", PAPER_A, True),
    _V("fig1.format_learned_step", "fig1", "SFT steps by which format errors fall under about 5%",
       (40, 50), "step", PAPER_A, True, "about"),
    _V("fig1.format_learned_errors", "fig1", "format-error rate once the format is learned",
       0.05, "accuracy", PAPER_A, True, "under about"),
    _V("fig1.llama.window", "fig1", "SFT checkpoints from which RL restores OOD (Llama-3.2-11B)",
       (420, 1200), "step", PAPER_A, True, "about"),
    _V("fig1.llama.early_rl_change", "fig1", "OOD change from RL started before the window (Llama-3.2-11B)",
       (-0.09, -0.08), "accuracy change", PAPER_A, True),
    _V("fig1.llama.late_rl_from", "fig1", "SFT step from which RL restores nothing (Llama-3.2-11B)",
       1200, "step", PAPER_A, True),
    _V("fig1.llama.recovery", "fig1", "recovery fraction of RL from the end of SFT (Llama-3.2-11B)",
       (0.85, 0.88), "recovery", PAPER_A, True),
    _V("fig1.qwen.recovery", "fig1", "recovery fraction of RL from the end of SFT (Qwen2.5-7B)",
       0.99, "recovery", PAPER_A, True, "about"),
    _V("fig1.losses_monotone", "fig1", "train and held-out loss fall monotonically; nothing in them marks "
       "the OOD peak", None, "claim", PAPER_A, True),
    # paper A's RL (PPO with a value head, no KL term, no reference model)
    _V("fig1.rl.lr", "fig1", "RL learning rate (PPO)", 1e-6, "setting", PAPER_A, True),
    _V("fig1.rl.clip", "fig1", "PPO clip range", 0.1, "setting", PAPER_A, True),
    _V("fig1.rl.gamma", "fig1", "discount gamma", 0.9, "setting", PAPER_A, True),
    _V("fig1.rl.lambda", "fig1", "GAE lambda", 0.95, "setting", PAPER_A, True),
    _V("fig1.rl.grad_clip", "fig1", "gradient-norm clip", 0.01, "setting", PAPER_A, True),
    _V("fig1.rl.temperature", "fig1", "rollout sampling temperature", 0.2, "setting", PAPER_A, True),
    _V("fig1.rl.kl", "fig1", "KL coefficient (no reference model)", 0.0, "setting", PAPER_A, True),
    # Figure 2
    _V("fig2.sigma_change", "fig2", "mean |delta sigma| / sigma between Base, SFT and RL (q, k, v, down)",
       (0.003, 0.004), "relative change", PAPER_A, True, "about"),
    _V("fig2.sigma_swap_llama_ood", "fig2", "Llama OOD accuracy after putting the SFT-peak singular values "
       "into the SFT-end model, for every k", (0.087, 0.093), "accuracy", PAPER_A, True),
    # Figure 3
    _V("fig3.rl_rotation", "fig3", "principal-subspace rotation by RL", 5, "degrees", PAPER_B, False,
       "about; a third-party reading of paper B's figure"),
    _V("fig3.sft_rotation", "fig3", "principal-subspace rotation by SFT", 50, "degrees", PAPER_B, False,
       "about; a third-party reading of paper B's figure"),
    # Figure 4
    _V("fig4.top20_directions_restore", "fig4", "share of the lost OOD accuracy recovered by restoring the top "
       "20% of singular directions", (0.70, 0.80), "recovery", PAPER_A, False,
       "the per-k tables behind it are unconfirmed"),
    _V("fig4.first25_layers_restore", "fig4", "share of the lost OOD accuracy recovered by restoring the first "
       "25% of layers", (0.70, 0.80), "recovery", PAPER_A, False, "the per-layer tables behind it are unconfirmed"),
    # Figure 5
    _V("fig5.graft_sft_vectors", "fig5", "imposing SFT's singular vectors on the RL model (RL's singular values "
       "kept) lowers OOD accuracy", None, "claim", PAPER_A, False, "numbers unconfirmed"),
    _V("fig5.graft_rl_vectors", "fig5", "RL's singular vectors with SFT's singular values keep RL's OOD accuracy; "
       "a singular-value-only swap changes nothing", None, "claim", PAPER_A, True),
    # Figure 6
    _V("fig6.rl_sparsity", "fig6", "bf16 update sparsity of RL (fraction of weights RL leaves unchanged)",
       0.92, "sparsity", PAPER_B, True, "up to about"),
    _V("fig6.sft_dense", "fig6", "SFT updates are dense in bf16", None, "claim", PAPER_B, True),
    _V("fig6.mask_eta", "fig6", "relative tolerance eta of the bf16 update mask", 1e-3, "setting", PAPER_B, False),
)

_BY_KEY = {v.key: v for v in NUMBERS}
if len(_BY_KEY) != len(NUMBERS):  # a duplicated key would silently hide a number
    raise RuntimeError("duplicate keys in sftrl.claims.papers.NUMBERS")


def get(key: str) -> PaperValue:
    """The value named ``key``; SftrlError naming the close matches when there is none."""
    try:
        return _BY_KEY[key]
    except KeyError:
        prefix = key.split(".")[0]
        near = [k for k in _BY_KEY if k.startswith(prefix)] or sorted(_BY_KEY)
        raise SftrlError(f"no paper value {key!r}; known: {', '.join(near)}") from None


