"""The contracts themselves: the shipped set is valid, the meta-schema accepts and refuses the examples."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench.contracts import load_contracts, text_key
from workbench.errors import ContractError

EXAMPLES = Path(__file__).resolve().parents[1] / "data_contracts" / "meta" / "examples"


def test_shipped_contracts_load(contracts):
    assert list(contracts.contracts) == ["incidents", "persons", "actors", "incident_persons", "incident_actors", "sources"]
    assert contracts.version in contracts.accepted_versions
    for contract in contracts:
        assert contract.version.count(".") == 2
        assert contract.primary_key


@pytest.mark.parametrize("path", sorted((EXAMPLES / "valid").glob("*.yaml")), ids=lambda p: p.stem)
def test_valid_examples_pass(contracts, path):
    assert contracts.check_contract(path) == []


@pytest.mark.parametrize("path", sorted((EXAMPLES / "invalid").glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_examples_fail_with_their_reason(contracts, path):
    expected = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect:").strip()
    problems = contracts.check_contract(path)
    assert problems, f"{path.name} should be refused"
    assert any(expected in p for p in problems), problems


def test_every_shipped_contract_satisfies_the_meta_schema(contracts):
    for contract in contracts:
        assert contracts.check_contract(contracts.path / "records" / f"{contract.name}.yaml") == []


def test_problems_are_collected_not_stopped_at_first(tmp_path, contracts):
    copy = tmp_path / "contracts"
    shutil.copytree(contracts.path, copy)
    incidents = copy / "records" / "incidents.yaml"
    text = incidents.read_text(encoding="utf-8")
    text = text.replace("vocabulary: violation_types", "vocabulary: no_such_vocabulary")
    text = text.replace('version: "1.0.0"', "version: one")
    incidents.write_text(text, encoding="utf-8")
    (copy / "vocabularies" / "sex.yaml").write_text("name: sex\n", encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        load_contracts(copy)
    assert len(caught.value.problems) >= 2
    assert any("incidents.yaml" in p and "version" in p for p in caught.value.problems)
    assert any("sex.yaml" in p for p in caught.value.problems)


def test_adding_a_field_needs_no_code(tmp_path, contracts):
    copy = tmp_path / "contracts"
    shutil.copytree(contracts.path, copy)
    incidents = copy / "records" / "incidents.yaml"
    incidents.write_text(
        incidents.read_text(encoding="utf-8")
        + "  - {name: shelter_type, type: string, title: Shelter type, description: Where people sheltered., aliases: [shelter, الملجأ]}\n",
        encoding="utf-8",
    )
    reloaded = load_contracts(copy)
    assert reloaded.contract("incidents").field_for_header("الملجأ") == "shelter_type"


def test_not_a_contracts_folder(tmp_path):
    with pytest.raises(ContractError, match="no contracts.yaml"):
        load_contracts(tmp_path)


def test_headers_match_through_aliases_in_both_scripts(contracts):
    incidents = contracts.contract("incidents")
    assert incidents.field_for_header("Date of Incident") == "date_start"
    assert incidents.field_for_header("  تاريخ الحادثه ") == "date_start"
    assert incidents.field_for_header("نوع الانتهاك") == "violation_types"
    assert incidents.field_for_header("colour of the sky") is None


def test_vocabulary_lookup_is_forgiving_but_exact(contracts):
    violations = contracts.vocabulary("violation_types")
    assert violations.code_for("TORTURE") == "torture_ill_treatment"
    assert violations.code_for("barrel_bombs") == "barrel_bombs"
    assert violations.code_for("weather") is None
    assert text_key("Ta'\u0640\u0630\u064eيب") == text_key("Ta'ذيب")


def test_manifest_contract(contracts):
    from tests.conftest import base_manifest

    assert contracts.check_manifest(base_manifest()) == []
    problems = contracts.check_manifest(base_manifest(contract_version="9.9"))
    assert any("contract_version" in p and "9.9" in p for p in problems)
    bad = base_manifest()
    bad["disclosure"] = {**bad["disclosure"], "authorities": [{"authority": "X", "decision": "perhaps"}]}
    problems = contracts.check_manifest(bad)
    assert any("disclosure.authorities[0].decision" in p and "disclosure_decisions" in p for p in problems)
    missing = base_manifest()
    del missing["ngo"]
    assert any("'ngo' is a required property" in p for p in contracts.check_manifest(missing))
