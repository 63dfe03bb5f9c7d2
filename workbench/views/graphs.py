"""Actor graphs: which actors appear in the same incidents, and how actors, incidents and places connect.

The edges are counted in DuckDB (one ``GROUP BY`` over the selected incidents' actor links), so a
million incidents reduce to an edge list networkx handles; metrics, ego networks and paths run on
that graph. Actors are keyed per NGO: node ``ALPHA/ALPHA-A01`` is actor ``ALPHA-A01`` of NGO
``ALPHA``. Nothing here reads persons: pseudonyms and person fields never reach a graph or an export.

>>> from workbench.store import open_store
>>> with open_store(":memory:") as store:
...     graph = actor_graph(store)
>>> graph.number_of_nodes(), graph_metrics(graph).columns[:4]
(0, ['node', 'label', 'degree', 'weighted_degree'])
"""

from __future__ import annotations

import difflib
import json
import re
import warnings
from datetime import date, datetime
from html import escape
from itertools import islice
from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl

from workbench.assets import asset_path
from workbench.errors import AssetError, ConfigError
from workbench.store import Store
from workbench.views.selection import Selection, selected_incidents

KINDS = ("cooccurrence", "actor_incident_place")
EXPORT_SUFFIXES = (".gexf", ".graphml", ".html")
#: Seed of every sampled or randomised step (betweenness samples, Louvain), so runs repeat exactly.
SEED = 2011
#: Betweenness is exact while it costs at most this many node-and-edge visits (about 2,000 nodes
#: with sparse edges, a few seconds); beyond it, shortest paths from k sampled sources estimate it.
BETWEENNESS_BUDGET = 20_000_000
MIN_BETWEENNESS_SAMPLES = 32
EIGENVECTOR_MAX_ITER = 1000
#: actor_graph refuses to build more nodes than this by default: networkx would take minutes.
MAX_NODES = 200_000
#: An interactive page with more nodes than this is unusable; Gephi (GEXF) is the tool for those.
HTML_MAX_NODES = 5_000
VIS_NETWORK = ("vis-network", "standalone/umd/vis-network.min.js")
#: Colour-blind-friendly categorical palette (Okabe–Ito, then Tol's muted) for communities.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#332288", "#88CCEE",
           "#117733", "#999933", "#AA4499", "#44AA99", "#882255", "#DDCC77", "#6699CC")
METRIC_SCHEMA = {"node": pl.String, "label": pl.String, "degree": pl.Int64, "weighted_degree": pl.Float64,
                 "betweenness": pl.Float64, "eigenvector": pl.Float64, "community": pl.Int64, "core": pl.Int64,
                 "component": pl.Int64}


class GraphMetricWarning(UserWarning):
    """A metric could not be computed for part of the graph; its value there is null."""


# --- edge lists, in SQL ------------------------------------------------------------------------

def _steps(store: Store, selection: Selection, *, roles: bool = False) -> str:
    """The named CTE steps every graph query starts from: the selected incidents (``selected``) and
    their actor links (``links``: one row per incident and actor, with its roles when asked)."""
    columns = "i.ngo_id, i.incident_id, i.date_start, i.date_precision, i.violation_types, i.place_id, i.admin1_pcode"
    role = ", string_agg(DISTINCT ia.role, '; ' ORDER BY ia.role) AS role" if roles else ""
    return f"""WITH selected AS ({selected_incidents(selection, store, columns)}),
    links AS (SELECT ia.ngo_id, ia.incident_id, ia.actor_id{role}
              FROM active.incident_actors ia SEMI JOIN selected s ON s.ngo_id = ia.ngo_id AND s.incident_id = ia.incident_id
              GROUP BY ia.ngo_id, ia.incident_id, ia.actor_id)"""


