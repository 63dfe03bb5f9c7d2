"""Files as bytes: CSV in any encoding and delimiter, XLSX, JSON, JSON Lines, YAML, and zips.

Everything is built in memory and byte-for-byte reproducible: workbooks and zips carry a fixed
timestamp, so the same seed gives files with the same SHA-256.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from workbench.contracts import Contract
from workbench.synth.reports import Row, cell_text

FIXED_TIME = (2025, 1, 15, 9, 0, 0)
_CORE_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
_CORE_CREATED = re.compile(rb"(<dcterms:created[^>]*>)[^<]*(</dcterms:created>)")
_ARABIC = re.compile("[\u0600-\u06ff]")


def headers_for(contract: Contract, style: str, alias_offset: int = 0) -> dict[str, str]:
    """The header an NGO writes for each field: its name, its title, an Arabic or English alias."""
    headers: dict[str, str] = {}
    for f in contract.fields:
        arabic = [a for a in f.aliases if _ARABIC.search(a)]
        english = [a for a in f.aliases if not _ARABIC.search(a)]
        if style == "title":
            headers[f.name] = f.title
        elif style == "arabic" and arabic:
            headers[f.name] = arabic[0]
        elif style == "alias" and english:
            alias = english[alias_offset % len(english)]
            headers[f.name] = " ".join(w[:1].upper() + w[1:] for w in alias.split(" "))
        else:
            headers[f.name] = f.name
    return headers


def columns_of(contract: Contract, rows: Iterable[Row]) -> list[str]:
    """The contract fields that appear in any row, in contract order, then any others."""
    present = dict.fromkeys(k for row in rows for k in row)
    return [n for n in contract.field_names if n in present] + [k for k in present if k not in contract.field_names]


def csv_bytes(header: list[str], columns: list[str], rows: list[Row], *, encoding: str, delimiter: str) -> bytes:
    """A CSV file in ``encoding`` (strict: a character the encoding lacks is an error, not a '?')."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([cell_text(row.get(c)) for c in columns] for row in rows)
    return buffer.getvalue().encode(encoding)


def jsonl_bytes(columns: list[str], rows: list[Row]) -> bytes:
    return "".join(json.dumps({c: _json_value(row.get(c)) for c in columns}, ensure_ascii=False) + "\n" for row in rows).encode()


def json_array_bytes(columns: list[str], rows: list[Row]) -> bytes:
    records = [{c: _json_value(row.get(c)) for c in columns} for row in rows]
    return (json.dumps(records, ensure_ascii=False, indent=2) + "\n").encode()


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def xlsx_bytes(sheets: list[tuple[str, list[str], list[str], list[Row]]]) -> bytes:
    """A workbook with one sheet per (title, header, columns, rows); date values become Excel dates."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, header, columns, rows in sheets:
        sheet = workbook.create_sheet(title)
        sheet.append(header)
        for row in rows:
            sheet.append([_xlsx_value(row.get(c)) for c in columns])
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, dt.datetime):
                    cell.number_format = "DD/MM/YYYY"
                elif isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # text that looks like a formula stays text
    stamp = dt.datetime(*FIXED_TIME)
    workbook.properties.created = stamp
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _fixed_zip(buffer.getvalue())


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, (list, type(None))):
        return cell_text(value) or None
    return value


def _fixed_zip(data: bytes) -> bytes:
    """The same zip with fixed member timestamps (openpyxl stamps the time of saving)."""
    stamp = dt.datetime(*FIXED_TIME).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    members: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        for name in source.namelist():
            content = source.read(name)
            if name == "docProps/core.xml":
                content = _CORE_MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
                content = _CORE_CREATED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            members[name] = content
    return zip_bytes(members, sort=False)


def zip_bytes(members: Mapping[str, bytes], *, sort: bool = True) -> bytes:
    """A deflated zip of ``members`` (path -> bytes) with fixed timestamps and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members) if sort else members:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, members[name])
    return buffer.getvalue()


def yaml_bytes(document: Any) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120).encode()
