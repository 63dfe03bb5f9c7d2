"""One ingest in progress: tables read and checked before the transaction, then stored in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from workbench.contracts import Contract
from workbench.errors import MappingError, PackageError
from workbench.gazetteer import Gazetteer
from workbench.ingest.names import mask_quarantined, screen_stored
from workbench.ingest.report import FileResult, IngestReport
from workbench.intake import Package, PackageFile, xlsx_sheet_names
from workbench.mapping import Mapping, apply_mapping, swapped_coordinates_sql
from workbench.normalise.lookups import date_lookup, months_from, place_lookup, vocabulary_lookup
from workbench.normalise.pii import PiiPattern, load_patterns, masking_sql
from workbench.readers import RawTable, read_raw
from workbench.sql import quote_ident, sql_literal
from workbench.store import Store, row_hash_sql, table_from_frame
from workbench.validate import (ERROR, Context, KeyContext, Layout, compile_key_problems, compile_validation, compile_values,
                                header_matches, header_score, map_headers, split_words, trim_blanks, trimmed_cell_sql, with_key_problems)

#: Cells longer than this are cut in the quarantined copy (the received file keeps them whole).
QUARANTINE_CELL_LIMIT = 100_000


@dataclass
class Table:
    """One table of the package (a file, or one sheet of a workbook) on its way to the store."""

    file: PackageFile
    entry: dict | None  # its manifest entry, when the manifest lists it
    sheet: str | None
    assigned_type: str | None  # from the manifest or the file name; None: recognise it from the headers
    raw: RawTable | PackageError | None = None
    record_type: str | None = None  # assigned or recognised
    layout: Layout | None = None
    context: Context | None = None  # what its queries read, when there are rows to check
    checked: str | None = None  # temporary table: each row's problems (keys apart) and keys
    origin: RawTable | None = None  # for a table a mapping made: the file as the NGO wrote it
    pii_columns: frozenset[str] = frozenset()  # columns of the quarantined copy that hold pseudonyms

    @property
    def mapped(self) -> bool:
        return self.origin is not None

    @property
    def label(self) -> str:
        """The table as findings and provenance name it: the file, or "file#sheet"."""
        return self.file.path if self.sheet is None else f"{self.file.path}#{self.sheet}"


class Run:
    """One ingest in progress: what is read and checked before the transaction, then stored in it."""

    def __init__(self, store: Store, package: Package, workdir: Path, today: date, supersedes: int | None,
                 mapping: Mapping | None = None):
        self.store, self.con, self.package, self.workdir, self.today = store, store.con, package, workdir, today
        self.contracts = store.contracts
        self.mapping = mapping
        self.supersedes = supersedes
        self.ngo = package.manifest["ngo"]["id"]
        self.submission_id = (self.con.execute("SELECT coalesce(max(submission_id), 0) + 1 FROM submissions").fetchone()[0])
        self.patterns: tuple[PiiPattern, ...] = load_patterns(self.contracts.path / "pii_patterns.yaml")
        self.months = months_from(self.contracts.vocabulary("months"))
        self.day_first = package.manifest.get("date_order", "day_first") == "day_first"
        self._gazetteer: Gazetteer | None = None
        self.results: list[FileResult] = []
        self.temp_tables: list[str] = []
        self.mapped_views: dict[str, dict[str, str]] = {}  # file -> record type -> view a mapping made
        self.tables = self._tables()
        if mapping is not None and not any(self._maps(t.file) for t in self.tables):
            raise MappingError([f"the mapping {mapping.name} reads files named {', '.join(mapping.files)}, and the package "
                                f"has none (its data files: {', '.join(f.path for f in package.data_files) or 'none'})"])

    @property
    def mode(self) -> str:
        """How the package was read: in the contract's own shape, or through a mapping."""
        if self.mapping is not None and any(t.mapped for t in self.tables):
            return f"mapping:{self.mapping.name}@{self.mapping.version}"
        return "contract"

    def _maps(self, f: PackageFile) -> bool:
        return self.mapping is not None and self.mapping.matches(f.path)

    @property
    def gazetteer(self) -> Gazetteer:
        if self._gazetteer is None:
            self._gazetteer = self.store.gazetteer()
        return self._gazetteer

    # -- orchestration --------------------------------------------------------------------
    def prepare(self) -> None:
        """Read every table and check its rows, keys apart, before the transaction: nothing here
        depends on or writes to the stored records, and DuckDB scans a table made inside a
        transaction on one thread only, so the writes that follow run twice as fast on these."""
        origins: dict[str, RawTable | PackageError] = {}
        for number, table in enumerate(self.tables, start=1):
            if self._maps(table.file):
                self._prepare_mapped(table, f"raw_{number}", origins)
            else:
                self._prepare_table(table, f"raw_{number}")

    def execute(self) -> IngestReport:
        """Check the keys and store every table :meth:`prepare` checked; call inside the store's transaction."""
        manifest = self.package.manifest
        self._record_manifest_findings()
        order = {name: i for i, name in enumerate(self.contracts.contracts)}
        for table in sorted(self.tables, key=lambda t: (order.get(t.assigned_type, len(order)), t.file.path)):
            self._ingest_table(table)
        self._finish_mapped_files()
        for contract in self.contracts:
            screen_stored(self.store, contract, self.submission_id)
        mask_quarantined(self.store, self.submission_id)
        findings = dict(
            self.con.execute(
                "SELECT severity, count(*) FROM findings WHERE submission_id = ? GROUP BY severity ORDER BY severity",
                [self.submission_id],
            ).fetchall()
        )
        return IngestReport(
            "ingested", self.ngo, manifest["submission_ref"], self.package.sha256, submission_id=self.submission_id,
            supersedes=self.supersedes, files=self.results, findings=findings,
            message=f"ingested as submission {self.submission_id}" + (f", superseding submission {self.supersedes}" if self.supersedes else ""),
        )

    def drop_temporaries(self) -> None:
        views = {r[0] for r in self.con.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()}
        tables = {r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
        for name in dict.fromkeys(self.temp_tables):
            if name in views:
                self.con.execute(f"DROP VIEW {quote_ident(name)}")
        for name in dict.fromkeys(self.temp_tables):
            if name in tables:
                self.con.execute(f"DROP TABLE {quote_ident(name)}")

    def _finish_mapped_files(self) -> None:
        """For each file a mapping read: what the mapping did not use or put right, and one count per source row.

        A row of such a file yields several records; it counts as accepted when every one was."""
        for path in dict.fromkeys(t.file.path for t in self.tables if t.mapped):
            tables = [t for t in self.tables if t.file.path == path and t.mapped]
            origin, label = tables[0].origin, tables[0].label
            used = {column: name for record in self.mapping.records if record.type in {t.record_type for t in tables}
                    for name, spec in record.fields.items() for column in spec.sources}
            self._record_columns(label, [(h, used.get(h.strip()), "mapping" if h.strip() in used else "unused")
                                         for h in origin.headers])
            for header in origin.headers:
                if header.strip() not in self.mapping.columns:
                    self._finding(label, 1, None, "mapping.unused_column", "info",
                                  f"column {header!r} is not used by the mapping {self.mapping.name}")
            self._report_swapped(tables[0])
            results = [r for r in self.results if r.file == path and r.path == label]
            quarantined = self.con.execute(
                "SELECT count(DISTINCT source_row) FROM quarantine WHERE submission_id = ? AND source_file = ?",
                [self.submission_id, label],
            ).fetchone()[0]
            merged = FileResult(label, ",".join(t.record_type for t in tables), results[0].format, results[0].encoding,
                                rows_read=origin.rows_read, rows_accepted=origin.rows_read - quarantined,
                                rows_quarantined=quarantined, file=path, sheet=tables[0].sheet)
            self.results = [r for r in self.results if r not in results] + [merged]

    def _report_swapped(self, t: Table) -> None:
        coordinates = self.mapping.coordinates
        sql = swapped_coordinates_sql(self.mapping, self.contracts, headers=t.origin.headers, raw_columns=t.origin.columns,
                                      raw_table=t.origin.table, file=t.file.path)
        if sql is None:
            return
        fixed = coordinates.get("swapped", "report") == "fix"
        message = ("latitude and longitude were the wrong way round; put right, as the mapping says" if fixed else
                   "latitude and longitude look the wrong way round; the mapping can put them right (coordinates: swapped: fix)")
        self.con.execute(
            f"INSERT INTO findings SELECT ?, ?, __row, ?, 'geo.swapped', 'warning', ? FROM ({sql})",
            [self.submission_id, t.label, coordinates["latitude"], message],
        )

    def _listed(self) -> dict[str, list[dict]]:
        listed: dict[str, list[dict]] = {}
        for entry in self.package.manifest.get("files", []):
            listed.setdefault(entry["path"], []).append(entry)
        return listed

    def _tables(self) -> list[Table]:
        """Every table of the package, with the record type the manifest or its name gives it."""
        listed = self._listed()
        out: list[Table] = []
        for f in self.package.data_files:
            if self._maps(f):
                out += [Table(f, None, self.mapping.sheet, record.type) for record in self.mapping.records]
                continue
            for entry in listed.get(f.path, []):
                record_type = entry["record_type"] if entry["record_type"] in self.contracts.contracts else None
                out.append(Table(f, entry, entry.get("sheet"), record_type))
            if f.path in listed:
                continue
            sheets = self._sheets(f)
            if len(sheets) > 1:
                out += [Table(f, None, sheet, self._guess_record_type(sheet) or self._guess_record_type(f.path)) for sheet in sheets]
            else:
                out.append(Table(f, None, None, self._guess_record_type(f.path)))
        return out

    def _record_manifest_findings(self) -> None:
        for listed_path in self._listed():
            if not any(f.path == listed_path for f in self.package.files):
                self._finding(listed_path, None, None, "file.missing", ERROR,
                              "the manifest lists this file but the package does not hold it")
        for t in self.tables:
            if t.entry is not None and t.assigned_type is None:
                self._finding(t.file.path, None, None, "file.record_type", ERROR,
                              f"the manifest says this file holds {t.entry['record_type']!r}, which is not a record type of contract {self.contracts.version}")

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

    def _recognise(self, headers: list[str]) -> str | None:
        scored = sorted(((header_score(headers, c), c.name) for c in self.contracts), reverse=True)
        if scored and scored[0][0] >= 0.5 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
            return scored[0][1]
        return None

    # -- one table ------------------------------------------------------------------------
    def _read(self, t: Table, name: str) -> RawTable | PackageError:
        self.temp_tables += [name, f"{name}__csv", f"{name}__objects", f"{name}__objects_n", f"{name}__steps", f"{name}__numbers"]
        try:
            return read_raw(self.con, t.file, name, workdir=self.workdir, sheet=t.sheet)
        except PackageError as exc:
            return exc

    def _prepare_table(self, t: Table, name: str) -> None:
        """Read a table, recognise what it holds, check its rows (keys apart) into ``name__checked``."""
        raw = t.raw = self._read(t, name)
        if isinstance(raw, PackageError):
            t.record_type = t.assigned_type
            return
        t.record_type = t.assigned_type or self._recognise(raw.headers)
        self._check_rows(t, name, day_first=self.day_first)

    def _prepare_mapped(self, t: Table, name: str, origins: dict[str, RawTable | PackageError]) -> None:
        """A table a mapping makes from a file: the file is read once, each record type is a view of it."""
        t.record_type = t.assigned_type
        if t.file.path not in origins:
            origin = origins[t.file.path] = self._read(t, name)
            if isinstance(origin, RawTable):
                views, made = apply_mapping(self.con, self.mapping, self.contracts, headers=origin.headers,
                                            raw_columns=origin.columns, raw_table=origin.table, file=t.file.path)
                self.temp_tables += made
                self.mapped_views[t.file.path] = views
        origin = origins[t.file.path]
        if isinstance(origin, PackageError):
            t.raw = origin
            return
        first = next(x for x in self.tables if x.file.path == t.file.path)
        record = next(r for r in self.mapping.records if r.type == t.record_type)
        view = self.mapped_views[t.file.path][t.record_type]
        fields = list(record.fields)
        # the rejects of the file (rows it could not split into cells) are reported once, with its first record type
        t.raw = RawTable(view, fields, fields, origin.rows, origin.rejects if t is first else [])
        t.origin = origin
        contract = self.contracts.contract(t.record_type)
        by_header = dict(zip((h.strip() for h in origin.headers), origin.columns))
        t.pii_columns = frozenset(by_header[spec.column] for n, spec in record.fields.items()
                                  if contract.field(n).pii and spec.column and spec.column in by_header)
        self._check_rows(t, f"{name}_{t.record_type}", day_first=self.mapping.date_order == "day_first")

    def _check_rows(self, t: Table, name: str, *, day_first: bool) -> None:
        raw = t.raw
        if t.file.format == "empty" or raw.rows_read == 0 or t.record_type is None:
            return
        t.layout = map_headers(raw.headers, self.contracts.contract(t.record_type), raw.columns)
        if t.layout.missing_required:
            return
        t.context = Context(raw.table, tuple(raw.columns), self._build_lookups(raw, t.layout, day_first=day_first),
                            self.patterns, self.today, self._package_files_table())
        t.checked = f"{name}__checked"
        self.temp_tables.append(t.checked)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(t.checked)} AS {compile_validation(t.layout, t.context)}")

    def _ingest_table(self, t: Table) -> None:
        """Record what was found about one table and store its rows."""
        f, raw, record_type, label = t.file, t.raw, t.record_type, t.label
        result = FileResult(label, record_type, f.format, f.encoding, file=f.path, sheet=t.sheet)
        self.results.append(result)
        if f.encoding_note and t.sheet is None:
            self._finding(label, None, None, "file.encoding", "warning", f.encoding_note)
        if isinstance(raw, PackageError):
            self._finding(label, None, None, "file.unreadable", ERROR, str(raw))
            self._quarantine_file(label, record_type, None, [str(raw)])
            return
        result.rows_read = raw.rows_read
        if f.format == "empty" or (raw.rows_read == 0):
            self._finding(label, None, None, "file.empty", "warning",
                          "the file holds no records" if t.sheet is None else f"sheet {t.sheet!r} holds no records")
            return
        if record_type is None:
            reason = "cannot tell which record type this file holds; list it under files in the manifest"
            self._finding(label, None, None, "file.record_type", ERROR, reason)
            self._quarantine_all(label, None, raw, [reason])
            result.rows_quarantined = raw.rows_read
            return
        layout = t.layout
        self._record_columns(label, header_matches(layout))
        for header in layout.unknown:
            column = header if header and header.strip() else "(a column without a header)"
            self._finding(label, 1, None, "header.unknown", "warning",
                          f"column {column!r} is not in the {record_type} contract; its values were not loaded")
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
        self._store_rows(t, self.contracts.contract(record_type), result)

    def _store_rows(self, t: Table, contract: Contract, result: FileResult) -> None:
        """Check the keys against what is stored so far, then store findings, quarantined and accepted rows."""
        raw = t.raw
        rows = self._with_key_problems(t, contract)
        accepted_rows, quarantined_rows, rows_with_problems = self.con.execute(
            f"SELECT count(*) FILTER (NOT __has_error), count(*) FILTER (__has_error), count(*) FILTER (len(__problems) > 0) FROM {quote_ident(rows)}"
        ).fetchone()
        sid, file_sql, type_sql = self.submission_id, sql_literal(t.label), sql_literal(contract.name)
        # most files have few problems: skip the statements that would scan every row to find none
        if rows_with_problems:
            self.con.execute(
                f"INSERT INTO findings SELECT {sid}, {file_sql}, __row, p.field, p.rule, p.severity, p.message "
                f"FROM (SELECT __row, unnest(__problems) AS p FROM {quote_ident(rows)} WHERE len(__problems) > 0)"
            )
        if quarantined_rows:
            key_sql = self._record_key_sql(contract, "s")
            self.con.execute(
                f"INSERT INTO quarantine SELECT {sid}, {type_sql}, {file_sql}, s.__row, {self._masked_raw_json(t.origin or raw, self._pii_columns(t), 'r')}, "
                f"list_sort(list_transform(list_filter(s.__problems, p -> p.blocking), p -> coalesce(p.field || ': ', '') || p.message)) "
                f"|| list_transform(list_filter(s.__problems, p -> NOT p.blocking), p -> coalesce(p.field || ': ', '') || p.message), {key_sql} "
                f"FROM {quote_ident(rows)} s JOIN {quote_ident((t.origin or raw).table)} r USING (__row) WHERE s.__has_error"
            )
        if accepted_rows:
            self._insert_accepted(t, contract, rows)
        result.rows_accepted = accepted_rows
        result.rows_quarantined = quarantined_rows + len(raw.rejects)

    def _with_key_problems(self, t: Table, contract: Contract) -> str:
        """A view of the checked rows with the problems of their keys; its name."""
        raw, layout = t.raw, t.layout
        key_ctx = KeyContext(t.checked, self._key_tables(contract, layout, raw), self._existing_keys(contract), self.patterns)
        key_sql, key_problems = compile_key_problems(layout, key_ctx), None
        if key_sql is not None:
            key_problems = f"{raw.table}__key_problems"
            self.temp_tables.append(key_problems)
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(key_problems)} AS {key_sql}")
        rows = f"{raw.table}__rows"
        self.temp_tables.append(rows)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(rows)} AS {with_key_problems(t.checked, key_problems)}")
        return rows

    def _insert_accepted(self, t: Table, contract: Contract, rows: str) -> None:
        """Write the rows without error to the record table, with their values, provenance and hash.

        One INSERT: in slices, the rows of each slice's last, partly filled row group would go
        through the write-ahead log and be written again at the next checkpoint."""
        fields = ", ".join(f"v.{quote_ident(n)}" for n in contract.field_names)
        accepted = (
            f"SELECT {sql_literal(self.ngo)} AS ngo_id, {self.submission_id} AS submission_id, {sql_literal(t.label)} AS source_file, "
            f"v.__row AS source_row, {fields} "
            f"FROM ({compile_values(t.layout, t.context, t.checked)}) v "
            f"ANTI JOIN (SELECT __row FROM {quote_ident(rows)} WHERE __has_error) quarantined ON quarantined.__row = v.__row"
        )
        self.con.execute(
            f"INSERT INTO {quote_ident(contract.name)} BY NAME SELECT *, {row_hash_sql(contract, 'a')} AS row_hash FROM ({accepted}) a"
        )

    def _package_files_table(self) -> str:
        name = "package_files"
        if name not in self.temp_tables:
            frame = pl.DataFrame({"path": [f.path for f in self.package.files], "sha256": [f.sha256 for f in self.package.files]},
                                 schema={"path": pl.Utf8, "sha256": pl.Utf8})
            table_from_frame(self.con, name, frame)
            self.temp_tables.append(name)
        return name

    def _record_key_sql(self, contract: Contract, alias: str) -> str:
        """A record's key as one text (fields of a composite key joined by the unit separator)."""
        parts = [f"CAST({alias}.{quote_ident(k)} AS VARCHAR)" for k in contract.primary_key]
        return parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts)})"

    # -- lookups and keys -----------------------------------------------------------------
    def _distinct(self, raw: RawTable, column: str) -> list[str]:
        """Distinct trimmed cells of a column, trimmed in Python: a column holds far fewer values than rows."""
        rows = self.con.execute(
            f"SELECT DISTINCT {quote_ident(column)} FROM {quote_ident(raw.table)} WHERE {quote_ident(column)} IS NOT NULL"
        ).fetchall()
        return [v for v in dict.fromkeys(trim_blanks(r[0]) for r in rows) if v]

    def _build_lookups(self, raw: RawTable, layout: Layout, *, day_first: bool) -> dict[str, str]:
        lookups: dict[str, str] = {}
        for fld in layout.fields:
            frame: pl.DataFrame | None = None
            if fld.vocabulary or fld.type == "boolean":
                vocab = self.contracts.vocabulary(fld.vocabulary or "boolean")
                frame = vocabulary_lookup(self._distinct(raw, layout.columns[fld.name]), vocab,
                                          delimiter=fld.delimiter if fld.is_list else None)
            elif fld.type == "date":
                frame = date_lookup(self._distinct(raw, layout.columns[fld.name]), months=self.months, day_first=day_first)
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
                own = [trimmed_cell_sql(f"t.{quote_ident(layout.columns[c])}") for c in fk.reference_fields]
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
    def _pii_columns(self, t: Table) -> frozenset[str]:
        if t.mapped:
            return t.pii_columns
        return frozenset(t.layout.columns[f.name] for f in t.layout.fields if f.pii) if t.layout else frozenset()

    def _masked_raw_json(self, raw: RawTable, pii_columns: frozenset[str], alias: str) -> str:
        """The row as the NGO wrote it, with personal data masked, as JSON for the quarantine."""
        if not raw.columns:
            return "'{}'"
        seen: dict[str, int] = {}
        parts = []
        for header, column in zip(raw.headers, raw.columns):
            label = header.strip() if header and header.strip() else f"column {column[1:]}"
            # DuckDB tells struct fields apart ignoring the case of ASCII letters ("Killed", "killed")
            same = "".join(c.lower() if c.isascii() else c for c in label)
            seen[same] = seen.get(same, 0) + 1
            label = label if seen[same] == 1 else f"{label} ({seen[same]})"
            cell = f"left({alias}.{quote_ident(column)}, {QUARANTINE_CELL_LIMIT})"
            value = masking_sql(cell, self.patterns)
            if column in pii_columns:
                value = f"CASE WHEN regexp_matches({cell}, '[\\s\\x{{0600}}-\\x{{06FF}}]') THEN '[masked: looked like a name]' ELSE {value} END"
            parts.append(f"{quote_ident(label)} := {value}")
        return f"CAST(to_json(struct_pack({', '.join(parts)})) AS VARCHAR)"

    def _quarantine_all(self, label: str, record_type: str | None, raw: RawTable, reasons: list[str]) -> None:
        self.con.execute(
            f"INSERT INTO quarantine SELECT ?, ?, ?, r.__row, {self._masked_raw_json(raw, frozenset(), 'r')}, ?, NULL FROM {quote_ident(raw.table)} r",
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

    def _record_columns(self, label: str, matches: list[tuple[str, str | None, str]]) -> None:
        """The file's headers as sent and the field each became (what feedback on format builds on)."""
        if matches:
            self.con.executemany(
                "INSERT INTO columns_received VALUES (?, ?, ?, ?, ?, ?)",
                [[self.submission_id, label, position, header, field_name, how]
                 for position, (header, field_name, how) in enumerate(matches, start=1)],
            )

    def _finding(self, path: str | None, row: int | None, field_name: str | None, rule: str, severity: str, message: str) -> None:
        self.con.execute(
            "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
            [self.submission_id, path, row, field_name, rule, severity, message],
        )
