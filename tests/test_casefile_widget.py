"""The case-file widget: it shows what preview() says, follows its controls, writes only on the button, and shows errors."""

from __future__ import annotations

import doctest
import re
import shutil
from datetime import date, datetime
from html import escape, unescape
from pathlib import Path

import pytest

from workbench.audit import exports
from workbench.casefile import preview, verify_casefile
from workbench.casefile import widget as widget_module
from workbench.casefile.widget import CaseFileWidget, authority_names, casefile_widget, folder_name, preview_by_ngo
from workbench.disclosure import REASONS
from workbench.store import open_store
from workbench.views.selection import Selection

DAY = date(2025, 1, 1)  # before EPSILON's embargo ends (2025-06-30)


@pytest.fixture
def writable(synthetic, tmp_path):
    """A copy of the synthetic store, open for writing (case files are logged in it)."""
    db, _ = synthetic
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    with open_store(copy) as store:
        yield store


def _shown_counts(page: str) -> dict[str, tuple[int, int]]:
    """record type -> (disclosed, withheld) as the first table of the preview shows them."""
    first = page.split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(\w+)</td><td[^>]*>([\d,]+)</td><td[^>]*>([\d,]+)</td></tr>", first)
    return {t: (int(d.replace(",", "")), int(w.replace(",", ""))) for t, d, w in rows}


def _expected(plan) -> dict[str, tuple[int, int]]:
    return {r["record_type"]: (r["disclosed"], r["withheld"]) for r in plan.counts.iter_rows(named=True)}


def _ngo_row(page: str, ngo: str) -> list[str]:
    row = re.search(rf"<tr><td>{ngo}</td>(.*?)</tr>", page).group(1)
    return re.findall(r"<td[^>]*>(.*?)</td>", row)


def test_the_preview_shows_what_preview_says_and_follows_the_authority(writable, tmp_path):
    widget = casefile_widget(writable, out_root=tmp_path / "out", on=DAY)
    assert isinstance(widget, CaseFileWidget)
    assert widget.authority.value  # it starts with a preview of the first authority the terms name
    assert _shown_counts(widget.plan_view.value) == _expected(preview(writable, widget.authority.value, on=DAY))

    widget.authority.value = "DE-GBA"
    gba = _expected(preview(writable, "DE-GBA", on=DAY))
    assert _shown_counts(widget.plan_view.value) == gba
    assert gba["incidents"][0] > 0 and gba["incidents"][1] > 0
    page = widget.plan_view.value
    assert escape(REASONS["ask_first"]) in page  # BAYAN asked to be consulted first
    assert _ngo_row(page, "BAYAN")[0].startswith("0 / ")  # none of BAYAN's incidents goes
    assert not _ngo_row(page, "ALPHA")[0].startswith("0 / ")  # ALPHA allowed DE-GBA

    widget.authority.value = "SE-SPA (Swedish Prosecution Authority)"
    spa = _expected(preview(writable, "SE-SPA", on=DAY))
    assert spa != gba and _shown_counts(widget.plan_view.value) == spa
    assert not _ngo_row(widget.plan_view.value, "BAYAN")[0].startswith("0 / ")  # BAYAN allowed SE-SPA


def test_filters_and_the_decision_day_rerun_the_preview(writable, tmp_path):
    widget = casefile_widget(writable, out_root=tmp_path / "out", on=DAY)
    widget.authority.value = "FR-PNAT"
    violation = widget.violation.options[0][1]
    widget.ngo.value, widget.violation.value = ("ALPHA", "EPSILON"), (violation,)
    widget.period.value = "2011-01-01..2016-12-31"
    selection = Selection.parse(ngos=["ALPHA", "EPSILON"], violation_types=[violation], period="2011-01-01..2016-12-31")
    filtered = _expected(preview(writable, "FR-PNAT", selection, on=DAY))
    assert _shown_counts(widget.plan_view.value) == filtered
    assert 0 < sum(filtered["incidents"]) < sum(_expected(preview(writable, "FR-PNAT", on=DAY))["incidents"])

    widget.ngo.value = ("EPSILON",)
    widget.violation.value = ()
    widget.period.value = ""
    assert "embargo" in widget.plan_view.value and _ngo_row(widget.plan_view.value, "EPSILON")[0].startswith("0 / ")
    widget.day.value = date(2025, 7, 1)  # the embargo has ended; EPSILON allowed FR-PNAT
    after = _expected(preview(writable, "FR-PNAT", Selection(ngos=("EPSILON",)), on=date(2025, 7, 1)))
    assert after["incidents"][0] > 0 and _shown_counts(widget.plan_view.value) == after

    widget.governorate.value = (widget.governorate.options[0][1],)
    _, by_ngo = preview_by_ngo(writable, "FR-PNAT", Selection(ngos=("EPSILON",), governorates=widget.governorate.value),
                               on=date(2025, 7, 1))
    shown = _shown_counts(widget.plan_view.value)
    for record_type, (disclosed, withheld) in shown.items():  # the per-NGO table adds up to the totals
        of_type = by_ngo.filter(by_ngo["record_type"] == record_type)
        assert (int(of_type["disclosed"].sum()), int(of_type["withheld"].sum())) == (disclosed, withheld)


