"""The benchmark scripts run end to end on a small store, and the package they build from."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from workbench.ingest import ingest_package
from workbench.linkage.evaluate import scores
from workbench.linkage.incidents import BLOCKING_RULES, TRAINING_RULES
from workbench.synth import write_benchmark_package

ROOT = Path(__file__).resolve().parents[1]
FEEDBACK_KEYS = {
    "benchmark", "incidents", "ngos", "store_built_ngos", "build_seconds", "floor_seconds", "reports_seconds",
    "per_report_mean_seconds", "per_report_max_seconds", "feedback_vs_floor", "profile_seconds", "metrics_seconds",
    "render_seconds", "sql_share", "render_share", "peak_mib", "reports_written", "pdf_seconds", "pdf_written",
    "target", "target_met",
}
VIEWS_KEYS = {
    "benchmark", "incidents", "ngos", "actors_per_ngo", "incident_actor_links", "store_built_ngos", "build_seconds", "map", "empty_map",
    "render", "empty_render", "graph", "empty_graph", "timeline", "empty_timeline", "ratios", "targets", "target_met",
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


def test_benchmark_package_with_actors_links_known_records_and_ingests_whole(tmp_path, store, contracts):
    folder = write_benchmark_package(tmp_path, incidents=600, seed=5, ngo_id="BENCH01", actors=40)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text(encoding="utf-8"))
    assert [f["path"] for f in manifest["files"]] == ["incidents.csv", "actors.csv", "incident_actors.csv"]
    incidents, actors, links = (pl.read_csv(folder / f"{name}.csv", infer_schema_length=0) for name in ("incidents", "actors", "incident_actors"))
    assert actors.height == 40 and actors["actor_id"].n_unique() == 40 and actors["name"].n_unique() == 40
    assert set(actors["actor_type"]) <= set(contracts.vocabulary("actor_types").codes)
    assert set(links["incident_id"]) <= set(incidents["incident_id"]) and set(links["actor_id"]) <= set(actors["actor_id"])
    assert set(links["role"]) <= set(contracts.vocabulary("actor_roles").codes) and "alleged_perpetrator" in set(links["role"])
    assert links.select("incident_id", "actor_id").is_unique().all()  # an actor is named once per incident
    per_incident = links.group_by("incident_id").len()["len"]
    assert per_incident.len() == incidents.height and set(per_incident) == {1, 2, 3}
    per_actor = links.group_by("actor_id").len()["len"].sort(descending=True)
    assert per_actor[0] > 0.15 * incidents.height > per_actor.median()  # a few units in many incidents, most in few

    report = ingest_package(store, folder, keep_in_vault=False)
    assert report.rows_quarantined == 0 and report.rows_accepted == 600 + 40 + links.height
    stored = store.con.execute("SELECT (SELECT count(*) FROM active.actors), (SELECT count(*) FROM active.incident_actors)").fetchone()
    assert stored == (40, links.height)


def test_benchmark_package_without_actors_has_incidents_only(tmp_path):
    folder = write_benchmark_package(tmp_path, incidents=50, seed=5, ngo_id="BENCH01")
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text(encoding="utf-8"))
    assert manifest["files"] == [{"path": "incidents.csv", "record_type": "incidents"}]
    assert sorted(p.name for p in folder.iterdir()) == ["incidents.csv", "manifest.yaml"]
    with_actors = write_benchmark_package(tmp_path / "with", incidents=50, seed=5, ngo_id="BENCH01", actors=10)
    assert (with_actors / "incidents.csv").read_bytes() == (folder / "incidents.csv").read_bytes()  # actors change no incident


@pytest.mark.slow
def test_views_benchmark_measures_every_view_beside_an_empty_one(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "views.py"), "--incidents", "3000", "--ngos", "2", "--actors", "30", "--repeat", "1",
         "--json", "--store", str(tmp_path / "store.duckdb"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert VIEWS_KEYS <= set(summary)
    assert (summary["benchmark"], summary["incidents"], summary["ngos"], summary["store_built_ngos"]) == ("views", 3000, 2, 2)
    assert summary["incident_actor_links"] >= 3000
    for view in ("map", "empty_map", "timeline", "empty_timeline"):
        assert summary[view]["html_bytes"] > 0 and summary[view]["seconds"] > 0
    assert summary["map"]["html_bytes"] > summary["empty_map"]["html_bytes"]
    assert summary["render"]["rendered"] is True and summary["render"]["failed_requests"] == 0
    assert summary["render"]["ink"] > summary["empty_render"]["ink"] > 0  # the markers are drawn
    assert summary["graph"]["nodes"] == 60 and summary["graph"]["edges"] > 0 and summary["empty_graph"]["nodes"] == 0
    assert set(summary["target_met"]) == {"map_html", "render", "graph"}
    assert all(isinstance(flag, bool) for flag in summary["target_met"].values())
    assert all(ratio > 0 for ratio in summary["ratios"].values())
    assert sorted(p.name for p in (tmp_path / "out").glob("*.html")) == ["map-empty.html", "map.html", "timeline-empty.html", "timeline.html"]
    assert any(line.startswith("targets: map HTML under 20 MB ") for line in lines)


CASEFILE_KEYS = {
    "benchmark", "incidents", "ngos", "sources", "authority", "period", "store_built_ngos", "build_seconds", "records", "withheld",
    "floor_seconds", "floor_parts", "floor_bytes", "data_seconds", "data_timings", "data_vs_floor", "data_bytes", "data_peak_mib",
    "whole_seconds", "whole_timings", "whole_vs_floor", "package_bytes", "peak_mib", "files", "target", "target_met",
}


@pytest.mark.slow
def test_casefile_benchmark_writes_the_rows_the_floor_writes(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "casefile.py"), "--incidents", "3000", "--ngos", "2", "--select", "300", "--repeat", "1",
         "--json", "--store", str(tmp_path / "store.duckdb"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert CASEFILE_KEYS <= set(summary)
    assert (summary["benchmark"], summary["incidents"], summary["ngos"], summary["store_built_ngos"]) == ("casefile", 3000, 2, 2)
    assert summary["sources"] > 3000 * 0.9  # about 1.05 sources per incident
    records, withheld = summary["records"], summary["withheld"]
    assert 250 <= records["incidents"] <= 350 and withheld["incidents"] > 0  # ~300 selected, ~3 % confidential-source
    assert records["sources"] > 0 and withheld["sources"] > 0
    files = summary["files"]
    assert files["data/incidents.csv"]["rows"] == files["data/incidents.parquet"]["rows"] == records["incidents"]
    assert files["data/sources.parquet"]["rows"] == records["sources"]
    assert {"index.pdf", "map.html", "timeline.html"} <= set(files)
    assert (out / "casefile-whole-1" / "manifest.json").is_file() and (out / "casefile-data-1" / "data" / "sources.csv").is_file()
    assert not (out / "casefile-data-1" / "index.pdf").exists()
    assert sorted(p.name for p in (out / "floor-1").iterdir()) == ["incidents.csv", "incidents.parquet", "sources.csv", "sources.parquet"]
    assert summary["floor_seconds"] > 0 and summary["whole_seconds"] > summary["data_seconds"] > 0
    assert set(summary["data_timings"]) >= {"decide", "log", "write incidents", "write sources"}
    # both times are printed rounded to hundredths: a floor of 0.29 s carries up to 2 % of rounding
    assert summary["data_vs_floor"] == pytest.approx(summary["data_seconds"] / summary["floor_seconds"], rel=0.05)
    assert isinstance(summary["target_met"], bool) and summary["target"] == {"data_vs_floor_max": 3.0}
    assert any(line.startswith("target (data part within 3x the bare COPY): ") for line in lines)


LINKAGE_KEYS = {
    "benchmark", "incidents", "ngos", "actors", "true_incidents", "store_built", "build_seconds", "ours_seconds", "plain_seconds",
    "ours_vs_plain", "core_vs_plain", "ours_timings", "ours_splink", "plain_splink", "ours_peak_mib", "plain_peak_mib",
    "ours_pairs_kept", "ours_linked_pairs", "plain_pairs_kept", "ours_quality", "plain_quality", "profile", "target", "target_met",
}


def _linkage_benchmark():
    """benchmarks/linkage.py as a module (it imports harness.py from its own folder)."""
    folder = str(ROOT / "benchmarks")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module("linkage")
    finally:
        sys.path.remove(folder)


def test_linkage_benchmark_records_are_noisy_views_of_one_pool():
    bench = _linkage_benchmark()
    frames, truth, pool = bench.reported_records(900, ["BENCH01", "BENCH02", "BENCH03"], 20, seed=7)
    assert truth.height == 900 and truth["record_id"].is_unique().all() and 300 <= pool < 900
    reported = pl.concat(rows for rows, _, _ in frames.values())
    assert reported.height == 900 and set(frames) == {"BENCH01", "BENCH02", "BENCH03"}
    per_incident = (truth.with_columns(pl.col("record_id").str.split("/").list.first().alias("ngo"))
                    .group_by("true_id").agg(pl.len(), pl.col("ngo").n_unique().alias("ngos")))
    assert (per_incident["len"] == per_incident["ngos"]).all()  # an NGO reports a true incident once
    assert per_incident["len"].max() == 3 and (per_incident["len"] > 1).sum() > pool / 3  # shared incidents to link
    assert {"day", "month"} <= set(reported["date_precision"])
    assert reported["date_start"].str.len_chars().is_in([4, 7, 10]).all()
    assert reported["latitude"].is_null().sum() > 0 and reported["place"].is_null().sum() < 900 * 0.05
    actors, links = frames["BENCH02"][1], frames["BENCH02"][2]
    assert actors["actor_id"].str.starts_with("BENCH02-").all() and set(links["actor_id"]) <= set(actors["actor_id"])
    assert set(links["incident_id"]) <= set(frames["BENCH02"][0]["incident_id"])
    # the same true incident, two NGOs: same narrative template, noise of their own
    again, _, _ = bench.reported_records(900, ["BENCH01", "BENCH02", "BENCH03"], 20, seed=7)
    assert again["BENCH01"][0].equals(frames["BENCH01"][0])  # deterministic from the seed


def test_linkage_benchmark_quality_counts_as_the_evaluation_does():
    bench = _linkage_benchmark()
    predicted = pl.DataFrame({"record_id": list("abcdefg"), "cluster_id": ["a", "a", "a", "d", "d", "f", "g"]})
    truth = pl.DataFrame({"record_id": list("abcdefg"), "true_id": [1, 1, 2, 3, 3, 4, 4]})
    ours = bench.quality(predicted, truth)
    expected = scores(predicted, truth.with_columns(pl.col("true_id").cast(pl.String)))
    for kind in ("pairwise", "cluster"):
        for key in ("precision", "recall", "f1", "true_positives", "predicted", "actual"):
            assert ours[kind][key] == pytest.approx(expected[kind][key], abs=1e-4), (kind, key)
    assert ours["largest_cluster"] == 3


@pytest.mark.slow
def test_linkage_benchmark_links_beside_plain_splink(tmp_path):
    store = tmp_path / "store.duckdb"
    command = [sys.executable, str(ROOT / "benchmarks" / "linkage.py"), "--incidents", "3000", "--ngos", "3", "--actors", "20",
               "--json", "--store", str(store), "--memory-limit", "2GB"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert LINKAGE_KEYS <= set(summary)
    assert (summary["benchmark"], summary["incidents"], summary["ngos"], summary["store_built"]) == ("linkage", 3000, 3, True)
    assert summary["ours_seconds"] > 0 and summary["plain_seconds"] > 0 and isinstance(summary["target_met"], bool)
    assert summary["ours_vs_plain"] == pytest.approx(summary["ours_seconds"] / summary["plain_seconds"], rel=1e-2)
    assert {"prepare", "train and score", "cluster", "store"} <= set(summary["ours_timings"])
    assert {"u from random pairs", "predict"} <= set(summary["ours_splink"]) and "cluster (Splink)" in summary["plain_splink"]
    assert len([step for step in summary["ours_splink"] if step.startswith("EM")]) >= len(TRAINING_RULES)  # a retried block counts twice
    assert summary["ours_quality"]["pairwise"]["f1"] > 0.9  # few incidents per place and week: linkage finds them
    assert summary["ours_quality"]["records"] == summary["plain_quality"]["records"] == 3000
    assert len(summary["profile"]["ours"]) == len(BLOCKING_RULES)
    assert summary["profile"]["ours"][-1]["cumulative"] == sum(rule["pairs"] for rule in summary["profile"]["ours"])
    assert any(line.startswith("target (ours at most 1.5x plain Splink): ") for line in lines)
    assert (tmp_path / "store.duckdb.truth.parquet").is_file()

    again = subprocess.run([*command, "--profile-only"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    reused = json.loads(again.stdout.strip().splitlines()[-1])
    assert reused["store_built"] is False and reused["target_met"] is None and "ours_seconds" not in reused
    assert reused["profile"]["ours"] == summary["profile"]["ours"]

    other = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "linkage.py"), "--incidents", "2000", "--ngos", "3",
                            "--store", str(store), "--profile-only"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert other.returncode != 0 and "pass a new --store path" in other.stderr
