"""The incident comparisons, blocking and training rules that keep linkage fast (workbench/linkage/incidents.py, engine.py).

Each cheap form is checked against the plain definition it replaces: Jaccard in whole numbers
against a set computation, the plane distance against the great circle, the shifted 7-day windows
against every weekday a report can fall on. The training tests run Splink on the synthetic store.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

import duckdb
import pytest

from workbench.linkage import engine
from workbench.linkage import incidents as incident_rules
from workbench.linkage.config import load_linkage_config

CFG = load_linkage_config().incidents


def _level(comparison: str, label_starts: str) -> str:
    levels = next(c for c in incident_rules.comparisons(CFG) if c["output_column_name"] == comparison)["comparison_levels"]
    return next(lv["sql_condition"] for lv in levels if lv["label_for_charts"].startswith(label_starts))


def _holds(condition: str, **columns) -> bool:
    """Evaluate a level's SQL condition on one pair given as ``name_l=..., name_r=...``."""
    names = ", ".join(f"? AS {name}" for name in columns)
    return duckdb.execute(f"SELECT {condition} FROM (SELECT {names})", list(columns.values())).fetchone()[0]


# -- narrative: Jaccard in whole numbers -------------------------------------------------------------

def _jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b)


@pytest.mark.parametrize("level, share", [("many words", CFG["words_high"]), ("some words", CFG["words_low"])])
def test_the_jaccard_levels_agree_with_the_set_definition(level, share):
    condition = _level("narrative", level)
    rng = random.Random(2011)
    cases = [(set(range(3)), set(range(3, 10))),  # 0 in common
             (set(range(10)), set(range(7, 10)) | {20, 21, 22, 23, 24, 25, 26}),  # 3 of 20 ...
             ({1, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}),  # exactly 0.3: counts as at least 0.3
             ({1}, set(range(1, 11)))]  # exactly 0.1
    for _ in range(300):
        words = list(range(40))
        cases.append((set(rng.sample(words, rng.randint(1, 25))), set(rng.sample(words, rng.randint(1, 25)))))
    exact = [(a, b) for a, b in cases if math.isclose(_jaccard(a, b), share)]
    assert exact, "a pair whose Jaccard is exactly the threshold must be among the cases"
    for a, b in cases:
        got = _holds(condition, words_l=sorted(a), words_r=sorted(b))
        assert got == (_jaccard(a, b) >= share - 1e-12), (sorted(a), sorted(b), _jaccard(a, b))


# -- place: the plane distance against the great circle -----------------------------------------------

def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dp, dl = map(math.radians, (lat1, lat2, lat2 - lat1, lon2 - lon1))
    return 2 * 6371 * math.asin(math.sqrt(math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2))


@pytest.mark.parametrize("km", [CFG["near_km"], CFG["far_km"]])
def test_the_distance_levels_agree_with_the_great_circle_away_from_their_edge(km):
    condition = _level("place", f"within {km} km").split(" AND ", 2)[2]  # the distance, without the grain checks
    rng = random.Random(km)
    for _ in range(300):
        lat, lon = rng.uniform(32.3, 37.3), rng.uniform(35.7, 42.4)  # Syria
        lat2, lon2 = lat + rng.uniform(-0.15, 0.15), lon + rng.uniform(-0.15, 0.15)
        distance = _haversine(lat, lon, lat2, lon2)
        if abs(distance - km) < 0.001:  # within a metre of the edge: either answer is right
            continue
        assert _holds(condition, lat_l=lat, lon_l=lon, lat_r=lat2, lon_r=lon2) == (distance <= km), (lat, lon, lat2, lon2, distance)


# -- blocking: shifted windows ------------------------------------------------------------------------

