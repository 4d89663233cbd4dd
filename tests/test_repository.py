"""The repository as a newcomer meets it: a licence, a citation file that agrees with the
book's bibliography, and a README that opens with the result and the two commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _bib_entries() -> dict[str, dict[str, str]]:
    """book/references.bib by arXiv id: {eprint: {field: value}} (the bibliography pages cite)."""
    text = (ROOT / "book" / "references.bib").read_text()
    out = {}
    for body in re.split(r"\n@\w+\{", text)[1:]:
        entry = {k.lower(): v for k, v in re.findall(r"(\w+)\s*=\s*\{(.*)\},?\s*$", body, flags=re.M)}
        if "eprint" in entry:
            out[entry["eprint"]] = entry
    return out


def _plain(text: str) -> str:
    return re.sub(r"[{}\\]", "", text).strip()


def test_the_licence_file_is_the_licence_pyproject_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    licence = (ROOT / "LICENSE").read_text()
    assert declared == "MIT" and licence.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in licence


def test_the_citation_file_cites_the_project_and_every_paper_of_the_bibliography():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == project["version"] and cff["license"] == project["license"]["text"]
    bib = _bib_entries()
    cited = {}
    for ref in cff["references"]:
        (ident,) = [i["value"] for i in ref["identifiers"] if i["value"].startswith("arXiv:")]
        cited[ident.removeprefix("arXiv:")] = ref
    # the two papers the book reproduces (paper A in both versions, paper B) and the task's source
    for eprint in ("2508.16546", "2509.12235", "2511.08567", "2501.17161"):
        assert eprint in cited, f"CITATION.cff does not cite arXiv:{eprint}"
    for eprint, ref in cited.items():
        entry = bib[eprint]  # each reference is an entry of the book's bibliography ...
        assert ref["title"] == _plain(entry["title"])  # ... with its title
        families = [a.split(",")[0].strip() for a in _plain(entry["author"]).split(" and ")]
        assert [a["family-names"] for a in ref["authors"]] == families  # ... and its authors, in order
        assert str(ref["year"]) == entry["year"] and ref["url"] == entry["url"]
