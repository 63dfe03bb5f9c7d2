"""Feedback reports for many NGOs over a large store, against a floor measured in the same run.

    python benchmarks/feedback.py [--incidents 1000000] [--ngos 50] [--store PATH] [--out DIR] [--repeat 3] [--json]

The store holds ``--ngos`` fictional NGOs (BENCH01, BENCH02, ...) sharing ``--incidents``
incidents, each a near-perfect package from :func:`workbench.synth.write_benchmark_package` with
its own seed, loaded through ``ingest_package`` as any submission is. Building it is not timed by
the benchmark (its time is shown); ``--store PATH`` keeps it and reuses it on the next run.

1. floor: for each NGO, ``SELECT * FROM incidents WHERE ngo_id = ?`` fetched as a polars frame,
   i.e. reading the NGO's records once;
2. feedback: ``collection_profile`` once, then ``write_report`` (English, HTML only) for each NGO;
   the SQL (metrics) and rendering seconds come from the timings each report returns;
3. one Arabic report with its PDF, shown apart: PDFs are not part of the target.

Each step, building included, runs in its own process so that its peak memory (max RSS) is its
own: Linux carries a process's max RSS over into the processes it starts, so the parent stays
small. Each step opens the store and imports its modules before its clock starts (opening is
shown on its own line).
Target: all HTML reports of 50 NGOs over 1,000,000 incidents in under 60 seconds. Prints a table,
and with ``--json`` one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from harness import (benchmark_ngo, benchmark_paths, ingest_packages, measure, ngo_ids,  # benchmarks/harness.py, beside this script
                     peak_bytes, split)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 60.0
FIRST_SEED = 2011


# --- the store ------------------------------------------------------------------------------------


def _stored_counts(db: Path) -> dict[str, int]:
    from workbench.store import open_store

    if not db.exists():
        return {}
    with open_store(db, read_only=True) as store:
        return dict(store.con.execute("SELECT ngo_id, count(*) FROM active.incidents GROUP BY 1").fetchall())


def build_store(db: Path, wanted: dict[str, int]) -> dict:
    """Ingest the packages of the NGOs ``db`` does not hold yet; the seconds spent, by part."""
    from workbench.errors import WorkbenchError
    from workbench.synth import write_benchmark_package

    stored = _stored_counts(db)
    wrong = [f"{ngo} ({stored[ngo]:,} incidents, expected {n:,})" for ngo, n in wanted.items() if ngo in stored and stored[ngo] != n]
    if wrong:
        raise WorkbenchError(f"the store {db} holds other data for {', '.join(wrong)}; pass a new --store path")
    missing = [ngo for ngo in wanted if ngo not in stored]

    def write(folder: Path, ngo: str) -> Path:
        seed, name = benchmark_ngo(ngo, FIRST_SEED)
        return write_benchmark_package(folder, incidents=wanted[ngo], seed=seed, ngo_id=ngo, name=name)

    generate, ingest = ingest_packages(db, missing, write)
    return {"built_ngos": len(missing), "generate_seconds": generate, "ingest_seconds": ingest}


# --- the measured steps, each in its own process ------------------------------------------------


def _open(db: Path):
    """Open the store before a step's clock starts; the store and the seconds it took."""
    from workbench.store import open_store

    start = time.perf_counter()
    store = open_store(db)
    return store, time.perf_counter() - start


def floor(db: Path, ngos: list[str], _out: Path) -> dict:
    """Read each NGO's incidents once into a polars frame: no feedback can do less."""
    store, opened = _open(db)
    rows, each = 0, []
    start = time.perf_counter()
    for ngo in ngos:
        begin = time.perf_counter()
        rows += store.con.execute("SELECT * FROM incidents WHERE ngo_id = ?", [ngo]).pl().height
        each.append(time.perf_counter() - begin)
    seconds = time.perf_counter() - start
    store.close()
    return {"seconds": seconds, "each": each, "rows": rows, "open_seconds": opened, "peak_bytes": peak_bytes()}


