"""From one data file of a package to a raw DuckDB table of text, with spreadsheet row numbers.

Every reader produces the same shape: a temporary table with ``__row`` (the row as a spreadsheet
shows it: the header is row 1, the first record row 2; for JSON, the position of the record, from 1)
and one VARCHAR column per header, named ``c0``, ``c1``, ... The headers themselves are returned
apart, as written. Records the reader cannot split into cells come back as :class:`RawReject`
so that they are quarantined with their reason, never dropped.
"""

from __future__ import annotations

import csv
import mmap
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from workbench.errors import PackageError
from workbench.intake import PackageFile, read_xlsx, transcode_to_utf8
from workbench.sql import quote_ident, sql_literal
from workbench.store import table_from_frame

#: DuckDB refuses longer lines by default (2 MB); contract limits are reported as findings instead.
#: A file is read with this limit only when it needs it: DuckDB then reads on one thread.
MAX_LINE_BYTES = 256 * 1024 * 1024
_BLANK_LINE = re.compile(rb"\n\r?\n")


@dataclass
class RawReject:
    row: int | None
    rule: str
    message: str
    text: str | None  # the record as written (masked before it is stored)


@dataclass
class RawTable:
    table: str
    headers: list[str]
    columns: list[str]
    rows: int  # records in the table
    rejects: list[RawReject] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.rows + len(self.rejects)


def read_raw(con: duckdb.DuckDBPyConnection, file: PackageFile, table: str, *, workdir: Path, sheet: str | None = None) -> RawTable:
    """Load one data file into ``table`` (see the module docstring)."""
    if file.format == "empty":
        return _from_frame(con, table, [], pl.DataFrame({"__row": []}, schema={"__row": pl.Int64}))
    if file.format == "csv":
        return _read_csv(con, file, table, workdir)
    if file.format == "xlsx":
        headers, rows = read_xlsx(file.disk_path, sheet=sheet)
        columns = [f"c{i}" for i in range(len(headers))]
        data = {c: [r[i] if i < len(r) else None for r in rows] for i, c in enumerate(columns)}
        frame = pl.DataFrame({"__row": list(range(2, len(rows) + 2)), **data}, schema={"__row": pl.Int64, **{c: pl.Utf8 for c in columns}})
        return _from_frame(con, table, headers, frame)
    if file.format in ("json", "jsonl"):
        return _read_json(con, file, table, workdir)
    raise PackageError(f"{file.path}: {file.format} files hold no records")


def _from_frame(con: duckdb.DuckDBPyConnection, table: str, headers: list[str], frame: pl.DataFrame) -> RawTable:
    table_from_frame(con, table, frame)
    return RawTable(table, headers, [c for c in frame.columns if c != "__row"], frame.height)


def _utf8_copy(file: PackageFile, workdir: Path) -> Path:
    """A UTF-8 version of a text file DuckDB can read (the original is left untouched)."""
    if file.encoding in ("utf-8", "utf-8-sig", "ascii") and not file.encoding_note:
        return file.disk_path
    target = workdir / "utf8" / file.path
    target.parent.mkdir(parents=True, exist_ok=True)
    transcode_to_utf8(file.disk_path, target, file.encoding or "utf-8")
    return target


def _first_record(path: Path, delimiter: str) -> list[str]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        for record in csv.reader(handle, delimiter=delimiter):
            if record:
                return record
    return []


def _blank_line_before_end(path: Path) -> bool:
    """Whether a blank line occurs before the end of the file (DuckDB skips those, shifting row numbers)."""
    size = path.stat().st_size
    if size == 0:
        return False
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        end = size
        while end > 0 and data[end - 1 : end] in (b"\n", b"\r", b" ", b"\t"):
            end -= 1
        if data[:1] in (b"\n", b"\r"):
            return True
        # one pass for both kinds of line end: faster than a find() for each
        return _BLANK_LINE.search(data, 0, end) is not None


def _record_rows(path: Path, delimiter: str) -> list[int]:
    """Spreadsheet row of every non-blank record after the header (slow path, used when a file has blank lines)."""
    rows: list[int] = []
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        for number, record in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
            if record and number > 1:
                rows.append(number)
    return rows


def _load_csv(con: duckdb.DuckDBPyConnection, path: Path, columns: list[str], delimiter: str, table: str, *,
              max_line_bytes: int | None) -> list[tuple]:
    """Load a CSV file as text into ``table``; the lines it rejects (line, error type, text, message)."""
    spec = "{" + ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in columns) + "}"
    rejects_table, scans_table = f"{table}__rejects", f"{table}__scans"
    line_size = f", max_line_size = {max_line_bytes}" if max_line_bytes else ""
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS SELECT * FROM read_csv({sql_literal(str(path))}, "
            f"header = true, columns = {spec}, auto_detect = false, delim = {sql_literal(delimiter)}, quote = '\"', "
            f"escape = '\"'{line_size}, store_rejects = true, "
            f"rejects_table = {sql_literal(rejects_table)}, rejects_scan = {sql_literal(scans_table)})"
        )
        return con.execute(
            f"SELECT line, error_type, any_value(csv_line), string_agg(DISTINCT error_message, '; ') "
            f"FROM {quote_ident(rejects_table)} GROUP BY line, error_type ORDER BY line"
        ).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(rejects_table)}; DROP TABLE IF EXISTS {quote_ident(scans_table)}")


