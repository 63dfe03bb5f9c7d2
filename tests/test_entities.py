"""Entity extraction: the lexicons, the English and Arabic pipelines, linking, the store run, and names near roles."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import polars as pl
import pytest
import spacy
import yaml

from workbench.entities import patterns as entities_patterns
from workbench.entities.extract import Mention, choose, language_of, mentions
from workbench.entities.lexicon import load_lexicon
from workbench.entities.pii import names_near_roles
from workbench.entities.pipeline import CANDIDATES_PIPE, LABELS, MODEL_SPANS, build_pipeline
from workbench.entities.run import RULE, extract_store
from workbench.errors import ConfigError, ContractError, StoreError
from workbench.gazetteer.model import PLACE_SCHEMA, from_rows, spelling_rows
from workbench.store import open_store

LEXICON = Path(__file__).resolve().parents[1] / "data_contracts" / "entities"


def found(nlp, text: str, ngo_id: str | None = None) -> list[tuple[str, str, str | None]]:
    [result] = mentions(nlp, [text], ngo_ids=None if ngo_id is None else [ngo_id])
    return [(m.label, m.text, m.resolved_id) for m in result]


@pytest.fixture(scope="module")
def english():
    return build_pipeline("en")


@pytest.fixture(scope="module")
def arabic():
    return build_pipeline("ar")


# --- lexicons ----------------------------------------------------------------------------------

def test_the_lexicons_load_with_enough_entries_of_known_types(contracts):
    lexicon = load_lexicon()
    actors, weapons = lexicon.of_label("ACTOR"), lexicon.of_label("WEAPON")
    assert len(actors) >= 40 and len(weapons) >= 30
    assert set(lexicon.types["ACTOR"]) <= set(contracts.vocabulary("actor_types").codes)
    assert all(entry.names.get("en") or entry.names.get("ar") for entry in lexicon.entries)
    assert lexicon.entry("branch-235").parent == "military-intelligence"
    assert "فرع فلسطين" in lexicon.entry("branch-235").names["ar"]
    assert {"SAA", "AFI", "NDF", "HTS", "ISIS", "SDF", "YPG", "IRGC", "FSA", "SNA"} <= {
        name for entry in actors for name in entry.names.get("en", ())}


def write_lexicon(folder: Path, actors: list, weapons: list | None = None, **stopwords) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "actors.yaml").write_text(yaml.safe_dump(
        {"label": "ACTOR", "types": {"state_armed_forces": "x", "police": "y"}, "entries": actors}, allow_unicode=True),
        encoding="utf-8")
    (folder / "weapons.yaml").write_text(yaml.safe_dump(
        {"label": "WEAPON", "types": {"munition": "x"},
         "entries": weapons if weapons is not None else [{"id": "bomb", "type": "munition", "names": {"en": ["bomb"]}}]},
        allow_unicode=True), encoding="utf-8")
    if stopwords:
        (folder / "place_stopwords.yaml").write_text(yaml.safe_dump(stopwords, allow_unicode=True), encoding="utf-8")
    return folder


def test_lexicon_problems_are_collected_naming_file_and_entry(tmp_path):
    folder = write_lexicon(tmp_path / "lex", [
        {"id": "army", "type": "state_armed_forces", "names": {"en": ["Army"], "ar": ["الجيش"]}},
        {"id": "Bad Id", "type": "state_armed_forces", "names": {"en": ["x"]}},
        {"id": "unit", "type": "navy", "names": {"en": ["Unit"]}},
        {"id": "branch", "type": "police", "names": {"en": ["Branch"]}, "parent": "nowhere"},
        {"id": "army-2", "type": "police", "names": {"en": ["the army"], "fr": ["armée"]}, "colour": "red"},
        {"id": "loop-a", "type": "police", "parent": "loop-b", "names": {"en": ["Loop A"]}},
        {"id": "loop-b", "type": "police", "parent": "loop-a", "names": {"en": ["Loop B"]}},
        {"id": "army", "type": "police", "names": {"en": ["Other army"]}},
    ])
    with pytest.raises(ContractError) as error:
        load_lexicon(folder)
    text = str(error.value)
    assert "actors.yaml: entry Bad Id: id must be lower-case" in text
    assert "actors.yaml: entry unit: type 'navy' is not one of the types" in text
    assert "actors.yaml: entry branch: parent 'nowhere' is not an entry" in text
    assert "actors.yaml: entry army-2: unknown key(s) colour" in text
    assert "actors.yaml: entry army-2: names: unknown language 'fr'" in text
    assert "actors.yaml: entry loop-a: parent chain loops back" in text
    assert "actors.yaml: entry army: the id is already used in actors.yaml" in text
    assert len(error.value.problems) >= 7


def test_a_spelling_of_two_entries_and_a_missing_file_are_refused(tmp_path):
    folder = write_lexicon(tmp_path / "lex", [{"id": "afi", "type": "police", "names": {"en": ["Air Force Intelligence"]}}],
                           [{"id": "afi-weapon", "type": "munition", "names": {"en": ["air force-intelligence"]}}])
    with pytest.raises(ContractError, match="weapons.yaml: entry afi-weapon: spelling 'air force-intelligence' is also a spelling of afi"):
        load_lexicon(folder)
    (folder / "weapons.yaml").unlink()
    with pytest.raises(ContractError, match="weapons.yaml: file not found"):
        load_lexicon(folder)


def test_place_stopwords_are_read_per_script_and_checked(tmp_path):
    folder = write_lexicon(tmp_path / "lex", [{"id": "a", "type": "police", "names": {"en": ["A b"]}}],
                           only_after_place_word={"en": ["Al-Bab"], "ar": ["الباب"]}, never={"ar": ["صغيرة"]})
    lexicon = load_lexicon(folder)
    assert lexicon.places_after_word == {"latin": frozenset({"bab"}), "ar": frozenset({"باب"})}
    assert lexicon.places_never == {"ar": frozenset({"صغيره"})}
    write_lexicon(folder, [{"id": "a", "type": "police", "names": {"en": ["A b"]}}], never={"de": ["x"]}, sometimes=[])
    with pytest.raises(ContractError, match="unknown key.*sometimes"):
        load_lexicon(folder)


# --- the pipelines -----------------------------------------------------------------------------

def test_english_places_actors_weapons_and_dates(english):
    text = ("On 12 March 2013 the SAA's 4th Armoured Division and Hezbollah shelled Douma with barrel bombs; "
            "Air Force Intelligence (AFI) detained men in Al-Bab on 2013-03-14, and in March 2014 ISIS used chlorine.")
    result = found(english, text)
    assert ("DATE", "12 March 2013", "date:2013-03-12") in result
    assert ("ACTOR", "SAA", "actor:saa") in result
    assert ("ACTOR", "4th Armoured Division", "actor:saa-4th-division") in result
    assert ("ACTOR", "Hezbollah", "actor:hezbollah") in result
    assert ("WEAPON", "barrel bombs", "weapon:barrel-bomb") in result
    assert ("ACTOR", "Air Force Intelligence", "actor:air-force-intelligence") in result
    assert ("ACTOR", "AFI", "actor:air-force-intelligence") in result
    assert ("DATE", "2013-03-14", "date:2013-03-14") in result
    assert ("DATE", "March 2014", "date:2014-03") in result
    assert ("ACTOR", "ISIS", "actor:isis") in result and ("WEAPON", "chlorine", "weapon:chlorine") in result
    places = {text: resolved for label, text, resolved in result if label == "PLACE"}
    assert set(places) == {"Douma", "Al-Bab"} and all(resolved.startswith("place:gn:") for resolved in places.values())
    assert {label for label, *_ in result} == set(LABELS)


def test_arabic_with_joined_prefixes_arabic_months_and_digits(arabic):
    text = ("ألقى الطيران المروحي التابع للجيش العربي السوري البراميل المتفجرة وبحلب في ١٢ آذار ٢٠١٣، "
            "واعتقلت المخابرات الجوية والفرقة الرابعة شباناً بحمص بتاريخ ٢٠١٣/٣/١٤، وقصفت قسد ولداعش مواقع في "
            "13 نوفمبر/تشرين الثاني 2017.")
    result = found(arabic, text)
    assert ("WEAPON", "الطيران المروحي", "weapon:helicopter") in result
    assert ("ACTOR", "للجيش العربي السوري", "actor:saa") in result
    assert ("WEAPON", "البراميل المتفجرة", "weapon:barrel-bomb") in result
    assert ("DATE", "١٢ آذار ٢٠١٣", "date:2013-03-12") in result
    assert ("ACTOR", "المخابرات الجوية", "actor:air-force-intelligence") in result
    assert ("ACTOR", "والفرقة الرابعة", "actor:saa-4th-division") in result
    assert ("DATE", "٢٠١٣/٣/١٤", "date:2013-03-14") in result  # the full stop after a number is split off
    assert ("ACTOR", "قسد", "actor:sdf") in result and ("ACTOR", "ولداعش", "actor:isis") in result
    assert ("DATE", "13 نوفمبر/تشرين الثاني 2017", "date:2017-11-13") in result
    places = {text for label, text, _ in result if label == "PLACE"}
    assert places == {"وبحلب", "بحمص"}


def test_prefixes_are_cut_only_to_find_a_known_word(arabic):
    # "لبنان" is not ل + a village, "بدأنا" (we began) is not ب + Dana, "ولد" (boy) is no place
    assert found(arabic, "بدأنا العمل في لبنان مع ولد صغير") == [("PLACE", "لبنان", "country:lebanon")]
    assert [label for label, *_ in found(arabic, "بدمشق")] == ["PLACE"]
    assert [text for _, text, _ in found(arabic, "في حلب وبمدينة حلب")] == ["حلب", "حلب"]


def test_dates_need_a_year_to_resolve_and_bare_months_are_dates(english, arabic):
    assert found(english, "On 12 March the shelling started.") == [("DATE", "12 March", None)]
    assert found(english, "In September, they may march.") == [("DATE", "September", None)]
    assert found(arabic, "في ٣ آب ٢٠١٢ ووفاة الأب") == [("DATE", "٣ آب ٢٠١٢", "date:2012-08-03")]
    assert found(english, "31/02/2013 and 2099 and 1200 people") == []


def test_place_words_countryside_and_stopwords_with_a_small_gazetteer(store):
    def place(place_id, level, en, ar, admin1, admin1_en):
        return {**dict.fromkeys(PLACE_SCHEMA), "place_id": place_id, "level": level, "name_en": en, "name_ar": ar,
                "admin1_pcode": admin1, "admin1_en": admin1_en, "lat": 36.0, "lon": 37.0, "source": "ocha"}
    places = [place("SY02", "governorate", "Aleppo", "حلب", "SY02", "Aleppo"),
              place("SY07", "governorate", "Idlib", "إدلب", "SY07", "Idlib"),
              place("C1", "community", "Kafr Sous", "كفر سوس", "SY02", "Aleppo"),
              place("C2", "community", "Kafr Sous", "كفر سوس", "SY07", "Idlib"),
              place("C3", "community", "Qarmalun", "قرملون", "SY07", "Idlib"),
              place("C4", "community", "Sarmin", "سرمين", "SY07", "Idlib"),
              place("C5", "community", "Al Bab", "الباب", "SY02", "Aleppo")]
    rows = [row for p in places for row in spelling_rows(p["place_id"], [p["name_en"], p["name_ar"]], kind="official")]
    store.replace_gazetteer(from_rows(pl.DataFrame(places, schema=PLACE_SCHEMA), rows), log=False)
    en, ar = build_pipeline("en", store=store), build_pipeline("ar", store=store)

    [[sous]] = mentions(en, ["Kafr Sous was shelled."])
    assert (sous.text, sous.resolved_id, sous.candidates) == ("Kafr Sous", None, ("place:C1", "place:C2"))
    # a one-word village only after a place word, and the mention is the name
    assert found(en, "Qarmalun was shelled.") == []
    assert found(en, "the village of Qarmalun was shelled") == [("PLACE", "Qarmalun", "place:C3")]
    assert found(ar, "قصف على قرية قرملون") == [("PLACE", "قرملون", "place:C3")]
    # a town of the built-in gazetteer is looked for alone
    assert found(ar, "قصف سرمين") == [("PLACE", "سرمين", "place:C4")]
    # "الباب" is a door, "مدينة الباب" the town; "ريف إدلب" the governorate
    assert found(ar, "كسروا الباب") == []
    assert found(ar, "في مدينة الباب وبريف إدلب") == [("PLACE", "الباب", "place:C5"), ("PLACE", "إدلب", "place:SY07")]
    assert found(en, "in the Idlib countryside") == [("PLACE", "Idlib", "place:SY07")]


def test_a_place_after_a_place_and_a_comma_is_the_admin_unit_containing_it(english, arabic):
    # "Aleppo" alone is the city; after a town of the governorate and a comma, the governorate
    assert found(english, "Shelling of Aleppo and Izaz.") == [
        ("PLACE", "Aleppo", "place:gn:170063"), ("PLACE", "Izaz", "place:gn:172082")]
    assert found(english, "Shelling of Izaz, Aleppo.") == [("PLACE", "Izaz", "place:gn:172082"), ("PLACE", "Aleppo", "place:SY02")]
    assert found(arabic, "قصف في إعزاز، حلب") == [("PLACE", "إعزاز", "place:gn:172082"), ("PLACE", "حلب", "place:SY02")]
    assert found(arabic, "قصف في إعزاز، وحلب")[1][2] == "place:gn:170063"  # "and Aleppo": a list, the city
    # the governorate of Idlib does not contain the city of Aleppo: two cities, as without the comma
    assert found(english, "Aleppo, Idlib and Hama")[:2] == [("PLACE", "Aleppo", "place:gn:170063"), ("PLACE", "Idlib", "place:gn:169389")]
    assert found(arabic, "حلب، إدلب")[1] == ("PLACE", "إدلب", "place:gn:169389")


def test_a_comma_links_districts_and_ambiguous_towns_of_a_small_gazetteer(store):
    def place(place_id, level, en, ar, admin1, admin2=None):
        return {**dict.fromkeys(PLACE_SCHEMA), "place_id": place_id, "level": level, "name_en": en, "name_ar": ar,
                "admin1_pcode": admin1, "admin2_pcode": admin2, "lat": 36.0, "lon": 36.5, "source": "ocha"}
    places = [place("SY02", "governorate", "Aleppo", "حلب", "SY02"),
              place("SY07", "governorate", "Idlib", "إدلب", "SY07"),
              place("SY0703", "district", "Harim", "حارم", "SY07", "SY0703"),
              place("C6", "community", "Harim", "حارم", "SY07", "SY0703"),
              place("C7", "community", "Kafr Takharim", "كفر تخاريم", "SY07", "SY0703"),
              place("C1", "community", "Kafr Sous", "كفر سوس", "SY02"),
              place("C2", "community", "Kafr Sous", "كفر سوس", "SY07")]
    rows = [row for p in places for row in spelling_rows(p["place_id"], [p["name_en"], p["name_ar"]], kind="official")]
    store.replace_gazetteer(from_rows(pl.DataFrame(places, schema=PLACE_SCHEMA), rows), log=False)
    en, ar = build_pipeline("en", store=store), build_pipeline("ar", store=store)
    # the district, not the town, and a chain of units, widest last
    assert found(en, "Kafr Takharim, Harim, Idlib") == [
        ("PLACE", "Kafr Takharim", "place:C7"), ("PLACE", "Harim", "place:SY0703"), ("PLACE", "Idlib", "place:SY07")]
    assert found(ar, "في كفر تخاريم، حارم")[1] == ("PLACE", "حارم", "place:SY0703")
    # an ambiguous town followed by its governorate: the one candidate inside it
    [[sous, idlib]] = mentions(en, ["Kafr Sous, Idlib"])
    assert (sous.resolved_id, sous.candidates, idlib.resolved_id) == ("place:C2", ("place:C1", "place:C2"), "place:SY07")
    assert found(ar, "في كفر سوس، حلب")[0] == ("PLACE", "كفر سوس", "place:C1")
    # no unit of that name contains it: nothing changes
    [[sous, harim]] = mentions(en, ["Kafr Sous, Harim"])
    assert sous.resolved_id is None and harim.resolved_id != "place:SY0703"


def test_spelling_variants_and_the_english_countryside(english, arabic):
    # the gazetteer writes "Dārat ‘Izzah" and "كفر زيتا"; texts also "Darat Izzah" and "كفرزيتا"
    assert found(english, "an incident occurred in Darat Izzah.") == [("PLACE", "Darat Izzah", "place:gn:170857")]
    assert found(arabic, "مثل كفرزيتا عام 2014") == [("PLACE", "كفرزيتا", "place:gn:168620"), ("DATE", "2014", "date:2014")]
    # "the Damascus countryside" is the mention "Damascus", linked to the governorate; "ريف دمشق" is its name
    assert found(english, "The Damascus countryside was hit.") == [("PLACE", "Damascus", "place:SY03")]
    assert found(arabic, "قصف ريف دمشق") == [("PLACE", "ريف دمشق", "place:SY03")]


def test_countries_are_places_only_after_a_word_saying_where(english, arabic):
    assert found(english, "The wounded were treated in Turkey and inside the United States.") == [
        ("PLACE", "Turkey", "country:turkey"), ("PLACE", "United States", "country:united-states")]
    assert found(arabic, "غارات في سوريا وداخل لبنان") == [
        ("WEAPON", "غارات", "weapon:airstrike"), ("PLACE", "سوريا", "country:syria"), ("PLACE", "لبنان", "country:lebanon")]
    # the state acting is no place: alone, or after "to"/"by"
    assert found(english, "Syria and Russia rejected it, as attributed to Russia.") == []
    assert found(arabic, "رفضت سوريا وروسيا ذلك من قبل سوريا") == []


def test_countries_yaml_is_checked(tmp_path):
    folder = write_lexicon(tmp_path / "lex", [{"id": "a", "type": "police", "names": {"en": ["A b"]}}])
    (folder / "countries.yaml").write_text(yaml.safe_dump({
        "label": "PLACE", "types": {"country": "x"}, "after_words": {"en": ["in"], "fr": ["en"]}, "colour": "red",
        "entries": [{"id": "syria", "type": "country", "names": {"en": ["Syria"]}},
                    {"id": "syria", "type": "state", "names": {"en": ["Syrie"]}},
                    {"id": "sham", "type": "country", "names": {"en": ["syria"]}}]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContractError) as error:
        load_lexicon(folder)
    text = str(error.value)
    for expected in ("countries.yaml: unknown key(s) colour", "after_words: names: unknown language 'fr'",
                     "entry syria: type 'state' is not one of the types", "entry sham: spelling 'syria' is also a spelling of syria"):
        assert expected in text, text
    (folder / "countries.yaml").unlink()
    assert load_lexicon(folder).countries == ()  # the file is optional


def test_actors_of_the_store_link_to_the_records_ngo(synth_store):
    nlp = build_pipeline("en", store=synth_store)
    text = "The Central Air Wing and the Security Branch 999 were named."
    [[wing, branch]] = mentions(nlp, [text], ngo_ids=["ALPHA"])
    assert wing.resolved_id == "actor:store:ALPHA/ALPHA-A01"
    assert set(wing.candidates) >= {"actor:store:ALPHA/ALPHA-A01", "actor:store:ZETA/ZETA-A01"}
    assert branch.resolved_id == "actor:store:ALPHA/ALPHA-A03"
    [[wing, _]] = mentions(nlp, [text], ngo_ids=["NOBODY"])
    assert wing.resolved_id is None
    assert choose(("actor:afi", "actor:store:A/A1")) == "actor:afi"


def test_a_statistical_model_runs_beside_the_rules_and_is_kept_apart(tmp_path):
    model = spacy.blank("en")
    model.add_pipe("entity_ruler", name="ner").add_patterns(
        [{"label": "GPE", "pattern": "Douma"}, {"label": "PERSON", "pattern": "Omar"}, {"label": "ORG", "pattern": "the council"}])
    model.to_disk(tmp_path / "model")
    nlp = build_pipeline("en", model=str(tmp_path / "model"))
    doc = nlp("Omar said the council met in Douma.")
    assert [(e.text, e.label_) for e in doc.ents] == [("Douma", "PLACE")]
    assert [(s.text, s.label_) for s in doc.spans[MODEL_SPANS]] == [("the council", "ACTOR"), ("Douma", "PLACE")]
    [result] = mentions(nlp, ["Omar said the council met in Douma."])
    by_method = {(m.method, m.text): m.resolved_id for m in result}
    assert by_method[("model", "Douma")] == by_method[("rules", "Douma")] is not None
    assert by_method[("model", "the council")] is None and ("model", "Omar") not in by_method
    with pytest.raises(ConfigError, match="not installed"):
        build_pipeline("en", model="no_such_model_here")


def test_patterns_never_import_the_pipeline():
    # imports flow one way: pipeline builds on patterns, and patterns knows nothing of spaCy pipelines
    tree = ast.parse((Path(entities_patterns.__file__)).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name and name.startswith("workbench.entities.") and name != "workbench.entities.lexicon"}
    assert LABELS is entities_patterns.LABELS  # still importable from the pipeline


def test_pipelines_are_cached_and_unknown_languages_refused(english):
    assert build_pipeline("en") is english
    assert isinstance(english.get_pipe(CANDIDATES_PIPE).candidates, dict)
    with pytest.raises(ConfigError, match="no language 'zz'"):
        build_pipeline("zz")


def test_language_of_reads_the_script():
    assert language_of("قصف على حلب (Aleppo)") == "ar"
    assert language_of("Shelling of Douma, دوما") == "en"
    assert language_of("") == "en"


def test_mention_offsets_read_the_text_back(english, arabic):
    texts = ['He said: "Aleppo". Then (Idlib).', 'قال: "حلب". ثم (إدلب).']
    for nlp, text in zip((english, arabic), texts):
        [result] = mentions(nlp, [text])
        assert [m.text for m in result] and all(text[m.start:m.end] == m.text for m in result)
        assert all(isinstance(m, Mention) and m.method == "rules" for m in result)


# --- the store run -----------------------------------------------------------------------------

@pytest.fixture
def synthetic_copy(synthetic, tmp_path):
    db, _ = synthetic
    shutil.copy(db, tmp_path / "store.duckdb")
    with open_store(tmp_path / "store.duckdb") as store:
        yield store


def test_extract_store_stores_linked_mentions_and_is_idempotent(synthetic_copy):
    store = synthetic_copy
    run = extract_store(store)
    stored = store.frame("SELECT * FROM mentions ORDER BY ALL")
    assert run.mentions == stored.height > 500 and run.texts > 1000
    assert run.by_label["PLACE"] > 0 and run.by_label["WEAPON"] > 0 and sum(run.by_label.values()) == run.mentions
    assert set(stored["record_type"]) >= {"incidents"} and set(stored["field"]) >= {"title", "narrative"}
    places = store.frame("SELECT g.lat, g.admin1_pcode FROM mentions m JOIN gazetteer_places g ON g.place_id = substr(m.resolved_id, 7) "
                         "WHERE m.label = 'PLACE' AND starts_with(m.resolved_id, 'place:')")
    assert places.height > 0 and places["lat"].null_count() == 0
    assert run.findings == 0  # the synthetic narratives name their own places
    again = extract_store(store)
    assert store.frame("SELECT * FROM mentions ORDER BY ALL").equals(stored) and again.mentions == run.mentions
    one = extract_store(store, ngo_id="ALPHA")
    assert store.frame("SELECT count(*) AS n FROM mentions")["n"][0] == stored.height and one.ngos == ["ALPHA"]
    assert store.custody_log()["action"].to_list()[-3:] == ["entities"] * 3


def test_a_narrative_naming_another_governorate_raises_one_finding(synthetic_copy):
    store = synthetic_copy
    target = store.frame("SELECT ngo_id, incident_id, submission_id, source_row FROM active.incidents "
                         "WHERE ngo_id = 'ALPHA' AND admin1_pcode = 'SY02' AND geo_precision IN ('point', 'community') LIMIT 1").row(0, named=True)
    store.con.execute("UPDATE incidents SET title = 'Shelling', narrative = 'Barrel bombs fell on the market of Latakia.' "
                      "WHERE ngo_id = ? AND incident_id = ?", [target["ngo_id"], target["incident_id"]])
    run = extract_store(store)
    findings = store.findings().filter(pl.col("rule") == RULE)
    assert run.findings == findings.height == 1
    row = findings.row(0, named=True)
    assert (row["submission_id"], row["row"], row["field"], row["severity"]) == (
        target["submission_id"], target["source_row"], "narrative", "warning")
    assert "Latakia" in row["message"] and "SY06" in row["message"] and "SY02" in row["message"]
    extract_store(store)  # re-running replaces the finding
    assert store.findings().filter(pl.col("rule") == RULE).height == 1
    # naming a place of its own governorate as well makes the narrative consistent
    store.con.execute("UPDATE incidents SET narrative = 'Taken from Aleppo to Latakia.' WHERE ngo_id = ? AND incident_id = ?",
                      [target["ngo_id"], target["incident_id"]])
    assert extract_store(store).findings == 0


def test_extract_store_refuses_a_read_only_store_and_an_unknown_ngo(synth_store, store):
    with pytest.raises(StoreError, match="read-only"):
        extract_store(synth_store)
    with pytest.raises(ConfigError, match="no NGO 'NOBODY'"):
        extract_store(store, ngo_id="NOBODY")
    empty = extract_store(store)
    assert (empty.texts, empty.mentions, empty.findings) == (0, 0, 0)


# --- names near roles --------------------------------------------------------------------------

def test_names_next_to_a_role_are_found_in_english_and_arabic(english, arabic):
    assert [s.text for s in names_near_roles("The victim Ahmad al-Hassan was taken to Aleppo.", "en")] == ["Ahmad al-Hassan"]
    assert [s.text for s in names_near_roles("قتل الشهيد محمد الأحمد في حلب", "ar")] == ["محمد الأحمد"]
    assert [s.text for s in names_near_roles(english("His son, Omar Khaled, and Mr. Samir Nasser fled."), "en")] == [
        "Omar Khaled", "Samir Nasser"]
    assert [s.label_ for s in names_near_roles("وقال الشاهد إن شقيقه خالد العمر قتل", "ar")] == ["PERSON"]


def test_roles_without_a_name_find_nothing():
    assert names_near_roles("The victim was taken to Aleppo by the Syrian Arab Army in March.", "en") == []
    assert names_near_roles("the witness ahmad said nothing", "en") == []
    assert names_near_roles("قال الشاهد إن قوات النظام قصفت حلب", "ar") == []
    assert names_near_roles("الطفل البالغ من العمر ١٢ عاماً", "ar") == []
