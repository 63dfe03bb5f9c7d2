"""A case file in a notebook: choose an authority and a selection, see what would go, then write it.

The preview runs again whenever the authority, a filter or the decision day changes (text fields
when Enter is pressed or they lose focus), and on its button, for terms changed since (an agreement
recorded in another cell). It shows counts and reasons only, never a record's content. Nothing is
written until "Write case file" is pressed; writing needs the store open for writing, because a
case file is logged in it. Errors are shown in the widget, never raised into the notebook.

>>> from workbench.store import open_store
>>> store = open_store("workbench.duckdb")  # doctest: +SKIP
>>> casefile_widget(store, out_root=Path("build/casefiles"))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import polars as pl

from workbench.casefile.package import RECORD_TYPES, CaseFile, Plan, preview, write_casefile
from workbench.disclosure import authority_key, submission_terms
from workbench.errors import WorkbenchError
from workbench.sql import sql_literal
from workbench.store import Store
from workbench.views.selection import Selection

ERROR_STYLE = "color:#a12a2a"


def authority_names(store: Store) -> list[str]:
    """The authorities named in the current submissions' terms, one name per authority, by code."""
    names: dict[str, str] = {}
    for terms in submission_terms(store).values():
        for term in terms.authorities:
            names.setdefault(term.key, term.name)  # the first spelling met stands for the authority
    return [names[key] for key in sorted(names)]


def preview_by_ngo(store: Store, authority: str, selection: Selection = Selection(), *, on: date | None = None) -> tuple[Plan, pl.DataFrame]:
    """:func:`~workbench.casefile.preview` and, per NGO and record type, how many would be disclosed and withheld."""
    plan = preview(store, authority, selection, on=on)
    return plan, staged_counts_by_ngo(store)


def staged_counts_by_ngo(store: Store) -> pl.DataFrame:
    """ngo_id, record_type, disclosed, withheld of the records last staged on this connection (a preview or a write)."""
    return store.frame(" UNION ALL ".join(
        f"SELECT ngo_id, {sql_literal(t)} AS record_type, {n} AS position, count(*) FILTER (WHERE reason IS NULL) AS disclosed, "
        f"count(*) FILTER (WHERE reason IS NOT NULL) AS withheld FROM cf_{t} GROUP BY ngo_id" for n, t in enumerate(RECORD_TYPES))
        + " ORDER BY ngo_id, position").drop("position")


def folder_name(authority: str, at: datetime | None = None) -> str:
    """A folder name for a case file: the authority's code (letters, digits, dashes) and the UTC time.

    >>> folder_name("DE-GBA (Federal Prosecutor, Germany)", datetime(2025, 3, 1, 9, 30, 5))
    'de-gba-20250301T093005Z'
    """
    at = at or datetime.now(timezone.utc)
    code = re.sub(r"[^a-z0-9-]+", "_", authority_key(authority)).strip("_") or "authority"
    return f"{code}-{at:%Y%m%dT%H%M%SZ}"


def _number(value: Any) -> str:
    return f"{int(value):,}"


def _table(header: list[str] | None, rows: list[list[str]], *, numeric: range = range(1, 99)) -> str:
    """An HTML table of already-escaped cells; the ``numeric`` columns are right-aligned."""
    right = " style='text-align:right'"

    def cells(tag: str, values: list[str]) -> str:
        return "".join(f"<{tag}{right if i in numeric else ''}>{v}</{tag}>" for i, v in enumerate(values))

    head = f"<thead><tr>{cells('th', header)}</tr></thead>" if header else ""
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def plan_html(plan: Plan, by_ngo: pl.DataFrame | None = None) -> str:
    """What a case file would disclose and withhold, as counts and reasons (never content), as HTML."""
    e = html.escape
    head = (f"<h4>{e(plan.authority)} <small>(code {e(authority_key(plan.authority))})</small></h4>"
            f"<p>Decided on {e(plan.on.isoformat())}; selection: {e(plan.selection.describe())}.</p>")
    counts = _table(["record type", "disclosed", "withheld"],
                    [[e(r["record_type"]), _number(r["disclosed"]), _number(r["withheld"])] for r in plan.counts.iter_rows(named=True)])
    withheld = plan.withheld_by_reason()
    if withheld.height:
        by_reason = withheld.pivot(on="record_type", index=["reason", "explanation"], values="records")
        types = [t for t in RECORD_TYPES if t in by_reason.columns]
        by_reason = by_reason.sort(pl.sum_horizontal(types), "reason", descending=[True, False])
        reasons = _table(["reason", "why", *types],
                         [[e(r["reason"]), e(r["explanation"]), *(_number(r[t] or 0) for t in types)] for r in by_reason.iter_rows(named=True)],
                         numeric=range(2, 2 + len(types)))
    else:
        reasons = "<p>Nothing in the selection is withheld.</p>"
    parts = [head, counts, "<h5>Withheld, by reason (counts only)</h5>", reasons]
    if by_ngo is not None and by_ngo.height:
        parts += ["<h5>Per NGO: disclosed / withheld</h5>", _ngo_table(plan, by_ngo)]
    return "<div>" + "".join(parts) + "</div>"


