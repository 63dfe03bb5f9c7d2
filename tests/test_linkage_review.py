"""Linkage review: the least certain pairs and clusters first, records side by side (nothing more of a
person than the review may show), decisions stored with who, when and why, and respected by the next run."""

from __future__ import annotations

import doctest
import json
import math
import re
from html import escape
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import copy_store
from workbench.errors import WorkbenchError
from workbench.linkage import review as review_module
from workbench.linkage.review_widget import ReviewWidget, review_widget
from workbench.linkage.review import (EXCERPT_CHARS, FIELDS, accept_records, pair_evidence, pair_records, pairs_within,
                                      reject_records, review_records, uncertain_clusters, uncertain_pairs)
from workbench.linkage.run import link_all
from workbench.store import open_store


@pytest.fixture(scope="module")
def linked_db(synthetic, tmp_path_factory) -> Path:
    """The synthetic store, linked once (incidents and persons); tests copy it before writing."""
    db = copy_store(synthetic[0], tmp_path_factory.mktemp("linked"))
    with open_store(db, user="linker") as store:
        link_all(store)
    return db


@pytest.fixture
def reviewer(linked_db, tmp_path):
    """A copy of the linked store, open for writing as the analyst "reviewer"."""
    with open_store(copy_store(linked_db, tmp_path / "store"), user="reviewer") as store:
        yield store


@pytest.fixture(scope="module")
def linked(linked_db):
    with open_store(linked_db, read_only=True) as store:
        yield store


def _threshold(store, entity: str) -> float:
    return json.loads(store.con.execute("SELECT config FROM linkage_models WHERE entity = ? ORDER BY trained_at DESC LIMIT 1",
                                        [entity]).fetchone()[0])["match_threshold"]


def _cluster_of(store, entity: str) -> dict[str, str]:
    return dict(store.con.execute("SELECT record_id, cluster_id FROM link_clusters WHERE entity = ?", [entity]).fetchall())


@pytest.mark.parametrize("entity", ["incidents", "persons"])
def test_uncertain_pairs_come_closest_to_the_threshold_first_on_both_sides(linked, entity):
    every = linked.frame("SELECT least(id_l, id_r) AS id_l, greatest(id_l, id_r) AS id_r, match_probability, match_weight FROM link_pairs "
                         "WHERE entity = ?", [entity])
    t = _threshold(linked, entity)
    bits = math.log2(t / (1 - t))
    # computed here from the stored pairs, independently of the SQL in the module
    expected = sorted((abs((w if w is not None else (math.inf if p >= 1 else math.log2(p / (1 - p)))) - bits), a, b)
                      for a, b, p, w in every.iter_rows())
    pairs = uncertain_pairs(linked, entity, limit=40)
    assert pairs.height == 40
    assert [(a, b) for _, a, b in expected[:40]] == list(zip(pairs["id_l"], pairs["id_r"]))
    assert pairs["distance"].to_list() == pytest.approx([d for d, _, _ in expected[:40]])
    assert pairs["above_threshold"].to_list() == [p >= t for p in pairs["match_probability"]]
    near = uncertain_pairs(linked, entity, limit=every.height)
    assert near.height == every.height  # every pair kept for review is listed
    below = bool((every["match_probability"] < t).any())
    assert set(near["above_threshold"]) == ({True, False} if below else {True})  # both sides of the threshold are reviewed
    if entity == "incidents":
        # the synthetic incidents keep pairs on both sides, so the order is tested across the threshold; the persons
        # model (u from every sampled pair) puts none of the kept pairs (p >= 0.2) below 0.5 on this set
        assert below
    # the least certain pair is far less certain than the most certain one
    assert near["distance"][0] < near["distance"][-1]
    # pages continue one another
    page2 = uncertain_pairs(linked, entity, limit=20, offset=20)
    assert list(zip(page2["id_l"], page2["id_r"])) == [(a, b) for _, a, b in expected[20:40]]


