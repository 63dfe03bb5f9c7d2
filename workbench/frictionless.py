"""The contracts as Frictionless Table Schemas, so an NGO can check its files before sending.

``export_frictionless`` writes one ``<record type>.schema.json`` per contract and a
``datapackage.json`` tying them to the usual file names, so that
``frictionless validate datapackage.json`` checks types, required values, vocabularies,
uniqueness and references across files. The workbench accepts more than a Table Schema can say
(Arabic-Indic digits, partial and day-first dates, Arabic month names, labels in any case): the
exported schema is the strict form, and it knows columns by their contract names only (the
workbench also understands the aliases, Arabic headers included). ``workbench check`` runs the
full checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.contracts import Contract, ContractSet, Field, Term

_TABLE_SCHEMA_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}


def _term_spellings(term: Term) -> list[str]:
    words = [term.code, *term.label.values()]
    for synonyms in term.synonyms.values():
        words += synonyms
    return words


def _spellings(contracts: ContractSet, vocabulary: str) -> list[str]:
    """Every exact spelling the workbench understands for a vocabulary: codes, labels, synonyms."""
    return list(dict.fromkeys(w for term in contracts.vocabulary(vocabulary).terms for w in _term_spellings(term)))


def table_field(field: Field, contracts: ContractSet) -> dict[str, Any]:
    """One contract field as a Table Schema field descriptor."""
    descriptor: dict[str, Any] = {"name": field.name, "title": field.title, "description": field.description}
    constraints = {k: v for k, v in field.constraints.items() if k in ("required", "unique", "minLength", "maxLength", "pattern", "enum")}
    if field.type == "date":
        # dates may be partial or day-first; a string keeps the schema from refusing what the workbench accepts
        descriptor["type"] = "string"
        descriptor["description"] += " Write 2013-03-12, or 2013-03 / 2013 when only the month or year is known."
    elif field.is_list:
        descriptor["type"] = "string"
        descriptor["description"] += f" Several values are separated by {field.delimiter!r}."
        if field.vocabulary:
            descriptor["description"] += f" Codes: {', '.join(contracts.vocabulary(field.vocabulary).codes)}."
    elif field.type == "boolean":
        descriptor["type"] = "boolean"
        descriptor["trueValues"] = _boolean_spellings(contracts, "true")
        descriptor["falseValues"] = _boolean_spellings(contracts, "false")
    else:
        descriptor["type"] = _TABLE_SCHEMA_TYPES[field.type]
        for key in ("minimum", "maximum"):
            if key in field.constraints:
                constraints[key] = field.constraints[key]
    if field.vocabulary and not field.is_list:
        constraints["enum"] = _spellings(contracts, field.vocabulary)
    if field.example is not None:
        descriptor["example"] = field.example
    if field.aliases:
        descriptor["x-aliases"] = list(field.aliases)
    if constraints:
        descriptor["constraints"] = constraints
    return descriptor


def _boolean_spellings(contracts: ContractSet, code: str) -> list[str]:
    """Spellings of "true" or "false", in the cases spreadsheets write them (Table Schema compares exactly)."""
    words = [w for term in contracts.vocabulary("boolean").terms if term.code == code for w in _term_spellings(term)]
    return list(dict.fromkeys(words + [w.upper() for w in words] + [w.capitalize() for w in words]))


def table_schema(contract: Contract, contracts: ContractSet) -> dict[str, Any]:
    """A Frictionless Table Schema for one record contract."""
    schema: dict[str, Any] = {
        "$schema": "https://specs.frictionlessdata.io/schemas/table-schema.json",
        "title": contract.title,
        "description": contract.description,
        "x-contract-version": contract.version,
        "fields": [table_field(f, contracts) for f in contract.fields],
        "primaryKey": list(contract.primary_key),
        "missingValues": [""],
        # columns may come in any order and optional ones may be left out; required ones must be there
        "fieldsMatch": "superset",
    }
    if contract.foreign_keys:
        schema["foreignKeys"] = [
            {
                "fields": list(fk.fields),
                "reference": {"resource": "" if fk.resource == contract.name else fk.resource, "fields": list(fk.reference_fields)},
            }
            for fk in contract.foreign_keys
        ]
    return schema


def export_frictionless(contracts: ContractSet, out: Path) -> list[Path]:
    """Write the Table Schemas and a ``datapackage.json``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    resources = []
    for contract in contracts:
        schema = table_schema(contract, contracts)
        path = out / f"{contract.name}.schema.json"
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
        resources.append({"name": contract.name, "path": f"{contract.name}.csv", "profile": "tabular-data-resource",
                          "format": "csv", "encoding": "utf-8", "schema": f"{contract.name}.schema.json"})
    package = {
        "name": "ngo-submission",
        "title": f"NGO submission, data contracts {contracts.version}",
        "x-contract-version": contracts.version,
        "resources": resources,
    }
    path = out / "datapackage.json"
    path.write_text(json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written
