"""Test-wide settings: one torch thread, generated data in a temporary folder."""

from __future__ import annotations

import os
import tempfile

# before sftrl is imported: every run and cache a test makes goes to a throw-away folder
os.environ.setdefault("SFTRL_DATA", tempfile.mkdtemp(prefix="sftrl-test-data-"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

torch.set_num_threads(1)


import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: where `make smoke-book` puts the executed notebooks, the site and its stamps
SMOKE_BUILD = ROOT / "_build" / "smoke" / "_build"


def _make(*targets: str, data: Path, check: bool = True, timeout: int = 1500) -> subprocess.CompletedProcess:
    """Run ``make TARGETS`` in the repository with the pipeline's data in ``data``."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(SFTRL_DATA=str(data), OMP_NUM_THREADS="1")
    proc = subprocess.run(["make", "--no-print-directory", *targets], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> SimpleNamespace:
    """The smoke book, built once per test session (``make smoke-book``) into
    :data:`SMOKE_BUILD`, with its runs in a data folder of its own: every test that needs the
    built site asks for this instead of relying on another test having built it."""
    data = tmp_path_factory.mktemp("smoke-book-data")
    proc = _make("smoke-book", data=data)
    return SimpleNamespace(build=SMOKE_BUILD, site=SMOKE_BUILD / "html", data=data, output=proc.stdout)


@pytest.fixture(scope="session")
def chat_smoke_book(tmp_path_factory) -> SimpleNamespace:
    """The whole book on the chat path (``make book PROFILE=chat-smoke``: the tiny Qwen2-style
    chat model), built once per test session into ``_build/chat-smoke/_build``."""
    data = tmp_path_factory.mktemp("chat-smoke-book-data")
    proc = _make("book", "PROFILE=chat-smoke", data=data, timeout=2400)
    build = ROOT / "_build" / "chat-smoke" / "_build"
    return SimpleNamespace(build=build, site=build / "html", data=data, output=proc.stdout)
