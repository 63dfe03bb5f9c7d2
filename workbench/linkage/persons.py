"""Person linkage: the same victim or witness in several NGOs' records, found without a name.

Persons arrive as pseudonyms with sex, age group, age, their roles and their incidents. Two
records are compared when they share a linked incident (a cluster from the incident linkage), or
carry the same pseudonym (NGOs that use one keyed scheme, such as ``workbench pseudonymise``).
Two records with the same pseudonym from different NGOs are linked outright (a shared keyed scheme
gives one person one pseudonym), and those links teach the model what a match looks like (its m
probabilities); without them it is trained by expectation maximisation. The comparisons: the name
encodings (Dice of two CLKs made with the same key), sex, age group, age, roles, and how many
linked incidents they share.

A person is **already heard** when they have given an account (``account_given``) in any NGO's
record, or appear in the records of more than one NGO: an analyst planning interviews sees it,
so that nobody is asked to tell their story again without need.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from workbench.linkage.clk import dice_sql
from workbench.linkage.engine import splink_settings
from workbench.store import Store

#: One row per current person (latest submission's), with the clusters of their incidents.
PREPARE_SQL = """
CREATE OR REPLACE TEMP TABLE link_persons AS
WITH latest AS (
    SELECT * FROM active.persons
    QUALIFY row_number() OVER (PARTITION BY ngo_id, person_id ORDER BY submission_id DESC, source_row) = 1),
links AS (
    SELECT ip.ngo_id, ip.person_id, list_sort(list(DISTINCT coalesce(c.cluster_id, ip.ngo_id || '/' || ip.incident_id))) AS clusters,
           list_sort(list(DISTINCT ip.role) FILTER (WHERE ip.role IS NOT NULL)) AS roles
    FROM active.incident_persons ip
    LEFT JOIN link_clusters c ON c.entity = 'incidents' AND c.ngo_id = ip.ngo_id AND c.local_id = ip.incident_id
    GROUP BY ALL)
SELECT p.ngo_id || '/' || p.person_id AS unique_id, p.ngo_id, p.person_id, p.submission_id,
       p.pseudonym, nullif(p.name_clk, '') AS name_clk,
       CASE WHEN p.sex IN ('unknown', 'other') THEN NULL ELSE p.sex END AS sex,
       CASE WHEN p.age_group = 'unknown' THEN NULL ELSE p.age_group END AS age_group, p.age,
       coalesce(p.account_given, FALSE) AS account_given,
       l.clusters, CASE WHEN len(l.roles) > 0 THEN l.roles END AS roles,
       l.clusters[1] AS c1, l.clusters[2] AS c2, l.clusters[3] AS c3
FROM latest p LEFT JOIN links l USING (ngo_id, person_id)
"""


def prepare(store: Store) -> int:
    """Build ``link_persons`` (a temporary table); incidents must have been linked first for shared incidents to count."""
    store.con.execute(PREPARE_SQL)
    return store.con.execute("SELECT count(*) FROM link_persons").fetchone()[0]


def comparisons(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The Splink comparisons for persons (most specific level first)."""
    dice = dice_sql("name_clk_l", "name_clk_r")

    def level(sql: str, label: str, null: bool = False) -> dict[str, Any]:
        return {"sql_condition": sql, "label_for_charts": label, **({"is_null_level": True} if null else {})}

    shared = "len(list_intersect(clusters_l, clusters_r))"
    return [
        {"output_column_name": "name", "comparison_description": "name encodings (Dice of two CLKs)", "comparison_levels": [
            level("name_clk_l IS NULL OR name_clk_r IS NULL OR length(name_clk_l) <> length(name_clk_r)", "no name encodings to compare", True),
            level(f"{dice} >= {float(config['clk_high'])}", f"names alike (Dice >= {config['clk_high']})"),
            level(f"{dice} >= {float(config['clk_low'])}", f"names somewhat alike (Dice >= {config['clk_low']})"),
            level("ELSE", "different names"),
        ]},
        {"output_column_name": "sex", "comparison_description": "sex", "comparison_levels": [
            level("sex_l IS NULL OR sex_r IS NULL", "sex unknown", True),
            level("sex_l = sex_r", "same sex"),
            level("ELSE", "different sex"),
        ]},
        {"output_column_name": "age_group", "comparison_description": "age group", "comparison_levels": [
            level("age_group_l IS NULL OR age_group_r IS NULL", "age group unknown", True),
            level("age_group_l = age_group_r", "same age group"),
            level("ELSE", "different age groups"),
        ]},
        {"output_column_name": "age", "comparison_description": "age in years", "comparison_levels": [
            level("age_l IS NULL OR age_r IS NULL", "age unknown", True),
            level("age_l = age_r", "same age"),
            level(f"abs(age_l - age_r) <= {int(config['age_years'])}", f"ages within {config['age_years']} years"),
            level("ELSE", "different ages"),
        ]},
        {"output_column_name": "roles", "comparison_description": "roles in their incidents", "comparison_levels": [
            level("roles_l IS NULL OR roles_r IS NULL", "roles unknown", True),
            level("roles_l = roles_r", "same roles"),
            level("len(list_intersect(roles_l, roles_r)) > 0", "a role in common"),
            level("ELSE", "different roles"),
        ]},
        {"output_column_name": "incidents", "comparison_description": "linked incidents in common", "comparison_levels": [
            level("clusters_l IS NULL OR clusters_r IS NULL", "no incidents", True),
            level(f"{shared} >= 2", "two or more incidents in common"),
            level(f"{shared} = 1", "one incident in common"),
            level("ELSE", "no incident in common"),
        ]},
    ]


