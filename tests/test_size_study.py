"""Restoration against model size (sftrl.experiments.size_study): the sizes, their checks,
the log's rows on the smoke profile, and what the pages read from it."""

from __future__ import annotations

import json

import pytest

from sftrl.errors import SftrlError
from sftrl.experiments import size_study as z


def test_the_family_grows_in_width_and_its_counts_double():
    counts = z.check_sizes(list(z.SIZES))
    assert list(counts) == [s.name for s in z.SIZES]
    params = list(counts.values())
    assert params == sorted(params) and params[0] < 0.75e6 and 3.5e6 < params[-1]  # at least 0.5M to 4M
    assert counts["1M"] == z.count_params(z.size_config(z.parse_size("1M")))
    from sftrl import config

    assert z.size_config(z.parse_size("1M")).model == config.profile("cpu").model  # the book's own model
    for a, b in zip(params, params[1:]):
        assert 1.5 < b / a < 2.5


@pytest.mark.parametrize("text,message", [
    ("300x4x7", r"size 300x4x7: model_hidden_size=300 must be a multiple of model_num_attention_heads=7"),
    ("3M", r"size '3M': give one of 0.6M, 1M, 2.4M, 4.2M or WIDTHxLAYERS"),
    ("0x4", r"size '0x4'"),
    ("4096x48", r"size 4096x48: 12,886M parameters need about 192.0 GiB to train, more than this machine's"),
])
def test_a_bad_size_is_refused_before_any_pretraining(text, message, monkeypatch):
    from sftrl.training import train

    monkeypatch.setattr(train, "pretrain", lambda *a, **k: pytest.fail("pretraining started"))
    with pytest.raises(SftrlError, match=message):
        z.check_sizes([z.parse_size(text)])


def test_the_command_names_a_bad_size_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "sizes.json"
    assert z.main(["--sizes", "1M", "128x4x3", "--out", str(out)]) == 2
    assert "error: size 128x4x3: model_hidden_size=128 must be a multiple" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SftrlError, match="more than this machine's 0.0 GiB"):
        z.check_sizes([z.parse_size("1M")], memory=10**6)


def test_recovery_interval_is_the_paired_interval_over_what_was_lost():
    row = {"after_peak": True, "ood_start": 0.10, "ood_gain_paired_ci": (0.02, 0.06)}
    lo, hi = z.recovery_interval(row, peak_ood=0.30)
    assert (lo, hi) == pytest.approx((0.1, 0.3))
    assert z.recovery_interval({**row, "after_peak": False}, 0.30) is None
    assert z.recovery_interval(row, peak_ood=0.10) is None  # nothing lost


def test_diagnosis_reads_the_first_attempts_at_the_peak_and_the_end():
    def row(step, acc, face, outcomes):
        return {"step": step, "split": "ood", "accuracy": acc, "face_as_id": face, "first_outcomes": outcomes}

    curve = [row(0, 0.1, [0, 10], {"correct": 1, "wrong_value": 1, "wrong_numbers": 0, "malformed": 8}),
             row(50, 0.4, [1, 10], {"correct": 4, "wrong_value": 2, "wrong_numbers": 4, "malformed": 0}),
             row(600, 0.1, [8, 10], {"correct": 1, "wrong_value": 8, "wrong_numbers": 1, "malformed": 0})]
    curve += [{**r, "split": "id"} for r in curve]
    d = z.diagnosis(curve)
    assert d["face_as_id"] == [10.0, 80.0] and d["wrong_value"] == [20.0, 80.0]
    assert d["wrong_numbers"] == [40.0, 10.0] and d["malformed"] == [0.0, 0.0]


def test_a_log_that_is_not_one_is_refused(tmp_path):
    assert z.read(tmp_path / "none.json") == []
    (tmp_path / "bad.json").write_text(json.dumps([{"size": "1M"}]))
    with pytest.raises(SftrlError, match="not a size-study log"):
        z.read(tmp_path / "bad.json")


