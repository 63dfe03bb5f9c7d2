"""Personal data in free text, found and masked in DuckDB SQL.

The patterns are data (``data_contracts/pii_patterns.yaml``); this module only checks them and
turns them into SQL expressions the ingest puts in its queries, so a million narratives are
screened inside DuckDB without a Python loop. Regexes are RE2 (DuckDB's engine) and are
inlined as constant string literals, which lets DuckDB compile each one once per query.

Patterns see the text after Arabic-Indic (٠-٩) and Persian (۰-۹) digits became ASCII, so the
masked copy also carries ASCII digits.

>>> import duckdb
>>> pattern = PiiPattern("email", "email", "error", "E-mail address",
...                      r"[a-z]+@[a-z]+\\.org", "[email removed]", PatternExamples(("a@b.org",), ()))
>>> duckdb.sql(f"SELECT {masking_sql(sql_literal('write to a@b.org'), [pattern])}").fetchone()[0]
'write to [email removed]'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import yaml

from workbench.errors import ContractError
from workbench.sql import sql_literal

SEVERITIES = ("error", "warning")
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
_VERSION = re.compile(r"\d+\.\d+\.\d+")
_PATTERN_KEYS = ("name", "kind", "severity", "description", "regex", "mask", "examples")

_NON_ASCII_DIGITS = "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹"
_ASCII_DIGITS = "0123456789" * 2
_NON_ASCII_DIGIT_CLASS = r"[\x{0660}-\x{0669}\x{06F0}-\x{06F9}]"


@dataclass(frozen=True)
class PatternExamples:
    """Made-up texts a pattern must find (``match``) and must not find (``no_match``)."""

    match: tuple[str, ...]
    no_match: tuple[str, ...]


@dataclass(frozen=True)
class PiiPattern:
    """One entry of ``pii_patterns.yaml``; see the comments at the top of that file."""

    name: str
    kind: str
    severity: str
    description: str
    regex: str
    mask: str
    examples: PatternExamples

    @property
    def rule(self) -> str:
        """The rule name findings carry, e.g. ``pii.phone_syria_mobile``."""
        return f"pii.{self.name}"


def _evaluated_once(column_sql: str, build: Callable[[str], str]) -> str:
    """``build(column_sql)``, unless ``column_sql`` holds a ``?`` parameter.

    The expressions here name the text several times, which is fastest for a column: DuckDB
    reads it once. A ``?`` parameter, though, would need one value per mention, so such an
    expression is bound once to a lambda variable (several times slower; fine for one value).
    """
    if "?" not in column_sql:
        return build(column_sql)
    return f"list_transform([{column_sql}], lambda pii_text: {build('pii_text')})[1]"


def digits_to_ascii_sql(column_sql: str) -> str:
    """SQL expression: ``column_sql`` with Arabic-Indic and Persian digits replaced by 0-9.

    >>> duckdb.sql(f"SELECT {digits_to_ascii_sql(sql_literal('١٢/۰٣'))}").fetchone()[0]
    '12/03'
    """
    # translate() costs far more than a regex test, and most texts hold no such digit. The regex
    # test costs more than a look at the length: a text of as many bytes as characters is ASCII.
    return _evaluated_once(
        column_sql,
        lambda text: (
            f"CASE WHEN strlen({text}) <> length({text}) AND regexp_matches({text}, {sql_literal(_NON_ASCII_DIGIT_CLASS)}) "
            f"THEN translate({text}, {sql_literal(_NON_ASCII_DIGITS)}, {sql_literal(_ASCII_DIGITS)}) "
            f"ELSE {text} END"
        ),
    )


def _any_pattern_regex(patterns: Sequence[PiiPattern]) -> str:
    return "|".join(f"(?:{p.regex})" for p in patterns)


def detection_sql(column_sql: str, patterns: Sequence[PiiPattern]) -> str:
    """SQL expression: the list of names of the patterns found in ``column_sql`` (``[]`` if none).

    ``column_sql`` is an expression the caller has already quoted (a column, or ``?``). One
    combined regex screens each text first, so the per-pattern regexes run only on the texts
    with a hit. NULL gives an empty list.
    """
    if not patterns:
        return "[]::VARCHAR[]"

    def build(column: str) -> str:
        text = digits_to_ascii_sql(column)
        cases = ", ".join(
            f"CASE WHEN regexp_matches({text}, {sql_literal(p.regex)}) THEN {sql_literal(p.name)} END"
            for p in patterns
        )
        return (
            f"CASE WHEN regexp_matches({text}, {sql_literal(_any_pattern_regex(patterns))}) "
            f"THEN list_filter([{cases}], lambda name: name IS NOT NULL) ELSE []::VARCHAR[] END"
        )

    return _evaluated_once(column_sql, build)


def masking_sql(column_sql: str, patterns: Sequence[PiiPattern]) -> str:
    """SQL expression: the text (digits made ASCII) with every hit of every pattern masked.

    Patterns apply in the order given (the file order: specific before general). Pass only
    the patterns whose hits should be masked, e.g. those of severity "error".
    """

    def build(column: str) -> str:
        text = digits_to_ascii_sql(column)
        if not patterns:
            return text
        expression = text
        for p in patterns:
            expression = f"regexp_replace({expression}, {sql_literal(p.regex)}, {sql_literal(p.mask)}, 'g')"
        # As in detection_sql: the chain of replacements runs only on texts with a hit.
        any_hit = f"regexp_matches({text}, {sql_literal(_any_pattern_regex(patterns))})"
        return f"CASE WHEN {any_hit} THEN {expression} ELSE {text} END"

    return _evaluated_once(column_sql, build)


def screen_texts(
    con: duckdb.DuckDBPyConnection, texts: Sequence[str | None], patterns: Sequence[PiiPattern]
) -> pl.DataFrame:
    """Screen texts; one row per text in input order: ``text``, ``matched`` (names), ``masked``.

    A convenience for tests and notebooks; the ingest puts :func:`detection_sql` and
    :func:`masking_sql` into its own queries.
    """
    frame = pl.DataFrame({"text": list(texts)}, schema={"text": pl.Utf8}).with_row_index("row")
    relation = con.from_arrow(frame.to_arrow())
    detected, masked = detection_sql('"text"', patterns), masking_sql('"text"', patterns)
    screened = relation.project(f'"row", "text", {detected} AS matched, {masked} AS masked')
    result = screened.order('"row"').project('"text", matched, masked').pl()
    return result.cast({"matched": pl.List(pl.Utf8), "masked": pl.Utf8, "text": pl.Utf8})


# --- loading and checking the pattern file ---------------------------------------------------


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ContractError([f"{path}: cannot be read ({error.strerror})"]) from None
    except yaml.YAMLError as error:
        raise ContractError([f"{path}: not valid YAML ({error})"]) from None


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _pattern_from_entry(entry: Any, where: str, problems: list[str]) -> PiiPattern | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: is not a mapping")
        return None
    found = len(problems)
    for key in _PATTERN_KEYS:
        if key not in entry:
            problems.append(f"{where}: {key} is missing")
        elif key != "examples" and not (isinstance(entry[key], str) and entry[key]):
            problems.append(f"{where}: {key} must be a non-empty string")
    problems.extend(f"{where}: unknown key {key!r}" for key in entry if key not in _PATTERN_KEYS)
    for key in ("name", "kind"):
        if isinstance(entry.get(key), str) and not _IDENTIFIER.fullmatch(entry[key]):
            problems.append(f"{where}: {key} must be lower case letters, digits and _")
    if isinstance(entry.get("severity"), str) and entry["severity"] not in SEVERITIES:
        problems.append(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    examples = entry.get("examples")
    match = _strings(examples.get("match")) if isinstance(examples, dict) else None
    no_match = _strings(examples.get("no_match", [])) if isinstance(examples, dict) else None
    if "examples" in entry and (not match or no_match is None):
        problems.append(f"{where}: examples needs match (a non-empty list of texts), no_match (a list)")
    if isinstance(examples, dict):
        unknown = [key for key in examples if key not in ("match", "no_match")]
        problems.extend(f"{where}: examples has unknown key {key!r}" for key in unknown)
    if len(problems) > found:
        return None
    return PiiPattern(
        name=entry["name"],
        kind=entry["kind"],
        severity=entry["severity"],
        description=entry["description"],
        regex=entry["regex"],
        mask=entry["mask"],
        examples=PatternExamples(match or (), no_match or ()),
    )


def _check_in_duckdb(con: duckdb.DuckDBPyConnection, pattern: PiiPattern, where: str) -> list[str]:
    """Compile the regex, then run the examples through the same SQL the ingest uses."""
    try:
        con.execute("SELECT regexp_matches('', ?)", [pattern.regex])
    except duckdb.Error as error:
        return [f"{where}: regex is not valid RE2 ({str(error).splitlines()[0]})"]
    found = f"regexp_matches({digits_to_ascii_sql('example')}, {sql_literal(pattern.regex)})"
    refound = f"regexp_matches({masking_sql('example', [pattern])}, {sql_literal(pattern.regex)})"
    examples = [*pattern.examples.match, *pattern.examples.no_match]
    rows = con.execute(
        f"SELECT {found}, {refound} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS e(example, position) "
        "ORDER BY position",
        [examples],
    ).fetchall()
    problems = []
    for number, (is_found, is_refound) in enumerate(rows[: len(pattern.examples.match)], start=1):
        if not is_found:
            problems.append(f"{where}: match example {number} is not found")
        elif is_refound:
            problems.append(f"{where}: masking match example {number} leaves text the pattern finds")
    for number, (is_found, _) in enumerate(rows[len(pattern.examples.match) :], start=1):
        if is_found:
            problems.append(f"{where}: no_match example {number} is found")
    return problems


def load_patterns(path: Path) -> tuple[PiiPattern, ...]:
    """Read and check ``pii_patterns.yaml``; raise ContractError listing every problem.

    Each regex is compiled by DuckDB and each pattern's examples are run through
    :func:`detection_sql` and :func:`masking_sql`, so a pattern that loads is one that works.
    """
    path = Path(path)
    document = _read_yaml(path)
    if not isinstance(document, dict):
        raise ContractError([f"{path}: must be a mapping with version and patterns"])
    problems: list[str] = []
    if not (isinstance(document.get("version"), str) and _VERSION.fullmatch(document["version"])):
        problems.append(f"{path}: version must be a string such as \"1.0.0\"")
    unknown = [key for key in document if key not in ("version", "patterns")]
    problems.extend(f"{path}: unknown key {key!r}" for key in unknown)
    entries = document.get("patterns")
    if not isinstance(entries, list) or not entries:
        raise ContractError([*problems, f"{path}: patterns must be a non-empty list"])

    patterns: list[PiiPattern] = []
    for position, entry in enumerate(entries, start=1):
        label = entry.get("name") if isinstance(entry, dict) else None
        where = f"{path}: pattern " + (repr(label) if isinstance(label, str) else str(position))
        pattern = _pattern_from_entry(entry, where, problems)
        if pattern is None:
            continue
        if any(p.name == pattern.name for p in patterns):
            problems.append(f"{where}: name is used by an earlier pattern")
        patterns.append(pattern)

    with duckdb.connect() as con:
        for pattern in patterns:
            problems.extend(_check_in_duckdb(con, pattern, f"{path}: pattern {pattern.name!r}"))
    if problems:
        raise ContractError(problems)
    return tuple(patterns)
