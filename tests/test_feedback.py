"""Feedback reports: they carry nothing of another NGO, open with no network, and Arabic prints as Arabic."""

from __future__ import annotations

import ctypes
import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.feedback import report_name, write_report
from workbench.ingest import ingest_package
from workbench.quality import collection_profile, parse_period
from workbench.store import open_store
from workbench.verify import verify_store

RECORD_TABLES = ("incidents", "persons", "actors", "incident_persons", "incident_actors", "sources")
runner = CliRunner()


@pytest.fixture(scope="module")
def reports(synthetic, tmp_path_factory) -> tuple[Path, dict[tuple[str, str], str]]:
    """Every NGO's report in both languages, written from a read-only store (so nothing is logged)."""
    db, _ = synthetic
    out = tmp_path_factory.mktemp("feedback")
    pages: dict[tuple[str, str], str] = {}
    with open_store(db, read_only=True) as store:
        collection = collection_profile(store)
        for (ngo_id,) in store.con.execute("SELECT ngo_id FROM ngos ORDER BY 1").fetchall():
            for language in ("en", "ar"):
                files = write_report(store, ngo_id, out, language=language, collection=collection)
                pages[ngo_id, language] = files.html.read_text(encoding="utf-8")
    return out, pages


def _strings_of(store, ngo_id: str) -> set[str]:
    """Every text value an NGO sent, its id, names and file names."""
    values: set[str] = set()
    for table in RECORD_TABLES:
        columns = [name for name, kind, *_ in store.con.execute(f"DESCRIBE {table}").fetchall()
                   if kind == "VARCHAR" and name not in ("ngo_id", "row_hash")]
        for column in columns:
            values |= {v for (v,) in store.con.execute(
                f'SELECT DISTINCT "{column}" FROM {table} WHERE ngo_id = ? AND "{column}" IS NOT NULL', [ngo_id]).fetchall()}
    values |= {v for row in store.con.execute("SELECT ngo_id, name, name_ar FROM ngos WHERE ngo_id = ?", [ngo_id]).fetchall() for v in row if v}
    values |= {v for (v,) in store.con.execute(
        "SELECT f.path FROM files f JOIN submissions s USING (submission_id) WHERE s.ngo_id = ?", [ngo_id]).fetchall()}
    values |= {v for (v,) in store.con.execute(
        "SELECT submission_ref FROM submissions WHERE ngo_id = ?", [ngo_id]).fetchall()}
    return values


def _shared_words(store) -> set[str]:
    """Names any report may show: places of the gazetteer and labels of the vocabularies."""
    words = {v for row in store.con.execute("SELECT name_en, name_ar, admin1_en, admin1_ar FROM gazetteer_places").fetchall() for v in row if v}
    words |= {v for (v,) in store.con.execute("SELECT name FROM gazetteer_names").fetchall()}
    for vocabulary in store.contracts.vocabularies.values():
        for term in vocabulary.terms:
            words |= {term.code, *term.label.values()}
    return words


def test_a_report_contains_no_string_of_another_ngo(synthetic, reports):
    db, _ = synthetic
    _, pages = reports
    with open_store(db, read_only=True) as store:
        ngos = [r[0] for r in store.con.execute("SELECT ngo_id FROM ngos ORDER BY 1").fetchall()]
        own = {ngo: _strings_of(store, ngo) for ngo in ngos}
        shared = _shared_words(store)
    checked = 0
    for reader in ngos:
        for other in ngos:
            if other == reader:
                continue
            # what only the other NGO sent: long enough to be telling, not a place or vocabulary word
            telling = {v for v in own[other] - own[reader] - shared if len(v.strip()) >= 6} | {other}
            for language in ("en", "ar"):
                page = pages[reader, language]
                leaked = sorted(v for v in telling if v in page)
                assert not leaked, f"{reader}'s {language} report shows {other}'s {leaked[:5]}"
                checked += len(telling)
    assert checked > 10_000  # the check looked at real data, not at an empty set


