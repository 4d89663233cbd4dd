"""environment.yml (conda users) and pyproject.toml (pip, the Makefile) list the same pins."""

from __future__ import annotations

import re
import tomllib

import yaml

from sftrl import paths


def _norm(req: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _pyproject() -> dict[str, str]:
    meta = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["dev"]
    return dict(map(_norm, reqs))


def _conda() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((paths.ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    plain = [d for d in env["dependencies"] if isinstance(d, str)]
    return dict(map(_norm, pip)), plain


def test_environment_yml_and_pyproject_agree():
    conda_pip, _ = _conda()
    assert conda_pip == _pyproject()


def test_torch_is_pinned_in_the_same_install_as_trl():
    deps = _pyproject()
    assert deps["torch"] == "==2.13.0"
    assert "trl" in deps and "transformers" in deps
    assert deps["jupyter-book"] == ">=1.0.4,<2"


def test_conda_python_matches_requires_python():
    _, plain = _conda()
    meta = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    assert "python=3.11" in plain and meta["requires-python"] == ">=3.11"
