"""The disclosure decision point, tested with generated terms, records and authorities.

The generators know the truth: authorities are drawn from distinct base codes (including near
misses such as DE-GBAX next to DE-GBA) and then written with other case, spacing and a
parenthesised description, so each test can say which decision the NGO made without asking the
module. ``decision_sql`` is run in DuckDB over the same records and must give ``decide``'s reasons.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from workbench.disclosure import (
    BASES_WITHOUT_CONSENT,
    KINDS,
    REASONS,
    Terms,
    authority_key,
    decide,
    decision_sql,
    terms_from_manifest,
)
from workbench.errors import ManifestError, WorkbenchError

TODAY = date(2025, 6, 1)
DECISIONS = ["allowed", "not_allowed", "ask_first"]
BASES = ["informed_consent", "public_source", "vital_interest", "legal_obligation", "other"]
FIXED_CODES = ["DE-GBA", "DE-GBAX", "FR-PNAT", "ICC-OTP", "SE-NOU", "NL-IMC", "UN-IIIM"]
codes = st.one_of(st.sampled_from(FIXED_CODES), st.from_regex(r"[A-Z]{2}-[A-Z]{2,5}", fullmatch=True))
SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def written(draw, code: str) -> str:
    """``code`` as someone might type it: other case, stray spaces, a description in parentheses."""
    text = draw(st.sampled_from([code, code.lower(), code.title(), code.swapcase()]))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([" ", "  ", "\t"])) + text[at:]
    suffix = draw(st.sampled_from(["", " (Federal Prosecutor, Germany)", "(war crimes unit)", " ( )"]))
    return text + suffix


@st.composite
def cases(draw):
    """(terms, truth: code -> decision, default, authority as written, its true code, agreed codes)."""
    listed = draw(st.lists(codes, unique=True, max_size=5))
    truth = {code: draw(st.sampled_from(DECISIONS)) for code in listed}
    default = draw(st.sampled_from(DECISIONS))
    manifest = {
        "source_confidential": draw(st.booleans()),
        "consent_basis": draw(st.sampled_from(BASES)),
        "authorities": [{"authority": draw(written(code)), "decision": truth[code]} for code in listed],
    }
    if default != "not_allowed" or draw(st.booleans()):  # an absent default must mean not_allowed
        manifest["default"] = default
    if draw(st.booleans()):
        manifest["embargo_until"] = (TODAY + timedelta(days=draw(st.integers(-30, 30)))).isoformat()
    asked = draw(st.one_of(st.sampled_from(listed) if listed else codes, codes))
    agreed = draw(st.lists(st.one_of(st.sampled_from([*listed, asked]), codes), max_size=3))
    withdrawn = draw(st.lists(st.one_of(st.sampled_from([*listed, asked]), codes), max_size=2))
    return terms_from_manifest(manifest), truth, default, draw(written(asked)), asked, agreed, withdrawn


def records(kind: str):
    has_confidential, has_consent = KINDS[kind]
    fields = {}
    if has_confidential:
        fields["confidential_source"] = st.sampled_from([True, False, None])
    if has_consent:
        fields["consent"] = st.sampled_from(["given", "withdrawn", "unknown", None, "Withdrawn", "yes"])  # and values that are not codes
    return st.fixed_dictionaries(fields)


kind_and_records = st.sampled_from(sorted(KINDS)).flatmap(lambda k: st.tuples(st.just(k), st.lists(records(k), min_size=1, max_size=12)))


@SETTINGS
@given(case=cases(), kind_rows=kind_and_records, days=st.integers(-40, 40))
def test_decide_keeps_every_promise(case, kind_rows, days):
    terms, truth, default, authority, code, agreed, withdrawn = case
    kind, rows = kind_rows
    on = TODAY + timedelta(days=days)
    decision_for_authority = truth.get(code, default)
    for row in rows:
        plain = decide(kind, row, terms, authority, on)
        agreed_decision = decide(kind, row, terms, authority, on, agreements=frozenset(agreed))
        after_withdrawal = decide(kind, row, terms, authority, on, agreements=frozenset(agreed), withdrawn=frozenset(withdrawn))
        # a withdrawal withholds whatever the manifest and any agreement said, and changes nothing else
        if code in withdrawn:
            assert not after_withdrawal.disclose
        if after_withdrawal.reason != agreed_decision.reason:
            assert code in withdrawn and after_withdrawal.reason == "agreement_withdrawn"
        for d in (plain, agreed_decision, after_withdrawal):
            assert d.disclose == (d.reason is None) and d.message
            if d.disclose:
                assert not terms.source_confidential and row.get("confidential_source") is not True
                assert decision_for_authority != "not_allowed"
                assert terms.embargo_until is None or terms.embargo_until <= on
                assert row.get("consent") in (None, "given", "unknown")  # never withdrawn, nor a value that is no code
                if KINDS[kind][1] and row.get("consent") != "given":
                    assert terms.consent_basis in BASES_WITHOUT_CONSENT
        # ask_first discloses only once the NGO agreed
        if decision_for_authority == "ask_first" and code not in agreed:
            assert not agreed_decision.disclose
        # an agreement changes nothing but a pending ask_first
        if agreed_decision.reason != plain.reason:
            assert plain.reason == "ask_first" and decision_for_authority == "ask_first" and code in agreed
        # and the decision is not simply "withhold": when every rule allows, the record goes
        if (
            not terms.source_confidential
            and not row.get("confidential_source")
            and (terms.embargo_until is None or terms.embargo_until <= on)
            and (decision_for_authority == "allowed" or (decision_for_authority == "ask_first" and code in agreed))
            and (not KINDS[kind][1] or row.get("consent") == "given")
        ):
            assert agreed_decision.disclose, agreed_decision


_CON = duckdb.connect()


@SETTINGS
@given(case=cases(), kind_rows=kind_and_records, days=st.integers(-40, 40), use_agreements=st.booleans())
def test_decision_sql_gives_the_reasons_decide_gives(case, kind_rows, days, use_agreements):
    terms, _, _, authority, _, agreed, withdrawn = case
    kind, rows = kind_rows
    on = TODAY + timedelta(days=days)
    agreements = frozenset(agreed) if use_agreements else frozenset()
    withdrawals = frozenset(withdrawn) if use_agreements else frozenset()
    _CON.execute(
        "CREATE OR REPLACE TEMP TABLE recs (n INTEGER, confidential_source BOOLEAN, consent VARCHAR)"
    )
    _CON.execute(
        "INSERT INTO recs VALUES " + ", ".join(["(?, ?, ?)"] * len(rows)),
        [v for n, row in enumerate(rows) for v in (n, row.get("confidential_source"), row.get("consent"))],
    )
    expression = decision_sql(kind, terms, authority, on, "r", agreements=agreements, withdrawn=withdrawals)
    got = [reason for (reason,) in _CON.execute(f"SELECT {expression} FROM recs AS r ORDER BY n").fetchall()]
    expected = [decide(kind, row, terms, authority, on, agreements=agreements, withdrawn=withdrawals).reason for row in rows]
    assert got == expected, expression


# --- authority matching ----------------------------------------------------------------------


def _terms(*authorities, default="not_allowed", **extra):
    return terms_from_manifest(
        {
            "source_confidential": False,
            "consent_basis": "informed_consent",
            "default": default,
            "authorities": [{"authority": a, "decision": d} for a, d in authorities],
            **extra,
        }
    )


@pytest.mark.parametrize(
    "asked", ["de-gba", "DE-GBA", " De - Gba ", "DE-GBA(Bundesanwaltschaft)", "de-gba (anything else)"]
)
def test_the_same_authority_however_written(asked):
    terms = _terms(("DE-GBA (Federal Prosecutor, Germany)", "allowed"))
    assert decide("actors", {}, terms, asked, TODAY).disclose


@pytest.mark.parametrize("asked", ["DE-GBAX", "DE-GB", "DE_GBA", "FR-PNAT", "GBA", "DE-GBA-X (Federal Prosecutor, Germany)"])
def test_a_near_miss_is_another_authority(asked):
    terms = _terms(("DE-GBA (Federal Prosecutor, Germany)", "allowed"))
    decision = decide("actors", {}, terms, asked, TODAY)
    assert (decision.disclose, decision.reason) == (False, "not_allowed")
    assert "not listed" in decision.message


def test_an_unlisted_authority_gets_the_default():
    terms = _terms(("DE-GBA", "not_allowed"), default="allowed")
    assert decide("actors", {}, terms, "ICC-OTP", TODAY).disclose
    assert decide("actors", {}, terms, "de-gba", TODAY).reason == "not_allowed"
    assert _terms().default == "not_allowed"


def test_an_authority_without_a_code_is_refused():
    with pytest.raises(WorkbenchError, match="no code before"):
        authority_key("(Federal Prosecutor, Germany)")
    assert authority_key("DE-GBA (x)") == authority_key("de-gba") == "de-gba"


def test_agreements_never_lift_not_allowed_confidentiality_embargo_or_consent():
    everyone = frozenset({"de-gba"})
    assert decide("actors", {}, _terms(("DE-GBA", "not_allowed")), "DE-GBA", TODAY, agreements=everyone).reason == "not_allowed"
    asked = _terms(("DE-GBA", "ask_first"), embargo_until="2030-01-01")
    assert decide("actors", {}, asked, "DE-GBA", TODAY, agreements=everyone).reason == "embargo"
    asked = _terms(("DE-GBA", "ask_first"))
    assert decide("actors", {}, asked, "DE-GBA", TODAY).reason == "ask_first"
    assert decide("actors", {}, asked, "DE-GBA", TODAY, agreements=frozenset({"DE-GBA (GBA)"})).disclose
    assert decide("persons", {"consent": "withdrawn"}, asked, "DE-GBA", TODAY, agreements=everyone).reason == "consent_withdrawn"
    assert decide("incidents", {"confidential_source": True}, asked, "DE-GBA", TODAY, agreements=everyone).reason == "confidential_source"


def test_embargo_ends_on_its_date():
    terms = _terms(("ICC", "allowed"), embargo_until="2025-06-01")
    assert decide("actors", {}, terms, "ICC", date(2025, 5, 31)).reason == "embargo"
    assert "2025-06-01" in decide("actors", {}, terms, "ICC", date(2025, 5, 31)).message
    assert decide("actors", {}, terms, "ICC", date(2025, 6, 1)).disclose


def test_unknown_consent_depends_on_the_basis():
    for basis in BASES:
        terms = terms_from_manifest({"source_confidential": False, "consent_basis": basis, "default": "allowed", "authorities": []})
        assert decide("persons", {"consent": "unknown"}, terms, "ICC", TODAY).disclose == (basis in BASES_WITHOUT_CONSENT)
        assert decide("incident_persons", {"consent": "Withdrawn"}, terms, "ICC", TODAY).reason == "consent_unknown"
        assert decide("persons", {"consent": "given"}, terms, "ICC", TODAY).disclose


def test_a_confidential_flag_is_honoured_on_any_kind():
    terms = _terms(default="allowed")
    assert decide("actors", {"confidential_source": True}, terms, "ICC", TODAY).reason == "confidential_source"
    assert decide("incidents", {"confidential_source": None}, terms, "ICC", TODAY).disclose


def test_unknown_kind_is_an_error():
    with pytest.raises(WorkbenchError, match="record kind 'victims'"):
        decide("victims", {}, _terms(), "ICC", TODAY)
    with pytest.raises(WorkbenchError, match="record kind 'victims'"):
        decision_sql("victims", _terms(), "ICC", TODAY, "v")


def test_every_reason_has_a_meaning():
    assert set(REASONS) == {
        "source_confidential", "confidential_source", "embargo", "not_allowed", "ask_first",
        "consent_withdrawn", "consent_unknown", "agreement_withdrawn", "no_terms", "linked_record_withheld",
    }


def test_sql_quotes_the_alias():
    terms = _terms(default="allowed")
    expression = decision_sql("incidents", terms, "ICC", TODAY, 'odd "alias"')
    assert '"odd ""alias"""."confidential_source"' in expression


