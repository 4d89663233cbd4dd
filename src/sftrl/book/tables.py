"""Tables as the book renders them: HTML in a notebook, Markdown or plain text elsewhere.

Every table on a page goes through :class:`Table`. The claims page's two tables are built
here from :mod:`sftrl.claims.scoreboard` rows.

Usage: ``Table(["claim", "verdict"], [["OOD peaks", "reproduced"]], notes=["..."])``
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sftrl.claims.registry import PAPERS
from sftrl.errors import SftrlError

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

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                  **kwargs: Any) -> Table:
        """A table of dict rows (``columns``: which keys, in order; default the first row's),
        numbers to three significant digits and a missing or NaN value as "—"."""
        cols = list(columns if columns is not None else (rows[0] if rows else {}))
        return cls(cols, [[cell(r.get(c)) for c in cols] for r in rows], **kwargs)

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        notes = "".join(f"<p><small>{esc(n)}</small></p>" for n in self.notes)
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


def verdict_table(verdicts: Sequence[Verdict]) -> Table:
    """Each claim, its verdict, the numbers it was decided on, and the rule (a figure page's last table)."""
    rows = [[v.statement, v.verdict, v.reason, v.rule] for v in verdicts]
    return Table(["claim", "verdict", "our numbers", "rule"], rows)


def cell(x: Any) -> str:
    """One value as a table cell: a float to three significant digits, NaN or None as "—"."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
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
