"""Feedback metrics for one NGO, computed in SQL over the store.

Everything is counted over the records of the NGO's submissions in scope (superseded ones are
listed but not counted). Comparisons with the collection use aggregates of the other NGOs only,
exclude material under source confidentiality, and are suppressed when fewer than
``min_other_ngos`` other NGOs contributed to a figure (see ``data_contracts/feedback/metrics.yaml``).

>>> from workbench.store import open_store
>>> with open_store(":memory:") as store:
...     ngo_metrics(store, "NONE")
Traceback (most recent call last):
...
workbench.errors.ConfigError: no NGO 'NONE' in the store; known: (none)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from workbench.contracts import ContractSet
from workbench.errors import ConfigError, ContractError
from workbench.quality.periods import Period
from workbench.sql import quote_ident, sql_literal
from workbench.store import Store

Row = dict[str, Any]
RECORD_TABLES = ("incidents", "persons", "actors", "incident_persons", "incident_actors", "sources")
#: Key figures compared between a submission and the NGO's previous one.
KEY_FIGURES = ("incidents", "persons", "quarantine_share", "errors_per_100", "weighted_completeness", "day_share",
               "fine_place_share", "sources_per_incident", "media_hash_share", "identified_share")


@dataclass(frozen=True)
class MetricsConfig:
    """The weights and rules of ``data_contracts/feedback/metrics.yaml``."""

    importance: dict[str, float]
    linked_fields: tuple[dict[str, Any], ...]
    identified: dict[str, list[str]]
    fine_geo_precision: tuple[str, ...]
    media_source_types: tuple[str, ...]
    min_other_ngos: int
    examples_per_finding: int

    def weight(self, record_type: str, name: str) -> float:
        return float(self.importance.get(f"{record_type}.{name}", 1))


def read_config(path: Path, what: str) -> str:
    """A configuration file's text; parsed results are cached by path and text, so a changed file is read again."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError([f"{path}: cannot read {what}: {exc}"]) from None


def load_metrics_config(path: Path) -> MetricsConfig:
    """Read the metrics configuration, naming the file and key of anything wrong (read again only when it changes)."""
    path = Path(path)
    return _load_metrics_config(path, read_config(path, "the feedback metrics"))


@lru_cache(maxsize=8)
def _load_metrics_config(path: Path, text: str) -> MetricsConfig:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError([f"{path}: cannot read the feedback metrics: {exc}"]) from None
    problems = [f"{path}: missing key {key!r}" for key in ("importance", "identified", "min_other_ngos") if key not in (doc or {})]
    if problems:
        raise ContractError(problems)
    bad = [f"{path}: importance of {k!r} must be a number >= 0" for k, v in doc["importance"].items()
           if not isinstance(v, (int, float)) or v < 0]
    for i, linked in enumerate(doc.get("linked_fields", [])):
        bad += [f"{path}: linked_fields[{i}] needs {key!r}" for key in ("record_type", "name", "table") if key not in linked]
    if not isinstance(doc["min_other_ngos"], int) or doc["min_other_ngos"] < 1:
        bad.append(f"{path}: min_other_ngos must be a whole number >= 1")
    if bad:
        raise ContractError(bad)
    return MetricsConfig(
        importance=dict(doc["importance"]),
        linked_fields=tuple(doc.get("linked_fields", [])),
        identified={k: list(v) for k, v in doc["identified"].items()},
        fine_geo_precision=tuple(doc.get("fine_geo_precision", ["point", "community"])),
        media_source_types=tuple(doc.get("media_source_types", [])),
        min_other_ngos=doc["min_other_ngos"],
        examples_per_finding=int(doc.get("examples_per_finding", 3)),
    )


