"""Public report: what is left out, what is suppressed, and that no suppressed figure can be worked out."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import base_manifest, make_package
from workbench.audit import exports
from workbench.errors import ConfigError, ManifestError, WorkbenchError
from workbench.ingest import ingest_package
from workbench.public_report import Equation, determined_cells, suppress, write_public_report
from workbench.quality.periods import parse_period
from workbench.store import open_store

YEAR_2013 = parse_period("2013")


# -- an attacker's tools, written apart from the library ----------------------------------------


def recompute(values: dict, hidden: set, equations: list[dict]) -> dict:
    """Every hidden cell a reader can work out exactly: published values go to the right-hand side;
    a hidden cell is determined iff its unit vector lies in the row space of the equation matrix
    over the hidden cells (rank test); its value is then read off a least-squares solution."""
    unknown = sorted(hidden, key=repr)
    index = {cell: i for i, cell in enumerate(unknown)}
    rows = [eq for eq in equations if any(c in index for c in eq)]
    if not rows:
        return {}
    a = np.array([[eq.get(c, 0) for c in unknown] for eq in rows], dtype=float)
    b = np.array([-sum(k * values[c] for c, k in eq.items() if c not in index) for eq in rows], dtype=float)
    rank = np.linalg.matrix_rank(a)
    solution = np.linalg.lstsq(a, b, rcond=None)[0]
    found = {}
    for cell, i in index.items():
        unit = np.zeros(len(unknown))
        unit[i] = 1
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            found[cell] = round(float(solution[i]))
    return found


def read_csvs(out: Path) -> dict[str, list[dict]]:
    return {p.stem: list(csv.DictReader(io.StringIO(p.read_text(encoding="utf-8"), newline=""))) for p in sorted(out.glob("*.csv"))}


def published_system(report, out: Path) -> tuple[dict, set, list[dict]]:
    """From the CSV files alone: cells, which are hidden, and every sum-to-total relation a reader
    would try, kept when it holds for the true counts (those the analyst sees in ``report.tables``)."""
    truth, hidden, equations = {}, set(), []
    for name, lines in read_csvs(out).items():
        header = list(lines[0])
        row_dim, measure = header[0], header[-2]
        col_dim = header[2] if len(header) == 6 else None
        frame = report.tables[name]
        for line, true in zip(lines, frame.iter_rows(named=True), strict=True):
            cell = (name, line[row_dim], line[col_dim] if col_dim else "all")
            assert (true[row_dim], true[col_dim] if col_dim else "all") == cell[1:]
            truth[cell] = true["value"]
            if line["status"] == "suppressed":
                assert line[measure] == ""
                hidden.add(cell)
            else:
                assert line["status"] == "published" and int(line[measure]) == true["value"]
        cells = [c for c in truth if c[0] == name]
        rows = {c[1] for c in cells} - {"all"}
        cols = {c[2] for c in cells} - {"all"}
        for r in {c[1] for c in cells}:
            if cols and (name, r, "all") in truth:
                equations.append({(name, r, c): 1 for c in cols} | {(name, r, "all"): -1})
        for c in {c[2] for c in cells}:
            if (name, "all", c) in truth:
                equations.append({(name, r, c): 1 for r in rows} | {(name, "all", c): -1})
    equations.append({("incidents_by_violation_type_and_governorate", "all", "all"): 1, ("incidents_by_month", "all", "all"): -1})
    return truth, hidden, [eq for eq in equations if sum(k * truth[c] for c, k in eq.items()) == 0]


# -- the suppression algorithm on its own ------------------------------------------------------


def two_way(grid: list[list[int]]) -> tuple[dict, list[Equation], set]:
    """Cells, row and column sums and a grand total of a small table (every unit in one cell)."""
    values = {(r, c): v for r, row in enumerate(grid) for c, v in enumerate(row)}
    n_rows, n_cols = len(grid), len(grid[0])
    for r in range(n_rows):
        values[(r, "T")] = sum(grid[r])
    for c in range(n_cols):
        values[("T", c)] = sum(row[c] for row in grid)
    values[("T", "T")] = sum(map(sum, grid))
    equations = [Equation({(r, c): 1 for c in range(n_cols)} | {(r, "T"): -1}) for r in [*range(n_rows), "T"]]
    equations += [Equation({(r, c): 1 for r in range(n_rows)} | {("T", c): -1}) for c in [*range(n_cols), "T"]]
    return values, equations, {k for k in values if "T" in k}


def test_one_small_cell_takes_three_more_to_hide_it():
    values, equations, totals = two_way([[2, 20, 30], [40, 50, 60], [70, 80, 90]])
    result = suppress(values, equations, threshold=5, totals=totals)
    assert result.primary == {(0, 0)}
    assert len(result.complementary) == 3 and not result.complementary & totals  # the smallest rectangle, inside
    assert recompute(values, set(result.suppressed), [dict(e.terms) for e in equations]) == {}


def test_the_recompute_check_catches_an_under_suppressed_table():
    values, equations, totals = two_way([[2, 20, 30], [40, 50, 60], [70, 80, 90]])
    system = [dict(e.terms) for e in equations]
    assert recompute(values, {(0, 0)}, system) == {(0, 0): 2}
    assert recompute(values, {(0, 0), (0, 1)}, system) == {(0, 0): 2, (0, 1): 20}  # one cover in the row is not enough
    assert determined_cells(equations, {(0, 0), (0, 1)}) == {(0, 0), (0, 1)}


def test_combinations_of_equations_are_caught_not_only_single_ones():
    # x + y = t, y + z = u, x + z = v: hiding y and z gives every equation two hidden cells, and each
    # hidden sum includes a large count, yet the three equations together fix x, y and z.
    values = {"x": 2, "y": 10, "z": 20, "t": 12, "u": 30, "v": 22}
    equations = [Equation({"x": 1, "y": 1, "t": -1}), Equation({"y": 1, "z": 1, "u": -1}), Equation({"x": 1, "z": 1, "v": -1})]
    system = [dict(e.terms) for e in equations]
    assert recompute(values, {"x", "y", "z"}, system) == {"x": 2, "y": 10, "z": 20}
    assert determined_cells(equations, {"x", "y", "z"}) == {"x", "y", "z"}
    result = suppress(values, equations, threshold=5, totals={"t", "u", "v"})
    assert {"y", "z"} < result.complementary and len(result.complementary) == 3
    assert recompute(values, set(result.suppressed), system) == {}


def test_random_tables_are_protected_and_the_exact_check_agrees_with_numpy():
    rng = random.Random(7)
    for _ in range(60):
        n_cols = rng.randint(2, 6)
        grid = [[rng.choice([0, 0, 1, 2, 3, 4, 5, 8, 12, 30]) for _ in range(n_cols)] for _ in range(rng.randint(2, 6))]
        values, equations, totals = two_way(grid)
        system = [dict(e.terms) for e in equations]
        result = suppress(values, equations, threshold=5, totals=totals)
        assert result.primary == {k for k, v in values.items() if 0 < v < 5}
        assert recompute(values, set(result.suppressed), system) == {}
        hidden = {k for k in values if rng.random() < 0.3}
        assert determined_cells(equations, hidden) == set(recompute(values, hidden, system))


def test_suppression_refuses_an_equation_that_does_not_hold():
    with pytest.raises(WorkbenchError, match="does not hold"):
        suppress({"a": 1, "t": 3}, [Equation({"a": 1, "t": -1}, "row a")], threshold=5)


# -- the report over the synthetic NGOs --------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_report(synth_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("public")
    period = parse_period("2012-01-01..2014-06-30")
    return write_public_report(synth_store, period, out, on=date(2025, 1, 1)), out


def test_no_suppressed_figure_can_be_recomputed_from_the_published_ones(synthetic_report):
    report, out = synthetic_report
    truth, hidden, equations = published_system(report, out)
    assert report.primary > 0 and report.complementary > 0  # the check below has something to find
    assert len(hidden) == report.primary + report.complementary
    assert recompute(truth, hidden, equations) == {}
    assert all(v == 0 or v >= 5 for c, v in truth.items() if c not in hidden)
    assert pinned_sums(truth, hidden, equations, 5) == []
    # The checks can fail: with only the small counts hidden, some row sums give them away; with all
    # hidden cells but one published, that one is recomputed, to its true value.
    primary_only = {c for c in hidden if 0 < truth[c] < 5}
    assert pinned_sums(truth, primary_only, equations, 5)
    one = min((c for c in primary_only if c[0] == "incidents_by_violation_type_and_governorate"), key=repr)
    assert recompute(truth, {one}, equations) == {one: truth[one]}


def pinned_sums(truth: dict, hidden: set, equations: list[dict], threshold: int) -> list[dict]:
    """Equations whose hidden cells all have the same sign (their sum is known) and are all small."""
    pinned = []
    for eq in equations:
        signs = {k > 0 for c, k in eq.items() if c in hidden}
        if len(signs) == 1 and all(truth[c] < threshold for c in eq if c in hidden) and any(truth[c] > 0 for c in eq if c in hidden):
            pinned.append(eq)
    return pinned


def test_no_ngo_is_named_or_identified_in_any_file(synthetic_report, synth_store):
    _, out = synthetic_report
    ngos = synth_store.con.execute("SELECT ngo_id, name, name_ar FROM ngos").fetchall()
    assert len(ngos) == 6
    files = sorted(out.iterdir())
    assert {p.suffix for p in files} == {".html", ".csv"}
    for path in files:
        text = re.sub(r"data:[^)\"']+", "", path.read_text(encoding="utf-8"))  # embedded fonts are base64 noise
        for ngo_id, name, name_ar in ngos:
            assert not re.search(rf"\b{re.escape(ngo_id)}\b", text, re.IGNORECASE), (path.name, ngo_id)
            for words in (name, name_ar):
                assert words and words.casefold() not in text.casefold(), (path.name, words)


def test_the_page_is_self_contained(synthetic_report):
    report, _ = synthetic_report
    html = report.html.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", html, re.IGNORECASE)
    assert "@font-face" in html and "[s]" in html


def test_the_threshold_is_the_one_asked_for(synth_store, tmp_path):
    none = write_public_report(synth_store, YEAR_2013, tmp_path / "t1", threshold=1, on=date(2025, 1, 1))
    assert none.primary == none.complementary == 0
    five = write_public_report(synth_store, YEAR_2013, tmp_path / "t5", on=date(2025, 1, 1))
    ten = write_public_report(synth_store, YEAR_2013, tmp_path / "t10", threshold=10, on=date(2025, 1, 1))
    assert 0 < five.primary < ten.primary
    for report, threshold in ((five, 5), (ten, 10)):
        for frame in report.tables.values():
            small = frame.filter((frame["value"] > 0) & (frame["value"] < threshold))
            assert small["suppression"].to_list() == ["primary"] * small.height
            assert (frame.filter(frame["suppression"] == "primary")["value"].max() or 0) < threshold
    assert "from 1 to 9" in ten.html.read_text(encoding="utf-8")


def test_a_period_with_nothing_gives_a_report_that_says_so(synth_store, tmp_path):
    report = write_public_report(synth_store, parse_period("2035"), tmp_path, on=date(2036, 1, 1))
    assert report.incidents == 0 and report.primary == report.complementary == 0
    assert "No incidents in scope" in report.html.read_text(encoding="utf-8")
    counts = [int(line[list(line)[-2]]) for lines in read_csvs(tmp_path).values() for line in lines]
    assert counts and set(counts) == {0}


# -- what is left out, on a store small enough to count by hand -------------------------------

INCIDENT_HEADER = "incident_id,date_start,place,violation_types,confidential_source\n"


def _incidents(prefix: str, n: int, month: int, place: str, violation: str, confidential: bool = False) -> str:
    return "".join(f"{prefix}-{i},2013-{month:02d}-{i + 1:02d},{place},{violation},{str(confidential).lower()}\n" for i in range(n))


def _victims(prefix: str, n: int, consent: str = "given") -> tuple[str, str]:
    persons = "".join(f"{prefix}P{i},PSEUDO{prefix}{i:04d},{consent}\n" for i in range(n))
    links = "".join(f"{prefix}-{i},{prefix}P{i},victim\n" for i in range(n))
    return persons, links


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """Three NGOs: one open (6 torture incidents in Damascus with 5 victims, one more victim who withdrew
    consent, 7 confidential-source chemical-weapons incidents in Idlib), one under source confidentiality
    (8 hostage-takings in Daraa), one embargoed until 2030 (9 sieges in Homs)."""
    root = tmp_path_factory.mktemp("small")
    persons, links = _victims("A", 5)
    withdrawn_person, withdrawn_link = "AP9,PSEUDOA9999,withdrawn\n", "A-5,AP9,victim\n"
    secret_persons, secret_links = _victims("B", 8)
    disclosure = base_manifest()["disclosure"]
    packages = [
        ({"incidents.csv": INCIDENT_HEADER + _incidents("A", 6, 3, "Damascus", "torture")
          + _incidents("C", 7, 4, "Idlib", "chemical_weapons", confidential=True),
          "persons.csv": "person_id,pseudonym,consent\n" + persons + withdrawn_person,
          "incident_persons.csv": "incident_id,person_id,role\n" + links + withdrawn_link},
         base_manifest(ngo={"id": "OPENNGO", "name": "Open Documentation Group (fictional)"}, submission_ref="OPEN-1")),
        ({"incidents.csv": INCIDENT_HEADER + _incidents("B", 8, 5, "Daraa", "hostage_taking"),
          "persons.csv": "person_id,pseudonym,consent\n" + secret_persons,
          "incident_persons.csv": "incident_id,person_id,role\n" + secret_links},
         base_manifest(ngo={"id": "HIDDENNGO", "name": "Hidden Sources Network (fictional)"}, submission_ref="HIDDEN-1",
                       disclosure={**disclosure, "source_confidential": True})),
        ({"incidents.csv": INCIDENT_HEADER + _incidents("E", 9, 6, "Homs", "siege_starvation")},
         base_manifest(ngo={"id": "LATERNGO", "name": "Later Monitors (fictional)"}, submission_ref="LATER-1",
                       disclosure={**disclosure, "embargo_until": "2030-01-01"})),
    ]
    db = root / "small.duckdb"
    with open_store(db) as store:
        for i, (files, manifest) in enumerate(packages):
            ingest_package(store, make_package(root, files, manifest, name=f"pkg{i}"), keep_in_vault=False)
        store.con.execute("UPDATE submissions SET received_at = TIMESTAMP '2013-07-01 10:00:00'")
    return db


def _cell(report, table: str, row: str, column: str = "all") -> int:
    frame = report.tables[table]
    names = frame.columns
    match = frame.filter(frame[names[0]] == row)
    if names[2] != "value":
        match = match.filter(match[names[2]] == column)
    assert match.height == 1
    return match.row(0, named=True)


def test_confidential_and_embargoed_material_is_left_out(small_store, tmp_path):
    with open_store(small_store, read_only=True) as store:
        report = write_public_report(store, YEAR_2013, tmp_path / "r", threshold=1, on=date(2025, 1, 1))
        lifted = write_public_report(store, YEAR_2013, tmp_path / "lifted", threshold=1, on=date(2030, 1, 2))
    incidents, victims = "incidents_by_violation_type_and_governorate", "victims_by_violation_type_and_governorate"
    assert report.excluded == {"source_confidential": 1, "embargo": 1, "confidential_records": 7}
    assert report.incidents == 6 and _cell(report, incidents, "all", "all")["published"] == 6
    assert _cell(report, incidents, "torture_ill_treatment", "SY01")["published"] == 6
    for violation, pcode in (("chemical_weapons", "SY07"), ("hostage_taking", "SY12"), ("siege_starvation", "SY04")):
        assert _cell(report, incidents, violation, pcode)["value"] == 0
        assert _cell(report, incidents, violation, "all")["value"] == 0
    assert _cell(report, victims, "all", "all")["value"] == 5  # the victim who withdrew consent is not counted
    assert _cell(report, "incidents_by_month", "2013-03")["value"] == 6
    assert _cell(report, "incidents_by_month", "2013-05")["value"] == 0
    assert _cell(report, "submissions_received", "submissions")["value"] == 1
    assert _cell(report, "submissions_received", "ngos")["value"] == 1
    # once the embargo has passed, the 9 sieges come in (the test above could see them)
    assert _cell(lifted, incidents, "siege_starvation", "SY04")["value"] == 9 and lifted.incidents == 15
    assert _cell(lifted, "submissions_received", "ngos")["value"] == 2
    for path in (tmp_path / "r").iterdir():
        text = path.read_text(encoding="utf-8")
        for word in ("OPENNGO", "HIDDENNGO", "LATERNGO", "Open Documentation", "Hidden Sources", "Later Monitors"):
            assert word not in text


def test_small_counts_are_hidden_in_the_files(small_store, tmp_path):
    with open_store(small_store, read_only=True) as store:
        report = write_public_report(store, YEAR_2013, tmp_path, on=date(2025, 1, 1))
    lines = read_csvs(tmp_path)["submissions_received"]
    assert [(line["figure"], line["count"], line["status"]) for line in lines] == [
        ("submissions", "", "suppressed"), ("ngos", "", "suppressed")]
    victims = {(line["violation_type"], line["governorate"]): line for line in
               read_csvs(tmp_path)["victims_by_violation_type_and_governorate"]}
    assert victims[("all", "all")]["victims"] == "5" and victims[("torture_ill_treatment", "SY01")]["status"] == "published"
    assert report.primary == 2


def test_labels_are_escaped_in_the_page(small_store, tmp_path):
    db = tmp_path / "copy.duckdb"
    db.write_bytes(small_store.read_bytes())
    with open_store(db) as store:
        store.con.execute("UPDATE gazetteer_places SET name_en = '<script>alert(1)</script>' WHERE place_id = 'SY01'")
        report = write_public_report(store, YEAR_2013, tmp_path / "out", on=date(2025, 1, 1))
        logged = store.custody_entries()[-1]
        listed = exports(store, kind="public_report")
        withheld = dict(store.con.execute("SELECT reason, sum(records) FROM export_withheld GROUP BY ALL").fetchall())
    html = report.html.read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert logged.action == "export-public-report" and logged.details["files"] == report.sha256
    assert listed.height == 1 and listed["records"][0] == report.incidents == 6  # the incidents it counted
    assert withheld == {"confidential_source": 7, "source_confidential": 8, "embargo": 9}
    assert set(report.sha256) == {"public_report.html", *(f"{name}.csv" for name in report.csv)}


def test_bad_arguments_and_bad_manifests_are_named(small_store, tmp_path):
    db = tmp_path / "copy.duckdb"
    db.write_bytes(small_store.read_bytes())
    with open_store(db) as store:
        with pytest.raises(ConfigError, match="threshold"):
            write_public_report(store, YEAR_2013, tmp_path / "a", threshold=0)
        with pytest.raises(ConfigError, match="language 'fr'"):
            write_public_report(store, YEAR_2013, tmp_path / "a", language="fr")
        store.con.execute("UPDATE submissions SET manifest = '{\"disclosure\": {\"source_confidential\": \"no\"}}' "
                          "WHERE submission_id = 2")
        with pytest.raises(ManifestError, match="submission 2: .*source_confidential"):
            write_public_report(store, YEAR_2013, tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_the_examples_in_the_docstrings_run():
    import doctest

    import workbench.public_report.report
    import workbench.public_report.suppression

    for module in (workbench.public_report.suppression, workbench.public_report.report):
        assert doctest.testmod(module).failed == 0
