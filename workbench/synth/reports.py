"""One NGO's view of the true world: the records it writes, with its habits and its noise.

Rows are keyed by contract field names; values are what the NGO writes (text, numbers,
booleans, lists for semicolon-separated cells, dates for spreadsheet date cells). The writers
turn them into files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.gazetteer import name_key
from workbench.synth.places import Place, PlacePool, governorate_text_ar, governorate_text_en
from workbench.synth.profiles import NgoProfile
from workbench.synth.texts import (
    ARABIC_INDIC,
    PII_KINDS,
    SOURCE_DESCRIPTIONS,
    SOURCE_DESCRIPTIONS_AR,
    VIOLATION_SEPARATOR,
    WEAPONS_AR,
    Texts,
    fake_jpeg,
    own_pseudonym,
    pii_sentence,
    shared_pseudonym,
)
from workbench.synth.world import ACTORS, FIRST_DAY, LAST_DAY, TrueIncident, World

Row = dict[str, Any]
MEDIA_SOURCE_TYPES = ("video", "photograph", "satellite_image", "document")
PLACE_HABITS = {
    "with_governorate": "place written as 'community, governorate'",
    "variant": "place in another transliteration",
    "governorate": "place given as the governorate only",
    "unknown": "place the gazetteer cannot know",
}


@dataclass
class Report:
    """What one NGO sends, before it is written to files, and what the generator did to it."""

    ngo: NgoProfile
    rows: dict[str, list[Row]]
    media: dict[str, bytes] = field(default_factory=dict)
    incident_truth: list[tuple[str, str]] = field(default_factory=list)
    person_truth: list[tuple[str, str]] = field(default_factory=list)
    habits: Counter = field(default_factory=Counter)
    defects: Counter = field(default_factory=Counter)
    defect_ids: dict[str, list[str]] = field(default_factory=dict)  # defect -> ids of the records that carry it
    true_incidents: dict[str, TrueIncident] = field(default_factory=dict)  # incident_id -> truth

    def plant(self, defect: str, record_id: str) -> None:
        """Count a defect planted in the record ``record_id``."""
        self.defects[defect] += 1
        self.defect_ids.setdefault(defect, []).append(record_id)


class _ReportBuilder:
    def __init__(self, ngo: NgoProfile, world: World, pool: PlacePool, texts: Texts, rng: np.random.Generator, seed: int):
        self.ngo, self.world, self.pool, self.texts, self.rng, self.seed = ngo, world, pool, texts, rng, seed
        self.report = Report(ngo=ngo, rows={f.record_type: [] for f in ngo.files})
        self.person_ids: dict[str, str] = {}
        self.pii_written = 0

    # --- small helpers -------------------------------------------------------------------------

    def chance(self, share: float) -> bool:
        return bool(self.rng.random() < share)

    def pick(self, options: tuple | list) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def vocab(self, vocabulary: str, code: str) -> str:
        return self.texts.label(vocabulary, code, self.ngo.vocabulary_style)

    def boolean(self, value: bool) -> bool | str:
        if self.ngo.vocabulary_style == "code":
            return value
        return self.texts.label("boolean", "true" if value else "false", self.ngo.vocabulary_style)

    def date(self, day: dt.date, precision: str = "day", style: str | None = None) -> Any:
        return self.texts.date(style or self.ngo.date_style, day, precision, self.rng)

    def writes(self, record_type: str) -> bool:
        return record_type in self.report.rows

    # --- incidents -----------------------------------------------------------------------------

    def chosen_incidents(self) -> list[TrueIncident]:
        start, end = (dt.date.fromisoformat(d) for d in self.ngo.period)
        eligible = [t for t in self.world.incidents if start <= t.start and t.start + dt.timedelta(days=t.days) <= end]
        count = min(len(eligible), max(self.ngo.min_incidents, round(self.ngo.coverage * len(eligible))))
        picked = sorted(int(i) for i in self.rng.choice(len(eligible), size=count, replace=False))
        return [eligible[i] for i in picked]

    def place(self, truth: TrueIncident) -> tuple[str, Row]:
        modes = self.ngo.place_modes
        mode = str(self.rng.choice(list(modes), p=np.array(list(modes.values())) / sum(modes.values())))
        place: Place = truth.place
        if (
            (mode == "variant" and not place.variants)
            or (mode == "unknown" and not self.pool.unknown_names)
            or (mode == "with_governorate" and name_key(place.name_en) == name_key(place.governorate_en))
        ):
            mode = "community"
        arabic = self.ngo.place_language == "ar"
        if mode == "variant":
            text = self.pick(place.variants)
        elif mode == "unknown":
            text = self.pick(self.pool.unknown_names)
        elif mode == "governorate":
            text = governorate_text_ar(place) if arabic else governorate_text_en(place)
        elif mode == "with_governorate":
            text = f"{place.name_ar} - {place.governorate_ar}" if arabic else f"{place.name_en}, {place.governorate_en}"
        else:
            text = place.name_ar if arabic else place.name_en
        if mode != "community":
            self.report.habits[PLACE_HABITS[mode]] += 1
        located: Row = {}
        if mode in ("community", "with_governorate", "variant") and self.chance(self.ngo.coords_share):
            digits = self.ngo.coord_digits
            located = {"latitude": round(truth.lat, digits), "longitude": round(truth.lon, digits)}
        else:
            self.report.habits["incident without coordinates"] += 1
        level = "point" if located else {"governorate": "governorate", "unknown": "unknown"}.get(mode, "community")
        located |= {"geo_precision": level, "admin1_pcode": None if mode == "unknown" else place.admin1_pcode}
        return text, located

    def reported_day(self, truth: TrueIncident) -> tuple[dt.date, str]:
        roll = self.rng.random()
        if roll < self.ngo.year_only_share:
            self.report.habits["date written to the year only"] += 1
            return truth.start, "year"
        if roll < self.ngo.year_only_share + self.ngo.month_only_share:
            self.report.habits["date written to the month only"] += 1
            return truth.start, "month"
        day = truth.start
        if self.chance(self.ngo.day_shift_share):
            shifted = day + dt.timedelta(days=self.pick((-1, 1)))
            if FIRST_DAY <= shifted <= LAST_DAY:
                self.report.habits["date one day off"] += 1
                day = shifted
        return day, "day"

    def violations(self, truth: TrueIncident) -> list[str]:
        codes = list(truth.violations)
        if len(codes) > 1 and self.chance(0.2):
            codes.pop()
            self.report.habits["violation type left out"] += 1
        missing = [c for c in truth.scenario.extras if c not in codes]
        if missing and self.chance(0.1):
            codes.append(self.pick(missing))
            self.report.habits["violation type added"] += 1
        return self.texts.violations(tuple(codes), self.ngo.violation_style, self.rng)

    def count(self, true_value: int) -> int:
        if not self.chance(self.ngo.count_noise_share):
            return true_value
        written = max(0, true_value + int(self.pick((-3, -2, -1, 1, 2, 3))))
        if written != true_value:
            self.report.habits["killed or injured count differs by a few"] += 1
        return written

    def incident(self, truth: TrueIncident, seq: int) -> Row:
        ngo = self.ngo
        incident_id = ngo.id_format.format(ngo=ngo.id, year=truth.start.year, seq=seq)
        day, precision = self.reported_day(truth)
        place_text, located = self.place(truth)
        killed, injured = self.count(truth.killed), self.count(truth.injured)
        arabic = ngo.narrative_language == "ar"
        narrative = self.texts.narrative(
            truth.scenario.key, truth.variant, place=place_text, killed=killed, injured=injured,
            weapon=truth.weapons[0] if truth.weapons else None, language=ngo.narrative_language,
        )  # fmt: skip
        if ngo.narrative_pii_share and self.chance(ngo.narrative_pii_share):
            kind = PII_KINDS[self.pii_written % len(PII_KINDS)]
            narrative = f"{narrative} {pii_sentence(kind, self.pii_written)}"
            self.pii_written += 1
            self.report.plant(f"narrative with personal data ({kind})", incident_id)
        row: Row = {
            "incident_id": incident_id,
            "title": (truth.scenario.title_ar if arabic else truth.scenario.title_en).format(place=place_text),
            "date_start": self.date(day, precision),
        }
        if truth.days and precision == "day":
            row["date_end"] = self.date(min(day + dt.timedelta(days=truth.days), LAST_DAY), "day")
        row |= {"date_precision": precision, "place": place_text, **located, "violation_types": self.violations(truth)}
        if truth.weapons:
            row["weapons"] = [WEAPONS_AR.get(w, w) for w in truth.weapons] if arabic else list(truth.weapons)
        row |= {"killed": killed, "injured": injured, "narrative": narrative, "language": ngo.narrative_language,
                "confidential_source": self.boolean(truth.confidential)}  # fmt: skip
        return self.without_omitted(row)

    def without_omitted(self, row: Row) -> Row:
        return {k: v for k, v in row.items() if k not in self.ngo.omits}

    # --- persons, actors, sources -------------------------------------------------------------

    def person(self, true_pid: str) -> str:
        if true_pid in self.person_ids:
            return self.person_ids[true_pid]
        ngo, truth = self.ngo, self.world.persons[true_pid]
        person_id = f"{ngo.id}-PER-{len(self.person_ids) + 1:05d}"
        self.person_ids[true_pid] = person_id
        self.report.person_truth.append((person_id, true_pid))
        if ngo.pseudonyms == "shared":
            pseudonym = shared_pseudonym(self.seed, true_pid)
        else:
            pseudonym = own_pseudonym(ngo.pseudonym_prefix or f"{ngo.id}-P-", self.seed, ngo.id, true_pid)
        age: Any = None
        if self.chance(0.75):
            age = truth.age
            if self.chance(ngo.age_noise_share):
                age = max(0, age + self.pick((-1, 1)))
                self.report.habits["age one year off"] += 1
            age = str(age).translate(ARABIC_INDIC) if ngo.vocabulary_style == "ar" else age
        row: Row = {
            "person_id": person_id,
            "pseudonym": pseudonym,
            "sex": self.vocab("sex", truth.sex),
            "age_group": self.vocab("age_group", truth.age_group),
            "age": age,
            "status": self.vocab("person_status", truth.status),
            "consent": self.vocab("consent_status", truth.consent),
            "account_given": self.boolean(truth.account_given and self.chance(0.85)),
        }
        self.report.rows["persons"].append(self.without_omitted(row))
        return person_id

    def persons_of(self, truth: TrueIncident, incident_id: str) -> None:
        for true_pid, role in truth.persons:
            if not self.chance(self.ngo.person_share):
                continue
            link: Row = {"incident_id": incident_id, "person_id": self.person(true_pid), "role": self.vocab("person_roles", role)}
            if self.ngo.narrative_pii_share and self.chance(self.ngo.narrative_pii_share / 6):
                link["description"] = f"Relative of the victim, reachable on +961 3 000 {200 + self.pii_written % 800:03d}"
                self.pii_written += 1
                self.report.plant("link description with personal data (phone_lebanon)", incident_id)
            self.report.rows["incident_persons"].append(link)

    def actors_of(self, truth: TrueIncident, incident_id: str) -> None:
        for key, role in truth.actors:
            index = next(i for i, a in enumerate(ACTORS) if a.key == key)
            self.report.rows["incident_actors"].append(
                {"incident_id": incident_id, "actor_id": f"{self.ngo.id}-A{index + 1:02d}", "role": role}
            )

    def actor_rows(self) -> None:
        used = {r["actor_id"] for r in self.report.rows["incident_actors"]}
        ids = {a.key: f"{self.ngo.id}-A{i + 1:02d}" for i, a in enumerate(ACTORS)}
        used |= {ids[a.parent] for a in ACTORS if a.parent and ids[a.key] in used}
        for actor in ACTORS:
            if ids[actor.key] not in used:
                continue
            row: Row = {"actor_id": ids[actor.key], "name": actor.name, "name_ar": actor.name_ar,
                        "actor_type": actor.actor_type, "affiliation": actor.affiliation}  # fmt: skip
            if actor.parent:
                row["parent_id"] = ids[actor.parent]
            self.report.rows["actors"].append(row)

    def sources_of(self, truth: TrueIncident, incident_id: str) -> None:
        ngo, arabic = self.ngo, self.ngo.narrative_language == "ar"
        for number in range(1, int(self.pick((0, 1, 1, 2))) + 1):
            source_id = f"{incident_id}-S{number}"
            source_type = self.pick(truth.scenario.sources)
            captured = min(truth.start + dt.timedelta(days=int(self.rng.integers(0, 3))), LAST_DAY)
            row: Row = {
                "source_id": source_id,
                "incident_id": incident_id,
                "source_type": self.vocab("source_types", source_type),
                "description": (SOURCE_DESCRIPTIONS_AR if arabic else SOURCE_DESCRIPTIONS)[source_type],
            }
            if source_type in MEDIA_SOURCE_TYPES and self.chance(ngo.media_share * 2):
                path = f"media/{source_id.replace('/', '_')}.jpg"
                self.report.media[path] = fake_jpeg(self.rng)
                row |= {"media_file": path, "media_sha256": hashlib.sha256(self.report.media[path]).hexdigest()}
            elif source_type != "testimony" and self.chance(ngo.url_share):
                row["url"] = f"https://example.org/{ngo.id.lower()}/evidence/{source_id.replace('/', '-')}"
            row["capture_date"] = self.date(captured, "day", "arabic_digits" if arabic else None)
            row["confidential_source"] = self.boolean(source_type == "testimony" and self.chance(0.3))
            self.report.rows["sources"].append(row)

    def build(self) -> Report:
        for seq, truth in enumerate(self.chosen_incidents(), start=1):
            row = self.incident(truth, seq)
            self.report.rows["incidents"].append(row)
            self.report.incident_truth.append((row["incident_id"], truth.true_id))
            self.report.true_incidents[row["incident_id"]] = truth
            if self.writes("incident_persons"):
                self.persons_of(truth, row["incident_id"])
            if self.writes("incident_actors"):
                self.actors_of(truth, row["incident_id"])
            if self.writes("sources"):
                self.sources_of(truth, row["incident_id"])
        if self.writes("actors"):
            self.actor_rows()
        return self.report


def build_report(ngo: NgoProfile, world: World, pool: PlacePool, texts: Texts, rng: np.random.Generator, *, seed: int) -> Report:
    """The records one NGO sends about the part of ``world`` it documented."""
    return _ReportBuilder(ngo, world, pool, texts, rng, seed).build()


def cell_text(value: Any) -> str:
    """A row value as a text cell: lists joined with "; ", booleans as true/false, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return VIOLATION_SEPARATOR.join(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
