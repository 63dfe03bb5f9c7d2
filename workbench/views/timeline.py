"""When things happened: incidents as bars over time, with the precision of each date kept visible.

A date known only to the month is drawn as a bar over the whole month, one known only to the year
over the whole year; nothing is drawn as a day that was not known to the day. Bars end on the day
after the last day (an exclusive end, as plotly draws them): a day-precision incident on
2014-03-12 spans [2014-03-12, 2014-03-13).

Counting over time (:func:`incidents_over_time`) puts each incident in the period that holds its
first day. An incident whose date is coarser than the period asked for (known to the year, counted
by month) is not spread over months: it is counted in a bucket of its own precision (the year),
marked by ``period_unit``. Dates of precision ``unknown`` are trusted to the year only.

Rows never hold personal data: no persons, no narrative, no title.

>>> known_date(date(2014, 3, 1), date(2014, 4, 1), "month")
'March 2014'
>>> known_date(date(2014, 3, 12), date(2014, 3, 13), "day", language="ar")
'12 آذار 2014'
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from workbench.contracts import ContractSet, load_contracts
from workbench.errors import ConfigError, WorkbenchError
from workbench.sql import sql_literal
from workbench.store import Store
from workbench.views.selection import Selection, selected_incidents

#: What a timeline can be grouped by, as a legend title says it.
GROUPINGS = {
    "violation_type": {"en": "Violation type", "ar": "نوع الانتهاك"},
    "governorate": {"en": "Governorate", "ar": "المحافظة"},
    "ngo": {"en": "NGO", "ar": "المنظمة"},
}
#: The group label of an incident that has no value to group by.
_NO_GROUP = {
    "violation_type": {"en": "No violation type given", "ar": "لم يُذكر نوع الانتهاك"},
    "governorate": {"en": "Governorate unknown", "ar": "المحافظة غير معروفة"},
    "ngo": {"en": "NGO unknown", "ar": "المنظمة غير معروفة"},
}
#: Periods incidents can be counted by, from finest to coarsest; date precisions share the ranks.
FREQ_RANK = {"day": 1, "week": 2, "month": 3, "quarter": 4, "year": 5}
_PRECISION_RANK = {"day": 1, "week": 2, "month": 3, "year": 5}  # 'unknown' and NULL: the year only
_INTERVAL = {"day": "INTERVAL 1 DAY", "week": "INTERVAL 7 DAY", "month": "INTERVAL 1 MONTH", "quarter": "INTERVAL 3 MONTH",
             "year": "INTERVAL 1 YEAR"}
_PERIOD_FORMAT = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m", "year": "%Y"}  # quarters: "2014-Q1"

#: How a precision is said in a legend and a hover, and how it is drawn (coarser: fainter, hatched).
PRECISION_TEXT = {
    "en": {"day": "known to the day", "week": "known to the week", "month": "known to the month", "year": "known to the year",
           "unknown": "precision unknown"},
    "ar": {"day": "معروف باليوم", "week": "معروف بالأسبوع", "month": "معروف بالشهر فقط", "year": "معروف بالسنة فقط",
           "unknown": "دقة التاريخ غير معروفة"},
}
_OPACITY = {"day": 1.0, "week": 0.85, "month": 0.6, "year": 0.35, "unknown": 0.35}
_PATTERN = {"day": "", "week": ".", "month": "/", "year": "x", "unknown": "."}
_DRAW_ORDER = {"year": 0, "unknown": 1, "month": 2, "week": 3, "day": 4}  # fine bars drawn over coarse ones
_WORDS = {
    "en": {"title": "Incidents over time", "counts": "Incidents per month", "year_only": "Known only to the year",
           "date": "Date", "place": "Place", "types": "Types", "ngo": "NGO", "n_incidents": "{} incidents",
           "empty": "No incident in this selection", "precision": "Date precision"},
    "ar": {"title": "الحوادث عبر الزمن", "counts": "عدد الحوادث في الشهر", "year_only": "معروفة بالسنة فقط",
           "date": "التاريخ", "place": "المكان", "types": "الأنواع", "ngo": "المنظمة", "n_incidents": "{} حادثة",
           "empty": "لا توجد حوادث في هذا الاختيار", "precision": "دقة التاريخ"},
}
_TYPE_SEPARATOR = {"en": "; ", "ar": "؛ "}
_PALETTE = px.colors.qualitative.Dark24 + px.colors.qualitative.Light24
_REMOTE_REFERENCE = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


def timeline_frame(store: Store, selection: Selection = Selection(), *, by: str = "violation_type", max_rows: int = 5000) -> pl.DataFrame:
    """One row per incident and group, with its span over time; aggregated per group and month above ``max_rows``.

    ``row_kind`` says which: ``incident`` rows (``incidents`` = 1) or ``month_count`` rows whose
    ``incidents`` counts the group's incidents that started in the month (``precision`` ``month``)
    or are known only to the year (``precision`` ``year``, spanning that year). ``by`` is
    ``violation_type`` (an incident with several types has a row per type; when the selection
    names types, only those groups are kept), ``governorate`` or ``ngo``. ``end`` is exclusive.

    >>> timeline_frame(store, Selection.parse(period="2014"), by="ngo")  # doctest: +SKIP
    """
    _check_by(by)
    grouped = _grouped_sql(store, selection, by)
    rows = store.con.execute(f"WITH {grouped} SELECT count(*) FROM grouped").fetchone()[0]
    if rows > max_rows:
        counts = incidents_over_time(store, selection, by=by, freq="month")
        return _counts_as_timeline(counts, store, by)
    start, end = _span_sql("g")
    frame = store.frame(f"""WITH {grouped}
        SELECT g.incident_id, g.ngo_id, g.grp AS "group", {start} AS start, {end} AS "end",
               coalesce(g.date_precision, 'unknown') AS precision,
               coalesce(p.name_en, g.place) AS place, coalesce(p.name_ar, g.place) AS place_ar,
               g.violation_types AS types, {_group_label_sql(by)}
        FROM grouped g {_group_label_join(by)}
        LEFT JOIN (SELECT place_id, any_value(name_en) AS name_en, any_value(name_ar) AS name_ar
                   FROM gazetteer_places GROUP BY place_id) p ON p.place_id = g.place_id
        ORDER BY "group" NULLS LAST, start, g.ngo_id, g.incident_id""")
    return _finish(frame.with_columns(pl.lit(1, pl.Int64).alias("incidents"), pl.lit("incident").alias("row_kind")), store, by)


def incidents_over_time(store: Store, selection: Selection = Selection(), *, by: str = "violation_type", freq: str = "month") -> pl.DataFrame:
    """How many selected incidents each group has per period (``day``, ``week``, ``month``, ``quarter``, ``year``).

    Counted in DuckDB. An incident counts once per group, in the period holding its first day.
    Incidents whose date precision is coarser than ``freq`` (known to the year, counted by month)
    are counted per period of their own precision, with ``period_unit`` saying so, rather than
    spread or pinned to a month they may not belong to. ``period_end`` is exclusive.

    >>> incidents_over_time(store, by="governorate", freq="quarter")  # doctest: +SKIP
    """
    _check_by(by)
    if freq not in FREQ_RANK:
        raise ConfigError(f"cannot count incidents per {freq!r}; choose one of {', '.join(FREQ_RANK)}")
    rank = " ".join(f"WHEN {sql_literal(p)} THEN {r}" for p, r in _PRECISION_RANK.items())
    unit_of_precision = " ".join(f"WHEN {sql_literal(p)} THEN {sql_literal(p)}" for p in _PRECISION_RANK)
    truncate = " ".join(f"WHEN {sql_literal(u)} THEN date_trunc({sql_literal(u)}, date_start)" for u in FREQ_RANK)
    step = " ".join(f"WHEN {sql_literal(u)} THEN period_start + {i}" for u, i in _INTERVAL.items())
    counts = store.frame(f"""WITH {_grouped_sql(store, selection, by)},
        units AS (SELECT grp, date_start,
                         CASE WHEN (CASE date_precision {rank} ELSE 5 END) <= {FREQ_RANK[freq]} THEN {sql_literal(freq)}
                              ELSE CASE date_precision {unit_of_precision} ELSE 'year' END END AS unit
                  FROM grouped),
        periods AS (SELECT grp, unit, CAST(CASE unit {truncate} END AS DATE) AS period_start FROM units)
        SELECT p.grp AS "group", period_start, CAST(CASE unit {step} END AS DATE) AS period_end, unit AS period_unit,
               count(*) AS incidents, {_group_label_sql(by, alias="p")}
        FROM periods p {_group_label_join(by, alias="p")}
        GROUP BY ALL
        ORDER BY "group" NULLS LAST, period_start, period_unit""")
    counts = _with_group_labels(counts, store, by)
    label = pl.when(pl.col("period_unit") == "quarter").then(
        pl.format("{}{}", pl.col("period_start").dt.strftime("%Y-Q"), pl.col("period_start").dt.quarter()))
    for unit, pattern in _PERIOD_FORMAT.items():
        label = label.when(pl.col("period_unit") == unit).then(pl.col("period_start").dt.strftime(pattern))
    return counts.with_columns(label.alias("period")).select(
        "group", "group_label", "group_label_ar", "period", "period_start", "period_end", "period_unit", "incidents")


def timeline_figure(frame: pl.DataFrame, *, language: str = "en") -> go.Figure:
    """Bars from start to end per incident, coloured by group, fainter and hatched the coarser the date.

    A frame of ``month_count`` rows (see :func:`timeline_frame`) is drawn as stacked monthly bars,
    with the incidents known only to the year in a panel below.

    >>> timeline_figure(timeline_frame(store), language="ar")  # doctest: +SKIP
    """
    if language not in _WORDS:
        raise ConfigError(f"no timeline labels in {language!r}; choose one of {', '.join(_WORDS)}")
    words = _WORDS[language]
    suffix = "_ar" if language == "ar" else ""
    if frame.is_empty():
        fig = go.Figure()
        fig.add_annotation(text=words["empty"], showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 16})
        return fig.update_layout(title=words["title"], xaxis={"visible": False}, yaxis={"visible": False})
    colours = _colours(frame)
    if (frame["row_kind"] == "month_count").all():
        return _counts_figure(frame, colours, language)
    shown = frame.with_columns(
        pl.col(f"group_label{suffix}").alias("group_shown"),
        pl.col(f"date_known{suffix}").alias("date_shown"),
        pl.col("precision").replace_strict(PRECISION_TEXT[language], default="").alias("precision_shown"),
        pl.col(f"place{suffix}").fill_null("—").alias("place_shown"),
        pl.col(f"types_label{suffix}").fill_null("—").alias("types_shown"),
        pl.col("group").fill_null("").alias("group_key"),
    )
    by_group = dict(zip(shown["group_shown"], shown["group_key"]))
    fig = px.timeline(shown, x_start="start", x_end="end", y="group_shown", color="group_shown", pattern_shape="precision",
                      pattern_shape_map=_PATTERN, color_discrete_map={g: colours[k] for g, k in by_group.items()},
                      custom_data=["date_shown", "precision_shown", "place_shown", "types_shown", "ngo_id", "incident_id"],
                      category_orders={"group_shown": sorted(by_group)})
    hover = (f"<b>%{{customdata[0]}}</b> (%{{customdata[1]}})<br>{words['place']}: %{{customdata[2]}}<br>"
             f"{words['types']}: %{{customdata[3]}}<br>{words['ngo']}: %{{customdata[4]}} · %{{customdata[5]}}<extra></extra>")
    rank = {group: i for i, group in enumerate(sorted(by_group))}
    seen: set[str] = set()
    drawn = []
    for trace in fig.data:
        group, code = trace.legendgroup.rsplit(", ", 1)  # px names a trace "<colour>, <pattern>"
        # a one-day bar is narrower than a pixel at full range: its outline keeps it visible
        trace.update(name=group, legendgroup=group, legendrank=rank[group], showlegend=group not in seen,
                     opacity=_OPACITY.get(code, 1.0), hovertemplate=hover, marker_line_color=colours[by_group[group]],
                     marker_line_width=1 if code in ("day", "week") else 0.5)
        seen.add(group)
        drawn.append((_DRAW_ORDER.get(code, 1), trace))
    fig.data = tuple(trace for _, trace in sorted(drawn, key=lambda item: item[0]))
    present = set(frame["precision"])
    for code in [c for c in PRECISION_TEXT[language] if c in present]:  # a key to the patterns, drawn in grey
        fig.add_trace(go.Bar(x=[None], y=[None], orientation="h", name=PRECISION_TEXT[language][code], legendgroup="precision",
                             legendgrouptitle_text=words["precision"], legendrank=len(rank) + 1, opacity=_OPACITY.get(code, 1.0),
                             marker={"color": "#777", "pattern": {"shape": _PATTERN[code]}}, hoverinfo="skip"))
    groups = shown["group_key"].n_unique()
    incidents = frame.select(pl.struct("ngo_id", "incident_id").n_unique()).item()
    return fig.update_layout(title=f"{words['title']} ({words['n_incidents'].format(incidents)})",
                             height=160 + 26 * groups, barmode="overlay", legend_title_text=_group_title(frame, language),
                             xaxis_title=words["date"], yaxis_title=None, hoverlabel={"align": "right" if language == "ar" else "left"})


def save_timeline(fig: go.Figure, path: Path) -> Path:
    """Write ``fig`` as one self-contained HTML file that opens with no network (plotly.js inside)."""
    path = Path(path)
    html = fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})
    if match := _REMOTE_REFERENCE.search(html):
        raise WorkbenchError(f"the timeline for {path} would load {match.group(0)[:80]!r} from the network; not written")
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(html, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        if partial.is_file():
            partial.unlink()
        raise WorkbenchError(f"cannot write the timeline to {path}: {exc.strerror or exc}") from None
    return path


def known_date(start: date, end: date, precision: str, *, language: str = "en") -> str:
    """A span (``end`` exclusive) said as precisely as it is known: ``12 March 2014``, ``March 2014``, ``2014``."""
    frame = pl.DataFrame({"start": [start], "end": [end], "precision": [precision]})
    return frame.select(_known_date_expr(_month_names(load_contracts(), language)))["known"].item()


# --- SQL steps ---------------------------------------------------------------------------------

def _check_by(by: str) -> None:
    if by not in GROUPINGS:
        raise ConfigError(f"cannot group a timeline by {by!r}; choose one of {', '.join(GROUPINGS)}")


def _grouped_sql(store: Store, selection: Selection, by: str) -> str:
    """The CTE ``grouped``: one row per selected, dated incident and group (``grp``)."""
    columns = "i.ngo_id, i.incident_id, i.date_start, i.date_end, i.date_precision, i.place, i.place_id, i.admin1_pcode, i.violation_types"
    selected = f"{selected_incidents(selection, store, columns)} AND i.date_start IS NOT NULL"
    if by == "violation_type":
        # an incident without a type keeps one row, in the group NULL ("no violation type given")
        group = "unnest(CASE WHEN len(coalesce(s.violation_types, [])) = 0 THEN [NULL::VARCHAR] ELSE list_distinct(s.violation_types) END)"
    else:
        group = "s.admin1_pcode" if by == "governorate" else "s.ngo_id"
    keep = ""
    if by == "violation_type" and selection.violation_types:
        keep = f"WHERE grp IN ({', '.join(sql_literal(v) for v in selection.violation_types)})"
    return f"selected AS ({selected}), grouped AS (SELECT * FROM (SELECT s.*, {group} AS grp FROM selected s) {keep})"


def _span_sql(alias: str) -> tuple[str, str]:
    """Start and exclusive end of an incident's bar: whole months and years for coarse dates, ``date_end`` when given."""
    a = alias
    last = f"coalesce({a}.date_end, {a}.date_start)"
    start = (f"CAST(CASE {a}.date_precision WHEN 'month' THEN date_trunc('month', {a}.date_start) "
             f"WHEN 'year' THEN date_trunc('year', {a}.date_start) ELSE {a}.date_start END AS DATE)")
    end = (f"CAST(CASE {a}.date_precision WHEN 'month' THEN date_trunc('month', {last}) + INTERVAL 1 MONTH "
           f"WHEN 'year' THEN date_trunc('year', {last}) + INTERVAL 1 YEAR "
           f"WHEN 'week' THEN coalesce({a}.date_end, {a}.date_start + 6) + 1 ELSE {last} + 1 END AS DATE)")
    return start, f"greatest({end}, {start} + 1)"  # an end before the start still draws one day


