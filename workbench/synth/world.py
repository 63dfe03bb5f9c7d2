"""The true events behind the synthetic submissions: incidents, persons and actors as they were.

NGOs report views of this world (see ``reports``); the ground truth says which reported record
is which true one. Actors are invented units and groups: synthetic incidents are never
attributed to a real one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from workbench.synth.places import Place, PlacePool

FIRST_DAY = dt.date(2011, 3, 15)
LAST_DAY = dt.date(2024, 12, 31)
#: Relative number of documented incidents per year, so that years of heavy fighting dominate.
YEAR_WEIGHTS = {2011: 0.3, 2012: 1.0, 2013: 1.2, 2014: 1.1, 2015: 1.0, 2016: 1.0, 2017: 0.8, 2018: 0.7,
                2019: 0.5, 2020: 0.4, 2021: 0.25, 2022: 0.2, 2023: 0.2, 2024: 0.2}  # fmt: skip


@dataclass(frozen=True)
class Actor:
    key: str
    name: str
    name_ar: str
    actor_type: str
    affiliation: str
    parent: str | None = None


ACTORS: tuple[Actor, ...] = (
    Actor("air", "Central Air Wing", "الجناح الجوي المركزي", "state_armed_forces", "Government forces"),
    Actor("mech", "Mechanised Brigade 808", "اللواء الميكانيكي 808", "state_armed_forces", "Government forces"),
    Actor("branch", "Security Branch 999", "فرع الأمن 999", "state_security_services", "Government forces"),
    Actor("prison", "Central Prison Administration", "إدارة السجن المركزي", "detention_administration", "Government forces", "branch"),
    Actor("court", "Field Court 3", "المحكمة الميدانية 3", "judiciary", "Government forces"),
    Actor("ldc", "Eastern Quarter Defence Committee", "لجنة الدفاع في الحي الشرقي", "pro_government_militias", "Pro-government"),
    Actor("valley", "Free Valley Brigades", "ألوية الوادي الحر", "non_state_armed_groups", "Armed opposition"),
    Actor("dawn", "Dawn Emirate Group", "جماعة إمارة الفجر", "designated_terrorist_groups", "Extremist armed group"),
    Actor("foreign", "Foreign Expeditionary Air Group", "مجموعة الطيران الأجنبية", "foreign_state_forces", "Foreign state"),
    Actor("gunmen", "Unidentified gunmen", "مسلحون مجهولون", "unknown", "Unknown"),
    Actor("rescue", "Local Rescue Team", "فريق الإنقاذ المحلي", "civil_administration", "Local council"),
)


@dataclass(frozen=True)
class Scenario:
    """A kind of incident: the violations, weapons, actors and people it usually involves."""

    key: str
    weight: float
    violations: tuple[str, ...]
    extras: tuple[str, ...]
    weapons: tuple[str, ...]
    perpetrators: tuple[str, ...]
    killed: tuple[int, int]
    injured: tuple[int, int]
    roles: tuple[str, ...]
    sources: tuple[str, ...]
    title_en: str
    title_ar: str


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("airstrike", 0.26, ("indiscriminate_attack", "attack_civilians"),
             ("barrel_bombs", "cluster_munitions", "incendiary_weapons", "attack_medical", "attack_education"),
             ("barrel bomb", "air-dropped bomb", "guided missile"), ("air", "foreign"), (0, 40), (0, 90),
             ("victim", "victim", "witness", "survivor"), ("video", "photograph", "testimony", "social_media_post"),
             "Air strike on a residential area of {place}", "غارة جوية على حي سكني في {place}"),
    Scenario("shelling", 0.2, ("indiscriminate_attack", "unlawful_attack"), ("attack_civilian_objects", "attack_cultural_property"),
             ("artillery", "mortar", "unguided rockets"), ("mech", "valley"), (0, 15), (0, 40),
             ("victim", "witness", "survivor"), ("video", "testimony", "news_report"),
             "Shelling of a market in {place}", "قصف سوق في {place}"),
    Scenario("detention", 0.2, ("arbitrary_detention", "torture_ill_treatment"), ("enforced_disappearance", "death_in_custody"),
             (), ("branch", "prison", "court"), (0, 1), (0, 0),
             ("detainee", "relative", "witness"), ("testimony", "interview_transcript", "document"),
             "Arrest at a checkpoint near {place}", "اعتقال على حاجز قرب {place}"),
    Scenario("killing", 0.12, ("unlawful_killing",), ("persecution", "pillage_destruction"),
             ("small arms", "knives"), ("ldc", "dawn", "gunmen"), (1, 25), (0, 10),
             ("victim", "relative", "witness"), ("testimony", "video", "forensic_report"),
             "Killing of civilians in {place}", "قتل مدنيين في {place}"),
    Scenario("abduction", 0.08, ("abduction",), ("hostage_taking", "enforced_disappearance"),
             (), ("dawn", "gunmen"), (0, 0), (0, 2),
             ("victim", "relative"), ("testimony", "social_media_post"),
             "Abduction of residents of {place}", "اختطاف سكان من {place}"),
    Scenario("siege", 0.06, ("siege_starvation",), ("forced_displacement", "attack_humanitarian"),
             (), ("mech", "ldc"), (0, 8), (0, 5),
             ("victim", "witness"), ("open_source_report", "satellite_image", "testimony"),
             "Siege of {place}", "حصار {place}"),
    Scenario("chemical", 0.03, ("chemical_weapons", "indiscriminate_attack"), ("attack_civilians",),
             ("chlorine cylinder", "rocket with chemical payload"), ("air",), (2, 60), (10, 200),
             ("victim", "survivor", "witness"), ("video", "medical_record", "forensic_report"),
             "Suspected chemical attack on {place}", "هجوم يشتبه بأنه كيميائي على {place}"),
    Scenario("recruitment", 0.03, ("child_recruitment",), ("abduction",),
             (), ("valley", "dawn"), (0, 0), (0, 0),
             ("victim", "relative"), ("testimony", "document"),
             "Recruitment of children in {place}", "تجنيد أطفال في {place}"),
    Scenario("sgbv", 0.02, ("sexual_gender_based_violence", "torture_ill_treatment"), ("arbitrary_detention",),
             (), ("branch", "dawn"), (0, 0), (0, 1),
             ("victim", "witness"), ("testimony", "medical_record"),
             "Sexual violence in detention in {place}", "عنف جنسي في مكان احتجاز في {place}"),
)  # fmt: skip
SCENARIO_BY_KEY = {s.key: s for s in SCENARIOS}
ACTOR_BY_KEY = {a.key: a for a in ACTORS}


@dataclass(frozen=True)
class TruePerson:
    true_id: str
    sex: str
    age: int
    age_group: str
    status: str
    consent: str
    account_given: bool


@dataclass(frozen=True)
class TrueIncident:
    true_id: str
    scenario: Scenario
    start: dt.date
    days: int
    place: Place
    lat: float
    lon: float
    violations: tuple[str, ...]
    weapons: tuple[str, ...]
    killed: int
    injured: int
    actors: tuple[tuple[str, str], ...]  # (actor key, actor role)
    persons: tuple[tuple[str, str], ...]  # (true person id, person role)
    confidential: bool
    variant: int  # picks among narrative wordings


@dataclass(frozen=True)
class World:
    incidents: tuple[TrueIncident, ...]
    persons: dict[str, TruePerson]


def age_group_of(age: int) -> str:
    """The age_group code of an age in completed years."""
    if age < 5:
        return "infant"
    if age < 12:
        return "child_5_11"
    if age < 18:
        return "adolescent"
    return "adult" if age < 60 else "older"


def _random_day(rng: np.random.Generator) -> dt.date:
    years = list(YEAR_WEIGHTS)
    weights = np.array(list(YEAR_WEIGHTS.values()))
    year = years[int(rng.choice(len(years), p=weights / weights.sum()))]
    first = max(dt.date(year, 1, 1), FIRST_DAY)
    last = min(dt.date(year, 12, 31), LAST_DAY)
    return first + dt.timedelta(days=int(rng.integers(0, (last - first).days + 1)))


def _person(rng: np.random.Generator, true_id: str, role: str, scenario: Scenario) -> TruePerson:
    if scenario.key == "recruitment" and role == "victim":
        age = int(rng.integers(12, 18))
    else:
        age = int(np.clip(rng.normal(33, 16), 1, 85))
    sex = str(rng.choice(["male", "female", "unknown"], p=[0.66, 0.3, 0.04]))
    if role == "detainee":
        status = str(rng.choice(["detained", "released", "missing", "deceased"], p=[0.35, 0.35, 0.2, 0.1]))
    elif role == "victim" and scenario.key in ("killing", "airstrike", "chemical") and rng.random() < 0.6:
        status = "deceased"
    elif role == "victim" and scenario.key == "abduction":
        status = str(rng.choice(["missing", "released"]))
    else:
        status = str(rng.choice(["alive", "unknown"], p=[0.85, 0.15]))
    consent = str(rng.choice(["given", "unknown", "withdrawn"], p=[0.7, 0.22, 0.08]))
    gave_account = status not in ("deceased", "missing") and rng.random() < 0.4
    return TruePerson(true_id, sex, age, age_group_of(age), status, consent, bool(gave_account))


def build_world(rng: np.random.Generator, pool: PlacePool, n_incidents: int) -> World:
    """``n_incidents`` true incidents, in date order, with their persons and actors."""
    weights = np.array([s.weight for s in SCENARIOS])
    place_weights = np.array(pool.weights)
    drafts = []
    for _ in range(n_incidents):
        scenario = SCENARIOS[int(rng.choice(len(SCENARIOS), p=weights / weights.sum()))]
        place = pool.places[int(rng.choice(len(pool.places), p=place_weights))]
        drafts.append((_random_day(rng), scenario, place))
    drafts.sort(key=lambda d: (d[0], d[2].place_id, d[1].key))

    incidents: list[TrueIncident] = []
    persons: dict[str, TruePerson] = {}
    for number, (start, scenario, place) in enumerate(drafts, start=1):
        # most incidents add one qualifying violation to the scenario's own, a few add two
        extras = [str(c) for c in rng.permutation(scenario.extras)[: int(rng.choice([0, 1, 1, 2]))]] if scenario.extras else []
        perpetrator = scenario.perpetrators[int(rng.integers(len(scenario.perpetrators)))]
        actors = [(perpetrator, "alleged_perpetrator")]
        if perpetrator == "prison":
            actors.append(("branch", "commanding"))
        if scenario.killed[1] > 0 and rng.random() < 0.3:
            actors.append(("rescue", "responder"))
        links = []
        for _ in range(int(rng.integers(0, 4)) if scenario.key != "detention" else int(rng.integers(1, 4))):
            role = scenario.roles[int(rng.integers(len(scenario.roles)))]
            true_pid = f"TP-{len(persons) + 1:06d}"
            persons[true_pid] = _person(rng, true_pid, role, scenario)
            links.append((true_pid, role))
        # some people who gave an account of one incident witnessed the next one too
        earlier = [pid for pid, _ in incidents[-1].persons if persons[pid].status in ("alive", "released")] if incidents else []
        if earlier and rng.random() < 0.08 and earlier[0] not in {pid for pid, _ in links}:
            links.append((earlier[0], "witness"))
        low, high = scenario.killed
        days = int(rng.choice([0, 0, 0, 0, 0, 0, 1, 2, 6])) if scenario.key in ("siege", "shelling", "detention") else 0
        incidents.append(
            TrueIncident(
                true_id=f"TI-{number:06d}",
                scenario=scenario,
                start=start,
                days=min(days, (LAST_DAY - start).days),
                place=place,
                lat=round(place.lat + float(rng.normal(0, 0.008)), 5),
                lon=round(place.lon + float(rng.normal(0, 0.008)), 5),
                violations=tuple(dict.fromkeys([*scenario.violations, *extras])),
                weapons=tuple(w for w in scenario.weapons if rng.random() < 0.5) or scenario.weapons[:1],
                killed=int(rng.integers(low, high + 1)),
                injured=int(rng.integers(scenario.injured[0], scenario.injured[1] + 1)),
                actors=tuple(actors),
                persons=tuple(links),
                confidential=bool(rng.random() < 0.05),
                variant=int(rng.integers(0, 1000)),
            )
        )
    return World(incidents=tuple(incidents), persons=persons)
