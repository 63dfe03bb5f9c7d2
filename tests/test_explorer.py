"""The explorer: its filters change what every view shows, and an incident shows where it came from."""

from __future__ import annotations

import pytest

from workbench.errors import ConfigError, WorkbenchError
from workbench.views import Selection, selected_incidents
from workbench.views.explorer import Explorer, incident_record, incident_table


@pytest.fixture
def store(synth_store):
    return synth_store


def _count(store, selection: Selection) -> int:
    return store.con.execute(selected_incidents(selection, store, "count(*)")).fetchone()[0]


def test_filters_drive_every_view(store):
    explorer = Explorer(store)
    explorer.apply(Selection())
    everything = dict(explorer.counts)
    pages = (explorer.map_view.value, explorer.graph_view.value, explorer.timeline_view.value)
    assert all(page for page in pages) and "<iframe srcdoc=" in pages[0]
    assert everything["incidents"] == _count(store, Selection()) > 0
    assert everything["graph_nodes"] > 0 and everything["timeline_rows"] > 0

    explorer.ngo.value = ("ALPHA",)  # as an analyst would, through the widgets
    explorer.apply_button.click()
    alpha = dict(explorer.counts)
    assert alpha["incidents"] == _count(store, Selection(ngos=("ALPHA",))) < everything["incidents"]
    assert alpha["graph_nodes"] < everything["graph_nodes"]
    assert all(key[0] == "ALPHA" for _, key in explorer.table.options)
    assert "ALPHA" in explorer.status.value
    assert (explorer.map_view.value, explorer.graph_view.value, explorer.timeline_view.value) != pages
    assert all("BAYAN" not in page for page in (explorer.map_view.value, explorer.graph_view.value))

    explorer.period.value = "2013"
    explorer.apply_button.click()
    assert explorer.counts["incidents"] == _count(store, Selection.parse(ngos=["ALPHA"], period="2013")) < alpha["incidents"]
    assert explorer.counts["timeline_rows"] <= alpha["timeline_rows"]


def test_a_selection_matching_nothing_empties_the_views(store):
    explorer = Explorer(store)
    explorer.apply(Selection(ngos=("NOBODY",)))
    assert explorer.counts["incidents"] == explorer.counts["table_rows"] == explorer.counts["graph_nodes"] == 0
    assert explorer.table.options == ()


def test_text_search_without_an_index_reads_substrings(store):
    word = store.con.execute(
        "SELECT lower(regexp_extract(narrative, '([A-Za-z]{7,})', 1)) FROM active.incidents WHERE narrative IS NOT NULL LIMIT 1").fetchone()[0]
    expected = store.con.execute(
        "SELECT count(*) FROM active.incidents WHERE contains(lower(coalesce(title, '') || ' ' || coalesce(narrative, '')), ?)", [word]).fetchone()[0]
    assert _count(store, Selection(text=word)) == expected > 0
    with pytest.raises(ConfigError, match="holds no word"):
        _count(store, Selection(text="  ,;  "))


def test_picking_an_incident_shows_its_provenance_and_no_person(store):
    explorer = Explorer(store)
    explorer.apply(Selection(ngos=("ALPHA",)))
    label, (ngo_id, incident_id) = explorer.table.options[0]
    explorer.table.value = (ngo_id, incident_id)  # the pick itself shows the record
    source_file, source_row, submission_id = store.con.execute(
        "SELECT source_file, source_row, submission_id FROM active.incidents WHERE ngo_id = ? AND incident_id = ?",
        [ngo_id, incident_id]).fetchone()
    record = explorer.record.value
    assert f"file {source_file}, row {source_row}" in record and f"submission {submission_id}" in record
    pseudonyms = [p for (p,) in store.con.execute("SELECT pseudonym FROM active.persons WHERE ngo_id = ?", [ngo_id]).fetchall()]
    assert pseudonyms and not any(p in record for p in pseudonyms)
    found = incident_record(store, ngo_id, incident_id)
    assert found["provenance"]["source_row"] == source_row
    assert found["persons_linked"] == store.con.execute(
        "SELECT count(*) FROM active.incident_persons WHERE ngo_id = ? AND incident_id = ?", [ngo_id, incident_id]).fetchone()[0]


def test_an_unknown_incident_is_a_clear_error(store):
    with pytest.raises(WorkbenchError, match="no current incident 'NOPE' of NGO 'ALPHA'"):
        incident_record(store, "ALPHA", "NOPE")


def test_the_table_is_newest_first_and_bounded(store):
    table = incident_table(store, Selection(), limit=25)
    assert table.height == 25
    dates = table["date_start"].to_list()
    assert dates == sorted(dates, reverse=True)
    assert "narrative" not in table.columns
