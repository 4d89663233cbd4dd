"""Time each stage of `make book`: environment, each notebook's execution, the site build,
and a rebuild with nothing changed (issue 7's budget: 15 min from a fresh clone, 10 s).

The timing runs in a copy of the working tree (git's tracked and untracked, not ignored,
files) in a temporary folder, with generated data (the solver's cache) in a fresh folder
too, so it starts cold and leaves this checkout's ``_build`` alone. By default the copy
reuses this checkout's ``.venv`` (the environment stage is then ``make venv`` finding it
installed; the notebooks then import ``sftrl`` from this checkout, which the copy equals);
``--fresh`` builds the environment from scratch as a fresh clone would.

Each stage is the Make target that ``make book`` itself runs, so the sum is what a reader
waits for. Run it alone on the machine: it is a benchmark, not a test.

Usage: ``.venv/bin/python bench/book.py [--profile cpu] [--fresh] [--json timings.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sftrl.provenance import record as provenance  # the code digest, commit, packages and processor

ROOT = Path(__file__).resolve().parent.parent


def working_tree_files(root: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files: what a commit of this tree would hold."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                         capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p and (root / p).is_file()]


def copy_tree(root: Path, dest: Path) -> None:
    for rel in working_tree_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)  # keep mtimes: Make compares them


def make(dest: Path, env: dict[str, str], *args: str) -> float:
    """Run ``make ARGS`` in ``dest``; return the wall time in seconds (fail loudly)."""
    start = time.perf_counter()
    proc = subprocess.run(["make", "--no-print-directory", *args], cwd=dest, env=env,
                          capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"make {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return took


def query(dest: Path, env: dict[str, str], variable: str, profile: str) -> list[str]:
    out = subprocess.run(["make", "-s", "--no-print-directory", f"print-{variable}", f"PROFILE={profile}"],
                         cwd=dest, env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", help="the book's profile (default cpu)")
    parser.add_argument("--fresh", action="store_true", help="create the environment from scratch too")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy (its path is printed)")
    args = parser.parse_args(argv)

    made_with = provenance()  # the code the copy is made from, before anything can change it
    work = Path(tempfile.mkdtemp(prefix="sftrl-bench-book-"))
    dest = work / "repo"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV")}
    env.update(SFTRL_DATA=str(work / "data"), OMP_NUM_THREADS="1")
    rows: list[tuple[str, float]] = []
    try:
        copy_tree(ROOT, dest)
        if not args.fresh:
            # reuse the installed environment, but never let `make venv` reinstall it from the copy
            (dest / ".venv").symlink_to(ROOT / ".venv")
            if subprocess.run(["make", "-q", "venv"], cwd=dest, env=env).returncode:
                sys.exit("the environment is out of date: run `make venv` in the checkout first (or use --fresh)")
        rows.append(("environment (make venv)" + ("" if args.fresh else ", reused"), make(dest, env, "venv")))
        for path in query(dest, env, "EXECUTED", args.profile):
            name = Path(path).stem
            rows.append((f"notebook {name}", make(dest, env, path, f"PROFILE={args.profile}")))
        rows.append(("site (jupyter-book build)", make(dest, env, "book", f"PROFILE={args.profile}")))
        total = sum(t for _, t in rows)
        rows.append(("total make book", total))
        rows.append(("rebuild, nothing changed", make(dest, env, "book", f"PROFILE={args.profile}")))
    finally:
        if args.keep:
            print(f"copy kept at {dest}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    width = max(len(name) for name, _ in rows)
    env_kind = "fresh" if args.fresh else "reused"
    print(f"make book, PROFILE={args.profile}, {os.cpu_count()} CPUs, {env_kind} environment")
    print(f"{'stage':<{width}}  {'seconds':>8}")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:8.1f}")
    if args.json:
        args.json.write_text(json.dumps({"profile": args.profile, "fresh": args.fresh,
                                         "cpus": os.cpu_count(), "provenance": made_with,
                                         "stages": dict(rows)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
