"""Verdicts that survive a reseed: a verdict holds only where every SFT seed gives it, the
study log's rows count only when today's code made them, and the Methods page marks the rest."""

from __future__ import annotations

import json

import pytest

from sftrl import config
from sftrl.book import methods
from sftrl.claims import rules, seeds, study_log


def _verdict(claim: str, verdict: str, reason: str) -> rules.Verdict:
    return rules.Verdict(claim=claim, statement=claim, verdict=verdict, reason=reason, rule="a rule")


def _row(seed: int, verdicts: dict[str, str], code: str | None = None, **numbers) -> dict:
    return {"name": "default" if seed == 0 else f"default, SFT seed {seed}", "overrides": {"sft_seed": seed} if seed
            else {}, "profile": "cpu", "sft_seed": seed, "made_by": {"code": code or study_log.code_today()},
            "verdicts": {c: {"verdict": v, "reason": f"seed {seed} numbers"} for c, v in verdicts.items()},
            "peak_step": 40, "peak_ood": 10.0 + seed, "id_at_peak": 60.0, "end_step": 600, "ood_end": 4.0,
            "id_end": 80.0, "rl": [{"from": 50, "ood_start": 5.0, "ood_rl": 8.0 + seed, "id_start": 70.0,
                                    "id_rl": 71.0}],
            "edits": {"top20_recovery": 40.0 + 10 * seed, "first25_recovery": 50.0, "graft_rl_sft_directions_ood": 3.0,
                      "graft_sft_rl_directions_ood": 6.0, **numbers}}


def test_a_verdict_stands_only_where_every_seed_gives_it():
    live = [_verdict("a", "reproduced", "seed 0 numbers"), _verdict("b", "not reproduced", "seed 0 numbers"),
            _verdict("c", "partly", "seed 0 numbers"), _verdict("d", rules.NOT_EVALUATED, "no data")]
    others = {1: _row(1, {"a": "reproduced", "b": "reproduced", "c": rules.NOT_EVALUATED}),
              2: _row(2, {"a": "reproduced", "b": "not reproduced"})}
    a, b, c, d = seeds.across(live, 0, others)
    assert a.verdict == "reproduced" and "the same verdict under every SFT seed, 0, 1, 2" in a.reason
    assert b.verdict == rules.MIXED
    assert b.reason == ("SFT seed 0: not reproduced, seed 0 numbers; SFT seed 1: reproduced, seed 1 numbers; "
                        "SFT seed 2: not reproduced, seed 2 numbers")
    assert c == live[2]  # no other seed judged it: the one run's verdict, unchanged
    assert d == live[3]
    assert seeds.across(live, 0, {}) == live


def test_only_rows_made_by_todays_code_for_the_same_configuration_count(tmp_path, monkeypatch):
    log = tmp_path / "tried.json"
    rows = [_row(0, {"a": "reproduced"}), _row(1, {"a": "reproduced"}), _row(2, {"a": "partly"}, code="0" * 16),
            {**_row(3, {"a": "partly"}), "overrides": {"sft_seed": 3, "sft_lr": 1e-4}}]
    log.write_text(json.dumps(rows))
    monkeypatch.setattr(study_log, "SNAPSHOT", log)
    cfg = config.profile("cpu")
    assert list(seeds.logged(cfg)) == [1]  # seed 0 is the live run; seed 2 is stale; "seed 3" is another study
    assert "SFT seeds 1 from the study log" in seeds.seeds_sentence(cfg)
    assert seeds.logged(config.profile("smoke")) == {}
    assert "rest on one SFT run" in seeds.seeds_sentence(config.profile("smoke"))
    # the Methods page marks the stale row, and the seeds table gives the spread
    entries = methods.tried_entries(log)
    assert [e["made"] for e in entries][:4] == ["today's code", "today's code", methods.EARLIER_CODE, "today's code"]
    table = methods.seeds_table(entries)
    assert [r[0] for r in table.rows] == ["0 (today's code)", "1 (today's code)", f"2 ({methods.EARLIER_CODE})",
                                          "3 (today's code)", "spread (points)"]
    assert table.rows[-1][1:3] == ["3.0", "0.0"]  # OOD peak 10..13; OOD at the end 4 in every seed
    assert table.rows[-1][5] == "30.0"  # top-20% recovery 40..70


def test_a_code_change_makes_a_row_earlier_code(monkeypatch):
    row = _row(1, {"a": "reproduced"})
    assert study_log.is_current(row)
    monkeypatch.setattr(study_log, "STUDY_CODE", ("sftrl.task.game",))  # as if the pipeline's code differed
    assert not study_log.is_current(row)
    assert not study_log.is_current({"name": "no record"})


def test_the_study_runs_the_default_under_several_sft_seeds():
    claims_rows = [t for t in study_log.TRIED if t.claims]
    assert study_log.SFT_SEEDS >= 3
    assert sorted(config.profile("cpu", **t.overrides).sft.seed for t in claims_rows) == list(range(study_log.SFT_SEEDS))
    for t in claims_rows:
        assert set(t.overrides) <= {"sft_seed"}  # the default configuration itself, reseeded


@pytest.mark.parametrize("verdict", [rules.MIXED])
def test_mixed_is_a_verdict_the_tables_accept(verdict):
    from sftrl.claims import scoreboard

    assert verdict in scoreboard.ALLOWED and verdict not in rules.VERDICTS
