"""The audit: every export is logged with who, when, for whom and what; the command line shows it and checks packages."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tests.conftest import copy_store, utc_now
from workbench.audit import exports, withdrawal_flags, withheld_summary
from workbench.casefile import preview, write_casefile
from workbench.casefile.contacts import contact_requests, write_contact_requests
from workbench.cli import app
from workbench.disclosure import record_update
from workbench.store import open_store
from workbench.views.selection import Selection

ON = date(2025, 7, 1)
runner = CliRunner()


@pytest.fixture(scope="module")
def logged(synthetic, tmp_path_factory):
    """A store copy with one case file for DE-GBA and one contact-request list for BAYAN, made by "auditor"."""
    root = tmp_path_factory.mktemp("audit")
    with open_store(copy_store(synthetic[0], root / "store"), user="auditor") as store:
        started = utc_now()
        casefile = write_casefile(store, "DE-GBA (Federal Prosecutor)", root / "casefile", on=ON, pdf=False, interactive=False)
        requests = contact_requests(store, "BAYAN", Selection.parse(ngos=["BAYAN"]))
        contacts = write_contact_requests(store, requests, root / "contacts.csv", selection=Selection.parse(ngos=["BAYAN"]))
        finished = utc_now()
        yield store, casefile, requests, contacts, (started, finished)


def test_a_case_file_is_listed_with_who_when_what_and_for_whom(logged):
    store, casefile, _, _, (started, finished) = logged
    row = exports(store, kind="casefile").row(0, named=True)
    assert row["export_id"] == casefile.casefile_id
    assert row["created_by"] == "auditor"
    assert started <= row["created_at"] <= finished
    assert row["authority"] == "DE-GBA (Federal Prosecutor)" and row["decided_on"] == ON
    assert row["records"] == int(casefile.plan.counts["disclosed"].sum()) > 0
    assert row["withheld"] == casefile.plan.withheld_total() > 0
    assert row["destination"] == str(casefile.directory.resolve())
    assert row["selection"] == "all current incidents"
    manifest_hash = hashlib.sha256((casefile.directory / "manifest.json").read_bytes()).hexdigest()
    assert row["manifest_sha256"] == casefile.manifest_sha256 == manifest_hash
    assert row["custody_seq"] == casefile.custody_seq
    assert row["withdrawals"] is None


def test_the_custody_log_holds_the_manifest_hash(logged):
    store, casefile, _, _, _ = logged
    entry = next(e for e in store.custody_entries() if e.seq == casefile.custody_seq)
    assert entry.action == "export-casefile" and entry.actor == "auditor"
    assert entry.details["export_id"] == casefile.casefile_id
    assert entry.details["manifest_sha256"] == casefile.manifest_sha256
    assert entry.details["records"] == int(casefile.plan.counts["disclosed"].sum())
    assert entry.details["withheld"] == casefile.plan.withheld_total()
    assert store.custody_problems() == []


def test_what_a_case_file_carried_and_withheld_is_logged_item_by_item(logged):
    store, casefile, _, _, _ = logged
    items = store.frame("SELECT record_type, count(*) AS n, count(DISTINCT ngo_id) AS ngos, min(ngo_id) AS ngo FROM export_items "
                        "WHERE export_id = ? GROUP BY ALL", [casefile.casefile_id])
    disclosed = {t: d for t, d, _ in casefile.plan.counts.iter_rows() if d}
    assert {t: n for t, n, _, _ in items.iter_rows()} == disclosed
    assert set(items["ngo"]) == {"ALPHA"} and set(items["ngos"]) == {1}
    # the logged keys are the records in the files
    logged_incidents = {k for (k,) in store.con.execute(
        "SELECT record_key FROM export_items WHERE export_id = ? AND record_type = 'incidents'", [casefile.casefile_id]).fetchall()}
    assert logged_incidents == set(pl.read_parquet(casefile.directory / "data" / "incidents.parquet")["incident_id"])
    summary = withheld_summary(store, casefile.casefile_id)
    by_type = dict(summary.group_by("record_type").agg(pl.col("records").sum()).iter_rows())
    assert by_type == {t: w for t, _, w in casefile.plan.counts.iter_rows() if w}
    assert summary.columns == ["record_type", "reason", "records"]


def test_a_contact_request_list_is_listed_with_one_item_per_person(logged):
    store, _, requests, contacts, (started, finished) = logged
    row = exports(store, kind="contact_requests").row(0, named=True)
    assert row["export_id"] == contacts.export_id and row["created_by"] == "auditor"
    assert started <= row["created_at"] <= finished
    assert row["authority"] is None and row["records"] == requests.requests.height > 0
    assert row["manifest_sha256"] == hashlib.sha256(Path(row["destination"]).read_bytes()).hexdigest()
    items = store.frame("SELECT ngo_id, record_type, record_key FROM export_items WHERE export_id = ?", [contacts.export_id])
    assert items.height == requests.requests.height
    assert set(items["record_key"]) == set(requests.requests["person_id"])
    assert set(items["ngo_id"]) == {"BAYAN"} and set(items["record_type"]) == {"persons"}
    entry = next(e for e in store.custody_entries() if e.seq == row["custody_seq"])
    assert entry.action == "export-contact-requests"
    assert entry.details["ngo_id"] == "BAYAN" and entry.details["left_out"] == requests.left_out


def test_the_listing_filters_by_authority_and_kind(logged):
    store, casefile, _, contacts, _ = logged
    assert exports(store, authority_key="de-gba")["export_id"].to_list() == [casefile.casefile_id]
    assert exports(store, authority_key="se-spa").height == 0
    assert exports(store, kind="contact_requests")["export_id"].to_list() == [contacts.export_id]
    assert set(exports(store)["export_id"]) == {casefile.casefile_id, contacts.export_id}


def test_a_later_withdrawal_is_listed_against_the_export(synthetic, tmp_path):
    with open_store(copy_store(synthetic[0], tmp_path / "store"), user="auditor") as store:
        casefile = write_casefile(store, "DE-GBA", tmp_path / "cf", on=ON, pdf=False, interactive=False)
        record_update(store, "BAYAN", "DE-GBA", "withdrawn")  # BAYAN's records were not in it
        assert withdrawal_flags(store).height == 0
        recorded = record_update(store, "ALPHA", "DE-GBA", "withdrawn", reference="letter 12")
        row = exports(store).row(0, named=True)
        assert row["withdrawals"] == f"ALPHA withdrew on {recorded.custody.at:%Y-%m-%d} ({row['records']} records)"
        entry = next(e for e in store.custody_entries() if e.seq == recorded.custody.seq)
        assert entry.action == "disclosure-withdrawn" and entry.details["flagged_exports"] == [casefile.casefile_id]
        assert entry.details["reference"] == "letter 12"


def test_a_withdrawal_is_flagged_whatever_the_time_zone(synthetic, tmp_path):
    """Every time in the store is naive UTC; a withdrawal stamped in local time would look older than the export west of UTC."""
    with open_store(copy_store(synthetic[0], tmp_path / "store"), user="auditor") as store:
        casefile = write_casefile(store, "DE-GBA", tmp_path / "cf", on=ON, pdf=False, interactive=False)
        store.con.execute("SET TimeZone = 'America/New_York'")  # an analyst's machine in New York
        recorded = record_update(store, "ALPHA", "DE-GBA", "withdrawn")
        assert recorded.flagged_exports["export_id"].to_list() == [casefile.casefile_id]
        entry = next(e for e in store.custody_entries() if e.seq == recorded.custody.seq)
        assert entry.details["flagged_exports"] == [casefile.casefile_id]


# -- the command line ------------------------------------------------------------------------------

def invoke(db: Path, *arguments):
    return runner.invoke(app, [*(str(a) for a in arguments), "--db", str(db)], catch_exceptions=False)


@pytest.fixture
def cli_db(synthetic, tmp_path, monkeypatch):
    """A store copy no test holds open, for the command line to open itself."""
    monkeypatch.setenv("WORKBENCH_USER", "cli-auditor")
    return copy_store(synthetic[0], tmp_path / "store")


def test_cli_preview_shows_what_the_api_decides(cli_db):
    result = invoke(cli_db, "casefile", "--authority", "DE-GBA", "--preview", "--on", "2025-07-01", "--ngo", "ALPHA", "--ngo", "BAYAN",
                    "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    with open_store(cli_db, read_only=True) as store:
        plan = preview(store, "DE-GBA", Selection.parse(ngos=["ALPHA", "BAYAN"]), on=ON)
        assert exports(store).height == 0  # a preview writes and logs nothing
    assert shown["counts"] == plan.counts.to_dicts()
    assert shown["decided_on"] == "2025-07-01" and shown["selection"] == "NGO ALPHA, BAYAN"
    assert {(w["record_type"], w["reason"]) for w in shown["withheld"]} >= {("incidents", "ask_first"), ("incidents", "confidential_source")}
    assert not any("ngo_id" in w for w in shown["withheld"])


def test_cli_writes_lists_and_verifies_a_case_file(cli_db, tmp_path):
    out = tmp_path / "casefile"
    result = invoke(cli_db, "casefile", "--authority", "DE-GBA", "--out", out, "--on", "2025-07-01", "--no-pdf", "--no-interactive",
                    "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(result.output)
    assert written["directory"] == str(out) and (out / "manifest.json").is_file()

    listing = json.loads(invoke(cli_db, "audit", "--json").output)
    assert [(e["export_id"], e["kind"], e["created_by"], e["authority"], e["manifest_sha256"]) for e in listing] == [
        (written["casefile_id"], "casefile", "cli-auditor", "DE-GBA", written["manifest_sha256"])]
    assert listing[0]["records"] == sum(c["disclosed"] for c in written["counts"])
    assert json.loads(invoke(cli_db, "audit", "--authority", "SE-SPA", "--json").output) == []

    verified = invoke(cli_db, "verify", "--casefile", out, "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output) | {"directory": None} == {
        "directory": None, "casefile_id": written["casefile_id"], "files_checked": 14, "logged": True, "ok": True, "problems": []}
    text = invoke(cli_db, "verify", "--casefile", out)
    assert text.exit_code == 0 and "the manifest is the one logged" in text.output

    (out / "data" / "persons.csv").write_text("ngo_id\nALPHA\n", encoding="utf-8")
    tampered = invoke(cli_db, "verify", "--casefile", out)
    assert tampered.exit_code == 1
    assert "data/persons.csv" in tampered.output and "it was changed" in tampered.output


def test_cli_verify_without_the_store_checks_the_package_alone(logged, tmp_path):
    _, casefile, _, _, _ = logged
    alone = invoke(tmp_path / "no-store.duckdb", "verify", "--casefile", casefile.directory)
    assert alone.exit_code == 0, alone.output
    assert "no store at" in alone.output and not (tmp_path / "no-store.duckdb").exists()
    changed = Path(shutil.copytree(casefile.directory, tmp_path / "changed"))
    (changed / "withheld.csv").write_text("record_type,reason,explanation,records\n", encoding="utf-8")
    tampered = invoke(tmp_path / "no-store.duckdb", "verify", "--casefile", changed, "--json")
    assert tampered.exit_code == 1 and json.loads(tampered.output)["logged"] is None
    missing = invoke(tmp_path / "no-store.duckdb", "verify", "--casefile", tmp_path)
    assert missing.exit_code == 2 and "manifest.json is missing" in missing.output


def test_cli_withdrawal_names_the_flagged_export(cli_db, tmp_path):
    out = tmp_path / "casefile"
    written = json.loads(invoke(cli_db, "casefile", "--authority", "DE-GBA", "--out", out, "--no-pdf", "--no-interactive",
                                "--json").output)
    result = invoke(cli_db, "agreement", "--ngo", "ALPHA", "--authority", "DE-GBA", "--withdrawn", "--reference", "letter 12")
    assert result.exit_code == 0, result.output
    assert "ALPHA withdrew its agreement for DE-GBA" in result.output and "by cli-auditor" in result.output
    assert written["casefile_id"] in result.output and "flagged" in result.output
    listing = json.loads(invoke(cli_db, "audit", "--json").output)
    assert listing[0]["withdrawals"].startswith("ALPHA withdrew on")
    # the next case file withholds ALPHA's records
    again = json.loads(invoke(cli_db, "casefile", "--authority", "DE-GBA", "--preview", "--json").output)
    assert ("incidents", "agreement_withdrawn") in {(w["record_type"], w["reason"]) for w in again["withheld"]}
    assert again["counts"][0] == {"record_type": "incidents", "disclosed": 0, "withheld": written["counts"][0]["disclosed"]
                                  + written["counts"][0]["withheld"]}


def test_cli_refuses_what_it_cannot_do(cli_db, tmp_path):
    nameless = invoke(cli_db, "casefile", "--authority", "(x)", "--preview")
    assert nameless.exit_code == 2 and "no code" in nameless.output
    unknown = invoke(cli_db, "agreement", "--ngo", "NOBODY", "--authority", "DE-GBA", "--agreed")
    assert unknown.exit_code == 2 and "no NGO 'NOBODY'" in unknown.output
    no_out = invoke(cli_db, "casefile", "--authority", "DE-GBA")
    assert no_out.exit_code != 0
    bad_query = tmp_path / "bad.sql"
    bad_query.write_text("DELETE FROM incidents", encoding="utf-8")
    refused = invoke(cli_db, "casefile", "--authority", "DE-GBA", "--preview", "--query", bad_query)
    assert refused.exit_code == 2 and "bad.sql" in refused.output
    with open_store(cli_db, read_only=True) as store:
        assert exports(store).height == 0


def test_cli_contact_requests_are_logged(cli_db, tmp_path):
    out = tmp_path / "contacts.csv"
    result = invoke(cli_db, "contact-requests", "--ngo", "ALPHA", "--out", out, "--role", "witness")
    assert result.exit_code == 0, result.output
    listing = json.loads(invoke(cli_db, "audit", "--kind", "contact_requests", "--json").output)
    assert len(listing) == 1 and listing[0]["created_by"] == "cli-auditor" and listing[0]["export_id"] in result.output
    rows = out.read_text(encoding="utf-8").splitlines()
    assert listing[0]["records"] == len(rows) - 1 > 0
    assert hashlib.sha256(out.read_bytes()).hexdigest() == listing[0]["manifest_sha256"]
    created = datetime.fromisoformat(listing[0]["created_at"])
    assert abs(created - utc_now()) < timedelta(minutes=5)
