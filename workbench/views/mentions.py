"""What the entities found in narratives add to the views: places for the map, actors for the graph.

The ``mentions`` table (filled by ``workbench entities``) holds one row per place, actor, weapon or
date found in an incident's title or narrative, with the gazetteer place or actor it was linked to
(``resolved_id``: ``place:<place_id>``, ``actor:<lexicon id>``, ``actor:store:<ngo>/<actor id>``,
``weapon:<id>``) or none. Every function here reads the incidents through :class:`Selection`, so
the explorer's filters apply, and keeps only the mentions of each record's current submission.
DuckDB counts; Python only names and draws the small results.

Actor nodes are the lexicon id (``saa``) or, for an actor of an NGO's own list, the same id
:func:`workbench.views.graphs.actor_graph` gives it (``ALPHA/ALPHA-A01``): lexicon ids hold no ``/``.
Nothing here shows a person; only :func:`highlighted_html` shows a narrative, and only when asked
for one incident.

>>> from workbench.store import open_store
>>> with open_store(":memory:") as store:
...     frequent(store, "PLACE").height, mention_graph(store).number_of_nodes()
(0, 0)
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

import networkx as nx
import offlinefolium as folium
import polars as pl

from workbench.errors import ConfigError, StoreError
from workbench.store import Store
from workbench.views.selection import Selection, selected_incidents

if TYPE_CHECKING:
    from workbench.entities.lexicon import Lexicon

LABELS = ("PLACE", "ACTOR", "WEAPON", "DATE")
#: Highlight colours in displaCy, one per label (light enough for black text).
COLOURS = {"PLACE": "#9fd8cb", "ACTOR": "#f6c28b", "WEAPON": "#f4a6a6", "DATE": "#c9c5ee"}
#: Unicode blocks of the Arabic script (base, supplement, extended-A, presentation forms A and B).
ARABIC_BLOCKS = (("0600", "06FF"), ("0750", "077F"), ("08A0", "08FF"), ("FB50", "FDFF"), ("FE70", "FEFF"))
_ARABIC = re.compile("[" + "".join(f"\\u{a}-\\u{b}" for a, b in ARABIC_BLOCKS) + "]")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
_SQL_ARABIC = "[" + "".join(f"\\x{{{a}}}-\\x{{{b}}}" for a, b in ARABIC_BLOCKS) + "]"
_SQL_LATIN = "[A-Za-z\\x{00C0}-\\x{024F}]"
#: A mention counts as linked only when its id names a place, actor or weapon (not "date" or an ambiguous "place?...").
_LINKED = "regexp_matches(m.resolved_id, '^(place|actor|weapon):')"
#: The node of an actor mention: its lexicon id, or ``ngo/actor`` for an actor of an NGO's list.
_ACTOR_NODE = "regexp_replace(m.resolved_id, '^actor:(store:)?', '')"
MENTION_STYLE = {"radius": 5, "color": "#5b2a86", "weight": 1, "fill": True, "fill_color": "#b48ad6", "fill_opacity": 0.85}


# --- the mentions of the selected incidents ----------------------------------------------------

def _steps(store: Store, selection: Selection) -> str:
    """Named CTE steps: the selected incidents (``selected``, with the admin unit an area-only
    record is known to as ``unit``) and their current mentions (``found``)."""
    if not store.has_table("mentions"):
        raise StoreError("the store has no mentions table: open it once for writing (or run `workbench entities`) to create it")
    unit = """CASE WHEN i.geo_precision IN ('point', 'community') THEN NULL
                   WHEN i.geo_precision = 'governorate' THEN i.admin1_pcode
                   WHEN i.geo_precision = 'district' THEN coalesce(i.admin2_pcode, i.admin1_pcode)
                   ELSE coalesce(i.admin3_pcode, i.admin2_pcode, i.admin1_pcode) END AS unit"""
    columns = f"i.ngo_id, i.incident_id, i.submission_id, i.place_id, i.admin1_pcode, i.admin2_pcode, i.admin3_pcode, {unit}"
    # mentions of a superseded submission point into a text that may have changed: they are left out. Two
    # equality joins, not one with an OR, which DuckDB would check row by row after the join.
    return f"""WITH selected AS ({selected_incidents(selection, store, columns)}),
    found AS (SELECT m.* FROM mentions m SEMI JOIN selected s ON m.ngo_id = s.ngo_id AND m.record_id = s.incident_id
                  AND m.submission_id = s.submission_id WHERE m.record_type = 'incidents'
              UNION ALL
              SELECT m.* FROM mentions m SEMI JOIN selected s ON m.ngo_id = s.ngo_id AND m.record_id = s.incident_id
                  WHERE m.record_type = 'incidents' AND m.submission_id IS NULL)"""


def _mentioned_places_sql(store: Store, selection: Selection) -> str:
    return f"""{_steps(store, selection)},
    places AS (SELECT m.ngo_id, m.record_id AS incident_id, substr(m.resolved_id, 7) AS place_id, count(*) AS mentions,
                      list(DISTINCT m.field ORDER BY m.field) AS fields
               FROM found m WHERE m.label = 'PLACE' AND starts_with(m.resolved_id, 'place:') GROUP BY ALL)
    SELECT p.ngo_id, p.incident_id, p.place_id, g.name_en, g.name_ar, g.level, g.admin1_pcode, g.admin1_en, g.lat, g.lon,
           p.mentions, p.fields, s.place_id AS record_place_id, s.admin1_pcode AS record_admin1_pcode,
           coalesce(p.place_id = s.place_id OR p.place_id IN (s.admin1_pcode, s.admin2_pcode, s.admin3_pcode)
                    OR s.unit IN (g.admin1_pcode, g.admin2_pcode, g.admin3_pcode) OR s.unit = p.place_id, FALSE) AS in_structured
    FROM places p JOIN selected s ON s.ngo_id = p.ngo_id AND s.incident_id = p.incident_id
    LEFT JOIN gazetteer_places g ON g.place_id = p.place_id"""


def mentioned_places(store: Store, selection: Selection = Selection()) -> pl.DataFrame:
    """The gazetteer places named in the selected incidents' titles and narratives: one row per
    (incident, place), with the place's names, level, governorate and coordinates, how often it is
    named (``mentions``) and where (``fields``).

    ``in_structured`` is true when the place is already in the record's structured fields: it is
    the record's own place, or one of the admin units the record lies in, or it lies inside the
    unit a record known only to a governorate, district or sub-district is placed in. Unlinked and
    ambiguous place mentions are not here (see :func:`frequent`).

    >>> mentioned_places(store, Selection(ngos=("ALPHA",))).filter(~pl.col("in_structured"))  # doctest: +SKIP
    """
    return store.frame(f"{_mentioned_places_sql(store, selection)} ORDER BY p.ngo_id, p.incident_id, p.place_id")


def places_not_in_structured_fields(store: Store, selection: Selection = Selection()) -> pl.DataFrame:
    """One row per place named in some selected narrative that is not in that record's place
    fields: what the text adds to the map. ``incidents`` and ``ngos`` count those records only.

    >>> places_not_in_structured_fields(store).select("name_en", "incidents").head(3)  # doctest: +SKIP
    """
    return store.frame(f"""SELECT place_id, name_en, name_ar, level, admin1_pcode, admin1_en, lat, lon,
            count(*) AS incidents, count(DISTINCT ngo_id) AS ngos, sum(mentions)::BIGINT AS mentions
        FROM ({_mentioned_places_sql(store, selection)}) WHERE NOT in_structured
        GROUP BY ALL ORDER BY incidents DESC, place_id""")


def mentions_layer(store: Store, selection: Selection = Selection(), *, name: str = "Places named in narratives only") -> folium.FeatureGroup:
    """A map layer of the places named in narratives but not in the records' place fields: a small
    marker each, its popup the place's names and how many incidents name it (never the text).
    Add it to a map of the same selection with :func:`add_overlay`; the map keeps working offline
    and :func:`workbench.views.maps.save_map` writes it.

    >>> m = incident_map(store, selection)                                     # doctest: +SKIP
    >>> add_overlay(m, mentions_layer(store, selection))                       # doctest: +SKIP
    """
    places = places_not_in_structured_fields(store, selection).filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    layer = folium.FeatureGroup(name=html.escape(name))
    if not places.height:
        return layer
    features = [{"type": "Feature", "id": str(n), "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
                 "properties": {"name": _escaped_name(row), "popup": _popup(row)}}
                for n, row in enumerate(places.iter_rows(named=True))]
    # the popup is escaped here: Leaflet puts it into the page as HTML
    folium.GeoJson({"type": "FeatureCollection", "features": features}, name=html.escape(name),
                   marker=folium.CircleMarker(class_name="wb-mention", **MENTION_STYLE),
                   popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
                   tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False)).add_to(layer)
    return layer


def add_overlay(m: folium.Map, layer: folium.FeatureGroup) -> folium.Map:
    """Add a layer to a finished map, before its layer control so that the control lists it.

    ``m.add_child(layer)`` would put the layer's script after the control's, which then refers to
    a layer not made yet and stops the page's script (and the incident map's engine with it).
    """
    # folium keeps a map's children in order only in this mapping, and renders them in that order
    controls = [n for n, child in enumerate(m._children.values()) if isinstance(child, folium.LayerControl)]
    m.add_child(layer, index=controls[0] if controls else None)
    return m


def _escaped_name(row: dict) -> str:
    names = " · ".join(n for n in (row["name_en"], row["name_ar"]) if n) or row["place_id"]
    return html.escape(names)


def _popup(row: dict) -> str:
    where = f"{row['level']} in {row['admin1_en']}" if row["level"] and row["admin1_en"] and row["level"] != "governorate" else row["level"]
    incidents, ngos = row["incidents"], row["ngos"]
    return (f"<b>{_escaped_name(row)}</b>" + (f" ({html.escape(where)})" if where else "")
            + f"<br>Named in the narratives of {incidents:,} incident{'s' * (incidents != 1)} that do not give it as their place"
            + f"<br>Reported by {ngos:,} NGO{'s' * (ngos != 1)}")


# --- actors named together ---------------------------------------------------------------------

def actor_mention_edges(store: Store, selection: Selection = Selection(), *, min_weight: int = 1) -> pl.DataFrame:
    """Pairs of linked actors named in the same incident's text (title or narrative), with the
    number of selected incidents naming both (``actor_a`` < ``actor_b``). Counted in DuckDB.

    >>> actor_mention_edges(store, min_weight=2).row(0)                       # doctest: +SKIP
    ('air-force-intelligence', 'saa', 12)
    """
    return store.frame(f"""{_steps(store, selection)},
        actors AS (SELECT DISTINCT m.ngo_id, m.record_id, {_ACTOR_NODE} AS node
                   FROM found m WHERE m.label = 'ACTOR' AND starts_with(m.resolved_id, 'actor:'))
        SELECT a.node AS actor_a, b.node AS actor_b, count(*) AS incidents
        FROM actors a JOIN actors b ON a.ngo_id = b.ngo_id AND a.record_id = b.record_id AND a.node < b.node
        GROUP BY ALL HAVING count(*) >= ? ORDER BY incidents DESC, actor_a, actor_b""", [min_weight])


def _actor_nodes(store: Store, selection: Selection) -> pl.DataFrame:
    return store.frame(f"""{_steps(store, selection)},
        named AS (SELECT {_ACTOR_NODE} AS node, any_value(m.resolved_id) AS resolved_id, count(*) AS mentions,
                         count(DISTINCT (m.ngo_id, m.record_id)) AS incidents, count(DISTINCT m.ngo_id) AS ngos
                  FROM found m WHERE m.label = 'ACTOR' AND starts_with(m.resolved_id, 'actor:') GROUP BY ALL)
        SELECT n.*, a.name, a.name_ar, a.ngo_id, a.actor_type
        FROM named n LEFT JOIN active.actors a ON n.resolved_id = 'actor:store:' || a.ngo_id || '/' || a.actor_id
        ORDER BY n.node""")


def mention_graph(store: Store, selection: Selection = Selection(), *, min_weight: int = 1, lexicon: Lexicon | None = None) -> nx.Graph:
    """Actors named together in the selected narratives, as an undirected graph for
    :func:`workbench.views.graphs.graph_metrics` and :func:`~workbench.views.graphs.export_graph`.

    Nodes: every linked actor named in a selected incident (``label``: the lexicon's English name
    or the NGO's name for its own actor, else the id; ``name_ar``; ``source`` lexicon or store;
    ``mentions``; ``incidents``; ``ngos``; ``kind`` "actor"). Edges: ``weight`` = incidents naming both.
    ``lexicon``: a loaded lexicon (default: ``workbench.entities.lexicon.load_lexicon()``).

    >>> graph_metrics(mention_graph(store)).sort("weighted_degree", descending=True).head(5)  # doctest: +SKIP
    """
    nodes = _actor_nodes(store, selection)
    names = lexicon_names(lexicon) if not nodes["resolved_id"].str.starts_with("actor:store:").all() else {}
    graph = nx.Graph(name=f"Actors named together in narratives: {selection.describe()}", kind="mentions", min_weight=min_weight)
    for row in nodes.iter_rows(named=True):
        from_store = row["resolved_id"].startswith("actor:store:")
        english, arabic = (row["name"], row["name_ar"]) if from_store else names.get(row["resolved_id"], (None, None))
        attributes = {"kind": "actor", "label": english or row["node"], "name_ar": arabic, "source": "store" if from_store else "lexicon",
                      "ngo_id": row["ngo_id"], "actor_type": row["actor_type"], "mentions": row["mentions"],
                      "incidents": row["incidents"], "ngos": row["ngos"]}
        graph.add_node(row["node"], **{k: v for k, v in attributes.items() if v is not None})
    graph.add_weighted_edges_from(actor_mention_edges(store, selection, min_weight=min_weight).iter_rows())
    return graph


def lexicon_names(lexicon: Lexicon | None = None) -> dict[str, tuple[str | None, str | None]]:
    """The first English and first Arabic spelling of each lexicon entry, keyed as mentions link
    to it (``actor:saa``, ``weapon:sarin``); empty while the entities package is not installed.
    """
    if lexicon is None:
        try:
            from workbench.entities.lexicon import load_lexicon
        except ImportError:  # no entities package (yet): actors and weapons are named by their id
            return {}
        lexicon = load_lexicon()
    first = lambda entry, language: next(iter(entry.names.get(language, ())), None)  # noqa: E731
    return {f"{entry.label.lower()}:{entry.id}": (first(entry, "en"), first(entry, "ar")) for entry in lexicon.entries}


# --- what is named most ------------------------------------------------------------------------

def frequent(store: Store, label: str, selection: Selection = Selection(), limit: int = 20, *, lexicon: Lexicon | None = None) -> pl.DataFrame:
    """The entities of one label (PLACE, ACTOR, WEAPON, DATE) named in the most selected incidents.

    One row per linked entity (``entity`` its id, ``name`` and ``name_ar`` from the gazetteer, the
    NGO's actor list or the lexicon) and one per unlinked text (``entity`` null, grouped on the
    text lower-cased, ``candidates`` the places an ambiguous name may be): ``incidents``, ``ngos``
    and ``mentions`` counted, ``spellings`` the forms met, commonest first (at most five).

    >>> frequent(store, "WEAPON", limit=3).select("name", "incidents", "ngos")  # doctest: +SKIP
    """
    label = label.upper()
    if label not in LABELS:
        raise ConfigError(f"unknown entity label {label!r}; the labels are {', '.join(LABELS)}")
    if limit < 1:
        raise ConfigError(f"limit must be at least 1, not {limit}")
    counted = store.frame(f"""{_steps(store, selection)},
        labelled AS (SELECT m.*, CASE WHEN {_LINKED} THEN m.resolved_id END AS entity,
                            regexp_replace(lower(trim(m.text)), '\\s+', ' ', 'g') AS spelling_key
                     FROM found m WHERE m.label = ?),
        grouped AS (SELECT entity, CASE WHEN entity IS NULL THEN spelling_key END AS text_key, count(*) AS mentions,
                           count(DISTINCT (ngo_id, record_id)) AS incidents, count(DISTINCT ngo_id) AS ngos,
                           list_sort(list_distinct(flatten(list(coalesce(candidates, []::VARCHAR[]))))) AS candidates
                    FROM labelled GROUP BY ALL),
        spellings AS (SELECT entity, text_key, list(text ORDER BY n DESC, text)[1:5] AS spellings
                      FROM (SELECT entity, CASE WHEN entity IS NULL THEN spelling_key END AS text_key, text, count(*) AS n
                            FROM labelled GROUP BY ALL) GROUP BY ALL)
        SELECT g.entity, coalesce(p.name_en, a.name, s.spellings[1]) AS name, coalesce(p.name_ar, a.name_ar) AS name_ar,
               g.incidents, g.ngos, g.mentions, s.spellings, g.candidates
        FROM grouped g JOIN spellings s ON s.entity IS NOT DISTINCT FROM g.entity AND s.text_key IS NOT DISTINCT FROM g.text_key
        LEFT JOIN gazetteer_places p ON g.entity = 'place:' || p.place_id
        LEFT JOIN active.actors a ON g.entity = 'actor:store:' || a.ngo_id || '/' || a.actor_id
        ORDER BY g.incidents DESC, g.mentions DESC, g.entity NULLS LAST, g.text_key LIMIT ?""", [label, limit])
    linked_by_lexicon = pl.col("entity").str.contains(r"^(actor|weapon):") & ~pl.col("entity").str.starts_with("actor:store:")
    if not counted.filter(linked_by_lexicon).height:
        return counted
    names = lexicon_names(lexicon)
    english = {k: english for k, (english, _) in names.items() if english}
    arabic = {k: arabic for k, (_, arabic) in names.items() if arabic}
    # an entity the lexicon does not name keeps its id as its name, never one of its spellings
    return counted.with_columns(
        pl.when(linked_by_lexicon).then(pl.col("entity").replace_strict(english, default=pl.col("entity"), return_dtype=pl.String))
          .otherwise(pl.col("name")).alias("name"),
        pl.when(linked_by_lexicon).then(pl.col("entity").replace_strict(arabic, default=None, return_dtype=pl.String))
          .otherwise(pl.col("name_ar")).alias("name_ar"))


# --- one narrative, highlighted ----------------------------------------------------------------

def is_arabic(text: str) -> bool:
    """Whether a text is mostly in Arabic script (more Arabic than Latin letters).

    >>> is_arabic("قصف على حلب في 3 آذار"), is_arabic("Shelling of حلب")
    (True, False)
    """
    return len(_ARABIC.findall(text)) > len(_LATIN.findall(text))


def incidents_with_mentions(store: Store, selection: Selection = Selection(), *, language: str | None = None, limit: int = 20) -> pl.DataFrame:
    """Selected incidents whose narrative has mentions, those naming the most kinds of entity first:
    ``ngo_id``, ``incident_id``, ``language`` (``ar`` or ``en``, by the narrative's script),
    ``mentions``, ``labels``. ``language`` keeps one script.

    >>> ngo_id, incident_id = incidents_with_mentions(store, language="ar", limit=1).row(0)[:2]  # doctest: +SKIP
    """
    if language not in (None, "ar", "en"):
        raise ConfigError(f"language must be 'ar' or 'en', not {language!r}")
    # fewer characters left without the Arabic letters than without the Latin ones: more Arabic than Latin letters
    script = (f"CASE WHEN length(regexp_replace(i.narrative, '{_SQL_ARABIC}', '', 'g')) < "
              f"length(regexp_replace(i.narrative, '{_SQL_LATIN}', '', 'g')) THEN 'ar' ELSE 'en' END")
    return store.frame(f"""{_steps(store, selection)},
        counted AS (SELECT ngo_id, record_id AS incident_id, count(*) AS mentions, list(DISTINCT label ORDER BY label) AS labels
                    FROM found WHERE field = 'narrative' GROUP BY ALL)
        SELECT c.ngo_id, c.incident_id, {script} AS language, c.mentions, c.labels
        FROM counted c JOIN active.incidents i ON i.ngo_id = c.ngo_id AND i.incident_id = c.incident_id
        WHERE i.narrative IS NOT NULL AND (?::VARCHAR IS NULL OR language = ?)
        ORDER BY len(c.labels) DESC, c.mentions DESC, c.ngo_id, c.incident_id LIMIT ?""", [language, language, limit])


def highlighted_html(store: Store, ngo_id: str, incident_id: str) -> str:
    """The incident's narrative with its mentions highlighted by displaCy, as an HTML fragment
    (escaped, no script, no remote reference), right to left when the narrative is Arabic.

    Overlapping mentions keep the rule-based, then the longest one; a mention whose offsets no
    longer match the text is not drawn.

    >>> from IPython.display import HTML                                      # doctest: +SKIP
    >>> HTML(highlighted_html(store, "BAYAN", "BYN/2013/062"))                # doctest: +SKIP
    """
    from spacy import displacy  # imported here: spaCy takes a second to load, and only this function needs it
    from spacy.displacy.templates import TPL_ENT, TPL_ENT_RTL

    found = store.con.execute("SELECT narrative FROM active.incidents WHERE ngo_id = ? AND incident_id = ?", [ngo_id, incident_id]).fetchone()
    if found is None:
        raise ConfigError(f"no current incident {incident_id!r} of NGO {ngo_id!r}")
    text = found[0] or ""
    selection = Selection(incidents=((ngo_id, incident_id),))
    spans = store.frame(f"""{_steps(store, selection)}
        SELECT label, start_char AS start, end_char AS "end", text, method FROM found
        WHERE field = 'narrative' ORDER BY start_char, end_char DESC""")
    arabic = is_arabic(text)
    direction = "rtl" if arabic else "ltr"
    document = {"text": text, "ents": _drawable(spans, text), "settings": {"direction": direction, "lang": "ar" if arabic else "en"}}
    # displaCy picks its right-to-left template only when told which: its own choice is made before it reads the direction
    options = {"ents": list(LABELS), "colors": COLOURS, "template": TPL_ENT_RTL if arabic else TPL_ENT}
    markup = displacy.render(document, style="ent", manual=True, page=False, jupyter=False, options=options)
    return f'<div class="wb-mentions" dir="{direction}" lang="{"ar" if arabic else "en"}">{markup}</div>'


def _drawable(spans: pl.DataFrame, text: str) -> list[dict]:
    """Mentions that match the text, without overlaps (rule-based first, then longest, then first)."""
    candidates = [row for row in spans.iter_rows(named=True)
                  if 0 <= row["start"] < row["end"] <= len(text) and text[row["start"]:row["end"]] == row["text"]]
    candidates.sort(key=lambda r: (r["method"] != "rules", r["start"] - r["end"], r["start"]))
    taken: list[dict] = []
    for row in candidates:
        if all(row["end"] <= t["start"] or row["start"] >= t["end"] for t in taken):
            taken.append({"start": row["start"], "end": row["end"], "label": row["label"]})
    return sorted(taken, key=lambda r: r["start"])
