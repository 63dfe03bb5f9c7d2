"""The benchmark scripts run end to end on a small store, and the package they build from."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from workbench.synth import write_benchmark_package

ROOT = Path(__file__).resolve().parents[1]
FEEDBACK_KEYS = {
    "benchmark", "incidents", "ngos", "store_built_ngos", "build_seconds", "floor_seconds", "reports_seconds",
    "per_report_mean_seconds", "per_report_max_seconds", "feedback_vs_floor", "profile_seconds", "metrics_seconds",
    "render_seconds", "sql_share", "render_share", "peak_mib", "reports_written", "pdf_seconds", "pdf_written",
    "target", "target_met",
}


def test_benchmark_packages_for_several_ngos_differ(tmp_path):
    first = write_benchmark_package(tmp_path, incidents=300, seed=1, ngo_id="BENCH01", name="Unit 1 (fictional)")
    second = write_benchmark_package(tmp_path, incidents=300, seed=2, ngo_id="BENCH02")
    assert (first.name, second.name) == ("BENCH01", "BENCH02")
    manifest = yaml.safe_load((first / "manifest.yaml").read_text(encoding="utf-8"))
    assert manifest["ngo"]["id"] == "BENCH01" and manifest["ngo"]["name"] == "Unit 1 (fictional)"
    assert manifest["submission_ref"].startswith("BENCH01-")
    rows = [pl.read_csv(folder / "incidents.csv", infer_schema_length=0) for folder in (first, second)]
    assert rows[0]["incident_id"][0] == "BENCH01-0000001" and rows[1]["incident_id"][0] == "BENCH02-0000001"
    assert rows[0]["narrative"].to_list() != rows[1]["narrative"].to_list()  # other seed, other data


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("workbench.feedback") is None,
                    reason="workbench.feedback (write_report) does not exist yet; the feedback benchmark needs it")
def test_feedback_benchmark_writes_every_report(tmp_path):
    out = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "feedback.py"), "--incidents", "2000", "--ngos", "3", "--repeat", "1", "--json",
         "--store", str(tmp_path / "store.duckdb"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert FEEDBACK_KEYS <= set(summary)
    assert (summary["benchmark"], summary["incidents"], summary["ngos"], summary["store_built_ngos"]) == ("feedback", 2000, 3, 3)
    assert summary["reports_written"] == 3 and len(list(out.glob("*.html"))) >= 3
    assert summary["pdf_written"] is True and list(out.rglob("*.pdf"))
    assert 0 < summary["sql_share"] <= 1 and 0 < summary["render_share"] < 1
    assert summary["sql_share"] + summary["render_share"] <= 1.001
    assert summary["floor_seconds"] > 0 and summary["reports_seconds"] > summary["metrics_seconds"]
    assert any(line.startswith("target (3 HTML reports under 60 s): ") for line in lines)