def _group_label_sql(by: str, alias: str = "g") -> str:
    if by == "governorate":
        return "gov.name_en AS group_label, gov.name_ar AS group_label_ar"
    return f"{alias}.grp AS group_label, {alias}.grp AS group_label_ar"  # codes; violation types are labelled from the vocabulary


def _group_label_join(by: str, alias: str = "g") -> str:
    if by != "governorate":
        return ""
    return (f"LEFT JOIN (SELECT admin1_pcode, any_value(name_en) AS name_en, any_value(name_ar) AS name_ar FROM gazetteer_places "
            f"WHERE level = 'governorate' GROUP BY admin1_pcode) gov ON gov.admin1_pcode = {alias}.grp")


# --- frames ------------------------------------------------------------------------------------

def _with_group_labels(frame: pl.DataFrame, store: Store, by: str) -> pl.DataFrame:
    none = _NO_GROUP[by]
    if by == "violation_type":
        en, ar = _type_labels(store, "en"), _type_labels(store, "ar")
        frame = frame.with_columns(pl.col("group").replace(en).alias("group_label"), pl.col("group").replace(ar).alias("group_label_ar"))
    return frame.with_columns(pl.col("group_label").fill_null(pl.col("group")).fill_null(none["en"]),
                              pl.col("group_label_ar").fill_null(pl.col("group")).fill_null(none["ar"]))


