"""Records that break the contract, planted in the defective NGO's report.

Each defect goes into its own incident, so that one never hides another, and is counted in
``Report.defects`` under a fixed name the README and the tests use.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

from workbench.errors import WorkbenchError
from workbench.synth.reports import Report
from workbench.synth.texts import fake_jpeg

DUPLICATE_ID = "duplicate incident id"
MISSING_INCIDENT_LINK = "person link to an incident that does not exist"
FUTURE_DATE = "date in the future"
EARLY_DATE = "date before March 2011"
SWAPPED_COORDINATES = "coordinates outside Syria (latitude and longitude swapped)"
UNKNOWN_VIOLATION = "violation label not in the vocabulary"
NAME_AS_PSEUDONYM = "pseudonym that is a personal name"
FORMULA_CELL = "cell starting with '=' (spreadsheet formula)"
MISSING_REQUIRED = "required value missing (violation_types)"
NON_NUMERIC_COUNT = "non-numeric killed count"
WRONG_MEDIA_HASH = "media_sha256 that does not match the media file"

FUTURE_YEAR = 2093  # a typo for 2023 that stays in the future for decades
EARLY_YEAR = 2010
UNKNOWN_VIOLATION_LABEL = "sniper harassment"
NAME_PSEUDONYM = "Ahmad Example"
FORMULA = '=HYPERLINK("https://example.org/zeta/video","watch")'
NON_NUMERIC_KILLED = "about 20"
INCIDENT_DEFECTS = 10  # incidents that carry one defect each, below


def _same_day_in(year: int, day: dt.date) -> str:
    return f"{year}-{day.month:02d}-{min(day.day, 28) if day.month == 2 else day.day:02d}"


def plant_defects(report: Report, rng: np.random.Generator) -> None:
    """Break ``report`` in the ways listed above (rows use ISO dates and JSON values)."""
    incidents = report.rows["incidents"]
    if len(incidents) < INCIDENT_DEFECTS:
        raise WorkbenchError(f"{report.ngo.id} reports {len(incidents)} incidents; its defects need {INCIDENT_DEFECTS}: generate more incidents")
    picks = [int(i) for i in rng.choice(len(incidents), size=INCIDENT_DEFECTS, replace=False)]
    rows = [incidents[i] for i in picks]

    for row, year in ((rows[0], FUTURE_YEAR), (rows[1], EARLY_YEAR)):
        row["date_start"] = _same_day_in(year, report.true_incidents[row["incident_id"]].start)
        row.pop("date_end", None)
    report.defects[FUTURE_DATE] += 1
    report.defects[EARLY_DATE] += 1

    for row in rows[2:4]:
        truth = report.true_incidents[row["incident_id"]]
        row["latitude"], row["longitude"] = round(truth.lon, 4), round(truth.lat, 4)
        report.defects[SWAPPED_COORDINATES] += 1

    rows[4]["violation_types"] = [*rows[4]["violation_types"], UNKNOWN_VIOLATION_LABEL]
    report.defects[UNKNOWN_VIOLATION] += 1
    rows[5]["title"] = FORMULA
    report.defects[FORMULA_CELL] += 1
    rows[6]["violation_types"] = None
    report.defects[MISSING_REQUIRED] += 1
    rows[7]["killed"] = NON_NUMERIC_KILLED
    report.defects[NON_NUMERIC_COUNT] += 1

    # a record entered twice, the second time with another casualty count
    for row in sorted(rows[8:10], key=lambda r: incidents.index(r), reverse=True):
        copy = dict(row, killed=int(row["killed"]) + 1)
        incidents.insert(incidents.index(row) + 1, copy)
        report.defects[DUPLICATE_ID] += 1

    links = report.rows["incident_persons"]
    existing = {row["incident_id"] for row in incidents}
    ghost = next(f"{report.ngo.id}-2099-{n:04d}" for n in range(9999, 0, -1) if f"{report.ngo.id}-2099-{n:04d}" not in existing)
    persons = report.rows["persons"]
    if persons:
        links.append({"incident_id": ghost, "person_id": persons[0]["person_id"], "role": "witness"})
        report.defects[MISSING_INCIDENT_LINK] += 1
        persons[len(persons) // 2]["pseudonym"] = NAME_PSEUDONYM
        report.defects[NAME_AS_PSEUDONYM] += 1

    sources = report.rows["sources"]
    with_media = [row for row in sources if row.get("media_sha256")]
    if not with_media:  # rare with few incidents: add the photograph the defect needs
        path = f"media/{incidents[0]['incident_id']}-S9.jpg"
        report.media[path] = fake_jpeg(rng)
        with_media = [{"source_id": f"{incidents[0]['incident_id']}-S9", "incident_id": incidents[0]["incident_id"],
                       "source_type": "photograph", "media_file": path, "confidential_source": False}]  # fmt: skip
        sources.append(with_media[0])
    victim = with_media[len(with_media) // 2]
    victim["media_sha256"] = hashlib.sha256(report.media[victim["media_file"]] + b"re-encoded").hexdigest()
    report.defects[WRONG_MEDIA_HASH] += 1

