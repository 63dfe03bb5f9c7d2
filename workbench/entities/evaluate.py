"""How good is an entity extractor: precision, recall and F1 per label and language against passages annotated by hand.

The annotated set (``tests/fixtures/entities/annotated.jsonl``) holds passages copied verbatim from the
Syrian Archive's public investigation pages, English and Arabic, one JSON object a line:
``{"id", "source", "language": "en"|"ar", "text", "entities": [{"start", "end", "label", "text"}]}``,
where ``start``/``end`` are character offsets into ``text`` (end exclusive) and ``text[start:end]``
equals the entity's ``text``.

Annotation guidelines
---------------------
Four labels. Every mention that fits a label is annotated, however often it repeats; a passage with
no mention is kept (it measures false alarms). The guidelines name surface forms so that two
annotators (or one annotator twice) agree; they do not ask what a rule-based extractor can find.

**PLACE**: a named geographic place: country, governorate, district, town, village, neighbourhood,
region ("Eastern Ghouta", "غوطة دمشق"), street or river, when the text uses it as a location.

- Countries are included ("transferred to Turkey", "in Syria", "Syrian Arab Republic"), but a country
  name standing for its state as an agent is an ACTOR (below).
- Designator words are left out: "Idlib province", "the Damascus countryside", "Al Mashhad district",
  "محافظة حماة", "ريف إدلب الجنوبي", "جبهة جوبر" give "Idlib", "Damascus", "Al Mashhad", "حماة",
  "إدلب", "جوبر". The one exception is the governorate whose official name holds the word: "ريف دمشق"
  (Rif Dimashq) is kept whole.
- Descriptions are not names: "the northern neighbourhood" / "الحي الشمالي", "the Syrian capital".
- Facilities (hospitals, mosques, markets, schools) are not places, named or not; when a facility is
  named after its town, the town is annotated: "Binnish hospital", "the Atarib market",
  "مستشفى معرة النعمان الوطني" give "Binnish", "Atarib", "معرة النعمان".
- A place inside the name of an organisation, media outlet, social-media page or treaty is not
  annotated ("Edlib Media Center", "Washington Post", "صفحة زردنا الحدث"); a place naming where an
  event happened is ("the Ghouta massacre", "the Astana Talks"), and so is a city in a time zone
  ("بتوقيت دمشق").

**ACTOR**: a party that can commit a violation: armed forces and their branches and units ("Syrian
army", "Russian air force", "Division 13", "سلاح الجو الروسي"), security and intelligence services,
armed groups ("ISIS", "HTS", "Ahrar al-Sham", "جبهة النصرة"), coalitions of belligerents
("Russian-Syrian alliance", "CJTF-OIR", "قوات التحالف الدولي"), and governments and their defence
ministries ("the Syrian government", "the Assad regime", "US authorities", "وزارة الدفاع الروسية").

- A bare "the regime", "the government", "the army" / "النظام", "الحكومة" is annotated when it refers to
  a state party ("not under government control" gives "government").
- A country name is an ACTOR when it stands for the state acting: rejecting, signing, attacking,
  designating, intervening ("Syria and Russia rejected", "the US has been striking", "تدخل روسيا").
- "forces", "militia", "قوات" joined to the actor's name belong to the span ("Russian forces",
  "Hezbollah militia", "قوات لحزب الله", "قوات الجيش السوري"); nationality adjectives alone are never
  annotated ("Russian airstrikes" gives only the WEAPON "airstrikes").
- "aviation" with an owner is the air force, an ACTOR ("الطيران الروسي", "الطيران الحربي السوري");
  without one it is the aircraft, a WEAPON ("الطيران الحربي").
- Coordinated ellipsis is one span: "Russian and Syrian Air Forces", "القوات الجوية الروسية أو السورية".
- Not actors: generic classes ("the opposition", "rebels", "armed groups", "militants", "المعارضة"),
  non-armed bodies (civil defence, OPCW, UN agencies, NGOs, media, universities, religious
  associations, foreign ministries, parliaments) and persons (their names belong to PII screening).
  "تنظيم" is part of the group's Arabic name ("تنظيم داعش", "تنظيم القاعدة"); "ISIS terrorist group"
  gives "ISIS".

**WEAPON**: a weapon, munition, chemical agent or means of attack: named types ("RBK-500",
"AO-2.5RT/RTM", "Hellfire missiles", "Sukhoi 22"), munition nouns ("rockets", "bombs", "barrel bombs",
"cluster munitions", "submunitions", "ammunition", "صواريخ فراغية", "البراميل المتفجرة"), chemical agents
("sarin", "chlorine gas", "mustard gas", "chemical agent", "nerve agent", "chemical gas", and "gas"
when it means the agent), attacks named by their means ("airstrike", "air raid", "chemical attack",
"aerial bombardment", "غارة جوية", "الضربات الجوية", "هجوم كيماوي") and military aircraft
("warplanes", "helicopter", "military aircraft", "Su-24").

- The span is the weapon phrase with its type modifiers ("anti-tank TOW missiles",
  "بصواريخ تاو المضادة للدبابات"), without numbers and nationality ("four rockets" gives "rockets",
  "بثلاث غارات جوية" gives "غارات جوية").
- A weapon term is annotated wherever it occurs, also as a modifier ("chemical weapons attacks" gives
  "chemical weapons", "munition types" gives "munition").
- "weapons" alone or with a general adjective ("banned weapons", "conventional weapons",
  "الأسلحة التقليدية") is not a weapon type; "incendiary weapons", "light weapons",
  "الأسلحة الكيماوية" are, and so is the nominal "الكيماوي" ("مجزرة الكيماوي").
- An attack noun alone is an event, not a means: "attack", "strike", "bombing", "bombardment",
  "shelling", "الهجوم", "القصف". Qualified by an adjective of means it is one WEAPON span
  ("chemical attacks", "aerial bombardment", "هجومًا كيميائيًا"); qualified by a weapon noun, the
  noun alone is ("chemical weapons attacks" gives "chemical weapons"). "airstrike" and "غارة" name
  the means by themselves.
- Weapon words inside a treaty or organisation name are not annotated ("Convention on Cluster
  Munitions", "Organisation for the Prohibition of Chemical Weapons", "منظمة حظر الأسلحة الكيميائية").
- Generic aircraft words ("aircraft", "plane", "flight") are not annotated.

**DATE**: an explicit calendar date, month or year: "4 April 2017", "April 4th 2017", "04/04/2017",
"August 2013", "2014", "November", "21 August", "٢٧ شباط ٢٠١٦", "13 تشرين الثاني/نوفمبر 2017",
"16 مارس / آذار 2017", "الثاني من أبريل 2017", "الواحد والعشرين من آب".

- Weekdays, "year"/"month" words and times are left out ("Tuesday April 4th 2017" gives
  "April 4th 2017", "عام 2014" gives "2014", "في شهر آب" gives "آب"; "6.30am" is nothing).
- Relative expressions are not dates ("yesterday", "two years later", "the following day").
- Each end of a range is its own span ("2013-2018" gives "2013" and "2018"); a year inside a treaty
  or census phrase is still a date ("the 2008 Convention", "(2004 census)"). Numbers that are not
  dates are not ("resolution 2118").

**Spans.** Spans cover whole words: they start at the beginning of a word and end at the end of one,
and never include surrounding spaces, quotes, brackets or punctuation. Arabic one-letter proclitics
(و ف ب ل ك, and لل) written joined to the first word of an entity belong to the span ("بحلب",
"وروسيا", "للحكومة السورية", "و30 مارس 2017"), because a word-level tokenizer cannot split them; the
relaxed score below forgives an extractor that strips them. English possessives are outside
("Aleppo's" gives "Aleppo"). Spans never overlap.

Scoring
-------
*Exact*: a predicted span is right when its start, end and label equal a gold span's. *Relaxed*: when
it overlaps a gold span of the same label; predictions and gold spans are paired one to one, largest
overlap first. Precision is right/predicted, recall right/gold, F1 = 2·right/(predicted + gold); a
ratio with nothing to divide by is null. Predictions with a label outside ``labels`` are ignored.

>>> example = Example("x", "demo.md", "en", "Airstrikes hit Idlib on 4 April 2017.",
...                   (Span(15, 20, "PLACE", "Idlib"), Span(24, 36, "DATE", "4 April 2017")))
>>> frame = evaluate(lambda text, language: [(15, 20, "PLACE"), (24, 31, "DATE")], [example])
>>> frame.filter(language="all", label="ALL").select("match", "true_positives", "precision", "recall").rows()
[('exact', 1, 0.5, 0.5), ('relaxed', 2, 1.0, 1.0)]
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from workbench.errors import WorkbenchError

if TYPE_CHECKING:  # only for the hints: importing these loads spaCy
    from spacy.language import Language

    from workbench.entities.lexicon import Lexicon
    from workbench.store import Store

# The labels of the agreed API (workbench.entities.pipeline.LABELS), repeated here so that evaluating
# a predictor does not import spaCy.
LABELS: tuple[str, ...] = ("PLACE", "ACTOR", "WEAPON", "DATE")
LANGUAGES: tuple[str, ...] = ("en", "ar")
MATCHES: tuple[str, ...] = ("exact", "relaxed")
SCORE_SCHEMA = {"match": pl.String, "language": pl.String, "label": pl.String, "true_positives": pl.Int64,
                "predicted": pl.Int64, "gold": pl.Int64, "precision": pl.Float64, "recall": pl.Float64, "f1": pl.Float64}

Predictor = Callable[[str, str], Iterable[tuple[int, int, str]]]


@dataclass(frozen=True)
class Span:
    """One annotated mention: character offsets into the passage (end exclusive) and its label."""

    start: int
    end: int
    label: str
    text: str


@dataclass(frozen=True)
class Example:
    """One hand-annotated passage."""

    id: str
    source: str
    language: str
    text: str
    entities: tuple[Span, ...]


def load_examples(path: Path | str) -> list[Example]:
    """Read an annotated JSONL file, checking every line; raise once with all the problems found."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise WorkbenchError(f"cannot read the annotated passages {path}: {exc.strerror}") from None
    examples, problems, seen = [], [], set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            example = _example(json.loads(line))
        except KeyError as exc:
            problems.append(f"{where}: the field {exc} is missing")
            continue
        except (ValueError, TypeError) as exc:
            problems.append(f"{where}: not an annotated passage ({exc})")
            continue
        problems += [f"{where} ({example.id}): {problem}" for problem in _check(example)]
        if example.id in seen:
            problems.append(f"{where}: the id {example.id!r} is used twice")
        seen.add(example.id)
        examples.append(example)
    if problems:
        raise WorkbenchError("the annotated passages have problems:\n" + "\n".join(problems))
    return examples


