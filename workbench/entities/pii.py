"""Person names next to a victim, witness or kinship word: candidates for the personal-data screening.

Narratives should reach the mechanism redacted; ``data_contracts/pii_patterns.yaml`` finds names
after "Name:", "Mr", "المدعو" and the like. Syrian documentation names people in other places
too: "the victim Ahmad al-Hassan", "his son Omar", "الشهيد محمد الأحمد", "شقيقه خالد العمر".
:func:`names_near_roles` returns the words that look like such a name, as spaCy spans labelled
PERSON, for an analyst to look at; it never changes the text.

* English: a role or kinship word (``ROLES["en"]``), then up to two linking words (",", ":",
  "named", "called"), then one to four capitalised words (particles such as al-, bin, abu
  between them), none of them a common word, a month or part of an entity the pipeline found
  (a place, an actor).
* Arabic: a role or kinship word as written, article included (``ROLES["ar"]``, also with و, ف
  or لل joined to it), then two to four Arabic words, none of them a common word
  (``ARABIC_STOP``), an indefinite noun (tanween), a number or part of an entity, the first
  without the article. In a chain of roles ("المواطن الصحفي") the name follows the last.

Capitalisation carries much of the English rule, so a lower-cased English text yields nothing;
Arabic has no capitals, so the Arabic rule asks for two words and stops at common words.

>>> [span.text for span in names_near_roles("The victim Ahmad al-Hassan was detained in Aleppo.", "en")]
['Ahmad al-Hassan']
>>> [span.text for span in names_near_roles("قُتل الشهيد محمد الأحمد في حلب", "ar")]
['محمد الأحمد']
"""

from __future__ import annotations

import re

from spacy.tokens import Doc, Span

from workbench.entities.pipeline import build_pipeline

LABEL = "PERSON"
MAX_NAME_WORDS = 4
MIN_NAME_WORDS = {"en": 1, "ar": 2}
#: Arabic diacritics and tatweel, as the body of a character class (Python's re and DuckDB's RE2 read it alike)
ARABIC_MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u0640"
#: letters a role word is compared without: hamza on alef, and ta marbuta (as ha)
ROLE_LETTERS = ("أإآة", "اااه")
_MARKS = re.compile(f"[{ARABIC_MARKS}]")
_ALEF = str.maketrans("أإآ", "ااا")
_ROLE_LETTERS = str.maketrans(*ROLE_LETTERS)


def _plain(word: str) -> str:
    """Without diacritics and tatweel, alef with hamza as bare alef; ى and ي stay apart ("على" is not "علي")."""
    return _MARKS.sub("", word).translate(_ALEF)


def role_form(word: str) -> str:
    """A word as role words are compared: :func:`_plain`, and ta marbuta as ha."""
    return _MARKS.sub("", word).translate(_ROLE_LETTERS)


#: role and kinship words as they are written; :data:`ROLES` holds them as compared. Not "sheikh"
#: (الشيخ): it begins more place names (Sheikh Maqsoud, Sheikh Miskin, الشيخ سعيد) than names.
ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "en": tuple(
        "victim witness martyr detainee prisoner survivor defector activist journalist deceased child boy girl "
        "son daughter brother sister father mother husband wife cousin uncle aunt nephew niece mr mrs ms miss dr".split()
    ),
    "ar": tuple(
        "الشهيد الشهيدة الضحية الشاهد الشاهدة المعتقل المعتقلة الطفل الطفلة السيدة السيد المدعو المدعوة "
        "المواطن المواطنة الشاب الشابة الفتى الفتاة الناشط الناشطة الإعلامي الحاج الحاجة الدكتور الطبيب "
        "المسعف المختفي المختفية المفقود المفقودة الجريح المصاب المعتقلين الصحفي الصحفية المراسل "
        "ابنه ابنها ابنته ابنتها شقيقه شقيقها شقيقته شقيقتها أخوه أخيه أخاه أخته أختها زوجته زوجها "
        "والده والدها والدته والدتها عمه عمها خاله خالها".split()
    ),
}
ROLES: dict[str, frozenset[str]] = {
    "en": frozenset(ROLE_WORDS["en"]),
    # as written, article included: bare "شاهد" (watch!), "حاجة" (a need), "طبيب أمراض" (a doctor of
    # diseases) and "مصاب" (injured) are ordinary words before other ordinary words
    "ar": frozenset(role_form(word) for word in ROLE_WORDS["ar"]),
}
#: words after a role that a name never holds (English ones are compared lower-cased)
ENGLISH_STOP = frozenset(
    "a an the he she they it we i you his her their its this that these those who whom which what when where "
    "was were is are be been had has have said says told stated reported and but or of in on at to from by with "
    "for after before during since while according watch video photo syrian russian turkish iranian american "
    "kurdish arab".split()
)
ARABIC_STOP = frozenset(
    _plain(word) for word in (
        "في من على إلى الى عن مع الذي التي الذين اللذين وهو وهي هو هي كان كانت قد لقد وقد فقد بعد قبل عند حيث "
        "أن إن أنه انه لم لا ما تم خلال أثناء جراء بسبب نتيجة إثر البالغ البالغة عمره عمرها عاما عاماً "
        "سنة سنوات السابق السابقة المذكور المذكورة نفسه نفسها أيضا أيضاً الآخر الأخرى الأول الثاني الثالث "
        "الأكبر الأصغر حتى بين أمام داخل خارج تحت فوق كل جميع بعض غير منذ يوم ليلة صباح مساء قال قالت أفاد "
        "أفادت ذكر ذكرت روى روت أكد أكدت أضاف أضافت يقول تقول وأن الذي الى اثر قتل قتلت استشهد استشهدت "
        "اعتقل اعتقلت أصيب أصيبت توفي توفيت اختفى اختفت نقل نقلت أعدم أعدمت اختطف اختطفت جرح جرحت "
        "نفس وكالة مركز منظمة منظمات شبكة فريق مكتب لجان لجنة تنسيقية لقوى صورة صورةً فيديو مقطع موقع موثوق "
        "موجود موجودة نظرا نظرًا أحدهم معالم"
    ).split()
)
_LINKS = frozenset({",", ":", "named", "called", "-", "—", "،"})
_PARTICLES = frozenset("al el bin ibn abu abd bint abo ben".split())
_ARABIC_WORD = re.compile("^[\u0621-\u064a\u0671-\u06d3\u064b-\u065f\u0640]+$")
_TITLE = re.compile(r"^[A-Z][a-z]+(?:['’][A-Za-z][a-z]*)?$")
_ARABIC_PREFIXES = ("و", "ف")


