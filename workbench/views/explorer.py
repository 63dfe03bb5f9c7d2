"""The explorer: one set of filters driving the map, the actor graph, the timeline and a table.

Selecting an incident in the table shows its record, its sources and where it came from
(submission, file, row). Persons are never listed: only how many are linked.

>>> from workbench.store import open_store
>>> with open_store("workbench.duckdb", read_only=True) as store:  # doctest: +SKIP
...     explorer = Explorer(store)
...     explorer.widget  # in a notebook cell
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import polars as pl

from workbench.errors import WorkbenchError
from workbench.linkage.persons import already_heard
from workbench.store import Store
from workbench.views.graphs import actor_graph, graph_metrics
from workbench.views.maps import incident_map
from workbench.views.selection import Selection, selected_incidents
from workbench.views.timeline import timeline_figure, timeline_frame

TABLE_ROWS = 500
#: What the table shows of an incident: never the narrative (it is in the record view) nor persons.
TABLE_COLUMNS = "i.ngo_id, i.incident_id, i.date_start, i.date_precision, i.place, i.geo_precision, i.violation_types, i.killed, i.injured"


def incident_table(store: Store, selection: Selection, limit: int = TABLE_ROWS) -> pl.DataFrame:
    """The selected incidents, newest first, at most ``limit`` of them."""
    return store.frame(f"{selected_incidents(selection, store, TABLE_COLUMNS)} ORDER BY i.date_start DESC, i.ngo_id, i.incident_id LIMIT {int(limit)}")


def incident_record(store: Store, ngo_id: str, incident_id: str) -> dict[str, Any]:
    """One incident with its sources, its actors, how many persons are linked (and how many were already
    heard), the same incident in other NGOs' records (linkage), and its provenance."""
    record = store.con.execute(
        "SELECT i.*, s.submission_ref, s.received_at, s.package_sha256 FROM active.incidents i JOIN submissions s USING (submission_id) "
        "WHERE i.ngo_id = ? AND i.incident_id = ?", [ngo_id, incident_id]).pl().to_dicts()
    if not record:
        raise WorkbenchError(f"no current incident {incident_id!r} of NGO {ngo_id!r}")
    sources = store.frame("SELECT source_id, source_type, description, media_sha256, capture_date, url, source_file, source_row "
                          "FROM active.sources WHERE ngo_id = ? AND incident_id = ? ORDER BY source_id", [ngo_id, incident_id])
    actors = store.frame("SELECT a.actor_id, a.name, a.actor_type, ia.role FROM active.incident_actors ia "
                         "JOIN active.actors a ON a.ngo_id = ia.ngo_id AND a.actor_id = ia.actor_id "
                         "WHERE ia.ngo_id = ? AND ia.incident_id = ? ORDER BY a.actor_id", [ngo_id, incident_id])
    persons = store.con.execute("SELECT count(*) FROM active.incident_persons WHERE ngo_id = ? AND incident_id = ?",
                                [ngo_id, incident_id]).fetchone()[0]
    heard = already_heard(store)
    linked = store.frame("SELECT person_id FROM active.incident_persons WHERE ngo_id = ? AND incident_id = ?", [ngo_id, incident_id])
    persons_heard = int(heard.filter(pl.col("ngo_id") == ngo_id).join(linked, on="person_id")["already_heard"].sum() or 0)
    # the same incident in other NGOs' records, from the latest linkage run
    also = store.frame("""SELECT o.record_id FROM link_clusters c JOIN link_clusters o ON o.entity = c.entity AND o.cluster_id = c.cluster_id
                          WHERE c.entity = 'incidents' AND c.ngo_id = ? AND c.local_id = ? AND o.record_id <> c.record_id
                          ORDER BY o.record_id""", [ngo_id, incident_id])["record_id"].to_list()
    row = record[0]
    provenance = {k: row.pop(k) for k in ("submission_id", "submission_ref", "received_at", "package_sha256", "source_file", "source_row")}
    row.pop("row_hash", None)
    return {"incident": row, "sources": sources, "actors": actors, "persons_linked": persons, "persons_already_heard": persons_heard,
            "also_documented_as": also, "provenance": provenance}


def _framed(page: str, height: int) -> str:
    """A whole HTML page in a frame of its own, so its scripts and styles stay inside it."""
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{height}px;border:none" '
            'sandbox="allow-scripts"></iframe>')


