"""Figure 1's quantities (sftrl.experiments.figure1) and its notebook, executed in the smoke profile."""

from __future__ import annotations

from types import SimpleNamespace

import math
import time

import nbformat
import pytest

from sftrl.book.pages import glued_values
from sftrl.book import pages
from sftrl import config
from sftrl.book import execute as book
from sftrl.claims import rules as claims
from sftrl.experiments import figure1 as study
from sftrl.experiments import size_study
from sftrl.errors import SftrlError

NOTEBOOK = "01_ood_peak_and_decline"


def _rows(ood: dict[int, float], idd: dict[int, float]) -> list[dict]:
    return [{"step": s, "split": split, "accuracy": acc}
            for s in sorted(ood) for split, acc in (("id", idd[s]), ("ood", ood[s]))]


# --------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(("rl", "start", "peak", "expected"), [
    (0.3, 0.1, 0.5, 0.5),  # half of the 40 lost points won back
    (0.5, 0.1, 0.5, 1.0),  # all of them
    (0.6, 0.1, 0.5, 1.25),  # more than was lost
    (0.05, 0.1, 0.5, -0.125),  # RL lowers OOD further
    (0.1624, 0.0692, 0.1752, (0.1624 - 0.0692) / (0.1752 - 0.0692)),  # paper A, Llama: 87.9%
])
def test_recovery_fraction_known_values(rl, start, peak, expected):
    assert study.recovery_fraction(rl, start, peak) == pytest.approx(expected)


def test_recovery_fraction_is_nan_when_nothing_was_lost():
    assert math.isnan(study.recovery_fraction(0.3, 0.2, 0.2))
    assert math.isnan(study.recovery_fraction(0.0, 0.0, 0.0))  # the smoke profile: all zero


def test_ood_peak_takes_the_earliest_of_tied_maxima_and_reports_the_end():
    rows = _rows({0: 0.0, 10: 0.3, 20: 0.3, 50: 0.1}, {0: 0.0, 10: 0.5, 20: 0.6, 50: 0.9})
    peak = study.ood_peak(rows)
    assert (peak.step, peak.ood, peak.id) == (10, 0.3, 0.5)
    assert (peak.end_step, peak.ood_end, peak.id_end) == (50, 0.1, 0.9)
    assert peak.decline == pytest.approx(0.2)


def test_ood_peak_of_a_flat_curve_is_step_0_and_row_order_does_not_matter():
    rows = _rows({0: 0.0, 10: 0.0, 20: 0.0}, {0: 0.0, 10: 0.0, 20: 0.0})
    assert study.ood_peak(rows[::-1]).step == 0
    with pytest.raises(SftrlError, match="no OOD evaluations"):
        study.ood_peak([r for r in rows if r["split"] == "id"])


def test_best_recovery_picks_the_largest_finite_fraction_earliest_on_ties():
    nan = float("nan")
    window = [{"from_step": 20, "recovery": nan}, {"from_step": 400, "recovery": 0.6},
              {"from_step": 800, "recovery": 0.6}, {"from_step": 1500, "recovery": 0.1}]
    assert study.best_recovery(window)["from_step"] == 400
    assert study.best_recovery([{"from_step": 20, "recovery": nan}]) is None
    assert study.best_recovery([]) is None


def test_kept_steps_follow_the_configuration():
    cfg = config.profile("smoke")
    assert cfg.sft.checkpoints == (10, 20, 30) and cfg.sft.steps == 30
    assert study.kept_sft_steps(cfg) == [0, 10, 20, 30]
    short = config.profile("smoke", sft_steps=15, rl_from_steps="10,15")  # checkpoints past 15 are never reached
    assert study.kept_sft_steps(short) == [0, 10, 15]


