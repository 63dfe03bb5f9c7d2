"""The synthetic submissions: reproducible, valid where they should be, broken where they should be."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import yaml

from workbench.contracts import load_contracts
from workbench.errors import WorkbenchError
from workbench.intake import open_package, read_xlsx
from workbench.normalise.dates import parse_date
from workbench.normalise.lookups import months_from
from workbench.synth import NGOS, generate, write_benchmark_package
from workbench.synth import defects as planted
from workbench.synth.places import builtin_gazetteer, builtin_pool

INCIDENTS = 120
SEED = 2011
PROFILES = {ngo.id: ngo for ngo in NGOS}
CONTRACTS = load_contracts()
MANDATE_START, LAST_DAY = dt.date(2011, 3, 1), dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("synth")
    return folder, generate(folder, seed=SEED, incidents=INCIDENTS)


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _rows(folder: Path, ngo_id: str) -> dict[str, list[dict]]:
    """Every data file of a package, headers mapped to contract fields by the contract's own aliases."""
    ngo = PROFILES[ngo_id]
    tables: dict[str, list[dict]] = {}
    for data_file in ngo.files:
        path = folder / ngo_id / data_file.path
        contract = CONTRACTS.contract(data_file.record_type)
        if path.suffix == ".csv":
            text = path.read_bytes().decode(data_file.encoding)
            header, *records = list(csv.reader(io.StringIO(text), delimiter=ngo.delimiter))
        elif path.suffix == ".xlsx":
            header, records = read_xlsx(path, sheet=data_file.sheet)
        else:
            lines = path.read_text(encoding="utf-8")
            objects = json.loads(lines) if path.suffix == ".json" else [json.loads(line) for line in lines.splitlines()]
            header = list(objects[0])
            records = [[o.get(h) for h in header] for o in objects]
        fields = [contract.field_for_header(h) for h in header]
        assert None not in fields, f"{ngo_id}/{data_file.path}: headers {header} do not all map to {contract.name} fields"
        tables[data_file.record_type] = [dict(zip(fields, record)) for record in records]
    return tables


def _items(value) -> list[str]:
    if value in (None, ""):
        return []
    return [v.strip() for v in (value if isinstance(value, list) else str(value).split(";")) if v.strip()]


def _truth(folder: Path, name: str) -> pl.DataFrame:
    return pl.read_csv(folder / "ground_truth" / name, infer_schema_length=0)


# --- reproducibility ------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(out, tmp_path):
    folder, result = out
    again = generate(tmp_path / "again", seed=SEED, incidents=INCIDENTS)
    other = generate(tmp_path / "other", seed=SEED + 1, incidents=INCIDENTS)
    first = _hashes(folder)
    assert first == _hashes(tmp_path / "again")
    assert again.counts == result.counts and again.defects == result.defects
    differing = {k for k, v in _hashes(tmp_path / "other").items() if first.get(k) != v}
    assert {"ALPHA/incidents.csv", "ground_truth/incidents.csv", "GAMMA/gamma_export.xlsx"} <= differing
    assert other.defects["ZETA"] == result.defects["ZETA"]  # the same defects, planted in other records


def test_zipped_packages_hold_the_same_files_as_the_folders(out, tmp_path):
    folder, _ = out
    result = generate(tmp_path, seed=SEED, incidents=INCIDENTS, zip_packages=True)
    assert [p.name for p in result.packages] == [f"{ngo.id}.zip" for ngo in NGOS]
    for package in result.packages:
        with zipfile.ZipFile(package) as archive:
            members = {name: hashlib.sha256(archive.read(name)).hexdigest() for name in archive.namelist()}
        prefix = package.stem + "/"
        assert members == {k[len(prefix):]: v for k, v in _hashes(folder).items() if k.startswith(prefix)}


