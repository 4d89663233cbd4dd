"""Tables as the book renders them: HTML in a notebook, Markdown or plain text elsewhere.

Every table on a page goes through :class:`Table`. The claims page's two tables are built
here from :mod:`sftrl.claims.scoreboard` rows.

Usage: ``Table(["claim", "verdict"], [["OOD peaks", "reproduced"]], notes=["..."])``
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sftrl.claims.registry import PAPERS
from sftrl.errors import SftrlError
from sftrl.fmt import WEIGHTS

if TYPE_CHECKING:
    from sftrl.claims.rules import Verdict
    from sftrl.claims.scoreboard import ClaimRow


@dataclass
class Table:
    """A small table that renders as HTML in a notebook (and as plain text elsewhere)."""

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)
    """Lines printed under the table (footnotes)."""

    def __post_init__(self) -> None:
        bad = [i for i, r in enumerate(self.rows) if len(r) != len(self.columns)]
        if bad:
            raise SftrlError(f"table rows {bad} do not have {len(self.columns)} cells")
        if any(MISSING in row for row in self.rows) and not any(n.startswith(MISSING) for n in self.notes):
            self.notes.append(f"{MISSING}: no value (not measured, or not defined for that row).")

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *,
                  headers: Mapping[str, str] | None = None,
                  formats: Mapping[str, Callable[[Any], str]] | None = None,
                  missing: str = "not measured", **kwargs: Any) -> Table:
        """A table of dict rows: ``columns`` picks the keys, in order (default: the first
        row's); ``headers`` names them for a reader (default: the key); ``formats`` writes
        a column's values (default :func:`cell`: three significant digits). A missing or
        NaN value shows as "—", and a footnote says what "—" means (``missing``)."""
        cols = list(columns if columns is not None else (rows[0] if rows else {}))
        headers, formats = headers or {}, formats or {}
        body = [[MISSING if _absent(r.get(c)) else formats.get(c, cell)(r.get(c)) for c in cols] for r in rows]
        if any(MISSING in row for row in body):
            kwargs["notes"] = [*kwargs.get("notes", []), f"{MISSING}: {missing}."]
        return cls([headers.get(c, c) for c in cols], body, **kwargs)

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        notes = "".join(f'<p class="sftrl-table-note">{esc(n)}</p>' for n in self.notes)
        return f'<table class="dataframe table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}'

    def _repr_markdown_(self) -> str:
        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        out = [line(self.columns), "|" + "---|" * len(self.columns), *map(line, self.rows)]
        return "\n".join(([self.caption, ""] if self.caption else []) + out + [""] + self.notes)

    def __repr__(self) -> str:
        widths = [max(len(x) for x in col) for col in zip(self.columns, *self.rows)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [self.columns, *self.rows]]
        return "\n".join(([self.caption] if self.caption else []) + lines + self.notes)


#: how a page marks each verdict at a glance: a sign for text, and sphinx-design's badge
#: colour (the figure pages' dropdowns, the landing page's scoreboard)
VERDICT_STYLE: dict[str, tuple[str, str]] = {
    "reproduced": ("✓", "success"), "partly": ("◐", "warning"), "not reproduced": ("✗", "danger"),
    "mixed across seeds": ("±", "info"), "not evaluated": ("–", "secondary"),
}


def marked(verdict: str) -> str:
    """A verdict with its sign, e.g. ``"✓ reproduced"``."""
    return f"{VERDICT_STYLE.get(verdict, ('?',))[0]} {verdict}"


def badge_colour(verdict: str) -> str:
    """The sphinx-design badge colour of a verdict (``"secondary"`` for an unknown one)."""
    return VERDICT_STYLE.get(verdict, ("", "secondary"))[1]


def folders_note(folders: Sequence[tuple[str, str]]) -> str:
    """A table's footnote naming each row's checkpoint folder: ``(label, folder)`` pairs."""
    return "Checkpoint folders: " + "; ".join(f"{label}: {folder}" for label, folder in folders) + "."


def badge_html(verdict: str) -> str:
    """A verdict as sphinx-design's badge, in HTML (for a pasted block)."""
    colour = badge_colour(verdict)
    return (f'<span class="sd-sphinx-override sd-badge sd-bg-{colour} sd-bg-text-{colour}">'
            f"{html.escape(marked(verdict))}</span>")


@dataclass
class Scoreboard:
    """The landing page's answer to "did it reproduce?": per paper, the count of each
    verdict, then one line per claim with its badge, linking to its figure page.

    Glued by the claims page (``scoreboard``) and pasted into the book's first page with
    ``{glue}`` and ``:doc:``, which carries HTML across pages."""

    rows: list[ClaimRow]
    link_prefix: str = "figures/"
    """Where the figure pages are, seen from the page that shows the scoreboard."""

    def _repr_html_(self) -> str:
        from sftrl.claims.scoreboard import counts_sentence

        esc, out = html.escape, ['<div class="sftrl-scoreboard">']
        for paper in PAPERS:
            sel = [r for r in self.rows if r.paper == paper]
            if not sel:
                continue
            out.append(f"<p><strong>{esc(counts_sentence(sel))}</strong></p><ul>")
            for r in sel:
                out.append(f'<li>{badge_html(r.verdict)} {esc(r.statement)} '
                           f'(<a href="{self.link_prefix}{r.page}.html">{esc(r.figure)}</a>)</li>')
            out.append("</ul>")
        return "".join(out) + "</div>"

    def __repr__(self) -> str:
        return "\n".join(f"{marked(r.verdict)}: {r.statement} ({r.figure})" for r in self.rows)


def claims_table(rows: Sequence[ClaimRow], paper: str | None = None) -> Table:
    """The claims page's table (one paper's rows when ``paper`` is given): the claim and
    its figure, the verdict, the paper's number and ours."""
    if paper is not None and paper not in PAPERS:
        raise SftrlError(f"unknown paper {paper!r}; choose one of {', '.join(PAPERS)}")
    body = [[f"{r.statement} ({r.figure})", marked(r.verdict), r.paper_value, r.ours]
            for r in rows if paper is None or r.paper == paper]
    notes = ["Ours: the numbers the verdict was decided on; accuracies with their 95% Wilson interval in brackets."]
    return Table(["claim", "verdict", f"paper {paper}'s number" if paper else "the paper's number", "ours"], body,
                 notes=notes)


def rules_table(rows: Sequence[ClaimRow]) -> Table:
    """Each judged claim and the rule its verdict was computed by."""
    body = [[r.statement, r.rule] for r in rows if r.rule]
    return Table(["claim", "rule"], body)


def verdict_table(verdicts: Sequence[Verdict]) -> Table:
    """Each claim, its verdict, the numbers it was decided on, and the rule (a figure page's last table)."""
    rows = [[v.statement, marked(v.verdict), v.reason, v.rule] for v in verdicts]
    return Table(["claim", "verdict", "our numbers", "rule"], rows)


#: what a table shows for a missing or undefined value (never "NaN")
MISSING = "—"


def _absent(x: Any) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def interval_decimals(lo: float, hi: float) -> int:
    """How many decimals a percentage with the 95% interval ``[lo, hi]`` (fractions) supports.

    The half-width, in percentage points, keeps one significant digit, or two when its
    leading digits are 100-354 (the Particle Data Group's rounding of a measurement to its
    uncertainty); between 0 and 2 decimals. A degenerate interval keeps one decimal.
    """
    half = 50 * (hi - lo)
    if not math.isfinite(half) or half <= 0:
        return 1
    exp = math.floor(math.log10(half))
    lead = half / 10 ** (exp - 2)  # the three leading digits, 100 <= lead < 1000
    return min(2, max(0, -exp + (1 if lead < 355 or lead >= 950 else 0)))


def interval_text(x: float, lo: float, hi: float, *, signed: bool = False, unit: str = "") -> str:
    """A fraction with its 95% interval, in percent (or percentage points), at the precision
    the interval supports (:func:`interval_decimals`): ``(0.393, 0.301, 0.488)`` ->
    ``'39 [30, 49]'``; ``unit`` follows each number (``"%"``), ``signed`` writes the sign
    (a change; never "-0"). A missing value is "—"."""
    if _absent(x):
        return MISSING
    d = interval_decimals(lo, hi)
    sign = "+" if signed else ""
    a, b, c = (f"{round(100 * v, d) + 0.0:{sign}.{d}f}{unit}" for v in (x, lo, hi))  # + 0.0: never "-0"
    return f"{a} [{b}, {c}]"


def pct_interval(x: float, lo: float, hi: float) -> str:
    """An accuracy with its 95% interval: ``(0.393, 0.301, 0.488)`` -> ``'39% [30%, 49%]'``."""
    return interval_text(x, lo, hi, unit="%")


def points_interval(x: float, lo: float, hi: float) -> str:
    """A signed change in percentage points with its interval:
    ``(0.022, -0.001, 0.044)`` -> ``'+2.2 points [-0.1, +4.4]'``."""
    text = interval_text(x, lo, hi, signed=True)
    return text if text == MISSING else text.replace(" [", " points [", 1)


def cell(x: Any) -> str:
    """One value as a table cell: a float to three significant digits, NaN or None as "—"."""
    if _absent(x):
        return MISSING
    if isinstance(x, float):
        return f"{x:.3g}"
    if isinstance(x, Mapping):
        return "; ".join(f"{k} = {cell(v)}" for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return ", ".join(cell(v) for v in x)
    return str(x)


def setting_text(x: Any) -> str:
    """A configuration value as the settings tables print it: yes/no, ``1e-05``, ``a, b``."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, (tuple, list)):
        return ", ".join(setting_text(v) for v in x)
    return str(x)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _role(x: str) -> str:
    return {"rl": "RL", "sft": "SFT"}.get(x, x)


def checkpoints_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """Figure 6's checkpoints (:func:`sftrl.experiments.masks_study.describe_inputs`): each
    run's label and kind, its reward over training, the share of prompts with no learning
    signal; the checkpoint folders in a footnote."""
    shown = [{**r, "reward_end": (r.get("reward_end"), r.get("reward_end_se"))} for r in rows]
    table = Table.from_rows(
        shown, ["label", "role", "reward_start", "reward_end", "no_signal"],
        headers={"label": "run", "role": "kind", "reward_start": "mean reward, first quarter",
                 "reward_end": "mean reward, last quarter (± s.e.)", "no_signal": "prompts with no signal"},
        formats={"role": _role, "reward_start": lambda x: f"{x:+.2f}", "no_signal": _pct,
                 "reward_end": lambda m: (MISSING if _absent(m[0]) else f"{m[0]:+.2f}"
                                          + ("" if _absent(m[1]) else f" ± {m[1]:.2f}"))},
        missing="no reward is logged for SFT, or for a checkpoint a reader named")
    table.notes.append(folders_note([(r["label"], r["checkpoint"]) for r in rows]))
    return table


def length_table(runs: Sequence[Mapping[str, Any]]) -> Table:
    """The length study of the geometry page (:func:`sftrl.experiments.length_study.table`):
    per run (and seed), the bf16 sparsity from the first to the last kept checkpoint, the
    last interval's, the sign consistency against a random walk's and the drift exponent.
    Sign consistency shows only where the rule judges it (:data:`sftrl.claims.rules.MOVED_MIN`)."""
    from sftrl.claims.rules import MOVED_MIN

    rows = [{"seed": 0, **r, "span": f"{_pct(r['sparsity'][0])} → {_pct(r['sparsity'][-1])}",
             "last_step": r["step_sparsity"][-1],
             "walk": (f"{r['sign_consistency']:.2f} ({r['sign_consistency_chance']:.2f})"
                      if r.get("sign_consistency") is not None
                      and r.get("moved_every_interval", 0.0) >= MOVED_MIN else None)} for r in runs]
    steps = sorted({(r["steps"][0], r["steps"][-1]) for r in runs})
    return Table.from_rows(
        rows, ["role", "lr", "dtype", "seed", "span", "last_step", "walk", "drift_exponent"],
        headers={"role": "kind", "lr": "lr", "dtype": "weights", "seed": "seed", "span": "sparsity, first → last",
                 "last_step": "last interval", "walk": "sign consistency (walk)", "drift_exponent": "drift exponent"},
        formats={"role": _role, "lr": lambda x: f"{x:g}", "dtype": lambda x: WEIGHTS.get(x, x), "seed": str,
                 "span": str, "last_step": _pct, "walk": str, "drift_exponent": lambda x: f"{x:.2f}"},
        missing=f"fewer than {round(100 * MOVED_MIN)}% of the entries moved in every interval, too few to judge",
        notes=[f"Checkpoints from step {', '.join(f'{a} to {b}' for a, b in steps)}. Sparsity: the share of entries "
               "whose bf16 value did not change, against the start (first and last kept checkpoint) or against the "
               "previous kept checkpoint (last interval); fp32 masters are rounded to bf16 for the masks. Sign "
               "consistency: the mean over entries that moved in every interval of |sum of the signs of their moves| "
               "/ intervals; a random walk gives the value in brackets, updates always the same way give 1. Drift "
               "exponent: the slope of log mean |w - w0| against log step (1/2 for a random walk, 1 for consistent "
               "updates)."])


def regime_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """The regime sweep of the geometry page (:func:`sftrl.experiments.figure7.regime_table`):
    per kind, learning rate and weight dtype, the bf16 update sparsity and the principal and
    low-magnitude overlaps against chance."""
    dtypes = {"float32": "fp32 master, rounded to bf16", "bfloat16": "bf16 throughout"}
    return Table.from_rows(
        rows, ["role", "lr", "dtype", "sparsity", "principal_ratio", "low_ratio"],
        headers={"role": "kind", "lr": "learning rate", "dtype": "weights", "sparsity": "bf16 sparsity",
                 "principal_ratio": "principal overlap / chance", "low_ratio": "low-magnitude overlap / chance"},
        formats={"role": _role, "lr": lambda x: f"{x:g}", "dtype": lambda x: dtypes.get(x, x), "sparsity": _pct,
                 "principal_ratio": lambda x: f"{x:.2f}", "low_ratio": lambda x: f"{x:.2f}"},
        missing="no entry was updated, so an overlap against chance is undefined",
        notes=["Sparsity: the share of entries whose bf16 value did not change. An overlap ratio of 1 is "
               "chance (the run's update density); above 1, the run updates that region more than chance."])


def size_table(rows: Sequence[Mapping[str, Any]], verdicts: Sequence[Verdict],
               current: Callable[[Mapping[str, Any]], bool]) -> Table:
    """The size study's rows (:func:`sftrl.experiments.size_study.read`), smallest first:
    the OOD peak and the end of SFT, the best recovery with its 95% interval, the verdict of
    the seed-robust rule (``verdicts``: :func:`sftrl.claims.rules.size_verdicts` of the
    rows), and what SFT erodes (OOD first attempts at the peak → the end). ``current``
    tells a row made by today's code; the others are marked."""
    def shares(key: str) -> Callable[[Mapping[str, Any]], str]:
        return lambda r: " → ".join(MISSING if v is None else f"{v:.0f}%" for v in r["erodes"][key])

    def recovery(r: Mapping[str, Any]) -> str | None:
        if r.get("best_recovery") is None:
            return None
        lo, hi = r["best_recovery_ci"] or (r["best_recovery"], r["best_recovery"])
        return f"{r['best_recovery']:.0f}% [{lo:.0f}, {hi:.0f}] from {r['best_from']}"

    columns = ["size", "ood", "recovery", "verdict", "face", "value", "numbers"]
    headers = {"size": "size (parameters)", "ood": "OOD, peak → end", "recovery": "best recovery [95%]",
               "verdict": "RL restores OOD", "face": "face card as 10", "value": "wrong value",
               "numbers": "wrong numbers"}
    if not rows:
        return Table([headers[c] for c in columns], [],
                     notes=["No size has been measured yet: make study runs the size study and writes its log."])
    stale = [r["size"] for r in rows if not current(r)]
    body = [{"size": f"{r['size']}{'†' if r['size'] in stale else ''} ({r['params'] / 1e6:.2f}M)",
             "ood": f"{r['peak_ood']:.0f}% ({r['peak_step']}) → {r['ood_end']:.0f}%",
             "recovery": recovery(r), "verdict": v.verdict, "face": shares("face_as_id")(r),
             "value": shares("wrong_value")(r), "numbers": shares("wrong_numbers")(r)}
            for r, v in zip(rows, verdicts, strict=True)]
    devices = sorted({r.get("device", "cpu") for r in rows})
    notes = [f"RL from SFT steps {', '.join(sorted({str(w['from_step']) for r in rows for w in r['window']}, key=int))}, "
             f"{'/'.join(sorted({str(r['rl_seeds']) for r in rows}))} seeds each; measured on {', '.join(devices)}. "
             "OOD: accuracy at the peak (its step) → the end of SFT. Recovery: the share of the OOD lost since the "
             "peak that RL won back, with the paired 95% interval (wide where the start had lost little OOD since the "
             "peak: the share divides by that loss). The last three columns: OOD first attempts at the "
             "peak → the end that give a face card the value 10 (the rule not read), and the verifier's wrong value "
             "and wrong numbers (the arithmetic)."]
    if stale:
        notes.append(f"†: made by other code than today's ({', '.join(stale)}); rerun make study.")
    return Table.from_rows(body, columns, headers=headers,
                           formats={k: str for k in ("size", "ood", "recovery", "face", "value", "numbers")}
                           | {"verdict": marked},
                           missing="no start after the OOD peak had OOD to recover", notes=notes)