def test_reports_open_with_no_network(reports):
    _, pages = reports
    for (ngo, language), page in pages.items():
        assert "<script" not in page
        remote = re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#)([^"']+)|url\((?!\s*['"]?data:)([^)]*)\)""", page)
        assert not remote, f"{ngo} {language}: {remote[:3]}"
        assert "@font-face" in page and "format('woff2')" in page and "base64," in page


def test_arabic_report_is_right_to_left_in_arabic(reports):
    _, pages = reports
    page = pages["BAYAN", "ar"]
    assert '<html lang="ar" dir="rtl">' in page
    assert "ملاحظات على ما أرسلتموه" in page
    # figures in Arabic-Indic digits, vocabulary labels in Arabic
    assert re.search(r"[٠-٩]", page)
    assert "What would help most" not in page


def test_arabic_pdf_renders_arabic_glyphs(synthetic, tmp_path):
    db, _ = synthetic
    with open_store(db, read_only=True) as store:
        files = write_report(store, "BAYAN", tmp_path, language="ar", pdf=True)
    data = files.pdf.read_bytes()
    assert data.startswith(b"%PDF")
    document = pdfium.PdfDocument(str(files.pdf))
    assert len(document) >= 3
    fonts = Counter(_font_of(document[0].get_textpage(), i) for i in range(document[0].get_textpage().count_chars()))
    # the embedded Noto Naskh Arabic (our "Report Arabic" face) draws most of the first page
    assert sum(n for name, n in fonts.items() if name.endswith("Report-Arabic") or name.endswith("Report-Arabic-Bold")) > 500, fonts
    image = document[0].render(scale=1).to_pil().convert("L")
    width, height = image.size
    # the title is set right-to-left: ink in the right half of the top band, not in the left quarter
    top = image.crop((0, 0, width, height // 8))
    right = top.crop((width // 2, 0, width, top.height))
    left = top.crop((0, 0, width // 4, top.height))
    ink = lambda im: im.point(lambda p: 255 if p < 128 else 0).histogram()[255]  # noqa: E731
    assert ink(right) > 300, "no Arabic title drawn at the top right"
    assert ink(left) < ink(right) / 5


def _font_of(textpage, index: int) -> str:
    buffer, flags = ctypes.create_string_buffer(256), ctypes.c_int()
    pdfium_raw.FPDFText_GetFontInfo(textpage.raw, index, buffer, 256, ctypes.byref(flags))
    return buffer.value.decode("ascii", "replace")


def test_report_files_are_named_safely_and_logged(synthetic, tmp_path):
    db, _ = synthetic
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    with open_store(copy) as store:
        files = write_report(store, "ALPHA", tmp_path / "out", language="en")
        entry = store.con.execute(
            "SELECT subject, details FROM custody_log WHERE action = 'export-feedback' ORDER BY seq DESC LIMIT 1").fetchone()
        assert verify_store(store).ok
    assert files.html.name == "feedback_ALPHA_all_en.html"
    assert entry[0] == "ALPHA"
    details = json.loads(entry[1])
    assert details["files"][files.html.name] == hashlib.sha256(files.html.read_bytes()).hexdigest()
    assert report_name("../../etc/x y", parse_period("2025-Q1"), "ar") == "feedback_..-..-etc-x-y_2025-Q1_ar"


def test_cli_writes_every_report_and_refuses_bad_requests(synthetic, tmp_path):
    db, _ = synthetic
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    out = tmp_path / "reports"
    result = runner.invoke(app, ["feedback", "--all", "--lang", "en", "--lang", "ar", "--no-pdf", "--out", str(out), "--db", str(copy)])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.html"))) == 12
    result = runner.invoke(app, ["feedback", "--ngo", "ZETA", "--lang", "ar", "--out", str(out), "--db", str(copy)])
    assert result.exit_code == 0, result.output
    assert (out / "feedback_ZETA_all_ar.pdf").stat().st_size > 10_000
    for arguments, message in (
        (["--ngo", "NOPE"], "no NGO 'NOPE' in the store"),
        (["--ngo", "ALPHA", "--period", "2025-Q5"], "period '2025-Q5' is not understood"),
        (["--ngo", "ALPHA", "--period", "1999"], "sent nothing in 1999"),
        (["--ngo", "ALPHA", "--all"], "--ngo ID, or pass --all"),
        ([], "--ngo ID, or pass --all"),
        (["--ngo", "ALPHA", "--lang", "fr"], "no report language 'fr'"),
    ):
        result = runner.invoke(app, ["feedback", "--no-pdf", "--out", str(tmp_path / "bad"), "--db", str(copy), *arguments])
        assert result.exit_code == 2, (arguments, result.output)
        assert message in result.output, (arguments, result.output)
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())
    (tmp_path / "a-file").write_text("not a folder")
    result = runner.invoke(app, ["feedback", "--ngo", "ALPHA", "--no-pdf", "--out", str(tmp_path / "a-file"), "--db", str(copy)])
    assert result.exit_code == 2 and "cannot write the report to" in result.output and "a-file" in result.output, result.output


def test_collection_figures_are_suppressed_below_three_other_ngos(synthetic, tmp_path):
    """With two other NGOs, no figure of theirs may appear, even as a share."""
    _, result = synthetic
    db = tmp_path / "three.duckdb"
    with open_store(db) as store:
        for package in result.packages:
            if package.name in ("ALPHA", "BAYAN", "DELTA"):
                ingest_package(store, package)
        files = write_report(store, "ALPHA", tmp_path, language="en", log=False)
        from workbench.quality import ngo_metrics

        metrics = ngo_metrics(store, "ALPHA")
    coverage = [row for name, rows in metrics.tables.items() if name.startswith("coverage_") for row in rows]
    assert coverage and all(row["suppressed"] and row["others_share"] is None for row in coverage)
    page = files.html.read_text(encoding="utf-8")
    assert 'class="bar other"' not in page
    assert metrics.tables["unique_cells"] == [] and metrics.summary["unique_incidents"] is None
    assert "no other NGO" not in page and "Where only your documentation speaks" not in page


@pytest.mark.parametrize("module", ["workbench.quality.periods", "workbench.quality.recommendations",
                                    "workbench.quality.metrics", "workbench.feedback.charts"])
def test_docstring_examples_hold(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_the_notebook_widget_shows_figures_and_writes_a_logged_report(synthetic, tmp_path):
    from workbench.feedback import feedback_widget

    db, _ = synthetic
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    widget = feedback_widget(copy, tmp_path / "out")
    (picker, language), (period, pdf, write), status, summary = widget.children[0].children, widget.children[1].children, *widget.children[2:]
    assert "<ol>" in summary.value and picker.value in summary.value
    picker.value, pdf.value = "ZETA", False
    assert "Zeta" in summary.value
    period.value = "1999"
    assert "sent nothing in 1999" in summary.value
    period.value = ""
    language.value = "ar"
    assert "dir='rtl'" in summary.value
    write.click()
    assert "feedback_ZETA_all_ar.html" in status.value
    with open_store(copy, read_only=True) as store:
        assert store.con.execute("SELECT count(*) FROM custody_log WHERE action = 'export-feedback' AND subject = 'ZETA'").fetchone()[0] == 1


def test_a_code_outside_its_vocabulary_or_an_unknown_vocabulary_is_shown_as_sent(contracts):
    from workbench.feedback.report import _Words

    words = _Words("en", contracts, {})
    assert words.term("violation_types", "unlawful_killing") != "unlawful_killing"  # a known code gets its label
    assert words.term("violation_types", "no_such_code") == "no_such_code"
    assert words.term("no_such_vocabulary", "x") == "x"
