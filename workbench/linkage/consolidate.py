"""The consolidated view of linked incidents: where the NGOs agree and where they differ.

Every contributing record stays as the NGO sent it; a cluster's view only sets them side by side:
how many NGOs documented it, the span of the dates they give, the places, the violation types
(those all agree on and those only some name), and the range of the numbers killed and injured,
with a sentence such as "documented by 3 NGOs; dates 12–13 March 2014; killed 7–9".
"""

from __future__ import annotations

from datetime import date

import polars as pl

from workbench.store import Store

_SQL = """
WITH members AS (
    SELECT c.cluster_id, i.* FROM link_clusters c
    JOIN active.incidents i ON i.ngo_id = c.ngo_id AND i.incident_id = c.local_id
    WHERE c.entity = 'incidents'
    QUALIFY row_number() OVER (PARTITION BY i.ngo_id, i.incident_id ORDER BY i.submission_id DESC) = 1),
sizes AS (SELECT cluster_id, count(*) AS records FROM members GROUP BY ALL),
types AS (
    SELECT cluster_id, t AS violation_type, count(DISTINCT ngo_id || '/' || incident_id) AS records
    FROM (SELECT cluster_id, ngo_id, incident_id, unnest(violation_types) AS t FROM members) GROUP BY ALL),
agreement AS (
    SELECT t.cluster_id, list_sort(list(t.violation_type) FILTER (WHERE t.records = s.records)) AS types_all_agree,
           list_sort(list(t.violation_type) FILTER (WHERE t.records < s.records)) AS types_some
    FROM types t JOIN sizes s USING (cluster_id) GROUP BY ALL)
SELECT m.cluster_id,
       count(*) AS records, count(DISTINCT m.ngo_id) AS ngos, list_sort(list(DISTINCT m.ngo_id)) AS ngo_ids,
       list_sort(list(m.ngo_id || '/' || m.incident_id)) AS record_ids,
       coalesce(min(m.date_start) FILTER (WHERE m.date_precision = 'day'), min(m.date_start) FILTER (WHERE m.date_precision = 'month'),
                min(m.date_start)) AS date_from,
       coalesce(max(coalesce(m.date_end, m.date_start)) FILTER (WHERE m.date_precision = 'day'),
                max(coalesce(m.date_end, m.date_start)) FILTER (WHERE m.date_precision = 'month'), max(coalesce(m.date_end, m.date_start))) AS date_to,
       count(*) FILTER (WHERE m.date_precision IN ('month', 'year')) AS coarse_dates,
       count(DISTINCT m.date_start) FILTER (WHERE m.date_precision = 'day') AS distinct_days,
       list_sort(list(DISTINCT m.place) FILTER (WHERE m.place IS NOT NULL)) AS places,
       list_sort(list(DISTINCT m.admin1_pcode) FILTER (WHERE m.admin1_pcode IS NOT NULL)) AS governorates,
       min(m.killed) AS killed_min, max(m.killed) AS killed_max, min(m.injured) AS injured_min, max(m.injured) AS injured_max,
       any_value(a.types_all_agree) AS types_all_agree, any_value(a.types_some) AS types_some
FROM members m LEFT JOIN agreement a USING (cluster_id) GROUP BY m.cluster_id
"""


def _span(start: date | None, end: date | None) -> str:
    if start is None:
        return "date unknown"
    if end is None or end == start:
        return f"{start.day} {start:%B %Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {start:%B %Y}"
    if start.year == end.year:
        return f"{start.day} {start:%B} – {end.day} {end:%B %Y}"
    return f"{start.day} {start:%B %Y} – {end.day} {end:%B %Y}"


def _range(low: int | None, high: int | None, what: str) -> str | None:
    if low is None:
        return None
    return f"{what} {low}" if low == high else f"{what} {low}–{high}"


def summary(row: dict) -> str:
    """One sentence on a cluster: who documented it, when, where, how many killed and injured."""
    parts = [f"documented by {row['ngos']} NGO{'s' if row['ngos'] != 1 else ''}"
             + (f" ({row['records']} records)" if row["records"] != row["ngos"] else ""),
             (f"dates {_span(row['date_from'], row['date_to'])}" if row["date_from"] != row["date_to"] else f"date {_span(row['date_from'], None)}")
             + (f" ({row['coarse_dates']} known only to the month or year)" if row["coarse_dates"] else "")]
    if row["places"]:
        parts.append("place " + " / ".join(row["places"][:4]) + (" …" if len(row["places"]) > 4 else ""))
    for low, high, what in (("killed_min", "killed_max", "killed"), ("injured_min", "injured_max", "injured")):
        text = _range(row[low], row[high], what)
        if text:
            parts.append(text)
    if row["types_some"]:
        parts.append("types differ: " + ", ".join(row["types_some"]))
    return "; ".join(parts)


def consolidated_incidents(store: Store, *, min_records: int = 2) -> pl.DataFrame:
    """One row per cluster of at least ``min_records`` records (from the latest linkage run), with a summary sentence.

    >>> from workbench.store import open_store
    >>> with open_store(":memory:") as store:
    ...     consolidated_incidents(store).height
    0
    """
    frame = store.frame(f"SELECT * FROM ({_SQL}) WHERE records >= ? ORDER BY ngos DESC, records DESC, date_from, cluster_id", [min_records])
    if frame.is_empty():
        return frame.with_columns(pl.lit(None, pl.String).alias("summary"))
    return frame.with_columns(pl.Series("summary", [summary(r) for r in frame.iter_rows(named=True)], dtype=pl.String))
