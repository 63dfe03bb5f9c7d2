"""The incident map: no personal data, honest about precision, counts that add up, offline in a browser."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.browser import render
from tests.conftest import SHARED_DATA, requires_shared_data
from workbench.errors import ConfigError, WorkbenchError
from workbench.store import open_store
from workbench.views.maps import DEFAULT_RADIUS_M, UNDATED_END, incident_map, map_layers, read_boundaries, save_map, script_json
from workbench.views.selection import Selection

ADMIN1 = SHARED_DATA / "geo" / "ocha_admin1.geojson"
#: A request for something remote: a src or href attribute, a CSS url() or @import, naming http(s).
REMOTE = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?\s*|url\(\s*["']?|@import\s+["']?)https?://""", re.I)
#: The one remote address offlinefolium leaves: Leaflet's default attribution link, in the library's
#: own code; the map replaces it with plain text when it starts (checked in the rendered DOM below).
LEAFLET_CREDIT = "prefix:'<a href=\"https://leafletjs.com\""
SHOWN = re.compile(r"In the chosen types and dates: ([\d,]+) of ([\d,]+)")


@pytest.fixture(scope="module")
def page(synth_store, tmp_path_factory) -> Path:
    return save_map(incident_map(synth_store), tmp_path_factory.mktemp("map") / "map.html")


def _count(store, where: str) -> int:
    return store.con.execute(f"SELECT count(*) FROM active.incidents WHERE {where}").fetchone()[0]


POINTS = "geo_precision IN ('point', 'community') AND latitude IS NOT NULL AND longitude IS NOT NULL"


def test_no_pseudonym_narrative_or_title_reaches_the_page(synth_store, page):
    text = page.read_text(encoding="utf-8")
    pseudonyms = [p for (p,) in synth_store.con.execute("SELECT DISTINCT pseudonym FROM active.persons WHERE pseudonym IS NOT NULL").fetchall()]
    narratives = [n for (n,) in synth_store.con.execute("SELECT DISTINCT narrative FROM active.incidents WHERE length(narrative) > 40").fetchall()]
    titles = [t for (t,) in synth_store.con.execute("SELECT DISTINCT title FROM active.incidents WHERE length(title) > 15").fetchall()]
    assert pseudonyms and narratives and titles  # the check below would prove nothing on empty lists
    assert [p for p in pseudonyms if p in text] == []
    assert [n[:40] for n in narratives if n[:40] in text] == []
    assert [t for t in titles if t in text] == []
    some_place = synth_store.con.execute("SELECT g.name_en FROM active.incidents i JOIN gazetteer_places g USING (place_id) "
                                         "WHERE i.geo_precision = 'community' LIMIT 1").fetchone()[0]
    assert json.dumps(some_place, ensure_ascii=False)[1:-1] in text  # what may be shown is there


def test_every_selected_incident_is_drawn_once_or_counted_as_unplaced(synth_store):
    layers = map_layers(synth_store)
    assert not layers.aggregated
    assert layers.points.incidents() == layers.points.places.height == _count(synth_store, POINTS)
    assert layers.areas.incidents() == _count(synth_store, "geo_precision IN ('governorate', 'district', 'subdistrict')")
    assert layers.unplaced == _count(synth_store, "TRUE") - layers.mapped() > 0


def test_one_ngo_is_a_smaller_map_than_all(synth_store):
    everyone = map_layers(synth_store)
    ngo = synth_store.con.execute("SELECT ngo_id FROM active.incidents GROUP BY 1 ORDER BY count(*) LIMIT 1").fetchone()[0]
    one = map_layers(synth_store, Selection(ngos=(ngo,)))
    assert one.points.incidents() == _count(synth_store, f"{POINTS} AND ngo_id = '{ngo}'")
    assert one.mapped() + one.unplaced == _count(synth_store, f"ngo_id = '{ngo}'") < everyone.mapped() + everyone.unplaced


