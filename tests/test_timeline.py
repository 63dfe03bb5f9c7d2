"""The timeline: spans as precise as the dates, groups, selection, counts, and an offline HTML page."""

from __future__ import annotations

import doctest
import re
import shutil
from datetime import date, timedelta

import duckdb
import polars as pl
import pytest
from plotly.offline import get_plotlyjs

import workbench.views.timeline as timeline
from tests.browser import render
from workbench.errors import ConfigError, WorkbenchError
from workbench.store import open_store
from workbench.views.selection import Selection
from workbench.views.timeline import incidents_over_time, save_timeline, timeline_figure, timeline_frame


@pytest.fixture(scope="module")
def demo(synthetic):
    with open_store(synthetic[0], read_only=True) as store:
        yield store


@pytest.fixture(scope="module")
def open_ended(synthetic, tmp_path_factory):
    """A copy of the synthetic store where one month- and one year-precision incident lost their ``date_end``."""
    path = tmp_path_factory.mktemp("timeline") / "store.duckdb"
    shutil.copy(synthetic[0], path)
    con = duckdb.connect(str(path))
    chosen = {}
    for precision in ("month", "year"):
        ngo, incident = con.execute("SELECT ngo_id, incident_id FROM active.incidents WHERE date_precision = ? ORDER BY ALL LIMIT 1",
                                    [precision]).fetchone()
        con.execute("UPDATE incidents SET date_end = NULL WHERE ngo_id = ? AND incident_id = ?", [ngo, incident])
        chosen[precision] = (ngo, incident)
    con.close()
    with open_store(path, read_only=True) as store:
        yield store, chosen


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _expected_span(start: date, end: date | None, precision: str) -> tuple[date, date]:
    last = end or start
    if precision == "month":
        return start.replace(day=1), _next_month(last)
    if precision == "year":
        return date(start.year, 1, 1), date(last.year + 1, 1, 1)
    return start, last + timedelta(days=1)


def _raw(store) -> pl.DataFrame:
    return store.frame("SELECT ngo_id, incident_id, date_start, date_end, date_precision, violation_types, narrative FROM active.incidents")


def test_every_bar_spans_what_the_date_says(demo):
    frame = timeline_frame(demo, by="ngo")
    assert (frame["row_kind"] == "incident").all() and frame.height == _raw(demo).height
    joined = frame.join(_raw(demo), on=["ngo_id", "incident_id"])
    assert set(joined["precision"]) >= {"day", "month", "year"}, "the synthetic data should hold every precision"
    for row in joined.iter_rows(named=True):
        assert (row["start"], row["end"]) == _expected_span(row["date_start"], row["date_end"], row["date_precision"]), row["incident_id"]
    month = joined.filter(pl.col("precision") == "month").row(0, named=True)
    assert month["start"].day == 1 and month["end"] == _next_month(month["start"]) and month["date_known"].endswith(str(month["start"].year))
    year = joined.filter(pl.col("precision") == "year").row(0, named=True)
    assert (year["start"], year["end"]) == (date(year["start"].year, 1, 1), date(year["start"].year + 1, 1, 1))
    assert year["date_known"] == str(year["start"].year)
    single_days = joined.filter((pl.col("precision") == "day") & (pl.col("date_end") == pl.col("date_start")))
    assert (single_days["end"] - single_days["start"] == timedelta(days=1)).all()
    several_days = joined.filter((pl.col("precision") == "day") & (pl.col("date_end") > pl.col("date_start")))
    assert not several_days.is_empty(), "the synthetic data should hold incidents lasting several days"
    assert (several_days["end"] == several_days["date_end"] + timedelta(days=1)).all()
    assert (several_days["date_known"].str.contains(" – ")).all()


def test_a_coarse_date_without_an_end_still_spans_its_month_or_year(open_ended):
    store, chosen = open_ended
    frame = timeline_frame(store, by="ngo")
    for precision, (ngo, incident) in chosen.items():
        row = frame.filter((pl.col("ngo_id") == ngo) & (pl.col("incident_id") == incident)).row(0, named=True)
        start = row["start"]
        expected_end = _next_month(start) if precision == "month" else date(start.year + 1, 1, 1)
        assert (row["precision"], row["end"]) == (precision, expected_end)
        assert start.day == 1 and (precision == "month" or start.month == 1)