def test_existing_output_is_kept_unless_overwrite_is_asked(tmp_path):
    stale = tmp_path / "ALPHA" / "old.csv"
    stale.parent.mkdir()
    stale.write_text("x")
    with pytest.raises(WorkbenchError, match="already exists"):
        generate(tmp_path, incidents=60)
    assert stale.exists() and not (tmp_path / "BAYAN").exists()
    generate(tmp_path, incidents=60, overwrite=True)
    assert not stale.exists() and (tmp_path / "ALPHA" / "incidents.csv").exists()
    with pytest.raises(WorkbenchError, match="at least"):
        generate(tmp_path / "tiny", incidents=5)


# --- manifests and formats --------------------------------------------------------------------------


def test_every_manifest_is_valid_and_names_a_fictional_ngo(out, tmp_path):
    folder, result = out
    listed = []
    for package in result.packages:
        opened = open_package(package, workdir=tmp_path / package.name)
        manifest = opened.manifest
        assert CONTRACTS.check_manifest(manifest) == [], package.name
        assert "(fictional)" in manifest["ngo"]["name"]
        assert manifest["contact_point"]["email"].endswith(".example.org")
        listed.append("files" in manifest)
        declared = {f["path"] for f in manifest.get("files", [])}
        assert declared <= {f.path for f in opened.files}
    assert any(listed) and not all(listed), "some NGOs must omit `files` so that detection is exercised"


def test_the_arabic_incidents_file_is_windows_1256(out):
    folder, _ = out
    raw = (folder / "BAYAN" / "الحوادث.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1256")
    header = next(csv.reader(io.StringIO(text)))
    incidents = CONTRACTS.contract("incidents")
    assert all(any("\u0600" <= c <= "\u06ff" for c in h) for h in header)
    assert {"incident_id", "date_start", "place", "violation_types", "narrative"} <= {incidents.field_for_header(h) for h in header}
    assert "آذار" in text or "نيسان" in text
    rows = _rows(folder, "BAYAN")
    arabic_indic = set("٠١٢٣٤٥٦٧٨٩")
    assert any(arabic_indic & set(str(r["capture_date"])) for r in rows["sources"])
    assert any(arabic_indic & set(str(r["age"] or "")) for r in rows["persons"])


