"""Incident linkage: the same attack reported by several NGOs, found with Splink on DuckDB.

Each current incident becomes one row of ``link_incidents`` (keyed ``NGO/incident id``) with what
the comparisons need: the date as a range with its precision, the place with its precision and
admin units, violation types, killed, the alleged perpetrators' names, and the narrative's words
(as 32-bit hashes).

Comparisons respect precision: a date known to the month agrees with any day of that month (but
counts as weaker evidence than the same day), a place known to the governorate agrees with any
place inside it (weaker than two points 2 km apart). Candidate pairs are blocked by time window and
area, so the work grows with the incidents, not with their square. The model is trained without
labels (u from random pairs, m by expectation maximisation over three blockings that each leave
some comparisons free, sampled by day or month in large collections) and saved with every run.

Speed, measured on the dense benchmark (benchmarks/linkage.py, 1,000,000 incidents of 10 NGOs):
most of the time goes into scoring candidate pairs, so each comparison is written in a cheap form
that puts pairs in the same levels (Jaccard in whole numbers over hashed words, a plane distance,
``list_has_any``), and the blocking rules are equality joins over windows shifted by half a step.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from workbench.sql import sql_literal
from workbench.linkage.engine import splink_settings
from workbench.store import Store

#: The linkage input: one row per current incident (the latest submission's, when an NGO sent it twice).
PREPARE_SQL = """
CREATE OR REPLACE TEMP TABLE link_incidents AS
WITH latest AS (
    SELECT * FROM active.incidents
    QUALIFY row_number() OVER (PARTITION BY ngo_id, incident_id ORDER BY submission_id DESC, source_row) = 1),
perpetrators AS (
    SELECT ia.ngo_id, ia.incident_id,
           list_sort(list(DISTINCT lower(trim(coalesce(a.name, a.affiliation))))) AS perpetrators
    FROM active.incident_actors ia JOIN active.actors a ON a.ngo_id = ia.ngo_id AND a.actor_id = ia.actor_id
    WHERE ia.role = 'alleged_perpetrator' AND coalesce(a.name, a.affiliation) IS NOT NULL
    GROUP BY ALL),
words AS (
    SELECT ngo_id, incident_id,
           -- the words (runs of at least four letters or digits), each distinct one as a 32-bit hash: comparing small
           -- numbers is several times cheaper than comparing strings, and two different words share a hash about
           -- once in four billion pairs of words
           list_sort(list_distinct(list_transform(
               regexp_extract_all(lower(coalesce(title, '') || ' ' || coalesce(narrative, '')), '[\\p{L}\\p{N}]{4,}'),
               w -> CAST(hash(w) >> 32 AS UINTEGER)))) AS words
    FROM latest)
SELECT
    i.ngo_id || '/' || i.incident_id AS unique_id,
    i.ngo_id, i.incident_id, i.submission_id,
    i.date_start AS date_lo, coalesce(i.date_end, i.date_start) AS date_hi, i.date_precision,
    CAST(floor(epoch(i.date_start) / 86400 / 7) AS BIGINT) AS week,
    -- 7-day windows three days off the weeks: two reports at most three days apart share a week or a shifted week
    CAST(floor((epoch(i.date_start) / 86400 + 3) / 7) AS BIGINT) AS week_shifted,
    CASE WHEN i.date_precision = 'month' THEN year(i.date_start) * 12 + month(i.date_start) END AS month_only,
    year(i.date_start) * 12 + month(i.date_start) AS month,
    CASE WHEN i.date_precision = 'year' THEN year(i.date_start) END AS year_only,
    year(i.date_start) AS year,
    CASE WHEN i.geo_precision IN ('point', 'community') THEN i.latitude END AS lat,
    CASE WHEN i.geo_precision IN ('point', 'community') THEN i.longitude END AS lon,
    CASE WHEN i.geo_precision IN ('point', 'community') THEN 'fine' WHEN i.geo_precision IN ('subdistrict', 'district', 'governorate')
         THEN i.geo_precision END AS place_grain,
    i.place_id, i.admin1_pcode AS admin1, i.admin2_pcode AS admin2, i.admin3_pcode AS admin3,
    CASE WHEN i.geo_precision NOT IN ('point', 'community') THEN i.admin1_pcode END AS coarse_admin1,
    CASE WHEN i.geo_precision IN ('point', 'community')
         THEN CAST(floor(i.latitude / __GRID__) AS BIGINT) * 100000 + CAST(floor(i.longitude / __GRID__) AS BIGINT) END AS cell,
    CASE WHEN i.geo_precision IN ('point', 'community')
         THEN CAST(floor(i.latitude / __GRID__ + 0.5) AS BIGINT) * 100000 + CAST(floor(i.longitude / __GRID__ + 0.5) AS BIGINT) END AS cell_shifted,
    CASE WHEN i.geo_precision = 'unknown' OR i.admin1_pcode IS NULL THEN CAST(floor(epoch(i.date_start) / 86400 / 7) AS BIGINT) END AS unplaced_week,
    CASE WHEN i.geo_precision = 'unknown' OR i.admin1_pcode IS NULL THEN year(i.date_start) * 12 + month(i.date_start) END AS unplaced_month,
    CASE WHEN len(i.violation_types) > 0 THEN list_sort(i.violation_types) END AS violations,
    i.killed,
    p.perpetrators,
    CASE WHEN regexp_matches(coalesce(i.narrative, i.title, ''), '\\p{Arabic}') THEN 'arabic' ELSE 'latin' END AS script,
    CASE WHEN len(w.words) > 0 THEN w.words END AS words
