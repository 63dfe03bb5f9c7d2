"""Verification: are the received files, the stored rows and the custody log as they were?

``verify_store`` re-hashes every file kept in the vault, recomputes every stored row's hash and
every submission's table digests, and walks the custody-log chain. It names exactly what no
longer matches, and records its own run in the custody log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.intake import sha256_file
from workbench.sql import quote_ident
from workbench.store import Store, row_hash_sql, table_digest


@dataclass
class VerifyReport:
    """What a verification checked, and every mismatch it found (empty when all is intact)."""

    files_checked: int = 0
    rows_checked: int = 0
    custody_entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {**self.__dict__, "ok": self.ok}


def verify_store(store: Store, *, log: bool = True) -> VerifyReport:
    """Check files, rows and the custody chain; log the result. Never raises for a mismatch: it reports it."""
    report = VerifyReport()
    report.problems += store.custody_problems()
    report.custody_entries = store.con.execute("SELECT count(*) FROM custody_log").fetchone()[0]
    _check_files(store, report)
    _check_rows(store, report)
    _check_digests(store, report)
    if log:
        with store.transaction():
            store.log("verify", subject="store", details={"ok": report.ok, "problems": report.problems[:100],
                                                           "files_checked": report.files_checked, "rows_checked": report.rows_checked})
        store.write_anchor()
    return report


def _check_files(store: Store, report: VerifyReport) -> None:
    rows = store.con.execute(
        "SELECT s.submission_id, s.vault_path, s.package_name, s.package_kind, s.source_sha256, f.path, f.sha256 "
        "FROM submissions s JOIN files f USING (submission_id) WHERE s.vault_path IS NOT NULL ORDER BY s.submission_id, f.path"
    ).fetchall()
    checked_sources: set[int] = set()
    for sid, vault, package_name, kind, source_sha, path, expected in rows:
        vault_dir = Path(vault)
        if kind == "zip" and sid not in checked_sources:
            checked_sources.add(sid)
            _compare(report, vault_dir / package_name, source_sha, f"submission {sid}: the received archive {package_name}")
        _compare(report, vault_dir / "files" / path, expected, f"submission {sid}: file {path}")


def _compare(report: VerifyReport, path: Path, expected: str | None, label: str) -> None:
    report.files_checked += 1
    if not path.is_file():
        report.problems.append(f"{label} is missing from the vault ({path})")
        return
    found = sha256_file(path)
    if expected and found != expected:
        report.problems.append(f"{label} was altered: SHA-256 {found[:16]}… instead of {expected[:16]}…")


def _check_rows(store: Store, report: VerifyReport) -> None:
    for contract in store.contracts:
        table = quote_ident(contract.name)
        report.rows_checked += store.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        altered = store.con.execute(
            f"SELECT submission_id, source_file, source_row FROM {table} t WHERE row_hash IS DISTINCT FROM {row_hash_sql(contract, 't')} "
            "ORDER BY submission_id, source_file, source_row LIMIT 101"
        ).fetchall()
        for sid, source_file, source_row in altered[:100]:
            report.problems.append(f"{contract.name}: the row from submission {sid}, {source_file} row {source_row} was altered after ingest")
        if len(altered) > 100:
            report.problems.append(f"{contract.name}: more altered rows than the 100 listed")


def _check_digests(store: Store, report: VerifyReport) -> None:
    for entry in store.custody_entries():
        if entry.action != "ingest" or entry.submission_id is None:
            continue
        for table, digest in entry.details.get("digests", {}).items():
            if not store.has_table(table):
                report.problems.append(f"{table}: the table of submission {entry.submission_id} is gone")
            elif table_digest(store, table, entry.submission_id) != digest:
                report.problems.append(
                    f"{table}: rows of submission {entry.submission_id} were added, removed or altered since ingest "
                    f"(custody log entry {entry.seq})"
                )
