"""What made a result: the code, the packages and the processor.

Every cache key and every committed log carries this, so a result made by other code is
never served, or shown, as today's.

* :func:`code_digest` -- a digest of the source a stage runs: the named modules and every
  ``sftrl`` module they import (at the top or inside a function), followed to the end.
  Each file is read as its syntax tree without docstrings (a configuration field's
  docstring included), so editing a comment or a docstring keeps the digest and changing
  a statement changes it.
* :func:`code_key` -- what a cache key holds of that: the digest and the installed versions
  of torch, transformers and trl.
* :func:`record` -- what a committed log row or benchmark snapshot records: the digest, the
  git commit, the package versions and the processor.

Usage: ``from sftrl.provenance import code_key; key = {**code_key("sftrl.training.train"), ...}``
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

#: the package's own source folder (``src/sftrl``)
PACKAGE_ROOT = Path(__file__).resolve().parent
#: the packages whose versions a cache key and a log record carry
PACKAGES = ("torch", "transformers", "trl")


def _module_file(name: str, root: Path) -> Path | None:
    """``sftrl.a.b`` -> ``root/a/b.py`` or ``root/a/b/__init__.py``; None if neither exists."""
    parts = name.split(".")[1:]
    path = root.joinpath(*parts)
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _is_text(stmt: ast.stmt) -> bool:
    """A statement that is a bare string: a docstring, or a field's docstring below it."""
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        for attr in ("body", "orelse", "finalbody"):
            body = getattr(node, attr, None)
            if isinstance(body, list) and any(isinstance(s, ast.stmt) and _is_text(s) for s in body):
                setattr(node, attr, [s for s in body if not _is_text(s)] or [ast.Pass()])
    return tree


def _imported(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """The ``sftrl`` modules a module's code imports (relative imports resolved)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "sftrl"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "sftrl":
                found.add(module)
                found |= {f"{module}.{a.name}" for a in node.names}  # `from sftrl.x import module`
    return found


def _normalised(path: Path) -> str:
    return ast.dump(_strip_docstrings(ast.parse(path.read_text(), str(path))), include_attributes=False)


def module_closure(*modules: str, root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """The named modules, the packages above them and every ``sftrl`` module they import,
    transitively: ``{module name: its file}`` (names that are not modules are dropped)."""
    todo, seen = list(modules), {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name, root)
        if path is None:
            continue
        seen[name] = path
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        todo += parents + sorted(_imported(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py"))
    return dict(sorted(seen.items()))


@functools.lru_cache(maxsize=None)
def _digest(modules: tuple[str, ...], root: Path, stamp: tuple) -> str:  # noqa: ARG001 (stamp keys the memo)
    h = hashlib.sha256()
    for name, path in module_closure(*modules, root=root).items():
        h.update(f"{name}\n{_normalised(path)}\n".encode())
    return h.hexdigest()[:16]


def code_digest(*modules: str, root: Path | None = None) -> str:
    """A digest of the code the named modules run (see the module docstring), of every
    module of the package when none is named; ``root`` is a copy of the package's folder to
    read instead of this one (the tests use it)."""
    root = (root or PACKAGE_ROOT).resolve()
    if not modules:
        modules = tuple(".".join(("sftrl", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
                        for p in root.rglob("*.py"))
    # memoised per state of the source files, so an edited file is read again
    stamp = tuple((str(p), st.st_mtime_ns, st.st_size) for p in sorted(root.rglob("*.py")) for st in [p.stat()])
    return _digest(tuple(sorted(modules)), root, stamp)


def package_versions() -> dict[str, str]:
    """The installed versions of :data:`PACKAGES` (read from their metadata, not imported)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def code_key(*modules: str) -> dict[str, object]:
    """The part of a cache key that follows the code: the modules' digest and the packages."""
    return {"code": code_digest(*modules), "packages": package_versions()}


def processor() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> str:
    """The git commit of this checkout, ``+uncommitted changes`` when tracked files differ;
    ``""`` outside a git checkout."""
    root = PACKAGE_ROOT.parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
    return head + ("+uncommitted changes" if head and dirty else "")


def record(*modules: str) -> dict[str, str]:
    """What a committed log row or benchmark snapshot records about how it was made: the
    code digest of ``modules`` (key ``code``; every module of the package when none is
    named), the commit, the package versions, Python, the processor, its core count and the
    torch threads."""
    import torch

    return {"code": code_digest(*modules), "commit": commit(), **package_versions(),
            "python": platform.python_version(), "processor": processor(), "cpus": str(os.cpu_count()),
            "threads": str(torch.get_num_threads())}