class Explorer:
    """Filters (NGO, period, violation, governorate, actor, text) that drive every view together."""

    def __init__(self, store: Store):
        self.store = store
        self.selection = Selection()
        con = store.con
        vocabulary = store.contracts.vocabulary("violation_types")
        self.ngo = widgets.SelectMultiple(options=[r[0] for r in con.execute("SELECT DISTINCT ngo_id FROM active.incidents ORDER BY 1").fetchall()],
                                          description="NGO", rows=4)
        self.violation = widgets.SelectMultiple(options=[(t.label["en"], t.code) for t in vocabulary.terms], description="Violation", rows=6)
        self.governorate = widgets.SelectMultiple(
            options=[(name, code) for code, name in con.execute(
                "SELECT place_id, name_en FROM gazetteer_places WHERE level = 'governorate' ORDER BY name_en").fetchall()],
            description="Governorate", rows=6)
        self.actor = widgets.SelectMultiple(
            options=[(f"{name} ({ngo})", actor) for ngo, actor, name in con.execute(
                "SELECT ngo_id, actor_id, name FROM active.actors ORDER BY name, ngo_id").fetchall()],
            description="Actor", rows=6)
        self.period = widgets.Text(placeholder="2014, 2014-Q2, 2014-03…", description="Period")
        self.text = widgets.Text(placeholder="words in title or narrative", description="Text")
        self.apply_button = widgets.Button(description="Apply", button_style="primary", icon="filter")
        self.status = widgets.HTML()
        self.table = widgets.Select(options=[], rows=12, layout=widgets.Layout(width="100%"))
        self.record = widgets.HTML()
        # HTML widgets, not Output captures: the views are whole pages in frames, which a notebook run
        # headless (nbclient, the tests) handles like any other value, and which the tests can read
        self.map_view, self.graph_view, self.timeline_view = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self.apply_button.on_click(lambda _: self.apply(self.selection_from_filters()))
        self.table.observe(self._on_pick, names="value")
        tabs = widgets.Tab(children=[self.map_view, self.graph_view, self.timeline_view,
                                     widgets.VBox([self.table, self.record])])
        for i, title in enumerate(("Map", "Actor network", "Timeline", "Incidents")):
            tabs.set_title(i, title)
        filters = widgets.VBox([widgets.HBox([self.ngo, self.violation, self.governorate, self.actor]),
                                widgets.HBox([self.period, self.text, self.apply_button]), self.status])
        self.widget = widgets.VBox([filters, tabs])
        self.counts: dict[str, int] = {}

    def selection_from_filters(self) -> Selection:
        return Selection.parse(ngos=self.ngo.value, period=self.period.value.strip() or None, violation_types=self.violation.value,
                               governorates=self.governorate.value, actors=self.actor.value, text=self.text.value)

    def apply(self, selection: Selection) -> None:
        """Show ``selection`` in every view (what the Apply button does)."""
        self.selection = selection
        store = self.store
        total = store.con.execute(selected_incidents(selection, store, "count(*)")).fetchone()[0]
        table = incident_table(store, selection)
        self.table.options = [(f"{r['date_start']}  {r['ngo_id']}/{r['incident_id']}  {r['place'] or '–'}  {', '.join(r['violation_types'] or [])}",
                               (r["ngo_id"], r["incident_id"])) for r in table.iter_rows(named=True)]
        graph = actor_graph(store, selection)
        frame = timeline_frame(store, selection)
        self.counts = {"incidents": total, "table_rows": table.height, "graph_nodes": graph.number_of_nodes(),
                       "graph_edges": graph.number_of_edges(), "timeline_rows": frame.height}
        self.status.value = (f"<b>{total:,}</b> incidents ({html.escape(selection.describe())}); "
                             f"table shows {table.height:,}; network {graph.number_of_nodes():,} actors, {graph.number_of_edges():,} links")
        self.map_view.value = _framed(incident_map(store, selection).get_root().render(), height=560)
        metrics = graph_metrics(graph)
        self.graph_view.value = (metrics.sort("weighted_degree", descending=True).head(25).drop("node").to_pandas().to_html(index=False)
                                 if metrics.height else "<p>No actor is linked to the selected incidents.</p>")
        self.timeline_view.value = _framed(timeline_figure(frame).to_html(include_plotlyjs=True, full_html=True), height=520)

    def _on_pick(self, change) -> None:
        if change["new"]:
            self.show_incident(*change["new"])

    def show_incident(self, ngo_id: str, incident_id: str) -> dict[str, Any]:
        """Show one incident's record, sources, actors and provenance below the table."""
        found = incident_record(self.store, ngo_id, incident_id)
        incident, provenance = found["incident"], found["provenance"]
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in incident.items() if v is not None)
        origin = (f"submission {provenance['submission_id']} ({html.escape(str(provenance['submission_ref']))}, received "
                  f"{provenance['received_at']:%Y-%m-%d}), file {html.escape(str(provenance['source_file']))}, row {provenance['source_row']}")
        sources = "".join(f"<li>{html.escape(str(s['source_type']))}: {html.escape(str(s['description'] or ''))} "
                          f"{'sha256 ' + s['media_sha256'][:12] + '…' if s['media_sha256'] else ''} "
                          f"<small>({html.escape(str(s['source_file']))} row {s['source_row']})</small></li>"
                          for s in found["sources"].iter_rows(named=True))
        actors = ", ".join(f"{html.escape(a['name'])} ({a['role']})" for a in found["actors"].iter_rows(named=True))
        self.record.value = (f"<h4>{html.escape(ngo_id)}/{html.escape(incident_id)}</h4><p><b>From</b> {origin}</p>"
                             f"<table>{rows}</table><p><b>Actors</b>: {actors or '–'}</p>"
                             f"<p><b>Persons linked</b>: {found['persons_linked']} (not shown here)"
                             + (f", of whom {found['persons_already_heard']} already heard (an account given, or in the records of "
                                "several NGOs): plan interviews with care" if found["persons_already_heard"] else "") + "</p>"
                             + (f"<p><b>Also documented as</b>: {html.escape(', '.join(found['also_documented_as']))}</p>"
                                if found["also_documented_as"] else "")
                             + f"<ul>{sources or '<li>no source</li>'}</ul>")
        return found
