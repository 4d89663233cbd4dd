"""One validation step: a bad setting gets one error naming it, its value and what is
allowed, from every entry point (the library, ``python -m sftrl train --set``, a notebook's
``-p``), before any model is loaded or any run folder is made."""

from __future__ import annotations

import re

import pytest

from sftrl import cli, config, paths
from sftrl.book import execute
from sftrl.errors import SftrlError

#: (setting, bad value as a command line gives it, what the error must say)
BAD_RUN_SETTINGS = [
    ("sft_steps", "-5", r"sft_steps=-5: must be an integer >= 1"),
    ("sft_lr", "0", r"sft_lr=0.0: must be a number > 0"),
    ("rl_steps", "0", r"rl_steps=0: must be an integer >= 1"),
    ("rl_num_generations", "1", r"rl_num_generations=1: must be an integer >= 2"),
    ("rl_temperature", "0", r"rl_temperature=0.0: must be a number > 0"),
    ("eval_attempts", "11", r"eval_attempts=11: must be an integer in \[1, 10\]"),
    ("eval_temperature", "nan", r"eval_temperature=nan: must be a number >= 0"),
    ("eval_feedback", "loud", r"eval_feedback='loud' is not allowed; choose one of verifier, bare"),
    ("rl_grad_mask_alpha", "1.5", r"rl_grad_mask_alpha=1.5: must be a number in \(0, 1\]"),
    ("pretrain_strict_fraction", "-0.1", r"pretrain_strict_fraction=-0.1: must be a number in \[0, 1\]"),
    ("sft_checkpoints", "0,10", r"sft_checkpoints=\(0, 10\): every item must be an integer >= 1"),
    ("rl_from_steps", "20,55", r"rl_from_steps=\(20, 55\): must be kept SFT steps.*\[55\] are not"),
    ("rl_main_from", "15", r"rl_main_from=15: must be -1 \(the end of SFT\) or kept SFT steps"),
    ("rl_seeds", "0", r"rl_seeds=0: must be an integer >= 1"),
    ("device", "tpu", r"device='tpu' is not allowed"),
    ("model_dtype", "int8", r"model_dtype='int8' is not allowed; choose one of float32, bfloat16"),
    ("eval_require_strict", "ture", r"eval_require_strict='ture' is not a valid bool"),  # not silently False
    ("gradient_checkpointing", "on?", r"gradient_checkpointing='on\?' is not a valid bool"),
]

