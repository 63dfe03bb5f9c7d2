"""Linkage of incidents and persons across NGOs (workbench/linkage/), end to end.

One copy of the synthetic store (six fictional NGOs, seed 2011, 240 true incidents) is linked once
per module (``linked``) and measured against the generator's ground truth; tests that write to a
store work on copies of it. Small hand-made stores show the precision-aware comparisons and the
consolidated view, scored with the model the synthetic run trained.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from tests.conftest import base_manifest, copy_store, make_package, utc_now
from workbench.errors import ContractError, WorkbenchError
from workbench.ingest import ingest_package
from workbench.linkage import incidents as incident_rules
from workbench.linkage.clusters import record_decision, split_cluster
from workbench.linkage.config import load_linkage_config
from workbench.linkage.consolidate import consolidated_incidents
from workbench.linkage.engine import M_FLOOR, floor_m, model_parameters, score
from workbench.linkage.evaluate import scores, truth_table
from workbench.linkage.persons import already_heard
from workbench.linkage.run import LinkRun, latest_model, link_all, link_incidents, link_persons
from workbench.sql import sql_literal
from workbench.store import Store, open_store

ANALYST = "analyst-rita"
CONFIG = load_linkage_config()
INCIDENT_CFG = CONFIG.incidents


@dataclass
class Linked:
    path: Path
    truth: Path
    incidents: LinkRun
    persons: LinkRun


@pytest.fixture(scope="module")
def linked(synthetic, tmp_path_factory) -> Linked:
    """The synthetic store, copied once and linked once (incidents, then persons)."""
    db, result = synthetic
    path = copy_store(db, tmp_path_factory.mktemp("linked"))
    with open_store(path, user=ANALYST) as store:
        incidents, persons = link_all(store)
    return Linked(path, result.ground_truth, incidents, persons)


@pytest.fixture(scope="module")
def linked_store(linked):
    with open_store(linked.path, read_only=True) as store:
        yield store


@pytest.fixture(scope="module")
def measured(linked_store, linked) -> dict[str, dict[str, Any]]:
    """Pairwise and cluster precision, recall and F1 of the run, per entity."""
    return {entity: scores(linked_store.frame("SELECT record_id, cluster_id FROM link_clusters WHERE entity = ?", [entity]),
                           truth_table(linked.truth, entity))
            for entity in ("incidents", "persons")}


def clusters_of(store: Store, entity: str) -> dict[str, str]:
    return dict(store.con.execute("SELECT record_id, cluster_id FROM link_clusters WHERE entity = ?", [entity]).fetchall())


def manifest(ngo: str, ref: str | None = None) -> dict[str, Any]:
    return base_manifest(ngo={"id": ngo, "name": f"{ngo} documentation group (fictional)"}, submission_ref=ref or f"{ngo}-1")


def ingest_incidents(store: Store, root: Path, ngo: str, rows: str, *, ref: str | None = None, name: str | None = None) -> None:
    report = ingest_package(store, make_package(root, {"incidents.csv": INCIDENT_HEADER + rows}, manifest(ngo, ref), name=name or ngo),
                            keep_in_vault=False)
    assert report.rows_quarantined == 0, report.message


def transplant_model(store: Store, model: dict[str, Any]) -> None:
    """Give a small store the synthetic run's incident model, so that ``retrain=False`` scores with it."""
    store.con.execute("INSERT INTO linkage_models VALUES ('incidents-transplanted', 'incidents', ?, 'test', 0, ?, ?)",
                      [datetime(2000, 1, 1), json.dumps(INCIDENT_CFG), json.dumps(model)])


# -- 1. evaluation against the ground truth ------------------------------------------------------
# Measured (seed 2011, 240 true incidents): incidents pairwise P 1.000 R 0.968 F1 0.984, cluster
# P 0.972 R 0.952 F1 0.962; persons pairwise P 0.965 R 0.950 F1 0.957, cluster P 0.964 R 0.888 F1 0.925.
# The issue asks pairwise above 0.95 (incidents) and 0.9 (persons); the cluster floors sit about
# three points under what was measured (four or five clusters out of ~145 may go wrong before they fail).

def test_incident_pairs_are_above_the_issues_floor(measured):
    pairwise = measured["incidents"]["pairwise"]
    assert pairwise["actual"] > 300  # the synthetic NGOs share hundreds of incidents: a real test, not an empty one
    assert pairwise["precision"] > 0.95 and pairwise["recall"] > 0.95 and pairwise["f1"] > 0.95, pairwise


def test_incident_clusters_hold_their_measured_floor(measured):
    cluster = measured["incidents"]["cluster"]
    assert cluster["precision"] >= 0.94 and cluster["recall"] >= 0.92 and cluster["f1"] >= 0.93, cluster


def test_person_pairs_are_above_the_issues_floor(measured):
    pairwise = measured["persons"]["pairwise"]
    assert pairwise["actual"] > 250
    assert pairwise["f1"] > 0.9 and pairwise["precision"] > 0.85 and pairwise["recall"] > 0.85, pairwise


