"""Incident linkage: the same attack reported by several NGOs, found with Splink on DuckDB.

Each current incident becomes one row of ``link_incidents`` (keyed ``NGO/incident id``) with what
the comparisons need: the date as a range with its precision, the place with its precision and
admin units, violation types, killed, the alleged perpetrators' names, and the narrative's words.

Comparisons respect precision: a date known to the month agrees with any day of that month (but
counts as weaker evidence than the same day), a place known to the governorate agrees with any
place inside it (weaker than two points 2 km apart). Candidate pairs are blocked by time window and
area, so the work grows with the incidents, not with their square. The model is trained without
labels (u from random pairs, m by expectation maximisation over two blockings that each leave
some comparisons free) and saved with every run.
"""

from __future__ import annotations

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
           list_sort(list_distinct(list_filter(regexp_split_to_array(lower(coalesce(title, '') || ' ' || coalesce(narrative, '')), '[^\\p{L}\\p{N}]+'),
                                               w -> length(w) >= 4))) AS words
    FROM latest)
SELECT
    i.ngo_id || '/' || i.incident_id AS unique_id,
    i.ngo_id, i.incident_id, i.submission_id,
    i.date_start AS date_lo, coalesce(i.date_end, i.date_start) AS date_hi, i.date_precision,
    CAST(floor(epoch(i.date_start) / 86400 / 7) AS BIGINT) AS week,
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


def _km() -> str:
    return ("2 * 6371 * asin(sqrt(pow(sin(radians(lat_r - lat_l) / 2), 2) + "
            "cos(radians(lat_l)) * cos(radians(lat_r)) * pow(sin(radians(lon_r - lon_l) / 2), 2)))")


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
            level(f"place_grain_l = 'fine' AND place_grain_r = 'fine' AND {_km()} <= {float(config['near_km'])}", f"within {config['near_km']} km"),
            level(f"place_grain_l = 'fine' AND place_grain_r = 'fine' AND {_km()} <= {float(config['far_km'])}", f"within {config['far_km']} km"),
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
            level("len(list_intersect(violations_l, violations_r)) > 0", "some types in common"),
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
            level("len(list_intersect(perpetrators_l, perpetrators_r)) > 0", "a perpetrator in common"),
            level("ELSE", "different perpetrators"),
        ]},
        {"output_column_name": "narrative", "comparison_description": "words of title and narrative (same script only)",
         "comparison_levels": [
            level("words_l IS NULL OR words_r IS NULL OR script_l <> script_r", "no narrative to compare", True),
            level(f"len(list_intersect(words_l, words_r)) >= {float(config['words_high'])} * len(list_distinct(list_concat(words_l, words_r)))",
                  f"many words in common (Jaccard >= {config['words_high']})"),
            level(f"len(list_intersect(words_l, words_r)) >= {float(config['words_low'])} * len(list_distinct(list_concat(words_l, words_r)))",
                  f"some words in common (Jaccard >= {config['words_low']})"),
            level("ELSE", "few words in common"),
        ]},
    ]


#: Candidate pairs: same area and time window, by grain (each rule is an equality join, so it stays fast).
BLOCKING_RULES = [
    "l.cell = r.cell AND l.week = r.week",
    "l.cell_shifted = r.cell_shifted AND l.week = r.week",
    "l.cell = r.cell AND l.week = r.week + 1",
    "l.cell = r.cell AND l.week + 1 = r.week",
    "l.cell_shifted = r.cell_shifted AND l.week = r.week + 1",
    "l.cell_shifted = r.cell_shifted AND l.week + 1 = r.week",
    "l.coarse_admin1 = r.admin1 AND l.week = r.week",
    "l.admin1 = r.coarse_admin1 AND l.week = r.week",
    "l.coarse_admin1 = r.admin1 AND l.week = r.week + 1",
    "l.coarse_admin1 = r.admin1 AND l.week + 1 = r.week",
    "l.admin1 = r.coarse_admin1 AND l.week = r.week + 1",
    "l.admin1 = r.coarse_admin1 AND l.week + 1 = r.week",
    "l.month_only = r.month AND l.admin1 = r.admin1",
    "l.month = r.month_only AND l.admin1 = r.admin1",
    "l.year_only = r.year AND l.admin1 = r.admin1",
    "l.year = r.year_only AND l.admin1 = r.admin1",
    # a place not known at all: the same week (or month) and the same violation types, anywhere
    "l.unplaced_week = r.week AND l.violations = r.violations",
    "l.week = r.unplaced_week AND l.violations = r.violations",
    "l.unplaced_month = r.month AND l.violations = r.violations AND (l.date_precision = 'month' OR r.date_precision = 'month')",
    "l.month = r.unplaced_month AND l.violations = r.violations AND (l.date_precision = 'month' OR r.date_precision = 'month')",
]

#: Expectation maximisation sessions: each fixes the comparisons whose columns it blocks on.
TRAINING_RULES = [
    "l.date_lo = r.date_lo AND l.violations = r.violations",  # frees place, killed, perpetrators, narrative
    "l.place_id = r.place_id AND l.killed = r.killed",  # frees date, violations, perpetrators, narrative
]

#: Used only when neither block above holds pairs (data without violation types or casualty figures).
FALLBACK_TRAINING_RULES = ("l.week = r.week AND l.admin1 = r.admin1",)

#: Pairs certainly alike, to estimate how many pairs match at all (with an assumed recall).
DETERMINISTIC_RULES = ["l.date_lo = r.date_lo AND l.place_id = r.place_id AND l.violations = r.violations"]


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """Splink settings for incidents (dedupe over all NGOs at once, within an NGO too)."""
    return splink_settings(comparisons(config), BLOCKING_RULES)


def record_filter(ids: list[str]) -> str:
    """A SQL condition keeping ``link_incidents`` rows with these ids (for small evaluations)."""
    return "unique_id IN (" + ", ".join(sql_literal(i) for i in ids) + ")"
