"""Dates as NGOs write them, read into a period (start, end) with a precision.

The ingest collects the distinct raw strings of a date column, parses each once here and joins
the result back in DuckDB, so this module works value by value in plain Python.

What is read (after Arabic-Indic and Persian digits become ASCII, Arabic punctuation becomes
Latin and bidirectional marks are dropped):

* ISO ``2013-03-12``, ``2013/03/12``, with an optional time (``2013-03-12T14:30:00Z``,
  ``2013-03-12 14:30``); the time is checked and then ignored.
* Numbers in day-month-year order ``12/03/2013``, ``12-03-2013``, ``12.03.2013``, ``12/3/13``.
  The NGO's convention comes from the manifest or mapping (``day_first``, default day-first as
  in Syria). A value that can only be month-first (``12/25/2013``) is read month-first with a
  note; with ``day_first=None`` (no known convention) a value such as ``03/04/2013`` is
  reported as ambiguous.
* Month names in English and Arabic (Levantine and Egyptian sets, from the ``months``
  vocabulary): ``12 March 2013``, ``March 12, 2013``, ``12-Mar-13``, ``آذار ٢٠١٣``,
  ``شهر آذار من عام 2013م``; weekday names are accepted and checked against the date.
* Partial dates ``2013-03``, ``03/2013``, ``March 2013`` (precision month) and ``2013``
  (precision year); the period covers the whole month or year.
* Excel serial day numbers: a bare 5-digit number from 40000 to 60000 (2009-07-06 to
  2064-04-08) is a date cell that lost its format on export, counted from 1899-12-30 as Excel's
  1900 date system does for every serial after 60. The range covers the conflict period and no
  plausible year, day count or casualty figure in a date column, and the result carries a note.

Not read, with a reason: ``20130312`` (an 8-digit number is as likely an identifier, and
YYYYMMDD cannot be told from DDMMYYYY), Hijri dates (``1434 هـ``), a day and month without a
year, ranges, years outside 1900-2100, days that do not exist (``31/04/2013``) and times of
day that do not exist. Placeholders such as ``unknown`` are "not a date": declaring them as
missing values is the contract's business.

Problems and notes are fixed phrases or name only numbers of the date, never the raw text.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from workbench.errors import ContractError

MIN_YEAR = 1900
MAX_YEAR = 2100
EXCEL_SERIAL_RANGE = (40000, 60000)
_EXCEL_EPOCH = datetime.date(1899, 12, 30)

NOT_A_DATE = "not a date"
UNRECOGNISED = "unrecognised date format"
EIGHT_DIGITS = (
    "8-digit number: could be YYYYMMDD, DDMMYYYY or an identifier; write dates as YYYY-MM-DD"
)
AMBIGUOUS_ORDER = "ambiguous day/month order"
NO_MONTH_POSSIBLE = "neither of the first two numbers can be a month"
NO_YEAR = "no year"
HIJRI = "Hijri (AH) date: give the Gregorian date"
BAD_TIME = "time of day does not exist"

NOTE_MONTH_FIRST = "read month-first (the second number is greater than 12)"
NOTE_DAY_FIRST = "read day-first (the first number is greater than 12)"
NOTE_TWO_DIGIT_YEAR = "two-digit year completed with the century"
NOTE_EXCEL_SERIAL = "Excel serial day number converted to a date"
NOTE_WEEKDAY = "weekday does not match the date"

_MONTH_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True)
class ParsedDate:
    """A date read from text: the period it covers, how precise it is, and what went wrong.

    ``problem`` is set when the text could not be read (the other fields are then None);
    ``note`` is a non-fatal remark about a value that was read (e.g. month-first order).
    An empty cell gives all None: missing values are the validator's business.
    """

    start: datetime.date | None = None
    end: datetime.date | None = None
    precision: str | None = None
    problem: str | None = None
    note: str | None = None


_MISSING = ParsedDate()


def _failed(problem: str) -> ParsedDate:
    return ParsedDate(problem=problem)


# --- text normalisation, shared by parse_date and month_names ---------------------------------

_CHAR_MAP: dict[int, str | None] = {
    **{0x0660 + i: str(i) for i in range(10)},  # Arabic-Indic digits
    **{0x06F0 + i: str(i) for i in range(10)},  # Eastern Arabic-Indic (Persian, Urdu) digits
    **{ord(c): "ا" for c in "أإآٱ"},
    ord("ى"): "ي",
    ord("ی"): "ي",  # Persian yeh
    ord("ک"): "ك",  # Persian keheh
    ord("،"): ",",
    ord("٬"): ",",
    ord("٫"): ".",
    ord("؍"): "/",  # Arabic date separator
    ord("ـ"): None,  # tatweel
    ord("\u0670"): None,  # superscript alef
    **{c: None for c in range(0x064B, 0x0660)},  # harakat and other combining marks
    **{c: None for c in (0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E)},
    **{c: None for c in range(0x2066, 0x206A)},  # bidi isolates
}


def _normalise_chars(text: str) -> str:
    # NFKC folds Arabic presentation forms and full-width digits before the table applies.
    return unicodedata.normalize("NFKC", text).translate(_CHAR_MAP).casefold()


_TOKEN = re.compile(r"[0-9]+|[^\W\d_]+")


def _tokens(normalised: str) -> list[str]:
    """Numbers and words, the article ال dropped from words (``الآذار`` and ``آذار`` meet)."""
    out = []
    for token in _TOKEN.findall(normalised):
        if token.startswith("ال") and len(token) >= 4:
            token = token[2:]
        out.append(token)
    return out


def normalise_name(text: str) -> str:
    """The key under which a month or weekday name is looked up.

    >>> normalise_name("تشرين الأول") == normalise_name("تشرين اول")
    True
    """
    return " ".join(_tokens(_normalise_chars(text)))


def month_names(terms: list[dict]) -> dict[str, int]:
    """Normalised month name -> month number, from the terms of ``vocabularies/months.yaml``.

    Labels and synonyms in both languages are keys; the month number comes from the code
    (``m01`` .. ``m12``). Raises ContractError listing every bad code or clashing name.

    >>> import yaml
    >>> from workbench.config import default_contracts_path
    >>> path = default_contracts_path() / "vocabularies" / "months.yaml"
    >>> months = month_names(yaml.safe_load(path.read_text(encoding="utf-8"))["terms"])
    >>> months[normalise_name("تشرين الأول")], months["sept"]
    (10, 9)
    """
    problems: list[str] = []
    names: dict[str, int] = {}
    for position, term in enumerate(terms, start=1):
        code = str(term.get("code", ""))
        match = re.fullmatch(r"m(\d\d)", code)
        if not match or not 1 <= int(match.group(1)) <= 12:
            problems.append(f"months vocabulary, term {position}: code {code!r} is not m01..m12")
            continue
        number = int(match.group(1))
        labels = term.get("label") or {}
        synonyms = term.get("synonyms") or {}
        spellings = [*labels.values(), *synonyms.get("en", []), *synonyms.get("ar", [])]
        for spelling in spellings:
            key = normalise_name(str(spelling))
            if not key:
                problems.append(f"months vocabulary, term {code}: a name has no letters")
            elif names.setdefault(key, number) != number:
                problems.append(
                    f"months vocabulary, term {code}: name {spelling!r} is also month {names[key]}"
                )
    if sorted(set(names.values())) != list(range(1, 13)) and not problems:
        problems.append("months vocabulary: every month m01..m12 needs a term")
    if problems:
        raise ContractError(problems)
    return names


_WEEKDAYS: dict[str, int] = {
    normalise_name(name): number
    for number, spellings in enumerate(
        (
            ("monday", "mon", "الاثنين", "الإثنين"),
            ("tuesday", "tue", "tues", "الثلاثاء"),
            ("wednesday", "wed", "الأربعاء"),
            ("thursday", "thu", "thur", "thurs", "الخميس"),
            ("friday", "fri", "الجمعة", "الجمعه"),
            ("saturday", "sat", "السبت"),
            ("sunday", "sun", "الأحد"),
        )
    )
    for name in spellings
}

# Words that carry no date information: "month", "year", "of", AD markers, ordinal suffixes.
_FILLER = frozenset(
    normalise_name(word)
    for word in (
        "م", "عام", "العام", "سنة", "سنه", "شهر", "من", "في", "تاريخ", "بتاريخ", "يوم",
        "الموافق",
        "of", "the", "in", "on", "st", "nd", "rd", "th", "ad", "ce", "year", "month", "day", "date",
        "dated",
    )
)  # fmt: skip
_HIJRI_WORDS = frozenset(normalise_name(word) for word in ("ه", "هجري", "هجرية", "هجريه", "ah"))


# --- building results ------------------------------------------------------------------------


def _check_year(year: int) -> str | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return f"year {year} is outside {MIN_YEAR}-{MAX_YEAR}"
    return None


def _day(year: int, month: int, day: int, notes: list[str]) -> ParsedDate:
    problem = _check_year(year)
    if problem is None and not 1 <= month <= 12:
        problem = f"month {month} does not exist"
    if problem is None:
        try:
            date = datetime.date(year, month, day)
        except ValueError:
            problem = f"day {day} does not exist in {_MONTH_EN[month - 1]} {year}"
    if problem is not None:
        return _failed(problem)
    return ParsedDate(date, date, "day", None, "; ".join(notes) or None)


def _month(year: int, month: int, notes: list[str]) -> ParsedDate:
    problem = _check_year(year) or (None if 1 <= month <= 12 else f"month {month} does not exist")
    if problem is not None:
        return _failed(problem)
    start = datetime.date(year, month, 1)
    end = datetime.date(year + month // 12, month % 12 + 1, 1) - datetime.timedelta(days=1)
    return ParsedDate(start, end, "month", None, "; ".join(notes) or None)


def _year(year: int) -> ParsedDate:
    problem = _check_year(year)
    if problem is not None:
        return _failed(problem)
    return ParsedDate(datetime.date(year, 1, 1), datetime.date(year, 12, 31), "year")


def _full_year(digits: str, today: datetime.date, notes: list[str]) -> int:
    year = int(digits)
    if len(digits) == 2:
        notes.append(NOTE_TWO_DIGIT_YEAR)
        year += 2000 if year <= today.year % 100 else 1900
    return year


# --- numeric forms ---------------------------------------------------------------------------

# An optional time of day after a numeric date: checked, then ignored (the store keeps dates).
_TIME = (
    r"(?:[t ]\s*(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"\s*(?:[ap]\.?m\.?)?\s*(?:z|[+-]\d{2}:?\d{2})?)?"
)
_YMD = re.compile(r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})" + _TIME)
_DMY = re.compile(r"(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})" + _TIME)
_YM = re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})")
_MY = re.compile(r"(?P<m>\d{1,2})[-/.](?P<y>\d{4})")
_TRAILING_TIME = re.compile(
    r"[\s,]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?\s*(?:[ap]\.?m\.?)?$"
)
_AD_SUFFIX = re.compile(r"(?<=\d)\s*م\.?$")
_HIJRI_SUFFIX = re.compile(r"\d\s*ه\.?(?:\W|$)")  # هـ after a year, tatweel already gone


def _time_problem(match: re.Match[str]) -> str | None:
    if match.group("hour") is None:
        return None
    second = int(match.group("second") or 0)
    if int(match.group("hour")) > 23 or int(match.group("minute")) > 59 or second > 59:
        return BAD_TIME
    return None


def _day_month(a: int, b: int, day_first: bool | None, notes: list[str]) -> tuple[int, int] | str:
    """Order two numbers as (day, month), or say why they cannot be ordered."""
    if a > 12 and b > 12:
        return NO_MONTH_POSSIBLE
    if day_first is None:
        if a <= 12 and b <= 12 and a != b:
            return AMBIGUOUS_ORDER
        return (a, b) if b <= 12 else (b, a)
    day, month = (a, b) if day_first else (b, a)
    if month > 12:
        notes.append(NOTE_MONTH_FIRST if day_first else NOTE_DAY_FIRST)
        day, month = month, day
    return day, month


def _parse_numeric(s: str, day_first: bool | None, today: datetime.date) -> ParsedDate | None:
    notes: list[str] = []
    if match := _YMD.fullmatch(s):
        if problem := _time_problem(match):
            return _failed(problem)
        return _day(int(match["y"]), int(match["m"]), int(match["d"]), notes)
    if match := _DMY.fullmatch(s):
        if problem := _time_problem(match):
            return _failed(problem)
        order = _day_month(int(match["a"]), int(match["b"]), day_first, notes)
        if isinstance(order, str):
            return _failed(order)
        year = _full_year(match["y"], today, notes)
        return _day(year, order[1], order[0], notes)
    if match := _YM.fullmatch(s):
        return _month(int(match["y"]), int(match["m"]), notes)
    if match := _MY.fullmatch(s):
        return _month(int(match["y"]), int(match["m"]), notes)
    if re.fullmatch(r"\d{4}", s):
        return _year(int(s))
    if re.fullmatch(r"\d{8}", s):
        return _failed(EIGHT_DIGITS)
    if match := re.fullmatch(r"(\d{5})(?:\.\d+)?", s):
        serial = int(match.group(1))
        if EXCEL_SERIAL_RANGE[0] <= serial <= EXCEL_SERIAL_RANGE[1]:
            date = _EXCEL_EPOCH + datetime.timedelta(days=serial)
            return ParsedDate(date, date, "day", None, NOTE_EXCEL_SERIAL)
    return None


# --- forms with month names ------------------------------------------------------------------


def _parse_words(s: str, months: Mapping[str, int], today: datetime.date) -> ParsedDate:
    time = _TRAILING_TIME.search(s)
    if time is not None:
        if problem := _time_problem(time):
            return _failed(problem)
        s = s[: time.start()]
    tokens = _tokens(s)
    shape = ""  # one letter per token that counts: "y" 4-digit number, "n" 1-2 digits, "m" month
    parts: list[str] = []  # the digits of numbers, the month number of month names
    weekday: int | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        pair = f"{token} {tokens[i + 1]}" if i + 1 < len(tokens) else None
        if token.isdigit():
            shape += "y" if len(token) == 4 else "n" if len(token) <= 2 else "?"
            parts.append(token)
        elif pair is not None and pair in months:  # two-word names: كانون الثاني
            shape += "m"
            parts.append(str(months[pair]))
            i += 1
        elif token in months:
            shape += "m"
            parts.append(str(months[token]))
        elif token in _HIJRI_WORDS:
            return _failed(HIJRI)
        elif token in _WEEKDAYS:
            weekday = _WEEKDAYS[token]
        elif token not in _FILLER:
            return _failed(UNRECOGNISED if shape or any(t.isdigit() for t in tokens) else NOT_A_DATE)
        i += 1

    notes: list[str] = []
    if shape in ("nmy", "nmn"):  # 12 March 2013, 12-Mar-13
        result = _day(_full_year(parts[2], today, notes), int(parts[1]), int(parts[0]), notes)
    elif shape in ("mny", "mnn"):  # March 12, 2013
        result = _day(_full_year(parts[2], today, notes), int(parts[0]), int(parts[1]), notes)
    elif shape == "ymn":  # 2013 March 12
        result = _day(int(parts[0]), int(parts[1]), int(parts[2]), notes)
    elif shape == "my":  # March 2013, آذار ٢٠١٣
        return _month(int(parts[1]), int(parts[0]), notes)
    elif shape == "ym":
        return _month(int(parts[0]), int(parts[1]), notes)
    elif shape == "y":  # عام 2013م
        return _year(int(parts[0]))
    elif shape in ("m", "nm", "mn"):
        return _failed(NO_YEAR)
    else:
        return _failed(UNRECOGNISED if shape else NOT_A_DATE)
    return _with_weekday_check(result, weekday)


def _with_weekday_check(result: ParsedDate, weekday: int | None) -> ParsedDate:
    if weekday is None or result.start is None or result.start.weekday() == weekday:
        return result
    note = "; ".join(filter(None, (result.note, NOTE_WEEKDAY)))
    return ParsedDate(result.start, result.end, result.precision, None, note)


def _without_leading_words(s: str) -> tuple[str, int | None]:
    """Drop words such as ``بتاريخ`` or ``Tuesday,`` before a numeric date; return the weekday."""
    words = s.split()
    weekday = None
    while words:
        key = normalise_name(words[0])
        if key in _WEEKDAYS:
            weekday = _WEEKDAYS[key]
        elif key not in _FILLER:
            break
        words.pop(0)
    return " ".join(words), weekday


# --- public API ------------------------------------------------------------------------------


def parse_date(
    text: str | None,
    *,
    months: Mapping[str, int],
    day_first: bool | None = True,
    today: datetime.date | None = None,
) -> ParsedDate:
    """Read one date; ``months`` comes from :func:`month_names`.

    ``day_first`` is the submitter's convention for numeric dates (None: unknown, so values
    where both orders are possible are reported as ambiguous). ``today`` fixes the century of
    two-digit years: ``13`` is 2013 when 13 is at most the current year's last two digits.

    >>> months = {"march": 3, "اذار": 3}
    >>> parse_date("١٢/٠٣/٢٠١٣", months=months).start
    datetime.date(2013, 3, 12)
    >>> parse_date("آذار 2013", months=months).precision
    'month'
    >>> parse_date("31/04/2013", months=months).problem
    'day 31 does not exist in April 2013'
    """
    if text is None:
        return _MISSING
    s = _normalise_chars(text).strip()
    if not s:
        return _MISSING
    if _HIJRI_SUFFIX.search(s):
        return _failed(HIJRI)
    s = _AD_SUFFIX.sub("", s)
    today = today or datetime.date.today()
    numeric = _parse_numeric(s, day_first, today)
    if numeric is not None:
        return numeric
    if re.search(r"[^\W\d_]", s):
        rest, weekday = _without_leading_words(s)
        numeric = _parse_numeric(rest, day_first, today) if rest and rest != s else None
        if numeric is not None:
            return _with_weekday_check(numeric, weekday)
        return _parse_words(s, months, today)
    return _failed(UNRECOGNISED if re.search(r"\d", s) else NOT_A_DATE)


PARSED_DATES_SCHEMA = {
    "text": pl.Utf8,
    "start": pl.Date,
    "end": pl.Date,
    "precision": pl.Utf8,
    "problem": pl.Utf8,
    "note": pl.Utf8,
}


def parse_dates(
    texts: Sequence[str | None],
    *,
    months: Mapping[str, int],
    day_first: bool | None = True,
    today: datetime.date | None = None,
) -> pl.DataFrame:
    """Parse many (distinct) strings; one row per input, in order, columns of PARSED_DATES_SCHEMA.

    >>> parse_dates(["2013-03", None], months={}).select("precision").to_series().to_list()
    ['month', None]
    """
    today = today or datetime.date.today()
    seen: dict[str | None, ParsedDate] = {}
    rows = []
    for text in texts:
        parsed = seen.get(text)
        if parsed is None:
            parsed = seen[text] = parse_date(text, months=months, day_first=day_first, today=today)
        rows.append((text, parsed.start, parsed.end, parsed.precision, parsed.problem, parsed.note))
    return pl.DataFrame(rows, schema=PARSED_DATES_SCHEMA, orient="row")
