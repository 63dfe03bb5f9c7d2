"""Entity extraction speed: paragraphs per second of the rule pipelines, against spaCy's bare tokenizer on the same texts.

    python benchmarks/entities.py [--paragraphs 100000] [--source real|synthetic] [--texts DIR] [--repeat 3] [--json]

The texts, English and Arabic, ``--paragraphs`` of each:

* ``real`` (default): the paragraphs of the Syrian Archive's public investigation pages
  (``../shared/data/real/syrianarchive-investigations-text/``, or ``--texts DIR``; ``*_ar.md`` are
  the Arabic pages, the other ``*.md`` the English ones), split at blank lines, with their
  whitespace collapsed, keeping those of at least 80 characters that are not a heading, a table
  row, a picture or a bare link; about 1,400 distinct paragraphs per language (~340 characters
  and ~60 tokens in English, ~300 and ~55 in Arabic), cycled in their order up to ``--paragraphs``;
* ``synthetic``: narratives written like the synthetic generator's (``workbench.synth``: its
  scenarios and their weights, its English and Arabic narrative templates, the towns of its place
  pool, its weapons and times, and a closing sentence as ``benchmark_frame`` adds), seeded:
  ~190 characters and ~35 tokens in English, ~130 and ~25 in Arabic.

Paragraphs per second depend on the paragraphs' length; the ratio to the tokenizer much less.

For each language, in its own fresh process (benchmarks/harness.py), after the texts are made and
``build_pipeline(language)`` is built (its time is shown, without loading the built-in gazetteer),
interleaved ``--repeat`` times:

1. floor: ``spacy.blank(language).tokenizer.pipe(texts)``, every document consumed;
2. ours: ``mentions(build_pipeline(language), texts)``, every mention made: what
   ``extract_store`` does per text (the rulers, then linking each entity), not only ``nlp.pipe``.

The fastest of each is reported; the first runs are cold (words seen for the first time get their
NORM and SHAPE). Targets: at least 20,000 paragraphs per second in each language, and ours within
6x the tokenizer. Peak memory is the process's (texts, both pipelines and the runs). Prints a
table, and with ``--json`` one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from harness import measure, peak_bytes  # benchmarks/harness.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LANGUAGES = ("en", "ar")
SOURCES = ("real", "synthetic")
TARGET_RATE = 20_000
TARGET_RATIO = 6.0
MIN_CHARACTERS = 80
SEED = 2011
REAL_TEXTS = Path(os.environ.get("WORKBENCH_SHARED_DATA", ROOT.parent / "shared" / "data")) / "real" / "syrianarchive-investigations-text"
# markdown that is not prose: headings, table rows, pictures, lines that are a link and nothing else
_NOT_PROSE = re.compile(r"^(#|\||!\[|\[[^\]]*\]\([^)]*\)$)")
# the English closings are benchmark_frame's; these say the same in Arabic
CLOSINGS_AR = (" وأكد الرواية مصدران مستقلان.", " وجُمعت صور ومقطع مصور للموقع.", " وأسماء الضحايا محفوظة لدى فريق التوثيق.",
               " وأكد السكان المحليون الوقت والمكان.")


# --- the texts ------------------------------------------------------------------------------------


def real_paragraphs(folder: Path, language: str) -> list[str]:
    """The prose paragraphs of the pages of ``language`` in ``folder``, in file order."""
    files = sorted(p for p in folder.glob("*.md") if p.name.endswith("_ar.md") == (language == "ar"))
    paragraphs = []
    for path in files:
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            paragraph = " ".join(block.split())
            if len(paragraph) >= MIN_CHARACTERS and not _NOT_PROSE.match(paragraph):
                paragraphs.append(paragraph)
    return paragraphs


def synthetic_narratives(language: str, count: int, seed: int) -> list[str]:
    """``count`` narratives as the synthetic generator writes them, in ``language``."""
    import numpy as np

    from workbench.synth.benchmark import CLOSINGS
    from workbench.synth.places import builtin_pool
    from workbench.synth.texts import NARRATIVES_AR, NARRATIVES_EN, TIMES, WEAPONS_AR
    from workbench.synth.world import SCENARIOS

    rng = np.random.default_rng([seed, LANGUAGES.index(language)])
    pool = builtin_pool()
    templates, closings = (NARRATIVES_AR, CLOSINGS_AR) if language == "ar" else (NARRATIVES_EN, CLOSINGS)
    weights = np.array([s.weight for s in SCENARIOS])
    scenarios = rng.choice(len(SCENARIOS), size=count, p=weights / weights.sum())
    places = rng.choice(len(pool.places), size=count, p=pool.weights)
    picks = rng.integers(0, 1 << 30, size=(count, 5))
    texts = []
    for scenario_at, place_at, (template_at, time_at, killed, injured, closing_at) in zip(scenarios, places, picks):
        scenario, place = SCENARIOS[scenario_at], pool.places[place_at]
        weapon = scenario.weapons[0] if scenario.weapons else "bomb"
        options = templates[scenario.key]
        texts.append(options[template_at % len(options)].format(
            place=place.name_ar if language == "ar" else place.name_en,
            weapon=WEAPONS_AR.get(weapon, "برميل متفجر") if language == "ar" else weapon,
            time=TIMES[time_at % len(TIMES)], killed=killed % (scenario.killed[1] + 1), injured=injured % (scenario.injured[1] + 1),
        ) + closings[closing_at % len(closings)])
    return texts


def paragraphs_of(source: str, language: str, count: int, folder: Path) -> list[str]:
    """``count`` paragraphs of ``source`` in ``language`` (real ones cycled; see the module docstring)."""
    if source == "synthetic":
        return synthetic_narratives(language, count, SEED)
    distinct = real_paragraphs(folder, language)
    if not distinct:
        raise SystemExit(f"no {language} paragraphs in {folder}; pass --texts DIR or --source synthetic")
    return [distinct[i % len(distinct)] for i in range(count)]


# --- the measured step, in its own process --------------------------------------------------------


def language_step(language: str, source: str, count: int, folder: Path, repeat: int) -> dict:
    """Make the texts, build the pipeline, then time the bare tokenizer and ours ``repeat`` times, interleaved."""
    from collections import Counter

    import spacy

    from workbench.entities.extract import mentions
    from workbench.entities.patterns import builtin_gazetteer
    from workbench.entities.pipeline import build_pipeline

    texts = paragraphs_of(source, language, count, folder)
    builtin_gazetteer()  # loaded once per process (the synthetic texts load it too): not part of the build time
    start = time.perf_counter()
    nlp = build_pipeline(language)
    build_seconds = time.perf_counter() - start
    tokenizer = spacy.blank(language).tokenizer
    floor_runs, our_runs = [], []
    tokens = 0
    by_label: Counter[str] = Counter()
    for _ in range(repeat):
        start = time.perf_counter()
        tokens = sum(len(doc) for doc in tokenizer.pipe(texts))
        floor_runs.append(time.perf_counter() - start)
        by_label.clear()
        start = time.perf_counter()
        for found in mentions(nlp, texts):
            by_label.update(m.label for m in found)
        our_runs.append(time.perf_counter() - start)
    return {"paragraphs": len(texts), "distinct_paragraphs": len(set(texts)), "mean_characters": sum(map(len, texts)) / len(texts),
            "mean_tokens": tokens / len(texts), "build_seconds": build_seconds, "tokenizer_runs": floor_runs, "ours_runs": our_runs,
            "mentions": sum(by_label.values()), "by_label": dict(sorted(by_label.items())), "peak_bytes": peak_bytes()}


MODULES = ["spacy", "workbench.entities.extract", "workbench.entities.pipeline", "workbench.synth"]


# --- the figures ----------------------------------------------------------------------------------


def figures(language: str, measured: dict) -> dict:
    """The reported figures of one language: fastest runs, rate, ratio, targets."""
    floor, ours = min(measured["tokenizer_runs"]), min(measured["ours_runs"])
    rate, ratio = measured["paragraphs"] / ours, ours / floor
    return {
        "language": language,
        "paragraphs": measured["paragraphs"],
        "distinct_paragraphs": measured["distinct_paragraphs"],
        "mean_characters": round(measured["mean_characters"], 1),
        "mean_tokens": round(measured["mean_tokens"], 1),
        "build_seconds": round(measured["build_seconds"], 3),
        "tokenizer_seconds": round(floor, 6),
        "ours_seconds": round(ours, 6),
        "tokenizer_paragraphs_per_second": round(measured["paragraphs"] / floor),
        "paragraphs_per_second": round(rate),
        "ratio": round(ratio, 2),
        "mentions": measured["mentions"],
        "by_label": measured["by_label"],
        "peak_mib": round(measured["peak_bytes"] / 2**20),
        "runs_seconds": {"tokenizer": [round(s, 6) for s in measured["tokenizer_runs"]], "ours": [round(s, 6) for s in measured["ours_runs"]]},
        "target_met": rate >= TARGET_RATE and ratio <= TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=100_000, help="paragraphs per language")
    parser.add_argument("--source", choices=SOURCES, default="real", help="real paragraphs (cycled) or synthetic narratives")
    parser.add_argument("--texts", type=Path, default=REAL_TEXTS, help="folder of the real pages (*.md, *_ar.md)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the tokenizer and of ours, interleaved; the fastest is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    if args.paragraphs < 1:
        parser.error("--paragraphs must be at least 1")
    if args.source == "real" and not args.texts.is_dir():
        sys.exit(f"the real texts are not at {args.texts}: pass --texts DIR, or --source synthetic")
    repeat = max(1, args.repeat)

    rows = [figures(language, measure(MODULES, language_step, language, args.source, args.paragraphs, args.texts.resolve(), repeat))
            for language in LANGUAGES]
    met = all(row["target_met"] for row in rows)

    where = f"{args.texts}" if args.source == "real" else f"workbench.synth templates, seed {SEED}"
    print(f"entities benchmark: {args.paragraphs:,} {args.source} paragraphs per language ({where}); "
          f"fastest of {repeat} runs; targets >= {TARGET_RATE:,} paragraphs/s and <= {TARGET_RATIO:.0f}x the bare tokenizer")
    header = f"{'language':<9}{'paragraphs':>11}{'tokenizer s':>13}{'ours s':>9}{'paragraphs/s':>14}{'ratio':>7}  target met"
    print(header)
    for row in rows:
        print(f"{row['language']:<9}{row['paragraphs']:>11,}{row['tokenizer_seconds']:>13.2f}{row['ours_seconds']:>9.2f}"
              f"{row['paragraphs_per_second']:>14,}{row['ratio']:>7.2f}  {'yes' if row['target_met'] else 'NO'}")
    for row in rows:
        labels = ", ".join(f"{label} {n:,}" for label, n in row["by_label"].items())
        print(f"  {row['language']}: {row['distinct_paragraphs']:,} distinct paragraphs, {row['mean_characters']:.0f} characters and "
              f"{row['mean_tokens']:.0f} tokens on average; tokenizer {row['tokenizer_paragraphs_per_second']:,} paragraphs/s; "
              f"pipeline built in {row['build_seconds']:.1f} s; {row['mentions']:,} mentions ({labels}); peak {row['peak_mib']:,} MiB; "
              f"runs {({side: [round(s, 2) for s in runs] for side, runs in row['runs_seconds'].items()})}")
    print(f"targets (>= {TARGET_RATE:,} paragraphs/s and <= {TARGET_RATIO:.0f}x the tokenizer, in each language): {'met' if met else 'NOT met'}")
    if args.json:
        print(json.dumps({
            "benchmark": "entities",
            "source": args.source,
            "paragraphs": args.paragraphs,
            "repeat": repeat,
            "languages": {row["language"]: row for row in rows},
            "target": {"paragraphs_per_second_min": TARGET_RATE, "ratio_max": TARGET_RATIO},
            "target_met": met,
        }))


if __name__ == "__main__":
    main()
