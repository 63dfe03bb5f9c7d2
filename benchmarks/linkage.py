"""Incident linkage over many NGOs reporting the same incidents, beside plain Splink on the same records.

    python benchmarks/linkage.py [--incidents 1000000] [--ngos 10] [--actors 300] [--store PATH] [--repeat 1]
                                 [--plain-blocking simple|ours] [--profile-sample 1.0] [--profile-only]
                                 [--memory-limit 8GB] [--json]

``write_benchmark_package`` gives each NGO incidents of its own, which leaves linkage nothing to
find. So the store is built from one pool of true incidents (:func:`benchmark_frame` with
``--seed``), each reported by one to four of the ``--ngos`` NGOs (BENCH01, BENCH02, ...), each NGO
with its own noise: dates a day off or written to the month or the year only, places given as a
point, a community, the governorate only or not at all, a violation type left out, counts a few
off or missing, its own closing sentence or no narrative, the perpetrator named or not. Each NGO's
rows go into the manifest of a ``write_benchmark_package`` package and through ``ingest_package``
as any submission does. Which record is which true incident is kept beside the store
(``<store>.truth.parquet``). Building is not timed (its time is shown); ``--store PATH`` keeps the
store and reuses it when it was built with the same arguments.

1. ours: ``link_incidents`` on a fresh copy of the store (prepare ``link_incidents``, train
   without labels, score, cluster with the analysts' decisions, store pairs, clusters and model),
   with the time of each of its Splink calls;
2. plain Splink: the same ``link_incidents`` frame (prepared before the clock), Splink's standard
   comparisons (date difference at 1 and 7 days, distance at 2 and 10 km, violation types in
   common, killed exactly equal), blocking ``block_on("admin1", "week")`` (``--plain-blocking
   ours`` gives it our blocking rules), the probability that two records match from the same
   deterministic rule, u from random pairs, EM blocked on (date, governorate) and on (place, week)
   (ours on place and killed would swamp its four comparisons with look-alikes), all with Splink's
   defaults, then ``predict`` (keeping the pairs at or above our review threshold, as ours does: all
   pairs of a million records do not fit in memory) and ``cluster_pairwise_predictions_at_threshold``
   at our match threshold;
3. profile (untimed): pairs made by each blocking rule, both sides' and the training blocks, and
   the largest blocks. ``--profile-only`` builds the store and runs this alone: at sizes where the
   linkage would take too long, it still says where the pairs come from.

Each step runs in its own process (see benchmarks/harness.py), so that its peak memory is its own;
``--memory-limit`` gives every DuckDB connection of both sides the same ``memory_limit`` (DuckDB
spills to disk beyond it), to keep a million-incident run within a shared machine.
Both sides are scored against the ground truth (pairwise and cluster precision and recall, after
the clock). Target: ours at most 1.5x plain Splink. Splink's own published figure is about a
million records in about a minute on a laptop; this reports ours beside it. Prints a table, and
with ``--json`` one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness import benchmark_ngo, ingest_packages, measure, ngo_ids, peak_bytes  # benchmarks/harness.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.5
FIRST_SEED = 2011
#: Share of true incidents reported by one, two, three or four NGOs (at most as many as there are NGOs).
REPORTERS = (0.4, 0.3, 0.2, 0.1)
#: Each NGO's habits are drawn between these bounds (share of its records), so that NGOs differ.
HABITS = {
    "year_only": (0.0, 0.03), "month_only": (0.03, 0.15), "day_shift": (0.05, 0.2),
    "unknown_place": (0.0, 0.02), "governorate_only": (0.02, 0.1), "point": (0.1, 0.85),
    "violation_dropped": (0.1, 0.2), "count_noise": (0.1, 0.3), "killed_missing": (0.0, 0.1),
    "narrative_missing": (0.0, 0.1), "perpetrator_named": (0.5, 0.9),
}  # fmt: skip
#: How far two NGOs' points for one incident lie apart (degrees, standard deviation; about 200 m).
POINT_NOISE = 0.002
#: Plain Splink's EM blocks: each leaves some of its four comparisons free, and both stay small as the data grow.
PLAIN_TRAINING = (("date_lo", "admin1"), ("place_id", "week"))
SPLINK_PUBLISHED = "about 1,000,000 records in about a minute on a laptop (Splink's documentation)"


# --- the records: one pool of true incidents, each NGO's view of it -----------------------------


def _reporters(pool_size_for: int, ngos: int, rng):
    """How many NGOs report each true incident, so that the reports add up to ``pool_size_for``; and which NGOs."""
    import numpy as np

    most = min(len(REPORTERS), ngos)
    shares = np.array(REPORTERS[:most]) / sum(REPORTERS[:most])
    draws = rng.choice(most, size=math.ceil(pool_size_for / (shares @ np.arange(1, most + 1)) * 1.1) + 10, p=shares) + 1
    pool = int(np.searchsorted(np.cumsum(draws), pool_size_for)) + 1
    reporters = draws[:pool].copy()
    reporters[-1] -= int(reporters.sum()) - pool_size_for  # exactly that many reports in all
    # weighted sampling without replacement (Efraimidis-Spirakis keys): the first NGOs are larger
    weight = 1.0 / (1.0 + 0.1 * np.arange(ngos))
    order = np.argsort(-(rng.random((pool, ngos)) ** (1.0 / weight)), axis=1)
    true_row, slot = np.nonzero(np.arange(ngos) < reporters[:, None])
    return pool, true_row, order[true_row, slot]


def _noisy_rows(records):
    """The contract's incident columns as each NGO writes them, from the truth and the per-record dice of ``records``."""
    import polars as pl

    from workbench.synth.benchmark import CLOSINGS
    from workbench.synth.places import builtin_pool, governorate_text_en
    from workbench.synth.world import FIRST_DAY, LAST_DAY

    col = pl.col
    start = col("date_start").str.to_date()
    shifted = start + pl.duration(days=col("shift"))
    moved = col("shifted") & shifted.is_between(pl.lit(FIRST_DAY), pl.lit(LAST_DAY))
    day = pl.when(moved).then(shifted).otherwise(start)
    end = col("date_end").str.to_date() + pl.duration(days=pl.when(moved).then(col("shift")).otherwise(0))
    precision = (pl.when(col("date_roll") < col("year_only")).then(pl.lit("year"))
                 .when(col("date_roll") < col("year_only") + col("month_only")).then(pl.lit("month")).otherwise(pl.lit("day")))
    mode = (pl.when(col("place_roll") < col("unknown_place")).then(pl.lit("unknown"))
            .when(col("place_roll") < col("unknown_place") + col("governorate_only")).then(pl.lit("governorate"))
            .when(col("place_roll") < col("unknown_place") + col("governorate_only") + col("point")).then(pl.lit("point"))
            .otherwise(pl.lit("community")))
    governorate = {place.place_id: governorate_text_en(place) for place in builtin_pool().places}
    narrative = col("narrative")
    for closing in CLOSINGS:
        narrative = narrative.str.strip_suffix(closing)
    codes = col("violation_types").str.split("; ")
    fine, point = col("mode").is_in(["point", "community"]), col("mode") == "point"
    return records.with_columns(precision.alias("precision"), mode.alias("mode")).select(
        col("record").alias("incident_id"), "title",
        pl.when(col("precision") == "day").then(day.dt.strftime("%Y-%m-%d"))
        .when(col("precision") == "month").then(start.dt.strftime("%Y-%m")).otherwise(start.dt.strftime("%Y")).alias("date_start"),
        pl.when(col("precision") == "day").then(end.dt.strftime("%Y-%m-%d")).alias("date_end"),
        col("precision").alias("date_precision"),
        pl.when(fine).then(col("place")).when(col("mode") == "governorate").then(col("place_id").replace_strict(governorate, default=None))
        .alias("place"),
        pl.when(point).then((col("latitude") + col("lat_noise")).round(5)).alias("latitude"),
        pl.when(point).then((col("longitude") + col("lon_noise")).round(5)).alias("longitude"),
        pl.when(point).then(pl.lit("point")).alias("geo_precision"),  # a community's point comes from the gazetteer
        pl.when(fine).then(col("place_id")).alias("place_id"), pl.when(fine).then(col("admin1_pcode")).alias("admin1_pcode"),
        "admin2_pcode", "admin3_pcode",
        pl.when(col("drop_violation") & (codes.list.len() > 1)).then(codes.list.slice(0, codes.list.len() - 1)).otherwise(codes)
        .list.join("; ").alias("violation_types"),
        "weapons",
        pl.when(~col("killed_missing")).then((col("killed") + col("count_noise")).clip(0)).alias("killed"),
        "injured",
        pl.when(~col("narrative_missing")).then(narrative + col("closing")).alias("narrative"),
        "language", "confidential_source",
    )  # fmt: skip


