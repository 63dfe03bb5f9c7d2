"""Mentions out of texts: what the pipeline found, where, and what it refers to.

Linking rules (``resolved_id``, ``candidates``):

* a place spelling that names one place resolves to ``place:<place_id>`` (its coordinates and
  admin units are in ``gazetteer_places``); a spelling several places share stays unresolved
  with their ids as candidates; a country resolves to ``country:<id>`` (``countries.yaml``);
* a place named right after another place and a comma ("Izaz, Aleppo", "في إعزاز، حلب") resolves
  to an admin unit of that name containing the first place when there is one (the widest:
  governorate, then district, then subdistrict), not to the town of the same name; not when a
  prefix is joined to it ("إعزاز، وحلب" is a list). When the first place was ambiguous and
  exactly one of its candidates lies in that unit, it resolves to that candidate ("Kafr Sous, Idlib");
* an actor resolves to ``actor:<lexicon id>`` or ``actor:store:<ngo_id>/<actor_id>``. When a
  spelling belongs to several (the lexicon and an NGO's own actor list, or several NGOs), the
  record's own NGO's actor wins, else the lexicon's entry if there is one; an actor listed only
  by other NGOs is a candidate, never the resolution, of another NGO's mention (:func:`choose`);
* a date resolves to ``date:YYYY-MM-DD``, ``date:YYYY-MM`` or ``date:YYYY`` as far as it goes
  (a day and month without a year stay unresolved);
* a weapon resolves to ``weapon:<lexicon id>``;
* entities of a statistical model (``method`` "model") take the id of a rule entity with the
  same span, else stay unresolved.

>>> from workbench.entities.pipeline import build_pipeline
>>> [found] = mentions(build_pipeline("en"), ["Barrel bombs hit Douma on 12 March 2013."])
>>> [(m.label, m.text, m.resolved_id) for m in found]
[('WEAPON', 'Barrel bombs', 'weapon:barrel-bomb'), ('PLACE', 'Douma', 'place:gn:170592'), ('DATE', '12 March 2013', 'date:2013-03-12')]
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import repeat, tee

from spacy.language import Language
from spacy.tokens import Doc, Span

from workbench.entities.patterns import MonthWords, PlaceHierarchy, numeric_date
from workbench.entities.pipeline import CANDIDATES_PIPE, FOUND_KEY, MODEL_PIPE, MODEL_SPANS, Candidates
from workbench.gazetteer import name_key

METHODS = ("rules", "model")
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")
_LATIN_LETTER = re.compile("[A-Za-z]")
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_NUMBER = re.compile(r"\d+")
# punctuation, symbols and spaces at either edge (not Arabic marks: "برميلاً" keeps its tanwin)
_EDGE = re.compile(r"^[\s!-/:-@\[-`{-~«»“”‘’،؛؟…–—]+|[\s!-/:-@\[-`{-~«»“”‘’،؛؟…–—]+$")
# what stands between a place and the admin unit it lies in: "Izaz, Aleppo", "إعزاز، حلب"
_PLACE_COMMA = re.compile(r"\s*[,،]\s*")


@dataclass(frozen=True)
class Mention:
    """One entity in one text; ``start`` and ``end`` are character offsets (``text[start:end]``)."""

    label: str
    text: str
    start: int
    end: int
    resolved_id: str | None
    candidates: tuple[str, ...]
    method: str


def language_of(text: str) -> str:
    """"ar" when the text holds more Arabic letters than Latin ones, else "en".

    >>> language_of("قصف على حلب (Aleppo)"), language_of("Shelling of Douma")
    ('ar', 'en')
    """
    return "ar" if len(_ARABIC_LETTER.findall(text)) > len(_LATIN_LETTER.findall(text)) else "en"


def mentions(nlp: Language, texts: Iterable[str], *, batch_size: int = 256,
             ngo_ids: Iterable[str | None] | None = None) -> Iterator[list[Mention]]:
    """The mentions of each text, in order (``nlp.pipe``); ``ngo_ids`` gives each text's NGO for :func:`choose`."""
    holder = nlp.get_pipe(CANDIDATES_PIPE)
    owners = iter(ngo_ids) if ngo_ids is not None else repeat(None)
    with_model = MODEL_PIPE in nlp.pipe_names
    # the texts again beside their documents: Doc.text rebuilds the text word by word
    texts, again = tee(texts)
    for doc, text in zip(nlp.pipe(texts, batch_size=batch_size), again):
        yield doc_mentions(doc, holder, ngo_id=next(owners), with_model=with_model, text=text)


def doc_mentions(doc: Doc, holder: Candidates, *, ngo_id: str | None = None, with_model: bool = True,
                 text: str | None = None) -> list[Mention]:
    """The mentions of one processed document (rule entities, then the model's); ``holder`` is the
    pipeline's ``workbench_candidates`` component, ``text`` the document's text when at hand."""
    found: list[Mention] = []
    places: list[tuple[int, Span]] = []  # (index in found, span) of the place mentions
    text = doc.text if text is None else text
    by_span: dict[tuple[int, int], str] = {}
    for ent, label, entity_id in _entities(doc):
        by_span[(ent.start_char, ent.end_char)] = entity_id
        if label == "PLACE":
            if holder.trims and len(ent) > 1:
                lead, trail = holder.trims.get(tuple(token.norm for token in ent), (0, 0))
                ent = doc[ent.start + lead:ent.end - trail] if lead or trail else ent
            places.append((len(found), ent))
        if label == "DATE":
            resolved, alternatives = date_id(ent, holder.months), ()
        elif "?" in entity_id:
            alternatives = holder.candidates.get(entity_id, ())
            resolved = choose(alternatives, ngo_id)
        else:
            resolved, alternatives = entity_id, ()
            if ngo_id is not None and _foreign_actor(entity_id, ngo_id):
                resolved, alternatives = None, (entity_id,)
        found.append(Mention(label, *_trimmed(text[ent.start_char:ent.end_char], ent.start_char), resolved, alternatives, "rules"))
    if len(places) > 1 and holder.hierarchy.units:
        _link_admin_units(found, places, holder.hierarchy, text)
    if not with_model or MODEL_SPANS not in doc.spans:  # doc.spans costs a little: only when a model ran
        return found
    for span in doc.spans[MODEL_SPANS]:
        same = by_span.get((span.start_char, span.end_char))
        resolved = same if same and "?" not in same and same != "date" else None
        found.append(Mention(span.label_, *_trimmed(span.text, span.start_char), resolved, (), "model"))
    return found


