"""Matching keys for place names in Arabic and Latin script.

``name_key`` is the exact key: two spellings that differ only in accents, case, hyphens,
apostrophes, the article or Arabic letter variants get the same key. ``skeleton_key`` is
coarser: it keeps the consonants of a Latin transliteration, or drops the long vowels of an
Arabic spelling, so that "Douma"/"Duma" or "Maarat Alnuman"/"Ma'arrat an-Nu'man" meet.

Both also remove designator words ("governorate", "nahiyah", "محافظة", ...); ``level_hint``
says which level such a word pointed to, and ``split_parts`` / ``strip_surroundings`` cut a
composite text into the pieces the resolver tries one by one.
"""

from __future__ import annotations

import re
import unicodedata

#: Levels of places, coarse to fine. They are also the geo_precision codes of a resolved place.
LEVELS: tuple[str, ...] = ("governorate", "district", "subdistrict", "community")

_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3\u06d5\u06ee-\u06ff\u0750-\u077f\u08a0-\u08ff]")
# harakat, Quranic marks, superscript alef and tatweel carry no identity for a place name
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_FOLD = str.maketrans(
    {
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
        "ة": "ه", "ۀ": "ه", "ە": "ه", "ھ": "ه",
        "ى": "ي", "ی": "ي", "ې": "ي", "ئ": "ي",
        "ؤ": "و", "ء": None,
        "ک": "ك", "ڪ": "ك", "گ": "ك",
        "پ": "ب", "چ": "ج", "ژ": "ز", "ڤ": "ف",
    }
)
_ARABIC_DIGITS = str.maketrans(
    {chr(0x0660 + d): str(d) for d in range(10)} | {chr(0x06F0 + d): str(d) for d in range(10)}
)
# ayn/hamza marks and apostrophes vanish inside a word ("Ma'arrat" = "Maarrat")
_LATIN_MARKS = str.maketrans(
    {c: None for c in "'’‘`´ʿʾʻʼ′"} | {"ı": "i", "ø": "o", "æ": "ae", "ß": "ss", "đ": "d", "ł": "l"}
)
_NON_WORD = re.compile(r"[^0-9a-z\u0621-\u064a]+")
_SUB_DISTRICT = re.compile(r"\bsub[\s\-_]+district", re.IGNORECASE)

_LATIN_ARTICLES = frozenset("al el il ul l as es ash esh ad ed ar er az ez at et an en ath eth adh edh".split())
_LATIN_VOWELS = frozenset("aeiou")

LEVEL_WORDS: dict[str, str] = {
    **dict.fromkeys(
        "governorate governate province muhafazah muhafazat muhafaza mohafaza mohafazat محافظه".split(),
        "governorate",
    ),
    **dict.fromkeys("district mantiqah mantiqat mantika mintaqa منطقه".split(), "district"),
    **dict.fromkeys("subdistrict nahiyah nahiya nahiyat nahia nahya ناحيه".split(), "subdistrict"),
    **dict.fromkeys("city town village مدينه بلده قريه".split(), "community"),
}
_SURROUNDING_WORDS = frozenset(
    "countryside rural suburbs suburb outskirts environs rif reef of ريف ضواحي".split()
)
# cheap substring test before the word-by-word look (most texts hold none of these)
_SURROUNDING_MARKERS = (
    "countryside", "rural", "suburb", "outskirt", "environ", "rif", "reef", "ريف", "ضواحي",
)
_DIRECTION_WORDS = frozenset(
    "north south east west northern southern eastern western"
    " شمالي جنوبي شرقي غربي شماليه جنوبيه شرقيه غربيه"
    " northeast northwest southeast southwest".split()
)
# name keys of the country's names
_COUNTRY_WORDS = frozenset({"syria", "syrianarabrepublic", "سوريا", "سوريه", "جمهوريهعربيهسوريه"})

_PART_SEPARATORS = re.compile(r"\s*(?:[,،;|/()\[\]]|\s[-–—]\s|\s[-–—]$|^[-–—]\s)\s*")
_DIGRAPHS = (("kh", "k"), ("sh", "$"), ("ch", "$"), ("gh", "g"), ("th", "t"), ("dh", "d"),
             ("ph", "f"), ("dj", "j"), ("zh", "j"), ("q", "k"), ("c", "k"), ("x", "ks"),
             ("v", "f"), ("p", "b"))
_DOUBLED = re.compile(r"(.)\1+")
_LATIN_SKELETON_DROP = re.compile("[aeiouwy]")
_ARABIC_SKELETON_DROP = re.compile("[اوي]")


def _is_arabic(text: str) -> bool:
    return _ARABIC_LETTER.search(text) is not None


def _arabic_words(text: str) -> list[str]:
    text = _ARABIC_MARKS.sub("", unicodedata.normalize("NFKC", text)).translate(_ARABIC_FOLD)
    words = [w for w in _NON_WORD.split(text.lower()) if w]
    # the article is written joined to its word: strip it only where a name remains
    return [w[2:] if w.startswith("ال") and len(w) >= 4 else w for w in words]