@dataclass
class Metrics:
    """What one NGO sent and how well it fits the contracts: scalar figures and small tables.

    ``summary`` holds the figures recommendations and charts use; ``tables`` the details, each a
    list of rows. Nothing in either comes from another NGO's records, except aggregates that
    passed the suppression rule.
    """

    ngo: Row
    period: Period | None
    submission_ids: list[int]
    summary: Row
    tables: dict[str, list[Row]] = field(default_factory=dict)

    def frame(self, name: str) -> pl.DataFrame:
        """One table as a polars frame (for notebooks)."""
        if name not in self.tables:
            raise ConfigError(f"no metric table {name!r}; known: {', '.join(self.tables)}")
        return pl.DataFrame(self.tables[name], infer_schema_length=None)


@dataclass
class Collection:
    """Aggregates over every NGO's current, non-confidential incidents, computed once per store.

    ``cells[dimension]`` maps a value (violation type, governorate, year) to per-NGO counts;
    ``unique`` maps an NGO to its incidents in (type, governorate, year) cells no other NGO documents.
    """

    ngos: int
    incidents_by_ngo: dict[str, int]
    cells: dict[str, dict[Any, dict[str, int]]]
    unique: dict[str, int]
    unique_cells: dict[str, list[Row]]


def _rows(store: Store, sql: str, params: list[Any] | None = None) -> list[Row]:
    cursor = store.con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values)) for values in cursor.fetchall()]


def _one(store: Store, sql: str, params: list[Any] | None = None) -> Row:
    rows = _rows(store, sql, params)
    return rows[0] if rows else {}


def _share(part: float | None, whole: float | None) -> float | None:
    return None if not whole else (part or 0) / whole


def _ids_sql(ids: list[int]) -> str:
    return ", ".join(str(int(i)) for i in ids) or "NULL"


def _in_list(values: list[str]) -> str:
    return ", ".join(sql_literal(v) for v in values) or "NULL"


# --- scope -------------------------------------------------------------------------------------


def _scope(store: Store, ngo_id: str, period: Period | None) -> tuple[Row, list[Row]]:
    ngo = _one(store, "SELECT ngo_id, name, name_ar FROM ngos WHERE ngo_id = ?", [ngo_id])
    if not ngo:
        known = [r[0] for r in store.con.execute("SELECT ngo_id FROM ngos ORDER BY 1").fetchall()]
        raise ConfigError(f"no NGO {ngo_id!r} in the store; known: {', '.join(known) or '(none)'}")
    where, params = "ngo_id = ?", [ngo_id]
    if period is not None:
        where += " AND CAST(received_at AS DATE) BETWEEN ? AND ?"
        params += [period.start, period.end]
    submissions = _rows(store, f"""
        SELECT submission_id, submission_ref, received_at, package_name, package_kind, mode, contract_version,
               period_start, period_end, rows_read, rows_accepted, rows_quarantined, superseded_by IS NOT NULL AS superseded
        FROM submissions WHERE {where} ORDER BY received_at, submission_id""", params)
    if not submissions:
        raise ConfigError(f"NGO {ngo_id!r} sent nothing" + (f" in {period.label}" if period else ""))
    return ngo, submissions


# --- what was sent and how it fits ------------------------------------------------------------------


def _files(store: Store, ids: str) -> list[Row]:
    return _rows(store, f"""
        SELECT submission_id, path, format, encoding, delimiter, record_type, bytes, rows_read, rows_accepted, rows_quarantined
        FROM files WHERE submission_id IN ({ids}) ORDER BY submission_id, path""")


def _columns(store: Store, ids: str) -> list[Row]:
    return _rows(store, f"""
        SELECT submission_id, source_file, position, header, field, matched_by
        FROM columns_received WHERE submission_id IN ({ids}) ORDER BY submission_id, source_file, position""")


def _findings(store: Store, ids: str, examples: int) -> list[Row]:
    return _rows(store, f"""
        SELECT rule, field, severity, count(*) AS count, count(DISTINCT source_file) AS files,
               list(coalesce(source_file, '') || CASE WHEN source_row IS NULL THEN '' ELSE ' row ' || source_row END
                    ORDER BY source_file, source_row)[1:{examples}] AS examples,
               min(message) AS example_message
        FROM findings WHERE submission_id IN ({ids})
        GROUP BY rule, field, severity
        ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, count DESC, rule, field""")