def test_the_preview_shows_counts_never_content(writable, tmp_path):
    widget = casefile_widget(writable, out_root=tmp_path / "out", on=DAY)
    widget.authority.value = "DE-GBA"
    page = unescape(widget.plan_view.value)
    texts = {v for (v,) in writable.con.execute(
        "SELECT title FROM active.incidents UNION SELECT narrative FROM active.incidents UNION SELECT place FROM active.incidents "
        "UNION SELECT person_id FROM active.persons UNION SELECT name FROM active.actors UNION SELECT description FROM active.sources"
    ).fetchall() if v and len(v) >= 8}
    assert len(texts) > 100
    assert not [t for t in texts if t in page]


def test_the_button_writes_a_verified_logged_case_file_and_nothing_before(writable, tmp_path):
    out = tmp_path / "out"
    entries = writable.con.execute("SELECT count(*) FROM custody_log").fetchone()[0]
    widget = casefile_widget(writable, out_root=out, on=DAY)
    widget.authority.value = "DE-GBA"
    widget.ngo.value = ("ALPHA",)
    widget.preview_button.click()
    assert not out.exists() and exports(writable).height == 0
    assert writable.con.execute("SELECT count(*) FROM custody_log").fetchone()[0] == entries

    widget.pdf.value = widget.interactive.value = False  # fast; the package is complete without them
    widget.write_button.click()
    written = widget.written
    assert written is not None and written.directory.parent == out and written.directory.name.startswith("de-gba-")
    status = widget.status.value
    for shown in (str(written.directory.resolve()), written.casefile_id, written.manifest_sha256, f"{written.custody_seq} (hash"):
        assert escape(shown) in status
    check = verify_casefile(written.directory, writable)
    assert check.ok and check.logged, check.problems
    listed = exports(writable)
    assert listed["export_id"].to_list() == [written.casefile_id]
    assert listed["manifest_sha256"][0] == written.manifest_sha256 and listed["authority"][0] == "DE-GBA"
    assert listed["selection"][0] == Selection(ngos=("ALPHA",)).describe()

    widget.write_button.click()  # a second one within the same second gets a folder of its own
    assert widget.written.directory != written.directory and len(list(out.iterdir())) == 2


def test_errors_are_shown_and_nothing_is_written(writable, tmp_path):
    out = tmp_path / "out"
    widget = casefile_widget(writable, out_root=out, on=DAY)
    widget.authority.value = "(x)"
    assert "has no code" in widget.plan_view.value and widget.plan is None
    widget.write_button.click()
    assert "has no code" in widget.status.value and widget.written is None
    widget.authority.value = ""
    assert "choose or type an authority" in widget.plan_view.value
    widget.authority.value = "DE-GBA"
    widget.period.value = "2013-13"
    assert "2013-13" in widget.plan_view.value and "color:#a12a2a" in widget.plan_view.value
    widget.write_button.click()
    assert "2013-13" in widget.status.value
    assert not out.exists() and exports(writable).height == 0


def test_a_read_only_store_previews_but_does_not_write(synth_store, tmp_path):
    out = tmp_path / "out"
    widget = casefile_widget(synth_store, out_root=out, on=DAY)  # the preview's temporary tables work read-only
    widget.authority.value = "NL-OM"
    assert _shown_counts(widget.plan_view.value) == _expected(preview(synth_store, "NL-OM", on=DAY))
    assert widget.write_button.disabled and "read-only" in widget.status.value
    widget.write()
    assert "read-only" in widget.status.value and widget.written is None and not out.exists()


def test_authority_names_and_folder_names(synth_store):
    names = authority_names(synth_store)
    assert [n.split(" ")[0] for n in names] == ["CH-OAG", "DE-GBA", "FR-PNAT", "NL-OM", "SE-SPA", "US-DOJ"]
    at = datetime(2025, 3, 1, 9, 30, 5)
    assert folder_name("DE-GBA (Federal Prosecutor, Germany)", at) == "de-gba-20250301T093005Z"
    assert folder_name("ICC/OTP  unit", at) == "icc_otpunit-20250301T093005Z"
    assert folder_name("النيابة", at) == "authority-20250301T093005Z"
    assert not Path(folder_name("../../etc", at)).is_absolute() and "/" not in folder_name("../../etc", at)


def test_docstring_examples_run():
    result = doctest.testmod(widget_module)
    assert result.attempted > 0 and result.failed == 0