def reported_records(incidents: int, ngos: list[str], actors: int, seed: int):
    """Each NGO's view of one pool of true incidents: (frames by NGO id, truth, pool size).

    A frame is ``(incidents, actors, incident_actors)``, the last two None without ``actors``. The
    truth has ``record_id`` (``NGO/incident_id``) and ``true_id``.
    """
    import numpy as np
    import polars as pl

    from workbench.synth.benchmark import CLOSINGS, benchmark_actor_frames, benchmark_frame

    rng = np.random.default_rng([seed, 7])
    pool, true_row, ngo = _reporters(incidents, len(ngos), rng)
    n = true_row.size
    habits = {name: rng.uniform(lo, hi, size=len(ngos))[ngo] for name, (lo, hi) in HABITS.items()}
    dice = {
        "date_roll": rng.random(n), "shift": rng.choice([-1, 1], n), "shifted": rng.random(n) < habits["day_shift"],
        "place_roll": rng.random(n), "lat_noise": rng.normal(0, POINT_NOISE, n), "lon_noise": rng.normal(0, POINT_NOISE, n),
        "drop_violation": rng.random(n) < habits["violation_dropped"],
        "count_noise": np.where(rng.random(n) < habits["count_noise"], rng.choice([-3, -2, -1, 1, 2, 3], n), 0),
        "killed_missing": rng.random(n) < habits["killed_missing"], "closing": np.array(CLOSINGS)[rng.integers(0, len(CLOSINGS), n)],
        "narrative_missing": rng.random(n) < habits["narrative_missing"], "named": rng.random(n) < habits["perpetrator_named"],
        **{name: habits[name] for name in ("year_only", "month_only", "unknown_place", "governorate_only", "point")},
    }  # fmt: skip
    truth = benchmark_frame(pool, seed, ngo_id="TRUE").with_row_index("true_row")
    records = (truth.gather(pl.Series(true_row, dtype=pl.UInt32))
               .with_columns(pl.Series("ngo", np.array(ngos)[ngo]), *(pl.Series(name, values) for name, values in dice.items()))
               .sort("ngo", "true_row"))
    number = (pl.int_range(pl.len()).over("ngo") + 1).cast(pl.String).str.zfill(7)
    records = records.with_columns(pl.format("{}-{}", pl.col("ngo"), number).alias("record"))
    reported = _noisy_rows(records)
    truth_table = records.select(pl.format("{}/{}", pl.col("ngo"), pl.col("record")).alias("record_id"), pl.col("true_row").alias("true_id"))

    frames = {}
    if actors:  # the pool's perpetrators, each NGO naming them (with its own actor ids) for some of its records
        pool_actors, pool_links = benchmark_actor_frames(pool, actors, seed, ngo_id="POOL")
        pool_links = pool_links.with_columns((pl.col("incident_id").str.strip_prefix("POOL-").cast(pl.UInt32) - 1).alias("true_row"))
        named = records.filter("named").select("ngo", "record", "true_row")
    for ngo_id in ngos:
        rows = reported.filter(records["ngo"] == ngo_id)
        if not actors:
            frames[ngo_id] = (rows, None, None)
            continue
        own = pl.col("actor_id").str.replace("POOL-", f"{ngo_id}-", literal=True)
        links = (named.filter(pl.col("ngo") == ngo_id).join(pool_links, on="true_row")
                 .select(pl.col("record").alias("incident_id"), own.alias("actor_id"), "role").sort("incident_id", maintain_order=True))
        frames[ngo_id] = (rows, pool_actors.with_columns(own), links)
    return frames, truth_table, pool


