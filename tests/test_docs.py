"""Documentation that cannot fall behind: the README starts with the two commands and names every
command and setting; the import layers of DESIGN.md hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import typer

from workbench.cli import app
from workbench.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group, prefix: str = "workbench") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, f"{prefix} {name}")
        else:
            found.append(f"{prefix} {name}")
    return found


def test_readme_starts_with_make_demo_and_make_test():
    first_block = re.search(r"```(?:sh)?\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands[:2] == ["make demo", "make test"]
    assert README.index("make demo") < 200


def test_every_command_is_documented():
    commands = _commands(typer.main.get_command(app))
    assert len(commands) >= 9
    missing = [c for c in commands if f"`{c}" not in README]
    assert not missing, f"undocumented commands: {missing}"


def test_every_setting_is_documented():
    missing = [name for name in SETTINGS if f"`{name}`" not in README]
    assert not missing, f"undocumented settings: {missing}"


def test_import_layers_hold():
    result = subprocess.run([Path(sys.executable).parent / "lint-imports", "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