_CELLS = ("c1", "c2", "c3")
#: Candidates: persons of different NGOs sharing one of their (first three) linked incidents. Two records
#: of one NGO are two persons to that NGO (it gave them two ids); telling it otherwise is feedback, not linkage.
BLOCKING_RULES = [f"l.{a} = r.{b} AND l.ngo_id <> r.ngo_id" for a in _CELLS for b in _CELLS]
TRAINING_RULES = ["l.c1 = r.c1 AND l.sex = r.sex AND l.roles = r.roles AND l.ngo_id <> r.ngo_id",
                  "l.c1 = r.c1 AND l.age_group = r.age_group AND l.ngo_id <> r.ngo_id"]
DETERMINISTIC_RULES = ["l.c1 = r.c1 AND l.sex = r.sex AND l.age_group = r.age_group AND l.roles = r.roles AND l.ngo_id <> r.ngo_id"]


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """Splink settings for persons."""
    return splink_settings(comparisons(config), BLOCKING_RULES)


def shared_pseudonyms(store: Store) -> pl.DataFrame:
    """Pairs of person records of different NGOs with the same pseudonym: the same person under a shared keyed scheme."""
    return store.frame("""SELECT l.unique_id AS unique_id_l, r.unique_id AS unique_id_r FROM link_persons l
                          JOIN link_persons r ON l.pseudonym = r.pseudonym AND l.ngo_id < r.ngo_id
                          WHERE l.pseudonym IS NOT NULL ORDER BY 1, 2""")


_HEARD_SQL = """
WITH members AS (
    SELECT c.cluster_id, c.record_id, c.ngo_id, c.local_id, p.account_given
    FROM link_clusters c JOIN active.persons p ON p.ngo_id = c.ngo_id AND p.person_id = c.local_id
    WHERE c.entity = 'persons'
    QUALIFY row_number() OVER (PARTITION BY c.record_id ORDER BY p.submission_id DESC, p.source_row) = 1),
clusters AS (
    SELECT cluster_id, count(DISTINCT ngo_id) AS ngos, count(DISTINCT record_id) AS records,
           bool_or(coalesce(account_given, FALSE)) AS account_given
    FROM members GROUP BY cluster_id)
SELECT m.record_id, m.ngo_id, m.local_id AS person_id, m.cluster_id, c.ngos, c.records, c.account_given,
       c.account_given OR c.ngos > 1 AS already_heard,
       CASE WHEN c.account_given AND c.ngos > 1 THEN 'has given an account; in the records of ' || c.ngos || ' NGOs'
            WHEN c.account_given THEN 'has given an account'
            WHEN c.ngos > 1 THEN 'in the records of ' || c.ngos || ' NGOs' END AS heard_because
FROM members m JOIN clusters c USING (cluster_id)
"""


def already_heard(store: Store) -> pl.DataFrame:
    """Per person record: its cluster, how many NGOs hold the person, and whether they were already heard (and why).

    Before any person linkage, each record is its own cluster and only ``account_given`` counts.
    """
    linked = store.has_table("link_clusters") and store.con.execute(  # a store older than linkage, opened read-only, has none
        "SELECT count(*) FROM link_clusters WHERE entity = 'persons'").fetchone()[0]
    if linked:
        return store.frame(_HEARD_SQL)
    return store.frame("""
        SELECT ngo_id || '/' || person_id AS record_id, ngo_id, person_id, ngo_id || '/' || person_id AS cluster_id,
               1 AS ngos, 1 AS records, bool_or(coalesce(account_given, FALSE)) AS account_given,
               bool_or(coalesce(account_given, FALSE)) AS already_heard,
               CASE WHEN bool_or(coalesce(account_given, FALSE)) THEN 'has given an account' END AS heard_because
        FROM active.persons GROUP BY ngo_id, person_id""")
