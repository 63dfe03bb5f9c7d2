"""The public report: aggregate figures for one period, as one HTML page and one CSV per table.

What is counted: incidents (records of current submissions whose dates overlap the period) and
the persons documented as their victims, by violation type, governorate and month; submissions
received in the period and the NGOs that sent them, by count. What is left out: every submission
under source confidentiality or embargoed on the day of publication, every record covered by a
confidentiality agreement with its source, every person who withdrew consent. No NGO is named.
Counts from 1 to ``threshold - 1`` and the cells that would let a reader work them out are
suppressed (:mod:`workbench.public_report.suppression`).

>>> from workbench.store import open_store
>>> from workbench.quality.periods import parse_period
>>> with open_store("workbench.duckdb", read_only=True) as store:  # doctest: +SKIP
...     report = write_public_report(store, parse_period("2024"), Path("build/public"), threshold=5)
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from workbench.assets import asset_path, font_face_css
from workbench.audit import record_export
from workbench.disclosure import Terms, terms_from_manifest
from workbench.errors import ConfigError, ManifestError, WorkbenchError
from workbench.public_report.suppression import Equation, Suppression, holds, suppress
from workbench.quality.periods import Period
from workbench.sql import sql_literal
from workbench.store import Store

HERE = Path(__file__).parent
TOTAL = "all"  # code of a total row or column in the CSV files
UNKNOWN = "unknown"  # code of an incident with no governorate (or no violation type)
VICTIM_ROLES = ("victim",)  # incident_persons roles counted as victims
LANGUAGES = ("en",)
SUPPRESSED_MARK = "[s]"


@dataclass(frozen=True)
class Axis:
    """One dimension of a table: its CSV column, its heading, its codes in order and their labels."""

    name: str
    title: str
    codes: tuple[str, ...]  # the total (TOTAL) last, when the table has one
    labels: Mapping[str, str]


@dataclass
class CountTable:
    """A table of counts, its cells keyed by (row code, column code); a one-way table has one column, TOTAL."""

    name: str
    title: str
    measure: str
    note: str
    rows: Axis
    columns: Axis
    values: dict[tuple[str, str], int]

    @property
    def two_way(self) -> bool:
        return self.columns.codes != (TOTAL,)

    def cell(self, row: str, column: str) -> tuple[str, str, str]:
        """The cell's id for :mod:`suppression`."""
        return (self.name, row, column)

    def equations(self) -> list[Equation]:
        """Every row sum and column sum against its total that holds for these counts.

        A sum holds where each counted unit falls in exactly one of its cells. An incident of two
        violation types falls in two cells of its governorate's column, so that column's sum is
        false, left out here, and of no use to a reader either. A sum that holds by coincidence
        is kept: a reader who tries it would get the right answer.
        """
        candidates: list[Equation] = []
        inner_rows = [r for r in self.rows.codes if r != TOTAL]
        inner_columns = [c for c in self.columns.codes if c != TOTAL]
        if TOTAL in self.columns.codes and self.two_way:
            for r in self.rows.codes:
                terms = {self.cell(r, c): 1 for c in inner_columns} | {self.cell(r, TOTAL): -1}
                candidates.append(Equation(terms, f"{self.name}: row {r}"))
        if TOTAL in self.rows.codes:
            for c in self.columns.codes:
                terms = {self.cell(r, c): 1 for r in inner_rows} | {self.cell(TOTAL, c): -1}
                candidates.append(Equation(terms, f"{self.name}: column {c}"))
        values = {self.cell(r, c): v for (r, c), v in self.values.items()}
        return [e for e in candidates if holds(e, values)]

    def frame(self, suppression: Suppression) -> pl.DataFrame:
        """One line per cell: codes, labels, the true ``value``, ``suppression`` (primary, complementary
        or null) and ``published`` (null when suppressed). The true values stay with the analyst."""
        records = []
        for r in self.rows.codes:
            for c in self.columns.codes:
                value = self.values[(r, c)]
                status = suppression.status(self.cell(r, c))
                record = {self.rows.name: r, f"{self.rows.name}_label": self.rows.labels[r]}
                if self.two_way:
                    record |= {self.columns.name: c, f"{self.columns.name}_label": self.columns.labels[c]}
                records.append(record | {"value": value, "suppression": status, "published": None if status else value})
        schema = {"value": pl.Int64, "suppression": pl.String, "published": pl.Int64}
        return pl.DataFrame(records, schema_overrides=schema)

    def csv_frame(self, suppression: Suppression) -> pl.DataFrame:
        """The published CSV: codes, labels, the count (empty when suppressed) and ``status``."""
        frame = self.frame(suppression)
        status = pl.when(pl.col("suppression").is_null()).then(pl.lit("published")).otherwise(pl.lit("suppressed"))
        return frame.with_columns(pl.col("published").alias(self.measure), status.alias("status")).drop(
            "value", "suppression", "published")


