"""The Figure-1 verdict rules on synthetic rows with known answers, and the papers' numbers."""

from __future__ import annotations

from types import SimpleNamespace

import math
import random

import pytest
import scipy.stats

from sftrl.claims import registry
from sftrl.claims import rules as claims
from sftrl.claims import papers
from sftrl.experiments import figure1 as study
from sftrl.errors import SftrlError
from sftrl.evaluation.evaluate import wilson_interval

N = 300  # hands per evaluation set in the synthetic rows: intervals of about +-5 points


def _curve(ood: dict[int, float], idd: dict[int, float] | None = None, *, n: int = N,
           fmt: dict[int, float] | None = None, loss: dict[int, float] | None = None,
           heldout: dict[int, float] | None = None) -> list[dict]:
    """Rows shaped like study.sft_curve's: accuracies rounded to whole hands, Wilson intervals."""
    steps = sorted(ood)
    idd = idd or {s: 0.0 if s == 0 else 0.9 for s in steps}
    fmt = fmt or {s: 1.0 if s == 0 else 0.01 for s in steps}
    loss = loss or {s: 2.0 / (1 + s / 10) for s in steps}  # falls monotonically
    heldout = heldout or {s: 1.1 * loss[s] for s in steps}
    rows = []
    for s in steps:
        for split, acc in (("id", idd[s]), ("ood", ood[s])):
            k = round(acc * n)
            lo, hi = wilson_interval(k, n)
            rows.append({"step": s, "split": split, "n": n, "correct": k, "accuracy": k / n, "ci_low": lo,
                         "ci_high": hi, "format_error_rate": fmt[s], "train_loss": loss[s],
                         "heldout_loss": heldout[s]})
    return rows


def _window(curve: list[dict], after: dict[int, float], *, n: int = N) -> list[dict]:
    """Rows shaped like study.rl_window's: OOD after RL from each start step."""
    peak = study.ood_peak(curve)
    out = []
    for step, acc in after.items():
        start = next(r for r in curve if r["step"] == step and r["split"] == "ood")
        k = round(acc * n)
        row = {"from_step": step, "rl_steps": 100, "ood_start": start["accuracy"],
               "ood_start_ci": (start["ci_low"], start["ci_high"]), "ood_rl": k / n,
               "ood_rl_ci": wilson_interval(k, n), "after_peak": step > peak.step}
        row["ood_gain"] = row["ood_rl"] - row["ood_start"]
        row["recovery"] = (study.recovery_fraction(row["ood_rl"], row["ood_start"], peak.ood)
                           if row["after_peak"] else float("nan"))
        out.append(row)
    return out


#: the prototype's SFT curve at lr 1e-4 (small_model_notes.md): a clear peak and decline
PROTO = {0: 0.0, 10: 0.0, 20: 0.393, 50: 0.30, 100: 0.28, 200: 0.263, 300: 0.213, 600: 0.19, 1000: 0.137,
         1500: 0.067}
#: ID that keeps rising after the OOD peak, as in paper A
ID_RISING = {0: 0.0, 10: 0.0, 20: 0.30, 50: 0.40, 100: 0.50, 200: 0.55, 300: 0.60, 600: 0.65, 1000: 0.70,
             1500: 0.72}


# --------------------------------------------------------------------------- helpers


def test_spearman_matches_scipy_with_ties():
    rng = random.Random(0)
    for _ in range(20):
        x = [rng.randint(0, 5) for _ in range(12)]
        y = [rng.randint(0, 5) for _ in range(12)]
        if len(set(x)) > 1 and len(set(y)) > 1:
            assert claims.spearman(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic)
    assert claims.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_is_nan_for_constant_or_too_short_input_and_refuses_unequal_lengths():
    assert math.isnan(claims.spearman([1, 2, 3], [5, 5, 5]))
    assert math.isnan(claims.spearman([1, 2], [2, 1]))
    with pytest.raises(SftrlError, match="equal lengths"):
        claims.spearman([1, 2, 3], [1, 2])


def test_margin_is_the_sum_of_the_half_widths():
    assert claims.margin((0.1, 0.3), (0.5, 0.6)) == pytest.approx(0.1 + 0.05)
    assert claims.pts(-0.0) == "+0.0 points" and claims.pts(-0.052) == "-5.2 points"
    assert claims.pct(float("nan")) == "n/a"


