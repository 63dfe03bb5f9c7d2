"""Printable maps and timelines: one self-contained SVG each, for pages that run no script.

A case file's index is read as HTML and as a PDF. WeasyPrint draws SVG but runs no JavaScript and
does not shape Arabic inside SVG, so these figures are plain SVG whose text is Latin only (a name
in another script falls back to its code). DuckDB counts; Python only places the counted rows.

Honest about precision, as the interactive map is: an incident known only to its governorate,
district or sub-district is a dashed circle of that unit's size, never a point; one with no usable
place is counted in the caption. A date known only to the year is never put in a month. Nothing
shows a person, a narrative or a title: only counts, places and violation types.

>>> from workbench.store import open_store                                                # doctest: +SKIP
>>> with open_store("workbench.duckdb", read_only=True) as store:                         # doctest: +SKIP
...     svg = static_map_svg(store, Selection(within="SELECT ngo_id, incident_id FROM cf_disclosed"))
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import textwrap
import uuid
from dataclasses import dataclass

import polars as pl

from workbench.errors import ConfigError
from workbench.sql import sql_literal
from workbench.store import Store
from workbench.views.maps import DEFAULT_RADIUS_M, GRID_STEPS, Boundaries, type_palette
from workbench.views.selection import Selection, selected_incidents

#: What an empty map shows (lon_min, lat_min, lon_max, lat_max): Syria.
SYRIA_EXTENT = (35.5, 32.2, 42.5, 37.5)
KM_PER_DEGREE = 111.32  # of latitude, and of longitude at the equator
MIN_SPAN = 1.0  # degrees a map shows at least, across and down (about 110 km)
#: Boundary units are labelled only when there are at most this many (admin1, not admin3).
MAX_UNIT_LABELS = 30
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
MUTED, INK, BAR = "#6b7280", "#1f2933", "#3b5b7b"
#: Scripts WeasyPrint cannot set inside SVG (right-to-left and joined: Hebrew, Arabic, Syriac, Thaana, N'Ko...).
_UNSHAPED = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
#: Characters XML 1.0 forbids (a control character would make the whole figure unreadable).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CLIP = "wb-clip-ID"  # replaced by a hash of the figure, so two figures on one page keep apart


@dataclass(frozen=True)
class StaticFigure:
    """An SVG element as text, safe to put in HTML as it is (Jinja2 and IPython show it unescaped)."""

    svg: str

    def __html__(self) -> str:
        return self.svg

    def _repr_svg_(self) -> str:
        return self.svg


@dataclass(frozen=True)
class StaticMap(StaticFigure):
    """A printed map and what it holds: incidents ``drawn`` as points (or grouped circles), known only to
    an admin area (``areas_only``, dashed circles) and ``unplaced`` (counted in the caption only)."""

    drawn: int = 0
    areas_only: int = 0
    unplaced: int = 0


@dataclass(frozen=True)
class StaticTimeline(StaticFigure):
    """A printed timeline: incidents ``by_month`` (date known to the month or finer), ``year_only`` (their
    own band) and ``undated`` (counted in the note only)."""

    by_month: int = 0
    year_only: int = 0
    undated: int = 0


def svg_text(value: object) -> str:
    """Text made safe for SVG and HTML: markup characters escaped, characters XML forbids dropped.

    >>> svg_text('<script>alert("x")</script> & co')
    '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co'
    """
    return html.escape(_NOT_XML.sub("", str(value)), quote=True)


def latin(value: str | None, fallback: str = "") -> str:
    """``value`` when WeasyPrint can set it inside SVG, else ``fallback`` (Arabic would print unjoined).

    >>> latin("Aleppo"), latin("حلب", "SY02")
    ('Aleppo', 'SY02')
    """
    return value if value and not _UNSHAPED.search(value) else fallback


# --- the map -----------------------------------------------------------------------------------

def static_map(store: Store, selection: Selection = Selection(), *, boundaries: Boundaries | None = None, width: int = 640,
               height: int = 520, max_points: int = 5000) -> StaticMap:
    """The selected incidents on a map drawn in SVG, with a legend of types, a scale bar and a caption.

    Boundary outlines come from ``boundaries`` (see :func:`workbench.views.maps.read_boundaries`);
    without them the gazetteer's governorate centres and names orient the reader. A point is coloured
    by the incident's first violation type; past ``max_points`` incidents with a point they are grouped
    per gazetteer place or grid cell, the circle's area growing with the count.

    >>> figure = static_map(store, Selection(ngos=("ALPHA",)))                             # doctest: +SKIP
    >>> figure.drawn + figure.areas_only + figure.unplaced                                 # doctest: +SKIP
    212
    """
    _check_size(width, height, minimum=(240, 200))
    if max_points < 1:
        raise ConfigError(f"max_points must be at least 1, not {max_points}")
    types = type_palette(store)
    counted = _map_counts(store, selection, types, boundaries, max_points)
    present = sorted(set(counted.points["t"]) | set(counted.areas["t"]), key=lambda t: (t == 0, t))
    caption = [part for line in _map_caption(counted, boundaries) for part in textwrap.wrap(line, _chars(width - 16))]
    legend_columns = _legend_columns([latin(types[t][1], types[t][0]) for t in present], width)
    footer = 10 + 14 * math.ceil(len(present) / legend_columns) + 13 * len(caption)
    frame = (8.0, 8.0, width - 16.0, height - 16.0 - footer)
    if frame[3] < 80:
        raise ConfigError(f"a map {height} px high leaves no room for the map above its legend; make it taller")
    project = _Projection(_extent(counted), frame)
    body = [f'<rect x="{frame[0]}" y="{frame[1]}" width="{frame[2]}" height="{frame[3]}" fill="#f7f6f2" stroke="#c9cdd2"/>',
            f'<g clip-path="url(#{_CLIP})">']
    body += _boundary_paths(boundaries, project) if boundaries is not None else []
    body += _orientation(store, boundaries, project)
    body += _area_circles(counted.areas, types, project)
    body += _point_circles(counted, types, project)
    body.append("</g>")
    if counted.total == 0:
        middle, box = frame[1] + frame[3] / 2, min(280.0, frame[2] - 8)
        body.append(f'<rect x="{frame[0] + (frame[2] - box) / 2}" y="{middle - 19}" width="{box}" height="28" fill="#ffffff" stroke="#c9cdd2"/>')
        body.append(_text(frame[0] + frame[2] / 2, middle, "No incidents in this selection", size=14, anchor="middle", fill=INK))
    body += _scale_bar(project, frame)
    body += _legend([types[t] for t in present], frame[1] + frame[3] + 16, width, legend_columns)
    y = frame[1] + frame[3] + 16 + 14 * math.ceil(len(present) / legend_columns)
    body += [_text(8, y + 13 * n, line, size=10, fill=MUTED) for n, line in enumerate(caption)]
    # the selection is not described: a text filter may hold a name
    label = f"Map of {_incidents(counted.drawn + counted.areas_only)}"
    defs = f'<defs><clipPath id="{_CLIP}"><rect x="{frame[0]}" y="{frame[1]}" width="{frame[2]}" height="{frame[3]}"/></clipPath></defs>'
    return StaticMap(_svg(width, height, label, [defs] + body), counted.drawn, counted.areas_only, counted.unplaced)


def static_map_svg(store: Store, selection: Selection = Selection(), *, boundaries: Boundaries | None = None, width: int = 640,
                   height: int = 520, max_points: int = 5000) -> str:
    """:func:`static_map`'s SVG element alone."""
    return static_map(store, selection, boundaries=boundaries, width=width, height=height, max_points=max_points).svg


