"""The ingest's fast paths give what the plain way gives.

Each shortcut taken for speed (trimming only cells with a blank at an end, a cheaper test for
Arabic-Indic digits and formula cells, masking only the rows the checks flagged, keys checked
apart, CSV files read on all cores, the digest sorted in DuckDB) is compared with the
straightforward way it replaces, on generated or hand-picked input.
"""

from __future__ import annotations

import hashlib
from datetime import date

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench.ingest.api as ingest_module
from tests.conftest import INCIDENTS_CSV, base_manifest
from workbench.ingest import ingest_package
from workbench.normalise.pii import digits_to_ascii_sql, load_patterns, masking_sql
from workbench.readers import MAX_LINE_BYTES, _load_csv
from workbench.store import table_digest
from workbench.validate import BLANKS, trim_blanks, trimmed_cell_sql

TODAY = date(2026, 11, 28)
# texts made of the characters the shortcuts look at, and a few they must leave alone
_TRICKY = BLANKS + "ab=+-@٠٣۹0é\u0301\u2003 ;"
texts = st.lists(st.text(alphabet=st.sampled_from(_TRICKY), max_size=8) | st.none(), max_size=40)


def _column(con: duckdb.DuckDBPyConnection, values: list[str | None], expression: str) -> list:
    """``expression`` (over column ``t``) for each value, in order."""
    return [r[0] for r in con.execute(
        f"SELECT {expression} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS v(t, i) ORDER BY i", [values]
    ).fetchall()]


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(texts)
def test_trimming_only_cells_with_a_blank_at_an_end_equals_trimming_every_cell(values):
    chars = " || ".join(f"chr({ord(c)})" for c in BLANKS)
    with duckdb.connect() as con:
        fast = _column(con, values, trimmed_cell_sql("t"))
        plain = _column(con, values, f"nullif(trim(t, {chars}), '')")
    assert fast == plain
    assert [v for v in fast] == [trim_blanks(v) or None if v is not None else None for v in values]


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(texts)
def test_formula_test_on_the_first_character_equals_the_regex(values):
    with duckdb.connect() as con:
        fast = _column(con, values, "list_contains([61, 43, 45, 64, 9, 13], ascii(t))")
        regex = _column(con, values, "regexp_matches(t, '^[=+\\-@\\t\\r]')")
    assert fast == regex


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(texts)
def test_digits_made_ascii_equal_translating_every_text(values):
    with duckdb.connect() as con:
        fast = _column(con, values, digits_to_ascii_sql("t"))
        plain = _column(con, values, "translate(t, '٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹', '01234567890123456789')")
    assert fast == plain


NARRATIVES = [
    "Shelling of the market in the morning.",
    "Call him on 0944123456 after dark.",
    "هاتف: ٠٩٤٤١٢٣٤٥٦",
    "Casualties: ٣ killed, no names given.",
    "   Mr John Smith was detained.  ",
    "Plain text, nothing to mask.",
]


def test_masking_only_flagged_rows_stores_what_masking_every_row_stores(store, package_factory, contracts):
    lines = ["incident_id,date_start,place,violation_types,narrative,title"]
    lines += [f'I-{i},2013-03-12,Douma,torture,"{text}","{text[:20]}"' for i, text in enumerate(NARRATIVES * 3)]
    ingest_package(store, package_factory({"incidents.csv": "\n".join(lines) + "\n"}), today=TODAY, keep_in_vault=False)
    patterns = load_patterns(contracts.path / "pii_patterns.yaml")
    stored = store.con.execute("SELECT narrative, title FROM incidents ORDER BY source_row").fetchall()
    cells = [(text.strip(), text[:20].strip()) for text in NARRATIVES * 3]
    expected = [
        tuple(store.con.execute(f"SELECT {masking_sql('?', patterns)}", [value]).fetchone()[0] for value in pair)
        for pair in cells
    ]
    assert stored == expected
    assert any("[phone removed]" in n for n, _ in stored) and any("3 killed" in n for n, _ in stored)


def test_keys_of_an_earlier_file_of_the_same_type_are_duplicates(store, package_factory):
    more = INCIDENTS_CSV.replace("I-1,", "I-10,")
    report = ingest_package(store, package_factory({"incidents.csv": INCIDENTS_CSV, "more_incidents.csv": more}),
                            today=TODAY, keep_in_vault=False)
    assert (report.rows_accepted, report.rows_quarantined) == (4, 2)
    found = store.con.execute(
        "SELECT source_file, source_row, message FROM findings WHERE rule = 'unique' ORDER BY source_row"
    ).fetchall()
    assert found == [
        ("more_incidents.csv", 3, "duplicate primary key: the same value is in incidents.csv row 3"),
        ("more_incidents.csv", 4, "duplicate primary key: the same value is in incidents.csv row 4"),
    ]


