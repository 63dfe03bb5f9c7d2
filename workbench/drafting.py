"""A first format mapping for a foreign NGO export, for a person to check and finish.

:func:`draft_mapping` reads the file (encoding, delimiter and header row detected), profiles every
column (``workbench.profiling``) and proposes, for each column, the contract field it most likely
fills, with a reason and a confidence from 0 to 1:

* by header: the contract's field names, titles and aliases (Arabic included), across record types;
* by content: dates, coordinates inside Syria, place names the gazetteer resolves, values that a
  vocabulary knows, unique identifiers, web addresses, long text.

It then decides which record types each row yields (``RECORD_EVIDENCE``), gives every vocabulary
field a value map of the column's values, composes a place from several place columns, flags
latitude and longitude that look swapped, and marks required fields that nothing fills.
:meth:`Draft.to_yaml` writes it all as a mapping file with comments; kept as proposed, that file
loads with :func:`workbench.mapping.load_mapping` whenever every required field got a proposal.

>>> draft = draft_mapping(Path("violations.csv"), contracts=load_contracts())  # doctest: +SKIP
>>> draft.record("incidents").fields["date_start"].spec  # doctest: +SKIP
{'column': 'Recording_Date', 'formats': ['%Y-%m-%d']}
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass, field as dc_field, replace
from pathlib import Path
from typing import Any, Iterable

from workbench.contracts import Contract, ContractSet, Field, text_key
from workbench.gazetteer import Gazetteer, builtin
from workbench.normalise.lookups import months_from
from workbench.normalise.pii import load_patterns
from workbench.profiling import (ID_WORDS, LAT_WORDS, LON_WORDS, MARKER_KEYS, PLACE_WORDS, URL_WORDS, ColumnProfile,
                                 Table, date_order, header_words, list_separator, place_shares, profile_table, read_table,
                                 screened_samples, swapped_pairs)

#: A record type is drafted when, for each group, some column could fill one of the group's fields.
RECORD_EVIDENCE: dict[str, tuple[tuple[str, ...], ...]] = {
    "incidents": (("date_start",), ("place", "violation_types", "latitude")),
    "sources": (("url", "media_file", "media_sha256"),),
    "persons": (("sex", "age_group", "age", "pseudonym"),),
}
#: For a record type drafted after the first: a row yields it only when one of these fields has a value.
RECORD_PRESENCE: dict[str, tuple[str, ...]] = {"sources": ("url", "media_file"), "persons": ("pseudonym",)}
HEADER, COMPOSED = 0.95, 0.75
LANGUAGE_FIELD = "language"
MAP_ENTRIES = 200
_COMPATIBLE = {"date": {"date", "datetime"}, "integer": {"integer", "identifier"},
               "number": {"integer", "number", "coordinate-latitude", "coordinate-longitude"},
               "boolean": {"boolean", "integer"}}


@dataclass(frozen=True)
class MapEntry:
    """One distinct value of a column (spellings that differ only in case or spacing merged)."""

    value: str
    rows: int
    code: str | None


@dataclass(frozen=True)
class Proposal:
    """How one contract field could be filled: the value spec as the mapping writes it, why, how sure."""

    record_type: str
    field: str
    spec: dict[str, Any]
    reason: str
    confidence: float
    entries: tuple[MapEntry, ...] = ()
    vocabulary: str | None = None
    codes: tuple[str, ...] = ()  # the vocabulary's codes
    more_values: int = 0  # distinct values left out of the map

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.spec["column"],) if "column" in self.spec else tuple(self.spec.get("columns", ()))


@dataclass(frozen=True)
class DraftRecord:
    """A record type the rows yield: its proposed fields, the required fields nothing fills, and why."""

    type: str
    reason: str
    fields: dict[str, Proposal]
    unfilled: tuple[Field, ...] = ()
    when: str | None = None


@dataclass(frozen=True)
class Draft:
    """A proposed format mapping for one file; :meth:`to_yaml` writes it with its reasons as comments."""

    table: Table
    profiles: tuple[ColumnProfile, ...]
    records: tuple[DraftRecord, ...]
    alternatives: dict[str, tuple[Proposal, ...]]  # header -> proposals not taken
    missing_values: dict[str, dict[str, int]]  # marker -> header -> rows
    contract_version: str
    samples: dict[str, tuple[str, ...]] = dc_field(default_factory=dict)  # header -> screened samples
    date_order: str | None = None
    date_order_note: str = ""
    coordinates: dict[str, str] | None = None
    coordinates_note: str = ""

    def record(self, record_type: str) -> DraftRecord:
        """The drafted record of a type (KeyError when the file yields none)."""
        for record in self.records:
            if record.type == record_type:
                return record
        raise KeyError(record_type)

    @property
    def targets(self) -> dict[str, list[str]]:
        """Header -> the fields ("incidents.place") it fills; columns that fill nothing are left out."""
        out: dict[str, list[str]] = {}
        for record in self.records:
            for name, p in record.fields.items():
                for column in p.columns:
                    out.setdefault(column, []).append(f"{record.type}.{name}")
        return out

    def document(self) -> dict[str, Any]:
        """The mapping as data (what :meth:`to_yaml` writes, without the comments)."""
        file = self.table.path
        name = re.sub(r"[^a-z0-9_-]+", "-", file.stem.lower()).strip("-_") or "draft"
        source: dict[str, Any] = {"files": [glob.escape(re.sub(r"[\d_\-. ]+$", "", file.stem)) + "*" + file.suffix.lower()]}
        if self.table.sheet:
            source["sheet"] = self.table.sheet
        if self.missing_values:
            source["missing_values"] = sorted(self.missing_values)
        if self.date_order:
            source["date_order"] = self.date_order
        if self.coordinates:
            source["coordinates"] = dict(self.coordinates)
        records = [{"type": r.type, **({"when": r.when} if r.when else {}),
                    "fields": {n: dict(p.spec) for n, p in r.fields.items()}} for r in self.records]
        kinds = ", ".join(r.type for r in self.records)
        description = f"Drafted from {file.name}: {len(self.profiles)} columns; each row yields {kinds}."
        return {"name": name, "version": "0.1.0", "title": f"{file.name} (draft)", "description": description,
                "contract_version": self.contract_version, "source": source, "records": records}

    def to_yaml(self) -> str:
        """The mapping file, every proposal commented with its reason and confidence."""
        text = "\n".join(_render(self)) + "\n"
        # characters YAML reads as line breaks or refuses: escaped, so scalars keep them and comments stay comments
        return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def _header_proposals(p: ColumnProfile, contracts: ContractSet) -> list[Proposal]:
    out = []
    for contract in contracts:
        name = contract.field_for_header(p.header)
        if name is None:
            continue
        fld, key = contract.field(name), text_key(p.header)
        how = "name" if key == text_key(fld.name) else "title" if key == text_key(fld.title) else "alias"
        confidence, reason = HEADER, f"the header is this field's {how}"
        if p.kind == "empty":
            confidence, reason = 0.5, reason + ", but the column is empty in the rows read"
        elif fld.type in _COMPATIBLE and p.kind not in _COMPATIBLE[fld.type]:
            confidence, reason = 0.6, reason + f", but its values look like {p.kind}, not {fld.type}"
        out.append(Proposal(contract.name, name, {"column": p.header}, reason, confidence))
    return out


def _geocode(contract: Contract) -> tuple[str, str, str] | None:
    geo = next((f for f in contract.fields if f.geocode), None)
    return (geo.name, geo.geocode["lat"], geo.geocode["lon"]) if geo else None


def _text_field(contract: Contract) -> str | None:
    """The screened text field with the most room: where a long free text belongs."""
    texts = [f for f in contract.fields if f.screen and f.type == "string"]
    return max(texts, key=lambda f: f.constraints.get("maxLength", 0)).name if texts else None


def _vocabulary_proposals(p: ColumnProfile, contracts: ContractSet) -> list[Proposal]:
    if p.kind not in ("categorical", "text", "boolean") or p.long_text or not p.values:
        return []
    out = []
    for contract in contracts:
        for fld in contract.fields:
            if not fld.vocabulary or fld.derived:
                continue
            vocabulary = contracts.vocabulary(fld.vocabulary)
            sep = list_separator(p, vocabulary) if fld.is_list else None
            keys = {text_key(x) for v, _ in p.values for x in (v.split(sep) if sep else [v]) if x.strip()}
            mapped = sum(1 for k in keys if vocabulary.code_for(k))
            share = mapped / max(len(keys), 1)
            if share >= 0.3 and mapped >= min(2, len(keys)):
                reason = f"{mapped} of its {len(keys)} distinct values are {fld.vocabulary} terms"
                out.append(Proposal(contract.name, fld.name, {"column": p.header}, reason, round(0.3 + 0.6 * share, 2)))
    return out


def _content_proposals(p: ColumnProfile, contracts: ContractSet, place_share: float) -> list[Proposal]:
    out: list[Proposal] = []
    words = header_words(p.header)

    def add(contract: Contract, name: str | None, confidence: float, reason: str) -> None:
        if name:
            out.append(Proposal(contract.name, name, {"column": p.header}, reason, round(confidence, 2)))

    for contract in contracts:
        geo = _geocode(contract)
        if p.kind in ("date", "datetime"):
            date = next((f.name for f in contract.fields if f.type == "date" and not f.derived), None)
            add(contract, date, 0.5 + 0.3 * p.date_share, f"{p.date_share:.0%} of its values read as dates")
        elif p.is_coordinate and geo:
            by_words = bool(words & (LAT_WORDS | LON_WORDS))
            target = geo[1] if p.kind == "coordinate-latitude" else geo[2]
            how = "named so by the header" if by_words else "in the range only this coordinate reaches"
            add(contract, target, 0.85 if by_words else 0.7, f"numbers inside Syria's ranges, {how}")
        elif p.kind == "identifier" and len(contract.primary_key) == 1:
            hinted = bool(words & ID_WORDS)
            add(contract, contract.primary_key[0], 0.7 if hinted else 0.6,
                "unique, short values without spaces" + (", and an identifier word in the header" if hinted else ""))
        elif p.kind == "url":
            for f in contract.fields:
                if str(f.constraints.get("pattern", "")).startswith("^https?"):
                    add(contract, f.name, 0.9 if words & URL_WORDS else 0.8, "web addresses")
        elif p.long_text:
            add(contract, _text_field(contract), 0.6, f"free text, {p.mean_length:.0f} characters on average")
        if geo and p.kind in ("categorical", "text") and not p.long_text:
            ranks = [PLACE_WORDS[w] for w in words if w in PLACE_WORDS]
            if ranks:
                add(contract, geo[0], COMPOSED, "a place word in the header")
            elif place_share >= 0.5:
                add(contract, geo[0], 0.4 + 0.5 * place_share, f"the gazetteer knows {place_share:.0%} of its distinct values")
    return out


def _place_rank(p: ColumnProfile) -> tuple[int, int]:
    ranks = [PLACE_WORDS[w] for w in header_words(p.header) if w in PLACE_WORDS]
    return (min(ranks) if ranks else 1, -p.distinct)


def _assign(contract: Contract, candidates: list[Proposal], drafted: dict[str, DraftRecord],
            profiles: dict[str, ColumnProfile]) -> dict[str, Proposal]:
    """The best column for each field, each column used once per record; foreign keys first, a place
    composed of every place column (finest first)."""
    fields: dict[str, Proposal] = {}
    for fk in contract.foreign_keys:
        target = drafted.get(fk.resource)
        for name, ref in zip(fk.fields, fk.reference_fields):
            if target and ref in target.fields:
                fields[name] = replace(target.fields[ref], record_type=contract.name, field=name,
                                       reason=f"the column of {fk.resource}.{ref}, which this field refers to")
    foreign = {c for p in fields.values() for c in p.columns}
    used = set(foreign)
    position = {header: i for i, header in enumerate(profiles)}
    ranked = sorted(candidates, key=lambda c: (-c.confidence, profiles[c.spec["column"]].empty, position[c.spec["column"]]))
    for proposal in ranked:
        if proposal.field not in fields and proposal.spec["column"] not in used:
            fields[proposal.field] = proposal
            used.add(proposal.spec["column"])
    key = contract.primary_key[0] if len(contract.primary_key) == 1 else None
    reusable = [c for c in sorted(foreign) if profiles[c].unique]
    if key and key not in fields and reusable:
        fields[key] = Proposal(contract.name, key, {"column": reusable[0]},
                               "one record per row: the unique column it refers to stands for it too", 0.6)
    geo = _geocode(contract)
    if geo and geo[0] in fields:
        elsewhere = {c for name, p in fields.items() if name != geo[0] for c in p.columns}
        named = dict.fromkeys(c.spec["column"] for c in ranked if c.field == geo[0] and c.confidence >= 0.6)
        places = [profiles[h] for h in named if h not in elsewhere]
        if len(places) > 1:
            columns = [p.header for p in sorted(places, key=_place_rank)[:3]]
            fields[geo[0]] = Proposal(contract.name, geo[0], {"columns": columns, "separator": ", "},
                                      "place columns joined, finest first, as the gazetteer reads \"quarter, town, governorate\"",
                                      max(c.confidence for c in ranked if c.field == geo[0]))
    return {name: fields[name] for name in contract.field_names if name in fields}


def _finished(proposal: Proposal, fld: Field, p: ColumnProfile, contracts: ContractSet) -> Proposal:
    """A date field reading ISO dates gets their format; a vocabulary field gets a value map: every
    distinct value (or list part) of the column with its rows and the code the vocabulary gives it."""
    if fld.type == "date" and p.iso_dates:
        return replace(proposal, spec={**proposal.spec, "formats": ["%Y-%m-%d"]})
    if not fld.vocabulary:
        return proposal
    vocabulary = contracts.vocabulary(fld.vocabulary)
    sep = list_separator(p, vocabulary) if fld.is_list else None
    rows: dict[str, int] = {}
    spelling: dict[str, tuple[int, str]] = {}
    for value, n in p.values:
        for part in dict.fromkeys(x.strip() for x in (value.split(sep) if sep else [value])):
            key = text_key(part)
            if part and key not in MARKER_KEYS:
                rows[key] = rows.get(key, 0) + n
                spelling[key] = max(spelling.get(key, (0, part)), (n, part), key=lambda t: (t[0], -len(t[1])))
    entries = sorted((MapEntry(spelling[k][1], n, vocabulary.code_for(k)) for k, n in rows.items()),
                     key=lambda e: (-e.rows, e.value))
    # values without a code stay out of the map (the YAML lists them as comments) so that validation reports them
    spec = {**proposal.spec, **({"split": sep} if sep else {}),
            "map": {e.value: e.code for e in entries[:MAP_ENTRIES] if e.code is not None}}
    more = max(len(entries) - MAP_ENTRIES, 0) + (p.distinct - len(p.values))
    return replace(proposal, spec=spec, entries=tuple(entries[:MAP_ENTRIES]), vocabulary=fld.vocabulary,
                   codes=tuple(vocabulary.codes), more_values=more)


def _constants(contract: Contract, fields: dict[str, Proposal], profiles: dict[str, ColumnProfile],
               contracts: ContractSet) -> dict[str, Proposal]:
    """Constants the file suggests: the kind of media its addresses point to, the language of its text."""
    out = {}
    used = [profiles[c] for p in fields.values() for c in p.columns]
    for fld in contract.fields:
        if fld.name in fields:
            continue
        if fld.required and fld.vocabulary:
            for profile in (u for u in used if u.media):
                kind, share = max(profile.media, key=lambda m: m[1])
                code = contracts.vocabulary(fld.vocabulary).code_for(kind)
                if share >= 0.9 and code:
                    out[fld.name] = Proposal(contract.name, fld.name, {"constant": code},
                                             f"{share:.0%} of the addresses in {profile.header} point to a {kind}", 0.5)
                    break
        elif fld.name == LANGUAGE_FIELD and _text_field(contract) in fields:
            text = profiles[fields[_text_field(contract)].columns[0]]
            arabic = text.arabic_share >= 0.9 and text.latin_share < 0.5
            latin = text.latin_share >= 0.9 and text.arabic_share < 0.1
            if arabic or latin:
                out[fld.name] = Proposal(contract.name, fld.name, {"constant": "ar" if arabic else "en"},
                                         f"{text.header} is in {'Arabic' if arabic else 'Latin script (English assumed)'}", 0.5)
    return out


def _drafted_types(contracts: ContractSet, candidates: list[Proposal]) -> list[str]:
    """Record types with their evidence (RECORD_EVIDENCE), or whose required fields the headers all name."""
    found = {(c.record_type, c.field) for c in candidates}
    by_header = {(c.record_type, c.field) for c in candidates if c.confidence >= HEADER}
    types = []
    for contract in contracts:
        groups = RECORD_EVIDENCE.get(contract.name)
        required = [f.name for f in contract.fields if f.required and not f.derived]
        if groups and all(any((contract.name, f) in found for f in group) for group in groups):
            types.append(contract.name)
        elif not groups and required and all((contract.name, f) in by_header for f in required):
            types.append(contract.name)
    score = {t: sum(c.confidence for c in candidates if c.record_type == t) for t in {c.record_type for c in candidates}}
    return types or sorted(score, key=lambda t: (-score[t], t))[:1]


def _record_reason(record_type: str, fields: dict[str, Proposal]) -> str:
    evidence = [f for group in RECORD_EVIDENCE.get(record_type, ()) for f in group if f in fields]
    if not evidence:
        return "its headers name its required fields" if fields else "no column fits it: check the whole record"
    return "the file has " + "; ".join(f"{f} ({', '.join(fields[f].columns)})" for f in evidence)


def _records(contracts: ContractSet, candidates: list[Proposal], profiles: dict[str, ColumnProfile]) -> dict[str, DraftRecord]:
    records: dict[str, DraftRecord] = {}
    for record_type in _drafted_types(contracts, candidates):
        contract = contracts.contract(record_type)
        fields = _assign(contract, [c for c in candidates if c.record_type == record_type], records, profiles)
        fields = {n: _finished(p, contract.field(n), profiles[p.columns[0]], contracts) if "column" in p.spec else p
                  for n, p in fields.items()}
        fields.update(_constants(contract, fields, profiles, contracts))
        fields = {n: fields[n] for n in contract.field_names if n in fields}
        present = [fields[f].spec["column"] for f in RECORD_PRESENCE.get(record_type, ())
                   if f in fields and "column" in fields[f].spec]
        when = present[0] if records and present and profiles[present[0]].empty else None
        unfilled = tuple(f for f in contract.fields if f.required and not f.derived and f.name not in fields)
        records[record_type] = DraftRecord(record_type, _record_reason(record_type, fields), fields, unfilled, when)
    return records


def draft_mapping(path: Path, *, contracts: ContractSet, gazetteer: Gazetteer | None = None, sheet: str | None = None,
                  sample_rows: int = 50_000) -> Draft:
    """Propose a format mapping for an NGO export (CSV or XLSX; one sheet, the first by default).

    Reads at most ``sample_rows`` rows. Place names are looked up in ``gazetteer`` (default: the
    built-in one). Nothing is written: save the text of :meth:`Draft.to_yaml` where you want it.
    """
    table = read_table(Path(path), sheet=sheet, sample_rows=sample_rows)
    months = months_from(contracts.vocabulary("months"))
    profiles = profile_table(table, months=months, boolean=contracts.vocabularies.get("boolean"))
    by_header: dict[str, ColumnProfile] = {}
    for p in profiles:
        by_header.setdefault(p.header, p)  # a repeated header reads its first column, as the import does
    shares = place_shares(profiles, gazetteer or builtin())
    candidates = [c for p in by_header.values() for c in (
        *_header_proposals(p, contracts), *_content_proposals(p, contracts, shares.get(p.header, 0.0)),
        *_vocabulary_proposals(p, contracts))]
    records = _records(contracts, candidates, by_header)
    alternatives: dict[str, list[Proposal]] = {}
    for c in candidates:
        taken = records[c.record_type].fields.get(c.field) if c.record_type in records else None
        if c.record_type in records and not (taken and c.spec["column"] in taken.columns):
            alternatives.setdefault(c.spec["column"], []).append(c)
    missing: dict[str, dict[str, int]] = {}
    for p in profiles:
        for marker, rows in p.markers:
            missing.setdefault(marker, {})[p.header] = rows
    dated = dict.fromkeys(c for r in records.values() for f, p in r.fields.items()
                          if contracts.contract(r.type).field(f).type == "date" for c in p.columns)
    order, order_note = date_order([by_header[c] for c in dated])
    coordinates, coordinates_note = _coordinates(records.values(), contracts, table, by_header)
    samples = screened_samples(profiles, load_patterns(contracts.path / "pii_patterns.yaml"))
    return Draft(table=table, profiles=tuple(profiles), records=tuple(records.values()),
                 alternatives={h: tuple(sorted(a, key=lambda c: -c.confidence)) for h, a in alternatives.items()},
                 missing_values=missing, contract_version=contracts.version, samples=samples, date_order=order,
                 date_order_note=order_note, coordinates=coordinates, coordinates_note=coordinates_note)


def _coordinates(records: Iterable[DraftRecord], contracts: ContractSet, table: Table,
                 profiles: dict[str, ColumnProfile]) -> tuple[dict[str, str] | None, str]:
    for record in records:
        geo = _geocode(contracts.contract(record.type))
        if not geo or geo[1] not in record.fields or geo[2] not in record.fields:
            continue
        lat, lon = record.fields[geo[1]].spec.get("column"), record.fields[geo[2]].spec.get("column")
        if not lat or not lon:
            continue
        pairs, turned = swapped_pairs(table.frame, profiles[lat].column, profiles[lon].column)
        coordinates = {"latitude": lat, "longitude": lon, "swapped": "report"}
        if pairs and turned > pairs / 2:
            return coordinates, (f"the two columns look swapped: {turned} of {pairs} pairs fall outside Syria as given "
                                 "and inside when swapped; every such row is reported (swapped: fix would put them right)")
        return coordinates, f"{turned} of {pairs} pairs look swapped; such rows are reported"
    return None, ""


_YAML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _scalar(value: str | list | None) -> str:
    """A value in YAML flow style: JSON's null, lists and strings are YAML too (strings double-quoted)."""
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[a-z][a-z0-9_]*", name) and name not in _YAML_WORDS else _scalar(name)