# --- the store ------------------------------------------------------------------------------------


def _params_path(db: Path) -> Path:
    return db.with_name(db.name + ".linkage-benchmark.json")


def truth_path(db: Path) -> Path:
    return db.with_name(db.name + ".truth.parquet")


def build_store(db: Path, incidents: int, ngos: list[str], actors: int, seed: int) -> dict:
    """Ingest one package per NGO from a shared pool of true incidents, unless ``db`` already holds them."""
    import yaml

    from workbench.errors import WorkbenchError
    from workbench.store import open_store
    from workbench.synth import write_benchmark_package
    from workbench.synth.writers import yaml_bytes

    wanted = {"incidents": incidents, "ngos": ngos, "actors": actors, "seed": seed}
    if db.exists():
        built = json.loads(_params_path(db).read_text()) if _params_path(db).exists() else None
        if built != wanted or not truth_path(db).exists():
            raise WorkbenchError(f"the store {db} was not built by this benchmark with these arguments ({built}); pass a new --store path")
        with open_store(db, read_only=True) as store:
            count = store.con.execute("SELECT count(*) FROM active.incidents").fetchone()[0]
        return {"built": False, "generate_seconds": 0.0, "ingest_seconds": 0.0, "pool": None, "stored": count}

    start = time.perf_counter()
    frames, truth, pool = reported_records(incidents, ngos, actors, seed)
    generate = time.perf_counter() - start

    def write(folder: Path, ngo_id: str) -> Path:
        """The library's package (manifest and all), its rows replaced by this NGO's view of the shared pool."""
        rows, actor_rows, links = frames[ngo_id]
        ngo_seed, name = benchmark_ngo(ngo_id, seed)
        package = write_benchmark_package(folder, incidents=1, seed=ngo_seed, ngo_id=ngo_id, actors=1 if actors else 0, name=name)
        manifest = yaml.safe_load((package / "manifest.yaml").read_text(encoding="utf-8"))
        manifest["submission_ref"] = f"{ngo_id}-linkage-{incidents}-{seed}"
        (package / "manifest.yaml").write_bytes(yaml_bytes(manifest))
        rows.write_csv(package / "incidents.csv")
        if actors:
            actor_rows.write_csv(package / "actors.csv")
            links.write_csv(package / "incident_actors.csv")
        return package

    writing, ingest = ingest_packages(db, list(frames), write)
    generate += writing
    with open_store(db, read_only=True) as store:
        count = store.con.execute("SELECT count(*) FROM active.incidents").fetchone()[0]
    truth.write_parquet(truth_path(db))
    _params_path(db).write_text(json.dumps(wanted))
    return {"built": True, "generate_seconds": generate, "ingest_seconds": ingest, "pool": pool, "stored": count,
            "reported_by": truth.group_by("true_id").len()["len"].value_counts().sort("len").rows()}


