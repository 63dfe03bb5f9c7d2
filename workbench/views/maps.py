"""Incidents on a map that works with no network: points, areas, heat, totals per admin unit, boundaries.

DuckDB does the counting (per incident, or per place and grid cell past ``max_points``; per primary
violation type and month); Python shapes the small result into JSON, and one inline script
(:data:`ENGINE_JS`) draws it, so a million incidents cost a few megabytes, not one folium object each.
The same script is the time slider and obeys the layer control's switch per violation type.

Honest about precision: an incident known only to its governorate, district or sub-district is a
translucent circle the size of that unit, never a point; one with no usable place is not drawn and
the map says how many there are. Popups hold dates, places, types, NGO counts and casualty figures,
never a narrative, title or person.

>>> from workbench.store import open_store                                   # doctest: +SKIP
>>> with open_store("workbench.duckdb", read_only=True) as store:            # doctest: +SKIP
...     save_map(incident_map(store, Selection(ngos=("ALPHA",))), Path("alpha.html"))
"""

from __future__ import annotations

import html
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import offlinefolium as folium
import polars as pl
from offlinefolium import plugins
from offlinefolium.elements import MacroElement
from offlinefolium.template import Template

from workbench.errors import ConfigError, WorkbenchError
from workbench.sql import quote_ident, sql_literal
from workbench.store import Store, load_extension
from workbench.views.selection import Selection, selected_incidents

#: Where each area precision finds its unit's P-code.
AREA_LEVELS = {"governorate": "admin1_pcode", "district": "admin2_pcode", "subdistrict": "admin3_pcode"}
#: Radius (m) of a circle with the median area of Syria's OCHA units at that level (8,726, 1,286 and
#: 221 km²), used for an area incident when no boundary file gives its unit's own area.
DEFAULT_RADIUS_M = {"governorate": 50_000, "district": 20_000, "subdistrict": 8_000}
#: Grid cells (degrees) tried, finest first, when incidents are grouped by place: the finest that
#: gives at most ``max_points`` markers wins (0.01° is about 1 km).
GRID_STEPS = (0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
#: Counted rows (place, type, months) the page may carry; past it the slider steps by year, then goes.
ROW_BUDGET = 200_000
#: Simplification tolerance for boundaries, in degrees (about 1 km): Syria's 14 governorates take ~17 kB.
BOUNDARY_TOLERANCE = 0.01
SYRIA_BOUNDS = [[32.3, 35.7], [37.3, 42.4]]
#: Colours of violation types, by the code's position in the vocabulary (stable while it keeps its order).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1",
           "#636363", "#9c9ede", "#e7969c", "#b5cf6b", "#e7ba52", "#ce6dbd", "#6baed6", "#fd8d3c", "#74c476")
NO_TYPE = ("", "No or unknown violation type", "#7f7f7f")
#: Month numbers (year * 12 + month - 1) bounding each incident's dates, per slider step.
GRAINS = {
    "month": ("year(date_start) * 12 + month(date_start) - 1", "year(date_end) * 12 + month(date_end) - 1"),
    "year": ("year(date_start) * 12", "year(date_end) * 12 + 11"),
    None: ("0", "0"),
}
UNDATED_END = 9_999_999
_NAME_FIELDS = ("NAME_EN", "name_en", "name", "NAME", "shapeName")
_NAME_AR_FIELDS = ("NAME_AR", "name_ar")
_PCODE_FIELDS = ("PCODE", "pcode", "shapeISO", "shapeID")


@dataclass
class Layer:
    """Symbols of one kind: ``places`` (one row each, with ``lat``, ``lon``) and ``rows`` counting
    incidents ``n`` (and killed ``k``, injured ``j``) per place index ``p``, primary type index
    ``t`` and first and last month ``a``, ``b``."""

    places: pl.DataFrame
    rows: pl.DataFrame

    def incidents(self) -> int:
        return int(self.rows["n"].sum()) if self.rows.height else 0


@dataclass
class Boundaries:
    """A boundary file, simplified: a GeoJSON for the map and one row per unit (pcode, names, centre, radius)."""

    path: Path
    geojson: dict
    units: pl.DataFrame


