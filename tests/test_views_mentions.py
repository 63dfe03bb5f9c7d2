"""What mentions feed into: places for the map, actors for the graph, frequencies, highlighted narratives.

Mentions are planted with SQL on a copy of the synthetic store, so these tests know every answer
and do not depend on the extractor; one test at the end runs the extractor when it is installed.
"""

from __future__ import annotations

import doctest
import html
import importlib.util
import json
import re
import shutil
from collections import Counter
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import offlinefolium as folium
import pytest

from tests.browser import render
from workbench.errors import ConfigError, StoreError
from workbench.store import open_store
from workbench.views import mentions as module
from workbench.views.graphs import export_graph, graph_metrics
from workbench.views.maps import incident_map, save_map
from workbench.views.mentions import (actor_mention_edges, add_overlay, frequent, highlighted_html, incidents_with_mentions, is_arabic,
                                      mention_graph, mentioned_places, mentions_layer, places_not_in_structured_fields)
from workbench.views.selection import Selection

REMOTE = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?\s*|url\(\s*["']?|@import\s+["']?)https?://""", re.I)
LEAFLET_CREDIT = "prefix:'<a href=\"https://leafletjs.com\""
MARKUP = "<img src=x onerror=alert(1)>"  # the Arabic name of the place named elsewhere, in the store copy
HOSTILE = 'Witnesses said <script>alert("x")</script> & <b id=injected>fled</b> from the town.'
#: Mentions of the current submissions, read back independently of the module under test.
CURRENT = """SELECT m.* FROM mentions m JOIN active.incidents i ON i.ngo_id = m.ngo_id AND i.incident_id = m.record_id
             AND m.record_type = 'incidents' AND (m.submission_id IS NULL OR m.submission_id = i.submission_id)"""


def _entry(entry_id: str, label: str, english: list[str], arabic: list[str]) -> SimpleNamespace:
    return SimpleNamespace(id=entry_id, label=label, names={"en": tuple(english), "ar": tuple(arabic)})


#: A stand-in for the entities lexicon (entries with an id, a label and spellings per language).
LEXICON = SimpleNamespace(entries=(_entry("saa", "ACTOR", ["Syrian Arab Army", "SAA"], ["الجيش العربي السوري"]),
                                   _entry("air-force-intelligence", "ACTOR", ["Air Force Intelligence"], ["المخابرات الجوية"]),
                                   _entry("barrel-bomb", "WEAPON", ["barrel bomb"], ["برميل متفجر"])))


def _one(store, sql: str, params=()):
    return store.con.execute(sql, list(params)).fetchone()


@pytest.fixture(scope="module")
def planted(synthetic, tmp_path_factory):
    """A copy of the synthetic store with known mentions, and the incidents and places they name:

    - ``a``: an incident placed at a community; its text names its own place, its own governorate,
      a community of another governorate, three actors, a barrel bomb twice, an ambiguous name, a date;
    - ``b``: an incident known only to its governorate; its text names a community inside that
      governorate, the same outside community as ``a``, two of ``a``'s actors and a barrel bomb;
    - ``c``: an Arabic narrative of Damascus governorate with a real mention of Damascus, one whose
      offsets are stale, and two of a superseded submission (to be ignored everywhere);
    - ``d``: an English narrative holding markup, with a weapon mention over part of it.
    """
    db, _ = synthetic
    copy = tmp_path_factory.mktemp("mentions") / "store.duckdb"
    shutil.copy(db, copy)
    with open_store(copy) as store:
        con = store.con
        a = _one(store, """SELECT ngo_id, incident_id, submission_id, place_id, admin1_pcode FROM active.incidents
                           WHERE geo_precision = 'community' AND place_id LIKE 'gn:%' AND NOT regexp_matches(narrative, '[\\x{0600}-\\x{06FF}]')
                           ORDER BY ngo_id, incident_id LIMIT 1""")
        b = _one(store, """SELECT ngo_id, incident_id, submission_id, place_id, admin1_pcode FROM active.incidents
                           WHERE geo_precision = 'governorate' AND ngo_id <> ? AND admin1_pcode <> ? ORDER BY ngo_id, incident_id LIMIT 1""",
                 [a[0], a[4]])
        c = _one(store, """SELECT ngo_id, incident_id, submission_id, narrative FROM active.incidents
                           WHERE regexp_matches(narrative, '[\\x{0600}-\\x{06FF}]') AND narrative LIKE '%دمشق%' AND admin1_pcode = 'SY01' ORDER BY ngo_id, incident_id LIMIT 1""")
        d = _one(store, """SELECT ngo_id, incident_id, submission_id FROM active.incidents WHERE ngo_id = ? AND incident_id <> ?
                           ORDER BY incident_id LIMIT 1""", [a[0], a[1]])
        elsewhere = _one(store, "SELECT place_id, name_en FROM gazetteer_places WHERE level = 'community' AND admin1_pcode NOT IN (?, ?) "
                                "ORDER BY place_id LIMIT 1", [a[4], b[4]])
        inside_b = _one(store, "SELECT place_id, name_en FROM gazetteer_places WHERE level = 'community' AND admin1_pcode = ? "
                               "ORDER BY place_id LIMIT 1", [b[4]])
        con.execute("UPDATE gazetteer_places SET name_ar = ? WHERE place_id = ?", [MARKUP, elsewhere[0]])
        con.execute("UPDATE incidents SET narrative = ? WHERE ngo_id = ? AND incident_id = ? AND submission_id = ?", [HOSTILE, *d])
        con.execute("DELETE FROM mentions")
        rows = []

        def mention(record, label, text, resolved, *, field="narrative", start=0, candidates=None, method="rules", submission=None):
            rows.append((record[0], "incidents", record[1], field, label, text, start, start + len(text), resolved, candidates, method,
                         record[2] if submission is None else submission))

        mention(a, "PLACE", "own place", f"place:{a[3]}")
        mention(a, "PLACE", "own place", f"place:{a[3]}", field="title")
        mention(a, "PLACE", "its governorate", f"place:{a[4]}")
        mention(a, "PLACE", elsewhere[1], f"place:{elsewhere[0]}")
        mention(a, "PLACE", "Kafr Nabudah", None, candidates=["place:gn:1", "place:gn:2"])
        mention(a, "PLACE", "kafr  nabudah", None, candidates=["place:gn:3"])
        mention(a, "ACTOR", "SAA", "actor:saa")
        mention(a, "ACTOR", "Air Force Intelligence", "actor:air-force-intelligence")
        mention(a, "ACTOR", "Central Air Wing", "actor:store:ALPHA/ALPHA-A01")
        mention(a, "WEAPON", "barrel bomb", "weapon:barrel-bomb")
        mention(a, "WEAPON", "barrel bombs", "weapon:barrel-bomb", field="title")
        mention(a, "DATE", "3 March 2013", "date")
        mention(b, "PLACE", inside_b[1], f"place:{inside_b[0]}")
        mention(b, "PLACE", elsewhere[1], f"place:{elsewhere[0]}")
        mention(b, "ACTOR", "the army", "actor:saa")
        mention(b, "ACTOR", "AFI", "actor:air-force-intelligence")
        mention(b, "WEAPON", "برميل متفجر", "weapon:barrel-bomb")
        mention(b, "WEAPON", "Volcano rocket", None, method="model")
        start = c[3].index("دمشق")
        mention(c, "PLACE", "دمشق", "place:SY01", start=start)
        mention(c, "PLACE", "حلب", "place:SY01", start=start)  # stale: the text there is not حلب
        mention(c, "ACTOR", "old", "actor:saa", submission=-1)  # a superseded submission's mention
        mention(c, "PLACE", "old", f"place:{elsewhere[0]}", submission=-1)
        mention(d, "WEAPON", "<script>", "weapon:barrel-bomb", start=HOSTILE.index("<script>"))
        mention(d, "ACTOR", "Witnesses said <script>", None, start=0, method="model")  # overlaps the rule-based one: not drawn
        con.executemany("INSERT INTO mentions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    with open_store(copy, read_only=True) as store:
        yield {"store": store, "a": a, "b": b, "c": c, "d": d, "elsewhere": elsewhere, "inside_b": inside_b}


# --- places ------------------------------------------------------------------------------------

def test_a_place_is_in_the_structured_fields_when_it_is_the_records_own_or_encloses_or_lies_in_its_unit(planted):
    store, a, b = planted["store"], planted["a"], planted["b"]
    flags = {(r["incident_id"], r["place_id"]): r["in_structured"] for r in mentioned_places(store).iter_rows(named=True)
             if r["incident_id"] in (a[1], b[1])}
    elsewhere, inside_b = planted["elsewhere"][0], planted["inside_b"][0]
    assert flags == {(a[1], a[3]): True, (a[1], a[4]): True, (a[1], elsewhere): False,
                     (b[1], inside_b): True, (b[1], elsewhere): False}
    # the community of another governorate is outside both a's place and b's governorate
    assert _one(store, "SELECT admin1_pcode FROM gazetteer_places WHERE place_id = ?", [elsewhere])[0] not in (a[4], b[4])


def test_one_row_per_incident_and_place_with_its_mentions_counted(planted):
    store, a = planted["store"], planted["a"]
    places = mentioned_places(store)
    expected = _one(store, f"SELECT count(DISTINCT (ngo_id, record_id, resolved_id)) FROM ({CURRENT}) WHERE label = 'PLACE' "
                           "AND resolved_id LIKE 'place:%'")[0]
    assert places.height == expected == 6
    own = places.filter((places["incident_id"] == a[1]) & (places["place_id"] == a[3])).row(0, named=True)
    assert own["mentions"] == 2 and own["fields"] == ["narrative", "title"] and own["lat"] is not None and own["name_en"]


def test_places_not_in_the_structured_fields_count_the_incidents_naming_them(planted):
    store = planted["store"]
    places = places_not_in_structured_fields(store)
    assert places.select("place_id", "incidents", "ngos").rows() == [(planted["elsewhere"][0], 2, 2)]
    assert places_not_in_structured_fields(store, Selection(ngos=(planted["a"][0],)))["incidents"].to_list() == [1]


def test_the_selection_applies_to_every_view(planted):
    store, a, b = planted["store"], planted["a"], planted["b"]
    only_a = Selection(incidents=((a[0], a[1]),))
    assert set(mentioned_places(store, only_a)["incident_id"]) == {a[1]}
    assert set(mentioned_places(store, Selection(governorates=(b[4],)))["incident_id"]) == {b[1]}
    assert actor_mention_edges(store, Selection(governorates=(b[4],))).rows() == [("air-force-intelligence", "saa", 1)]
    weapons_of_b = frequent(store, "WEAPON", Selection(ngos=(b[0],)))
    assert weapons_of_b.filter(weapons_of_b["entity"] == "weapon:barrel-bomb")["incidents"].to_list() == [1]
    assert mention_graph(store, only_a).number_of_nodes() == 3
    nobody = Selection(ngos=("NO-SUCH-NGO",))
    assert mentioned_places(store, nobody).height == actor_mention_edges(store, nobody).height == frequent(store, "PLACE", nobody).height == 0


# --- the map layer -----------------------------------------------------------------------------

def _layer_page(store, selection=Selection()) -> str:
    m = folium.Map(tiles=None, location=[35, 38], zoom_start=6)
    m.add_child(mentions_layer(store, selection))
    return m.get_root().render()


def test_the_layer_draws_only_places_missing_from_the_records_and_shows_no_narrative(planted):
    store = planted["store"]
    page = _layer_page(store)
    assert page.count('"type": "Feature"') + page.count('"type":"Feature"') == 1
    assert json.dumps(planted["elsewhere"][1])[1:-1] in page and "2 incidents" in page
    narratives = [n for (n,) in store.con.execute("SELECT DISTINCT narrative FROM active.incidents WHERE length(narrative) > 30").fetchall()]
    assert narratives and [n[:30] for n in narratives if n[:30] in page] == []
    assert [t for t in ("Kafr Nabudah", "Air Force Intelligence", "Volcano rocket") if t in page] == []  # mention texts other than the place's own name stay out too
    assert page.count(LEAFLET_CREDIT) <= 1 and REMOTE.findall(page.replace(LEAFLET_CREDIT, "")) == []


def test_the_layer_escapes_place_names(planted):
    page = _layer_page(planted["store"])
    # escaped before it became JSON: the JSON's own escaping of "<" alone would not stop Leaflet reading it as HTML
    assert json.dumps(html.escape(MARKUP))[1:-1].replace("&", "\\u0026") in page


def test_an_empty_layer_is_an_empty_group(planted):
    layer = mentions_layer(planted["store"], Selection(ngos=("NO-SUCH-NGO",)))
    assert isinstance(layer, folium.FeatureGroup) and not any(isinstance(c, folium.GeoJson) for c in layer._children.values())


def test_the_overlay_is_made_before_the_layer_control_lists_it(planted):
    store = planted["store"]
    m = incident_map(store)
    layer = mentions_layer(store)
    page = add_overlay(m, layer).get_root().render()
    made = page.index(f"var {layer.get_name()} = ")
    listed = page.index(json.dumps("Places named in narratives only"))
    assert made < listed and list(m._children.values()).index(layer) < len(m._children) - 1


@pytest.mark.slow
def test_the_incident_map_with_the_layer_draws_offline(planted, tmp_path):
    store = planted["store"]
    page = save_map(add_overlay(incident_map(store), mentions_layer(store)), tmp_path / "mentions.html")
    assert REMOTE.findall(page.read_text(encoding="utf-8").replace(LEAFLET_CREDIT, "")) == []
    script = """
      var marker = document.querySelector('path.wb-mention'), root = document.documentElement;
      marker.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: 400, clientY: 300}));
      var popup = document.querySelector('.leaflet-popup-content');
      root.setAttribute('data-popup', popup ? popup.textContent : 'none');
      root.setAttribute('data-injected', String(document.querySelector('.leaflet-popup-content img') !== null));"""
    text = page.read_text(encoding="utf-8")
    harness = tmp_path / "harness.html"
    harness.write_text(text.replace("</html>", f"<script>setTimeout(function () {{ {script} }}, 300);</script></html>"), encoding="utf-8")
    shot = render(harness, tmp_path)
    assert shot.failed_requests() == [] and "Uncaught" not in shot.log
    assert len(re.findall(r'<path class="[^"]*wb-mention', shot.dom)) == 1 and "Places named in narratives only" in shot.dom
    assert "wb-incident" in shot.dom or "wb-area" in shot.dom  # the incident map's own engine still ran
    popup = html.unescape(re.search(r'data-popup="([^"]*)"', shot.dom).group(1))
    assert planted["elsewhere"][1] in popup and MARKUP in popup and "2 incidents" in popup  # the markup shown as text
    assert 'data-injected="false"' in shot.dom


# --- actors ------------------------------------------------------------------------------------

def test_actor_edges_count_incidents_naming_both_against_the_mentions_themselves(planted):
    store = planted["store"]
    actors: dict[tuple, set] = {}
    for ngo, record, resolved in store.con.execute(f"SELECT ngo_id, record_id, resolved_id FROM ({CURRENT}) "
                                                   "WHERE label = 'ACTOR' AND resolved_id LIKE 'actor:%'").fetchall():
        actors.setdefault((ngo, record), set()).add(resolved.removeprefix("actor:").removeprefix("store:"))
    expected = Counter(pair for named in actors.values() for pair in combinations(sorted(named), 2))
    edges = actor_mention_edges(store)
    assert dict(((r[0], r[1]), r[2]) for r in edges.rows()) == dict(expected)
    assert edges.row(0) == ("air-force-intelligence", "saa", 2)
    assert actor_mention_edges(store, min_weight=2).height == 1


def test_the_mention_graph_names_nodes_and_works_with_the_graph_tools(planted, tmp_path):
    store = planted["store"]
    graph = mention_graph(store, lexicon=LEXICON)
    assert sorted(graph.nodes) == ["ALPHA/ALPHA-A01", "air-force-intelligence", "saa"]
    saa = graph.nodes["saa"]
    assert (saa["label"], saa["name_ar"], saa["source"], saa["mentions"], saa["incidents"]) == (
        "Syrian Arab Army", "الجيش العربي السوري", "lexicon", 2, 2)  # the superseded mention is not counted
    assert graph.nodes["ALPHA/ALPHA-A01"]["label"] == _one(store, "SELECT name FROM active.actors WHERE ngo_id = 'ALPHA' "
                                                                   "AND actor_id = 'ALPHA-A01'")[0]
    assert graph["saa"]["air-force-intelligence"]["weight"] == 2
    metrics = graph_metrics(graph)
    assert metrics.filter(metrics["node"] == "saa")["weighted_degree"].item() == 3.0
    back = nx.read_gexf(export_graph(graph, tmp_path / "mentions.gexf"))
    assert back.nodes["saa"]["label"] == "Syrian Arab Army" and back.number_of_edges() == 3
    assert "Syrian Arab Army" in export_graph(graph, tmp_path / "mentions.html").read_text(encoding="utf-8")


def test_without_a_lexicon_an_actor_is_named_by_its_id(planted):
    graph = mention_graph(planted["store"], lexicon=SimpleNamespace(entries=()))
    assert graph.nodes["saa"]["label"] == "saa"


# --- frequencies -------------------------------------------------------------------------------

def test_frequent_counts_incidents_ngos_and_mentions_against_sql(planted):
    store = planted["store"]
    for label in ("PLACE", "ACTOR", "WEAPON", "DATE"):
        table = frequent(store, label, lexicon=LEXICON)
        for row in table.filter(table["entity"].is_not_null()).iter_rows(named=True):
            expected = _one(store, f"SELECT count(DISTINCT (ngo_id, record_id)), count(DISTINCT ngo_id), count(*) FROM ({CURRENT}) "
                                   "WHERE label = ? AND resolved_id = ?", [label, row["entity"]])
            assert (row["incidents"], row["ngos"], row["mentions"]) == expected, (label, row["entity"])
    weapons = frequent(store, "WEAPON", lexicon=LEXICON)
    bomb = weapons.row(0, named=True)
    assert (bomb["entity"], bomb["name"], bomb["name_ar"], bomb["incidents"], bomb["mentions"]) == (
        "weapon:barrel-bomb", "barrel bomb", "برميل متفجر", 3, 4)
    assert set(bomb["spellings"]) == {"barrel bomb", "barrel bombs", "برميل متفجر", "<script>"}


def test_unlinked_texts_are_grouped_with_their_candidates(planted):
    places = frequent(planted["store"], "PLACE")
    unlinked = places.filter(places["entity"].is_null())
    assert unlinked.select("name", "mentions", "incidents", "candidates").rows() == [
        ("Kafr Nabudah", 2, 1, ["place:gn:1", "place:gn:2", "place:gn:3"])]
    named = places.filter(places["entity"] == f"place:{planted['elsewhere'][0]}").row(0, named=True)
    assert named["name"] == planted["elsewhere"][1] and named["incidents"] == 2
    dates = frequent(planted["store"], "DATE")
    assert dates.select("entity", "name").rows() == [(None, "3 March 2013")]  # "date" is not an entity id


def test_frequent_limits_and_refuses_unknown_labels(planted):
    assert frequent(planted["store"], "place", limit=2).height == 2
    with pytest.raises(ConfigError, match="PERSON"):
        frequent(planted["store"], "PERSON")


# --- highlighted narratives --------------------------------------------------------------------

def test_an_arabic_narrative_is_highlighted_right_to_left(planted):
    store, c = planted["store"], planted["c"]
    page = highlighted_html(store, c[0], c[1])
    assert page.startswith('<div class="wb-mentions" dir="rtl" lang="ar">') and "direction: rtl" in page
    assert page.count("<mark") == 1 and re.search(r"<mark[^>]*>\s*دمشق\s*<span[^>]*margin-right[^>]*>PLACE</span>", page)
    assert REMOTE.findall(page) == [] and "http" not in page and "<script" not in page


def test_highlighting_escapes_the_narrative_and_draws_one_of_overlapping_mentions(planted):
    store, d = planted["store"], planted["d"]
    page = highlighted_html(store, d[0], d[1])
    assert 'dir="ltr"' in page and "<script" not in page and "<b id=injected>" not in page
    assert "&lt;script&gt;" in page and "&lt;b id=injected&gt;" in page and "&amp;" in page
    assert page.count("<mark") == 1 and "WEAPON" in page and "ACTOR" not in page


def test_highlighting_an_unknown_incident_names_it(planted):
    with pytest.raises(ConfigError, match="NO-SUCH"):
        highlighted_html(planted["store"], "ALPHA", "NO-SUCH")


def test_incidents_with_mentions_tell_the_script_apart(planted):
    store, a, c, d = planted["store"], planted["a"], planted["c"], planted["d"]
    narrated = [(n, i, text) for n, i, text in store.con.execute(
        f"SELECT DISTINCT m.ngo_id, m.record_id, i.narrative FROM ({CURRENT}) m JOIN active.incidents i "
        "ON i.ngo_id = m.ngo_id AND i.incident_id = m.record_id WHERE m.field = 'narrative'").fetchall()]
    arabic = incidents_with_mentions(store, language="ar")
    assert set(arabic.select("ngo_id", "incident_id").rows()) == {(n, i) for n, i, text in narrated if is_arabic(text)}
    assert (c[0], c[1]) in arabic.select("ngo_id", "incident_id").rows() and set(arabic["language"]) == {"ar"}
    english = incidents_with_mentions(store, language="en")
    assert set(english.select("ngo_id", "incident_id").rows()) == {(n, i) for n, i, text in narrated if not is_arabic(text)}
    assert english.row(0, named=True)["incident_id"] == a[1] and (d[0], d[1]) in english.select("ngo_id", "incident_id").rows()
    assert incidents_with_mentions(store).height == len(narrated)
    assert is_arabic(c[3]) and not is_arabic(HOSTILE)


# --- errors and examples -----------------------------------------------------------------------

def test_a_store_without_a_mentions_table_says_how_to_get_one(synthetic, tmp_path):
    import duckdb

    copy = tmp_path / "old.duckdb"
    shutil.copy(synthetic[0], copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("DROP TABLE IF EXISTS mentions")
    with open_store(copy, read_only=True) as store, pytest.raises(StoreError, match="workbench entities"):
        mentioned_places(store)


def test_the_examples_in_the_docstrings_run():
    assert doctest.testmod(module, raise_on_error=False).failed == 0


# --- with the real extractor, once it is installed ---------------------------------------------

def _has_extractor() -> bool:
    """Whether the extractor is installed, found without importing it (a test below imports it)."""
    try:
        return importlib.util.find_spec("workbench.entities.run") is not None
    except ImportError:
        return False


@pytest.mark.xfail(not _has_extractor(), reason="workbench.entities (issue 8) is not installed yet", strict=False)
def test_the_views_read_what_the_extractor_writes(synthetic, tmp_path: Path):
    from workbench.entities.run import extract_store

    copy = tmp_path / "extracted.duckdb"
    shutil.copy(synthetic[0], copy)
    with open_store(copy) as store:
        extract_store(store)
        places = mentioned_places(store)
        assert places.height > 0 and places["in_structured"].any()
        top = frequent(store, "PLACE", limit=5)
        row = top.filter(top["entity"].is_not_null()).row(0, named=True)
        assert row["incidents"] == _one(store, f"SELECT count(DISTINCT (ngo_id, record_id)) FROM ({CURRENT}) WHERE resolved_id = ?",
                                        [row["entity"]])[0]
        graph = mention_graph(store)
        assert graph_metrics(graph).height == graph.number_of_nodes()
        arabic = incidents_with_mentions(store, language="ar", limit=1)
        if arabic.height:
            assert 'dir="rtl"' in highlighted_html(store, *arabic.row(0)[:2])
        assert "wb-mention" in _layer_page(store) or places_not_in_structured_fields(store).height == 0
