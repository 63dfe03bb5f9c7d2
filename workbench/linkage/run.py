"""A linkage run: prepare the records, score pairs, cluster with the analysts' decisions, store it all.

Each run stores its model (``linkage_models``: Splink's JSON and the thresholds used), replaces the
entity's pairs (``link_pairs``, with what each comparison contributed) and clusters
(``link_clusters``), and logs itself in the custody log. Every contributing record stays as it was
sent; a cluster only says which records are the same incident or person.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import polars as pl

from workbench.errors import WorkbenchError
from workbench.linkage import incidents as incident_rules
from workbench.linkage import persons as person_rules
from workbench.linkage.clusters import cluster, decisions
from workbench.linkage.config import LinkageConfig, load_linkage_config
from workbench.linkage.engine import model_parameters, score
from workbench.store import Store, table_from_frame


@dataclass
class LinkRun:
    """What a run did: its model, how many records, pairs kept for review, clusters, and where the time went."""

    entity: str
    model_id: str
    records: int
    pairs: int
    linked_pairs: int
    clusters: int
    multi_record_clusters: int
    parameters: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def latest_model(store: Store, entity: str) -> dict[str, Any] | None:
    """The Splink model of the entity's latest run, or None."""
    row = store.con.execute("SELECT model FROM linkage_models WHERE entity = ? ORDER BY trained_at DESC LIMIT 1", [entity]).fetchone()
    return json.loads(row[0]) if row else None


def link_incidents(store: Store, *, config: LinkageConfig | None = None, retrain: bool = True) -> LinkRun:
    """Link the current incidents of every NGO (see :mod:`workbench.linkage.incidents`)."""
    if store.read_only:
        raise WorkbenchError("linkage stores its pairs and clusters; open the store for writing (not read-only)")
    config = config or load_linkage_config()
    cfg = config.incidents
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    records = incident_rules.prepare(store, cfg)
    frame = store.frame("SELECT * FROM link_incidents")
    timings["prepare"] = time.perf_counter() - clock
    model = None if retrain else latest_model(store, "incidents")
    clock = time.perf_counter()
    scored = score(frame, incident_rules.settings(cfg), training_rules=incident_rules.training_rules(records, cfg),
                   deterministic_rules=incident_rules.DETERMINISTIC_RULES, recall=0.6, random_pairs=cfg["random_pairs"],
                   seed=cfg["seed"], review_threshold=cfg["review_threshold"], model=model,
                   fallback_rules=incident_rules.FALLBACK_TRAINING_RULES)
    timings["train and score"] = time.perf_counter() - clock
    precise = frame.filter(pl.col("date_precision") == "day").select("unique_id", (pl.col("date_lo") - pl.date(1970, 1, 1)).dt.total_days())
    days = dict(precise.iter_rows())
    return _store_run(store, "incidents", frame.select("unique_id", "ngo_id", "incident_id").rename({"incident_id": "local_id"}),
                      scored, cfg, records, timings, days=days, max_span_days=cfg["max_cluster_days"])


def link_persons(store: Store, *, config: LinkageConfig | None = None, retrain: bool = True) -> LinkRun:
    """Link the current persons of every NGO (see :mod:`workbench.linkage.persons`); link incidents first."""
    if store.read_only:
        raise WorkbenchError("linkage stores its pairs and clusters; open the store for writing (not read-only)")
    config = config or load_linkage_config()
    cfg = config.persons
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    records = person_rules.prepare(store)
    frame = store.frame("SELECT * FROM link_persons")
    timings["prepare"] = time.perf_counter() - clock
    model = None if retrain else latest_model(store, "persons")
    shared = person_rules.shared_pseudonyms(store)
    clock = time.perf_counter()
    scored = score(frame, person_rules.settings(cfg), training_rules=person_rules.TRAINING_RULES,
                   deterministic_rules=person_rules.DETERMINISTIC_RULES, recall=0.7, random_pairs=cfg["random_pairs"],
                   seed=cfg["seed"], review_threshold=cfg["review_threshold"], model=model, labels=shared)
    # the same pseudonym in a shared keyed scheme is the same person, whatever the attributes say
    outright = shared.with_columns(pl.lit(1.0).alias("match_probability"), pl.lit(None, pl.Float64).alias("match_weight"))
    scored.pairs = pl.concat([scored.pairs.join(shared, on=["unique_id_l", "unique_id_r"], how="anti"),
                              outright.join(shared.head(0), on=["unique_id_l", "unique_id_r"], how="anti")], how="diagonal_relaxed")
    timings["train and score"] = time.perf_counter() - clock
    return _store_run(store, "persons", frame.select("unique_id", "ngo_id", "person_id").rename({"person_id": "local_id"}),
                      scored, cfg, records, timings, one_per_ngo=True)


