"""Format mappings: an NGO's own export described once in YAML, loaded without code.

A mapping (schema: ``data_contracts/meta/mapping.schema.yaml``) names the files it reads and says,
for each record type a source row yields, where every contract field's value comes from. This
module checks mappings and compiles one to SQL over a raw table: the result has the shape of a
contract file (one column per field, ``__row`` kept), so mapped rows then go through exactly the
same validation, normalisation, screening, provenance and custody as contract-shaped files.

>>> from workbench.contracts import load_contracts
>>> m = load_mapping(default_mappings_path() / "examples" / "syrianarchive-violations.yaml", load_contracts())
>>> [r.type for r in m.records]
['incidents', 'sources']
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import duckdb
import jsonschema
import polars as pl
import yaml

from workbench.config import default_contracts_path
from workbench.contracts import ContractSet, text_key
from workbench.errors import MappingError
from workbench.sql import quote_ident, sql_literal
from workbench.store import table_from_frame

#: Latitude and longitude bounds of Syria, to recognise coordinates written the wrong way round.
SYRIA_LAT, SYRIA_LON = (32.3, 37.4), (35.7, 42.4)


def default_mappings_path() -> Path:
    """Where the project keeps its mappings (``data_contracts/mappings/``)."""
    return default_contracts_path() / "mappings"


@dataclass(frozen=True)
class ValueSpec:
    """Where one contract field's value comes from (see the schema's comments)."""

    column: str | None = None
    columns: tuple[str, ...] = ()
    separator: str = ", "
    constant: Any = None
    split: str | None = None
    map: dict[str, Any] | None = None
    unmapped: str = "keep"
    formats: tuple[str, ...] = ()
    prefix: str | None = None

    @property
    def sources(self) -> list[str]:
        return [self.column] if self.column else list(self.columns)


@dataclass(frozen=True)
class RecordSpec:
    type: str
    fields: dict[str, ValueSpec]
    when: str | None = None


@dataclass(frozen=True)
class Mapping:
    """A checked mapping file."""

    name: str
    version: str
    title: str
    description: str
    contract_version: str
    files: tuple[str, ...]
    records: tuple[RecordSpec, ...]
    path: Path
    sheet: str | None = None
    missing_values: tuple[str, ...] = ()
    date_order: str = "day_first"
    coordinates: dict[str, str] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def matches(self, path: str) -> bool:
        """Whether a package file is one this mapping reads."""
        name = path.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) for p in self.files)

    @property
    def columns(self) -> set[str]:
        used = {c for r in self.records for spec in r.fields.values() for c in spec.sources}
        used |= {r.when for r in self.records if r.when}
        if self.coordinates:
            used |= {self.coordinates["latitude"], self.coordinates["longitude"]}
        return used


def _value_spec(doc: dict) -> ValueSpec:
    return ValueSpec(
        column=doc.get("column"),
        columns=tuple(doc.get("columns", ())),
        separator=doc.get("separator", ", "),
        constant=doc.get("constant"),
        split=doc.get("split"),
        map=doc.get("map"),
        unmapped=doc.get("unmapped", "keep"),
        formats=tuple(doc.get("formats", ())),
        prefix=doc.get("prefix"),
    )


def load_mapping(path: Path, contracts: ContractSet) -> Mapping:
    """Read a mapping and check it against the schema and the contracts; every problem is reported at once."""
    where = path.name
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingError([f"{where}: cannot be read as YAML: {exc}"]) from None
    schema = yaml.safe_load((contracts.path / "meta" / "mapping.schema.yaml").read_text(encoding="utf-8"))
    problems = [
        f"{where}: {'.'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)
    ]
    if problems:
        raise MappingError(problems)
    records = tuple(
        RecordSpec(r["type"], {name: _value_spec(spec) for name, spec in r["fields"].items()}, r.get("when"))
        for r in doc["records"]
    )
    problems += _semantic_problems(where, doc, records, contracts)
    if problems:
        raise MappingError(problems)
    source = doc["source"]
    return Mapping(
        name=doc["name"], version=doc["version"], title=doc["title"], description=doc["description"].strip(),
        contract_version=doc["contract_version"], files=tuple(source["files"]), records=records, path=path,
        sheet=source.get("sheet"), missing_values=tuple(source.get("missing_values", ())),
        date_order=source.get("date_order", "day_first"), coordinates=source.get("coordinates"), raw=doc,
    )


def _semantic_problems(where: str, doc: dict, records: Sequence[RecordSpec], contracts: ContractSet) -> list[str]:
    """What the schema cannot see: record types, fields and vocabulary codes that must exist."""
    problems = []
    if doc["contract_version"] not in contracts.accepted_versions:
        problems.append(f"{where}: contract_version {doc['contract_version']!r} is not accepted ({', '.join(contracts.accepted_versions)})")
    for i, record in enumerate(records):
        label = f"{where}: records[{i}] ({record.type})"
        if record.type not in contracts.contracts:
            problems.append(f"{label}: no contract for record type {record.type!r}")
            continue
        contract = contracts.contract(record.type)
        for name, spec in record.fields.items():
            if name not in contract.field_names:
                problems.append(f"{label}: {name!r} is not a field of {record.type} (fields: {', '.join(contract.field_names)})")
                continue
            fld = contract.field(name)
            if spec.map and fld.vocabulary:
                vocab = contracts.vocabulary(fld.vocabulary)
                targets = [t for v in spec.map.values() if v is not None for t in (v if isinstance(v, list) else [v])]
                problems += [
                    f"{label}: {name}: map target {t!r} is not in the {fld.vocabulary} vocabulary"
                    for t in targets if vocab.code_for(t) is None
                ]
        missing = [f.name for f in contract.fields if f.required and not f.derived and f.name not in record.fields]
        if missing:
            problems.append(f"{label}: required field(s) {', '.join(missing)} are not mapped")
    return problems


class _Compiler:
    """SQL for one mapping over one raw table."""

    def __init__(self, mapping: Mapping, contracts: ContractSet, headers: Sequence[str], raw_columns: Sequence[str],
                 raw_table: str, *, file: str):
        self.mapping, self.contracts, self.raw_table, self.file = mapping, contracts, raw_table, file
        by_header: dict[str, str] = {}
        for header, column in zip(headers, raw_columns):
            by_header.setdefault(header.strip(), column)
            by_header.setdefault(text_key(header), column)
        self.by_header = by_header
        missing = sorted(c for c in mapping.columns if self._raw(c, strict=False) is None)
        if missing:
            raise MappingError([
                f"{file}: the mapping {mapping.name} reads column(s) {', '.join(map(repr, missing))}, which the file "
                f"does not have (its headers: {', '.join(repr(h) for h in headers)})"
            ])

    def contract(self, record: RecordSpec):
        return self.contracts.contract(record.type)

    def _raw(self, header: str, *, strict: bool = True) -> str | None:
        column = self.by_header.get(header.strip()) or self.by_header.get(text_key(header))
        if column is None and strict:
            raise MappingError([f"{self.file}: no column {header!r}"])
        return column

    def cell(self, header: str) -> str:
        """A cell, trimmed, with the export's own "no value" markers turned into NULL."""
        value = f"nullif(trim(r.{quote_ident(self._raw(header))}), '')"
        if self.mapping.missing_values:
            missing = ", ".join(sql_literal(v) for v in self.mapping.missing_values)
            value = f"CASE WHEN {value} IN ({missing}) THEN NULL ELSE {value} END"
        return value

    def base(self, spec: ValueSpec) -> str:
        """The value as read from the row, before split and map."""
        if spec.constant is not None:
            constant = spec.constant if not isinstance(spec.constant, bool) else str(spec.constant).lower()
            return sql_literal(str(constant))
        if spec.column:
            expr = self.cell(spec.column)
        else:
            expr = f"nullif(concat_ws({sql_literal(spec.separator)}, {', '.join(self.cell(c) for c in spec.columns)}), '')"
        if spec.formats:
            parsed = ", ".join(f"strftime(try_strptime({expr}, {sql_literal(f)}), '%Y-%m-%d')" for f in spec.formats)
            expr = f"coalesce({parsed}, {expr})"
        return expr

    def record_select(self, record: RecordSpec, lookups: dict[str, str]) -> str:
        """SELECT of one record type; ``lookups`` name the tables that split and map a field's distinct values."""
        columns, joins = ["r.__row"], []
        for name, spec in record.fields.items():
            value = self.base(spec)
            if name in lookups:
                alias = quote_ident(f"map_{name}")
                joins.append(f"LEFT JOIN {quote_ident(lookups[name])} {alias} ON {alias}.raw = {value}")
                value = f"{alias}.value"
            if spec.prefix:
                value = f"{sql_literal(spec.prefix)} || {value}"
            columns.append(f"{value} AS {quote_ident(name)}")
        where = f" WHERE {self.cell(record.when)} IS NOT NULL" if record.when else ""
        select = f"SELECT {', '.join(columns)} FROM {quote_ident(self.raw_table)} r {' '.join(joins)}{where}"
        swap = self._swap_fix(record)
        return f"SELECT * REPLACE ({swap}) FROM ({select})" if swap else select

    def _swap_fix(self, record: RecordSpec) -> str | None:
        coords = self.mapping.coordinates
        if not coords or coords.get("swapped", "report") != "fix":
            return None
        geo = next((f.geocode for f in self.contract(record).fields if f.geocode), None)
        if not geo or geo["lat"] not in record.fields or geo["lon"] not in record.fields:
            return None
        lat, lon = quote_ident(geo["lat"]), quote_ident(geo["lon"])
        swapped = self._swapped_condition(lat, lon)
        return f"CASE WHEN {swapped} THEN {lon} ELSE {lat} END AS {lat}, CASE WHEN {swapped} THEN {lat} ELSE {lon} END AS {lon}"

    @staticmethod
    def _swapped_condition(lat: str, lon: str) -> str:
        la, lo = f"TRY_CAST({lat} AS DOUBLE)", f"TRY_CAST({lon} AS DOUBLE)"
        inside = f"({la} BETWEEN {SYRIA_LAT[0]} AND {SYRIA_LAT[1]} AND {lo} BETWEEN {SYRIA_LON[0]} AND {SYRIA_LON[1]})"
        turned = f"({lo} BETWEEN {SYRIA_LAT[0]} AND {SYRIA_LAT[1]} AND {la} BETWEEN {SYRIA_LON[0]} AND {SYRIA_LON[1]})"
        return f"(NOT {inside} AND {turned})"

    def swapped_rows(self) -> str | None:
        coords = self.mapping.coordinates
        if not coords:
            return None
        condition = self._swapped_condition(self.cell(coords["latitude"]), self.cell(coords["longitude"]))
        return f"SELECT r.__row FROM {quote_ident(self.raw_table)} r WHERE {condition}"


