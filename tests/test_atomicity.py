"""A kill in the middle of an ingest leaves the store exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date

import pytest

from tests.conftest import INCIDENTS_CSV
from workbench.ingest import ingest_package
from workbench.store import open_store
from workbench.synth import write_benchmark_package
from workbench.verify import verify_store


@pytest.mark.slow
def test_sigkill_mid_ingest_leaves_the_store_as_it_was(tmp_path, package_factory, contracts):
    db = tmp_path / "store.duckdb"
    with open_store(db, contracts=contracts) as store:
        ingest_package(store, package_factory({"incidents.csv": INCIDENTS_CSV}), today=date(2026, 11, 28))
        before = {t: store.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("submissions", "files", "incidents", "findings", "quarantine", "custody_log")}
    big = write_benchmark_package(tmp_path / "big", incidents=150_000, seed=5)
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from contextlib import contextmanager
        import workbench.store as store_module
        from workbench.ingest import ingest_package
        from workbench.store import open_store

        original = store_module.Store.transaction

        @contextmanager
        def announced(self):
            with original(self):
                print("inside the transaction", flush=True)
                yield

        store_module.Store.transaction = announced
        with open_store(Path({str(db)!r})) as store:
            ingest_package(store, Path({str(big)!r}))
        print("finished", flush=True)
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "WORKBENCH_DB": str(db)}) as child:
        assert child.stdout.readline().strip() == "inside the transaction"
        time.sleep(0.2)  # well inside: writing 150,000 rows takes longer
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    with open_store(db, contracts=contracts) as store:
        after = {t: store.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in before}
        assert after == before
        assert verify_store(store, log=False).ok
    assert not any(p.name.startswith(".incoming-") for p in (tmp_path / "store.vault").iterdir())
