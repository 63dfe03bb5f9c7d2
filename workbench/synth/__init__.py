"""Synthetic NGO submission packages for demos and tests, deterministic from a seed.

Six fictional NGOs report overlapping views of one pool of true incidents, each with its own
habits (Arabic headers in Windows-1256, a mixed-format XLSX, place names without coordinates,
narratives that leak personal data, records that break the contract). ``ground_truth/`` says
which reported record is which true one and lists every planted defect with its count.

>>> from workbench.synth import generate
>>> result = generate(Path("demo"), incidents=120)  # doctest: +SKIP
>>> result.counts["ALPHA"]["incidents"]  # doctest: +SKIP
60
"""

from workbench.synth.benchmark import write_benchmark_package
from workbench.synth.package import SynthResult, generate
from workbench.synth.profiles import NGOS, DataFile, NgoProfile

__all__ = ["NGOS", "DataFile", "NgoProfile", "SynthResult", "generate", "write_benchmark_package"]
