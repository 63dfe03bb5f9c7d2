"""Assembling the synthetic submissions: one package per NGO and the ground truth beside them."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.contracts import ContractSet, load_contracts
from workbench.errors import WorkbenchError
from workbench.synth.defects import plant_defects
from workbench.synth.places import builtin_pool
from workbench.synth.profiles import NGOS, NgoProfile
from workbench.synth.reports import Report, build_report
from workbench.synth.texts import Texts
from workbench.synth.truth import ground_truth_files
from workbench.synth.world import build_world
from workbench.synth.writers import columns_of, csv_bytes, headers_for, json_array_bytes, jsonl_bytes, xlsx_bytes, yaml_bytes, zip_bytes

MIN_INCIDENTS = 40
SUBMITTED_AT = "2025-01-15T09:00:00Z"


@dataclass
class SynthResult:
    """What :func:`generate` wrote.

    ``counts``: rows per NGO and record type. ``defects``: per NGO, what was planted that
    breaks the contract or the protection rules (with counts); ``habits``: per NGO, the
    noise that is legal but makes linking and geocoding harder.
    """

    packages: list[Path]
    ground_truth: Path
    counts: dict[str, dict[str, int]]
    defects: dict[str, dict[str, int]] = field(default_factory=dict)
    habits: dict[str, dict[str, int]] = field(default_factory=dict)


def manifest_for(ngo: NgoProfile, contracts: ContractSet, seed: int) -> dict[str, Any]:
    """The manifest an NGO writes (with or without a `files` list, as is its habit)."""
    manifest: dict[str, Any] = {
        "ngo": {"id": ngo.id, "name": ngo.name, "name_ar": ngo.name_ar},
        "submission_ref": f"{ngo.id}-SYN-{seed}",
        "contract_version": contracts.version,
        "reporting_period": {"start": ngo.period[0], "end": ngo.period[1]},
        "submitted_at": SUBMITTED_AT,
        "language": ngo.narrative_language,
        "date_order": ngo.date_order,
        "contact_point": {"role": ngo.contact_role, "email": f"data@{ngo.id.lower()}.example.org"},
    }
    if ngo.list_files:
        manifest["files"] = [
            {"path": f.path, "record_type": f.record_type, **({"sheet": f.sheet} if f.sheet else {})} for f in ngo.files
        ]
    manifest["disclosure"] = ngo.disclosure
    return manifest


def package_files(report: Report, contracts: ContractSet, seed: int) -> dict[str, bytes]:
    """Every file of one NGO's package, path -> bytes."""
    ngo = report.ngo
    files: dict[str, bytes] = {"manifest.yaml": yaml_bytes(manifest_for(ngo, contracts, seed))}
    sheets: dict[str, list] = {}
    for data_file in ngo.files:
        contract = contracts.contract(data_file.record_type)
        rows = report.rows[data_file.record_type]
        columns = columns_of(contract, rows)
        names = headers_for(contract, ngo.headers, ngo.alias_offset)
        header = [names.get(c, c) for c in columns]
        suffix = Path(data_file.path).suffix
        if suffix == ".csv":
            files[data_file.path] = csv_bytes(header, columns, rows, encoding=data_file.encoding, delimiter=ngo.delimiter)
        elif suffix == ".jsonl":
            files[data_file.path] = jsonl_bytes(columns, rows)
        elif suffix == ".json":
            files[data_file.path] = json_array_bytes(columns, rows)
        elif suffix == ".xlsx":
            sheets.setdefault(data_file.path, []).append((data_file.sheet or data_file.record_type, header, columns, rows))
        else:
            raise WorkbenchError(f"{ngo.id}: no writer for {data_file.path}")
    for path, workbook in sheets.items():
        files[path] = xlsx_bytes(workbook)
    return files | report.media


def _clear(target: Path, overwrite: bool) -> None:
    if not target.exists():
        return
    if not overwrite:
        raise WorkbenchError(f"{target} already exists; remove it or pass overwrite=True")
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for path, data in sorted(files.items()):
        target = folder.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def generate(out_dir: Path, *, seed: int = 2011, incidents: int = 600, zip_packages: bool = False, overwrite: bool = False) -> SynthResult:
    """Write one submission package per fictional NGO, and the ground truth, under ``out_dir``.

    ``incidents`` is the number of true incidents; each NGO reports its share of them, so
    the packages overlap. The same seed always gives the same bytes.

    >>> result = generate(Path("demo"), incidents=120)  # doctest: +SKIP
    >>> [p.name for p in result.packages]  # doctest: +SKIP
    ['ALPHA', 'BAYAN', 'GAMMA', 'DELTA', 'EPSILON', 'ZETA']
    """
    if incidents < MIN_INCIDENTS:
        raise WorkbenchError(f"incidents must be at least {MIN_INCIDENTS} so that every NGO has something to report")
    out_dir = Path(out_dir)
    targets = [out_dir / (f"{ngo.id}.zip" if zip_packages else ngo.id) for ngo in NGOS]
    truth_dir = out_dir / "ground_truth"
    for target in [*targets, truth_dir]:
        _clear(target, overwrite)

    contracts = load_contracts()
    texts = Texts(contracts)
    pool = builtin_pool()
    world = build_world(np.random.default_rng([seed, 0]), pool, incidents)
    reports: list[Report] = []
    for index, ngo in enumerate(NGOS, start=1):
        rng = np.random.default_rng([seed, index])
        report = build_report(ngo, world, pool, texts, rng, seed=seed)
        if ngo.defects:
            plant_defects(report, rng)
        reports.append(report)

    out_dir.mkdir(parents=True, exist_ok=True)
    for report, target in zip(reports, targets):
        files = package_files(report, contracts, seed)
        if zip_packages:
            target.write_bytes(zip_bytes(files))
        else:
            _write_tree(target, files)
    _write_tree(truth_dir, ground_truth_files(world, reports, seed=seed, incidents=incidents))
    return SynthResult(
        packages=targets,
        ground_truth=truth_dir,
        counts={r.ngo.id: {rt: len(rows) for rt, rows in r.rows.items()} for r in reports},
        defects={r.ngo.id: dict(sorted(r.defects.items())) for r in reports},
        habits={r.ngo.id: dict(sorted(r.habits.items())) for r in reports},
    )

