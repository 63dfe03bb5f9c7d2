"""Contact requests: an NGO's own pseudonyms to reach and why, nobody who withdrew consent or cannot be reached, no personal data."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from tests.conftest import copy_store
from workbench.audit import exports
from workbench.casefile.contacts import contact_requests, write_contact_requests
from workbench.casefile.spreadsheet import FORMULA_STARTS
from workbench.errors import ReportError
from workbench.store import open_store
from workbench.views.selection import Selection

NGO_IDS = ("ALPHA", "BAYAN", "GAMMA", "DELTA", "EPSILON", "ZETA")
#: Roles listed when none are given (an alleged perpetrator is not reached through an NGO).
ASKABLE = {"witness", "survivor", "victim", "relative", "detainee"}
COLUMNS = ["pseudonym", "person_id", "roles", "incidents", "why", "already_heard", "heard_because"]
YEAR_2013 = (date(2013, 1, 1), date(2013, 12, 31))


@pytest.fixture
def fresh_store(synthetic, tmp_path):
    with open_store(copy_store(synthetic[0], tmp_path / "store"), user="contact-test") as store:
        yield store


def expected(store, ngo_id: str, period: tuple[date, date] | None = None, roles: set[str] = ASKABLE) -> dict:
    """Who the list should name, who it should leave out and why, worked out here in Python from the raw rows."""
    links = store.con.execute(
        "SELECT l.person_id, l.incident_id, l.role, i.date_start, coalesce(i.date_end, i.date_start) FROM active.incident_persons l "
        "JOIN active.incidents i USING (ngo_id, incident_id) WHERE l.ngo_id = ?", [ngo_id]).fetchall()
    people = defaultdict(list)
    for person_id, pseudonym, consent, status, account_given in store.con.execute(
            "SELECT person_id, pseudonym, consent, status, account_given FROM active.persons WHERE ngo_id = ?", [ngo_id]).fetchall():
        people[person_id].append((pseudonym, consent, status, account_given))
    incidents, person_roles = defaultdict(set), defaultdict(set)
    for person_id, incident_id, role, start, end in links:
        if role in roles and (period is None or (start is not None and start <= period[1] and end >= period[0])):
            incidents[person_id].add(incident_id)
            person_roles[person_id].add(role)
    listed, withdrawn, unreachable = {}, 0, 0
    for person_id in incidents:
        rows = people[person_id]
        if any(consent == "withdrawn" for _, consent, _, _ in rows):
            withdrawn += 1
        elif any(status in ("deceased", "missing") for _, _, status, _ in rows):
            unreachable += 1
        else:
            listed[person_id] = {"pseudonym": rows[0][0], "incidents": incidents[person_id], "roles": person_roles[person_id],
                                 "already_heard": any(given for *_, given in rows)}
    return {"listed": listed, "left_out": {"consent withdrawn": withdrawn, "deceased or missing": unreachable}}


def why_ids(why: list[str]) -> set[str]:
    return {entry.split(" (", 1)[0] for entry in why}


@pytest.mark.parametrize("ngo_id", NGO_IDS)
@pytest.mark.parametrize("period", [None, YEAR_2013], ids=["everything", "2013"])
def test_the_list_names_exactly_the_ngos_persons_who_may_be_asked(synth_store, ngo_id, period):
    selection = Selection.parse(period="2013") if period else Selection()
    found = contact_requests(synth_store, ngo_id, selection)
    want = expected(synth_store, ngo_id, period)
    assert found.ngo_id == ngo_id and found.requests.columns == COLUMNS
    assert found.left_out == want["left_out"]
    assert set(found.requests["person_id"]) == set(want["listed"])
    assert found.requests["person_id"].n_unique() == found.requests.height
    for row in found.requests.iter_rows(named=True):
        person = want["listed"][row["person_id"]]
        assert row["pseudonym"] == person["pseudonym"]  # the NGO's own pseudonym for its own person
        assert why_ids(row["why"]) == person["incidents"] and row["incidents"] == len(person["incidents"])
        assert set(row["roles"]) == person["roles"]
        # before any person linkage, "already heard" is exactly "has given an account"
        assert row["already_heard"] is person["already_heard"]
        assert row["heard_because"] == ("has given an account" if person["already_heard"] else None)


def test_the_expectations_cover_every_case(synth_store):
    """The synthetic NGOs have persons of every kind, so the test above can tell a wrong list from a right one."""
    found = {ngo_id: expected(synth_store, ngo_id) for ngo_id in NGO_IDS}
    assert all(f["listed"] for f in found.values())
    assert sum(f["left_out"]["consent withdrawn"] for f in found.values()) > 10
    assert sum(f["left_out"]["deceased or missing"] for f in found.values()) > 10
    heard = [p["already_heard"] for f in found.values() for p in f["listed"].values()]
    assert any(heard) and not all(heard)


def test_nobody_who_withdrew_consent_or_cannot_be_reached_is_listed(synth_store):
    barred = {(n, p) for n, p in synth_store.con.execute(
        "SELECT ngo_id, person_id FROM active.persons WHERE consent = 'withdrawn' OR status IN ('deceased', 'missing')").fetchall()}
    assert barred
    for ngo_id in NGO_IDS:
        listed = {(ngo_id, p) for p in contact_requests(synth_store, ngo_id).requests["person_id"]}
        assert not listed & barred


def test_roles_narrow_the_list(synth_store):
    witnesses = contact_requests(synth_store, "ALPHA", roles=("witness",))
    assert witnesses.requests.height and all(r == ["witness"] for r in witnesses.requests["roles"].to_list())
    assert set(witnesses.requests["person_id"]) == set(expected(synth_store, "ALPHA", roles={"witness"})["listed"])
    perpetrators = contact_requests(synth_store, "ALPHA", roles=("alleged_perpetrator",))
    assert perpetrators.requests.height == 0


def test_another_ngos_selection_gives_nobody(synth_store):
    assert contact_requests(synth_store, "ALPHA", Selection.parse(ngos=["EPSILON"])).requests.height == 0


def test_why_lists_only_the_selected_incidents_of_the_person(fresh_store):
    """A witness of two incidents in different years: both are listed, or only the one in the selected period."""
    person_id, first, first_year = fresh_store.con.execute("""
        SELECT p.person_id, l.incident_id, year(i.date_start) FROM active.persons p
        JOIN active.incident_persons l USING (ngo_id, person_id) JOIN active.incidents i USING (ngo_id, incident_id)
        WHERE p.ngo_id = 'ALPHA' AND p.consent = 'given' AND p.status = 'alive' AND i.date_precision = 'day'
          AND i.date_end = i.date_start ORDER BY p.person_id LIMIT 1""").fetchone()
    second, second_year = fresh_store.con.execute("""
        SELECT incident_id, year(date_start) FROM active.incidents WHERE ngo_id = 'ALPHA' AND date_precision = 'day'
          AND date_end = date_start AND year(date_start) <> ? ORDER BY incident_id LIMIT 1""", [first_year]).fetchone()
    fresh_store.con.execute("INSERT INTO incident_persons SELECT * REPLACE (? AS incident_id, 'witness' AS role) FROM incident_persons "
                            "WHERE ngo_id = 'ALPHA' AND person_id = ? AND incident_id = ?", [second, person_id, first])
    everything = contact_requests(fresh_store, "ALPHA").requests.filter(person_id=person_id).row(0, named=True)
    assert why_ids(everything["why"]) == {first, second} and everything["incidents"] == 2
    assert "witness" in everything["roles"]
    assert everything["why"] == sorted(everything["why"])
    one_year = contact_requests(fresh_store, "ALPHA", Selection.parse(period=str(second_year))).requests
    assert why_ids(one_year.filter(person_id=person_id).row(0, named=True)["why"]) == {second}


def test_a_person_heard_by_another_ngo_is_already_heard(fresh_store):
    """Once person linkage put an ALPHA record and an EPSILON record in one cluster, ALPHA is told the person was heard."""
    alpha, epsilon = (fresh_store.con.execute(
        f"SELECT person_id FROM active.persons WHERE ngo_id = '{ngo}' AND consent = 'given' AND status = 'alive' "
        "AND NOT coalesce(account_given, FALSE) ORDER BY person_id LIMIT 1").fetchone()[0] for ngo in ("ALPHA", "EPSILON"))
    fresh_store.con.execute("INSERT INTO link_clusters VALUES ('persons', 'm1', 'ALPHA/' || $1, 'ALPHA', $1, 'c1'), "
                            "('persons', 'm1', 'EPSILON/' || $2, 'EPSILON', $2, 'c1')", [alpha, epsilon])
    requests = contact_requests(fresh_store, "ALPHA").requests
    heard = requests.filter(person_id=alpha).row(0, named=True)
    assert heard["already_heard"] is True and heard["heard_because"] == "in the records of 2 NGOs"
    others = requests.filter(pl.col("person_id") != alpha)
    assert others.filter(pl.col("already_heard"))["heard_because"].to_list() == ["has given an account"] * others["already_heard"].sum()
    assert others.filter(~pl.col("already_heard"))["heard_because"].null_count() == others.height - others["already_heard"].sum()


def test_an_unknown_ngo_or_role_is_refused(synth_store):
    with pytest.raises(ReportError, match="no NGO 'NOBODY'"):
        contact_requests(synth_store, "NOBODY")
    with pytest.raises(ReportError, match="not a person role: neighbour"):
        contact_requests(synth_store, "ALPHA", roles=("witness", "neighbour"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


PLANTED = ['=HYPERLINK("http://attacker.example","call me")', "+49 30 1234", "-1", "@SUM(A1)", "\tX"]


def plant_pseudonyms(store) -> dict[str, str]:
    """Give some of ALPHA's listable persons pseudonyms a spreadsheet would run; person id -> planted value."""
    people = [p for (p,) in store.con.execute(
        "SELECT person_id FROM active.persons WHERE ngo_id = 'ALPHA' AND consent = 'given' AND status = 'alive' "
        "ORDER BY person_id LIMIT ?", [len(PLANTED)]).fetchall()]
    for person_id, value in zip(people, PLANTED):
        store.con.execute("UPDATE persons SET pseudonym = ? WHERE ngo_id = 'ALPHA' AND person_id = ?", [value, person_id])
    return dict(zip(people, PLANTED))