def edge_list(store: Store, selection: Selection = Selection(), *, kind: str = "cooccurrence", min_weight: int = 1) -> pl.DataFrame:
    """The weighted edges of the selected incidents' actor graph, aggregated in DuckDB.

    ``cooccurrence``: one row per pair of actors of one NGO (``source`` < ``target``), ``weight`` the
    number of selected incidents both are linked to. ``actor_incident_place``: actor–incident edges
    (``relation`` "actor_incident", ``role`` the actor's roles) and incident–place edges (the
    gazetteer place, or the governorate when the place is unknown); incidents with no actor are
    left out. Edges lighter than ``min_weight`` are dropped in SQL.

    >>> edge_list(store, Selection(ngos=("ALPHA",)), min_weight=2).row(0)  # doctest: +SKIP
    ('ALPHA/ALPHA-A01', 'ALPHA/ALPHA-A11', 20)
    """
    _check_kind(kind)
    steps = _steps(store, selection, roles=kind != "cooccurrence")
    if kind == "cooccurrence":
        sql = f"""{steps},
        pairs AS (SELECT a.ngo_id, a.actor_id AS actor_a, b.actor_id AS actor_b, count(*) AS weight
                  FROM links a JOIN links b ON a.ngo_id = b.ngo_id AND a.incident_id = b.incident_id AND a.actor_id < b.actor_id
                  GROUP BY ALL)
        SELECT ngo_id || '/' || actor_a AS source, ngo_id || '/' || actor_b AS target, weight
        FROM pairs WHERE weight >= ? ORDER BY source, target"""
    else:
        sql = f"""{steps},
        actor_incident AS (SELECT ngo_id || '/' || actor_id AS source, 'incident:' || ngo_id || '/' || incident_id AS target,
                                  1::BIGINT AS weight, 'actor_incident' AS relation, role FROM links),
        incident_place AS (SELECT 'incident:' || s.ngo_id || '/' || s.incident_id AS source,
                                  'place:' || coalesce(s.place_id, s.admin1_pcode) AS target,
                                  1::BIGINT AS weight, 'incident_place' AS relation, NULL AS role
                           FROM selected s SEMI JOIN links l ON l.ngo_id = s.ngo_id AND l.incident_id = s.incident_id
                           WHERE coalesce(s.place_id, s.admin1_pcode) IS NOT NULL)
        SELECT * FROM (SELECT * FROM actor_incident UNION ALL SELECT * FROM incident_place)
        WHERE weight >= ? ORDER BY relation, source, target"""
    return store.frame(sql, [min_weight])


def _node_frames(store: Store, selection: Selection, kind: str) -> list[pl.DataFrame]:
    """Node attributes: actors (and, for the tripartite graph, incidents and places), no person ever."""
    steps = _steps(store, selection)
    frames = [store.frame(f"""{steps},
        counts AS (SELECT ngo_id, actor_id, count(*) AS incidents FROM links GROUP BY ALL)
        SELECT c.ngo_id || '/' || c.actor_id AS node, 'actor' AS kind, coalesce(a.name, c.actor_id) AS label, a.name_ar,
               a.actor_type, a.affiliation, c.ngo_id, c.actor_id, c.incidents
        FROM counts c LEFT JOIN active.actors a ON a.ngo_id = c.ngo_id AND a.actor_id = c.actor_id ORDER BY node""")]
    if kind == "actor_incident_place":
        # the place name comes from the gazetteer, never the NGO's free text
        frames.append(store.frame(f"""{steps}
            SELECT 'incident:' || s.ngo_id || '/' || s.incident_id AS node, 'incident' AS kind, s.incident_id AS label,
                   s.ngo_id, strftime(s.date_start, '%Y-%m-%d') AS date, s.date_precision, s.violation_types,
                   coalesce(g.name_en, g.admin1_en) AS place
            FROM selected s SEMI JOIN links l ON l.ngo_id = s.ngo_id AND l.incident_id = s.incident_id
            LEFT JOIN gazetteer_places g ON g.place_id = coalesce(s.place_id, s.admin1_pcode) ORDER BY node"""))
        frames.append(store.frame(f"""{steps},
            places AS (SELECT coalesce(s.place_id, s.admin1_pcode) AS place_id, count(*) AS incidents
                       FROM selected s SEMI JOIN links l ON l.ngo_id = s.ngo_id AND l.incident_id = s.incident_id
                       WHERE coalesce(s.place_id, s.admin1_pcode) IS NOT NULL GROUP BY ALL)
            SELECT 'place:' || p.place_id AS node, 'place' AS kind, coalesce(g.name_en, p.place_id) AS label, g.name_ar,
                   g.level, g.admin1_pcode, g.admin1_en AS governorate, p.incidents
            FROM places p LEFT JOIN gazetteer_places g ON g.place_id = p.place_id ORDER BY node"""))
    return frames


