"""Actor graphs: edges counted in SQL, metrics with known answers, selections, exports that round-trip,
an offline HTML view, and no person anywhere."""

from __future__ import annotations

import doctest
import math
import re
import warnings
from datetime import date

import networkx as nx
import pytest

from tests.browser import render
from tests.conftest import base_manifest, make_package
from workbench.errors import WorkbenchError
from workbench.ingest import ingest_package
from workbench.store import open_store
from workbench.views import graphs
from workbench.views.graphs import (GraphMetricWarning, actor_graph, edge_list, ego_network, export_graph, graph_metrics,
                                    graph_widget, shortest_paths)
from workbench.views.selection import Selection

TODAY = date(2026, 11, 28)

# NGO "ONE": incidents 1 and 2 link actors A and B, incident 3 links B and C (A–B weighs 2, B–C 1).
# NGO "TWO": incident 1 links D, E and F (a triangle, the 2-core); incident 2 links G alone (an isolate).
ONE = {
    "incidents.csv": "incident_id,date_start,place,violation_types,killed,narrative\n"
                     "I-1,2013-03-12,Douma,torture,3,Shelling of the market.\n"
                     "I-2,2013-04-12,Douma,torture,1,Arrests at a checkpoint.\n"
                     "I-3,March 2014,Idlib,arbitrary_detention,0,Arrest campaign in the city.\n",
    "actors.csv": "actor_id,name,name_ar,actor_type,affiliation\n"
                  "A,Alpha Brigade,لواء ألفا,state_armed_forces,Government forces\n"
                  "B,Bravo Branch,فرع برافو,state_security_services,Government forces\n"
                  "C,Charlie Court,,judiciary,\n",
    "incident_actors.csv": "incident_id,actor_id,role\n"
                           "I-1,A,alleged_perpetrator\nI-1,B,alleged_perpetrator\nI-1,B,commanding\n"
                           "I-2,A,alleged_perpetrator\nI-2,B,alleged_perpetrator\n"
                           "I-3,B,alleged_perpetrator\nI-3,C,responder\n",
}
TWO = {
    "incidents.csv": "incident_id,date_start,place,violation_types,killed,narrative\n"
                     "J-1,2013-05-01,حلب,unlawful_killing,2,Attack on a bakery.\n"
                     "J-2,2013-06-01,حلب,torture,0,Detention.\n",
    "actors.csv": "actor_id,name,actor_type\nD,Delta Group,non_state_armed_groups\nE,Echo Group,non_state_armed_groups\n"
                  "F,Foxtrot Group,non_state_armed_groups\nG,Golf Unit,police\n",
    "incident_actors.csv": "incident_id,actor_id,role\nJ-1,D,alleged_perpetrator\nJ-1,E,alleged_perpetrator\n"
                           "J-1,F,alleged_perpetrator\nJ-2,G,alleged_perpetrator\n",
}
A, B, C, D, E, F, G = "ONE/A", "ONE/B", "ONE/C", "TWO/D", "TWO/E", "TWO/F", "TWO/G"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two tiny NGOs ingested through the normal path, as an analyst's store holds them."""
    root = tmp_path_factory.mktemp("graphs")
    with open_store(root / "s.duckdb") as store:
        for ngo, files in (("ONE", ONE), ("TWO", TWO)):
            manifest = base_manifest(ngo={"id": ngo, "name": f"NGO {ngo} (fictional)"}, submission_ref=f"{ngo}-1")
            report = ingest_package(store, make_package(root, files, manifest, name=ngo), today=TODAY, keep_in_vault=False)
            assert report.rows_quarantined == 0, report
        yield store


def weights(graph: nx.Graph) -> dict[frozenset, float]:
    return {frozenset((str(u), str(v))): float(d["weight"]) for u, v, d in graph.edges(data=True)}


