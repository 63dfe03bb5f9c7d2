"""What the benchmarks share: each step runs in a fresh interpreter, and reports a result or its failure.

Spawned, not forked: DuckDB and polars hold threads that a fork would copy in a locked state. A
fresh interpreter also gives each step its own peak memory (max RSS), as long as the parent stays
small (a child starts with its parent's peak as its own: ru_maxrss survives fork and exec).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import queue as queue_module
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable


def ngo_ids(count: int) -> list[str]:
    """``BENCH01`` ... : the fictional NGOs of a benchmark store."""
    width = max(2, len(str(count)))
    return [f"BENCH{i:0{width}d}" for i in range(1, count + 1)]


def split(total: int, parts: int) -> list[int]:
    """``total`` incidents over ``parts`` NGOs, the first ones taking the remainder."""
    share, rest = divmod(total, parts)
    return [share + (i < rest) for i in range(parts)]


def peak_bytes(who: int = resource.RUSAGE_SELF) -> int:
    """This process's peak memory so far, or its largest child's (``RUSAGE_CHILDREN``); Linux reports KiB."""
    return resource.getrusage(who).ru_maxrss * 1024


def benchmark_ngo(ngo: str, first_seed: int) -> tuple[int, str]:
    """The seed and the (fictional) name of a benchmark NGO such as ``BENCH03``."""
    number = int(ngo.removeprefix("BENCH"))
    return first_seed + number, f"Benchmark Documentation Unit {number} (fictional)"


@contextmanager
def benchmark_paths(store: Path | None, out: Path | None, name: str) -> Iterator[tuple[Path, Path]]:
    """The store and the output folder of a run (temporary unless given), with the settings pointing at them.

    Anything that reads the settings, in the steps' processes too, then uses the benchmark store,
    never the project's.
    """
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        work = Path(tmp)
        db = (store or work / f"{name}.duckdb").resolve()
        folder = (out or work / name).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["WORKBENCH_DB"], os.environ["WORKBENCH_VAULT"] = str(db), str(db.with_suffix(".vault"))
        yield db, folder


def ingest_packages(db: Path, ngos: list[str], write: Callable[[Path, str], Path]) -> tuple[float, float]:
    """Write each NGO's package with ``write(folder, ngo)`` and ingest it into ``db``: (seconds writing, seconds ingesting).

    Every row must be accepted: a benchmark over quarantined rows would measure something else.
    The package is removed once ingested (the vault keeps its copy).
    """
    from workbench.config import settings
    from workbench.errors import WorkbenchError
    from workbench.ingest import ingest_package
    from workbench.store import open_store

    generate = ingest = 0.0
    if not ngos:
        return generate, ingest
    db.parent.mkdir(parents=True, exist_ok=True)
    config = settings(WORKBENCH_DB=db, WORKBENCH_VAULT=db.with_suffix(".vault"))
    with tempfile.TemporaryDirectory(prefix="workbench-bench-packages-") as tmp, open_store(db) as store:
        for ngo in ngos:
            start = time.perf_counter()
            package = write(Path(tmp), ngo)
            generate += time.perf_counter() - start
            start = time.perf_counter()
            report = ingest_package(store, package, config=config)
            ingest += time.perf_counter() - start
            if report.rows_quarantined or report.rows_accepted != report.rows_read:
                raise WorkbenchError(f"{ngo}: {report.rows_quarantined:,} of {report.rows_read:,} benchmark rows were quarantined")
            shutil.rmtree(package)
    return generate, ingest


def _child(modules: list[str], step: Callable[..., dict], args: tuple, results) -> None:
    try:
        for module in modules:
            importlib.import_module(module)
        results.put(step(*args))
    except BaseException as exc:  # the parent waits for a result: tell it, rather than leave it hanging
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def measure(modules: list[str], step: Callable[..., dict], *args: Any) -> dict:
    """Import ``modules`` in a fresh interpreter, then run ``step(*args)`` there and return its dict.

    Exits with a message naming the step when it fails or dies without a result (out of memory,
    a signal), instead of waiting for ever.
    """
    context = mp.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_child, args=(modules, step, args, results))
    process.start()
    while True:
        alive = process.is_alive()
        try:
            result = results.get(timeout=1 if alive else 5)
            break
        except queue_module.Empty:
            if not alive:
                sys.exit(f"the {getattr(step, '__name__', step)} step died (exit code {process.exitcode}) without a result")
    process.join()
    if "error" in result:
        sys.exit(f"the {getattr(step, '__name__', step)} step failed: {result['error']}")
    return result


def timed(prepare: Callable[..., dict] | None, step: Callable[..., dict], *args: Any) -> dict:
    """Run ``prepare`` untimed, then ``step`` on the clock: seconds, peak memory and both results."""
    before = prepare(*args) if prepare else {}
    start = time.perf_counter()
    extra = step(*args)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_bytes": peak_bytes(), **before, **(extra or {})}