def test_rl_from_a_step_sft_does_not_keep_is_refused_before_any_work():
    with pytest.raises(SftrlError, match=r"rl_from_steps=\(10, 15\).*those are \[0, 10, 20, 30\] \(\[15\] are not\)"):
        config.profile("smoke", rl_from_steps="10,15")  # refused when the configuration is made
    cfg = config.profile("smoke")
    t0 = time.monotonic()
    with pytest.raises(SftrlError, match=r"rl_from_steps=\(10, 15\): must be kept SFT steps.*\[0, 10, 20, 30\] \(\[15\] are not\)"):
        study.rl_window(cfg, from_steps=[10, 15])  # the library's own argument is checked too
    with pytest.raises(SftrlError, match=r"rl_from_steps=\(\): must be kept SFT steps"):
        study.check_rl_from_steps(cfg, [])
    assert time.monotonic() - t0 < 2  # nothing was trained or evaluated


# --------------------------------------------------------------------------- smoke end to end


@pytest.fixture(scope="module")
def smoke():
    """The smoke profile's SFT curve and recovery window (trained once per session)."""
    cfg = config.profile("smoke")
    curve = study.sft_curve(cfg)
    window = study.rl_window(cfg)
    return cfg, curve, window


@pytest.mark.slow
def test_rl_window_rows_on_the_smoke_profile(smoke):
    cfg, curve, window = smoke
    peak = study.ood_peak(curve)
    assert [r["from_step"] for r in window] == list(cfg.rl_from_steps)
    assert {r["step"] for r in curve} == set(study.kept_sft_steps(cfg))
    for r in curve:  # the per-hand grades behind every accuracy
        assert len(r["solved"]) == r["n"] and r["solved"].count("1") == r["correct"]
    start = {(r["step"], r["split"]): r for r in curve}
    for r in window:
        assert r["rl_steps"] == cfg.rl.steps and [i[:3] for i in r["runs"]] == ["rl-"] * cfg.rl_seeds
        for split in ("id", "ood"):
            lo, hi = r[f"{split}_rl_ci"]
            assert 0 <= lo <= r[f"{split}_rl"] <= hi <= 1
            assert r[f"{split}_n"] == cfg.eval.max_hands
            assert r[f"{split}_start"] == start[(r["from_step"], split)]["accuracy"]
            assert r[f"{split}_start_ci"] == (start[(r["from_step"], split)]["ci_low"],
                                              start[(r["from_step"], split)]["ci_high"])
        assert r["ood_gain"] == pytest.approx(r["ood_rl"] - r["ood_start"])
        lo, hi = r["ood_gain_paired_ci"]
        assert lo <= r["ood_gain"] <= hi
        assert r["after_peak"] == (r["from_step"] > peak.step)
        expected = study.recovery_fraction(r["ood_rl"], r["ood_start"], peak.ood) if r["after_peak"] else math.nan
        assert r["recovery"] == pytest.approx(expected, nan_ok=True)
    t0 = time.monotonic()
    again = study.rl_window(cfg)  # every run and evaluation is cached
    assert time.monotonic() - t0 < 10
    assert [r["runs"] for r in again] == [r["runs"] for r in window]


@pytest.mark.slow
def test_rl_window_over_seeds_averages_distinct_runs(smoke):
    cfg, curve, window = smoke
    two = config.profile("smoke", rl_from_steps="20,30", rl_seeds=2)
    # the second seed's runs are missing: two child processes (one thread each) train them
    rows = study.rl_window(two, workers=2)
    one = {r["from_step"]: r for r in window}
    for row in rows:
        assert row["seeds"] == [0, 1] and len(set(row["runs"])) == 2
        assert row["runs"][0] == one[row["from_step"]]["runs"][0]  # seed 0 is the single-seed window's run
        for split in ("id", "ood"):
            per_seed = row[f"{split}_rl_seeds"]
            assert per_seed[0] == one[row["from_step"]][f"{split}_rl"]
            assert row[f"{split}_rl"] == pytest.approx(sum(per_seed) / 2)
            lo, hi = row[f"{split}_rl_ci"]
            assert lo <= row[f"{split}_rl"] <= hi
        assert row["ood_gain_seeds"] == pytest.approx([a - row["ood_start"] for a in row["ood_rl_seeds"]])
    assert [study.train.rl_run(study.seeded(two, i), 30).config["rl"]["seed"] for i in (0, 1)] == [0, 1]
    with pytest.raises(SftrlError, match="at least 1"):
        study.rl_window(two, seeds=0)

    from sftrl.book.plots import training as training_plots

    table = training_plots.recovery_table(rows)
    per_seed = table.columns.index("per seed, %")
    assert [len(r[per_seed].split(", ")) for r in table.rows] == [2, 2]
    assert "RL seeds per start: 2" in table.notes[0]
    fig, ax = training_plots.plot_recovery(curve, rows)
    ticks = [ln for ln in ax.get_lines() if ln.get_gid() == "rl_seed"]
    assert sorted(len(ln.get_ydata()) for ln in ticks) == [2, 2]  # one tick per seed at each start


