"""Contact requests: the pseudonyms an NGO is asked to reach, and why, with no personal data.

The Mechanism never holds a witness's contact details; the NGO that documented the person does.
A contact-request list names, for one NGO, the pseudonyms it gave (and its own person ids), the
roles they had and the incidents that make them matter, and whether the person has already given
an account, so that nobody is asked to tell their story again without need. Persons who withdrew
consent, and persons recorded as deceased or missing, are not listed; the list says how many.
"Already heard" comes from the person linkage too: a person in the records of several NGOs is
flagged, with the reason (``heard_because``).

>>> from workbench.store import open_store
>>> with open_store("workbench.duckdb") as store:  # doctest: +SKIP
...     requests = contact_requests(store, "ALPHA", Selection.parse(violation_types=["chemical_weapons"]))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from workbench.audit import Export, record_export
from workbench.casefile.spreadsheet import csv_column_sql, write_xlsx
from workbench.errors import ReportError
from workbench.linkage.persons import already_heard
from workbench.sql import sql_literal
from workbench.store import Store, table_from_frame
from workbench.views.selection import Selection, where_sql

#: Roles a person can be asked about by default (an alleged perpetrator is not reached through an NGO).
DEFAULT_ROLES = ("witness", "survivor", "victim", "relative", "detainee")
#: Statuses of persons who cannot be contacted.
UNREACHABLE = ("deceased", "missing")


@dataclass
class ContactRequests:
    """The pseudonyms to contact (``requests``) and how many persons were left out, by reason."""

    ngo_id: str
    requests: pl.DataFrame
    left_out: dict[str, int]


def contact_requests(store: Store, ngo_id: str, selection: Selection = Selection(), *, roles: tuple[str, ...] = DEFAULT_ROLES) -> ContactRequests:
    """The NGO's persons linked to the selected incidents in one of ``roles``, one row per person."""
    if not store.con.execute("SELECT count(*) FROM ngos WHERE ngo_id = ?", [ngo_id]).fetchone()[0]:
        raise ReportError(f"no NGO {ngo_id!r} in the store")
    unknown = sorted(set(roles) - set(store.contracts.vocabulary("person_roles").codes))
    if unknown:
        raise ReportError(f"not a person role: {', '.join(unknown)}; known: {', '.join(store.contracts.vocabulary('person_roles').codes)}")
    role_list = "[" + ", ".join(sql_literal(r) for r in roles) + "]"
    # in scope: the NGO's links to selected incidents with a chosen role, then one row per person
    scoped = store.frame(f"""
        WITH links AS (
            SELECT ip.person_id, ip.role, i.incident_id, i.date_start, i.date_precision, i.place
            FROM active.incident_persons ip
            JOIN active.incidents i ON i.ngo_id = ip.ngo_id AND i.incident_id = ip.incident_id
            WHERE ip.ngo_id = {sql_literal(ngo_id)} AND list_contains({role_list}, ip.role) AND {where_sql(selection, store)}),
        persons AS (
            SELECT person_id, any_value(pseudonym) AS pseudonym,
                   bool_or(consent = 'withdrawn') AS withdrawn, bool_or(status IN ('deceased', 'missing')) AS unreachable,
                   bool_or(account_given) AS account_given
            FROM active.persons WHERE ngo_id = {sql_literal(ngo_id)} GROUP BY person_id)
        SELECT p.pseudonym, l.person_id, list_sort(list(DISTINCT l.role)) AS roles, count(DISTINCT l.incident_id) AS incidents,
               list_sort(list(DISTINCT l.incident_id || ' (' || CASE l.date_precision WHEN 'day' THEN strftime(l.date_start, '%Y-%m-%d')
                    WHEN 'month' THEN strftime(l.date_start, '%Y-%m') ELSE coalesce(strftime(l.date_start, '%Y'), 'date unknown') END
                    || coalesce(', ' || l.place, '') || ')')) AS why,
               coalesce(p.account_given, FALSE) AS already_heard, coalesce(p.withdrawn, FALSE) AS withdrawn,
               coalesce(p.unreachable, FALSE) AS unreachable
        FROM links l LEFT JOIN persons p USING (person_id)
        GROUP BY ALL ORDER BY incidents DESC, l.person_id""")
    left_out = {
        "consent withdrawn": int(scoped["withdrawn"].sum()),
        "deceased or missing": int(scoped.filter(~pl.col("withdrawn") & pl.col("unreachable")).height),
    }
    listed = scoped.filter(~pl.col("withdrawn") & ~pl.col("unreachable")).drop("withdrawn", "unreachable")
    # heard by another NGO (person linkage) counts as much as an account given to this one
    heard = already_heard(store).filter(pl.col("ngo_id") == ngo_id).select(
        "person_id", pl.col("already_heard").alias("heard"), "heard_because")
    listed = (listed.join(heard, on="person_id", how="left")
              .with_columns((pl.col("already_heard") | pl.col("heard").fill_null(False)).alias("already_heard"),
                            pl.when(pl.col("heard_because").is_not_null()).then(pl.col("heard_because"))
                            .when(pl.col("already_heard")).then(pl.lit("has given an account")).alias("heard_because"))
              .drop("heard"))
    return ContactRequests(ngo_id, listed, left_out)


def write_contact_requests(store: Store, requests: ContactRequests, out: Path, *, selection: Selection = Selection()) -> Export:
    """Write the list as CSV (or XLSX for a ``.xlsx`` path), text cells neutralised, and log the export."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".xlsx"):
        raise ReportError(f"{out}: write contact requests to a .csv or .xlsx file")
    if store.read_only:
        raise ReportError("contact requests are logged in the store; open the store for writing (not read-only)")
    frame = requests.requests.with_columns(pl.col("roles").list.join("; "), pl.col("why").list.join("; "))
    table_from_frame(store.con, "contact_request_rows", frame)
    columns = ", ".join(csv_column_sql(c, "VARCHAR" if frame.schema[c] == pl.String else "BIGINT") for c in frame.columns)
    partial = out.with_name(f".{out.name}.partial")
    try:
        if out.suffix.lower() == ".csv":
            store.con.execute(f"COPY (SELECT {columns} FROM contact_request_rows) TO {sql_literal(str(partial))} (FORMAT csv, HEADER true)")
        else:
            write_xlsx(store.con, {"contact requests": "SELECT * FROM contact_request_rows"}, partial)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from None
    from workbench.intake import sha256_file

    return record_export(
        store, kind="contact_requests", destination=str(out.resolve()), subject=requests.ngo_id, selection=selection.describe(),
        manifest_sha256=sha256_file(out),
        items={"persons": f"""SELECT p.ngo_id, any_value(p.submission_id) AS submission_id, p.person_id AS record_key, any_value(p.row_hash) AS row_hash
                             FROM active.persons p JOIN contact_request_rows r USING (person_id)
                             WHERE p.ngo_id = {sql_literal(requests.ngo_id)} GROUP BY p.ngo_id, p.person_id"""},
        details={"ngo_id": requests.ngo_id, "persons": requests.requests.height, "left_out": requests.left_out},
    )
