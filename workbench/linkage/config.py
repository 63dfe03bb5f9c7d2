"""The linkage thresholds, read from ``data_contracts/linkage.yaml`` (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from workbench.config import settings
from workbench.errors import ContractError

_INCIDENT_KEYS = {
    "match_threshold": float, "review_threshold": float, "near_km": float, "far_km": float, "near_days": int, "far_days": int,
    "words_high": float, "words_low": float, "casualty_share": float, "casualty_min_difference": int, "grid_degrees": float,
    "random_pairs": int, "seed": int, "max_cluster_days": int, "em_records": int,
}
_PERSON_KEYS = {"match_threshold": float, "review_threshold": float, "clk_high": float, "clk_low": float, "age_years": int,
                "random_pairs": int, "seed": int}


@dataclass(frozen=True)
class LinkageConfig:
    """Thresholds for incidents and for persons, as plain dictionaries of checked numbers."""

    path: Path
    incidents: dict[str, Any]
    persons: dict[str, Any]


def load_linkage_config(path: Path | None = None) -> LinkageConfig:
    """Read and check the linkage configuration; every problem names the file and key."""
    path = Path(path) if path else settings().contracts_path / "linkage.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError([f"{path}: cannot read the linkage configuration: {exc}"]) from None
    return _parse(path, text)


@lru_cache(maxsize=4)
def _parse(path: Path, text: str) -> LinkageConfig:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ContractError([f"{path}: not YAML: {exc}"]) from None
    problems: list[str] = []
    sections = {}
    for section, keys in (("incidents", _INCIDENT_KEYS), ("persons", _PERSON_KEYS)):
        values = doc.get(section)
        if not isinstance(values, dict):
            problems.append(f"{path}: {section}: missing or not a mapping")
            continue
        checked = {}
        for key, kind in keys.items():
            value = values.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
                problems.append(f"{path}: {section}.{key}: {value!r} must be a {'whole ' if kind is int else ''}number")
            elif value < 0:
                problems.append(f"{path}: {section}.{key}: {value!r} must not be negative")
            else:
                checked[key] = kind(value)
        for key in ("match_threshold", "review_threshold"):
            if key in checked and not 0 < checked[key] <= 1:
                problems.append(f"{path}: {section}.{key}: {checked[key]} must be a probability above 0 and at most 1")
        if {"match_threshold", "review_threshold"} <= checked.keys() and checked["review_threshold"] > checked["match_threshold"]:
            problems.append(f"{path}: {section}: review_threshold must not be above match_threshold")
        unknown = sorted(set(values) - set(keys))
        problems += [f"{path}: {section}.{key}: unknown key" for key in unknown]
        sections[section] = checked
    if problems:
        raise ContractError(problems)
    return LinkageConfig(path, sections["incidents"], sections["persons"])