def test_cooccurrence_edges_are_counted_per_pair_of_actors(tiny):
    assert edge_list(tiny).rows() == [(A, B, 2), (B, C, 1), (D, E, 1), (D, F, 1), (E, F, 1)]
    assert edge_list(tiny, min_weight=2).rows() == [(A, B, 2)]


def test_actor_nodes_carry_actor_attributes_and_incident_counts(tiny):
    graph = actor_graph(tiny)
    assert set(graph) == {A, B, C, D, E, F, G}  # G has no co-actor but is in the selection
    assert graph.nodes[A] == {"kind": "actor", "label": "Alpha Brigade", "name_ar": "لواء ألفا", "actor_type": "state_armed_forces",
                              "affiliation": "Government forces", "ngo_id": "ONE", "actor_id": "A", "incidents": 2}
    assert [graph.nodes[n]["incidents"] for n in (A, B, C, G)] == [2, 3, 1, 1]
    assert weights(graph) == {frozenset((A, B)): 2, frozenset((B, C)): 1, frozenset((D, E)): 1, frozenset((D, F)): 1,
                              frozenset((E, F)): 1}


def test_metrics_have_the_known_answers(tiny):
    metrics = {r["node"]: r for r in graph_metrics(actor_graph(tiny)).to_dicts()}
    assert {n: (m["degree"], m["weighted_degree"]) for n, m in metrics.items()} == {
        A: (1, 2.0), B: (2, 3.0), C: (1, 1.0), D: (2, 2.0), E: (2, 2.0), F: (2, 2.0), G: (0, 0.0)}
    # B is the only node on a shortest path between two others: 1 pair of the 15 among 7 nodes
    assert metrics[B]["betweenness"] == pytest.approx(1 / 15)
    assert all(metrics[n]["betweenness"] == 0 for n in (A, C, D, E, F, G))
    assert {n: m["core"] for n, m in metrics.items()} == {A: 1, B: 1, C: 1, D: 2, E: 2, F: 2, G: 0}
    # within the weighted path A–(2)–B–(1)–C the leading eigenvector is (2, √5, 1); in the triangle all are equal
    assert [metrics[n]["eigenvector"] for n in (A, B, C)] == pytest.approx([2 / math.sqrt(5), 1.0, 1 / math.sqrt(5)], abs=1e-4)
    assert [metrics[n]["eigenvector"] for n in (D, E, F, G)] == pytest.approx([1.0, 1.0, 1.0, 0.0], abs=1e-4)
    assert metrics[A]["community"] == metrics[B]["community"] == metrics[C]["community"] != metrics[D]["community"]
    assert metrics[D]["community"] == metrics[E]["community"] == metrics[F]["community"] != metrics[G]["community"]
    assert metrics[A]["component"] == metrics[C]["component"] != metrics[G]["component"]
    assert metrics[A]["label"] == "Alpha Brigade"


def test_metrics_of_a_hand_made_path():
    frame = graph_metrics(nx.path_graph(["A", "B", "C"]))
    assert frame.select("node", "degree", "betweenness", "core").rows() == [("A", 1, 0.0, 1), ("B", 2, 1.0, 1), ("C", 1, 0.0, 1)]
    assert graph_metrics(nx.Graph()).height == 0


def test_eigenvector_non_convergence_is_null_with_a_warning(monkeypatch):
    monkeypatch.setattr(graphs, "EIGENVECTOR_MAX_ITER", 1)
    graph = nx.path_graph(["A", "B", "C", "D"])
    graph.add_node("lonely")
    with pytest.warns(GraphMetricWarning, match="did not converge"):
        frame = graph_metrics(graph)
    values = dict(frame.select("node", "eigenvector").rows())
    assert values == {"A": None, "B": None, "C": None, "D": None, "lonely": 0.0}
    assert frame["betweenness"].null_count() == 0  # the other metrics are still there


