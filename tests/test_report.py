"""The book-level pages: the claims table (paper numbers, verdict rules, figures that are not
available), the methods' settings, the reproduction guide's snapshot readers, and the three
notebooks executed on the smoke profile (slow)."""

from __future__ import annotations

import ast
import inspect
import json
import math
from types import SimpleNamespace

import nbformat
import pytest

from sftrl.book.pages import glued_values
from sftrl import config
from sftrl.book import execute as book
from sftrl.claims import rules as claims
from sftrl.claims import papers
from sftrl import paths
from sftrl.book import methods, reproduce, tables
from sftrl.claims import registry, scoreboard, study_log
from sftrl.errors import SftrlError
from sftrl.evaluation.evaluate import wilson_interval

# papermill / jupyter_client deprecations that do not concern this project (as tests/test_book.py)
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:traitlets.*", "ignore::DeprecationWarning:nbclient.*"
)


_glued = glued_values


# --------------------------------------------------------------------------- the claims list


def test_every_rule_of_the_figures_has_a_row_and_every_row_a_group():
    keys = [c.key for c in registry.CLAIMS]
    assert len(keys) == len(set(keys))
    rules = [*claims.FIGURE1_RULES, *getattr(claims, "FIGURE2_5_RULES", ()), *claims.MASK_RULES]
    for fn in rules:
        assert fn.__name__ in keys, f"no claims row for rule {fn.__name__}"
        assert claims.rule_text(fn)  # every rule states itself
    assert {c.group for c in registry.CLAIMS} == set(registry.GROUPS)
    assert {c.paper for c in registry.CLAIMS} == {"A", "B"}
    for group, (_, page) in registry.GROUPS.items():
        assert (paths.NOTEBOOKS / f"{page}.py").is_file(), group


def test_paper_numbers_are_printed_and_unconfirmed_ones_say_so():
    for c in registry.CLAIMS:
        assert registry.paper_text(c.key) not in ("", "—"), c.key
    # unconfirmed in sftrl.claims.papers -> marked; confirmed -> not
    assert "(unconfirmed)" in registry.paper_text("rl_rotates_less_than_sft")
    assert "(unconfirmed)" in registry.paper_text("top_directions_restore")
    assert "(unconfirmed)" in registry.paper_text("sft_directions_lower_rl_ood")
    assert "(unconfirmed)" not in registry.paper_text("ood_rise_and_decline")
    assert "(unconfirmed)" not in registry.paper_text("singular_values_stable")
    llama = papers.FIGURE1["Llama-3.2-11B"]
    assert f"step {llama.peak_step}" in registry.paper_text("ood_rise_and_decline")
    assert papers.get("fig6.rl_sparsity").text() in registry.paper_text("rl_sparse_sft_dense")
    with pytest.raises(SftrlError, match="no_such"):
        registry.paper_value("fig9.no_such")


def test_a_claim_row_refuses_an_unknown_verdict():
    with pytest.raises(SftrlError, match="verdict"):
        scoreboard.ClaimRow("k", "A", "Figure 1", "01_x", "s", "p", "o", "mostly", "r")


# --------------------------------------------------------------------------- the mask rules


def _numbers(**changes: float) -> dict[str, float]:
    """figure6.numbers()-shaped values of a run that shows every effect paper B reports."""
    n = {"n_rl": 3, "n_sft": 1, "rl_sparsity": 0.8, "rl_sparsity_min": 0.7, "rl_sparsity_max": 0.9,
         "sft_sparsity": 0.1, "rl_density": 0.2, "sft_density": 0.9,
         "in_all": 0.05, "in_all_expected": 0.008, "in_all_z": 40.0, "jaccard": 0.4, "jaccard_expected": 0.11,
         "rl_principal": 0.1, "rl_low": 0.4, "rl_principal_z": -20.0, "rl_low_z": 30.0,
         "sft_principal": 0.95, "sft_low": 0.85, "sft_principal_z": 8.0, "sft_low_z": -6.0,
         "rl_drift": 0.001, "rl_drift_min": 0.0005, "rl_drift_max": 0.002, "sft_drift": 0.01,
         "rl_angle": 1.0, "rl_angle_min": 0.5, "rl_angle_max": 2.0, "sft_angle": 10.0}
    n.update(changes)
    return n