@dataclass
class _MapCounts:
    """What DuckDB counted: ``points`` (lat, lon, t, n), ``areas`` (level, code, lat, lon, radius_m, t, n)."""

    points: pl.DataFrame
    areas: pl.DataFrame
    drawn: int
    areas_only: int
    unplaced: int
    grid: float | None = None
    by_place: bool = True

    @property
    def total(self) -> int:
        return self.drawn + self.areas_only + self.unplaced

    @property
    def grouped(self) -> bool:
        return self.grid is not None


def _map_counts(store: Store, selection: Selection, types: list, boundaries: Boundaries | None, max_points: int) -> _MapCounts:
    """Stage the selection once (kind, type, area unit), then count points, areas and the rest."""
    table = f"static_map_{uuid.uuid4().hex[:12]}"
    codes = "[" + ", ".join(sql_literal(code) for code, _, _ in types[1:]) + "]"  # position in the list = palette index
    columns = f"""i.latitude AS lat, i.longitude AS lon, i.place_id, i.geo_precision AS level,
        coalesce(list_position({codes}, i.violation_types[1]), 0) AS t,
        coalesce(CASE i.geo_precision WHEN 'governorate' THEN i.admin1_pcode WHEN 'district' THEN i.admin2_pcode
                 WHEN 'subdistrict' THEN i.admin3_pcode END, i.place_id, round(i.latitude, 3) || ',' || round(i.longitude, 3)) AS code"""
    units = boundaries.units.select("pcode", "lat", "lon", "radius_m") if boundaries is not None else pl.DataFrame(
        schema={"pcode": pl.String, "lat": pl.Float64, "lon": pl.Float64, "radius_m": pl.Float64})
    store.con.register(f"{table}_units", units.to_arrow())
    try:
        store.con.execute(f"""CREATE TEMP TABLE {table} AS SELECT *,
            CASE WHEN level IN ('point', 'community') AND lat IS NOT NULL AND lon IS NOT NULL THEN 'point'
                 WHEN level IN ('governorate', 'district', 'subdistrict') AND code IS NOT NULL THEN 'area'
                 ELSE 'unplaced' END AS kind
            FROM ({selected_incidents(selection, store, columns)})""")
        kinds = dict(store.con.execute(f"SELECT kind, count(*) FROM {table} GROUP BY kind").fetchall())
        grid, by_place = _grid(store, table, max_points) if kinds.get("point", 0) > max_points else (None, True)
        points = _points(store, table, grid, by_place)
        areas = store.con.execute(f"""WITH per_type AS (SELECT level, code, t, count(*) AS n FROM {table} WHERE kind = 'area' GROUP BY ALL),
            top AS (SELECT level, code, t FROM per_type QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY n DESC, t) = 1),
            unit AS (SELECT level, code, avg(lat) AS lat, avg(lon) AS lon, count(*) AS n FROM {table} WHERE kind = 'area' GROUP BY ALL),
            gaz AS (SELECT place_id, any_value(lat) AS lat, any_value(lon) AS lon FROM gazetteer_places GROUP BY place_id)
            SELECT u.level, u.code, coalesce(b.lat, g.lat, u.lat) AS lat, coalesce(b.lon, g.lon, u.lon) AS lon,
                   coalesce(b.radius_m, CASE u.level {' '.join(f"WHEN '{k}' THEN {m}" for k, m in DEFAULT_RADIUS_M.items())} END) AS radius_m,
                   top.t, u.n
            FROM unit u JOIN top USING (level, code) LEFT JOIN {table}_units b ON b.pcode = u.code LEFT JOIN gaz g ON g.place_id = u.code
            ORDER BY u.n DESC, u.level, u.code""").pl()
    finally:
        store.con.execute(f"DROP TABLE IF EXISTS temp.{table}")
        store.con.unregister(f"{table}_units")
    return _MapCounts(points, areas, kinds.get("point", 0), kinds.get("area", 0), kinds.get("unplaced", 0), grid, by_place)