@dataclass
class PublicReport:
    """What :func:`write_public_report` wrote and computed.

    ``tables`` holds each table as :meth:`CountTable.frame` gives it (true values included: for the
    analyst, never for publication); ``excluded`` counts the submissions left out by reason and the
    records left out under a confidentiality agreement.
    """

    period: Period
    threshold: int
    on: date
    html: Path
    csv: dict[str, Path]
    tables: dict[str, pl.DataFrame]
    primary: int
    complementary: int
    incidents: int
    excluded: dict[str, int] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)


# -- scope ---------------------------------------------------------------------------------


def excluded_submissions(store: Store, on: date) -> dict[int, str]:
    """Current submissions whose material stays out of public figures, with the reason:
    ``source_confidential`` (the flag or the manifest's terms) or ``embargo`` (after ``on``)."""
    rows = store.con.execute(
        "SELECT submission_id, source_confidential, manifest FROM main.submissions "
        "WHERE superseded_by IS NULL ORDER BY submission_id").fetchall()
    excluded: dict[int, str] = {}
    for submission_id, flagged, manifest in rows:
        terms = _terms(submission_id, manifest, store)
        if flagged or terms.source_confidential:
            excluded[submission_id] = "source_confidential"
        elif terms.embargo_until is not None and terms.embargo_until > on:
            excluded[submission_id] = "embargo"
    return excluded


def _terms(submission_id: int, manifest: str, store: Store) -> Terms:
    try:
        disclosure = json.loads(manifest).get("disclosure")
        return terms_from_manifest(disclosure, contracts=store.contracts)
    except (ValueError, AttributeError):
        raise ManifestError(f"submission {submission_id}: the stored manifest is not a JSON object") from None
    except ManifestError as exc:
        raise ManifestError(f"submission {submission_id}: {exc}") from None


# Named steps before each table's final query. $excluded, $start, $end and $roles are filled in
# by :func:`_scope_sql` with literals (integers, dates and constant codes only), because the export
# log (:func:`workbench.audit.record_export`) takes its queries as text.
_STEPS = {
    "eligible": """SELECT submission_id FROM main.submissions
        WHERE superseded_by IS NULL AND NOT source_confidential AND NOT list_contains($excluded, submission_id)""",
    "scope": """SELECT i.ngo_id, i.submission_id, i.incident_id, i.row_hash, i.date_start, i.date_precision,
            coalesce(i.admin1_pcode, 'unknown') AS governorate, i.violation_types
        FROM active.incidents i
        WHERE i.submission_id IN (SELECT submission_id FROM eligible)
          AND NOT coalesce(i.confidential_source, FALSE)
          AND i.date_start <= $end AND coalesce(i.date_end, i.date_start) >= $start""",
    "typed": """SELECT ngo_id, incident_id, governorate,
            unnest(CASE WHEN len(coalesce(violation_types, [])) = 0 THEN ['unknown']
                        ELSE list_distinct(violation_types) END) AS violation_type
        FROM scope""",
    "victims": """SELECT DISTINCT ip.ngo_id, ip.person_id, t.violation_type, t.governorate
        FROM typed t JOIN active.incident_persons ip USING (ngo_id, incident_id)
        LEFT JOIN (SELECT * FROM active.persons WHERE submission_id IN (SELECT submission_id FROM eligible)) p
               USING (ngo_id, person_id)
        WHERE ip.submission_id IN (SELECT submission_id FROM eligible)
          AND list_contains($roles, ip.role) AND p.consent IS DISTINCT FROM 'withdrawn'""",
}