@pytest.mark.parametrize("changes, expected", [
    ({}, "reproduced"),
    ({"sft_sparsity": 0.6}, "partly"),  # RL sparser, but SFT sparse too
    ({"rl_sparsity": 0.4, "rl_sparsity_min": 0.3, "rl_sparsity_max": 0.45}, "partly"),  # RL not mostly untouched
    ({"rl_sparsity_min": 0.05}, "not reproduced"),  # one RL run denser than SFT
    ({"rl_density": 0.0, "rl_sparsity": 1.0, "rl_sparsity_min": 1.0, "rl_sparsity_max": 1.0},
     "not reproduced"),  # nothing changed: trivial sparsity
])
def test_sparsity_rule(changes, expected):
    v = claims.rl_sparse_sft_dense(_numbers(**changes))
    assert v.verdict == expected and v.claim == "rl_sparse_sft_dense"
    assert "sparsity of RL" in v.reason and v.rule.startswith("sparsity is")


@pytest.mark.parametrize("changes, expected", [
    ({}, "reproduced"),
    ({"in_all_z": 1.0}, "partly"),
    ({"jaccard": 0.115}, "partly"),  # within 10% of the independent value
    ({"in_all_z": -5.0, "jaccard": 0.1}, "not reproduced"),
    ({"rl_density": 0.0}, "not reproduced"),
])
def test_consistency_rule(changes, expected):
    assert claims.masks_consistent_across_runs(_numbers(**changes)).verdict == expected


@pytest.mark.parametrize("changes, expected", [
    ({}, "reproduced"),
    ({"sft_principal_z": -9.0, "sft_low_z": 9.0}, "partly"),  # SFT shows the same bias
    ({"rl_low_z": 1.0}, "partly"),  # below chance on the principal weights only
    ({"rl_principal_z": 5.0}, "not reproduced"),
    ({"rl_density": 0.0}, "not reproduced"),
])
def test_off_principal_rule(changes, expected):
    assert claims.rl_off_principal(_numbers(**changes)).verdict == expected


@pytest.mark.parametrize("changes, expected", [
    ({}, "reproduced"),
    ({"rl_drift_max": 0.02}, "partly"),  # one RL run drifts more than SFT, the mean does not
    ({"rl_drift": 0.02, "rl_drift_max": 0.03, "rl_angle": 20.0, "rl_angle_max": 30.0}, "not reproduced"),
])
def test_drift_rule(changes, expected):
    assert claims.rl_little_spectral_drift(_numbers(**changes)).verdict == expected


def test_a_missing_input_is_named():
    n = _numbers()
    del n["sft_sparsity"]
    with pytest.raises(SftrlError, match="sft_sparsity"):
        claims.rl_sparse_sft_dense(n)


@pytest.mark.parametrize("g, expected", [
    ({"mapped": 0.9, "unmapped": 0.11, "other_seed": 0.8, "chance": 0.1}, "reproduced"),
    ({"mapped": 0.9, "unmapped": 0.5, "other_seed": 0.8, "chance": 0.1}, "partly"),
    ({"mapped": 0.2, "unmapped": 0.5, "other_seed": 0.8, "chance": 0.1}, "not reproduced"),
    ({"mapped": math.nan, "unmapped": math.nan, "other_seed": math.nan, "chance": math.nan}, "not reproduced"),
])
def test_geometry_rule(g, expected):
    assert claims.preferred_entries_follow_geometry({claims.ROTATED: g}).verdict == expected
    # the permutation is a control: it never decides the verdict, only shows in the reason
    exact = {"mapped": 1.0, "unmapped": 0.1, "other_seed": 0.8, "chance": 0.1}
    v = claims.preferred_entries_follow_geometry({claims.ROTATED: g, "MLP (permuted)": exact})
    assert v.verdict == expected
    assert ("control, MLP permutation: mapped back 1.000" in v.reason) == (not math.isnan(g["mapped"]))