def _quarantine(store: Store, ids: str, examples: int) -> list[Row]:
    """Quarantined rows by reason; reasons that differ only in the value or row they quote count together."""
    return _rows(store, f"""
        WITH reasons AS (
            SELECT source_file, source_row, reason,
                   trim(regexp_replace(regexp_replace(regexp_replace(reason, '"[^"]*"', '…', 'g'),
                                       '\\s*\\([^)]*row \\d+\\)', '', 'g'), 'row \\d+', 'another row', 'g')) AS kind
            FROM (SELECT source_file, source_row, unnest(reasons) AS reason FROM quarantine WHERE submission_id IN ({ids})))
        SELECT kind AS reason, count(*) AS count,
               list(source_file || CASE WHEN source_row IS NULL THEN '' ELSE ' row ' || source_row END
                    ORDER BY source_file, source_row)[1:{examples}] AS examples,
               arg_min(reason, (source_file, source_row)) AS example_reason,
               -- rows set aside only because the record they point to was: they come back with it
               bool_and(reason LIKE '%refers to a record of % that is quarantined%') AS follows_another
        FROM reasons GROUP BY kind ORDER BY count DESC, kind""")


def _completeness(store: Store, contracts: ContractSet, config: MetricsConfig, ids: str) -> list[Row]:
    """Share of records with each field filled in: one scan per record table, linked fields by semi-join."""
    rows: list[Row] = []
    for name, contract in contracts.contracts.items():
        fields = [f for f in contract.fields if not f.derived]
        if not fields:
            continue
        table = quote_ident(name)
        filled = [
            f"count(*) FILTER ({quote_ident(f.name)} IS NOT NULL" + (f" AND len({quote_ident(f.name)}) > 0)" if f.is_list else ")")
            for f in fields
        ]
        linked = [lf for lf in config.linked_fields if lf["record_type"] == name]
        key = contract.primary_key[0]
        for lf in linked:
            conditions = " AND ".join(f"l.{quote_ident(column)} IN ({_in_list(values)})" for column, values in lf.get("where", {}).items())
            filled.append(
                f"count(*) FILTER (EXISTS (SELECT 1 FROM {quote_ident(lf['table'])} l WHERE l.ngo_id = r.ngo_id "
                f"AND l.submission_id IN ({ids}) AND l.{quote_ident(key)} = r.{quote_ident(key)}"
                + (f" AND {conditions}" if conditions else "") + "))"
            )
        values = store.con.execute(f"SELECT count(*), {', '.join(filled)} FROM {table} r WHERE submission_id IN ({ids})").fetchone()
        total = values[0]
        if not total:
            continue
        sent = {r[0] for r in store.con.execute(f"""
            SELECT DISTINCT field FROM columns_received WHERE submission_id IN ({ids}) AND field IS NOT NULL
                AND source_file IN (SELECT DISTINCT source_file FROM {table} WHERE submission_id IN ({ids}))""").fetchall()}
        sent |= {lf["name"] for lf in linked if store.con.execute(
            f"SELECT count(*) > 0 FROM {quote_ident(lf['table'])} WHERE submission_id IN ({ids})").fetchone()[0]}
        names = [(f.name, f.title, _arabic_alias(f.aliases), f.required) for f in fields]
        names += [(lf["name"], lf.get("title", {}).get("en", lf["name"]), lf.get("title", {}).get("ar"), False) for lf in linked]
        via = {lf["name"]: lf["table"] for lf in linked}
        for (field_name, title, title_ar, required), count in zip(names, values[1:]):
            rows.append({"record_type": name, "field": field_name, "title": title, "title_ar": title_ar, "required": required,
                         "linked": field_name in via, "via": via.get(field_name),
                         "sent": field_name in sent,
                         "weight": config.weight(name, field_name), "total": total, "filled": count,
                         "missing": total - count, "filled_share": count / total})
    return rows