_FINAL = {
    "incidents": """SELECT grouping(violation_type) = 1 AS all_types, grouping(governorate) = 1 AS all_places,
            violation_type, governorate, count(DISTINCT (ngo_id, incident_id)) AS n
        FROM typed GROUP BY GROUPING SETS ((violation_type, governorate), (violation_type), (governorate), ())""",
    "victims": """SELECT grouping(violation_type) = 1 AS all_types, grouping(governorate) = 1 AS all_places,
            violation_type, governorate, count(DISTINCT (ngo_id, person_id)) AS n
        FROM victims GROUP BY GROUPING SETS ((violation_type, governorate), (violation_type), (governorate), ())""",
    "months": """SELECT grouping(month) = 1 AS all_months, month, count(DISTINCT (ngo_id, incident_id)) AS n
        FROM (SELECT *, CASE WHEN date_precision IN ('day', 'month') AND date_start >= $start
                             THEN strftime(date_start, '%Y-%m') ELSE 'other' END AS month FROM scope)
        GROUP BY GROUPING SETS ((month), ())""",
    "submissions": """SELECT count(*) AS submissions, count(DISTINCT ngo_id) AS ngos FROM main.submissions
        WHERE submission_id IN (SELECT submission_id FROM eligible)
          AND CAST(received_at AS DATE) BETWEEN $start AND $end""",
}


def _scope_sql(final: str, excluded: Mapping[int, str], period: Period) -> str:
    """The named steps and one final query, with the scope's values written in as literals."""
    def ids(which: Mapping[int, str] | list[int]) -> str:
        return "[" + ", ".join(str(int(i)) for i in sorted(which)) + "]::INTEGER[]"

    literals = {
        "$excluded": ids(excluded),
        "$source_confidential": ids([i for i, reason in excluded.items() if reason == "source_confidential"]),
        "$start": f"DATE '{period.start.isoformat()}'",
        "$end": f"DATE '{period.end.isoformat()}'",
        "$roles": "[" + ", ".join(sql_literal(r) for r in VICTIM_ROLES) + "]",
    }
    steps = ",\n".join(f"{name} AS ({sql})" for name, sql in _STEPS.items())
    sql = f"WITH {steps}\n{final}"
    for name, literal in literals.items():
        sql = sql.replace(name, literal)
    return sql


def _query(store: Store, final: str, excluded: Mapping[int, str], period: Period) -> list[tuple]:
    return store.con.execute(_scope_sql(_FINAL[final], excluded, period)).fetchall()


# -- tables --------------------------------------------------------------------------------


def _governorates(store: Store) -> dict[str, str]:
    """Governorate P-code -> English name, in P-code order."""
    if not store.has_table("gazetteer_places"):
        return {}
    rows = store.con.execute("SELECT place_id, name_en FROM gazetteer_places WHERE level = 'governorate' "
                             "ORDER BY place_id").fetchall()
    return {pcode: name or pcode for pcode, name in rows}


def _violation_labels(store: Store) -> dict[str, str]:
    vocabulary = store.contracts.vocabulary("violation_types")
    return {term.code: vocabulary.label(term.code, "en") for term in vocabulary.terms}


def _by_type_and_place(name: str, title: str, measure: str, note: str, rows: list[tuple],
                       types: dict[str, str], places: dict[str, str]) -> CountTable:
    values: dict[tuple[str, str], int] = {}
    for all_types, all_places, violation_type, governorate, n in rows:
        values[(TOTAL if all_types else violation_type, TOTAL if all_places else governorate)] = n
    seen_types = {r for r, _ in values} - {TOTAL}
    seen_places = {c for _, c in values} - {TOTAL}
    type_codes = [*types, *sorted(seen_types - set(types) - {UNKNOWN}), *([UNKNOWN] if UNKNOWN in seen_types else [])]
    place_codes = [*places, *sorted(seen_places - set(places) - {UNKNOWN}), UNKNOWN]
    type_labels = {c: types.get(c, c) for c in type_codes} | {UNKNOWN: "No violation type recorded",
                                                              TOTAL: f"All violation types ({measure}, each once)"}
    place_labels = {c: places.get(c, c) for c in place_codes} | {UNKNOWN: "Governorate not known", TOTAL: "Total"}
    row_axis = Axis("violation_type", "Violation type", (*type_codes, TOTAL), type_labels)
    column_axis = Axis("governorate", "Governorate", (*place_codes, TOTAL), place_labels)
    full = {(r, c): values.get((r, c), 0) for r in row_axis.codes for c in column_axis.codes}
    return CountTable(name, title, measure, note, row_axis, column_axis, full)