def _example(row: dict) -> Example:
    spans = tuple(Span(int(e["start"]), int(e["end"]), str(e["label"]), str(e["text"])) for e in row["entities"])
    return Example(str(row["id"]), str(row["source"]), str(row["language"]), str(row["text"]), spans)


def _check(example: Example) -> list[str]:
    problems = []
    if example.language not in LANGUAGES:
        problems.append(f"language {example.language!r} is not one of {', '.join(LANGUAGES)}")
    previous_end = 0
    for span in sorted(example.entities, key=lambda s: (s.start, s.end)):
        if span.label not in LABELS:
            problems.append(f"label {span.label!r} at {span.start} is not one of {', '.join(LABELS)}")
        if not 0 <= span.start < span.end <= len(example.text):
            problems.append(f"span {span.start}-{span.end} lies outside the text ({len(example.text)} characters)")
        elif example.text[span.start:span.end] != span.text:
            problems.append(f"span {span.start}-{span.end} reads {example.text[span.start:span.end]!r}, not {span.text!r}")
        if span.start < previous_end:
            problems.append(f"span {span.start}-{span.end} overlaps the span before it")
        previous_end = max(previous_end, span.end)
    return problems


def _predicted(predict: Predictor, example: Example, labels: Collection[str]) -> set[tuple[int, int, str]]:
    spans = set()
    for start, end, label in predict(example.text, example.language):
        if not 0 <= start < end <= len(example.text):
            raise WorkbenchError(f"the predictor returned the span {start}-{end} for passage {example.id}, "
                                 f"which has {len(example.text)} characters")
        if label in labels:
            spans.add((int(start), int(end), str(label)))
    return spans