def test_reading_on_all_cores_gives_the_rows_and_rejects_of_the_careful_read(tmp_path):
    lines = ["a,b,c"]
    for i in range(3000):
        kind = i % 250
        lines.append(
            f"{i},too,many,cols" if kind == 1 else f"{i},few" if kind == 2
            else f'{i},"two\nlines, ""quoted""",x' if kind == 3 else f"{i},v{i % 7},{'w' * (i % 40)}"
        )
    path = tmp_path / "messy.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    columns = ["c0", "c1", "c2"]
    with duckdb.connect() as con:
        fast = _load_csv(con, path, columns, ",", "fast", max_line_bytes=None)
        careful = _load_csv(con, path, columns, ",", "careful", max_line_bytes=MAX_LINE_BYTES)
        same_rows = con.execute(
            "SELECT count(*) FROM fast f JOIN careful c ON f.rowid = c.rowid AND f.c0 = c.c0 "
            "AND f.c1 IS NOT DISTINCT FROM c.c1 AND f.c2 IS NOT DISTINCT FROM c.c2"
        ).fetchone()[0]
        assert same_rows == con.execute("SELECT count(*) FROM careful").fetchone()[0] == 2976
    assert sorted(fast) == sorted(careful) and len(careful) == 24


def test_a_line_over_duckdb_default_limit_is_read_whole(store, package_factory):
    long_narrative = "word " * 500_000  # 2.5 MB: over DuckDB's default line limit
    csv = INCIDENTS_CSV + f"I-4,2013-06-01,Douma,torture,1,{long_narrative}\n"
    report = ingest_package(store, package_factory({"incidents.csv": csv}), today=TODAY, keep_in_vault=False)
    assert (report.rows_read, report.rows_quarantined) == (4, 1)
    assert store.con.execute("SELECT source_row, rule FROM findings WHERE rule LIKE 'csv.%' OR rule = 'max_length'").fetchall() == [(5, "max_length")]


def test_digest_is_the_sha256_of_the_row_hashes_in_file_and_row_order(store, package_factory):
    report = ingest_package(store, package_factory({"incidents.csv": INCIDENTS_CSV, "b_incidents.csv": INCIDENTS_CSV.replace("I-", "J-")}),
                            today=TODAY, keep_in_vault=False)
    hashes = store.con.execute(
        "SELECT row_hash FROM incidents WHERE submission_id = ? ORDER BY source_file, source_row", [report.submission_id]
    ).fetchall()
    assert len(hashes) == 6
    expected = hashlib.sha256("".join(h for (h,) in hashes).encode("ascii")).hexdigest()
    assert table_digest(store, "incidents", report.submission_id) == expected
    assert table_digest(store, "persons", report.submission_id) == hashlib.sha256(b"").hexdigest()


def test_unknown_columns_do_not_change_the_file_rows_are_attributed_to(store, package_factory):
    csv = "\n".join(line + (",colour" if i == 0 else ",blue") for i, line in enumerate(INCIDENTS_CSV.splitlines())) + "\n"
    ingest_package(store, package_factory({"incidents.csv": csv}), today=TODAY, keep_in_vault=False)
    assert store.con.execute("SELECT DISTINCT source_file FROM incidents").fetchall() == [("incidents.csv",)]
    assert store.con.execute("SELECT source_file FROM findings WHERE rule = 'header.unknown'").fetchall() == [("incidents.csv",)]


def test_headers_differing_only_in_case_are_both_kept_in_the_quarantined_copy(store, package_factory):
    csv = "incident_id,date_start,place,violation_types,killed,Killed\nI-1,2013-03-12,Douma,torture,about 3,4\n"
    report = ingest_package(store, package_factory({"incidents.csv": csv}), today=TODAY, keep_in_vault=False)
    assert report.rows_quarantined == 1
    (raw,) = store.con.execute("SELECT raw FROM quarantine").fetchone()
    assert '"killed":"about 3"' in raw and '"Killed (2)":"4"' in raw


def test_a_failed_ingest_leaves_no_temporary_tables(file_store, package_factory, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_module, "_record_submission", explode)
    with pytest.raises(RuntimeError):
        ingest_package(file_store, package_factory({"incidents.csv": INCIDENTS_CSV}, base_manifest()), today=TODAY)
    left = file_store.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
    ).fetchall()
    assert left == []
    assert file_store.con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0