def test_geometry_rule_needs_rotated_matrices():
    permuted_only = {"MLP (permuted)": {"mapped": 1.0, "unmapped": 0.1, "other_seed": 0.8, "chance": 0.1}}
    with pytest.raises(SftrlError, match="rotated"):
        claims.preferred_entries_follow_geometry(permuted_only)


def _probe(rewards: dict[str, float], se: float = 0.02) -> list[dict]:
    return [{"mask": m, "reward_end": r, "reward_end_se": se} for m, r in rewards.items()]


@pytest.mark.parametrize("rewards, se, expected", [
    ({"none": 0.50, "off_principal": 0.49, "principal": 0.20, "random": 0.35}, 0.02, "reproduced"),
    ({"none": 0.50, "off_principal": 0.30, "principal": 0.10, "random": 0.20}, 0.02, "partly"),  # does not track
    ({"none": 0.50, "off_principal": 0.49, "principal": 0.45, "random": 0.30}, 0.02, "partly"),  # principal not worst
    ({"none": 0.50, "off_principal": 0.20, "principal": 0.40, "random": 0.30}, 0.02, "not reproduced"),
    ({"none": 0.50, "off_principal": 0.49, "principal": 0.20}, math.nan, "not reproduced"),  # no standard error
])
def test_probe_rule(rewards, se, expected):
    rows = [{"mask": "start", "reward_end": math.nan}, *_probe(rewards, se)]
    assert claims.off_principal_probe(rows).verdict == expected


# --------------------------------------------------------------------------- claims not evaluated


def test_a_rule_without_its_inputs_leaves_the_others_judged(monkeypatch):
    n = _numbers()
    del n["sft_drift"]  # e.g. no SFT checkpoint for the drift comparison
    monkeypatch.setitem(scoreboard.DATA, "fig6", lambda cfg: SimpleNamespace(numbers=n))
    rows = {r.key: r for r in scoreboard.judge_group("fig6", config.profile("smoke"))}
    assert rows["rl_little_spectral_drift"].verdict == claims.NOT_EVALUATED
    assert "sft_drift" in rows["rl_little_spectral_drift"].ours and rows["rl_little_spectral_drift"].rule == ""
    assert rows["rl_sparse_sft_dense"].verdict == "reproduced"
    with pytest.raises(SftrlError, match="unknown figure group"):
        scoreboard.judge_group("fig9", config.profile("smoke"))


def test_a_figure_whose_data_cannot_be_made_is_not_evaluated_and_says_why(monkeypatch):
    def fails(cfg):
        raise SftrlError("checkpoint 'nowhere' is neither a local folder nor a hub id")

    monkeypatch.setitem(scoreboard.DATA, "fig5", fails)
    rows = scoreboard.judge_group("fig5", config.profile("smoke"))
    assert [r.key for r in rows] == [c.key for c in registry.CLAIMS if c.group == "fig5"]
    assert {r.verdict for r in rows} == {claims.NOT_EVALUATED}
    assert all("nowhere" in r.ours and r.rule == "" for r in rows)


def test_each_claim_has_one_statement_which_its_verdicts_carry():
    n = _numbers()
    for fn in claims.MASK_RULES[:4]:
        v = fn(n)
        assert v.statement == registry.statement(v.claim)
    with pytest.raises(SftrlError, match="unknown claim"):
        registry.statement("no_such_claim")


