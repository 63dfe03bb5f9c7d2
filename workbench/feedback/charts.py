"""Bar charts as HTML and CSS: a report must open with no network and print as it shows.

Not SVG and not images, on purpose: WeasyPrint draws SVG text without Arabic shaping or
right-to-left ordering, and an image renderer such as matplotlib would need extra libraries to
join Arabic letters. HTML text is shaped by browsers and by WeasyPrint alike, and a right-to-left
page makes the bars grow from the right by itself. The charts are plain bars, so a table of bars
is all they need.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Bar:
    """One row of a chart: a label, the NGO's value and, optionally, the collection's (None: suppressed)."""

    label: str
    value: float
    text: str
    other: float | None = None
    other_text: str = ""


def bar_chart(bars: list[Bar], *, title: str, scale: float | None = None, legend: tuple[str, str] | None = None) -> Markup:
    """Horizontal bars, one per row, with a second thinner bar when ``other`` is given.

    >>> html = bar_chart([Bar("day", 0.9, "90%")], title="Dates", scale=1.0)
    >>> 'width:90.0%' in html and "90%" in html
    True
    """
    if not bars:
        return Markup("")
    paired = any(b.other is not None for b in bars)
    scale = scale or max([b.value for b in bars] + [b.other or 0 for b in bars] + [1e-9])
    rows = []
    if legend and paired:
        rows.append(f'<tr class="legend"><td></td><td colspan="2"><span class="key own"></span> {escape(legend[0])} '
                    f'<span class="key other"></span> {escape(legend[1])}</td></tr>')
    for bar in bars:
        own = f'<span class="bar own" style="width:{_width(bar.value, scale)}%"></span>'
        other = f'<span class="bar other" style="width:{_width(bar.other, scale)}%"></span>' if paired and bar.other is not None else ""
        text = escape(bar.text) + (Markup(" · ") + escape(bar.other_text) if paired and bar.other_text else "")
        rows.append(f'<tr><th scope="row">{escape(bar.label)}</th><td class="track{" paired" if paired else ""}">{own}{other}</td>'
                    f'<td class="value">{text}</td></tr>')
    return Markup(f'<table class="bars" aria-label="{escape(title)}">{"".join(rows)}</table>')


def _width(value: float | None, scale: float) -> float:
    return round(max(0.0, min(1.0, (value or 0) / scale)) * 100, 1)
