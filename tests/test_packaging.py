"""Set-up files agree: every dependency pinned, the same pins in pyproject, environment.yml and the lock."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        name, sep, version = line.partition("==")
        assert sep, f"{line!r} is not pinned with =="
        pins[_norm(name.strip())] = version.strip()
    return pins


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return _pins(project["dependencies"] + project["optional-dependencies"]["dev"])


def test_environment_yml_has_the_same_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == _pyproject_pins()
    assert "python=3.11" in env["dependencies"]


def test_lock_pins_every_direct_dependency_at_the_same_version():
    lock = _pins(line for line in (ROOT / "requirements.lock").read_text().splitlines() if line and not line.startswith("#"))
    for name, version in _pyproject_pins().items():
        assert lock.get(name) == version, f"{name}: pyproject says {version}, requirements.lock says {lock.get(name)}"


def test_duckdb_and_its_offline_extensions_agree():
    pins = _pyproject_pins()
    assert pins["duckdb"] == "1.5.5"
    for extension in ("fts", "spatial", "httpfs"):
        assert pins[f"duckdb-extension-{extension}"] == pins["duckdb"]


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", script, re.M)