def _cell_key(grid: float, by_place: bool) -> str:
    cell = f"'c' || round(lat / {grid!r})::BIGINT || ':' || round(lon / {grid!r})::BIGINT"
    return f"coalesce('p' || place_id, {cell})" if by_place else cell


def _grid(store: Store, table: str, max_points: int) -> tuple[float, bool]:
    """The finest grouping (gazetteer place first, then grid cell) giving at most ``max_points`` circles, counted in one pass."""
    options = [(step, by_place) for by_place in (True, False) for step in GRID_STEPS]
    counts = store.con.execute("SELECT " + ", ".join(f"count(DISTINCT {_cell_key(s, p)})" for s, p in options)
                               + f" FROM {table} WHERE kind = 'point'").fetchone()
    return next((option for option, n in zip(options, counts) if n <= max_points), options[-1])


def _points(store: Store, table: str, grid: float | None, by_place: bool) -> pl.DataFrame:
    """One row per incident with a point, or per group of them (centre, commonest first type, count)."""
    if grid is None:
        # incidents at one spot (about 10 m) and of one first type share a circle: on paper they would hide each other
        return store.con.execute(f"""SELECT round(lat, 4) AS lat, round(lon, 4) AS lon, t, count(*) AS n FROM {table}
            WHERE kind = 'point' GROUP BY ALL ORDER BY n DESC, lat DESC, lon, t""").pl()
    return store.con.execute(f"""WITH k AS (SELECT {_cell_key(grid, by_place)} AS key, lat, lon, t FROM {table} WHERE kind = 'point'),
        top AS (SELECT key, t FROM (SELECT key, t, count(*) AS n FROM k GROUP BY ALL)
                QUALIFY row_number() OVER (PARTITION BY key ORDER BY n DESC, t) = 1)
        SELECT round(avg(lat), 4) AS lat, round(avg(lon), 4) AS lon, any_value(top.t) AS t, count(*) AS n
        FROM k JOIN top USING (key) GROUP BY key ORDER BY n DESC, lat DESC, lon""").pl()


