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


def test_the_readme_opens_with_the_scoreboard_and_the_two_commands():
    text = (ROOT / "README.md").read_text()
    scoreboard, setup = text.index("## Did it reproduce?"), text.index("## Set-up: two commands")
    assert scoreboard < setup < text.index("## Rerunning one figure")
    assert "make book" in text[setup:] and "make test" in text[setup:]


def test_the_readme_quotes_what_the_committed_study_log_renders():
    from sftrl.book import readme

    assert readme.is_stale() == [], "run `make readme`"
    block = readme.current_block((ROOT / "README.md").read_text())
    for row in readme.seed_rows(readme.read_log()):  # every seed row's verdict is on the page
        assert f"SFT seed {row['sft_seed']}" in block
        assert row["made_by"]["commit"][:7] in block


def test_a_changed_log_makes_the_readme_stale_until_rewritten(tmp_path):
    import json

    from sftrl.book import readme

    log = json.loads((ROOT / "book" / "study" / "tried.json").read_text())
    page, figure = tmp_path / "README.md", tmp_path / "rl_window.png"
    page.write_text((ROOT / "README.md").read_text())
    readme.draw_rl_window(log, figure)
    assert readme.is_stale(log, page, figure) == []
    row = readme.seed_rows(log)[0]
    row["verdicts"]["ood_rise_and_decline"]["verdict"] = "partly"
    row["rl"][0]["ood_start"] += 1.0
    assert len(readme.is_stale(log, page, figure)) == 2  # the block and the figure both disagree
    readme.write(log, page, figure)
    assert readme.is_stale(log, page, figure) == []
    assert "◐ partly" in readme.current_block(page.read_text())