def test_an_incident_with_two_types_is_in_both_groups(demo):
    raw = _raw(demo).filter(pl.col("violation_types").list.len() >= 2).row(0, named=True)
    frame = timeline_frame(demo)
    rows = frame.filter((pl.col("ngo_id") == raw["ngo_id"]) & (pl.col("incident_id") == raw["incident_id"]))
    assert sorted(rows["group"]) == sorted(set(raw["violation_types"]))
    labels = demo.contracts.vocabulary("violation_types")
    assert set(rows["group_label"]) == {labels.label(code, "en") for code in raw["violation_types"]}
    assert set(rows["group_label_ar"]) == {labels.label(code, "ar") for code in raw["violation_types"]}
    # a type filter keeps the incidents that have it and shows only that group
    only = timeline_frame(demo, Selection(violation_types=(raw["violation_types"][0],)))
    assert set(only["group"]) == {raw["violation_types"][0]}


def test_selection_filters_change_the_rows(demo):
    everything = timeline_frame(demo, by="ngo")
    one_ngo = timeline_frame(demo, Selection(ngos=(everything["ngo_id"][0],)), by="ngo")
    assert 0 < one_ngo.height < everything.height and set(one_ngo["ngo_id"]) == {everything["ngo_id"][0]}
    year = timeline_frame(demo, Selection.parse(period="2014"), by="ngo")
    assert 0 < year.height < everything.height
    assert (year["start"] < date(2015, 1, 1)).all() and (year["end"] > date(2014, 1, 1)).all()
    by_governorate = timeline_frame(demo, Selection.parse(period="2014"), by="governorate")
    named = by_governorate.filter(pl.col("group").is_not_null())
    gazetteer = dict(demo.con.execute("SELECT admin1_pcode, name_ar FROM gazetteer_places WHERE level = 'governorate'").fetchall())
    assert not named.is_empty() and all(gazetteer[g] == ar for g, ar in named.select("group", "group_label_ar").iter_rows())


def test_above_max_rows_counts_per_group_and_month_add_up(demo):
    selection = Selection.parse(period="2012-01-01..2016-12-31")
    selected = demo.con.execute("SELECT count(*) FROM active.incidents WHERE date_start <= DATE '2016-12-31' "
                                "AND coalesce(date_end, date_start) >= DATE '2012-01-01'").fetchone()[0]
    counted = timeline_frame(demo, selection, by="ngo", max_rows=10)
    assert set(counted["row_kind"]) == {"month_count"} and counted["incidents"].sum() == selected
    assert counted.height < selected and counted["incident_id"].is_null().all()
    assert set(counted["precision"]) == {"month", "year"}  # the year-only incidents keep their own rows
    pairs = demo.con.execute("SELECT sum(len(list_distinct(violation_types))) FROM active.incidents WHERE date_start <= DATE '2016-12-31' "
                             "AND coalesce(date_end, date_start) >= DATE '2012-01-01'").fetchone()[0]
    assert timeline_frame(demo, selection, max_rows=10)["incidents"].sum() == pairs
    assert timeline_frame(demo, selection, by="ngo", max_rows=selected)["row_kind"].unique().to_list() == ["incident"]


def test_counts_over_time_match_sql_and_keep_year_only_apart(demo):
    counts = incidents_over_time(demo, by="ngo", freq="month")
    direct = demo.frame("""
        SELECT ngo_id AS "group", CAST(date_trunc(CASE WHEN date_precision = 'year' THEN 'year' ELSE 'month' END, date_start) AS DATE)
               AS period_start, CASE WHEN date_precision = 'year' THEN 'year' ELSE 'month' END AS period_unit, count(*) AS incidents
        FROM active.incidents GROUP BY ALL""")
    key = ["group", "period_start", "period_unit"]
    assert counts.select(*key, "incidents").sort(key).equals(direct.sort(key))
    year_only = counts.filter(pl.col("period_unit") == "year")
    assert not year_only.is_empty() and (year_only["period_end"] == year_only["period_start"].dt.offset_by("1y")).all()
    quarters = incidents_over_time(demo, by="violation_type", freq="quarter")
    assert quarters.filter(pl.col("period_unit") == "quarter")["period"].str.contains(r"^\d{4}-Q[1-4]$").all()
    assert quarters["incidents"].sum() == demo.con.execute("SELECT sum(len(list_distinct(violation_types))) FROM active.incidents").fetchone()[0]