def test_governorate_incidents_are_circles_of_the_documented_radius_not_points(synth_store):
    layers = map_layers(synth_store)
    areas = layers.areas.places
    assert areas.height and set(areas["level"]) == {"governorate"}
    assert set(areas["radius"]) == {DEFAULT_RADIUS_M["governorate"]}
    governorate_centres = {(r["lat"], r["lon"]) for r in areas.iter_rows(named=True)}
    assert not governorate_centres & {(r["lat"], r["lon"]) for r in layers.points.places.iter_rows(named=True)}


def test_past_max_points_incidents_are_counted_per_place_and_the_counts_add_up(synth_store):
    for max_points in (100, 10):
        layers = map_layers(synth_store, max_points=max_points)
        assert layers.aggregated and layers.grid
        assert layers.points.incidents() == _count(synth_store, POINTS)
        assert layers.points.rows["p"].max() < layers.points.places.height
    assert map_layers(synth_store, max_points=100).points.places.height <= 100
    assert map_layers(synth_store, max_points=100).by_place  # places keep their names while they fit


def test_the_time_slider_covers_the_selected_dates(synth_store):
    layers = map_layers(synth_store)
    first, last = synth_store.con.execute(f"SELECT min(date_start), max(coalesce(date_end, date_start)) FROM active.incidents "
                                          f"WHERE {POINTS}").fetchone()
    rows = layers.points.rows
    assert rows["a"].min() == first.year * 12 + first.month - 1
    assert rows["b"].filter(rows["b"] < UNDATED_END).max() == last.year * 12 + last.month - 1
    assert map_layers(synth_store, time_slider=False).points.rows["a"].unique().to_list() == [0]


def test_page_data_cannot_end_its_script():
    assert "<" not in script_json({"name": "</script><script>alert(1)</script>"})


def test_the_page_names_no_remote_address_by_default(synth_store, page):
    text = page.read_text(encoding="utf-8")
    assert text.count(LEAFLET_CREDIT) == 1
    assert REMOTE.findall(text.replace(LEAFLET_CREDIT, "")) == []
    online = incident_map(synth_store, tiles="OpenStreetMap").get_root().render().replace(LEAFLET_CREDIT, "")
    assert "tile.openstreetmap.org" in online  # asked for, the tiles are there: the check above can see a remote address


def test_a_map_that_cannot_be_written_names_its_path(synth_store, tmp_path):
    target = tmp_path / "no such folder" / "map.html"
    with pytest.raises(WorkbenchError, match=re.escape(str(target))):
        save_map(incident_map(synth_store, max_points=10), target)


@pytest.mark.parametrize("content, problem", [
    (None, "does not exist"),
    ('{"not": "geojson"}', "cannot be read as GeoJSON"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
     '"geometry": {"type": "Point", "coordinates": [36.3, 33.5]}}]}', "not a polygon GeoJSON"),
    ('{"type": "FeatureCollection", "features": []}', "holds no features"),
])
def test_a_bad_boundary_file_is_a_clear_error_naming_it(tmp_path, content, problem):
    path = tmp_path / "admin.geojson"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ".*" + problem):
        read_boundaries(path)


@pytest.mark.shared_data
@requires_shared_data()
def test_boundaries_load_simplified_and_size_the_areas(synth_store, page, tmp_path):
    shapes = read_boundaries(ADMIN1)
    assert len(shapes.geojson["features"]) == 14
    assert len(json.dumps(shapes.geojson)) < 60_000 < ADMIN1.stat().st_size
    damascus = shapes.units.filter(shapes.units["pcode"] == "SY01").row(0, named=True)
    assert 5_000 < damascus["radius_m"] < 7_000  # 117 km² of city, not the 50 km default
    areas = map_layers(synth_store, boundaries=shapes).areas.places
    assert dict(zip(areas["code"], areas["radius"])).get("SY01", round(damascus["radius_m"])) == round(damascus["radius_m"])
    assert set(areas["radius"]) != {DEFAULT_RADIUS_M["governorate"]}
    with_boundaries = save_map(incident_map(synth_store, boundaries=ADMIN1), tmp_path / "bounded.html")
    assert with_boundaries.stat().st_size - page.stat().st_size < 80_000
    assert "Homs" in with_boundaries.read_text(encoding="utf-8")  # unit names for the tooltip


