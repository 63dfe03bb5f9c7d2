"""The data contracts: record contracts, vocabularies and the manifest schema, read from YAML.

Contracts are data. This module is the one place that reads their keys (documented in
``data_contracts/meta/record_contract.schema.yaml``); code elsewhere asks a :class:`Field`
(``field.vocabulary``, ``field.pii``) and never names a record type.

>>> cs = load_contracts()
>>> cs.contract("incidents").field("date_start").precision
{'field': 'date_precision', 'end': 'date_end'}
>>> cs.vocabulary("violation_types").code_for("Torture")
'torture_ill_treatment'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field as dc_field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import duckdb
import jsonschema
import yaml

from workbench.config import default_contracts_path
from workbench.errors import ContractError
from workbench.sql import sql_literal

#: libyaml's loader when PyYAML was built with it (ten times faster), else the pure-Python one; both are safe loaders
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ARABIC_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ؤ": "و", "ئ": "ي"})
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_SEPARATORS = re.compile(r"[\s_\-./:()\[\]]+")


def text_key(text: str) -> str:
    """Normalise a header or vocabulary value for matching: case, spacing, Arabic letter variants.

    >>> text_key("  Date_of-Incident ")
    'date of incident'
    >>> text_key("تاريخ الحادثة") == text_key("تاريخ الحادثه")
    True
    """
    text = unicodedata.normalize("NFKC", text).replace("\ufeff", "")
    text = _ARABIC_DIACRITICS.sub("", text).translate(_ARABIC_FOLD).translate(_DIGITS)
    return _SEPARATORS.sub(" ", text.casefold()).strip()


@dataclass(frozen=True)
class Term:
    """One term of a vocabulary: its code, English and Arabic labels, synonyms."""

    code: str
    label: dict[str, str]
    synonyms: dict[str, list[str]]
    description: str | None
    broader: str | None
    rank: int | None


@dataclass(frozen=True)
class Vocabulary:
    """A controlled vocabulary: codes with English and Arabic labels and synonyms."""

    name: str
    version: str
    title: dict[str, str]
    terms: tuple[Term, ...]

    @cached_property
    def lookup(self) -> dict[str, str]:
        """``text_key`` of every code, label and synonym -> code."""
        table: dict[str, str] = {}
        for term in self.terms:
            spellings = [term.code, *term.label.values()]
            for words in term.synonyms.values():
                spellings.extend(words)
            for spelling in spellings:
                table.setdefault(text_key(spelling), term.code)
        return table

    @property
    def codes(self) -> list[str]:
        return [t.code for t in self.terms]

    def code_for(self, value: str) -> str | None:
        """The code a written value stands for, or None."""
        return self.lookup.get(text_key(value))

    def label(self, code: str, lang: str = "en") -> str:
        for term in self.terms:
            if term.code == code:
                return term.label.get(lang, term.label["en"])
        raise KeyError(code)


@dataclass(frozen=True)
class Field:
    """One field of a record contract (Frictionless keys plus ours)."""

    name: str
    type: str
    title: str
    description: str
    constraints: dict[str, Any] = dc_field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    vocabulary: str | None = None
    pii: str | None = None
    screen: bool = False
    not_future: bool = False
    derived: bool = False
    precision: dict[str, str] | None = None
    geocode: dict[str, str] | None = None
    package_file: dict[str, str] | None = None
    delimiter: str = ";"
    item_type: str = "string"
    example: Any = None

    @property
    def required(self) -> bool:
        return bool(self.constraints.get("required"))

    @property
    def unique(self) -> bool:
        return bool(self.constraints.get("unique"))

    @property
    def is_list(self) -> bool:
        return self.type == "list"

    @property
    def header_keys(self) -> list[str]:
        return [text_key(self.name), text_key(self.title), *(text_key(a) for a in self.aliases)]


@dataclass(frozen=True)
class ForeignKey:
    """Fields of a record that must name a record of another (or the same) type."""

    fields: tuple[str, ...]
    resource: str
    reference_fields: tuple[str, ...]


@dataclass(frozen=True)
class Contract:
    """The contract of one record type (one file in ``records/``)."""

    name: str
    title: str
    version: str
    description: str
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...]
    file_hints: tuple[str, ...]
    raw: dict[str, Any]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @cached_property
    def header_lookup(self) -> dict[str, str]:
        """``text_key`` of every name, title and alias -> field name."""
        table: dict[str, str] = {}
        for f in self.fields:
            for key in f.header_keys:
                table.setdefault(key, f.name)
        return table

    def field_for_header(self, header: str) -> str | None:
        return self.header_lookup.get(text_key(header))


@dataclass(frozen=True)
class ContractSet:
    """Every contract, vocabulary and the manifest schema of one ``data_contracts/`` folder."""

    path: Path
    version: str
    accepted_versions: tuple[str, ...]
    contracts: dict[str, Contract]
    vocabularies: dict[str, Vocabulary]
    manifest_schema: dict[str, Any]

    def contract(self, name: str) -> Contract:
        try:
            return self.contracts[name]
        except KeyError:
            raise ContractError([f"no contract for record type {name!r}; known: {', '.join(self.contracts)}"]) from None

    def vocabulary(self, name: str) -> Vocabulary:
        try:
            return self.vocabularies[name]
        except KeyError:
            raise ContractError([f"no vocabulary {name!r}; known: {', '.join(sorted(self.vocabularies))}"]) from None

    def __iter__(self) -> Iterator[Contract]:
        return iter(self.contracts.values())

    def check_contract(self, path: Path) -> list[str]:
        """Every problem of one contract file, read against this set's vocabularies and record types."""
        schema = _read_yaml(self.path / "meta" / "record_contract.schema.yaml", [])
        try:
            contract = read_contract(path, schema)
        except ContractError as exc:
            return exc.problems
        return _cross_problems(contract, {**self.contracts, contract.name: contract}, self.vocabularies, path.name)

    def check_manifest(self, manifest: Any, *, where: str = "manifest") -> list[str]:
        """Every way ``manifest`` breaks the manifest contract, as messages naming the key."""
        validator = jsonschema.Draft202012Validator(
            self.manifest_schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        problems = [
            f"{where}: {_json_path(err.absolute_path)}: {err.message}"
            for err in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
        ]
        if problems:
            return problems
        for path, vocab_name in _vocabulary_slots(self.manifest_schema):
            for location, value in _values_at(manifest, path):
                if self.vocabulary(vocab_name).code_for(str(value)) is None:
                    problems.append(
                        f"{where}: {location}: {value!r} is not in the {vocab_name} vocabulary "
                        f"({', '.join(self.vocabulary(vocab_name).codes)})"
                    )
        version = manifest.get("contract_version")
        if version not in self.accepted_versions:
            problems.append(
                f"{where}: contract_version: {version!r} is not a contract version this workbench accepts "
                f"({', '.join(self.accepted_versions)})"
            )
        return problems


def _json_path(parts: Any) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return text or "(top level)"


def _vocabulary_slots(schema: dict, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Where a JSON schema marks a string with ``x-vocabulary``: (path with '*' for array items, name)."""
    if "x-vocabulary" in schema:
        yield path, schema["x-vocabulary"]
    for key, sub in schema.get("properties", {}).items():
        yield from _vocabulary_slots(sub, (*path, key))
    if isinstance(schema.get("items"), dict):
        yield from _vocabulary_slots(schema["items"], (*path, "*"))


def _values_at(document: Any, path: tuple, seen: tuple = ()) -> Iterator[tuple[str, Any]]:
    if not path:
        yield _json_path(seen), document
        return
    head, rest = path[0], path[1:]
    if head == "*" and isinstance(document, list):
        for i, item in enumerate(document):
            yield from _values_at(item, rest, (*seen, i))
    elif isinstance(document, dict) and head in document:
        yield from _values_at(document[head], rest, (*seen, head))


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{path.name}: cannot be read as YAML: {exc}")
        return None


def _schema_problems(document: Any, schema: dict, where: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{where}: {_json_path(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def read_vocabulary(path: Path, schema: dict) -> Vocabulary:
    """Read and check one vocabulary file."""
    problems: list[str] = []
    doc = _read_yaml(path, problems)
    problems += _schema_problems(doc, schema, path.name) if doc is not None else []
    if not problems and doc["name"] != path.stem:
        problems.append(f"{path.name}: name {doc['name']!r} differs from the file name")
    if problems:
        raise ContractError(problems)
    terms = tuple(
        Term(
            code=t["code"],
            label=t["label"],
            synonyms={lang: list(words) for lang, words in t.get("synonyms", {}).items()},
            description=t.get("description"),
            broader=t.get("broader"),
            rank=t.get("rank"),
        )
        for t in doc["terms"]
    )
    return Vocabulary(name=doc["name"], version=doc["version"], title=doc["title"], terms=terms)


def _field_from(doc: dict) -> Field:
    return Field(
        name=doc["name"],
        type=doc["type"],
        title=doc["title"],
        description=doc["description"],
        constraints=dict(doc.get("constraints", {})),
        aliases=tuple(doc.get("aliases", ())),
        vocabulary=doc.get("vocabulary"),
        pii=doc.get("pii"),
        screen=bool(doc.get("screen", False)),
        not_future=bool(doc.get("not_future", False)),
        derived=bool(doc.get("derived", False)),
        precision=doc.get("precision"),
        geocode=doc.get("geocode"),
        package_file=doc.get("package_file"),
        delimiter=doc.get("delimiter", ";"),
        item_type=doc.get("itemType", "string"),
        example=doc.get("example"),
    )


def read_contract(path: Path, schema: dict) -> Contract:
    """Read one record contract and check it against the meta-schema."""
    problems: list[str] = []
    doc = _read_yaml(path, problems)
    problems += _schema_problems(doc, schema, path.name) if doc is not None else []
    if problems:
        raise ContractError(problems)
    return Contract(
        name=doc["name"],
        title=doc["title"],
        version=doc["version"],
        description=doc["description"].strip(),
        fields=tuple(_field_from(f) for f in doc["fields"]),
        primary_key=tuple(doc["primaryKey"]),
        foreign_keys=tuple(
            ForeignKey(tuple(fk["fields"]), fk["reference"]["resource"], tuple(fk["reference"]["fields"]))
            for fk in doc.get("foreignKeys", [])
        ),
        file_hints=tuple(doc.get("file_hints", ())),
        raw=doc,
    )


def _pattern_problem(pattern: str) -> str | None:
    """Why a pattern cannot be used: validation runs it in DuckDB, whose regex engine is RE2."""
    try:
        with duckdb.connect() as con:  # no bound parameters: binding one makes DuckDB import pandas (0.4 s)
            con.execute(f"SELECT regexp_full_match('', {sql_literal(pattern)})").fetchone()
    except duckdb.Error as exc:
        return f"pattern that DuckDB cannot run (RE2 syntax: no look-around, no back-references): {str(exc).splitlines()[0]}"
    return None


def _cross_problems(
    contract: Contract, contracts: dict[str, Contract], vocabularies: dict[str, Vocabulary], where: str | None = None
) -> list[str]:
    """What the meta-schema cannot see: names that must refer to something that exists."""
    where = where or f"records/{contract.name}.yaml"
    names = contract.field_names
    problems = [f"{where}: field {n!r} is declared twice" for n in sorted({n for n in names if names.count(n) > 1})]
    for key in contract.primary_key:
        if key not in names:
            problems.append(f"{where}: primaryKey names {key!r}, which is not a field")
    for fk in contract.foreign_keys:
        problems += [f"{where}: foreign key names {f!r}, which is not a field" for f in fk.fields if f not in names]
        target = contracts.get(fk.resource)
        if target is None:
            problems.append(f"{where}: foreign key refers to unknown record type {fk.resource!r}")
        else:
            problems += [
                f"{where}: foreign key refers to {fk.resource}.{f}, which is not a field"
                for f in fk.reference_fields
                if f not in target.field_names
            ]
    seen_headers: dict[str, str] = {}
    for f in contract.fields:
        if f.vocabulary and f.vocabulary not in vocabularies:
            problems.append(f"{where}: field {f.name!r} uses unknown vocabulary {f.vocabulary!r}")
        for target in [*(f.precision or {}).values(), *(f.geocode or {}).values(), *(f.package_file or {}).values()]:
            if target not in names:
                problems.append(f"{where}: field {f.name!r} writes to {target!r}, which is not a field")
        if f.precision and f.type != "date":
            problems.append(f"{where}: field {f.name!r} has precision but is not a date")
        if f.pii and f.type != "string":
            problems.append(f"{where}: field {f.name!r} is pii but not a string")
        if "pattern" in f.constraints:
            problem = _pattern_problem(f.constraints["pattern"])
            if problem:
                problems.append(f"{where}: field {f.name!r} has a {problem}")
        for key in dict.fromkeys(f.header_keys):
            other = seen_headers.setdefault(key, f.name)
            if other != f.name:
                problems.append(f"{where}: header {key!r} would match both {other!r} and {f.name!r}")
    return problems


def load_contracts(path: Path | None = None) -> ContractSet:
    """Read and check every contract and vocabulary of a ``data_contracts/`` folder.

    All problems are collected and raised together as one :class:`ContractError`.
    """
    root = Path(path) if path else default_contracts_path()
    problems: list[str] = []
    index = _read_yaml(root / "contracts.yaml", problems) if (root / "contracts.yaml").exists() else None
    if index is None:
        raise ContractError(problems or [f"{root}: no contracts.yaml (is this a data_contracts folder?)"])
    record_schema = _read_yaml(root / "meta" / "record_contract.schema.yaml", problems)
    vocabulary_schema = _read_yaml(root / "meta" / "vocabulary.schema.yaml", problems)
    manifest_schema = _read_yaml(root / index.get("manifest", "manifest.yaml"), problems)
    if problems:
        raise ContractError(problems)

    vocabularies: dict[str, Vocabulary] = {}
    for vocab_path in sorted((root / "vocabularies").glob("*.yaml")):
        try:
            vocabularies[vocab_path.stem] = read_vocabulary(vocab_path, vocabulary_schema)
        except ContractError as exc:
            problems += exc.problems

    contracts: dict[str, Contract] = {}
    for name in index.get("record_types", []):
        contract_path = root / "records" / f"{name}.yaml"
        if not contract_path.exists():
            problems.append(f"contracts.yaml lists {name!r} but records/{name}.yaml does not exist")
            continue
        try:
            contract = read_contract(contract_path, record_schema)
        except ContractError as exc:
            problems += exc.problems
            continue
        if contract.name != name:
            problems.append(f"records/{name}.yaml: name {contract.name!r} differs from the file name")
        contracts[name] = contract
    for contract in contracts.values():
        problems += _cross_problems(contract, contracts, vocabularies)
    try:
        jsonschema.Draft202012Validator.check_schema(manifest_schema)
    except jsonschema.SchemaError as exc:
        problems.append(f"manifest schema is not a valid JSON Schema: {exc.message}")
    for _, vocab_name in _vocabulary_slots(manifest_schema):
        if vocab_name not in vocabularies:
            problems.append(f"manifest schema uses unknown vocabulary {vocab_name!r}")
    if problems:
        raise ContractError(problems)
    return ContractSet(
        path=root,
        version=str(index["version"]),
        accepted_versions=tuple(str(v) for v in index.get("accepted_versions", [index["version"]])),
        contracts=contracts,
        vocabularies=vocabularies,
        manifest_schema=manifest_schema,
    )