def test_person_clusters_hold_their_measured_floor(measured):
    cluster = measured["persons"]["cluster"]
    assert cluster["precision"] >= 0.93 and cluster["recall"] >= 0.85 and cluster["f1"] >= 0.89, cluster


def test_every_linked_record_is_evaluated(measured, linked):
    # the scores are over the whole run, not over the few records that happen to be in both tables
    assert measured["incidents"]["records"]["evaluated"] == linked.incidents.records > 400
    assert measured["persons"]["records"]["evaluated"] == linked.persons.records > 400


def test_the_floors_would_catch_a_linkage_that_links_nothing_or_everything(linked_store, linked):
    truth = truth_table(linked.truth, "incidents")
    records = linked_store.frame("SELECT record_id FROM link_clusters WHERE entity = 'incidents'")
    alone = scores(records.with_columns(pl.col("record_id").alias("cluster_id")), truth)
    assert alone["pairwise"]["recall"] == 0 and alone["cluster"]["recall"] == 0
    together = scores(records.with_columns(pl.lit("one").alias("cluster_id")), truth)
    assert together["pairwise"]["precision"] < 0.05


# -- 2. persons: shared pseudonyms and one record per NGO ----------------------------------------

def test_shared_pseudonyms_link_outright(linked_store):
    shared = linked_store.frame("""
        SELECT l.ngo_id || '/' || l.person_id AS a, r.ngo_id || '/' || r.person_id AS b FROM active.persons l
        JOIN active.persons r ON l.pseudonym = r.pseudonym AND l.ngo_id < r.ngo_id""")
    assert shared.height >= 20  # the synthetic NGOs that use one keyed scheme share dozens of persons
    pairs = {frozenset((a, b)): p for a, b, p in linked_store.con.execute(
        "SELECT id_l, id_r, match_probability FROM link_pairs WHERE entity = 'persons'").fetchall()}
    clusters = clusters_of(linked_store, "persons")
    for a, b in shared.iter_rows():
        assert pairs[frozenset((a, b))] == 1.0
        assert clusters[a] == clusters[b]


def test_person_pairs_are_only_between_ngos(linked_store):
    same_ngo = linked_store.con.execute("""SELECT count(*) FROM link_pairs WHERE entity = 'persons'
                                           AND split_part(id_l, '/', 1) = split_part(id_r, '/', 1)""").fetchone()[0]
    assert same_ngo == 0
    assert linked_store.con.execute("SELECT count(*) FROM link_pairs WHERE entity = 'persons'").fetchone()[0] > 100


def test_no_person_cluster_holds_two_records_of_one_ngo(linked_store):
    doubled = linked_store.frame("""SELECT cluster_id, ngo_id, count(*) AS records FROM link_clusters WHERE entity = 'persons'
                                    GROUP BY ALL HAVING count(*) > 1""")
    assert doubled.is_empty(), doubled


# -- 3. precision-aware comparisons ---------------------------------------------------------------

INCIDENT_HEADER = "incident_id,date_start,place,violation_types,killed,narrative\n"
MARKET = "Shelling of the vegetable market in Douma killed three people"
CHECKPOINT = "Arrests at the checkpoint near the bakery"
BRANCH = "Detainee tortured in the security branch"
PRECISION_ROWS = {
    "AAA": (f"M,March 2013,Douma,unlawful_killing,3,{MARKET}\n"
            f"Y,2013,Douma,unlawful_killing,3,{MARKET}\n"
            f"G,2014-05-06,Rif Dimashq,arbitrary_detention,,{CHECKPOINT}\n"
            f"T,2015-06-03,Harasta,torture,1,{BRANCH}\n"
            f"W,2017-09-12,Harasta,torture,1,{BRANCH}\n"
            "AR,2016-02-10,Douma,unlawful_killing,3,قصف سوق الخضار في دوما أدى إلى مقتل ثلاثة أشخاص\n"
            f"K,2016-02-10,Yabroud,unlawful_killing,10,{MARKET}\n"),
    "BBB": (f"D,2013-03-28,Douma,unlawful_killing,3,{MARKET}\n"  # in March, four weeks after its first day
            f"E,2013-02-26,Douma,unlawful_killing,3,{MARKET}\n"  # three days before March
            f"X,2013-05-12,Douma,unlawful_killing,3,{MARKET}\n"
            f"P,2014-05-06,Douma,arbitrary_detention,,{CHECKPOINT}\n"  # inside Rif Dimashq
            f"Q,2014-05-06,Aleppo,arbitrary_detention,,{CHECKPOINT}\n"  # in another governorate
            f"T,2015-06-17,Harasta,torture,1,{BRANCH}\n"  # two weeks after AAA/T
            f"T1,2015-06-04,Douma,torture,1,{BRANCH}\n"  # the next day (and the next week), 4 km away
            f"W,2017-09-13,Harasta,torture,1,{BRANCH}\n"
            f"L,2016-02-10,Douma,unlawful_killing,4,{MARKET}\n"),
}


