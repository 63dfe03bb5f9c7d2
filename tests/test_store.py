"""The store: opening safely, the custody chain, and verification that names what was altered."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import INCIDENTS_CSV
from workbench.errors import StoreError, StoreLockedError
from workbench.ingest import ingest_package
from workbench.store import open_store
from workbench.verify import verify_store


def _ingested(file_store, package_factory):
    ingest_package(file_store, package_factory({"incidents.csv": INCIDENTS_CSV}), today=date(2026, 11, 28))
    return file_store


def test_a_file_that_is_not_a_duckdb_database(tmp_path, contracts):
    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="is not a DuckDB database; nothing was changed"):
        open_store(path, contracts=contracts)
    assert path.read_bytes().startswith(b"these are my notes")


def test_a_store_locked_by_another_process(tmp_path, contracts):
    path = tmp_path / "locked.duckdb"
    open_store(path, contracts=contracts).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(path)!r})
            print("ready", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match=rf"open for writing in another process \(process {holder.pid}\)"):
            open_store(path, contracts=contracts)
    finally:
        holder.communicate("done\n", timeout=30)


def test_read_only_open_of_a_missing_store(tmp_path, contracts):
    with pytest.raises(StoreError, match="no store at"):
        open_store(tmp_path / "absent.duckdb", contracts=contracts, read_only=True)


def test_custody_log_is_a_hash_chain(store):
    first = store.log("note", subject="a", details={"n": 1})
    second = store.log("note", subject="b", details={"n": 2})
    assert second.prev_hash == first.entry_hash
    assert store.custody_problems() == []
    store.con.execute("UPDATE custody_log SET subject = 'rewritten' WHERE seq = 1")
    problems = store.custody_problems()
    assert any("entry 1" in p and "altered" in p for p in problems)


def test_removed_custody_entry_is_named(store):
    for n in range(4):
        store.log("note", subject=str(n), details={})
    store.con.execute("DELETE FROM custody_log WHERE seq = 2")
    problems = store.custody_problems()
    assert any("entries 2 to 2 are missing" in p for p in problems)
    assert any("entry 3" in p and "does not follow" in p for p in problems)


def test_truncated_custody_log_is_noticed_through_the_anchor(file_store, package_factory):
    store = _ingested(file_store, package_factory)
    store.log("note", subject="later", details={})
    store.write_anchor()
    store.con.execute("DELETE FROM custody_log WHERE seq = (SELECT max(seq) FROM custody_log)")
    assert any("entries were removed" in p for p in store.custody_problems())


def test_verify_passes_on_an_untouched_store(file_store, package_factory):
    store = _ingested(file_store, package_factory)
    report = verify_store(store)
    assert report.ok, report.problems
    assert report.files_checked >= 2 and report.rows_checked == 3
    assert store.custody_entries()[-1].action == "verify"


def test_verify_names_an_altered_received_file(file_store, package_factory):
    store = _ingested(file_store, package_factory)
    vault = Path(store.con.execute("SELECT vault_path FROM submissions").fetchone()[0])
    (vault / "files" / "incidents.csv").write_text(INCIDENTS_CSV.replace("3,Shelling", "30,Shelling"), encoding="utf-8")
    problems = verify_store(store).problems
    assert problems == [next(p for p in problems if "file incidents.csv was altered" in p)]


def test_verify_names_a_missing_received_file(file_store, package_factory):
    store = _ingested(file_store, package_factory)
    vault = Path(store.con.execute("SELECT vault_path FROM submissions").fetchone()[0])
    (vault / "manifest.yaml").unlink(missing_ok=True)
    (vault / "files" / "manifest.yaml").unlink()
    assert any("manifest.yaml is missing from the vault" in p for p in verify_store(store).problems)


def test_verify_names_an_altered_row(file_store, package_factory):
    store = _ingested(file_store, package_factory)
    store.con.execute("UPDATE incidents SET killed = 300 WHERE incident_id = 'I-1'")
    problems = verify_store(store).problems
    assert problems == [p for p in problems if "incidents.csv row 2 was altered after ingest" in p] and problems


def test_verify_notices_a_row_altered_together_with_its_hash(file_store, package_factory):
    from workbench.store import row_hash_sql

    store = _ingested(file_store, package_factory)
    store.con.execute("UPDATE incidents SET killed = 300 WHERE incident_id = 'I-1'")
    store.con.execute(f"UPDATE incidents SET row_hash = {row_hash_sql(store.contracts.contract('incidents'))}")
    problems = verify_store(store).problems
    assert any("rows of submission 1 were added, removed or altered since ingest" in p for p in problems)


def test_verify_notices_a_deleted_row(file_store, package_factory):
    store = _ingested(file_store, package_factory)
    store.con.execute("DELETE FROM incidents WHERE incident_id = 'I-2'")
    problems = verify_store(store).problems
    assert problems and all("incidents" in p for p in problems)


def test_contract_changes_migrate_the_store(tmp_path, contracts):
    import shutil

    from workbench.contracts import load_contracts

    path = tmp_path / "store.duckdb"
    open_store(path, contracts=contracts).close()
    copy = tmp_path / "contracts"
    shutil.copytree(contracts.path, copy)
    incidents = copy / "records" / "incidents.yaml"
    incidents.write_text(incidents.read_text(encoding="utf-8")
                         + "  - {name: shelter_type, type: string, title: Shelter type, description: Where people sheltered.}\n",
                         encoding="utf-8")
    with open_store(path, contracts=load_contracts(copy)) as store:
        assert "shelter_type" in store.columns("incidents")
        assert store.frame("SELECT * FROM active.incidents").columns[-1] == "shelter_type"


def test_encrypted_store(tmp_path, package_factory, contracts, monkeypatch):
    key_file = tmp_path / "store.key"
    key_file.write_text("a-long-random-test-key-0123456789\n", encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_KEY_FILE", str(key_file))
    db = tmp_path / "secret.duckdb"
    with open_store(db, contracts=contracts) as store:
        ingest_package(store, package_factory({"incidents.csv": INCIDENTS_CSV}), today=date(2026, 11, 28))
        assert verify_store(store).ok
    assert b"Shelling of the market" not in db.read_bytes()
    with open_store(db, contracts=contracts, read_only=True) as store:
        assert store.frame("SELECT count(*) AS n FROM active.incidents")["n"][0] == 3
    monkeypatch.delenv("WORKBENCH_KEY_FILE")
    with pytest.raises(StoreError, match="is encrypted; set WORKBENCH_KEY_FILE"):
        open_store(db, contracts=contracts)
    monkeypatch.setenv("WORKBENCH_KEY", "a-long-random-test-key-0123456789")
    with open_store(db, contracts=contracts, read_only=True) as store:  # the key given directly opens it too
        assert store.frame("SELECT count(*) AS n FROM active.incidents")["n"][0] == 3
    monkeypatch.setenv("WORKBENCH_KEY_FILE", str(key_file))
    key_file.write_text("a-different-key-in-the-file-0000\n", encoding="utf-8")
    with pytest.raises(StoreError, match="WORKBENCH_KEY and the key in WORKBENCH_KEY_FILE differ"):
        open_store(db, contracts=contracts)
    monkeypatch.delenv("WORKBENCH_KEY")
    monkeypatch.delenv("WORKBENCH_KEY_FILE")
    key_file.write_text("another-long-random-key-987654321\n", encoding="utf-8")
    with pytest.raises(StoreError, match="does not open the store"):
        open_store(db, contracts=contracts, key="another-long-random-key-987654321")
    short = tmp_path / "short.key"
    short.write_text("abc\n", encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_KEY_FILE", str(short))
    with pytest.raises(StoreError, match="shorter than 16"):
        open_store(db, contracts=contracts)


def test_an_encrypted_store_holds_no_plaintext_of_what_it_stores(tmp_path, synthetic, monkeypatch):
    """Every NGO's package ingested into an encrypted store: no title, pseudonym, place or NGO name is readable in the file."""
    _, result = synthetic
    monkeypatch.setenv("WORKBENCH_KEY", "a-long-random-test-key-0123456789")
    db = tmp_path / "secret.duckdb"
    with open_store(db) as store:
        for package in result.packages:
            ingest_package(store, package)
        # distinctive values as stored, long enough not to occur by chance in random bytes
        samples = store.frame("""
            SELECT DISTINCT v FROM (
                SELECT title AS v FROM incidents UNION ALL SELECT narrative FROM incidents UNION ALL SELECT place FROM incidents
                UNION ALL SELECT pseudonym FROM persons UNION ALL SELECT name FROM ngos UNION ALL SELECT description FROM sources
                UNION ALL SELECT manifest FROM submissions)
            WHERE length(v) >= 8""")["v"].to_list()
        store.con.execute("CHECKPOINT")
    assert len(samples) > 1000
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("secret.duckdb*") if p.is_file())
    assert len(stored) > 100_000
    leaked = [s for s in samples if s.encode("utf-8") in stored or s[:24].encode("utf-8") in stored]
    assert leaked == []
    # the same data in a plain store is readable, so the check above can fail
    plain = tmp_path / "plain.duckdb"
    monkeypatch.delenv("WORKBENCH_KEY")
    with open_store(plain) as store:
        ingest_package(store, result.packages[0])
        store.con.execute("CHECKPOINT")
        title = store.frame("SELECT title FROM incidents WHERE length(title) > 12 LIMIT 1")["title"][0]
    assert title.encode("utf-8") in plain.read_bytes()
