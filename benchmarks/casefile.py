"""A case file of ~100,000 incidents and their source hashes from a large store, against DuckDB's bare COPY of the same rows.

    python benchmarks/casefile.py [--incidents 1000000] [--ngos 10] [--select 100000] [--store PATH] [--out DIR] [--repeat 3] [--json]

The store holds ``--ngos`` fictional NGOs (BENCH01, BENCH02, ...) sharing ``--incidents``
incidents, each a package from :func:`workbench.synth.write_benchmark_package` to which this
script adds a ``sources.csv`` (see :func:`source_frame`: 0 to 3 evidence items per incident, about
1.05 on average, each with a SHA-256; 2 % of them under a confidentiality agreement), loaded through
``ingest_package`` as any submission is. ``write_benchmark_package`` writes no sources, so the
script appends the file to the package and to its ``manifest.yaml`` before ingesting it. Every
package's disclosure terms (as ``write_benchmark_package`` writes them) allow DE-GBA and nothing
else; nothing is changed in them. Building the store is not timed (its time is shown);
``--store PATH`` keeps it and reuses it on the next run.

The case file is for DE-GBA, over a period across all NGOs: from the earliest incident to the day
by which about ``--select`` incidents have started. About 3 % of the incidents are confidential-source, so
they and their sources are withheld; the rest is disclosed.

1. floor: DuckDB's bare ``COPY (SELECT <the case file's columns> FROM active.incidents WHERE
   <the same selection> AND NOT confidential_source) TO`` Parquet (zstd, as the case file) and
   CSV, and the same for the sources of those incidents: the rows the case file writes, checked
   row for row by count;
2. whole package: ``write_casefile(store, authority, out, selection)`` with the index PDF and the
   interactive map and timeline; from ``CaseFile.timings``, the rest beside the data part
   (withheld summary, map and timeline, index HTML and PDF, manifest);
3. without PDF, map and timeline: the same with ``pdf=False, interactive=False`` (the index HTML is
   still written), for the peak memory of the data part without them.

The data part (``CaseFile.timings``: decide, the CSV and Parquet of every record type, the custody
log) is the same work in 2 and 3: the fastest of all their runs is compared with the floor.

Each step runs in its own process so that its peak memory (max RSS) is its own, and opens the
store and imports its modules before its clock starts. Every case file is logged in the store as
any export is. Target: the data part within 3x the floor. Prints a table, and with ``--json`` one
JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness import (benchmark_ngo, benchmark_paths, ingest_packages, measure, ngo_ids,  # benchmarks/harness.py, beside this script
                     peak_bytes, split)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:  # polars is imported by the steps, in their own processes: the parent stays small
    import polars as pl

FIRST_SEED = 2011
AUTHORITY = "DE-GBA (Federal Prosecutor, Germany)"
TARGET_RATIO = 3.0
#: Share of incidents with no, one, two or three sources (about 1.05 per incident).
SOURCES_PER_INCIDENT = (0.25, 0.5, 0.2, 0.05)
#: Source types (codes of the source_types vocabulary) and their shares.
SOURCE_TYPES = (("video", 0.35), ("photograph", 0.3), ("testimony", 0.15), ("document", 0.1), ("social_media_post", 0.1))
SOURCE_CONFIDENTIAL_SHARE = 0.02
URL_SHARE = 0.3
#: Parts of the data written by the case file and by the floor, in order.
DATA_RECORDS = ("incidents", "sources")


# --- the store ------------------------------------------------------------------------------------


def source_frame(incidents: pl.DataFrame, seed: int, ngo_id: str) -> pl.DataFrame:
    """Evidence items for the benchmark ``incidents`` (``incident_id``, ``date_start``): the rows of a ``sources.csv``."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng([seed, 97])
    per_incident = rng.choice(len(SOURCES_PER_INCIDENT), size=incidents.height, p=SOURCES_PER_INCIDENT)
    parent = np.repeat(np.arange(incidents.height), per_incident)
    slot = np.arange(parent.size) - np.repeat(np.cumsum(per_incident) - per_incident, per_incident) + 1
    n = parent.size
    codes, shares = zip(*SOURCE_TYPES)
    kind = rng.choice(len(codes), size=n, p=np.array(shares) / sum(shares))
    digests = np.frombuffer(rng.bytes(32 * n).hex().encode("ascii"), dtype="S64").astype("U64")
    frame = pl.DataFrame({
        "incident_id": incidents["incident_id"].gather(pl.Series(parent, dtype=pl.UInt32)),
        "date_start": incidents["date_start"].str.to_date().gather(pl.Series(parent, dtype=pl.UInt32)),
        "slot": slot,
        "source_type": pl.Series(codes, dtype=pl.String).gather(pl.Series(kind, dtype=pl.UInt32)),
        "media_sha256": digests,
        "days_after": rng.integers(0, 3, size=n),
        "with_url": rng.random(n) < URL_SHARE,
        "confidential": rng.random(n) < SOURCE_CONFIDENTIAL_SHARE,
    })  # fmt: skip
    source_id = pl.format("{}-S{}", pl.col("incident_id"), pl.col("slot"))
    return frame.select(
        source_id.alias("source_id"),
        pl.col("incident_id"),
        pl.col("source_type"),
        pl.format("Item {} of the incident ({}), collected by the documenting team.", pl.col("slot"),
                  pl.col("source_type").str.replace("_", " ")).alias("description"),
        pl.lit(None, dtype=pl.String).alias("media_file"),  # no media travel with the package: nothing to check against a file
        pl.col("media_sha256"),
        (pl.col("date_start") + pl.duration(days=pl.col("days_after"))).cast(pl.String).alias("capture_date"),
        pl.when(pl.col("with_url")).then(pl.format("https://example.org/{}/evidence/{}", pl.lit(ngo_id.lower()), source_id)).alias("url"),
        pl.when(pl.col("confidential")).then(pl.lit("true")).otherwise(pl.lit("false")).alias("confidential_source"),
    )