def _flow(spec: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{_key(k)}: {_scalar(v)}" for k, v in spec.items()) + "}"


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _note(text: str) -> str:
    return "  # " + " ".join(text.split()) if text else ""


def _field_lines(name: str, p: Proposal) -> list[str]:
    note = f"{p.confidence:.2f}: {p.reason}"
    if not p.entries:
        return [f"      {_key(name)}: {_flow(p.spec)}{_note(note)}"]
    lines = [f"      {_key(name)}:{_note(note)}"]
    lines += [f"        {_key(k)}: {_scalar(v)}" for k, v in p.spec.items() if k != "map"]
    lines.append(f"        map:{_note('every value with its rows; the codes the vocabulary knows are filled in')}")
    for e in p.entries:
        if e.code is None:
            # left out of the map (commented), so that validation reports the value until someone picks a code;
            # a null target would drop it
            choose = f"{_rows(e.rows)}; choose a code from {p.vocabulary}: {', '.join(p.codes)}"
            lines.append(f"          # {_scalar(e.value)}: \"<code>\"{_note(choose)}")
        else:
            lines.append(f"          {_scalar(e.value)}: {_scalar(e.code)}{_note(_rows(e.rows))}")
    if p.more_values:
        lines.append(f"          # {p.more_values} more values not listed: add those that need a code")
    return lines