#: (notebook, parameter, bad value, what the error must say): the pages' analysis settings
BAD_PAGE_SETTINGS = [
    ("02_singular_value_stability", "k_frac", 0.0, r"k_frac=0.0: must be a number in \(0, 1\]"),
    ("02_singular_value_stability", "kinds", "q,qq", r"unknown matrix kind 'qq'"),
    ("02_singular_value_stability", "swap_fractions", "0.2,1.5", r"swap_fractions=\(0.2, 1.5\): every item"),
    ("04_restoration", "fractions", "0,x", r"fractions='0,x': give comma-separated numbers"),
    ("04_restoration", "layer_op", "flip", r"layer_op='flip' is not allowed; choose one of swap, restore"),
    ("04_restoration", "layer_blocks", "Q5", r"layer_blocks='Q5': unknown block\(s\) \['Q5'\]"),
    ("06_rlvr_stripe_masks", "alpha", 1.0, r"alpha=1.0: must be a number in \(0, 1\)"),
    ("06_rlvr_stripe_masks", "study_dtype", "int8", r"study_dtype='int8' is not allowed"),
    ("07_geometry_and_probe", "eta", -1.0, r"eta=-1.0: must be a number >= 0"),
    ("07_geometry_and_probe", "start_step", 15, r"start_step=15: must be -1 .* or kept SFT steps"),
    ("07_geometry_and_probe", "probe_steps", 0, r"probe_steps=0: must be an integer >= 1"),
    ("07_geometry_and_probe", "length_from", "disk", r"length_from='disk' is not allowed; choose one of log, run"),
]


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Runs go to an empty folder, and loading a model or starting a kernel fails the test."""
    monkeypatch.setattr(paths, "RUNS", tmp_path / "runs")
    from sftrl.training import model

    def forbidden(*_a, **_k):
        raise AssertionError("work started before the settings were checked")

    monkeypatch.setattr(model, "load_model", forbidden)
    monkeypatch.setattr(model, "build_model", forbidden)
    monkeypatch.setattr(execute, "execute", forbidden)
    return tmp_path / "runs"


@pytest.mark.parametrize("name,value,message", BAD_RUN_SETTINGS)
def test_a_bad_run_setting_is_refused_alike_by_the_library(name, value, message):
    with pytest.raises(SftrlError, match=message):
        config.profile("smoke", **{name: value})


@pytest.mark.parametrize("name,value,message", BAD_RUN_SETTINGS)
def test_a_bad_run_setting_is_refused_alike_by_the_command_line(name, value, message, no_work, capsys):
    assert cli.main(["train", "sft", "--profile", "smoke", "--set", f"{name}={value}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ")
    assert re.search(message, err), err
    assert not no_work.exists()  # no run folder was made


#: the run settings Figure 1's page takes as parameters
PAGE_RUN_SETTINGS = ("sft_steps", "sft_lr", "rl_steps", "eval_attempts", "rl_from_steps", "rl_seeds")


@pytest.mark.parametrize("name,value,message", [b for b in BAD_RUN_SETTINGS if b[0] in PAGE_RUN_SETTINGS])
def test_a_bad_run_setting_is_refused_alike_by_a_notebook(name, value, message, no_work, tmp_path):
    assert name in execute.notebook_parameters("01_ood_peak_and_decline")
    with pytest.raises(SftrlError, match=message):
        execute.run("01_ood_peak_and_decline", tmp_path / "out.ipynb", profile="smoke",
                    params={name: execute.resolve_value(value)})
    assert not no_work.exists()


def test_every_notebook_parameter_that_is_a_run_setting_reaches_the_one_validation(no_work, tmp_path):
    """The page's -p sft_steps -5 fails on sft_steps itself, not later on rl_from_steps."""
    with pytest.raises(SftrlError, match=r"^sft_steps=-5: must be an integer >= 1$"):
        execute.run("01_ood_peak_and_decline", tmp_path / "out.ipynb", profile="smoke", params={"sft_steps": -5})


@pytest.mark.parametrize("notebook,name,value,message", BAD_PAGE_SETTINGS)
def test_a_bad_page_setting_is_refused_before_a_kernel_starts(notebook, name, value, message, no_work, tmp_path):
    with pytest.raises(SftrlError, match=message):
        execute.run(notebook, tmp_path / "out.ipynb", profile="smoke", params={name: value})


def test_good_settings_pass_and_every_rule_names_a_real_setting():
    config.profile("smoke", sft_steps="20", rl_from_steps="10,20", eval_attempts="1", device="cuda:1")
    assert set(config.RULES) == set(config.override_names())  # every setting has its rule
    page_params = {p for nb in execute.notebook_names() for p in execute.notebook_parameters(nb)}
    assert set(config.ANALYSIS_RULES) <= page_params  # no rule for a parameter that no page has


def test_the_library_functions_apply_the_same_rules():
    from sftrl.experiments import masks_study
    from sftrl.weights import spectral

    for call, message in ((lambda: spectral.check_k_frac(1.2), r"k_frac=1.2: must be a number in \(0, 1\]"),
                          (lambda: masks_study.check_settings(None, 0.0, 0.2), r"alpha=0.0"),
                          (lambda: masks_study.check_settings(-1.0, 0.1, 0.2), r"eta=-1.0")):
        with pytest.raises(SftrlError, match=message):
            call()
