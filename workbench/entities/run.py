"""Entity extraction over the store: every free-text field of every current record, linked and stored.

Which texts: the fields a contract marks ``screen: true`` (the free text screened for personal
data: an incident's title and narrative, the description of a person's part in an incident, a
person's notes, a source's description), of the current records (schema ``active``). A text's
language is read from its script (more Arabic than Latin letters: Arabic), not from the record's
``language`` field, which is often empty and sometimes names the other version of the text.

What is written (in one transaction, replacing what an earlier run wrote for the same NGOs):

* ``mentions``: one row per mention (``record_type``, ``record_id`` = the record's primary key
  fields joined by "/", ``field``, ``label``, ``text``, ``start_char``/``end_char``,
  ``resolved_id``, ``candidates``, ``method``), see :mod:`workbench.entities.extract`;
* ``findings``, rule ``narrative_place_contradiction`` (warning): a record located in one
  governorate (the ``admin1`` of its geocoded field) whose texts name resolved places only in
  other governorates. Naming one place in its own governorate is enough to raise nothing (a
  narrative may well say where detainees were taken), and ambiguous names never count;
* a custody-log entry ``entities``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
from spacy.language import Language

from workbench.entities.extract import mentions
from workbench.entities.pipeline import LABELS, build_pipeline
from workbench.errors import ConfigError, StoreError
from workbench.sql import quote_ident, sql_literal
from workbench.store import Store, table_from_frame

RULE = "narrative_place_contradiction"
PROGRESS_EVERY = 1000
MENTION_SCHEMA: dict[str, pl.DataType] = {
    "ngo_id": pl.String(), "record_type": pl.String(), "record_id": pl.String(), "field": pl.String(),
    "label": pl.String(), "text": pl.String(), "start_char": pl.Int32(), "end_char": pl.Int32(),
    "resolved_id": pl.String(), "candidates": pl.List(pl.String()), "method": pl.String(), "submission_id": pl.Int32(),
}
_ARABIC_LETTERS = "[\u0621-\u064a\u0671-\u06d3]"


@dataclass
class EntitiesRun:
    """What a run did: texts read, mentions stored (per label, resolved, ambiguous), findings raised, time spent."""

    ngos: list[str]
    texts: int
    mentions: int
    by_label: dict[str, int]
    resolved: int
    ambiguous: int
    findings: int
    texts_per_second: float
    timings: dict[str, float] = field(default_factory=dict)


def texts_sql(store: Store) -> str:
    """One row per non-empty screened text field of a current record (ngo_id, record_type, record_id, field, text, submission_id)."""
    parts = []
    for contract in store.contracts:
        keys = [k for k in contract.primary_key if k != "ngo_id"]
        record_id = "concat_ws('/', " + ", ".join(f"CAST({quote_ident(k)} AS VARCHAR)" for k in keys) + ")"
        for f in contract.fields:
            if f.screen and f.type == "string":
                column = quote_ident(f.name)
                parts.append(
                    f"SELECT ngo_id, {sql_literal(contract.name)} AS record_type, {record_id} AS record_id, "
                    f"{sql_literal(f.name)} AS field, {column} AS text, submission_id "
                    f"FROM active.{quote_ident(contract.name)} WHERE trim(coalesce({column}, '')) <> ''"
                )
    return " UNION ALL ".join(parts)


def extract_store(store: Store, *, ngo_id: str | None = None, progress: Callable[[int, int], None] | None = None,
                  batch_size: int = 256) -> EntitiesRun:
    """Find, link and store the mentions in every current record's free text (one NGO's, or all).

    Re-running replaces the NGO's mentions and contradiction findings. ``progress(done, total)``
    is called as texts are processed.
    """
    if store.read_only:
        raise StoreError("extracting entities writes the mentions table; open the store for writing (not read-only)")
    if ngo_id is not None:
        known = store.frame("SELECT ngo_id FROM ngos ORDER BY ngo_id")["ngo_id"].to_list()
        if ngo_id not in known:
            raise ConfigError(f"no NGO {ngo_id!r} in the store; known: {', '.join(known) or '(none)'}")
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    texts = store.frame(
        f"SELECT * FROM ({texts_sql(store)}) WHERE ? IS NULL OR ngo_id = ? ORDER BY ALL", [ngo_id, ngo_id]
    ).with_columns(
        pl.when(pl.col("text").str.count_matches(_ARABIC_LETTERS) > pl.col("text").str.count_matches("[A-Za-z]"))
        .then(pl.lit("ar")).otherwise(pl.lit("en")).alias("language")
    )
    timings["read"] = time.perf_counter() - clock

    clock = time.perf_counter()
    pipelines = {language: build_pipeline(language, store=store) for language in texts["language"].unique(maintain_order=True)}
    timings["pipelines"] = time.perf_counter() - clock
    clock = time.perf_counter()
    found = _extract(pipelines, texts, batch_size, progress)
    timings["extract"] = time.perf_counter() - clock

    clock = time.perf_counter()
    ngos = sorted(set(texts["ngo_id"].to_list())) if ngo_id is None else [ngo_id]
    with store.transaction():
        store.con.execute("DELETE FROM mentions WHERE ? IS NULL OR ngo_id = ?", [ngo_id, ngo_id])
        table_from_frame(store.con, "new_mentions", found)
        store.con.execute(f"INSERT INTO mentions ({', '.join(MENTION_SCHEMA)}) SELECT {', '.join(MENTION_SCHEMA)} FROM new_mentions")
        store.con.execute("DROP TABLE new_mentions")
        findings = raise_contradictions(store, ngo_id=ngo_id)
        counts = dict(found.group_by("label").len().iter_rows())
        summary = {
            "texts": texts.height, "mentions": found.height, "by_label": {label: counts.get(label, 0) for label in LABELS},
            "resolved": found["resolved_id"].is_not_null().sum(), "ambiguous": (found["candidates"].list.len() > 0).sum(),
            "findings": findings,
        }
        store.log("entities", subject=ngo_id or "all", details=summary)
    store.write_anchor()
    timings["store"] = time.perf_counter() - clock
    rate = texts.height / timings["extract"] if timings["extract"] else 0.0
    return EntitiesRun(ngos=ngos, texts_per_second=round(rate, 1), timings=timings, **summary)


def _extract(pipelines: dict[str, Language], texts: pl.DataFrame, batch_size: int,
             progress: Callable[[int, int], None] | None) -> pl.DataFrame:
    """The mentions of every text, as a frame (columns of MENTION_SCHEMA), one pipeline per language."""
    rows: list[tuple] = []
    done, total = 0, texts.height
    if progress:
        progress(0, total)
    for (language,), group in texts.group_by("language", maintain_order=True):
        nlp = pipelines[language]
        owners = group["ngo_id"].to_list()
        records = group.select("ngo_id", "record_type", "record_id", "field", "submission_id").iter_rows()
        for (ngo, record_type, record_id, field_name, submission_id), found in zip(
            records, mentions(nlp, group["text"].to_list(), batch_size=batch_size, ngo_ids=owners)
        ):
            rows += [(ngo, record_type, record_id, field_name, m.label, m.text, m.start, m.end, m.resolved_id,
                      list(m.candidates), m.method, submission_id) for m in found]
            done += 1
            if progress and done % PROGRESS_EVERY == 0:
                progress(done, total)
    if progress:
        progress(total, total)
    return pl.DataFrame(rows, schema=MENTION_SCHEMA, orient="row")


def raise_contradictions(store: Store, *, ngo_id: str | None = None) -> int:
    """Replace the ``narrative_place_contradiction`` findings of the NGO(s) from the stored mentions; the count raised."""
    store.con.execute(
        "DELETE FROM findings WHERE rule = ? AND submission_id IN (SELECT submission_id FROM submissions WHERE ? IS NULL OR ngo_id = ?)",
        [RULE, ngo_id, ngo_id],
    )
    raised = 0
    for contract in store.contracts:
        for f in contract.fields:
            if f.geocode and f.geocode.get("admin1"):
                sql = contradictions_sql(contract.name, f.geocode["admin1"], [k for k in contract.primary_key if k != "ngo_id"])
                raised += store.con.execute(sql, [ngo_id, ngo_id]).fetchone()[0]
    return raised


def contradictions_sql(record_type: str, admin1_column: str, key_fields: list[str]) -> str:
    """INSERT of one finding per record whose texts name resolved places, none in its own governorate."""
    record_id = "concat_ws('/', " + ", ".join(f"CAST(r.{quote_ident(k)} AS VARCHAR)" for k in key_fields) + ")"
    admin1 = f"r.{quote_ident(admin1_column)}"
    return f"""