def _arabic_alias(aliases: tuple[str, ...]) -> str | None:
    return next((a for a in aliases if any("\u0600" <= ch <= "\u06ff" for ch in a)), None)


def _weighted_completeness(rows: list[Row]) -> float | None:
    weighted = [(r["weight"], r["filled_share"]) for r in rows if r["weight"] > 0]
    total = sum(w for w, _ in weighted)
    return sum(w * s for w, s in weighted) / total if total else None


def _precision(store: Store, ids: str, column: str, vocabulary: list[str]) -> list[Row]:
    counts = {r["precision"]: r["count"] for r in _rows(store, f"""
        SELECT coalesce({quote_ident(column)}, 'unknown') AS precision, count(*) AS count
        FROM incidents WHERE submission_id IN ({ids}) GROUP BY 1""")}
    total = sum(counts.values())
    order = [code for code in vocabulary if code in counts] + sorted(set(counts) - set(vocabulary))
    return [{"precision": code, "count": counts[code], "share": counts[code] / total} for code in order]


def _place_columns(store: Store, ids: str, examples: int) -> list[Row]:
    """Per file and place column: how many places were known only to the governorate, with examples."""
    return _rows(store, f"""
        SELECT i.source_file, any_value(c.header) AS header, count(*) AS total,
               count(*) FILTER (i.geo_precision = 'governorate') AS governorate_only,
               count(*) FILTER (i.geo_precision IN ('point', 'community', 'subdistrict', 'district')) AS finer,
               count(*) FILTER (i.geo_precision IS NULL OR i.geo_precision = 'unknown') AS unknown,
               count(*) FILTER (i.geo_precision = 'governorate') / count(*) AS governorate_only_share,
               list_sort(list(DISTINCT i.place) FILTER (i.geo_precision = 'governorate' AND i.place IS NOT NULL))[1:{examples}] AS governorate_examples,
               list_sort(list(DISTINCT i.place) FILTER ((i.geo_precision IS NULL OR i.geo_precision = 'unknown') AND i.place IS NOT NULL))[1:{examples}] AS unknown_examples
        FROM incidents i
        LEFT JOIN (  -- a mapping may make the place from several columns: name them all, count each incident once
            SELECT submission_id, source_file, string_agg(header, ' + ' ORDER BY position) AS header
            FROM columns_received WHERE field = 'place' GROUP BY ALL) c
            ON c.submission_id = i.submission_id AND c.source_file = i.source_file
        WHERE i.submission_id IN ({ids})
        GROUP BY i.source_file ORDER BY governorate_only DESC, i.source_file""")


def _identified(store: Store, ids: str, rule: dict[str, list[str]]) -> Row:
    """Deceased victims and how many meet the "identified" rule; why the others do not."""
    return _one(store, f"""
        WITH victims AS (
            SELECT p.person_id, any_value(p.pseudonym) AS pseudonym,
                   bool_or(i.date_precision IN ({_in_list(rule['date_precision'])})) AS dated,
                   bool_or(i.geo_precision IN ({_in_list(rule['geo_precision'])})) AS placed
            FROM persons p
            JOIN incident_persons ip ON ip.ngo_id = p.ngo_id AND ip.person_id = p.person_id AND ip.submission_id IN ({ids})
                 AND ip.role IN ({_in_list(rule['roles'])})
            LEFT JOIN incidents i ON i.ngo_id = ip.ngo_id AND i.incident_id = ip.incident_id AND i.submission_id IN ({ids})
            WHERE p.submission_id IN ({ids}) AND p.status IN ({_in_list(rule['person_status'])})
            GROUP BY p.person_id)
        SELECT count(*) AS deceased_victims,
               count(*) FILTER (pseudonym IS NOT NULL AND dated AND placed) AS identified,
               count(*) FILTER (NOT coalesce(dated, false)) AS without_exact_date,
               count(*) FILTER (NOT coalesce(placed, false)) AS without_place
        FROM victims""")


