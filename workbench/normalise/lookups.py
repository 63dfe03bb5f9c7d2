"""Normalisation of distinct values: each distinct cell is interpreted once, in Python, and the
answer is joined back in DuckDB. A million incidents hold a few thousand distinct dates, places
and category labels, so this is both fast and simple to get right.

Every function takes the distinct raw cells of one column and returns a frame whose first column
is ``raw`` (the cell as written, trimmed), ready to register in DuckDB as a lookup table.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Sequence

import polars as pl

from workbench.contracts import Vocabulary
from workbench.gazetteer import Gazetteer
from workbench.normalise.dates import month_names, parse_dates


def vocabulary_lookup(values: Sequence[str], vocabulary: Vocabulary, *, delimiter: str | None = None) -> pl.DataFrame:
    """Map written values to vocabulary codes; with a delimiter, each cell is a list of values.

    Columns: ``raw``, ``value`` (code, or list of codes), ``misses`` (the parts no term matched).

    >>> from workbench.contracts import load_contracts
    >>> v = load_contracts().vocabulary("violation_types")
    >>> vocabulary_lookup(["Torture; Shelling of hospitals"], v, delimiter=";")["misses"].to_list()
    [['Shelling of hospitals']]
    """
    raws, results, misses = [], [], []
    for raw in values:
        parts = [p.strip() for p in raw.split(delimiter)] if delimiter else [raw.strip()]
        parts = [p for p in parts if p]
        codes = [vocabulary.code_for(p) for p in parts]
        raws.append(raw)
        found = list(dict.fromkeys(c for c in codes if c is not None))
        results.append(found if delimiter else (found[0] if found else None))
        misses.append([p for p, c in zip(parts, codes) if c is None])
    value_type = pl.List(pl.Utf8) if delimiter else pl.Utf8
    return pl.DataFrame(
        {"raw": raws, "value": results, "misses": misses},
        schema={"raw": pl.Utf8, "value": value_type, "misses": pl.List(pl.Utf8)},
    )


def months_from(vocabulary: Vocabulary) -> dict[str, int]:
    """Month names (English and Arabic, with variants) -> month number, from the months vocabulary."""
    return month_names([asdict(term) for term in vocabulary.terms])


def date_lookup(values: Sequence[str], *, months: dict[str, int], day_first: bool = True) -> pl.DataFrame:
    """Parse dates. Columns: ``raw``, ``start``, ``end``, ``precision``, ``problem``, ``note``."""
    frame = parse_dates(list(values), months=months, day_first=day_first).rename({"text": "raw"})
    if "note" not in frame.columns:
        frame = frame.with_columns(note=pl.lit(None, dtype=pl.Utf8))
    return frame.select("raw", "start", "end", "precision", "problem", "note")


def place_lookup(values: Sequence[str], gazetteer: Gazetteer) -> pl.DataFrame:
    """Resolve place names. Columns: ``raw``, ``place_id``, ``level``, ``lat``, ``lon``,
    ``admin1_pcode``, ``admin2_pcode``, ``admin3_pcode``, ``match``, ``candidates``."""
    resolved = gazetteer.resolve(list(values)).rename({"text": "raw"})
    return resolved.select(
        "raw", "place_id", "level", "lat", "lon", "admin1_pcode", "admin2_pcode", "admin3_pcode", "match", "candidates"
    )