@pytest.fixture(scope="module")
def precise(contracts, tmp_path_factory):
    """A store of two NGOs' hand-made incidents, with ``link_incidents`` prepared."""
    root = tmp_path_factory.mktemp("precision")
    with open_store(":memory:", contracts=contracts, user=ANALYST) as store:
        for ngo, rows in PRECISION_ROWS.items():
            ingest_incidents(store, root, ngo, rows)
        assert incident_rules.prepare(store, INCIDENT_CFG) == 16
        yield store


def level_of(store: Store, comparison: str, a: str, b: str) -> str:
    """The label of the level a pair falls in, evaluating the comparison's SQL conditions in order."""
    levels = next(c for c in incident_rules.comparisons(INCIDENT_CFG) if c["output_column_name"] == comparison)["comparison_levels"]
    whens = " ".join(f"WHEN {lv['sql_condition']} THEN {sql_literal(lv['label_for_charts'])}"
                     for lv in levels if lv["sql_condition"] != "ELSE")
    otherwise = next(lv["label_for_charts"] for lv in levels if lv["sql_condition"] == "ELSE")
    columns = [d[0] for d in store.con.execute("SELECT * FROM link_incidents LIMIT 0").description]
    sides = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in columns)
    sql = (f"SELECT CASE {whens} ELSE {sql_literal(otherwise)} END FROM (SELECT {sides} FROM link_incidents l, link_incidents r "
           "WHERE l.unique_id = ? AND r.unique_id = ?)")
    rows = store.con.execute(sql, [a, b]).fetchall()
    assert len(rows) == 1, f"{a} or {b} is not in link_incidents"
    return rows[0][0]


@pytest.mark.parametrize("comparison, a, b, expected", [
    ("date", "AAA/AR", "BBB/L", "same day"),
    ("date", "AAA/T", "BBB/T1", f"within {INCIDENT_CFG['near_days']} day"),
    ("date", "AAA/M", "BBB/D", "same month (one known to the month)"),
    ("date", "AAA/M", "BBB/E", f"within {INCIDENT_CFG['far_days']} days"),  # known to March, reported for 26 February
    pytest.param("date", "AAA/Y", "BBB/X", "same year (one known to the year)"),
    pytest.param("date", "AAA/Y", "AAA/M", "same year (one known to the year)"),
    ("date", "AAA/T", "BBB/T", "different dates"),  # two weeks apart
    ("place", "AAA/M", "BBB/D", "same place"),
    ("place", "AAA/T", "BBB/T1", f"within {INCIDENT_CFG['far_km']} km"),  # Harasta and Douma, about 4 km apart
    ("place", "AAA/G", "BBB/P", "inside the same governorate (one known only to it)"),
    ("place", "AAA/G", "BBB/Q", "different governorates"),
    ("place", "AAA/K", "BBB/L", "same governorate, different places"),  # Yabroud and Douma
    ("violations", "AAA/M", "BBB/D", "same types"),
    ("violations", "AAA/G", "BBB/T", "no type in common"),
    ("killed", "AAA/M", "BBB/D", "same number killed"),
    ("killed", "AAA/AR", "BBB/L", "close numbers killed"),
    ("killed", "AAA/K", "BBB/L", "different numbers killed"),
    ("killed", "AAA/G", "BBB/P", "killed missing"),
    ("narrative", "AAA/M", "BBB/D", f"many words in common (Jaccard >= {INCIDENT_CFG['words_high']})"),
    ("narrative", "AAA/G", "BBB/T", "few words in common"),
    ("narrative", "AAA/AR", "BBB/L", "no narrative to compare"),  # Arabic beside English: no words to compare
])
def test_each_pair_falls_in_the_level_its_precision_allows(precise, comparison, a, b, expected):
    assert level_of(precise, comparison, a, b) == expected
    assert level_of(precise, comparison, b, a) == expected  # the comparisons are symmetric


@pytest.fixture(scope="module")
def candidates(precise, linked_store) -> dict[frozenset[str], float]:
    """Every candidate pair of the hand-made store, scored with the synthetic run's model (review threshold 0)."""
    scored = score(precise.frame("SELECT * FROM link_incidents"), incident_rules.settings(INCIDENT_CFG), training_rules=[],
                   deterministic_rules=[], recall=0.6, random_pairs=0, seed=0, review_threshold=0.0,
                   model=latest_model(linked_store, "incidents"))
    return {frozenset((a, b)): p for a, b, p in scored.pairs.select("unique_id_l", "unique_id_r", "match_probability").iter_rows()}


def test_a_month_precise_report_is_a_candidate_for_any_day_of_that_month(candidates):
    same_month = candidates[frozenset(("AAA/M", "BBB/D"))]  # 28 March: only the month blocking finds it
    assert same_month >= INCIDENT_CFG["match_threshold"]
    assert frozenset(("AAA/M", "BBB/X")) not in candidates  # May
    assert candidates[frozenset(("AAA/M", "BBB/E"))] < same_month  # 26 February: near, but outside the month


