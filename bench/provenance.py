"""The provenance every benchmark snapshot records: the code version, the package versions
and the processor it was measured on (imported by the scripts beside it)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def provenance() -> dict[str, str]:
    """Code version, package versions and processor of this measurement."""
    import torch
    import transformers
    import trl

    root = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True).stdout.strip())
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"commit": commit + ("+uncommitted changes" if dirty else ""), "torch": torch.__version__,
            "transformers": transformers.__version__, "trl": trl.__version__, "python": platform.python_version(),
            "processor": cpu, "cpus": str(os.cpu_count()), "threads": str(torch.get_num_threads())}
