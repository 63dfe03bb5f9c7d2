"""What left the store: every export, what it held, what it withheld, and what happened since.

An export (a case file, a contact-request list, a public report, a feedback report) is written to
``exports`` with one row per record it carried in ``export_items`` (record type, NGO, submission,
key and row hash) and the counts it withheld, by reason, in ``export_withheld``; its custody-log
entry holds the hash of its manifest. :func:`exports` is what ``workbench audit`` lists: who
exported what, when, for which authority, and whether an NGO has since withdrawn its agreement
for records it carried (an export is never rewritten; the withdrawal is flagged against it).

>>> from workbench.store import open_store
>>> with open_store(":memory:") as store:
...     record_export(store, kind="public_report", destination="out/").kind
'public_report'
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import polars as pl

from workbench.errors import WorkbenchError
from workbench.sql import sql_literal
from workbench.store import CustodyEntry, Store

#: Export kinds and what they are, for the audit listing.
KINDS: dict[str, str] = {
    "casefile": "case file for an investigative or prosecuting authority",
    "contact_requests": "pseudonyms an NGO is asked to contact",
    "public_report": "aggregate figures for publication",
    "feedback": "feedback report to an NGO",
}


@dataclass(frozen=True)
class Export:
    """One logged export."""

    export_id: str
    kind: str
    authority: str | None
    records: int
    withheld: int
    custody: CustodyEntry


def new_export_id(kind: str, at: datetime | None = None) -> str:
    """A readable, unique id: kind, UTC time and a random suffix (``casefile-20261128T141500Z-3f9a1c2e``)."""
    at = at or datetime.now(timezone.utc)
    return f"{kind}-{at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def record_export(
    store: Store,
    *,
    kind: str,
    destination: str,
    export_id: str | None = None,
    authority: str | None = None,
    authority_key: str | None = None,
    decided_on: date | None = None,
    selection: str | None = None,
    manifest_sha256: str | None = None,
    items: dict[str, str] | None = None,
    withheld: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
    subject: str | None = None,
) -> Export:
    """Log one export: its row, its items and withheld counts, and a custody-log entry, all or nothing.

    ``items`` maps a record type to a query giving ``ngo_id, submission_id, record_key, row_hash``
    for every record carried; ``withheld`` maps a record type to a query giving ``ngo_id, reason,
    records``. Both run in DuckDB, so a case file of a million rows is logged without Python loops.
    """
    if kind not in KINDS:
        raise WorkbenchError(f"unknown export kind {kind!r}; known: {', '.join(KINDS)}")
    export_id = export_id or new_export_id(kind)
    items, withheld = items or {}, withheld or {}
    with store.transaction():
        for record_type, query in items.items():
            store.con.execute(f"INSERT INTO export_items SELECT {sql_literal(export_id)}, {sql_literal(record_type)}, "
                              f"ngo_id, submission_id, record_key, row_hash FROM ({query})")
        for record_type, query in withheld.items():
            store.con.execute(f"INSERT INTO export_withheld SELECT {sql_literal(export_id)}, {sql_literal(record_type)}, "
                              f"ngo_id, reason, records FROM ({query})")
        counts = store.con.execute(
            "SELECT (SELECT count(*) FROM export_items WHERE export_id = $1), "
            "(SELECT coalesce(sum(records), 0) FROM export_withheld WHERE export_id = $1)", [export_id]).fetchone()
        entry = store.log(
            f"export-{kind.replace('_', '-')}",
            subject=subject or authority or destination,
            details={"export_id": export_id, "destination": destination, "authority": authority, "decided_on": decided_on,
                     "selection": selection, "manifest_sha256": manifest_sha256, "records": counts[0],
                     "withheld": int(counts[1]), **(details or {})},
        )
        store.con.execute(
            "INSERT INTO exports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [export_id, kind, authority, authority_key, entry.at, entry.actor, decided_on, selection, destination,
             manifest_sha256, counts[0], int(counts[1]), entry.seq],
        )
    store.write_anchor()
    return Export(export_id, kind, authority, counts[0], int(counts[1]), entry)


_FLAGS_SQL = """
SELECT e.export_id, u.seq AS update_seq, u.ngo_id, u.authority, u.recorded_at AS withdrawn_at, u.recorded_by AS withdrawn_recorded_by,
       u.reference, count(*) AS records_affected
FROM exports e
JOIN disclosure_updates u ON u.authority_key = e.authority_key AND u.decision = 'withdrawn' AND u.recorded_at > e.created_at
JOIN export_items i ON i.export_id = e.export_id AND i.ngo_id = u.ngo_id
     AND (u.submission_id IS NULL OR i.submission_id = u.submission_id)
WHERE {where}
GROUP BY ALL ORDER BY e.export_id, u.seq
"""


def withdrawal_flags(store: Store, *, export_id: str | None = None, update_seq: int | None = None) -> pl.DataFrame:
    """Exports that carried records an NGO later withdrew its agreement for (one row per export and withdrawal)."""
    conditions = ["TRUE"]
    if export_id is not None:
        conditions.append(f"e.export_id = {sql_literal(export_id)}")
    if update_seq is not None:
        conditions.append(f"u.seq = {int(update_seq)}")
    return store.frame(_FLAGS_SQL.format(where=" AND ".join(conditions)))


def exports(store: Store, *, authority_key: str | None = None, kind: str | None = None) -> pl.DataFrame:
    """Every export, newest first: who, when, what kind, for which authority, how much, and any later withdrawal.

    >>> from workbench.store import open_store
    >>> with open_store(":memory:") as store:
    ...     exports(store).columns[:4]
    ['export_id', 'kind', 'created_at', 'created_by']
    """
    if not store.has_table("exports"):  # a store made before exports were logged, opened read-only
        return pl.DataFrame()
    flags = withdrawal_flags(store)
    listed = store.frame(
        "SELECT export_id, kind, created_at, created_by, authority, decided_on, records, withheld, destination, selection, "
        "manifest_sha256, custody_seq FROM exports WHERE (? IS NULL OR authority_key = ?) AND (? IS NULL OR kind = ?) "
        "ORDER BY created_at DESC, export_id DESC",
        [authority_key, authority_key, kind, kind],
    )
    if flags.height:
        summary = flags.group_by("export_id").agg(
            pl.format("{} withdrew on {} ({} records)", "ngo_id", pl.col("withdrawn_at").dt.strftime("%Y-%m-%d"),
                      "records_affected").str.join("; ").alias("withdrawals"))
        return listed.join(summary, on="export_id", how="left")
    return listed.with_columns(pl.lit(None, pl.String).alias("withdrawals"))


def withheld_summary(store: Store, export_id: str) -> pl.DataFrame:
    """How many records of each type an export withheld, and why (never which)."""
    return store.frame("SELECT record_type, reason, sum(records)::BIGINT AS records FROM export_withheld WHERE export_id = ? "
                       "GROUP BY ALL ORDER BY record_type, records DESC", [export_id])