def _duplicates(store: Store, ids: str) -> tuple[Row, list[Row]]:
    """Incidents entered twice: same id twice (from the findings) and same date, place and violations."""
    groups = _rows(store, f"""
        SELECT date_start, any_value(place) AS place, list(incident_id ORDER BY incident_id) AS incident_ids, count(*) AS records
        FROM incidents WHERE submission_id IN ({ids}) AND date_start IS NOT NULL AND date_precision = 'day'
             AND coalesce(place_id, lower(trim(place))) IS NOT NULL
        GROUP BY date_start, coalesce(place_id, lower(trim(place))), list_sort(violation_types)
        HAVING count(*) > 1 ORDER BY records DESC, date_start LIMIT 50""")
    repeated_ids = store.con.execute(
        f"SELECT count(*) FROM findings WHERE submission_id IN ({ids}) AND rule = 'unique'").fetchone()[0]
    summary = {"duplicate_groups": len(groups), "duplicate_records": sum(g["records"] - 1 for g in groups),
               "repeated_ids": repeated_ids}
    return summary, groups


def _pii(store: Store, ids: str) -> list[Row]:
    return _rows(store, f"""
        SELECT rule, field, count(*) AS count FROM findings
        WHERE submission_id IN ({ids}) AND rule LIKE 'pii.%' GROUP BY rule, field ORDER BY count DESC, rule""")


def _sources(store: Store, ids: str, media_types: tuple[str, ...]) -> tuple[Row, list[Row]]:
    figures = _one(store, f"""
        SELECT (SELECT count(*) FROM incidents WHERE submission_id IN ({ids})) AS incidents,
               (SELECT count(*) FROM sources WHERE submission_id IN ({ids})) AS sources,
               (SELECT count(*) FROM incidents i WHERE i.submission_id IN ({ids}) AND EXISTS (
                    SELECT 1 FROM sources s WHERE s.submission_id IN ({ids}) AND s.ngo_id = i.ngo_id
                    AND s.incident_id = i.incident_id)) AS incidents_with_source,
               (SELECT count(*) FROM sources WHERE submission_id IN ({ids}) AND media_sha256 IS NOT NULL) AS sources_with_media_hash,
               (SELECT count(*) FROM sources WHERE submission_id IN ({ids}) AND media_file IS NOT NULL) AS sources_with_media_file,
               (SELECT count(*) FROM sources WHERE submission_id IN ({ids}) AND media_file IS NOT NULL AND media_sha256 IS NULL)
                   AS media_files_without_hash,
               (SELECT count(*) FROM sources WHERE submission_id IN ({ids}) AND source_type IN ({_in_list(list(media_types))}))
                   AS media_sources,
               (SELECT count(*) FROM sources WHERE submission_id IN ({ids}) AND source_type IN ({_in_list(list(media_types))})
                    AND media_sha256 IS NOT NULL) AS media_sources_hashed,
               (SELECT count(*) FROM findings WHERE submission_id IN ({ids}) AND rule = 'media.hash_mismatch') AS media_hash_mismatches""")
    figures["sources_per_incident"] = _share(figures["sources"], figures["incidents"])
    figures["incidents_with_source_share"] = _share(figures["incidents_with_source"], figures["incidents"])
    figures["incidents_without_source"] = figures["incidents"] - figures["incidents_with_source"]
    figures["media_hash_share"] = _share(figures["sources_with_media_hash"], figures["sources"])
    figures["sources_without_media_hash"] = figures["sources"] - figures["sources_with_media_hash"]
    figures["media_sources_hashed_share"] = _share(figures["media_sources_hashed"], figures["media_sources"])
    figures["media_sources_without_hash"] = figures["media_sources"] - figures["media_sources_hashed"]
    types = _rows(store, f"""
        SELECT source_type, count(*) AS count FROM sources WHERE submission_id IN ({ids}) GROUP BY 1 ORDER BY 2 DESC, 1""")
    return figures, types


# --- subject matter and the collection ---------------------------------------------------------------

