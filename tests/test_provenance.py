"""Cache keys follow the code: a digest of the source a stage runs, blind to comments and
docstrings, sensitive to any statement; and what a committed log records about its maker."""

from __future__ import annotations

import shutil

import pytest

from sftrl import provenance
from sftrl.evaluation import checkpoint
from sftrl.training import train
from sftrl import config


@pytest.fixture
def package(tmp_path):
    """A copy of the package's source to edit."""
    return shutil.copytree(provenance.PACKAGE_ROOT, tmp_path / "sftrl", ignore=shutil.ignore_patterns("__pycache__"))


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_changed_function_body_changes_the_key_and_a_comment_does_not(package):
    stage = "sftrl.evaluation.checkpoint"
    before = provenance.code_digest(stage, root=package)
    assert provenance.code_digest(stage, root=package) == before  # stable
    verifier = package / "task" / "verifier.py"  # imported by the stage, two modules away
    _edit(verifier, '"""', '"""A docstring edit: the code is the same.\n\n')
    text = verifier.read_text()
    verifier.write_text("# a comment added at the top\n" + text.replace("\n\n\n", "\n\n\n# and one between\n", 1))
    assert provenance.code_digest(stage, root=package) == before
    text = verifier.read_text()
    i = text.index("\ndef ")  # the first function: one more statement in its body
    j = text.index(":\n", text.index(")", i)) + 2
    verifier.write_text(text[:j] + "    _ = 0\n" + text[j:])
    assert provenance.code_digest(stage, root=package) != before


def test_a_configuration_fields_docstring_is_not_code(package):
    stage = "sftrl.training.train"
    before = provenance.code_digest(stage, root=package)
    cfg = package / "config.py"  # a field's docstring is a bare string below it, not the class's first line
    _edit(cfg, '    """Optimizer steps."""', '    """Optimizer steps (a reworded field docstring)."""')
    assert provenance.code_digest(stage, root=package) == before
    _edit(cfg, "    steps: int = 50\n", "    steps: int = 51\n")  # the default itself is code
    assert provenance.code_digest(stage, root=package) != before


def test_a_change_reaches_every_stage_that_runs_the_code_and_no_other(package):
    stages = ("sftrl.training.train", "sftrl.evaluation.checkpoint", "sftrl.task.game", "sftrl.weights.spectral")
    before = {s: provenance.code_digest(s, root=package) for s in stages}
    text = (package / "task" / "corpus.py").read_text()
    (package / "task" / "corpus.py").write_text(text + "\nEXTRA = 1\n")
    after = {s: provenance.code_digest(s, root=package) for s in stages}
    changed = {s for s in stages if after[s] != before[s]}
    assert changed == {"sftrl.training.train", "sftrl.evaluation.checkpoint"}  # the solver and SVDs do not read it


def test_closures_follow_imports_inside_functions_and_relative_ones():
    closure = provenance.module_closure("sftrl.training.train")
    assert {"sftrl.training.rollout", "sftrl.training.model", "sftrl.task.verifier", "sftrl.config"} <= set(closure)
    assert "sftrl.book.execute" not in closure and "sftrl.claims.rules" not in closure


def test_run_and_evaluation_keys_carry_the_code_and_the_packages():
    cfg = config.profile("smoke")
    run = train.sft_run(cfg, start="some/hub-model")
    assert run.config["code"] == provenance.code_digest("sftrl.training.train")
    assert set(run.config["packages"]) == {"torch", "transformers", "trl"}
    assert len(checkpoint.eval_key(cfg)) == 12


def test_a_record_names_the_code_the_packages_and_the_processor():
    r = provenance.record("sftrl.training.train")
    assert r["code"] == provenance.code_digest("sftrl.training.train")
    assert r["processor"] and r["torch"] and r["transformers"] and r["trl"] and r["python"]