def _link_admin_units(found: list[Mention], places: list[tuple[int, Span]], hierarchy: PlaceHierarchy, text: str) -> None:
    """"Izaz, Aleppo": a place right after another place and a comma, read as the admin unit containing it
    (see the module docstring); changes ``found`` in place."""
    for (first_at, _), (second_at, span) in zip(places, places[1:]):
        first, second = found[first_at], found[second_at]  # found[first_at] may have just been linked
        if not _PLACE_COMMA.fullmatch(text[first.end:second.start]) or span[0].norm_ != name_key(span[0].text):
            continue  # not right after the comma, or "إعزاز، وحلب": a joined "and" makes a list
        inner = (first.resolved_id,) if first.resolved_id else first.candidates
        place_ids = [c.removeprefix("place:") for c in inner if c.startswith("place:")]
        unit = hierarchy.containing(tuple(token.norm for token in span), place_ids)
        if unit is None:
            continue
        found[second_at] = replace(second, resolved_id=f"place:{unit[2]}")
        inside = [place_id for place_id in place_ids if hierarchy.contains(unit, place_id)]
        if first.resolved_id is None and len(inside) == 1:
            found[first_at] = replace(first, resolved_id=f"place:{inside[0]}")


def _trimmed(text: str, start: int) -> tuple[str, int, int]:
    """The text without the punctuation a word kept at its edges ('حلب".' -> 'حلب'), and its offsets."""
    if _EDGE.search(text) is None:
        return text, start, start + len(text)
    inner = _EDGE.sub("", text)
    offset = text.find(inner) if inner else 0
    return (inner or text), start + offset, start + offset + len(inner or text)


def _entities(doc: Doc) -> list[tuple[Span, str, str]]:
    """(span, label, id) of the rule entities, in text order: what the rulers recorded, else ``doc.ents``."""
    recorded = doc.user_data.get(FOUND_KEY)
    if recorded is None:
        return [(ent, ent.label_, ent.ent_id_) for ent in doc.ents]
    return [(Span(doc, start, end), label, entity_id) for start, end, label, entity_id in sorted(recorded)]


def _foreign_actor(entity_id: str, ngo_id: str) -> bool:
    return entity_id.startswith("actor:store:") and not entity_id.startswith(f"actor:store:{ngo_id}/")


def choose(candidates: tuple[str, ...], ngo_id: str | None = None) -> str | None:
    """The candidate an ambiguous actor mention resolves to (see the module docstring), or None.

    >>> choose(("actor:afi", "actor:store:A/A03", "actor:store:B/B07"), "A")
    'actor:store:A/A03'
    >>> choose(("actor:afi", "actor:store:A/A03"), "C"), choose(("place:C1", "place:C2"))
    ('actor:afi', None)
    """
    if ngo_id is not None:
        own = [c for c in candidates if c.startswith(f"actor:store:{ngo_id}/")]
        if len(own) == 1:
            return own[0]
    lexicon = [c for c in candidates if c.startswith("actor:") and not c.startswith("actor:store:")]
    if len(lexicon) == 1:
        return lexicon[0]
    if ngo_id is None:
        stored = [c for c in candidates if c.startswith("actor:store:")]
        if len(stored) == 1 and len(candidates) == 1:
            return stored[0]
    return None


def _number(word: str) -> int:
    """The number in a word of class <day> or <year> ("12th", "و2016", "١٢")."""
    return int(_NUMBER.search(word.translate(_DIGITS)).group())


def date_id(span: Span, months: MonthWords) -> str | None:
    """``date:`` and the ISO date, month or year a DATE span names; None without a year or when invalid."""
    year = month = None
    numbers: list[int] = []
    tokens = list(span)
    for position, token in enumerate(tokens):
        shape, norm = token.shape_, token.lex.norm_
        if shape == "<date>":
            value = numeric_date(token.text)
            return f"date:{value.isoformat()}" if value else None
        if shape == "<year>":
            year = _number(token.text)
        elif shape == "<day>":
            numbers.append(_number(token.text))
        elif shape == "<month>" and month is None:
            month = months.single.get(norm)
        elif shape == "<month1>" and month is None and position + 1 < len(tokens):
            month = months.double.get((norm, tokens[position + 1].lex.norm_))
    if year is None:
        return None
    day = None
    if month is None and len(numbers) == 2:  # 2013-03-12 or 12-03-2013
        month, day = numbers if tokens[0].shape_ == "<year>" else numbers[::-1]
    elif numbers:
        day = numbers[0]
    if month is None:
        return f"date:{year:04d}"
    try:
        return f"date:{datetime.date(year, month, day or 1).isoformat()[: 10 if day else 7]}"
    except ValueError:
        return None