def test_a_governorate_only_report_is_a_candidate_inside_its_governorate_only(candidates):
    assert candidates[frozenset(("AAA/G", "BBB/P"))] >= INCIDENT_CFG["match_threshold"]
    assert frozenset(("AAA/G", "BBB/Q")) not in candidates


def test_incidents_two_weeks_apart_are_not_linked(candidates):
    assert candidates.get(frozenset(("AAA/T", "BBB/T")), 0.0) < INCIDENT_CFG["match_threshold"]
    assert candidates[frozenset(("AAA/W", "BBB/W"))] >= INCIDENT_CFG["match_threshold"]  # the same report a day apart is


def test_reports_a_day_and_a_few_km_apart_are_candidates_across_a_week_boundary(candidates):
    assert frozenset(("AAA/T", "BBB/T1")) in candidates


# -- 4. decisions, respected by the next run -------------------------------------------------------

@dataclass
class Decided:
    rejected: tuple[str, str]
    accepted: tuple[str, str]
    part: list[str]
    rest: list[str]
    conflict: tuple[str, str, str]
    person_rejected: tuple[str, str]
    started: datetime
    run: LinkRun
    pairs: dict[frozenset[str], float]
    clusters: dict[str, str]
    person_clusters: dict[str, str]
    person_pairs: dict[frozenset[str], float]
    stored: pl.DataFrame
    custody: list
    custody_problems: list[str]


def _two_record_cluster(store: Store, entity: str, used: set[str]) -> tuple[str, str]:
    rows = store.con.execute("""SELECT list_sort(list(record_id)) FROM link_clusters WHERE entity = ? GROUP BY cluster_id
                                HAVING count(*) = 2 ORDER BY cluster_id""", [entity]).fetchall()
    members = next(m for (m,) in rows if not set(m) & used)
    used.update(members)
    return members[0], members[1]


