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

The patterns, their ids and the word classes they match on (NORM, SHAPE) are built by
:mod:`workbench.entities.patterns`; this module builds and caches the Language and its
components. A spelling that names several places or actors carries ``place?<name key>`` /
``actor?<name key>``, and its candidates (full ids) are kept by the disabled
``workbench_candidates`` component:
``nlp.get_pipe("workbench_candidates").candidates[ent.ent_id_]``; the same component holds the
month names and the place words to cut from a mention, and the admin units of the places
(``holder.hierarchy``, to link "Izaz, Aleppo"), for :mod:`workbench.entities.extract`.

A statistical spaCy model (``model=``) runs beside the rules in its own pipeline (its words keep
their own NORM and SHAPE); its entities (GPE, LOC, FAC -> PLACE; ORG -> ACTOR; DATE) land in
``doc.spans["model"]``, never in ``doc.ents``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

import spacy
from spacy.attrs import NORM, SHAPE
from spacy.language import Language
from spacy.pipeline import EntityRuler
from spacy.tokens import Doc, Span
from spacy.util import compile_suffix_regex, minibatch

from workbench.config import settings
from workbench.entities.lexicon import Lexicon, load_lexicon
from workbench.entities.patterns import (LABELS, MonthWords, Patterns, PlaceHierarchy, builtin_gazetteer, country_patterns,
                                         date_patterns, lexical_classes, lexicon_patterns, merge_patterns, month_patterns,
                                         place_hierarchy, place_patterns, read_months, store_actor_patterns)
from workbench.errors import ConfigError
from workbench.gazetteer import name_key
from workbench.store import Store

# LABELS is defined with the patterns and is part of this module's API too (extract, run and pii import from here)
__all__ = ["LABELS", "CANDIDATES_PIPE", "DATE_PIPE", "FOUND_KEY", "MODEL_PIPE", "MODEL_SPANS", "PLACE_WORD_PIPE", "RULER_PIPE",
           "Candidates", "ModelEntities", "WorkbenchRuler", "build_pipeline", "store_fingerprint"]

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
CACHE_SIZE = 8
TOKENIZER_CACHE = 200_000

_CACHE: OrderedDict[tuple, Language] = OrderedDict()


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
    """Holds what linking needs (candidates of ambiguous pattern ids, month names, place words to cut,
    the admin units of the places); disabled, it never runs."""

    def __init__(self) -> None:
        self.candidates: dict[str, tuple[str, ...]] = {}
        self.months = MonthWords({}, {})
        # NORMs of a place phrase -> how many words of place words to cut at its start and end
        self.trims: dict[tuple[int, ...], tuple[int, int]] = {}
        self.hierarchy = PlaceHierarchy()

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
    country_patterns(lexicon, patterns)
    if store is not None:
        store_actor_patterns(store.frame("SELECT ngo_id, actor_id, name, name_ar FROM active.actors ORDER BY ALL"), patterns)

    nlp = _blank(language)
    months = read_months(contracts_path, lambda word: name_key(word) or word.lower())
    classes = lexical_classes(patterns, months, lexicon)
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
    merged, trims = merge_patterns(nlp.tokenizer, patterns)
    ruler.add_patterns([pattern for pattern, kind in merged if kind != "place word"])
    # after the names: "منطقة خان شيخون" is Khan Shaykhun, not the village Khan after "منطقة"
    after_words = nlp.add_pipe(RULER_FACTORY, name=PLACE_WORD_PIPE, config={"phrase_matcher_attr": "NORM"})
    after_words.add_patterns([pattern for pattern, kind in merged if kind == "place word"])
    holder = nlp.add_pipe(CANDIDATES_PIPE)
    holder.candidates, holder.months, holder.trims = patterns.candidates, months, trims
    holder.hierarchy = place_hierarchy(gazetteer, nlp.tokenizer)
    nlp.disable_pipe(CANDIDATES_PIPE)
    return nlp
