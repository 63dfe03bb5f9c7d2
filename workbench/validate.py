"""Validation compiled to DuckDB SQL: one query per file checks every row against its contract.

The query is built as named steps (``cells`` -> ``typed`` -> ``checked`` -> ``final``) that can be
printed and tested. Each row ends with its typed values and a list of problems
(``field, rule, severity, message``); a row with an ``error`` goes to quarantine, the others to
the record table. Nothing here knows a record type: it reads the contract's fields.

Messages never echo free text; where they quote a short value (a category label, a date as
written) that value has gone through the personal-data mask first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field
from datetime import date
from typing import Sequence

from workbench.contracts import Contract, Field, text_key
from workbench.normalise.pii import PiiPattern, detection_sql, digits_to_ascii_sql, masking_sql
from workbench.sql import quote_ident, sql_literal
from workbench.store import duckdb_type

ERROR, WARNING, INFO = "error", "warning", "info"
_FORMULA_START = "^[=+\\-@\\t\\r]"
#: A pseudonym that holds spaces or Arabic letters is almost certainly a name.
_NAME_LIKE = "[\\s\\x{0600}-\\x{06FF}]"
#: Coordinates further than this from the named place are reported.
FAR_FROM_PLACE_KM = 50
_KIND_WORDS = {"phone": "a telephone number", "email": "an e-mail address", "national_id": "an identity number",
               "passport": "a passport number", "person_name": "a personal name"}
_GEO_COLUMNS = ("place_id", "level", "lat", "lon", "admin1_pcode", "admin2_pcode", "admin3_pcode", "candidates")


@dataclass
class Layout:
    """How the columns of one file map onto a contract."""

    contract: Contract
    headers: list[str]
    columns: dict[str, str] = dc_field(default_factory=dict)  # field name -> raw column name
    unknown: list[str] = dc_field(default_factory=list)
    duplicates: list[tuple[str, str]] = dc_field(default_factory=list)  # (header, field)

    @property
    def missing_required(self) -> list[str]:
        return [f.name for f in self.contract.fields if f.required and f.name not in self.columns and not f.derived]

    @property
    def fields(self) -> list[Field]:
        return [f for f in self.contract.fields if f.name in self.columns]


def map_headers(headers: Sequence[str], contract: Contract, raw_columns: Sequence[str]) -> Layout:
    """Match a file's headers to contract fields by name, title and aliases (Arabic included).

    ``raw_columns`` are the names the columns have in the raw table, in the same order.
    """
    layout = Layout(contract=contract, headers=list(headers))
    for header, column in zip(headers, raw_columns):
        name = contract.field_for_header(header) if header and header.strip() else None
        if name is None:
            layout.unknown.append(header)
        elif name in layout.columns:
            layout.duplicates.append((header, name))
        else:
            layout.columns[name] = column
    return layout


def header_score(headers: Sequence[str], contract: Contract) -> float:
    """Share of a file's headers that belong to a contract (used to recognise unnamed files)."""
    usable = [h for h in headers if h and h.strip()]
    if not usable:
        return 0.0
    return sum(contract.field_for_header(h) is not None for h in usable) / len(usable)


@dataclass(frozen=True)
class Context:
    """What the compiled query needs besides the contract."""

    raw_table: str
    raw_columns: tuple[str, ...]  # every column of the raw table but __row, mapped or not
    lookups: dict[str, str]  # field name -> lookup table name (vocabulary, date, place, boolean)
    key_tables: dict[int, str]  # foreign-key index -> table of valid target keys (column "key")
    existing_keys_table: str | None  # keys of this record type already accepted in this submission
    patterns: tuple[PiiPattern, ...]
    today: date
    package_files_table: str | None = None  # path, sha256 of every file in the package


def _problem(cond: str, field: str | None, rule: str, severity: str, message_sql: str, *, blocking: bool | None = None) -> str:
    """A problem a row may have. ``blocking`` problems send the row to quarantine: by default the errors,
    but not personal data that was found and masked (the stored copy is then safe to keep)."""
    f = sql_literal(field) if field else "NULL::VARCHAR"
    blocks = "true" if (severity == ERROR if blocking is None else blocking) else "false"
    return (
        f"CASE WHEN {cond} THEN struct_pack(field := {f}, rule := {sql_literal(rule)}, "
        f"severity := {sql_literal(severity)}, message := {message_sql}, blocking := {blocks}) END"
    )