_DIMENSIONS = {
    "violation_type": "unnest(violation_types)",
    "governorate": "admin1_pcode",
    "year": "year(date_start)",
}


def collection_profile(store: Store) -> Collection:
    """Aggregates over every NGO's current incidents that are not under source confidentiality."""
    base = """FROM active.incidents i JOIN submissions s USING (submission_id)
              WHERE NOT s.source_confidential AND NOT coalesce(i.confidential_source, false)"""
    cells: dict[str, dict[Any, dict[str, int]]] = {}
    for dimension, expr in _DIMENSIONS.items():
        table: dict[Any, dict[str, int]] = {}
        for value, ngo, count in store.con.execute(
            f"SELECT value, ngo_id, count(*) FROM (SELECT i.ngo_id, {expr} AS value {base}) WHERE value IS NOT NULL GROUP BY ALL"
        ).fetchall():
            table.setdefault(value, {})[ngo] = count
        cells[dimension] = table
    by_ngo = dict(store.con.execute(f"SELECT i.ngo_id, count(*) {base} GROUP BY 1").fetchall())
    unique_rows = _rows(store, f"""
        WITH c AS (SELECT i.ngo_id, unnest(i.violation_types) AS violation_type, i.admin1_pcode AS governorate,
                          year(i.date_start) AS year {base}),
             spread AS (SELECT violation_type, governorate, year, count(DISTINCT ngo_id) AS ngos, any_value(ngo_id) AS ngo_id,
                               count(*) AS incidents
                        FROM c WHERE governorate IS NOT NULL AND year IS NOT NULL GROUP BY ALL)
        SELECT ngo_id, violation_type, governorate, year, incidents FROM spread WHERE ngos = 1
        ORDER BY ngo_id, incidents DESC, violation_type, governorate, year""")
    unique_cells: dict[str, list[Row]] = {}
    for row in unique_rows:
        unique_cells.setdefault(row.pop("ngo_id"), []).append(row)
    unique = dict(store.con.execute(f"""
        WITH c AS (SELECT i.ngo_id, i.incident_id, unnest(i.violation_types) AS violation_type, i.admin1_pcode AS governorate,
                          year(i.date_start) AS year {base}),
             spread AS (SELECT violation_type, governorate, year FROM c GROUP BY ALL HAVING count(DISTINCT ngo_id) = 1)
        SELECT ngo_id, count(DISTINCT incident_id) FROM c JOIN spread USING (violation_type, governorate, year) GROUP BY 1
        """).fetchall())
    return Collection(ngos=len(by_ngo), incidents_by_ngo=by_ngo, cells=cells, unique=unique, unique_cells=unique_cells)


def _coverage(store: Store, ids: str, ngo_id: str, collection: Collection, min_other: int) -> dict[str, list[Row]]:
    """Own incidents per violation type, governorate and year, beside the collection's share where allowed."""
    own_total = store.con.execute(f"SELECT count(*) FROM incidents WHERE submission_id IN ({ids})").fetchone()[0]
    others_total = sum(n for ngo, n in collection.incidents_by_ngo.items() if ngo != ngo_id)
    others_ngos = sum(1 for ngo in collection.incidents_by_ngo if ngo != ngo_id)
    tables: dict[str, list[Row]] = {}
    for dimension, expr in _DIMENSIONS.items():
        own = dict(store.con.execute(
            f"SELECT value, count(*) FROM (SELECT {expr} AS value FROM incidents WHERE submission_id IN ({ids})) "
            "WHERE value IS NOT NULL GROUP BY 1").fetchall())
        rows = []
        for value in sorted(set(own) | set(collection.cells[dimension]), key=lambda v: (-own.get(v, 0), str(v))):
            per_ngo = {ngo: n for ngo, n in collection.cells[dimension].get(value, {}).items() if ngo != ngo_id}
            shown = len(per_ngo) >= min_other and others_ngos >= min_other
            rows.append({
                dimension: value,
                "own": own.get(value, 0),
                "own_share": _share(own.get(value, 0), own_total),
                "others_share": _share(sum(per_ngo.values()), others_total) if shown else None,
                "suppressed": not shown,
            })
        tables[f"coverage_{dimension}"] = [r for r in rows if r["own"] or not r["suppressed"]]
    return tables