def _extent(counted: _MapCounts) -> tuple[float, float, float, float]:
    """The data's extent (areas with their radius), padded; Syria's when nothing has a place."""
    boxes = [counted.points.select("lat", "lon").with_columns(pl.lit(0.0).alias("r"))]
    areas = counted.areas.drop_nulls(["lat", "lon"])
    boxes.append(areas.select("lat", "lon", (pl.col("radius_m") / 1000 / KM_PER_DEGREE).alias("r")))
    both = pl.concat([b.cast(pl.Float64) for b in boxes if b.height]) if any(b.height for b in boxes) else None
    if both is None:
        return SYRIA_EXTENT
    lat_min, lat_max = (both["lat"] - both["r"]).min(), (both["lat"] + both["r"]).max()
    kx = math.cos(math.radians((lat_min + lat_max) / 2))
    lon_min, lon_max = (both["lon"] - both["r"] / kx).min(), (both["lon"] + both["r"] / kx).max()
    # at least MIN_SPAN degrees: a few incidents in one town still show the towns and units around it
    pad_lat = max((lat_max - lat_min) * 0.06, (MIN_SPAN - (lat_max - lat_min)) / 2)
    pad_lon = max((lon_max - lon_min) * 0.06, (MIN_SPAN / kx - (lon_max - lon_min)) / 2)
    return lon_min - pad_lon, lat_min - pad_lat, lon_max + pad_lon, lat_max + pad_lat


class _Projection:
    """Equirectangular, longitudes shrunk by the cosine of the mean latitude, fitted and centred in ``frame``."""

    def __init__(self, extent: tuple[float, float, float, float], frame: tuple[float, float, float, float]):
        lon_min, lat_min, lon_max, lat_max = extent
        self.kx = math.cos(math.radians((lat_min + lat_max) / 2))
        x, y, w, h = frame
        span_x, span_y = (lon_max - lon_min) * self.kx, lat_max - lat_min
        self.scale = min(w / span_x, h / span_y)  # pixels per degree of latitude
        self.left = x + (w - span_x * self.scale) / 2 - lon_min * self.kx * self.scale
        self.top = y + (h - span_y * self.scale) / 2 + lat_max * self.scale

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return round(self.left + lon * self.kx * self.scale, 1), round(self.top - lat * self.scale, 1)

    def pixels(self, km: float) -> float:
        return km / KM_PER_DEGREE * self.scale


def _boundary_paths(boundaries: Boundaries, project: _Projection) -> list[str]:
    """Every ring of every unit as one path (outlines only, so that nothing hides a symbol)."""
    def rings(geometry: dict | None):
        kind = (geometry or {}).get("type")
        if kind == "Polygon":
            yield from geometry["coordinates"]
        elif kind == "MultiPolygon":
            for polygon in geometry["coordinates"]:
                yield from polygon
        elif kind == "GeometryCollection":
            for part in geometry["geometries"]:
                yield from rings(part)

    parts = []
    for feature in boundaries.geojson["features"]:
        for ring in rings(feature.get("geometry")):
            if len(ring) >= 3:
                parts.append("M" + " ".join("{},{}".format(*project(lon, lat)) for lon, lat, *_ in ring) + "Z")
    return [f'<path class="boundary" d="{"".join(parts)}" fill="#fbfaf6" fill-rule="evenodd" stroke="#8d949c" stroke-width="0.6"/>'] if parts else []


