"""The command line: ``python -m sftrl <command> ...``.

Commands are registered by the module that owns them (``add_<name>_parser``), so this file
only dispatches. A user's mistake (:class:`sftrl.errors.SftrlError`) is printed as one line
and exits with status 2.

Usage: ``python -m sftrl solve A 5 J Q --rule ood``
"""

from __future__ import annotations

import argparse
import sys

from sftrl.errors import SftrlError
from sftrl.evaluation import cli as evaluation_cli
from sftrl.experiments import cli as experiments_cli
from sftrl.task import cli as task_cli
from sftrl.training import cli as training_cli
from sftrl.weights import cli as weights_cli

#: modules that contribute subcommands, in the order they appear in ``--help``
COMMAND_MODULES = (task_cli, training_cli, evaluation_cli, weights_cli, experiments_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sftrl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SftrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
