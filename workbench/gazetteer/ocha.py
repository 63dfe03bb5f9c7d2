"""Read the OCHA / Open-Syria gazetteer files: admin units (JSON) and communities (CSV).

The layout is the one of ``../shared/data/geo`` (see its DATA_SCHEMA.md): three JSON lists of
admin units, each with ``name.en``/``name.ar``, ``aliases``, ``centroid`` and
``externalIds.ochaPcode``, children naming their parents by ``governorateId``/``districtId``;
and the OCHA community list (2015) as CSV.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import polars as pl

from workbench.errors import GazetteerError
from workbench.gazetteer.geonames import load_governorates
from workbench.gazetteer.keys import skeleton_key
from workbench.gazetteer.model import PLACE_SCHEMA, Gazetteer, from_rows, spelling_rows

#: level -> file, coarse to fine; a unit's parents are read before it
ADMIN_FILES = {"governorate": "governorates.json", "district": "districts.json", "subdistrict": "subdistricts.json"}
PARENT_FIELDS = {2: ("governorateId",), 3: ("governorateId", "districtId")}
COMMUNITIES_FILE = "ocha_communities_2015.csv"
COMMUNITY_COLUMNS = (
    "NAME_EN", "NAME_ARA", "PCODE", "ADMIN1_COD", "ADMIN2_COD", "ADMIN3_COD", "LATITUDE", "LONGITUDE",
)
OPTIONAL_COMMUNITY_COLUMNS = (
    "NAM_EN_REF", "ADMIN1_EN", "ADMIN1_ARA", "ADMIN2_EN", "ADMIN2_ARA", "ADMIN3_EN", "ADMIN3_ARA",
)
# Composite community names join two villages ("Maaret Elnaasan - Maaret Elhaski") or add a
# qualifier ("Deir Hanna / Lattakia"); Arabic ones use "_" as well.
_NAME_PARTS = re.compile(r"_|\s*/\s*|\s+-\s*|\s*-\s+")


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


def _number(value: object, kind: type) -> float | int | None:
    return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _admin_units(folder: Path) -> tuple[pl.DataFrame, list[dict]]:
    """Places and spellings of the governorates, districts and sub-districts."""
    rows, spellings = [], []
    by_id: dict[str, dict] = {}  # Open-Syria id -> row, for the children's parent links
    for depth, (level, file) in enumerate(ADMIN_FILES.items(), start=1):
        for number, item in enumerate(_read_json(folder / file)):
            pcode = _field(item, "externalIds.ochaPcode", file, number)
            row = {
                "place_id": pcode,
                "level": level,
                "name_en": _field(item, "name.en", file, number),
                "name_ar": _field(item, "name.ar", file, number, required=False),
                "lat": _number(_field(item, "centroid.latitude", file, number, required=False), float),
                "lon": _number(_field(item, "centroid.longitude", file, number, required=False), float),
                "population": _number(_field(item, "population.value", file, number, required=False), int),
                "source": "ocha",
            }
            for parent_depth, parent_field in enumerate(PARENT_FIELDS.get(depth, ()), start=1):
                parent = by_id.get(_field(item, parent_field, file, number))
                if parent is None:
                    raise GazetteerError(f"{file}: record {number}: {parent_field} names no unit read before it")
                row |= {key: value for key, value in parent.items() if key.startswith(f"admin{parent_depth}_")}
            own = {"pcode": pcode, "en": row["name_en"], "ar": row["name_ar"]}
            row |= {f"admin{depth}_{part}": value for part, value in own.items()}
            by_id[_field(item, "id", file, number)] = row
            rows.append(row)
            aliases = _field(item, "aliases", file, number, required=False) or []
            spellings += spelling_rows(pcode, [row["name_en"], row["name_ar"]], kind="official")
            alias_values = [alias.get("value") for alias in aliases if isinstance(alias, dict)]
            spellings += spelling_rows(pcode, alias_values, kind="alternate")
    units = pl.DataFrame(rows, schema=PLACE_SCHEMA)
    repeated = units.filter(pl.col("place_id").is_duplicated())
    if repeated.height:
        raise GazetteerError(f"admin files: P-code {repeated['place_id'][0]} is given to more than one unit")
    return units, spellings


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
    ).with_columns(pl.col(column).str.strip_chars() for column in ("PCODE", "LATITUDE", "LONGITUDE"))
    lines = frame.with_row_index("line", offset=2)  # line 1 is the header
    for column in ("LATITUDE", "LONGITUDE"):
        bad = lines.filter(pl.col(column).is_not_null() & pl.col(column).cast(pl.Float64, strict=False).is_null())
        if bad.height:
            raise GazetteerError(f"{path.name}: line {bad['line'][0]}: column {column} is not a number")
    empty = lines.filter(pl.col("PCODE").is_null() | (pl.col("PCODE") == ""))
    if empty.height:
        raise GazetteerError(f"{path.name}: line {empty['line'][0]}: column PCODE is empty")
    repeated = frame.filter(pl.col("PCODE").is_duplicated())
    if repeated.height:
        raise GazetteerError(f"{path.name}: column PCODE repeats {repeated['PCODE'].n_unique()} code(s)")
    return frame


def _community_places(frame: pl.DataFrame, units: pl.DataFrame) -> pl.DataFrame:
    """Community places; admin names come from the admin files where they know the P-code."""
    for n in (1, 2, 3):
        names = units.select(
            pl.col("place_id").alias(f"ADMIN{n}_COD"),
            pl.col("name_en").alias(f"unit{n}_en"),
            pl.col("name_ar").alias(f"unit{n}_ar"),
        )
        frame = frame.join(names, on=f"ADMIN{n}_COD", how="left", maintain_order="left")
    return frame.select(
        pl.col("PCODE").alias("place_id"),
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
        pl.col("LATITUDE").cast(pl.Float64).alias("lat"),
        pl.col("LONGITUDE").cast(pl.Float64).alias("lon"),
        pl.lit(None, pl.Int64).alias("population"),
        pl.lit("ocha").alias("source"),
    )


def _name_parts(row: dict) -> list[str]:
    """The villages of a composite community name, without qualifiers naming its own admin units."""
    admin_names = [row[f"ADMIN{n}_{suffix}"] for n in (1, 2, 3) for suffix in ("EN", "ARA")]
    qualifiers = {skeleton_key(name) for name in admin_names if name}
    parts = []
    for name in (row["NAME_EN"], row["NAME_ARA"]):
        pieces = [piece.strip() for piece in _NAME_PARTS.split(name or "") if piece.strip()]
        if len(pieces) > 1:
            parts += [piece for piece in pieces if skeleton_key(piece) not in qualifiers]
    return parts


def _community_spellings(frame: pl.DataFrame) -> list[dict]:
    spellings = []
    for row in frame.iter_rows(named=True):
        spellings += spelling_rows(row["PCODE"], [row["NAME_EN"], row["NAME_ARA"]], kind="official")
        spellings += spelling_rows(row["PCODE"], [row["NAM_EN_REF"], *_name_parts(row)], kind="alternate")
    return spellings


def _admin_spellings_of_communities(frame: pl.DataFrame, units: pl.DataFrame) -> list[dict]:
    """The admin names written in the community file ("Idleb", "Al Ma'ra") as alternates of the units."""
    written = pl.concat(
        frame.select(pl.col(f"ADMIN{n}_COD").alias("place_id"), pl.col(f"ADMIN{n}_{suffix}").alias("name"))
        for n in (1, 2, 3)
        for suffix in ("EN", "ARA")
    )
    known = (
        written.drop_nulls()
        .unique()
        .join(units.select("place_id"), on="place_id", how="semi")
        .sort("place_id", "name")
    )
    return [row for place_id, name in known.iter_rows() for row in spelling_rows(place_id, [name], kind="alternate")]


def read_ocha(folder: Path) -> Gazetteer:
    """Read governorates.json, districts.json, subdistricts.json and ocha_communities_2015.csv from a folder.

    Governorates also get the spellings of ``data_contracts/gazetteer/governorates.yaml``
    (matched by P-code). Arabic names with broken UTF-8 are kept for display but not indexed.
    Example: ``read_ocha(Path("../shared/data/geo")).summary()["by_level"]`` gives
    ``{'governorate': 14, 'district': 62, 'subdistrict': 272, 'community': 5251}``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GazetteerError(f"{folder}: gazetteer folder not found")
    communities = _read_communities(folder / COMMUNITIES_FILE)
    units, spellings = _admin_units(folder)
    present = set(units.get_column("place_id").to_list())
    for entry in load_governorates():
        if entry["pcode"] in present:
            spellings += spelling_rows(entry["pcode"], [str(alias) for alias in entry["aliases"]], kind="alternate")
    places = pl.concat([units, _community_places(communities, units)])
    clash = places.filter(pl.col("place_id").is_duplicated())
    if clash.height:
        raise GazetteerError(f"{COMMUNITIES_FILE}: PCODE {clash['place_id'][0]} is also an admin unit's P-code")
    spellings += _community_spellings(communities) + _admin_spellings_of_communities(communities, units)
    return from_rows(places, spellings)
