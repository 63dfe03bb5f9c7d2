"""Train a Splink model without labels and score candidate pairs, in a DuckDB of its own.

Splink writes many working tables; it runs on a separate in-memory DuckDB so that none of them
lands in the store. The records go in as Arrow, the scored pairs come back as a polars frame, and
the trained model comes back as Splink's JSON (saved with the run, so it can be shown and reused).
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from workbench.errors import WorkbenchError


@dataclass
class Scored:
    """Pairs at or above the review threshold (``unique_id_l``, ``unique_id_r``, ``match_probability``,
    ``match_weight``, and ``mw_<comparison>``: what each comparison added to the weight) and the trained model."""

    pairs: pl.DataFrame
    model: dict[str, Any]
    notes: list[str]


class _Notes(logging.Handler):
    """Collects what Splink says (parameters it could not train, defaults it used) for the run's record."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split())
        if text and text not in self.notes:
            self.notes.append(text)


def _listen() -> tuple[_Notes, list[tuple[logging.Logger, bool, int]]]:
    notes, saved = _Notes(), []
    for name in ("splink",):
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.level))
        logger.addHandler(notes)
        logger.propagate = False  # the analyst's console is not Splink's log
    return notes, saved


def _restore(notes: _Notes, saved: list[tuple[logging.Logger, bool, int]]) -> None:
    for logger, propagate, level in saved:
        logger.removeHandler(notes)
        logger.propagate = propagate
        logger.setLevel(level)