def test_every_rule_states_its_rule_and_a_verdict_must_be_one_of_three():
    for fn in claims.FIGURE1_RULES:
        text = claims.rule_text(fn)
        assert "reproduced" in text and "\n" not in text, fn.__name__
    with pytest.raises(SftrlError, match="verdict must be one of"):
        claims.Verdict("x", "a claim", "maybe", "why", "rule")


# --------------------------------------------------------------------------- rise and decline


def test_the_prototypes_peak_and_decline_is_reproduced():
    curve = _curve(PROTO)
    v = claims.ood_rise_and_decline(curve)
    assert v.verdict == "reproduced"
    assert "39.3%" in v.reason and "step 20" in v.reason and "6.7%" in v.reason
    assert v.rule == claims.rule_text(claims.ood_rise_and_decline)
    assert v.sentence.startswith(registry.statement("ood_rise_and_decline") + ": reproduced. OOD 0.0%")


def test_a_flat_zero_curve_reproduces_nothing():
    # the smoke profile's situation: nothing learned, peak "at" step 0, no recovery possible
    steps = (0, 10, 20, 30)
    curve = _curve({s: 0.0 for s in steps}, {s: 0.0 for s in steps}, n=24, fmt={s: 1.0 for s in steps})
    window = _window(curve, {10: 0.0, 20: 0.0, 30: 0.0}, n=24)
    verdicts = claims.figure1(SimpleNamespace(curve=curve, window=window))
    assert [v.verdict for v in verdicts] == ["not reproduced"] * 5
    assert [v.claim for v in verdicts] == [fn.__name__ for fn in claims.FIGURE1_RULES]
    assert "no OOD peak inside SFT" in verdicts[3].reason
    assert "nothing to recover" in claims.best_recovery_sentence(window)


def test_a_rise_to_a_plateau_is_only_partly_the_claim():
    curve = _curve({0: 0.0, 20: 0.30, 100: 0.31, 1500: 0.29})
    assert claims.ood_rise_and_decline(curve).verdict == "partly"


def test_differences_inside_the_intervals_do_not_count():
    # 0 -> 2 -> 1 of 24 hands: a "peak" no interval separates from the rest
    curve = _curve({0: 0.0, 10: 2 / 24, 20: 1 / 24}, n=24)
    v = claims.ood_rise_and_decline(curve)
    assert v.verdict == "not reproduced" and "step 10" in v.reason


def test_ties_at_the_peak_go_to_the_earliest_step():
    curve = _curve({0: 0.0, 20: 0.35, 50: 0.35, 1500: 0.05})
    assert study.ood_peak(curve).step == 20
    assert "highest 35.0% [" in claims.ood_rise_and_decline(curve).reason
    assert "at step 20" in claims.ood_rise_and_decline(curve).reason


# --------------------------------------------------------------------------- ID while OOD declines


def test_id_rising_while_ood_declines_is_reproduced():
    v = claims.id_keeps_rising(_curve(PROTO, ID_RISING))
    assert v.verdict == "reproduced" and "30.0% -> 72.0%" in v.reason


def test_saturated_id_is_partly():
    # the prototype: ID at ~100% from step 20 on, so it cannot keep rising
    idd = {s: 0.0 if s < 20 else 0.99 for s in PROTO}
    assert claims.id_keeps_rising(_curve(PROTO, idd)).verdict == "partly"


def test_id_falling_with_ood_is_not_the_claim():
    idd = {s: 0.0 if s < 20 else 0.9 - s / 3000 for s in PROTO}  # 89% at the peak, 40% at the end
    v = claims.id_keeps_rising(_curve(PROTO, idd))
    assert v.verdict == "not reproduced"


def test_no_ood_decline_means_the_id_claim_is_not_reproduced():
    curve = _curve({0: 0.0, 20: 0.30, 1500: 0.30}, {0: 0.0, 20: 0.3, 1500: 0.9})
    v = claims.id_keeps_rising(curve)
    assert v.verdict == "not reproduced" and "no decline beyond the intervals" in v.reason


# --------------------------------------------------------------------------- losses


def test_monotone_losses_do_not_mark_the_peak():
    v = claims.loss_blind_to_peak(_curve(PROTO))
    assert v.verdict == "reproduced"
    assert "-1.00" in v.reason and "lowest at step 1500" in v.reason