def _ngo_table(plan: Plan, by_ngo: pl.DataFrame) -> str:
    e = html.escape
    cell = {(r["ngo_id"], r["record_type"]): f"{_number(r['disclosed'])} / {_number(r['withheld'])}" for r in by_ngo.iter_rows(named=True)}
    reasons = (plan.withheld.group_by("ngo_id", "reason").agg(pl.col("records").sum()).sort("ngo_id", "records", descending=[False, True])
               .group_by("ngo_id", maintain_order=True)
               .agg(pl.format("{} {}", "reason", pl.col("records").map_elements(_number, return_dtype=pl.String)).str.join(", ")))
    why = dict(reasons.iter_rows())
    ngos = by_ngo["ngo_id"].unique(maintain_order=True).to_list()
    return _table(["NGO", *RECORD_TYPES, "withheld records of all types, by reason"],
                  [[e(ngo), *(cell.get((ngo, t), "0 / 0") for t in RECORD_TYPES), e(why.get(ngo, "–"))] for ngo in ngos],
                  numeric=range(1, 1 + len(RECORD_TYPES)))


def written_html(written: CaseFile, entry_hash: str | None = None) -> str:
    """Where a case file was written, its id, manifest hash and custody-log entry, as HTML."""
    e = html.escape
    rows = [["folder", e(str(written.directory.resolve()))], ["case-file id", e(written.casefile_id)],
            ["manifest SHA-256", f"<code>{e(written.manifest_sha256)}</code>"],
            ["custody-log entry", f"{written.custody_seq}" + (f" (hash <code>{e(entry_hash)}</code>)" if entry_hash else "")],
            ["records disclosed", _number(written.plan.counts["disclosed"].sum())],
            ["records withheld", _number(written.plan.withheld_total())]]
    return "<p><b>Case file written.</b></p>" + _table(None, rows, numeric=range(0))


def error_html(exc: Exception) -> str:
    return f"<p style='{ERROR_STYLE}'>{html.escape(str(exc))}</p>"