def score(
    records: pl.DataFrame,
    settings: dict[str, Any],
    *,
    training_rules: list[str],
    deterministic_rules: list[str],
    recall: float,
    random_pairs: int,
    seed: int,
    review_threshold: float,
    model: dict[str, Any] | None = None,
    labels: pl.DataFrame | None = None,
    min_labels: int = 20,
    fallback_rules: tuple[str, ...] = (),
) -> Scored:
    """Train (unless ``model`` is given) and predict; ``records`` needs a ``unique_id`` column.

    ``labels`` (``unique_id_l``, ``unique_id_r``) are pairs known to match without the model (such as
    the same pseudonym in a shared keyed scheme); with at least ``min_labels`` of them, the m
    probabilities are estimated from them instead of by expectation maximisation. A training block
    that holds no pairs is skipped (and noted); ``fallback_rules`` are tried only while some
    comparison still has no m probability learnt.
    """
    from splink import DuckDBAPI, Linker

    if records.height < 2:
        return Scored(pl.DataFrame(schema={"unique_id_l": pl.String, "unique_id_r": pl.String, "match_probability": pl.Float64,
                                           "match_weight": pl.Float64}), model or {}, ["fewer than two records: nothing to link"])
    notes, saved = _listen()
    con = duckdb.connect()
    try:
        con.register("records_arrow", records.to_arrow())
        # Splink joins and orders pairs by a whole number numbered in the order of the record ids (a pair's two ids
        # keep their order): far cheaper than comparing "NGO/local id" strings over millions of pairs
        con.execute(f"CREATE TABLE records AS SELECT row_number() OVER (ORDER BY unique_id) AS {_LINK_ID}, * FROM records_arrow")
        con.unregister("records_arrow")
        settings = {**settings, "unique_id_column_name": _LINK_ID}
        api = DuckDBAPI(connection=con)
        table = api.register("records")
        with warnings.catch_warnings():
            # Splink warns when a level never occurs in a training block; the model still stands, and the
            # parameters it could not estimate are shown as such in the model table
            warnings.simplefilter("ignore")
            if model is None:
                linker = Linker(table, settings, log_level=logging.WARNING)
                try:
                    linker.training.estimate_probability_two_random_records_match(deterministic_rules, recall=recall)
                except ValueError:
                    # no pair is certainly alike (a handful of records): Splink's default prior stands
                    notes.notes.append("no pair meets the deterministic rules; the prior probability of a match is Splink's default")
                # every sampled pair counts: by default Splink stops at a first chunk of pairs, picked by a hash of the
                # record ids, once each level has been seen a hundred times, and u then swings with how ids are written
                linker.training.estimate_u_using_random_sampling(max_pairs=random_pairs, seed=seed, min_count_per_level=None)
                if labels is not None and labels.height >= min_labels:
                    con.register("labels_arrow", labels.select("unique_id_l", "unique_id_r").to_arrow())
                    con.execute(f"""CREATE TABLE pair_labels AS SELECT a.{_LINK_ID} AS {_LINK_ID}_l, b.{_LINK_ID} AS {_LINK_ID}_r
                                    FROM labels_arrow x JOIN records a ON a.unique_id = x.unique_id_l
                                    JOIN records b ON b.unique_id = x.unique_id_r""")
                    linker.training.estimate_m_from_pairwise_labels("pair_labels")
                else:
                    for rule in [*training_rules, *fallback_rules]:
                        if rule in fallback_rules and not _untrained(linker.misc.save_model_to_json()):
                            break
                        linker = _expectation_maximisation(linker, table, rule, notes.notes)
                model = floor_m(linker.misc.save_model_to_json())
                prior = model.get("probability_two_random_records_match")
                if not isinstance(prior, (int, float)) or not 0 < prior < 1:
                    # no pair was certainly alike (a handful of records): one match in ten thousand pairs, Splink's default
                    model["probability_two_random_records_match"] = DEFAULT_PRIOR
                    notes.notes.append(f"the prior probability of a match could not be estimated ({prior!r}); {DEFAULT_PRIOR} is used")
                linker = Linker(table, model, log_level=logging.WARNING)
            else:
                linker = Linker(table, {**model, "unique_id_column_name": _LINK_ID}, log_level=logging.WARNING)
            predictions = linker.inference.predict(threshold_match_probability=review_threshold)
            weights = [f"p.mw_{c['output_column_name']}" for c in model["comparisons"]]
            pairs = con.execute(
                f"SELECT a.unique_id AS unique_id_l, b.unique_id AS unique_id_r, p.match_probability, p.match_weight, {', '.join(weights)} "
                f"FROM {predictions.physical_name} p JOIN records a ON a.{_LINK_ID} = p.{_LINK_ID}_l "
                f"JOIN records b ON b.{_LINK_ID} = p.{_LINK_ID}_r ORDER BY p.{_LINK_ID}_l, p.{_LINK_ID}_r").pl()
    except duckdb.Error as exc:
        raise WorkbenchError(f"linkage failed in DuckDB: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
        _restore(notes, saved)
    saved_model = {**model, "unique_id_column_name": "unique_id"}  # as the records know it
    return Scored(pairs, json.loads(json.dumps(saved_model, default=str)), notes.notes)


#: Iteration caps for a training block whose EM drove a level's m towards zero (see :func:`_expectation_maximisation`).
_FEWER_ITERATIONS = (8, 3)


def _expectation_maximisation(linker, table, rule: str, notes: list[str]):
    """Train m by EM on the pairs of one blocking ``rule``; returns a linker holding the model trained so far.

    A level that only non-matches show in a block (reports weeks apart, in a block of one month) sees its m
    shrink at every iteration until Splink refuses it as too small to hold in a float. The estimates are
    settled long before that: the block is trained again with fewer iterations, and the level's m is raised
    to the floor afterwards (:func:`floor_m`). A failed session also leaves Splink's linker without the
    comparisons the block fixed (it takes them out for the session and puts them back only when it ends
    well), so every retry starts from a copy of the model as it stood before the block (a later block's
    estimate of a comparison then replaces the retried one's, where Splink would take the median of the two).
    """
    from splink import Linker
    from splink.internals.exceptions import EMTrainingException

    before = linker.misc.save_model_to_json()
    block = {"blocking_rule": rule, "sql_dialect": "duckdb"}
    problem = ""
    for cap in (None, *_FEWER_ITERATIONS):
        trainee = linker if cap is None else Linker(table, {**before, "max_iterations": cap}, log_level=logging.WARNING)
        try:
            trainee.training.estimate_parameters_using_expectation_maximisation(block, estimate_without_term_frequencies=True)
        except EMTrainingException:
            # a field the data does not have (no casualty figures, say) leaves the block empty
            notes.append(f"training block {rule!r} holds no pairs in these data; skipped")
            break
        except ValueError as exc:
            problem = str(exc).splitlines()[0]
            continue
        if cap is None:
            return trainee
        notes.append(f"training block {rule!r}: EM drove an m probability to zero ({problem}); trained again with {cap} iterations")
        return Linker(table, {**trainee.misc.save_model_to_json(), "max_iterations": before["max_iterations"]}, log_level=logging.WARNING)
    else:
        notes.append(f"training block {rule!r} gave no usable estimate ({problem}); skipped")
    return Linker(table, before, log_level=logging.WARNING)


#: The whole-number record key Splink works with inside the engine (records keep their ``unique_id``).
_LINK_ID = "link_id"


def splink_settings(comparisons: list[dict[str, Any]], blocking_rules: list[str]) -> dict[str, Any]:
    """Splink settings for a dedupe over all NGOs at once, keeping what each comparison added (``mw_``) as evidence for review."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [{"blocking_rule": rule, "sql_dialect": "duckdb"} for rule in blocking_rules],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": True,
        "max_iterations": 25,
        "em_convergence": 0.0001,
    }


def _untrained(model: dict[str, Any]) -> list[str]:
    """Comparisons none of whose levels has an m probability yet."""
    return [c.get("output_column_name") for c in model.get("comparisons", [])
            if not any(lv.get("m_probability") is not None for lv in c.get("comparison_levels", []) if not lv.get("is_null_level"))]


#: The prior used when the data give none to estimate it from.
DEFAULT_PRIOR = 0.0001

#: The least m probability a level keeps after training: EM drives the m of levels that matches never
#: show in the training blocks towards zero, which would make one miscoded field veto any match.
M_FLOOR = 0.005


def floor_m(model: dict[str, Any], floor: float = M_FLOOR) -> dict[str, Any]:
    """The model with every m probability at least ``floor`` (an unknown one too, in a comparison where
    some were learnt), each comparison's m summing to 1 again."""
    for comparison in model.get("comparisons", []):
        levels = [lv for lv in comparison.get("comparison_levels", []) if not lv.get("is_null_level")]
        if not any(lv.get("m_probability") is not None for lv in levels):
            continue  # nothing was learnt for this comparison: Splink's defaults stand, and the notes say so
        # a level never seen among matches (m unknown) is rare among them: it gets the floor
        known = [float(lv["m_probability"]) if lv.get("m_probability") is not None else 0.0 for lv in levels]
        low = [m < floor for m in known]
        rest = sum(m for m, is_low in zip(known, low) if not is_low)
        room = 1.0 - floor * sum(low)  # what the levels above the floor share, in their proportions
        for level, m, is_low in zip(levels, known, low):
            level["m_probability"] = floor if is_low else m / rest * room
    return model


def model_parameters(model: dict[str, Any]) -> pl.DataFrame:
    """The trained model as a table: per comparison and level, m, u and the Bayes factor (m / u)."""
    rows = []
    for comparison in model.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            rows.append({"comparison": comparison.get("output_column_name"), "level": level.get("label_for_charts"),
                         "m": m, "u": u, "bayes_factor": (m / u) if m is not None and u else None})
    return pl.DataFrame(rows, schema={"comparison": pl.String, "level": pl.String, "m": pl.Float64, "u": pl.Float64,
                                      "bayes_factor": pl.Float64})
