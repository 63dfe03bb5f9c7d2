"""Printable map and timeline: valid SVG whose counts are the store's, no personal data, ink on a PDF page."""

from __future__ import annotations

import doctest
import logging
import warnings
import xml.etree.ElementTree as ET

import pypdfium2 as pdfium
import pytest

from tests.conftest import SHARED_DATA, requires_shared_data
from workbench.errors import ConfigError
from workbench.views import static
from workbench.views.maps import read_boundaries
from workbench.views.selection import Selection
from workbench.views.static import static_map, static_map_svg, static_timeline, static_timeline_svg, svg_text

ADMIN1 = SHARED_DATA / "geo" / "ocha_admin1.geojson"
SVG = "{http://www.w3.org/2000/svg}"
POINTS = "geo_precision IN ('point', 'community') AND latitude IS NOT NULL AND longitude IS NOT NULL"
AREAS = "geo_precision IN ('governorate', 'district', 'subdistrict')"
NOBODY = Selection(ngos=("NO-SUCH-NGO",))


def _count(store, where: str) -> int:
    return store.con.execute(f"SELECT count(*) FROM active.incidents WHERE {where}").fetchone()[0]


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _sum(root: ET.Element, tag: str, cls: str) -> tuple[int, int]:
    """(elements, sum of their data-n) of one class."""
    found = [e for e in root.iter(f"{SVG}{tag}") if e.get("class") == cls]
    return len(found), sum(int(e.get("data-n")) for e in found)


def _texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}text")]


def test_every_selected_incident_is_a_point_an_area_or_counted_in_the_caption(synth_store):
    figure = static_map(synth_store)
    root = _parse(figure.svg)
    circles, drawn = _sum(root, "circle", "incident")
    assert drawn == figure.drawn == _count(synth_store, POINTS) > circles > 0  # shared spots share a circle
    _, in_areas = _sum(root, "circle", "area")
    assert in_areas == figure.areas_only == _count(synth_store, AREAS) > 0
    assert figure.unplaced == _count(synth_store, "TRUE") - drawn - in_areas > 0
    assert any(f"{figure.unplaced:,} incidents without a usable place" in t for t in _texts(root))
    assert any(t.endswith(" km") for t in _texts(root))  # the scale bar


def test_past_max_points_incidents_are_grouped_and_still_add_up(synth_store):
    figure = static_map(synth_store, max_points=40)
    root = _parse(figure.svg)
    circles, drawn = _sum(root, "circle", "incident")
    assert circles <= 40 and drawn == figure.drawn == _count(synth_store, POINTS)
    radii = {float(e.get("r")) for e in root.iter(f"{SVG}circle") if e.get("class") == "incident"}
    assert len(radii) > 1  # the radius grows with the count
    assert any("grouped by" in t for t in _texts(root))


def test_legend_names_the_types_drawn_in_latin(synth_store):
    ngo = synth_store.con.execute("SELECT ngo_id FROM active.incidents GROUP BY 1 ORDER BY count(*) LIMIT 1").fetchone()[0]
    root = _parse(static_map_svg(synth_store, Selection(ngos=(ngo,))))
    vocabulary = synth_store.contracts.vocabulary("violation_types")
    first = lambda where: {vocabulary.label(code, "en") if code else "No or unknown violation type" for (code,) in  # noqa: E731
                           synth_store.con.execute(f"SELECT DISTINCT violation_types[1] FROM active.incidents WHERE ngo_id = ? AND ({where})",
                                                   [ngo]).fetchall()}
    labels = {"".join(e.itertext()) for e in root.iter(f"{SVG}text") if e.get("class") == "legend-label"}
    assert first(POINTS) <= labels <= first(f"{POINTS} OR {AREAS}") and len(labels) > 1
    assert not [t for t in _texts(root) if static._UNSHAPED.search(t)]