def _latin_words(text: str) -> list[str]:
    text = _SUB_DISTRICT.sub("subdistrict", text)
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.casefold().translate(_LATIN_MARKS)
    words = [w for w in _NON_WORD.split(text) if w]
    kept = []
    for position, word in enumerate(words):
        if word in _LATIN_ARTICLES and position < len(words) - 1:
            continue
        # "Alnuman", "Elbab": an article written joined to a consonant-initial name
        if len(word) >= 4 and word[:2] in ("al", "el") and word[2] not in _LATIN_VOWELS:
            word = word[2:]
        kept.append(word)
    return kept


def _words(text: str) -> tuple[list[str], bool]:
    text = text.translate(_ARABIC_DIGITS)
    arabic = _is_arabic(text)
    return (_arabic_words(text) if arabic else _latin_words(text)), arabic


def _without_designators(words: list[str]) -> list[str]:
    remaining = [w for w in words if w not in LEVEL_WORDS]
    return remaining or words


def name_key(text: str) -> str:
    """The exact matching key of a place name (script-aware; empty for empty text).

    >>> name_key("Al-Bab") == name_key("el Bab") == name_key("Bab")
    True
    >>> name_key("إدلب") == name_key("ادلب")
    True
    """
    if not text:
        return ""
    words, _arabic = _words(text)
    return "".join(_without_designators(words))


def _latin_skeleton(words: list[str]) -> str:
    # final h after a vowel is the ta marbuta ("Hamah" = "Hama")
    joined = "".join(w[:-1] if len(w) > 2 and w[-1] == "h" and w[-2] in _LATIN_VOWELS else w for w in words)
    for digraph, replacement in _DIGRAPHS:
        joined = joined.replace(digraph, replacement)
    joined = _DOUBLED.sub(r"\1", joined)
    if not joined:
        return ""
    head = "a" if joined[0] in _LATIN_VOWELS else joined[0]
    return head + _LATIN_SKELETON_DROP.sub("", joined[1:])


def _arabic_skeleton(words: list[str]) -> str:
    joined = _DOUBLED.sub(r"\1", "".join(words))
    return joined[:1] + _ARABIC_SKELETON_DROP.sub("", joined[1:])


def skeleton_key(text: str) -> str:
    """A coarse key that survives transliteration variants (consonants only; empty for empty text).

    >>> skeleton_key("Douma") == skeleton_key("Duma")
    True
    >>> skeleton_key("Deir ez-Zor") == skeleton_key("Dayr al-Zawr") == skeleton_key("Deir Ezzor")
    True
    """
    if not text:
        return ""
    words, arabic = _words(text)
    words = _without_designators(words)
    return _arabic_skeleton(words) if arabic else _latin_skeleton(words)


def analyse(text: str) -> tuple[str, str, str | None]:
    """``(name_key, skeleton_key, level_hint)`` of a text in one pass (what the resolver uses)."""
    if not text:
        return "", "", None
    words, arabic = _words(text)
    hints = [LEVEL_WORDS[w] for w in words if w in LEVEL_WORDS]
    hint = hints[-1] if hints and len(hints) < len(words) else None
    words = _without_designators(words)
    skeleton = _arabic_skeleton(words) if arabic else _latin_skeleton(words)
    return "".join(words), skeleton, hint


def level_hint(text: str) -> str | None:
    """The level named by a designator word in the text ("Sarmin nahiyah" -> "subdistrict"), if any.

    >>> level_hint("Aleppo Governorate"), level_hint("ناحية سرمين"), level_hint("Douma")
    ('governorate', 'subdistrict', None)
    """
    return analyse(text)[2]


def strip_surroundings(text: str) -> str | None:
    """The place named in "X countryside" / "ريف X" / "southern countryside of X", else None.

    >>> strip_surroundings("Idlib countryside"), strip_surroundings("Idlib")
    ('Idlib', None)
    """
    lowered = text.casefold()
    if not any(marker in lowered for marker in _SURROUNDING_MARKERS):
        return None
    words = text.split()
    folded = [name_key(w) for w in words]
    if not any(f in _SURROUNDING_WORDS for f in folded):
        return None
    kept = [w for w, f in zip(words, folded) if f and f not in _SURROUNDING_WORDS and f not in _DIRECTION_WORDS]
    return " ".join(kept) or None


def is_country(text: str) -> bool:
    """Whether the text only names the country ("Syria", "سوريا"), which places nothing."""
    lowered = text.casefold()
    return ("syria" in lowered or "سوري" in lowered) and name_key(text) in _COUNTRY_WORDS


def split_parts(text: str) -> list[str]:
    """The pieces of a composite place text, split on commas, " - ", "/", ";", "|" and brackets.

    >>> split_parts("Kafr Nabl, Maarrat al-Numan, Idlib")
    ['Kafr Nabl', 'Maarrat al-Numan', 'Idlib']
    >>> split_parts("Al-Bab")
    ['Al-Bab']
    """
    return [part.strip() for part in _PART_SEPARATORS.split(text) if part and part.strip()]
