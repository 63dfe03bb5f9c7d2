"""Clustering scored pairs, and the analysts' decisions it must respect (workbench/linkage/clusters.py).

Tiny hand-made frames: record ids are ``NGO/local id`` as in a linkage run, probabilities are set
by hand so that each test knows which link is the weakest.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from workbench.errors import WorkbenchError
from workbench.linkage.clusters import Clustering, cluster, decisions, mutual_best, record_decision, split_cluster

THRESHOLD = 0.9
NO_DECISIONS = pl.DataFrame(schema={"id_l": pl.String, "id_r": pl.String, "decision": pl.String})


def pairs(*rows: tuple[str, str, float]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema={"unique_id_l": pl.String, "unique_id_r": pl.String, "match_probability": pl.Float64},
                        orient="row")


def decided(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """Decisions as :func:`decisions` returns them (id_l < id_r)."""
    return pl.DataFrame([(min(a, b), max(a, b), d) for a, b, d in rows], schema=NO_DECISIONS.schema, orient="row")


def groups(result: Clustering) -> set[frozenset[str]]:
    """The clusters as sets of record ids (what matters, whatever the row order)."""
    return {frozenset(g["record_id"]) for _, g in result.clusters.group_by("cluster_id")}


# -- components and ids ------------------------------------------------------------------------

def test_every_record_gets_a_cluster_named_by_its_smallest_member():
    result = cluster(["B/2", "A/1", "C/3", "D/4"], pairs(("B/2", "C/3", 0.97), ("A/1", "B/2", 0.95)), THRESHOLD, NO_DECISIONS)
    ids = dict(result.clusters.iter_rows())
    assert ids == {"A/1": "A/1", "B/2": "A/1", "C/3": "A/1", "D/4": "D/4"}
    assert result.conflicts == []


def test_pairs_below_the_threshold_do_not_link_and_pairs_at_it_do():
    result = cluster(["A/1", "B/1", "C/1"], pairs(("A/1", "B/1", THRESHOLD), ("B/1", "C/1", THRESHOLD - 1e-9)), THRESHOLD, NO_DECISIONS)
    assert groups(result) == {frozenset({"A/1", "B/1"}), frozenset({"C/1"})}


def test_clusters_do_not_depend_on_the_order_of_records_or_pairs():
    rows = [("A/1", "B/1", 0.95), ("B/1", "C/1", 0.95), ("C/1", "D/1", 0.95), ("D/1", "E/1", 0.99)]
    reject = decided(("A/1", "E/1", "reject"))
    seen = {tuple(cluster(list(records), pairs(*order), THRESHOLD, reject).clusters.rows())
            for order in itertools.permutations(rows) for records in (["A/1", "B/1", "C/1", "D/1", "E/1"], ["E/1", "D/1", "C/1", "B/1", "A/1"])}
    assert len(seen) == 1  # ties among the weakest links are cut the same way every time


# -- decisions -----------------------------------------------------------------------------------

def test_a_rejected_pair_is_not_linked_even_when_the_model_is_sure():
    result = cluster(["A/1", "B/1"], pairs(("A/1", "B/1", 0.999)), THRESHOLD, decided(("B/1", "A/1", "reject")))
    assert groups(result) == {frozenset({"A/1"}), frozenset({"B/1"})}


def test_an_accepted_pair_is_linked_even_when_the_model_scored_it_low_or_not_at_all():
    result = cluster(["A/1", "B/1", "C/1"], pairs(("A/1", "B/1", 0.2)), THRESHOLD, decided(("A/1", "B/1", "accept"), ("C/1", "B/1", "accept")))
    assert groups(result) == {frozenset({"A/1", "B/1", "C/1"})}


def test_a_rejection_inside_a_chain_cuts_the_weakest_link():
    chain = pairs(("A/1", "B/1", 0.99), ("B/1", "C/1", 0.92), ("C/1", "D/1", 0.98))
    result = cluster(["A/1", "B/1", "C/1", "D/1"], chain, THRESHOLD, decided(("A/1", "D/1", "reject")))
    assert groups(result) == {frozenset({"A/1", "B/1"}), frozenset({"C/1", "D/1"})}
    assert result.conflicts == []


def test_the_cut_is_the_least_total_probability_not_the_weakest_links_one_by_one():
    # cutting the weakest links in turn (A-B 0.91, C-D 0.92, B-C 0.93) would break three links and
    # split B from C; the minimum cut takes A's two links (0.91 + 0.99 = 1.90 < 0.99 + 0.92 = 1.91)
    graph = pairs(("A/1", "B/1", 0.91), ("B/1", "D/1", 0.99), ("A/1", "C/1", 0.99), ("C/1", "D/1", 0.92), ("B/1", "C/1", 0.93))
    result = cluster(["A/1", "B/1", "C/1", "D/1"], graph, THRESHOLD, decided(("A/1", "D/1", "reject")))
    assert groups(result) == {frozenset({"A/1"}), frozenset({"B/1", "C/1", "D/1"})}


def test_an_accepted_pair_is_never_cut_even_when_it_is_the_weakest():
    chain = pairs(("A/1", "B/1", 0.91), ("B/1", "C/1", 0.99))
    result = cluster(["A/1", "B/1", "C/1"], chain, THRESHOLD, decided(("A/1", "B/1", "accept"), ("A/1", "C/1", "reject")))
    assert groups(result) == {frozenset({"A/1", "B/1"}), frozenset({"C/1"})}


def test_decisions_that_cannot_all_hold_are_reported_not_dropped():
    result = cluster(["A/1", "B/1", "C/1"], pairs(), THRESHOLD,
                     decided(("A/1", "B/1", "accept"), ("B/1", "C/1", "accept"), ("A/1", "C/1", "reject")))
    assert groups(result) == {frozenset({"A/1", "B/1", "C/1"})}  # the accepted links stand
    assert len(result.conflicts) == 1
    assert "A/1 and C/1 were rejected" in result.conflicts[0]


# -- chains of look-alike reports ------------------------------------------------------------------

def span(members: frozenset[str], days: dict[str, int]) -> int:
    known = [days[m] for m in members if m in days]
    return max(known) - min(known) if known else 0


def test_a_chain_spanning_too_many_days_is_split_and_same_day_links_survive():
    # a campaign: one report every other day, each like the next; and two NGOs' reports of day 4
    days = {"A/1": 0, "A/2": 2, "A/3": 4, "B/3": 4, "A/4": 6, "A/5": 8, "A/6": 10}
    chain = pairs(("A/1", "A/2", 0.97), ("A/2", "A/3", 0.97), ("A/3", "B/3", 0.95), ("B/3", "A/4", 0.97), ("A/4", "A/5", 0.97),
                  ("A/5", "A/6", 0.97))
    whole = cluster(list(days), chain, THRESHOLD, NO_DECISIONS)
    assert len(groups(whole)) == 1  # without the guard, one "incident" of ten days
    result = cluster(list(days), chain, THRESHOLD, NO_DECISIONS, days=days, max_span_days=7)
    assert all(span(g, days) <= 7 for g in groups(result))
    assert frozenset({"A/3", "B/3"}) in groups(result)


def test_a_short_cluster_is_left_alone_and_an_accepted_pair_is_never_split():
    days = {"A/1": 0, "B/1": 1, "C/1": 2, "D/1": 30, "E/1": 40}
    scored = pairs(("A/1", "B/1", 0.91), ("B/1", "C/1", 0.91))
    result = cluster(list(days), scored, THRESHOLD, decided(("D/1", "E/1", "accept")), days=days, max_span_days=7)
    assert groups(result) == {frozenset({"A/1", "B/1", "C/1"}), frozenset({"D/1", "E/1"})}


# -- one record per NGO (persons) ----------------------------------------------------------------

def test_mutual_best_keeps_one_record_per_ngo():
    # B/2 looks most like A/1, which is B/1's: A/2 ~ B/2 is not mutual (B/2's best is A/1), so it goes too
    scored = pairs(("A/1", "B/1", 0.95), ("A/1", "B/2", 0.80), ("A/2", "B/2", 0.70), ("A/1", "C/1", 0.9), ("A/3", "B/3", 0.6))
    kept = mutual_best(scored)
    assert sorted(kept.select("unique_id_l", "unique_id_r").rows()) == [("A/1", "B/1"), ("A/1", "C/1"), ("A/3", "B/3")]
    for side, other in (("unique_id_l", "unique_id_r"), ("unique_id_r", "unique_id_l")):
        per_ngo = kept.group_by(side, pl.col(other).str.split("/").list.first()).len()
        assert per_ngo["len"].max() == 1


@pytest.mark.parametrize("ties", [False, True])
def test_mutual_best_does_not_depend_on_the_order_of_the_pairs(ties):
    rows = [("A/1", "B/1", 0.95), ("A/1", "B/2", 0.85), ("A/2", "B/2", 0.91), ("A/2", "B/1", 0.6), ("A/3", "C/1", 0.7)]
    expected = (("A/1", "B/1"), ("A/2", "B/2"), ("A/3", "C/1"))
    if ties:  # equal probabilities: the smaller id wins, so B/1 is A/2's best too and A/2 ~ B/2 is not mutual
        rows, expected = [(a, b, 0.9) for a, b, _ in rows], (("A/1", "B/1"), ("A/3", "C/1"))
    seen = {tuple(sorted(mutual_best(pairs(*order)).select("unique_id_l", "unique_id_r").rows())) for order in itertools.permutations(rows)}
    assert seen == {expected}


def test_one_per_ngo_keeps_only_mutual_best_links_in_a_cluster():
    scored = pairs(("A/1", "B/1", 0.95), ("A/1", "B/2", 0.85), ("A/2", "B/2", 0.9))
    result = cluster(["A/1", "A/2", "B/1", "B/2"], scored, 0.5, NO_DECISIONS, one_per_ngo=True)
    assert groups(result) == {frozenset({"A/1", "B/1"}), frozenset({"A/2", "B/2"})}
    assert groups(cluster(["A/1", "A/2", "B/1", "B/2"], scored, 0.5, NO_DECISIONS)) == {frozenset({"A/1", "A/2", "B/1", "B/2"})}


def test_one_per_ngo_clusters_never_hold_two_records_of_one_ngo():
    # A/1 ~ B/1 and B/2 ~ C/1 and A/1 ~ C/1 are each mutual best, and together join B/1 and B/2
    scored = pairs(("A/1", "B/1", 0.95), ("B/2", "C/1", 0.97), ("A/1", "C/1", 0.6))
    result = cluster(["A/1", "B/1", "B/2", "C/1"], scored, 0.5, NO_DECISIONS, one_per_ngo=True)
    for members in groups(result):
        ngos = [m.split("/")[0] for m in members]
        assert len(ngos) == len(set(ngos)), members


def test_a_rejected_best_match_lets_the_next_best_be_considered():
    scored = pairs(("A/1", "B/1", 0.95), ("A/1", "B/2", 0.85))
    result = cluster(["A/1", "B/1", "B/2"], scored, 0.5, decided(("A/1", "B/1", "reject")), one_per_ngo=True)
    assert frozenset({"A/1", "B/2"}) in groups(result)


def test_an_accepted_pair_takes_the_place_of_the_models_best_match():
    scored = pairs(("A/1", "B/1", 0.95))
    result = cluster(["A/1", "B/1", "B/2"], scored, 0.5, decided(("A/1", "B/2", "accept")), one_per_ngo=True)
    assert groups(result) == {frozenset({"A/1", "B/2"}), frozenset({"B/1"})}


# -- stored decisions ----------------------------------------------------------------------------

def test_a_decision_is_stored_with_who_when_and_why_and_logged(store):
    before = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=1)
    entry = record_decision(store, "incidents", "B/7", "A/3", "reject", reason="different attacks on the same street")
    row = store.frame("SELECT * FROM link_decisions").to_dicts()
    assert len(row) == 1
    row = row[0]
    assert (row["entity"], row["id_l"], row["id_r"], row["decision"]) == ("incidents", "A/3", "B/7", "reject")
    assert row["decided_by"] == "test-analyst" and row["reason"] == "different attacks on the same street"
    assert before <= row["decided_at"] <= datetime.now(timezone.utc).replace(tzinfo=None)
    logged = [e for e in store.custody_entries() if e.seq == row["custody_seq"]]
    assert logged == [entry]
    assert (entry.action, entry.subject, entry.details) == ("link-reject", "A/3 ~ B/7",
                                                            {"entity": "incidents", "reason": "different attacks on the same street"})
    assert store.custody_problems() == []


def test_the_latest_decision_on_a_pair_replaces_the_earlier_one(store):
    record_decision(store, "persons", "A/1", "B/1", "accept", reason="same pseudonym")
    record_decision(store, "persons", "B/1", "A/1", "reject", reason="different ages")
    record_decision(store, "incidents", "A/1", "B/1", "accept")
    latest = decisions(store, "persons")
    assert latest.select("id_l", "id_r", "decision", "reason").rows() == [("A/1", "B/1", "reject", "different ages")]
    assert decisions(store, "incidents")["decision"].to_list() == ["accept"]


def test_a_split_rejects_every_pair_across_the_parts(store):
    assert split_cluster(store, "incidents", ["A/1", "B/1"], ["C/1", "D/1", "E/1"], reason="two attacks that day") == 6
    stored = decisions(store, "incidents")
    assert set(stored["decision"]) == {"reject"} and set(stored["reason"]) == {"two attacks that day"}
    assert sorted(stored.select("id_l", "id_r").rows()) == sorted(
        (a, b) for a in ("A/1", "B/1") for b in ("C/1", "D/1", "E/1"))


@pytest.mark.parametrize("call, message", [
    (lambda s: record_decision(s, "actors", "A/1", "B/1", "accept"), "unknown entity"),
    (lambda s: record_decision(s, "incidents", "A/1", "B/1", "maybe"), "accepted or rejected"),
    (lambda s: record_decision(s, "incidents", "A/1", "A/1", "accept"), "itself"),
    (lambda s: split_cluster(s, "incidents", ["A/1"], []), "two non-empty parts"),
    (lambda s: split_cluster(s, "incidents", ["A/1", "B/1"], ["B/1"]), "two non-empty parts"),
])
def test_a_malformed_decision_is_refused_and_nothing_is_stored(store, call, message):
    with pytest.raises(WorkbenchError, match=message):
        call(store)
    assert store.con.execute("SELECT count(*) FROM link_decisions").fetchone()[0] == 0
