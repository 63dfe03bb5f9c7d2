"""A case file's manifest: every file with its SHA-256, and the check that a package still matches it.

``manifest.json`` lists every file of the package (path, bytes, SHA-256, rows) with what the case
file is (authority, selection, counts, withheld summary). ``SHA256SUMS`` repeats the hashes, the
manifest's included, in the format ``sha256sum -c`` reads, so that a recipient without the
workbench can check the package too. The manifest's own hash goes into the custody log of the
store that made it: :func:`verify_casefile` with that store also shows that the manifest is the
one that was logged, which the package alone cannot prove.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.intake import sha256_file
from workbench.store import Store

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
FORMAT = "workbench-casefile/1"


@dataclass
class CaseFileCheck:
    """What checking a case-file package found (``problems`` is empty when it is intact)."""

    directory: Path
    casefile_id: str | None = None
    files_checked: int = 0
    logged: bool | None = None  # True: the manifest is the one logged; None: no store was asked
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "casefile_id": self.casefile_id, "files_checked": self.files_checked,
                "logged": self.logged, "ok": self.ok, "problems": self.problems}


def file_entry(directory: Path, path: Path, rows: int | None = None) -> dict[str, Any]:
    """A manifest entry for one file of the package."""
    return {"path": path.relative_to(directory).as_posix(), "bytes": path.stat().st_size, "sha256": sha256_file(path), "rows": rows}


def write_manifest(directory: Path, body: dict[str, Any], files: list[dict[str, Any]]) -> str:
    """Write ``manifest.json`` and ``SHA256SUMS``; returns the manifest's SHA-256."""
    manifest = {"format": FORMAT, **body, "files": sorted(files, key=lambda f: f["path"])}
    text = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False, default=str) + "\n"
    (directory / MANIFEST).write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    lines = [f"{f['sha256']}  {f['path']}" for f in manifest["files"]] + [f"{digest}  {MANIFEST}"]
    (directory / SUMS).write_text("\n".join(lines) + "\n", encoding="ascii")
    return digest


def read_manifest(directory: Path) -> dict[str, Any]:
    """The package's manifest, or an error naming what is wrong with it."""
    path = Path(directory) / MANIFEST
    if not Path(directory).is_dir():
        raise WorkbenchError(f"{directory} is not a folder; give the case file's folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkbenchError(f"{path} is missing: {directory} is not a case file, or its manifest was removed") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkbenchError(f"{path} is not a readable manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), list):
        raise WorkbenchError(f"{path} is not a workbench case-file manifest (format {FORMAT})")
    return manifest


def verify_casefile(directory: Path, store: Store | None = None) -> CaseFileCheck:
    """Check every file of a package against its manifest, and, given the store, the manifest against the custody log.

    Never raises for a mismatch (it is reported); raises only when the folder holds no readable manifest.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    check = CaseFileCheck(directory, manifest.get("casefile_id"))
    listed: set[str] = set()
    for entry in manifest["files"]:
        name = str(entry.get("path", ""))
        listed.add(name)
        path = directory / name
        if not name or Path(name).is_absolute() or ".." in Path(name).parts:
            check.problems.append(f"the manifest lists {name!r}, which is not a path inside the package")
            continue
        if not path.is_file():
            check.problems.append(f"{name} is listed in the manifest but missing")
            continue
        check.files_checked += 1
        if path.stat().st_size != entry.get("bytes"):
            check.problems.append(f"{name} has {path.stat().st_size} bytes; the manifest says {entry.get('bytes')}: it was changed")
        elif sha256_file(path) != entry.get("sha256"):
            check.problems.append(f"{name} no longer matches its SHA-256 in the manifest: it was changed")
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix()
        if name not in listed and name not in (MANIFEST, SUMS):
            check.problems.append(f"{name} is in the package but not in the manifest: it was added")
    digest = sha256_file(directory / MANIFEST)
    _check_sums(directory, manifest, digest, check)
    if store is not None:
        _check_logged(store, check, digest)
    return check


def _check_sums(directory: Path, manifest: dict[str, Any], digest: str, check: CaseFileCheck) -> None:
    path = directory / SUMS
    if not path.is_file():
        check.problems.append(f"{SUMS} is missing")
        return
    sums = {}
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        value, _, name = line.partition("  ")
        sums[name] = value
    expected = {f.get("path"): f.get("sha256") for f in manifest["files"]} | {MANIFEST: digest}
    if sums != expected:
        check.problems.append(f"{SUMS} does not agree with the manifest (the manifest or {SUMS} was changed)")


def _check_logged(store: Store, check: CaseFileCheck, digest: str) -> None:
    row = store.con.execute("SELECT manifest_sha256, custody_seq FROM exports WHERE export_id = ?", [check.casefile_id]).fetchone() \
        if store.has_table("exports") else None
    if row is None:
        check.logged = False
        check.problems.append(f"case file {check.casefile_id} is not in this store's export log")
        return
    entry = next((e for e in store.custody_entries() if e.seq == row[1]), None)
    logged = entry.details.get("manifest_sha256") if entry else None
    check.logged = row[0] == digest and logged == digest
    if not check.logged:
        check.problems.append(f"{MANIFEST} is not the manifest logged for case file {check.casefile_id} "
                              f"(custody log entry {row[1]}): the manifest was changed after export")
    check.problems += [f"custody log: {p}" for p in store.custody_problems()]