def _orientation(store: Store, boundaries: Boundaries | None, project: _Projection) -> list[str]:
    """Names to read the map by: the boundary units' (when few), else the gazetteer's governorates."""
    if boundaries is not None and 0 < boundaries.units.height <= MAX_UNIT_LABELS:
        places = [(latin(r["name_en"], r["pcode"] or ""), r["lat"], r["lon"]) for r in boundaries.units.iter_rows(named=True)]
        dots = False
    else:
        rows = store.con.execute("""SELECT name_en, place_id, lat, lon FROM gazetteer_places
            WHERE level = 'governorate' AND lat IS NOT NULL AND lon IS NOT NULL ORDER BY place_id""").fetchall()
        places, dots = [(latin(name, code or ""), lat, lon) for name, code, lat, lon in rows], True
    out = []
    for name, lat, lon in places:
        if lat is None or lon is None:
            continue
        x, y = project(lon, lat)
        if dots:
            out.append(f'<circle class="place" cx="{x}" cy="{y}" r="2" fill="#9aa1a9"/>')
        out.append(_text(x + (4 if dots else 0), y - (3 if dots else 0), name, size=9, fill="#7a828b",
                         anchor="start" if dots else "middle", cls="place-name"))
    return out


def _area_circles(areas: pl.DataFrame, types: list, project: _Projection) -> list[str]:
    out = []
    for row in areas.drop_nulls(["lat", "lon"]).iter_rows(named=True):
        x, y = project(row["lon"], row["lat"])
        r = max(round(project.pixels(row["radius_m"] / 1000), 1), 4.0)
        out.append(f'<circle class="area" data-n="{row["n"]}" cx="{x}" cy="{y}" r="{r}" fill="{types[row["t"]][2]}" fill-opacity="0.12" '
                   f'stroke="#333" stroke-width="0.8" stroke-dasharray="4 3"/>')
        # below the centre, where the unit's name (beside or on the centre) is not
        out.append(_text(x, y + 13, f"{row['n']:,}", size=10, anchor="middle", fill=INK, weight="bold", cls="area-count"))
    return out


def _point_circles(counted: _MapCounts, types: list, project: _Projection) -> list[str]:
    points = counted.points
    if not points.height:
        return []
    largest = int(points["n"].max())
    out = []
    for lat, lon, t, n in points.select("lat", "lon", "t", "n").iter_rows():
        x, y = project(lon, lat)
        # the circle's area, not its radius, grows with the count
        r = round(2.5 + 11.5 * math.sqrt(n / largest), 1) if counted.grouped else round(3 + 1.5 * (math.sqrt(n) - 1), 1)
        opacity = "0.75" if counted.grouped or n > 1 else "0.9"
        out.append(f'<circle class="incident" data-n="{n}" cx="{x}" cy="{y}" r="{r}" fill="{types[t][2]}" fill-opacity="{opacity}" '
                   f'stroke="#222" stroke-width="0.5"/>')
    return out


def _map_caption(counted: _MapCounts, boundaries: Boundaries | None) -> list[str]:
    if counted.total == 0:
        return ["No incidents in this selection."]
    if counted.grouped:
        by = f"{'gazetteer place or ' if counted.by_place else ''}{counted.grid:g}° grid cell"
        lines = [f"{_incidents(counted.drawn)} with a known place, grouped by {by} (circle area grows with the count; "
                 f"largest {int(counted.points['n'].max()):,}), coloured by the commonest first violation type."]
    else:
        lines = [f"{_incidents(counted.drawn)} with a known place, coloured by their first violation type "
                 "(a bigger circle: several at one spot)."]
    if counted.areas_only:
        missing = counted.areas_only - int(counted.areas.drop_nulls(["lat", "lon"])["n"].sum() or 0)
        lines.append(f"{counted.areas_only:,} known only to a governorate, district or sub-district: dashed circles of the unit's "
                     "size, with their count" + (f" ({missing:,} with no known centre are not drawn)." if missing else "."))
    if counted.unplaced:
        lines.append(f"{_incidents(counted.unplaced)} without a usable place are not shown.")
    if boundaries is not None:
        lines.append(f"Boundaries: {latin(boundaries.path.name, 'boundary file')}.")
    return lines


def _scale_bar(project: _Projection, frame: tuple[float, float, float, float]) -> list[str]:
    """A bar of a round number of km, about a fifth of the frame wide, in its lower left corner."""
    target_km = frame[2] / 5 / project.pixels(1)
    magnitude = 10 ** math.floor(math.log10(target_km))
    km = max(step * magnitude for step in (1, 2, 5) if step * magnitude <= target_km) if target_km >= 1 else 1
    length = round(project.pixels(km), 1)
    x, y = frame[0] + 12, frame[1] + frame[3] - 12
    return [f'<g class="scale-bar" stroke="{INK}" stroke-width="1.2"><path d="M{x},{y - 4}V{y}H{x + length}V{y - 4}" fill="none"/></g>',
            _text(x + length + 5, y, f"{km:g} km", size=10, fill=INK)]