def test_the_workbook_mixes_date_formats_in_one_column(out):
    folder, _ = out
    workbook = openpyxl.load_workbook(folder / "GAMMA" / "gamma_export.xlsx")
    assert workbook.sheetnames == ["Incidents", "Victims", "Links", "Sources"]
    sheet = workbook["Incidents"]
    header = [c.value for c in sheet[1]]
    column = header.index(next(h for h in header if CONTRACTS.contract("incidents").field_for_header(h) == "date_start"))
    values = [row[column] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert any(isinstance(v, dt.datetime) for v in values)
    texts = [v for v in values if isinstance(v, str)]
    assert any(len(v) == 10 and v[2] == "/" for v in texts)  # 12/03/2013
    assert any(v[:1].isalpha() for v in texts)  # March 2013
    assert any(v.isdigit() and len(v) == 4 for v in texts)  # 2013


# --- contents ------------------------------------------------------------------------------------------


def test_vocabulary_values_come_from_the_vocabularies(out):
    folder, _ = out
    for ngo in NGOS:
        for record_type, rows in _rows(folder, ngo.id).items():
            for f in CONTRACTS.contract(record_type).fields:
                vocabulary = f.vocabulary or ("boolean" if f.type == "boolean" else None)
                if not vocabulary:
                    continue
                values = [str(v).lower() if isinstance(v, bool) else v for v in (r.get(f.name) for r in rows)]
                unknown = {v for value in values for v in _items(value) if CONTRACTS.vocabulary(vocabulary).code_for(v) is None}
                expected = {planted.UNKNOWN_VIOLATION_LABEL} if ngo.defects and f.name == "violation_types" else set()
                assert unknown == expected, f"{ngo.id} {record_type}.{f.name}"


def test_dates_parse_and_fall_in_the_conflict_period(out):
    folder, _ = out
    months = months_from(CONTRACTS.vocabulary("months"))
    for ngo in NGOS:
        if ngo.defects:
            continue
        rows = _rows(folder, ngo.id)
        values = [r["date_start"] for r in rows["incidents"]] + [r["capture_date"] for r in rows.get("sources", [])]
        assert values
        for value in values:
            parsed = parse_date(str(value), months=months, day_first=ngo.date_order == "day_first")
            assert parsed.problem is None and parsed.note is None, (ngo.id, value)
            # a month- or year-only date may begin before the first day, as the contract allows
            assert MANDATE_START <= parsed.end and parsed.start <= LAST_DAY and parsed.end <= LAST_DAY, (ngo.id, value)


def test_places_resolve_to_the_true_governorate(out):
    folder, _ = out
    truth = _truth(folder, "incidents.csv").join(_truth(folder, "true_incidents.csv"), on="true_incident_id")
    gazetteer = builtin_gazetteer()
    for ngo in NGOS:
        rows = _rows(folder, ngo.id)["incidents"]
        places = [r["place"] for r in rows]
        resolved = gazetteer.resolve(places).with_columns(incident_id=pl.Series([r["incident_id"] for r in rows]))
        joined = resolved.join(truth.filter(pl.col("ngo_id") == ngo.id), on="incident_id")
        known = joined.filter(pl.col("place_id").is_not_null())
        assert known.filter(pl.col("admin1_pcode") != pl.col("admin1_pcode_right")).height == 0, ngo.id
        unknown = joined.filter(pl.col("place_id").is_null()).height
        if ngo.place_modes.get("unknown"):
            assert unknown > 0 and known.filter(pl.col("level") == "governorate").height > 0
        else:
            assert unknown == 0, ngo.id
    variants = {v for place in builtin_pool().places for v in place.variants}
    assert variants & {r["place"] for r in _rows(folder, "DELTA")["incidents"]}


def test_ground_truth_refers_to_records_in_the_packages(out):
    folder, result = out
    incidents, persons = _truth(folder, "incidents.csv"), _truth(folder, "persons.csv")
    for ngo in NGOS:
        rows = _rows(folder, ngo.id)
        ids = {r["incident_id"] for r in rows["incidents"]}
        assert set(incidents.filter(pl.col("ngo_id") == ngo.id)["incident_id"]) == ids
        assert set(persons.filter(pl.col("ngo_id") == ngo.id)["person_id"]) == {r["person_id"] for r in rows["persons"]}
        assert result.counts[ngo.id]["incidents"] == len(rows["incidents"])
    assert incidents.group_by("true_incident_id").agg(pl.col("ngo_id").n_unique()).filter(pl.col("ngo_id") >= 2).height > 0
    readme = (folder / "ground_truth" / "README.md").read_text(encoding="utf-8")
    assert all(ngo.id in readme for ngo in NGOS) and planted.DUPLICATE_ID in readme


def test_two_ngos_share_keyed_pseudonyms_and_several_record_accounts_given(out):
    folder, _ = out
    truth = _truth(folder, "persons.csv")
    pseudonyms = {}
    with_account = set()
    for ngo in NGOS:
        for r in _rows(folder, ngo.id)["persons"]:
            true_id = truth.filter((pl.col("ngo_id") == ngo.id) & (pl.col("person_id") == r["person_id"]))["true_person_id"][0]
            pseudonyms.setdefault(r["pseudonym"], set()).add((ngo.id, true_id))
            if CONTRACTS.vocabulary("boolean").code_for(str(r.get("account_given")).lower()) == "true":
                with_account.add(ngo.id)
    shared = {p: owners for p, owners in pseudonyms.items() if len({n for n, _ in owners}) > 1}
    assert shared and all(p.startswith("SHK-") and len({t for _, t in owners}) == 1 for p, owners in shared.items())
    assert {n for owners in shared.values() for n, _ in owners} == {"ALPHA", "EPSILON"}
    assert len(with_account) >= 3


def test_media_hashes_are_right_except_the_planted_one(out):
    folder, result = out
    wrong = {}
    for ngo in NGOS:
        sources = _rows(folder, ngo.id).get("sources", [])
        with_media = [s for s in sources if s.get("media_file")]
        wrong[ngo.id] = sum(hashlib.sha256((folder / ngo.id / s["media_file"]).read_bytes()).hexdigest() != s["media_sha256"] for s in with_media)
        if ngo.media_share:
            assert with_media and (folder / ngo.id / with_media[0]["media_file"]).read_bytes()[:2] == b"\xff\xd8"
        assert all(s["url"].startswith("https://example.org/") for s in sources if s.get("url"))
    assert wrong == {ngo.id: (1 if ngo.defects else 0) for ngo in NGOS}
    assert result.defects["ZETA"][planted.WRONG_MEDIA_HASH] == 1


def test_the_defective_package_breaks_the_contract_in_the_planted_ways(out):
    folder, result = out
    rows = _rows(folder, "ZETA")
    incidents = rows["incidents"]
    ids = [r["incident_id"] for r in incidents]
    assert len(ids) - len(set(ids)) == 2
    assert any(r["incident_id"] not in set(ids) for r in rows["incident_persons"])
    assert sum(str(r["date_start"]).startswith(str(planted.FUTURE_YEAR)) for r in incidents) == 1
    assert sum(str(r["date_start"]) < "2011-03-01" for r in incidents) == 1
    assert sum(r["longitude"] is not None and r["longitude"] < 35.7 for r in incidents) == 2
    assert sum(r["title"].startswith("=") for r in incidents) == 1
    assert sum(r["violation_types"] is None for r in incidents) == 1
    assert [r["killed"] for r in incidents if isinstance(r["killed"], str)] == [planted.NON_NUMERIC_KILLED]
    assert [r["pseudonym"] for r in rows["persons"] if " " in r["pseudonym"]] == [planted.NAME_PSEUDONYM]
    assert (folder / "ZETA" / "persons.json").read_text(encoding="utf-8").lstrip().startswith("[")
    assert result.defects["ZETA"][planted.DUPLICATE_ID] == 2


def test_narratives_of_one_ngo_leak_fake_personal_data(out):
    folder, result = out
    narratives = " ".join(r["narrative"] for r in _rows(folder, "EPSILON")["incidents"])
    for marker in ("+963 944 000", "+90 532 000", "+961 3 000", "@example.org", "اسمه"):
        assert marker in narratives, marker
    assert "his name is" in narratives and "Mr. " in narratives
    assert "The victim " in narratives and "الشهيد " in narratives
    for ngo in NGOS:
        if not ngo.narrative_pii_share:
            text = " ".join(r["narrative"] for r in _rows(folder, ngo.id)["incidents"])
            assert not any(m in text for m in ("+963", "@", "name is", "اسمه")), ngo.id
    assert sum(v for k, v in result.defects["EPSILON"].items() if k.startswith("narrative")) >= 6


# --- benchmark --------------------------------------------------------------------------------------------


def test_benchmark_package_has_every_incident_field(tmp_path):
    folder = write_benchmark_package(tmp_path, incidents=20_000)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text(encoding="utf-8"))
    assert CONTRACTS.check_manifest(manifest) == []
    frame = pl.read_csv(folder / "incidents.csv", infer_schema_length=0)
    assert frame.height == 20_000 and frame["incident_id"].n_unique() == 20_000
    assert frame.columns == CONTRACTS.contract("incidents").field_names
    assert 150 <= frame["narrative"].str.len_chars().mean() <= 260
    assert frame["date_start"].min() >= "2011-03-15" and frame["date_start"].max() <= "2024-12-31"
    assert frame["date_end"].drop_nulls().len() > 0
    with pytest.raises(WorkbenchError, match="already exists"):
        write_benchmark_package(tmp_path, incidents=10)
