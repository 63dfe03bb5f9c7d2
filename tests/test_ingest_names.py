"""Names right after a victim, witness or kinship word: found on the way in, masked, reported without the name."""

from __future__ import annotations

import doctest
import json
from datetime import date

import duckdb
import pytest

from tests.conftest import INCIDENTS_CSV, SHARED_DATA, requires_shared_data
from workbench.entities.pii import names_near_roles
from workbench.entities.extract import language_of
from workbench.ingest import ingest_package, names
from workbench.ingest.names import RULE, find_names, preselect_sql
from workbench.sql import sql_literal
from workbench.store import row_hash_sql
from workbench.verify import verify_store

TODAY = date(2024, 6, 1)

NAMED = {
    "I-4": ("The victim Ahmad al-Hassan was detained at the checkpoint.", "Ahmad al-Hassan"),
    "I-5": ("قُتل الشهيد محمد الأحمد في القصف.", "محمد الأحمد"),
    "I-6": ("His son, Omar, was taken to the field hospital.", "Omar"),
    "I-7": ("واعتقل شقيقه خالد العمر على الحاجز.", "خالد العمر"),
}
REDACTED = {
    "I-8": "The victim was detained at the checkpoint near Douma.",
    "I-9": "قتل الشهيد في القصف على حلب.",
    "I-10": "The witness saw Syrian Arab Army vehicles in Aleppo.",
}


def _csv() -> str:
    rows = [f'{key},2013-06-01,Douma,torture,1,"{text}"' for key, (text, _) in NAMED.items()]
    rows += [f'{key},2013-06-01,Douma,torture,1,"{text}"' for key, text in REDACTED.items()]
    return INCIDENTS_CSV + "\n".join(rows) + "\n"


def _findings(store, rule=RULE):
    return store.frame(f"SELECT * FROM findings WHERE rule = {sql_literal(rule)} ORDER BY source_row").to_dicts()


def test_names_after_roles_are_masked_and_reported_without_the_name(file_store, package_factory):
    report = ingest_package(file_store, package_factory({"incidents.csv": _csv()}), today=TODAY)
    assert report.rows_accepted == 3 + len(NAMED) + len(REDACTED)
    stored = dict(file_store.con.execute("SELECT incident_id, narrative FROM incidents").fetchall())
    for key, (text, name) in NAMED.items():
        assert name not in stored[key] and "[name removed]" in stored[key], key
        assert stored[key] == text.replace(name, "[name removed]"), key
    for key, text in REDACTED.items():
        assert stored[key] == text, key
    found = _findings(file_store)
    rows = dict(file_store.con.execute("SELECT incident_id, source_row FROM incidents").fetchall())
    assert [f["source_row"] for f in found] == sorted(rows[k] for k in NAMED)
    assert {(f["field"], f["severity"], f["source_file"]) for f in found} == {("narrative", "warning", "incidents.csv")}
    for f in found:
        assert not any(name in f["message"] or name.split()[0] in f["message"] for _, name in NAMED.values())
        assert "Narrative" in f["message"] and "masked" in f["message"]
    assert report.findings.get("warning", 0) >= len(NAMED)


def test_row_hashes_and_digests_follow_the_masked_text(file_store, package_factory):
    ingest_package(file_store, package_factory({"incidents.csv": _csv()}), today=TODAY)
    contract = file_store.contracts.contract("incidents")
    stale = file_store.con.execute(f"SELECT count(*) FROM incidents WHERE row_hash <> {row_hash_sql(contract)}").fetchone()[0]
    assert stale == 0
    result = verify_store(file_store, log=False)
    assert result.ok, result.problems


def test_quarantined_rows_are_masked_too(store, package_factory):
    csv = INCIDENTS_CSV + 'I-4,2013-06-01,Douma,torture,not a number,"The victim Ahmad al-Hassan was detained."\n'
    report = ingest_package(store, package_factory({"incidents.csv": csv}), today=TODAY)
    assert report.rows_quarantined == 1
    raw = json.loads(store.con.execute("SELECT raw FROM quarantine").fetchone()[0])
    assert raw["narrative"] == "The victim [name removed] was detained."
    assert raw["killed"] == "not a number"
    [finding] = _findings(store)
    assert (finding["source_row"], finding["field"]) == (5, "narrative")
    assert "Ahmad" not in finding["message"]


def test_a_mapped_or_unrecognised_header_is_still_screened_in_the_quarantine(store, package_factory):
    csv = "incident_id,date_start,place,violation_types,killed,account\nI-1,2013-06-01,Douma,torture,x,\"الشهيد محمد الأحمد\"\n"
    ingest_package(store, package_factory({"incidents.csv": csv}), today=TODAY)
    raws = [json.loads(r[0]) for r in store.con.execute("SELECT raw FROM quarantine WHERE raw IS NOT NULL").fetchall()]
    assert raws and all("محمد" not in json.dumps(r, ensure_ascii=False) for r in raws)


