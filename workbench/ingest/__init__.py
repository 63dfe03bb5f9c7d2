"""From a submission package on disk to rows in the store, all or nothing.

``ingest_package`` unpacks and hashes the package (``intake``), checks the manifest, recognises
what each file holds, loads each file as raw text (``readers``), interprets distinct values
(``normalise``), checks and types every row in one SQL query per file (``validate``), and writes
accepted rows, quarantined rows and findings in a single transaction, with a custody-log entry;
within it, ``names`` masks the names that follow a victim, witness or kinship word.
``check_package`` runs the same steps against a throw-away in-memory store.

>>> # workbench.ingest_package(store, Path("package.zip"))  # doctest: +SKIP
"""

from workbench.ingest.api import check_package, ingest_package
from workbench.ingest.report import FileResult, IngestReport

__all__ = ["FileResult", "IngestReport", "check_package", "ingest_package"]