def _legend_columns(labels: list[str], width: int) -> int:
    """As many columns (up to three) as keep every label whole; two, shortening them, when none does."""
    longest = max(map(len, labels), default=0)
    return next((n for n in (3, 2) if longest <= _fits(width, n)), 2 if width >= 300 else 1)


def _fits(width: int, columns: int) -> int:
    """Characters a legend column holds."""
    return _chars((width - 16) / columns - 18)


def _chars(pixels: float) -> int:
    """Characters of 10 px text a line of ``pixels`` holds (DejaVu Sans averages about 6 px a character)."""
    return max(int(pixels / 6.0), 6)


def _legend(entries: list[tuple[str, str, str]], top: float, width: int, columns: int) -> list[str]:
    """A swatch and Latin label per type present, in columns, labels shortened to fit."""
    column_width, fits = (width - 16) / columns, _fits(width, columns)
    out = []
    for n, (code, label, colour) in enumerate(entries):
        x, y = 8 + column_width * (n % columns), top + 14 * (n // columns)
        text = latin(label, code or "no type")
        text = text if len(text) <= fits else text[:fits - 1].rstrip() + "…"
        out.append(f'<circle class="legend-swatch" cx="{x + 5}" cy="{y - 3.5}" r="4.5" fill="{colour}" stroke="#222" stroke-width="0.5"/>')
        out.append(_text(x + 14, y, text, size=10, fill=INK, cls="legend-label"))
    return out


# --- the timeline ------------------------------------------------------------------------------

def static_timeline(store: Store, selection: Selection = Selection(), *, width: int = 640, height: int = 220) -> StaticTimeline:
    """Incidents per month as bars (by the month of ``date_start``), those known only to the year in a
    band of their own below the axis, undated ones counted in the note.

    >>> static_timeline(store, Selection.parse(period="2014")).by_month                    # doctest: +SKIP
    87
    """
    _check_size(width, height, minimum=(240, 140))
    precise = "('day', 'week', 'month')"
    rows = store.con.execute(f"""SELECT CASE WHEN date_start IS NULL THEN 'undated' WHEN date_precision IN {precise} THEN 'month'
                ELSE 'year' END AS kind, year(date_start) AS y, CASE WHEN date_precision IN {precise} THEN month(date_start) END AS m,
            count(*) AS n
        FROM ({selected_incidents(selection, store, 'i.date_start, i.date_precision')}) GROUP BY ALL ORDER BY ALL""").fetchall()
    months = {(y, m): n for kind, y, m, n in rows if kind == "month"}
    years = {y: n for kind, y, _, n in rows if kind == "year"}
    undated = sum(n for kind, _, _, n in rows if kind == "undated")
    by_month, year_only = sum(months.values()), sum(years.values())
    label = f"Timeline of {_incidents(by_month + year_only)}"
    if not months and not years:
        note = "No incidents in this selection" + (f" with a date ({undated:,} undated)." if undated else ".")
        body = [f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#f7f6f2" stroke="#c9cdd2"/>',
                _text(width / 2, height / 2, note, size=14, anchor="middle", fill=INK)]
        return StaticTimeline(_svg(width, height, label, body), 0, 0, undated)
    first, last = min([y for y, _ in months] + list(years)), max([y for y, _ in months] + list(years))
    notes = [f"{n:,} {text}" for n, text in ((year_only, "known only to the year (grey band: count per year)"),
                                             (undated, "undated, not shown")) if n]
    left, right, top = 44.0, 10.0, 26.0
    band = 16.0 if years else 0.0
    plot_h = height - top - 18 - band - 13 * len(notes) - 6
    if plot_h < 40:
        raise ConfigError(f"a timeline {height} px high leaves no room for its bars; make it taller")
    month_w = (width - left - right) / ((last - first + 1) * 12)
    base = top + plot_h
    tallest = max(months.values(), default=0)
    title = next(t for t in ("Incidents per month (date known to the month or day)", "Incidents per month") if len(t) * 7 <= width - 16 or
                 t == "Incidents per month")
    body = [_text(8, 15, title, size=11, fill=INK, weight="bold")]
    if tallest:
        body += [f'<path d="M{left},{top}H{width - right}" stroke="#c9cdd2" stroke-dasharray="2 2"/>',
                 _text(left - 4, top + 4, f"{tallest:,}", size=9, anchor="end", fill=MUTED, cls="max-label")]
    for (y, m), n in sorted(months.items()):
        x = left + ((y - first) * 12 + m - 1) * month_w
        h = round(plot_h * n / tallest, 1)
        body.append(f'<rect class="month" data-n="{n}" x="{round(x, 2)}" y="{round(base - h, 1)}" width="{round(max(month_w * 0.85, 0.6), 2)}" '
                    f'height="{h}" fill="{BAR}"/>')
    body += [f'<path d="M{left},{base}H{width - right}" stroke="{INK}" stroke-width="0.8"/>',
             _text(left - 4, base, "0", size=9, anchor="end", fill=MUTED)]
    year_w = month_w * 12
    every = next(k for k in (1, 2, 5, 10, 20, 50, 100, 10**6) if year_w * k >= 30)
    for y in range(first, last + 1):
        x = left + (y - first) * year_w
        body.append(f'<path d="M{round(x, 2)},{base}v4" stroke="{INK}" stroke-width="0.6"/>')
        if (y - first) % every == 0:
            body.append(_text(x + (year_w / 2 if every == 1 else 0), base + 14, str(y), size=9,
                              anchor="middle" if every == 1 else "start", fill=INK, cls="year-label"))
    if years:
        band_top = base + 19
        body.append(_text(left - 4, band_top + 9, "year", size=8, anchor="end", fill=MUTED))
        busiest = max(years.values())
        for y, n in sorted(years.items()):
            x = left + (y - first) * year_w
            body.append(f'<rect class="year-only" data-n="{n}" x="{round(x + 0.5, 2)}" y="{band_top}" width="{round(max(year_w - 1, 0.6), 2)}" '
                        f'height="12" fill="#8d949c" fill-opacity="{round(0.25 + 0.6 * n / busiest, 2)}"/>')
            if year_w >= 8 * len(str(n)):
                body.append(_text(x + year_w / 2, band_top + 9, str(n), size=8, anchor="middle", fill=INK, cls="year-count"))
    body += [_text(8, height - 6 - 13 * (len(notes) - 1 - k), line, size=10, fill=MUTED) for k, line in enumerate(notes)]
    return StaticTimeline(_svg(width, height, label, body), by_month, year_only, undated)


def static_timeline_svg(store: Store, selection: Selection = Selection(), *, width: int = 640, height: int = 220) -> str:
    """:func:`static_timeline`'s SVG element alone."""
    return static_timeline(store, selection, width=width, height=height).svg


# --- SVG helpers -------------------------------------------------------------------------------

def _incidents(n: int) -> str:
    return f"{n:,} incident" + ("" if n == 1 else "s")


def _check_size(width: int, height: int, *, minimum: tuple[int, int]) -> None:
    if width < minimum[0] or height < minimum[1]:
        raise ConfigError(f"a figure of {width}×{height} px is too small to read; at least {minimum[0]}×{minimum[1]}")


def _text(x: float, y: float, value: str, *, size: float, fill: str, anchor: str = "start", weight: str = "", cls: str = "") -> str:
    extra = (f' font-weight="{weight}"' if weight else "") + (f' class="{cls}"' if cls else "")
    return (f'<text x="{round(x, 1)}" y="{round(y, 1)}" font-size="{size}" fill="{fill}" text-anchor="{anchor}"{extra}>'
            f"{svg_text(value)}</text>")


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    """The root element; the clip path's id is a hash of the drawing, the same drawing giving the same text."""
    inner = "\n".join(body)
    inner = inner.replace(_CLIP, "wb-clip-" + hashlib.sha256(inner.encode()).hexdigest()[:12])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{svg_text(latin(label, "Figure"))}" font-family="{FONT}">\n'
            f"{inner}\n</svg>")


__all__ = ["StaticFigure", "StaticMap", "StaticTimeline", "latin", "static_map", "static_map_svg", "static_timeline",
           "static_timeline_svg", "svg_text", "SYRIA_EXTENT"]
