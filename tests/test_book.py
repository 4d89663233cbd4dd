"""The book pipeline: the notebook executor (sftrl.book.execute), the task chapter's glued numbers
(checked against an independent brute force), and the Makefile's build of the smoke book
(no-change rebuilds, `make figure` overrides and their reset)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import nbformat
import pytest

from sftrl.book.pages import glued_values
from sftrl.book import pages, tables
from sftrl import paths
from sftrl.book import execute as book
from sftrl.errors import SftrlError

ROOT = paths.ROOT

# papermill / jupyter_client / zmq deprecations that do not concern this project
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:traitlets.*", "ignore::DeprecationWarning:nbclient.*"
)


def _make_env(data: Path) -> dict[str, str]:
    """The environment for a nested `make`: no jobserver flags from an outer make; generated
    data (the solver's cache) in a temporary folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(SFTRL_DATA=str(data), OMP_NUM_THREADS="1")
    return env


def _make(*args: str, data: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, env=_make_env(data),
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode:
        raise AssertionError(f"make {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


_glued = glued_values


# --------------------------------------------------------------------------- names and parameters


def test_make_and_python_read_the_same_notebook_list_from_the_toc():
    proc = subprocess.run(["make", "-s", "--no-print-directory", "list-notebooks"], cwd=ROOT,
                          env=_make_env(ROOT / "data"), capture_output=True, text=True, check=True)
    from_make = proc.stdout.split()
    assert from_make == book.toc_notebooks()
    assert "00_the_task" in from_make
    for name in from_make:  # every toc entry has a notebook source
        assert (paths.NOTEBOOKS / f"{name}.py").is_file()


def test_toc_notebooks_reads_nested_parts(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n"
        "      - file: figures/01_x\n      - file: methods\n        sections:\n"
        "          - file: figures/02_y.ipynb\n"
    )
    assert book.toc_notebooks(toc) == ["01_x", "02_y"]


@pytest.mark.parametrize("text", ["3", "-2", "0.5", "1e3", "True", "False", "None", "abc", "3x", ""])
def test_resolve_value_types_like_papermills_cli(text):
    from papermill.cli import _resolve_type  # the reference: what `papermill -p` does

    got, expected = book.resolve_value(text), _resolve_type(text)
    assert got == expected and type(got) is type(expected)


def test_unknown_notebook_is_refused_with_the_valid_names(tmp_path, capsys):
    out = tmp_path / "x.ipynb"
    assert book.main(["run", "no_such_notebook", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no_such_notebook" in err and "00_the_task" in err
    assert not out.exists()


def test_unknown_parameter_is_refused_before_any_kernel_starts(tmp_path, capsys):
    out = tmp_path / "x.ipynb"
    start = time.monotonic()
    assert book.main(["run", "00_the_task", "--out", str(out), "-p", "sed", "7"]) == 2
    err = capsys.readouterr().err
    assert "'sed'" in err and "seed" in err and "n_examples" in err
    assert not out.exists() and not list(tmp_path.iterdir())
    assert time.monotonic() - start < 10  # no kernel was started


def test_path_like_notebook_name_is_refused():
    with pytest.raises(SftrlError, match="unknown notebook"):
        book.notebook_source("../src/sftrl/book")


def test_help_notebook_prints_each_parameter_with_type_default_and_meaning(capsys):
    assert book.main(["--help-notebook", "00_the_task"]) == 0
    text = capsys.readouterr().out
    assert 'profile: str (default "cpu")' in text
    assert "seed: int (default 42)" in text
    assert "n_examples: int (default 4)  example hands" in text


def test_overrides_report_only_values_that_differ_from_the_defaults():
    declared = book.notebook_parameters("00_the_task")
    assert book.overrides({"seed": 42, "profile": "cpu"}, declared) == {}
    assert book.overrides({"seed": 7, "profile": "cpu"}, declared) == {"seed": 7}
    assert book.overrides({"seed": 42.0}, declared) == {"seed": 42.0}  # a float is not the int default


# --------------------------------------------------------------------------- execution


def _tiny_notebook(*code: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n: int = 1  # a number")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny"), params, *(nbformat.v4.new_code_cell(c) for c in code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.mark.slow
def test_glue_verdicts_glues_each_verdict_block_and_word(monkeypatch):
    import myst_nb

    from sftrl.claims.rules import Verdict

    got = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: got.append((name, value, display)))
    v = Verdict(claim="ood_rise_and_decline", statement="s", verdict="reproduced", reason="r", rule="rule")
    pages.glue_verdicts({v.claim: v})
    (name, block, shown), short = got
    assert (name, shown, short) == ("verdict_ood_rise_and_decline", False,
                                    ("verdict_ood_rise_and_decline_short", "reproduced", False))
    assert isinstance(block, pages.VerdictBlock) and repr(block) == v.sentence  # what glued_values reads


def test_a_verdict_shows_as_a_badge_and_its_claim_with_numbers_and_rule_folded():
    from sftrl.claims.rules import Verdict

    v = Verdict(claim="c", statement="OOD *peaks* [early]", verdict="not reproduced",
                reason="peak 42% [38, 46] at step 300, |Δσ|/σ_max 0.1", rule="differ when > 2 half-widths")
    md = pages.VerdictBlock(v)._repr_markdown_()
    first, *body = md.splitlines()
    assert first == r":::{dropdown} {bdg-danger}`✗ not reproduced` OOD \*peaks\* \[early\]"
    assert body[0] == ":class-container: sftrl-verdict" and body[-1] == ":::"
    assert r"**Our numbers.** Peak 42% \[38, 46\] at step 300, \|Δσ\|/σ\_max 0.1." in body
    assert "**Rule.** differ when \\> 2 half-widths" in body
    for verdict, (sign, colour) in tables.VERDICT_STYLE.items():  # every verdict has its own look
        other = Verdict(claim="c", statement="s", verdict=verdict, reason="r", rule="x")
        assert pages.VerdictBlock(other)._repr_markdown_().startswith(f":::{{dropdown}} {{bdg-{colour}}}`{sign} ")
    assert len({style for style in tables.VERDICT_STYLE.values()}) == len(tables.VERDICT_STYLE)


def test_quoted_glue_names_reads_roles_and_md_blocks():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "A {glue:text}`peak:.1f` and {glue:md}`note`.\n\n```{glue:md} verdict_x\n:format: myst\n```\n")])
    assert pages.quoted_glue_names(nb) == {"peak", "note", "verdict_x"}


def test_the_scoreboard_counts_each_papers_verdicts_and_links_each_claim_to_its_page():
    from sftrl.claims.scoreboard import ClaimRow

    def row(key, paper, verdict, page):
        return ClaimRow(key=key, paper=paper, figure=f"Figure {page[1]}", page=page, statement=f"claim <{key}>",
                        paper_value="", ours="", verdict=verdict, rule="")

    rows = [row("a", "A", "reproduced", "01_x"), row("b", "A", "mixed across seeds", "02_y"),
            row("c", "B", "not reproduced", "06_z")]
    html = tables.Scoreboard(rows)._repr_html_()
    assert "Of paper A&#x27;s 2 claims, 1 reproduced, 0 partly, 0 not reproduced and 1 mixed across seeds." in html
    assert "Of paper B&#x27;s 1 claims, 0 reproduced, 0 partly and 1 not reproduced." in html
    assert html.count("<li>") == 3 and 'href="figures/01_x.html">Figure 1</a>' in html
    assert "claim &lt;a&gt;" in html and "sd-bg-info" in html and "± mixed across seeds" in html


def test_every_code_line_of_the_book_fits_the_page():
    """88 characters fit the content column (book/_static/sftrl.css; `make check-site`
    measures it): code cells and the fenced code of the prose, notebooks and pages alike."""
    import jupytext

    long = []
    sources = [(f, jupytext.read(f).cells) for f in sorted((paths.ROOT / "notebooks").glob("*.py"))]
    sources += [(f, [nbformat.v4.new_markdown_cell(f.read_text())]) for f in sorted((paths.ROOT / "book").glob("*.md"))]
    for f, cells in sources:
        for c in cells:
            fenced = False
            for line in c.source.splitlines():
                if c.cell_type == "markdown" and line.lstrip().startswith("```"):
                    fenced = not fenced
                    continue
                if (c.cell_type == "code" or fenced) and len(line) > 88:
                    long.append(f"{f.name}: {len(line)}: {line[:60]}")
    assert long == []


def test_whole_book_settings_reach_only_the_notebooks_that_declare_them(tmp_path, monkeypatch):
    from sftrl.training import train

    seen = {}
    monkeypatch.setattr(book, "execute", lambda nb, out, given, name, changed: seen.__setitem__(name, given))
    monkeypatch.setattr(train, "check_base", lambda cfg: None)  # "some/model" is never reached here
    book.run("00_the_task", tmp_path / "a.ipynb", profile="smoke", model_base="some/model")
    assert seen["00_the_task"] == {"profile": "smoke"}  # the task page trains nothing
    book.run("02_singular_value_stability", tmp_path / "b.ipynb", profile="gpu", model_base="some/model")
    assert seen["02_singular_value_stability"] == {"profile": "gpu", "model_base": "some/model"}
    book.run("01_ood_peak_and_decline", tmp_path / "c.ipynb", profile="gpu", model_base="some/model",
             params={"model_base": "other/model"})
    assert seen["01_ood_peak_and_decline"]["model_base"] == "other/model"  # an explicit -p wins
    book.run("10_reproduce", tmp_path / "d.ipynb", profile="gpu", model_base="some/model")
    assert seen["10_reproduce"] == {}
    # every page that runs the pipeline can be pointed at another model
    for name in book.toc_notebooks():
        declared = book.notebook_parameters(name)
        if "profile" in declared and name != "00_the_task":
            assert "model_base" in declared, name


@pytest.mark.slow  # starts a Jupyter kernel (papermill), as the failing-notebook tests below
def test_execute_uses_this_venvs_python_hides_the_injected_cell_and_notes_overrides(tmp_path):
    out = tmp_path / "figures" / "tiny.ipynb"
    nb = _tiny_notebook("import sys\nprint(sys.executable, n * 2)")
    book.execute(nb, out, {"n": 21}, name="tiny", changed={"n": 21})
    result = nbformat.read(out, as_version=4)
    printed = result.cells[-1].outputs[0]["text"]
    assert printed.split() == [sys.executable, "42"]  # the venv's interpreter ran it, with n=21
    injected = [c for c in result.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"]
    notes = [c for c in result.cells if book.OVERRIDE_TAG in c.metadata.get("tags", [])]
    assert len(notes) == 1 and "`n = 21`" in notes[0].source
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.ipynb"]  # no temporary left


@pytest.mark.slow
@pytest.mark.parametrize(
    "code, reason",
    [
        ("raise ValueError('boom')", "ValueError: boom"),
        ("import sys\nprint('careful', file=sys.stderr)", "stderr"),
        ("import warnings\nwarnings.warn('odd', UserWarning)", "stderr"),
        ("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.figure()", "<Figure size"),
    ],
)
def test_a_failing_or_noisy_notebook_never_replaces_the_output(tmp_path, code, reason):
    out = tmp_path / "noisy.ipynb"
    out.write_text("previous good result")
    with pytest.raises(book.NotebookError, match=reason.replace("(", r"\(")):
        book.execute(_tiny_notebook(code), out, {}, name="noisy")
    assert out.read_text() == "previous good result"  # Make still sees the old, complete file
    assert (tmp_path / "noisy.failed.ipynb").is_file()  # kept for inspection
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy.failed.ipynb", "noisy.ipynb"]


# --------------------------------------------------------------------------- the task chapter


@lru_cache(maxsize=None)
def _reachable(values: tuple[int, ...]) -> frozenset[Fraction]:
    """Independent brute force: every value of every formula over the sorted ``values``."""
    if len(values) == 1:
        return frozenset({Fraction(values[0])})
    out = set()
    n = len(values)
    for mask in range(1, (1 << n) - 1):
        left = tuple(sorted(values[i] for i in range(n) if mask >> i & 1))
        right = tuple(sorted(values[i] for i in range(n) if not mask >> i & 1))
        for a in _reachable(left):
            for b in _reachable(right):
                out.update((a + b, a - b, a * b))
                if b:
                    out.add(a / b)
    return frozenset(out)


def _solvable(values) -> bool:
    return Fraction(24) in _reachable(tuple(sorted(values)))


@pytest.mark.slow
def test_task_notebook_glues_the_numbers_an_independent_count_gives(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTRL_DATA", str(tmp_path / "data"))  # the kernel inherits it
    out = tmp_path / "00_the_task.ipynb"
    book.run("00_the_task", out, profile="smoke")
    nb = nbformat.read(out, as_version=4)
    glued = _glued(nb)

    # every {glue:text}`key` the prose quotes was glued
    quoted = pages.quoted_glue_names(nb)
    assert quoted and quoted <= set(glued), quoted - set(glued)

    ranks = ["A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"]
    id_value = {r: min(i + 1, 10) for i, r in enumerate(ranks)}
    ood_value = {r: i + 1 for i, r in enumerate(ranks)}
    hands = list(itertools.combinations_with_replacement(ranks, 4))
    face = [h for h in hands if set(h) & {"J", "Q", "K"}]
    id_ok = {h: _solvable([id_value[c] for c in h]) for h in hands}
    ood_ok = {h: _solvable([ood_value[c] for c in h]) for h in face}
    id_sets = list(itertools.combinations_with_replacement(range(1, 11), 4))
    all_sets = list(itertools.combinations_with_replacement(range(1, 14), 4))
    both = sum(1 for h in face if id_ok[h] and ood_ok[h])
    expected = {
        "n_hands": 1820,
        "n_face_hands": len(face),
        "n_id_value_sets": len(id_sets),
        "n_id_value_sets_solvable": sum(map(_solvable, id_sets)),
        "n_ood_value_sets": len(all_sets),
        "n_ood_value_sets_solvable": sum(map(_solvable, all_sets)),
        "n_id_solvable": sum(id_ok.values()),
        "n_face_id_solvable": sum(id_ok[h] for h in face),
        "n_face_ood_solvable": sum(ood_ok.values()),
        "n_face_both": both,
        "n_face_id_only": sum(id_ok[h] for h in face) - both,
        "n_face_ood_only": sum(ood_ok.values()) - both,
        # a rule-blind answer (faces read as 10) always has the wrong numbers under OOD
        "n_blind_correct": 0,
        "n_blind_wrong_numbers": both,
        "n_blind_no_answer": sum(ood_ok.values()) - both,
        "seed": 42,
        "float_value_8338": 8 / (3 - 8 / 3),
    }
    for key, value in expected.items():
        assert glued[key] == value, key
    assert glued["pct_id_solvable"] == pytest.approx(100 * sum(id_ok.values()) / 1820)
    assert glued["float_value_8338"] != 24  # the float check's false negative the prose cites


# --------------------------------------------------------------------------- the build


def _page_text(page: Path) -> str:
    """The page's text with tags removed and whitespace collapsed (entities decoded)."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())).split()).replace(" ,", ",")


@pytest.mark.slow
def test_smoke_book_builds_rebuilds_nothing_when_unchanged_and_figure_overrides_reset(smoke_book):
    executed = smoke_book.build / "book" / "figures" / "00_the_task.ipynb"
    page = smoke_book.site / "figures" / "00_the_task.html"
    data = smoke_book.data
    assert page.is_file() and (smoke_book.site / "intro.html").is_file()
    text = _page_text(page)
    assert "There are 1,820 distinct hands" in text  # a glued number, formatted by the prose
    assert "# Parameters" not in text  # papermill's injected cell is not on the page
    assert '# "smoke", "chat-smoke", "cpu", "gpu"' in text  # the parameters cell is, with meanings

    # nothing changed: nothing re-executes, the site is not rebuilt, and it is quick
    before = (executed.stat().st_mtime_ns, page.stat().st_mtime_ns)
    start = time.monotonic()
    proc = _make("smoke-book", data=data)
    assert time.monotonic() - start < 10
    assert "sftrl.book run" not in proc.stdout and "jupyter-book build" not in proc.stdout
    assert (executed.stat().st_mtime_ns, page.stat().st_mtime_ns) == before

    # a new committed record (here: the benchmark snapshot the Reproduce page quotes, made
    # newer with make's what-if, which touches nothing) re-executes the pages
    proc = _make("book", "PROFILE=smoke", "-W", "bench/results/book.json", data=data)
    assert "sftrl.book run 10_reproduce" in proc.stdout
    proc = _make("smoke-book", data=data)
    assert "sftrl.book run" not in proc.stdout

    # one figure with an override: only that notebook re-executes, the page says so
    proc = _make("figure", "NB=00_the_task", "ARGS=-p n_examples 2", "PROFILE=smoke", data=data)
    assert "-p n_examples 2" in proc.stdout
    nb = nbformat.read(executed, as_version=4)
    assert nb.metadata["papermill"]["parameters"] == {"n_examples": 2, "profile": "smoke"}
    assert "executed with n_examples = 2, profile = 'smoke', overriding the defaults" in _page_text(page)

    # a plain build restores the defaults (the parameter stamp differs)
    proc = _make("smoke-book", data=data)
    assert "sftrl.book run 00_the_task" in proc.stdout and "-p n_examples" not in proc.stdout
    nb = nbformat.read(executed, as_version=4)
    assert nb.metadata["papermill"]["parameters"] == {"profile": "smoke"}
    assert "n_examples = 2" not in _page_text(page)

    # bad requests fail clearly, before anything runs
    proc = _make("figure", "NB=nope", "PROFILE=smoke", data=data, check=False)
    assert proc.returncode != 0 and "unknown notebook 'nope'" in proc.stderr and "00_the_task" in proc.stderr