def test_the_csv_is_defused_and_the_export_logged_person_by_person(fresh_store, tmp_path):
    planted = plant_pseudonyms(fresh_store)
    requests = contact_requests(fresh_store, "ALPHA")
    assert set(planted) <= set(requests.requests["person_id"])
    out = tmp_path / "alpha.csv"
    export = write_contact_requests(fresh_store, requests, out)
    rows = read_csv(out)
    assert list(rows[0]) == COLUMNS  # pseudonyms and incidents only: no name, age, sex, notes or narrative
    by_person = {row["person_id"]: row for row in rows}
    for person_id, value in planted.items():
        assert by_person[person_id]["pseudonym"] == "'" + value
    assert not [v for row in rows for v in row.values() if v and v[0] in FORMULA_STARTS]
    some = requests.requests.row(0, named=True)
    assert by_person[some["person_id"]]["why"] == "; ".join(some["why"])
    assert by_person[some["person_id"]]["incidents"] == str(some["incidents"])

    assert len(rows) == requests.requests.height == export.records
    items = fresh_store.frame("SELECT ngo_id, record_type, record_key FROM export_items WHERE export_id = ?", [export.export_id])
    assert sorted(items["record_key"]) == sorted(row["person_id"] for row in rows)
    assert set(items["ngo_id"]) == {"ALPHA"} and set(items["record_type"]) == {"persons"}
    listed = exports(fresh_store, kind="contact_requests").row(0, named=True)
    assert listed["export_id"] == export.export_id and listed["created_by"] == "contact-test"
    assert listed["destination"] == str(out.resolve())
    assert fresh_store.custody_problems() == []


