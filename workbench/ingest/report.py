"""What an ingest or a check did, per table and in all: rows read, accepted, quarantined, findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FileResult:
    path: str  # as findings and provenance name it: the file, or "file#sheet" for one sheet of a workbook
    record_type: str | None
    format: str
    encoding: str | None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    file: str = ""  # the file in the package
    sheet: str | None = None


@dataclass
class IngestReport:
    """What an ingest (or a check) did: per file counts and findings by severity."""

    status: str  # "ingested" | "unchanged" | "checked"
    ngo_id: str
    submission_ref: str
    package_sha256: str
    submission_id: int | None = None
    supersedes: int | None = None
    files: list[FileResult] = field(default_factory=list)
    findings: dict[str, int] = field(default_factory=dict)
    message: str = ""

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ngo_id": self.ngo_id,
            "submission_ref": self.submission_ref,
            "submission_id": self.submission_id,
            "supersedes": self.supersedes,
            "package_sha256": self.package_sha256,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "findings": self.findings,
            "files": [f.__dict__ for f in self.files],
            "message": self.message,
        }
