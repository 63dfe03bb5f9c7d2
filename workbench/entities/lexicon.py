"""The actor and weapon lexicons: who and what narratives name, as data.

``data_contracts/entities/actors.yaml`` and ``weapons.yaml`` list entries with a stable ``id``,
a ``type`` (one of the ``types`` the file declares), ``names`` per language (spellings,
abbreviations) and an optional ``parent`` (a division's army, a branch's directorate). The
file's ``label`` (ACTOR or WEAPON) is every entry's label. ``place_stopwords.yaml`` (optional)
lists gazetteer names that are also ordinary words: looked for only after a place word, or never.
``countries.yaml`` (optional) lists countries (entries as above, label PLACE) and the
``after_words`` per language a country must follow to be looked for ("in Syria", "في سوريا").
Everything is checked on load and every problem is reported at once, naming the file and the
entry.

>>> lexicon = load_lexicon()
>>> lexicon.entry("branch-235").parent, lexicon.entry("sarin").label
('military-intelligence', 'WEAPON')
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from workbench.config import settings
from workbench.errors import ContractError
from workbench.gazetteer.keys import name_key

#: file -> the label of its entries
LEXICON_FILES: dict[str, str] = {"actors.yaml": "ACTOR", "weapons.yaml": "WEAPON"}
STOPWORDS_FILE = "place_stopwords.yaml"
COUNTRIES_FILE, COUNTRIES_LABEL, AFTER_WORDS = "countries.yaml", "PLACE", "after_words"
AFTER_WORD, NEVER = "only_after_place_word", "never"
LANGUAGES: tuple[str, ...] = ("en", "ar")
#: language of a spelling -> script of the gazetteer's names
SCRIPTS = {"en": "latin", "ar": "ar"}
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_ENTRY_KEYS = {"id", "type", "names", "parent", "label", "note"}
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LexiconEntry:
    """One actor or weapon: ``names`` maps a language ("en", "ar") to its spellings."""

    id: str
    label: str
    type: str
    names: dict[str, tuple[str, ...]]
    parent: str | None = None

    def all_names(self) -> tuple[str, ...]:
        return tuple(name for language in LANGUAGES for name in self.names.get(language, ()))


@dataclass(frozen=True, eq=False)
class Lexicon:
    """The entries of both files, in file order; ``types`` maps each label to the types its file declares.

    ``places_after_word`` and ``places_never`` map a gazetteer script ("latin", "ar") to the
    name keys (:func:`workbench.gazetteer.name_key`) of place names that are also ordinary words:
    looked for only after a place word ("مدينة الباب"), or not at all.
    """

    entries: tuple[LexiconEntry, ...]
    types: dict[str, tuple[str, ...]]
    places_after_word: dict[str, frozenset[str]] = field(default_factory=dict)
    places_never: dict[str, frozenset[str]] = field(default_factory=dict)
    #: countries (label PLACE), and per language the words one must follow to be looked for
    countries: tuple[LexiconEntry, ...] = ()
    country_words: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def _by_id(self) -> dict[str, LexiconEntry]:
        return {entry.id: entry for entry in self.entries}

    def entry(self, entry_id: str) -> LexiconEntry:
        """The entry of an id (KeyError when there is none)."""
        return self._by_id[entry_id]

    def of_label(self, label: str) -> tuple[LexiconEntry, ...]:
        return tuple(entry for entry in self.entries if entry.label == label)

    @cached_property
    def digest(self) -> str:
        """A hash of the content, so pipelines built from equal lexicons share a cache entry."""
        content = [[e.id, e.label, e.type, e.parent, {k: list(v) for k, v in e.names.items()}] for e in (*self.entries, *self.countries)]
        for words in (self.places_after_word, self.places_never):
            content.append({script: sorted(keys) for script, keys in sorted(words.items())})
        content.append({language: list(words) for language, words in sorted(self.country_words.items())})
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def default_lexicon_path() -> Path:
    """``<contracts>/entities`` (WORKBENCH_CONTRACTS, else the project's ``data_contracts/``)."""
    return settings().contracts_path / "entities"


def load_lexicon(path: Path | None = None) -> Lexicon:
    """Read and check ``actors.yaml`` and ``weapons.yaml`` in ``path`` (default :func:`default_lexicon_path`).

    Raises :class:`ContractError` listing every problem (file, entry, key).
    """
    folder = Path(path) if path is not None else default_lexicon_path()
    problems: list[str] = []
    entries: list[LexiconEntry] = []
    types: dict[str, tuple[str, ...]] = {}
    where_defined: dict[str, str] = {}
    for file_name, label in LEXICON_FILES.items():
        document = _read(folder / file_name, problems)
        if document is None:
            continue
        declared = _declared_types(document, file_name, label, problems)
        types[label] = declared
        for position, raw in enumerate(document.get("entries") or [], start=1):
            entry = _entry(raw, file_name, position, label, declared, problems)
            if entry is None:
                continue
            if entry.id in where_defined:
                problems.append(f"{file_name}: entry {entry.id}: the id is already used in {where_defined[entry.id]}")
                continue
            where_defined[entry.id] = file_name
            entries.append(entry)
        if not document.get("entries"):
            problems.append(f"{file_name}: no entries")
    problems += _cross_problems(entries, where_defined)
    stopwords = _stopwords(folder / STOPWORDS_FILE, problems)
    countries, country_words = _countries(folder / COUNTRIES_FILE, problems)
    if problems:
        raise ContractError(problems)
    return Lexicon(entries=tuple(entries), types=types, places_after_word=stopwords.get(AFTER_WORD, {}),
                   places_never=stopwords.get(NEVER, {}), countries=countries, country_words=country_words)


def _countries(path: Path, problems: list[str]) -> tuple[tuple[LexiconEntry, ...], dict[str, tuple[str, ...]]]:
    """The entries of ``countries.yaml`` and its ``after_words`` per language (nothing when the file is absent)."""
    if not path.exists():
        return (), {}
    document = _read(path, problems)
    if document is None:
        return (), {}
    unknown = sorted(set(document) - {"version", "label", "types", AFTER_WORDS, "entries"})
    if unknown:
        problems.append(f"{path.name}: unknown key(s) {', '.join(map(str, unknown))}")
    declared = _declared_types(document, path.name, COUNTRIES_LABEL, problems)
    words = _names(document.get(AFTER_WORDS), f"{path.name}: {AFTER_WORDS}", problems)
    entries: list[LexiconEntry] = []
    for position, raw in enumerate(document.get("entries") or [], start=1):
        entry = _entry(raw, path.name, position, COUNTRIES_LABEL, declared, problems)
        if entry is not None:
            entries.append(entry)
    if not entries:
        problems.append(f"{path.name}: no entries")
    ids = [entry.id for entry in entries]
    problems += [f"{path.name}: entry {i}: the id is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    problems += _cross_problems(entries, {entry.id: path.name for entry in entries})
    return tuple(entries), words


def _stopwords(path: Path, problems: list[str]) -> dict[str, dict[str, frozenset[str]]]:
    """Section -> gazetteer script -> name keys (a section's ``en`` list is for Latin spellings)."""
    if not path.exists():
        return {}
    document = _read(path, problems)
    if document is None:
        return {}
    unknown = sorted(set(document) - {"version", AFTER_WORD, NEVER})
    if unknown:
        problems.append(f"{path.name}: unknown key(s) {', '.join(map(str, unknown))} (known: {AFTER_WORD}, {NEVER})")
    found: dict[str, dict[str, frozenset[str]]] = {}
    for section in (AFTER_WORD, NEVER):
        lists = document.get(section) or {}
        if not isinstance(lists, dict):
            problems.append(f"{path.name}: {section} must map a language ({', '.join(LANGUAGES)}) to a list of names")
            continue
        found[section] = {}
        for language, words in lists.items():
            if language not in LANGUAGES or not isinstance(words, list):
                problems.append(f"{path.name}: {section}: {language!r} must be a language ({', '.join(LANGUAGES)}) with a list of names")
                continue
            keys = {name_key(word) if isinstance(word, str) else "" for word in words}
            if "" in keys:
                problems.append(f"{path.name}: {section}.{language}: every entry must be a name with letters")
            found[section][SCRIPTS[language]] = frozenset(keys - {""})
    return found


def _read(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError:
        problems.append(f"{path.name}: file not found in {path.parent}")
        return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        problems.append(f"{path.name}: cannot be read as YAML ({type(error).__name__}: {str(error).splitlines()[0]})")
        return None
    if not isinstance(document, dict):
        problems.append(f"{path.name}: expected a mapping")
        return None
    return document


def _declared_types(document: dict, file_name: str, label: str, problems: list[str]) -> tuple[str, ...]:
    if document.get("label") != label:
        problems.append(f"{file_name}: label must be {label}, got {document.get('label')!r}")
    declared = document.get("types")
    if not isinstance(declared, dict) or not declared:
        problems.append(f"{file_name}: types must map each type code to its description")
        return ()
    return tuple(str(code) for code in declared)


def _entry(raw: Any, file_name: str, position: int, label: str, types: tuple[str, ...],
           problems: list[str]) -> LexiconEntry | None:
    if not isinstance(raw, dict):
        problems.append(f"{file_name}: entry {position}: expected a mapping with id, type and names")
        return None
    entry_id = raw.get("id")
    where = f"{file_name}: entry {entry_id if isinstance(entry_id, str) else position}"
    found: list[str] = []
    if not isinstance(entry_id, str) or not _ID.fullmatch(entry_id):
        found.append(f"{where}: id must be lower-case letters, digits and hyphens, got {entry_id!r}")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        found.append(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
    if raw.get("label", label) != label:
        found.append(f"{where}: label {raw.get('label')!r} differs from the file's label {label}")
    if raw.get("type") not in types:
        found.append(f"{where}: type {raw.get('type')!r} is not one of the types the file declares ({', '.join(types)})")
    parent = raw.get("parent")
    if parent is not None and not isinstance(parent, str):
        found.append(f"{where}: parent must be an entry id")
    names = _names(raw.get("names"), where, found)
    problems += found
    if found:
        return None
    return LexiconEntry(id=entry_id, label=label, type=raw["type"], names=names, parent=parent)


def _names(raw: Any, where: str, problems: list[str]) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}: names must map a language ({', '.join(LANGUAGES)}) to a list of spellings")
        return {}
    names: dict[str, tuple[str, ...]] = {}
    for language, spellings in raw.items():
        if language not in LANGUAGES:
            problems.append(f"{where}: names: unknown language {language!r} (known: {', '.join(LANGUAGES)})")
            continue
        if not isinstance(spellings, list) or not spellings:
            problems.append(f"{where}: names.{language} must be a non-empty list")
            continue
        bad = [s for s in spellings if not isinstance(s, str) or not s.strip()]
        if bad:
            problems.append(f"{where}: names.{language} holds {len(bad)} empty or non-text spelling(s)")
            continue
        names[language] = tuple(s.strip() for s in spellings)
    return names


def _cross_problems(entries: list[LexiconEntry], where_defined: dict[str, str]) -> list[str]:
    """Parents that do not exist or form a cycle, and a spelling claimed by two entries."""
    problems: list[str] = []
    parents = {entry.id: entry.parent for entry in entries}
    for entry in entries:
        where = f"{where_defined[entry.id]}: entry {entry.id}"
        if entry.parent is not None and entry.parent not in parents:
            problems.append(f"{where}: parent {entry.parent!r} is not an entry")
            continue
        seen, step = {entry.id}, entry.parent
        while step is not None and step in parents:
            if step in seen:
                problems.append(f"{where}: parent chain loops back to {step}")
                break
            seen.add(step)
            step = parents[step]
    owner: dict[str, str] = {}
    for entry in entries:
        for name in entry.all_names():
            key = spelling_key(name)
            if not key:
                problems.append(f"{where_defined[entry.id]}: entry {entry.id}: spelling {name!r} has no letters or digits")
            elif owner.setdefault(key, entry.id) != entry.id:
                problems.append(
                    f"{where_defined[entry.id]}: entry {entry.id}: spelling {name!r} is also a spelling of {owner[key]}"
                )
    return problems


def spelling_key(name: str) -> str:
    """Two spellings of one key would be the same pattern (case, hyphens, letter variants, article).

    >>> spelling_key("Al-Nusra Front") == spelling_key("al Nusra front")
    True
    """
    return " ".join(name_key(word) or word.casefold() for word in re.split(r"[\s\-]+", name) if word)
