"""Format mappings: checked like contracts, applied in SQL, splitting, joining, mapping and fixing values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from workbench.errors import MappingError
from workbench.intake import open_package
from workbench.mapping import ValueSpec, apply_mapping, default_mappings_path, load_mapping, map_values, swapped_coordinates_sql
from workbench.readers import read_raw

EXPORT = (
    "Ref,Date,City,Quarter,Lat,Lon,Category,Victim,Notes\n"
    "R-1,12/03/2013,Douma,Al-Shifoniyeh,33.57,36.40,Shelling | Torture,Adult - Male,ok\n"
    "R-2,2013-03-13,Deir ez-Zor,NA,40.14,35.33,shelling,Child - Female,NA\n"
    "R-3,NA,Aleppo,,37.16,36.20,Unknown label,Adult - Female,\n"
)


def write_mapping(tmp_path: Path, **overrides) -> Path:
    doc = {
        "name": "test-export", "version": "1.0.0", "title": "Test export", "description": "A small export.",
        "contract_version": "1.0",
        "source": {"files": ["export*.csv"], "missing_values": ["NA"],
                   "coordinates": {"latitude": "Lat", "longitude": "Lon", "swapped": "fix"}},
        "records": [
            {"type": "incidents", "fields": {
                "incident_id": {"column": "Ref"},
                "date_start": {"column": "Date", "formats": ["%Y-%m-%d"]},
                "place": {"columns": ["Quarter", "City"], "separator": ", "},
                "latitude": {"column": "Lat"}, "longitude": {"column": "Lon"},
                "violation_types": {"column": "Category", "split": "|",
                                    "map": {"Shelling": "indiscriminate_attack", "Torture": "torture_ill_treatment"}},
                "language": {"constant": "en"},
            }},
            {"type": "persons", "fields": {
                "person_id": {"column": "Ref", "prefix": "P-"},
                "pseudonym": {"column": "Ref", "prefix": "TEST-PSEUDO-"},
                "sex": {"column": "Victim", "map": {"Adult - Male": "male", "Child - Female": "female", "Adult - Female": "female"}},
                "age_group": {"column": "Victim", "map": {"Adult - Male": "adult", "Child - Female": "child", "Adult - Female": "adult"}},
            }},
        ],
    }
    doc.update(overrides)
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_example_mappings_are_valid(contracts):
    paths = sorted(default_mappings_path().rglob("*.yaml"))
    assert paths
    for path in paths:
        assert load_mapping(path, contracts).records


def test_problems_are_collected(tmp_path, contracts):
    bad = write_mapping(tmp_path, records=[{"type": "incidents", "fields": {
        "incident_id": {"column": "Ref"}, "colour": {"column": "X"},
        "violation_types": {"column": "C", "map": {"Shelling": "not_a_code"}}}}, {"type": "weather", "fields": {"x": {"column": "y"}}}])
    with pytest.raises(MappingError) as caught:
        load_mapping(bad, contracts)
    text = "\n".join(caught.value.problems)
    assert "'colour' is not a field of incidents" in text
    assert "'not_a_code' is not in the violation_types vocabulary" in text
    assert "no contract for record type 'weather'" in text
    assert "required field(s) date_start are not mapped" in text


def test_schema_errors_name_the_key(tmp_path, contracts):
    bad = write_mapping(tmp_path, records=[{"type": "incidents", "fields": {"incident_id": {"column": "Ref", "constant": "x"}}}])
    with pytest.raises(MappingError, match="records.0.fields.incident_id"):
        load_mapping(bad, contracts)


def test_map_values_splits_maps_and_drops_missing():
    spec = ValueSpec(column="C", split="|", map={"Shelling": "indiscriminate_attack", "Drone": None})
    frame = map_values(["Shelling | Drone", "shelling|NA", "Other thing"], spec, delimiter=";", missing=["NA"])
    assert frame["value"].to_list() == ["indiscriminate_attack", "indiscriminate_attack", "Other thing"]
    dropping = ValueSpec(column="C", map={"a": "b"}, unmapped="drop")
    assert map_values(["a", "z"], dropping, delimiter=";")["value"].to_list() == ["b", None]


def test_apply_mapping_yields_contract_shaped_rows(tmp_path, store, contracts):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "manifest.yaml").write_text("{}", encoding="utf-8")
    (folder / "export_2024.csv").write_text(EXPORT, encoding="utf-8")
    package = open_package(folder, workdir=tmp_path / "work")
    raw = read_raw(store.con, package.file("export_2024.csv"), "raw_1", workdir=tmp_path / "work")
    mapping = load_mapping(write_mapping(tmp_path), contracts)
    views, _ = apply_mapping(store.con, mapping, contracts, headers=raw.headers, raw_columns=raw.columns, raw_table=raw.table,
                             file="export_2024.csv")
    incidents = store.frame(f'SELECT * FROM "{views["incidents"]}" ORDER BY __row').to_dicts()
    assert [r["__row"] for r in incidents] == [2, 3, 4]
    assert incidents[0]["place"] == "Al-Shifoniyeh, Douma" and incidents[1]["place"] == "Deir ez-Zor"
    assert incidents[0]["violation_types"] == "indiscriminate_attack; torture_ill_treatment"
    assert incidents[2]["violation_types"] == "Unknown label"  # kept: validation reports it
    assert incidents[0]["date_start"] == "12/03/2013" and incidents[1]["date_start"] == "2013-03-13"
    assert incidents[2]["date_start"] is None
    # row 3 had its coordinates the wrong way round; the mapping says fix
    assert (incidents[1]["latitude"], incidents[1]["longitude"]) == ("35.33", "40.14")
    persons = store.frame(f'SELECT * FROM "{views["persons"]}" ORDER BY __row').to_dicts()
    assert [(p["person_id"], p["sex"], p["age_group"]) for p in persons] == [
        ("P-R-1", "male", "adult"), ("P-R-2", "female", "child"), ("P-R-3", "female", "adult")]
    swapped = swapped_coordinates_sql(mapping, contracts, headers=raw.headers, raw_columns=raw.columns, raw_table=raw.table,
                                      file="export_2024.csv")
    assert [r[0] for r in store.con.execute(swapped).fetchall()] == [3]


def test_a_mapping_that_does_not_fit_the_file(tmp_path, store, contracts):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "manifest.yaml").write_text("{}", encoding="utf-8")
    (folder / "export.csv").write_text(EXPORT.replace("Category", "Kind"), encoding="utf-8")
    package = open_package(folder, workdir=tmp_path / "work")
    raw = read_raw(store.con, package.file("export.csv"), "raw_1", workdir=tmp_path / "work")
    mapping = load_mapping(write_mapping(tmp_path), contracts)
    with pytest.raises(MappingError, match=r"reads column\(s\) 'Category', which the file does not have"):
        apply_mapping(store.con, mapping, contracts, headers=raw.headers, raw_columns=raw.columns, raw_table=raw.table, file="export.csv")


def test_mapping_matches_file_names(contracts):
    mapping = load_mapping(default_mappings_path() / "examples" / "syrianarchive-violations.yaml", contracts)
    assert mapping.matches("violations.csv") and mapping.matches("exports/violations_2017.csv")
    assert not mapping.matches("persons.csv")
