"""The command line: each command is a thin shell over the API; errors are one clear message."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.conftest import INCIDENTS_CSV, SHARED_DATA, requires_shared_data
from workbench.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_ingest_status_verify_round_trip(tmp_path, package_factory, monkeypatch):
    monkeypatch.setenv("WORKBENCH_USER", "cli-test")
    db = tmp_path / "cli.duckdb"
    package = package_factory({"incidents.csv": INCIDENTS_CSV})
    result = invoke("ingest", "--db", db, package)
    assert result.exit_code == 0, result.output
    assert "3 rows read, 3 accepted, 0 quarantined" in result.output
    again = invoke("ingest", "--db", db, package)
    assert "already ingested" in again.output
    status = json.loads(invoke("status", "--db", db, "--json").output)
    assert status[0]["ngo_id"] == "TESTNGO" and status[0]["rows_accepted"] == 3
    verified = invoke("verify", "--db", db, "--json")
    assert verified.exit_code == 0 and json.loads(verified.output)["ok"] is True


def test_verify_exits_1_and_names_the_altered_file(tmp_path, package_factory):
    db = tmp_path / "cli.duckdb"
    invoke("ingest", "--db", db, package_factory({"incidents.csv": INCIDENTS_CSV}))
    vault_file = next((tmp_path / "cli.vault").rglob("incidents.csv"))
    vault_file.write_text("tampered", encoding="utf-8")
    result = invoke("verify", "--db", db)
    assert result.exit_code == 1 and "file incidents.csv was altered" in result.output


def test_a_rejected_package_exits_1_with_its_reason(tmp_path, package_factory):
    result = invoke("ingest", "--db", tmp_path / "cli.duckdb", package_factory({"incidents.csv": INCIDENTS_CSV}, manifest=False))
    assert result.exit_code == 1 and "no manifest" in result.output


def test_a_store_that_is_not_a_database_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a database " * 200)
    result = invoke("status", "--db", bad)
    assert result.exit_code == 2 and "is not a DuckDB database" in result.output


def test_check_lists_findings_and_exits_1_when_rows_would_be_quarantined(package_factory, tmp_path):
    package = package_factory({"incidents.csv": INCIDENTS_CSV + "I-4,2013-06-01,Douma,torture,about 20,x\n"})
    out = tmp_path / "findings.csv"
    result = invoke("check", package, "--findings", out)
    assert result.exit_code == 1
    assert "incidents.csv:5 killed [error] type.integer" in result.output
    assert "type.integer" in out.read_text(encoding="utf-8")


def test_contract_check_and_frictionless_export(tmp_path, package_factory):
    from frictionless import Package, Resource, Schema

    assert invoke("contract", "check").exit_code == 0
    result = invoke("contract", "export", "--format", "frictionless", "--out", tmp_path / "schemas")
    assert result.exit_code == 0
    schema = Schema.from_descriptor(json.loads((tmp_path / "schemas" / "incidents.schema.json").read_text(encoding="utf-8")))
    (tmp_path / "incidents.csv").write_text(INCIDENTS_CSV.replace("12/04/2013", "2013-04-12"), encoding="utf-8")
    report = Resource(path="incidents.csv", basepath=str(tmp_path), schema=schema).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    (tmp_path / "bad.csv").write_text(INCIDENTS_CSV.replace("I-2,", "I-1,").replace(",3,", ",-3,"), encoding="utf-8")
    report = Resource(path="bad.csv", basepath=str(tmp_path), schema=schema).validate()
    codes = {error.type for task in report.tasks for error in task.errors}
    assert {"primary-key", "constraint-error"} <= codes
    assert Package(json.loads((tmp_path / "schemas" / "datapackage.json").read_text(encoding="utf-8"))).resources


def test_unknown_export_format(tmp_path):
    assert invoke("contract", "export", "--format", "avro", "--out", tmp_path).exit_code == 2


def test_synth_writes_packages_and_ground_truth(tmp_path):
    result = invoke("synth", "--out", tmp_path / "demo", "--incidents", "60", "--seed", "3")
    assert result.exit_code == 0
    assert (tmp_path / "demo" / "ground_truth" / "incidents.csv").exists()
    assert len([p for p in (tmp_path / "demo").iterdir() if p.is_dir() and p.name != "ground_truth"]) >= 6


@pytest.mark.shared_data
@requires_shared_data()
def test_ocha_gazetteer_import_then_community_level_geocoding(tmp_path, package_factory):
    db = tmp_path / "ocha.duckdb"
    result = invoke("gazetteer", "import", "--db", db, SHARED_DATA / "geo")
    assert result.exit_code == 0, result.output
    info = invoke("gazetteer", "info", "--db", db).output
    assert "5251" in info.replace(",", "") or "5,251" in info
    csv = "incident_id,date_start,place,violation_types\nI-1,2013-03-12,Saraqab,torture\nI-2,2013-03-12,خان شيخون,torture\n"
    invoke("ingest", "--db", db, package_factory({"incidents.csv": csv}))
    from workbench.store import open_store

    with open_store(db, read_only=True) as store:
        rows = store.frame("SELECT place, place_id, geo_precision, admin1_pcode FROM incidents ORDER BY incident_id").to_dicts()
        actions = [e.action for e in store.custody_entries()]
    assert all(r["geo_precision"] == "community" and r["place_id"].startswith("C") for r in rows)
    assert {r["admin1_pcode"] for r in rows} == {"SY07"}
    assert actions[:2] == ["gazetteer-import", "ingest"]


def test_ingest_and_check_with_a_mapping(tmp_path, package_factory):
    from tests.test_mapping import EXPORT, write_mapping

    mapping = write_mapping(tmp_path)
    package = package_factory({"export_2024.csv": EXPORT})
    checked = invoke("check", package, "--mapping", mapping)
    assert "3 rows read, 2 would be accepted, 1 quarantined" in checked.output, checked.output
    assert "export_2024.csv:4 date_start [error] required" in checked.output
    db = tmp_path / "mapped.duckdb"
    result = invoke("ingest", "--db", db, "--mapping", mapping, package)
    assert result.exit_code == 0 and "3 rows read, 2 accepted, 1 quarantined" in result.output
    from workbench.store import open_store

    with open_store(db, read_only=True) as store:
        assert store.frame("SELECT mode FROM submissions").item() == "mapping:test-export@1.0.0"
        swapped = store.frame("SELECT source_row, message FROM findings WHERE rule = 'geo.swapped'").to_dicts()
        assert swapped == [{"source_row": 3, "message": "latitude and longitude were the wrong way round; put right, as the mapping says"}]
        entry = store.custody_entries()[-1]
        assert entry.details["mapping"]["name"] == "test-export" and len(entry.details["mapping"]["sha256"]) == 64


def test_a_mapping_that_matches_no_file_is_refused(tmp_path, package_factory):
    from tests.test_mapping import write_mapping

    result = invoke("ingest", "--db", tmp_path / "x.duckdb", "--mapping", write_mapping(tmp_path), package_factory({"incidents.csv": INCIDENTS_CSV}))
    assert result.exit_code == 1 and "reads files named export*.csv, and the package has none" in result.output


def test_mapping_commands(tmp_path):
    from tests.test_mapping import EXPORT, write_mapping

    assert invoke("mapping", "check", write_mapping(tmp_path)).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    result = invoke("mapping", "check", bad)
    assert result.exit_code == 2 and "'version' is a required property" in result.output
    export = tmp_path / "export.csv"
    export.write_text(EXPORT, encoding="utf-8")
    out = tmp_path / "draft.yaml"
    assert invoke("mapping", "draft", export, "--out", out, "--db", tmp_path / "none.duckdb").exit_code == 0
    assert "incident_id" in out.read_text(encoding="utf-8")