def feedback(db: Path, ngos: list[str], out: Path) -> dict:
    """``collection_profile`` once, then one English HTML report per NGO; then one Arabic PDF apart."""
    from workbench.feedback import write_report
    from workbench.quality import collection_profile

    store, opened = _open(db)
    start = time.perf_counter()
    collection = collection_profile(store)
    profile = time.perf_counter() - start
    each, metrics, render, written = [], 0.0, 0.0, set()
    for ngo in ngos:
        begin = time.perf_counter()
        files = write_report(store, ngo, out, language="en", pdf=False, collection=collection)
        each.append(time.perf_counter() - begin)
        metrics += files.timings["metrics"]
        render += files.timings["render"]
        if files.html.is_file():
            written.add(files.html)
    seconds = time.perf_counter() - start
    peak = peak_bytes()  # before the PDF, which is not part of the target

    begin = time.perf_counter()
    arabic = write_report(store, ngos[0], out, language="ar", pdf=True, collection=collection)
    pdf = {"seconds": time.perf_counter() - begin, **{part: arabic.timings.get(part, 0.0) for part in ("metrics", "render", "pdf")},
           "written": bool(arabic.pdf and arabic.pdf.is_file()), "peak_bytes": peak_bytes()}
    store.close()
    return {"seconds": seconds, "each": each, "profile_seconds": profile, "metrics_seconds": metrics, "render_seconds": render,
            "reports_written": len(written), "open_seconds": opened, "peak_bytes": peak, "pdf": pdf}


def metrics_only(db: Path, ngos: list[str], _out: Path) -> dict:
    """``collection_profile`` once, then ``ngo_metrics`` per NGO: the SQL part of the reports alone."""
    from workbench.quality import collection_profile, ngo_metrics

    store, opened = _open(db)
    start = time.perf_counter()
    collection = collection_profile(store)
    profile = time.perf_counter() - start
    each = []
    for ngo in ngos:
        begin = time.perf_counter()
        ngo_metrics(store, ngo, collection=collection)
        each.append(time.perf_counter() - begin)
    seconds = time.perf_counter() - start
    store.close()
    return {"seconds": seconds, "each": each, "profile_seconds": profile, "metrics_seconds": sum(each), "render_seconds": 0.0,
            "reports_written": 0, "open_seconds": opened, "peak_bytes": peak_bytes(), "pdf": None}


#: Each step: the modules it imports before its clock starts, and the step.
STEPS = {
    "build": ([], build_store),
    "floor": (["duckdb", "polars", "workbench.store"], floor),
    "feedback": (["workbench.feedback", "workbench.quality", "workbench.store"], feedback),
    "metrics": (["workbench.quality", "workbench.store"], metrics_only),
}


def run(name: str, *args) -> dict:
    """Step ``name`` in a fresh interpreter (see benchmarks/harness.py)."""
    modules, step = STEPS[name]
    return measure(modules, step, *args)


# --- the table ------------------------------------------------------------------------------------