def _msg(text: str) -> str:
    return sql_literal(text)


def _quoted_value(expr: str, patterns: Sequence[PiiPattern], limit: int = 60) -> str:
    """A short, masked rendering of a value for a message."""
    return f"'\"' || {masking_sql(f'left({expr}, {limit})', patterns)} || '\"'"


class _Compiler:
    def __init__(self, layout: Layout, ctx: Context):
        self.layout, self.ctx = layout, ctx
        self.contract = layout.contract
        self.q = quote_ident

    # -- step 1: trimmed cells ------------------------------------------------------------
    def cells(self) -> str:
        bad_encoding = " OR ".join(f"contains({self.q(c)}, chr(65533))" for c in self.ctx.raw_columns) or "false"
        parts = ["__row", f"({bad_encoding}) AS __bad_encoding"]
        blanks = "' ' || chr(9) || chr(10) || chr(13) || chr(160) || chr(65279)"
        for f in self.layout.fields:
            col = self.q(self.layout.columns[f.name])
            parts.append(f"nullif(trim({col}, {blanks}), '') AS {self.q(f.name)}")
        return f"SELECT {', '.join(parts)} FROM {self.q(self.ctx.raw_table)}"

    # -- step 2: typed values -------------------------------------------------------------
    def typed(self) -> str:
        select, joins = ["c.*"], []
        for f in self.layout.fields:
            name, cell = f.name, f"c.{self.q(f.name)}"
            lk = self.ctx.lookups.get(name)
            alias = self.q(f"lk_{name}")
            if lk and (f.vocabulary or f.type == "boolean"):
                joins.append(f"LEFT JOIN {self.q(lk)} {alias} ON {alias}.raw = {cell}")
                value = f"{alias}.value"
                if f.type == "boolean":
                    value = f"CAST({alias}.value AS BOOLEAN)"
                select += [f"{value} AS {self.q('v_' + name)}", f"{alias}.misses AS {self.q('miss_' + name)}"]
            elif f.type == "date":
                joins.append(f"LEFT JOIN {self.q(lk)} {alias} ON {alias}.raw = {cell}")
                select += [
                    f"{alias}.start AS {self.q('v_' + name)}",
                    f"{alias}.end AS {self.q('end_' + name)}",
                    f"{alias}.precision AS {self.q('prec_' + name)}",
                    f"{alias}.problem AS {self.q('dprob_' + name)}",
                ]
            elif f.type == "integer":
                digits = digits_to_ascii_sql(f"replace(replace({cell}, ',', ''), ' ', '')")
                select.append(f"TRY_CAST({digits} AS BIGINT) AS {self.q('v_' + name)}")
            elif f.type == "number":
                text = digits_to_ascii_sql(cell)
                decimal = f"CASE WHEN regexp_full_match({text}, '-?[0-9]+,[0-9]+') THEN replace({text}, ',', '.') ELSE {text} END"
                select.append(f"TRY_CAST({decimal} AS DOUBLE) AS {self.q('v_' + name)}")
            elif f.is_list:
                items = f"list_filter(list_transform(string_split({cell}, {sql_literal(f.delimiter)}), x -> nullif(trim(x), '')), x -> x IS NOT NULL)"
                select.append(f"{items} AS {self.q('v_' + name)}")
            elif f.screen:
                select += [
                    f"{masking_sql(cell, self.ctx.patterns)} AS {self.q('v_' + name)}",
                    f"{detection_sql(cell, self.ctx.patterns)} AS {self.q('pii_' + name)}",
                ]
            else:
                select.append(f"{cell} AS {self.q('v_' + name)}")
            if f.package_file and self.ctx.package_files_table:
                sent = self.q("sent_" + name)
                path = f"regexp_replace(replace({cell}, '\\', '/'), '^(\\./)+', '')"
                joins.append(f"LEFT JOIN {self.q(self.ctx.package_files_table)} {sent} ON {sent}.path = {path}")
                select.append(f"{sent}.sha256 AS {self.q('sent_sha256_' + name)}")
            if f.geocode and lk:
                geo = self.q("geo_" + name)
                joins.append(f"LEFT JOIN {self.q(lk)} {geo} ON {geo}.raw = {cell}")
                select += [f"{geo}.{self.q(col)} AS {self.q(f'g_{name}_{col}')}" for col in _GEO_COLUMNS]
        return f"SELECT {', '.join(select)} FROM cells c {' '.join(joins)}"

    # -- step 3: problems -----------------------------------------------------------------
    def checked(self) -> str:
        problems: list[str] = [
            _problem("__bad_encoding", None, "encoding", ERROR,
                     _msg("the row holds bytes that are not valid in the file's encoding (mixed encodings?)"))
        ]
        windows: list[str] = []
        joins: list[str] = []
        for f in self.layout.fields:
            problems += self._field_problems(f)
        for f in self.contract.fields:
            g = f.geocode
            if g and (g["lat"] in self.layout.columns or g["lon"] in self.layout.columns):
                lat, lon = (f"t.{self.q('v_' + g[k])}" if g[k] in self.layout.columns else "NULL" for k in ("lat", "lon"))
                problems.append(_problem(f"({lat} IS NULL) <> ({lon} IS NULL)", g["lat"], "geo.incomplete", ERROR,
                                         _msg("only one of latitude and longitude is given")))
        problems += self._key_problems(windows, joins)
        problem_list = f"list_filter([{', '.join(problems)}], p -> p IS NOT NULL)"
        extra = "".join(f", {w}" for w in windows)
        return f"SELECT t.*{extra}, {problem_list} AS __problems FROM typed t {' '.join(joins)}"

    def _field_problems(self, f: Field) -> list[str]:
        q, name, cons = self.q, f.name, f.constraints
        cell, value = f"t.{q(name)}", f"t.{q('v_' + name)}"
        out: list[str] = []
        if f.required:
            out.append(_problem(f"{cell} IS NULL", name, "required", ERROR, _msg(f"{f.title} is required but empty")))
        if f.vocabulary or f.type == "boolean":
            vocab = f.vocabulary or "boolean"
            miss = f"t.{q('miss_' + name)}"
            shown = f"array_to_string(list_transform({miss}[1:3], x -> {_quoted_value('x', self.ctx.patterns)}), ', ')"
            out.append(_problem(f"len({miss}) > 0", name, "vocabulary", ERROR,
                                f"{shown} || {_msg(f' is not in the {vocab} vocabulary (English or Arabic label, synonym or code)')}"))
        elif f.type == "date":
            prob = f"t.{q('dprob_' + name)}"
            out.append(_problem(f"{prob} IS NOT NULL", name, "date", ERROR,
                                f"{_quoted_value(cell, self.ctx.patterns)} || ' is not a usable date: ' || {prob}"))
            if "minimum" in cons:
                out.append(_problem(f"t.{q('end_' + name)} < DATE {sql_literal(str(cons['minimum']))}", name, "minimum", ERROR,
                                    _msg(f"{f.title} is before {cons['minimum']}, outside the period the mandate covers")))
            if f.not_future:
                out.append(_problem(f"{value} > DATE {sql_literal(self.ctx.today.isoformat())}", name, "not_future", ERROR,
                                    _msg(f"{f.title} is in the future")))
            if f.precision and f.precision.get("end") in self.layout.columns:
                end = f"t.{q('v_' + f.precision['end'])}"
                out.append(_problem(f"{end} < {value}", f.precision["end"], "date_order", ERROR,
                                    _msg(f"ends before it starts ({f.precision['end']} is before {name})")))
        elif f.type in ("integer", "number"):
            kind = "a whole number" if f.type == "integer" else "a number"
            out.append(_problem(f"{cell} IS NOT NULL AND {value} IS NULL", name, f"type.{f.type}", ERROR,
                                f"{_quoted_value(cell, self.ctx.patterns, 30)} || {_msg(f' is not {kind}')}"))
            for key, op, word in (("minimum", "<", "below"), ("maximum", ">", "above")):
                if key in cons:
                    hint = " (outside Syria: are latitude and longitude swapped?)" if self._is_coordinate(f) else ""
                    out.append(_problem(f"{value} {op} {cons[key]}", name, key, ERROR,
                                        _msg(f"{f.title} is {word} the {key} {cons[key]}{hint}")))
        if f.type == "string" or f.is_list:
            text = cell
            if "pattern" in cons and not f.pii:
                out.append(_problem(f"NOT regexp_full_match({text}, {sql_literal(cons['pattern'])})", name, "pattern", ERROR,
                                    _msg(f"{f.title} does not have the expected form ({cons['pattern']})")))
            if "maxLength" in cons:
                limit = int(cons["maxLength"])
                tail = _msg(f" characters long; the contract allows {limit:,}")
                out.append(_problem(f"length({text}) > {limit}", name, "max_length", ERROR,
                                    f"{_msg(f'{f.title} is ')} || format('{{:,}}', length({text})) || {tail}"))
            if "minLength" in cons:
                out.append(_problem(f"length({text}) < {int(cons['minLength'])}", name, "min_length", ERROR,
                                    _msg(f"{f.title} is shorter than {cons['minLength']} characters")))
            if "enum" in cons:
                allowed = ", ".join(sql_literal(str(v)) for v in cons["enum"])
                out.append(_problem(f"{text} NOT IN ({allowed})", name, "enum", ERROR,
                                    _msg(f"{f.title} must be one of {', '.join(map(str, cons['enum']))}")))
            if not f.pii:
                out.append(_problem(f"regexp_matches({text}, {sql_literal(_FORMULA_START)})", name, "formula_like", WARNING,
                                    _msg("starts with a character a spreadsheet would run as a formula (=, +, -, @); stored as text, neutralised in exports")))
        if f.pii == "pseudonym":
            out.append(_problem(f"regexp_matches({cell}, {sql_literal(_NAME_LIKE)})", name, "pii.name_in_pseudonym", ERROR,
                                _msg(f"{f.title} looks like a personal name, not a pseudonym; the value was masked and the row quarantined")))
            if "pattern" in cons:
                out.append(_problem(f"NOT regexp_matches({cell}, {sql_literal(_NAME_LIKE)}) AND NOT regexp_full_match({cell}, {sql_literal(cons['pattern'])})",
                                    name, "pii.pseudonym_format", ERROR,
                                    _msg(f"{f.title} is not in the pseudonym format (letters, digits, - and _, no spaces, 6 or more characters)")))
        if f.screen:
            hits = f"t.{q('pii_' + name)}"
            kinds: dict[str, list[PiiPattern]] = {}
            for p in self.ctx.patterns:
                kinds.setdefault(p.kind, []).append(p)
            for kind, group in kinds.items():
                # one finding per kind of personal data, however many patterns saw it
                for severity in (ERROR, WARNING):
                    names = [sql_literal(p.name) for p in group if p.severity == severity]
                    if not names:
                        continue
                    stronger = [sql_literal(p.name) for p in group if p.severity == ERROR] if severity == WARNING else []
                    cond = f"list_has_any({hits}, [{', '.join(names)}])"
                    if stronger:
                        cond += f" AND NOT list_has_any({hits}, [{', '.join(stronger)}])"
                    out.append(_problem(cond, name, f"pii.{kind}", severity,
                                        _msg(f"{f.title} contains what looks like {_KIND_WORDS.get(kind, kind.replace('_', ' '))}; "
                                             "masked in the stored copy"), blocking=False))
        if f.geocode:
            out += self._geo_problems(f)
        if f.package_file and self.ctx.package_files_table:
            out += self._package_file_problems(f)
        return out

    def _package_file_problems(self, f: Field) -> list[str]:
        q, cell, sent = self.q, f"t.{self.q(f.name)}", f"t.{self.q('sent_sha256_' + f.name)}"
        out = [_problem(f"{cell} IS NOT NULL AND {sent} IS NULL", f.name, "media.not_in_package", WARNING,
                        _msg(f"{f.title} names a file the package does not hold"))]
        claimed = f.package_file.get("sha256")
        if claimed and claimed in self.layout.columns:
            value = f"t.{q('v_' + claimed)}"
            out.append(_problem(f"{sent} IS NOT NULL AND {value} IS NOT NULL AND lower({value}) <> {sent}", claimed,
                                "media.hash_mismatch", ERROR,
                                _msg(f"the SHA-256 of the file named in {f.name} differs from {claimed}: "
                                     "the file was altered after it was hashed, or the wrong file was sent")))
        return out

    def _is_coordinate(self, f: Field) -> bool:
        return any(g and f.name in (g.get("lat"), g.get("lon")) for g in (x.geocode for x in self.contract.fields))

    def _geo_problems(self, f: Field) -> list[str]:
        q, g, name = self.q, f.geocode, f.name
        lat, lon = (f"t.{q('v_' + g[k])}" if g[k] in self.layout.columns else "NULL" for k in ("lat", "lon"))
        out: list[str] = []
        if name not in self.ctx.lookups:
            return out
        cell = f"t.{q(name)}"

        def geo(col: str) -> str:
            return f"t.{q(f'g_{name}_{col}')}"

        distance = (
            f"6371 * 2 * asin(sqrt(pow(sin(radians({lat} - {geo('lat')}) / 2), 2) + cos(radians({lat})) * "
            f"cos(radians({geo('lat')})) * pow(sin(radians({lon} - {geo('lon')}) / 2), 2)))"
        )
        out += [
            _problem(f"{cell} IS NOT NULL AND {geo('place_id')} IS NULL AND coalesce({geo('candidates')}, 0) <= 1",
                     name, "geo.unresolved", WARNING,
                     _msg(f"{f.title} was not found in the gazetteer; give a P-code or coordinates, or a better-known spelling")),
            _problem(f"{cell} IS NOT NULL AND {geo('place_id')} IS NULL AND {geo('candidates')} > 1", name, "geo.ambiguous", WARNING,
                     f"{_msg(f'{f.title} matches ')} || {geo('candidates')} || ' places in different areas; add the district or governorate'"),
            _problem(f"{lat} IS NOT NULL AND {geo('level')} = 'community' AND {distance} > {FAR_FROM_PLACE_KM}",
                     g["lat"], "geo.far_from_place", WARNING,
                     _msg(f"the coordinates are more than {FAR_FROM_PLACE_KM} km from the place named; check both")),
        ]
        return out

    def _key_problems(self, windows: list[str], joins: list[str]) -> list[str]:
        out: list[str] = []
        q = self.q
        keyed = [(list(self.contract.primary_key), "primary key")] + [
            ([f.name], f.title) for f in self.contract.fields if f.unique and [f.name] != list(self.contract.primary_key)
        ]
        for i, (cols, label) in enumerate(keyed):
            if not all(c in self.layout.columns for c in cols):
                continue
            key = self._key_expr(cols, "t")
            windows.append(f"min(__row) OVER (PARTITION BY {key}) AS __first_{i}")
            out.append(_problem(f"{key} IS NOT NULL AND __first_{i} < __row", cols[0], "unique", ERROR,
                                _msg(f"duplicate {label} ({', '.join(cols)}): the same value is in row ") + f" || __first_{i}"))
            if i == 0 and self.ctx.existing_keys_table:
                alias = q("prev_keys")
                joins.append(f"LEFT JOIN {q(self.ctx.existing_keys_table)} {alias} ON {alias}.key = {key}")
                out.append(_problem(f"{alias}.key IS NOT NULL", cols[0], "unique", ERROR,
                                    f"{_msg('duplicate primary key: the same value is in ')} || {alias}.source_file || ' row ' || {alias}.source_row"))
        for i, fk in enumerate(self.contract.foreign_keys):
            table = self.ctx.key_tables.get(i)
            if table is None or not all(c in self.layout.columns for c in fk.fields):
                continue
            key = self._key_expr(list(fk.fields), "t")
            alias = q(f"fk_{i}")
            joins.append(f"LEFT JOIN {q(table)} {alias} ON {alias}.key = {key}")
            where = f"{key} IS NOT NULL AND {alias}.key IS NULL"
            quarantined = q(table + "_quarantined")
            refers = _msg(f"{', '.join(fk.fields)} ")
            is_quarantined = (
                f"(SELECT ' refers to a record of {fk.resource} that is quarantined (' || source_file || ' row ' || source_row || ')' "
                f"FROM {quarantined} qk WHERE qk.key = {key} LIMIT 1)"
            )
            nowhere = _msg(f" refers to no record of {fk.resource} in this submission or in earlier ones from this NGO")
            out.append(_problem(where, fk.fields[0], "reference", ERROR,
                                f"{refers} || {_quoted_value(key, self.ctx.patterns, 64)} || coalesce({is_quarantined}, {nowhere})"))
        return out

    def _key_expr(self, cols: list[str], alias: str) -> str:
        parts = [f"CAST({alias}.{self.q('v_' + c)} AS VARCHAR)" for c in cols]
        return parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts)})"

    # -- step 4: final values -------------------------------------------------------------
    def final(self) -> str:
        q = self.q
        values: dict[str, str] = {}
        for f in self.contract.fields:
            values[f.name] = f"t.{q('v_' + f.name)}" if f.name in self.layout.columns else f"NULL::{_sql_type(f)}"
        for f in self.layout.fields:
            if f.type == "date" and f.precision:
                target_prec, target_end = f.precision["field"], f.precision.get("end")
                values[target_prec] = f"coalesce({values[target_prec]}, t.{q('prec_' + f.name)})"
                if target_end:
                    end_given = f"t.{q('end_' + target_end)}" if target_end in self.layout.columns else "NULL::DATE"
                    values[target_end] = f"coalesce({end_given}, t.{q('end_' + f.name)})"
            if f.geocode and f.name in self.ctx.lookups:
                g = f.geocode

                def geo(col: str, name: str = f.name) -> str:
                    return f"t.{q(f'g_{name}_{col}')}"

                has_point = f"({values[g['lat']]} IS NOT NULL AND {values[g['lon']]} IS NOT NULL)"
                values[g["precision"]] = (
                    f"coalesce({values[g['precision']]}, CASE WHEN {has_point} THEN 'point' "
                    f"WHEN {geo('level')} IS NOT NULL THEN {geo('level')} WHEN t.{q(f.name)} IS NOT NULL THEN 'unknown' END)"
                )
                values[g["place_id"]] = f"coalesce({values[g['place_id']]}, {geo('place_id')})"
                values[g["lat"]] = f"coalesce({values[g['lat']]}, {geo('lat')})"
                values[g["lon"]] = f"coalesce({values[g['lon']]}, {geo('lon')})"
                for level in ("admin1", "admin2", "admin3"):
                    if g.get(level):
                        values[g[level]] = f"coalesce({values[g[level]]}, {geo(level + '_pcode')})"
        cols = ", ".join(f"{expr} AS {q(name)}" for name, expr in values.items())
        has_error = "len(list_filter(t.__problems, p -> p.blocking)) > 0"
        return f"SELECT t.__row, t.__problems, {has_error} AS __has_error, {cols} FROM checked t"

    def query(self) -> str:
        steps = {"cells": self.cells(), "typed": self.typed(), "checked": self.checked()}
        ctes = ",\n".join(f"{name} AS (\n{sql}\n)" for name, sql in steps.items())
        return f"WITH {ctes}\n{self.final()}"


def _sql_type(f: Field) -> str:
    return duckdb_type(f)


def compile_validation(layout: Layout, ctx: Context) -> str:
    """The SELECT that checks and types every row of one raw table (see the module docstring)."""
    return _Compiler(layout, ctx).query()


def split_words(text: str) -> set[str]:
    """Words of a file name, for recognising record types by ``file_hints``."""
    return {w for w in re.split(r"[^\w]+", text_key(text)) if w}