def _relaxed_pairs(gold: set[tuple[int, int, str]], predicted: set[tuple[int, int, str]]) -> set[tuple[int, int, str]]:
    """Gold spans paired one to one with an overlapping prediction of the same label, largest overlap first."""
    candidates = sorted(
        ((min(g[1], p[1]) - max(g[0], p[0]), g, p) for g in gold for p in predicted
         if g[2] == p[2] and g[0] < p[1] and p[0] < g[1]),
        key=lambda c: (-c[0], c[1], c[2]))
    used_gold, used_predicted = set(), set()
    for _, g, p in candidates:
        if g not in used_gold and p not in used_predicted:
            used_gold.add(g)
            used_predicted.add(p)
    return used_gold


def evaluate(predict: Predictor, examples: Sequence[Example], *, labels: Sequence[str] = LABELS) -> pl.DataFrame:
    """Score ``predict(text, language) -> [(start, end, label), ...]`` on ``examples``.

    One row per match ("exact", "relaxed"), language ("all", then each language present) and label
    (each of ``labels``, then "ALL", the micro-average over them): true_positives, predicted, gold,
    precision, recall, f1.
    """
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for example in examples:
        gold = {(s.start, s.end, s.label) for s in example.entities if s.label in labels}
        predicted = _predicted(predict, example, labels)
        for match, right in (("exact", gold & predicted), ("relaxed", _relaxed_pairs(gold, predicted))):
            for field, spans in (("true_positives", right), ("predicted", predicted), ("gold", gold)):
                for _, _, label in spans:
                    for language in ("all", example.language):
                        counts[match, language, label, field] += 1
                        counts[match, language, "ALL", field] += 1
    present = {example.language for example in examples}
    languages = ["all", *(lang for lang in LANGUAGES if lang in present), *sorted(present - set(LANGUAGES))]
    rows = []
    for match in MATCHES:
        for language in languages:
            for label in (*labels, "ALL"):
                tp, predicted, gold = (counts[match, language, label, field] for field in ("true_positives", "predicted", "gold"))
                rows.append({"match": match, "language": language, "label": label, "true_positives": tp,
                             "predicted": predicted, "gold": gold,
                             "precision": tp / predicted if predicted else None, "recall": tp / gold if gold else None,
                             "f1": 2 * tp / (predicted + gold) if predicted + gold else None})
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def mistakes(predict: Predictor, examples: Sequence[Example], *, labels: Sequence[str] = LABELS) -> pl.DataFrame:
    """The exact-match mistakes, to read: one row per gold span missed ("missed") or prediction not in the gold ("spurious")."""
    rows = []
    for example in examples:
        gold = {(s.start, s.end, s.label) for s in example.entities if s.label in labels}
        predicted = _predicted(predict, example, labels)
        for kind, spans in (("missed", gold - predicted), ("spurious", predicted - gold)):
            rows += [{"id": example.id, "language": example.language, "kind": kind, "label": label, "start": start,
                      "end": end, "text": example.text[start:end]} for start, end, label in sorted(spans)]
    schema = {"id": pl.String, "language": pl.String, "kind": pl.String, "label": pl.String, "start": pl.Int64,
              "end": pl.Int64, "text": pl.String}
    return pl.DataFrame(rows, schema=schema)


def pipeline_predictor(*, store: Store | None = None, lexicon: Lexicon | None = None, model: str | None = None,
                       methods: Collection[str] | None = None) -> Predictor:
    """A predictor running the workbench pipelines: ``build_pipeline(language, ...)`` then ``mentions``.

    ``store``, ``lexicon`` and ``model`` go to ``build_pipeline``; ``methods`` keeps only the mentions
    found by those methods ("rules", "model"), all when None. One pipeline is built per language, on
    its first passage, so spaCy is imported only when the predictor runs.
    """
    pipelines: dict[str, Language] = {}

    def predict(text: str, language: str) -> list[tuple[int, int, str]]:
        from workbench.entities.extract import mentions
        from workbench.entities.pipeline import build_pipeline

        if language not in pipelines:
            pipelines[language] = build_pipeline(language, store=store, lexicon=lexicon, model=model)
        found = next(iter(mentions(pipelines[language], [text])))
        return [(m.start, m.end, m.label) for m in found if methods is None or m.method in methods]

    return predict