# --- how good: the clusters against the truth ------------------------------------------------------


def quality(clusters, truth) -> dict:
    """Pairwise and cluster precision and recall of ``clusters`` (record_id, cluster_id) against ``truth`` (record_id, true_id).

    The definitions of :func:`workbench.linkage.evaluate.scores`, counted from group sizes rather
    than by listing pairs, so that a million records (or one runaway cluster) stay cheap.
    """
    import polars as pl

    both = clusters.join(truth, on="record_id")
    size = pl.col("len").cast(pl.Int64)
    pairs = (size * (size - 1) // 2).sum()

    def prf(hits: int, predicted: int, actual: int) -> dict:
        precision, recall = (hits / predicted if predicted else 1.0), (hits / actual if actual else 1.0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                "true_positives": hits, "predicted": predicted, "actual": actual}

    predicted = both.group_by("cluster_id").len().select(pairs).item()
    actual = both.group_by("true_id").len().select(pairs).item()
    hits = both.group_by("cluster_id", "true_id").len().select(pairs).item()
    true_sizes = both.group_by("true_id").len().rename({"len": "true_len"})
    groups = both.group_by("cluster_id").agg(pl.len(), pl.col("true_id").n_unique().alias("ids"), pl.col("true_id").first())
    groups = groups.filter(pl.col("len") > 1).join(true_sizes, on="true_id")
    exact = groups.filter((pl.col("ids") == 1) & (pl.col("len") == pl.col("true_len"))).height
    largest = both.group_by("cluster_id").len()["len"].max()
    return {"pairwise": prf(hits, predicted, actual), "cluster": prf(exact, groups.height, true_sizes.filter(pl.col("true_len") > 1).height),
            "records": both.height, "largest_cluster": largest}


# --- the measured steps, each in its own process ------------------------------------------------


def _clock_splink(calls: list[tuple[str, float]]) -> None:
    """Time each Splink call made in this process (training steps, predict, clustering) into ``calls``."""
    from splink.internals.linker_components.clustering import LinkerClustering
    from splink.internals.linker_components.inference import LinkerInference
    from splink.internals.linker_components.training import LinkerTraining

    def clocked(owner, name: str, label: str) -> None:
        method = getattr(owner, name)

        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                calls.append((label, time.perf_counter() - start))

        setattr(owner, name, run)

    clocked(LinkerTraining, "estimate_probability_two_random_records_match", "probability two records match")
    clocked(LinkerTraining, "estimate_u_using_random_sampling", "u from random pairs")
    clocked(LinkerTraining, "estimate_parameters_using_expectation_maximisation", "EM")
    clocked(LinkerInference, "predict", "predict")
    clocked(LinkerClustering, "cluster_pairwise_predictions_at_threshold", "cluster (Splink)")


def _numbered(calls: list[tuple[str, float]]) -> dict[str, float]:
    """``EM``, ``EM`` -> ``EM 1``, ``EM 2``; other labels as they are."""
    counts = {label: sum(1 for other, _ in calls if other == label) for label, _ in calls}
    seen: dict[str, int] = {}
    named = {}
    for label, seconds in calls:
        seen[label] = seen.get(label, 0) + 1
        named[f"{label} {seen[label]}" if counts[label] > 1 else label] = seconds
    return named


def _limit_duckdb(memory_limit: str | None) -> None:
    """Every DuckDB connection this process opens (the store's, Splink's) gets ``memory_limit``: both sides alike."""
    if not memory_limit:
        return
    import duckdb

    connect = duckdb.connect

    def limited(*args, config: dict | None = None, **kwargs):
        return connect(*args, config={**(config or {}), "memory_limit": memory_limit}, **kwargs)

    duckdb.connect = limited


def ours(db: Path, work: Path, run: int, memory_limit: str | None = None) -> dict:
    """``link_incidents`` on a fresh copy of the store (a first run, as after new submissions), timed by part."""
    import polars as pl

    from workbench.linkage.run import link_incidents
    from workbench.store import open_store

    _limit_duckdb(memory_limit)
    copy = work / f"ours-{run}.duckdb"
    shutil.copyfile(db, copy)
    store = open_store(copy)
    calls: list[tuple[str, float]] = []
    _clock_splink(calls)
    start = time.perf_counter()
    result = link_incidents(store)
    seconds = time.perf_counter() - start
    peak = peak_bytes()
    clusters = store.frame("SELECT record_id, cluster_id FROM link_clusters WHERE entity = 'incidents'")
    store.close()
    for path in work.glob(f"ours-{run}.*"):
        path.unlink()
    scores = quality(clusters, pl.read_parquet(truth_path(db)).with_columns(pl.col("true_id").cast(pl.Int64)))
    return {"seconds": seconds, "peak_bytes": peak, "timings": result.timings, "splink": _numbered(calls), "records": result.records,
            "pairs_kept": result.pairs, "linked_pairs": result.linked_pairs, "clusters": result.clusters,
            "multi_record_clusters": result.multi_record_clusters, "notes": len(result.notes), "quality": scores}


def _plain_settings(blocking: str, rules: list[str]):
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons = [
        cl.AbsoluteDateDifferenceAtThresholds("date_lo", input_is_string=False, metrics=["day", "day"], thresholds=[1, 7]),
        cl.DistanceInKMAtThresholds("lat", "lon", [2, 10]),
        cl.ArrayIntersectAtSizes("violations", [2, 1]),
        cl.ExactMatch("killed"),
    ]
    blocks = [block_on("admin1", "week")] if blocking == "simple" else rules
    return SettingsCreator(link_type="dedupe_only", comparisons=comparisons, blocking_rules_to_generate_predictions=blocks)


def plain(db: Path, blocking: str, review: float, threshold: float, memory_limit: str | None = None) -> dict:
    """Splink with standard comparisons and default settings on the ``link_incidents`` frame (built before the clock)."""
    import duckdb
    import polars as pl
    from splink import DuckDBAPI, Linker, block_on

    from workbench.linkage import incidents as incident_rules
    from workbench.linkage.config import load_linkage_config
    from workbench.store import open_store

    _limit_duckdb(memory_limit)
    cfg = load_linkage_config().incidents
    with open_store(db, read_only=True) as store:
        incident_rules.prepare(store, cfg)
        frame = store.frame("SELECT * FROM link_incidents")
    calls: list[tuple[str, float]] = []
    _clock_splink(calls)
    start = time.perf_counter()
    con = duckdb.connect()
    con.register("records_arrow", frame.to_arrow())
    con.execute("CREATE TABLE records AS SELECT * FROM records_arrow")
    con.unregister("records_arrow")
    loaded = time.perf_counter() - start
    linker = Linker(DuckDBAPI(connection=con).register("records"), _plain_settings(blocking, incident_rules.BLOCKING_RULES),
                    log_level=logging.WARNING)  # its progress messages only: not a setting of the model
    linker.training.estimate_probability_two_random_records_match(incident_rules.DETERMINISTIC_RULES, recall=0.6)
    linker.training.estimate_u_using_random_sampling()
    for rule in PLAIN_TRAINING:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule))
    predictions = linker.inference.predict(threshold_match_probability=review)
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    clusters = con.execute(f"SELECT unique_id AS record_id, cluster_id FROM {clustered.physical_name}").pl()
    seconds = time.perf_counter() - start
    peak = peak_bytes()
    scored = con.execute(f"SELECT count(*), count(*) FILTER (match_probability >= ?) FROM {predictions.physical_name}", [threshold]).fetchone()
    con.close()
    clusters = clusters.with_columns(pl.col("record_id").cast(pl.String), pl.col("cluster_id").cast(pl.String))
    sizes = clusters.group_by("cluster_id").len()
    scores = quality(clusters, pl.read_parquet(truth_path(db)).with_columns(pl.col("true_id").cast(pl.Int64)))
    return {"seconds": seconds, "peak_bytes": peak, "load_seconds": loaded, "splink": _numbered(calls), "records": frame.height,
            "pairs_kept": scored[0], "linked_pairs": scored[1], "clusters": sizes.height,
            "multi_record_clusters": int((sizes["len"] > 1).sum()), "quality": scores}


