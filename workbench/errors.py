"""Errors a user can see. The library raises these; the CLI and notebooks turn them into text.

Each class says, in its docstring, what happened. Messages name the file, row and field
whenever there is one, and never echo a value that may be personal data.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Something the user can act on went wrong."""

    def _repr_html_(self) -> str:  # shown by Jupyter when an error object is displayed
        from html import escape

        return f'<div style="color:#a40000"><b>{type(self).__name__}</b>: {escape(str(self))}</div>'


class ConfigError(WorkbenchError):
    """A setting is missing or has a value the workbench cannot use."""


class ContractError(WorkbenchError):
    """A data contract, vocabulary or mapping does not satisfy its schema."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class MappingError(ContractError):
    """A format mapping does not satisfy its schema, refers to what does not exist, or does not fit the file."""


class PackageError(WorkbenchError):
    """A submission package cannot be read safely (missing manifest, unsafe archive, unreadable file)."""


class UnsafeArchiveError(PackageError):
    """An archive tried to write outside its folder, held a link, or unpacked to more than the limits allow."""


class ManifestError(PackageError):
    """The submission manifest is missing or does not satisfy the manifest contract."""


class StoreError(WorkbenchError):
    """The store cannot be opened or written (not a DuckDB file, locked by another process, wrong key)."""


class StoreLockedError(StoreError):
    """Another process holds the store open for writing."""


class GazetteerError(WorkbenchError):
    """A gazetteer folder is missing files or holds files the importer cannot read."""


class IntegrityError(WorkbenchError):
    """A verification found files, rows or custody-log entries that no longer match their hashes."""


class AssetError(WorkbenchError):
    """A web asset (font, script, style) a report embeds is not fetched, cannot be downloaded, or does not match its lock."""


class ReportError(WorkbenchError):
    """A report, case file or other output cannot be written (unknown language, missing system library, unwritable folder)."""


class PseudonymiseError(WorkbenchError):
    """A name file, key file or output cannot be used to make pseudonyms (the message says which and why)."""