def test_a_heldout_loss_minimum_at_the_peak_marks_it():
    steps = sorted(PROTO)
    heldout = {s: 1.0 + abs(math.log1p(s) - math.log1p(20)) for s in steps}  # V-shaped, lowest at step 20
    v = claims.loss_blind_to_peak(_curve(PROTO, heldout=heldout))
    assert v.verdict == "not reproduced" and "held-out loss marks the peak" in v.reason


def test_a_local_minimum_at_the_peak_marks_it_too():
    ood = {0: 0.0, 20: 0.10, 50: 0.40, 100: 0.20, 1500: 0.05}
    loss = {0: 3.0, 20: 2.0, 50: 1.0, 100: 1.5, 1500: 0.5}  # global minimum at the end, a dip at 50
    v = claims.loss_blind_to_peak(_curve(ood, loss=loss, heldout=dict(loss)))
    assert v.verdict == "not reproduced" and "train and held-out loss mark the peak" in v.reason


def test_bumpy_losses_that_do_not_mark_the_peak_are_partly():
    loss = {0: 3.0, 10: 2.0, 20: 2.5, 50: 1.0, 100: 2.2, 200: 0.9, 300: 2.1, 600: 1.2, 1000: 1.9, 1500: 0.4}
    v = claims.loss_blind_to_peak(_curve(PROTO, loss=loss, heldout=dict(loss)))
    assert v.verdict == "partly" and "not monotone" in v.reason


def test_a_peak_at_the_end_leaves_nothing_for_the_loss_to_mark():
    curve = _curve({0: 0.0, 20: 0.1, 100: 0.2, 1500: 0.4})
    v = claims.loss_blind_to_peak(curve)
    assert v.verdict == "not reproduced" and "highest at the end of SFT" in v.reason


# --------------------------------------------------------------------------- the format


def test_format_learned_before_the_peak():
    assert claims.format_learned_before_peak(_curve(PROTO)).verdict == "reproduced"
    known = _curve(PROTO, fmt={s: 0.0 for s in PROTO})
    assert claims.format_learned_before_peak(known).verdict == "partly"
    late = _curve(PROTO, fmt={s: 1.0 if s == 0 else 0.2 for s in PROTO})
    v = claims.format_learned_before_peak(late)
    assert v.verdict == "not reproduced" and "20.0% at the OOD-peak step 20" in v.reason


# --------------------------------------------------------------------------- the recovery window


def test_a_bounded_recovery_window_is_reproduced():
    curve = _curve(PROTO)
    # too early: RL lowers OOD; middle: restores; too late: nothing
    window = _window(curve, {20: 0.30, 100: 0.29, 300: 0.35, 600: 0.33, 1500: 0.07})
    v = claims.rl_restores_in_window(curve, window)
    assert v.verdict == "reproduced"
    assert "window steps 300-600" in v.reason and "300: +13.7 points*" in v.reason
    assert "best recovery 76% from step 300" in v.reason
    assert claims.best_recovery_sentence(window).startswith("The largest recovery is 76% ")


def test_restoring_up_to_the_last_start_leaves_the_window_open():
    curve = _curve(PROTO)
    window = _window(curve, {20: 0.38, 300: 0.33, 1500: 0.30})
    v = claims.rl_restores_in_window(curve, window)
    assert v.verdict == "partly" and "open on the late side" in v.reason


def test_no_restoration_is_not_reproduced():
    curve = _curve(PROTO)
    window = _window(curve, {20: 0.39, 300: 0.22, 1500: 0.07})
    assert claims.rl_restores_in_window(curve, window).verdict == "not reproduced"


def test_a_gain_from_before_the_peak_is_not_restoration():
    curve = _curve(PROTO)
    window = _window(curve, {10: 0.20, 300: 0.21, 1500: 0.07})  # RL from step 10 only teaches the format
    v = claims.rl_restores_in_window(curve, window)
    assert v.verdict == "not reproduced" and "10: +20.0 points*" in v.reason
    assert math.isnan(window[0]["recovery"])