@pytest.fixture(scope="module")
def decided(linked, tmp_path_factory) -> Decided:
    """A copy of the linked store where an analyst rejected, accepted and split, then linked again (retraining)."""
    path = copy_store(linked.path, tmp_path_factory.mktemp("decided"))
    with open_store(path, user=ANALYST) as store:
        clusters = clusters_of(store, "incidents")
        members = pl.DataFrame({"record_id": list(clusters), "cluster_id": list(clusters.values())})
        biggest = members.group_by("cluster_id").len().sort(["len", "cluster_id"], descending=[True, False])["cluster_id"][0]
        split = sorted(members.filter(pl.col("cluster_id") == biggest)["record_id"])
        used = set(split)
        rejected = _two_record_cluster(store, "incidents", used)
        # a pair kept for review but below the match threshold, in two clusters
        below = store.con.execute("SELECT id_l, id_r FROM link_pairs WHERE entity = 'incidents' AND match_probability < ? "
                                  "ORDER BY match_probability, id_l, id_r", [INCIDENT_CFG["match_threshold"]]).fetchall()
        accepted = next((a, b) for a, b in below if clusters[a] != clusters[b] and not {a, b} & used)
        used.update(accepted)
        sizes = Counter(clusters.values())
        alone = sorted(r for r, c in clusters.items() if sizes[c] == 1 and r not in used)
        conflict = (alone[0], alone[-1], alone[len(alone) // 2])
        person_rejected = _two_record_cluster(store, "persons", set())

        started = utc_now() - timedelta(seconds=1)
        record_decision(store, "incidents", *rejected, "reject", reason="two attacks on the same day")
        record_decision(store, "incidents", *accepted, "accept", reason="same attack, the second report misdates it")
        split_cluster(store, "incidents", split[:1], split[1:], reason="the first report is of a later attack")
        a, b, c = conflict
        record_decision(store, "incidents", a, b, "accept", reason="conflict test")
        record_decision(store, "incidents", b, c, "accept", reason="conflict test")
        record_decision(store, "incidents", a, c, "reject", reason="conflict test")
        record_decision(store, "persons", *person_rejected, "reject", reason="different fathers' names")

        run = link_incidents(store)
        link_persons(store, retrain=False)
        pairs = {frozenset((x, y)): p for x, y, p in store.con.execute(
            "SELECT id_l, id_r, match_probability FROM link_pairs WHERE entity = 'incidents'").fetchall()}
        return Decided(rejected, accepted, split[:1], split[1:], conflict, person_rejected, started, run, pairs,
                       clusters_of(store, "incidents"), clusters_of(store, "persons"),
                       {frozenset((x, y)): p for x, y, p in store.con.execute(
                           "SELECT id_l, id_r, match_probability FROM link_pairs WHERE entity = 'persons'").fetchall()},
                       store.frame("SELECT * FROM link_decisions ORDER BY seq"), store.custody_entries(), store.custody_problems())


def test_a_rejected_pair_stays_apart_though_the_model_still_links_it(decided):
    a, b = decided.rejected
    assert decided.pairs[frozenset((a, b))] >= INCIDENT_CFG["match_threshold"]
    assert decided.clusters[a] != decided.clusters[b]


def test_an_accepted_pair_is_linked_though_the_model_scored_it_low(decided):
    a, b = decided.accepted
    assert decided.pairs[frozenset((a, b))] < INCIDENT_CFG["match_threshold"]
    assert decided.clusters[a] == decided.clusters[b]


def test_the_parts_of_a_split_cluster_stay_apart(decided):
    assert len(decided.rest) >= 3
    assert {decided.clusters[r] for r in decided.part}.isdisjoint({decided.clusters[r] for r in decided.rest})
    assert len({decided.clusters[r] for r in decided.rest}) == 1  # the rest is not broken up more than needed


def test_a_rejected_person_pair_stays_apart(decided):
    a, b = decided.person_rejected
    assert decided.person_pairs[frozenset((a, b))] >= CONFIG.persons["match_threshold"]
    assert decided.person_clusters[a] != decided.person_clusters[b]


def test_conflicting_decisions_are_reported_by_the_run_and_in_the_custody_log(decided):
    a, b, c = decided.conflict
    assert decided.clusters[a] == decided.clusters[b] == decided.clusters[c]  # the accepted links stand
    low, high = sorted((a, c))
    assert [n for n in decided.run.notes if f"{low} and {high} were rejected" in n]
    linkage = [e for e in decided.custody if e.action == "linkage" and e.subject == "incidents"][-1]
    assert any(f"{low} and {high}" in text for text in linkage.details["conflicts"])


def test_decisions_are_stored_with_who_when_and_why_and_logged(decided):
    stored = decided.stored
    assert stored.height == 1 + 1 + len(decided.part) * len(decided.rest) + 3 + 1
    assert set(stored["decided_by"]) == {ANALYST}
    assert stored["decided_at"].min() >= decided.started and stored["decided_at"].max() <= utc_now()
    assert (stored["id_l"] < stored["id_r"]).all()
    entries = {e.seq: e for e in decided.custody}
    for row in stored.iter_rows(named=True):
        entry = entries[row["custody_seq"]]
        assert entry.action == f"link-{row['decision']}" and entry.subject == f"{row['id_l']} ~ {row['id_r']}"
        assert entry.details == {"entity": row["entity"], "reason": row["reason"]} and entry.actor == ANALYST
    reasons = dict(((r["id_l"], r["id_r"]), r["reason"]) for r in stored.iter_rows(named=True))
    assert reasons[tuple(sorted(decided.rejected))] == "two attacks on the same day"


def test_the_custody_chain_stays_whole(decided):
    assert decided.custody_problems == []
    assert [e.action for e in decided.custody][-2:] == ["linkage", "linkage"]


# -- 5. the model, saved and shown ---------------------------------------------------------------

@pytest.mark.parametrize("entity", ["incidents", "persons"])
def test_each_run_saves_its_model_and_thresholds(linked_store, linked, entity):
    run = getattr(linked, entity)
    row = linked_store.frame("SELECT * FROM linkage_models WHERE model_id = ?", [run.model_id]).row(0, named=True)
    assert (row["entity"], row["trained_by"], row["records"]) == (entity, ANALYST, run.records)
    assert json.loads(row["config"]) == getattr(CONFIG, entity)
    model = json.loads(row["model"])
    names = [c["output_column_name"] for c in model["comparisons"]]
    assert names == (["date", "place", "violations", "killed", "perpetrators", "narrative"] if entity == "incidents"
                     else ["name", "sex", "age_group", "age", "roles", "incidents"])
    assert 0 < model["probability_two_random_records_match"] < 0.1
    assert latest_model(linked_store, entity) == model
    assert run.parameters.equals(model_parameters(model))
    assert linked_store.con.execute("SELECT count(DISTINCT model_id) FROM link_clusters WHERE entity = ?", [entity]).fetchone()[0] == 1


@pytest.mark.parametrize("entity", ["incidents", "persons"])
def test_model_parameters_show_m_u_and_bayes_factor_per_level(linked, entity):
    parameters = getattr(linked, entity).parameters
    assert parameters.columns == ["comparison", "level", "m", "u", "bayes_factor"]
    trained = parameters.filter(pl.col("m").is_not_null().any().over("comparison"))
    assert trained["comparison"].n_unique() >= 5  # persons: no name encodings in the synthetic data, so name stays untrained
    sums = trained.group_by("comparison").agg(pl.col("m").sum())
    assert ((sums["m"] - 1).abs() < 1e-9).all(), sums
    assert (trained["m"] > 0).all()
    with_u = trained.filter(pl.col("u") > 0)
    assert ((with_u["bayes_factor"] - with_u["m"] / with_u["u"]).abs() < 1e-9 * with_u["bayes_factor"]).all()
    if entity == "incidents":
        by_level = dict(zip(trained["level"], trained["bayes_factor"]))
        assert by_level["same day"] > by_level["same month (one known to the month)"] > 1 > by_level["different dates"]
        assert by_level["same place"] > by_level["inside the same governorate (one known only to it)"] > by_level["different governorates"]


@pytest.mark.parametrize("entity", ["incidents", "persons"])
def test_no_trained_m_is_below_the_floor(linked, entity):
    m = getattr(linked, entity).parameters["m"].drop_nulls()
    assert m.min() >= M_FLOOR


def test_floor_m_raises_unlearnt_levels_and_leaves_untrained_comparisons_alone():
    def levels(*ms):
        return [{"sql_condition": "x IS NULL", "is_null_level": True}] + [{"sql_condition": str(i), "m_probability": m} for i, m in enumerate(ms)]
    model = {"comparisons": [{"output_column_name": "date", "comparison_levels": levels(0.9, 0.1, None)},
                             {"output_column_name": "name", "comparison_levels": levels(None, None)}]}
    floored = floor_m(model, floor=0.01)
    date_m = [lv["m_probability"] for lv in floored["comparisons"][0]["comparison_levels"][1:]]
    assert abs(sum(date_m) - 1) < 1e-12 and date_m[0] > date_m[1] > date_m[2] > 0
    assert "m_probability" not in floored["comparisons"][0]["comparison_levels"][0]
    assert [lv["m_probability"] for lv in floored["comparisons"][1]["comparison_levels"][1:]] == [None, None]


def test_retrain_false_reuses_the_stored_model(linked, tmp_path):
    with open_store(copy_store(linked.path, tmp_path), user=ANALYST) as store:
        before = store.frame("SELECT id_l, id_r, match_probability FROM link_pairs WHERE entity = 'incidents' ORDER BY id_l, id_r")
        clusters = clusters_of(store, "incidents")
        model = latest_model(store, "incidents")
        again = link_incidents(store, retrain=False)
        assert latest_model(store, "incidents") == model and again.model_id != linked.incidents.model_id
        after = store.frame("SELECT id_l, id_r, match_probability FROM link_pairs WHERE entity = 'incidents' ORDER BY id_l, id_r")
        assert after.select("id_l", "id_r").equals(before.select("id_l", "id_r"))
        assert (after["match_probability"] - before["match_probability"]).abs().max() < 1e-9
        assert clusters_of(store, "incidents") == clusters
        # a model changed by hand is the one the next run uses (nothing is retrained behind the analyst's back)
        doubtful = {**model, "probability_two_random_records_match": 1e-9}
        store.con.execute("UPDATE linkage_models SET model = ? WHERE model_id = ?", [json.dumps(doubtful), again.model_id])
        third = link_incidents(store, retrain=False)
        assert latest_model(store, "incidents") == doubtful
        assert third.linked_pairs < again.linked_pairs / 2


# -- 6. the consolidated view ---------------------------------------------------------------------

def test_the_consolidated_view_agrees_with_its_records(linked_store):
    view = consolidated_incidents(linked_store)
    assert view.height > 100 and (view["ngos"] > 1).all()
    members = linked_store.frame("""
        SELECT c.cluster_id, i.ngo_id, i.date_start, i.date_precision, i.killed, i.violation_types
        FROM link_clusters c JOIN active.incidents i ON i.ngo_id = c.ngo_id AND i.incident_id = c.local_id
        WHERE c.entity = 'incidents'""")
    for row in view.iter_rows(named=True):
        records = members.filter(pl.col("cluster_id") == row["cluster_id"])
        assert row["records"] == records.height and row["ngos"] == records["ngo_id"].n_unique()
        assert row["summary"].startswith(f"documented by {row['ngos']} NGOs")
        killed = records["killed"].drop_nulls()
        if killed.len():
            low, high = killed.min(), killed.max()
            assert (row["killed_min"], row["killed_max"]) == (low, high)
            assert (f"killed {low}–{high}" if low != high else f"killed {low}") in row["summary"]
        days = records.filter(pl.col("date_precision") == "day")["date_start"]
        if days.len():
            assert row["date_from"] == days.min()
            assert (days.max() - days.min()).days <= INCIDENT_CFG["max_cluster_days"]  # no chain of look-alike reports
        types = [set(t) for t in records["violation_types"]]
        union, common = set().union(*types), set.intersection(*types)
        assert set(row["types_all_agree"] or []) == common and set(row["types_some"] or []) == union - common
        assert ("types differ: " + ", ".join(sorted(union - common)) in row["summary"]) == bool(union - common)


def test_a_cluster_reads_as_one_sentence_and_superseded_records_do_not_count(contracts, linked_store, tmp_path):
    shelling = "Shelling of the vegetable market in Douma at noon"
    with open_store(":memory:", contracts=contracts, user=ANALYST) as store:
        ingest_incidents(store, tmp_path, "AAA", f"S,2013-03-12,Douma,unlawful_killing; torture,70,{shelling}\n", name="aaa-first")
        ingest_incidents(store, tmp_path, "AAA", f"S,2013-03-12,Douma,unlawful_killing; torture,7,{shelling}\n", name="aaa-corrected")
        ingest_incidents(store, tmp_path, "BBB", f"S,2013-03-13,Douma,unlawful_killing,9,{shelling}\n")
        ingest_incidents(store, tmp_path, "CCC", f"S,March 2013,Douma,unlawful_killing,8,{shelling}\n")
        assert store.con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 4  # the first AAA version is kept, superseded
        transplant_model(store, latest_model(linked_store, "incidents"))
        run = link_incidents(store, retrain=False)
        assert (run.records, run.multi_record_clusters) == (3, 1)
        view = consolidated_incidents(store)
    assert view.height == 1
    row = view.row(0, named=True)
    assert (row["records"], row["ngos"], row["killed_min"], row["killed_max"]) == (3, 3, 7, 9)
    assert row["summary"] == ("documented by 3 NGOs; dates 12–13 March 2013 (1 known only to the month or year); place Douma; "
                              "killed 7–9; types differ: torture_ill_treatment")
    assert (row["date_from"], row["date_to"]) == (date(2013, 3, 12), date(2013, 3, 13))


# -- 7. already heard -----------------------------------------------------------------------------

def test_before_person_linkage_only_an_account_given_counts(synth_store):
    heard = already_heard(synth_store)
    persons = synth_store.con.execute("SELECT count(DISTINCT ngo_id || '/' || person_id) FROM active.persons").fetchone()[0]
    assert heard.height == persons and heard["record_id"].is_unique().all()
    assert (heard["ngos"] == 1).all()
    assert heard["already_heard"].equals(heard["account_given"], check_names=False)
    assert 0 < heard["already_heard"].sum() < heard.height
    assert set(heard["heard_because"].drop_nulls()) == {"has given an account"}


def test_already_heard_flags_accounts_and_persons_in_several_ngos(linked_store):
    heard = already_heard(linked_store)
    assert heard["record_id"].is_unique().all() and heard.height == linked_store.con.execute(
        "SELECT count(*) FROM link_clusters WHERE entity = 'persons'").fetchone()[0]
    truth = (linked_store.frame("""SELECT c.record_id, c.cluster_id, c.ngo_id, coalesce(p.account_given, FALSE) AS account
                                   FROM link_clusters c JOIN active.persons p ON p.ngo_id = c.ngo_id AND p.person_id = c.local_id
                                   WHERE c.entity = 'persons'""")
             .with_columns(pl.col("ngo_id").n_unique().over("cluster_id").alias("n_ngos"), pl.col("account").any().over("cluster_id").alias("any_account")))
    both = heard.join(truth, on="record_id")
    assert both.height == heard.height
    assert both["already_heard"].equals(both["any_account"] | (both["n_ngos"] > 1), check_names=False)

    def because(record_id: str) -> str | None:
        return both.filter(pl.col("record_id") == record_id)["heard_because"][0]

    two_ngos = both.filter((pl.col("n_ngos") == 2) & ~pl.col("any_account"))["record_id"].sort()[0]
    assert because(two_ngos) == "in the records of 2 NGOs"
    account_alone = both.filter((pl.col("n_ngos") == 1) & pl.col("account"))["record_id"].sort()[0]
    assert because(account_alone) == "has given an account"
    unheard = both.filter((pl.col("n_ngos") == 1) & ~pl.col("any_account"))
    assert unheard.height > 0 and not unheard["already_heard"].any() and unheard["heard_because"].is_null().all()


def _persons_store(store: Store, root: Path, person_id: str, second: bool) -> None:
    """One NGO's person, sent in one submission or (with ``second``) again in a second one that says they gave an account."""
    ingest_package(store, make_package(root, {
        "incidents.csv": INCIDENT_HEADER + f"I-1,2013-03-12,Douma,unlawful_killing,1,{MARKET}\n",
        "persons.csv": f"person_id,pseudonym,account_given\n{person_id},AAA-P-0001aa,false\n",
        "incident_persons.csv": f"incident_id,person_id,role\nI-1,{person_id},victim\n"}, manifest("AAA"), name="first"), keep_in_vault=False)
    if second:
        ingest_package(store, make_package(root, {"persons.csv": f"person_id,pseudonym,account_given\n{person_id},AAA-P-0001aa,true\n"},
                                           manifest("AAA", "AAA-2"), name="second"), keep_in_vault=False)
    # what a person linkage run stores for a record that matched nobody
    store.con.execute("INSERT INTO link_clusters VALUES ('persons', 'm', ?, 'AAA', ?, ?)", [f"AAA/{person_id}", person_id, f"AAA/{person_id}"])


def test_already_heard_lists_each_person_once(contracts, tmp_path):
    with open_store(":memory:", contracts=contracts) as store:
        _persons_store(store, tmp_path, "P-1", second=True)
        heard = already_heard(store)
    assert heard.height == 1 and heard["already_heard"].all()


def test_already_heard_keeps_person_ids_with_a_slash(contracts, tmp_path):
    with open_store(":memory:", contracts=contracts) as store:
        _persons_store(store, tmp_path, "P/2013/1", second=False)
        heard = already_heard(store)
    assert heard["person_id"].to_list() == ["P/2013/1"]


# -- 8. errors and edge cases ---------------------------------------------------------------------

@pytest.mark.parametrize("link", [link_incidents, link_persons, link_all])
def test_a_read_only_store_is_refused(synth_store, link):
    with pytest.raises(WorkbenchError, match="read-only"):
        link(synth_store)


def test_a_decision_on_a_read_only_store_is_refused_clearly(synth_store):
    with pytest.raises(WorkbenchError, match="read-only"):
        record_decision(synth_store, "incidents", "ALPHA/ALPHA-2013-0011", "BAYAN/BYN/2013/010", "accept")


def _broken(tmp_path: Path, change) -> Path:
    doc = yaml.safe_load(CONFIG.path.read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / "data_contracts" / "linkage.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("change, key", [
    (lambda d: d["incidents"].update(match_treshold=0.8), "incidents.match_treshold: unknown key"),
    (lambda d: d["incidents"].update(near_km="two"), "incidents.near_km: 'two' must be a number"),
    (lambda d: d["persons"].update(age_years=2.5), "persons.age_years: 2.5 must be a whole number"),
    (lambda d: d["persons"].update(seed=True), "persons.seed: True must be a whole number"),
    (lambda d: d["incidents"].update(far_days=-7), "incidents.far_days: -7 must not be negative"),
    (lambda d: d["incidents"].update(match_threshold=1.5), "incidents.match_threshold: 1.5 must be a probability"),
    (lambda d: d["persons"].update(review_threshold=0.6), "persons: review_threshold must not be above match_threshold"),
    (lambda d: d["incidents"].pop("grid_degrees"), "incidents.grid_degrees: None must be a number"),
    (lambda d: d.pop("persons"), "persons: missing or not a mapping"),
])
def test_a_broken_linkage_configuration_names_the_file_and_key(tmp_path, change, key):
    path = _broken(tmp_path, change)
    with pytest.raises(ContractError) as caught:
        load_linkage_config(path)
    assert [p for p in caught.value.problems if p.startswith(f"{path}: {key}")], caught.value.problems


def test_every_problem_of_a_linkage_configuration_is_reported_at_once(tmp_path):
    path = _broken(tmp_path, lambda d: (d["incidents"].update(near_km="two", colour="red"), d["persons"].update(clk_high=-1)))
    with pytest.raises(ContractError) as caught:
        load_linkage_config(path)
    assert len(caught.value.problems) == 3 and all(p.startswith(str(path)) for p in caught.value.problems)


def test_an_unbroken_copy_loads_as_the_shipped_configuration(tmp_path):
    copy = load_linkage_config(_broken(tmp_path, lambda d: None))
    assert (copy.incidents, copy.persons) == (CONFIG.incidents, CONFIG.persons)


@pytest.mark.parametrize("rows", [0, 1])
def test_fewer_than_two_records_give_an_empty_honest_run(contracts, tmp_path, rows):
    with open_store(":memory:", contracts=contracts, user=ANALYST) as store:
        if rows:
            ingest_incidents(store, tmp_path, "AAA", f"I-1,2013-03-12,Douma,unlawful_killing,3,{MARKET}\n")
        incidents, persons = link_all(store)
        assert (incidents.records, incidents.pairs, incidents.linked_pairs, incidents.clusters) == (rows, 0, 0, rows)
        assert incidents.multi_record_clusters == 0 and persons.records == 0
        assert any("fewer than two records" in n for n in incidents.notes)
        assert incidents.parameters.is_empty()
        assert store.con.execute("SELECT count(*) FROM link_clusters WHERE entity = 'incidents'").fetchone()[0] == rows
        assert store.con.execute("SELECT count(*) FROM linkage_models").fetchone()[0] == 2
        assert [e.action for e in store.custody_entries()][-2:] == ["linkage", "linkage"]
        assert consolidated_incidents(store).is_empty()


def test_too_few_records_to_train_give_a_clear_error_or_a_run(contracts, tmp_path):
    with open_store(":memory:", contracts=contracts, user=ANALYST) as store:
        ingest_incidents(store, tmp_path, "AAA", f"I-1,2013-03-12,Douma,unlawful_killing,3,{MARKET}\n"
                                                 f"I-2,2013-04-12,Harasta,torture,1,{BRANCH}\n"
                                                 f"I-3,2013-05-12,Aleppo,arbitrary_detention,0,{CHECKPOINT}\n")
        try:
            run = link_incidents(store)
        except WorkbenchError:
            return
        assert run.records == 3