def _read_csv(con: duckdb.DuckDBPyConnection, file: PackageFile, table: str, workdir: Path) -> RawTable:
    path = _utf8_copy(file, workdir)
    delimiter = file.delimiter or ","
    headers = _first_record(path, delimiter)
    if not headers:
        return _from_frame(con, table, [], pl.DataFrame({"__row": []}, schema={"__row": pl.Int64}))
    columns = [f"c{i}" for i in range(len(headers))]
    loaded = f"{table}__csv"
    # DuckDB reads on all cores within its default line limit: a file it cannot read so, or with a
    # line over that limit, is read again with room for lines of MAX_LINE_BYTES
    try:
        rejected = _load_csv(con, path, columns, delimiter, loaded, max_line_bytes=None)
    except duckdb.Error:
        rejected = None
    try:
        if rejected is None or any(kind == "LINE SIZE OVER MAXIMUM" for _, kind, _, _ in rejected):
            rejected = _load_csv(con, path, columns, delimiter, loaded, max_line_bytes=MAX_LINE_BYTES)
    except duckdb.Error as exc:
        raise PackageError(f"{file.path}: cannot be read as CSV: {str(exc).splitlines()[0]}") from None
    rejects = [
        RawReject(int(line), f"csv.{kind.lower().replace(' ', '_')}", f"row {line} cannot be split into the file's {len(columns)} columns: {message}", text)
        for line, kind, text, message in rejected
    ]
    count, base = con.execute(f"SELECT count(*), coalesce(min(rowid), 0) FROM {quote_ident(loaded)}").fetchone()
    # rowids follow insertion order; inside a transaction they start at a large offset, hence "base"
    rowid = f"(r.rowid - {int(base)})"
    cols = ", ".join(quote_ident(c) for c in columns)
    rejected_rows = sorted({r.row for r in rejects if r.row is not None})
    if _blank_line_before_end(path):
        positions = [r for r in _record_rows(path, delimiter) if r not in set(rejected_rows)]
        numbering = pl.DataFrame({"__rowid": list(range(len(positions))), "__row": positions}, schema={"__rowid": pl.Int64, "__row": pl.Int64})
        table_from_frame(con, table + "__numbers", numbering)
        row_sql = f"(SELECT n.__row FROM {quote_ident(table + '__numbers')} n WHERE n.__rowid = {rowid})"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(table)} AS SELECT {row_sql} AS __row, {cols} FROM {quote_ident(loaded)} r")
    elif rejected_rows:
        # accepted row k is the k-th record that was not rejected: count the rejects that come before it
        thresholds = [(row - 2 - i, i + 1) for i, row in enumerate(rejected_rows)]
        steps = pl.DataFrame(thresholds, schema={"t": pl.Int64, "n": pl.Int64}, orient="row").group_by("t").agg(pl.col("n").max())
        table_from_frame(con, table + "__steps", steps)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {quote_ident(table)} AS SELECT {rowid} + 2 + coalesce(s.n, 0) AS __row, {cols} "
            f"FROM {quote_ident(loaded)} r ASOF LEFT JOIN {quote_ident(table + '__steps')} s ON {rowid} >= s.t"
        )
    else:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(table)} AS SELECT {rowid} + 2 AS __row, {cols} FROM {quote_ident(loaded)} r")
    return RawTable(table, headers, columns, count, rejects)


def _read_json(con: duckdb.DuckDBPyConnection, file: PackageFile, table: str, workdir: Path) -> RawTable:
    path = _utf8_copy(file, workdir)
    objects = f"{table}__objects"
    if file.format == "json":
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {quote_ident(objects)} AS SELECT json AS doc FROM "
                f"read_json_objects({sql_literal(str(path))}, format = 'array', maximum_object_size = {MAX_LINE_BYTES})"
            )
        except duckdb.Error as exc:
            raise PackageError(f"{file.path}: is not a JSON array of records: {str(exc).splitlines()[0]}") from None
        numbered = "SELECT rowid - {base} + 1 AS __row, doc FROM {objects}"
    else:
        # one record per line: read lines as text so that one broken line is one quarantined row
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(objects)} AS SELECT line FROM read_csv({sql_literal(str(path))}, "
            f"header = false, columns = {{'line': 'VARCHAR'}}, auto_detect = false, delim = chr(0), quote = '', "
            f"escape = '', max_line_size = {MAX_LINE_BYTES})"
        )
        numbered = "SELECT rowid - {base} + 1 AS __row, try(json(line)) AS doc FROM {objects}"
    base = con.execute(f"SELECT coalesce(min(rowid), 0) FROM {quote_ident(objects)}").fetchone()[0]
    numbered = numbered.format(base=int(base), objects=quote_ident(objects))
    con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(objects + '_n')} AS {numbered}")
    view = quote_ident(objects + "_n")
    rejects = [
        RawReject(int(row), "json.not_a_record", f"record {row} is not a JSON object with named fields", None)
        for (row,) in con.execute(
            f"SELECT __row FROM {view} WHERE doc IS NULL OR json_type(doc) <> 'OBJECT' ORDER BY __row"
        ).fetchall()
    ]
    keys = [
        k
        for (k,) in con.execute(
            f"SELECT k FROM (SELECT unnest(json_keys(doc)) AS k, __row FROM {view} WHERE json_type(doc) = 'OBJECT') "
            "GROUP BY k ORDER BY min(__row), k"
        ).fetchall()
    ]
    columns = [f"c{i}" for i in range(len(keys))]
    cells = ", ".join(
        f"CASE WHEN json_type(doc -> {sql_literal(_json_path(k))}) = 'ARRAY' "
        f"THEN array_to_string(CAST(doc -> {sql_literal(_json_path(k))} AS VARCHAR[]), ';') "
        f"ELSE doc ->> {sql_literal(_json_path(k))} END AS {quote_ident(c)}"
        for k, c in zip(keys, columns)
    )
    select = f"SELECT __row{', ' + cells if cells else ''} FROM {view} WHERE json_type(doc) = 'OBJECT'"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS {select}")
    count = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
    return RawTable(table, keys, columns, count, rejects)


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
