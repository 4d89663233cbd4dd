"""Command-line access to the book's runs by name (:mod:`sftrl.experiments.plan`).

Usage::

    python -m sftrl plan --profile gpu --processes 8            # the runs the book reads (make runs)
    python -m sftrl job sft rl-from-100-seed-0 --profile gpu   # train those, under any launcher
"""

from __future__ import annotations

import argparse

from sftrl import config
from sftrl.training.cli import overrides, print_run


def _plan(args: argparse.Namespace) -> int:
    from sftrl.experiments import plan
    from sftrl.training import train

    cfg = config.profile(args.profile, **overrides(args.set))
    train.check_inputs(cfg, args.processes)  # before the first job starts
    print("\n".join(plan.jobs(cfg)))
    return 0


def _job(args: argparse.Namespace) -> int:
    from sftrl.experiments import plan

    for run in plan.run_jobs(config.profile(args.profile, **overrides(args.set)), args.names):
        print_run(run)
    return 0


def _settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="cpu", help=f"{' | '.join(config.PROFILES)} (default: cpu)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a setting, e.g. sft_lr=3e-4 (repeatable)")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="print the names of the runs the book reads, parents first")
    _settings(p)
    p.add_argument("--processes", type=int, metavar="N",
                   help="the launcher's process count, checked against every batch before any job")
    p.set_defaults(func=_plan)
    q = sub.add_parser("job", help="train the named runs of 'plan' (a finished run returns at once)")
    q.add_argument("names", nargs="+", metavar="NAME", help="names that 'plan' prints")
    _settings(q)
    q.set_defaults(func=_job)
