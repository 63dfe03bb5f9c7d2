"""The review widget: uncertain pairs and clusters side by side, with Accept, Reject and Split.

The queries and decisions it uses are in :mod:`workbench.linkage.review`; this module only draws
them (every value escaped) and turns clicks into those calls.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import polars as pl

from workbench.errors import WorkbenchError
from workbench.linkage.clusters import ENTITIES, split_cluster
from workbench.linkage.review import (FIELDS, check_entity, latest_run_summary, accept_records, pair_evidence, pairs_within, recluster,
                                      reject_records, review_records, uncertain_clusters, uncertain_pairs)
from workbench.linkage.run import LinkRun
from workbench.store import Store

ERROR_STYLE = "color:#a12a2a"


def _cell(value: Any) -> str:
    if value is None:
        return "<span style='color:#888'>–</span>"
    if isinstance(value, list):
        return html.escape(", ".join(str(v) for v in value)) if value else "<span style='color:#888'>–</span>"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(str(value))


def records_html(entity: str, records: pl.DataFrame, missing: list[str] | None = None) -> str:
    """The records side by side (one column each), rows where they differ shaded; only :data:`FIELDS` are shown."""
    rows = []
    data = records.to_dicts()
    for name, label in FIELDS[entity]:
        values = [r.get(name) for r in data]
        differ = name not in ("ngo_id", "incident_id", "person_id", "narrative", "title") and len({repr(v) for v in values}) > 1
        shade = " style='background:#fff3d6'" if differ else ""
        rows.append(f"<tr{shade}><th style='text-align:left;vertical-align:top'>{html.escape(label)}</th>"
                    + "".join(f"<td style='vertical-align:top;max-width:28em'>{_cell(v)}</td>" for v in values) + "</tr>")
    head = "<tr><th></th>" + "".join(f"<th style='text-align:left'>{html.escape(r['record_id'])}</th>" for r in data) + "</tr>"
    gone = (f"<p><i>No longer among the current records: {html.escape(', '.join(missing))}</i></p>" if missing else "")
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>{gone}"


def evidence_html(evidence: pl.DataFrame) -> str:
    """Per comparison, the level and the weight it added (green for, red against)."""
    if evidence.is_empty():
        return "<p><i>This pair was not scored in the latest run (its records were never compared).</i></p>"
    rows = []
    for r in evidence.iter_rows(named=True):
        w = r["weight"]
        colour = "#2a7a2a" if w is not None and w > 0 else "#a12a2a" if w is not None and w < 0 else "#555"
        weight = "–" if w is None else f"{w:+.2f}"
        rows.append(f"<tr><td>{html.escape(r['comparison'])}</td><td>{_cell(r['level'])}</td>"
                    f"<td style='text-align:right;color:{colour}'>{weight}</td></tr>")
    return ("<table><thead><tr><th>comparison</th><th>level</th><th>weight (bits)</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _error_html(exc: Exception) -> str:
    return f"<p style='{ERROR_STYLE}'>{html.escape(str(exc))}</p>"


def _probability(p: float | None) -> str:
    return "–" if p is None else f"{p:.4f}"


class ReviewWidget(widgets.VBox):
    """Uncertain pairs or clusters one at a time, with Accept / Reject / Split and Re-cluster now.

    The controls are attributes, and :meth:`accept`, :meth:`reject`, :meth:`split` and
    :meth:`recluster` do what the buttons do, so that code (and the tests) can drive it.
    """

    def __init__(self, store: Store, entity: str = "incidents", *, limit: int = 50):
        check_entity(entity)
        self._store = store
        self.limit = limit
        self.page = 0
        self.position = 0
        self.items: pl.DataFrame = pl.DataFrame()
        self.entity = widgets.ToggleButtons(options=list(ENTITIES), value=entity, description="Records")
        self.mode = widgets.ToggleButtons(options=[("Pairs", "pairs"), ("Clusters", "clusters")], value="pairs", description="Review")
        self.previous_button = widgets.Button(description="Previous", icon="arrow-left")
        self.next_button = widgets.Button(description="Next", icon="arrow-right")
        self.where = widgets.HTML()
        self.parts = widgets.SelectMultiple(options=[], description="Split off", rows=4, layout=widgets.Layout(width="32em"))
        self.reason = widgets.Text(placeholder="why (stored with the decision)", description="Reason", layout=widgets.Layout(width="40em"))
        writable = not store.read_only
        self.accept_button = widgets.Button(description="Accept", button_style="success", icon="check", disabled=not writable,
                                            tooltip="These records are the same incident or person")
        self.reject_button = widgets.Button(description="Reject", button_style="danger", icon="times", disabled=not writable,
                                            tooltip="None of these records is the same as another")
        self.split_button = widgets.Button(description="Split", button_style="warning", icon="cut", disabled=not writable,
                                           tooltip="The records chosen under 'Split off' go apart from the others")
        self.recluster_button = widgets.Button(description="Re-cluster now", icon="refresh", disabled=not writable,
                                               tooltip="Run the linkage again with the stored model, so that decisions take effect")
        # HTML widgets, not Output captures: a notebook run headless (the tests) shows them like any value
        self.header, self.item_view, self.status = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self.status.value = ("<p>Decisions are stored at once, with who, when and why; they take effect at the next linkage run "
                             "(<i>Re-cluster now</i>, or <code>workbench link</code>).</p>" if writable else
                             "<p>The store is open read-only: review only. Open it for writing to record decisions.</p>")
        self.entity.observe(lambda _: self.reload(), names="value")
        self.mode.observe(lambda _: self.reload(), names="value")
        self.previous_button.on_click(lambda _: self.move(-1))
        self.next_button.on_click(lambda _: self.move(+1))
        self.accept_button.on_click(lambda _: self.accept())
        self.reject_button.on_click(lambda _: self.reject())
        self.split_button.on_click(lambda _: self.split())
        self.recluster_button.on_click(lambda _: self.recluster())
        super().__init__([
            widgets.HBox([self.entity, self.mode]), self.header,
            widgets.HBox([self.previous_button, self.next_button, self.where]), self.item_view,
            self.parts, self.reason,
            widgets.HBox([self.accept_button, self.reject_button, self.split_button, self.recluster_button]), self.status,
        ])
        self.reload()

    # -- what is shown --------------------------------------------------------------------
    def reload(self, *, page: int = 0) -> None:
        """Fetch a page of the least certain items (pairs without a decision, or clusters) and show the first."""
        entity = self.entity.value
        try:
            if self.mode.value == "pairs":
                self.items = uncertain_pairs(self._store, entity, limit=self.limit, offset=page * self.limit)
            else:
                self.items = uncertain_clusters(self._store, entity, limit=self.limit, offset=page * self.limit)
        except WorkbenchError as exc:
            self.items = pl.DataFrame()
            self.header.value = _error_html(exc)
            return
        self.page, self.position = page, 0
        run = latest_run_summary(self._store, entity)
        if run is None:
            self.header.value = (f"<p>No linkage run yet for {html.escape(entity)}: run <code>link_all(store)</code> "
                                 "(or <code>workbench link</code>) first.</p>")
        else:
            what = "pairs without a decision, closest to the match threshold first" if self.mode.value == "pairs" else \
                "clusters of two or more records, the weakest link first"
            self.header.value = (f"<p>{html.escape(entity.capitalize())}, model <code>{html.escape(run[0])}</code>, match threshold "
                                 f"{run[1]:g}: {html.escape(what)}.</p>")
        self.show()

    def current_records(self) -> list[str]:
        """The record ids of the item shown (two for a pair), or none."""
        if self.items.is_empty() or self.position >= self.items.height:
            return []
        row = self.items.row(self.position, named=True)
        return [row["id_l"], row["id_r"]] if "id_l" in row else list(row["record_ids"])

    def move(self, step: int) -> None:
        """The next (``+1``) or previous (``-1``) item, across pages."""
        target = self.position + step
        if 0 <= target < self.items.height:
            self.position = target
            self.show()
        elif target >= self.items.height and self.items.height == self.limit:
            self.reload(page=self.page + 1)
        elif target < 0 and self.page > 0:
            self.reload(page=self.page - 1)
            self.position = max(self.items.height - 1, 0)
            self.show()

    def show(self) -> None:
        """Render the current item: its records side by side, the evidence, and the choices for a split."""
        ids = self.current_records()
        self.previous_button.disabled = self.position == 0 and self.page == 0
        self.next_button.disabled = self.position >= self.items.height - 1 and self.items.height < self.limit
        if not ids:
            self.where.value = ""
            self.item_view.value = "<p><i>Nothing to review here.</i></p>"
            self.parts.options = []
            return
        first = self.page * self.limit + 1
        self.where.value = (f"item {first + self.position} (page {self.page + 1}, items {first}–{first + self.items.height - 1})")
        self.parts.options = ids
        self.parts.value = ()
        try:
            self.item_view.value = self._item_html(ids)
        except WorkbenchError as exc:
            self.item_view.value = _error_html(exc)

    def _item_html(self, ids: list[str]) -> str:
        entity = self.entity.value
        records = review_records(self._store, entity, ids)
        missing = [i for i in ids if i not in set(records["record_id"])]
        row = self.items.row(self.position, named=True)
        if "id_l" in row:
            side = "above" if row["above_threshold"] else "below"
            where = ("in the same cluster" if row["same_cluster"] else "in different clusters")
            head = (f"<p><b>Match probability {_probability(row['match_probability'])}</b> ({side} the threshold; now {where})"
                    + (f"; decision so far: <b>{html.escape(row['decision'])}</b>" if row["decision"] else "") + "</p>")
            evidence = "<h5>Evidence</h5>" + evidence_html(pair_evidence(self._store, entity, row["id_l"], row["id_r"]))
        else:
            head = (f"<p><b>Cluster {html.escape(row['cluster_id'])}</b>: {row['records']} records from {row['ngos']} NGOs; "
                    f"weakest scored link {_probability(row['weakest_link'])}</p>")
            evidence = "<h5>Scored pairs inside the cluster</h5>" + self._pairs_html(ids)
        return head + records_html(entity, records, missing) + evidence

    def _pairs_html(self, ids: list[str]) -> str:
        pairs = pairs_within(self._store, self.entity.value, ids)
        if pairs.is_empty():
            return "<p><i>No pair inside this cluster was scored (it was joined by decisions).</i></p>"
        rows = []
        for a, b, p, decision in pairs.iter_rows():
            levels = pair_evidence(self._store, self.entity.value, a, b).filter(pl.col("comparison") != "prior")
            said = "; ".join(f"{c}: {lv or '?'} ({'–' if w is None else f'{w:+.1f}'})" for c, w, lv in levels.iter_rows())
            rows.append(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td style='text-align:right'>{_probability(p)}</td>"
                        f"<td>{_cell(decision)}</td><td><small>{html.escape(said)}</small></td></tr>")
        return ("<table><thead><tr><th>record</th><th>record</th><th>probability</th><th>decision</th><th>evidence</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    # -- decisions ------------------------------------------------------------------------
    def _decide(self, action: str) -> int | None:
        try:
            ids = self.current_records()
            if not ids:
                raise WorkbenchError("nothing to decide on: no pair or cluster is shown")
            reason = self.reason.value.strip()
            if not reason:
                raise WorkbenchError("write why in 'Reason' first: it is stored with the decision for the next analyst")
            if self._store.read_only:
                raise WorkbenchError("the store is open read-only; open it for writing to record decisions")
            entity = self.entity.value
            if action == "accept":
                stored = accept_records(self._store, entity, ids, reason=reason)
            elif action == "reject":
                stored = reject_records(self._store, entity, ids, reason=reason)
            else:
                part = list(self.parts.value)
                if not part or len(part) == len(ids):
                    raise WorkbenchError("choose under 'Split off' the records that go apart (some, not all)")
                stored = split_cluster(self._store, entity, part, [i for i in ids if i not in part], reason=reason)
        except WorkbenchError as exc:
            self.status.value = _error_html(exc)
            return None
        self.status.value = (f"<p><b>Stored</b>: {html.escape(action)} of {html.escape(', '.join(ids))} "
                             f"({stored} pair decision{'s' if stored != 1 else ''}, by {html.escape(self._store.user)}). "
                             "It takes effect at the next linkage run: press <i>Re-cluster now</i>.</p>")
        self.reason.value = ""
        self.show_decided(action)
        return stored

    def show_decided(self, action: str) -> None:
        """Mark the current item as decided (the list itself changes at the next reload)."""
        self.item_view.value = f"<p style='color:#2a7a2a'><b>Decided: {html.escape(action)}</b></p>" + self.item_view.value

    def accept(self) -> int | None:
        """Accept the records shown as the same; returns the decisions stored (None on an error, shown in the widget)."""
        return self._decide("accept")

    def reject(self) -> int | None:
        """Reject the records shown as a match (every pair among them)."""
        return self._decide("reject")

    def split(self) -> int | None:
        """Split the records chosen under 'Split off' from the others shown."""
        return self._decide("split")

    def recluster(self) -> LinkRun | None:
        """Run the linkage of the entity shown again with its stored model, and reload the list."""
        try:
            run = recluster(self._store, self.entity.value)
        except WorkbenchError as exc:
            self.status.value = _error_html(exc)
            return None
        note = (" Persons are compared within linked incidents: re-cluster persons too."
                if run.entity == "incidents" else "")
        self.reload()
        self.status.value = (f"<p><b>Re-clustered {html.escape(run.entity)}</b> with the stored model: {run.records} records, "
                             f"{run.multi_record_clusters} clusters of two or more ({run.clusters} in all).{html.escape(note)}</p>"
                             + "".join(f"<p><small>{html.escape(n)}</small></p>" for n in run.notes if "rejected" in n))
        return run


def review_widget(store: Store, entity: str = "incidents", *, limit: int = 50) -> ReviewWidget:
    """Review the linkage: the least certain pairs (or clusters) first, with Accept, Reject and Split.

    ``limit`` items are fetched per page. Decisions are stored at once (who is ``store.user``) and
    take effect at the next run, which *Re-cluster now* starts with the stored model.
    """
    return ReviewWidget(store, entity, limit=limit)
