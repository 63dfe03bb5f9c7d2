"""Which incidents a view shows: one set of filters, turned into SQL once, used by every view.

The map, the graph, the timeline, the explorer's table and the command line all read the
incidents through :func:`selected_incidents`, so that the same filters always mean the same rows.
Only current (not superseded) submissions are shown.

>>> Selection(violation_types=("barrel_bomb",), governorates=("SY02",)).describe()
'violation barrel_bomb; governorate SY02'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from workbench.errors import ConfigError
from workbench.quality.periods import Period, parse_period
from workbench.sql import sql_literal
from workbench.store import Store, load_extension

#: The table the full-text index is built on: one row per current incident, keyed by ``doc_id``.
TEXT_TABLE = "incident_text"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Selection:
    """Filters over the current incidents; empty means "everything".

    ``period`` keeps incidents whose dates overlap it (an incident known to the month overlaps
    every period that touches that month). ``text`` is a full-text query over title and narrative.
    """

    ngos: tuple[str, ...] = ()
    period: Period | None = None
    violation_types: tuple[str, ...] = ()
    governorates: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    text: str = ""
    incidents: tuple[tuple[str, str], ...] = field(default=())  # (ngo_id, incident_id) pairs
    within: str = ""  # a query giving (ngo_id, incident_id) rows, such as a saved query or a table of disclosed incidents

    @classmethod
    def parse(cls, *, ngos=(), period: str | None = None, violation_types=(), governorates=(), actors=(), text: str = "") -> "Selection":
        """Build from what a person types (a period as ``2014``, ``2014-Q2``, ``2014-03`` or a range)."""
        return cls(ngos=tuple(ngos), period=parse_period(period) if period else None, violation_types=tuple(violation_types),
                   governorates=tuple(governorates), actors=tuple(actors), text=text.strip())

    def but(self, **changes) -> "Selection":
        """The same selection with some filters changed."""
        return replace(self, **changes)

    def describe(self) -> str:
        parts = []
        for label, values in (("NGO", self.ngos), ("violation", self.violation_types), ("governorate", self.governorates),
                              ("actor", self.actors)):
            if values:
                parts.append(f"{label} {', '.join(values)}")
        if self.period:
            parts.append(f"period {self.period.label}")
        if self.text:
            parts.append(f"text {self.text!r}")
        if self.incidents:
            parts.append(f"{len(self.incidents)} chosen incidents")
        if self.within:
            parts.append("a saved query")
        return "; ".join(parts) or "all current incidents"


def where_sql(selection: Selection, store: Store, alias: str = "i") -> str:
    """The SQL condition on ``active.incidents`` (as ``alias``) that keeps the selected incidents."""
    a = alias
    conditions = ["TRUE"]
    if selection.ngos:
        conditions.append(f"{a}.ngo_id IN ({_list(selection.ngos)})")
    if selection.period:
        start, end = sql_literal(selection.period.start.isoformat()), sql_literal(selection.period.end.isoformat())
        conditions.append(f"{a}.date_start <= DATE {end} AND coalesce({a}.date_end, {a}.date_start) >= DATE {start}")
    if selection.violation_types:
        conditions.append(f"list_has_any({a}.violation_types, [{_list(selection.violation_types)}])")
    if selection.governorates:
        conditions.append(f"{a}.admin1_pcode IN ({_list(selection.governorates)})")
    if selection.actors:
        conditions.append(
            f"EXISTS (SELECT 1 FROM active.incident_actors ia WHERE ia.ngo_id = {a}.ngo_id AND ia.incident_id = {a}.incident_id "
            f"AND ia.actor_id IN ({_list(selection.actors)}))")
    if selection.incidents:
        pairs = ", ".join(f"({sql_literal(n)}, {sql_literal(i)})" for n, i in selection.incidents)
        conditions.append(f"({a}.ngo_id, {a}.incident_id) IN (SELECT * FROM (VALUES {pairs}))")
    if selection.within:
        # a subquery in FROM position: DuckDB refuses anything but a query there, so a saved query cannot write
        conditions.append(f"({a}.ngo_id, {a}.incident_id) IN (SELECT ngo_id, incident_id FROM ({selection.within}))")
    if selection.text:
        conditions.append(_text_condition(selection.text, store, a))
    return " AND ".join(conditions)


def selected_incidents(selection: Selection, store: Store, columns: str = "i.*") -> str:
    """A query over the selected current incidents (``i``), with the given columns."""
    return f"SELECT {columns} FROM active.incidents i WHERE {where_sql(selection, store)}"


def ensure_text_index(store: Store) -> bool:
    """Build (or rebuild, when submissions changed) the full-text index of titles and narratives.

    Needs a writable store; returns False when the store is read-only and has no current index,
    in which case text filters fall back to a plain substring search.
    """
    stamp = _text_stamp(store)
    current = store.con.execute("SELECT value FROM store_meta WHERE key = 'text_index'").fetchone()
    if current and current[0] == stamp:
        return True
    if store.read_only:
        return False
    load_extension(store.con, "fts")
    store.con.execute(f"""CREATE OR REPLACE TABLE {TEXT_TABLE} AS
        SELECT ngo_id || '/' || incident_id AS doc_id, ngo_id, incident_id, coalesce(title, '') || ' ' || coalesce(narrative, '') AS body
        FROM active.incidents""")
    store.con.execute(f"PRAGMA create_fts_index('{TEXT_TABLE}', 'doc_id', 'body', stemmer = 'none', stopwords = 'none', "
                      "strip_accents = 1, lower = 1, overwrite = 1)")
    store.con.execute("INSERT OR REPLACE INTO store_meta VALUES ('text_index', ?)", [stamp])
    return True


def _text_stamp(store: Store) -> str:
    row = store.con.execute("SELECT count(*), coalesce(max(submission_id), 0), count(superseded_by) FROM submissions").fetchone()
    return "/".join(map(str, row))


def _text_condition(text: str, store: Store, alias: str) -> str:
    words = _WORD.findall(text)
    if not words:
        raise ConfigError(f"the text filter {text!r} holds no word to search for")
    indexed = store.con.execute("SELECT value FROM store_meta WHERE key = 'text_index'").fetchone()
    if indexed and indexed[0] == _text_stamp(store):
        load_extension(store.con, "fts")
        query = sql_literal(" ".join(words))
        # every word must occur (conjunctive), ranked search is used only to filter here
        return (f"({alias}.ngo_id || '/' || {alias}.incident_id) IN (SELECT doc_id FROM (SELECT doc_id, "
                f"fts_main_{TEXT_TABLE}.match_bm25(doc_id, {query}, conjunctive := 1) AS score FROM {TEXT_TABLE}) WHERE score IS NOT NULL)")
    body = f"lower(coalesce({alias}.title, '') || ' ' || coalesce({alias}.narrative, ''))"
    return " AND ".join(f"contains({body}, {sql_literal(w.lower())})" for w in words)


def _list(values) -> str:
    return ", ".join(sql_literal(str(v)) for v in values)


def day(value: str | date) -> date:
    """A date from ISO text, with an error that names the value."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not a date (YYYY-MM-DD)") from None