def link_all(store: Store, *, config: LinkageConfig | None = None, retrain: bool = True) -> tuple[LinkRun, LinkRun]:
    """Incidents, then persons (whose comparison uses the incident clusters)."""
    return link_incidents(store, config=config, retrain=retrain), link_persons(store, config=config, retrain=retrain)


def _store_run(store: Store, entity: str, records: pl.DataFrame, scored, cfg: dict[str, Any], count: int,
               timings: dict[str, float], *, one_per_ngo: bool = False, days: dict[str, int] | None = None,
               max_span_days: int | None = None) -> LinkRun:
    clock = time.perf_counter()
    clustering = cluster(records["unique_id"], scored.pairs, cfg["match_threshold"], decisions(store, entity), one_per_ngo=one_per_ngo,
                         days=days, max_span_days=max_span_days)
    timings["cluster"] = time.perf_counter() - clock
    clock = time.perf_counter()
    at = datetime.now(timezone.utc)
    model_id = f"{entity}-{at:%Y%m%dT%H%M%S%fZ}"
    weights = [c for c in scored.pairs.columns if c.startswith("mw_")]
    pairs = scored.pairs.select(
        pl.lit(entity).alias("entity"), pl.lit(model_id).alias("model_id"), pl.col("unique_id_l").alias("id_l"),
        pl.col("unique_id_r").alias("id_r"), "match_probability", "match_weight",
        (pl.struct([pl.col(c).alias(c[3:]) for c in weights]).struct.json_encode() if weights else pl.lit(None, pl.String)).alias("evidence"))
    clusters = records.join(clustering.clusters, left_on="unique_id", right_on="record_id").select(
        pl.lit(entity).alias("entity"), pl.lit(model_id).alias("model_id"), pl.col("unique_id").alias("record_id"), "ngo_id",
        "local_id", "cluster_id")
    sizes = clusters.group_by("cluster_id").len()
    multi = int((sizes["len"] > 1).sum())
    linked = int(scored.pairs.filter(pl.col("match_probability") >= cfg["match_threshold"]).height)
    with store.transaction():
        store.con.execute("INSERT INTO linkage_models VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [model_id, entity, at.replace(tzinfo=None), store.user, count, json.dumps(cfg), json.dumps(scored.model)])
        store.con.execute("DELETE FROM link_pairs WHERE entity = ?", [entity])
        store.con.execute("DELETE FROM link_clusters WHERE entity = ?", [entity])
        table_from_frame(store.con, "new_link_pairs", pairs)
        table_from_frame(store.con, "new_link_clusters", clusters)
        store.con.execute("INSERT INTO link_pairs SELECT * FROM new_link_pairs")
        store.con.execute("INSERT INTO link_clusters SELECT * FROM new_link_clusters")
        store.log("linkage", subject=entity, details={
            "model_id": model_id, "records": count, "pairs_for_review": pairs.height, "linked_pairs": linked,
            "clusters": sizes.height, "multi_record_clusters": multi, "conflicts": clustering.conflicts, "thresholds": cfg})
    store.write_anchor()
    timings["store"] = time.perf_counter() - clock
    return LinkRun(entity, model_id, count, pairs.height, linked, sizes.height, multi, model_parameters(scored.model),
                   [*scored.notes, *clustering.conflicts], timings)