def test_betweenness_is_sampled_with_a_fixed_seed_on_large_graphs(monkeypatch):
    graph = nx.barabasi_albert_graph(300, 2, seed=1)
    exact = graph_metrics(graph)["betweenness"]
    monkeypatch.setattr(graphs, "BETWEENNESS_BUDGET", 10_000)
    monkeypatch.setattr(graphs, "MIN_BETWEENNESS_SAMPLES", 20)
    assert graphs._betweenness_samples(graph) == 20
    first, second = graph_metrics(graph)["betweenness"], graph_metrics(graph)["betweenness"]
    assert first.to_list() == second.to_list()  # the same seed, the same estimate
    assert first.to_list() != exact.to_list()  # and it is an estimate


def test_selection_filters_change_the_graph(tiny):
    assert set(actor_graph(tiny, Selection(ngos=("ONE",)))) == {A, B, C}
    in_2013 = actor_graph(tiny, Selection.parse(ngos=["ONE"], period="2013"))  # I-3 (March 2014) drops out with C
    assert set(in_2013) == {A, B} and weights(in_2013) == {frozenset((A, B)): 2}
    assert in_2013.nodes[B]["incidents"] == 2
    assert set(actor_graph(tiny, Selection(actors=("G",)))) == {G}
    assert "NGO ONE" in in_2013.graph["name"]
    weak_dropped = actor_graph(tiny, Selection(ngos=("ONE",)), min_weight=2)
    assert weights(weak_dropped) == {frozenset((A, B)): 2} and C in weak_dropped  # the actor stays, its weak edge goes


def test_actor_incident_place_graph(tiny):
    graph = actor_graph(tiny, Selection(ngos=("ONE",)), kind="actor_incident_place")
    kinds = {n: d["kind"] for n, d in graph.nodes(data=True)}
    assert sorted(n for n, k in kinds.items() if k == "incident") == ["incident:ONE/I-1", "incident:ONE/I-2", "incident:ONE/I-3"]
    assert graph.edges[B, "incident:ONE/I-1"] == {"weight": 1, "relation": "actor_incident", "role": "alleged_perpetrator; commanding"}
    assert graph.edges[C, "incident:ONE/I-3"]["role"] == "responder"
    places = [n for n, k in kinds.items() if k == "place"]
    assert len(places) == 2  # Douma and Idlib
    douma = next(iter(set(graph["incident:ONE/I-1"]) & set(places)))
    assert graph.nodes[douma]["incidents"] == 2 and graph.nodes[douma]["label"]
    assert set(graph["incident:ONE/I-1"]) == {A, B, douma}
    incident = graph.nodes["incident:ONE/I-3"]
    assert (incident["date"], incident["date_precision"], incident["violation_types"]) == ("2014-03-01", "month", ["arbitrary_detention"])
    assert incident["place"] == graph.nodes[next(iter(set(graph["incident:ONE/I-3"]) & set(places)))]["label"]
    assert not any("narrative" in d or "title" in d for _, d in graph.nodes(data=True))
    frame = edge_list(tiny, Selection(ngos=("ONE",)), kind="actor_incident_place")
    assert frame.columns == ["source", "target", "weight", "relation", "role"] and frame.height == graph.number_of_edges()


def test_unknown_kind_and_too_many_nodes_are_refused(tiny):
    with pytest.raises(WorkbenchError, match="unknown graph kind 'people'.*cooccurrence, actor_incident_place"):
        actor_graph(tiny, kind="people")
    with pytest.raises(WorkbenchError, match="would have 7 nodes, more than max_nodes=3"):
        actor_graph(tiny, max_nodes=3)


def test_ego_network_and_shortest_paths(tiny):
    graph = actor_graph(tiny)
    assert set(ego_network(graph, A)) == {A, B}
    assert set(ego_network(graph, A, radius=2)) == {A, B, C}
    assert shortest_paths(graph, A, C) == [[A, B, C]]
    assert shortest_paths(graph, A, D) == []  # different NGOs' actors are not linked
    square = nx.cycle_graph(["w", "x", "y", "z"])
    assert sorted(shortest_paths(square, "w", "y")) == [["w", "x", "y"], ["w", "z", "y"]]
    assert len(shortest_paths(square, "w", "y", k=1)) == 1