def test_tables_and_counts():
    rows = [scoreboard._row(c, v, "ours", "rule") for c, v in zip(registry.CLAIMS, scoreboard.ALLOWED)]
    counts = scoreboard.verdict_counts(rows)
    assert counts == dict.fromkeys(scoreboard.ALLOWED, 1)
    assert scoreboard.counts_sentence(rows) == ("Of paper A's 5 claims, 1 reproduced, 1 partly, 1 not reproduced and "
                                                "1 mixed across seeds (1 not evaluated).")
    assert scoreboard.counts_sentence(rows[:3]) == "Of paper A's 3 claims, 1 reproduced, 1 partly and 1 not reproduced."
    table = tables.claims_table(rows)
    assert len(table.rows) == 5 and table.columns[1] == "verdict"
    assert table.rows[1][:2] == [f"{registry.CLAIMS[1].statement} (Figure 1)", "◐ partly"]  # the verdict with its sign
    assert "<table" in table._repr_html_()
    assert len(tables.claims_table(rows, paper="A").rows) == 5 and tables.claims_table(rows, paper="B").rows == []
    with pytest.raises(SftrlError, match="unknown paper"):
        tables.claims_table(rows, paper="C")
    assert scoreboard.counts_sentence([]) == "No claims were judged."


@pytest.mark.parametrize("group", list(scoreboard.DATA))
def test_each_figure_page_declares_the_librarys_defaults(group):
    """The library states a figure's defaults once (its data function's keywords); the page's
    parameters cell repeats them as its interface, so the claims page judges what the page shows."""
    page = registry.GROUPS[group][1]
    declared = {name: ast.literal_eval(p["default"]) for name, p in book.notebook_parameters(page).items()}
    for name, param in inspect.signature(scoreboard.DATA[group]).parameters.items():
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            assert name in declared, f"{page} does not declare {name}"
            assert declared[name] == param.default, f"{page}: {name} = {declared[name]!r}, library {param.default!r}"


# --------------------------------------------------------------------------- methods


def test_half_width_is_the_wilson_intervals():
    assert methods.half_width_at(234) == pytest.approx(claims.half_width(wilson_interval(47, 234)))
    assert 0.04 < methods.half_width_at(234) < 0.06  # paper A's set: about +-5 points at 20%
    assert methods.half_width_at(1000) < methods.half_width_at(234)
    with pytest.raises(SftrlError, match="n=0"):
        methods.half_width_at(0)


def test_eval_sizes_follow_the_splits_and_the_cap():
    smoke, cpu = config.profile("smoke"), config.profile("cpu")
    full = methods.split_sizes(cpu)
    assert methods.eval_sizes(cpu) == {"id": full["id_sft"], "id_heldout": full["id_eval"], "ood": full["ood_eval"]}
    cap = smoke.eval.max_hands
    assert methods.eval_sizes(smoke) == {"id": cap, "id_heldout": cap, "ood": cap}


def test_settings_put_ours_beside_paper_as_numbers():
    cfg = config.profile("smoke")
    rows = methods.settings_rows(cfg)
    assert all(len(r) == 4 for r in rows)
    by = {(r[0], r[1]): r for r in rows}
    assert by[("RL", "learning rate")][2:] == [f"{cfg.rl.lr:g}", papers.get("fig1.rl.lr").text()]
    assert by[("RL", "clip range")][3] == papers.get("fig1.rl.clip").text()
    assert by[("SFT", "optimizer steps")][2] == str(cfg.sft.steps)
    assert by[("evaluation", "hands per rule")][3] == "234"
    assert by[("RL", "algorithm")][2].startswith("GRPO") and "PPO" in by[("RL", "algorithm")][3]
    assert methods.settings_table(cfg).columns[2] == "this book (smoke profile)"


