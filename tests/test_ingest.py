"""Ingest: good packages load with provenance; every kind of bad input gets a clear, specific finding."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import INCIDENTS_CSV, base_manifest
from workbench.errors import ManifestError, PackageError, UnsafeArchiveError
from workbench.ingest import check_package, ingest_package

TODAY = date(2026, 11, 28)


def ingest(store, path: Path):
    report = ingest_package(store, path, today=TODAY, keep_in_vault=store.path is not None)
    # the invariant the status output shows: every row read is either accepted or quarantined
    assert report.rows_read == report.rows_accepted + report.rows_quarantined
    stored = store.con.execute(
        "SELECT (SELECT count(*) FROM quarantine WHERE submission_id = ?)", [report.submission_id]
    ).fetchone()[0]
    assert stored == report.rows_quarantined
    return report


def findings(store, **where) -> list[dict]:
    frame = store.frame("SELECT source_file, source_row, field, rule, severity, message FROM findings ORDER BY ALL")
    rows = frame.to_dicts()
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def test_good_package_loads_with_provenance(store, package_factory):
    report = ingest(store, package_factory({"incidents.csv": INCIDENTS_CSV}))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (3, 3, 0)
    rows = store.frame("SELECT * FROM active.incidents ORDER BY source_row").to_dicts()
    assert [r["source_row"] for r in rows] == [2, 3, 4]
    assert {r["source_file"] for r in rows} == {"incidents.csv"}
    assert (rows[0]["ngo_id"], rows[0]["incident_id"]) == ("TESTNGO", "I-1")
    assert rows[0]["violation_types"] == ["torture_ill_treatment"]
    assert rows[1]["date_start"] == date(2013, 4, 12) and rows[1]["date_precision"] == "day"
    assert rows[2]["date_start"] == date(2014, 3, 1) and rows[2]["date_end"] == date(2014, 3, 31)
    assert rows[2]["date_precision"] == "month"
    assert rows[1]["admin1_pcode"] == "SY02"  # حلب, Aleppo
    assert rows[0]["geo_precision"] == "community" and rows[0]["latitude"] is not None
    assert all(len(r["row_hash"]) == 32 for r in rows)


def test_reingesting_the_same_package_changes_nothing(file_store, package_factory):
    path = package_factory({"incidents.csv": INCIDENTS_CSV})
    first = ingest(file_store, path)
    before = file_store.con.execute("SELECT count(*) FROM custody_log").fetchone()[0]
    second = ingest_package(file_store, path, today=TODAY)
    assert second.status == "unchanged" and second.submission_id == first.submission_id
    assert "already ingested" in second.message
    assert file_store.con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 3
    assert file_store.con.execute("SELECT count(*) FROM custody_log").fetchone()[0] == before


def test_corrected_resubmission_supersedes_without_deleting(file_store, package_factory):
    first = ingest(file_store, package_factory({"incidents.csv": INCIDENTS_CSV}))
    corrected = INCIDENTS_CSV.replace("I-3,March 2014", "I-3,2014-03-05")
    second = ingest(file_store, package_factory({"incidents.csv": corrected}))
    assert second.supersedes == first.submission_id
    assert file_store.con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 6
    active = file_store.frame("SELECT submission_id, date_start FROM active.incidents WHERE incident_id = 'I-3'")
    assert active.to_dicts() == [{"submission_id": second.submission_id, "date_start": date(2014, 3, 5)}]
    actions = [e.action for e in file_store.custody_entries()]
    assert actions[-2:] == ["ingest", "supersede"]


def test_links_may_refer_to_an_earlier_submission_of_the_same_ngo(store, package_factory):
    ingest(store, package_factory({"incidents.csv": INCIDENTS_CSV}))
    later = base_manifest(submission_ref="TEST-2024-2")
    report = ingest(store, package_factory({
        "persons.csv": "person_id,pseudonym\nP-1,TEST-P-0001aa\n",
        "incident_persons.csv": "incident_id,person_id,role\nI-1,P-1,victim\n",
    }, later))
    assert report.rows_quarantined == 0


# -- bad packages --------------------------------------------------------------------------

def test_missing_manifest(store, package_factory):
    with pytest.raises(ManifestError, match="no manifest"):
        ingest_package(store, package_factory({"incidents.csv": INCIDENTS_CSV}, manifest=False))
    assert store.con.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0


def test_unknown_contract_version(file_store, package_factory):
    with pytest.raises(ManifestError, match=r"contract_version.*'7\.0'"):
        ingest_package(file_store, package_factory({"incidents.csv": INCIDENTS_CSV}, base_manifest(contract_version="7.0")))
    assert file_store.con.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
    assert [e.action for e in file_store.custody_entries()] == ["reject"]


def test_zip_slip_is_refused_and_logged(file_store, tmp_path):
    import zipfile

    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("manifest.yaml", json.dumps(base_manifest()))
        zf.writestr("../../outside.csv", INCIDENTS_CSV)
    with pytest.raises(UnsafeArchiveError, match="outside.csv"):
        ingest_package(file_store, archive)
    assert not (tmp_path.parent / "outside.csv").exists()
    entry = file_store.custody_entries()[-1]
    assert entry.action == "reject" and "outside.csv" in entry.details["reason"]


def test_truncated_zip(store, tmp_path):
    import zipfile

    archive = tmp_path / "cut.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.yaml", json.dumps(base_manifest()))
        zf.writestr("incidents.csv", INCIDENTS_CSV * 200)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(PackageError, match="cut.zip"):
        ingest_package(store, archive)


def test_zip_bomb(store, tmp_path, monkeypatch):
    import zipfile

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.yaml", json.dumps(base_manifest()))
        zf.writestr("incidents.csv", b"0" * (60 * 1024 * 1024))
    with pytest.raises(UnsafeArchiveError, match="incidents.csv"):
        ingest_package(store, archive)


def test_zip_package_loads_like_a_folder(store, tmp_path, package_factory):
    import shutil

    folder = package_factory({"incidents.csv": INCIDENTS_CSV})
    archive = Path(shutil.make_archive(str(tmp_path / "sent"), "zip", folder))
    report = ingest(store, archive)
    assert report.rows_accepted == 3


# -- bad files -----------------------------------------------------------------------------

def test_zero_byte_and_header_only_files(store, package_factory):
    report = ingest(store, package_factory({"incidents.csv": b"", "persons.csv": "person_id,pseudonym\n"}))
    assert report.rows_read == 0
    assert {(f["source_file"], f["rule"]) for f in findings(store)} == {("incidents.csv", "file.empty"), ("persons.csv", "file.empty")}


def test_windows_1256_file_is_detected_and_read(store, package_factory):
    text = "رقم الحادثة,التاريخ,المكان,نوع الانتهاك\nA-1,12/03/2013,حلب,تعذيب\n"
    report = ingest(store, package_factory({"incidents.csv": text.encode("cp1256")}))
    assert report.rows_accepted == 1
    row = store.frame("SELECT place, violation_types, admin1_pcode FROM incidents").to_dicts()[0]
    assert row == {"place": "حلب", "violation_types": ["torture_ill_treatment"], "admin1_pcode": "SY02"}


def test_mixed_encoding_quarantines_only_the_broken_rows(store, package_factory):
    good = INCIDENTS_CSV.encode("utf-8")
    broken = "I-9,2013-05-01,حلب,torture,1,رواية\n".encode("cp1256")
    report = ingest(store, package_factory({"incidents.csv": good + broken}))
    assert (report.rows_accepted, report.rows_quarantined) == (3, 1)
    assert findings(store, rule="encoding")[0]["source_row"] == 5
    assert findings(store, rule="file.encoding")  # the file-level note too


def test_missing_required_column_quarantines_every_row_once(store, package_factory):
    report = ingest(store, package_factory({"incidents.csv": "incident_id,place\nI-1,Douma\nI-2,Idlib\n"}))
    assert report.rows_quarantined == 2
    [finding] = findings(store, rule="header.missing_required")
    assert finding["source_file"] == "incidents.csv" and "date_start" in finding["message"] and "violation_types" in finding["message"]
    reasons = store.frame("SELECT reasons FROM quarantine").to_series().to_list()
    assert all("required field" in r[0] for r in reasons)


def test_extra_columns_are_reported_not_loaded(store, package_factory):
    csv = "\n".join(line + (",colour" if i == 0 else ",blue") for i, line in enumerate(INCIDENTS_CSV.splitlines())) + "\n"
    report = ingest(store, package_factory({"incidents.csv": csv}))
    assert report.rows_accepted == 3
    [finding] = findings(store, rule="header.unknown")
    assert "colour" in finding["message"] and finding["severity"] == "warning"


def test_wrong_types_name_row_and_field(store, package_factory):
    csv = INCIDENTS_CSV + "I-4,2013-06-01,Douma,torture,about 20,text\n"
    report = ingest(store, package_factory({"incidents.csv": csv}))
    assert report.rows_quarantined == 1
    [finding] = findings(store, rule="type.integer")
    assert (finding["source_row"], finding["field"]) == (5, "killed")
    assert '"about 20" is not a whole number' in finding["message"]


def test_duplicate_keys_point_at_the_first(store, package_factory):
    ingest(store, package_factory({"incidents.csv": INCIDENTS_CSV + "I-2,2013-06-01,Douma,torture,1,x\n"}))
    [finding] = findings(store, rule="unique")
    assert finding["source_row"] == 5 and "row 3" in finding["message"]


def test_dangling_references(store, package_factory):
    report = ingest(store, package_factory({
        "incidents.csv": INCIDENTS_CSV,
        "persons.csv": "person_id,pseudonym\nP-1,TEST-P-0001aa\n",
        "incident_persons.csv": "incident_id,person_id,role\nI-1,P-1,victim\nI-404,P-1,witness\nI-2,P-404,victim\n",
    }))
    assert report.rows_quarantined == 2
    messages = {f["source_row"]: f["message"] for f in findings(store, rule="reference")}
    assert "I-404" in messages[3] and "refers to no record of incidents" in messages[3]
    assert "P-404" in messages[4]


def test_dates_outside_the_mandate_or_in_the_future(store, package_factory):
    csv = INCIDENTS_CSV + "I-4,2010-12-01,Douma,torture,1,x\nI-5,2031-01-01,Douma,torture,1,x\nI-6,31/04/2013,Douma,torture,1,x\n"
    ingest(store, package_factory({"incidents.csv": csv}))
    assert findings(store, rule="minimum")[0]["source_row"] == 5
    assert findings(store, rule="not_future")[0]["source_row"] == 6
    [bad_day] = findings(store, rule="date")
    assert bad_day["source_row"] == 7 and bad_day["field"] == "date_start"


def test_coordinates_outside_syria(store, package_factory):
    csv = "incident_id,date_start,violation_types,latitude,longitude\nI-1,2013-03-12,torture,36.5,52.1\nI-2,2013-03-12,torture,36.2,\n"
    report = ingest(store, package_factory({"incidents.csv": csv}))
    assert report.rows_quarantined == 2
    [outside] = findings(store, rule="maximum")
    assert outside["field"] == "longitude" and "swapped" in outside["message"]
    assert findings(store, rule="geo.incomplete")[0]["source_row"] == 3


def test_a_10_mb_field(store, package_factory):
    huge = "x" * (10 * 1024 * 1024)
    report = ingest(store, package_factory({"incidents.csv": INCIDENTS_CSV + f"I-4,2013-06-01,Douma,torture,1,{huge}\n"}))
    assert (report.rows_accepted, report.rows_quarantined) == (3, 1)
    [finding] = findings(store, rule="max_length")
    assert finding["source_row"] == 5 and "10,485,760" in finding["message"]
    raw = json.loads(store.con.execute("SELECT raw FROM quarantine").fetchone()[0])
    assert len(raw["narrative"]) <= 100_000


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_cells_a_spreadsheet_would_run(store, package_factory, start):
    report = ingest(store, package_factory({"incidents.csv": INCIDENTS_CSV + f'I-4,2013-06-01,Douma,torture,1,"{start}cmd|calc"\n'}))
    assert report.rows_accepted == 4  # kept as text; exports neutralise it
    [finding] = findings(store, rule="formula_like")
    assert finding["source_row"] == 5 and finding["severity"] == "warning"


def test_unknown_vocabulary_and_pseudonym_that_is_a_name(store, package_factory):
    ingest(store, package_factory({
        "incidents.csv": INCIDENTS_CSV + "I-4,2013-06-01,Douma,weather,1,x\n",
        "persons.csv": "person_id,pseudonym\nP-1,Ahmad Example\nP-2,أحمد مثال\nP-3,TEST-P-0003cc\n",
    }))
    assert '"weather"' in findings(store, rule="vocabulary")[0]["message"]
    names = findings(store, rule="pii.name_in_pseudonym")
    assert [f["source_row"] for f in names] == [2, 3]
    raws = store.con.execute("SELECT raw FROM quarantine WHERE record_type = 'persons'").fetchall()
    assert all("Ahmad" not in r[0] and "أحمد" not in r[0] for r in raws)
    assert all("Ahmad" not in f["message"] for f in findings(store))


def test_personal_data_in_narratives_is_masked_and_reported(store, package_factory):
    csv = (INCIDENTS_CSV + 'I-4,2013-06-01,Douma,torture,1,"Call his brother on +963 944 000 123 or 0944000124, mail x.y@example.org"\n'
           + "I-5,2013-06-01,Douma,torture,1,اتصل على ٠٩٤٤٠٠٠١٢٣ للتفاصيل\n")
    report = ingest(store, package_factory({"incidents.csv": csv}))
    assert report.rows_accepted == 5
    stored = dict(store.con.execute("SELECT incident_id, narrative FROM incidents WHERE incident_id IN ('I-4', 'I-5')").fetchall())
    assert "944" not in stored["I-4"] and "example.org" not in stored["I-4"] and "[phone removed]" in stored["I-4"]
    assert "٠٩٤٤" not in stored["I-5"]
    rules = {(f["source_row"], f["rule"]) for f in findings(store) if f["rule"].startswith("pii.")}
    assert {(5, "pii.phone"), (5, "pii.email"), (6, "pii.phone")} <= rules
    assert not any("944" in f["message"] for f in findings(store))


def test_malformed_csv_rows_are_quarantined_with_their_row(store, package_factory):
    csv = INCIDENTS_CSV + "I-4,2013-06-01,Douma,torture,1,x,extra,cells\nI-5,2013-06-01,Douma,torture,1,fine\n"
    report = ingest(store, package_factory({"incidents.csv": csv}))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (5, 4, 1)
    [finding] = findings(store, rule="csv.too_many_columns")
    assert finding["source_row"] == 5
    assert store.frame("SELECT source_row FROM incidents WHERE incident_id = 'I-5'").item() == 6


def test_blank_lines_do_not_shift_row_numbers(store, package_factory):
    csv = INCIDENTS_CSV.replace("\nI-2", "\n\nI-2") + "I-4,2013-06-01,Douma,torture,x,y\n"
    ingest(store, package_factory({"incidents.csv": csv}))
    rows = dict(store.con.execute("SELECT incident_id, source_row FROM incidents").fetchall())
    assert rows == {"I-1": 2, "I-2": 4, "I-3": 5}
    assert findings(store, rule="type.integer")[0]["source_row"] == 6


def test_json_and_json_lines(store, package_factory):
    records = [{"incident_id": "J-1", "date_start": "2013-03-12", "violation_types": ["torture", "قتل"], "killed": 2},
               {"incident_id": "J-2", "date_start": "2013-03-13", "violation_types": "torture"}]
    lines = '{"person_id": "P-1", "pseudonym": "TEST-P-0001aa"}\nnot json at all\n{"person_id": "P-2", "pseudonym": "TEST-P-0002bb"}\n'
    report = ingest(store, package_factory({"incidents.json": json.dumps(records), "persons.jsonl": lines}))
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (5, 4, 1)
    assert store.frame("SELECT violation_types FROM incidents WHERE incident_id = 'J-1'").item().to_list() == [
        "torture_ill_treatment", "unlawful_killing"]
    [finding] = findings(store, rule="json.not_a_record")
    assert (finding["source_file"], finding["source_row"]) == ("persons.jsonl", 2)


def test_xlsx_with_mixed_dates(store, package_factory, tmp_path):
    import datetime as dt

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["incident_id", "date", "violation_types"])
    sheet.append(["X-1", dt.datetime(2013, 3, 12), "torture"])
    sheet.append(["X-2", "12/04/2013", "torture"])
    sheet.append(["X-3", "March 2014", "torture"])
    path = tmp_path / "book.xlsx"
    book.save(path)
    report = ingest(store, package_factory({"incidents.xlsx": path.read_bytes()}))
    assert report.rows_accepted == 3
    assert store.frame("SELECT date_start FROM incidents ORDER BY source_row").to_series().to_list() == [
        date(2013, 3, 12), date(2013, 4, 12), date(2014, 3, 1)]


def test_unrecognisable_file_is_quarantined_not_dropped(store, package_factory):
    report = ingest(store, package_factory({"misc.csv": "a,b\n1,2\n3,4\n"}))
    assert report.rows_quarantined == 2
    assert findings(store, rule="file.record_type")


def test_manifest_lists_a_file_the_package_lacks(store, package_factory):
    manifest = base_manifest(files=[{"path": "incidents.csv", "record_type": "incidents"}, {"path": "gone.csv", "record_type": "persons"}])
    ingest(store, package_factory({"incidents.csv": INCIDENTS_CSV}, manifest))
    assert findings(store, rule="file.missing")[0]["source_file"] == "gone.csv"


def test_files_are_recognised_by_headers_when_names_say_nothing(store, package_factory):
    report = ingest(store, package_factory({"export_2024.csv": INCIDENTS_CSV}))
    assert report.files[0].record_type == "incidents" and report.rows_accepted == 3


def test_failure_mid_ingest_leaves_the_store_as_it_was(file_store, package_factory, monkeypatch):
    ingest(file_store, package_factory({"incidents.csv": INCIDENTS_CSV}))
    before = {t: file_store.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("submissions", "incidents", "persons", "findings", "quarantine", "custody_log")}
    import workbench.ingest.api as module

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "_record_submission", explode)
    second = base_manifest(submission_ref="TEST-2024-9")
    with pytest.raises(RuntimeError):
        ingest_package(file_store, package_factory({"incidents.csv": INCIDENTS_CSV, "persons.csv": "person_id,pseudonym\nP-1,TEST-P-0001aa\n"}, second))
    after = {t: file_store.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in before}
    assert after == before
    kept = {p.name for p in (file_store.path.with_suffix(".vault")).iterdir()}
    assert kept == set(file_store.con.execute("SELECT package_sha256 FROM submissions").fetchone())  # no orphan copy


def test_check_runs_the_same_checks_without_a_store(package_factory):
    report, found = check_package(package_factory({"incidents.csv": INCIDENTS_CSV + "I-4,2013-06-01,Douma,torture,about 20,x\n"}), today=TODAY)
    assert report.status == "checked" and report.rows_quarantined == 1
    assert found.filter(found["rule"] == "type.integer")["row"].to_list() == [5]