def _row(step: str, seconds: float | None, per_report: float | None = None, ratio: float | None = None, note: str = "") -> str:
    def cell(value: float | None, digits: int) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    return f"{step:<34}{cell(seconds, 2):>9}{cell(per_report, 3):>12}{cell(ratio, 1):>9}  {note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000, help="incidents in the store, over all NGOs")
    parser.add_argument("--ngos", type=int, default=50)
    parser.add_argument("--store", type=Path, help="keep the store here and reuse it when it holds the NGOs (default: a temporary one)")
    parser.add_argument("--out", type=Path, help="write the reports here (default: a temporary folder)")
    parser.add_argument("--metrics-only", action="store_true",
                        help="time collection_profile and ngo_metrics alone, without rendering (no write_report)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the floor and of the feedback, interleaved; the fastest of each is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    if args.ngos < 1 or args.incidents < args.ngos:
        parser.error("need at least one NGO and at least one incident per NGO")

    ngos = ngo_ids(args.ngos)
    wanted = dict(zip(ngos, split(args.incidents, args.ngos)))
    with benchmark_paths(args.store, args.out, "feedback") as (db, out):
        start = time.perf_counter()
        built = run("build", db, wanted)
        build_seconds = time.perf_counter() - start
        step = "metrics" if args.metrics_only else "feedback"
        runs: dict[str, list[dict]] = {"floor": [], step: []}
        for _ in range(max(1, args.repeat)):  # interleaved, so that a busy moment of the machine hits both alike
            for name, results in runs.items():
                results.append(run(name, db, ngos, out))
        base, ours = (min(results, key=lambda r: r["seconds"]) for results in runs.values())
        spread = {name: [round(r["seconds"], 2) for r in results] for name, results in runs.items()}

    n = len(ngos)
    total, floor_total = ours["seconds"], base["seconds"]
    per_report, worst = total / n, max(ours["each"])
    metrics, render, profile = ours["metrics_seconds"], ours["render_seconds"], ours["profile_seconds"]
    sql, other = profile + metrics, total - profile - metrics - render
    met = total < TARGET_SECONDS
    what = "metrics for" if args.metrics_only else "HTML reports of"

    print(f"feedback benchmark: {n} NGOs, {args.incidents:,} incidents ({base['rows']:,} read by the floor); "
          f"store {db if args.store else '(temporary)'}; fastest of {len(spread['floor'])} runs, all runs: {spread}")
    if built["built_ngos"]:
        print(f"store built (untimed): {built['built_ngos']} packages generated in {built['generate_seconds']:.1f} s "
              f"and ingested in {built['ingest_seconds']:.1f} s ({build_seconds:.1f} s in all)")
    else:
        print(f"store reused: it already holds the {n} NGOs (checked in {build_seconds:.1f} s)")
    print(f"{'step':<34}{'seconds':>9}{'per report':>12}{'x floor':>9}  note")
    print(_row("floor: SELECT * per NGO, .pl()", floor_total, floor_total / n, 1.0, f"peak {base['peak_bytes'] / 2**20:,.0f} MiB"))
    print(_row("collection_profile (SQL, once)", profile, None, profile / floor_total, f"{profile / total:.0%} of the total"))
    print(_row("  metrics (SQL)", metrics, metrics / n, metrics / floor_total, f"{metrics / total:.0%} of the total"))
    if not args.metrics_only:
        print(_row("  render", render, render / n, render / floor_total, f"{render / total:.0%} of the total"))
        print(_row("  other (rules, custody log)", other, other / n, None, f"{other / total:.0%} of the total"))
    print(_row(f"feedback: {what} {n} NGOs", total, per_report, total / floor_total,
               f"max {worst:.3f} s per report; SQL {sql / total:.0%}, render {render / total:.0%}; "
               f"peak {ours['peak_bytes'] / 2**20:,.0f} MiB; {ours['reports_written']} written"))
    pdf = ours["pdf"]
    if pdf:
        print(_row("one Arabic report with PDF", pdf["seconds"], pdf["seconds"], None,
                   f"informative, not in the target: SQL {pdf['metrics']:.2f} s, HTML {pdf['render']:.2f} s, PDF {pdf['pdf']:.2f} s; "
                   f"peak {pdf['peak_bytes'] / 2**20:,.0f} MiB"))
    print(_row("(open store, once per step)", ours["open_seconds"], None, None, "before the clock"))
    if args.metrics_only:
        print(f"target ({n} HTML reports under {TARGET_SECONDS:.0f} s): not measured (--metrics-only); "
              f"the SQL alone takes {total:.1f} s")
    else:
        print(f"target ({n} HTML reports under {TARGET_SECONDS:.0f} s): {'met' if met else 'NOT met'} ({total:.1f} s)")

    summary = {
        "benchmark": "feedback",
        "incidents": args.incidents,
        "ngos": n,
        "metrics_only": args.metrics_only,
        "store_built_ngos": built["built_ngos"],
        "build_seconds": round(build_seconds, 3),
        "open_store_seconds": round(ours["open_seconds"], 3),
        "floor_seconds": round(floor_total, 3),
        "reports_seconds": round(total, 3),
        "per_report_mean_seconds": round(per_report, 4),
        "per_report_max_seconds": round(worst, 4),
        "feedback_vs_floor": round(total / floor_total, 2),
        "profile_seconds": round(profile, 3),
        "metrics_seconds": round(metrics, 3),
        "render_seconds": round(render, 3),
        "sql_share": round(sql / total, 3),
        "render_share": round(render / total, 3),
        "runs_seconds": spread,
        "peak_mib": round(ours["peak_bytes"] / 2**20),
        "reports_written": ours["reports_written"],
        "out_dir": str(out) if args.out else None,
        "pdf_seconds": round(pdf["seconds"], 3) if pdf else None,
        "pdf_written": pdf["written"] if pdf else None,
        "target": {"html_reports_seconds_max": TARGET_SECONDS},
        "target_met": None if args.metrics_only else met,
    }
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