_glued = glued_values


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.slow
def test_two_workers_make_every_run_and_evaluation_figure1_reads():
    from sftrl.evaluation import checkpoint
    from sftrl.training import train

    cfg = config.profile("smoke", sft_seed=7, rl_from_steps="20,30")  # a parent no other test made
    study.prepare(cfg, cfg.rl_from_steps, workers=2)
    # the children evaluated the whole curve and trained and evaluated every run: nothing is left
    sft_run = train.sft_run(cfg)
    assert checkpoint.unevaluated(sft_run, cfg, start=train.base_checkpoint(cfg)) == []
    for s in cfg.rl_from_steps:
        run = train.rl_run(cfg, s)
        assert run.is_done and checkpoint.unevaluated(run, cfg, steps=[cfg.rl.steps]) == []
    assert len(checkpoint.evaluate_run(sft_run, cfg, start=train.base_checkpoint(cfg))) == (
        len(study.kept_sft_steps(cfg)) * len(checkpoint.SPLITS))  # each step's rows once


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:traitlets.*", "ignore::DeprecationWarning:nbclient.*")
def test_notebook_runs_in_the_smoke_profile_and_glues_what_study_computes(smoke, tmp_path):
    cfg, curve, window = smoke  # the kernel inherits SFTRL_DATA, so it reads these cached runs
    out = tmp_path / f"{NOTEBOOK}.ipynb"
    book.run(NOTEBOOK, out, profile="smoke")
    nb = nbformat.read(out, as_version=4)
    glued = _glued(nb)

    quoted = pages.quoted_glue_names(nb)
    assert quoted and quoted <= set(glued), quoted - set(glued)

    peak = study.ood_peak(curve)
    best = study.best_recovery(window)
    sizes = size_study.read()
    expected: dict[str, object] = {
        "profile": "smoke", "peak_step": peak.step, "peak_ood": peak.ood, "id_at_peak": peak.id,
        "end_step": peak.end_step, "ood_end": peak.ood_end, "id_end": peak.id_end,
        "rl_steps": cfg.rl.steps, "rl_reward": cfg.rl.reward, "rl_beta": cfg.rl.beta, "n_rl_starts": len(cfg.rl_from_steps),
        "protocol_text": cfg.eval.describe(), "rl_attempts": cfg.rl.attempts,
        "n_ood_hands": cfg.eval.max_hands, "n_id_hands": cfg.eval.max_hands,
        "best_recovery": best["recovery"] if best else math.nan,
        "best_recovery_step": best["from_step"] if best else None,
        "best_recovery_sentence": claims.best_recovery_sentence(window),
        "size_sentence": claims.size_sentence(sizes, claims.size_verdicts(sizes)),  # the committed size log
    }
    for v in claims.figure1(SimpleNamespace(curve=curve, window=window)):
        expected[f"verdict_{v.claim}"] = v.sentence
        expected[f"verdict_{v.claim}_short"] = v.verdict
    for key, value in expected.items():
        assert _same(glued[key], value), (key, glued[key], value)

    # every figure is an image, every table HTML; no stray output (book.run checks the rest)
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    tables = sum("text/html" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images == 6 and tables == 4  # panels a-f; paper A's, the recovery, the verdict and the size tables