def test_a_start_raises_ood_only_when_every_seed_does():
    curve = _curve(PROTO)
    window = _window(curve, {20: 0.30, 300: 0.35, 1500: 0.07})
    mid = window[1]
    mid["ood_gain_seeds"] = [0.25, 0.12, 0.04]  # mean +13.7 points, every seed above the start
    v = claims.rl_restores_in_window(curve, window)
    assert v.verdict == "reproduced" and "300: +13.7 points (seeds +4.0 to +25.0)*" in v.reason
    assert "3/1 seeds each" in v.reason or "1/3 seeds each" in v.reason
    mid["ood_gain_seeds"] = [0.45, 0.0, -0.04]  # the same mean, carried by one seed
    v = claims.rl_restores_in_window(curve, window)
    assert v.verdict == "not reproduced" and "300: +13.7 points (seeds -4.0 to +45.0);" in v.reason


def test_paired_changes_sentence_sorts_starts_by_their_paired_interval():
    window = [{"from_step": 300, "ood_gain": -0.028, "ood_gain_paired_ci": (-0.045, -0.011)},
              {"from_step": 100, "ood_gain": 0.021, "ood_gain_paired_ci": (0.004, 0.038)},
              {"from_step": 600, "ood_gain": 0.011, "ood_gain_paired_ci": (-0.004, 0.026)}]
    text = claims.paired_changes_sentence(window)
    assert "OOD accuracy after RL was higher than at the start from step(s) 100 (+2.1 [+0.4, +3.8] points)" in text
    assert "lower than at the start from step(s) 300 (-2.8" in text
    assert "not distinguishable from the start from step(s) 600 (+1.1" in text
    assert "No paired comparison" in claims.paired_changes_sentence([{"from_step": 1}])


def test_no_rl_runs_is_not_reproduced():
    assert claims.rl_restores_in_window(_curve(PROTO), []).verdict == "not reproduced"


# --------------------------------------------------------------------------- the papers' numbers


def test_paper_values_have_unique_keys_known_sources_and_say_when_unconfirmed():
    keys = [v.key for v in papers.NUMBERS]
    assert len(keys) == len(set(keys))
    for v in papers.NUMBERS:
        assert v.source in papers.CITE_KEYS and v.key.startswith(v.figure + ".")
        assert v.text().endswith("(unconfirmed)") == (not v.confirmed), v.key
    assert not papers.get("fig3.rl_rotation").confirmed
    assert papers.get("fig6.rl_sparsity").text() == "up to about 92%"
    assert papers.get("fig2.sigma_change").text() == "about 0.3-0.4%"
    assert papers.get("fig1.llama.window").low == 420 and papers.get("fig1.llama.window").high == 1200
    with pytest.raises(SftrlError, match="no paper value 'fig1.nope'"):
        papers.get("fig1.nope")
    with pytest.raises(SftrlError, match="unknown unit"):
        papers.PaperValue("x.y", "x", "what", 1, "furlongs", papers.PAPER_A, True)


def test_paper_a_quotes_the_recovery_its_own_figure_1_gives():
    for row in papers.FIGURE1.values():
        computed = study.recovery_fraction(row.ood_rl, row.ood_end, row.ood_peak)
        lo, hi = row.recovery
        assert lo - 0.01 <= computed <= hi + 0.01, row.model  # Llama 87.9%, Qwen 99.6%
        assert row.ood_end < row.ood_peak and row.id_end > row.id_at_peak  # the claims, in its numbers


# --------------------------------------------------------------------------- Figures 2-5 rules


def _acc_row(ood: float, idd: float = 0.9, n: int = N, **fields) -> dict:
    """A row shaped like spectral_study.evaluate's: whole hands, Wilson intervals."""
    ko, ki = round(ood * n), round(idd * n)
    return {"ood": ko / n, "ood_ci": wilson_interval(ko, n), "id": ki / n, "id_ci": wilson_interval(ki, n),
            "ood_n": n, "id_n": n, **fields}


def _summary(dsigma: dict[str, float], angle: dict[str, float]) -> list[dict]:
    labels = {"base_sft": "Base → SFT", "sft_rl": "SFT → RL", "base_rl": "Base → RL"}
    return [{"pair": p, "label": labels[p], "group": "blocks", "n_matrices": 28, "mean_rel_dsigma": dsigma[p],
             "mean_angle_u": angle[p], "max_angle_u": 3 * angle[p]} for p in labels]


def test_figure_2_to_5_rules_state_their_rule():
    for fn in claims.FIGURE2_5_RULES:
        text = claims.rule_text(fn)
        assert "reproduced" in text and "\n" not in text, fn.__name__


