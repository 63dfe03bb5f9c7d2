"""From a submission package on disk to rows in the store, all or nothing.

``ingest_package`` unpacks and hashes the package (``intake``), checks the manifest, recognises
what each file holds, loads each file as raw text (``readers``), interprets distinct values
(``normalise``), checks and types every row in one SQL query per file (``validate``), and writes
accepted rows, quarantined rows and findings in a single transaction, with a custody-log entry.
``check_package`` runs the same steps against a throw-away in-memory store.

>>> # workbench.ingest_package(store, Path("package.zip"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from workbench.config import Settings, settings as read_settings
from workbench.contracts import Contract, ContractSet
from workbench.errors import ManifestError, PackageError
from workbench.gazetteer import Gazetteer
from workbench.intake import Limits, Package, PackageFile, open_package, xlsx_sheet_names
from workbench.normalise.lookups import date_lookup, months_from, place_lookup, vocabulary_lookup
from workbench.normalise.pii import PiiPattern, load_patterns, masking_sql
from workbench.readers import RawTable, read_raw
from workbench.sql import quote_ident, sql_literal
from workbench.store import Store, open_store, row_hash_sql, table_digest, table_from_frame
from workbench.validate import ERROR, Context, Layout, compile_validation, header_score, map_headers, split_words

_BLANKS = "' ' || chr(9) || chr(10) || chr(13) || chr(160) || chr(65279)"
#: Cells longer than this are cut in the quarantined copy (the received file keeps them whole).
QUARANTINE_CELL_LIMIT = 100_000


@dataclass
class FileResult:
    path: str  # as findings and provenance name it: the file, or "file#sheet" for one sheet of a workbook
    record_type: str | None
    format: str
    encoding: str | None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    file: str = ""  # the file in the package
    sheet: str | None = None


@dataclass
class IngestReport:
    """What an ingest (or a check) did: per file counts and findings by severity."""

    status: str  # "ingested" | "unchanged" | "checked"
    ngo_id: str
    submission_ref: str
    package_sha256: str
    submission_id: int | None = None
    supersedes: int | None = None
    files: list[FileResult] = field(default_factory=list)
    findings: dict[str, int] = field(default_factory=dict)
    message: str = ""

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ngo_id": self.ngo_id,
            "submission_ref": self.submission_ref,
            "submission_id": self.submission_id,
            "supersedes": self.supersedes,
            "package_sha256": self.package_sha256,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "findings": self.findings,
            "files": [f.__dict__ for f in self.files],
            "message": self.message,
        }


def ingest_package(
    store: Store,
    path: Path,
    *,
    config: Settings | None = None,
    today: date | None = None,
    keep_in_vault: bool = True,
) -> IngestReport:
    """Load a package (folder or .zip) into the store. Re-ingesting the same package changes nothing."""
    config = config or read_settings(WORKBENCH_DB=store.path)
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="workbench-") as work:
        workdir = Path(work)
        try:
            package = open_package(path, workdir=workdir, limits=Limits.from_settings(config))
            _check_manifest(store.contracts, package)
        except PackageError as exc:
            if store.path is not None:
                with store.transaction():
                    store.log("reject", subject=path.name, details={"package": str(path.name), "reason": str(exc)})
                store.write_anchor()
            raise
        manifest = package.manifest
        ngo, ref = manifest["ngo"]["id"], manifest["submission_ref"]
        known = store.con.execute(
            "SELECT submission_id, received_at FROM submissions WHERE package_sha256 = ?", [package.sha256]
        ).fetchone()
        if known:
            return IngestReport(
                "unchanged", ngo, ref, package.sha256, submission_id=known[0],
                message=f"this package was already ingested as submission {known[0]} on {known[1]:%Y-%m-%d %H:%M} UTC; nothing changed",
            )
        previous = store.con.execute(
            "SELECT submission_id FROM submissions WHERE ngo_id = ? AND submission_ref = ? AND superseded_by IS NULL",
            [ngo, ref],
        ).fetchone()
        run = _Run(store, package, workdir, today or date.today(), previous[0] if previous else None)
        vault_dir = config.vault_path / package.sha256 if keep_in_vault and store.path is not None else None
        created_vault = False
        with store.transaction():
            report = run.execute()
            if vault_dir is not None:
                created_vault = _keep(package, vault_dir)
            _record_submission(store, run, report, vault_dir)
        if vault_dir is None and created_vault:
            shutil.rmtree(vault_dir, ignore_errors=True)
        store.write_anchor()
        return report


def check_package(path: Path, *, contracts: ContractSet | None = None, gazetteer: Gazetteer | None = None,
                  today: date | None = None) -> tuple[IngestReport, pl.DataFrame]:
    """Run every check of an ingest without a store: the report and the findings, for NGOs before sending."""
    with open_store(":memory:", contracts=contracts) as store:
        if gazetteer is not None:
            store.replace_gazetteer(gazetteer, log=False)
        report = ingest_package(store, path, today=today, keep_in_vault=False)
        report.status = "checked"
        findings = store.frame(
            "SELECT source_file AS file, source_row AS row, field, rule, severity, message FROM findings "
            "ORDER BY source_file, source_row NULLS FIRST, field"
        )
    return report, findings


def _check_manifest(contracts: ContractSet, package: Package) -> None:
    problems = contracts.check_manifest(package.manifest, where=package.manifest_file.path)
    if problems:
        raise ManifestError("the manifest does not satisfy the manifest contract:\n" + "\n".join(problems))


def _keep(package: Package, vault_dir: Path) -> bool:
    """Copy the package into the vault under its hash; returns whether the folder was new."""
    if vault_dir.exists():
        return False
    incoming = vault_dir.parent / f".incoming-{uuid.uuid4().hex}"
    incoming.mkdir(parents=True)
    if package.kind == "zip":
        shutil.copy2(package.source, incoming / package.source.name)
    for f in package.files:
        target = incoming / "files" / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f.disk_path, target)
    incoming.rename(vault_dir)
    return True


class _Run:
    """One ingest in progress: state shared by the steps of a single transaction."""

    def __init__(self, store: Store, package: Package, workdir: Path, today: date, supersedes: int | None):
        self.store, self.con, self.package, self.workdir, self.today = store, store.con, package, workdir, today
        self.contracts = store.contracts
        self.supersedes = supersedes
        self.ngo = package.manifest["ngo"]["id"]
        self.submission_id = (self.con.execute("SELECT coalesce(max(submission_id), 0) + 1 FROM submissions").fetchone()[0])
        self.patterns: tuple[PiiPattern, ...] = load_patterns(self.contracts.path / "pii_patterns.yaml")
        self.months = months_from(self.contracts.vocabulary("months"))
        self.day_first = package.manifest.get("date_order", "day_first") == "day_first"
        self._gazetteer: Gazetteer | None = None
        self.results: list[FileResult] = []
        self.temp_tables: list[str] = []

    @property
    def gazetteer(self) -> Gazetteer:
        if self._gazetteer is None:
            self._gazetteer = self.store.gazetteer()
        return self._gazetteer

    # -- orchestration --------------------------------------------------------------------
    def execute(self) -> IngestReport:
        manifest = self.package.manifest
        assignments = self._assign_record_types()
        order = {name: i for i, name in enumerate(self.contracts.contracts)}
        for file, record_type, sheet in sorted(assignments, key=lambda a: (order.get(a[1], len(order)), a[0].path)):
            self._ingest_file(file, record_type, sheet)
        findings = dict(
            self.con.execute(
                "SELECT severity, count(*) FROM findings WHERE submission_id = ? GROUP BY severity ORDER BY severity",
                [self.submission_id],
            ).fetchall()
        )
        self._drop_temporaries()
        return IngestReport(
            "ingested", self.ngo, manifest["submission_ref"], self.package.sha256, submission_id=self.submission_id,
            supersedes=self.supersedes, files=self.results, findings=findings,
            message=f"ingested as submission {self.submission_id}" + (f", superseding submission {self.supersedes}" if self.supersedes else ""),
        )

    def _drop_temporaries(self) -> None:
        views = {r[0] for r in self.con.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()}
        tables = {r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
        for name in dict.fromkeys(self.temp_tables):
            if name in views:
                self.con.execute(f"DROP VIEW {quote_ident(name)}")
        for name in dict.fromkeys(self.temp_tables):
            if name in tables:
                self.con.execute(f"DROP TABLE {quote_ident(name)}")

    def _assign_record_types(self) -> list[tuple[PackageFile, str | None, str | None]]:
        """(file, record type or None when it must be recognised from the headers, sheet) for every table."""
        listed: dict[str, list[dict]] = {}
        for entry in self.package.manifest.get("files", []):
            listed.setdefault(entry["path"], []).append(entry)
        for listed_path in listed:
            if not any(f.path == listed_path for f in self.package.files):
                self._finding(listed_path, None, None, "file.missing", ERROR,
                              "the manifest lists this file but the package does not hold it")
        out: list[tuple[PackageFile, str | None, str | None]] = []
        for f in self.package.data_files:
            for entry in listed.get(f.path, []):
                record_type = entry["record_type"] if entry["record_type"] in self.contracts.contracts else None
                if record_type is None:
                    self._finding(f.path, None, None, "file.record_type", ERROR,
                                  f"the manifest says this file holds {entry['record_type']!r}, which is not a record type of contract {self.contracts.version}")
                out.append((f, record_type, entry.get("sheet")))
            if f.path in listed:
                continue
            sheets = self._sheets(f)
            if len(sheets) > 1:
                out += [(f, self._guess_record_type(sheet) or self._guess_record_type(f.path), sheet) for sheet in sheets]
            else:
                out.append((f, self._guess_record_type(f.path), None))
        return out

    def _sheets(self, f: PackageFile) -> list[str]:
        if f.format != "xlsx":
            return []
        try:
            return xlsx_sheet_names(f.disk_path)
        except PackageError:
            return []  # reading the file reports why

    def _guess_record_type(self, name: str) -> str | None:
        words = split_words(Path(name).stem if "." in name else name)
        by_name = [c.name for c in self.contracts if words & {w for h in c.file_hints for w in split_words(h)}]
        # link files ("incident_persons") also hint at their parts: the most specific (most hint words) wins
        by_name.sort(key=lambda n: -self._hint_strength(n, words))
        if by_name and (len(by_name) == 1 or self._hint_strength(by_name[0], words) > self._hint_strength(by_name[1], words)):
            return by_name[0]
        return None  # decided after reading the headers

    def _hint_strength(self, name: str, words: set[str]) -> int:
        hints = self.contracts.contract(name).file_hints
        return max((len(split_words(h)) for h in hints if split_words(h) <= words), default=0)

    # -- one file -------------------------------------------------------------------------
    def _ingest_file(self, f: PackageFile, record_type: str | None, sheet: str | None) -> None:
        """Read one table (a file, or one sheet of a workbook), check it and store its rows."""
        label = f.path if sheet is None else f"{f.path}#{sheet}"
        result = FileResult(label, record_type, f.format, f.encoding, file=f.path, sheet=sheet)
        self.results.append(result)
        table = f"raw_{len(self.results)}"
        self.temp_tables += [table, f"{table}__csv", f"{table}__objects", f"{table}__objects_n", f"{table}__steps", f"{table}__numbers", "staged"]
        if f.encoding_note and sheet is None:
            self._finding(label, None, None, "file.encoding", "warning", f.encoding_note)
        try:
            raw = read_raw(self.con, f, table, workdir=self.workdir, sheet=sheet)
        except PackageError as exc:
            self._finding(label, None, None, "file.unreadable", ERROR, str(exc))
            self._quarantine_file(label, record_type, None, [str(exc)])
            return
        result.rows_read = raw.rows_read
        if record_type is None:
            scored = sorted(((header_score(raw.headers, c), c.name) for c in self.contracts), reverse=True)
            if scored and scored[0][0] >= 0.5 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
                record_type = result.record_type = scored[0][1]
        if f.format == "empty" or (raw.rows_read == 0):
            self._finding(label, None, None, "file.empty", "warning",
                          "the file holds no records" if sheet is None else f"sheet {sheet!r} holds no records")
            return
        if record_type is None:
            reason = "cannot tell which record type this file holds; list it under files in the manifest"
            self._finding(label, None, None, "file.record_type", ERROR, reason)
            self._quarantine_all(label, None, raw, [reason])
            result.rows_quarantined = raw.rows_read
            return
        contract = self.contracts.contract(record_type)
        layout = map_headers(raw.headers, contract, raw.columns)
        for header in layout.unknown:
            label = header if header and header.strip() else "(a column without a header)"
            self._finding(label, 1, None, "header.unknown", "warning",
                          f"column {label!r} is not in the {record_type} contract; its values were not loaded")
        for header, field_name in layout.duplicates:
            self._finding(label, 1, field_name, "header.duplicate", "warning",
                          f"column {header!r} is a second column for {field_name}; only the first was loaded")
        self._record_rejects(label, record_type, raw)
        if layout.missing_required:
            reason = f"the file has no column for required field(s) {', '.join(layout.missing_required)}"
            self._finding(label, 1, layout.missing_required[0], "header.missing_required", ERROR, reason)
            self._quarantine_all(label, record_type, raw, [reason])
            result.rows_quarantined = raw.rows_read
            return
        self._validate_and_store(label, contract, layout, raw, result)

    def _validate_and_store(self, label: str, contract: Contract, layout: Layout, raw: RawTable, result: FileResult) -> None:
        lookups = self._build_lookups(raw, layout)
        key_tables = self._key_tables(contract, layout, raw)
        existing = self._existing_keys(contract)
        ctx = Context(raw.table, tuple(raw.columns), lookups, key_tables, existing, self.patterns, self.today,
                      self._package_files_table())
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS {compile_validation(layout, ctx)}")
        sid, file_sql, type_sql = self.submission_id, sql_literal(label), sql_literal(contract.name)
        self.con.execute(
            f"INSERT INTO findings SELECT {sid}, {file_sql}, __row, p.field, p.rule, p.severity, p.message "
            "FROM (SELECT __row, unnest(__problems) AS p FROM staged)"
        )
        key_sql = self._record_key_sql(contract, "s")
        self.con.execute(
            f"INSERT INTO quarantine SELECT {sid}, {type_sql}, {file_sql}, s.__row, {self._masked_raw_json(raw, layout, 'r')}, "
            f"list_sort(list_transform(list_filter(s.__problems, p -> p.blocking), p -> coalesce(p.field || ': ', '') || p.message)) "
            f"|| list_transform(list_filter(s.__problems, p -> NOT p.blocking), p -> coalesce(p.field || ': ', '') || p.message), {key_sql} "
            f"FROM staged s JOIN {quote_ident(raw.table)} r USING (__row) WHERE s.__has_error"
        )
        fields = ", ".join(quote_ident(n) for n in contract.field_names)
        accepted = (
            f"SELECT {sql_literal(self.ngo)} AS ngo_id, {sid} AS submission_id, {file_sql} AS source_file, "
            f"__row AS source_row, {self._record_key_sql(contract, 'staged', with_ngo=True)} AS record_key, {fields} "
            "FROM staged WHERE NOT __has_error"
        )
        self.con.execute(
            f"INSERT INTO {quote_ident(contract.name)} BY NAME SELECT *, {row_hash_sql(contract, 'a')} AS row_hash FROM ({accepted}) a"
        )
        counts = self.con.execute("SELECT count(*) FILTER (NOT __has_error), count(*) FILTER (__has_error) FROM staged").fetchone()
        result.rows_accepted = counts[0]
        result.rows_quarantined = counts[1] + len(raw.rejects)

    def _package_files_table(self) -> str:
        name = "package_files"
        if name not in self.temp_tables:
            frame = pl.DataFrame({"path": [f.path for f in self.package.files], "sha256": [f.sha256 for f in self.package.files]},
                                 schema={"path": pl.Utf8, "sha256": pl.Utf8})
            table_from_frame(self.con, name, frame)
            self.temp_tables.append(name)
        return name

    def _record_key_sql(self, contract: Contract, alias: str, *, with_ngo: bool = False) -> str:
        parts = [f"CAST({alias}.{quote_ident(k)} AS VARCHAR)" for k in contract.primary_key]
        key = parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts)})"
        return f"{sql_literal(self.ngo + ':')} || {key}" if with_ngo else key

    # -- lookups and keys -----------------------------------------------------------------
    def _distinct(self, raw: RawTable, column: str) -> list[str]:
        col = quote_ident(column)
        rows = self.con.execute(
            f"SELECT DISTINCT v FROM (SELECT nullif(trim({col}, {_BLANKS}), '') AS v FROM {quote_ident(raw.table)}) WHERE v IS NOT NULL"
        ).fetchall()
        return [r[0] for r in rows]

    def _build_lookups(self, raw: RawTable, layout: Layout) -> dict[str, str]:
        lookups: dict[str, str] = {}
        for fld in layout.fields:
            frame: pl.DataFrame | None = None
            if fld.vocabulary or fld.type == "boolean":
                vocab = self.contracts.vocabulary(fld.vocabulary or "boolean")
                frame = vocabulary_lookup(self._distinct(raw, layout.columns[fld.name]), vocab,
                                          delimiter=fld.delimiter if fld.is_list else None)
            elif fld.type == "date":
                frame = date_lookup(self._distinct(raw, layout.columns[fld.name]), months=self.months, day_first=self.day_first)
            elif fld.geocode:
                frame = place_lookup(self._distinct(raw, layout.columns[fld.name]), self.gazetteer)
            if frame is not None:
                name = f"{raw.table}__lk_{fld.name}"
                table_from_frame(self.con, name, frame)
                self.temp_tables.append(name)
                lookups[fld.name] = name
        return lookups

    def _existing_keys(self, contract: Contract) -> str:
        name = f"keys_{contract.name}_accepted"
        key = self._record_key_sql(contract, "t")
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(name)} AS SELECT {key} AS key, source_file, source_row "
            f"FROM {quote_ident(contract.name)} t WHERE submission_id = {self.submission_id}"
        )
        self.temp_tables.append(name)
        return name

    def _key_tables(self, contract: Contract, layout: Layout, raw: RawTable) -> dict[int, str]:
        tables: dict[int, str] = {}
        for i, fk in enumerate(contract.foreign_keys):
            target = self.contracts.contract(fk.resource)
            name = f"{raw.table}__fk_{i}"
            ref = [f"CAST(t.{quote_ident(c)} AS VARCHAR)" for c in fk.reference_fields]
            key = ref[0] if len(ref) == 1 else f"concat_ws(chr(31), {', '.join(ref)})"
            excluded = f"AND submission_id <> {self.supersedes}" if self.supersedes else ""
            sources = [
                f"SELECT {key} AS key FROM main.{quote_ident(target.name)} t WHERE submission_id = {self.submission_id}",
                f"SELECT {key} AS key FROM active.{quote_ident(target.name)} t WHERE ngo_id = {sql_literal(self.ngo)} {excluded}",
            ]
            if fk.resource == contract.name and all(c in layout.columns for c in fk.reference_fields):
                own = [f"nullif(trim(t.{quote_ident(layout.columns[c])}, {_BLANKS}), '')" for c in fk.reference_fields]
                own_key = own[0] if len(own) == 1 else f"concat_ws(chr(31), {', '.join(own)})"
                sources.append(f"SELECT {own_key} AS key FROM {quote_ident(raw.table)} t")
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(name)} AS SELECT DISTINCT key FROM ({' UNION ALL '.join(sources)})")
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {quote_ident(name + '_quarantined')} AS SELECT record_key AS key, source_file, source_row "
                f"FROM quarantine WHERE submission_id = {self.submission_id} AND record_type = {sql_literal(target.name)} AND record_key IS NOT NULL"
            )
            self.temp_tables += [name, name + "_quarantined"]
            tables[i] = name
        return tables

    # -- quarantine and findings ----------------------------------------------------------
    def _masked_raw_json(self, raw: RawTable, layout: Layout | None, alias: str) -> str:
        if not raw.columns:
            return "'{}'"
        pii_columns = {layout.columns[f.name] for f in layout.fields if f.pii} if layout else set()
        seen: dict[str, int] = {}
        parts = []
        for header, column in zip(raw.headers, raw.columns):
            label = header.strip() if header and header.strip() else f"column {column[1:]}"
            seen[label] = seen.get(label, 0) + 1
            label = label if seen[label] == 1 else f"{label} ({seen[label]})"
            cell = f"left({alias}.{quote_ident(column)}, {QUARANTINE_CELL_LIMIT})"
            value = masking_sql(cell, self.patterns)
            if column in pii_columns:
                value = f"CASE WHEN regexp_matches({cell}, '[\\s\\x{{0600}}-\\x{{06FF}}]') THEN '[masked: looked like a name]' ELSE {value} END"
            parts.append(f"{quote_ident(label)} := {value}")
        return f"CAST(to_json(struct_pack({', '.join(parts)})) AS VARCHAR)"

    def _quarantine_all(self, label: str, record_type: str | None, raw: RawTable, reasons: list[str]) -> None:
        self.con.execute(
            f"INSERT INTO quarantine SELECT ?, ?, ?, r.__row, {self._masked_raw_json(raw, None, 'r')}, ?, NULL FROM {quote_ident(raw.table)} r",
            [self.submission_id, record_type, label, reasons],
        )
        self._record_rejects(label, record_type, raw, extra_reasons=reasons)

    def _quarantine_file(self, label: str, record_type: str | None, row: int | None, reasons: list[str]) -> None:
        self.con.execute("INSERT INTO quarantine VALUES (?, ?, ?, ?, NULL, ?, NULL)", [self.submission_id, record_type, label, row, reasons])

    def _record_rejects(self, label: str, record_type: str | None, raw: RawTable, extra_reasons: list[str] | None = None) -> None:
        for reject in raw.rejects:
            if extra_reasons is None:
                self._finding(label, reject.row, None, reject.rule, ERROR, reject.message)
            masked = None
            if reject.text is not None:
                masked = self.con.execute(
                    f"SELECT CAST(to_json(struct_pack(record := {masking_sql('?', self.patterns)})) AS VARCHAR)",
                    [reject.text[:QUARANTINE_CELL_LIMIT]],
                ).fetchone()[0]
            self.con.execute(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, NULL)",
                [self.submission_id, record_type, label, reject.row, masked, [reject.message, *(extra_reasons or [])]],
            )

    def _finding(self, path: str | None, row: int | None, field_name: str | None, rule: str, severity: str, message: str) -> None:
        self.con.execute(
            "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
            [self.submission_id, path, row, field_name, rule, severity, message],
        )


def _record_submission(store: Store, run: _Run, report: IngestReport, vault_dir: Path | None) -> None:
    con, package, manifest, sid = store.con, run.package, run.package.manifest, run.submission_id
    disclosure = manifest["disclosure"]
    con.execute(
        "INSERT INTO ngos VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET name = excluded.name, name_ar = excluded.name_ar",
        [run.ngo, manifest["ngo"]["name"], manifest["ngo"].get("name_ar"), sid],
    )
    con.execute(
        "INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
        [
            sid, run.ngo, manifest["submission_ref"], datetime.now(timezone.utc).replace(tzinfo=None), store.user,
            package.source.name, package.kind, package.sha256, package.source_sha256,
            str(vault_dir) if vault_dir else None, manifest["contract_version"],
            manifest["reporting_period"]["start"], manifest["reporting_period"]["end"],
            json.dumps(manifest, ensure_ascii=False, sort_keys=True, default=str), bool(disclosure["source_confidential"]),
            disclosure.get("consent_basis"), "contract", run.supersedes,
            report.rows_read, report.rows_accepted, report.rows_quarantined,
        ],
    )
    for f in package.files:
        tables = [r for r in report.files if r.file == f.path]
        types = ",".join(dict.fromkeys(r.record_type for r in tables if r.record_type)) or None
        counts = [sum(getattr(r, k) for r in tables) if tables else None for k in ("rows_read", "rows_accepted", "rows_quarantined")]
        con.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [sid, f.path, f.sha256, f.bytes, f.format, f.encoding, f.delimiter, types, *counts],
        )
    if run.supersedes:
        con.execute("UPDATE submissions SET superseded_by = ? WHERE submission_id = ?", [sid, run.supersedes])
    digests = {c.name: table_digest(store, c.name, sid) for c in store.contracts}
    details = {
        "package": package.source.name,
        "package_sha256": package.sha256,
        "source_sha256": package.source_sha256,
        "ngo_id": run.ngo,
        "submission_ref": manifest["submission_ref"],
        "files": [{"path": f.path, "sha256": f.sha256, "bytes": f.bytes} for f in package.files],
        "rows_read": report.rows_read,
        "rows_accepted": report.rows_accepted,
        "rows_quarantined": report.rows_quarantined,
        "digests": digests,
        "supersedes": run.supersedes,
    }
    store.log("ingest", subject=f"{run.ngo}/{manifest['submission_ref']}", details=details, submission_id=sid)
    if run.supersedes:
        store.log("supersede", subject=f"{run.ngo}/{manifest['submission_ref']}",
                  details={"superseded": run.supersedes, "by": sid}, submission_id=run.supersedes)