@pytest.mark.slow
def test_the_study_runs_at_two_sizes_of_the_smoke_profile(tmp_path):
    out = tmp_path / "sizes.json"
    assert z.main(["--profile", "smoke", "--sizes", "48x2", "32x2", "--seeds", "1", "--out", str(out)]) == 0
    rows = z.read(out)
    assert [r["size"] for r in rows] == ["32x2", "48x2"]  # smallest first
    from sftrl import config
    from sftrl.claims import rules

    smoke = config.profile("smoke")
    from sftrl.experiments import figure1

    for r in rows:
        assert z.is_current(r) and r["device"] == "cpu" and r["rl_seeds"] == 1
        assert [w["from_step"] for w in r["window"]] == list(smoke.rl_from_steps)
        assert set(r["erodes"]) == {"face_as_id", "wrong_value", "wrong_numbers", "malformed"}
        cfg = z.size_config(z.parse_size(r["size"]), "smoke", seeds=1)
        assert r["params"] == z.count_params(cfg)
        # the claims layer judges the log's row exactly as it judges the live runs
        live = rules.rl_restores_in_window(figure1.sft_curve(cfg), figure1.rl_window(cfg))
        assert (rules.size_verdict(r).verdict, rules.size_verdict(r).reason) == (live.verdict, live.reason)
    assert rows[0]["params"] < rows[1]["params"]
    # each size pretrains its own base: the two differ from each other and from the profile's
    from sftrl.training import train

    bases = {str(train.base_checkpoint(z.size_config(z.parse_size(s), "smoke"))) for s in ("32x2", "48x2")}
    assert len(bases) == 2 and str(train.base_checkpoint(smoke)) not in bases
    # rerunning one size keeps the other's row as it was
    before = {r["size"]: r for r in rows}
    assert z.main(["--profile", "smoke", "--sizes", "48x2", "--seeds", "1", "--out", str(out)]) == 0
    after = {r["size"]: r for r in z.read(out)}
    assert after["32x2"] == before["32x2"] and after["48x2"]["window"] == before["48x2"]["window"]


def _row(size, params, best=None, ci=None, made="today"):
    return {"size": size, "params": params, "best_recovery": best,
            "best_recovery_ci": ci, "best_from": 300 if best is not None else None, "peak_ood": 37.0, "peak_step": 0,
            "ood_end": 2.0, "rl_seeds": 3, "device": "cpu", "made_by": {"code": made},
            "window": [{"from_step": 50}, {"from_step": 300}, {"from_step": 600}],
            "erodes": {"face_as_id": [1.0, 3.0], "wrong_value": [20.0, 48.0], "wrong_numbers": [10.0, 40.0],
                       "malformed": [0.0, 7.0]}}


def test_the_size_sentence_table_and_panel_read_the_rows():
    from sftrl.book import tables
    from sftrl.book.plots import training
    from sftrl.claims import rules

    from types import SimpleNamespace

    rows = [_row("0.6M", 6e5, 4.0, [-10.0, 18.0]), _row("1M", 1.06e6, 60.0, [40.0, 80.0]), _row("2.4M", 2.4e6)]
    verdicts = [SimpleNamespace(verdict=v) for v in ("not reproduced", "reproduced", "not reproduced")]
    text = rules.size_sentence(rows, verdicts)
    assert text.startswith("Measured at 3 size(s), 0.6M to 2.4M parameters")
    assert "in every seed, from a window of SFT starts at 1M" in text
    assert "beyond the intervals at 0.6M, 2.4M" in text and "partly" not in text
    assert "No size has been measured yet" in rules.size_sentence([], [])
    table = tables.size_table(rows, verdicts, lambda r: r["size"] != "2.4M")
    assert [r[0] for r in table.rows] == ["0.6M (0.60M)", "1M (1.06M)", "2.4M† (2.40M)"]
    assert table.rows[1][2] == "60% [40, 80] from 300" and table.rows[2][2] == tables.MISSING
    assert table.rows[0][4:] == ["1% → 3%", "20% → 48%", "10% → 40%"]
    assert any("†: made by other code than today's (2.4M)" in n for n in table.notes)
    assert "RL from SFT steps 50, 300, 600, 3 seeds each; measured on cpu" in table.notes[0]
    assert tables.size_table([], [], lambda r: True).rows == []
    assert table.rows[1][3] == tables.marked("reproduced")
    fig, ax = training.plot_sizes(rows, verdicts)
    labels = ax.get_legend_handles_labels()[1]
    assert "paper A: Llama-3.2-11B" in labels and "paper A: Qwen2.5-7B" in labels
    assert "RL restored OOD (every seed)" in labels and "no start after the OOD peak lost OOD" in labels
    assert ax.get_xscale() == "log"
    assert len([line for line in ax.get_lines() if len(line.get_xdata()) > 1 and line.get_linestyle() != "None"
                and line.get_xdata()[0] in (7e9, 11e9)]) == 0  # paper A's models are not joined
    training.plot_sizes([], [])  # an empty log still draws paper A's points