def test_tried_table(tmp_path):
    assert methods.tried_table(tmp_path / "none.json") is None
    assert "not yet recorded" in methods.tried_sentence(None, tmp_path / "none.json")
    log = tmp_path / "tried.json"
    sft = {"peak_step": 20, "peak_ood": 26.1, "id_at_peak": 70.7, "end_step": 600, "ood_end": 11.3, "id_end": 43.0}
    log.write_text(json.dumps([
        {"name": "SFT only", "why": "a schedule", "overrides": {"sft_lr": 1e-4, "sft_steps": 1500}, **sft},
        {"name": "default", "why": "shipped", "overrides": {}, **sft, "rl_seeds": 3,
         "made_by": {"code": study_log.code_today()},
         "rl": [{"from": 600, "ood_start": 11.3, "ood_rl": 12.0, "ood_rl_seeds": [10.3, 12.3, 13.4],
                 "ood_change_paired_ci": [-0.5, 1.9], "id_start": 43.0, "id_rl": 41.0,
                 "id_rl_seeds": [40.0, 41.0, 42.0]}],
         "rl_verdict": "not reproduced", "rl_reason": "..."},
    ]))
    table = methods.tried_table(log)
    assert table.rows[0] == ["SFT only (made by earlier code)", "a schedule", "sft_lr = 0.0001; sft_steps = 1500",
                             "OOD 26.1% at step 20 → 11.3% at 600; ID 70.7% → 43.0%", "not run", "not run",
                             "SFT only"]
    assert table.rows[1][0] == "default"  # made by today's code: no mark
    assert table.rows[1][2:] == ["none", "OOD 26.1% at step 20 → 11.3% at 600; ID 70.7% → 43.0%",
                                 "600: +0.7 [-0.5, +1.9] (seeds -1.0 to +2.1) (3 seeds each)", "600: -2.0", "not reproduced"]
    assert [r[0] for r in table.rows[2:]] == [f"{t.name} ({methods.NOT_RUN})" for t in study_log.TRIED
                                              if t.name != "default"]  # declared, not in this log
    assert f"{len(table.rows)} configurations" in methods.tried_sentence(table, log)
    assert methods.tried_verdicts_sentence(log) == ("Of the 1 RL configurations under the papers' protocol, 0 "
                                                   "reproduced RL's recovery window, 0 partly, and 1 did not.")
    assert methods.tried_verdicts_sentence(tmp_path / "none.json") == ""
    log.write_text(json.dumps([{"name": "x", "overrides": {}}]))
    with pytest.raises(SftrlError, match="entry 0 .*make study"):
        methods.tried_table(log)
    log.write_text("{not json")
    with pytest.raises(SftrlError, match="not valid JSON"):
        methods.tried_table(log)


def test_every_study_configuration_is_a_valid_cpu_configuration():
    from sftrl.experiments import figure1 as study
    from sftrl.claims import study_log as tried

    names = [t.name for t in tried.TRIED]
    assert len(set(names)) == len(names) and "default" in names
    for t in tried.TRIED:
        cfg = config.profile("cpu", **t.overrides)  # unknown or ill-typed settings raise
        if t.rl:
            study.check_rl_from_steps(cfg, cfg.rl_from_steps)
    assert next(t for t in tried.TRIED if t.name == "default").overrides == {}


def test_the_committed_study_log_renders_every_entry():
    """The snapshot `make study` wrote is what the Methods page shows: no blank cells."""
    from sftrl.claims import study_log as tried

    table = methods.tried_table(tried.SNAPSHOT)
    entries = json.loads(tried.SNAPSHOT.read_text())
    earlier = [e["name"] for e in entries if e.get("era") == tried.EARLIER]
    names = [r[0].removesuffix(f" ({methods.EARLIER_CODE})").removesuffix(f" ({methods.NOT_RUN})") for r in table.rows]
    assert table is not None and sorted(names) == sorted([t.name for t in tried.TRIED] + earlier)  # each once
    assert all(cell for row in table.rows for cell in row)
    # every row says under which protocol it was measured
    assert all(e.get("protocol") for e in entries)