@pytest.mark.parametrize(("dsigma", "expected"), [
    ({"base_sft": 0.004, "sft_rl": 0.003, "base_rl": 0.005}, "reproduced"),  # paper A's size
    ({"base_sft": 0.024, "sft_rl": 0.004, "base_rl": 0.026}, "partly"),  # the prototype's SFT: 2.4%
    ({"base_sft": 0.08, "sft_rl": 0.06, "base_rl": 0.10}, "not reproduced"),
])
def test_singular_values_stable(dsigma, expected):
    v = claims.singular_values_stable(_summary(dsigma, {p: 5.0 for p in dsigma}))
    assert v.verdict == expected and "Base → SFT" in v.reason


def test_sigma_swap_flat_needs_a_gap_between_peak_and_end():
    peak, end = _acc_row(0.39), _acc_row(0.07)
    flat = [_acc_row(0.07, fraction=f) for f in (0.05, 0.2, 1.0)]
    assert claims.sigma_swap_keeps_accuracy(flat, peak, end).verdict == "reproduced"
    some = flat[:2] + [_acc_row(0.30, fraction=1.0)]
    assert claims.sigma_swap_keeps_accuracy(some, peak, end).verdict == "partly"
    none = [_acc_row(0.30, fraction=f) for f in (0.2, 1.0)]
    assert claims.sigma_swap_keeps_accuracy(none, peak, end).verdict == "not reproduced"
    v = claims.sigma_swap_keeps_accuracy(flat, _acc_row(0.08), end)  # no gap: uninformative
    assert v.verdict == "not reproduced" and "uninformative" in v.reason


def test_rotation_against_sigma_change():
    dsigma = {"base_sft": 0.004, "sft_rl": 0.003, "base_rl": 0.005}
    # 5 degrees = 0.087 rad, 22x a 0.4% change of the singular values
    assert claims.vectors_rotate_values_stable(_summary(dsigma, {p: 5.0 for p in dsigma})).verdict == "reproduced"
    # the prototype: 5.4 degrees against 2.4% -> ratio about 4 for SFT
    proto = _summary({"base_sft": 0.024, "sft_rl": 0.024, "base_rl": 0.03}, {p: 5.4 for p in dsigma})
    assert claims.vectors_rotate_values_stable(proto).verdict == "partly"
    still = _summary(dsigma, {"base_sft": 5.0, "sft_rl": 1e-7, "base_rl": 5.0})  # RL changed nothing
    v = claims.vectors_rotate_values_stable(still)
    assert v.verdict == "partly" and "did not move" in v.reason


def test_rl_rotates_less_than_sft():
    dsigma = {"base_sft": 0.01, "sft_rl": 0.01, "base_rl": 0.01}
    assert claims.rl_rotates_less_than_sft(_summary(dsigma, {"base_sft": 50, "sft_rl": 5, "base_rl": 50})).verdict \
        == "reproduced"
    assert claims.rl_rotates_less_than_sft(_summary(dsigma, {"base_sft": 6, "sft_rl": 5, "base_rl": 8})).verdict \
        == "partly"
    assert claims.rl_rotates_less_than_sft(_summary(dsigma, {"base_sft": 5, "sft_rl": 6, "base_rl": 8})).verdict \
        == "not reproduced"
    v = claims.rl_rotates_less_than_sft(_summary(dsigma, {"base_sft": 5, "sft_rl": 0.0, "base_rl": 5}))
    assert v.verdict == "not reproduced" and "did not move" in v.reason  # a no-op RL proves nothing


def _rank(oods: dict[float, float], end: dict, ref: dict) -> list[dict]:
    return [_acc_row(o, fraction=f, tail=False,
                     recovery=study.recovery_fraction(round(o * N) / N, end["ood"], ref["ood"]))
            for f, o in oods.items()]


def test_top_directions_restore_uses_the_fraction_closest_to_20_percent():
    end, ref = _acc_row(0.07), _acc_row(0.39)
    assert claims.top_directions_restore(_rank({0.0: 0.07, 0.2: 0.31, 1.0: 0.2}, end, ref), end, ref).verdict \
        == "reproduced"  # 75% recovered
    assert claims.top_directions_restore(_rank({0.0: 0.07, 0.25: 0.17}, end, ref), end, ref).verdict == "partly"
    assert claims.top_directions_restore(_rank({0.0: 0.07, 0.2: 0.08}, end, ref), end, ref).verdict \
        == "not reproduced"
    v = claims.top_directions_restore(_rank({0.2: 0.3}, end, _acc_row(0.08)), end, _acc_row(0.08))
    assert v.verdict == "not reproduced" and "uninformative" in v.reason


