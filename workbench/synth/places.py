"""The places synthetic incidents happen in, taken from the built-in gazetteer.

Every spelling written into a package is one the built-in gazetteer resolves back to the same
place (checked here when the pool is built), except the names in ``UNKNOWN_PLACE_CANDIDATES``,
which are invented and kept only if the gazetteer does *not* know them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from workbench.gazetteer import Gazetteer, builtin, skeleton_key

POOL_SIZE = 60
#: Invented hamlets and farms; a name is used only if the gazetteer resolves it to nothing.
UNKNOWN_PLACE_CANDIDATES: tuple[str, ...] = (
    "Khirbet Umm Zaytouna al-Gharbiya",
    "Mazraat Tell Qasabiyat",
    "Tell Abu Sufayra al-Jadida",
    "Harat al-Bustan al-Qibli",
    "Ein Shiqaq al-Fawqa Farm",
    "Jubb Hamdiyat al-Sharqi",
)
_APOSTROPHES = str.maketrans({c: None for c in "‘’ʿʾ'`´"})
_PLAIN_LATIN = re.compile(r"^[A-Z][A-Za-z]+(?:[ -][A-Za-z]+)*$")


@dataclass(frozen=True)
class Place:
    """A community of the gazetteer with the spellings NGOs write for it."""

    place_id: str
    name_en: str
    name_ar: str
    variants: tuple[str, ...]
    admin1_pcode: str
    governorate_en: str
    governorate_ar: str
    lat: float
    lon: float
    weight: float


@dataclass(frozen=True)
class PlacePool:
    places: tuple[Place, ...]
    unknown_names: tuple[str, ...]

    @property
    def weights(self) -> list[float]:
        total = sum(p.weight for p in self.places)
        return [p.weight / total for p in self.places]


def ascii_name(name: str) -> str:
    """A gazetteer name without diacritics or ayn marks: "Dūmā" -> "Duma", "I‘zāz" -> "Izaz"."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_APOSTROPHES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def _encodes_cp1256(text: str) -> bool:
    try:
        text.encode("cp1256")
    except UnicodeEncodeError:
        return False
    return True


def governorate_text_en(place: Place) -> str:
    """The governorate only, as field reports write it ("Idlib countryside")."""
    # Damascus countryside is Rif Dimashq, another governorate: name those two plainly
    if place.admin1_pcode in ("SY01", "SY03"):
        return f"{place.governorate_en} Governorate"
    return f"{place.governorate_en} countryside"


def governorate_text_ar(place: Place) -> str:
    return f"محافظة {place.governorate_ar}"


def build_pool(gazetteer: Gazetteer, size: int = POOL_SIZE) -> PlacePool:
    """The ``size`` most populous communities whose English, Arabic and variant spellings all
    resolve back to them, weighted by the square root of their population."""
    governorates = {
        row["place_id"]: row for row in gazetteer.places.filter(pl.col("level") == "governorate").iter_rows(named=True)
    }
    towns = (
        gazetteer.places.filter((pl.col("level") == "community") & pl.col("population").is_not_null() & pl.col("name_ar").is_not_null())
        .sort(["population", "place_id"], descending=[True, False])
        .head(size * 2)
    )
    rows = [r for r in towns.iter_rows(named=True) if r["admin1_pcode"] in governorates and _encodes_cp1256(r["name_ar"])]
    english = [ascii_name(r["name_en"]) for r in rows]
    alternates = (
        gazetteer.names.filter(
            pl.col("place_id").is_in([r["place_id"] for r in rows]) & (pl.col("script") == "latin") & (pl.col("kind") == "alternate")
        )
        .sort(["place_id", "name"])
        .select("place_id", "name")
        .rows()
    )
    candidates = [(pid, name) for pid, name in alternates if _PLAIN_LATIN.match(name)]
    texts = english + [r["name_ar"] for r in rows] + [name for _, name in candidates]
    resolved = gazetteer.resolve(texts).get_column("place_id").to_list()
    n = len(rows)
    by_place: dict[str, list[str]] = {}
    for (pid, name), got in zip(candidates, resolved[2 * n :]):
        if got == pid:
            by_place.setdefault(pid, []).append(name)

    places: list[Place] = []
    for i, row in enumerate(rows):
        pid = row["place_id"]
        if resolved[i] != pid or resolved[n + i] != pid:
            continue
        canonical = english[i]
        variants = tuple(
            v for v in by_place.get(pid, []) if v.casefold() != canonical.casefold() and skeleton_key(v) == skeleton_key(canonical)
        )
        gov = governorates[row["admin1_pcode"]]
        places.append(
            Place(
                place_id=pid,
                name_en=canonical,
                name_ar=row["name_ar"],
                variants=variants,
                admin1_pcode=row["admin1_pcode"],
                governorate_en=gov["name_en"],
                governorate_ar=gov["name_ar"],
                lat=float(row["lat"]),
                lon=float(row["lon"]),
                weight=float(row["population"]) ** 0.5,
            )
        )
        if len(places) == size:
            break
    unknown = gazetteer.resolve(list(UNKNOWN_PLACE_CANDIDATES)).get_column("place_id").to_list()
    return PlacePool(
        places=tuple(places),
        unknown_names=tuple(name for name, got in zip(UNKNOWN_PLACE_CANDIDATES, unknown) if got is None),
    )


@lru_cache(maxsize=1)
def builtin_gazetteer() -> Gazetteer:
    """:func:`workbench.gazetteer.builtin`, built once per process (it takes a second or two)."""
    return builtin()


@lru_cache(maxsize=1)
def builtin_pool() -> PlacePool:
    """The pool over the built-in gazetteer (built once per process)."""
    return build_pool(builtin_gazetteer())