def test_the_xlsx_holds_no_formula(fresh_store, tmp_path):
    planted = plant_pseudonyms(fresh_store)
    requests = contact_requests(fresh_store, "ALPHA")
    write_contact_requests(fresh_store, requests, tmp_path / "alpha.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "alpha.xlsx").active
    header = [c.value for c in sheet[1]]
    assert header == COLUMNS
    values = set()
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            if isinstance(cell.value, str):
                assert cell.value[0] not in FORMULA_STARTS, (cell.coordinate, cell.value)
                values.add(cell.value)
    assert {"'" + v for v in planted.values()} <= values
    counts = [row[header.index("incidents")] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert counts and all(isinstance(n, int) for n in counts)


def test_a_list_is_written_only_where_it_can_be_logged(synth_store, fresh_store, tmp_path):
    requests = contact_requests(fresh_store, "ALPHA")
    with pytest.raises(ReportError, match=r"\.csv or \.xlsx"):
        write_contact_requests(fresh_store, requests, tmp_path / "alpha.txt")
    with pytest.raises(ReportError, match="read-only"):
        write_contact_requests(synth_store, contact_requests(synth_store, "ALPHA"), tmp_path / "alpha.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    assert exports(fresh_store).height == 0


def test_a_store_older_than_person_linkage_still_lists_contact_requests(synthetic, tmp_path):
    path = copy_store(synthetic[0], tmp_path / "store")
    with open_store(path) as store:
        store.con.execute("DROP TABLE link_clusters")  # as a store made before person linkage
    with open_store(path, read_only=True) as store:
        requests = contact_requests(store, "ALPHA")
        assert requests.requests.height == len(expected(store, "ALPHA")["listed"])
