"""Case files: what an authority may receive of a selection, decided row by row, written and logged.

Every record in scope gets a reason from :func:`workbench.disclosure.store_decision_sql` (NULL when
it is disclosed); a record linked to a withheld one is withheld too (``linked_record_withheld``): a
source or a person goes only with a disclosed incident, an incident-person link only when both its
incident and its person are disclosed. The staging happens in DuckDB temporary tables, so a case
file of a hundred thousand records is a handful of queries.

>>> from workbench.store import open_store
>>> with open_store("workbench.duckdb") as store:  # doctest: +SKIP
...     plan = preview(store, "DE-GBA", Selection.parse(violation_types=["barrel_bomb"]))
...     written = write_casefile(store, "DE-GBA", Path("build/casefile-gba"), plan.selection)
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from workbench import __version__
from workbench.audit import new_export_id, record_export
from workbench.casefile.manifest import file_entry, write_manifest
from workbench.casefile.spreadsheet import csv_column_sql, write_xlsx
from workbench.config import settings
from workbench.disclosure import REASONS, authority_key, store_decision_sql
from workbench.errors import ConfigError, ContractError, ReportError
from workbench.sql import quote_ident, sql_literal
from workbench.store import PROVENANCE_COLUMNS, Store, duckdb_type
from workbench.views.selection import Selection, where_sql

#: Record types in the order a reader meets them.
RECORD_TYPES = ("incidents", "sources", "actors", "incident_actors", "persons", "incident_persons")
DISCLOSED_INCIDENTS = "SELECT ngo_id, incident_id FROM cf_incidents WHERE reason IS NULL"


@dataclass(frozen=True)
class CaseFileConfig:
    """``data_contracts/casefile.yaml``: fields left out of every case file, incidents listed in the index."""

    exclude_fields: dict[str, tuple[str, ...]]
    index_listing: int


@dataclass
class Plan:
    """What a case file for ``authority`` would hold: per record type, disclosed and withheld, and why."""

    authority: str
    on: date
    selection: Selection
    counts: pl.DataFrame  # record_type, disclosed, withheld
    withheld: pl.DataFrame  # record_type, ngo_id, reason, records, explanation

    def disclosed(self, record_type: str = "incidents") -> int:
        row = self.counts.filter(pl.col("record_type") == record_type)
        return int(row["disclosed"][0]) if row.height else 0

    def withheld_total(self) -> int:
        return int(self.counts["withheld"].sum())

    def withheld_by_reason(self) -> pl.DataFrame:
        """Withheld records by type and reason over all NGOs: what a case file may say about them."""
        return (self.withheld.group_by("record_type", "reason", "explanation").agg(pl.col("records").sum())
                .sort("record_type", "reason"))


@dataclass
class CaseFile:
    """A written case file: its folder, id, manifest hash, what it holds, and the custody entry."""

    casefile_id: str
    directory: Path
    manifest_sha256: str
    plan: Plan
    files: list[dict[str, Any]]
    custody_seq: int
    timings: dict[str, float] = field(default_factory=dict)


def load_casefile_config(path: Path | None = None) -> CaseFileConfig:
    """Read the case-file configuration (default ``data_contracts/casefile.yaml``), naming any bad key."""
    path = Path(path) if path else settings().contracts_path / "casefile.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError([f"{path}: cannot read the case-file configuration: {exc}"]) from None
    return _parse_config(str(path), text)


@lru_cache(maxsize=4)
def _parse_config(where: str, text: str) -> CaseFileConfig:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ContractError([f"{where}: not YAML: {exc}"]) from None
    excluded = doc.get("exclude_fields", {}) or {}
    problems = [f"{where}: exclude_fields.{name}: not a record type ({', '.join(RECORD_TYPES)})" for name in excluded if name not in RECORD_TYPES]
    problems += [f"{where}: exclude_fields.{name}: must be a list of field names" for name, fields in excluded.items()
                 if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)]
    listing = doc.get("index_listing", 200)
    if not isinstance(listing, int) or isinstance(listing, bool) or listing < 0:
        problems.append(f"{where}: index_listing: {listing!r} must be a whole number, 0 or more")
    if problems:
        raise ContractError(problems)
    return CaseFileConfig({name: tuple(fields) for name, fields in excluded.items()}, listing)


def _today() -> date:
    return datetime.now(timezone.utc).date()


def stage(store: Store, authority: str, selection: Selection = Selection(), *, on: date | None = None) -> None:
    """Create the temporary tables ``cf_<record type>``: every row in scope with its ``reason`` (NULL = disclosed)."""
    authority_key(authority)  # an authority without a code is refused before any work
    on = on or _today()

    def decision(kind: str, alias: str) -> str:
        return store_decision_sql(store, kind, authority, on, alias)

    def withheld_if(flag: str) -> str:
        # NULL (no such parent) withholds: only a parent known to be disclosed lets a row through
        return f"CASE WHEN {flag} IS NOT TRUE THEN 'linked_record_withheld' END"

    run = store.con.execute
    run(f"CREATE OR REPLACE TEMP TABLE cf_incidents AS SELECT i.*, {decision('incidents', 'i')} AS reason "
        f"FROM active.incidents i WHERE {where_sql(selection, store)}")
    run("CREATE OR REPLACE TEMP TABLE cf_incident_keys AS SELECT ngo_id, incident_id, bool_or(reason IS NULL) AS disclosed "
        "FROM cf_incidents GROUP BY ALL")
    run(f"CREATE OR REPLACE TEMP TABLE cf_sources AS SELECT s.*, coalesce({decision('sources', 's')}, {withheld_if('k.disclosed')}) "
        "AS reason FROM active.sources s JOIN cf_incident_keys k USING (ngo_id, incident_id)")
    # a person listed twice by an NGO (two current submissions) gets the most protective of its consents
    run("""CREATE OR REPLACE TEMP TABLE cf_person_consent AS SELECT ngo_id, person_id,
           CASE WHEN bool_or(consent = 'withdrawn') THEN 'withdrawn'
                WHEN count(*) FILTER (WHERE consent IS DISTINCT FROM 'given') = 0 THEN 'given' ELSE 'unknown' END AS consent
           FROM active.persons GROUP BY ALL""")
    run(f"""CREATE OR REPLACE TEMP TABLE cf_person_links AS
        SELECT x.*, coalesce({decision('incident_persons', 'x')}, {withheld_if('k.disclosed')}) AS reason
        FROM (SELECT ip.*, c.consent FROM active.incident_persons ip LEFT JOIN cf_person_consent c USING (ngo_id, person_id)) x
        JOIN cf_incident_keys k USING (ngo_id, incident_id)""")
    run(f"""CREATE OR REPLACE TEMP TABLE cf_persons AS
        SELECT p.*, coalesce({decision('persons', 'p')}, {withheld_if('l.linked')}) AS reason FROM active.persons p
        JOIN (SELECT ngo_id, person_id, bool_or(reason IS NULL) AS linked FROM cf_person_links GROUP BY ALL) l USING (ngo_id, person_id)""")
    run(f"""CREATE OR REPLACE TEMP TABLE cf_incident_persons AS
        SELECT x.* EXCLUDE (reason, consent), coalesce(x.reason, {withheld_if('d.disclosed')}) AS reason FROM cf_person_links x
        LEFT JOIN (SELECT ngo_id, person_id, bool_or(reason IS NULL) AS disclosed FROM cf_persons GROUP BY ALL) d USING (ngo_id, person_id)""")
    run(f"""CREATE OR REPLACE TEMP TABLE cf_actor_links AS
        SELECT ia.*, coalesce({decision('incident_actors', 'ia')}, {withheld_if('k.disclosed')}) AS reason
        FROM active.incident_actors ia JOIN cf_incident_keys k USING (ngo_id, incident_id)""")
    # the actors linked to the incidents, and the units above them (a chain of command is evidence too)
    run("""CREATE OR REPLACE TEMP TABLE cf_actor_scope AS
        WITH RECURSIVE scope(ngo_id, actor_id, linked) AS (
            SELECT ngo_id, actor_id, bool_or(reason IS NULL) FROM cf_actor_links GROUP BY ALL
            UNION
            SELECT a.ngo_id, a.parent_id, s.linked FROM scope s
            JOIN active.actors a ON a.ngo_id = s.ngo_id AND a.actor_id = s.actor_id WHERE a.parent_id IS NOT NULL)
        SELECT ngo_id, actor_id, bool_or(linked) AS linked FROM scope GROUP BY ALL""")
    run(f"""CREATE OR REPLACE TEMP TABLE cf_actors AS
        SELECT a.*, coalesce({decision('actors', 'a')}, {withheld_if('s.linked')}) AS reason
        FROM active.actors a JOIN cf_actor_scope s USING (ngo_id, actor_id)""")
    run(f"""CREATE OR REPLACE TEMP TABLE cf_incident_actors AS
        SELECT x.* EXCLUDE (reason), coalesce(x.reason, {withheld_if('d.disclosed')}) AS reason FROM cf_actor_links x
        LEFT JOIN (SELECT ngo_id, actor_id, bool_or(reason IS NULL) AS disclosed FROM cf_actors GROUP BY ALL) d USING (ngo_id, actor_id)""")


def preview(store: Store, authority: str, selection: Selection = Selection(), *, on: date | None = None) -> Plan:
    """What a case file for ``authority`` would disclose and withhold (counts and reasons, never content)."""
    on = on or _today()
    stage(store, authority, selection, on=on)
    return _plan(store, authority, selection, on)


def _plan(store: Store, authority: str, selection: Selection, on: date) -> Plan:
    counts = store.frame(" UNION ALL ".join(
        f"SELECT {sql_literal(t)} AS record_type, {n} AS position, count(*) FILTER (WHERE reason IS NULL) AS disclosed, "
        f"count(*) FILTER (WHERE reason IS NOT NULL) AS withheld FROM cf_{t}" for n, t in enumerate(RECORD_TYPES)) + " ORDER BY position")
    withheld = store.frame(" UNION ALL ".join(
        f"SELECT {sql_literal(t)} AS record_type, ngo_id, reason, count(*) AS records FROM cf_{t} WHERE reason IS NOT NULL GROUP BY ALL"
        for t in RECORD_TYPES) + " ORDER BY record_type, ngo_id, records DESC")
    explanation = pl.col("reason").replace_strict(REASONS, default="unknown reason", return_dtype=pl.String)
    return Plan(authority, on, selection, counts.drop("position"), withheld.with_columns(explanation.alias("explanation")))


def export_columns(store: Store, record_type: str, config: CaseFileConfig) -> list[tuple[str, str]]:
    """(column, DuckDB type) of one record type as exported: provenance, then the contract's fields."""
    contract = store.contracts.contract(record_type)
    excluded = set(config.exclude_fields.get(record_type, ()))
    return [*PROVENANCE_COLUMNS.items(), *((f.name, duckdb_type(f)) for f in contract.fields if f.name not in excluded)]


