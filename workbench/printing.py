"""What every printed output shares: the embedded report fonts and printing HTML to PDF.

Feedback reports, case-file indexes and public reports are self-contained HTML pages; these two
helpers make them look the same on screen and on paper, with no network and no system font.
"""

from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from pathlib import Path

from workbench.assets import asset_path, font_face_css
from workbench.errors import ReportError

NASKH = "@fontsource/noto-naskh-arabic"
SANS = "@fontsource/noto-sans"
#: CSS font stack that uses the embedded faces (Latin first, Arabic for Arabic code points).
FONT_FAMILY = '"Report Latin", "Report Arabic", sans-serif'


@lru_cache(maxsize=1)
def report_fonts_css() -> str:
    """The report fonts as @font-face rules: Noto Naskh Arabic for Arabic, Noto Sans for Latin script."""
    arabic = [(asset_path(NASKH, f"files/noto-naskh-arabic-arabic-{w}-normal.woff2"), w) for w in (400, 700)]
    latin = [(asset_path(SANS, f"files/noto-sans-latin-{w}-normal.woff2"), w) for w in (400, 700)]
    return (font_face_css("Report Arabic", arabic, "U+0600-06FF, U+0750-077F, U+08A0-08FF, U+FB50-FDFF, U+FE70-FEFF, U+200C-200F")
            + "\n" + font_face_css("Report Latin", latin))


def write_pdf(html: str, out: Path) -> None:
    """Print the HTML page to PDF with WeasyPrint (it needs the system's Pango library)."""
    try:
        with warnings.catch_warnings():
            # WeasyPrint 70 warns that a later version will need the system's HarfBuzz-Subset; this one does not
            warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
            from weasyprint import HTML
    except OSError as exc:  # the Python package is there but a system library is not
        raise ReportError(f"cannot write {out}: WeasyPrint needs the Pango library of the system ({exc}); "
                          "on Debian or Ubuntu: apt install libpango-1.0-0 libpangoft2-1.0-0") from None
    # WeasyPrint logs every font subsetting fallback; keep the analyst's console for what matters
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    HTML(string=html, base_url=str(Path(out).parent)).write_pdf(out)