def map_values(values: Sequence[str], spec: ValueSpec, *, delimiter: str, missing: Sequence[str] = ()) -> pl.DataFrame:
    """Split and map distinct cell values in Python, as the rest of normalisation does.

    Columns ``raw`` and ``value`` (the parts, mapped, joined with the contract's delimiter).

    >>> spec = ValueSpec(column="Type", split=",", map={"Shelling": "indiscriminate_attack"})
    >>> map_values(["Shelling, torture"], spec, delimiter=";")["value"].to_list()
    ['indiscriminate_attack; torture']
    """
    table = {text_key(k): ([] if v is None else (v if isinstance(v, list) else [v])) for k, v in (spec.map or {}).items()}
    absent = {text_key(m) for m in missing}
    out = []
    for raw in values:
        parts = [p.strip() for p in (raw.split(spec.split) if spec.split else [raw])]
        mapped: list[str] = []
        for part in parts:
            key = text_key(part)
            if not part or key in absent:
                continue
            if key in table:
                mapped += table[key]
            elif spec.unmapped == "keep":
                mapped.append(part)
        out.append(f"{delimiter} ".join(dict.fromkeys(mapped)) or None)
    return pl.DataFrame({"raw": list(values), "value": out}, schema={"raw": pl.Utf8, "value": pl.Utf8})