def record_key_sql(store: Store, record_type: str) -> str:
    """SQL for a record's key within its NGO (its primary key fields joined by "/")."""
    keys = [k for k in store.contracts.contract(record_type).primary_key if k != "ngo_id"]
    return "concat_ws('/', " + ", ".join(f"CAST({quote_ident(k)} AS VARCHAR)" for k in keys) + ")"


def write_casefile(
    store: Store,
    authority: str,
    out_dir: Path,
    selection: Selection = Selection(),
    *,
    on: date | None = None,
    saved_query: str | None = None,
    boundaries: Path | None = None,
    pdf: bool = True,
    xlsx: bool = False,
    interactive: bool = True,
    config: CaseFileConfig | None = None,
) -> CaseFile:
    """Write the case-file package for ``authority`` into ``out_dir`` (a new or empty folder) and log it.

    The package holds CSV and Parquet files of the disclosed records, ``withheld.csv`` (counts and
    reasons only), an index (HTML and, with ``pdf``, PDF) with a printable map and timeline, with
    ``interactive`` an offline map and timeline, with ``xlsx`` one workbook, and the manifest with
    every file's SHA-256. The folder appears whole or not at all; the export, its items and its
    manifest hash are then logged in the store.
    """
    from workbench.casefile.index import render_index, write_interactive

    if store.read_only:
        raise ReportError("a case file is logged in the store; open the store for writing (not read-only)")
    config = config or load_casefile_config()
    on = on or _today()
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ReportError(f"{out_dir} already exists and is not an empty folder; a case file is never written over another")
    casefile_id = new_export_id("casefile")
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    stage(store, authority, selection, on=on)
    plan = _plan(store, authority, selection, on)
    timings["decide"] = time.perf_counter() - clock
    partial = out_dir.parent / f".{out_dir.name}.partial-{casefile_id}"
    try:
        (partial / "data").mkdir(parents=True)
        files = _write_data(store, partial, config, xlsx=xlsx, timings=timings)
        clock = time.perf_counter()
        withheld_path = partial / "withheld.csv"
        summary = plan.withheld_by_reason()
        summary.write_csv(withheld_path)
        files.append(file_entry(partial, withheld_path, summary.height))
        within = selection.but(within=DISCLOSED_INCIDENTS, ngos=(), period=None, violation_types=(), governorates=(), actors=(),
                               text="", incidents=())
        if interactive:
            files += [file_entry(partial, p) for p in write_interactive(store, within, partial, boundaries=boundaries)]
        timings["interactive"] = time.perf_counter() - clock
        clock = time.perf_counter()
        body = _manifest_body(store, plan, casefile_id, saved_query)
        files += [file_entry(partial, p) for p in render_index(store, plan, body, within, partial, config=config,
                                                                boundaries=boundaries, pdf=pdf)]
        timings["index"] = time.perf_counter() - clock
        digest = write_manifest(partial, body, files)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(partial, out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    clock = time.perf_counter()
    try:
        export = record_export(
            store, kind="casefile", export_id=casefile_id, destination=str(out_dir.resolve()), authority=authority,
            authority_key=authority_key(authority), decided_on=on, selection=body["selection"], manifest_sha256=digest,
            items={t: f"SELECT ngo_id, submission_id, {record_key_sql(store, t)} AS record_key, row_hash FROM cf_{t} WHERE reason IS NULL"
                   for t in RECORD_TYPES},
            withheld={t: f"SELECT ngo_id, reason, count(*) AS records FROM cf_{t} WHERE reason IS NOT NULL GROUP BY ALL" for t in RECORD_TYPES},
            details={"records_by_type": dict(zip(plan.counts["record_type"], plan.counts["disclosed"].cast(int))),
                     "withheld_by_reason": {r: int(n) for r, n in plan.withheld.group_by("reason").agg(pl.col("records").sum()).iter_rows()}},
        )
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)  # an export that is not logged must not exist
        raise
    timings["log"] = time.perf_counter() - clock
    return CaseFile(casefile_id, out_dir, digest, plan, files, export.custody.seq, timings)


