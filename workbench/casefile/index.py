"""A case file's human-readable index (HTML and PDF), and its offline interactive map and timeline.

The index says what the package is (authority, selection, decision day, who made it), what it
holds per record type and per NGO submission (with the package hashes of what was received),
what was withheld and why (counts only), a printable map and timeline, the first incidents one
by one, and how to check the package (``SHA256SUMS``, ``workbench verify --casefile``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from workbench.printing import report_fonts_css, write_pdf
from workbench.store import Store
from workbench.views.maps import incident_map, read_boundaries, save_map
from workbench.views.selection import Selection, selected_incidents
from workbench.views.static import static_map_svg, static_timeline_svg
from workbench.views.timeline import save_timeline, timeline_figure, timeline_frame

HERE = Path(__file__).parent


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["j2", "html"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def write_interactive(store: Store, selection: Selection, directory: Path, *, boundaries: Path | None = None) -> list[Path]:
    """``map.html`` and ``timeline.html`` of the selected (disclosed) incidents: offline, every asset inside."""
    written = [save_map(incident_map(store, selection, boundaries=boundaries), directory / "map.html")]
    written.append(save_timeline(timeline_figure(timeline_frame(store, selection)), directory / "timeline.html"))
    return written


def _listing(store: Store, selection: Selection, limit: int) -> list[dict[str, Any]]:
    if not limit:
        return []
    types = store.contracts.vocabulary("violation_types")
    rows = store.frame(f"""
        WITH chosen AS ({selected_incidents(selection, store, "i.ngo_id, i.incident_id, i.date_start, i.date_end, i.date_precision, "
                                                               "i.place, i.admin1_pcode, i.violation_types, i.killed, i.injured")})
        SELECT c.*, g.name_en AS governorate,
               CASE c.date_precision WHEN 'day' THEN strftime(c.date_start, '%Y-%m-%d') WHEN 'month' THEN strftime(c.date_start, '%Y-%m')
                    ELSE strftime(c.date_start, '%Y') END AS known_date,
               (SELECT count(*) FROM cf_sources s WHERE s.reason IS NULL AND s.ngo_id = c.ngo_id AND s.incident_id = c.incident_id) AS sources,
               (SELECT count(*) FROM cf_incident_persons p WHERE p.reason IS NULL AND p.ngo_id = c.ngo_id AND p.incident_id = c.incident_id) AS persons
        FROM chosen c LEFT JOIN gazetteer_places g ON g.place_id = c.admin1_pcode
        ORDER BY c.date_start NULLS LAST, c.ngo_id, c.incident_id LIMIT {int(limit)}""")
    listed = []
    for row in rows.iter_rows(named=True):
        row["types"] = ", ".join(types.label(code, "en") for code in row["violation_types"] or [])
        listed.append(row)
    return listed


def render_index(store: Store, plan, body: dict[str, Any], selection: Selection, directory: Path, *, config,
                 boundaries: Path | None = None, pdf: bool = True) -> list[Path]:
    """Write ``index.html`` (and ``index.pdf``); returns the paths written."""
    shapes = read_boundaries(boundaries) if boundaries else None
    disclosed = plan.disclosed("incidents")
    context = {
        "fonts_css": report_fonts_css(),
        "body": body,
        "counts": plan.counts.to_dicts(),
        "withheld": body["withheld"],
        "map_svg": static_map_svg(store, selection, boundaries=shapes),
        "timeline_svg": static_timeline_svg(store, selection),
        "listing": _listing(store, selection, config.index_listing),
        "listing_limit": config.index_listing,
        "disclosed_incidents": disclosed,
        "interactive": (directory / "map.html").exists(),
    }
    html = _environment().get_template("index.html.j2").render(**context)
    index = directory / "index.html"
    index.write_text(html, encoding="utf-8")
    written = [index]
    if pdf:
        write_pdf(html, directory / "index.pdf")
        written.append(directory / "index.pdf")
    return written
