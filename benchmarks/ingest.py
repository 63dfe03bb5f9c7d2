"""Ingest speed and memory against two baselines measured in the same run.

    python benchmarks/ingest.py [--incidents 1000000] [--json]

1. floor: DuckDB's bare ``read_csv`` of the incidents file into a table of a new database file;
2. workbench: ``workbench ingest`` of the package (hashing, vault copy, validation, normalisation,
   personal-data screening, provenance, custody log): opening the store, ingesting, closing it;
3. pandas way: ``pandas.read_csv`` plus a row-by-row check of the same rules in Python, what a
   quick script would do.

Each step runs in its own process so that its peak memory (max RSS) is its own, and imports its
modules before the clock starts: the steps are timed on the work, not on loading Python packages.
The store the workbench ingests into is created (empty) before the clock starts, as an analyst's
store exists before most ingests; creating it (schema and built-in gazetteer) is timed apart and
shown as its own line, once per store. Targets: the workbench at most 3x the floor, at least 10x
faster than the pandas way, peak memory under 2 GiB. Prints a table, and with ``--json`` one JSON
object as the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from harness import measure, timed  # benchmarks/harness.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _measure(name: str, *args) -> dict:
    """Step ``name`` in a fresh interpreter: its wall time and peak memory (see benchmarks/harness.py)."""
    imports, prepare, step = STEPS[name]
    return measure(imports, timed, prepare, step, *args)


def floor(csv: Path, db: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE incidents AS SELECT * FROM read_csv(?)", [str(csv)])
    rows = con.execute("SELECT count(*) FROM incidents").fetchone()[0]
    con.close()
    return {"rows": rows}


def prepare_workbench(_package: Path, db: Path) -> dict:
    """Create the empty store (untimed by the ingest clock); its own time is reported apart."""
    from workbench.store import open_store

    start = time.perf_counter()
    open_store(db).close()
    return {"new_store_seconds": time.perf_counter() - start}


def workbench(package: Path, db: Path) -> dict:
    from workbench.config import settings
    from workbench.ingest import ingest_package
    from workbench.store import open_store

    config = settings(WORKBENCH_DB=db)
    with open_store(db) as store:
        report = ingest_package(store, package, config=config)
    return {"rows": report.rows_read, "accepted": report.rows_accepted, "quarantined": report.rows_quarantined}


def pandas_way(csv: Path, _db: Path) -> dict:
    """What a quick script does: read with pandas, then check every row in a Python loop."""
    import re
    from datetime import date, datetime

    import pandas as pd

    from workbench.contracts import load_contracts
    from workbench.normalise.pii import load_patterns

    contracts = load_contracts()
    contract = contracts.contract("incidents")
    violations = contracts.vocabulary("violation_types")
    patterns = []
    for pattern in load_patterns(contracts.path / "pii_patterns.yaml"):
        try:  # RE2 classes such as \x{0600} are not Python syntax: the quick script skips those patterns
            patterns.append(re.compile(pattern.regex))
        except re.error:
            pass
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    problems, seen = 0, set()
    patterns_by_field = {f.name: re.compile(f.constraints["pattern"]) for f in contract.fields if "pattern" in f.constraints}
    for row in frame.itertuples(index=False):
        record = row._asdict()
        for f in contract.fields:
            value = (record.get(f.name) or "").strip()
            if not value:
                problems += f.required
                continue
            if f.name in patterns_by_field and not patterns_by_field[f.name].fullmatch(value):
                problems += 1
            if f.type == "date":
                try:
                    day = datetime.strptime(value[:10], "%Y-%m-%d").date()
                    problems += day < date(2011, 3, 1) or day > date.today()
                except ValueError:
                    problems += 1
            elif f.type in ("integer", "number"):
                try:
                    number = float(value)
                    problems += ("minimum" in f.constraints and number < f.constraints["minimum"]) or (
                        "maximum" in f.constraints and number > f.constraints["maximum"])
                except ValueError:
                    problems += 1
            elif f.vocabulary:
                problems += any(violations.code_for(v) is None for v in value.split(";")) if f.is_list else 0
            if f.screen:
                problems += any(p.search(value) for p in patterns)
        key = record["incident_id"]
        problems += key in seen
        seen.add(key)
    return {"rows": len(frame), "problems": problems}


def generate(out: Path, incidents: int) -> dict:
    from workbench.synth import write_benchmark_package

    return {"package": str(write_benchmark_package(out, incidents=incidents, seed=2011))}


#: Each step: the modules it imports before its clock starts, what it prepares untimed, the timed work.
STEPS = {
    "generate": (["workbench.synth"], None, generate),
    "floor": (["duckdb"], None, floor),
    "workbench": (["workbench.config", "workbench.ingest", "workbench.store"], prepare_workbench, workbench),
    "pandas_way": (["pandas", "workbench.contracts", "workbench.normalise.pii"], None, pandas_way),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--skip-pandas", action="store_true", help="skip the slow pandas baseline")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the floor and of the workbench, interleaved; the fastest of each is reported")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        # in its own process too: a child starts with its parent's peak memory as its own (ru_maxrss
        # survives fork and exec), so a parent that built the package would inflate every step's peak
        package = Path(_measure("generate", work / "package", args.incidents)["package"])
        generated = time.perf_counter() - start
        csv = next(package.glob("incidents*.csv"))
        runs: dict[str, list[dict]] = {"floor (duckdb read_csv)": [], "workbench ingest": []}
        for i in range(max(1, args.repeat)):  # interleaved, so that a busy moment of the machine hits both alike
            runs["floor (duckdb read_csv)"].append(_measure("floor", csv, work / f"floor{i}.duckdb"))
            runs["workbench ingest"].append(_measure("workbench", package, work / f"store{i}.duckdb"))
        results = {name: min(rs, key=lambda r: r["seconds"]) for name, rs in runs.items()}
        spread = {name: [round(r["seconds"], 2) for r in rs] for name, rs in runs.items()}
        if not args.skip_pandas:
            results["pandas + row loop"] = _measure("pandas_way", csv, work / "unused")
        size = csv.stat().st_size

    base = results["floor (duckdb read_csv)"]["seconds"]
    ours = results["workbench ingest"]["seconds"]
    print(f"ingest benchmark: {args.incidents:,} incidents, {size / 1e6:,.0f} MB CSV (generated in {generated:.1f} s); "
          f"fastest of {max(1, args.repeat)} runs, all runs: {spread}")
    print(f"{'step':<26}{'seconds':>10}{'x floor':>10}{'peak MiB':>11}")
    for name, r in results.items():
        print(f"{name:<26}{r['seconds']:>10.2f}{r['seconds'] / base:>10.2f}{r['peak_bytes'] / 2**20:>11.0f}")
    new_store = results["workbench ingest"]["new_store_seconds"]
    print(f"{'(new store, once)':<26}{new_store:>10.2f}{'':>10}{'':>11}")
    summary = {
        "benchmark": "ingest",
        "incidents": args.incidents,
        "csv_bytes": size,
        "floor_seconds": round(base, 3),
        "workbench_seconds": round(ours, 3),
        "workbench_vs_floor": round(ours / base, 2),
        "workbench_peak_mib": round(results["workbench ingest"]["peak_bytes"] / 2**20),
        "new_store_seconds": round(new_store, 3),
        "runs_seconds": spread,
        "targets": {"vs_floor_max": 3.0, "vs_pandas_min": 10.0, "peak_mib_max": 2048},
    }
    if "pandas + row loop" in results:
        pandas_seconds = results["pandas + row loop"]["seconds"]
        summary["pandas_seconds"] = round(pandas_seconds, 3)
        summary["pandas_vs_workbench"] = round(pandas_seconds / ours, 2)
        print(f"workbench is {ours / base:.2f}x the floor and {pandas_seconds / ours:.1f}x faster than the pandas way")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