def _write_data(store: Store, directory: Path, config: CaseFileConfig, *, xlsx: bool, timings: dict[str, float]) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    sheets: dict[str, str] = {}
    for record_type in RECORD_TYPES:
        clock = time.perf_counter()
        columns = export_columns(store, record_type, config)
        keys = dict.fromkeys(("ngo_id", *store.contracts.contract(record_type).primary_key))
        order = ", ".join(quote_ident(c) for c in keys)
        plain = ", ".join(quote_ident(c) for c, _ in columns)
        # sorted once; both copies keep the table's order (DuckDB preserves insertion order)
        store.con.execute(f"CREATE OR REPLACE TEMP TABLE cf_out_{record_type} AS SELECT {plain} FROM cf_{record_type} "
                          f"WHERE reason IS NULL ORDER BY {order}, submission_id")
        parquet = directory / "data" / f"{record_type}.parquet"
        csv = directory / "data" / f"{record_type}.csv"
        store.con.execute(f"COPY cf_out_{record_type} TO {sql_literal(str(parquet))} (FORMAT parquet, COMPRESSION zstd)")
        neutral = ", ".join(csv_column_sql(c, t) for c, t in columns)
        store.con.execute(f"COPY (SELECT {neutral} FROM cf_out_{record_type}) TO {sql_literal(str(csv))} (FORMAT csv, HEADER true)")
        count = store.con.execute(f"SELECT count(*) FROM cf_out_{record_type}").fetchone()[0]
        files += [file_entry(directory, parquet, count), file_entry(directory, csv, count)]
        sheets[record_type] = f"SELECT * FROM cf_out_{record_type}"
        timings[f"write {record_type}"] = time.perf_counter() - clock
    if xlsx:
        clock = time.perf_counter()
        path = directory / "data" / "casefile.xlsx"
        write_xlsx(store.con, sheets, path)
        files.append(file_entry(directory, path))
        timings["xlsx"] = time.perf_counter() - clock
    return files