# --- putting it together ------------------------------------------------------------------------------


def _vocabulary_codes(contracts: ContractSet, name: str) -> list[str]:
    return [term.code for term in sorted(contracts.vocabulary(name).terms, key=lambda t: t.rank or 0)]


def _figures(store: Store, contracts: ContractSet, config: MetricsConfig, ids: list[int], *, tables: dict[str, list[Row]] | None = None) -> Row:
    """The scalar figures of a set of submissions (and, when ``tables`` is given, the detail tables)."""
    ids_sql = _ids_sql(ids)
    tables = {} if tables is None else tables
    counts = {name: store.con.execute(f"SELECT count(*) FROM {quote_ident(name)} WHERE submission_id IN ({ids_sql})").fetchone()[0]
              for name in RECORD_TABLES}
    sent = _one(store, f"""SELECT sum(rows_read) AS rows_read, sum(rows_accepted) AS rows_accepted, sum(rows_quarantined) AS rows_quarantined
                           FROM submissions WHERE submission_id IN ({ids_sql})""")
    severities = dict(store.con.execute(
        f"SELECT severity, count(*) FROM findings WHERE submission_id IN ({ids_sql}) GROUP BY 1").fetchall())
    tables["completeness"] = _completeness(store, contracts, config, ids_sql)
    tables["date_precision"] = _precision(store, ids_sql, "date_precision", _vocabulary_codes(contracts, "date_precision"))
    tables["geo_precision"] = _precision(store, ids_sql, "geo_precision", _vocabulary_codes(contracts, "geo_precision"))
    sources, tables["source_types"] = _sources(store, ids_sql, config.media_source_types)
    identified = _identified(store, ids_sql, config.identified)
    date_counts = {r["precision"]: r["count"] for r in tables["date_precision"]}
    geo_counts = {r["precision"]: r["count"] for r in tables["geo_precision"]}
    incidents = counts["incidents"]
    figures: Row = {
        **counts,
        **{k: int(v or 0) for k, v in sent.items()},
        "quarantine_share": _share(sent["rows_quarantined"], sent["rows_read"]),
        "errors": severities.get("error", 0),
        "warnings": severities.get("warning", 0),
        "errors_per_100": _share(100 * severities.get("error", 0), sent["rows_read"]),
        "weighted_completeness": _weighted_completeness(tables["completeness"]),
        "day_share": _share(date_counts.get("day", 0), incidents),
        "month_only": date_counts.get("month", 0),
        "year_only": date_counts.get("year", 0),
        "fine_place_share": _share(sum(geo_counts.get(c, 0) for c in config.fine_geo_precision), incidents),
        "governorate_only": geo_counts.get("governorate", 0),
        "governorate_only_share": _share(geo_counts.get("governorate", 0), incidents),
        "place_unknown": geo_counts.get("unknown", 0),
        "without_exact_coordinates": incidents - geo_counts.get("point", 0),
        "point_share": _share(geo_counts.get("point", 0), incidents),
        **sources,
        **identified,
        "identified_share": _share(identified["identified"], identified["deceased_victims"]),
        "unidentified": identified["deceased_victims"] - identified["identified"],
        "not_to_the_day": incidents - date_counts.get("day", 0),
    }
    return figures