def write_package(out: Path, incidents: int, seed: int, ngo_id: str, name: str) -> Path:
    """The benchmark package of one NGO with a ``sources.csv`` added to it and to its manifest."""
    import polars as pl
    import yaml

    from workbench.synth import write_benchmark_package
    from workbench.synth.writers import yaml_bytes

    folder = write_benchmark_package(out, incidents=incidents, seed=seed, ngo_id=ngo_id, name=name)
    rows = pl.read_csv(folder / "incidents.csv", columns=["incident_id", "date_start"], infer_schema_length=0)
    source_frame(rows, seed, ngo_id).write_csv(folder / "sources.csv")
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text(encoding="utf-8"))
    manifest["files"].append({"path": "sources.csv", "record_type": "sources"})
    (folder / "manifest.yaml").write_bytes(yaml_bytes(manifest))
    return folder


def _stored_counts(db: Path) -> dict[str, int]:
    from workbench.store import open_store

    if not db.exists():
        return {}
    with open_store(db, read_only=True) as store:
        return dict(store.con.execute("SELECT ngo_id, count(*) FROM active.incidents GROUP BY 1").fetchall())


def build_store(db: Path, wanted: dict[str, int], select: int) -> dict:
    """Ingest the packages of the NGOs ``db`` does not hold yet, then choose the period of about ``select`` incidents."""
    from workbench.errors import WorkbenchError
    from workbench.store import open_store

    stored = _stored_counts(db)
    wrong = [f"{ngo} ({stored[ngo]:,} incidents, expected {n:,})" for ngo, n in wanted.items() if ngo in stored and stored[ngo] != n]
    others = sorted(set(stored) - set(wanted))
    if wrong or others:
        raise WorkbenchError(f"the store {db} holds other data ({', '.join(wrong + others)}); pass a new --store path")
    missing = [ngo for ngo in wanted if ngo not in stored]

    def write(folder: Path, ngo: str) -> Path:
        seed, name = benchmark_ngo(ngo, FIRST_SEED)
        return write_package(folder, wanted[ngo], seed, ngo, name)

    generate, ingest = ingest_packages(db, missing, write)
    with open_store(db, read_only=True) as store:
        total, sources, first, last = store.con.execute(
            "SELECT count(*), (SELECT count(*) FROM active.sources), min(date_start), quantile_disc(date_start, ?) FROM active.incidents",
            [min(1.0, select / sum(wanted.values()))]).fetchone()
    if not sources:
        raise WorkbenchError(f"the store {db} holds no sources (built by another benchmark?); pass a new --store path")
    return {"built_ngos": len(missing), "generate_seconds": generate, "ingest_seconds": ingest, "incidents": total, "sources": sources,
            "period": f"{first.isoformat()}..{last.isoformat()}"}


# --- the measured steps, each in its own process ------------------------------------------------