def test_reports_at_most_three_days_apart_share_a_week_or_a_shifted_week():
    sql = incident_rules.PREPARE_SQL
    week = sql[sql.index("CAST(floor(epoch(i.date_start) / 86400 / 7)"):sql.index(" AS week,")]
    shifted = sql[sql.index("CAST(floor((epoch(i.date_start) / 86400 + 3) / 7)"):sql.index(" AS week_shifted,")]
    start = date(2013, 3, 1)
    for first in range(14):  # every weekday, twice
        for gap in range(4):
            a, b = start + timedelta(days=first), start + timedelta(days=first + gap)
            keys = [duckdb.execute(f"SELECT {week}, {shifted} FROM (SELECT ?::DATE AS date_start) i", [d]).fetchone() for d in (a, b)]
            assert keys[0][0] == keys[1][0] or keys[0][1] == keys[1][1], (a, b, keys)


def test_every_blocking_rule_joins_on_equalities_of_prepared_columns(synthetic_records):
    for rule in incident_rules.BLOCKING_RULES:
        joins = rule.split(" AND (")[0].split(" AND ")  # an OR, if any, only filters pairs the equalities found
        assert all(" = " in part and " OR " not in part for part in joins), f"{rule}: an OR join makes DuckDB compare every pair"
        used = {token.split(".", 1)[1] for part in joins for token in part.split() if token.startswith(("l.", "r."))}
        assert used <= set(synthetic_records.columns), (rule, used - set(synthetic_records.columns))


# -- training: sampled above a size, exact below --------------------------------------------------------

def test_small_collections_train_on_every_block():
    assert incident_rules.training_rules(CFG["em_records"], CFG) == incident_rules.TRAINING_RULES


def test_large_collections_train_on_whole_days_or_weeks_chosen_by_hash():
    rules = incident_rules.training_rules(20 * CFG["em_records"], CFG)
    assert len(rules) == len(incident_rules.TRAINING_RULES)
    for rule, base in zip(rules, incident_rules.TRAINING_RULES):
        assert rule.startswith(base) and rule.endswith("% 20 = 0")
        sampled_by = rule.rsplit("hash(l.", 1)[1].split(")")[0]
        assert f"l.{sampled_by} = r.{sampled_by}" in base  # a block is kept or dropped whole


@pytest.fixture(scope="module")
def synthetic_records(synth_store):
    incident_rules.prepare(synth_store, CFG)
    return synth_store.frame("SELECT * FROM link_incidents")


#: On the synthetic store, a block of one day and one place holds matches only: EM drives the m of the levels
#: only non-matches show towards zero until Splink refuses it.
FAILING_BLOCK = "l.date_lo = r.date_lo AND l.place_id = r.place_id"


def _train(records, rules):
    return engine.score(records, incident_rules.settings(CFG), training_rules=rules, deterministic_rules=incident_rules.DETERMINISTIC_RULES,
                        recall=0.6, random_pairs=200_000, seed=CFG["seed"], review_threshold=CFG["review_threshold"])


def test_a_block_whose_em_fails_is_trained_again_with_fewer_iterations(synthetic_records):
    scored = _train(synthetic_records, [FAILING_BLOCK])
    assert any("trained again with" in note for note in scored.notes), scored.notes  # the block does fail here
    levels = {c["output_column_name"]: c["comparison_levels"] for c in scored.model["comparisons"]}
    assert set(levels) == {c["output_column_name"] for c in incident_rules.comparisons(CFG)}
    assert all(lv.get("m_probability") is not None for lv in levels["narrative"] if not lv.get("is_null_level"))  # it learnt


def test_a_block_that_keeps_failing_is_skipped_and_the_model_keeps_every_comparison(synthetic_records, monkeypatch):
    # Splink takes the block's fixed comparisons (date, place) out for the session and puts them back only when it
    # ends well: a failed block used to leave a model without them, which changed every later score
    monkeypatch.setattr(engine, "_FEWER_ITERATIONS", ())
    scored = _train(synthetic_records, [FAILING_BLOCK])
    assert any("gave no usable estimate" in note for note in scored.notes), scored.notes
    assert [c["output_column_name"] for c in scored.model["comparisons"]] == [c["output_column_name"] for c in incident_rules.comparisons(CFG)]
    assert scored.pairs.height > 0
