"""The controlled vocabularies in data_contracts/vocabularies/ are data the loader trusts.

Every file must satisfy the meta-schema, and the loader maps an NGO's free text to a code through
the code, labels and synonyms of a term, compared after ``text_key`` normalisation (case, spacing,
separators, Arabic letter variants). Two terms sharing a spelling would make that mapping depend on
term order, so each spelling may belong to one term only. The checks are generic over the files.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from workbench.contracts import text_key

CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "data_contracts"
VOCABULARY_DIR = CONTRACTS_DIR / "vocabularies"
META_SCHEMA_PATH = CONTRACTS_DIR / "meta" / "vocabulary.schema.yaml"
VOCABULARY_PATHS = sorted(VOCABULARY_DIR.glob("*.yaml"))

REQUIRED_VIOLATION_CODES = frozenset(
    {
        "unlawful_killing",
        "torture_ill_treatment",
        "enforced_disappearance",
        "arbitrary_detention",
        "sexual_gender_based_violence",
        "attack_medical",
        "attack_education",
        "chemical_weapons",
        "indiscriminate_attack",
        "barrel_bombs",
        "cluster_munitions",
        "siege_starvation",
        "forced_displacement",
        "pillage_destruction",
        "child_recruitment",
        "persecution",
    }
)

_ARABIC_LETTER = re.compile("[\u0621-\u064a\u066e-\u06d3\u06fa-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufefc]")
# Arabic letters plus Arabic-Indic digits: a synonym such as "١" (yes) is written in Arabic script.
_ARABIC_SCRIPT = re.compile("[\u0621-\u064a\u0660-\u0669\u066e-\u06d3\u06f0-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufefc]")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")


@cache
def _meta_schema() -> dict[str, Any]:
    return yaml.safe_load(META_SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _spellings(term: dict[str, Any]) -> list[str]:
    """Every text the loader accepts for a term: its code, labels and synonyms."""
    words = [term["code"], *term["label"].values()]
    for synonyms in term.get("synonyms", {}).values():
        words.extend(synonyms)
    return words


def _shared_spellings(vocabulary: dict[str, Any]) -> dict[str, list[str]]:
    """Matching key -> codes, for every key that more than one term would claim."""
    claims: dict[str, set[str]] = defaultdict(set)
    for term in vocabulary["terms"]:
        for word in _spellings(term):
            claims[text_key(word)].add(term["code"])
    return {key: sorted(codes) for key, codes in claims.items() if len(codes) > 1}


def _broader_cycles(vocabulary: dict[str, Any]) -> list[str]:
    """Codes whose chain of broader terms loops back on itself."""
    parent = {t["code"]: t.get("broader") for t in vocabulary["terms"]}
    looping = []
    for code in parent:
        seen = {code}
        current = parent[code]
        while current in parent:
            if current in seen:
                looping.append(code)
                break
            seen.add(current)
            current = parent[current]
    return looping


by_file = pytest.mark.parametrize("path", VOCABULARY_PATHS, ids=[p.stem for p in VOCABULARY_PATHS])


def test_meta_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(_meta_schema())


def test_vocabulary_folder_is_not_empty() -> None:
    assert VOCABULARY_PATHS, f"no vocabularies found in {VOCABULARY_DIR}"


@by_file
def test_satisfies_meta_schema(path: Path) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in Draft202012Validator(_meta_schema()).iter_errors(_load(path))
    ]
    assert not errors, f"{path.name} breaks the meta-schema:\n" + "\n".join(errors)


@by_file
def test_name_equals_file_stem(path: Path) -> None:
    assert _load(path)["name"] == path.stem


@by_file
def test_says_what_it_is_and_what_it_follows(path: Path) -> None:
    vocabulary = _load(path)
    assert vocabulary.get("description", "").strip(), f"{path.name} has no description"
    assert vocabulary.get("source", "").strip(), f"{path.name} has no source"


@by_file
def test_codes_are_unique(path: Path) -> None:
    codes = [t["code"] for t in _load(path)["terms"]]
    assert len(codes) == len(set(codes)), sorted({c for c in codes if codes.count(c) > 1})


@by_file
def test_broader_refers_to_another_existing_term_without_cycles(path: Path) -> None:
    vocabulary = _load(path)
    codes = {t["code"] for t in vocabulary["terms"]}
    dangling = {t["code"]: t["broader"] for t in vocabulary["terms"] if t.get("broader", t["code"]) not in codes}
    assert not dangling, f"{path.name}: broader names no term: {dangling}"
    assert not _broader_cycles(vocabulary), f"{path.name}: broader loops: {_broader_cycles(vocabulary)}"


@by_file
def test_no_spelling_maps_to_two_terms(path: Path) -> None:
    shared = _shared_spellings(_load(path))
    assert not shared, f"{path.name}: spellings claimed by several terms: {shared}"


@by_file
def test_arabic_is_in_arabic_script_and_english_is_not(path: Path) -> None:
    problems = []
    for term in _load(path)["terms"]:
        label, synonyms = term["label"], term.get("synonyms", {})
        if not _ARABIC_LETTER.search(label["ar"]) or _LATIN_LETTER.search(label["ar"]):
            problems.append(f"{term['code']}: Arabic label {label['ar']!r}")
        problems += [
            f"{term['code']}: Arabic synonym {w!r}"
            for w in synonyms.get("ar", [])
            if not _ARABIC_SCRIPT.search(w) or _LATIN_LETTER.search(w)
        ]
        english = [label["en"], *synonyms.get("en", [])]
        problems += [f"{term['code']}: English text {w!r}" for w in english if _ARABIC_SCRIPT.search(w)]
    assert not problems, f"{path.name}: text in the wrong script: {problems}"


@by_file
def test_ranks_are_all_or_nothing_and_distinct(path: Path) -> None:
    ranks = [t.get("rank") for t in _load(path)["terms"]]
    if all(r is None for r in ranks):
        return
    assert None not in ranks, f"{path.name}: some terms have a rank and others do not"
    assert len(set(ranks)) == len(ranks), f"{path.name}: ranks repeat: {ranks}"


def test_violation_types_cover_the_required_codes() -> None:
    codes = {t["code"] for t in _load(VOCABULARY_DIR / "violation_types.yaml")["terms"]}
    assert REQUIRED_VIOLATION_CODES <= codes, sorted(REQUIRED_VIOLATION_CODES - codes)


def test_weapon_sub_types_roll_up_to_indiscriminate_attack() -> None:
    broader = {t["code"]: t.get("broader") for t in _load(VOCABULARY_DIR / "violation_types.yaml")["terms"]}
    for code in ("barrel_bombs", "cluster_munitions", "incendiary_weapons"):
        assert broader[code] == "indiscriminate_attack", code


# --- the checks themselves catch what they are meant to catch -------------------------------------


def _vocabulary(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"name": "probe", "version": "1.0.0", "title": {"en": "Probe", "ar": "اختبار"}, "terms": list(terms)}


def test_shared_spelling_is_found_across_case_spacing_and_arabic_variants() -> None:
    probe = _vocabulary(
        {"code": "a", "label": {"en": "Detention", "ar": "الإخفاء القسري"}},
        {"code": "b", "label": {"en": "B", "ar": "ب"}, "synonyms": {"en": ["  DETENTION "], "ar": ["الاخفاء  القسري"]}},
    )
    assert _shared_spellings(probe) == {"detention": ["a", "b"], text_key("الإخفاء القسري"): ["a", "b"]}


def test_broader_cycle_is_found() -> None:
    probe = _vocabulary(
        {"code": "a", "label": {"en": "A", "ar": "أ"}, "broader": "b"},
        {"code": "b", "label": {"en": "B", "ar": "ب"}, "broader": "a"},
        {"code": "c", "label": {"en": "C", "ar": "ج"}, "broader": "a"},
        {"code": "d", "label": {"en": "D", "ar": "د"}},
    )
    assert _broader_cycles(probe) == ["a", "b", "c"]


def test_meta_schema_rejects_a_malformed_term() -> None:
    probe = _vocabulary({"code": "Bad Code", "label": {"en": "Missing Arabic"}, "synonyms": {"en": [True]}})
    messages = [e.message for e in Draft202012Validator(_meta_schema()).iter_errors(probe)]
    assert any("'ar' is a required property" in m for m in messages), messages
    assert any("does not match" in m for m in messages), messages
    assert any("is not of type 'string'" in m for m in messages), messages
