"""How good is a linkage: pairwise and cluster precision, recall and F1 against a ground truth.

*Pairwise*: every pair of records put in one cluster is a predicted link; it is right when both
records are the same true entity. *Cluster*: a predicted cluster of two or more records is right
when it holds exactly the records of one true entity (singletons are left out: they are what no
linkage at all would give). Both are computed on the records present in both tables.

>>> predicted = pl.DataFrame({"record_id": ["a", "b", "c"], "cluster_id": ["a", "a", "c"]})
>>> truth = pl.DataFrame({"record_id": ["a", "b", "c"], "true_id": ["T1", "T1", "T1"]})
>>> scores(predicted, truth)["pairwise"]["recall"]
0.3333333333333333
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from workbench.errors import WorkbenchError


def truth_table(path: Path, entity: str) -> pl.DataFrame:
    """Ground truth as written by ``workbench synth`` (``<folder>/incidents.csv`` or ``persons.csv``): record_id, true_id."""
    local, true = {"incidents": ("incident_id", "true_incident_id"), "persons": ("person_id", "true_person_id")}[entity]
    file = Path(path) / f"{entity}.csv"
    try:
        frame = pl.read_csv(file, infer_schema_length=0)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise WorkbenchError(f"cannot read the ground truth {file}: {exc}") from None
    missing = {"ngo_id", local, true} - set(frame.columns)
    if missing:
        raise WorkbenchError(f"{file} lacks the columns {', '.join(sorted(missing))}")
    return frame.select((pl.col("ngo_id") + "/" + pl.col(local)).alias("record_id"), pl.col(true).alias("true_id")).unique("record_id")


def _pairs(frame: pl.DataFrame, group: str) -> pl.DataFrame:
    members = frame.select("record_id", group)
    return (members.join(members, on=group, suffix="_r").filter(pl.col("record_id") < pl.col("record_id_r"))
            .select("record_id", "record_id_r"))


def _prf(true_positive: int, predicted: int, actual: int) -> dict[str, float]:
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_positives": true_positive, "predicted": predicted, "actual": actual}


def scores(predicted: pl.DataFrame, truth: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Pairwise and cluster precision, recall and F1 of ``predicted`` (record_id, cluster_id) against ``truth`` (record_id, true_id)."""
    both = predicted.join(truth, on="record_id", how="inner")
    if both.is_empty():
        raise WorkbenchError("no record of the linkage is in the ground truth; are they from the same data?")
    predicted_pairs = _pairs(both, "cluster_id")
    true_pairs = _pairs(both, "true_id")
    hits = predicted_pairs.join(true_pairs, on=["record_id", "record_id_r"], how="inner").height
    predicted_sets = {frozenset(g["record_id"]) for _, g in both.group_by("cluster_id") if g.height > 1}
    true_sets = {frozenset(g["record_id"]) for _, g in both.group_by("true_id") if g.height > 1}
    return {"pairwise": _prf(hits, predicted_pairs.height, true_pairs.height),
            "cluster": _prf(len(predicted_sets & true_sets), len(predicted_sets), len(true_sets)),
            "records": {"evaluated": both.height}}
