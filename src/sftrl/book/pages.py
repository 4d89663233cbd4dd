"""What a page quotes: gluing numbers and verdicts in a notebook, reading them back after.

A figure notebook ends with one :func:`glue_all` call: every number its prose quotes as
``{glue:text}`name``` and every verdict of its claims. Tests and the glue comparison of two
builds read the same values back with :func:`glued_values`.

Usage (last cell of a notebook): ``pages.glue_all({"peak_step": d.peak.step}, verdicts)``
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def glued_values(nb) -> dict[str, object]:
    """Every value an executed notebook glued (``myst_nb.glue``), parsed back from text.

    Tests and the claims page read a page's numbers this way, exactly as the prose shows them.
    """
    out: dict[str, object] = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                text = o["data"]["application/papermill.record/text/plain"]
                try:
                    out[name] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    out[name] = float(text) if text == "nan" else text
    return out


def quoted_glue_names(nb) -> set[str]:
    """The names a notebook's prose quotes, as a role (``{glue:text}`name```,
    ``{glue:md}`name```; format specs dropped) or as a ``{glue:md}`` block: each must be
    among :func:`glued_values` for the page to build."""
    pattern = r"\{glue:(?:text|md)\}`([^`]+)`|```\{glue:md\}\s+(\S+)"
    return {(role or block).split(":")[0] for cell in nb.cells if cell.cell_type == "markdown"
            for role, block in re.findall(pattern, cell.source)}


def _myst_text(text: str) -> str:
    """``text`` with MyST's markup characters escaped, so a number or a formula prints as written."""
    return re.sub(r"([\\`*_\[\]{}<>#|])", r"\\\1", text)


class VerdictBlock:
    """A verdict as a page shows it: a badge and the claim's statement, with the numbers and
    the rule folded in a dropdown (MyST, sphinx-design). Its plain text is the verdict's
    sentence, so :func:`glued_values` reads back what it always did.

    In a notebook's prose: a ``{glue:md}`` block with ``:format: myst``, after
    :func:`glue_verdicts`."""

    def __init__(self, verdict: Any) -> None:
        self.verdict = verdict

    def _repr_markdown_(self) -> str:
        v = self.verdict
        from sftrl.book.tables import badge_colour, marked

        badge = badge_colour(v.verdict)
        reason = v.reason[:1].upper() + v.reason[1:]
        return (f":::{{dropdown}} {{bdg-{badge}}}`{marked(v.verdict)}` {_myst_text(v.statement)}\n"
                f":class-container: sftrl-verdict\n\n"
                f"**Our numbers.** {_myst_text(reason)}.\n\n**Rule.** {_myst_text(v.rule)}\n:::\n")

    def __repr__(self) -> str:
        return self.verdict.sentence


def glue_verdicts(verdicts: Any) -> None:
    """In a notebook: glue each verdict (a mapping claim -> :class:`sftrl.claims.rules.Verdict`)
    as ``verdict_<claim>`` (a :class:`VerdictBlock`; its text is the verdict's sentence) and
    ``verdict_<claim>_short`` (its one word)."""
    from myst_nb import glue

    for claim, verdict in verdicts.items():
        glue(f"verdict_{claim}", VerdictBlock(verdict), display=False)
        glue(f"verdict_{claim}_short", verdict.verdict, display=False)


def glue_all(values: Mapping[str, Any], verdicts: Iterable[Any] = ()) -> None:
    """In a notebook: glue every ``name: value`` (numbers as numbers, so the prose may
    format them) and every verdict (:func:`glue_verdicts`), none of them displayed."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)
    glue_verdicts({v.claim: v for v in verdicts})


def glue_diff(a: Path, b: Path) -> list[str]:
    """Every difference between the glued values of two builds' executed notebooks.

    ``a`` and ``b`` are folders holding executed ``NAME.ipynb`` files (``_build/book/figures``
    of a build). One line per page missing from either side, per name glued on one side
    only, and per name whose value differs; an empty list when every page agrees.
    """
    import nbformat

    def values(folder: Path) -> dict[str, dict[str, object]]:
        return {f.stem: glued_values(nbformat.read(f, as_version=4)) for f in sorted(Path(folder).glob("*.ipynb"))}

    va, vb = values(a), values(b)
    out = [f"{page}: only in {a if page in va else b}" for page in sorted(set(va) ^ set(vb))]
    for page in sorted(set(va) & set(vb)):
        x, y = va[page], vb[page]
        out += [f"{page}: {name} glued only in {a if name in x else b}" for name in sorted(set(x) ^ set(y))]
        out += [f"{page}: {name}: {x[name]!r} != {y[name]!r}" for name in sorted(set(x) & set(y))
                if x[name] != y[name] and not (x[name] != x[name] and y[name] != y[name])]  # nan == nan here
    return out