def _manifest_body(store: Store, plan: Plan, casefile_id: str, saved_query: str | None) -> dict[str, Any]:
    ngos = store.frame("""SELECT s.ngo_id, any_value(n.name) AS ngo_name, s.submission_id, any_value(s.submission_ref) AS submission_ref,
            any_value(s.package_sha256) AS package_sha256, any_value(s.received_at) AS received_at
        FROM submissions s JOIN ngos n USING (ngo_id)
        WHERE s.submission_id IN (SELECT submission_id FROM cf_incidents WHERE reason IS NULL)
        GROUP BY s.ngo_id, s.submission_id ORDER BY s.ngo_id, s.submission_id""")
    head = store.con.execute("SELECT seq, entry_hash FROM custody_log ORDER BY seq DESC LIMIT 1").fetchone()
    by_ngo: dict[str, dict[str, Any]] = {}
    for row in ngos.iter_rows(named=True):
        entry = by_ngo.setdefault(row["ngo_id"], {"ngo_id": row["ngo_id"], "name": row["ngo_name"], "submissions": []})
        entry["submissions"].append({k: row[k] for k in ("submission_id", "submission_ref", "package_sha256", "received_at")})
    withheld = plan.withheld_by_reason()
    return {
        "casefile_id": casefile_id,
        "authority": plan.authority,
        "authority_key": authority_key(plan.authority),
        "decided_on": plan.on.isoformat(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "created_by": store.user,
        "workbench_version": __version__,
        "selection": plan.selection.describe(),
        "saved_query": saved_query,
        "custody_head": {"seq": head[0], "entry_hash": head[1]} if head else None,
        "records": dict(zip(plan.counts["record_type"], plan.counts["disclosed"].cast(int).to_list())),
        "withheld": withheld.to_dicts(),
        "ngos": list(by_ngo.values()),
        "csv_note": "Text cells that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) "
                    "begin with an apostrophe in the CSV and XLSX files; the Parquet files hold every value as stored.",
    }


def saved_query(path: Path, store: Store) -> str:
    """The text of a saved query (a ``.sql`` file with one SELECT giving ``ngo_id, incident_id``), checked."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8").strip().rstrip(";").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the saved query {path}: {exc}") from None
    import duckdb

    try:
        statements = store.con.extract_statements(text)
    except duckdb.Error as exc:
        raise ConfigError(f"{path}: not a query DuckDB can read: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ConfigError(f"{path}: a saved query must be one SELECT statement giving ngo_id and incident_id")
    try:
        columns = [d[0] for d in store.con.execute(f"SELECT * FROM ({text}) LIMIT 0").description]
    except duckdb.Error as exc:
        raise ConfigError(f"{path}: the query fails: {str(exc).splitlines()[0]}") from None
    missing = {"ngo_id", "incident_id"} - set(columns)
    if missing:
        raise ConfigError(f"{path}: the query must give the columns ngo_id and incident_id (missing: {', '.join(sorted(missing))})")
    return text