# --- terms validation ------------------------------------------------------------------------

GOOD = {"source_confidential": False, "consent_basis": "informed_consent", "authorities": []}


@pytest.mark.parametrize(
    "change, key",
    [
        ({"source_confidential": "no"}, "disclosure.source_confidential"),
        ({"source_confidential": None}, "disclosure.source_confidential"),
        ({"consent_basis": "because"}, "disclosure.consent_basis"),
        ({"consent_basis": None}, "disclosure.consent_basis"),
        ({"default": "maybe"}, "disclosure.default"),
        ({"embargo_until": "2025-13-01"}, "disclosure.embargo_until"),
        ({"embargo_until": "soon"}, "disclosure.embargo_until"),
        ({"authorities": "DE-GBA"}, "disclosure.authorities"),
        ({"authorities": [{"decision": "allowed"}]}, r"disclosure.authorities\[0\].authority"),
        ({"authorities": [{"authority": "  ", "decision": "allowed"}]}, r"disclosure.authorities\[0\].authority"),
        ({"authorities": [{"authority": "(Germany)", "decision": "allowed"}]}, r"disclosure.authorities\[0\].authority"),
        ({"authorities": [{"authority": "ICC", "decision": "perhaps"}]}, r"disclosure.authorities\[0\].decision"),
        (
            {"authorities": [{"authority": "DE-GBA", "decision": "allowed"}, {"authority": " de - GBA (GBA)", "decision": "ask_first"}]},
            r"disclosure.authorities\[1\].authority",
        ),
    ],
)
def test_bad_terms_name_the_key(change, key):
    with pytest.raises(ManifestError, match=key):
        terms_from_manifest({**GOOD, **change})