class CaseFileWidget(widgets.VBox):
    """The controls, the preview and the write button; the controls are attributes so code can set them."""

    def __init__(self, store: Store, *, out_root: Path = Path("build/casefiles"), on: date | None = None):
        self._store = store
        self.out_root = Path(out_root)
        self.plan: Plan | None = None  # the last preview (or the plan of the last case file written)
        self.written: CaseFile | None = None
        con = store.con
        names = authority_names(store)
        self.authority = widgets.Combobox(options=names, value=names[0] if names else "", ensure_option=False, continuous_update=False,
                                          placeholder="an authority's code, e.g. DE-GBA", description="Authority",
                                          layout=widgets.Layout(width="36em"))
        self.ngo = widgets.SelectMultiple(
            options=[(f"{ngo} · {name}", ngo) for ngo, name in con.execute(
                "SELECT i.ngo_id, any_value(n.name) FROM active.incidents i LEFT JOIN ngos n USING (ngo_id) GROUP BY 1 ORDER BY 1").fetchall()],
            description="NGO", rows=6)
        self.violation = widgets.SelectMultiple(
            options=[(t.label["en"], t.code) for t in store.contracts.vocabulary("violation_types").terms], description="Violation", rows=6)
        self.governorate = widgets.SelectMultiple(
            options=[(name, code) for code, name in con.execute(
                "SELECT place_id, name_en FROM gazetteer_places WHERE level = 'governorate' ORDER BY name_en").fetchall()],
            description="Governorate", rows=6)
        self.period = widgets.Text(placeholder="2014, 2014-Q2, 2014-03, 2014-01-01..2014-06-30", description="Period", continuous_update=False)
        self.text = widgets.Text(placeholder="words in title or narrative", description="Text", continuous_update=False)
        self.day = widgets.DatePicker(value=on or datetime.now(timezone.utc).date(), description="Decided on")
        self.pdf = widgets.Checkbox(value=True, description="PDF index")
        self.interactive = widgets.Checkbox(value=True, description="offline map and timeline")
        self.xlsx = widgets.Checkbox(value=False, description="XLSX workbook")
        self.preview_button = widgets.Button(description="Preview", icon="eye", tooltip="Preview again (terms may have changed since)")
        self.write_button = widgets.Button(description="Write case file", button_style="primary", icon="file",
                                           disabled=store.read_only)
        # HTML widgets, not Output captures: a notebook run headless (the tests) shows them like any value
        self.plan_view, self.status = widgets.HTML(), widgets.HTML()
        if store.read_only:
            self.status.value = "<p>The store is open read-only: preview only. Open it for writing to write a case file (it is logged).</p>"
        for control in (self.authority, self.ngo, self.violation, self.governorate, self.period, self.text, self.day):
            control.observe(lambda _: self.refresh(), names="value")
        self.preview_button.on_click(lambda _: self.refresh())
        self.write_button.on_click(lambda _: self.write())
        super().__init__([
            widgets.HBox([self.authority, self.day, self.preview_button]),
            widgets.HBox([self.ngo, self.violation, self.governorate]),
            widgets.HBox([self.period, self.text]),
            widgets.HBox([self.pdf, self.interactive, self.xlsx, self.write_button]),
            self.status, self.plan_view,
        ])
        self.refresh()

    def selection_from_filters(self) -> Selection:
        return Selection.parse(ngos=self.ngo.value, period=self.period.value.strip() or None, violation_types=self.violation.value,
                               governorates=self.governorate.value, text=self.text.value)

    def _chosen_authority(self) -> str:
        authority = self.authority.value.strip()
        if not authority:
            raise WorkbenchError("choose or type an authority first (its code, such as DE-GBA)")
        return authority

    def refresh(self) -> Plan | None:
        """Preview the case file the controls describe (writes nothing); show an error instead if there is one."""
        try:
            plan, by_ngo = preview_by_ngo(self._store, self._chosen_authority(), self.selection_from_filters(), on=self.day.value)
        except WorkbenchError as exc:
            self.plan = None
            self.plan_view.value = error_html(exc)
            return None
        self.plan = plan
        self.plan_view.value = "<p><i>Preview: nothing has been written.</i></p>" + plan_html(plan, by_ngo)
        return plan

    def write(self) -> CaseFile | None:
        """Write the case file the controls describe into a new folder of ``out_root``, and show where (or the error)."""
        try:
            authority = self._chosen_authority()
            selection = self.selection_from_filters()
            directory = self._new_folder(authority)
            written = write_casefile(self._store, authority, directory, selection, on=self.day.value, pdf=self.pdf.value,
                                     xlsx=self.xlsx.value, interactive=self.interactive.value)
        except (WorkbenchError, OSError) as exc:  # OSError: a folder that cannot be written, a full disk
            self.status.value = error_html(exc)
            return None
        entry = self._store.con.execute("SELECT entry_hash FROM custody_log WHERE seq = ?", [written.custody_seq]).fetchone()
        self.written, self.plan = written, written.plan
        self.status.value = written_html(written, entry[0] if entry else None)
        # the counts of what was written, which the staging tables still hold
        self.plan_view.value = "<p><i>Written:</i></p>" + plan_html(written.plan, staged_counts_by_ngo(self._store))
        return written

    def _new_folder(self, authority: str) -> Path:
        base = folder_name(authority)
        directory, n = self.out_root / base, 1
        while directory.exists():  # two case files for one authority within a second
            n += 1
            directory = self.out_root / f"{base}-{n}"
        return directory


def casefile_widget(store: Store, *, out_root: Path = Path("build/casefiles"), on: date | None = None) -> CaseFileWidget:
    """Choose an authority and a selection, preview what would be disclosed and withheld, and write the case file.

    ``on`` is the decision day first shown (default today). Case files go into
    ``out_root/<authority code>-<UTC time>``; nothing is written until the button is pressed.
    """
    return CaseFileWidget(store, out_root=out_root, on=on)
