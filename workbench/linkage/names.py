"""Person names made comparable: one spelling per name (``normalise_name``), its tokens, and a
cross-script consonant key (``skeleton``) that an Arabic and a Latin spelling of one name share.

Normalisation removes what varies between spellings of one name, never what tells two names
apart: Arabic diacritics and letter variants (hamza carriers, ta marbuta, alef maqsura, Persian
and Kurdish look-alikes), Latin case and accents, the article (``al-``, ``el-``, ``ال``) and the
patronymic connectors (``bin``, ``ibn``, ``بن``). Compounds with ``Abd`` and ``al-Din`` are split
the same way in both scripts, so "Abdulrahman" and "عبد الرحمن" have the same two tokens.

>>> normalise_name("Ahmad bin Khalid al-Hassan")
'ahmad khalid hassan'
>>> normalise_name("أَحْمَد بن خالد الحسن")
'احمد خالد حسن'
>>> skeleton("Mohammed Abdul-Rahman"), skeleton("محمد عبدالرحمن")
('mhmd abd rhmn', 'mhmd abd rhmn')
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Harakat and tanween, superscript alef, Quranic annotation marks and tatweel: pronunciation and
# calligraphy, not spelling; and the invisible joiners, direction marks and soft hyphens that text
# copied from documents and web pages carries inside words.
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640"
                           "\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")

# One letter for each group of letters that spell the same name in different hands.
_ARABIC_LETTERS = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ؤ": "و", "ئ": "ي", "ء": None,
    "ة": "ه", "ۀ": "ه", "ە": "ه", "ہ": "ه", "ۃ": "ه", "ھ": "ه",
    "ى": "ي", "ی": "ي", "ې": "ي", "ێ": "ي", "ۍ": "ي",
    "ک": "ك", "ڪ": "ك", "ۆ": "و", "ۇ": "و", "ڵ": "ل", "ڕ": "ر",
})

# Latin letters that Unicode does not decompose into a base letter and an accent.
_LATIN_LETTERS = str.maketrans({"ş": "sh", "ș": "sh", "ç": "ch", "ı": "i", "ø": "o", "đ": "d", "ł": "l",
                                "æ": "ae", "œ": "oe", "ð": "d", "þ": "th"})

# Combining accents of Latin (and Cyrillic and Greek) letters, as NFD writes them apart.
_LATIN_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Apostrophes and ayn/hamza signs mark a sound inside one word (Sa'id, Ja'far): joined, not split.
_APOSTROPHES = re.compile("['’‘`´ʹʻʼʽʾʿˈ′]")
_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")

_LATIN_ARTICLES = {"al", "el", "ul"}
# An assimilated article (ash-Shami, ar-Rashid) is one only before a word starting with its
# consonant; "e" forms (es-Sayed) only inside a name, so that "Ed Davis" keeps its first name.
_SUN_ARTICLES = re.compile(r"^[aeu](sh|th|dh|[dnrstz])$")
_CONNECTORS = {"bin", "ibn", "ben", "bint", "binti", "ould", "بن", "ابن", "بنت"}
# Names that start with the letters of the article without having one: these exactly, or
# starting with these Western stems.
_NOT_ARTICLE = {"الياس", "الهام", "الفت", "اليسع", "الماس", "alwan", "alban", "alper", "almaz", "alissa",
                "alison", "alicia", "elham", "elmas", "elsa", "elmir", "eldar"}
_NOT_ARTICLE_STEMS = ("albert", "alfred", "alfons", "alvar", "alvin", "alparslan", "alex", "alej", "aless",
                      "alast", "alonso", "aloys", "elvi")
_ALLAH = re.compile(r"^(?:allah?|ullah?|illah?)$")
_ABD_ALLAH = re.compile(r"^abd[aeiou]?l{1,2}ah?$")
_ABD_COMPOUND = re.compile(r"^abd(?:oul|ul|el|al|ol|il|u|e|a|o|i)?(?P<rest>[a-z]{3,})$")
_ABD_ALONE = {"abdul", "abdel", "abdal", "abdol", "abdoul", "abdil"}
_DIN_COMPOUND = re.compile(r"^(?P<head>[a-z]{3,}?)(?:[aeiou]?[dl]-?d?|[aeiou]?d)(?:din|deen|dine)$")
_DIN_ALONE = re.compile(r"^(?:[aeiou][dl]d?)(?:din|deen|dine)$")


def fold_text(text: str) -> str:
    """Text with one spelling per letter, lower case, every separator a space (no name rules).

    >>> fold_text("Al-Ḥasan's_name"), fold_text("الإسم")
    ('al hasans name', 'الاسم')
    """
    text = unicodedata.normalize("NFKC", text)
    text = _ARABIC_MARKS.sub("", text).translate(_ARABIC_LETTERS)
    text = text.casefold().translate(_LATIN_LETTERS)
    text = _LATIN_ACCENTS.sub("", unicodedata.normalize("NFD", text))
    text = _APOSTROPHES.sub("", unicodedata.normalize("NFC", text))
    return _NOT_LETTER_OR_DIGIT.sub(" ", text).strip()


@lru_cache(maxsize=65536)
def _split_compound(token: str) -> tuple[str, ...]:
    """"Abdulrahman" → abd, rahman; "عبدالله" → عبد, الله; "Nureddin" → nur, din."""
    if _ABD_ALLAH.match(token):
        return ("abd", "allah")
    if token in _ABD_ALONE:
        return ("abd",)
    if match := _ABD_COMPOUND.match(token):
        rest = match["rest"]
        if rest[0] == rest[1] and rest[0] not in "aeiou":  # Abdurrahman: the article assimilated
            rest = rest[1:]
        return ("abd", rest)
    if match := _DIN_COMPOUND.match(token):
        return (match["head"], "din")
    if _DIN_ALONE.match(token):
        return ("din",)
    if token.startswith("عبدال") and len(token) > 6:
        return ("عبد", token[3:])
    if token.endswith("الدين") and len(token) > 6:
        return (token[:-5], "الدين")
    return (token,)


@lru_cache(maxsize=65536)
def _without_article(token: str) -> str:
    """The token without a glued article: "الحسن" → "حسن", "alhassan" → "hassan", "ali" unchanged."""
    if token in _NOT_ARTICLE or token.startswith(_NOT_ARTICLE_STEMS):
        return token
    if token.startswith("ال") and len(token) >= 4 and token != "الله":
        return token[2:]
    rest = token[2:]
    if not rest.isascii() or token[:2] not in ("al", "el") or rest[0] in "yl":
        return token
    # "Alhassan" and "Alahmad" carry the article; "Ali", "Alaa" and "Alan" do not
    if rest[0] not in "aeiou" and len(rest) >= 3 or token[:2] == "al" and len(rest) >= 4:
        return rest
    return token


def name_tokens(text: str) -> list[str]:
    """The words of a name after normalisation, in order (see the module docstring).

    >>> name_tokens("Abd al-Rahman ibn Yusuf el Khatib")
    ['abd', 'rahman', 'yusuf', 'khatib']
    """
    raw = [part for token in fold_text(text).split() for part in _split_compound(token)]
    kept: list[str] = []
    for i, token in enumerate(raw):
        following = raw[i + 1] if i + 1 < len(raw) else ""
        if token in _LATIN_ARTICLES or token == "ال":
            continue
        match = _SUN_ARTICLES.match(token)
        if match and following.startswith(match[1]) and (i > 0 or token[0] != "e"):
            continue
        if token in _CONNECTORS and 0 < i < len(raw) - 1:
            continue
        if _ALLAH.match(token):
            token = "allah"
        kept.append(_without_article(token))
    # A name made only of articles or connectors ("Al", "Ben") is kept as it is
    return kept or raw


def normalise_name(text: str) -> str:
    """One spelling of a name: its tokens joined by single spaces (see the module docstring).

    >>> normalise_name("Al-Hassan"), normalise_name("El Hassan"), normalise_name("الحسن")
    ('hassan', 'hassan', 'حسن')
    """
    return " ".join(name_tokens(text))


# Arabic letters in the Latin classes of the skeleton (x = kh, c = sh, g = gh); alef and ayn are
# the vowel "a", dropped after the first letter of a word like every vowel.
_ARABIC_SKELETON = str.maketrans({
    "ا": "a", "ع": "a", "و": "w", "ي": "y",
    "ب": "b", "پ": "b", "ت": "t", "ث": "t", "ط": "t", "ج": "j", "چ": "c", "ح": "h", "ه": "h",
    "خ": "x", "د": "d", "ذ": "d", "ض": "d", "ر": "r", "ز": "z", "ظ": "z", "ژ": "z",
    "س": "s", "ص": "s", "ش": "c", "غ": "g", "گ": "g", "ف": "f", "ڤ": "f", "ق": "k", "ك": "k",
    "ل": "l", "م": "m", "ن": "n",
})
# Upper case marks a digraph already mapped, so that the c of "sh" → "C" escapes the c → k rule.
_LATIN_DIGRAPHS = (("kh", "X"), ("sh", "C"), ("ch", "C"), ("gh", "G"), ("th", "T"), ("dh", "D"),
                   ("ph", "F"), ("dj", "J"))
_LATIN_SKELETON = str.maketrans({"q": "k", "c": "k", "p": "b", "v": "f"})
_DOUBLED = re.compile(r"(.)\1+")
_VOWELS = re.compile("[aeiouwy]")


@lru_cache(maxsize=65536)
def skeleton_word(token: str) -> str:
    """The skeleton of one normalised name token (see ``skeleton``)."""
    if token.isascii():
        for digraph, letter in _LATIN_DIGRAPHS:
            token = token.replace(digraph, letter)
        letters = token.translate(_LATIN_SKELETON).lower()
    else:
        letters = token.translate(_ARABIC_SKELETON)
    # Doubled letters collapse before vowels go, so Haddad (h-a-d-d-a-d) keeps both of its d's
    letters = _DOUBLED.sub(r"\1", letters)
    first = "a" if letters[0] in "aeiou" else letters[0]
    word = first + _VOWELS.sub("", letters[1:])
    # A final h is ta marbuta or a written-out "-ah" ending: Fatima, Fatimah and فاطمة agree
    return word[:-1] if len(word) > 2 and word.endswith("h") else word


def skeleton(text: str) -> str:
    """A Latin consonant key of a name in either script, one word per name token.

    Arabic letters are transliterated with one table (ح and ه → h, خ → x, ش → c, ق and ك → k,
    ص and س → s, ض ذ د → d, ط ت ث → t, ظ and ز → z, غ → g); Latin digraphs become the same
    letters (kh → x, sh and ch → c, gh → g, th → t, dh → d), q and c → k, p → b, v → f. A letter
    written twice counts once; vowels, w and y after the first letter of a word are dropped (so
    are Arabic long vowels and ayn), a word starting with a vowel, alef or ayn starts with "a",
    and a final h (ta marbuta, "-ah") is dropped. Names of one root can share a skeleton
    (Mohammed and Mahmoud are both "mhmd"): it is a key for cross-script candidates, not a match.

    >>> skeleton("Khaled al-Zoubi"), skeleton("خالد الزعبي")
    ('xld zb', 'xld zb')
    """
    return " ".join(skeleton_word(token) for token in name_tokens(text))
