"""Map, Chromium rendering, actor graph and timeline over a large store, each beside the same view of nothing.

    python benchmarks/views.py [--incidents 1000000] [--ngos 10] [--actors 300] [--store PATH] [--out DIR] [--repeat 3] [--json]

The store holds ``--ngos`` fictional NGOs (BENCH01, BENCH02, ...) sharing ``--incidents``
incidents, each NGO with ``--actors`` invented units and one to three of them per incident (a few
in many incidents), from :func:`workbench.synth.write_benchmark_package`, loaded through
``ingest_package`` as any submission is. Building it is not timed by the benchmark (its time is
shown); ``--store PATH`` keeps it and reuses it on the next run.

Every view is measured twice: over all incidents, and over a selection that matches nothing
(``Selection(ngos=("NOBODY",))``), the baseline of what the view costs with no data at all.

1. map: ``incident_map`` then ``save_map`` to an HTML file; its size;
2. render: headless Chromium, offline (every host unresolvable, every proxied request refused,
   as in the rendering tests), opens the map file and takes a screenshot: the time of the process;
3. actor graph: ``actor_graph`` then ``graph_metrics``;
4. timeline (informative): ``timeline_frame``, ``timeline_figure`` and ``save_timeline``.

Each step runs in its own process so that its peak memory (max RSS) is its own, and opens the
store and imports its modules before its clock starts. Targets: map HTML under 20 MB, rendered in
under 5 s, the actor graph with its metrics in under 30 s. Prints a table, and with ``--json``
one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import (benchmark_ngo, benchmark_paths, ingest_packages, measure, ngo_ids,  # benchmarks/harness.py, beside this script
                     peak_bytes, split)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_SEED = 2011
MAP_BYTES_MAX = 20_000_000
RENDER_SECONDS_MAX = 5.0
GRAPH_SECONDS_MAX = 30.0
#: The same browser set-up as the rendering tests (tests/browser.py), which benchmarks do not import:
#: every host resolves to nothing and every connection goes to a closed port.
OFFLINE_FLAGS = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
BASE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
RENDER_WAIT_MS = 2000
RENDER_TIMEOUT = 300


def chromium() -> str | None:
    """The Chromium binary the rendering tests would use (``WORKBENCH_CHROMIUM`` first), or None."""
    for candidate in (os.environ.get("WORKBENCH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


# --- the store ------------------------------------------------------------------------------------


def _stored_counts(db: Path) -> dict[str, tuple[int, int]]:
    """Incidents and actors per NGO in ``db``."""
    from workbench.store import open_store

    if not db.exists():
        return {}
    with open_store(db, read_only=True) as store:
        rows = store.con.execute("""SELECT i.ngo_id, i.n, coalesce(a.n, 0) FROM (SELECT ngo_id, count(*) AS n FROM active.incidents GROUP BY 1) i
            LEFT JOIN (SELECT ngo_id, count(*) AS n FROM active.actors GROUP BY 1) a USING (ngo_id)""").fetchall()
    return {ngo: (incidents, actors) for ngo, incidents, actors in rows}


def build_store(db: Path, wanted: dict[str, int], actors: int) -> dict:
    """Ingest the packages of the NGOs ``db`` does not hold yet; the seconds spent, by part."""
    from workbench.errors import WorkbenchError
    from workbench.store import open_store
    from workbench.synth import write_benchmark_package

    stored = _stored_counts(db)
    wrong = [f"{ngo} ({stored[ngo][0]:,} incidents and {stored[ngo][1]:,} actors, expected {n:,} and {actors:,})"
             for ngo, n in wanted.items() if ngo in stored and stored[ngo] != (n, actors)]
    if wrong:
        raise WorkbenchError(f"the store {db} holds other data for {', '.join(wrong)}; pass a new --store path")
    missing = [ngo for ngo in wanted if ngo not in stored]

    def write(folder: Path, ngo: str) -> Path:
        seed, name = benchmark_ngo(ngo, FIRST_SEED)
        return write_benchmark_package(folder, incidents=wanted[ngo], seed=seed, ngo_id=ngo, name=name, actors=actors)

    generate, ingest = ingest_packages(db, missing, write)
    with open_store(db, read_only=True) as store:
        links = store.con.execute("SELECT count(*) FROM active.incident_actors").fetchone()[0]
    return {"built_ngos": len(missing), "generate_seconds": generate, "ingest_seconds": ingest, "links": links}


# --- the measured steps, each in its own process ------------------------------------------------


def _selection(empty: bool):
    from workbench.views.selection import Selection

    return Selection(ngos=("NOBODY",)) if empty else Selection()


def _open(db: Path):
    from workbench.store import open_store

    return open_store(db, read_only=True)


def map_step(db: Path, empty: bool, out: Path) -> dict:
    """``incident_map`` and ``save_map``: the map of the selection as one self-contained HTML file."""
    from workbench.views.maps import incident_map, save_map

    store, selection, page = _open(db), _selection(empty), out / ("map-empty.html" if empty else "map.html")
    start = time.perf_counter()
    drawn = incident_map(store, selection)
    built = time.perf_counter()
    save_map(drawn, page)
    end = time.perf_counter()
    store.close()
    return {"seconds": end - start, "build_seconds": built - start, "save_seconds": end - built, "html_bytes": page.stat().st_size,
            "page": str(page), "peak_bytes": peak_bytes()}


def render_step(page: Path, empty: bool, out: Path) -> dict:
    """Headless Chromium, offline, opens ``page`` and writes a screenshot: the seconds of that process."""
    from PIL import Image

    binary = chromium()
    png = out / f"{page.stem}.png"
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [binary, *BASE_FLAGS, *OFFLINE_FLAGS, f"--user-data-dir={profile}", "--window-size=1200,800",
                   f"--virtual-time-budget={RENDER_WAIT_MS}", "--run-all-compositor-stages-before-draw",
                   f"--screenshot={png}", page.resolve().as_uri()]
        start = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=RENDER_TIMEOUT)
            log, timed_out = done.stderr, False
        except subprocess.TimeoutExpired as exc:
            log, timed_out = (exc.stderr or b"").decode(errors="replace"), True
        seconds = time.perf_counter() - start
    ink = 0
    if png.exists():  # pixels that differ from the most common colour: 0 means a blank page
        image = Image.open(png).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 24) or []
        ink = image.width * image.height - (max(colours)[0] if colours else 0)
    failed = [line for line in log.splitlines() if "net::ERR" in line or "Failed to load resource" in line]
    return {"seconds": seconds, "rendered": png.exists() and not timed_out, "timed_out": timed_out, "ink": ink,
            "failed_requests": len(failed), "peak_bytes": peak_bytes(resource.RUSAGE_CHILDREN)}


def graph_step(db: Path, empty: bool, _out: Path) -> dict:
    """``actor_graph`` (co-occurrence of actors in the selected incidents), then ``graph_metrics``."""
    from workbench.views.graphs import actor_graph, graph_metrics

    store, selection = _open(db), _selection(empty)
    start = time.perf_counter()
    graph = actor_graph(store, selection)
    built = time.perf_counter()
    graph_metrics(graph)
    end = time.perf_counter()
    store.close()
    return {"seconds": end - start, "build_seconds": built - start, "metrics_seconds": end - built,
            "nodes": graph.number_of_nodes(), "edges": graph.number_of_edges(), "peak_bytes": peak_bytes()}


def timeline_step(db: Path, empty: bool, out: Path) -> dict:
    """``timeline_frame``, ``timeline_figure`` and ``save_timeline``: the timeline as an HTML file."""
    from workbench.views.timeline import save_timeline, timeline_figure, timeline_frame

    store, selection, page = _open(db), _selection(empty), out / ("timeline-empty.html" if empty else "timeline.html")
    start = time.perf_counter()
    frame = timeline_frame(store, selection)
    figure = timeline_figure(frame)
    save_timeline(figure, page)
    seconds = time.perf_counter() - start
    store.close()
    return {"seconds": seconds, "html_bytes": page.stat().st_size, "rows": len(frame), "peak_bytes": peak_bytes()}


VIEW_MODULES = ["workbench.store", "workbench.views.selection"]
#: Each step: the modules it imports before its clock starts, and the step.
STEPS = {
    "build": ([], build_store),
    "map": ([*VIEW_MODULES, "workbench.views.maps"], map_step),
    "render": (["PIL.Image"], render_step),
    "graph": ([*VIEW_MODULES, "workbench.views.graphs"], graph_step),
    "timeline": ([*VIEW_MODULES, "workbench.views.timeline"], timeline_step),
}


def run(name: str, *args) -> dict:
    """Step ``name`` in a fresh interpreter (see benchmarks/harness.py)."""
    modules, step = STEPS[name]
    return measure(modules, step, *args)


# --- the table ------------------------------------------------------------------------------------


def _mb(size: float) -> str:
    return f"{size / 1e6:.2f} MB"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _ratio(full: float, empty: float) -> float | None:
    return round(full / empty, 2) if empty else None


def _row(what: str, full: str, empty: str, ratio: float | None, target: str = "", verdict: str = "", note: str = "") -> str:
    return f"{what:<34}{full:>12}{empty:>12}{'' if ratio is None else f'{ratio:.1f}':>9}  {target:<9}{verdict:<8}{note}"


def _mib(result: dict) -> int:
    return round(result["peak_bytes"] / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000, help="incidents in the store, over all NGOs")
    parser.add_argument("--ngos", type=int, default=10)
    parser.add_argument("--actors", type=int, default=300, help="invented actors per NGO")
    parser.add_argument("--store", type=Path, help="keep the store here and reuse it when it holds the NGOs (default: a temporary one)")
    parser.add_argument("--out", type=Path, help="keep the map, timeline and screenshots here (default: a temporary folder)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each step over all incidents and over none, interleaved; the fastest of each is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    if args.ngos < 1 or args.incidents < args.ngos or args.actors < 1:
        parser.error("need at least one NGO, one incident per NGO and one actor")
    if chromium() is None:
        sys.exit("no Chromium found to render the map: install it (Debian: apt install chromium, or make browser) or set WORKBENCH_CHROMIUM")

    ngos = ngo_ids(args.ngos)
    wanted = dict(zip(ngos, split(args.incidents, args.ngos)))
    repeat = max(1, args.repeat)
    with benchmark_paths(args.store, args.out, "views") as (db, out):
        start = time.perf_counter()
        built = run("build", db, wanted, args.actors)
        build_seconds = time.perf_counter() - start

        runs: dict[str, list[dict]] = {}
        for _ in range(repeat):  # interleaved, so that a busy moment of the machine hits all alike
            for empty in (False, True):
                tag = "empty " if empty else ""
                drawn = run("map", db, empty, out)
                runs.setdefault(f"{tag}map", []).append(drawn)
                runs.setdefault(f"{tag}render", []).append(run("render", Path(drawn["page"]), empty, out))
                runs.setdefault(f"{tag}graph", []).append(run("graph", db, empty, out))
                runs.setdefault(f"{tag}timeline", []).append(run("timeline", db, empty, out))
        best = {name: min(results, key=lambda r: r["seconds"]) for name, results in runs.items()}
        spread = {name: [round(r["seconds"], 2) for r in results] for name, results in runs.items()}

    full_map, empty_map = best["map"], best["empty map"]
    full_render, empty_render = best["render"], best["empty render"]
    full_graph, empty_graph = best["graph"], best["empty graph"]
    full_timeline, empty_timeline = best["timeline"], best["empty timeline"]
    met = {
        "map_html": full_map["html_bytes"] < MAP_BYTES_MAX,
        "render": full_render["rendered"] and full_render["seconds"] < RENDER_SECONDS_MAX,
        "graph": full_graph["seconds"] < GRAPH_SECONDS_MAX,
    }

    def verdict(name: str) -> str:
        return "met" if met[name] else "NOT met"

    print(f"views benchmark: {args.incidents:,} incidents of {len(ngos)} NGOs, {args.actors:,} actors each, "
          f"{built['links']:,} incident-actor links; store {db if args.store else '(temporary)'}; "
          f"fastest of {repeat} runs, all runs: {spread}")
    if built["built_ngos"]:
        print(f"store built (untimed): {built['built_ngos']} packages generated in {built['generate_seconds']:.1f} s "
              f"and ingested in {built['ingest_seconds']:.1f} s ({build_seconds:.1f} s in all)")
    else:
        print(f"store reused: it already holds the {len(ngos)} NGOs (checked in {build_seconds:.1f} s)")
    print(f"{'view':<34}{'all':>12}{'empty':>12}{'x empty':>9}  {'target':<17}note")
    print(_row("map: incident_map + save_map", _s(full_map["seconds"]), _s(empty_map["seconds"]),
               _ratio(full_map["seconds"], empty_map["seconds"]), "", "",
               f"build {full_map['build_seconds']:.2f} s, save {full_map['save_seconds']:.2f} s; peak {_mib(full_map):,} MiB"))
    print(_row("  map HTML size", _mb(full_map["html_bytes"]), _mb(empty_map["html_bytes"]),
               _ratio(full_map["html_bytes"], empty_map["html_bytes"]), f"< {MAP_BYTES_MAX / 1e6:.0f} MB", verdict("map_html")))
    print(_row("  Chromium render (screenshot)", _s(full_render["seconds"]), _s(empty_render["seconds"]),
               _ratio(full_render["seconds"], empty_render["seconds"]), f"< {RENDER_SECONDS_MAX:.0f} s", verdict("render"),
               f"offline; {'screenshot' if full_render['rendered'] else 'NO screenshot'}, {full_render['ink']:,} px of ink "
               f"(empty {empty_render['ink']:,}); {full_render['failed_requests']} failed requests "
               f"(empty {empty_render['failed_requests']}); peak {_mib(full_render):,} MiB"))
    print(_row("actor graph + graph_metrics", _s(full_graph["seconds"]), _s(empty_graph["seconds"]),
               _ratio(full_graph["seconds"], empty_graph["seconds"]), f"< {GRAPH_SECONDS_MAX:.0f} s", verdict("graph"),
               f"{full_graph['nodes']:,} actors, {full_graph['edges']:,} edges; graph {full_graph['build_seconds']:.2f} s, "
               f"metrics {full_graph['metrics_seconds']:.2f} s; peak {_mib(full_graph):,} MiB"))
    print(_row("timeline (informative)", _s(full_timeline["seconds"]), _s(empty_timeline["seconds"]),
               _ratio(full_timeline["seconds"], empty_timeline["seconds"]), "", "",
               f"{full_timeline['rows']:,} rows; peak {_mib(full_timeline):,} MiB"))
    print(_row("  timeline HTML size", _mb(full_timeline["html_bytes"]), _mb(empty_timeline["html_bytes"]),
               _ratio(full_timeline["html_bytes"], empty_timeline["html_bytes"])))
    print(f"targets: map HTML under {MAP_BYTES_MAX / 1e6:.0f} MB {verdict('map_html')}, rendered under {RENDER_SECONDS_MAX:.0f} s "
          f"{verdict('render')}, actor graph with metrics under {GRAPH_SECONDS_MAX:.0f} s {verdict('graph')}")

    def view(result: dict, keys: tuple[str, ...]) -> dict:
        return {key: round(result[key], 3) if isinstance(result[key], float) else result[key] for key in keys} | {"peak_mib": _mib(result)}

    map_keys, render_keys = ("seconds", "build_seconds", "save_seconds", "html_bytes"), ("seconds", "rendered", "ink", "failed_requests")
    graph_keys, timeline_keys = ("seconds", "build_seconds", "metrics_seconds", "nodes", "edges"), ("seconds", "html_bytes", "rows")
    summary = {
        "benchmark": "views",
        "incidents": args.incidents,
        "ngos": len(ngos),
        "actors_per_ngo": args.actors,
        "incident_actor_links": built["links"],
        "store_built_ngos": built["built_ngos"],
        "build_seconds": round(build_seconds, 3),
        "map": view(full_map, map_keys),
        "empty_map": view(empty_map, map_keys),
        "render": view(full_render, render_keys),
        "empty_render": view(empty_render, render_keys),
        "graph": view(full_graph, graph_keys),
        "empty_graph": view(empty_graph, graph_keys),
        "timeline": view(full_timeline, timeline_keys),
        "empty_timeline": view(empty_timeline, timeline_keys),
        "ratios": {
            "map_seconds": _ratio(full_map["seconds"], empty_map["seconds"]),
            "map_html_bytes": _ratio(full_map["html_bytes"], empty_map["html_bytes"]),
            "render_seconds": _ratio(full_render["seconds"], empty_render["seconds"]),
            "graph_seconds": _ratio(full_graph["seconds"], empty_graph["seconds"]),
            "timeline_seconds": _ratio(full_timeline["seconds"], empty_timeline["seconds"]),
            "timeline_html_bytes": _ratio(full_timeline["html_bytes"], empty_timeline["html_bytes"]),
        },
        "runs_seconds": spread,
        "out_dir": str(out) if args.out else None,
        "targets": {"map_html_bytes_max": MAP_BYTES_MAX, "render_seconds_max": RENDER_SECONDS_MAX, "graph_seconds_max": GRAPH_SECONDS_MAX},
        "target_met": met,
    }
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
