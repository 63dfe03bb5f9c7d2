"""One large, contract-shaped package for load benchmarks, built column-wise (numpy and polars).

Incidents always; with ``actors > 0`` also invented units and groups and the incident–actor links,
skewed as real documentation is: a few units appear in a large share of the incidents.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import polars as pl

from workbench.contracts import load_contracts
from workbench.errors import WorkbenchError
from workbench.synth.places import builtin_pool
from workbench.synth.texts import NARRATIVES_EN, TIMES
from workbench.synth.world import FIRST_DAY, LAST_DAY, SCENARIOS
from workbench.synth.writers import yaml_bytes

BENCHMARK_ID = "BENCH"
BENCHMARK_NAME = "Benchmark Documentation Unit (fictional)"
#: A closing sentence per row makes narratives about 200 characters, as in real submissions.
CLOSINGS = (
    " The account was confirmed by two independent sources.",
    " Photographs and a video of the site were collected.",
    " The names of the victims are held by the documenting team.",
    " Local residents confirmed the time and the place.",
)
#: Benchmark actors: (actor type code, share of the actors, unit name, affiliation). Invented units only.
ACTOR_KINDS = (
    ("state_armed_forces", 0.28, "Brigade", "Government forces"),
    ("state_security_services", 0.14, "Security Branch", "Government forces"),
    ("pro_government_militias", 0.14, "Defence Committee", "Pro-government"),
    ("non_state_armed_groups", 0.2, "Free Brigades", "Armed opposition"),
    ("designated_terrorist_groups", 0.07, "Emirate Group", "Extremist armed group"),
    ("foreign_state_forces", 0.05, "Expeditionary Air Group", "Foreign state"),
    ("kurdish_led_forces", 0.04, "Northern Sector Forces", "Kurdish-led forces"),
    ("police", 0.03, "Police Station", "Government forces"),
    ("detention_administration", 0.02, "Prison Administration", "Government forces"),
    ("judiciary", 0.02, "Field Court", "Government forces"),
    ("unknown", 0.01, "Unidentified Armed Group", "Unknown"),
)
#: Share of incidents naming one, two or three actors.
ACTORS_PER_INCIDENT = (0.6, 0.3, 0.1)
#: The role of a second or third actor (the first is always the alleged perpetrator).
OTHER_ROLES = (("alleged_perpetrator", 0.7), ("commanding", 0.2), ("supporting", 0.1))
#: Exponent of the Zipf-like law by which incidents pick actors: the actor of rank r is picked ~ 1 / r**s.
ACTOR_SKEW = 1.1


def _lookup(values: list[str], index: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(pl.Series(index, dtype=pl.UInt32))


def _violation_cells(rng: np.random.Generator, scenario: np.ndarray) -> pl.Series:
    """The scenario's violation codes, plus one of its extra codes for about a third of the rows."""
    cells: list[str] = []
    first_cell: list[int] = []
    for s in SCENARIOS:
        first_cell.append(len(cells))
        core = "; ".join(s.violations)
        cells += [core] + [f"{core}; {extra}" for extra in s.extras]
    extras = np.array([len(s.extras) for s in SCENARIOS])
    picked = rng.integers(0, np.maximum(extras[scenario], 1))
    with_extra = (rng.random(scenario.size) < 0.3) & (extras[scenario] > 0)
    return _lookup(cells, np.array(first_cell)[scenario] + np.where(with_extra, picked + 1, 0))


