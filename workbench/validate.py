"""Validation compiled to DuckDB SQL: one query per file checks every row against its contract.

The queries are built as named steps (``cells`` -> ``typed`` -> ``checked`` -> ``problems``) that can
be printed and tested. :func:`compile_validation` gives each row's list of problems
(``field, rule, severity, message``); a row with an ``error`` goes to quarantine, the others to
the record table with the values of :func:`compile_values` (the same ``cells`` and ``typed``
steps). Nothing here knows a record type: it reads the contract's fields.

Keys are checked apart (:func:`compile_key_problems`: duplicates, keys of earlier files, references),
since they depend on what the ingest has stored so far: the ingest checks every row first, outside
its transaction, then checks the keys inside it, on the key columns alone, and appends the problems
of the few rows concerned (:func:`with_key_problems`). Speed matters (a million rows should load in
seconds): cells are trimmed only when a blank is at one of their ends, a row's list of problems is
built only when some check holds, and the values go straight into the record table.

Messages never echo free text; where they quote a short value (a category label, a date as
written) that value has gone through the personal-data mask first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field
from datetime import date
from typing import Sequence

from workbench.contracts import Contract, Field, ForeignKey, text_key
from workbench.normalise.pii import PiiPattern, detection_sql, digits_to_ascii_sql, masking_sql
from workbench.sql import quote_ident, sql_literal
from workbench.store import duckdb_type

ERROR, WARNING, INFO = "error", "warning", "info"
#: First characters that make a spreadsheet run a cell as a formula.
_FORMULA_START = "=+-@\t\r"
#: A pseudonym that holds spaces or Arabic letters is almost certainly a name.
_NAME_LIKE = "[\\s\\x{0600}-\\x{06FF}]"
#: Coordinates further than this from the named place are reported.
FAR_FROM_PLACE_KM = 50
_KIND_WORDS = {"phone": "a telephone number", "email": "an e-mail address", "national_id": "an identity number",
               "passport": "a passport number", "person_name": "a personal name"}
_GEO_COLUMNS = ("place_id", "level", "lat", "lon", "admin1_pcode", "admin2_pcode", "admin3_pcode", "candidates")
#: Characters taken off both ends of every cell; DuckDB's trim() and Python's str.strip() agree on them.
BLANKS = " \t\n\r\u00a0\ufeff"


def trimmed_cell_sql(column_sql: str) -> str:
    """SQL: a cell without the :data:`BLANKS` around it, NULL when nothing is left.

    trim() with a list of characters costs several times more than a look at both ends of the
    text, and few cells have a blank there, so only those are trimmed.

    >>> import duckdb
    >>> duckdb.sql(f"SELECT {trimmed_cell_sql(sql_literal(' Douma' + chr(160)))}").fetchone()[0]
    'Douma'
    """
    # list_contains, not IN: DuckDB plans an IN list as a join, one per cell column
    codes = ", ".join(str(ord(c)) for c in BLANKS)
    at_an_end = " OR ".join([f"list_contains([{codes}], ascii({column_sql}))", *(f"ends_with({column_sql}, chr({ord(c)}))" for c in BLANKS)])
    chars = " || ".join(f"chr({ord(c)})" for c in BLANKS)
    return f"nullif(CASE WHEN {at_an_end} THEN trim({column_sql}, {chars}) ELSE {column_sql} END, '')"


def trim_blanks(text: str) -> str:
    """A cell as :func:`trimmed_cell_sql` reads it, in Python (empty rather than NULL)."""
    return text.strip(BLANKS)


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


def header_matches(layout: Layout) -> list[tuple[str, str | None, str]]:
    """How each header of a file was matched: (header, field or None, how).

    ``how`` is ``name`` (the contract's field name), ``title``, ``alias``, ``duplicate`` (a second
    column for a field already matched) or ``unknown``; a file read through a mapping has
    ``mapping`` or ``unused`` instead. Feedback to the NGO builds on it.
    """
    duplicates = set(layout.duplicates)
    matches: list[tuple[str, str | None, str]] = []
    for header in layout.headers:
        name = layout.contract.field_for_header(header) if header and header.strip() else None
        if name is None:
            matches.append((header, None, "unknown"))
        elif (header, name) in duplicates:
            matches.append((header, name, "duplicate"))
        else:
            spec = layout.contract.field(name)
            key = text_key(header)
            how = "name" if key == text_key(spec.name) else "title" if spec.title and key == text_key(spec.title) else "alias"
            matches.append((header, name, how))
    return matches


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
    patterns: tuple[PiiPattern, ...]
    today: date
    package_files_table: str | None = None  # path, sha256 of every file in the package


@dataclass(frozen=True)
class KeyContext:
    """What the key checks need: the rows :func:`compile_validation` checked, and what is stored."""

    checked_table: str  # the rows as compile_validation returns them
    key_tables: dict[int, str]  # foreign-key index -> table of valid target keys (column "key")
    existing_keys_table: str | None  # keys of this record type already accepted in this submission
    patterns: tuple[PiiPattern, ...]


@dataclass(frozen=True)
class _Check:
    """A problem a row may have: the condition (over the ``typed`` step) and the problem it makes."""

    cond: str
    problem: str  # SQL struct: field, rule, severity, message, blocking


def _problem(cond: str, field: str | None, rule: str, severity: str, message_sql: str, *, blocking: bool | None = None) -> _Check:
    """A problem a row may have. ``blocking`` problems send the row to quarantine: by default the errors,
    but not personal data that was found and masked (the stored copy is then safe to keep)."""
    f = sql_literal(field) if field else "NULL::VARCHAR"
    blocks = "true" if (severity == ERROR if blocking is None else blocking) else "false"
    return _Check(
        cond,
        f"struct_pack(field := {f}, rule := {sql_literal(rule)}, severity := {sql_literal(severity)}, "
        f"message := {message_sql}, blocking := {blocks})",
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
        for f in self.layout.fields:
            parts.append(f"{trimmed_cell_sql(self.q(self.layout.columns[f.name]))} AS {self.q(f.name)}")
        return f"SELECT {', '.join(parts)} FROM {self.q(self.ctx.raw_table)}"

    # -- step 2: typed values -------------------------------------------------------------
    def typed(self, masked_rows: str | None = None) -> str:
        """Typed values. With ``masked_rows`` (the rows whose screened text the mask changes, from the
        checks), the mask is applied to those rows only: the others' text is stored as it is."""
        select, joins = ["c.*"], []
        if masked_rows is not None:
            joins.append(f"LEFT JOIN ({masked_rows}) masked ON masked.__row = c.__row")
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
            elif f.screen and masked_rows is not None:
                select.append(f"CASE WHEN masked.__row IS NULL THEN {cell} ELSE {masking_sql(cell, self.ctx.patterns)} END AS {self.q('v_' + name)}")
            elif f.screen:
                masked = masking_sql(cell, self.ctx.patterns)
                select += [
                    f"{masked} AS {self.q('v_' + name)}",
                    f"{detection_sql(cell, self.ctx.patterns)} AS {self.q('pii_' + name)}",
                    f"{masked} IS DISTINCT FROM {cell} AS {self.q('masks_' + name)}",
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
    def checks(self) -> list[_Check]:
        """Every check but the keys', in the order the problems of a row are listed."""
        checks = [
            _problem("__bad_encoding", None, "encoding", ERROR,
                     _msg("the row holds bytes that are not valid in the file's encoding (mixed encodings?)"))
        ]
        for f in self.layout.fields:
            checks += self._field_problems(f)
        for f in self.contract.fields:
            g = f.geocode
            if g and (g["lat"] in self.layout.columns or g["lon"] in self.layout.columns):
                lat, lon = (f"t.{self.q('v_' + g[k])}" if g[k] in self.layout.columns else "NULL" for k in ("lat", "lon"))
                checks.append(_problem(f"({lat} IS NULL) <> ({lon} IS NULL)", g["lat"], "geo.incomplete", ERROR,
                                       _msg("only one of latitude and longitude is given")))
        return checks

    def checked(self, checks: Sequence[_Check]) -> str:
        """Typed values and one boolean per check (``__check_<n>``)."""
        return f"SELECT t.*{''.join(f', {c.cond} AS __check_{n}' for n, c in enumerate(checks))} FROM typed t"

    def problems(self, checks: Sequence[_Check]) -> str:
        """The list of problems of each row; built only where a check holds, since most rows have none."""
        any_check = " OR ".join(f"t.__check_{n}" for n in range(len(checks)))
        listed = ", ".join(f"CASE WHEN t.__check_{n} THEN {c.problem} END" for n, c in enumerate(checks))
        return (
            f"SELECT t.*, CASE WHEN {any_check} THEN list_filter([{listed}], p -> p IS NOT NULL) ELSE [] END AS __problems "
            "FROM checked t"
        )

    def _field_problems(self, f: Field) -> list[_Check]:
        q, name, cons = self.q, f.name, f.constraints
        cell, value = f"t.{q(name)}", f"t.{q('v_' + name)}"
        out: list[_Check] = []
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
                starts = f"list_contains([{', '.join(str(ord(c)) for c in _FORMULA_START)}], ascii({text}))"  # cheaper than a regex
                out.append(_problem(starts, name, "formula_like", WARNING,
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

    def _package_file_problems(self, f: Field) -> list[_Check]:
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

    def _geo_problems(self, f: Field) -> list[_Check]:
        q, g, name = self.q, f.geocode, f.name
        lat, lon = (f"t.{q('v_' + g[k])}" if g[k] in self.layout.columns else "NULL" for k in ("lat", "lon"))
        out: list[_Check] = []
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

    # -- step 4: final values -------------------------------------------------------------
    def values(self) -> dict[str, str]:
        """Field name -> its value as stored, over the typed step (derived fields filled in)."""
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
        for f in self.contract.fields:
            if not f.geocode:
                continue
            # precision is derived whenever the contract geocodes, even from coordinates alone
            g, looked_up = f.geocode, f.name in self.layout.columns and f.name in self.ctx.lookups

            def geo(col: str, name: str = f.name) -> str:
                return f"t.{q(f'g_{name}_{col}')}"

            has_point = f"({values[g['lat']]} IS NOT NULL AND {values[g['lon']]} IS NOT NULL)"
            from_place = f"WHEN {geo('level')} IS NOT NULL THEN {geo('level')} " if looked_up else ""
            values[g["precision"]] = f"coalesce({values[g['precision']]}, CASE WHEN {has_point} THEN 'point' {from_place}ELSE 'unknown' END)"
            if looked_up:
                values[g["place_id"]] = f"coalesce({values[g['place_id']]}, {geo('place_id')})"
                values[g["lat"]] = f"coalesce({values[g['lat']]}, {geo('lat')})"
                values[g["lon"]] = f"coalesce({values[g['lon']]}, {geo('lon')})"
                for level in ("admin1", "admin2", "admin3"):
                    if g.get(level):
                        values[g[level]] = f"coalesce({values[g[level]]}, {geo(level + '_pcode')})"
        return values

    def status(self) -> str:
        """The last step of the checks: problems, primary key and the keys the key checks need."""
        values = self.values()
        primary_key = "".join(f", {values[k]} AS {self.q(k)}" for k in self.contract.primary_key)
        keys = "".join(f", {_key_expr(c, 't')} AS __key_{i}" for i, c, _ in _keyed(self.layout))
        keys += "".join(f", {_key_expr(list(fk.fields), 't')} AS __reference_{i}" for i, fk in _references(self.layout))
        has_error = "len(list_filter(t.__problems, p -> p.blocking)) > 0"
        masks = " OR ".join(f"t.{self.q('masks_' + f.name)}" for f in self.layout.fields if f.screen) or "false"
        return (f"SELECT t.__row, t.__problems, {has_error} AS __has_error, ({masks}) AS __masked_text{primary_key}{keys} "
                "FROM problems t")

    def query(self, steps: dict[str, str], last: str) -> str:
        ctes = ",\n".join(f"{name} AS (\n{sql}\n)" for name, sql in steps.items())
        return f"WITH {ctes}\n{last}"

    def checks_query(self) -> str:
        checks = self.checks()
        steps = {"cells": self.cells(), "typed": self.typed(), "checked": self.checked(checks), "problems": self.problems(checks)}
        return self.query(steps, self.status())

    def values_query(self, checked_table: str) -> str:
        values = ", ".join(f"{expr} AS {self.q(name)}" for name, expr in self.values().items())
        masked_rows = f"SELECT __row FROM {self.q(checked_table)} WHERE __masked_text"
        return self.query({"cells": self.cells(), "typed": self.typed(masked_rows)}, f"SELECT t.__row, {values} FROM typed t")


def _sql_type(f: Field) -> str:
    return duckdb_type(f)


def compile_validation(layout: Layout, ctx: Context) -> str:
    """The SELECT that checks every row of one raw table, keys apart (see the module docstring):
    ``__row``, ``__problems``, ``__has_error``, ``__masked_text`` (the personal-data mask changes
    some text of the row), the primary key fields, and the keys to check."""
    return _Compiler(layout, ctx).checks_query()


def compile_values(layout: Layout, ctx: Context, checked_table: str) -> str:
    """The SELECT of every row's values as the record table stores them (``__row`` and every field);
    ``checked_table`` holds what :func:`compile_validation` returned for the same rows.

    Apart from the checks so that the values, a table's width, go straight into the record table
    rather than into a temporary table first (time, and memory); the checks tell which rows need
    the mask, the costliest part (most texts hold no personal data and no Arabic-Indic digits)."""
    return _Compiler(layout, ctx).values_query(checked_table)


# -- keys ------------------------------------------------------------------------------------
def _keyed(layout: Layout) -> list[tuple[int, list[str], str]]:
    """(index, fields, label) of the primary key and of the unique fields, those the file has."""
    contract = layout.contract
    keyed = [(list(contract.primary_key), "primary key")] + [
        ([f.name], f.title) for f in contract.fields if f.unique and [f.name] != list(contract.primary_key)
    ]
    return [(i, cols, label) for i, (cols, label) in enumerate(keyed) if all(c in layout.columns for c in cols)]


def _references(layout: Layout) -> list[tuple[int, ForeignKey]]:
    """(index, foreign key) of the references the file has."""
    return [(i, fk) for i, fk in enumerate(layout.contract.foreign_keys) if all(c in layout.columns for c in fk.fields)]


def _key_expr(cols: list[str], alias: str) -> str:
    parts = [f"CAST({alias}.{quote_ident('v_' + c)} AS VARCHAR)" for c in cols]
    return parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts)})"


