"""``python -m sftrl solve`` / ``verify``: output, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sftrl import cli
from sftrl.task.game import OOD_RULE, solve


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_solve_prints_values_and_all_solutions(capsys):
    code, out, err = run(capsys, "solve", "A", "5", "J", "Q", "--rule", "ood")
    assert code == 0 and err == ""
    solutions = solve(OOD_RULE.values(("A", "5", "J", "Q")))
    assert "values: 1 5 11 12" in out and "J=11, Q=12, K=13" in out
    assert f"{len(solutions)} distinct solutions:" in out
    assert all(f"  {s}\n" in out for s in solutions)


def test_solve_unsolvable_and_custom_rule(capsys):
    code, out, _ = run(capsys, "solve", "K", "K", "K", "K")
    assert code == 1 and "no solution" in out and "values: 10 10 10 10" in out
    code, out, _ = run(capsys, "solve", "k", "k", "q", "j", "--rule", "J=6,Q=6,K=6")
    assert code == 0 and "values: 6 6 6 6" in out and "6 + 6 + 6 + 6" in out


def test_verify_correct_and_wrong(capsys):
    code, out, err = run(capsys, "verify", "3", "3", "8", "8", "8/(3-8/3)", "--rule", "id")
    assert code == 0 and err == ""
    assert "outcome: correct" in out and "shaped reward: +5" in out and "binary reward: 1" in out
    code, out, _ = run(capsys, "verify", "3", "3", "8", "8", "3+3+8+8")
    assert code == 1 and "outcome: wrong_value" in out and "shaped reward: -1" in out
    assert "binary reward: 0" in out and "evaluates to 22" in out
    code, out, _ = run(capsys, "verify", "A", "5", "J", "Q", "(11-1)*12/5")  # ID rule: J=Q=10
    assert code == 1 and "outcome: wrong_numbers" in out and "shaped reward: -2" in out
    code, out, _ = run(capsys, "verify", "3", "3", "8", "8", "__import__('os')")
    assert code == 1 and "outcome: illegal_characters" in out and "shaped reward: -3" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["solve", "A", "5", "J", "Q", "--rule", "nope"], "unknown rule 'nope'"),
        (["solve", "A", "5", "J", "Z"], "unknown card 'Z'"),
        (["verify", "1", "3", "8", "8", "8/(3-8/3)"], "unknown card '1'"),
        (["verify", "3", "3", "8", "8", ""], "empty answer"),
        (["verify", "3", "3", "8", "8", "1+" * 150 + "1"], "limit is 200"),
        (["verify", "3", "3", "8", "8", "3*8", "--rule", "J=5,Q=7,K=99"], "K=99"),
    ],
)
def test_user_mistakes_are_one_line_errors(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and fragment in err and err.count("\n") == 1


def test_python_dash_m_entry_point():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "sftrl", "verify", "3", "3", "8", "8", "8/(3-8/3)", "--rule", "id"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "outcome: correct" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "sftrl", "solve", "A", "5", "J", "X"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "error: unknown card 'X': a card is one of A 2 3 4 5 6 7 8 9 10 J Q K"
    )
    assert "Traceback" not in bad.stderr
