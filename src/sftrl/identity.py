"""Identities by content: of a configuration, of a file, of a checkpoint.

Every cache in the project is keyed by these: a run by the hash of its configuration and
its parent checkpoint's identity, an evaluation, an SVD, an edit and a mask analysis by the
identities of the checkpoints they read. A checkpoint is identified by the bytes of its
weights, never by its path or mtime.

Usage: ``from sftrl.identity import checkpoint_identity; checkpoint_identity("data/base")``
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def config_hash(config: dict[str, Any]) -> str:
    """A stable short hash of a JSON-able configuration (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (identifies a committed base by content, not by path)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]


#: checkpoint folder + weight files' (size, mtime, ctime) -> content digest, within one process
_IDENTITIES: dict[tuple, str] = {}


def checkpoint_identity(checkpoint: str | Path) -> str:
    """A checkpoint's identity by the content of its weights: the one identity every cache
    and every run's parent uses.

    A local folder is identified by the sha256 of ``model.safetensors``, or of every shard
    its ``model.safetensors.index.json`` lists (edits share an index, never their shards);
    anything else (a hub id) by its name. Digests are memoised within a process per file
    size, mtime and ctime, so a rewrite in place (which changes the ctime even when the mtime
    is put back) is hashed again.
    """
    p = Path(checkpoint)
    weights, index = p / "model.safetensors", p / "model.safetensors.index.json"
    if weights.is_file():
        files = [weights]
    elif index.is_file():
        files = [p / name for name in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    else:
        return str(checkpoint)
    stamp = (str(p.resolve()), *((f.name, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                                 for f in files for st in [f.stat()]))
    if stamp not in _IDENTITIES:
        if len(files) == 1 and files[0] == weights:
            _IDENTITIES[stamp] = f"sha256:{file_digest(weights)}"
        else:
            _IDENTITIES[stamp] = "sha256:" + config_hash({"shards": [file_digest(f) for f in files]})
    return _IDENTITIES[stamp]