def _finish(frame: pl.DataFrame, store: Store, by: str) -> pl.DataFrame:
    """Labels in both languages, the date as known, and the columns in their documented order."""
    frame = _with_group_labels(frame, store, by)
    types = {}
    for language, suffix in (("en", ""), ("ar", "_ar")):
        labels = _type_labels(store, language)
        types[f"types_label{suffix}"] = pl.col("types").list.eval(pl.element().replace(labels)).list.join(_TYPE_SEPARATOR[language])
    frame = frame.with_columns(
        **types,
        date_known=_known_date_expr(_month_names(store.contracts, "en")),
        date_known_ar=_known_date_expr(_month_names(store.contracts, "ar")),
        group_by=pl.lit(by),
    )
    return frame.select("row_kind", "incidents", "group_by", "group", "group_label", "group_label_ar", "start", "end", "precision",
                        "date_known", "date_known_ar", "place", "place_ar", "ngo_id", "incident_id", "types", "types_label",
                        "types_label_ar")


def _counts_as_timeline(counts: pl.DataFrame, store: Store, by: str) -> pl.DataFrame:
    frame = counts.select(
        pl.lit("month_count").alias("row_kind"), "incidents", "group", "group_label", "group_label_ar",
        pl.col("period_start").alias("start"), pl.col("period_end").alias("end"), pl.col("period_unit").alias("precision"),
        pl.lit(None, pl.Utf8).alias("place"), pl.lit(None, pl.Utf8).alias("place_ar"), pl.lit(None, pl.Utf8).alias("ngo_id"),
        pl.lit(None, pl.Utf8).alias("incident_id"), pl.lit(None, pl.List(pl.Utf8)).alias("types"))
    return _finish(frame, store, by)


