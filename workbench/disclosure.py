"""The one decision point: may this record go to this authority, and if not, why not.

Every export path asks :func:`decide` (one record, in Python) or :func:`decision_sql` (a whole
table, in DuckDB). Both apply the same rules in the same order; the first rule that withholds
gives the reason. Nothing is disclosed unless every rule allows it:

1. ``source_confidential``: the submission is under source confidentiality.
2. ``confidential_source``: the record itself is covered by a confidentiality agreement.
3. ``embargo``: the submission's embargo date is after the day of the decision.
4. ``not_allowed``: the NGO did not allow this authority (or did not list it and the default is
   ``not_allowed``).
5. ``ask_first``: the NGO asked to be consulted and has not agreed yet. An agreement recorded
   later (``agreements``) lifts this rule only, never rules 1-4 or 6-7.
   ``agreement_withdrawn``: the NGO withdrew, after the submission, its agreement for this
   authority (``withdrawn``); this withholds whatever the manifest said, and wins over an agreement.
6. ``consent_withdrawn``: a person (or a person's link to an incident) whose consent was
   withdrawn or refused; always withheld.
7. ``consent_unknown``: a person whose consent is not recorded as given; withheld (unknown
   consent is treated as not given, as the contracts say; see :data:`BASES_WITHOUT_CONSENT`).

>>> terms = terms_from_manifest({"source_confidential": False, "consent_basis": "informed_consent",
...     "authorities": [{"authority": "DE-GBA (Federal Prosecutor, Germany)", "decision": "allowed"}]})
>>> decide("incidents", {"confidential_source": False}, terms, "de-gba", date(2025, 1, 1)).disclose
True
>>> decide("incidents", {}, terms, "FR-PNAT", date(2025, 1, 1)).reason
'not_allowed'
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cache, cached_property
from typing import Any

import polars as pl

from workbench.audit import withdrawal_flags
from workbench.contracts import ContractSet, load_contracts
from workbench.errors import ManifestError, WorkbenchError
from workbench.sql import quote_ident, sql_literal
from workbench.store import CustodyEntry, Store

ALLOWED, NOT_ALLOWED, ASK_FIRST = "allowed", "not_allowed", "ask_first"

#: Consent bases under which a person whose consent is *unknown* could still be disclosed. Empty:
#: the contracts say unknown consent is treated as not given, whatever the submission's basis
#: (persons.yaml ``consent``, consent_status.yaml, consent_basis.yaml). A public source or a legal
#: obligation may make a transfer lawful without consent, but the protective reading is the one the
#: NGOs were promised; widening it is a decision for the Mechanism and the NGOs, recorded here.
BASES_WITHOUT_CONSENT: frozenset[str] = frozenset()

#: Record kind -> (has a ``confidential_source`` column, carries a person's ``consent``).
#: ``incident_persons`` rows carry the consent of their person (exports join it in).
KINDS: dict[str, tuple[bool, bool]] = {
    "incidents": (True, False),
    "sources": (True, False),
    "persons": (False, True),
    "incident_persons": (False, True),
    "actors": (False, False),
    "incident_actors": (False, False),
}

#: Reason code -> what it means, for withheld summaries (never the record's content).
REASONS: dict[str, str] = {
    "source_confidential": "the submission is under source confidentiality; nothing from it is disclosed",
    "confidential_source": "a confidentiality agreement with the source covers this record",
    "embargo": "the submission is embargoed",
    NOT_ALLOWED: "the NGO did not allow disclosure to this authority",
    ASK_FIRST: "pending the NGO's agreement to disclose to this authority",
    "agreement_withdrawn": "the NGO withdrew its agreement to disclose to this authority",
    "no_terms": "no disclosure terms are recorded for the submission",
    "linked_record_withheld": "the incident or person it belongs to is withheld",
    "consent_withdrawn": "the person withdrew or refused consent",
    "consent_unknown": "the person's consent is not recorded as given",
}


def authority_key(name: str) -> str:
    """The key that identifies an authority: its code before any parenthesis, without case or spaces.

    Text in parentheses (and anything after the first "(") describes the authority and is ignored;
    every other character counts, so "DE-GBAX" is not "DE-GBA". An empty key raises.

    >>> authority_key("DE-GBA (Federal Prosecutor, Germany)") == authority_key(" de - gba ")
    True
    >>> authority_key("DE-GBAX") == authority_key("DE-GBA")
    False
    """
    code = unicodedata.normalize("NFKC", str(name)).split("(", 1)[0]
    key = "".join(code.casefold().split())
    if not key:
        raise WorkbenchError(f"authority {name!r} has no code before its parenthesis; cannot tell which authority it is")
    return key


@dataclass(frozen=True)
class AuthorityTerm:
    """What the NGO decided for one authority, as written in the manifest."""

    name: str
    key: str
    decision: str
    note: str | None = None


@dataclass(frozen=True)
class Terms:
    """A submission's disclosure terms, checked and normalised (see :func:`terms_from_manifest`)."""

    source_confidential: bool
    consent_basis: str
    default: str = NOT_ALLOWED
    embargo_until: date | None = None
    authorities: tuple[AuthorityTerm, ...] = ()

    @cached_property
    def _by_key(self) -> dict[str, AuthorityTerm]:
        return {a.key: a for a in self.authorities}

    def is_listed(self, authority: str) -> bool:
        return authority_key(authority) in self._by_key

    def decision_for(self, authority: str) -> str:
        """The NGO's decision for ``authority``; the default when it is not listed."""
        listed = self._by_key.get(authority_key(authority))
        return listed.decision if listed else self.default


