"""The DuckDB store: connection, schema from the contracts, provenance, and the custody log.

One embedded DuckDB file (default ``./workbench.duckdb``). Record tables are made from the
contracts: one column per field, plus the provenance every row carries (``ngo_id``,
``submission_id``, ``source_file``, ``source_row``, ``row_hash``); a record is known by its NGO and
its primary key. The schema
``active`` holds one view per record type with the rows of submissions that have not been
superseded: ``SELECT * FROM active.incidents``.

>>> with open_store(":memory:") as store:
...     store.log("note", subject="doctest", details={"n": 1}).seq
1
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import duckdb
import polars as pl

from workbench import gazetteer as gaz
from workbench.config import current_user, settings
from workbench.contracts import Contract, ContractSet, Field, load_contracts
from workbench.errors import StoreError, StoreLockedError
from workbench.sql import quote_ident, sql_literal

SCHEMA_VERSION = "1"
PROVENANCE_COLUMNS: dict[str, str] = {
    "ngo_id": "VARCHAR",
    "submission_id": "INTEGER",
    "source_file": "VARCHAR",
    "source_row": "BIGINT",
    "row_hash": "VARCHAR",
}
_DUCKDB_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE"}
GENESIS_HASH = "0" * 64

_META_DDL = """
CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS ngos (
    ngo_id VARCHAR PRIMARY KEY, name VARCHAR, name_ar VARCHAR, first_submission INTEGER);
CREATE TABLE IF NOT EXISTS submissions (
    submission_id INTEGER PRIMARY KEY, ngo_id VARCHAR NOT NULL, submission_ref VARCHAR NOT NULL,
    received_at TIMESTAMP NOT NULL, received_by VARCHAR NOT NULL, package_name VARCHAR NOT NULL,
    package_kind VARCHAR NOT NULL, package_sha256 VARCHAR NOT NULL, source_sha256 VARCHAR,
    vault_path VARCHAR, contract_version VARCHAR, period_start DATE, period_end DATE,
    manifest VARCHAR NOT NULL, source_confidential BOOLEAN NOT NULL, consent_basis VARCHAR,
    mode VARCHAR NOT NULL, supersedes INTEGER, superseded_by INTEGER,
    rows_read BIGINT NOT NULL, rows_accepted BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    submission_id INTEGER NOT NULL, path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, bytes BIGINT NOT NULL,
    format VARCHAR NOT NULL, encoding VARCHAR, delimiter VARCHAR, record_type VARCHAR,
    rows_read BIGINT, rows_accepted BIGINT, rows_quarantined BIGINT, PRIMARY KEY (submission_id, path));
CREATE TABLE IF NOT EXISTS columns_received (
    submission_id INTEGER NOT NULL, source_file VARCHAR NOT NULL, position INTEGER NOT NULL, header VARCHAR,
    field VARCHAR, matched_by VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    submission_id INTEGER NOT NULL, record_type VARCHAR, source_file VARCHAR NOT NULL, source_row BIGINT,
    raw VARCHAR, reasons VARCHAR[] NOT NULL, record_key VARCHAR);