def test_bad_grouping_or_period_is_refused(demo):
    with pytest.raises(ConfigError, match="governorate"):
        timeline_frame(demo, by="weapon")
    with pytest.raises(ConfigError, match="fortnight"):
        incidents_over_time(demo, freq="fortnight")


def _personal_texts(store) -> list[str]:
    pseudonyms = [p for (p,) in store.con.execute("SELECT DISTINCT pseudonym FROM active.persons WHERE pseudonym IS NOT NULL").fetchall()]
    narratives = [n[:40] for (n,) in store.con.execute("SELECT DISTINCT narrative FROM active.incidents WHERE length(narrative) > 40").fetchall()]
    assert pseudonyms and narratives, "the synthetic store should hold persons and narratives"
    return pseudonyms + narratives


def test_figure_and_page_hold_no_personal_data_and_no_remote_reference(demo, tmp_path):
    figures = [timeline_figure(timeline_frame(demo), language="en"), timeline_figure(timeline_frame(demo, max_rows=10), language="ar")]
    secrets = _personal_texts(demo)
    bundle = get_plotlyjs()
    for number, fig in enumerate(figures):
        page = save_timeline(fig, tmp_path / f"timeline{number}.html").read_text(encoding="utf-8")
        assert bundle in page
        for text in (fig.to_json(), page.replace(bundle, "")):  # plotly.js itself is the same in every page
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"personal data or narrative in the timeline: {len(leaked)} values"
        assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", page, re.I)
        assert "cdn.plot.ly/plotly" not in page.split("<body>")[0]


def test_figure_shows_precision_in_legend_and_hover_in_both_languages(demo):
    english = timeline_figure(timeline_frame(demo, by="ngo"))
    names = {trace.name for trace in english.data}
    assert {"known to the day", "known to the month", "known to the year"} <= names
    month_bars = [t for t in english.data if t.customdata is not None and len(t.customdata) and t.customdata[0][1] == "known to the month"]
    assert month_bars and all(t.opacity < 1 for t in month_bars) and "%{customdata[0]}" in month_bars[0].hovertemplate
    frame = timeline_frame(demo)
    arabic = timeline_figure(frame, language="ar")
    labels = {trace.name for trace in arabic.data}
    assert demo.contracts.vocabulary("violation_types").label(frame["group"][0], "ar") in labels
    assert "معروف بالشهر فقط" in labels
    assert any(re.search("[\u0600-\u06ff]", str(row[0])) for t in arabic.data if t.customdata is not None for row in t.customdata)


def test_empty_selection_draws_a_message(demo):
    fig = timeline_figure(timeline_frame(demo, Selection(ngos=("NOBODY",))))
    assert "No incident" in fig.layout.annotations[0].text


def test_save_names_the_path_it_cannot_write(demo, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    target = blocker / "timeline.html"
    with pytest.raises(WorkbenchError, match=re.escape(str(target))):
        save_timeline(timeline_figure(timeline_frame(demo, Selection(ngos=("NOBODY",)))), target)


def test_saved_page_renders_offline_in_chromium(demo, tmp_path):
    ngo = demo.con.execute("SELECT min(ngo_id) FROM active.incidents").fetchone()[0]
    page = save_timeline(timeline_figure(timeline_frame(demo, Selection(ngos=(ngo,)))), tmp_path / "timeline.html")
    shown = render(page, tmp_path / "shots")
    assert shown.failed_requests() == []
    assert shown.ink() > 0
    assert 'class="plotly-graph-div' in shown.dom and "main-svg" in shown.dom  # plotly.js ran and drew its SVG


def test_docstring_examples_run():
    assert doctest.testmod(timeline, raise_on_error=False).failed == 0