def apply_mapping(con: duckdb.DuckDBPyConnection, mapping: Mapping, contracts: ContractSet, *, headers: Sequence[str],
                  raw_columns: Sequence[str], raw_table: str, file: str) -> tuple[dict[str, str], list[str]]:
    """Create one view per record type the mapping yields from a raw table.

    Returns record type -> view name, and every temporary table and view made (to drop later). Each
    view has ``__row`` (the source row) and one column per mapped field, named as in the contract.
    """
    compiler = _Compiler(mapping, contracts, headers, raw_columns, raw_table, file=file)
    views: dict[str, str] = {}
    made: list[str] = []
    for i, record in enumerate(mapping.records):
        lookups: dict[str, str] = {}
        for name, spec in record.fields.items():
            if not (spec.split or spec.map) or spec.constant is not None:
                continue
            base = compiler.base(spec)
            values = [v for (v,) in con.execute(f"SELECT DISTINCT {base} FROM {quote_ident(raw_table)} r WHERE {base} IS NOT NULL").fetchall()]
            frame = map_values(values, spec, delimiter=contracts.contract(record.type).field(name).delimiter,
                               missing=mapping.missing_values)
            lookups[name] = f"{raw_table}__map_{i}_{name}"
            table_from_frame(con, lookups[name], frame)
        views[record.type] = f"{raw_table}__{record.type}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(views[record.type])} AS {compiler.record_select(record, lookups)}")
        made += [views[record.type], *lookups.values()]
    return views, made


def swapped_coordinates_sql(mapping: Mapping, contracts: ContractSet, *, headers: Sequence[str], raw_columns: Sequence[str],
                            raw_table: str, file: str) -> str | None:
    """SQL listing the rows (``__row``) whose latitude and longitude are the wrong way round, or None."""
    return _Compiler(mapping, contracts, headers, raw_columns, raw_table, file=file).swapped_rows()
