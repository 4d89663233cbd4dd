"""Command-line evaluation of a training run's checkpoints.

Usage::

    python -m sftrl evaluate sft --profile cpu            # every kept SFT checkpoint and the base
    python -m sftrl evaluate rl --profile cpu --from-step 100
"""

from __future__ import annotations

import argparse
import json

from sftrl import config
from sftrl.errors import SftrlError
from sftrl.training.cli import overrides


def _evaluate(args: argparse.Namespace) -> int:
    from sftrl.evaluation import checkpoint
    from sftrl.training import train

    cfg = config.profile(args.profile, **overrides(args.set))
    if args.stage == "sft":
        run, start = train.sft(cfg), train.base_checkpoint(cfg)
    else:
        if args.from_step is None:
            raise SftrlError("evaluate rl needs --from-step (an SFT checkpoint step; 0 = the base)")
        run, start = train.rl(cfg, args.from_step), None
    for row in checkpoint.evaluate_run(run, cfg, start=start):
        print(json.dumps({k: row[k] for k in ("step", "split", "accuracy", "ci_low", "ci_high",
                                              "format_error_rate")}))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate every kept checkpoint of a run (training it if missing)",
                       description="ID and OOD accuracy of each kept checkpoint, one JSON line each (cached).")
    p.add_argument("stage", choices=["sft", "rl"])
    p.add_argument("--profile", default="cpu", help=f"{' | '.join(config.PROFILES)} (default: cpu)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a setting, e.g. sft_lr=3e-4 (repeatable)")
    p.add_argument("--from-step", type=int, help="RL: the SFT checkpoint step it started from")
    p.set_defaults(func=_evaluate)