def profile(db: Path, sample: float, memory_limit: str | None = None) -> dict:
    """Pairs made by each blocking rule (in order, each beyond the earlier ones), by the training blocks, and the densest blocks."""
    import duckdb
    from splink import DuckDBAPI, block_on
    from splink.blocking_analysis import count_comparisons_from_blocking_rules, n_largest_blocks

    from workbench.linkage import incidents as incident_rules
    from workbench.linkage.config import load_linkage_config
    from workbench.store import open_store

    _limit_duckdb(memory_limit)
    cfg = load_linkage_config().incidents
    with open_store(db, read_only=True) as store:
        incident_rules.prepare(store, cfg)
        frame = store.frame("SELECT * FROM link_incidents")
        shape = store.con.execute("""SELECT count(*) FILTER (date_precision = 'day'), count(*) FILTER (date_precision = 'month'),
                                            count(*) FILTER (date_precision = 'year'), count(*) FILTER (place_grain = 'fine'),
                                            count(*) FILTER (place_grain = 'governorate'), count(*) FILTER (unplaced_week IS NOT NULL),
                                            count(DISTINCT cell), count(DISTINCT week), avg(len(words)), count(perpetrators)
                                     FROM link_incidents""").fetchone()
    con = duckdb.connect()
    con.register("records_arrow", frame.select("unique_id", *{c for c in frame.columns if c not in ("unique_id", "words")}).to_arrow())
    con.execute("CREATE TABLE records AS SELECT * FROM records_arrow")
    table = DuckDBAPI(connection=con).register("records")

    def counted(rules) -> list[dict]:
        start = time.perf_counter()
        rows = count_comparisons_from_blocking_rules(table, blocking_rules=rules, link_type="dedupe_only", record_sample_proportion=sample)
        seconds = time.perf_counter() - start
        return [{"rule": r["blocking_rule"], "pairs": int(r["marginal_comparison_count"]), "cumulative": int(r["cumulative_comparison_count"]),
                 "seconds": round(seconds / len(rows), 2)} for r in rows]

    ours_rules = counted(incident_rules.BLOCKING_RULES)
    training = [counted([rule])[0] for rule in incident_rules.training_rules(frame.height, cfg)]  # as sampled at this size
    deterministic = counted(incident_rules.DETERMINISTIC_RULES)[0]
    simple = counted([block_on("admin1", "week")])[0]
    plain_training = [counted([block_on(*rule)])[0] for rule in PLAIN_TRAINING]
    largest = n_largest_blocks(table, blocking_rule=incident_rules.BLOCKING_RULES[0], link_type="dedupe_only", n_largest=3).as_pandas_dataframe()
    con.close()
    keys = ("day", "month", "year", "fine_place", "governorate_only", "unplaced", "cells", "weeks", "words_mean", "with_perpetrators")
    return {"records": frame.height, "shape": dict(zip(keys, shape)), "sample": sample, "ours": ours_rules, "training": training,
            "deterministic": deterministic, "simple": simple, "plain_training": plain_training, "largest_blocks": json.loads(largest.to_json(orient="records")),
            "peak_bytes": peak_bytes()}


