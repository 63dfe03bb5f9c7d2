"""From free-text place names to gazetteer places, as named polars steps.

Python only computes the keys of each distinct text (and of its parts); everything after
that is joins and window expressions. The rules are documented in the package docstring.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from workbench.gazetteer.keys import LEVELS, analyse, is_country, skeleton_key, split_parts, strip_surroundings

COMMUNITY = "community"
SURROUNDINGS = "surroundings"
WHOLE, PARTS = 0, 1
BY_KEY, BY_SKELETON = 0, 1
#: shorter skeletons ("dm", "sd") match too many unrelated names to mean anything
MIN_SKELETON_LENGTH = 3
ADMIN_COLUMNS = ("admin1_pcode", "admin2_pcode", "admin3_pcode")

QUERY_SCHEMA = {
    "text": pl.String,
    "step": pl.Int8,
    "part": pl.Int16,
    "variant": pl.Int8,
    "key": pl.String,
    "skeleton": pl.String,
    "hint": pl.String,
}
RESOLVED_SCHEMA = {
    "text": pl.String,
    "place_id": pl.String,
    "level": pl.String,
    "lat": pl.Float64,
    "lon": pl.Float64,
    "admin1_pcode": pl.String,
    "admin2_pcode": pl.String,
    "admin3_pcode": pl.String,
    "match": pl.String,
    "candidates": pl.Int32,
    "candidate_ids": pl.List(pl.String),
}


@dataclass(frozen=True)
class Index:
    """What the resolver looks names up in (derived from a gazetteer's places and names)."""

    keys: pl.DataFrame  # key, place_id
    skeletons: pl.DataFrame  # skeleton, place_id
    lineage: pl.DataFrame  # place_id, ancestor_id: every admin unit a place lies in (not itself)
    places: pl.DataFrame  # place_id, level, level_rank, lat, lon, admin1..3_pcode


def build_index(places: pl.DataFrame, names: pl.DataFrame) -> Index:
    """Index the names of a gazetteer by key and by skeleton, with each place's admin lineage."""
    info = places.select(
        "place_id",
        "level",
        pl.col("level").replace_strict({level: rank for rank, level in enumerate(LEVELS)}).alias("level_rank"),
        "lat",
        "lon",
        *ADMIN_COLUMNS,
    )
    lineage = (
        places.unpivot(index="place_id", on=list(ADMIN_COLUMNS), value_name="ancestor_id")
        .filter(pl.col("ancestor_id").is_not_null() & (pl.col("ancestor_id") != pl.col("place_id")))
        .select("place_id", "ancestor_id")
        .unique()
    )
    skeletons = {name: skeleton_key(name) for name in names.get_column("name").unique().to_list()}
    named = names.select(
        "key", "place_id", "kind", pl.col("name").replace_strict(skeletons, return_dtype=pl.String).alias("skeleton")
    )
    keys = pl.concat([named.select("key", "place_id"), _seat_aliases(named, info, lineage)]).unique()
    return Index(
        keys=keys,
        skeletons=named.filter(pl.col("skeleton").str.len_chars() >= MIN_SKELETON_LENGTH)
        .select("skeleton", "place_id")
        .unique(),
        lineage=lineage,
        places=info,
    )


def _seat_aliases(named: pl.DataFrame, info: pl.DataFrame, lineage: pl.DataFrame) -> pl.DataFrame:
    """Spellings of an admin unit that also name the town it is named after, as (key, place_id).

    A community is the namesake seat of an admin unit that contains it when one of its names
    has the key of the unit's official name (Damascus governorate and the city of Damascus;
    Duma district and the town of Duma). Every spelling of the unit is then a spelling of the
    town too, so "Dimashq" or "Khan Shaykhun" find the town even where the community list
    spells it otherwise. Aliases alone do not make a seat: "منطقة حلب", an alias of Mount
    Simeon district, does not make Aleppo city answer to "Jebel Saman".
    """
    communities = info.filter(pl.col("level") == COMMUNITY).select("place_id")
    town = named.join(communities, on="place_id", how="semi").rename({"place_id": "town"})
    unit = named.join(communities, on="place_id", how="anti").rename({"place_id": "unit"})
    seats = (
        town.select("key", "town")
        .join(unit.filter(pl.col("kind") == "official").select("key", "unit"), on="key")
        .join(lineage.rename({"place_id": "town", "ancestor_id": "unit"}), on=["town", "unit"], how="semi")
        .select("town", "unit")
        .unique()
    )
    return seats.join(unit, on="unit").select("key", pl.col("town").alias("place_id"))


def _queries(texts: list[str]) -> pl.DataFrame:
    """The keys to look up for each distinct text: the whole text, then its parts.

    A part that reads "X countryside" is looked up as written first (variant 0: "Rif Dimashq"
    is a governorate), then as X with the surroundings hint (variant 1).
    """
    rows: list[tuple] = []
    for text in texts:
        key, skeleton, hint = analyse(text)
        rows.append((text, WHOLE, 0, 0, key, skeleton, hint))
        pieces = split_parts(text)
        parts = [piece for piece in pieces if not is_country(piece)]
        cores = [strip_surroundings(part) for part in parts]
        if parts and (len(pieces) > 1 or cores[0]):
            for number, (part, core) in enumerate(zip(parts, cores)):
                rows.append((text, PARTS, number, 0, *analyse(part)))
                if core:
                    key, skeleton, _hint = analyse(core)
                    rows.append((text, PARTS, number, 1, key, skeleton, SURROUNDINGS))
    return pl.DataFrame(rows, schema=QUERY_SCHEMA, orient="row")


def _lookup(index: Index, queries: pl.DataFrame) -> pl.DataFrame:
    """Places each query finds: by key, else by skeleton; the whole text, else its parts."""
    by_key = queries.join(index.keys, on="key").with_columns(via=pl.lit(BY_KEY, pl.Int8))
    by_skeleton = (
        queries.filter(pl.col("skeleton").str.len_chars() >= MIN_SKELETON_LENGTH)
        .join(index.skeletons, on="skeleton")
        .with_columns(via=pl.lit(BY_SKELETON, pl.Int8))
    )
    columns = ["text", "step", "part", "variant", "hint", "via", "place_id"]
    preference = pl.col("variant") * 2 + pl.col("via")
    return (
        pl.concat([by_key.select(columns), by_skeleton.select(columns)])
        .filter(preference == preference.min().over("text", "step", "part"))
        .filter(pl.col("step") == pl.col("step").min().over("text"))
        .join(index.places.select("place_id", "level", "level_rank"), on="place_id")
    )


def _apply_hints(hits: pl.DataFrame) -> pl.DataFrame:
    """A designator word keeps the places of its level; "X countryside" keeps X's widest unit."""
    part = ("text", "part")
    at_hinted_level = pl.col("level") == pl.col("hint")
    is_unit = pl.col("level") != COMMUNITY
    surroundings = pl.col("hint") == SURROUNDINGS
    return hits.filter(
        pl.when(surroundings)
        .then(is_unit)
        .when(pl.col("hint").is_not_null())
        .then(at_hinted_level | ~at_hinted_level.any().over(part))
        .otherwise(True)
    ).filter(~surroundings.fill_null(False) | (pl.col("level_rank") == pl.col("level_rank").min().over(part)))


def _unknown_part_first(queries: pl.DataFrame, hits: pl.DataFrame) -> pl.DataFrame:
    """Texts where a part found nothing before a part that did ("Mar Zita, Idlib")."""
    matched = hits.filter(pl.col("step") == PARTS).select("text", "part").unique()
    unmatched = (
        queries.filter(pl.col("step") == PARTS).select("text", "part").join(matched, on=["text", "part"], how="anti")
    )
    last_matched = matched.group_by("text").agg(pl.col("part").max().alias("last_matched"))
    return (
        unmatched.join(last_matched, on="text")
        .filter(pl.col("part") < pl.col("last_matched"))
        .select("text")
        .unique()
    )


def _support(index: Index, hits: pl.DataFrame) -> pl.DataFrame:
    """How many parts of its text back each candidate (a part backs a place it names or lies in)."""
    candidates = hits.select("text", "part", "place_id").unique()
    self_and_ancestors = pl.concat(
        [index.lineage, index.places.select("place_id", pl.col("place_id").alias("ancestor_id"))]
    )
    return (
        candidates.join(self_and_ancestors, on="place_id")
        .join(
            candidates.select("text", pl.col("part").alias("backing_part"), pl.col("place_id").alias("ancestor_id")),
            on=["text", "ancestor_id"],
        )
        .group_by("text", "place_id")
        .agg(pl.col("backing_part").n_unique().alias("support"))
        .join(candidates.group_by("text").agg(pl.col("part").n_unique().alias("parts")), on="text")
    )


def _contradicted(support: pl.DataFrame) -> pl.DataFrame:
    """Texts whose parts name no common place ("Hama, Idlib")."""
    return (
        support.group_by("text")
        .agg((pl.col("support").max() < pl.col("parts").first()).alias("contradicted"))
        .filter("contradicted")
        .select("text")
    )


def _drop_contradicted_guesses(index: Index, hits: pl.DataFrame) -> pl.DataFrame:
    """Where parts contradict each other, parts found only by skeleton yield: they were guesses.

    "Sukkari, Aleppo": "Sukkari" is no town of Aleppo, only like-sounding villages elsewhere,
    so it counts as an unknown part, and Aleppo alone decides.
    """
    contradicted = _contradicted(_support(index, hits))
    guess = (pl.col("step") == PARTS) & (pl.col("via") == BY_SKELETON)
    return hits.filter(~(guess & pl.col("text").is_in(contradicted.get_column("text").implode())))


def _prefer_namesakes(index: Index, best: pl.DataFrame, coarse_texts: pl.DataFrame) -> pl.DataFrame:
    """Among nested namesakes keep the town (or the widest unit when an unknown part came first).

    Candidates that take part in a nesting beat isolated homonyms elsewhere.
    """
    pairs = (
        best.join(index.lineage, on="place_id")
        .join(best.select("text", pl.col("place_id").alias("ancestor_id")), on=["text", "ancestor_id"], how="semi")
        .join(index.places.select("place_id", "level"), on="place_id")
        .with_columns(coarse=pl.col("text").is_in(coarse_texts.get_column("text").implode()))
    )
    keep_town = (pl.col("level") == COMMUNITY) & ~pl.col("coarse")
    dropped = pl.concat(
        [
            pairs.filter(keep_town).select("text", pl.col("ancestor_id").alias("place_id")),
            pairs.filter(~keep_town).select("text", "place_id"),
        ]
    )
    nested = pl.concat(
        [pairs.select("text", "place_id"), pairs.select("text", pl.col("ancestor_id").alias("place_id"))]
    ).unique().with_columns(nested=pl.lit(True))
    return (
        best.join(dropped, on=["text", "place_id"], how="anti")
        .join(nested, on=["text", "place_id"], how="left")
        .filter(pl.col("nested").is_not_null() | ~pl.col("nested").is_not_null().any().over("text"))
        .select("text", "place_id")
    )


def _decide(index: Index, remaining: pl.DataFrame) -> pl.DataFrame:
    """One place per text: the single remaining candidate, else the finest unit they all share."""
    counted = remaining.with_columns(pl.len().over("text").alias("n"))
    single = counted.filter(pl.col("n") == 1).select("text", "place_id")
    shared = (
        counted.filter(pl.col("n") > 1)
        .join(index.places.select("place_id", *ADMIN_COLUMNS), on="place_id")
        .group_by("text")
        .agg(
            pl.when((pl.col(column).n_unique() == 1) & (pl.col(column).null_count() == 0))
            .then(pl.col(column).first())
            .alias(column)
            for column in ADMIN_COLUMNS
        )
        .unpivot(index="text", on=list(ADMIN_COLUMNS), variable_name="column", value_name="place_id")
        .drop_nulls("place_id")
        .join(index.places.select("place_id"), on="place_id", how="semi")
        .sort("text", "column", descending=[False, True])  # admin3 before admin2 before admin1
        .unique("text", keep="first")
        .select("text", "place_id")
    )
    return pl.concat([single, shared])


def resolve(index: Index, texts: list[str | None]) -> pl.DataFrame:
    """Resolve each text to a place; see :meth:`Gazetteer.resolve` for the columns."""
    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String}).with_row_index("row")
    distinct = [text for text in frame.get_column("text").drop_nulls().unique().to_list() if text.strip()]
    queries = _queries(distinct)
    hits = _drop_contradicted_guesses(index, _apply_hints(_lookup(index, queries)))
    support = _support(index, hits)
    best = support.filter(pl.col("support") == pl.col("support").max().over("text")).select("text", "place_id")
    remaining = _prefer_namesakes(index, best, _unknown_part_first(queries, hits))
    # parts that name places with nothing in common leave the choice to the analyst
    chosen = _decide(index, remaining.join(_contradicted(support), on="text", how="anti"))

    match = hits.group_by("text").agg(
        pl.when(pl.col("step").first() == PARTS)
        .then(pl.lit("part"))
        .when(pl.col("via").min() == BY_KEY)
        .then(pl.lit("exact"))
        .otherwise(pl.lit("skeleton"))
        .alias("match")
    )
    listed = best.group_by("text").agg(
        pl.len().cast(pl.Int32).alias("candidates"), pl.col("place_id").sort().alias("candidate_ids")
    )
    per_text = (
        chosen.join(index.places.select("place_id", "level", "lat", "lon", *ADMIN_COLUMNS), on="place_id")
        .join(match, on="text")
        .join(listed, on="text", how="full", coalesce=True)
    )
    return (
        frame.join(per_text, on="text", how="left")
        .sort("row")
        .with_columns(
            pl.col("candidates").fill_null(0),
            pl.col("candidate_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        )
        .select(pl.col(column).cast(dtype) for column, dtype in RESOLVED_SCHEMA.items())
    )