def _months(period: Period) -> list[str]:
    months, year, month = [], period.start.year, period.start.month
    while (year, month) <= (period.end.year, period.end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def build_tables(store: Store, period: Period, excluded: Mapping[int, str]) -> list[CountTable]:
    """The report's tables, counted in DuckDB over the material in scope (before any suppression)."""
    types, places = _violation_labels(store), _governorates(store)
    incidents = _by_type_and_place(
        "incidents_by_violation_type_and_governorate", "Incidents by violation type and governorate", "incidents",
        "An incident documented under several violation types is counted in each of their rows, so the rows "
        "add up to more than the last row, which counts each incident once.",
        _query(store, "incidents", excluded, period), types, places)
    victims = _by_type_and_place(
        "victims_by_violation_type_and_governorate", "Victims by violation type and governorate", "victims",
        "Persons documented as victims of the incidents counted above. A person linked to several incidents, "
        "or to an incident of several violation types, is counted once in each cell they fall in and once in "
        "each total, so neither the rows nor the columns need add up to their totals.",
        _query(store, "victims", excluded, period), types, places)
    month_values = {(TOTAL if all_months else month, TOTAL): n for all_months, month, n in _query(store, "months", excluded, period)}
    month_codes = (*_months(period), "other", TOTAL)
    month_labels = {m: f"{calendar.month_name[int(m[5:])]} {m[:4]}" for m in month_codes[:-2]} | {
        "other": "Other (began before the period, or date known only to the year)", TOTAL: "Total"}
    months = CountTable(
        "incidents_by_month", "Incidents by month", "incidents",
        "Each incident is counted once, in the month it began.",
        Axis("month", "Month", month_codes, month_labels), Axis("total", "Incidents", (TOTAL,), {TOTAL: "Incidents"}),
        {(m, TOTAL): month_values.get((m, TOTAL), 0) for m in month_codes})
    submissions, ngos = _query(store, "submissions", excluded, period)[0]
    received = CountTable(
        "submissions_received", "Submissions received in the period", "count",
        "Submissions received in the period whose material is in scope, and the number of NGOs that sent them.",
        Axis("figure", "Figure", ("submissions", "ngos"),
             {"submissions": "Submissions received", "ngos": "NGOs that sent them"}),
        Axis("total", "Count", (TOTAL,), {TOTAL: "Count"}),
        {("submissions", TOTAL): submissions, ("ngos", TOTAL): ngos})
    return [incidents, victims, months, received]


def suppress_tables(tables: list[CountTable], threshold: int) -> Suppression:
    """Primary and complementary suppression over all tables at once, so that relations between
    tables (the incident total published in two of them) are honoured too."""
    values = {t.cell(r, c): v for t in tables for (r, c), v in t.values.items()}
    totals = {t.cell(r, c) for t in tables for (r, c) in t.values if TOTAL in (r, c)}
    equations = [e for t in tables for e in t.equations()]
    by_name = {t.name: t for t in tables}
    incidents, months = by_name.get("incidents_by_violation_type_and_governorate"), by_name.get("incidents_by_month")
    if incidents and months:
        same = Equation({incidents.cell(TOTAL, TOTAL): 1, months.cell(TOTAL, TOTAL): -1}, "incident total, published twice")
        if holds(same, values):
            equations.append(same)
    return suppress(values, equations, threshold=threshold, totals=totals)


# -- output --------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


@lru_cache(maxsize=1)
def _fonts_css() -> str:
    sans = "@fontsource/noto-sans"
    return font_face_css("Report Latin", [(asset_path(sans, f"files/noto-sans-latin-{w}-normal.woff2"), w) for w in (400, 700)])


def _grid(table: CountTable, suppression: Suppression) -> dict[str, Any]:
    """The table as the template draws it: header labels, then rows of cell texts."""
    rows = []
    for r in table.rows.codes:
        cells = []
        for c in table.columns.codes:
            hidden = table.cell(r, c) in suppression.suppressed
            cells.append({"text": SUPPRESSED_MARK if hidden else f"{table.values[(r, c)]:,}", "suppressed": hidden,
                          "total": TOTAL in (r, c)})
        rows.append({"label": table.rows.labels[r], "total": r == TOTAL, "cells": cells})
    return {"name": table.name, "title": table.title, "note": table.note, "corner": table.rows.title,
            "header": [table.columns.labels[c] for c in table.columns.codes], "rows": rows}


def render_html(tables: list[CountTable], suppression: Suppression, *, period: Period, on: date,
                generated: datetime | None = None) -> str:
    """The report as one HTML page with no script and nothing to fetch (fonts and styles inline)."""
    by_name = {t.name: t for t in tables}
    incidents = by_name["incidents_by_violation_type_and_governorate"]
    total_hidden = incidents.cell(TOTAL, TOTAL) in suppression.suppressed
    return _environment().get_template("public_report.html.j2").render(
        period=period, on=on.isoformat(), threshold=suppression.threshold, mark=SUPPRESSED_MARK,
        grids=[_grid(t, suppression) for t in tables], fonts_css=_fonts_css(),
        incidents=None if total_hidden else incidents.values[(TOTAL, TOTAL)],
        no_incidents=incidents.values[(TOTAL, TOTAL)] == 0,
        csv_files=[(f"{t.name}.csv", t.title) for t in tables],
        generated=(generated or datetime.now(timezone.utc)).strftime("%Y-%m-%d"))


def write_public_report(store: Store, period: Period, out_dir: Path, *, threshold: int = 5, on: date | None = None,
                        language: str = "en", log: bool = True) -> PublicReport:
    """Count, suppress and write ``public_report.html`` and one CSV per table into ``out_dir``.

    ``on`` is the day of publication (default today): a submission embargoed until after it is left
    out. Each report written goes into the custody log with the SHA-256 of its files (unless ``log``
    is False or the store is read-only). A period with nothing in scope gives a report saying so.
    """
    if language not in LANGUAGES:
        raise ConfigError(f"public report language {language!r} is not available; available: {', '.join(LANGUAGES)}")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ConfigError(f"public report threshold must be a whole number of at least 1, not {threshold!r}")
    on = on or date.today()
    excluded = excluded_submissions(store, on)
    tables = build_tables(store, period, excluded)
    suppression = suppress_tables(tables, threshold)
    html = render_html(tables, suppression, period=period, on=on)
    out_dir = Path(out_dir)
    report = PublicReport(period=period, threshold=threshold, on=on, html=out_dir / "public_report.html", csv={},
                          tables={t.name: t.frame(suppression) for t in tables}, primary=len(suppression.primary),
                          complementary=len(suppression.complementary),
                          incidents=tables[0].values[(TOTAL, TOTAL)], excluded=_excluded_counts(store, excluded, period))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        report.html.write_text(html, encoding="utf-8")
        for table in tables:
            path = out_dir / f"{table.name}.csv"
            table.csv_frame(suppression).write_csv(path)
            report.csv[table.name] = path
    except OSError as exc:
        raise WorkbenchError(f"cannot write the public report to {out_dir}: {exc.strerror or exc}") from None
    for path in (report.html, *report.csv.values()):
        report.sha256[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    if log and not store.read_only:
        _log_export(store, report, excluded, out_dir)
    return report


# Incidents of the period left out, by NGO and reason, for the export log (never published).
_WITHHELD_SQL = """SELECT i.ngo_id,
        CASE WHEN s.source_confidential OR list_contains($source_confidential, i.submission_id) THEN 'source_confidential'
             WHEN list_contains($excluded, i.submission_id) THEN 'embargo' ELSE 'confidential_source' END AS reason,
        count(*) AS records
    FROM active.incidents i JOIN main.submissions s USING (submission_id)
    WHERE i.date_start <= $end AND coalesce(i.date_end, i.date_start) >= $start
      AND (s.source_confidential OR list_contains($excluded, i.submission_id) OR coalesce(i.confidential_source, FALSE))
    GROUP BY ALL"""


def _log_export(store: Store, report: PublicReport, excluded: Mapping[int, str], out_dir: Path) -> None:
    """Log the report as an export: the incidents it counted (so a later withdrawal is flagged against
    it), the incidents it left out by reason, and the SHA-256 of every file it wrote."""
    sums = "".join(f"{digest}  {name}\n" for name, digest in sorted(report.sha256.items()))
    record_export(
        store, kind="public_report", destination=str(out_dir.resolve()), subject=report.period.label,
        selection=f"period {report.period.label}", decided_on=report.on,
        manifest_sha256=hashlib.sha256(sums.encode("utf-8")).hexdigest(),
        items={"incidents": _scope_sql("SELECT ngo_id, submission_id, incident_id AS record_key, row_hash FROM scope",
                                       excluded, report.period)},
        withheld={"incidents": _scope_sql(_WITHHELD_SQL, excluded, report.period)},
        details={"period": [report.period.start.isoformat(), report.period.end.isoformat()],
                 "threshold": report.threshold, "files": report.sha256})


def _excluded_counts(store: Store, excluded: Mapping[int, str], period: Period) -> dict[str, int]:
    """Submissions left out by reason, and in-period records left out under a confidentiality agreement."""
    counts = {reason: sum(1 for r in excluded.values() if r == reason) for reason in ("source_confidential", "embargo")}
    counts["confidential_records"] = store.con.execute(
        "SELECT count(*) FROM active.incidents WHERE coalesce(confidential_source, FALSE) "
        "AND NOT list_contains(?, submission_id) AND date_start <= ? AND coalesce(date_end, date_start) >= ?",
        [sorted(excluded), period.end, period.start]).fetchone()[0]
    return counts
