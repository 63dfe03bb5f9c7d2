"""Read the OCHA / Open-Syria gazetteer files: admin units (JSON) and communities (CSV)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import polars as pl

from workbench.errors import GazetteerError
from workbench.gazetteer.builtin import load_governorates, script_of
from workbench.gazetteer.keys import skeleton_key
from workbench.gazetteer.model import PLACE_SCHEMA, Gazetteer

ADMIN_FILES = {"governorate": "governorates.json", "district": "districts.json", "subdistrict": "subdistricts.json"}
COMMUNITIES_FILE = "ocha_communities_2015.csv"
COMMUNITY_COLUMNS = ("NAME_EN", "NAME_ARA", "PCODE", "ADMIN1_COD", "ADMIN2_COD", "ADMIN3_COD", "LATITUDE", "LONGITUDE")
OPTIONAL_COMMUNITY_COLUMNS = (
    "NAM_EN_REF", "ADMIN1_EN", "ADMIN1_ARA", "ADMIN2_EN", "ADMIN2_ARA", "ADMIN3_EN", "ADMIN3_ARA",
)
# Composite community names join two villages ("Maaret Elnaasan - Maaret Elhaski") or add a
# qualifier ("Deir Hanna / Lattakia"); Arabic ones use "_" or "-" as well.
_NAME_PARTS = re.compile(r"_|\s*/\s*|\s+-\s*|\s*-\s+")
REPLACEMENT_CHARACTER = "\ufffd"


def _read_json(path: Path) -> list[dict]:
    try:
        items = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise GazetteerError(f"{path.name}: file not found in {path.parent}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GazetteerError(f"{path.name}: not valid JSON ({error})") from None
    if isinstance(items, dict) and isinstance(items.get("items"), list):
        items = items["items"]  # the release artifacts wrap the list
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise GazetteerError(f"{path.name}: expected a list of records")
    return items


def _field(item: dict, dotted: str, file: str, number: int, *, required: bool = True):
    value = item
    for step in dotted.split("."):
        value = value.get(step) if isinstance(value, dict) else None
    if required and value in (None, ""):
        raise GazetteerError(f"{file}: record {number}: missing field {dotted}")
    return value


def _admin_units(folder: Path) -> tuple[list[dict], list[dict]]:
    """Places and names of the governorates, districts and sub-districts."""
    places, names = [], []
    parents: dict[str, dict] = {}  # Open-Syria id -> place row
    for level, file in ADMIN_FILES.items():
        depth = list(ADMIN_FILES).index(level) + 1
        for number, item in enumerate(_read_json(folder / file)):
            pcode = _field(item, "externalIds.ochaPcode", file, number)
            row = {"place_id": pcode, "level": level, "source": "ocha"}
            row["name_en"] = _field(item, "name.en", file, number)
            row["name_ar"] = _field(item, "name.ar", file, number, required=False)
            for parent_depth, parent_field in ((1, "governorateId"), (2, "districtId")):
                if parent_depth < depth:
                    parent_id = _field(item, parent_field, file, number)
                    parent = parents.get(parent_id)
                    if parent is None:
                        raise GazetteerError(f"{file}: record {number}: {parent_field} names no record read before it")
                    for part in ("pcode", "en", "ar"):
                        row[f"admin{parent_depth}_{part}"] = parent[f"admin{parent_depth}_{part}"]
            row[f"admin{depth}_pcode"], row[f"admin{depth}_en"], row[f"admin{depth}_ar"] = pcode, row["name_en"], row["name_ar"]
            for axis, column in (("latitude", "lat"), ("longitude", "lon")):
                value = _field(item, f"centroid.{axis}", file, number, required=False)
                row[column] = float(value) if isinstance(value, (int, float)) else None
            population = _field(item, "population.value", file, number, required=False)
            row["population"] = int(population) if isinstance(population, (int, float)) else None
            parents[_field(item, "id", file, number)] = row
            places.append(row)
            names += _names_of(pcode, [row["name_en"], row["name_ar"]], kind="official")
            aliases = _field(item, "aliases", file, number, required=False) or []
            names += _names_of(pcode, [a.get("value") for a in aliases if isinstance(a, dict)], kind="alternate")
    return places, names


def _names_of(place_id: str, spellings, *, kind: str) -> list[dict]:
    rows = []
    for spelling in spellings:
        if isinstance(spelling, str) and spelling.strip() and REPLACEMENT_CHARACTER not in spelling:
            script = script_of(spelling)
            if script:
                rows.append({"place_id": place_id, "name": spelling.strip(), "script": script, "kind": kind})
    return rows


def _read_communities(path: Path) -> pl.DataFrame:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GazetteerError(f"{path.name}: file not found in {path.parent}") from None
    # a few Arabic names hold broken UTF-8: keep the rest of the row, mark the bytes with U+FFFD
    text = raw.decode("utf-8-sig", errors="replace")
    try:
        frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as error:
        raise GazetteerError(f"{path.name}: not a readable CSV file ({type(error).__name__})") from None
    missing = [column for column in COMMUNITY_COLUMNS if column not in frame.columns]
    if missing:
        raise GazetteerError(f"{path.name}: missing column(s) {', '.join(missing)}")
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(column) for column in OPTIONAL_COMMUNITY_COLUMNS if column not in frame.columns
    )
    for column in ("LATITUDE", "LONGITUDE"):
        bad = frame.with_row_index("line", offset=2).filter(
            pl.col(column).is_not_null() & pl.col(column).str.strip_chars().cast(pl.Float64, strict=False).is_null()
        )
        if bad.height:
            raise GazetteerError(f"{path.name}: line {bad['line'][0]}: column {column} is not a number")
    empty = frame.with_row_index("line", offset=2).filter(pl.col("PCODE").is_null() | (pl.col("PCODE").str.strip_chars() == ""))
    if empty.height:
        raise GazetteerError(f"{path.name}: line {empty['line'][0]}: column PCODE is empty")
    duplicated = frame.filter(pl.col("PCODE").is_duplicated())
    if duplicated.height:
        raise GazetteerError(f"{path.name}: column PCODE repeats {duplicated['PCODE'].n_unique()} code(s)")
    return frame


def _communities(frame: pl.DataFrame, units: pl.DataFrame) -> tuple[pl.DataFrame, list[dict]]:
    """Community places (admin names taken from the admin files where they know the P-code) and names."""
    admin_names = [
        units.select(
            pl.col("place_id").alias(f"ADMIN{n}_COD"),
            pl.col("name_en").alias(f"unit{n}_en"),
            pl.col("name_ar").alias(f"unit{n}_ar"),
        )
        for n in (1, 2, 3)
    ]
    for lookup in admin_names:
        frame = frame.join(lookup, on=lookup.columns[0], how="left", maintain_order="left")
    places = frame.select(
        pl.col("PCODE").str.strip_chars().alias("place_id"),
        pl.lit("community").alias("level"),
        pl.col("NAME_EN").alias("name_en"),
        pl.col("NAME_ARA").alias("name_ar"),
        *(
            expression
            for n in (1, 2, 3)
            for expression in (
                pl.col(f"ADMIN{n}_COD").alias(f"admin{n}_pcode"),
                pl.coalesce(f"unit{n}_en", f"ADMIN{n}_EN").alias(f"admin{n}_en"),
                pl.coalesce(f"unit{n}_ar", f"ADMIN{n}_ARA").alias(f"admin{n}_ar"),
            )
        ),
        pl.col("LATITUDE").str.strip_chars().cast(pl.Float64).alias("lat"),
        pl.col("LONGITUDE").str.strip_chars().cast(pl.Float64).alias("lon"),
        pl.lit(None, pl.Int64).alias("population"),
        pl.lit("ocha").alias("source"),
    )
    names = []
    for row in frame.iter_rows(named=True):
        place_id = row["PCODE"].strip()
        names += _names_of(place_id, [row["NAME_EN"], row["NAME_ARA"]], kind="official")
        names += _names_of(place_id, [row["NAM_EN_REF"], *_name_parts(row)], kind="alternate")
    return places, names


def _name_parts(row: dict) -> list[str]:
    """The villages of a composite community name, without qualifiers naming its own admin units."""
    qualifiers = {
        skeleton_key(row[column])
        for column in ("ADMIN1_EN", "ADMIN1_ARA", "ADMIN2_EN", "ADMIN2_ARA", "ADMIN3_EN", "ADMIN3_ARA")
        if row.get(column)
    }
    parts = []
    for name in (row["NAME_EN"], row["NAME_ARA"]):
        pieces = [p.strip() for p in _NAME_PARTS.split(name or "") if p.strip()]
        if len(pieces) > 1:
            parts += [p for p in pieces if skeleton_key(p) not in qualifiers]
    return parts


def _unit_spellings_from_communities(frame: pl.DataFrame, units: pl.DataFrame) -> list[dict]:
    """The admin names written in the community file ("Idleb", "Al Ma'ra") as alternates of the units."""
    spellings = pl.concat(
        frame.select(pl.col(f"ADMIN{n}_COD").alias("place_id"), pl.col(f"ADMIN{n}_{suffix}").alias("name"))
        for n in (1, 2, 3)
        for suffix in ("EN", "ARA")
    ).drop_nulls().unique().join(units.select("place_id"), on="place_id", how="semi")
    names = []
    for place_id, name in spellings.sort("place_id", "name").iter_rows():
        names += _names_of(place_id, [name], kind="alternate")
    return names


def read_ocha(folder: Path) -> Gazetteer:
    """Read a folder holding governorates.json, districts.json, subdistricts.json and ocha_communities_2015.csv.

    Governorates also get the spellings of ``data_contracts/gazetteer/governorates.yaml``
    (matched by P-code). Arabic names with broken UTF-8 are kept for display but not indexed.
    Example: ``read_ocha(Path("../shared/data/geo")).summary()["by_level"]`` gives
    ``{'governorate': 14, 'district': 62, 'subdistrict': 272, 'community': 5251}``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GazetteerError(f"{folder}: gazetteer folder not found")
    communities_frame = _read_communities(folder / COMMUNITIES_FILE)
    unit_rows, names = _admin_units(folder)
    units = pl.DataFrame(unit_rows, schema=PLACE_SCHEMA)
    duplicated = units.filter(pl.col("place_id").is_duplicated())
    if duplicated.height:
        raise GazetteerError(f"admin files: P-code used by more than one unit: {duplicated['place_id'][0]}")
    for entry in load_governorates():
        names += _names_of(entry["pcode"], [str(alias) for alias in entry["aliases"]], kind="alternate")
    known = set(units.get_column("place_id").to_list())
    names = [row for row in names if row["place_id"] in known]
    communities, community_names = _communities(communities_frame, units)
    names += community_names + _unit_spellings_from_communities(communities_frame, units)
    places = pl.concat([units, communities])
    clash = places.filter(pl.col("place_id").is_duplicated())
    if clash.height:
        raise GazetteerError(f"{COMMUNITIES_FILE}: a PCODE is also an admin P-code: {clash['place_id'][0]}")
    frame = pl.DataFrame(names, schema={"place_id": pl.String, "name": pl.String, "script": pl.String, "kind": pl.String})
    return Gazetteer.from_frames(places, frame.with_columns(pl.lit(None, pl.String).alias("key")))
