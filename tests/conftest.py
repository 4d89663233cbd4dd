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
