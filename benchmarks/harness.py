"""What the benchmarks share: each step runs in a fresh interpreter, and reports a result or its failure.

Spawned, not forked: DuckDB and polars hold threads that a fork would copy in a locked state. A
fresh interpreter also gives each step its own peak memory (max RSS), as long as the parent stays
small (a child starts with its parent's peak as its own: ru_maxrss survives fork and exec).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import queue as queue_module
import resource
import sys
import time
from typing import Any, Callable


def ngo_ids(count: int) -> list[str]:
    """``BENCH01`` ... : the fictional NGOs of a benchmark store."""
    width = max(2, len(str(count)))
    return [f"BENCH{i:0{width}d}" for i in range(1, count + 1)]


def split(total: int, parts: int) -> list[int]:
    """``total`` incidents over ``parts`` NGOs, the first ones taking the remainder."""
    share, rest = divmod(total, parts)
    return [share + (i < rest) for i in range(parts)]


def peak_bytes() -> int:
    """This process's peak memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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
