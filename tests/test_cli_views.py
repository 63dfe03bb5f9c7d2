"""`workbench map`, `graph` and `timeline`: files that open offline, the same filters, clear errors."""

from __future__ import annotations

import re
import shutil

import networkx as nx
import pytest
from typer.testing import CliRunner

from workbench.cli import app

runner = CliRunner()
REMOTE = re.compile(r"""<script[^>]+src\s*=\s*["']https?://|<link[^>]+href\s*=\s*["']https?://""")


@pytest.fixture(scope="module")
def db(synthetic, tmp_path_factory):
    copy = tmp_path_factory.mktemp("cli-views") / "store.duckdb"
    shutil.copy(synthetic[0], copy)
    return copy


def _run(db, *arguments):
    return runner.invoke(app, [*arguments, "--db", str(db)])


def test_map_graph_and_timeline_files_open_offline(db, tmp_path):
    for command, name in (("map", "map.html"), ("timeline", "timeline.html"), ("graph", "actors.html")):
        result = _run(db, command, "--out", str(tmp_path / name), "--ngo", "ALPHA", "--period", "2013")
        assert result.exit_code == 0, result.output
        page = (tmp_path / name).read_text(encoding="utf-8")
        assert not REMOTE.search(page), command
        assert "NGO ALPHA; period 2013" in result.output


def test_graph_exports_carry_the_metrics(db, tmp_path):
    result = _run(db, "graph", "--out", str(tmp_path / "actors.gexf"), "--ngo", "ALPHA")
    assert result.exit_code == 0, result.output
    graph = nx.read_gexf(tmp_path / "actors.gexf")
    assert graph.number_of_nodes() > 0
    some = next(iter(graph.nodes(data=True)))[1]
    assert {"degree", "betweenness", "community"} <= set(some)
    assert all(node.startswith("ALPHA/") for node in graph.nodes)
    result = _run(db, "graph", "--out", str(tmp_path / "actors.graphml"), "--kind", "actor_incident_place", "--ngo", "ZETA")
    assert result.exit_code == 0, result.output
    assert nx.read_graphml(tmp_path / "actors.graphml").number_of_nodes() > 0


def test_filters_narrow_what_is_drawn(db, tmp_path):
    _run(db, "graph", "--out", str(tmp_path / "all.gexf"))
    _run(db, "graph", "--out", str(tmp_path / "one.gexf"), "--ngo", "ZETA")
    assert nx.read_gexf(tmp_path / "one.gexf").number_of_nodes() < nx.read_gexf(tmp_path / "all.gexf").number_of_nodes()
    result = _run(db, "timeline", "--out", str(tmp_path / "t.html"), "--text", "shelling")
    assert result.exit_code == 0, result.output
    assert "text 'shelling'" in result.output


@pytest.mark.parametrize("arguments, message", [
    (["map", "--period", "2013-Q7"], "period '2013-Q7' is not understood"),
    (["map", "--boundaries", "no/such/file.geojson"], "no/such/file.geojson"),
    (["graph", "--kind", "friendship"], "friendship"),
    (["timeline", "--by", "colour"], "colour"),
    (["map", "--text", " ;; "], "holds no word"),
])
def test_bad_requests_are_clear_errors(db, tmp_path, arguments, message):
    command, *rest = arguments
    suffix = ".gexf" if command == "graph" else ".html"
    result = _run(db, command, "--out", str(tmp_path / f"out{suffix}"), *rest)
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output


def test_an_unknown_graph_format_is_refused(db, tmp_path):
    result = _run(db, "graph", "--out", str(tmp_path / "actors.png"))
    assert result.exit_code == 2 and ".gexf" in result.output, result.output
