"""Settings, each declared once with its help text.

Every setting can be given as an environment variable; the CLI passes its options through
:func:`settings`. ``tests/test_docs.py`` fails when a setting here is missing from the README.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ConfigError

#: name -> (default, help). The only place settings are declared.
SETTINGS: dict[str, tuple[str | None, str]] = {
    "WORKBENCH_DB": ("workbench.duckdb", "Path of the DuckDB store."),
    "WORKBENCH_VAULT": (
        None,
        "Folder where received packages are kept byte for byte (default: the store path with .vault).",
    ),
    "WORKBENCH_CONTRACTS": (
        None,
        "Folder of data contracts and vocabularies (default: the data_contracts/ folder of the project).",
    ),
    "WORKBENCH_MAX_PACKAGE_BYTES": ("4294967296", "Largest total size a package may unpack to, in bytes."),
    "WORKBENCH_MAX_FILES": ("10000", "Largest number of files a package may hold."),
    "WORKBENCH_MAX_RATIO": ("200", "Largest compression ratio allowed for a member of a zip package."),
    "WORKBENCH_USER": (None, "Who is acting, as written to the custody log (default: the login name)."),
    "WORKBENCH_KEY_FILE": (None, "File holding the key that encrypts the store at rest (default: no encryption)."),
    "WORKBENCH_KEY": (None, "The key that encrypts the store at rest, given directly (prefer WORKBENCH_KEY_FILE: an environment can leak)."),
    "WORKBENCH_ASSETS": (
        None,
        "Folder of the fonts and other web assets reports embed (default: share/workbench/assets of the Python environment).",
    ),
}

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """The settings in effect, read by :func:`settings`."""

    db_path: Path
    vault_path: Path
    contracts_path: Path
    max_package_bytes: int
    max_files: int
    max_ratio: float
    user: str
    key_file: Path | None
    key: str | None = None


def _int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def default_contracts_path() -> Path:
    """The contracts shipped with the project (``data_contracts/``)."""
    return PROJECT_ROOT / "data_contracts"


def current_user() -> str:
    """Who is acting, for the custody log."""
    env = os.environ.get("WORKBENCH_USER")
    if env:
        return env
    try:
        return os.getlogin()
    except OSError:
        import getpass

        return getpass.getuser()


def settings(**overrides: str | os.PathLike | None) -> Settings:
    """Read the settings from the environment, with explicit overrides taking precedence.

    >>> settings(WORKBENCH_DB="x.duckdb").vault_path.name
    'x.vault'
    """
    raw = {name: os.environ.get(name, default) for name, (default, _help) in SETTINGS.items()}
    for name, value in overrides.items():
        if name not in SETTINGS:
            raise ConfigError(f"unknown setting {name}; known: {', '.join(SETTINGS)}")
        if value is not None:
            raw[name] = str(value)
    db_path = Path(raw["WORKBENCH_DB"] or "workbench.duckdb")
    vault = Path(raw["WORKBENCH_VAULT"]) if raw["WORKBENCH_VAULT"] else db_path.with_suffix(".vault")
    contracts = Path(raw["WORKBENCH_CONTRACTS"]) if raw["WORKBENCH_CONTRACTS"] else default_contracts_path()
    return Settings(
        db_path=db_path,
        vault_path=vault,
        contracts_path=contracts,
        max_package_bytes=_int("WORKBENCH_MAX_PACKAGE_BYTES", raw["WORKBENCH_MAX_PACKAGE_BYTES"]),
        max_files=_int("WORKBENCH_MAX_FILES", raw["WORKBENCH_MAX_FILES"]),
        max_ratio=float(_int("WORKBENCH_MAX_RATIO", raw["WORKBENCH_MAX_RATIO"])),
        user=raw["WORKBENCH_USER"] or current_user(),
        key_file=Path(raw["WORKBENCH_KEY_FILE"]) if raw["WORKBENCH_KEY_FILE"] else None,
        key=raw["WORKBENCH_KEY"] or None,
    )
