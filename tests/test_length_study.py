"""The sparsity-against-length study (paper B's precision and accumulation accounts):
its configurations, its runs on the smoke profile, its snapshot and the sentence that
reads it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sftrl import config
from sftrl.claims import rules
from sftrl.errors import SftrlError
from sftrl.experiments import figure7, length_study
from sftrl.experiments import masks_study as ms


def test_configurations_are_the_regime_recipe_at_the_studys_lengths():
    cfg = config.profile("cpu")  # nothing is trained: configurations only
    scfg = ms.study_config("cpu")
    got = length_study.configs(cfg, scfg)
    assert set(got) == {(role, lr, dtype, seed) for role in ("rl", "sft") for lr in scfg.length_lrs
                        for dtype in scfg.length_dtypes for seed in range(3 if dtype == "float32" else 1)}
    assert len(scfg.length_lrs) >= 3 and scfg.length_seeds >= 3  # the three rates and seeds
    kept = length_study.kept_steps(scfg)
    assert kept == tuple(range(scfg.length_every, scfg.length_steps + 1, scfg.length_every))
    for (role, lr, dtype, seed), c in got.items():
        stage = c.rl if role == "rl" else c.sft
        assert (stage.steps, stage.lr, stage.checkpoints) == (scfg.length_steps, lr, kept)
        assert (c.rl.dtype if role == "rl" else c.model.dtype) == dtype
        # a seed changes the seed of the trained stage and nothing else
        ref = got[(role, lr, dtype, 0)]
        assert stage.seed == (ref.rl if role == "rl" else ref.sft).seed + seed
        assert dataclasses.replace(stage, seed=0) == dataclasses.replace(ref.rl if role == "rl" else ref.sft, seed=0)
    # RL and SFT at one setting see as many sequences per step
    rl, sft = got[("rl", 1e-5, "float32", 0)], got[("sft", 1e-5, "float32", 0)]
    assert sft.sft.batch_size == rl.rl.prompts_per_step * rl.rl.num_generations
    assert length_study.kept_steps(ms.study_config("smoke", length_steps=7, length_every=3)) == (3, 6, 7)


def test_bad_length_settings_are_refused_before_any_run():
    for bad, match in (({"length_every": 50, "length_steps": 20}, "length_every .* must not exceed length_steps"),
                       ({"length_lrs": "1e-4,-1"}, r"length_lrs=\(0.0001, -1.0\): every item must be a number > 0"),
                       ({"length_dtypes": "float16"}, r"length_dtypes=\('float16',\) is not allowed"),
                       ({"length_steps": 0}, "length_steps=0: must be an integer >= 1")):
        with pytest.raises(SftrlError, match=match):
            ms.study_config("smoke", **bad)
    with pytest.raises(SftrlError, match="length_from='table' is not allowed; choose one of log, run"):
        figure7.data(config.profile("smoke"), length_from="table")


def _run(role, lr, sparsity, sc, dtype="float32"):
    return {"role": role, "lr": lr, "dtype": dtype, "steps": [20, 40, 80], "sparsity": sparsity,
            "step_sparsity": sparsity, "drift": [1e-4, 2e-4, 4e-4], "sign_consistency": sc,
            "sign_consistency_chance": 0.2, "moved_every_interval": 0.99}


def test_length_sentence_names_where_the_pattern_appears():
    pattern = [_run("rl", 1e-5, [0.8, 0.75, 0.7], 0.25), _run("sft", 1e-5, [0.7, 0.4, 0.2], 0.9),
               _run("rl", 1e-4, [0.1, 0.1, 0.1], 0.9), _run("sft", 1e-4, [0.1, 0.1, 0.1], 0.9)]
    text = rules.length_sentence(pattern)
    assert text.startswith("B's pattern appears with length at lr 1e-05 with fp32 masters")
    assert "holds at lr 1e-05 with fp32 masters." in text  # RL a random walk, SFT consistent
    separated = [_run("rl", 1e-5, [0.3, 0.3, 0.3], 0.9), _run("sft", 1e-5, [0.3, 0.2, 0.1], 0.9)]
    text = rules.length_sentence(separated)
    assert text.startswith("RL stays sparser than SFT") and "does not explain" in text
    together = [_run("rl", 1e-5, [0.9, 0.8, 0.7], 0.9), _run("sft", 1e-5, [0.9, 0.8, 0.69], 0.9)]
    assert "+1.0 points" in rules.length_sentence(together)
    assert rules.length_sentence(together).startswith("At no learning rate and length tried (up to 80 steps)")
    with pytest.raises(SftrlError, match="an RL and an SFT run"):
        rules.length_sentence(pattern[:1])
    # with seeds, a separation must hold in every seed
    seeded = [{**r, "seed": i} for r in separated for i in range(2)]
    seeded.append({**_run("rl", 1e-5, [0.3, 0.1, 0.05], 0.9), "seed": 2})  # one RL seed as dense as SFT
    text = rules.length_sentence(seeded)
    assert text.startswith("At no learning rate and length tried (up to 80 steps) does RL stay sparser than SFT "
                           "by 10 points or more in every seed") and "means over 3 seeds" in text
    # weights that stopped moving are no sample of how updates accumulate
    stuck = [{**r, "moved_every_interval": 0.02} for r in pattern[:2]]
    text = rules.length_sentence(stuck)
    assert "holds at" not in text and "does not explain" not in text
    assert text.endswith("fewer than 50% of the weights moved in every interval, too few to judge how their "
                         "updates accumulate.")


@pytest.mark.slow
def test_the_study_runs_on_the_smoke_profile_and_its_snapshot_reads_back(tmp_path, monkeypatch):
    out = tmp_path / "length.json"
    monkeypatch.setattr(ms, "_STUDY_PROFILES", {**ms._STUDY_PROFILES, "smoke": ms.study_config(
        "smoke", length_lrs="1e-3,1e-4,1e-6", length_dtypes="float32", length_steps=3, length_every=1)})
    assert length_study.main(["--profile", "smoke", "--out", str(out)]) == 0
    snap = length_study.read(out)
    assert snap["profile"] == "smoke" and length_study.is_current(snap)
    assert {(r["role"], r["lr"], r["seed"]) for r in snap["runs"]} == {(ro, lr, 0) for ro in ("rl", "sft")
                                                                       for lr in (1e-3, 1e-4, 1e-6)}
    assert float(snap["half_ulp"]["0.1"]) <= float(snap["half_ulp"]["0.5"]) <= float(snap["half_ulp"]["0.9"])
    for r in snap["runs"]:
        assert r["steps"] == [1, 2, 3] and r["intervals"] == 3
        assert all(0.0 <= x <= 1.0 for x in (*r["sparsity"], *r["step_sparsity"]))
        assert r["drift"][-1] > 0  # every run moved its weights
    fast = {r["role"]: r for r in snap["runs"] if r["lr"] == 1e-3}
    slow = {r["role"]: r for r in snap["runs"] if r["lr"] == 1e-6}
    for role in ("rl", "sft"):  # a larger step moves more weights past bf16's resolution
        assert fast[role]["sparsity"][-1] < slow[role]["sparsity"][-1]
    assert isinstance(rules.length_sentence(snap["runs"]), str)
    # the page's "run" source computes the same rows from the cache
    cfg, scfg = config.profile("smoke"), ms.study_config("smoke")
    live = figure7.length_data(cfg, scfg, "run")
    assert [r["sparsity"] for r in live.runs] == [r["sparsity"] for r in snap["runs"]]
    # a snapshot from other code is marked, a broken one refused
    old = {**snap, "made_by": {**snap["made_by"], "code": "0" * 16}}
    assert not length_study.is_current(old)
    (tmp_path / "bad.json").write_text(json.dumps([1, 2]))
    with pytest.raises(SftrlError, match="not a length-study snapshot"):
        length_study.read(tmp_path / "bad.json")
    assert length_study.read(tmp_path / "none.json") is None
    # a run's summary is cached under this module's code too: other code computes it again
    start, run = ms.start_checkpoint(cfg, scfg), next(iter(length_study.runs(cfg, scfg).values()))
    real_summary, real_digest, calls = length_study.masks.length_summary, length_study.provenance.code_digest, []
    monkeypatch.setattr(length_study.masks, "length_summary", lambda *a, **k: calls.append(1) or real_summary(*a, **k))
    first = length_study.summarise(start, run)
    assert calls == []  # cached
    monkeypatch.setattr(length_study.provenance, "code_digest",
                        lambda *m, **k: "other" if m == length_study.CODE else real_digest(*m, **k))
    assert length_study.summarise(start, run) == first and calls == [1]


def test_the_committed_snapshot_is_the_cpu_profiles_study():
    snap = length_study.read()
    assert snap is not None, "book/study/length.json is committed; `make study` writes it"
    scfg = ms.study_config(snap["profile"])
    assert snap["profile"] == length_study.PROFILE
    assert {(r["role"], r["lr"], r["dtype"], r["seed"]) for r in snap["runs"]} == {
        (role, lr, dtype, seed) for role in ("rl", "sft") for lr in scfg.length_lrs for dtype in scfg.length_dtypes
        for seed in length_study.seeds(scfg, dtype)}
    assert all(r["steps"] == list(length_study.kept_steps(scfg)) for r in snap["runs"])
    data = figure7.length_data(config.profile("smoke"), ms.study_config("smoke"), "log")
    assert data.runs == snap["runs"] and "make study" in data.source


def test_length_table_reads_the_rows():
    from sftrl.book import tables

    runs = [_run("rl", 1e-5, [0.8, 0.75, 0.7], 0.25), {**_run("sft", 1e-5, [0.7, 0.4, 0.2], None),
                                                          "moved_every_interval": 0.0, "drift_exponent": 1.0}]
    runs[0].update(moved_every_interval=0.5, drift_exponent=0.5)
    t = tables.length_table(runs)
    assert t.columns[:5] == ["kind", "lr", "weights", "seed", "sparsity, first → last"]
    assert t.rows[0][3:7] == ["0", "80.0% → 70.0%", "70.0%", "0.25 (0.20)"]
    assert t.rows[1][6] == "—" and any("fewer than 50% of the entries moved" in n for n in t.notes)
    assert t.notes[0].startswith("Checkpoints from step 20 to 80.")


def test_the_command_refuses_an_unknown_profile_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "length.json"
    monkeypatch.setattr(length_study, "snapshot", lambda *a, **k: pytest.fail("work started"))
    assert length_study.main(["--profile", "bogus", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'bogus'" in err and err.count("\n") == 1
    assert not out.exists()