# --------------------------------------------------------------------------- reproduce


def test_bench_snapshot_as_bench_book_writes_it(tmp_path):
    assert reproduce.bench_snapshot(tmp_path / "none.json") is None
    assert reproduce.stage_table(None) is None
    assert "No benchmark snapshot" in reproduce.budget_sentence(None)
    snap = {"profile": "cpu", "fresh": True, "cpus": 2,
            "stages": {"environment (make venv)": 150.0, "notebook 01_ood_peak_and_decline": 240.5,
                       "total make book": 700.0, "rebuild, nothing changed": 3.2}}
    path = tmp_path / "book.json"
    path.write_text(json.dumps(snap))
    got = reproduce.bench_snapshot(path)
    assert reproduce.stage_table(got).rows[1] == ["notebook 01_ood_peak_and_decline", "240.5", "4.0"]
    assert "12 minutes" in reproduce.budget_sentence(got) and "3 s" in reproduce.budget_sentence(got)
    assert "within the project's budget of 15 minutes" in reproduce.budget_sentence(got)
    assert "not recorded" in reproduce.budget_sentence(got)
    slow = dict(snap, stages={**snap["stages"], "notebook 01_ood_peak_and_decline": 1500.0, "total make book": 2000.0},
                provenance={"processor": "Some CPU", "commit": "0123456789abcdef"})
    text = reproduce.budget_sentence(slow)
    assert "over the project's budget of 15 minutes (01_ood_peak_and_decline alone took 25 minutes, 75%" in text
    assert "Some CPU, code 0123456789ab" in text
    assert "4 minutes" in reproduce.rerun_sentence(got, "01_ood_peak_and_decline")
    assert "not committed yet" in reproduce.rerun_sentence(None, "01_ood_peak_and_decline")
    path.write_text(json.dumps({"profile": "cpu"}))
    with pytest.raises(SftrlError, match="stages"):
        reproduce.bench_snapshot(path)


@pytest.mark.parametrize("seconds, text", [(42.0, "42 s"), (1900.0, "32 minutes"), (7300.0, "2.0 hours"),
                                           (math.nan, "n/a")])
def test_duration(seconds, text):
    assert methods.duration(seconds) == text


def test_profile_differences_name_what_the_gpu_profile_changes():
    diff = {r[0]: r[1:] for r in reproduce.profile_differences("cpu", "gpu")}
    gpu = config.profile("gpu")
    assert diff["model_base"] == ["small", gpu.model.base]
    assert diff["model_dtype"] == ["float32", "bfloat16"] and diff["model_answer_format"] == ["compact", "chat"]
    assert diff["sft_lr"][1] == f"{gpu.sft.lr:g}" and "profile" not in diff
    assert reproduce.profile_differences("cpu", "cpu") == []
    assert reproduce.profile_table("cpu", "gpu").columns == ["setting", "cpu profile", "gpu profile"]


def test_gpu_estimates_are_computed_from_the_stated_assumptions():
    gpu = config.profile("gpu")
    e = reproduce.gpu_estimates(gpu)
    a = reproduce.GPU_ASSUMPTIONS
    assert e["model_state_gb"] == pytest.approx(reproduce.HUB_PARAMS[gpu.model.base] * a["bytes_per_param"] / 1e9)
    longer = reproduce.gpu_estimates(config.profile("gpu", sft_steps=2 * gpu.sft.steps))
    assert longer["sft_minutes"] == pytest.approx(2 * e["sft_minutes"])
    assert e["rl_runs"] == len(gpu.rl_from_steps) * gpu.rl_seeds
    single = reproduce.gpu_estimates(config.profile("gpu", rl_attempts=1))  # an episode's attempts cost time
    assert e["rl_minutes_per_run"] == pytest.approx(gpu.rl.attempts * single["rl_minutes_per_run"])
    with pytest.raises(SftrlError, match="no parameter count"):
        reproduce.gpu_estimates(config.profile("gpu", model_base="someone/unknown-model"))
    table = reproduce.estimate_table(gpu)  # one row per model and stage, marked as estimates
    assert len(table.rows) == 3 * len(reproduce.HUB_PARAMS)
    assert all("estimate" in c for c in table.columns[2:]) and table.notes[0].startswith("Estimates, not measurements")
    bigger = [r for r in table.rows if r[0].startswith("Qwen2.5-1.5B") and r[1].startswith("SFT")][0]
    smaller = [r for r in table.rows if r[0].startswith("Qwen2.5-0.5B") and r[1].startswith("SFT")][0]
    assert float(bigger[2]) > float(smaller[2]) and float(bigger[3]) > float(smaller[3])
    assert [r[0] for r in reproduce.gpu_only_table().rows] == list(config.GPU_ONLY)