def test_uncertain_clusters_come_weakest_link_first(linked):
    clusters = uncertain_clusters(linked, "incidents", limit=30)
    assert clusters.height == 30 and (clusters["records"] >= 2).all()
    weakest = clusters["weakest_link"].to_list()
    assert weakest == sorted(weakest)
    first = clusters.row(0, named=True)
    inside = pairs_within(linked, "incidents", first["record_ids"])
    assert first["weakest_link"] == pytest.approx(inside["match_probability"].min())
    assert first["weakest_link"] < _threshold(linked, "incidents")  # held together by others, although two of them look different
    members = {r for r, c in _cluster_of(linked, "incidents").items() if c == first["cluster_id"]}
    assert set(first["record_ids"]) == members


def test_the_evidence_names_each_level_and_adds_up_to_the_match_weight(linked):
    pair = uncertain_pairs(linked, "incidents", limit=1).row(0, named=True)
    evidence = pair_evidence(linked, "incidents", pair["id_l"], pair["id_r"])
    assert evidence["comparison"].to_list() == ["prior", "date", "place", "violations", "killed", "perpetrators", "narrative"]
    assert evidence["weight"].sum() == pytest.approx(pair["match_weight"])
    labels = {lv["label_for_charts"] for c in review_module.latest_run_summary(linked, "incidents")[2]["comparisons"]
              for lv in c["comparison_levels"]}
    assert set(evidence["level"][1:]) <= labels
    assert pair_evidence(linked, "incidents", "ALPHA/none", "BAYAN/none").is_empty()


def test_the_widget_shows_the_least_certain_pair_first(linked):
    widget = review_widget(linked)
    assert isinstance(widget, ReviewWidget)
    first = uncertain_pairs(linked, "incidents", limit=1).row(0, named=True)
    assert widget.current_records() == [first["id_l"], first["id_r"]]
    page = widget.item_view.value
    assert escape(first["id_l"]) in page and escape(first["id_r"]) in page and "Match probability" in page
    assert "match threshold 0.9" in widget.header.value
    widget.move(+1)
    second = uncertain_pairs(linked, "incidents", limit=2).row(1, named=True)
    assert widget.current_records() == [second["id_l"], second["id_r"]]
    widget.mode.value = "clusters"
    assert widget.current_records() == uncertain_clusters(linked, "incidents", limit=1)["record_ids"][0].to_list()
    # read-only: review only
    assert widget.accept_button.disabled and widget.split_button.disabled and widget.recluster_button.disabled
    widget.reason.value = "looks the same"
    assert widget.accept() is None and "read-only" in widget.status.value
    assert linked.con.execute("SELECT count(*) FROM link_decisions").fetchone()[0] == 0


def test_accept_reject_and_split_store_who_when_why_and_log_it(reviewer):
    widget = review_widget(reviewer)
    first = widget.current_records()
    widget.reason.value = "same chemical attack, same day"
    assert widget.accept() == 1
    assert "take" in widget.status.value and "Re-cluster now" in widget.status.value and widget.reason.value == ""
    widget.move(+1)
    second = widget.current_records()
    widget.reason.value = "different villages"
    assert widget.reject() == 1
    widget.mode.value = "clusters"
    members = widget.current_records()
    assert len(members) >= 3
    widget.parts.value = (members[0],)
    widget.reason.value = "the first is another attack"
    assert widget.split() == len(members) - 1
    rows = reviewer.frame("SELECT id_l, id_r, decision, decided_by, reason, custody_seq FROM link_decisions ORDER BY seq")
    assert rows.height == 2 + len(members) - 1
    assert rows.drop("custody_seq").row(0, named=True) == {"id_l": min(first), "id_r": max(first), "decision": "accept",
                                                          "decided_by": "reviewer", "reason": "same chemical attack, same day"}
    assert rows.row(1, named=True)["decision"] == "reject" and {rows["id_l"][1], rows["id_r"][1]} == set(second)
    split = rows.slice(2)
    assert (split["decision"] == "reject").all() and (split["reason"] == "the first is another attack").all()
    assert {frozenset(p) for p in split.select("id_l", "id_r").iter_rows()} == {frozenset((members[0], m)) for m in members[1:]}
    log = reviewer.frame("SELECT seq, actor, action, subject FROM custody_log WHERE action LIKE 'link-%' ORDER BY seq")
    assert log["seq"].to_list() == rows["custody_seq"].to_list()
    assert (log["actor"] == "reviewer").all() and log["action"].to_list() == ["link-accept"] + ["link-reject"] * (rows.height - 1)
    assert reviewer.custody_problems() == []
    # a decided pair leaves the list of pairs to review
    assert (min(first), max(first)) not in set(zip(*uncertain_pairs(reviewer, "incidents", limit=10_000).select("id_l", "id_r")))


