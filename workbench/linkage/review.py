"""Review of the linkage in a notebook: the least certain pairs and clusters first, decided by an analyst.

A pair is uncertain when its match weight is close to the match threshold's, on either side (in
bits, so that 0.95 and 0.999 are not both "close to 1"); a cluster is uncertain when the weakest
scored link between two of its records is low. For each, the widget sets the records side by side
(for persons only the pseudonym and the attributes linkage compares, never other personal data;
for incidents the first 300 characters of the narrative), shows what each comparison added to the
evidence, and stores the analyst's decision (accept, reject, or split a cluster) through
:mod:`workbench.linkage.clusters`, with who, when and why. Decisions take effect at the next
linkage run, which the widget offers to start with the stored model (no retraining).

>>> from workbench.store import open_store
>>> store = open_store("workbench.duckdb")  # doctest: +SKIP
>>> uncertain_pairs(store, "incidents", limit=5)  # doctest: +SKIP
>>> from workbench.linkage.review_widget import review_widget
>>> review_widget(store)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from typing import Any

import networkx as nx
import polars as pl

from workbench.errors import WorkbenchError
from workbench.linkage.clusters import ENTITIES, record_decision
from workbench.linkage.run import LinkRun, link_incidents, link_persons
from workbench.store import Store

#: The most of a narrative the review shows (analysts of the mechanism may read narratives; a
#: short excerpt is enough to tell two reports apart).
EXCERPT_CHARS = 300
TITLE_CHARS = 120

#: What the review shows of a record, in order, with its label. Persons: the pseudonym and what the
#: linkage compares, nothing else (no notes, status, consent, name encoding or description).
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "incidents": (("ngo_id", "NGO"), ("incident_id", "incident"), ("date", "date"), ("place", "place"),
                  ("governorate", "governorate"), ("violation_types", "violation types"), ("killed", "killed"),
                  ("injured", "injured"), ("perpetrators", "alleged perpetrators"), ("title", "title"),
                  ("narrative", f"narrative (first {EXCERPT_CHARS} characters)")),
    "persons": (("ngo_id", "NGO"), ("person_id", "person"), ("pseudonym", "pseudonym"), ("sex", "sex"),
                ("age_group", "age group"), ("age", "age"), ("roles", "roles"), ("incidents", "incidents"),
                ("account_given", "account given")),
}

_PAIRS_SCHEMA = {"id_l": pl.String, "id_r": pl.String, "match_probability": pl.Float64, "match_weight": pl.Float64,
                 "distance": pl.Float64, "above_threshold": pl.Boolean, "cluster_l": pl.String, "cluster_r": pl.String,
                 "same_cluster": pl.Boolean, "decision": pl.String}
_CLUSTERS_SCHEMA = {"cluster_id": pl.String, "records": pl.Int64, "ngos": pl.Int64, "record_ids": pl.List(pl.String),
                    "weakest_link": pl.Float64, "scored_pairs": pl.Int64, "decided_pairs": pl.Int64}


def check_entity(entity: str) -> None:
    if entity not in ENTITIES:
        raise WorkbenchError(f"unknown entity {entity!r}; known: {', '.join(ENTITIES)}")


def latest_run_summary(store: Store, entity: str) -> tuple[str, float, dict[str, Any]] | None:
    """The model id, match threshold and Splink model of the run whose pairs are stored, or None."""
    row = store.con.execute("""SELECT m.model_id, m.config, m.model FROM linkage_models m
                               WHERE m.entity = ? AND m.model_id IN (SELECT model_id FROM link_pairs WHERE entity = ?
                                                                     UNION SELECT model_id FROM link_clusters WHERE entity = ?)
                               ORDER BY m.trained_at DESC LIMIT 1""", [entity, entity, entity]).fetchone()
    if row is None:
        return None
    return row[0], float(json.loads(row[1])["match_threshold"]), json.loads(row[2])


def _frame(store: Store, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    """A query with named parameters (``$name``) as a frame."""
    return store.con.execute(sql, params).pl()


def _bits(probability: float) -> float:
    """A probability as a match weight (log2 of the odds); a threshold of 1 is taken as just below it."""
    probability = min(max(probability, 1e-12), 1 - 1e-12)
    return math.log2(probability / (1 - probability))


def uncertain_pairs(store: Store, entity: str = "incidents", *, limit: int = 50, offset: int = 0,
                    include_decided: bool = False) -> pl.DataFrame:
    """The pairs of the latest run, closest to the match threshold first (above or below it).

    ``distance`` is how far the pair's match weight is from the threshold's, in bits;
    ``above_threshold`` whether the model alone links it, ``same_cluster`` whether it ended in one
    cluster (a decision or, for persons, a better match can keep apart a pair above the threshold);
    ``decision`` the latest analyst decision (pairs with one are left out unless ``include_decided``).

    >>> from workbench.store import open_store
    >>> with open_store(":memory:") as store:
    ...     uncertain_pairs(store).height
    0
    """
    check_entity(entity)
    run = latest_run_summary(store, entity)
    if run is None:
        return pl.DataFrame(schema=_PAIRS_SCHEMA)
    _, threshold, _ = run
    return _frame(store, """
        WITH decided AS (
            SELECT id_l, id_r, arg_max(decision, seq) AS decision FROM link_decisions WHERE entity = $entity GROUP BY ALL),
        pairs AS (
            SELECT least(id_l, id_r) AS id_l, greatest(id_l, id_r) AS id_r, match_probability, match_weight,
                   coalesce(match_weight, CASE WHEN match_probability >= 1 THEN 'inf'::DOUBLE WHEN match_probability <= 0 THEN '-inf'::DOUBLE
                                               ELSE log2(match_probability / (1 - match_probability)) END) AS weight
            FROM link_pairs WHERE entity = $entity)
        SELECT p.id_l, p.id_r, p.match_probability, p.match_weight, abs(p.weight - $bits) AS distance,
               p.match_probability >= $threshold AS above_threshold, cl.cluster_id AS cluster_l, cr.cluster_id AS cluster_r,
               coalesce(cl.cluster_id = cr.cluster_id, FALSE) AS same_cluster, d.decision
        FROM pairs p
        LEFT JOIN link_clusters cl ON cl.entity = $entity AND cl.record_id = p.id_l
        LEFT JOIN link_clusters cr ON cr.entity = $entity AND cr.record_id = p.id_r
        LEFT JOIN decided d ON d.id_l = p.id_l AND d.id_r = p.id_r
        WHERE $include_decided OR d.decision IS NULL
        ORDER BY distance, p.id_l, p.id_r
        LIMIT $limit OFFSET $offset""", {"entity": entity, "bits": _bits(threshold), "threshold": threshold,
                                        "include_decided": include_decided, "limit": limit, "offset": offset})


def uncertain_clusters(store: Store, entity: str = "incidents", *, limit: int = 50, offset: int = 0) -> pl.DataFrame:
    """Clusters of two or more records of the latest run, the one whose weakest scored link is lowest first.

    ``weakest_link`` is the lowest match probability among the scored pairs inside the cluster
    (null when none was scored: records joined by analysts' decisions only, listed last).
    """
    check_entity(entity)
    return _frame(store, """
        WITH members AS (SELECT cluster_id, record_id, ngo_id FROM link_clusters WHERE entity = $entity),
        sizes AS (
            SELECT cluster_id, count(*) AS records, count(DISTINCT ngo_id) AS ngos, list_sort(list(record_id)) AS record_ids
            FROM members GROUP BY cluster_id HAVING count(*) > 1),
        inside AS (
            SELECT l.cluster_id, p.id_l, p.id_r, p.match_probability FROM link_pairs p
            JOIN members l ON l.record_id = p.id_l JOIN members r ON r.record_id = p.id_r AND r.cluster_id = l.cluster_id
            WHERE p.entity = $entity),
        decided AS (
            SELECT l.cluster_id, count(DISTINCT (d.id_l, d.id_r)) AS decided_pairs FROM link_decisions d
            JOIN members l ON l.record_id = d.id_l JOIN members r ON r.record_id = d.id_r AND r.cluster_id = l.cluster_id
            WHERE d.entity = $entity GROUP BY l.cluster_id)
        SELECT s.cluster_id, s.records, s.ngos, s.record_ids, min(i.match_probability) AS weakest_link,
               count(i.id_l) AS scored_pairs, coalesce(any_value(d.decided_pairs), 0) AS decided_pairs
        FROM sizes s LEFT JOIN inside i USING (cluster_id) LEFT JOIN decided d USING (cluster_id)
        GROUP BY s.cluster_id, s.records, s.ngos, s.record_ids
        ORDER BY weakest_link NULLS LAST, s.records DESC, s.cluster_id
        LIMIT $limit OFFSET $offset""", {"entity": entity, "limit": limit, "offset": offset}).cast(_CLUSTERS_SCHEMA)


_INCIDENTS_SQL = """
WITH latest AS (
    SELECT * FROM active.incidents WHERE list_contains($ids::VARCHAR[], ngo_id || '/' || incident_id)
    QUALIFY row_number() OVER (PARTITION BY ngo_id, incident_id ORDER BY submission_id DESC, source_row) = 1),
perpetrators AS (
    SELECT ia.ngo_id, ia.incident_id, list_sort(list(DISTINCT coalesce(a.name, a.affiliation))) AS perpetrators
    FROM active.incident_actors ia JOIN active.actors a ON a.ngo_id = ia.ngo_id AND a.actor_id = ia.actor_id
    WHERE ia.role = 'alleged_perpetrator' AND coalesce(a.name, a.affiliation) IS NOT NULL
      AND list_contains($ids::VARCHAR[], ia.ngo_id || '/' || ia.incident_id)
    GROUP BY ALL)
SELECT i.ngo_id || '/' || i.incident_id AS record_id, i.ngo_id, i.incident_id, i.date_start, i.date_end, i.date_precision,
       i.place, i.geo_precision, coalesce(g.name_en || ' (' || i.admin1_pcode || ')', i.admin1_pcode) AS governorate,
       i.violation_types, i.killed, i.injured, p.perpetrators, i.title, i.narrative
FROM latest i
LEFT JOIN perpetrators p USING (ngo_id, incident_id)
LEFT JOIN gazetteer_places g ON g.place_id = i.admin1_pcode AND g.level = 'governorate'
"""

_PERSONS_SQL = """
WITH latest AS (
    SELECT * FROM active.persons WHERE list_contains($ids::VARCHAR[], ngo_id || '/' || person_id)
    QUALIFY row_number() OVER (PARTITION BY ngo_id, person_id ORDER BY submission_id DESC, source_row) = 1),
links AS (
    SELECT ip.ngo_id, ip.person_id, list_sort(list(DISTINCT ip.role) FILTER (WHERE ip.role IS NOT NULL)) AS roles,
           list_sort(list(DISTINCT ip.incident_id)) AS incidents
    FROM active.incident_persons ip WHERE list_contains($ids::VARCHAR[], ip.ngo_id || '/' || ip.person_id) GROUP BY ALL)
SELECT p.ngo_id || '/' || p.person_id AS record_id, p.ngo_id, p.person_id, p.pseudonym, p.sex, p.age_group, p.age,
       l.roles, l.incidents, coalesce(p.account_given, FALSE) AS account_given
FROM latest p LEFT JOIN links l USING (ngo_id, person_id)
"""


def _date_text(start: Any, end: Any, precision: str | None) -> str | None:
    if start is None:
        return None
    if precision == "year":
        return f"{start:%Y} (known to the year)"
    if precision == "month":
        return f"{start:%Y-%m} (known to the month)"
    span = start.isoformat() if end is None or end == start else f"{start.isoformat()} – {end.isoformat()}"
    return f"{span} ({precision or 'precision unknown'})"


def _excerpt(text: pl.Expr, chars: int) -> pl.Expr:
    return pl.when(text.str.len_chars() > chars).then(text.str.slice(0, chars) + "…").otherwise(text)


def review_records(store: Store, entity: str, record_ids: list[str]) -> pl.DataFrame:
    """The records (``NGO/local id``) as the review shows them, in the order given: only :data:`FIELDS`.

    Incidents get their date with its precision, the governorate's name, the alleged perpetrators'
    names and at most :data:`EXCERPT_CHARS` characters of the narrative; persons their pseudonym,
    sex, age group, age, roles, incidents and whether they gave an account. A record no longer
    among the current records is left out.
    """
    check_entity(entity)
    ids = list(dict.fromkeys(record_ids))
    raw = _frame(store, _INCIDENTS_SQL if entity == "incidents" else _PERSONS_SQL, {"ids": ids})
    if entity == "incidents":
        raw = raw.with_columns(
            pl.Series("date", [_date_text(s, e, p) for s, e, p in raw.select("date_start", "date_end", "date_precision").iter_rows()],
                      dtype=pl.String),
            _excerpt(pl.col("title"), TITLE_CHARS).alias("title"), _excerpt(pl.col("narrative"), EXCERPT_CHARS).alias("narrative"))
    order = pl.DataFrame({"record_id": ids, "_position": list(range(len(ids)))})
    shown = ["record_id", *(name for name, _ in FIELDS[entity])]
    return order.join(raw, on="record_id", how="inner").sort("_position").select(shown)


def pair_records(store: Store, entity: str, id_l: str, id_r: str) -> pl.DataFrame:
    """The two records of a pair side by side (see :func:`review_records`)."""
    return review_records(store, entity, [id_l, id_r])


def level_weights(model: dict[str, Any]) -> dict[str, list[tuple[float, str]]]:
    """Per comparison, each level's match weight (log2 of m/u; 0 for the null level) and its label.

    Levels whose m or u the model does not hold (Splink used its defaults) are left out: their
    weight cannot be told from the stored model.
    """
    levels: dict[str, list[tuple[float, str]]] = {}
    for comparison in model.get("comparisons", []):
        found = levels.setdefault(comparison.get("output_column_name"), [])
        for level in comparison.get("comparison_levels", []):
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level"):
                found.append((0.0, level.get("label_for_charts") or "null"))
            elif m and u:
                found.append((math.log2(m / u), level.get("label_for_charts") or ""))
    return levels


def _label(levels: list[tuple[float, str]], weight: float | None) -> str | None:
    if weight is None:
        return None
    labels = [label for w, label in levels if abs(w - weight) < 1e-6]
    return " or ".join(labels) if labels else None


def pair_evidence(store: Store, entity: str, id_l: str, id_r: str) -> pl.DataFrame:
    """What each comparison added to the pair's match weight (in bits), with the level it fell in.

    One row per comparison (``comparison``, ``weight``, ``level``), and a first row ``prior``: how
    likely any two records are to match, before comparing them. ``level`` is null where the stored
    model cannot say (a parameter Splink left at its default). Empty when the pair was not scored.
    """
    check_entity(entity)
    a, b = sorted((id_l, id_r))
    row = store.con.execute("""SELECT p.match_weight, p.evidence, m.model FROM link_pairs p
                               LEFT JOIN linkage_models m USING (model_id)
                               WHERE p.entity = ? AND least(p.id_l, p.id_r) = ? AND greatest(p.id_l, p.id_r) = ?""",
                            [entity, a, b]).fetchone()
    schema = {"comparison": pl.String, "weight": pl.Float64, "level": pl.String}
    if row is None:
        return pl.DataFrame(schema=schema)
    match_weight, evidence, model = row
    # a pair linked outright (the same pseudonym in a shared keyed scheme) has no comparison weights
    weights = {name: w for name, w in (json.loads(evidence) if evidence else {}).items() if w is not None}
    levels = level_weights(json.loads(model)) if model else {}
    rows = [{"comparison": name, "weight": weight, "level": _label(levels.get(name, []), weight)} for name, weight in weights.items()]
    if match_weight is not None and weights:
        rows.insert(0, {"comparison": "prior", "weight": match_weight - sum(weights.values()),
                        "level": "how likely two records are to match before comparing them"})
    elif not weights:
        rows.append({"comparison": "pseudonym", "weight": None, "level": "the same pseudonym in a shared keyed scheme (linked outright)"})
    return pl.DataFrame(rows, schema=schema)


def pairs_within(store: Store, entity: str, record_ids: list[str]) -> pl.DataFrame:
    """The scored pairs among these records (``id_l``, ``id_r``, ``match_probability``) and their latest decision."""
    check_entity(entity)
    return _frame(store, """
        WITH decided AS (SELECT id_l, id_r, arg_max(decision, seq) AS decision FROM link_decisions WHERE entity = $entity GROUP BY ALL)
        SELECT least(p.id_l, p.id_r) AS id_l, greatest(p.id_l, p.id_r) AS id_r, p.match_probability, d.decision
        FROM link_pairs p LEFT JOIN decided d ON d.id_l = least(p.id_l, p.id_r) AND d.id_r = greatest(p.id_l, p.id_r)
        WHERE p.entity = $entity AND list_contains($ids::VARCHAR[], p.id_l) AND list_contains($ids::VARCHAR[], p.id_r)
        ORDER BY p.match_probability, id_l, id_r""", {"entity": entity, "ids": list(record_ids)})


def accept_records(store: Store, entity: str, record_ids: list[str], *, reason: str | None = None) -> int:
    """Accept these records as one incident or person: the strongest scored links that join them all
    (a maximum spanning tree, chained where no pair was scored) are accepted. Returns the decisions stored."""
    ids = list(dict.fromkeys(record_ids))
    if len(ids) < 2:
        raise WorkbenchError("choose at least two records to accept as the same")
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    for a, b, p, _ in pairs_within(store, entity, ids).iter_rows():
        graph.add_edge(a, b, weight=p or 0.0)
    links = [(a, b) for a, b in nx.maximum_spanning_edges(graph, data=False)]
    parts = [sorted(part) for part in nx.connected_components(graph)]
    parts.sort()
    links += [(parts[0][0], part[0]) for part in parts[1:]]  # records never scored together: join them anyway
    for a, b in links:
        record_decision(store, entity, a, b, "accept", reason=reason)
    return len(links)


def reject_records(store: Store, entity: str, record_ids: list[str], *, reason: str | None = None) -> int:
    """None of these records is the same as another: every pair among them is rejected. Returns the decisions stored."""
    ids = sorted(set(record_ids))
    if len(ids) < 2:
        raise WorkbenchError("choose at least two records to reject as a match")
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
    for a, b in pairs:
        record_decision(store, entity, a, b, "reject", reason=reason)
    return len(pairs)


def recluster(store: Store, entity: str) -> LinkRun:
    """Run the entity's linkage again with its stored model (no retraining), so that decisions take effect."""
    check_entity(entity)
    return link_incidents(store, retrain=False) if entity == "incidents" else link_persons(store, retrain=False)


# -- HTML ---------------------------------------------------------------------------------------
