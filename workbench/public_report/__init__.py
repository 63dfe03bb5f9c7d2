"""Public figures for a period: aggregate counts with no confidential material, no NGO named and
no small count a reader could recover (HTML and CSV)."""

from workbench.public_report.report import (
    CountTable,
    PublicReport,
    build_tables,
    excluded_submissions,
    render_html,
    suppress_tables,
    write_public_report,
)
from workbench.public_report.suppression import Equation, Suppression, determined_cells, holds, suppress

__all__ = [
    "CountTable", "Equation", "PublicReport", "Suppression", "build_tables", "determined_cells", "excluded_submissions",
    "holds", "render_html", "suppress", "suppress_tables", "write_public_report",
]