def actor_graph(store: Store, selection: Selection = Selection(), *, kind: str = "cooccurrence", min_weight: int = 1,
                max_nodes: int | None = MAX_NODES) -> nx.Graph:
    """The actor graph of the selected incidents, as an undirected networkx graph.

    Every actor linked to a selected incident is a node (``label`` its name, ``name_ar``,
    ``actor_type``, ``affiliation``, ``ngo_id``, ``incidents`` = how many selected incidents it is
    linked to), even when ``min_weight`` leaves it no edge. The ``actor_incident_place`` kind adds
    incident nodes (``date``, ``date_precision``, ``violation_types``, ``place``) and place nodes
    (gazetteer name, level, governorate); every node has ``kind`` actor, incident or place.
    More than ``max_nodes`` nodes is refused with a ConfigError: narrow the selection first.

    >>> graph = actor_graph(store, Selection(governorates=("SY02",)), min_weight=2)  # doctest: +SKIP
    >>> graph.nodes["ALPHA/ALPHA-A01"]["label"]  # doctest: +SKIP
    'Central Air Wing'
    """
    _check_kind(kind)
    nodes = _node_frames(store, selection, kind)
    count = sum(frame.height for frame in nodes)
    if max_nodes is not None and count > max_nodes:
        raise ConfigError(f"the {kind} graph of {selection.describe()} would have {count:,} nodes, more than max_nodes="
                          f"{max_nodes:,}: narrow the selection (NGO, period, governorate) or raise max_nodes")
    edges = edge_list(store, selection, kind=kind, min_weight=min_weight)
    graph = nx.Graph(name=f"{'Actor co-occurrence' if kind == 'cooccurrence' else 'Actors, incidents and places'}: "
                          f"{selection.describe()}", kind=kind, min_weight=min_weight)
    for frame in nodes:
        for row in frame.iter_rows(named=True):
            node = row.pop("node")
            graph.add_node(node, **{k: v for k, v in row.items() if v is not None})
    if kind == "cooccurrence":
        graph.add_weighted_edges_from(edges.select("source", "target", "weight").iter_rows())
    else:
        graph.add_edges_from((r["source"], r["target"], {k: v for k, v in r.items() if v is not None and k not in ("source", "target")})
                             for r in edges.iter_rows(named=True))
    return graph


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown graph kind {kind!r}; the kinds are {', '.join(KINDS)}")


# --- metrics and questions ---------------------------------------------------------------------