def test_the_next_run_respects_the_decisions(reviewer):
    threshold = _threshold(reviewer, "incidents")
    pairs = uncertain_pairs(reviewer, "incidents", limit=10_000)
    linked_pair = pairs.filter(pl.col("same_cluster")).row(0, named=True)
    apart_pair = pairs.filter(~pl.col("same_cluster") & (pl.col("match_probability") < threshold)).row(0, named=True)
    reject_records(reviewer, "incidents", [linked_pair["id_l"], linked_pair["id_r"]], reason="not the same")
    accept_records(reviewer, "incidents", [apart_pair["id_l"], apart_pair["id_r"]], reason="the same, says the witness")
    cluster = uncertain_clusters(reviewer, "incidents", limit=200).filter(pl.col("records") >= 3).row(0, named=True)["record_ids"]
    widget = review_widget(reviewer)
    widget.mode.value = "clusters"
    while widget.current_records() != cluster:
        widget.move(+1)
    widget.parts.value = (cluster[-1],)
    widget.reason.value = "another day"
    widget.split()
    before = _cluster_of(reviewer, "incidents")
    assert before[linked_pair["id_l"]] == before[linked_pair["id_r"]] and before[apart_pair["id_l"]] != before[apart_pair["id_r"]]
    run = widget.recluster()
    assert run is not None and run.entity == "incidents" and "Re-clustered incidents" in widget.status.value
    after = _cluster_of(reviewer, "incidents")
    assert after[linked_pair["id_l"]] != after[linked_pair["id_r"]]
    assert after[apart_pair["id_l"]] == after[apart_pair["id_r"]]
    assert all(after[cluster[-1]] != after[m] for m in cluster[:-1])
    assert reviewer.con.execute("SELECT count(*) FROM linkage_models WHERE entity = 'incidents'").fetchone()[0] == 2
    # the run used the stored model: same parameters, no retraining
    models = [r[0] for r in reviewer.con.execute("SELECT model FROM linkage_models WHERE entity = 'incidents' ORDER BY trained_at")
              .fetchall()]
    assert models[0] == models[1]


def test_errors_are_shown_in_the_widget_and_nothing_is_stored(reviewer):
    widget = review_widget(reviewer)
    assert widget.accept() is None and "Reason" in widget.status.value  # a decision needs its why
    widget.mode.value = "clusters"
    widget.reason.value = "because"
    assert widget.split() is None and "Split off" in widget.status.value  # nothing chosen
    widget.parts.value = tuple(widget.current_records())
    assert widget.split() is None and "some, not all" in widget.status.value  # everything chosen
    assert "a12a2a" in widget.status.value
    assert reviewer.con.execute("SELECT count(*) FROM link_decisions").fetchone()[0] == 0
    with pytest.raises(WorkbenchError, match="unknown entity"):
        uncertain_pairs(reviewer, "places")
    with pytest.raises(WorkbenchError, match="at least two"):
        accept_records(reviewer, "incidents", ["ALPHA/x"])