def test_the_committed_base_is_described_from_its_record(monkeypatch):
    from sftrl import paths
    from sftrl.training import train
    from sftrl.training.model import count_parameters, load_model

    if methods.base_record() is None:
        pytest.skip("no committed base in this checkout (data/base)")
    monkeypatch.setattr(train, "base_checkpoint", lambda cfg: paths.BASE)  # never pretrain in a test
    facts = methods.base_facts(config.profile("cpu"))
    model, _ = load_model(paths.BASE)
    assert facts["source"] == "committed" and facts["n_params"] == count_parameters(model)
    assert facts["pretrain_seconds"] == methods.base_record()["seconds"]
    assert methods.duration(facts["pretrain_seconds"]) in methods.pretrain_sentence(facts)
    assert "untied" in methods.model_sentences(facts)["vocab_sentence"]
    assert facts["pretrain_run"] in reproduce.base_rebuild_sentence(methods.base_record())


def test_a_hub_model_is_described_as_such():
    facts = {"source": "hub", "path": "Qwen/Qwen2.5-0.5B-Instruct", "vocab_size": 151665}
    sentences = methods.model_sentences(facts)
    assert "Qwen/Qwen2.5-0.5B-Instruct" in sentences["model_intro"] and "151,665" in sentences["vocab_sentence"]
    assert "no pretraining" in methods.pretrain_sentence(facts)
    assert "no committed base" in reproduce.base_rebuild_sentence(None)


def test_compact_example_is_a_correct_answer():
    from sftrl.task import game as task
    from sftrl.task.prompts import get_format, grade

    prompt, answer = methods.compact_example().split("\n")
    assert prompt.startswith("prompt: rule J 11 Q 12 K 13 cards")
    completion = answer.removeprefix("answer: ")
    assert grade(get_format("compact"), completion, ("A", "5", "J", "Q"), task.OOD_RULE).correct


# --------------------------------------------------------------------------- on the smoke profile (slow)


@pytest.mark.slow
def test_every_claim_gets_a_computed_verdict_on_the_smoke_runs():
    rows = scoreboard.claim_rows(config.profile("smoke"))
    assert [r.key for r in rows][: len(registry.CLAIMS)] == [c.key for c in registry.CLAIMS]
    for r in rows:
        assert r.verdict in claims.VERDICTS, f"{r.key}: {r.verdict}: {r.ours}"  # all libraries are present
        assert r.rule and r.ours and r.paper_value


@pytest.mark.slow
def test_the_claims_page_executes_and_glues_a_verdict_per_claim(tmp_path):
    nb = book.run("08_claims", tmp_path / "claims.ipynb", profile="smoke")
    glued = _glued(nb)
    assert glued["profile"] == "smoke" and glued["n_claims"] >= len(registry.CLAIMS)
    for c in registry.CLAIMS:
        assert glued[f"verdict_{c.key}"] in scoreboard.ALLOWED
    assert sum(glued[f"n_{v.replace(' ', '_')}"] for v in scoreboard.ALLOWED) == glued["n_claims"]
    assert glued["n_not_evaluated"] == 0
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    assert html.count("<tr>") >= 2 * len(registry.CLAIMS)  # the claims table and the rules table