def graph_metrics(graph: nx.Graph) -> pl.DataFrame:
    """One row per node: ``degree``, ``weighted_degree`` (sum of edge weights), ``betweenness``,
    ``eigenvector``, ``community``, ``core`` (k-core number) and ``component`` (connected component).

    - betweenness is normalised and counts hops (edge weights ignored). It is exact while that
      costs at most ``BETWEENNESS_BUDGET`` node-and-edge visits (about 2,000 nodes); beyond, it is
      estimated from the shortest paths of k sources sampled with the fixed ``SEED``
      (k = budget / (nodes + edges), at least ``MIN_BETWEENNESS_SAMPLES``), so reruns agree.
    - eigenvector centrality (weighted) is undefined across components, so it is computed within
      each connected component and scaled so that component's most central node has 1.0: compare
      it only inside one ``component`` (0 is the largest). Isolated nodes get 0.0. Where power
      iteration does not converge, that component gets null and a :class:`GraphMetricWarning`.
    - communities are Louvain's (weighted, fixed seed), numbered from the largest (0).

    >>> graph_metrics(nx.path_graph(["A", "B", "C"])).select("node", "degree", "betweenness").rows()
    [('A', 1, 0.0), ('B', 2, 1.0), ('C', 1, 0.0)]
    """
    if graph.is_directed():
        graph = graph.to_undirected(as_view=True)
    if graph.number_of_nodes() == 0:
        return pl.DataFrame(schema=METRIC_SCHEMA)
    if nx.number_of_selfloops(graph):  # k-cores are undefined with self-loops
        graph = nx.Graph(graph)
        graph.remove_edges_from(list(nx.selfloop_edges(graph)))
    components = _numbered(nx.connected_components(graph))
    eigenvector: dict[Any, float | None] = {}
    for members in components:
        eigenvector.update(_eigenvector(graph, members))
    betweenness = nx.betweenness_centrality(graph, k=_betweenness_samples(graph), normalized=True, seed=SEED)
    communities = _numbered(nx.community.louvain_communities(graph, weight="weight", seed=SEED))
    community = {node: number for number, members in enumerate(communities) for node in members}
    component = {node: number for number, members in enumerate(components) for node in members}
    core = nx.core_number(graph)
    weighted = dict(graph.degree(weight="weight"))
    rows = [{"node": str(node), "label": str(graph.nodes[node].get("label", node)), "degree": graph.degree(node),
             "weighted_degree": float(weighted[node]), "betweenness": betweenness[node], "eigenvector": eigenvector[node],
             "community": community[node], "core": core[node], "component": component[node]} for node in graph.nodes]
    return pl.DataFrame(rows, schema=METRIC_SCHEMA)


def _numbered(groups) -> list[set]:
    """Groups of nodes, largest first (ties by smallest node id), so numbers repeat run to run."""
    return sorted((set(g) for g in groups), key=lambda g: (-len(g), min(map(str, g))))