def test_the_within_query_restricts_both_figures(synth_store):
    chosen = synth_store.con.execute(f"SELECT ngo_id, incident_id FROM active.incidents WHERE {POINTS} "
                                     "AND date_precision = 'day' ORDER BY ngo_id, incident_id LIMIT 7").fetchall()
    synth_store.con.execute("CREATE OR REPLACE TEMP TABLE cf_disclosed (ngo_id VARCHAR, incident_id VARCHAR)")
    try:
        synth_store.con.executemany("INSERT INTO cf_disclosed VALUES (?, ?)", chosen)
        within = Selection(within="SELECT ngo_id, incident_id FROM cf_disclosed")
        figure, timeline = static_map(synth_store, within), static_timeline(synth_store, within)
    finally:
        synth_store.con.execute("DROP TABLE temp.cf_disclosed")
    assert (figure.drawn, figure.areas_only, figure.unplaced) == (7, 0, 0)
    assert _sum(_parse(figure.svg), "circle", "incident")[1] == 7
    assert (timeline.by_month, timeline.year_only, timeline.undated) == (7, 0, 0)
    assert _sum(_parse(timeline.svg), "rect", "month")[1] == 7


def test_an_empty_selection_says_so(synth_store):
    figure, timeline = static_map(synth_store, NOBODY), static_timeline(synth_store, NOBODY)
    assert (figure.drawn, figure.areas_only, figure.unplaced) == (0, 0, 0)
    assert (timeline.by_month, timeline.year_only, timeline.undated) == (0, 0, 0)
    for svg in (figure.svg, timeline.svg):
        root = _parse(svg)
        assert any(t.startswith("No incidents in this selection") for t in _texts(root))
        assert not [e for e in root.iter() if e.get("data-n")]
    # the reader can still orient: governorate names from the gazetteer
    names = {"".join(e.itertext()) for e in _parse(figure.svg).iter(f"{SVG}text") if e.get("class") == "place-name"}
    assert {"Aleppo", "Damascus"} <= names


def test_timeline_counts_months_and_keeps_years_apart(synth_store):
    figure = static_timeline(synth_store)
    root = _parse(figure.svg)
    precise = "date_start IS NOT NULL AND date_precision IN ('day', 'week', 'month')"
    assert _sum(root, "rect", "month")[1] == figure.by_month == _count(synth_store, precise) > 0
    assert _sum(root, "rect", "year-only")[1] == figure.year_only == _count(synth_store, f"date_start IS NOT NULL AND NOT ({precise})") > 0
    tallest = synth_store.con.execute(f"SELECT max(n) FROM (SELECT count(*) AS n FROM active.incidents WHERE {precise} "
                                      "GROUP BY date_trunc('month', date_start))").fetchone()[0]
    assert [t for t in _texts(root) if t == f"{tallest:,}"]
    first, last = synth_store.con.execute("SELECT min(year(date_start)), max(year(date_start)) FROM active.incidents").fetchone()
    years = {int("".join(e.itertext())) for e in root.iter(f"{SVG}text") if e.get("class") == "year-label"}
    assert min(years) == first and max(years) <= last
    assert any(f"{figure.year_only:,} known only to the year" in t for t in _texts(root))


def test_no_person_title_narrative_or_text_filter_reaches_the_figures(synth_store):
    everything = static_map_svg(synth_store) + static_timeline_svg(synth_store)
    titles = [t for (t,) in synth_store.con.execute("SELECT DISTINCT title FROM active.incidents WHERE length(title) > 15").fetchall()]
    narratives = [n[:40] for (n,) in synth_store.con.execute(
        "SELECT DISTINCT narrative FROM active.incidents WHERE length(narrative) > 40").fetchall()]
    pseudonyms = [p for (p,) in synth_store.con.execute("SELECT DISTINCT pseudonym FROM active.persons WHERE pseudonym IS NOT NULL").fetchall()]
    assert titles and narratives and pseudonyms
    assert [t for t in titles + narratives + pseudonyms if svg_text(t) in everything] == []
    # a text filter may be a name: the figures count what it finds and never repeat it
    word = next(w for t in titles for w in t.split() if len(w) > 5 and w not in everything)
    found = static_map(synth_store, Selection(text=word))
    assert found.drawn + found.areas_only + found.unplaced > 0
    assert word not in found.svg and word not in static_timeline_svg(synth_store, Selection(text=word))


def test_place_names_are_escaped_and_non_latin_names_fall_back_to_their_code(store):
    store.con.execute("""INSERT INTO gazetteer_places (place_id, level, name_en, lat, lon) VALUES
        ('XX01', 'governorate', '<script>alert("x")</script> & Co', 34.0, 37.0),
        ('XX02', 'governorate', 'حلب', 36.2, 37.1),
        ('XX03', 'governorate', 'Bell' || chr(7) || 'town', 35.0, 38.0)""")
    svg = static_map_svg(store)
    root = _parse(svg)  # a raw "<script>" or a control character would make this fail
    assert "<script>" not in svg and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in svg
    names = {"".join(e.itertext()) for e in root.iter(f"{SVG}text") if e.get("class") == "place-name"}
    assert {'<script>alert("x")</script> & Co', "XX02", "Belltown"} <= names
    assert "حلب" not in svg