def test_before_any_run_the_widget_says_what_to_do(store):
    widget = review_widget(store, "persons")
    assert "No linkage run yet for persons" in widget.header.value and "Nothing to review" in widget.item_view.value
    assert uncertain_pairs(store, "persons").is_empty() and uncertain_clusters(store, "persons").is_empty()
    widget.reason.value = "x"
    assert widget.reject() is None and "nothing to decide on" in widget.status.value
    run = widget.recluster()  # an empty store links nothing, and says so
    assert run is not None and run.records == 0 and "0 records" in widget.status.value


def test_a_narrative_is_shown_only_as_an_escaped_excerpt(reviewer):
    pair = uncertain_pairs(reviewer, "incidents", limit=1).row(0, named=True)
    ngo, local = pair["id_l"].split("/", 1)
    narrative = "<b>Shelling</b> of the market " + "x" * (EXCERPT_CHARS - 30) + " BEYOND-THE-EXCERPT and more"
    reviewer.con.execute("UPDATE incidents SET narrative = ? WHERE ngo_id = ? AND incident_id = ?", [narrative, ngo, local])
    records = pair_records(reviewer, "incidents", pair["id_l"], pair["id_r"])
    shown = records.filter(pl.col("record_id") == pair["id_l"])["narrative"][0]
    assert shown == narrative[:EXCERPT_CHARS] + "…"
    page = review_widget(reviewer).item_view.value
    assert "BEYOND-THE-EXCERPT" not in page and "<b>Shelling" not in page and escape("<b>Shelling</b>") in page


def test_persons_show_only_the_pseudonym_and_what_linkage_compares(reviewer):
    pair = uncertain_pairs(reviewer, "persons", limit=1).row(0, named=True)
    for record in (pair["id_l"], pair["id_r"]):
        ngo, local = record.split("/", 1)
        reviewer.con.execute("UPDATE persons SET notes = 'NOTE-MARKER', status = 'STATUS-MARKER', consent = 'CONSENT-MARKER', "
                             "name_clk = 'CLK-MARKER' WHERE ngo_id = ? AND person_id = ?", [ngo, local])
        reviewer.con.execute("UPDATE incident_persons SET description = 'DESCRIPTION-MARKER' WHERE ngo_id = ? AND person_id = ?", [ngo, local])
    records = pair_records(reviewer, "persons", pair["id_l"], pair["id_r"])
    assert records.columns == ["record_id", "ngo_id", "person_id", "pseudonym", "sex", "age_group", "age", "roles", "incidents",
                               "account_given"]
    widget = review_widget(reviewer, "persons")
    assert widget.current_records() == [pair["id_l"], pair["id_r"]]
    page = widget.item_view.value
    assert "MARKER" not in page
    assert escape(records["pseudonym"][0]) in page
    rows = [label for label in re.findall(r"<tr[^>]*><th style='text-align:left;vertical-align:top'>(.*?)</th>", page)]
    assert rows == [escape(label) for _, label in FIELDS["persons"]]
    widget.mode.value = "clusters"
    assert "MARKER" not in widget.item_view.value


def test_review_records_keeps_the_order_given_and_leaves_out_unknown_records(linked):
    pair = uncertain_pairs(linked, "incidents", limit=1).row(0, named=True)
    records = review_records(linked, "incidents", [pair["id_r"], "ALPHA/no-such-incident", pair["id_l"]])
    assert records["record_id"].to_list() == [pair["id_r"], pair["id_l"]]
    assert records.columns == ["record_id", *(name for name, _ in FIELDS["incidents"])]
    assert all("(" in d for d in records["date"])  # the date always says its precision


def test_accepting_a_cluster_stores_a_spanning_set_and_rejecting_it_every_pair(reviewer):
    members = uncertain_clusters(reviewer, "incidents", limit=200).filter(pl.col("records") >= 3).row(0, named=True)["record_ids"]
    assert accept_records(reviewer, "incidents", members, reason="all the same") == len(members) - 1
    assert reject_records(reviewer, "incidents", members, reason="none the same") == len(members) * (len(members) - 1) // 2


def test_docstring_examples_run():
    assert doctest.testmod(review_module).failed == 0