CREATE TABLE IF NOT EXISTS findings (
    submission_id INTEGER NOT NULL, source_file VARCHAR, source_row BIGINT, field VARCHAR,
    rule VARCHAR NOT NULL, severity VARCHAR NOT NULL, message VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS custody_log (
    seq BIGINT PRIMARY KEY, logged_at TIMESTAMP NOT NULL, actor VARCHAR NOT NULL, action VARCHAR NOT NULL,
    submission_id INTEGER, subject VARCHAR NOT NULL, details VARCHAR NOT NULL,
    prev_hash VARCHAR NOT NULL, entry_hash VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS disclosure_updates (
    seq INTEGER PRIMARY KEY, ngo_id VARCHAR NOT NULL, submission_id INTEGER, authority VARCHAR NOT NULL,
    authority_key VARCHAR NOT NULL, decision VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL, recorded_by VARCHAR NOT NULL,
    reference VARCHAR, note VARCHAR, custody_seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS exports (
    export_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, authority VARCHAR, authority_key VARCHAR,
    created_at TIMESTAMP NOT NULL, created_by VARCHAR NOT NULL, decided_on DATE, selection VARCHAR, destination VARCHAR,
    manifest_sha256 VARCHAR, records BIGINT NOT NULL, withheld BIGINT NOT NULL, custody_seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS export_items (
    export_id VARCHAR NOT NULL, record_type VARCHAR NOT NULL, ngo_id VARCHAR NOT NULL, submission_id INTEGER NOT NULL,
    record_key VARCHAR NOT NULL, row_hash VARCHAR);
CREATE TABLE IF NOT EXISTS export_withheld (
    export_id VARCHAR NOT NULL, record_type VARCHAR NOT NULL, ngo_id VARCHAR NOT NULL, reason VARCHAR NOT NULL,
    records BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS linkage_models (
    model_id VARCHAR PRIMARY KEY, entity VARCHAR NOT NULL, trained_at TIMESTAMP NOT NULL, trained_by VARCHAR NOT NULL,
    records BIGINT NOT NULL, config VARCHAR NOT NULL, model VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS link_pairs (
    entity VARCHAR NOT NULL, model_id VARCHAR NOT NULL, id_l VARCHAR NOT NULL, id_r VARCHAR NOT NULL,
    match_probability DOUBLE, match_weight DOUBLE, evidence VARCHAR);
CREATE TABLE IF NOT EXISTS link_clusters (
    entity VARCHAR NOT NULL, model_id VARCHAR NOT NULL, record_id VARCHAR NOT NULL, ngo_id VARCHAR NOT NULL,
    local_id VARCHAR NOT NULL, cluster_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS link_decisions (
    seq INTEGER PRIMARY KEY, entity VARCHAR NOT NULL, id_l VARCHAR NOT NULL, id_r VARCHAR NOT NULL, decision VARCHAR NOT NULL,
    decided_at TIMESTAMP NOT NULL, decided_by VARCHAR NOT NULL, reason VARCHAR, custody_seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS mentions (
    ngo_id VARCHAR NOT NULL, record_type VARCHAR NOT NULL, record_id VARCHAR NOT NULL, field VARCHAR NOT NULL,
    label VARCHAR NOT NULL, text VARCHAR NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL,
    resolved_id VARCHAR, candidates VARCHAR[], method VARCHAR NOT NULL, submission_id INTEGER);
CREATE SCHEMA IF NOT EXISTS active;
"""


_STATUS_SQL = """
WITH current AS (SELECT * FROM submissions WHERE superseded_by IS NULL),
file_counts AS (
    SELECT c.ngo_id, count(*) FILTER (WHERE f.record_type IS NOT NULL OR f.format NOT IN ('media', 'manifest')) AS data_files,
           count(*) AS files
    FROM current c JOIN files f USING (submission_id) GROUP BY c.ngo_id),
finding_counts AS (
    SELECT c.ngo_id, count(*) FILTER (WHERE severity = 'error') AS errors,
           count(*) FILTER (WHERE severity = 'warning') AS warnings, count(*) FILTER (WHERE severity = 'info') AS infos
    FROM current c JOIN findings f USING (submission_id) GROUP BY c.ngo_id)
SELECT c.ngo_id, any_value(n.name) AS ngo_name, count(*) AS submissions,
       any_value(fc.files) AS files, any_value(fc.data_files) AS data_files,
       CAST(sum(c.rows_read) AS BIGINT) AS rows_read, CAST(sum(c.rows_accepted) AS BIGINT) AS rows_accepted,
       CAST(sum(c.rows_quarantined) AS BIGINT) AS rows_quarantined,
       coalesce(any_value(fi.errors), 0) AS findings_error, coalesce(any_value(fi.warnings), 0) AS findings_warning,
       coalesce(any_value(fi.infos), 0) AS findings_info, max(c.received_at) AS last_received
FROM current c JOIN ngos n USING (ngo_id) LEFT JOIN file_counts fc USING (ngo_id) LEFT JOIN finding_counts fi USING (ngo_id)
GROUP BY c.ngo_id ORDER BY c.ngo_id
"""


@dataclass(frozen=True)
class CustodyEntry:
    """One custody-log entry; ``entry_hash`` covers its content and ``prev_hash``."""

    seq: int
    at: datetime
    actor: str
    action: str
    submission_id: int | None
    subject: str
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str


def duckdb_type(field: Field) -> str:
    """The column type a contract field gets in the store."""
    if field.is_list:
        return ("BIGINT" if field.item_type == "integer" else "VARCHAR") + "[]"
    return _DUCKDB_TYPES[field.type]


def extension_path(name: str) -> Path:
    """The extension binary shipped in the pinned ``duckdb-extension-<name>`` wheel (never downloaded)."""
    import importlib

    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise StoreError(f"the DuckDB extension {name!r} is not installed (pip package duckdb-extension-{name})") from None
    found = sorted(Path(module.__file__).parent.rglob(f"{name}.duckdb_extension"))
    if not found:
        raise StoreError(f"the package duckdb-extension-{name} holds no {name}.duckdb_extension file")
    return found[-1]


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load fts, spatial or httpfs from its wheel, offline."""
    con.execute(f"LOAD {sql_literal(str(extension_path(name)))}")


def table_from_frame(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, *, temporary: bool = True) -> None:
    """Create (or replace) a table holding a polars frame, through Arrow, without copying by hand."""
    view = f"__frame_{abs(hash(name))}"
    con.register(view, frame.to_arrow())
    try:
        kind = "TEMP TABLE" if temporary else "TABLE"
        con.execute(f"CREATE OR REPLACE {kind} {quote_ident(name)} AS SELECT * FROM {quote_ident(view)}")
    finally:
        con.unregister(view)


def row_hash_sql(contract: Contract, alias: str = "") -> str:
    """SQL for a row's content hash: its fields and provenance, NULLs told apart from empty strings."""
    prefix = f"{alias}." if alias else ""
    columns = ["ngo_id", "submission_id", "source_file", "source_row", *contract.field_names]
    parts = ", ".join(f"coalesce(CAST({prefix}{quote_ident(c)} AS VARCHAR), chr(0))" for c in columns)
    return f"md5(concat_ws(chr(31), {parts}))"


def _connect(path: str, read_only: bool, key: str | None = None) -> duckdb.DuckDBPyConnection:
    try:
        if key is None:
            return duckdb.connect(path, read_only=read_only)
        # DuckDB's own database encryption; writing needs the OpenSSL that httpfs brings
        con = duckdb.connect()
        load_extension(con, "httpfs")
        options = ", ".join(["READ_ONLY"] * read_only + [f"ENCRYPTION_KEY {sql_literal(key)}"])
        try:
            con.execute(f"ATTACH {sql_literal(path)} AS workbench ({options})")
            con.execute("USE workbench")
        except BaseException:
            con.close()
            raise
        return con
    except duckdb.Error as exc:
        raise _store_error(path, exc, encrypted=key is not None) from None


def _store_error(path: str, exc: duckdb.Error, *, encrypted: bool) -> StoreError:
    text = str(exc)
    if "Could not set lock" in text or "Conflicting lock" in text:
        holder = re.search(r"PID (\d+)", text)
        who = f" (process {holder.group(1)})" if holder else ""
        return StoreLockedError(
            f"the store {path} is open for writing in another process{who}; close that notebook or command and try again"
        )
    if "not a valid DuckDB database" in text:
        return StoreError(f"{path} is not a DuckDB database; nothing was changed. Point WORKBENCH_DB at a store file or a new path")
    if "without a key" in text:
        return StoreError(f"the store {path} is encrypted; set WORKBENCH_KEY_FILE to the file holding its key (or WORKBENCH_KEY)")
    if "Wrong encryption key" in text:
        return StoreError(f"the key given (WORKBENCH_KEY_FILE or WORKBENCH_KEY) does not open the store {path}")
    if encrypted and "encrypt" in text.lower():
        return StoreError(f"the store {path} cannot be opened with a key: {text.splitlines()[0]}")
    return StoreError(f"cannot open the store {path}: {text.splitlines()[0]}")


class Store:
    """An open store. Use :func:`open_store`; close it (or use ``with``) to release the file lock."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None, contracts: ContractSet, user: str,
                 *, read_only: bool = False):
        self.con = con
        self.read_only = read_only
        self.path = path
        self.contracts = contracts
        self.user = user

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @property
    def anchor_path(self) -> Path | None:
        """A file beside the store holding the newest custody-log hash, so a truncated log is noticed."""
        return self.path.with_suffix(".custody-head") if self.path else None

    # -- schema ---------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create what is missing: meta tables, one table per contract, new contract fields, views."""
        self.con.execute(_META_DDL)
        self.con.execute(
            "INSERT INTO store_meta VALUES ('schema_version', ?), ('created_at', ?) ON CONFLICT DO NOTHING",
            [SCHEMA_VERSION, datetime.now(timezone.utc).isoformat()],
        )
        for contract in self.contracts:
            self._ensure_record_table(contract)
        if not self.has_table("gazetteer_places"):
            self.replace_gazetteer(gaz.builtin(), log=False)

    def has_table(self, name: str, schema: str = "main") -> bool:
        return bool(
            self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? AND table_name = ?",
                [schema, name],
            ).fetchone()[0]
        )

    def columns(self, table: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ?"
            " ORDER BY column_index",
            [table],
        ).fetchall()
        return dict(rows)

    def _ensure_record_table(self, contract: Contract) -> None:
        wanted = {**PROVENANCE_COLUMNS, **{f.name: duckdb_type(f) for f in contract.fields}}
        table = quote_ident(contract.name)
        if not self.has_table(contract.name):
            cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in wanted.items())
            self.con.execute(f"CREATE TABLE {table} ({cols})")
        else:
            existing = self.columns(contract.name)
            for name, sql_type in wanted.items():
                if name not in existing:
                    self.con.execute(f"ALTER TABLE {table} ADD COLUMN {quote_ident(name)} {sql_type}")
                elif existing[name] != sql_type:
                    raise StoreError(
                        f"table {contract.name}: column {name} is {existing[name]} in the store but the contract "
                        f"now says {sql_type}; a type change needs a migration"
                    )
        self.con.execute(
            f"CREATE OR REPLACE VIEW active.{table} AS SELECT t.* FROM main.{table} t "
            "JOIN main.submissions s USING (submission_id) WHERE s.superseded_by IS NULL"
        )

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: on any error the store is left as it was."""
        self.con.begin()
        try:
            yield
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()

    # -- custody log ----------------------------------------------------------------------
    def log(self, action: str, *, subject: str, details: dict[str, Any], submission_id: int | None = None) -> CustodyEntry:
        """Append one entry to the custody log, chained to the previous one by its hash."""
        last = self.con.execute("SELECT seq, entry_hash FROM custody_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        at = datetime.now(timezone.utc).replace(tzinfo=None)
        entry = CustodyEntry(seq, at, self.user, action, submission_id, subject, details, prev_hash, "")
        entry = CustodyEntry(**{**entry.__dict__, "entry_hash": custody_hash(entry)})
        self.con.execute(
            "INSERT INTO custody_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [seq, at, entry.actor, action, submission_id, subject, _canonical(details), prev_hash, entry.entry_hash],
        )
        return entry

    def write_anchor(self) -> None:
        """Record the newest custody hash beside the store (call after a commit)."""
        if self.anchor_path is None:
            return
        last = self.con.execute("SELECT seq, entry_hash FROM custody_log ORDER BY seq DESC LIMIT 1").fetchone()
        if last:
            self.anchor_path.write_text(f"{last[0]} {last[1]}\n", encoding="ascii")

    def custody_entries(self) -> list[CustodyEntry]:
        rows = self.con.execute(
            "SELECT seq, logged_at, actor, action, submission_id, subject, details, prev_hash, entry_hash FROM custody_log ORDER BY seq"
        ).fetchall()
        return [CustodyEntry(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8]) for r in rows]

    def custody_problems(self) -> list[str]:
        """Every break in the custody chain, naming the entry."""
        problems: list[str] = []
        expected_prev, expected_seq = GENESIS_HASH, 1
        for entry in self.custody_entries():
            label = f"custody log entry {entry.seq} ({entry.action}, {entry.at:%Y-%m-%d %H:%M:%S})"
            if entry.seq != expected_seq:
                problems.append(f"custody log entries {expected_seq} to {entry.seq - 1} are missing")
            if entry.prev_hash != expected_prev:
                problems.append(f"{label} does not follow the entry before it: an entry was removed, inserted or altered")
            if custody_hash(entry) != entry.entry_hash:
                problems.append(f"{label} was altered: its content no longer matches its hash")
            expected_prev, expected_seq = entry.entry_hash, entry.seq + 1
        if self.anchor_path and self.anchor_path.exists():
            seq_text, _, hash_text = self.anchor_path.read_text(encoding="ascii").strip().partition(" ")
            if int(seq_text) >= expected_seq:
                problems.append(
                    f"the custody log ends at entry {expected_seq - 1} but {self.anchor_path.name} records entry {seq_text}: entries were removed"
                )
            elif not any(e.seq == int(seq_text) and e.entry_hash == hash_text for e in self.custody_entries()):
                problems.append(f"custody log entry {seq_text} differs from the hash recorded in {self.anchor_path.name}")
        return problems

    # -- gazetteer ------------------------------------------------------------------------
    def gazetteer(self) -> gaz.Gazetteer:
        """The gazetteer held in the store (the built-in one until an OCHA gazetteer is imported)."""
        places = self.con.execute("SELECT * FROM gazetteer_places").pl()
        names = self.con.execute("SELECT * FROM gazetteer_names").pl()
        return gaz.Gazetteer.from_frames(places, names)

    def replace_gazetteer(self, gazetteer: gaz.Gazetteer, *, log: bool = True, origin: str = "built-in") -> None:
        """Swap the store's gazetteer; place ids already stored in records are left as they are."""
        table_from_frame(self.con, "gazetteer_places", gazetteer.places, temporary=False)
        table_from_frame(self.con, "gazetteer_names", gazetteer.names, temporary=False)
        if log:
            self.log("gazetteer-import", subject=origin, details=gazetteer.summary())

    # -- reading --------------------------------------------------------------------------
    def status(self) -> pl.DataFrame:
        """Per NGO, over its current (not superseded) submissions: files, rows, findings by severity."""
        return self.frame(_STATUS_SQL)

    def findings(self, *, ngo_id: str | None = None, severity: str | None = None, current: bool = True) -> pl.DataFrame:
        """Findings (file, row, field, rule, severity, message), newest submission first.

        >>> with open_store(":memory:") as store:
        ...     store.findings(severity="error").height
        0
        """
        return self.frame(
            "SELECT s.ngo_id, f.submission_id, f.source_file AS file, f.source_row AS row, f.field, f.rule, f.severity, f.message "
            "FROM findings f JOIN submissions s USING (submission_id) "
            "WHERE (? IS NULL OR s.ngo_id = ?) AND (? IS NULL OR f.severity = ?) AND (NOT ? OR s.superseded_by IS NULL) "
            "ORDER BY f.submission_id DESC, f.source_file, f.source_row NULLS FIRST, f.field",
            [ngo_id, ngo_id, severity, severity, current],
        )

    def quarantine(self, *, ngo_id: str | None = None, current: bool = True) -> pl.DataFrame:
        """Quarantined rows with every reason; ``raw`` is the row as sent, with personal data masked."""
        return self.frame(
            "SELECT s.ngo_id, q.submission_id, q.record_type, q.source_file AS file, q.source_row AS row, q.reasons, q.raw "
            "FROM quarantine q JOIN submissions s USING (submission_id) "
            "WHERE (? IS NULL OR s.ngo_id = ?) AND (NOT ? OR s.superseded_by IS NULL) "
            "ORDER BY q.submission_id DESC, q.source_file, q.source_row",
            [ngo_id, ngo_id, current],
        )

    def custody_log(self) -> pl.DataFrame:
        """The custody log as a frame, oldest entry first."""
        return self.frame("SELECT seq, logged_at, actor, action, submission_id, subject, entry_hash FROM custody_log ORDER BY seq")

    def frame(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a query and return a polars frame."""
        return self.con.execute(sql, params or []).pl()


def table_digest(store: Store, table: str, submission_id: int) -> str:
    """SHA-256 over the row hashes of one submission's rows of a table, in file and row order."""
    # sorted by DuckDB, joined by polars: an ordered string_agg sorts on one thread
    hashes = store.con.execute(
        f"SELECT row_hash FROM {quote_ident(table)} WHERE submission_id = ? AND row_hash IS NOT NULL ORDER BY source_file, source_row",
        [submission_id],
    ).pl()["row_hash"]
    joined = hashes.str.join("").item() if len(hashes) else ""
    return hashlib.sha256(joined.encode("ascii")).hexdigest()


def custody_hash(entry: CustodyEntry) -> str:
    """SHA-256 of an entry's content and the previous entry's hash."""
    payload = _canonical(
        {
            "seq": entry.seq,
            "at": entry.at.isoformat(timespec="microseconds"),
            "actor": entry.actor,
            "action": entry.action,
            "submission_id": entry.submission_id,
            "subject": entry.subject,
            "details": entry.details,
            "prev_hash": entry.prev_hash,
        }
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def read_key(path: Path | None, given: str | None = None) -> str | None:
    """The encryption key: ``given`` (WORKBENCH_KEY) or the first line of the key file; None when neither is set.

    Both set and different is an error: the store would be opened with a key nobody meant.
    """
    key = None
    if path is not None:
        try:
            key = path.read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, UnicodeDecodeError, IndexError):
            raise StoreError(f"cannot read an encryption key from WORKBENCH_KEY_FILE ({path})") from None
    if given is not None:
        if key is not None and given.strip() != key:
            raise StoreError("WORKBENCH_KEY and the key in WORKBENCH_KEY_FILE differ; set only one of them")
        key = given.strip()
    if key is not None and len(key) < 16:
        raise StoreError(f"the key in {path or 'WORKBENCH_KEY'} is shorter than 16 characters; use a long random key")
    return key


def open_store(
    path: str | Path = ":memory:",
    *,
    contracts: ContractSet | None = None,
    read_only: bool = False,
    user: str | None = None,
    key: str | None = None,
) -> Store:
    """Open (and, unless read-only, create or migrate) a store.

    ``":memory:"`` gives a throw-away store, as the tests use. A store is encrypted at rest when a key
    is given, or when ``WORKBENCH_KEY_FILE`` names a file holding one, or ``WORKBENCH_KEY`` holds one
    (DuckDB database encryption).
    """
    in_memory = str(path) == ":memory:"
    if not in_memory and read_only and not Path(path).exists():
        raise StoreError(f"no store at {path}; run `workbench ingest` first")
    if key is None and not in_memory:
        config = settings()
        key = read_key(config.key_file, config.key)
    con = _connect(str(path), read_only, None if in_memory else key)
    store = Store(con, None if in_memory else Path(path), contracts or load_contracts(), user or current_user(), read_only=read_only)
    if not read_only:
        try:
            store.ensure_schema()
        except BaseException:
            con.close()
            raise
    return store
