"""The command line: ``python -m sftrl <command> ...``.

Commands are registered by the module that owns them (``add_<name>_parser``), so this file
only dispatches. A user's mistake (:class:`sftrl.errors.SftrlError`) is printed as one line
and exits with status 2.

Usage: ``python -m sftrl solve A 5 J Q --rule ood``
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sftrl.errors import SftrlError

#: modules that contribute subcommands, in the order they appear in ``--help``
COMMAND_MODULES = ("sftrl.task.cli", "sftrl.weights.cli", "sftrl.training.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sftrl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a module not written yet contributes nothing
            if exc.name != name:
                raise
            continue
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
