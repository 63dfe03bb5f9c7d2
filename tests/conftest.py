"""Shared fixtures: an in-memory store, a package builder, the shared data folder."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from workbench.contracts import ContractSet, load_contracts
from workbench.store import Store, open_store

SHARED_DATA = Path(os.environ.get("WORKBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def _no_store_in_the_project(tmp_path_factory):
    """A test that forgets to name its store writes it (and its vault and custody anchor) in a
    temporary folder, never in the project."""
    saved = {k: os.environ.get(k) for k in ("WORKBENCH_DB", "WORKBENCH_VAULT")}
    os.environ["WORKBENCH_DB"] = str(tmp_path_factory.mktemp("default-store") / "workbench.duckdb")
    os.environ.pop("WORKBENCH_VAULT", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def contracts() -> ContractSet:
    return load_contracts()


@pytest.fixture
def store(contracts: ContractSet) -> Store:
    with open_store(":memory:", contracts=contracts, user="test-analyst") as s:
        yield s


@pytest.fixture
def file_store(tmp_path: Path, contracts: ContractSet, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A store on disk with its vault beside it, as an analyst has."""
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "store.duckdb"))
    monkeypatch.setenv("WORKBENCH_USER", "test-analyst")
    with open_store(tmp_path / "store.duckdb", contracts=contracts, user="test-analyst") as s:
        yield s


def base_manifest(**overrides: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "ngo": {"id": "TESTNGO", "name": "Test Documentation Group (fictional)"},
        "submission_ref": "TEST-2024-1",
        "contract_version": "1.0",
        "reporting_period": {"start": "2013-01-01", "end": "2013-12-31"},
        "contact_point": {"role": "Data officer", "email": "data@test.example.org"},
        "disclosure": {
            "source_confidential": False,
            "consent_basis": "informed_consent",
            "authorities": [{"authority": "DE-GBA", "decision": "allowed"}],
        },
    }
    manifest.update(overrides)
    return manifest


INCIDENTS_CSV = (
    "incident_id,date_start,place,violation_types,killed,narrative\n"
    "I-1,2013-03-12,Douma,torture,3,Shelling of the market in the morning.\n"
    "I-2,12/04/2013,حلب,unlawful_killing; torture,1,Two men were detained at a checkpoint.\n"
    "I-3,March 2014,Idlib,arbitrary_detention,0,Arrest campaign in the city.\n"
)


def make_package(root: Path, files: dict[str, str | bytes], manifest: dict[str, Any] | None = None, *, name: str = "pkg") -> Path:
    """A package folder holding ``manifest.yaml`` and the given files."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if manifest is not False:
        (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest or base_manifest(), allow_unicode=True), encoding="utf-8")
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def package_factory(tmp_path: Path):
    counter = iter(range(1, 10_000))

    def factory(files: dict[str, str | bytes], manifest: dict[str, Any] | None = None) -> Path:
        return make_package(tmp_path, files, manifest, name=f"pkg{next(counter)}")

    return factory


def requires_shared_data():
    return pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared data folder {SHARED_DATA} is absent")


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """The six synthetic NGOs (seed 2011, 240 true incidents) ingested into one store, and what the
    generator says it did to them. Tests open the store read-only, or copy it before writing."""
    from workbench.ingest import ingest_package
    from workbench.synth import generate

    root = tmp_path_factory.mktemp("synthetic")
    result = generate(root / "packages", seed=2011, incidents=240)
    db = root / "store.duckdb"
    with open_store(db) as store:
        for package in result.packages:
            ingest_package(store, package)
    return db, result


@pytest.fixture(scope="module")
def synth_store(synthetic):
    """The synthetic store opened read-only, once per test module."""
    db, _ = synthetic
    with open_store(db, read_only=True) as store:
        yield store


def copy_store(db: Path, folder: Path) -> Path:
    """A copy of a store with its custody anchor, to write to; the session's synthetic store stays as it is."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "store.duckdb"
    shutil.copy(db, copy)
    anchor = db.with_suffix(".custody-head")
    if anchor.exists():
        shutil.copy(anchor, copy.with_suffix(".custody-head"))
    return copy


def utc_now() -> datetime:
    """Now, as the store keeps times: naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