def test_a_package_without_names_gets_no_finding_and_keeps_its_text(store, package_factory):
    ingest_package(store, package_factory({"incidents.csv": INCIDENTS_CSV}), today=TODAY)
    assert _findings(store) == []
    assert store.con.execute("SELECT count(*) FROM incidents WHERE narrative LIKE '%removed%'").fetchone()[0] == 0


PRESELECT_CASES = [
    "The victim Ahmad al-Hassan was detained.",
    "the VICTIM Ahmad was detained.",
    "Mr. Khalid Omar filmed it.",
    "his brother, named Samir, fled.",
    "her daughter — Lina — was wounded.",
    "قُتل الشَّهيد محمد الأحمد",
    "استشهد الشهيدة فاطمة الحسن",
    "وشقيقه خالد العمر",
    "فالمعتقلة سعاد العلي",
    "والدته، مريم الخطيب",
    "قتل الطفلة هبة النجار",
    "اعتقل المدعو أحمد الحسين",
]


@pytest.mark.parametrize("text", PRESELECT_CASES)
def test_the_preselection_keeps_every_text_the_rule_finds_a_name_in(text):
    assert names_near_roles(text, language_of(text)), f"the rule should find a name in {text!r}"
    assert duckdb.sql(f"SELECT {preselect_sql(sql_literal(text))}").fetchone()[0], text


@pytest.mark.parametrize("text", [
    "Shelling of the market in the morning.", "قصف على السوق في الصباح", "The victims were buried.", "12 killed, 3 injured",
])
def test_the_preselection_passes_over_texts_without_a_role_and_a_name(text):
    assert not duckdb.sql(f"SELECT {preselect_sql(sql_literal(text))}").fetchone()[0]


def test_find_names_keeps_the_order_of_mixed_languages():
    texts = ["الشهيد محمد الأحمد", "no role here", "The witness Samir Khalil", "لا شيء"]
    assert [n for n, _ in find_names(texts)] == [1, 0, 1, 0]
    assert find_names(texts)[2][1] == "The witness [name removed]"


def test_docstring_examples():
    assert doctest.testmod(names).failed == 0


def test_an_arabic_sentence_in_an_english_narrative_is_screened_as_arabic():
    [(found, masked)] = find_names(["Shelling of the market. ودفن الشهيد سامي تجريبي في المساء."])
    assert found == 1 and "سامي" not in masked and masked.startswith("Shelling of the market.")


@pytest.mark.parametrize("text, language", [
    ("Warplanes targeted the Sheikh Meskin hospital.", "en"),  # a place, not a title
    ("Residents who witness Russian jets overhead fled.", "en"),
    ("شاهد الخريطة التفاعلية للهجمات", "ar"),  # "watch", not "the witness"
    ("في مقطع فيديو مركز حلب الإعلامي المشار إليه أعلاه", "ar"),  # a media centre
    ("رغم وجود حاجة لإجراء المزيد من البحوث", "ar"),  # "a need", not "the pilgrim"
    ("وقال طبيب أمراض عصبية إن المصابين", "ar"),
])
def test_ordinary_words_after_role_like_words_are_not_names(text, language):
    assert names_near_roles(text, language) == []


@pytest.mark.parametrize("text, name", [
    ("نشر المواطن الصحفي سامي تجريبي مقطعاً", "سامي تجريبي"),  # a chain of roles: the name follows the last
    ("نقل للشهيد كريم مثال", "كريم مثال"),
    ("The citizen journalist Rami Sample filmed the strike.", "Rami Sample"),
])
def test_the_name_after_a_chain_of_roles_is_found(text, name):
    assert [s.text for s in names_near_roles(text, language_of(text))] == [name]


@pytest.mark.shared_data
@requires_shared_data()
def test_on_real_documentation_the_preselection_keeps_every_text_with_a_name():
    """The Syrian Archive's public pages and video descriptions name journalists, doctors and victims."""
    import polars as pl

    pages = SHARED_DATA / "real" / "syrianarchive-investigations-text"
    texts = [p.strip() for path in sorted(pages.glob("*.md")) for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    texts += pl.read_csv(SHARED_DATA / "real" / "syrianarchive-violations" / "violations.csv",
                         infer_schema_length=0)["Description"].drop_nulls().to_list()
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?) AS text", [texts])
    kept = {r[0] for r in con.execute(f"SELECT text FROM t WHERE {preselect_sql('text')}").fetchall()}
    named = [text for text, (found, _) in zip(texts, find_names(texts)) if found]
    assert len(named) >= 50  # the rule does find names here
    assert [text[:80] for text in named if text not in kept] == []
    assert len(kept) < len(texts) / 20  # and the preselection leaves spaCy little to read