def _render(draft: Draft) -> list[str]:
    t = draft.table
    read = f"{t.frame.height} rows" + (" (the first ones only)" if t.truncated else " (the whole file)")
    how = f"encoding {t.encoding}, delimiter {_scalar(t.delimiter)}, headers on line {t.header_line}" if t.encoding \
        else f"sheet {_scalar(t.sheet)} of {len(t.sheets)}, headers on row {t.header_line}"
    lines = [
        f"# Draft format mapping for {t.path.name}, proposed from its headers and values by workbench.",
        "# Check every proposal against the file and what the NGO says about it: each comment gives a",
        "# confidence from 0 to 1 and the reason. Columns the draft could not place are listed at the end.",
        "# Values no code was found for are commented out in their map: give them a code. A null target drops a value.",
        "#",
        f"# file: {t.path.name}, sha256 {t.sha256}",
        f"# read as: {how}; {read}",
    ]
    if t.encoding_note:
        lines.append(f"# encoding: {t.encoding_note}")
    if t.header_line > 1:
        lines.append(f"# the headers are on line {t.header_line}, but the import reads them from the first line:"
                     " remove the lines above them")
    if len(t.sheets) > 1:
        lines.append(f"# other sheets, each needing a mapping of its own: {', '.join(s for s in t.sheets if s != t.sheet)}")
    repeated = [_scalar(h) for h in dict.fromkeys(t.headers) if t.headers.count(h) > 1]
    if repeated:
        lines.append(f"# repeated headers, of which the import reads only the first column: {', '.join(repeated)}")
    doc = draft.document()
    source = doc["source"]
    lines += [
        f"name: {_scalar(doc['name'])}{_note('lower case letters, digits, - and _: name the NGO and the export')}",
        f"version: {_scalar(doc['version'])}",
        f"title: {_scalar(doc['title'])}",
        f"description: {_scalar(doc['description'])}{_note('say what one row is and what each record holds')}",
        f"contract_version: {_scalar(doc['contract_version'])}",
        "source:",
        f"  files: {_scalar(source['files'])}{_note('this file and later deliveries named like it')}",
    ]
    if "sheet" in source:
        lines.append(f"  sheet: {_scalar(source['sheet'])}")
    if "missing_values" in source:
        seen = "; ".join(f"{_scalar(m)} in {', '.join(cols)} ({_rows(sum(cols.values()))})"
                         for m, cols in sorted(draft.missing_values.items()))
        lines.append(f"  missing_values: {_scalar(source['missing_values'])}{_note('seen: ' + seen)}")
    if "date_order" in source:
        lines.append(f"  date_order: {source['date_order']}{_note(draft.date_order_note)}")
    if "coordinates" in source:
        lines.append(f"  coordinates: {_flow(source['coordinates'])}{_note(draft.coordinates_note)}")
    lines.append("records:")
    for record in draft.records:
        lines += [f"  # {record.type}: {record.reason}", f"  - type: {_scalar(record.type)}"]
        if record.when:
            why = f"a row without {record.when} yields no {record.type} record"
            lines.append(f"    when: {_scalar(record.when)}{_note(why)}")
        lines.append("    fields:")
        for name, p in record.fields.items():
            lines += _field_lines(name, p)
        for fld in record.unfilled:
            constant = f", or give every row one code of {fld.vocabulary}: {{constant: ...}}" if fld.vocabulary else ""
            lines.append(f"      # {fld.name} (required): {' '.join(fld.description.split())} No column fits it:"
                         f" map one, {fld.name}: {{column: ...}}{constant}")
    lines += ["", "# Columns of the file, what they hold, and where the draft puts them:"]
    targets = draft.targets
    for p in draft.profiles:
        where = ", ".join(targets.get(p.header, []))
        samples = draft.samples.get(p.header)
        shown = f"; e.g. {', '.join(_scalar(x) for x in samples)}" if samples else "; samples withheld" if samples is None else ""
        lines.append(f"#   {_scalar(p.header)}: {p.kind}, {p.empty_share:.0%} empty, {p.distinct} distinct"
                     f" -> {where or 'nothing' + shown}")
        for alt in draft.alternatives.get(p.header, ())[:3]:
            lines.append(f"#       could also be {alt.record_type}.{alt.field} ({alt.confidence:.2f}: {alt.reason})")
    return lines