def _type_labels(store: Store, language: str) -> dict[str, str]:
    return {term.code: term.label.get(language, term.label["en"]) for term in store.contracts.vocabulary("violation_types").terms}


def _month_names(contracts: ContractSet, language: str) -> dict[int, str]:
    months = contracts.vocabulary("months")
    return {int(term.code[1:]): term.label.get(language, term.label["en"]) for term in months.terms}


def _known_date_expr(months: dict[int, str]) -> pl.Expr:
    """``start``..``end`` (exclusive) as text at the row's precision; equal ends are said once."""
    last = pl.col("end") - timedelta(days=1)

    def said(day: pl.Expr, precision: str) -> pl.Expr:
        year = day.dt.year().cast(pl.Utf8)
        month = day.dt.month().replace_strict(months, return_dtype=pl.Utf8)
        if precision == "year":
            return year
        if precision == "month":
            return pl.format("{} {}", month, year)
        return pl.format("{} {} {}", day.dt.day(), month, year)

    def span(precision: str) -> pl.Expr:
        first, final = said(pl.col("start"), precision), said(last, precision)
        return pl.when(first == final).then(first).otherwise(pl.format("{} – {}", first, final))

    return (pl.when(pl.col("precision") == "year").then(span("year"))
            .when(pl.col("precision") == "month").then(span("month"))
            .otherwise(span("day")).alias("known"))