def _fresh(folder: Path) -> Path:
    """``folder``, emptied: each run writes where this benchmark wrote before, never anywhere else."""
    if folder.exists():
        shutil.rmtree(folder)
    return folder


def floor_step(db: Path, period: str, out: Path, run: int) -> dict:
    """DuckDB's bare COPY of the disclosed incidents and of their disclosed sources, to Parquet and to CSV."""
    from workbench.casefile.package import export_columns, load_casefile_config
    from workbench.sql import quote_ident, sql_literal
    from workbench.store import open_store
    from workbench.views.selection import Selection, where_sql

    store = open_store(db, read_only=True)
    config = load_casefile_config()
    folder = _fresh(out / f"floor-{run}")
    folder.mkdir(parents=True)
    # every benchmark NGO allows DE-GBA, so what the case file withholds is the confidential-source rows and their sources
    incidents = f"FROM active.incidents i WHERE {where_sql(Selection.parse(period=period), store)} AND i.confidential_source IS NOT TRUE"
    rows = {
        "incidents": incidents,
        "sources": f"FROM active.sources s WHERE (s.ngo_id, s.incident_id) IN (SELECT i.ngo_id, i.incident_id {incidents}) "
                   "AND s.confidential_source IS NOT TRUE",
    }
    parts: dict[str, float] = {}
    written: dict[str, dict] = {}
    start = time.perf_counter()
    for record_type in DATA_RECORDS:
        columns = ", ".join(quote_ident(c) for c, _ in export_columns(store, record_type, config))
        for form, options in (("parquet", "FORMAT parquet, COMPRESSION zstd"), ("csv", "FORMAT csv, HEADER true")):
            path = folder / f"{record_type}.{form}"
            begin = time.perf_counter()
            count = store.con.execute(f"COPY (SELECT {columns} {rows[record_type]}) TO {sql_literal(str(path))} ({options})").fetchone()[0]
            parts[f"{record_type} {form}"] = time.perf_counter() - begin
            written[f"{record_type} {form}"] = {"rows": count, "bytes": path.stat().st_size}
    seconds = time.perf_counter() - start
    store.close()
    return {"seconds": seconds, "parts": parts, "files": written, "peak_bytes": peak_bytes()}


def casefile_step(db: Path, period: str, out: Path, run: int, whole: bool) -> dict:
    """``write_casefile`` for DE-GBA over the period: the whole package, or (``whole`` False) without PDF, map and timeline."""
    from workbench.casefile import write_casefile
    from workbench.store import open_store
    from workbench.views.selection import Selection

    store = open_store(db)
    selection = Selection.parse(period=period)
    folder = _fresh(out / f"casefile-{'whole' if whole else 'data'}-{run}")
    start = time.perf_counter()
    written = write_casefile(store, AUTHORITY, folder, selection, pdf=whole, interactive=whole)
    seconds = time.perf_counter() - start
    peak = peak_bytes()
    store.close()
    counts = {row["record_type"]: {"disclosed": row["disclosed"], "withheld": row["withheld"]} for row in written.plan.counts.to_dicts()}
    files = {entry["path"]: {"rows": entry["rows"], "bytes": entry["bytes"]} for entry in written.files}
    package_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"seconds": seconds, "timings": dict(written.timings), "counts": counts, "files": files, "package_bytes": package_bytes,
            "directory": str(folder), "peak_bytes": peak}


CASEFILE_MODULES = ["duckdb", "polars", "workbench.store", "workbench.views.selection", "workbench.casefile", "workbench.casefile.package",
                    "workbench.casefile.index"]
#: Each step: the modules it imports before its clock starts, and the step.
STEPS = {
    "build": ([], build_store),
    "floor": (["duckdb", "workbench.store", "workbench.casefile.package", "workbench.views.selection"], floor_step),
    "casefile": (CASEFILE_MODULES, casefile_step),
}


def run(name: str, *args) -> dict:
    """Step ``name`` in a fresh interpreter (see benchmarks/harness.py)."""
    modules, step = STEPS[name]
    return measure(modules, step, *args)


# --- the figures ----------------------------------------------------------------------------------


def data_seconds(timings: dict[str, float]) -> float:
    """The data part of a case file: deciding, the CSV and Parquet of every record type, and the custody log."""
    return timings["decide"] + sum(v for k, v in timings.items() if k.startswith("write ")) + timings["log"]


def _mib(size: float) -> int:
    return round(size / 2**20)


