"""Feedback in a notebook: pick an NGO, read its figures and suggestions, write its report.

The widget holds the store's path, not an open store: it opens the store read-only to look, and
writable only for the moment a report is written (so the report is logged), which leaves the
store free for the command line in between.
"""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as widgets

from workbench.errors import WorkbenchError
from workbench.feedback.report import write_report
from workbench.quality import Metrics, collection_profile, ngo_metrics, parse_period
from workbench.quality.recommendations import Rule, load_rules, percent, recommend
from workbench.store import open_store

KEY_FIGURES = ("rows_read", "rows_accepted", "rows_quarantined", "weighted_completeness", "day_share", "fine_place_share",
               "identified_share", "sources_per_incident", "media_hash_share", "pii_findings", "unique_share")


def summary_html(metrics: Metrics, rules: tuple[Rule, ...], language: str = "en") -> str:
    """Key figures and the ranked suggestions as a small HTML fragment for a notebook cell."""
    rows = "".join(
        f"<tr><td>{name}</td><td style='text-align:right'>"
        f"{percent(value, language) if name.endswith('_share') or name == 'weighted_completeness' else html.escape(str(value))}</td></tr>"
        for name in KEY_FIGURES if (value := metrics.summary.get(name)) is not None)
    suggestions = "".join(
        f"<li>{html.escape(r.message)}<br><small>{html.escape(r.evidence)}</small></li>"
        for r in recommend(metrics, rules, language) if r.kind == "recommendation")
    direction = "rtl" if language == "ar" else "ltr"
    return (f"<div dir='{direction}'><h4>{html.escape(metrics.ngo['name'] or '')} · {html.escape(metrics.ngo['ngo_id'])}</h4>"
            f"<table>{rows}</table><ol>{suggestions or '<li>—</li>'}</ol></div>")


def feedback_widget(db: Path, out_dir: Path) -> widgets.VBox:
    """An NGO picker, a language and period choice, the figures, and a button that writes the report."""
    with open_store(db, read_only=True) as store:
        ngos = [r[0] for r in store.con.execute("SELECT ngo_id FROM ngos ORDER BY 1").fetchall()]
    if not ngos:
        raise WorkbenchError(f"no NGO in the store {db}: ingest submissions first")
    picker = widgets.Dropdown(options=ngos, description="NGO")
    language = widgets.ToggleButtons(options=[("English", "en"), ("العربية", "ar")], description="Language")
    period = widgets.Text(placeholder="all, or 2025 / 2025-Q1 / 2025-03", description="Period")
    pdf = widgets.Checkbox(value=True, description="PDF too")
    write = widgets.Button(description="Write the report", icon="file")
    # HTML widgets rather than Output captures: a notebook run headless (the tests) handles them
    # like any value, and the tests can read them
    summary, status = widgets.HTML(), widgets.HTML()

    def chosen_period():
        return parse_period(period.value) if period.value.strip() else None

    def show(*_):
        try:
            with open_store(db, read_only=True) as store:
                metrics = ngo_metrics(store, picker.value, period=chosen_period(), collection=collection_profile(store))
                rules = load_rules(store.contracts.path / "feedback" / "rules.yaml")
            summary.value = summary_html(metrics, rules, language.value)
        except WorkbenchError as exc:
            summary.value = f"<p style='color:#a12a2a'>{html.escape(str(exc))}</p>"

    def on_write(_):
        try:
            with open_store(db) as store:
                files = write_report(store, picker.value, out_dir, language=language.value, period=chosen_period(), pdf=pdf.value)
            status.value = html.escape(f"wrote {files.html}" + (f" and {files.pdf}" if files.pdf else ""))
        except WorkbenchError as exc:
            status.value = f"<span style='color:#a12a2a'>{html.escape(str(exc))}</span>"

    for control in (picker, language, period):
        control.observe(show, names="value")
    write.on_click(on_write)
    show()
    return widgets.VBox([widgets.HBox([picker, language]), widgets.HBox([period, pdf, write]), status, summary])