def benchmark_frame(incidents: int, seed: int, ngo_id: str = BENCHMARK_ID) -> pl.DataFrame:
    """``incidents`` rows with every field of the incidents contract, in contract order (ids ``{ngo_id}-0000001``...)."""
    rng = np.random.default_rng([seed, 99])
    pool = builtin_pool()
    n = incidents
    place = rng.choice(len(pool.places), size=n, p=pool.weights)
    weights = np.array([s.weight for s in SCENARIOS])
    scenario = rng.choice(len(SCENARIOS), size=n, p=weights / weights.sum())
    templates, first_template = [], []
    for s in SCENARIOS:
        first_template.append(len(templates))
        templates += list(NARRATIVES_EN[s.key])
    counts = np.array([len(NARRATIVES_EN[s.key]) for s in SCENARIOS])
    template = np.array(first_template)[scenario] + rng.integers(0, counts[scenario])
    killed_max = np.array([s.killed[1] for s in SCENARIOS])[scenario]
    injured_max = np.array([s.injured[1] for s in SCENARIOS])[scenario]
    span = (LAST_DAY - FIRST_DAY).days
    offset = rng.integers(0, span + 1, size=n)
    duration = np.where(rng.random(n) < 0.1, rng.integers(1, 4, size=n), 0)
    duration = np.minimum(duration, span - offset)

    frame = pl.DataFrame(
        {
            "row": np.arange(1, n + 1),
            "place": _lookup([p.name_en for p in pool.places], place),
            "place_id": _lookup([p.place_id for p in pool.places], place),
            "admin1_pcode": _lookup([p.admin1_pcode for p in pool.places], place),
            "latitude": np.round(np.array([p.lat for p in pool.places])[place] + rng.normal(0, 0.008, n), 5),
            "longitude": np.round(np.array([p.lon for p in pool.places])[place] + rng.normal(0, 0.008, n), 5),
            "title_template": _lookup([s.title_en for s in SCENARIOS], scenario),
            "template": _lookup(templates, template),
            "weapon": _lookup([s.weapons[0] if s.weapons else "bomb" for s in SCENARIOS], scenario),
            "weapons": _lookup(["; ".join(s.weapons) for s in SCENARIOS], scenario),
            "time": _lookup(list(TIMES), rng.integers(0, len(TIMES), size=n)),
            "closing": _lookup(list(CLOSINGS), rng.integers(0, len(CLOSINGS), size=n)),
            "violation_types": _violation_cells(rng, scenario),
            "killed": (rng.random(n) * (killed_max + 1)).astype(np.int64),
            "injured": (rng.random(n) * (injured_max + 1)).astype(np.int64),
            "offset": offset,
            "duration": duration,
            "confidential": rng.random(n) < 0.03,
        }
    )
    start = pl.lit(FIRST_DAY) + pl.duration(days=pl.col("offset"))
    narrative = pl.col("template")
    for name in ("place", "killed", "injured", "weapon", "time"):
        narrative = narrative.str.replace_all("{" + name + "}", pl.col(name).cast(pl.String), literal=True)
    contract = load_contracts().contract("incidents")
    columns = {
        "incident_id": pl.format("{}-{}", pl.lit(ngo_id), pl.col("row").cast(pl.String).str.zfill(7)),
        "title": pl.col("title_template").str.replace_all("{place}", pl.col("place"), literal=True),
        "date_start": start.cast(pl.String),
        "date_end": pl.when(pl.col("duration") > 0).then((start + pl.duration(days=pl.col("duration"))).cast(pl.String)),
        "date_precision": pl.lit("day"),
        "place": pl.col("place"),
        "latitude": pl.col("latitude"),
        "longitude": pl.col("longitude"),
        "geo_precision": pl.lit("point"),
        "place_id": pl.col("place_id"),
        "admin1_pcode": pl.col("admin1_pcode"),
        "admin2_pcode": pl.lit(None, dtype=pl.String),
        "admin3_pcode": pl.lit(None, dtype=pl.String),
        "violation_types": pl.col("violation_types"),
        "weapons": pl.when(pl.col("weapons") != "").then(pl.col("weapons")),
        "killed": pl.col("killed"),
        "injured": pl.col("injured"),
        "narrative": narrative + pl.col("closing"),
        "language": pl.lit("en"),
        "confidential_source": pl.when(pl.col("confidential")).then(pl.lit("true")).otherwise(pl.lit("false")),
    }
    missing = [name for name in contract.field_names if name not in columns]
    if missing:
        raise WorkbenchError(f"the benchmark package does not fill incident field(s) {', '.join(missing)}")
    return frame.select(columns[name].alias(name) for name in contract.field_names)


def _actor_id(ngo_id: str, index: pl.Expr) -> pl.Expr:
    return pl.format("{}-A{}", pl.lit(ngo_id), (index + 1).cast(pl.String).str.zfill(4))


