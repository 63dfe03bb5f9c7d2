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
    rows = [incidents[int(i)] for i in rng.choice(len(incidents), size=INCIDENT_DEFECTS, replace=False)]

    for row, year, defect in ((rows[0], FUTURE_YEAR, FUTURE_DATE), (rows[1], EARLY_YEAR, EARLY_DATE)):
        row["date_start"] = _same_day_in(year, report.true_incidents[row["incident_id"]].start)
        row.pop("date_end", None)
        report.plant(defect, row["incident_id"])
    for row in rows[2:4]:
        truth = report.true_incidents[row["incident_id"]]
        row["latitude"], row["longitude"] = round(truth.lon, 4), round(truth.lat, 4)
        report.plant(SWAPPED_COORDINATES, row["incident_id"])
    rows[4]["violation_types"] = [*rows[4]["violation_types"], UNKNOWN_VIOLATION_LABEL]
    report.plant(UNKNOWN_VIOLATION, rows[4]["incident_id"])
    rows[5]["title"] = FORMULA
    report.plant(FORMULA_CELL, rows[5]["incident_id"])
    rows[6]["violation_types"] = None
    report.plant(MISSING_REQUIRED, rows[6]["incident_id"])
    rows[7]["killed"] = NON_NUMERIC_KILLED
    report.plant(NON_NUMERIC_COUNT, rows[7]["incident_id"])
    # a record entered twice, the second time with another casualty count
    for row in rows[8:10]:
        incidents.insert(incidents.index(row) + 1, dict(row, killed=int(row["killed"]) + 1))
        report.plant(DUPLICATE_ID, row["incident_id"])

    existing = {row["incident_id"] for row in incidents}
    ghost = next(
        ghost
        for seq in range(9999, 0, -1)
        if (ghost := report.ngo.id_format.format(ngo=report.ngo.id, year=2019, seq=seq)) not in existing
    )
    persons = report.rows["persons"]
    if persons:  # never empty with the minimum number of incidents, but no person means no person defects
        report.rows["incident_persons"].append({"incident_id": ghost, "person_id": persons[0]["person_id"], "role": "witness"})
        report.plant(MISSING_INCIDENT_LINK, ghost)
        named = persons[len(persons) // 2]
        named["pseudonym"] = NAME_PSEUDONYM
        report.plant(NAME_AS_PSEUDONYM, named["person_id"])

    sources = report.rows["sources"]
    with_media = [row for row in sources if row.get("media_sha256")]
    if not with_media:  # rare with few incidents: add the photograph the defect needs
        source_id = f"{incidents[0]['incident_id']}-S9"
        report.media[f"media/{source_id}.jpg"] = fake_jpeg(rng)
        with_media = [{"source_id": source_id, "incident_id": incidents[0]["incident_id"], "source_type": "photograph",
                       "media_file": f"media/{source_id}.jpg", "confidential_source": False}]  # fmt: skip
        sources.append(with_media[0])
    altered = with_media[len(with_media) // 2]
    altered["media_sha256"] = hashlib.sha256(report.media[altered["media_file"]] + b"re-encoded").hexdigest()
    report.plant(WRONG_MEDIA_HASH, altered["source_id"])