@dataclass(frozen=True)
class Decision:
    """Disclose or withhold, with a reason code (None when disclosed) and a sentence saying why."""

    disclose: bool
    reason: str | None
    message: str


@cache
def _default_contracts() -> ContractSet:
    return load_contracts()


def _code(value: Any, vocabulary: str, key: str, contracts: ContractSet) -> str:
    code = contracts.vocabulary(vocabulary).code_for(value) if isinstance(value, str) else None
    if code is None:
        raise ManifestError(f"manifest: {key}: {value!r} is not in the {vocabulary} vocabulary")
    return code


def _embargo(value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ManifestError(f"manifest: disclosure.embargo_until: {value!r} is not a date (YYYY-MM-DD)") from None


def terms_from_manifest(disclosure: Mapping[str, Any], *, contracts: ContractSet | None = None) -> Terms:
    """Check the manifest's ``disclosure`` object and return its :class:`Terms`.

    Decisions and the consent basis may be written as any spelling their vocabulary knows; they
    are stored as codes. A bad or missing value raises :class:`ManifestError` naming the key; so
    does an authority listed twice (after :func:`authority_key`) with different decisions.
    """
    contracts = contracts or _default_contracts()
    if not isinstance(disclosure, Mapping):
        raise ManifestError("manifest: disclosure: must be an object")
    confidential = disclosure.get("source_confidential")
    if not isinstance(confidential, bool):
        raise ManifestError(f"manifest: disclosure.source_confidential: {confidential!r} must be true or false")
    basis = _code(disclosure.get("consent_basis"), "consent_basis", "disclosure.consent_basis", contracts)
    default = _code(disclosure.get("default", NOT_ALLOWED), "disclosure_decisions", "disclosure.default", contracts)
    listed = disclosure.get("authorities")
    if not isinstance(listed, list):
        raise ManifestError("manifest: disclosure.authorities: must be a list of {authority, decision}")
    authorities: dict[str, AuthorityTerm] = {}
    for i, entry in enumerate(listed):
        where = f"disclosure.authorities[{i}]"
        name = entry.get("authority") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            raise ManifestError(f"manifest: {where}.authority: must name an authority")
        try:
            key = authority_key(name)
        except WorkbenchError as exc:
            raise ManifestError(f"manifest: {where}.authority: {exc}") from None
        decision = _code(entry.get("decision"), "disclosure_decisions", f"{where}.decision", contracts)
        earlier = authorities.get(key)
        if earlier and earlier.decision != decision:
            raise ManifestError(
                f"manifest: {where}.authority: {name!r} is the same authority as {earlier.name!r} "
                f"but with a different decision ({decision} vs {earlier.decision})"
            )
        authorities.setdefault(key, AuthorityTerm(name, key, decision, entry.get("note")))
    for code in (default, *(a.decision for a in authorities.values())):
        if code not in (ALLOWED, NOT_ALLOWED, ASK_FIRST):  # the vocabulary gained a code this module does not know
            raise ManifestError(f"manifest: disclosure: decision {code!r} is not one the workbench can apply")
    return Terms(confidential, basis, default, _embargo(disclosure.get("embargo_until")), tuple(authorities.values()))


def _kind(kind: str) -> tuple[bool, bool]:
    try:
        return KINDS[kind]
    except KeyError:
        raise WorkbenchError(f"no disclosure rules for record kind {kind!r}; known: {', '.join(KINDS)}") from None


def _consent_reason(consent: Any, basis: str) -> str | None:
    if consent == "given":
        return None
    if consent == "withdrawn":
        return "consent_withdrawn"
    if consent in (None, "unknown") and basis in BASES_WITHOUT_CONSENT:
        return None
    return "consent_unknown"  # unknown, missing or a value that is not a consent_status code


def _terms_reason(terms: Terms, authority: str, on: date, agreements: frozenset[str], withdrawn: frozenset[str]) -> str | None:
    """The reason rules 3-5 give, which depend on the terms alone (rules 1-2 are checked first)."""
    if terms.embargo_until is not None and terms.embargo_until > on:
        return "embargo"
    if authority_key(authority) in withdrawn:
        return "agreement_withdrawn"
    decision = terms.decision_for(authority)
    if decision == NOT_ALLOWED:
        return NOT_ALLOWED
    if decision == ASK_FIRST and authority_key(authority) not in agreements:
        return ASK_FIRST
    return None


def _message(reason: str | None, terms: Terms, authority: str) -> str:
    if reason is None:
        return f"disclosed to {authority} under the submission's disclosure terms"
    text = REASONS[reason].replace("this authority", authority)
    if reason == "embargo":
        text += f" until {terms.embargo_until.isoformat()}"
    if reason in (NOT_ALLOWED, ASK_FIRST) and not terms.is_listed(authority):
        text += f" (not listed; {terms.default} is the default)"
    return text


def _keys(authorities: frozenset[str]) -> frozenset[str]:
    return frozenset(authority_key(a) for a in authorities)


def _day(on: date) -> date:
    return on.date() if isinstance(on, datetime) else on


def decide(
    kind: str,
    record: Mapping[str, Any],
    terms: Terms,
    authority: str,
    on: date,
    *,
    agreements: frozenset[str] = frozenset(),
    withdrawn: frozenset[str] = frozenset(),
) -> Decision:
    """Whether ``record`` (of ``kind``) may go to ``authority`` on day ``on``, and why.

    ``agreements`` holds authorities the NGO agreed to since it said ``ask_first``; ``withdrawn``
    those it withdrew its agreement for (both as names or :func:`authority_key` values). A ``confidential_source`` key is honoured for every kind, even kinds whose
    table has no such column (:func:`decision_sql` reads it only where :data:`KINDS` says so).
    """
    _, has_consent = _kind(kind)
    agreements, withdrawn = _keys(agreements), _keys(withdrawn)
    on = _day(on)
    reason: str | None = None
    if terms.source_confidential:
        reason = "source_confidential"
    elif record.get("confidential_source") not in (None, False):  # anything but a clear "no" withholds
        reason = "confidential_source"
    else:
        reason = _terms_reason(terms, authority, on, agreements, withdrawn)
    if reason is None and has_consent:
        reason = _consent_reason(record.get("consent"), terms.consent_basis)
    return Decision(reason is None, reason, _message(reason, terms, authority))


def decision_sql(
    kind: str,
    terms: Terms,
    authority: str,
    on: date,
    alias: str,
    *,
    agreements: frozenset[str] = frozenset(),
    withdrawn: frozenset[str] = frozenset(),
) -> str:
    """The rules of :func:`decide` as a SQL expression over the rows of table ``alias``.

    It gives the reason code of each row, NULL when the row is disclosed. The terms' own rules are
    worked out here; only ``confidential_source`` and ``consent`` are read from the row (the
    ``incident_persons`` alias must expose its person's ``consent``).

    >>> terms = Terms(False, "informed_consent", default="allowed")
    >>> decision_sql("actors", terms, "ICC", date(2025, 1, 1), "a")
    'CAST(NULL AS VARCHAR)'
    """
    has_confidential, has_consent = _kind(kind)
    agreements, withdrawn = _keys(agreements), _keys(withdrawn)

    def column(name: str) -> str:
        return f"{quote_ident(alias)}.{quote_ident(name)}"

    steps: list[tuple[str, str]] = []  # (condition, reason), first match wins
    if terms.source_confidential:
        steps.append(("TRUE", "source_confidential"))
    if has_confidential:
        # NULL (not stated) passes, as in decide()
        steps.append((f"coalesce({column('confidential_source')}, FALSE)", "confidential_source"))
    terms_reason = _terms_reason(terms, authority, _day(on), agreements, withdrawn)
    if terms_reason:
        steps.append(("TRUE", terms_reason))
    if has_consent:
        consent = column("consent")
        steps.append((f"{consent} = 'withdrawn'", "consent_withdrawn"))
        if terms.consent_basis in BASES_WITHOUT_CONSENT:
            steps.append((f"{consent} NOT IN ('given', 'unknown')", "consent_unknown"))
        else:
            steps.append((f"{consent} IS DISTINCT FROM 'given'", "consent_unknown"))
    if steps and steps[0][0] == "TRUE":
        return sql_literal(steps[0][1])
    cut = next((i for i, (condition, _) in enumerate(steps) if condition == "TRUE"), None)
    if cut is not None:  # nothing after an unconditional step can match
        steps = steps[: cut + 1]
    whens = " ".join(f"WHEN {condition} THEN {sql_literal(reason)}" for condition, reason in steps)
    return f"CASE {whens} END" if whens else "CAST(NULL AS VARCHAR)"


# -- terms held in the store ------------------------------------------------------------------

#: What an NGO can say about an authority after its submission.
UPDATES = ("agreed", "withdrawn")


@dataclass(frozen=True)
class UpdateRecorded:
    """A recorded agreement or withdrawal, and the earlier exports a withdrawal is flagged against."""

    seq: int
    custody: CustodyEntry
    flagged_exports: pl.DataFrame


def submission_terms(store: Store) -> dict[int, Terms]:
    """The terms of every current submission, read from its manifest.

    A submission whose stored manifest has no readable terms is left out, and every export then
    withholds its records with the reason ``no_terms``.
    """
    terms: dict[int, Terms] = {}
    for submission_id, manifest in store.con.execute(
            "SELECT submission_id, manifest FROM submissions WHERE superseded_by IS NULL ORDER BY submission_id").fetchall():
        try:
            terms[submission_id] = terms_from_manifest(json.loads(manifest).get("disclosure"), contracts=store.contracts)
        except (ManifestError, ValueError, AttributeError):
            continue
    return terms


def record_update(
    store: Store,
    ngo_id: str,
    authority: str,
    decision: str,
    *,
    submission_id: int | None = None,
    reference: str | None = None,
    note: str | None = None,
) -> UpdateRecorded:
    """Record that an NGO agreed to, or withdrew its agreement for, disclosure to ``authority``.

    It applies to all the NGO's submissions, or to one (``submission_id``). The update goes into
    ``disclosure_updates`` and the custody log (who recorded it, when, the NGO's reference).
    Earlier exports are not changed; a withdrawal is flagged against every earlier export to that
    authority that carried the NGO's records, and the flagged exports are returned.
    """
    if decision not in UPDATES:
        raise WorkbenchError(f"decision {decision!r}: an NGO can only have {' or '.join(UPDATES)}")
    key = authority_key(authority)
    if not store.con.execute("SELECT count(*) FROM ngos WHERE ngo_id = ?", [ngo_id]).fetchone()[0]:
        raise WorkbenchError(f"no NGO {ngo_id!r} in the store")
    if submission_id is not None and not store.con.execute(
            "SELECT count(*) FROM submissions WHERE submission_id = ? AND ngo_id = ?", [submission_id, ngo_id]).fetchone()[0]:
        raise WorkbenchError(f"submission {submission_id} is not one of {ngo_id}'s submissions")
    with store.transaction():
        seq = store.con.execute("SELECT coalesce(max(seq), 0) + 1 FROM disclosure_updates").fetchone()[0]
        # naive UTC, as every time in the store: now()::TIMESTAMP would be the session's local time
        at = datetime.now(timezone.utc).replace(tzinfo=None)
        store.con.execute("INSERT INTO disclosure_updates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                          [seq, ngo_id, submission_id, authority, key, decision, at, store.user, reference, note])
        flagged = withdrawal_flags(store, update_seq=seq) if decision == "withdrawn" else pl.DataFrame()
        entry = store.log(
            f"disclosure-{decision}", subject=authority, submission_id=submission_id,
            details={"update": seq, "ngo_id": ngo_id, "authority_key": key, "reference": reference, "note": note,
                     "flagged_exports": flagged["export_id"].to_list() if flagged.height else []},
        )
        store.con.execute("UPDATE disclosure_updates SET recorded_at = ?, custody_seq = ? WHERE seq = ?", [entry.at, entry.seq, seq])
    store.write_anchor()
    return UpdateRecorded(seq, entry, flagged)


def updates_by_submission(store: Store, authority: str) -> dict[int, tuple[frozenset[str], frozenset[str]]]:
    """Per current submission, (agreements, withdrawals) for ``authority``: the NGO's latest word wins."""
    key = authority_key(authority)
    if not store.has_table("disclosure_updates"):  # a store older than recorded updates, opened read-only
        return {}
    rows = store.con.execute(
        """SELECT s.submission_id, arg_max(u.decision, u.seq) FROM submissions s
           JOIN disclosure_updates u ON u.ngo_id = s.ngo_id AND (u.submission_id IS NULL OR u.submission_id = s.submission_id)
           WHERE s.superseded_by IS NULL AND u.authority_key = ? GROUP BY s.submission_id""", [key]).fetchall()
    return {sid: (frozenset({key}), frozenset()) if latest == "agreed" else (frozenset(), frozenset({key})) for sid, latest in rows}


def store_decision_sql(store: Store, kind: str, authority: str, on: date, alias: str) -> str:
    """:func:`decision_sql` for rows of any current submission: one rule set per submission, chosen by its id.

    Agreements and withdrawals recorded in the store are applied; a submission without readable
    terms gives ``no_terms``.
    """
    updates = updates_by_submission(store, authority)
    whens = []
    for submission_id, terms in submission_terms(store).items():
        agreed, withdrawn = updates.get(submission_id, (frozenset(), frozenset()))
        expression = decision_sql(kind, terms, authority, on, alias, agreements=agreed, withdrawn=withdrawn)
        whens.append(f"WHEN {int(submission_id)} THEN {expression}")
    column = f"{quote_ident(alias)}.submission_id"
    return f"CASE {column} {' '.join(whens)} ELSE 'no_terms' END" if whens else "'no_terms'"