def benchmark_actor_frames(incidents: int, actors: int, seed: int, ngo_id: str = BENCHMARK_ID) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``actors`` invented actors and their links to incidents ``{ngo_id}-0000001``...: (actors, incident_actors).

    Each incident names one to three distinct actors (see ``ACTORS_PER_INCIDENT``), picked by a
    Zipf-like law so that a few units are in many incidents and most in few. The first actor of an
    incident is its alleged perpetrator; the others mostly too, some commanding or supporting.
    """
    if actors < 1:
        raise WorkbenchError("actors must be at least 1")
    contracts = load_contracts()
    unknown = [code for code, *_ in ACTOR_KINDS if code not in contracts.vocabulary("actor_types").codes]
    unknown += [code for code, _ in OTHER_ROLES if code not in contracts.vocabulary("actor_roles").codes]
    if unknown:
        raise WorkbenchError(f"the benchmark actors use code(s) {', '.join(unknown)} that the vocabularies do not have")
    rng = np.random.default_rng([seed, 98])  # its own stream: the incidents stay the same with or without actors
    shares = np.array([share for _, share, *_ in ACTOR_KINDS])
    kind = rng.choice(len(ACTOR_KINDS), size=actors, p=shares / shares.sum())
    actor_rows = pl.DataFrame({"index": np.arange(actors), "kind": kind}).select(
        _actor_id(ngo_id, pl.col("index")).alias("actor_id"),
        pl.format("{} {}", _lookup([unit for *_, unit, _ in ACTOR_KINDS], kind), pl.col("index") + 101).alias("name"),
        _lookup([code for code, *_ in ACTOR_KINDS], kind).alias("actor_type"),
        _lookup([affiliation for *_, affiliation in ACTOR_KINDS], kind).alias("affiliation"),
    )

    popularity = 1.0 / np.arange(1, actors + 1) ** ACTOR_SKEW
    popularity /= popularity.sum()
    per_incident = np.minimum(rng.choice(len(ACTORS_PER_INCIDENT), size=incidents, p=ACTORS_PER_INCIDENT) + 1, actors)
    slots = [rng.choice(actors, size=incidents, p=popularity) for _ in ACTORS_PER_INCIDENT]
    for j in range(1, len(slots)):  # distinct actors within an incident: step past the ones already named
        for _ in range(j):
            taken = np.any([slots[j] == slots[k] for k in range(j)], axis=0)
            slots[j] = np.where(taken, (slots[j] + 1) % actors, slots[j])
    role_names, role_shares = zip(*OTHER_ROLES)
    links = pl.concat(
        pl.DataFrame({"row": np.arange(1, incidents + 1), "slot": np.full(incidents, j), "actor": slots[j],
                      "role": np.zeros(incidents, dtype=np.int64) if j == 0 else rng.choice(len(role_names), size=incidents, p=role_shares)})
        .filter(pl.col("slot") < pl.Series(per_incident))
        for j in range(len(slots))
    ).sort("row", "slot")  # fmt: skip
    link_rows = links.select(
        pl.format("{}-{}", pl.lit(ngo_id), pl.col("row").cast(pl.String).str.zfill(7)).alias("incident_id"),
        _actor_id(ngo_id, pl.col("actor")).alias("actor_id"),
        _lookup(list(role_names), links["role"].to_numpy()).alias("role"),
    )
    return actor_rows, link_rows


def write_benchmark_package(out_dir: Path, *, incidents: int = 1_000_000, seed: int = 2011, overwrite: bool = False,
                            ngo_id: str = BENCHMARK_ID, name: str = BENCHMARK_NAME, actors: int = 0) -> Path:
    """Write ``out_dir/{ngo_id}/``: a manifest and one large, near-perfect ``incidents.csv``.

    Built column-wise: a million incidents take seconds and well under 2 GiB of memory. Several
    packages with different ``ngo_id`` (and seeds, so that their data differ) make a many-NGO store.
    With ``actors > 0`` the package also holds ``actors.csv`` (that many invented units and groups)
    and ``incident_actors.csv`` (one to three per incident, see :func:`benchmark_actor_frames`).

    >>> folder = write_benchmark_package(Path("/tmp/bench"), incidents=20_000)  # doctest: +SKIP
    >>> folder.name  # doctest: +SKIP
    'BENCH'
    """
    if incidents < 1:
        raise WorkbenchError("incidents must be at least 1")
    if actors < 0:
        raise WorkbenchError("actors must be 0 (no actor files) or more")
    folder = Path(out_dir) / ngo_id
    if folder.exists():
        if not overwrite:
            raise WorkbenchError(f"{folder} already exists; remove it or pass overwrite=True")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    contracts = load_contracts()
    manifest = {
        "ngo": {"id": ngo_id, "name": name, "name_ar": "وحدة التوثيق المرجعية (وهمية)"},
        "submission_ref": f"{ngo_id}-{incidents}-{seed}",
        "contract_version": contracts.version,
        "reporting_period": {"start": FIRST_DAY.isoformat(), "end": LAST_DAY.isoformat()},
        "submitted_at": dt.datetime(2025, 1, 15, 9, 0).isoformat() + "Z",
        "language": "en",
        "date_order": "day_first",
        "contact_point": {"role": "Data officer", "email": f"data@{ngo_id.lower()}.example.org"},
        "files": [{"path": f"{record_type}.csv", "record_type": record_type}
                  for record_type in ("incidents", *(("actors", "incident_actors") if actors else ()))],
        "disclosure": {"source_confidential": False, "consent_basis": "informed_consent", "default": "not_allowed",
                       "authorities": [{"authority": "DE-GBA (Federal Prosecutor, Germany)", "decision": "allowed"}]},
    }  # fmt: skip
    (folder / "manifest.yaml").write_bytes(yaml_bytes(manifest))
    benchmark_frame(incidents, seed, ngo_id).write_csv(folder / "incidents.csv")
    if actors:
        actor_rows, link_rows = benchmark_actor_frames(incidents, actors, seed, ngo_id)
        actor_rows.write_csv(folder / "actors.csv")
        link_rows.write_csv(folder / "incident_actors.csv")
    return folder