# --- figures -----------------------------------------------------------------------------------

def _colours(frame: pl.DataFrame) -> dict[str, str]:
    """A colour per group (its code, "" for none), the same in every language."""
    keys = sorted(frame.select(pl.col("group").fill_null("")).unique()["group"])
    return {key: _PALETTE[i % len(_PALETTE)] for i, key in enumerate(keys)}


def _group_title(frame: pl.DataFrame, language: str) -> str:
    by = frame["group_by"][0] if "group_by" in frame.columns else "violation_type"
    return GROUPINGS.get(by, GROUPINGS["violation_type"])[language]


def _counts_figure(frame: pl.DataFrame, colours: dict[str, str], language: str) -> go.Figure:
    """Stacked monthly counts per group; incidents known only to the year in their own panel, a bar per year."""
    words = _WORDS[language]
    suffix = "_ar" if language == "ar" else ""
    yearly = frame.filter(pl.col("precision") != "month")
    panels = 2 if not yearly.is_empty() else 1
    fig = make_subplots(rows=panels, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25][:panels] if panels == 2 else None,
                        subplot_titles=[words["counts"], words["year_only"]][:panels], vertical_spacing=0.08)
    plotted = frame.with_columns(
        pl.col("group").fill_null("").alias("group_key"),
        (pl.col("start").cast(pl.Datetime("ms")) + (pl.col("end").cast(pl.Datetime("ms")) - pl.col("start").cast(pl.Datetime("ms"))) / 2)
        .alias("middle"),
        ((pl.col("end") - pl.col("start")).dt.total_milliseconds() * 0.9).alias("width"))
    seen: set[str] = set()
    for (key, label), rows in sorted(plotted.group_by("group_key", f"group_label{suffix}"), key=lambda item: item[0][1]):
        for row, part in ((1, rows.filter(pl.col("precision") == "month")), (2, rows.filter(pl.col("precision") != "month"))):
            if part.is_empty():
                continue
            fig.add_trace(go.Bar(x=part["middle"].to_list(), y=part["incidents"].to_list(), width=part["width"].to_list(), name=label,
                                 legendgroup=key, showlegend=key not in seen, marker_color=colours[key],
                                 opacity=1.0 if row == 1 else _OPACITY["year"], customdata=part.select(f"date_known{suffix}").to_numpy(),
                                 hovertemplate=f"<b>%{{customdata[0]}}</b><br>{label}: %{{y}}<extra></extra>"), row=row, col=1)
            seen.add(key)
    return fig.update_layout(barmode="stack", height=560, legend_title_text=_group_title(frame, language),
                             title=words["title"]).update_xaxes(type="date")
