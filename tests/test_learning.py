"""Learning happened: SFT on the smoke profile teaches the answer format and lowers the loss
on held-out hands (not merely "the parameters changed"), measured by the pipeline's own
evaluation of the base (step 0) and the end of SFT."""

from __future__ import annotations

import pytest

from sftrl import config
from sftrl.evaluation import checkpoint
from sftrl.training import train


@pytest.mark.slow
def test_sft_lowers_the_held_out_answer_loss_and_the_format_error_rate():
    cfg = config.profile("smoke")
    rows = checkpoint.evaluate_run(train.sft(cfg), cfg, start=train.base_checkpoint(cfg))
    at = {(r["step"], r["split"]): r for r in rows}
    end = cfg.sft.steps
    # the answer losses are measured on the same held-out ID answers for every split
    before, after = at[(0, "id")], at[(end, "id")]
    # the smoke run measured 1.43 -> 1.05 nats per answer token on held-out ID hands
    assert after["heldout_loss"] < before["heldout_loss"] - 0.1
    assert after["train_loss"] < before["train_loss"] - 0.1
    for split in ("id", "id_heldout"):
        before, after = at[(0, split)], at[(end, split)]
        # the base answers in the loose format (every first answer a format error under the
        # strict rule); 30 SFT steps teach the strict one to most ID hands (measured
        # 1.0 -> 0.21 on the SFT draw, 1.0 -> 0.42 on the held-out ID hands). The OOD hands'
        # first answers stay malformed at this size and length (measured 1.0 -> 0.96), so
        # they are not asserted: the cpu profile's model learns their format by step 20.
        assert before["format_error_rate"] > 0.9, split
        assert after["format_error_rate"] < before["format_error_rate"] - 0.4, split
    losses = [at[(s, "id")]["heldout_loss"] for s in sorted({s for s, _ in at})]
    assert losses == sorted(losses, reverse=True)  # falls at every kept checkpoint
