"""Two helpers every module uses to write SQL safely: quote an identifier, quote a constant.

Values are bound as parameters wherever DuckDB allows it; these helpers are for the places it
does not (identifiers, and constant regex patterns that DuckDB must see as literals to plan well).

>>> quote_ident('place name')
'"place name"'
>>> sql_literal("it's")
"'it''s'"
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted, with embedded quotes doubled."""
    if "\x00" in name:
        raise ValueError("identifier holds a NUL character")
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    """A SQL string constant, single-quoted, with embedded quotes doubled."""
    if "\x00" in value:
        raise ValueError("string constant holds a NUL character")
    return "'" + value.replace("'", "''") + "'"