def test_missing_keys_are_errors():
    for key in GOOD:
        with pytest.raises(ManifestError, match=f"disclosure.{key}"):
            terms_from_manifest({k: v for k, v in GOOD.items() if k != key})


def test_terms_read_vocabulary_spellings_and_dates():
    terms = terms_from_manifest(
        {
            "source_confidential": True,
            "consent_basis": "OSINT",
            "default": "Ask first",
            "embargo_until": date(2026, 1, 2),
            "authorities": [
                {"authority": "DE-GBA (Federal Prosecutor)", "decision": "permitted", "note": "case 12"},
                {"authority": "de-gba", "decision": "allowed"},  # same authority, same decision: kept once
            ],
        }
    )
    assert isinstance(terms, Terms)
    assert (terms.consent_basis, terms.default, terms.embargo_until) == ("public_source", "ask_first", date(2026, 1, 2))
    assert [(a.key, a.decision, a.note) for a in terms.authorities] == [("de-gba", "allowed", "case 12")]
    assert decide("actors", {}, terms, "DE-GBA", date(2027, 1, 1)).reason == "source_confidential"
    with pytest.raises(Exception):
        terms.default = "allowed"  # frozen


def test_the_examples_in_the_docstrings_run():
    import doctest

    import workbench.disclosure

    result = doctest.testmod(workbench.disclosure)
    assert result.attempted > 0 and result.failed == 0