def test_the_helpers_escape_and_drop_what_xml_forbids():
    assert svg_text("a<b>&'\"\x00\x1b") == "a&lt;b&gt;&amp;&#x27;&quot;"
    result = doctest.testmod(static)
    assert result.attempted > 0 and result.failed == 0


def test_same_figure_same_text_and_distinct_clip_ids(synth_store):
    one, again = static_map_svg(synth_store), static_map_svg(synth_store)
    other = static_map_svg(synth_store, Selection(ngos=("ALPHA",)))
    assert one == again
    clip = lambda svg: _parse(svg).find(f"{SVG}defs/{SVG}clipPath").get("id")  # noqa: E731
    assert clip(one) != clip(other)


def test_sizes_too_small_or_no_points_allowed_are_refused(synth_store):
    with pytest.raises(ConfigError, match="too small"):
        static_map(synth_store, width=100)
    with pytest.raises(ConfigError, match="max_points"):
        static_map(synth_store, max_points=0)
    with pytest.raises(ConfigError, match="too small"):
        static_timeline(synth_store, height=50)


def _pdf_page(html: str, path) -> "pdfium.PdfPage":
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        from weasyprint import HTML
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    HTML(string=f"<html><body style='margin:0'>{html}</body></html>").write_pdf(path)
    return pdfium.PdfDocument(str(path))[0]


def _ink(image, *, coloured: bool = False) -> int:
    """Dark pixels, or strongly coloured ones (the points' colours, not grey outlines or text)."""
    if coloured:
        return image.convert("HSV").split()[1].point(lambda s: 255 if s > 100 else 0).histogram()[255]
    return image.convert("L").point(lambda p: 255 if p < 160 else 0).histogram()[255]


def test_weasyprint_draws_the_map_and_the_timeline(synth_store, tmp_path):
    page = _pdf_page(f"<div>{static_map_svg(synth_store)}</div><div>{static_timeline_svg(synth_store)}</div>", tmp_path / "figures.pdf")
    image = page.render(scale=2).to_pil().convert("RGB")
    scale = image.width / page.get_width()  # points to pixels
    map_box = image.crop((0, 0, image.width, int(520 * 0.75 * scale)))  # 520 CSS px = 390 pt
    timeline_box = image.crop((0, int(524 * 0.75 * scale), image.width, int(744 * 0.75 * scale)))
    assert _ink(map_box, coloured=True) > 300, "no coloured incident drawn on the map"
    assert _ink(timeline_box) > 1000, "no bars drawn on the timeline"
    empty = _pdf_page(static_map_svg(synth_store, NOBODY), tmp_path / "empty.pdf").render(scale=1).to_pil().convert("RGB")
    assert _ink(empty, coloured=True) < 20 < _ink(empty)  # names and the notice, no incident


@pytest.mark.shared_data
@requires_shared_data()
def test_real_boundaries_are_outlined_and_printed(synth_store, tmp_path):
    shapes = read_boundaries(ADMIN1)
    with_outlines = static_map_svg(synth_store, NOBODY, boundaries=shapes)
    paths = [e for e in _parse(with_outlines).iter(f"{SVG}path") if e.get("class") == "boundary"]
    assert len(paths) == 1 and paths[0].get("d").count("M") >= shapes.units.height == 14
    names = {"".join(e.itertext()) for e in _parse(with_outlines).iter(f"{SVG}text") if e.get("class") == "place-name"}
    assert len(names) == 14  # admin1 units named from the file, in Latin
    outlined = _ink(_pdf_page(with_outlines, tmp_path / "outlined.pdf").render(scale=1).to_pil())
    bare = _ink(_pdf_page(static_map_svg(synth_store, NOBODY), tmp_path / "bare.pdf").render(scale=1).to_pil())
    assert outlined > bare + 500, "the boundary outlines were not drawn"
    figure = static_map(synth_store, boundaries=shapes)  # incidents known to a governorate take the unit's own size
    radii = {float(e.get("r")) for e in _parse(figure.svg).iter(f"{SVG}circle") if e.get("class") == "area"}
    assert len(radii) > 3