def test_unknown_node_is_named_in_the_error(tiny):
    graph = actor_graph(tiny)
    with pytest.raises(WorkbenchError, match=r"node 'ONE/X' is not in the graph \(7 nodes\).*did you mean"):
        ego_network(graph, "ONE/X")
    with pytest.raises(WorkbenchError, match="node 'nobody' is not in the graph"):
        shortest_paths(graph, A, "nobody")


def test_gexf_and_graphml_round_trip(tiny, tmp_path):
    for kind in graphs.KINDS:
        graph = actor_graph(tiny, kind=kind)
        for suffix, read in ((".gexf", nx.read_gexf), (".graphml", nx.read_graphml)):
            back = read(export_graph(graph, tmp_path / f"{kind}{suffix}"))
            assert set(back) == set(graph), (kind, suffix)
            assert weights(back) == weights(graph), (kind, suffix)
            assert back.nodes[A]["name_ar"] == "لواء ألفا"
        if kind == "actor_incident_place":  # lists became text, since both formats hold scalars only
            assert back.nodes["incident:ONE/I-2"]["violation_types"] == "torture_ill_treatment"
    assert actor_graph(tiny).nodes[A]  # the caller's graph is not changed by exporting it


def test_unknown_suffix_lists_the_supported_ones(tiny, tmp_path):
    with pytest.raises(WorkbenchError, match=r"\.gexf, \.graphml, \.html"):
        export_graph(actor_graph(tiny), tmp_path / "graph.png")


def test_html_export_is_self_contained_and_renders_offline(tiny, tmp_path):
    graph = actor_graph(tiny)
    graph.add_node("trap", label='</script><img src="http://example.org/x.png">')  # must stay text
    page = export_graph(graph, tmp_path / "graph.html")
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|<link\b|@import|url\(\s*["']?https?:""", html, re.I)
    assert "<img" not in html and "Alpha Brigade" in html
    shown = render(page, tmp_path / "shots")
    assert shown.failed_requests() == []
    assert "<canvas" in shown.dom
    assert shown.ink() > 0


def test_html_refuses_a_graph_too_big_to_use(monkeypatch, tmp_path):
    monkeypatch.setattr(graphs, "HTML_MAX_NODES", 2)
    with pytest.raises(WorkbenchError, match="export .gexf for Gephi"):
        export_graph(nx.path_graph(["a", "b", "c"]), tmp_path / "big.html")


def test_no_pseudonym_reaches_any_export(synthetic, tmp_path):
    db, _ = synthetic
    with open_store(db, read_only=True) as store:
        pseudonyms = [p for (p,) in store.con.execute("SELECT DISTINCT pseudonym FROM active.persons WHERE pseudonym IS NOT NULL").fetchall()]
        assert len(pseudonyms) > 50
        texts = []
        for kind in graphs.KINDS:
            graph = actor_graph(store, kind=kind)
            assert graph.number_of_nodes() > 10
            assert {d["kind"] for _, d in graph.nodes(data=True)} <= {"actor", "incident", "place"}
            texts += [export_graph(graph, tmp_path / f"{kind}{suffix}").read_text(encoding="utf-8") for suffix in graphs.EXPORT_SUFFIXES]
    for text in texts:
        assert not [p for p in pseudonyms if p in text]


def test_graph_widget_builds_an_ipysigma_view(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        widget = graph_widget(actor_graph(tiny))
    assert type(widget).__name__ == "Sigma"
    assert widget.data["nodes"] and len(widget.data["nodes"]) == 7


def test_the_examples_in_the_docstrings_run():
    assert doctest.testmod(graphs, raise_on_error=False).failed == 0
