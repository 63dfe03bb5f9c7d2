"""Person names right after a victim, witness or kinship word, found in the free text of one ingest and masked.

The patterns of ``pii_patterns.yaml`` find names after "Name:", a title or "المدعو" inside DuckDB.
Syrian documentation also names people after a role: "the victim Ahmad al-Hassan", "his son
Omar", "الشهيد محمد الأحمد". Telling such a name from a place, a unit or a common word needs the
words and the entities the rule pipeline knows (:func:`workbench.entities.pii.names_near_roles`),
so this step runs in Python, but only on the texts a DuckDB regex preselects: a role word
followed by a capital letter (English) or by an Arabic word. Redacted texts rarely pass.

Each text with a name gets one finding (``pii.person_name_near_role``, a warning: an analyst
looks), which never quotes the name, and the name becomes "[name removed]" in the stored copy;
the received file in the vault keeps the text as sent. Row hashes are computed again for the
changed rows, inside the ingest's transaction, before the custody log records the digests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from workbench.contracts import Contract
from workbench.entities.extract import language_of
from workbench.entities.pii import ARABIC_MARKS, ROLE_LETTERS, ROLE_WORDS, names_near_roles, role_form
from workbench.entities.pipeline import build_pipeline
from workbench.sql import quote_ident, sql_literal
from workbench.store import Store, row_hash_sql, table_from_frame

RULE = "pii.person_name_near_role"
SEVERITY = "warning"
MASK = "[name removed]"
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")
_LATIN_CAPITAL = re.compile("[A-Z]")  # the English rule needs a capitalised word


@dataclass(frozen=True)
class NameHit:
    """A text in which names were found: where it is, and its masked form."""

    source_file: str
    source_row: int
    field: str
    names: int
    masked: str


def preselect_sql(column_sql: str) -> str:
    """A SQL condition true for every text in which :func:`names_near_roles` could find a name.

    It is wider than the rule (a role word and then a capital or an Arabic word), and cheap: an
    RE2 scan or two, the Arabic one over the text folded as :func:`role_form` folds a word.
    """
    english = "|".join(sorted(ROLE_WORDS["en"], key=len, reverse=True))
    folded = {role_form(w) for w in ROLE_WORDS["ar"]}
    # a role with the article also as "للشهيد" (to the martyr); و or ف joined before either is matched anyway
    defined = "|".join(sorted((w[2:] for w in folded if w.startswith("ال")), key=len, reverse=True))
    bare = "|".join(sorted((w for w in folded if not w.startswith("ال")), key=len, reverse=True))
    english_re = rf"(?i:\b(?:{english}))\b\.?(?:[\s,:\-—]+(?i:named|called))?[\s,:\-—]+[A-Z]"
    arabic_re = rf"(?:(?:ال|لل)(?:{defined})|{bare})[\s,:،\-—]+[\x{{0621}}-\x{{064A}}]"
    # the text as role_form reads a word
    folded_sql = (f"translate(regexp_replace({column_sql}, {sql_literal(f'[{ARABIC_MARKS}]')}, '', 'g'), "
                  f"{sql_literal(ROLE_LETTERS[0])}, {sql_literal(ROLE_LETTERS[1])})")
    # CASE evaluates lazily: the folding, the costly part, runs on texts with Arabic letters only
    return (f"CASE WHEN regexp_matches({column_sql}, {sql_literal(english_re)}) THEN true "
            f"WHEN regexp_matches({column_sql}, '[\\x{{0621}}-\\x{{064A}}]') THEN regexp_matches({folded_sql}, {sql_literal(arabic_re)}) "
            f"ELSE false END")


def find_names(texts: Sequence[str], *, batch_size: int = 256) -> list[tuple[int, str]]:
    """For each text: how many names :func:`names_near_roles` finds, and the text with them masked.

    A text is read by the pipeline of each script it holds, so an Arabic sentence inside an
    English narrative is screened as Arabic.

    >>> find_names(["The victim Ahmad al-Hassan was detained.", "Shelling of Douma."])
    [(1, 'The victim [name removed] was detained.'), (0, 'Shelling of Douma.')]
    """
    spans: list[list[tuple[int, int]]] = [[] for _ in texts]
    by_language: dict[str, list[int]] = {}
    for position, text in enumerate(texts):
        for language in _languages(text):
            by_language.setdefault(language, []).append(position)
    for language, positions in sorted(by_language.items()):
        docs = build_pipeline(language).pipe((texts[p] for p in positions), batch_size=batch_size)
        for position, doc in zip(positions, docs):
            spans[position] += [(s.start_char, s.end_char) for s in names_near_roles(doc, language)]
    return [(len(found), _masked(text, found)) for text, found in zip(texts, spans)]


def _languages(text: str) -> set[str]:
    found = {language_of(text)}
    if _ARABIC_LETTER.search(text):
        found.add("ar")
    if _LATIN_CAPITAL.search(text):
        found.add("en")
    return found


def _masked(text: str, spans: Iterable[tuple[int, int]]) -> str:
    for start, end in sorted(set(spans), reverse=True):
        text = text[:start] + MASK + text[end:]
    return text


def screen_stored(store: Store, contract: Contract, submission_id: int) -> list[NameHit]:
    """Find and mask names after role words in the screened text fields of one submission's stored rows.

    Writes one finding per text, masks the stored values and computes their row hashes again;
    returns what it found. Call inside the ingest's transaction.
    """
    fields = [f for f in contract.fields if f.screen and f.type == "string"]
    if not fields:
        return []
    con, table = store.con, quote_ident(contract.name)
    union = " UNION ALL ".join(
        f"SELECT source_file, source_row, {sql_literal(f.name)} AS field, {quote_ident(f.name)} AS text FROM main.{table} "
        f"WHERE submission_id = {int(submission_id)} AND {quote_ident(f.name)} IS NOT NULL AND {preselect_sql(quote_ident(f.name))}"
        for f in fields
    )
    candidates = con.execute(f"SELECT * FROM ({union}) ORDER BY source_file, source_row, field").fetchall()
    if not candidates:
        return []
    found = find_names([c[3] for c in candidates])
    hits = [NameHit(file, row, field, names, masked)
            for (file, row, field, _), (names, masked) in zip(candidates, found) if names]
    if not hits:
        return []
    titles = {f.name: f.title for f in fields}
    con.executemany(
        "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
        [[submission_id, h.source_file, h.source_row, h.field, RULE, SEVERITY,
          f"{titles[h.field]} seems to name {_persons(h.names)} right after a victim, "
          "witness or kinship word; masked in the stored copy"] for h in hits],
    )
    masked = pl.DataFrame([(h.source_file, h.source_row, h.field, h.masked) for h in hits],
                          schema={"source_file": pl.Utf8, "source_row": pl.Int64, "field": pl.Utf8, "masked": pl.Utf8}, orient="row")
    table_from_frame(con, "ingest_masked_names", masked)
    try:
        for f in fields:
            column = quote_ident(f.name)
            con.execute(
                f"UPDATE main.{table} t SET {column} = m.masked FROM ingest_masked_names m "
                f"WHERE t.submission_id = {int(submission_id)} AND t.source_file = m.source_file "
                f"AND t.source_row = m.source_row AND m.field = {sql_literal(f.name)}"
            )
        con.execute(
            f"UPDATE main.{table} SET row_hash = {row_hash_sql(contract)} WHERE submission_id = {int(submission_id)} "
            f"AND (source_file, source_row) IN (SELECT (source_file, source_row) FROM ingest_masked_names)"
        )
    finally:
        con.execute("DROP TABLE IF EXISTS ingest_masked_names")
    return hits


def mask_quarantined(store: Store, submission_id: int) -> list[NameHit]:
    """Find and mask names after role words in the cells of one submission's quarantined rows.

    The quarantine keeps each row as the NGO wrote it, as JSON keyed by header: every text cell
    is screened, whichever field it was meant for (a row may be there because its headers were
    not recognised). Writes one finding per cell, naming the header; returns what it found.
    """
    con = store.con
    rows = con.execute(
        f"SELECT rowid, source_file, source_row, raw FROM quarantine WHERE submission_id = ? AND raw IS NOT NULL "
        f"AND {preselect_sql('raw')}",
        [submission_id],
    ).fetchall()
    cells: list[tuple[int, str, int, str, str]] = []
    documents: dict[int, dict] = {}
    for rowid, file, row, raw in rows:
        document = json.loads(raw)
        if isinstance(document, dict):
            documents[rowid] = document
            cells += [(rowid, file, row, header, value) for header, value in document.items() if isinstance(value, str) and value]
    hits: list[NameHit] = []
    changed: set[int] = set()
    for (rowid, file, row, header, _), (names, masked) in zip(cells, find_names([c[4] for c in cells])):
        if names:
            documents[rowid][header] = masked
            changed.add(rowid)
            hits.append(NameHit(file, row, header, names, masked))
    if hits:
        con.executemany(
            "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
            [[submission_id, h.source_file, h.source_row, h.field, RULE, SEVERITY,
              f"column {h.field} seems to name {_persons(h.names)} right after a victim, witness or kinship word; "
              "masked in the quarantined copy"] for h in hits],
        )
        con.executemany("UPDATE quarantine SET raw = ? WHERE rowid = ?",
                        [[json.dumps(documents[r], ensure_ascii=False), r] for r in sorted(changed)])
    return hits


def _persons(count: int) -> str:
    return "a person" if count == 1 else f"{count} persons"
