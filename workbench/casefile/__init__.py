"""Case files for investigative and prosecuting authorities: only what each NGO agreed to, logged.

``preview`` says what a case file would disclose and withhold; ``write_casefile`` writes the
package (data, index, manifest) and logs it; ``verify_casefile`` checks a package against its
manifest and, given the store, against the custody log.
"""

from workbench.casefile.manifest import CaseFileCheck, verify_casefile
from workbench.casefile.package import CaseFile, Plan, RECORD_TYPES, load_casefile_config, preview, saved_query, write_casefile

__all__ = ["CaseFile", "CaseFileCheck", "Plan", "RECORD_TYPES", "load_casefile_config", "preview", "saved_query", "verify_casefile",
           "write_casefile"]