@dataclass
class MapLayers:
    """Everything the map draws, counted. ``types`` holds (code, label, colour); index 0 is "no type"."""

    types: list[tuple[str, str, str]]
    points: Layer
    areas: Layer
    units: dict[str, Layer] = field(default_factory=dict)
    aggregated: bool = False
    grid: float | None = None
    by_place: bool = True
    grain: str | None = "month"
    unplaced: int = 0

    def mapped(self) -> int:
        """Incidents drawn as a point, a place marker or an area."""
        return self.points.incidents() + self.areas.incidents()


def type_palette(store: Store) -> list[tuple[str, str, str]]:
    """(code, English label, colour) for every violation type, index 0 being "no or unknown type"."""
    vocabulary = store.contracts.vocabulary("violation_types")
    return [NO_TYPE] + [(code, vocabulary.label(code, "en"), PALETTE[n % len(PALETTE)]) for n, code in enumerate(vocabulary.codes)]


def read_boundaries(path: Path, *, tolerance: float = BOUNDARY_TOLERANCE) -> Boundaries:
    """Read a polygon GeoJSON with DuckDB spatial and simplify it, or raise ConfigError naming the file.

    Names and P-codes are taken from the OCHA fields (``NAME_EN``, ``NAME_AR``, ``PCODE``) or common
    equivalents; a unit's radius is that of a circle of its area (on the spheroid).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"boundary file {path} does not exist")
    con = duckdb.connect()
    try:
        load_extension(con, "spatial")
        source = "ST_Read(?, allowed_drivers = ['GeoJSON'])"
        try:
            columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}", [str(path)]).fetchall()]
            shapes = con.execute(f"""SELECT count(*), count(*) FILTER (WHERE geom IS NULL OR ST_GeometryType(geom)::VARCHAR
                NOT IN ('POLYGON', 'MULTIPOLYGON')), max(ST_XMax(geom)), min(ST_XMin(geom)) FROM {source}""", [str(path)]).fetchone()
        except duckdb.Error as exc:
            raise ConfigError(f"boundary file {path} cannot be read as GeoJSON: {str(exc).splitlines()[0]}") from None
        if not shapes[0]:
            raise ConfigError(f"boundary file {path} holds no features")
        if shapes[1]:
            raise ConfigError(f"boundary file {path} is not a polygon GeoJSON: {shapes[1]} of {shapes[0]} features are not polygons")
        if shapes[2] > 180 or shapes[3] < -180:
            raise ConfigError(f"boundary file {path} is not in longitude and latitude (WGS 84)")
        pick = lambda names: next((quote_ident(c) for c in names if c in columns), "NULL")  # noqa: E731
        frame = con.execute(f"""SELECT {pick(_PCODE_FIELDS)}::VARCHAR AS pcode, {pick(_NAME_FIELDS)}::VARCHAR AS name_en,
            {pick(_NAME_AR_FIELDS)}::VARCHAR AS name_ar, ST_Y(ST_Centroid(geom)) AS lat, ST_X(ST_Centroid(geom)) AS lon,
            sqrt(ST_Area_Spheroid(ST_FlipCoordinates(geom)) / pi()) AS radius_m,
            ST_AsGeoJSON(ST_ReducePrecision(ST_SimplifyPreserveTopology(geom, ?), ?)) AS geometry
            FROM {source}""", [tolerance, tolerance / 10, str(path)]).pl()
    finally:
        con.close()
    features = [{"type": "Feature", "geometry": json.loads(row["geometry"]), "properties": {"label": _unit_label(row)}}
                for row in frame.iter_rows(named=True)]
    return Boundaries(path, {"type": "FeatureCollection", "features": features}, frame.drop("geometry"))


def _unit_label(row: dict) -> str:
    names = " · ".join(n for n in (row["name_en"], row["name_ar"]) if n)
    return html.escape(f"{names} ({row['pcode']})" if row["pcode"] else names or "unnamed unit")


def map_layers(store: Store, selection: Selection = Selection(), *, max_points: int = 20_000, boundaries: Boundaries | None = None,
               time_slider: bool = True) -> MapLayers:
    """Count what the map draws, in DuckDB: one point per incident up to ``max_points`` mapped
    incidents, else one marker per place (or grid cell); areas; totals per admin level.

    >>> layers = map_layers(store, max_points=10)                              # doctest: +SKIP
    >>> layers.aggregated, layers.mapped() + layers.unplaced                   # doctest: +SKIP
    (True, 1179)
    """
    types = type_palette(store)
    table = f"map_selection_{uuid.uuid4().hex[:12]}"
    units = boundaries.units if boundaries is not None else pl.DataFrame(schema={
        "pcode": pl.String, "name_en": pl.String, "name_ar": pl.String, "lat": pl.Float64, "lon": pl.Float64, "radius_m": pl.Float64})
    store.con.register(f"{table}_units", units.to_arrow())
    try:
        codes = "[" + ", ".join(sql_literal(code) for code, _, _ in types[1:]) + "]"  # a type's index is its place here
        _stage(store, selection, table, codes)
        count = lambda where: store.con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]  # noqa: E731
        aggregated = count("kind = 'point'") > max_points
        grid, by_place = _grid_step(store, table, max_points) if aggregated else (None, True)
        key = _point_key(grid, by_place)
        grain = (_grain(store, table, key) if aggregated else "month") if time_slider else None
        units_sql = f"{table}_units"
        points = _layer(store, table, "kind = 'point'", key, POINT_PLACES, grain) if aggregated else _incident_points(store, table, codes, grain)
        areas = _layer(store, table, "kind = 'area'", "area_key", AREA_PLACES.format(units=units_sql, radius=_default_radius()), grain)
        levels = {level: _layer(store, table, f"{column} IS NOT NULL", column, UNIT_PLACES.format(units=units_sql), grain)
                  for level, column in AREA_LEVELS.items() if count(f"{column} IS NOT NULL")}
        total = count("TRUE")
    finally:
        store.con.execute(f"DROP TABLE IF EXISTS temp.{table}")
        store.con.unregister(f"{table}_units")
    layers = MapLayers(types, points, areas, levels, aggregated, grid, by_place, grain)
    layers.unplaced = total - layers.mapped()
    return layers


def _stage(store: Store, selection: Selection, table: str, codes: str) -> None:
    """The selected incidents with what the map needs: kind (point, area, unplaced), area key, primary type."""
    columns = f"""i.ngo_id, i.incident_id, i.place_id, i.place, i.geo_precision, i.latitude AS lat, i.longitude AS lon, i.admin1_pcode,
        i.admin2_pcode, i.admin3_pcode, i.killed, i.injured, i.date_precision, i.date_start,
        coalesce(i.date_end, i.date_start) AS date_end, coalesce(list_position({codes}, i.violation_types[1]), 0) AS t,
        CASE i.geo_precision WHEN 'governorate' THEN i.admin1_pcode WHEN 'district' THEN i.admin2_pcode
             WHEN 'subdistrict' THEN i.admin3_pcode END AS unit"""
    store.con.execute(f"""CREATE TEMP TABLE {table} AS
        SELECT *, CASE WHEN geo_precision IN ('point', 'community') AND lat IS NOT NULL AND lon IS NOT NULL THEN 'point'
            WHEN geo_precision IN ('governorate', 'district', 'subdistrict') AND coalesce(unit, place_id, lat::VARCHAR) IS NOT NULL THEN 'area'
            ELSE 'unplaced' END AS kind,
          CASE WHEN geo_precision IN ('governorate', 'district', 'subdistrict')
               THEN geo_precision || ':' || coalesce(unit, place_id, lat::VARCHAR || ',' || lon::VARCHAR) END AS area_key
        FROM ({selected_incidents(selection, store, columns)})""")


def _grid_step(store: Store, table: str, max_points: int) -> tuple[float, bool]:
    """The finest grid step giving at most ``max_points`` markers, and whether gazetteer places keep
    their own marker (they do unless there are more of them than ``max_points``)."""
    for by_place in (True, False):
        for step in GRID_STEPS:
            markers = store.con.execute(f"SELECT count(DISTINCT {_point_key(step, by_place)}) FROM {table} WHERE kind = 'point'").fetchone()[0]
            if markers <= max_points:
                return step, by_place
    return GRID_STEPS[-1], False


def _point_key(grid: float | None, by_place: bool = True) -> str:
    """The marker a point incident joins: its gazetteer place, or its grid cell."""
    cell = f"'c' || (round(lat / {grid!r})::BIGINT * 100000 + round(lon / {grid!r})::BIGINT)" if grid else "NULL"
    return f"coalesce('p' || place_id, {cell})" if by_place else cell


def _grain(store: Store, table: str, key: str) -> str | None:
    """The finest slider step whose counted rows (place, type, months) fit in ROW_BUDGET."""
    for grain in ("month", "year"):
        a, b = GRAINS[grain]
        rows = store.con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {key}, t, {a}, {b} FROM {table} WHERE kind = 'point')").fetchone()[0]
        if rows <= ROW_BUDGET:
            return grain
    return None


def _months(grain: str | None, alias: str = "") -> str:
    a, b = (expression.replace("date_", f"{alias}date_") for expression in GRAINS[grain])
    # undated incidents (no start date) stay visible whatever the slider says
    return f"coalesce({a}, 0) AS a, coalesce({b}, {UNDATED_END}) AS b"


def _default_radius() -> str:
    return "CASE a.level " + " ".join(f"WHEN '{level}' THEN {m}" for level, m in DEFAULT_RADIUS_M.items()) + " END"


def _date_text(column: str) -> str:
    return (f"CASE s.date_precision WHEN 'year' THEN strftime({column}, '%Y') WHEN 'month' THEN strftime({column}, '%Y-%m') "
            f"ELSE strftime({column}, '%Y-%m-%d') END")


def _incident_points(store: Store, table: str, codes: str, grain: str | None) -> Layer:
    """One point per incident, with what its popup shows (every type, the NGOs reporting that place and date)."""
    start, end = _date_text("s.date_start"), _date_text("s.date_end")
    places = store.con.execute(f"""SELECT round(s.lat, 5) AS lat, round(s.lon, 5) AS lon, coalesce(g.name_en, s.place) AS name, g.name_ar,
            {start} || CASE WHEN {end} <> {start} THEN ' to ' || {end} ELSE '' END AS date, s.date_precision AS precision,
            list_transform(i.violation_types, c -> coalesce(list_position({codes}, c), 0)) AS types,
            count(DISTINCT s.ngo_id) OVER (PARTITION BY coalesce(s.place_id, s.lat::VARCHAR || ',' || s.lon::VARCHAR), s.date_start) AS ngos,
            s.killed, s.injured, s.t, {_months(grain, 's.')}
        FROM {table} s JOIN active.incidents i USING (ngo_id, incident_id) LEFT JOIN gazetteer_places g ON g.place_id = s.place_id
        WHERE s.kind = 'point' ORDER BY s.date_start, lat, lon, s.ngo_id""").pl()
    rows = places.select(pl.int_range(pl.len()).alias("p"), "t", "a", "b", pl.lit(1).alias("n"),
                         pl.col("killed").fill_null(0).alias("k"), pl.col("injured").fill_null(0).alias("j"))
    return Layer(places.drop("t", "a", "b"), rows.cast(pl.Int64))


#: Each layer's places, from ``grouped`` (``a``: key, lat, lon, ngos, place_id, place, level, code).
POINT_PLACES = """SELECT a.key, round(a.lat, 5) AS lat, round(a.lon, 5) AS lon, coalesce(g.name_en, a.place) AS name, g.name_ar, a.ngos
    FROM grouped a LEFT JOIN gazetteer_places g ON g.place_id = a.place_id"""
#: An area is centred and sized by the boundary file when it has the unit, else by the gazetteer (or its incidents) and the default radius.
AREA_PLACES = """SELECT a.key, round(coalesce(b.lat, g.lat, a.lat), 5) AS lat, round(coalesce(b.lon, g.lon, a.lon), 5) AS lon,
    coalesce(b.name_en, g.name_en, a.code) AS name, coalesce(b.name_ar, g.name_ar) AS name_ar, a.level, a.code,
    round(coalesce(b.radius_m, {radius})) AS radius, a.ngos
    FROM grouped a LEFT JOIN gazetteer_places g ON g.place_id = a.code LEFT JOIN {units} b ON b.pcode = a.code"""
UNIT_PLACES = """SELECT a.key, round(coalesce(g.lat, b.lat, a.lat), 5) AS lat, round(coalesce(g.lon, b.lon, a.lon), 5) AS lon,
    coalesce(g.name_en, b.name_en, a.key) AS name, coalesce(g.name_ar, b.name_ar) AS name_ar, a.key AS code, a.ngos
    FROM grouped a LEFT JOIN gazetteer_places g ON g.place_id = a.key LEFT JOIN {units} b ON b.pcode = a.key"""


def _layer(store: Store, table: str, where: str, key: str, places_sql: str, grain: str | None) -> Layer:
    """The incidents meeting ``where``, one place per value of ``key`` (described by ``places_sql``),
    counted per (place, primary type, months); places with no known centre are left out."""
    grouped = f"""WITH grouped AS (SELECT {key} AS key, avg(lat) AS lat, avg(lon) AS lon, count(DISTINCT ngo_id) AS ngos,
            CASE WHEN min(place_id) = max(place_id) AND count(place_id) = count(*) THEN min(place_id) END AS place_id,
            CASE WHEN min(place) = max(place) AND count(place) = count(*) THEN min(place) END AS place,
            min(geo_precision) AS level, coalesce(min(unit), min(place_id)) AS code
        FROM {table} WHERE {where} GROUP BY ALL)"""
    places = store.con.execute(f"{grouped} SELECT * FROM ({places_sql}) WHERE lat IS NOT NULL AND lon IS NOT NULL ORDER BY key").pl()
    counts = store.con.execute(f"""SELECT {key} AS key, t, {_months(grain)}, count(*) AS n, coalesce(sum(killed), 0)::BIGINT AS k,
        coalesce(sum(injured), 0)::BIGINT AS j FROM {table} WHERE {where} GROUP BY ALL""").pl()
    places = places.with_row_index("p")
    rows = counts.join(places.select("key", "p"), on="key").select("p", "t", "a", "b", "n", "k", "j").cast(pl.Int64).sort("p", "t", "a", "b")
    return Layer(places.drop("key", "p"), rows)


def incident_map(store: Store, selection: Selection = Selection(), *, boundaries: Path | None = None, boundary_level_names: bool = True,
                 tiles: str | None = None, max_points: int = 20_000, time_slider: bool = True) -> folium.Map:
    """A self-contained, offline map of the selected incidents (see the module's docstring).

    ``boundaries``: a polygon GeoJSON (e.g. ``../shared/data/geo/ocha_admin1.geojson``), simplified and
    drawn as the base layer, its units' names in a tooltip when ``boundary_level_names``. ``tiles``: a
    folium tile name or URL template, only when asked (tile requests tell a server where one looks).

    >>> m = incident_map(store, Selection(violation_types=("torture_ill_treatment",)), max_points=5_000)  # doctest: +SKIP
    """
    shapes = read_boundaries(boundaries) if boundaries is not None else None
    layers = map_layers(store, selection, max_points=max_points, boundaries=shapes, time_slider=time_slider)
    m = folium.Map(tiles=None, maxZoom=18, zoom_start=7, location=[34.8, 38.9], control_scale=True)
    m.fit_bounds(_bounds(layers))
    if tiles:
        _tile_layer(tiles).add_to(m)
    if shapes is not None:
        # its own pane, above tiles and below every overlay, so a filled base layer hides no symbol
        folium.map.CustomPane("boundaries", z_index=250, pointer_events=True).add_to(m)
        _boundary_layer(shapes, names=boundary_level_names, base=not tiles).add_to(m)
    cluster = plugins.MarkerCluster(name="Incidents", icon_create_function=CLUSTER_ICON_JS,
                                    options={"maxClusterRadius": 60}).add_to(m)
    areas = folium.FeatureGroup(name="Known only to an admin area (circle of its size)").add_to(m)
    heat = plugins.HeatMap([], name="Heat map", show=False, radius=22, blur=18, min_opacity=0.3).add_to(m)
    unit_groups = {level: folium.FeatureGroup(name=f"Incidents per {level}", show=False).add_to(m) for level in layers.units}
    present = sorted(set(layers.points.rows["t"].to_list()) | set(layers.areas.rows["t"].to_list()))
    type_groups = {t: folium.FeatureGroup(name=_type_name(layers.types[t])).add_to(m) for t in present}
    folium.LayerControl(collapsed=False).add_to(m)
    _Engine(m, cluster, heat, areas, unit_groups, type_groups, _page_data(layers, selection)).add_to(m)
    return m


def save_map(m: folium.Map, path: Path) -> Path:
    """Write the map as one self-contained HTML file (written whole or not at all); returns the path."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(m.get_root().render(), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        if partial.parent.is_dir():
            partial.unlink(missing_ok=True)
        raise WorkbenchError(f"cannot write the map to {path}: {exc.strerror or exc}") from None
    return path


def _bounds(layers: MapLayers) -> list[list[float]]:
    frames = [f.select("lat", "lon") for f in (layers.points.places, layers.areas.places) if f.height]
    if not frames:
        return SYRIA_BOUNDS
    both = pl.concat(frames)
    return [[both["lat"].min(), both["lon"].min()], [both["lat"].max(), both["lon"].max()]]


def _tile_layer(tiles: str) -> folium.TileLayer:
    """Online tiles, asked for by name (``OpenStreetMap``) or URL template (``https://host/{z}/{x}/{y}.png``)."""
    source = tiles.split("/")[2] if "//" in tiles else tiles
    return folium.TileLayer(tiles, attr=f"tiles: {source}" if "{" in tiles else None, name=f"Tiles ({source})")


def _type_name(entry: tuple[str, str, str]) -> str:
    code, label, colour = entry
    return f'<span style="color:{colour}">&#9679;</span> {html.escape(label)}'


def _boundary_layer(shapes: Boundaries, *, names: bool, base: bool) -> folium.GeoJson:
    style = {"color": "#7d8590", "weight": 1, "fillColor": "#fbfaf6" if base else "#000000", "fillOpacity": 1 if base else 0}
    tooltip = folium.GeoJsonTooltip(fields=["label"], labels=False) if names else None
    return folium.GeoJson(shapes.geojson, name=f"Boundaries ({html.escape(shapes.path.name)})", overlay=not base,
                          style_function=lambda _: style, tooltip=tooltip, pane="boundaries")


def _page_data(layers: MapLayers, selection: Selection) -> dict:
    """What the engine draws, as plain lists, and the note the map shows."""
    table = lambda frame: frame.to_dict(as_series=False)  # noqa: E731
    rows = [f.rows for f in (layers.points, layers.areas, *layers.units.values()) if f.rows.height]
    dated = pl.concat([r.select("a", "b") for r in rows]).filter((pl.col("a") > 0) & (pl.col("b") < UNDATED_END)) if rows else pl.DataFrame()
    time = [int(dated["a"].min()), int(dated["b"].max())] if layers.grain and dated.height else None
    described = selection.describe()
    note = [f"{described[:1].upper() + described[1:]}: {layers.mapped():,} incidents on the map"
            + (f", grouped by {'place or ' if layers.by_place else ''}{layers.grid}° grid cell" if layers.aggregated else "")]
    if layers.unplaced:
        note.append(f"{layers.unplaced:,} incidents without a usable place are not shown")
    if time and layers.grain == "year":
        note.append("The time slider moves by year (too many place-months to carry each month)")
    return {"types": [[label, colour] for _, label, colour in layers.types], "time": time, "step": 12 if layers.grain == "year" else 1,
            "detail": not layers.aggregated, "note": note,
            "points": {"places": table(layers.points.places), "rows": table(layers.points.rows)},
            "areas": {"places": table(layers.areas.places), "rows": table(layers.areas.rows)},
            "units": [{"level": level, "places": table(u.places), "rows": table(u.rows)} for level, u in layers.units.items()]}


def script_json(data: dict) -> str:
    """JSON that is safe inside a <script> element (no ``<``, ``>`` or ``&`` left to end it)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _Engine(MacroElement):
    """The inline script that draws the counted layers and runs the time slider."""

    _template = Template("""
{% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
var map = {{ this.names.map }}, cluster = {{ this.names.cluster }}, heat = {{ this.names.heat }}, areaGroup = {{ this.names.areas }};
var unitGroups = [{{ this.names.units }}], typeGroups = {{ this.names.types }};
var D = {{ this.data }};
{{ this.engine }}
})();
{% endmacro %}""")

    def __init__(self, m, cluster, heat, areas, unit_groups: dict, type_groups: dict, data: dict):
        super().__init__()
        self._name = "IncidentEngine"
        self.names = {"map": m.get_name(), "cluster": cluster.get_name(), "heat": heat.get_name(), "areas": areas.get_name(),
                      "units": ", ".join(g.get_name() for g in unit_groups.values()),
                      "types": "{" + ", ".join(f"{t}: {g.get_name()}" for t, g in type_groups.items()) + "}"}
        self.data, self.engine, self.css = script_json(data), ENGINE_JS, ENGINE_CSS


CLUSTER_ICON_JS = """function (c) {
  var s = 0; c.getAllChildMarkers().forEach(function (m) { s += m.options.count || 1; });
  var size = s < 100 ? 'small' : s < 1000 ? 'medium' : 'large';
  var text = s < 1000 ? String(s) : s < 1e6 ? (s / 1e3).toFixed(s < 1e4 ? 1 : 0) + 'k' : (s / 1e6).toFixed(1) + 'M';
  return L.divIcon({html: '<div><span>' + text + '</span></div>', className: 'marker-cluster marker-cluster-' + size, iconSize: L.point(40, 40)});
}"""

ENGINE_CSS = """.leaflet-container{background:#e4e9ee}
.wb-panel{background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;font:12px/1.4 sans-serif;max-width:340px}
.wb-panel input{width:300px;display:block}
.wb-place div{opacity:.85}.wb-place span{color:#fff;text-shadow:0 0 2px #000;font-weight:bold}"""

ENGINE_JS = r"""
var T = D.types.length, lo = D.time ? D.time[0] : 0, hi = D.time ? D.time[1] : 0, dots = [], shownLine = null, mapped = 0;
[D.points, D.areas].forEach(function (layer) { layer.rows.n.forEach(function (n) { mapped += n; }); });
map.attributionControl.setPrefix('Leaflet');  // a plain name: no link to leave the machine from
function esc(s) { return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
  return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]; }); }
function num(n) { return Number(n).toLocaleString('en-GB'); }
function short(n) { return n < 1000 ? String(n) : n < 1e6 ? (n / 1e3).toFixed(n < 1e4 ? 1 : 0) + 'k' : (n / 1e6).toFixed(1) + 'M'; }
function month(m) { return D.step === 12 ? String(Math.floor(m / 12)) : Math.floor(m / 12) + '-' + String(m % 12 + 1).padStart(2, '0'); }
function typeOn(t) { var g = typeGroups[t]; return !g || map.hasLayer(g); }
function shown(r, i) { return typeOn(r.t[i]) && (!D.time || (r.a[i] <= hi && r.b[i] >= lo)); }
function sums(layer) {  // visible incidents per place, and the type most of them have first
  var P = layer.places.lat.length, r = layer.rows, n = new Float64Array(P), by = new Float64Array(P * T), top = new Int32Array(P);
  for (var i = 0; i < r.p.length; i++) if (shown(r, i)) { n[r.p[i]] += r.n[i]; by[r.p[i] * T + r.t[i]] += r.n[i]; }
  for (var p = 0; p < P; p++) for (var t = 0, best = 0; t < T; t++) if (by[p * T + t] > best) { best = by[p * T + t]; top[p] = t; }
  var max = 0; for (var q = 0; q < P; q++) if (n[q] > max) max = n[q];
  return {n: n, top: top, max: max};
}
function title(q, p) { return '<b>' + esc(q.name[p] || ('Cell around ' + q.lat[p] + ', ' + q.lon[p])) + '</b>' + (q.name_ar[p] ? ' · ' + esc(q.name_ar[p]) : ''); }
function summary(layer, p, what) {
  var r = layer.rows, q = layer.places, by = {}, n = 0, k = 0, j = 0;
  for (var i = 0; i < r.p.length; i++) if (r.p[i] === p && shown(r, i)) { n += r.n[i]; k += r.k[i]; j += r.j[i]; by[r.t[i]] = (by[r.t[i]] || 0) + r.n[i]; }
  var types = Object.keys(by).sort(function (x, y) { return by[y] - by[x]; }).map(function (t) { return esc(D.types[t][0]) + ': ' + num(by[t]); });
  return title(q, p) + (what ? '<br><i>' + esc(what) + '</i>' : '') + '<br>' + num(n) + ' incidents (types and period shown)'
    + '<br>By first violation type: ' + types.join('; ') + '<br>Killed: ' + num(k) + ', injured: ' + num(j) + ' (sums over reports)'
    + '<br>NGOs reporting here: ' + num(q.ngos[p]);
}
function incident(p) {
  var q = D.points.places, given = function (v) { return v == null ? 'not given' : num(v); };
  return '<b>' + esc(q.date[p]) + '</b> (known to the ' + esc(q.precision[p]) + ')<br>' + title(q, p)
    + '<br>' + q.types[p].map(function (t) { return esc(D.types[t][0]); }).join(', ')
    + '<br>NGOs reporting at this place and date: ' + num(q.ngos[p]) + '<br>Killed: ' + given(q.killed[p]) + ', injured: ' + given(q.injured[p]);
}
function pointMarker(p, s) {
  var q = D.points.places, colour = D.types[s.top[p]][1];
  if (D.detail) return dots[p] || (dots[p] = L.circleMarker([q.lat[p], q.lon[p]], {radius: 6, color: '#222', weight: 1,
    fillColor: colour, fillOpacity: 0.9, count: 1, className: 'wb-incident'}).bindPopup(function () { return incident(p); }));
  return L.marker([q.lat[p], q.lon[p]], {count: s.n[p], icon: L.divIcon({className: 'marker-cluster wb-place', iconSize: L.point(40, 40),
    html: '<div style="background:' + colour + '"><span>' + short(s.n[p]) + '</span></div>'})})
    .bindPopup(function () { return summary(D.points, p); });
}
function drawPoints() {
  var s = sums(D.points), q = D.points.places, markers = [], heatPoints = [];
  for (var p = 0; p < s.n.length; p++) if (s.n[p]) { markers.push(pointMarker(p, s)); heatPoints.push([q.lat[p], q.lon[p], s.n[p]]); }
  cluster.clearLayers(); cluster.addLayers(markers);
  heat.setOptions({max: s.max || 1}); heat.setLatLngs(heatPoints);
  return total(s);
}
function total(s) { var t = 0; for (var p = 0; p < s.n.length; p++) t += s.n[p]; return t; }
function drawAreas() {
  var s = sums(D.areas), q = D.areas.places; areaGroup.clearLayers();
  for (var p = 0; p < s.n.length; p++) if (s.n[p]) (function (p) {
    L.circle([q.lat[p], q.lon[p]], {radius: q.radius[p], color: '#333', weight: 1, dashArray: '4 3', fillColor: D.types[s.top[p]][1],
      fillOpacity: 0.15, className: 'wb-area wb-' + q.level[p]})
      .bindPopup(function () { return summary(D.areas, p, 'Known only to the ' + q.level[p] + ' (' + (q.code[p] || '') + '): drawn as a circle of its size'); })
      .addTo(areaGroup);
  })(p);
  return total(s);
}
function drawUnits() {
  D.units.forEach(function (u, g) {
    var s = sums(u), q = u.places; unitGroups[g].clearLayers();
    for (var p = 0; p < s.n.length; p++) if (s.n[p]) (function (p) {
      L.circleMarker([q.lat[p], q.lon[p]], {radius: 3 + 27 * Math.sqrt(s.n[p] / s.max), color: '#3b3b3b', weight: 1, fillColor: '#5b6b7b',
        fillOpacity: 0.45, className: 'wb-unit'}).bindPopup(function () { return summary(u, p, 'All incidents in this ' + u.level); })
        .addTo(unitGroups[g]);
    })(p);
  });
}
function refresh() {
  var shown = drawPoints() + drawAreas(); drawUnits();
  if (shownLine) shownLine.textContent = 'In the chosen types and dates: ' + num(shown) + ' of ' + num(mapped) + ' incidents';
}
map.on('overlayadd overlayremove', function (e) { for (var t in typeGroups) if (typeGroups[t] === e.layer) return refresh(); });
var panel = L.control({position: 'bottomleft'});
panel.onAdd = function () {
  var div = L.DomUtil.create('div', 'wb-panel wb-note');
  D.note.forEach(function (line) { L.DomUtil.create('div', '', div).textContent = line; });
  shownLine = L.DomUtil.create('div', 'wb-shown', div);
  if (D.time) {
    var label = L.DomUtil.create('div', 'wb-when', div), from = L.DomUtil.create('input', '', div), to = L.DomUtil.create('input', '', div);
    [from, to].forEach(function (x) { x.type = 'range'; x.min = D.time[0]; x.max = D.time[1]; x.step = D.step; });
    from.value = D.time[0]; to.value = D.time[1];
    var read = function () { lo = Math.min(+from.value, +to.value); hi = Math.max(+from.value, +to.value) + D.step - 1;
      label.textContent = 'Dates shown: ' + month(lo) + ' to ' + month(Math.min(hi, D.time[1])); };
    [from, to].forEach(function (x) { x.addEventListener('input', read); x.addEventListener('change', function () { read(); refresh(); }); });
    read();
  }
  L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
  return div;
};
panel.addTo(map);
refresh();
"""
