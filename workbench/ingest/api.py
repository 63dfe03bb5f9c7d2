"""The ingest API: a package in, a report out, the store changed all or nothing."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from workbench.config import Settings, settings as read_settings
from workbench.contracts import ContractSet
from workbench.errors import ManifestError, PackageError
from workbench.gazetteer import Gazetteer
from workbench.ingest.report import IngestReport
from workbench.ingest.run import Run
from workbench.intake import Limits, Package, open_package, sha256_file
from workbench.mapping import Mapping
from workbench.store import Store, open_store, table_digest


def ingest_package(
    store: Store,
    path: Path,
    *,
    config: Settings | None = None,
    today: date | None = None,
    keep_in_vault: bool = True,
    mapping: Mapping | None = None,
) -> IngestReport:
    """Load a package (folder or .zip) into the store. Re-ingesting the same package changes nothing.

    With a ``mapping``, the files it matches are read as that format (see :mod:`workbench.mapping`);
    their rows then go through the same checks as files in the contract's own shape.
    """
    config = config or read_settings(WORKBENCH_DB=store.path)
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="workbench-") as work:
        workdir = Path(work)
        try:
            package = open_package(path, workdir=workdir, limits=Limits.from_settings(config))
            _check_manifest(store.contracts, package)
        except PackageError as exc:
            if store.path is not None:
                with store.transaction():
                    store.log("reject", subject=path.name, details={"package": str(path.name), "reason": str(exc)})
                store.write_anchor()
            raise
        manifest = package.manifest
        ngo, ref = manifest["ngo"]["id"], manifest["submission_ref"]
        known = store.con.execute(
            "SELECT submission_id, received_at FROM submissions WHERE package_sha256 = ?", [package.sha256]
        ).fetchone()
        if known:
            return IngestReport(
                "unchanged", ngo, ref, package.sha256, submission_id=known[0],
                message=f"this package was already ingested as submission {known[0]} on {known[1]:%Y-%m-%d %H:%M} UTC; nothing changed",
            )
        previous = store.con.execute(
            "SELECT submission_id FROM submissions WHERE ngo_id = ? AND submission_ref = ? AND superseded_by IS NULL",
            [ngo, ref],
        ).fetchone()
        run = Run(store, package, workdir, today or date.today(), previous[0] if previous else None, mapping)
        vault_dir = config.vault_path / package.sha256 if keep_in_vault and store.path is not None else None
        created_vault = False
        try:
            run.prepare()
            with store.transaction():
                report = run.execute()
                if vault_dir is not None:
                    created_vault = _keep(package, vault_dir)
                _record_submission(store, run, report, vault_dir)
        except BaseException:
            if created_vault:  # the store does not refer to it: the transaction was rolled back
                shutil.rmtree(vault_dir, ignore_errors=True)
            raise
        finally:
            run.drop_temporaries()
        store.write_anchor()
        return report


def check_package(path: Path, *, contracts: ContractSet | None = None, gazetteer: Gazetteer | None = None,
                  today: date | None = None, mapping: Mapping | None = None) -> tuple[IngestReport, pl.DataFrame]:
    """Run every check of an ingest without a store: the report and the findings, for NGOs before sending."""
    with open_store(":memory:", contracts=contracts) as store:
        if gazetteer is not None:
            store.replace_gazetteer(gazetteer, log=False)
        report = ingest_package(store, path, today=today, keep_in_vault=False, mapping=mapping)
        report.status = "checked"
        findings = store.frame(
            "SELECT source_file AS file, source_row AS row, field, rule, severity, message FROM findings "
            "ORDER BY source_file, source_row NULLS FIRST, field"
        )
    return report, findings


def _check_manifest(contracts: ContractSet, package: Package) -> None:
    problems = contracts.check_manifest(package.manifest, where=package.manifest_file.path)
    if problems:
        raise ManifestError("the manifest does not satisfy the manifest contract:\n" + "\n".join(problems))


def _keep(package: Package, vault_dir: Path) -> bool:
    """Copy the package into the vault under its hash; returns whether the folder was new."""
    if vault_dir.exists():
        return False
    incoming = vault_dir.parent / f".incoming-{uuid.uuid4().hex}"
    incoming.mkdir(parents=True)
    if package.kind == "zip":
        shutil.copy2(package.source, incoming / package.source.name)
    for f in package.files:
        target = incoming / "files" / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f.disk_path, target)
    incoming.rename(vault_dir)
    return True



def _record_submission(store: Store, run: Run, report: IngestReport, vault_dir: Path | None) -> None:
    con, package, manifest, sid = store.con, run.package, run.package.manifest, run.submission_id
    disclosure = manifest["disclosure"]
    con.execute(
        "INSERT INTO ngos VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET name = excluded.name, name_ar = excluded.name_ar",
        [run.ngo, manifest["ngo"]["name"], manifest["ngo"].get("name_ar"), sid],
    )
    con.execute(
        "INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
        [
            sid, run.ngo, manifest["submission_ref"], datetime.now(timezone.utc).replace(tzinfo=None), store.user,
            package.source.name, package.kind, package.sha256, package.source_sha256,
            str(vault_dir) if vault_dir else None, manifest["contract_version"],
            manifest["reporting_period"]["start"], manifest["reporting_period"]["end"],
            json.dumps(manifest, ensure_ascii=False, sort_keys=True, default=str), bool(disclosure["source_confidential"]),
            disclosure.get("consent_basis"), run.mode, run.supersedes,
            report.rows_read, report.rows_accepted, report.rows_quarantined,
        ],
    )
    for f in package.files:
        tables = [r for r in report.files if r.file == f.path]
        types = ",".join(dict.fromkeys(r.record_type for r in tables if r.record_type)) or None
        counts = [sum(getattr(r, k) for r in tables) if tables else None for k in ("rows_read", "rows_accepted", "rows_quarantined")]
        con.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [sid, f.path, f.sha256, f.bytes, f.format, f.encoding, f.delimiter, types, *counts],
        )
    if run.supersedes:
        con.execute("UPDATE submissions SET superseded_by = ? WHERE submission_id = ?", [sid, run.supersedes])
    digests = {c.name: table_digest(store, c.name, sid) for c in store.contracts}
    details = {
        "package": package.source.name,
        "package_sha256": package.sha256,
        "source_sha256": package.source_sha256,
        "ngo_id": run.ngo,
        "submission_ref": manifest["submission_ref"],
        "files": [{"path": f.path, "sha256": f.sha256, "bytes": f.bytes} for f in package.files],
        "rows_read": report.rows_read,
        "rows_accepted": report.rows_accepted,
        "rows_quarantined": report.rows_quarantined,
        "digests": digests,
        "supersedes": run.supersedes,
        "mode": run.mode,
    }
    if run.mapping is not None and run.mode != "contract":
        details["mapping"] = {"name": run.mapping.name, "version": run.mapping.version,
                              "sha256": sha256_file(run.mapping.path)}
    store.log("ingest", subject=f"{run.ngo}/{manifest['submission_ref']}", details=details, submission_id=sid)
    if run.supersedes:
        store.log("supersede", subject=f"{run.ngo}/{manifest['submission_ref']}",
                  details={"superseded": run.supersedes, "by": sid}, submission_id=run.supersedes)