@pytest.mark.slow
def test_chromium_draws_the_map_offline(page, tmp_path):
    shot = render(page, tmp_path)
    assert shot.ink() > 0
    assert shot.failed_requests() == []
    assert "Uncaught" not in shot.log
    assert "marker-cluster" in shot.dom and "wb-area" in shot.dom and "leaflet-interactive" in shot.dom
    credit = re.search(r'<div class="leaflet-control-attribution[^"]*">(.*?)</div>', shot.dom).group(1)
    assert "Leaflet" in credit and "href" not in credit  # the attribution is plain text, not a link out


def _with_script(page: Path, out: Path, script: str) -> Path:
    text = page.read_text(encoding="utf-8")
    out.write_text(text.replace("</html>", f"<script>setTimeout(function () {{ {script} }}, 300);</script></html>"), encoding="utf-8")
    return out


def _shown(dom: str, attribute: str) -> tuple[int, int]:
    value = re.search(rf'{attribute}="([^"]*)"', dom).group(1)
    return tuple(int(n.replace(",", "")) for n in SHOWN.search(value).groups())


@pytest.mark.slow
def test_the_time_slider_and_a_type_switch_change_what_is_drawn(synth_store, page, tmp_path):
    layers = map_layers(synth_store)
    rows = layers.points.rows.vstack(layers.areas.rows)
    last = int(rows["b"].filter(rows["b"] < UNDATED_END).max())
    switched = int(rows["t"].mode()[0])  # the commonest primary type
    label = layers.types[switched][1]
    script = """
      var root = document.documentElement, shown = function () { return document.querySelector('.wb-shown').textContent; };
      root.setAttribute('data-initial', shown());
      var from = document.querySelectorAll('.wb-panel input')[0];
      from.value = from.max; from.dispatchEvent(new Event('change')); root.setAttribute('data-last-month', shown());
      from.value = from.min; from.dispatchEvent(new Event('change'));
      document.querySelectorAll('.leaflet-control-layers-overlays label').forEach(function (l) {
        if (l.textContent.trim().endsWith(' ' + LABEL)) l.querySelector('input').click(); });
      root.setAttribute('data-without-type', shown());""".replace("LABEL", json.dumps(label))
    dom = render(_with_script(page, tmp_path / "harness.html", script), tmp_path).dom
    assert _shown(dom, "data-initial") == (layers.mapped(), layers.mapped())
    assert _shown(dom, "data-last-month")[0] == rows.filter(rows["b"] >= last)["n"].sum() < layers.mapped()
    assert _shown(dom, "data-without-type")[0] == layers.mapped() - rows.filter(rows["t"] == switched)["n"].sum()


@pytest.mark.slow
def test_popups_escape_the_text_they_show(synthetic, tmp_path):
    db, _ = synthetic
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE incidents SET admin1_pcode = '<b id=injected>SY01</b>' WHERE admin1_pcode = 'SY01'")
    with open_store(copy, read_only=True) as store:
        page = save_map(incident_map(store), tmp_path / "escaped.html")
    assert "<b id=injected>" not in page.read_text(encoding="utf-8")
    script = """
      var seen = '';
      document.querySelectorAll('path.wb-area').forEach(function (p) {
        p.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: 400, clientY: 300}));
        var popup = document.querySelector('.leaflet-popup-content'); if (popup) seen += popup.textContent + ' | ';
      });
      var root = document.documentElement;
      root.setAttribute('data-popups', String(seen.split(' | ').length - 1));
      root.setAttribute('data-shown-as-text', String(seen.indexOf('<b id=injected>SY01</b>') >= 0));
      root.setAttribute('data-injected', String(document.getElementById('injected') !== null));"""
    dom = render(_with_script(page, tmp_path / "harness.html", script), tmp_path).dom
    assert int(re.search(r'data-popups="(\d+)"', dom).group(1)) > 1
    assert 'data-shown-as-text="true"' in dom and 'data-injected="false"' in dom
