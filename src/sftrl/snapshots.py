"""The committed logs ``make study`` writes (``book/study/*.json``): read with one clear
error, and dated by the code that made them.

Every row or snapshot of such a log carries ``made_by`` (:func:`sftrl.provenance.record`);
a page marks the ones today's code did not make.

Usage::

    rows = snapshots.read(path, lambda x: isinstance(x, list), "a size-study log")
    snapshots.made_today(rows[0], "sftrl.experiments.size_study")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sftrl import provenance
from sftrl.errors import SftrlError


def read(path: Path, valid: Callable[[Any], bool], what: str) -> Any | None:
    """The JSON at ``path``, or None when there is no such file; SftrlError naming the file
    when it is not JSON, or not ``what`` (``valid`` says which)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SftrlError(f"{path} is not valid JSON: {exc}") from None
    if not valid(data):
        raise SftrlError(f"{path} is not {what}; rerun `make study`")
    return data


def made_today(record: Mapping[str, Any], *modules: str) -> bool:
    """Whether ``record`` was made by today's code of ``modules`` (its ``made_by`` digest is
    :func:`sftrl.provenance.code_digest` of them as they stand)."""
    return (record.get("made_by") or {}).get("code") == provenance.code_digest(*modules)
