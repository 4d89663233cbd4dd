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
    for split in ("id", "ood"):
        before, after = at[(0, split)], at[(end, split)]
        # the smoke run measured 0.87 -> 0.71 nats per answer token on held-out ID hands
        assert after["heldout_loss"] < before["heldout_loss"] - 0.1, split
        assert after["train_loss"] < before["train_loss"] - 0.1, split
        # the base answers in the loose format (every first answer a format error under the
        # strict rule); 30 SFT steps teach the strict one to most hands (measured 1.0 -> 0.38 / 0.67)
        assert before["format_error_rate"] > 0.9, split
        assert after["format_error_rate"] < before["format_error_rate"] - 0.25, split
    losses = [at[(s, "id")]["heldout_loss"] for s in sorted({s for s, _ in at})]
    assert losses == sorted(losses, reverse=True)  # falls at every kept checkpoint
