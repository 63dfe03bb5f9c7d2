"""workbench: load, check, explore and share NGO documentation submitted to an accountability mechanism.

The public API, re-exported here so that notebooks need one import::

    import workbench as wb
    store = wb.open_store(wb.settings().db_path)
    wb.ingest_package(store, Path("package.zip"))
    store.status()
"""

from workbench.config import settings
from workbench.contracts import load_contracts
from workbench.errors import WorkbenchError
from workbench.ingest import IngestReport, check_package, ingest_package
from workbench.store import Store, open_store
from workbench.verify import VerifyReport, verify_store

__version__ = "0.1.0"

__all__ = [
    "IngestReport",
    "Store",
    "VerifyReport",
    "WorkbenchError",
    "check_package",
    "ingest_package",
    "load_contracts",
    "open_store",
    "settings",
    "verify_store",
]
