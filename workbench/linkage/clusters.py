"""From scored pairs to clusters, with the analysts' decisions respected by every run.

An analyst can accept a pair (the two records are the same, whatever the model says), reject it
(they are not, whatever the model says), or split a cluster (every pair across the two parts is
rejected). Decisions are stored with who, when and why (``link_decisions``, and the custody log),
keyed by the records' stable ids (``NGO/local id``), so they outlive any model. Clustering keeps
the model's pairs at or above the match threshold, drops rejected ones, adds accepted ones, takes
connected components, and then cuts any component that still joins a rejected pair along its
weakest links (a minimum cut that never cuts an accepted pair).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import polars as pl

from workbench.errors import WorkbenchError
from workbench.store import CustodyEntry, Store

ENTITIES = ("incidents", "persons")
DECISIONS = ("accept", "reject")
_ACCEPTED = 1e12  # capacity of an accepted pair in a minimum cut: never cut


@dataclass
class Clustering:
    """Each record's cluster (``record_id``, ``cluster_id``), and decisions that could not all hold."""

    clusters: pl.DataFrame
    conflicts: list[str] = field(default_factory=list)


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def record_decision(store: Store, entity: str, id_a: str, id_b: str, decision: str, *, reason: str | None = None) -> CustodyEntry:
    """Store an analyst's decision on a pair (``accept`` or ``reject``) with who and when, and log it."""
    if entity not in ENTITIES:
        raise WorkbenchError(f"unknown entity {entity!r}; known: {', '.join(ENTITIES)}")
    if store.read_only:
        raise WorkbenchError("a decision is stored in the store; open the store for writing (not read-only)")
    if decision not in DECISIONS:
        raise WorkbenchError(f"decision {decision!r}: a pair can only be accepted or rejected (a split rejects pairs)")
    if id_a == id_b:
        raise WorkbenchError(f"{id_a} cannot be linked to itself")
    id_l, id_r = _ordered(id_a, id_b)
    with store.transaction():
        entry = store.log(f"link-{decision}", subject=f"{id_l} ~ {id_r}", details={"entity": entity, "reason": reason})
        seq = store.con.execute("SELECT coalesce(max(seq), 0) + 1 FROM link_decisions").fetchone()[0]
        store.con.execute("INSERT INTO link_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          [seq, entity, id_l, id_r, decision, entry.at, entry.actor, reason, entry.seq])
    store.write_anchor()
    return entry


_RECORD_TABLES = {"incidents": ("incidents", "incident_id"), "persons": ("persons", "person_id")}


def check_record(store: Store, entity: str, record_id: str) -> None:
    """Raise unless ``record_id`` (``NGO/local id``) is a current record: a typed id with a typo would be stored and never apply."""
    ngo_id, _, local_id = record_id.partition("/")
    table, key = _RECORD_TABLES[entity]
    if not local_id or not store.con.execute(f"SELECT count(*) FROM active.{table} WHERE ngo_id = ? AND {key} = ?",
                                             [ngo_id, local_id]).fetchone()[0]:
        raise WorkbenchError(f"no current {entity[:-1]} {record_id!r} (write it as NGO/local id, e.g. ALPHA/ALPHA-2014-0094)")


def split_cluster(store: Store, entity: str, part: list[str], rest: list[str], *, reason: str | None = None) -> int:
    """Split a cluster in two: every pair across ``part`` and ``rest`` is rejected. Returns the decisions stored."""
    if not part or not rest or set(part) & set(rest):
        raise WorkbenchError("a split needs two non-empty parts with no record in both")
    for a in part:
        for b in rest:
            record_decision(store, entity, a, b, "reject", reason=reason or "split")
    return len(part) * len(rest)


def decisions(store: Store, entity: str) -> pl.DataFrame:
    """The latest decision per pair (a later decision replaces an earlier one)."""
    return store.frame("""SELECT id_l, id_r, arg_max(decision, seq) AS decision, max(decided_at) AS decided_at,
                                 arg_max(decided_by, seq) AS decided_by, arg_max(reason, seq) AS reason
                          FROM link_decisions WHERE entity = ? GROUP BY id_l, id_r ORDER BY id_l, id_r""", [entity])


def mutual_best(pairs: pl.DataFrame) -> pl.DataFrame:
    """Only the pairs where each record is the other's best match among the other NGO's records.

    An NGO lists a person once per submission, so a person has at most one record per NGO: when
    two of an NGO's records both look like one record of another NGO, only the better one can be it.
    Ties keep the smaller id, so the result does not depend on the order of the pairs.
    """
    ngo = lambda c: pl.col(c).str.split("/").list.first()  # noqa: E731  (record ids are "NGO/local id")
    ranked = pairs.with_columns(ngo("unique_id_l").alias("_ngo_l"), ngo("unique_id_r").alias("_ngo_r"))
    best_for_l = pl.col("match_probability").rank("ordinal", descending=True).over("unique_id_l", "_ngo_r")
    best_for_r = pl.col("match_probability").rank("ordinal", descending=True).over("unique_id_r", "_ngo_l")
    ordered = ranked.sort(["match_probability", "unique_id_l", "unique_id_r"], descending=[True, False, False])
    return ordered.filter((best_for_l == 1) & (best_for_r == 1)).drop("_ngo_l", "_ngo_r")


#: On a cluster that spans too many days (a chain of look-alike reports), links between reports more
#: than this many days apart are cut in turn, and then links below these probabilities.
_GAPS = (3, 1, 0)
_TIGHTER = (0.95, 0.99, 0.999, 0.9999, 0.99999)


def cluster(records: list[str] | pl.Series, pairs: pl.DataFrame, threshold: float, decided: pl.DataFrame, *,
            one_per_ngo: bool = False, days: dict[str, int] | None = None, max_span_days: int | None = None) -> Clustering:
    """Connected components of the pairs at or above ``threshold``, with ``decided`` (id_l, id_r, decision) applied.

    ``pairs`` has ``unique_id_l``, ``unique_id_r`` and ``match_probability``. Every record gets a
    cluster, alone if nothing links it; the cluster id is the smallest record id in it. With
    ``one_per_ngo``, only mutual best pairs between two NGOs are kept (see :func:`mutual_best`).

    ``days`` (record id -> day number, for records whose day is known) and ``max_span_days`` guard
    against chaining: many reports of a long campaign, each like the next, can join into one
    component spanning months. Such a component is split again at higher thresholds until each
    part spans at most ``max_span_days`` (accepted pairs are never dropped).
    """
    graph = nx.Graph()
    graph.add_nodes_from(records)
    rejected = {(r["id_l"], r["id_r"]) for r in decided.filter(pl.col("decision") == "reject").iter_rows(named=True)}
    accepted = {(r["id_l"], r["id_r"]) for r in decided.filter(pl.col("decision") == "accept").iter_rows(named=True)}
    kept = pairs.filter(pl.col("match_probability") >= threshold)
    if rejected:  # a rejected best match must not hide the second best
        pair_keys = pl.DataFrame(sorted(rejected), schema={"unique_id_l": pl.String, "unique_id_r": pl.String}, orient="row")
        ordered = kept.with_columns(pl.min_horizontal("unique_id_l", "unique_id_r").alias("_a"), pl.max_horizontal("unique_id_l", "unique_id_r").alias("_b"))
        kept = ordered.join(pair_keys, left_on=["_a", "_b"], right_on=["unique_id_l", "unique_id_r"], how="anti").drop("_a", "_b")
    if one_per_ngo:
        if accepted:  # an accepted pair displaces the model's competing pairs of its two records
            settled = {node for pair in accepted for node in pair}
            kept = kept.filter(~pl.col("unique_id_l").is_in(settled) & ~pl.col("unique_id_r").is_in(settled))
        kept = mutual_best(kept)
    for a, b, p in kept.select("unique_id_l", "unique_id_r", "match_probability").iter_rows():
        if _ordered(a, b) not in rejected:
            graph.add_edge(a, b, capacity=float(p))
    for a, b in accepted:
        if a in graph and b in graph:
            graph.add_edge(a, b, capacity=_ACCEPTED)
    if one_per_ngo:
        # one record per NGO in a cluster: two of one NGO's records joined through others are kept apart
        rejected = rejected | _same_ngo_pairs(graph)
    conflicts = _cut_rejected(graph, rejected)
    if days and max_span_days is not None:
        _split_long_chains(graph, days, max_span_days)
    rows = [(node, min(component)) for component in nx.connected_components(graph) for node in component]
    frame = pl.DataFrame(rows, schema={"record_id": pl.String, "cluster_id": pl.String}, orient="row")
    return Clustering(frame.sort("record_id"), conflicts)


def _cut_rejected(graph: nx.Graph, rejected: set[tuple[str, str]]) -> list[str]:
    """Cut the weakest links between every rejected pair still connected; say which decisions clash."""
    conflicts = []
    for a, b in sorted(rejected):
        if a not in graph or b not in graph or not nx.has_path(graph, a, b):
            continue
        component = graph.subgraph(nx.node_connected_component(graph, a)).copy()
        value, (side_a, _) = nx.minimum_cut(component, a, b, capacity="capacity")
        if value >= _ACCEPTED:
            conflicts.append(f"{a} and {b} were rejected as a pair but accepted links join them; they stay together until "
                             "one of those decisions is changed")
            continue
        cut = [(u, v) for u, v in component.edges() if (u in side_a) != (v in side_a)]
        graph.remove_edges_from(cut)
    return conflicts


def _span(nodes, days: dict[str, int]) -> int:
    known = [days[n] for n in nodes if n in days]
    return max(known) - min(known) if known else 0


def _split_long_chains(graph: nx.Graph, days: dict[str, int], max_span_days: int) -> None:
    """Cut a too-long component's links between reports days apart, then its weaker links, until its parts are short.

    Links between reports of the same day are what identify one attack among many videos of a
    campaign: they are kept longest. Gaps of more than 3 days go first, then more than 1, then any
    gap; only then are links dropped by probability. Accepted pairs are never dropped.
    """
    def gap(u: str, v: str) -> int:
        return abs(days[u] - days[v]) if u in days and v in days else 0

    steps = [("gap", limit) for limit in _GAPS] + [("probability", tighter) for tighter in _TIGHTER]
    for component in [c for c in nx.connected_components(graph) if _span(c, days) > max_span_days]:
        pending = [component]
        for kind, limit in steps:
            still = []
            for part in pending:
                edges = graph.subgraph(part).edges(data="capacity")
                weak = [(u, v) for u, v, p in edges if p < _ACCEPTED and (gap(u, v) > limit if kind == "gap" else p < limit)]
                graph.remove_edges_from(weak)
                still += [c for c in nx.connected_components(graph.subgraph(part)) if _span(c, days) > max_span_days]
            pending = still
            if not pending:
                break


def _same_ngo_pairs(graph: nx.Graph) -> set[tuple[str, str]]:
    """Pairs of records of one NGO that share a component (record ids are ``NGO/local id``)."""
    pairs: set[tuple[str, str]] = set()
    for component in nx.connected_components(graph):
        if len(component) < 3:
            continue
        by_ngo: dict[str, list[str]] = {}
        for node in component:
            by_ngo.setdefault(node.split("/", 1)[0], []).append(node)
        for members in by_ngo.values():
            members.sort()
            pairs |= {(a, b) for i, a in enumerate(members) for b in members[i + 1:]}
    return pairs
