"""Command-line access to the training pipeline.

Usage::

    python -m sftrl train sft --profile cpu --set sft_lr=3e-4
    python -m sftrl train rl --profile cpu --from-step 100
    python -m sftrl train base --profile cpu      # rebuild the committed base (make base)
    python -m sftrl runs                          # list the runs under data/runs

The book's runs by name (``plan``, ``job``) are :mod:`sftrl.experiments.cli`'s.
"""

from __future__ import annotations

import argparse

from sftrl import config
from sftrl.errors import SftrlError


def overrides(pairs: list[str]) -> dict[str, str]:
    """``["sft_lr=3e-4", ...]`` from ``--set`` as ``{name: value}``; SftrlError for a pair without ``=``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SftrlError(f"--set expects name=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _train(args: argparse.Namespace) -> int:
    from sftrl.training import train

    cfg = config.profile(args.profile, **overrides(args.set))
    if args.stage == "pretrain":
        run = train.pretrain(cfg)
    elif args.stage == "base":
        print(train.freeze_base(cfg))
        return 0
    elif args.stage == "sft":
        run = train.sft(cfg)
    else:
        if args.from_step is None:
            raise SftrlError("train rl needs --from-step (an SFT checkpoint step; 0 = the base)")
        run = train.rl(cfg, args.from_step)
    print_run(run)
    return 0


def print_run(run) -> None:
    """The run's folder, printed once per launch (by its main process)."""
    from sftrl.training import launch

    if launch.is_main():
        print(run.dir)


def _runs(args: argparse.Namespace) -> int:
    from sftrl.training.runs import list_runs

    for r in list_runs():
        state = "done" if r["done"] else "unfinished"
        print(f"{r['id']:<24} {state:<11} checkpoints {r['checkpoints']}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="make (or reuse) a training run",
                       description="Make or reuse a run; a finished run returns at once, a killed one resumes.")
    p.add_argument("stage", choices=["pretrain", "base", "sft", "rl"], help="a stage")
    p.add_argument("--profile", default="cpu", help=f"{' | '.join(config.PROFILES)} (default: cpu)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a setting, e.g. sft_lr=3e-4 (repeatable)")
    p.add_argument("--from-step", type=int, help="RL: the SFT checkpoint step to start from")
    p.set_defaults(func=_train)
    q = sub.add_parser("runs", help="list the runs under data/runs")
    q.set_defaults(func=_runs)