def _row(step: str, seconds: float | None, ratio: float | None = None, note: str = "") -> str:
    cells = ("" if seconds is None else f"{seconds:.2f}", "" if ratio is None else f"{ratio:.2f}")
    return f"{step:<40}{cells[0]:>9}{cells[1]:>9}  {note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000, help="incidents in the store, over all NGOs")
    parser.add_argument("--ngos", type=int, default=10)
    parser.add_argument("--select", type=int, default=100_000, help="about how many incidents the case file's period selects")
    parser.add_argument("--store", type=Path, help="keep the store here and reuse it when it holds the NGOs (default: a temporary one)")
    parser.add_argument("--out", type=Path, help="keep the case files and the floor's files here (default: a temporary folder)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the floor, the case file and the case file without PDF, map and timeline, interleaved; "
                             "the fastest of each is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    if args.ngos < 1 or args.incidents < args.ngos or not 1 <= args.select <= args.incidents:
        parser.error("need at least one NGO, one incident per NGO, and --select between 1 and --incidents")

    ngos = ngo_ids(args.ngos)
    wanted = dict(zip(ngos, split(args.incidents, args.ngos)))
    repeat = max(1, args.repeat)
    with benchmark_paths(args.store, args.out, "casefile") as (db, out):
        start = time.perf_counter()
        built = run("build", db, wanted, args.select)
        build_seconds = time.perf_counter() - start
        period = built["period"]

        runs: dict[str, list[dict]] = {"floor": [], "whole": [], "data": []}
        for r in range(1, repeat + 1):  # interleaved, so that a busy moment of the machine hits all alike
            runs["floor"].append(run("floor", db, period, out, r))
            runs["whole"].append(run("casefile", db, period, out, r, True))
            runs["data"].append(run("casefile", db, period, out, r, False))

    floor = min(runs["floor"], key=lambda r: r["seconds"])
    whole = min(runs["whole"], key=lambda r: r["seconds"])
    # both kinds of case file do the same data work (decide, CSV, Parquet, log): the fastest of them all is the data part
    data_run = min(runs["whole"] + runs["data"], key=lambda r: data_seconds(r["timings"]))
    spread = {"floor": [round(r["seconds"], 2) for r in runs["floor"]],
              "data_part": [round(data_seconds(r["timings"]), 2) for r in runs["whole"] + runs["data"]],
              "whole": [round(r["seconds"], 2) for r in runs["whole"]],
              "without_pdf_map_timeline": [round(r["seconds"], 2) for r in runs["data"]]}

    # the floor must have written the rows the case file wrote, or the ratio compares different work
    counts, floor_files = whole["counts"], floor["files"]
    mismatch = [f"{t}: case file {counts[t]['disclosed']:,}, floor {floor_files[f'{t} csv']['rows']:,}"
                for t in DATA_RECORDS if counts[t]["disclosed"] != floor_files[f"{t} csv"]["rows"]]
    if mismatch:
        sys.exit(f"the floor did not write the rows the case file disclosed ({'; '.join(mismatch)}): the figures would not compare")

    floor_seconds, timings = floor["seconds"], data_run["timings"]
    data, total = data_seconds(timings), whole["seconds"]
    ratio, whole_ratio = data / floor_seconds, total / floor_seconds
    met = ratio <= TARGET_RATIO
    rest = {"withheld summary, map, timeline": whole["timings"]["interactive"], "index HTML and PDF": whole["timings"]["index"],
            "manifest, rename (not in timings)": total - sum(whole["timings"].values())}
    files = whole["files"]
    data_bytes = sum(files[f"data/{t}.{form}"]["bytes"] for t in DATA_RECORDS for form in ("csv", "parquet"))
    floor_bytes = sum(f["bytes"] for f in floor_files.values())
    data_peak = max(r["peak_bytes"] for r in runs["data"])
    whole_peak = max(r["peak_bytes"] for r in runs["whole"])
    without = min(runs["data"], key=lambda r: r["seconds"])

    print(f"case-file benchmark: {args.incidents:,} incidents and {built['sources']:,} sources of {len(ngos)} NGOs; authority {AUTHORITY}; "
          f"period {period}; store {db if args.store else '(temporary)'}; fastest of {repeat} runs, all runs: {spread}")
    if built["built_ngos"]:
        print(f"store built (untimed): {built['built_ngos']} packages (with sources.csv added by this script) generated in "
              f"{built['generate_seconds']:.1f} s and ingested in {built['ingest_seconds']:.1f} s ({build_seconds:.1f} s in all)")
    else:
        print(f"store reused: it already holds the {len(ngos)} NGOs (checked in {build_seconds:.1f} s)")
    held = [f"{t} {c['disclosed']:,} disclosed, {c['withheld']:,} withheld" for t, c in counts.items() if c["disclosed"] or c["withheld"]]
    print(f"disclosure terms as write_benchmark_package writes them (DE-GBA allowed, default not allowed), unchanged; "
          f"case file: {'; '.join(held)}")
    print(f"{'step':<40}{'seconds':>9}{'x floor':>9}  note")
    print(_row("floor: bare COPY to Parquet and CSV", floor_seconds, 1.0,
               f"{floor_bytes / 1e6:,.1f} MB; peak {_mib(floor['peak_bytes']):,} MiB"))
    for part, seconds in floor["parts"].items():
        print(_row(f"  {part}", seconds, None, f"{floor_files[part]['rows']:,} rows, {floor_files[part]['bytes'] / 1e6:,.1f} MB"))
    print(_row("case file, data part", data, ratio, f"target <= {TARGET_RATIO:.0f}x {'met' if met else 'NOT met'}; "
               f"{data_bytes / 1e6:,.1f} MB of incidents and sources; peak {_mib(data_peak):,} MiB (without PDF, map, timeline)"))
    print(_row("  decide (stage and plan)", timings["decide"], timings["decide"] / floor_seconds))
    for key, seconds in timings.items():
        if key.startswith("write ") and (rows := files[f"data/{key.removeprefix('write ')}.csv"]["rows"]):
            print(_row(f"  {key}", seconds, seconds / floor_seconds, f"CSV and Parquet with their SHA-256, {rows:,} rows"))
    empty = sum(v for k, v in timings.items() if k.startswith("write ") and not files[f"data/{k.removeprefix('write ')}.csv"]["rows"])
    print(_row("  write the empty record types", empty, empty / floor_seconds, "header-only CSV and empty Parquet"))
    print(_row("  custody log (export items)", timings["log"], timings["log"] / floor_seconds))
    print(_row("case file, whole package", total, whole_ratio,
               f"{whole['package_bytes'] / 1e6:,.1f} MB in {len(files) + 2} files; peak {_mib(whole_peak):,} MiB"))
    print(_row("  data part (this run)", data_seconds(whole["timings"]), data_seconds(whole["timings"]) / floor_seconds))
    for part, seconds in rest.items():
        print(_row(f"  {part}", seconds, seconds / floor_seconds))
    print(_row("case file without PDF, map, timeline", without["seconds"], without["seconds"] / floor_seconds,
               f"index HTML {without['timings']['index']:.2f} s"))
    print(f"target (data part within {TARGET_RATIO:.0f}x the bare COPY): {'met' if met else 'NOT met'} ({ratio:.2f}x)")

    def rounded(values: dict[str, float]) -> dict[str, float]:
        return {k: round(v, 3) for k, v in values.items()}

    summary = {
        "benchmark": "casefile",
        "incidents": args.incidents,
        "ngos": len(ngos),
        "sources": built["sources"],
        "authority": AUTHORITY,
        "period": period,
        "store_built_ngos": built["built_ngos"],
        "build_seconds": round(build_seconds, 3),
        "records": {t: c["disclosed"] for t, c in counts.items()},
        "withheld": {t: c["withheld"] for t, c in counts.items()},
        "floor_seconds": round(floor_seconds, 3),
        "floor_parts": rounded(floor["parts"]),
        "floor_bytes": floor_bytes,
        "floor_peak_mib": _mib(floor["peak_bytes"]),
        "data_seconds": round(data, 3),
        "data_timings": rounded({k: v for k, v in timings.items() if k in ("decide", "log") or k.startswith("write ")}),
        "data_vs_floor": round(ratio, 2),
        "data_bytes": data_bytes,
        "data_peak_mib": _mib(data_peak),
        "whole_seconds": round(total, 3),
        "whole_timings": rounded(whole["timings"]),
        "whole_vs_floor": round(whole_ratio, 2),
        "package_bytes": whole["package_bytes"],
        "peak_mib": _mib(whole_peak),
        "without_pdf_map_timeline_seconds": round(without["seconds"], 3),
        "files": files,
        "runs_seconds": spread,
        "out_dir": str(out) if args.out else None,
        "target": {"data_vs_floor_max": TARGET_RATIO},
        "target_met": met,
    }
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