INSERT INTO findings
WITH governorates AS (
    SELECT admin1_pcode, any_value(admin1_en ORDER BY level = 'governorate' DESC) AS admin1_en
    FROM gazetteer_places WHERE admin1_pcode IS NOT NULL GROUP BY admin1_pcode),
named AS (
    SELECT m.ngo_id, m.record_id, m.field, m.start_char, g.name_en, g.admin1_pcode
    FROM mentions m JOIN gazetteer_places g ON g.place_id = substr(m.resolved_id, 7)
    WHERE m.record_type = {sql_literal(record_type)} AND m.label = 'PLACE' AND m.method = 'rules'
      AND starts_with(m.resolved_id, 'place:') AND g.admin1_pcode IS NOT NULL),
located AS (
    SELECT r.ngo_id, {record_id} AS record_id, r.submission_id, r.source_file, r.source_row, {admin1} AS admin1_pcode
    FROM active.{quote_ident(record_type)} r WHERE {admin1} IS NOT NULL AND (? IS NULL OR r.ngo_id = ?)),
judged AS (
    SELECT l.submission_id, l.source_file, l.source_row, l.admin1_pcode,
           bool_or(n.admin1_pcode = l.admin1_pcode) AS names_its_governorate,
           arg_min(n.field, (n.field <> 'narrative')::INTEGER * 1000000 + n.start_char) AS field,
           arg_min(n.name_en, (n.field <> 'narrative')::INTEGER * 1000000 + n.start_char) AS named_place,
           arg_min(n.admin1_pcode, (n.field <> 'narrative')::INTEGER * 1000000 + n.start_char) AS named_admin1
    FROM located l JOIN named n USING (ngo_id, record_id)
    GROUP BY ALL)
SELECT j.submission_id, j.source_file, j.source_row, j.field, {sql_literal(RULE)}, 'warning',
       'the ' || j.field || ' names ' || j.named_place || ' (' || coalesce(g1.admin1_en, j.named_admin1) || ', '
       || j.named_admin1 || ') and no place in ' || coalesce(g0.admin1_en, j.admin1_pcode) || ' (' || j.admin1_pcode
       || '), where the record is located; check the location or the text'
FROM judged j LEFT JOIN governorates g0 ON g0.admin1_pcode = j.admin1_pcode
LEFT JOIN governorates g1 ON g1.admin1_pcode = j.named_admin1
WHERE NOT j.names_its_governorate
"""
