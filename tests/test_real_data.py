"""The real Syrian Archive export, loaded through its mapping (runs when ../shared/data exists)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from tests.conftest import SHARED_DATA, base_manifest, requires_shared_data
from workbench.ingest import ingest_package
from workbench.mapping import default_mappings_path, load_mapping

VIOLATIONS = SHARED_DATA / "real" / "syrianarchive-violations" / "violations.csv"


@pytest.fixture(scope="module")
def archive_store(tmp_path_factory, contracts):
    from workbench.store import open_store

    root = tmp_path_factory.mktemp("archive")
    package = root / "syrianarchive-2017"
    package.mkdir()
    shutil.copy(VIOLATIONS, package / "violations.csv")
    manifest = base_manifest(ngo={"id": "SYRIAN-ARCHIVE", "name": "Syrian Archive"}, submission_ref="SA-2017-export",
                             reporting_period={"start": "2012-01-01", "end": "2017-12-31"})
    (package / "manifest.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    mapping = load_mapping(default_mappings_path() / "examples" / "syrianarchive-violations.yaml", contracts)
    store = open_store(root / "store.duckdb", contracts=contracts)
    report = ingest_package(store, package, mapping=mapping)
    yield store, report
    store.close()


@pytest.mark.shared_data
@requires_shared_data()
def test_every_row_is_accepted_or_quarantined(archive_store):
    store, report = archive_store
    assert report.rows_read == 4135  # records; some descriptions span several lines of the file
    assert report.rows_accepted + report.rows_quarantined == report.rows_read
    assert report.rows_accepted > 4000
    incidents = store.con.execute("SELECT count(*) FROM incidents").fetchone()[0]
    sources = store.con.execute("SELECT count(*) FROM sources").fetchone()[0]
    assert incidents >= report.rows_accepted and sources >= report.rows_accepted


@pytest.mark.shared_data
@requires_shared_data()
def test_provenance_points_at_the_row_of_the_export(archive_store):
    store, _ = archive_store
    row = store.frame("SELECT source_file, source_row, narrative FROM incidents WHERE incident_id = 'HO_dda72'").to_dicts()[0]
    assert (row["source_file"], row["source_row"]) == ("violations.csv", 2)
    assert row["narrative"].startswith("The destruction in KafrZita Hospital")


@pytest.mark.shared_data
@requires_shared_data()
def test_weapons_and_categories_become_violation_types(archive_store):
    store, _ = archive_store
    counts = dict(store.con.execute(
        "SELECT v, count(*) FROM (SELECT unnest(violation_types) AS v FROM incidents) GROUP BY v").fetchall())
    assert counts["chemical_weapons"] >= 500 and counts["cluster_munitions"] >= 190
    assert counts["attack_civilians"] >= 1600


@pytest.mark.shared_data
@requires_shared_data()
def test_places_are_geocoded_and_missing_violation_types_quarantined(archive_store):
    store, _ = archive_store
    precision = dict(store.con.execute("SELECT geo_precision, count(*) FROM incidents GROUP BY ALL").fetchall())
    assert precision.get("point", 0) > 1900 and precision.get("community", 0) > 500
    assert None not in precision  # every incident has a precision, "unknown" when nothing places it
    reasons = dict(store.con.execute(
        "SELECT rule, count(*) FROM findings WHERE severity = 'error' GROUP BY rule").fetchall())
    # "NA" as violation type and no weapon named: nothing to classify the video by
    assert reasons.get("required", 0) >= 9
    unused = store.frame("SELECT message FROM findings WHERE rule = 'mapping.unused_column'")["message"].to_list()
    assert any("Recording_Hour" in m for m in unused)


@pytest.mark.shared_data
@requires_shared_data()
def test_feedback_on_a_mapped_export(archive_store, tmp_path):
    """The place is made from three columns: each incident counts once, and all three are named."""
    from workbench.feedback import write_report
    from workbench.quality import ngo_metrics
    from workbench.quality.recommendations import load_rules, recommend

    store, report = archive_store
    metrics = ngo_metrics(store, "SYRIAN-ARCHIVE")
    (places,) = metrics.tables["place_columns"]
    assert places["total"] == metrics.summary["incidents"] == report.rows_accepted
    assert places["governorate_only"] + places["finer"] + places["unknown"] == places["total"]
    assert set(places["header"].split(" + ")) == {"City", "place", "Neighborhood"}
    assert metrics.summary["headers_unused"] >= 5 and metrics.summary["headers_unknown"] == 0
    fired = {r.rule for r in recommend(metrics, load_rules(store.contracts.path / "feedback" / "rules.yaml"))}
    assert "unknown_columns" not in fired  # the mapping chose not to read them: nothing for the NGO to rename
    assert {"place_governorate_only", "suspected_duplicates", "media_hashes"} <= fired
    files = write_report(store, "SYRIAN-ARCHIVE", tmp_path, language="ar", log=False)
    assert "Syrian Archive" in files.html.read_text(encoding="utf-8")


@pytest.mark.shared_data
@requires_shared_data()
def test_videos_of_one_attack_cluster_and_a_long_campaign_does_not_chain(archive_store):
    """Many videos of the same attack become one cluster; months of look-alike siege videos do not become one."""
    from workbench.linkage.run import link_incidents

    store, _ = archive_store
    run = link_incidents(store)
    assert run.records > 4000 and run.multi_record_clusters > 100

    def biggest_share(day: str, place: str) -> float:
        counts = store.frame(f"""SELECT c.cluster_id, count(*) AS n FROM active.incidents i
            JOIN link_clusters c ON c.entity = 'incidents' AND c.ngo_id = i.ngo_id AND c.local_id = i.incident_id
            WHERE i.date_start = DATE '{day}' AND i.place ILIKE '%{place}%' GROUP BY 1 ORDER BY n DESC""")["n"]
        return counts[0] / counts.sum()

    assert biggest_share("2017-04-04", "Khan Shaykhun") >= 0.8  # the sarin attack on Khan Shaykhun
    assert biggest_share("2013-08-21", "Ayn Tarma") >= 0.8  # the Ghouta chemical attack
    spans = store.frame("""SELECT c.cluster_id, max(i.date_start) - min(i.date_start) AS days FROM link_clusters c
        JOIN active.incidents i ON i.ngo_id = c.ngo_id AND i.incident_id = c.local_id
        WHERE c.entity = 'incidents' AND i.date_precision = 'day' GROUP BY 1""")["days"]
    assert spans.max() <= 7  # no chain of siege videos across months