def compile_key_problems(layout: Layout, ctx: KeyContext) -> str | None:
    """The SELECT of the checked rows whose key repeats an earlier row or an earlier file's, or whose
    reference finds no record: ``__row`` and the list of those problems. None if the file has no key.

    Steps: ``key_firsts`` (each key's first row) -> ``key_found`` (what is wrong, rows with a
    problem only) -> the problems, worded as the other checks' are."""
    q, keyed = quote_ident, _keyed(layout)
    references = [(i, fk, ctx.key_tables[i]) for i, fk in _references(layout) if i in ctx.key_tables]
    earlier_keys = ctx.existing_keys_table if any(i == 0 for i, _, _ in keyed) else None
    if not keyed and not references:
        return None
    firsts = "".join(f", min(__row) OVER (PARTITION BY __key_{i}) AS __first_{i}" for i, _, _ in keyed)
    select, joins, found, checks = ["k.__row"], [], [], []
    for i, cols, label in keyed:
        duplicate = f"k.__key_{i} IS NOT NULL AND k.__first_{i} < k.__row"
        select.append(f"CASE WHEN {duplicate} THEN k.__first_{i} END AS __duplicate_of_{i}")
        found.append(f"({duplicate})")
        checks.append(_problem(f"t.__duplicate_of_{i} IS NOT NULL", cols[0], "unique", ERROR,
                               _msg(f"duplicate {label} ({', '.join(cols)}): the same value is in row ") + f" || t.__duplicate_of_{i}"))
        if i == 0 and earlier_keys:
            joins.append(f"LEFT JOIN {q(earlier_keys)} earlier ON earlier.key = k.__key_0")
            select += ["earlier.key AS __earlier_key", "earlier.source_file AS __earlier_file", "earlier.source_row AS __earlier_row"]
            found.append("earlier.key IS NOT NULL")
            checks.append(_problem("t.__earlier_key IS NOT NULL", cols[0], "unique", ERROR,
                                   f"{_msg('duplicate primary key: the same value is in ')} || t.__earlier_file || ' row ' || t.__earlier_row"))
    for i, fk, table in references:
        alias, key = q(f"fk_{i}"), f"k.__reference_{i}"
        joins.append(f"LEFT JOIN {q(table)} {alias} ON {alias}.key = {key}")
        missing = f"{key} IS NOT NULL AND {alias}.key IS NULL"
        is_quarantined = (
            f"(SELECT ' refers to a record of {fk.resource} that is quarantined (' || source_file || ' row ' || source_row || ')' "
            f"FROM {q(table + '_quarantined')} qk WHERE qk.key = {key} ORDER BY source_file, source_row LIMIT 1)"
        )
        nowhere = _msg(f" refers to no record of {fk.resource} in this submission or in earlier ones from this NGO")
        message = f"{_msg(', '.join(fk.fields) + ' ')} || {_quoted_value(key, ctx.patterns, 64)} || coalesce({is_quarantined}, {nowhere})"
        select.append(f"CASE WHEN {missing} THEN {message} END AS __missing_reference_{i}")
        found.append(f"({missing})")
        checks.append(_problem(f"t.__missing_reference_{i} IS NOT NULL", fk.fields[0], "reference", ERROR, f"t.__missing_reference_{i}"))
    columns = ", ".join(["__row", *(f"__key_{i}" for i, _, _ in keyed), *(f"__reference_{i}" for i, _, _ in references)])
    listed = ", ".join(f"CASE WHEN {c.cond} THEN {c.problem} END" for c in checks)
    return (
        f"WITH key_firsts AS (\nSELECT {columns}{firsts} FROM {q(ctx.checked_table)}\n),\n"
        f"key_found AS (\nSELECT {', '.join(select)} FROM key_firsts k {' '.join(joins)} WHERE {' OR '.join(found)}\n)\n"
        f"SELECT t.__row, list_filter([{listed}], p -> p IS NOT NULL) AS __problems FROM key_found t"
    )


def with_key_problems(checked_table: str, key_problems_table: str | None) -> str:
    """The SELECT of the checked rows with their key problems appended (the keys' checks come last)."""
    if key_problems_table is None:
        return f"SELECT * FROM {quote_ident(checked_table)}"
    return (
        "SELECT c.* REPLACE (c.__problems || coalesce(k.__problems, []) AS __problems, "
        "c.__has_error OR coalesce(len(list_filter(k.__problems, p -> p.blocking)) > 0, false) AS __has_error) "
        f"FROM {quote_ident(checked_table)} c LEFT JOIN {quote_ident(key_problems_table)} k ON k.__row = c.__row"
    )


def split_words(text: str) -> set[str]:
    """Words of a file name, for recognising record types by ``file_hints``."""
    return {w for w in re.split(r"[^\w]+", text_key(text)) if w}