def test_first_layers_restore_prefers_the_variant_with_embeddings():
    end, ref = _acc_row(0.07), _acc_row(0.39)
    rows = [_acc_row(0.08, block="first 25%", embeddings=False, recovery=0.03),
            _acc_row(0.33, block="first 25%", embeddings=True, recovery=0.81)]
    v = claims.first_layers_restore(rows, end, ref)
    assert v.verdict == "reproduced" and "with embeddings" in v.reason
    assert claims.first_layers_restore(rows[:1], end, ref).verdict == "not reproduced"
    assert "was not among" in claims.first_layers_restore([], end, ref).reason


def _grafts(**ood: float) -> list[dict]:
    return [_acc_row(o, key=k) for k, o in ood.items()]


def test_grafting_rules_on_paper_a_like_numbers():
    rows = _grafts(rl=0.20, sft_end=0.07, rl_sft_directions=0.08, sft_rl_directions=0.19, rl_sft_sigma=0.20,
                   sft_rl_sigma=0.07)
    assert [v.verdict for v in claims.figure5(SimpleNamespace(grafts=rows))] == ["reproduced"] * 3
    half = _grafts(rl=0.30, sft_end=0.07, rl_sft_directions=0.18, sft_rl_directions=0.18, rl_sft_sigma=0.12,
                   sft_rl_sigma=0.07)
    assert [v.verdict for v in claims.figure5(SimpleNamespace(grafts=half))] == ["partly", "partly", "partly"]
    opposite = _grafts(rl=0.20, sft_end=0.07, rl_sft_directions=0.21, sft_rl_directions=0.06, rl_sft_sigma=0.07,
                       sft_rl_sigma=0.20)
    assert [v.verdict for v in claims.figure5(SimpleNamespace(grafts=opposite))] == ["not reproduced"] * 3


def test_grafting_without_an_rl_gain_is_uninformative():
    rows = _grafts(rl=0.0, sft_end=0.0, rl_sft_directions=0.0, sft_rl_directions=0.0, rl_sft_sigma=0.0,
                   sft_rl_sigma=0.0)  # the smoke profile
    for v in claims.figure5(SimpleNamespace(grafts=rows)):
        assert v.verdict == "not reproduced" and "uninformative" in v.reason


def test_forgetting_sentence_reads_the_categories_at_the_peak_and_the_end():
    def row(step, acc, outcomes, face):
        return {"step": step, "split": "ood", "accuracy": acc, "first_outcomes": outcomes, "face_as_id": face}

    curve = [row(0, 0.0, {"malformed": 10}, [0, 0]),
             row(40, 0.3, {"correct": 3, "wrong_value": 6, "wrong_numbers": 1}, [0, 10]),
             row(600, 0.1, {"correct": 1, "wrong_value": 4, "wrong_numbers": 5}, [2, 8])]
    curve += [dict(r, split="id") for r in curve]
    text = claims.forgetting_sentence(curve)
    assert "peak (step 40) to the end of SFT (step 600)" in text
    assert "wrong value 60.0% → 40.0%, wrong numbers 10.0% → 50.0%" in text
    assert "correct 30.0% → 10.0%" in text and "0.0% → 25.0% of the first attempts" in text


def test_mechanism_sentence_says_when_the_spread_cannot_tell_the_starts_apart():
    def start(step, spread, face=(0.0, 0.1)):
        return {"from_step": step, "reward_spread": spread, "face_as_id_start": face[0], "face_as_id_rl": face[1]}

    flat = claims.mechanism_sentence([start(300, 0.99), start(50, 1.0)])
    assert "99.0% to 100.0% across the 2 RL starts" in flat and "does not separate" in flat
    assert flat.index("50: 0.0% → 10.0%") < flat.index("300:")
    varied = claims.mechanism_sentence([start(50, 0.9), start(300, 0.2)])
    assert "20.0% to 90.0%" in varied and "does not separate" not in varied
    assert "No RL run" in claims.mechanism_sentence([{"from_step": 1, "reward_spread": float("nan")}])
