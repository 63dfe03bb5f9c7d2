"""The six fictional NGOs and their habits: what they send, in which shape, with which noise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Fields the workbench derives itself; most NGOs leave them out.
DERIVED_FIELDS = ("date_end", "date_precision", "geo_precision", "admin1_pcode")


@dataclass(frozen=True)
class DataFile:
    """One data file (or one sheet of a workbook) of a package."""

    record_type: str
    path: str
    sheet: str | None = None
    encoding: str = "utf-8"


@dataclass(frozen=True)
class NgoProfile:
    """A fictional NGO: who it is, how it writes its files, and how much its reports drift from the truth.

    Shares are probabilities per record. ``headers``: "contract" (field names), "title" (field
    titles), "arabic" (the first Arabic alias) or "alias" (the English alias at ``alias_offset``).
    ``place_modes``: how often a place is written as the community ("community"), as
    "community, governorate" ("with_governorate"), in another transliteration ("variant"), as the
    governorate only ("governorate") or as a hamlet the gazetteer does not know ("unknown").
    ``omits``: fields the NGO never writes, of those the generator can fill.
    """

    id: str
    name: str
    name_ar: str
    habit: str
    files: tuple[DataFile, ...]
    disclosure: dict[str, Any]
    list_files: bool = True
    headers: str = "contract"
    alias_offset: int = 0
    delimiter: str = ","
    period: tuple[str, str] = ("2011-03-15", "2024-12-31")
    coverage: float = 0.4
    min_incidents: int = 6
    id_format: str = "{ngo}-{year}-{seq:04d}"
    date_style: str = "iso"
    date_order: str = "day_first"
    month_only_share: float = 0.08
    year_only_share: float = 0.0
    day_shift_share: float = 0.15
    omits: tuple[str, ...] = (*DERIVED_FIELDS, "language", "confidential_source")
    place_language: str = "en"
    place_modes: dict[str, float] = field(default_factory=lambda: {"community": 0.8, "with_governorate": 0.2})
    coords_share: float = 0.0
    coord_digits: int = 4
    count_noise_share: float = 0.3
    violation_style: str = "codes"
    vocabulary_style: str = "code"  # how sex, roles, status ... are written: code, en or ar
    pseudonyms: str = "own"  # own (prefix + hash) or shared (the SHK- keyed scheme)
    pseudonym_prefix: str = ""
    person_share: float = 0.7
    age_noise_share: float = 0.15
    narrative_language: str = "en"
    narrative_pii_share: float = 0.0
    media_share: float = 0.0
    url_share: float = 0.5
    defects: bool = False
    contact_role: str = "Data officer"


ALPHA = NgoProfile(
    id="ALPHA",
    name="Alpha Documentation Network (fictional)",
    name_ar="شبكة ألفا للتوثيق (وهمية)",
    habit="near-perfect: contract headers in English, UTF-8 CSV, all six record types, ISO dates, coordinates for most "
    "incidents, media files with correct SHA-256; pseudonyms in the keyed SHK- scheme shared with EPSILON",
    files=tuple(DataFile(rt, f"{rt}.csv") for rt in ("incidents", "persons", "actors", "incident_persons", "incident_actors", "sources")),
    disclosure={"source_confidential": False, "consent_basis": "informed_consent", "default": "not_allowed",
                "authorities": [{"authority": "DE-GBA (Federal Prosecutor, Germany)", "decision": "allowed"},
                                {"authority": "FR-PNAT (National Anti-Terrorism Prosecutor, France)", "decision": "ask_first"}]},
    coverage=0.5,
    month_only_share=0.04,
    day_shift_share=0.05,
    count_noise_share=0.1,
    omits=(),
    place_modes={"community": 0.7, "with_governorate": 0.25, "governorate": 0.05},
    coords_share=0.85,
    coord_digits=5,
    violation_style="codes",
    pseudonyms="shared",
    person_share=0.8,
    age_noise_share=0.05,
    media_share=0.35,
)  # fmt: skip
BAYAN = NgoProfile(
    id="BAYAN",
    name="Bayan Centre for Documentation (fictional)",
    name_ar="مركز بيان للتوثيق (وهمي)",
    habit="Arabic throughout: headers are the Arabic aliases of the contracts, the incidents file is Windows-1256 "
    "(cp1256), place names, violation labels and narratives in Arabic, dates with Levantine month names; the other "
    "files are UTF-8 and write ages and capture dates in Arabic-Indic digits (cp1256 has no code for them); "
    "file names in Arabic and no `files` list in the manifest",
    files=(DataFile("incidents", "الحوادث.csv", encoding="cp1256"), DataFile("persons", "الأشخاص.csv"),
           DataFile("incident_persons", "روابط الأشخاص.csv"), DataFile("sources", "المصادر.csv")),
    disclosure={"source_confidential": False, "consent_basis": "informed_consent", "default": "ask_first",
                "authorities": [{"authority": "SE-SPA (Swedish Prosecution Authority)", "decision": "allowed"},
                                {"authority": "DE-GBA (Federal Prosecutor, Germany)", "decision": "ask_first"}]},
    list_files=False,
    headers="arabic",
    omits=(*DERIVED_FIELDS, "confidential_source"),
    period=("2011-03-15", "2019-12-31"),
    coverage=0.45,
    id_format="BYN/{year}/{seq:03d}",
    date_style="arabic",
    month_only_share=0.15,
    place_language="ar",
    place_modes={"community": 0.7, "with_governorate": 0.15, "governorate": 0.15},
    coords_share=0.15,
    violation_style="arabic",
    vocabulary_style="ar",
    pseudonym_prefix="BYN-P-",
    narrative_language="ar",
    url_share=0.6,
    contact_role="مسؤول البيانات",
)  # fmt: skip
GAMMA = NgoProfile(
    id="GAMMA",
    name="Gamma Monitoring Group (fictional)",
    name_ar="مجموعة غاما للرصد (وهمية)",
    habit="one XLSX workbook with a sheet per record type and English alias headers; the date column mixes real Excel "
    "dates, text such as 12/03/2013, month-only (March 2013) and year-only (2013) values; the whole package is under "
    "source confidentiality",
    files=(DataFile("incidents", "gamma_export.xlsx", sheet="Incidents"), DataFile("persons", "gamma_export.xlsx", sheet="Victims"),
           DataFile("incident_persons", "gamma_export.xlsx", sheet="Links"), DataFile("sources", "gamma_export.xlsx", sheet="Sources")),
    disclosure={"source_confidential": True, "consent_basis": "informed_consent", "default": "not_allowed",
                "authorities": [{"authority": "NL-OM (Public Prosecution Service, Netherlands)", "decision": "allowed",
                                 "note": "Overridden by source confidentiality."}]},
    headers="alias",
    alias_offset=2,
    period=("2012-01-01", "2020-12-31"),
    coverage=0.35,
    id_format="G-{seq:06d}",
    date_style="excel_mixed",
    month_only_share=0.12,
    year_only_share=0.05,
    place_modes={"community": 0.6, "with_governorate": 0.2, "variant": 0.1, "governorate": 0.1},
    coords_share=0.4,
    violation_style="english",
    vocabulary_style="en",
    pseudonym_prefix="GMG-",
    url_share=0.7,
)  # fmt: skip
DELTA = NgoProfile(
    id="DELTA",
    name="Delta Field Monitors (fictional)",
    name_ar="راصدو دلتا الميدانيون (وهمي)",
    habit="field reports: place names only (almost no coordinates), many at governorate level only, other "
    "transliterations (Douma for Duma, Idleb for Idlib), a few hamlets the gazetteer cannot know; month-first numeric dates "
    "(declared in the manifest); files named events/victims/person_links and no `files` list",
    files=(DataFile("incidents", "events.csv"), DataFile("persons", "victims.csv"), DataFile("incident_persons", "person_links.csv")),
    disclosure={"source_confidential": False, "consent_basis": "public_source", "default": "ask_first",
                "authorities": [{"authority": "NL-OM (Public Prosecution Service, Netherlands)", "decision": "allowed"}]},
    list_files=False,
    headers="alias",
    alias_offset=1,
    period=("2013-01-01", "2024-12-31"),
    coverage=0.4,
    id_format="EV{seq:05d}",
    date_style="month_first",
    date_order="month_first",
    omits=(*DERIVED_FIELDS, "language", "confidential_source", "weapons", "account_given"),
    month_only_share=0.1,
    place_modes={"community": 0.25, "variant": 0.35, "governorate": 0.3, "unknown": 0.1},
    coords_share=0.05,
    violation_style="lower",
    pseudonym_prefix="DFM",
    person_share=0.5,
)  # fmt: skip
EPSILON = NgoProfile(
    id="EPSILON",
    name="Epsilon Rights Watch (fictional)",
    name_ar="مرصد إبسيلون للحقوق (وهمي)",
    habit="semicolon-delimited UTF-8 CSV with a byte-order mark and the contract's field titles as headers; dates "
    "written out in English; violation cells mix codes, English and Arabic labels; narratives leak unredacted "
    "(fake) phone numbers, e-mail addresses and names; pseudonyms in the keyed SHK- scheme shared with ALPHA",
    files=(DataFile("incidents", "incidents.csv", encoding="utf-8-sig"), DataFile("persons", "persons.csv", encoding="utf-8-sig"),
           DataFile("incident_persons", "incident_persons.csv", encoding="utf-8-sig")),
    disclosure={"source_confidential": False, "consent_basis": "informed_consent", "default": "not_allowed",
                "embargo_until": "2025-06-30",
                "authorities": [{"authority": "FR-PNAT (National Anti-Terrorism Prosecutor, France)", "decision": "allowed"},
                                {"authority": "US-DOJ (Department of Justice, United States)", "decision": "not_allowed"}]},
    headers="title",
    delimiter=";",
    coverage=0.3,
    id_format="ERW.{year}.{seq:04d}",
    date_style="english",
    month_only_share=0.1,
    place_modes={"community": 0.7, "variant": 0.1, "with_governorate": 0.1, "governorate": 0.1},
    coords_share=0.5,
    violation_style="mixed",
    vocabulary_style="en",
    pseudonyms="shared",
    narrative_pii_share=0.3,
)  # fmt: skip
ZETA = NgoProfile(
    id="ZETA",
    name="Zeta Incident Registry (fictional)",
    name_ar="سجل زيتا للحوادث (وهمي)",
    habit="JSON Lines (and one JSON array) exported from a database, with records that break the contract: see the "
    "planted defects",
    files=(DataFile("incidents", "incidents.jsonl"), DataFile("persons", "persons.json"), DataFile("actors", "actors.jsonl"),
           DataFile("incident_persons", "incident_persons.jsonl"), DataFile("incident_actors", "incident_actors.jsonl"),
           DataFile("sources", "sources.jsonl")),
    disclosure={"source_confidential": False, "consent_basis": "vital_interest", "default": "not_allowed",
                "authorities": [{"authority": "CH-OAG (Office of the Attorney General, Switzerland)", "decision": "allowed"}]},
    coverage=0.15,
    min_incidents=14,
    omits=("date_precision", "geo_precision", "admin1_pcode"),
    id_format="ZIR-{year}-{seq:04d}",
    month_only_share=0.05,
    place_modes={"community": 0.8, "governorate": 0.2},
    coords_share=0.6,
    violation_style="codes",
    pseudonym_prefix="ZIR-P-",
    media_share=0.4,
    defects=True,
)  # fmt: skip

NGOS: tuple[NgoProfile, ...] = (ALPHA, BAYAN, GAMMA, DELTA, EPSILON, ZETA)