def _betweenness_samples(graph: nx.Graph) -> int | None:
    nodes, size = graph.number_of_nodes(), graph.number_of_nodes() + graph.number_of_edges()
    if nodes * size <= BETWEENNESS_BUDGET:
        return None
    return min(nodes, max(MIN_BETWEENNESS_SAMPLES, BETWEENNESS_BUDGET // size))


def _eigenvector(graph: nx.Graph, members: set) -> dict[Any, float | None]:
    if len(members) == 1:
        return dict.fromkeys(members, 0.0)
    try:
        values = nx.eigenvector_centrality(graph.subgraph(members), max_iter=EIGENVECTOR_MAX_ITER, weight="weight")
    except nx.PowerIterationFailedConvergence:
        warnings.warn(GraphMetricWarning(
            f"eigenvector centrality did not converge in {EIGENVECTOR_MAX_ITER} iterations on the component of "
            f"{len(members)} nodes holding {min(map(str, members))!r}; it is null there"), stacklevel=3)
        return dict.fromkeys(members, None)
    top = max(values.values()) or 1.0
    return {node: value / top for node, value in values.items()}


def ego_network(graph: nx.Graph, node: str, radius: int = 1) -> nx.Graph:
    """The node, its neighbours up to ``radius`` hops, and the edges among them (a new graph).

    >>> sorted(ego_network(nx.path_graph(["A", "B", "C"]), "A"))
    ['A', 'B']
    """
    _check_node(graph, node)
    return nx.ego_graph(graph, node, radius=radius)


def shortest_paths(graph: nx.Graph, source: str, target: str, k: int = 3) -> list[list[str]]:
    """Up to ``k`` shortest simple paths (fewest hops) from ``source`` to ``target``; [] when none.

    >>> shortest_paths(nx.path_graph(["A", "B", "C"]), "A", "C")
    [['A', 'B', 'C']]
    """
    _check_node(graph, source)
    _check_node(graph, target)
    try:
        return [[str(n) for n in path] for path in islice(nx.shortest_simple_paths(graph, source, target), k)]
    except nx.NetworkXNoPath:
        return []


def _check_node(graph: nx.Graph, node: str) -> None:
    if node in graph:
        return
    ids = [str(n) for n in graph.nodes]
    by_label = {str(data.get("label")): str(n) for n, data in graph.nodes(data=True) if data.get("label")}
    close = difflib.get_close_matches(str(node), ids, n=3) or [by_label[m] for m in difflib.get_close_matches(str(node), by_label, n=3)]
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else (f"; node ids look like {ids[0]!r}" if ids else "; the graph is empty")
    raise ConfigError(f"node {node!r} is not in the graph ({graph.number_of_nodes():,} nodes){hint}")


# --- exports -----------------------------------------------------------------------------------

def export_graph(graph: nx.Graph, path: Path) -> Path:
    """Write the graph for another tool, by suffix: ``.gexf`` (Gephi), ``.graphml`` (link-analysis
    tools), ``.html`` (an interactive page that works offline: vis-network inlined, nodes sized by
    degree and coloured by community, edges by weight). Lists become ``"a; b"`` text and missing
    values are left out, since both file formats hold only scalars.

    >>> export_graph(actor_graph(store), Path("actors.gexf"))  # doctest: +SKIP
    PosixPath('actors.gexf')
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ConfigError(f"{path}: cannot export a graph as {suffix or 'a file without suffix'!r}; "
                          f"the supported suffixes are {', '.join(EXPORT_SUFFIXES)}")
    scalar = _with_scalars(graph)
    try:
        if suffix == ".gexf":
            nx.write_gexf(scalar, path)
        elif suffix == ".graphml":
            nx.write_graphml(scalar, path)
        else:
            path.write_text(graph_html(scalar), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the graph to {path}: {exc.strerror or exc}") from None
    return path


def _with_scalars(graph: nx.Graph) -> nx.Graph:
    """A copy whose attributes are all str, int, float or bool (None left out)."""
    copy = graph.__class__()
    copy.graph.update(_scalars(graph.graph))
    copy.add_nodes_from((str(n), _scalars(d)) for n, d in graph.nodes(data=True))
    copy.add_edges_from((str(u), str(v), _scalars(d)) for u, v, d in graph.edges(data=True))
    return copy


def _scalars(attributes: dict) -> dict:
    out = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            value = "; ".join(str(v) for v in value)
        elif isinstance(value, (date, datetime)):
            value = value.isoformat()
        elif hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
            value = value.item()
        if not isinstance(value, (str, int, float, bool)):
            value = str(value)
        out[str(key)] = value
    return out


def graph_html(graph: nx.Graph) -> str:
    """A self-contained page showing the graph with vis-network (inlined, no request leaves it)."""
    if graph.number_of_nodes() > HTML_MAX_NODES:
        raise ConfigError(f"the graph has {graph.number_of_nodes():,} nodes, more than an interactive page can show "
                          f"({HTML_MAX_NODES:,}): raise min_weight, narrow the selection, or export .gexf for Gephi")
    script = asset_path(*VIS_NETWORK).read_text(encoding="utf-8")
    script = "\n".join(line for line in script.splitlines() if not line.startswith("//# sourceMappingURL"))
    community = _communities(graph)
    shapes = {"actor": "dot", "incident": "square", "place": "triangle"}
    nodes = [{"id": str(n), "label": str(d.get("label", n)), "value": graph.degree(n), "shape": shapes.get(d.get("kind"), "dot"),
              "color": PALETTE[community[n] % len(PALETTE)],
              "info": [[k, str(v)] for k, v in d.items() if k not in ("label",)]} for n, d in graph.nodes(data=True)]
    edges = [{"from": str(u), "to": str(v), "value": d.get("weight", 1),
              "info": [[k, str(x)] for k, x in d.items()]} for u, v, d in graph.edges(data=True)]
    data = json.dumps({"nodes": nodes, "edges": edges, "large": graph.number_of_nodes() > 300}, ensure_ascii=False)
    title = str(graph.graph.get("name") or "Graph")
    summary = (f"{graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges; node size: degree; "
               f"colour: community; line width: weight")
    if re.search(r"</script|<!--", script, re.IGNORECASE):  # would end the inlined script early
        raise AssetError(f"{VIS_NETWORK[1]} of {VIS_NETWORK[0]} holds a closing script tag and cannot be inlined")
    # "<" only occurs inside JSON strings, where \u003c means the same and cannot close the element
    parts = {"title": escape(title), "summary": escape(summary), "script": script, "data": data.replace("<", "\\u003c")}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], _PAGE)  # one pass: no part is read as a slot


def _communities(graph: nx.Graph) -> dict[Any, int]:
    """Each node's ``community`` attribute (as graph_metrics gives it), else Louvain's with the fixed seed."""
    given = {n: d["community"] for n, d in graph.nodes(data=True) if isinstance(d.get("community"), int)}
    if len(given) == graph.number_of_nodes():
        return given
    groups = _numbered(nx.community.louvain_communities(graph, weight="weight", seed=SEED))
    return {n: number for number, members in enumerate(groups) for n in members}


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>{{title}}</title>
<style>
html, body { margin: 0; height: 100%; font-family: system-ui, sans-serif; background: #fff; color: #222; }
header { padding: 6px 12px; border-bottom: 1px solid #ddd; font-size: 14px; }
header h1 { font-size: 16px; margin: 0 0 2px; }
#graph { position: absolute; top: 52px; bottom: 0; left: 0; right: 0; }
.tip { font-size: 12px; } .tip b { font-weight: 600; }
</style></head>
<body>
<header><h1>{{title}}</h1><div>{{summary}}</div></header>
<div id="graph"></div>
<script type="application/json" id="graph-data">{{data}}</script>
<script>{{script}}</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  function tip(info) {  // built as DOM text, so nothing in the data is read as HTML
    var box = document.createElement("div"); box.className = "tip";
    info.forEach(function (pair) {
      var line = document.createElement("div"), key = document.createElement("b");
      key.textContent = pair[0] + ": "; line.appendChild(key); line.appendChild(document.createTextNode(pair[1]));
      box.appendChild(line);
    });
    return box;
  }
  data.nodes.forEach(function (n) { n.title = tip(n.info); delete n.info; });
  data.edges.forEach(function (e) { e.title = tip(e.info); delete e.info; });
  var network = new vis.Network(document.getElementById("graph"),
    {nodes: new vis.DataSet(data.nodes), edges: new vis.DataSet(data.edges)},
    {nodes: {scaling: {min: 6, max: 40}, font: {size: 12}},
     edges: {scaling: {min: 1, max: 10}, color: {color: "#9aa5b1", highlight: "#333"}, smooth: false},
     layout: {randomSeed: 2011, improvedLayout: !data.large},
     physics: {solver: "forceAtlas2Based", stabilization: {iterations: data.large ? 150 : 400}},
     interaction: {hover: true, tooltipDelay: 120, navigationButtons: false}});
  network.once("stabilizationIterationsDone", function () { network.setOptions({physics: false}); });
})();
</script>
</body></html>
"""


# --- notebook widget ---------------------------------------------------------------------------

def graph_widget(graph: nx.Graph):
    """An interactive ipysigma view for notebooks: nodes sized by weighted degree, coloured by
    community, edges by weight. Its JavaScript comes with the installed JupyterLab extension, so it
    works offline.

    >>> graph_widget(actor_graph(store))  # doctest: +SKIP
    """
    from ipysigma import Sigma  # imported here: it pulls in ipywidgets, which scripts do not need

    scalar = _with_scalars(graph)
    community = _communities(scalar)
    return Sigma(scalar, node_size=dict(scalar.degree(weight="weight")), node_color=community,
                 node_color_palette={c: PALETTE[c % len(PALETTE)] for c in set(community.values())},
                 edge_size="weight", default_edge_type="line")