FROM latest i
LEFT JOIN perpetrators p USING (ngo_id, incident_id)
LEFT JOIN words w USING (ngo_id, incident_id)
WHERE i.date_start IS NOT NULL
"""


def prepare(store: Store, config: dict[str, Any]) -> int:
    """Build ``link_incidents`` (a temporary table of the store's connection); returns its rows."""
    store.con.execute(PREPARE_SQL.replace("__GRID__", repr(float(config["grid_degrees"]))))
    return store.con.execute("SELECT count(*) FROM link_incidents").fetchone()[0]


def _gap(a: str = "l", b: str = "r") -> str:
    """Days between two date ranges (0 or less when they overlap)."""
    return f"greatest(date_lo_{b} - date_hi_{a}, date_lo_{a} - date_hi_{b})"


#: Kilometres per degree of a great circle of the Earth taken as a sphere of radius 6,371 km.
_KM_PER_DEGREE = 6371 * math.pi / 180


def _within_km(km: float) -> str:
    """Two points at most ``km`` apart, the distance measured on a plane laid on the sphere at their mean latitude
    (equirectangular): within ten kilometres it differs from the great-circle distance by centimetres, and it needs
    one cosine where the haversine formula needs five trigonometric functions and a square root."""
    return (f"pow((lat_r - lat_l) * {_KM_PER_DEGREE!r}, 2) "
            f"+ pow((lon_r - lon_l) * {_KM_PER_DEGREE!r} * cos(radians((lat_l + lat_r) / 2)), 2) <= {float(km) ** 2!r}")


def _jaccard_at_least(share: float) -> str:
    """The two word lists' Jaccard similarity is at least ``share``, in whole numbers.

    With ``p/q`` = share, |l ∩ r| / |l ∪ r| >= p/q is |l ∩ r| * (p + q) >= p * (|l| + |r|), since |l ∪ r| = |l| + |r| - |l ∩ r|
    (each list holds distinct words). Counting the common words with ``list_contains`` is several times faster than
    ``list_intersect`` and ``list_distinct(list_concat(...))``, and no rounding moves a pair across the threshold.
    """
    ratio = Fraction(share).limit_denominator(1000)
    common = "len(list_filter(words_l, w -> list_contains(words_r, w)))"
    return f"{common} * {ratio.numerator + ratio.denominator} >= {ratio.numerator} * (len(words_l) + len(words_r))"


def comparisons(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The Splink comparisons, as dictionaries of SQL levels (most specific first)."""
    both_day = "date_precision_l = 'day' AND date_precision_r = 'day'"
    overlap = f"{_gap()} <= 0"
    share, floor = float(config["casualty_share"]), int(config["casualty_min_difference"])

    def level(sql: str, label: str, null: bool = False) -> dict[str, Any]:
        return {"sql_condition": sql, "label_for_charts": label, **({"is_null_level": True} if null else {})}

    return [
        {"output_column_name": "date", "comparison_description": "dates, with their precision", "comparison_levels": [
            level("date_lo_l IS NULL OR date_lo_r IS NULL", "date missing", True),
            level(f"{both_day} AND date_lo_l = date_lo_r", "same day"),
            level(f"{both_day} AND {overlap}", "overlapping days"),
            level(f"{both_day} AND {_gap()} <= {int(config['near_days'])}", f"within {config['near_days']} day"),
            level(f"{overlap} AND (date_precision_l = 'month' OR date_precision_r = 'month') "
                  "AND date_precision_l <> 'year' AND date_precision_r <> 'year'", "same month (one known to the month)"),
            level(f"{_gap()} <= {int(config['far_days'])} AND date_precision_l <> 'year' AND date_precision_r <> 'year'",
                  f"within {config['far_days']} days"),
            level(overlap, "same year (one known to the year)"),
            level("ELSE", "different dates"),
        ]},
        {"output_column_name": "place", "comparison_description": "places, with their precision", "comparison_levels": [
            level("place_grain_l IS NULL OR place_grain_r IS NULL", "place unknown", True),
            level("place_grain_l = 'fine' AND place_grain_r = 'fine' AND place_id_l = place_id_r", "same place"),
            level(f"place_grain_l = 'fine' AND place_grain_r = 'fine' AND {_within_km(config['near_km'])}", f"within {config['near_km']} km"),
            level(f"place_grain_l = 'fine' AND place_grain_r = 'fine' AND {_within_km(config['far_km'])}", f"within {config['far_km']} km"),
            level("(place_grain_l IN ('subdistrict', 'district') OR place_grain_r IN ('subdistrict', 'district')) "
                  "AND (admin3_l = admin3_r OR (admin3_l IS NULL OR admin3_r IS NULL) AND admin2_l = admin2_r)",
                  "inside the same district or sub-district (one known only to it)"),
            level("(place_grain_l = 'governorate' OR place_grain_r = 'governorate') AND admin1_l = admin1_r",
                  "inside the same governorate (one known only to it)"),
            level("admin1_l = admin1_r", "same governorate, different places"),
            level("ELSE", "different governorates"),
        ]},
        {"output_column_name": "violations", "comparison_description": "violation types", "comparison_levels": [
            level("violations_l IS NULL OR violations_r IS NULL", "types missing", True),
            level("violations_l = violations_r", "same types"),
            level("list_has_any(violations_l, violations_r)", "some types in common"),
            level("ELSE", "no type in common"),
        ]},
        {"output_column_name": "killed", "comparison_description": "killed", "comparison_levels": [
            level("killed_l IS NULL OR killed_r IS NULL", "killed missing", True),
            level("killed_l = killed_r", "same number killed"),
            level(f"abs(killed_l - killed_r) <= greatest({floor}, {share} * greatest(killed_l, killed_r))", "close numbers killed"),
            level("ELSE", "different numbers killed"),
        ]},
        {"output_column_name": "perpetrators", "comparison_description": "alleged perpetrators", "comparison_levels": [
            level("perpetrators_l IS NULL OR perpetrators_r IS NULL", "perpetrator missing", True),
            level("list_has_any(perpetrators_l, perpetrators_r)", "a perpetrator in common"),
            level("ELSE", "different perpetrators"),
        ]},
        {"output_column_name": "narrative", "comparison_description": "words of title and narrative (same script only)",
         "comparison_levels": [
            level("words_l IS NULL OR words_r IS NULL OR script_l <> script_r", "no narrative to compare", True),
            level(_jaccard_at_least(config["words_high"]), f"many words in common (Jaccard >= {config['words_high']})"),
            level(_jaccard_at_least(config["words_low"]), f"some words in common (Jaccard >= {config['words_low']})"),
            level("ELSE", "few words in common"),
        ]},
    ]


#: Candidate pairs: same area and time window, by grain (each rule is an equality join, so it stays fast). Two
#: grids of cells and two of 7-day windows, each shifted by half a step, so that two reports a few kilometres and
#: at most three days apart share a block however the grid falls; a report known only to its month or year meets
#: the reports of that month or year in its cell (a year, only those with its violation types: a year holds so many).
BLOCKING_RULES = [
    "l.cell = r.cell AND l.week = r.week",
    "l.cell_shifted = r.cell_shifted AND l.week = r.week",
    "l.cell = r.cell AND l.week_shifted = r.week_shifted",
    "l.cell_shifted = r.cell_shifted AND l.week_shifted = r.week_shifted",
    "l.coarse_admin1 = r.admin1 AND l.week = r.week",
    "l.admin1 = r.coarse_admin1 AND l.week = r.week",
    "l.coarse_admin1 = r.admin1 AND l.week_shifted = r.week_shifted",
    "l.admin1 = r.coarse_admin1 AND l.week_shifted = r.week_shifted",
    "l.month_only = r.month AND l.cell = r.cell",
    "l.month = r.month_only AND l.cell = r.cell",
    "l.month_only = r.month AND l.cell_shifted = r.cell_shifted",
    "l.month = r.month_only AND l.cell_shifted = r.cell_shifted",
    "l.month_only = r.month AND l.coarse_admin1 = r.admin1",
    "l.month = r.month_only AND l.admin1 = r.coarse_admin1",
    "l.month_only = r.month AND l.admin1 = r.coarse_admin1",
    "l.month = r.month_only AND l.coarse_admin1 = r.admin1",
    "l.year_only = r.year AND l.cell = r.cell AND l.violations = r.violations",
    "l.year = r.year_only AND l.cell = r.cell AND l.violations = r.violations",
    "l.year_only = r.year AND l.cell = r.cell AND l.killed = r.killed",
    "l.year = r.year_only AND l.cell = r.cell AND l.killed = r.killed",
    # a place not known at all: the same week (or month) and the same violation types, anywhere
    "l.unplaced_week = r.week AND l.violations = r.violations",
    "l.week = r.unplaced_week AND l.violations = r.violations",
    "l.unplaced_month = r.month AND l.violations = r.violations AND (l.date_precision = 'month' OR r.date_precision = 'month')",
    "l.month = r.unplaced_month AND l.violations = r.violations AND (l.date_precision = 'month' OR r.date_precision = 'month')",
]

#: Expectation maximisation sessions: each fixes the comparisons whose columns it blocks on. The first holds few
#: pairs besides matches even where incidents are dense (one day, one place), and teaches the comparisons that tell
#: two incidents of one day and place apart; the next two free place and date in blocks that stay small too. Each
#: rule comes with a column its pairs share, by which its blocks are sampled (see :func:`training_rules`).
_TRAINING_BLOCKS = (
    ("l.date_lo = r.date_lo AND l.place_id = r.place_id", "date_lo"),  # frees violations, killed, perpetrators, narrative
    ("l.date_lo = r.date_lo AND l.killed = r.killed AND l.violations = r.violations", "date_lo"),  # frees place, perpetrators, narrative
    ("l.place_id = r.place_id AND l.month = r.month", "month"),  # frees date (within the month), violations, killed, ...
)
TRAINING_RULES = [rule for rule, _ in _TRAINING_BLOCKS]

#: Used only while some comparison has learnt no m from the blocks above (data without place ids, say); not sampled.
FALLBACK_TRAINING_RULES = ("l.week = r.week AND l.admin1 = r.admin1",)


def training_rules(records: int, config: dict[str, Any]) -> list[str]:
    """The expectation maximisation blocks for ``records`` incidents.

    Up to ``em_records`` incidents every block is used. Above, a block's pairs grow with the square of the
    incidents per day or month while the parameters need no more of them: only the blocks of one day (or
    month) in ``records / em_records`` are kept, chosen by a hash of the day (or month). A kept block keeps
    all its pairs, so the share of matches among them, which EM estimates, stays what it is in the whole
    collection (sampling records instead would thin out the matches: both records of a pair must be drawn).
    """
    every = -(-records // max(1, int(config["em_records"])))
    if every <= 1:
        return list(TRAINING_RULES)
    return [f"{rule} AND hash(l.{column}) % {every} = 0" for rule, column in _TRAINING_BLOCKS]


#: Pairs certainly alike, to estimate how many pairs match at all (with an assumed recall).
DETERMINISTIC_RULES = ["l.date_lo = r.date_lo AND l.place_id = r.place_id AND l.violations = r.violations"]


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """Splink settings for incidents (dedupe over all NGOs at once, within an NGO too)."""
    return splink_settings(comparisons(config), BLOCKING_RULES)


def record_filter(ids: list[str]) -> str:
    """A SQL condition keeping ``link_incidents`` rows with these ids (for small evaluations)."""
    return "unique_id IN (" + ", ".join(sql_literal(i) for i in ids) + ")"