#: Each step: the modules it imports before its clock starts, and the step.
SPLINK = ["duckdb", "polars", "splink", "splink.comparison_library", "workbench.store", "workbench.linkage.incidents",
          "workbench.linkage.config"]
STEPS = {
    "build": ([], build_store),
    "ours": ([*SPLINK, "workbench.linkage.run"], ours),
    "plain": (SPLINK, plain),
    "profile": ([*SPLINK, "splink.blocking_analysis"], profile),
}


def run(name: str, *args) -> dict:
    """Step ``name`` in a fresh interpreter (see benchmarks/harness.py)."""
    modules, step = STEPS[name]
    return measure(modules, step, *args)


# --- the table ------------------------------------------------------------------------------------


def _row(step: str, ours_seconds: float | None, plain_seconds: float | None, note: str = "") -> str:
    def cell(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    return f"{step:<40}{cell(ours_seconds):>10}{cell(plain_seconds):>10}  {note}"


def _quality(result: dict) -> str:
    pairwise, clusters = result["quality"]["pairwise"], result["quality"]["cluster"]
    return (f"P {pairwise['precision']:.3f} R {pairwise['recall']:.3f} F1 {pairwise['f1']:.3f}; "
            f"cluster P {clusters['precision']:.3f} R {clusters['recall']:.3f} F1 {clusters['f1']:.3f}")


def _print_profile(profiled: dict) -> None:
    exact = "exact" if profiled["sample"] >= 1 else f"estimated from {profiled['sample']:.0%} samples"
    print(f"pairs per blocking rule ({exact}; each rule's pairs beyond the earlier ones'):")
    for rule in profiled["ours"]:
        print(f"  {rule['pairs']:>14,}  {rule['rule']}")
    print(f"  {profiled['ours'][-1]['cumulative']:>14,}  in all (ours)")
    print(f"  {profiled['simple']['pairs']:>14,}  plain: {profiled['simple']['rule']}")
    for side in ("training", "plain_training"):
        for rule in profiled[side]:
            print(f"  {rule['pairs']:>14,}  EM block ({'ours' if side == 'training' else 'plain'}): {rule['rule']}")
    print(f"  {profiled['deterministic']['pairs']:>14,}  deterministic rule: {profiled['deterministic']['rule']}")
    print(f"records: {profiled['shape']}; largest blocks of the first rule: {profiled['largest_blocks']}")


def _print_table(mine: dict, base: dict, threshold: float, blocking: str) -> None:
    timings, splink_ours, splink_plain = mine["timings"], mine["splink"], base["splink"]
    ratio = mine["seconds"] / base["seconds"]
    core = timings["train and score"] + timings["cluster"]
    print(f"{'step (seconds)':<40}{'ours':>10}{'plain':>10}  note")
    print(_row("prepare link_incidents (SQL)", timings["prepare"], None, "plain Splink gets the same frame before its clock"))
    print(_row("load the records into Splink's DuckDB", None, base["load_seconds"], "ours: inside train and score"))
    for label in dict.fromkeys([*splink_ours, *splink_plain]):
        print(_row(f"  {label}", splink_ours.get(label), splink_plain.get(label)))
    print(_row("  other (load records, fetch pairs)", timings["train and score"] - sum(splink_ours.values()), None))
    print(_row("train and score", timings["train and score"], None))
    print(_row("cluster (ours: networkx, decisions)", timings["cluster"], None, "plain: cluster (Splink), above"))
    print(_row("store model, pairs, clusters, log", timings["store"], None))
    print(_row("total", mine["seconds"], base["seconds"],
               f"ours / plain {ratio:.2f}; train, score and cluster alone / plain {core / base['seconds']:.2f}"))
    print(_row("peak memory (MiB)", mine["peak_bytes"] / 2**20, base["peak_bytes"] / 2**20))
    print(f"pairs: ours kept {mine['pairs_kept']:,} for review, {mine['linked_pairs']:,} linked (p >= {threshold}); "
          f"plain kept {base['pairs_kept']:,}, {base['linked_pairs']:,} linked ({blocking} blocking; pairs scored: see the profile)")
    print(f"clusters: ours {mine['clusters']:,} ({mine['multi_record_clusters']:,} of several records, largest "
          f"{mine['quality']['largest_cluster']:,}); plain {base['clusters']:,} ({base['multi_record_clusters']:,}, largest "
          f"{base['quality']['largest_cluster']:,})")
    print(f"against the truth: ours {_quality(mine)}")
    print(f"                   plain {_quality(base)}")


def _rounded(values: dict) -> dict:
    return {key: round(value, 3) for key, value in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000, help="reported incidents in the store, over all NGOs")
    parser.add_argument("--ngos", type=int, default=10)
    parser.add_argument("--actors", type=int, default=300, help="invented units in the pool, named as perpetrators (0: none)")
    parser.add_argument("--seed", type=int, default=FIRST_SEED, help="seed of the pool of true incidents and of the NGOs' noise")
    parser.add_argument("--store", type=Path, help="keep the store here and reuse it when built with the same arguments (default: temporary)")
    parser.add_argument("--plain-blocking", choices=("simple", "ours"), default="simple",
                        help='plain Splink\'s blocking: block_on("admin1", "week") (simple) or our blocking rules (ours)')
    parser.add_argument("--profile-sample", type=float, default=1.0,
                        help="share of records on each side when counting pairs per blocking rule (1: exact; 0: no profile)")
    parser.add_argument("--profile-only", action="store_true", help="build the store and count the pairs, without linking")
    parser.add_argument("--repeat", type=int, default=1, help="runs of ours and of plain Splink, interleaved; the fastest of each is reported")
    parser.add_argument("--memory-limit", help="DuckDB's memory_limit for every connection of both sides (e.g. 8GB; default: DuckDB's own)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    if args.ngos < 2 or args.incidents < 2 * args.ngos or args.actors < 0 or not 0 <= args.profile_sample <= 1:
        parser.error("need at least two NGOs, two incidents per NGO, no negative actors, and a profile sample between 0 and 1")
    if args.profile_only and not args.profile_sample:
        parser.error("--profile-only needs a --profile-sample above 0")

    from workbench.linkage.config import load_linkage_config

    thresholds = load_linkage_config().incidents
    review, threshold = float(thresholds["review_threshold"]), float(thresholds["match_threshold"])
    ngos = ngo_ids(args.ngos)
    runs: dict[str, list[dict]] = {"ours": [], "plain": []}
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        work = Path(tmp)
        db = (args.store or work / "linkage.duckdb").resolve()
        # anything that reads the settings (in the steps' processes too) uses the benchmark store, never the project's
        os.environ["WORKBENCH_DB"], os.environ["WORKBENCH_VAULT"] = str(db), str(db.with_suffix(".vault"))
        start = time.perf_counter()
        built = run("build", db, args.incidents, ngos, args.actors, args.seed)
        build_seconds = time.perf_counter() - start
        for number in range(0 if args.profile_only else max(1, args.repeat)):  # interleaved: a busy moment hits both alike
            runs["ours"].append(run("ours", db, work, number, args.memory_limit))
            runs["plain"].append(run("plain", db, args.plain_blocking, review, threshold, args.memory_limit))
        profiled = run("profile", db, args.profile_sample, args.memory_limit) if args.profile_sample > 0 else None

    print(f"linkage benchmark: {built['stored']:,} incidents of {len(ngos)} NGOs, {args.actors:,} actors in the pool, seed {args.seed}; "
          f"store {db if args.store else '(temporary)'}")
    if built["built"]:
        print(f"store built (untimed): {built['pool']:,} true incidents, reported by (NGOs, true incidents) {built['reported_by']}; "
              f"rows made in {built['generate_seconds']:.1f} s, {len(ngos)} packages ingested in {built['ingest_seconds']:.1f} s "
              f"({build_seconds:.1f} s in all)")
    else:
        print(f"store reused: it already holds the {built['stored']:,} incidents (checked in {build_seconds:.1f} s)")
    summary = {"benchmark": "linkage", "incidents": built["stored"], "ngos": len(ngos), "actors": args.actors, "seed": args.seed,
               "true_incidents": built["pool"], "store_built": built["built"], "build_seconds": round(build_seconds, 3),
               "cores": os.cpu_count(), "profile": profiled, "splink_published": SPLINK_PUBLISHED,
               "target": {"ours_vs_plain_max": TARGET_RATIO}, "target_met": None}
    if args.profile_only:
        _print_profile(profiled)
        print("linkage not run (--profile-only)")
        if args.json:
            print(json.dumps(summary))
        return

    mine, base = (min(results, key=lambda r: r["seconds"]) for results in runs.values())
    spread = {name: [round(r["seconds"], 2) for r in results] for name, results in runs.items()}
    ratio, core = mine["seconds"] / base["seconds"], mine["timings"]["train and score"] + mine["timings"]["cluster"]
    print(f"fastest of {len(spread['ours'])} runs, all runs: {spread}")
    _print_table(mine, base, threshold, args.plain_blocking)
    if profiled:
        _print_profile(profiled)
    per_million = mine["seconds"] / mine["records"] * 1e6
    print(f"beside Splink's published figure ({SPLINK_PUBLISHED}): ours {mine['seconds'] / 60:.1f} min for {mine['records']:,} "
          f"records ({per_million / 60:.1f} min per million at this size), plain Splink here {base['seconds'] / 60:.1f} min, "
          f"on {os.cpu_count()} cores")
    print(f"target (ours at most {TARGET_RATIO}x plain Splink): {'met' if ratio <= TARGET_RATIO else 'NOT met'} ({ratio:.2f}x)")
    summary |= {
        "ours_seconds": round(mine["seconds"], 3), "plain_seconds": round(base["seconds"], 3), "ours_vs_plain": round(ratio, 3),
        "core_vs_plain": round(core / base["seconds"], 3), "ours_timings": _rounded(mine["timings"]), "ours_splink": _rounded(mine["splink"]),
        "plain_splink": _rounded(base["splink"]), "plain_load_seconds": round(base["load_seconds"], 3), "plain_blocking": args.plain_blocking,
        "ours_peak_mib": round(mine["peak_bytes"] / 2**20), "plain_peak_mib": round(base["peak_bytes"] / 2**20),
        "ours_pairs_kept": mine["pairs_kept"], "ours_linked_pairs": mine["linked_pairs"], "plain_pairs_kept": base["pairs_kept"],
        "plain_linked_pairs": base["linked_pairs"], "ours_clusters": mine["clusters"], "plain_clusters": base["clusters"],
        "ours_quality": mine["quality"], "plain_quality": base["quality"], "runs_seconds": spread,
        "seconds_per_million": round(per_million, 1), "target_met": ratio <= TARGET_RATIO,
    }  # fmt: skip
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
