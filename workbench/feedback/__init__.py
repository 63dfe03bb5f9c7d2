"""Feedback to each NGO on what it sent: a report in English or Arabic, as HTML and PDF."""

from workbench.feedback.report import ReportError, ReportFiles, render_html, report_name, write_pdf, write_report

__all__ = ["ReportError", "ReportFiles", "render_html", "report_name", "write_pdf", "write_report"]
