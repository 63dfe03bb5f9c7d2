"""Cells a spreadsheet would run as a formula are written as text: in CSV (SQL) and in XLSX.

A value that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their
full-width forms, which some spreadsheets also accept) is prefixed with an apostrophe, the
convention spreadsheets use for "this is text". Only text columns are touched: numbers and dates
keep their values, and the Parquet files keep every value exactly as stored.

>>> neutralise("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> neutralise("-12 killed"), neutralise("Aleppo")
("'-12 killed", 'Aleppo')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from workbench.errors import ReportError
from workbench.sql import quote_ident

FORMULA_STARTS = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"
#: The most rows one XLSX sheet holds.
XLSX_MAX_ROWS = 1_048_575


def neutralise(value: Any) -> Any:
    """The value as a spreadsheet should show it: text that would start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] and value[0] in FORMULA_STARTS:
        return "'" + value
    return value


def csv_column_sql(column: str, duckdb_type: str) -> str:
    """A SELECT expression for one column as it goes into a CSV: lists joined by "; ", text neutralised."""
    ident = quote_ident(column)
    if duckdb_type.endswith("[]"):
        text = f"array_to_string({ident}, '; ')"
    elif duckdb_type == "VARCHAR":
        text = ident
    else:
        return ident
    return f"CASE WHEN left({text}, 1) IN ({_SQL_STARTS}) THEN '''' || {text} ELSE {text} END AS {ident}"


# each character as a SQL literal; tab and carriage return through chr(), which reads better than raw bytes
_SQL_STARTS = ", ".join(f"chr({ord(c)})" if c in "\t\r" else f"'{c}'" for c in FORMULA_STARTS)


def write_xlsx(con: duckdb.DuckDBPyConnection, sheets: dict[str, str], path: Path) -> None:
    """One sheet per query (name -> query), every text cell neutralised, streamed row by row (write-only mode)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for name, query in sheets.items():
        cursor = con.execute(query)
        columns = [d[0] for d in cursor.description]
        sheet = book.create_sheet(title=name[:31])
        sheet.append(columns)
        written = 0
        while batch := cursor.fetchmany(10_000):
            written += len(batch)
            if written > XLSX_MAX_ROWS:
                raise ReportError(f"{path}: sheet {name!r} would hold more than {XLSX_MAX_ROWS:,} rows, the most an XLSX sheet can; "
                                  "use the CSV or Parquet files")
            for row in batch:
                sheet.append([neutralise(_cell(v)) for v in row])
    book.save(path)


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        value = "; ".join("" if v is None else str(v) for v in value)
    if isinstance(value, str):
        # XLSX is XML: control characters (a vertical tab pasted from a word processor) cannot be written there;
        # they become U+FFFD in the workbook only, and the CSV and Parquet files keep them as stored
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    return value
