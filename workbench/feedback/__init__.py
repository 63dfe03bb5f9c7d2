"""Feedback to each NGO on what it sent: a report in English or Arabic, as HTML and PDF."""

from workbench.feedback.report import ReportError, ReportFiles, render_html, report_name, write_pdf, write_report
from workbench.feedback.widget import feedback_widget, summary_html

__all__ = ["ReportError", "ReportFiles", "feedback_widget", "render_html", "report_name", "summary_html", "write_pdf", "write_report"]