def ngo_metrics(store: Store, ngo_id: str, *, period: Period | None = None, contracts: ContractSet | None = None,
                config: MetricsConfig | None = None, collection: Collection | None = None) -> Metrics:
    """Every feedback metric for one NGO (over its submissions received in ``period``, or all of them).

    Pass ``collection`` (from :func:`collection_profile`) when computing many NGOs in a row, so the
    collection's aggregates are computed once.
    """
    contracts = contracts or store.contracts
    config = config or load_metrics_config(contracts.path / "feedback" / "metrics.yaml")
    ngo, submissions = _scope(store, ngo_id, period)
    counted = [s["submission_id"] for s in submissions if not s["superseded"]]
    ids = _ids_sql(counted)
    tables: dict[str, list[Row]] = {"submissions": submissions}
    summary = _figures(store, contracts, config, counted, tables=tables)
    tables["files"] = _files(store, _ids_sql([s["submission_id"] for s in submissions]))
    tables["columns"] = _columns(store, ids)
    tables["findings"] = _findings(store, ids, config.examples_per_finding)
    tables["quarantine"] = _quarantine(store, ids, config.examples_per_finding)
    tables["place_columns"] = _place_columns(store, ids, config.examples_per_finding)
    duplicates, tables["duplicates"] = _duplicates(store, ids)
    tables["pii"] = _pii(store, ids)
    collection = collection or collection_profile(store)
    tables.update(_coverage(store, ids, ngo_id, collection, config.min_other_ngos))
    other_ngos = sum(1 for ngo in collection.incidents_by_ngo if ngo != ngo_id)
    # "no other NGO covers this" is a figure about the others too: shown only with enough of them
    comparable = other_ngos >= config.min_other_ngos
    tables["unique_cells"] = collection.unique_cells.get(ngo_id, [])[:15] if comparable else []
    matched = [c["matched_by"] for c in tables["columns"]]
    summary.update(duplicates)
    summary.update({
        "submissions": len(submissions),
        "submissions_counted": len(counted),
        "files": len(tables["files"]),
        "data_files": sum(1 for f in tables["files"] if f["record_type"]),
        "media_files": sum(1 for f in tables["files"] if f["format"] == "media"),
        "formats": sorted({f["format"] for f in tables["files"]}),
        "encodings": sorted({f["encoding"] for f in tables["files"] if f["encoding"]}),
        "contract_versions": sorted({s["contract_version"] for s in submissions if s["contract_version"]}),
        "mapped": any(s["mode"] != "contract" for s in submissions),
        "headers": len(matched),
        "headers_by_name": matched.count("name"),
        "headers_renamed": sum(matched.count(m) for m in ("title", "alias", "mapping")),
        "headers_unknown": matched.count("unknown") + matched.count("duplicate"),
        "headers_unused": matched.count("unused"),
        "pii_findings": sum(r["count"] for r in tables["pii"]),
        "pii_fields": sorted({r["field"] for r in tables["pii"] if r["field"]}),
        "unique_incidents": collection.unique.get(ngo_id, 0) if comparable else None,
        "unique_share": _share(collection.unique.get(ngo_id, 0), summary["incidents"]) if comparable else None,
        "other_ngos": other_ngos,
    })
    tables["change"] = _change(store, contracts, config, ngo_id, submissions, summary)
    summary["previous_submission"] = bool(tables["change"])
    return Metrics(ngo=ngo, period=period, submission_ids=counted, summary=summary, tables=tables)


def _change(store: Store, contracts: ContractSet, config: MetricsConfig, ngo_id: str, submissions: list[Row], summary: Row) -> list[Row]:
    """Key figures of the latest submission in scope beside those of the NGO's submission before it."""
    latest = submissions[-1]
    previous = _one(store, """
        SELECT submission_id, submission_ref, received_at FROM submissions
        WHERE ngo_id = ? AND (received_at, submission_id) < (?, ?) ORDER BY received_at DESC, submission_id DESC LIMIT 1""",
        [ngo_id, latest["received_at"], latest["submission_id"]])
    if not previous:
        return []
    current = summary if len(submissions) == 1 and not latest["superseded"] else _figures(store, contracts, config, [latest["submission_id"]])
    before = _figures(store, contracts, config, [previous["submission_id"]])
    return [{"figure": name, "previous": before[name], "current": current[name],
             "change": None if before[name] is None or current[name] is None else current[name] - before[name],
             "previous_ref": previous["submission_ref"], "current_ref": latest["submission_ref"]}
            for name in KEY_FIGURES]