def names_near_roles(doc_or_text: Doc | str, language: str) -> list[Span]:
    """Spans (label PERSON) that look like a person's name right after a role or kinship word.

    A text is run through the rule pipeline of ``language`` first (so that places and actors are
    not taken for names); a Doc is used as it is.
    """
    doc = build_pipeline(language)(doc_or_text) if isinstance(doc_or_text, str) else doc_or_text
    in_entity = bytearray(len(doc))
    for ent in doc.ents:
        in_entity[ent.start:ent.end] = b"\x01" * (ent.end - ent.start)
    arabic = language == "ar"
    found: list[Span] = []
    position = 0
    while position < len(doc):
        if not _is_role(doc[position].text, arabic):
            position += 1
            continue
        if position + 1 < len(doc) and _is_role(doc[position + 1].text, arabic):
            position += 1  # "المواطن الصحفي هادي ...", "citizen journalist": the name follows the last role
            continue
        start = position + 1
        while start < len(doc) and start <= position + 2 and doc[start].lower_ in _LINKS:
            start += 1
        end = _name_end(doc, start, in_entity, arabic)
        words = sum(1 for token in doc[start:end] if token.lower_ not in _PARTICLES and token.text != "-")
        if words >= MIN_NAME_WORDS["ar" if arabic else "en"]:
            found.append(Span(doc, start, end, label=LABEL))
            position = end
        else:
            position += 1
    return found


def _is_role(word: str, arabic: bool) -> bool:
    if not arabic:
        return word.lower().rstrip(".") in ROLES["en"]
    form = role_form(word)
    if form in ROLES["ar"]:
        return True
    if form.startswith("لل") and "ا" + form[1:] in ROLES["ar"]:
        return True  # "للشهيد": to the martyr
    return form[:1] in _ARABIC_PREFIXES and _is_role(word[1:], arabic)


def _name_end(doc: Doc, start: int, in_entity: bytearray, arabic: bool) -> int:
    """Where the name that begins at ``start`` ends (``start`` when there is none)."""
    end, words = start, 0
    while end < len(doc) and words < MAX_NAME_WORDS and not in_entity[end]:
        token = doc[end]
        if arabic:
            if not _ARABIC_WORD.match(token.text) or _plain(token.text) in ARABIC_STOP:
                break
            if "\u064b" in token.text:
                break  # tanween fath marks an indefinite noun or an adverb ("مقطعاً", "سريعًا"), not a name
            if not words and _plain(token.text).startswith("ال"):
                break  # a given name has no article: "مركز حلب الإعلامي المشار إليه" is a media centre
        elif token.lower_ in _PARTICLES or (token.text == "-" and words):
            end += 1
            continue
        elif not _TITLE.match(token.text) or token.lower_ in ENGLISH_STOP or token.shape_.startswith("<"):
            break
        words += 1
        end += 1
    while end > start and (doc[end - 1].lower_ in _PARTICLES or doc[end - 1].text == "-"):
        end -= 1  # a name does not end on "al-"
    return end