@pytest.mark.slow
def test_the_methods_page_glues_the_measured_size_of_the_base(tmp_path):
    from sftrl.training import train
    from sftrl.training.model import count_parameters, load_model

    cfg = config.profile("smoke")
    nb = book.run("09_methods", tmp_path / "methods.ipynb", profile="smoke")
    glued = _glued(nb)
    model, tokenizer = load_model(train.base_checkpoint(cfg))
    assert glued["n_params"] == count_parameters(model)
    assert glued["hidden_size"] == cfg.model.hidden_size == model.config.hidden_size
    assert glued["vocab_size"] == len(tokenizer)
    assert glued["n_id_eval"] == methods.eval_sizes(cfg)["id"]
    assert glued["paper_hands"] == papers.get("task.eval_hands").value
    assert "pretrained as part of the build" in glued["pretrain_time_sentence"]
    n_tried = len(methods.tried_entries())  # the committed study log, and the study's configurations not yet in it
    assert f"({n_tried} configurations, from the study log book/study/tried.json)" in glued["tried_sentence"]


@pytest.mark.slow
def test_the_reproduce_page_quotes_the_snapshot_it_is_given(tmp_path):
    snap = tmp_path / "book.json"
    snap.write_text(json.dumps({"profile": "cpu", "fresh": True, "cpus": 2, "stages": {
        "notebook 01_ood_peak_and_decline": 300.0, "total make book": 840.0, "rebuild, nothing changed": 4.0}}))
    nb = book.run("10_reproduce", tmp_path / "reproduce.ipynb", params={"bench_file": str(snap)})
    glued = _glued(nb)
    assert "14 minutes" in glued["budget_sentence"] and "5 minutes" in glued["rerun_sentence"]
    assert glued["gpu_model"] == config.profile("gpu").model.base
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")
    assert "sft_lr: Optional[float] (default None)" in text  # the worked example's parameter list, printed live
    assert nbformat.validate(nb) is None


@pytest.mark.parametrize("x, lo, hi, text", [
    (0.393, 0.301, 0.488, "39% [30%, 49%]"),  # a 9-point half-width: whole percents
    (0.128, 0.099, 0.165, "12.8% [9.9%, 16.5%]"),  # 3.3 points: two significant digits, one decimal
    (0.848, 0.803, 0.883, "85% [80%, 88%]"),  # 4 points
    (0.5, 0.499, 0.5011, "50.00% [49.90%, 50.11%]"),  # tight: at most two decimals
    (0.25, 0.25, 0.25, "25.0% [25.0%, 25.0%]"),  # no spread: one decimal
])
def test_an_accuracy_is_written_to_the_precision_its_interval_supports(x, lo, hi, text):
    assert tables.pct_interval(x, lo, hi) == text


def test_a_change_keeps_its_sign_and_its_interval_precision():
    assert tables.points_interval(0.022, -0.001, 0.044) == "+2.2 points [-0.1, +4.4]"
    assert tables.points_interval(-0.004, -0.09, 0.08) == "+0 points [-9, +8]"  # never "-0"
    assert tables.pct_interval(float("nan"), 0.1, 0.2) == tables.MISSING


def test_a_table_with_a_missing_value_explains_the_dash():
    t = tables.Table(["model", "OOD"], [["SFT", tables.MISSING], ["RL", "12%"]])
    assert t.notes and t.notes[0].startswith(tables.MISSING)
    own = tables.Table.from_rows([{"m": "SFT", "ood": None}], missing="the SFT run has no RL")
    assert own.notes == [f"{tables.MISSING}: the SFT run has no RL."]  # one footnote, the caller's
    assert tables.Table(["a"], [["1"]]).notes == []
