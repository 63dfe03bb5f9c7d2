"""Reading dates as NGOs write them, in English and Arabic."""

from __future__ import annotations

import datetime
import doctest
import time
from pathlib import Path

import jsonschema
import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.config import default_contracts_path
from workbench.errors import ContractError
from workbench.normalise import dates
from workbench.normalise.dates import (
    AMBIGUOUS_ORDER,
    EIGHT_DIGITS,
    HIJRI,
    NO_MONTH_POSSIBLE,
    NO_YEAR,
    NOT_A_DATE,
    NOTE_DAY_FIRST,
    NOTE_EXCEL_SERIAL,
    NOTE_MONTH_FIRST,
    NOTE_TWO_DIGIT_YEAR,
    NOTE_WEEKDAY,
    UNRECOGNISED,
    ParsedDate,
    month_names,
    parse_date,
    parse_dates,
)

CONTRACTS = default_contracts_path()
MONTHS_VOCABULARY = yaml.safe_load((CONTRACTS / "vocabularies" / "months.yaml").read_text(encoding="utf-8"))
MONTHS = month_names(MONTHS_VOCABULARY["terms"])
TODAY = datetime.date(2025, 6, 1)  # fixes the century of two-digit years
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

D = datetime.date


def day(y: int, m: int, d: int, note: str | None = None) -> ParsedDate:
    return ParsedDate(D(y, m, d), D(y, m, d), "day", None, note)


def month(y: int, m: int, last: int) -> ParsedDate:
    return ParsedDate(D(y, m, 1), D(y, m, last), "month")


def year(y: int) -> ParsedDate:
    return ParsedDate(D(y, 1, 1), D(y, 12, 31), "year")


def problem(text: str) -> ParsedDate:
    return ParsedDate(problem=text)


MISSING = ParsedDate()

CASES = [
    # ISO, with and without time
    ("2013-03-12", day(2013, 3, 12)),
    ("2013-3-2", day(2013, 3, 2)),
    ("2013-03-12T14:30:00", day(2013, 3, 12)),
    ("2013-03-12T14:30:00.250Z", day(2013, 3, 12)),
    ("2013-03-12T14:30:00+03:00", day(2013, 3, 12)),
    ("2013-03-12 14:30", day(2013, 3, 12)),
    ("2013-03-12 00:00:00", day(2013, 3, 12)),
    ("2013/03/12", day(2013, 3, 12)),
    ("2013-03-12T24:00", problem(dates.BAD_TIME)),
    ("2013-03/12", problem(UNRECOGNISED)),
    # day-first numbers
    ("12/03/2013", day(2013, 3, 12)),
    ("12-03-2013", day(2013, 3, 12)),
    ("12.03.2013", day(2013, 3, 12)),
    ("3/4/2013", day(2013, 4, 3)),
    ("12/3/13", day(2013, 3, 12, NOTE_TWO_DIGIT_YEAR)),
    ("12/3/25", day(2025, 3, 12, NOTE_TWO_DIGIT_YEAR)),
    ("12/3/26", day(1926, 3, 12, NOTE_TWO_DIGIT_YEAR)),
    ("12/03/2013 14:30", day(2013, 3, 12)),
    ("12/03/2013 2:30 PM", day(2013, 3, 12)),
    ("12/25/2013", day(2013, 12, 25, NOTE_MONTH_FIRST)),
    ("13/13/2013", problem(NO_MONTH_POSSIBLE)),
    ("31/04/2013", problem("day 31 does not exist in April 2013")),
    ("29/02/2013", problem("day 29 does not exist in February 2013")),
    ("29/02/2012", day(2012, 2, 29)),
    ("00/03/2013", problem("day 0 does not exist in March 2013")),
    ("2013-02-30", problem("day 30 does not exist in February 2013")),
    ("2013-13-01", problem("month 13 does not exist")),
    # Arabic-Indic and Persian digits, Arabic punctuation, bidi marks
    ("١٢/٠٣/٢٠١٣", day(2013, 3, 12)),
    ("۱۲/۰۳/۲۰۱۳", day(2013, 3, 12)),
    ("١٢؍٠٣؍٢٠١٣", day(2013, 3, 12)),
    ("\u200f١٢/٠٣/٢٠١٣\u200f", day(2013, 3, 12)),
    ("٢٠١٣-٠٣-١٢", day(2013, 3, 12)),
    ("١٢/٠٣/٢٠١٣م", day(2013, 3, 12)),
    ("بتاريخ 12/03/2013", day(2013, 3, 12)),
    # English month names
    ("12 March 2013", day(2013, 3, 12)),
    ("March 12, 2013", day(2013, 3, 12)),
    ("12-Mar-2013", day(2013, 3, 12)),
    ("12-Mar-13", day(2013, 3, 12, NOTE_TWO_DIGIT_YEAR)),
    ("12th of March 2013", day(2013, 3, 12)),
    ("Sept 5, 2013", day(2013, 9, 5)),
    ("5 SEPTEMBER 2013", day(2013, 9, 5)),
    ("Tuesday, 12 March 2013", day(2013, 3, 12)),
    ("Monday 12 March 2013", day(2013, 3, 12, NOTE_WEEKDAY)),
    ("12 Mar 2013 14:30", day(2013, 3, 12)),
    ("2013 March 12", day(2013, 3, 12)),
    ("Mar 2013", month(2013, 3, 31)),
    ("February 2012", month(2012, 2, 29)),
    ("31 June 2013", problem("day 31 does not exist in June 2013")),
    ("12 March", problem(NO_YEAR)),
    ("Smarch 12, 2013", problem(UNRECOGNISED)),
    # Arabic month names: Levantine, Egyptian, with ال, with م / عام
    ("12 آذار 2013", day(2013, 3, 12)),
    ("١٢ آذار ٢٠١٣", day(2013, 3, 12)),
    ("12 اذار 2013", day(2013, 3, 12)),
    ("12 مارس 2013", day(2013, 3, 12)),
    ("12 كانون الثاني 2013", day(2013, 1, 12)),
    ("12 كانون ثاني 2013", day(2013, 1, 12)),
    ("١ تشرين الأول ٢٠١٣م", day(2013, 10, 1)),
    ("30 تشرين الثاني 2013", day(2013, 11, 30)),
    ("25 كانون الأول 2013", day(2013, 12, 25)),
    ("5 إبريل 2014", day(2014, 4, 5)),
    ("5 أبريل، 2014", day(2014, 4, 5)),
    ("في 12 أيار 2013", day(2013, 5, 12)),
    ("1 يونيو 2015", day(2015, 6, 1)),
    ("1 يوليه 2015", day(2015, 7, 1)),
    ("15 آب 2013", day(2013, 8, 15)),
    ("15 أغسطس 2013", day(2013, 8, 15)),
    ("15 الآب 2013", day(2013, 8, 15)),
    ("3 شباط 2016", day(2016, 2, 3)),
    ("الثلاثاء ١٢ آذار ٢٠١٣", day(2013, 3, 12)),
    ("الثلاثاء 12/03/2013", day(2013, 3, 12)),
    ("١٢ آذ\u0640ار ٢٠١٣", day(2013, 3, 12)),  # tatweel inside the name
    ("آذار ٢٠١٣", month(2013, 3, 31)),
    ("شهر آذار من عام 2013م", month(2013, 3, 31)),
    ("أيلول 2012", month(2012, 9, 30)),
    ("31 نيسان 2013", problem("day 31 does not exist in April 2013")),
    ("1434 هـ", problem(HIJRI)),
    ("12 آذار", problem(NO_YEAR)),
    # partial dates
    ("2013-03", month(2013, 3, 31)),
    ("03/2013", month(2013, 3, 31)),
    ("3/2013", month(2013, 3, 31)),
    ("12/2013", month(2013, 12, 31)),
    ("13/2013", problem("month 13 does not exist")),
    ("2013", year(2013)),
    ("عام 2013", year(2013)),
    ("2013م", year(2013)),
    ("1850", problem("year 1850 is outside 1900-2100")),
    # Excel serial day numbers and other bare numbers
    ("41345", day(2013, 3, 12, NOTE_EXCEL_SERIAL)),
    ("41345.5", day(2013, 3, 12, NOTE_EXCEL_SERIAL)),
    ("39999", problem(UNRECOGNISED)),
    ("20130312", problem(EIGHT_DIGITS)),
    ("123", problem(UNRECOGNISED)),
    # whitespace, empty and non-dates
    ("  2013-03-12 ", day(2013, 3, 12)),
    ("\t12/03/2013\n", day(2013, 3, 12)),
    ("", MISSING),
    ("   ", MISSING),
    (None, MISSING),
    ("unknown", problem(NOT_A_DATE)),
    ("غير معروف", problem(NOT_A_DATE)),
    ("12/03/2013 - 15/03/2013", problem(UNRECOGNISED)),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(text) for text, _ in CASES])
def test_parse_date(text, expected):
    assert parse_date(text, months=MONTHS, today=TODAY) == expected


def test_enough_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("03/04/2013", True, day(2013, 4, 3)),
        ("03/04/2013", False, day(2013, 3, 4)),
        ("03/04/2013", None, problem(AMBIGUOUS_ORDER)),
        ("04/04/2013", None, day(2013, 4, 4)),
        ("13/04/2013", None, day(2013, 4, 13)),
        ("04/13/2013", None, day(2013, 4, 13)),
        ("13/04/2013", False, day(2013, 4, 13, NOTE_DAY_FIRST)),
        ("12 March 2013", False, day(2013, 3, 12)),
    ],
)
def test_day_month_order(text, day_first, expected):
    assert parse_date(text, months=MONTHS, day_first=day_first, today=TODAY) == expected


def test_problems_never_echo_the_text():
    for text in ["Ahmad 12/03/2013", "رقم 0944123456", "secret 31/04/2013"]:
        result = parse_date(text, months=MONTHS, today=TODAY)
        assert result.problem is not None
        assert not any(word in result.problem for word in ("Ahmad", "0944123456", "secret"))


def test_months_vocabulary_satisfies_the_meta_schema():
    schema = yaml.safe_load((CONTRACTS / "meta" / "vocabulary.schema.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(MONTHS_VOCABULARY, schema)
    assert [t["code"] for t in MONTHS_VOCABULARY["terms"]] == [f"m{n:02d}" for n in range(1, 13)]


def test_month_names_normalise_like_parse_date():
    assert sorted(set(MONTHS.values())) == list(range(1, 13))
    for spelling, number in [("آذار", 3), ("اذار", 3), ("الآذار", 3), ("إبريل", 4), ("أبريل", 4),
                             ("كانون الثاني", 1), ("كانون ثاني", 1), ("SEPT", 9), ("ايلول", 9)]:  # fmt: skip
        assert MONTHS[dates.normalise_name(spelling)] == number


def test_month_names_rejects_bad_terms():
    with pytest.raises(ContractError) as raised:
        month_names(
            [
                {"code": "m13", "label": {"en": "Smarch", "ar": "سمارس"}},
                {"code": "m01", "label": {"en": "January", "ar": "كانون الثاني"}},
                {"code": "m02", "label": {"en": "February", "ar": "شباط"}, "synonyms": {"en": ["january"]}},
            ]
        )
    problems = raised.value.problems
    assert any("m13" in p for p in problems)
    assert any("also month 1" in p for p in problems)


def test_month_names_needs_all_twelve():
    with pytest.raises(ContractError, match="every month"):
        month_names([{"code": "m01", "label": {"en": "January", "ar": "كانون الثاني"}}])


def test_parse_dates_frame():
    texts = ["2013-03-12", None, "آذار ٢٠١٣", "31/04/2013", "2013-03-12", "12/25/2013"]
    frame = parse_dates(texts, months=MONTHS, today=TODAY)
    assert frame.schema == pl.Schema(dates.PARSED_DATES_SCHEMA)
    assert frame["text"].to_list() == texts
    assert frame["precision"].to_list() == ["day", None, "month", None, "day", "day"]
    ends = [D(2013, 3, 12), None, D(2013, 3, 31), None, D(2013, 3, 12), D(2013, 12, 25)]
    assert frame["end"].to_list() == ends
    assert frame["problem"].to_list()[3] == "day 31 does not exist in April 2013"
    assert frame["note"].to_list()[5] == NOTE_MONTH_FIRST


def test_parse_dates_empty_input():
    frame = parse_dates([], months=MONTHS)
    assert frame.height == 0
    assert frame.schema == pl.Schema(dates.PARSED_DATES_SCHEMA)


def test_ten_thousand_distinct_values_are_fast():
    start = D(2011, 3, 1)
    texts = []
    for n in range(2500):
        value = start + datetime.timedelta(days=n)
        texts += [value.isoformat(), value.strftime("%d/%m/%Y")]
        texts += [f"{value.day} {ENGLISH[value.month]} {value.year}", f"{value.day} آذار {value.year}"]
    began = time.perf_counter()
    frame = parse_dates(texts, months=MONTHS)
    elapsed = time.perf_counter() - began
    assert frame["problem"].null_count() == len(texts)
    assert frame["start"].null_count() == 0
    assert elapsed < 1.5, f"{elapsed:.2f} s for 10,000 values (aim: under 0.5 s)"


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
LEVANTINE = {int(t["code"][1:]): t["label"]["ar"] for t in MONTHS_VOCABULARY["terms"]}
EGYPTIAN = {int(t["code"][1:]): t["synonyms"]["ar"][0] for t in MONTHS_VOCABULARY["terms"]}
ENGLISH = {int(t["code"][1:]): t["label"]["en"] for t in MONTHS_VOCABULARY["terms"]}


def formats(value: datetime.date) -> list[str]:
    spelled = [
        f"{value.day} {ENGLISH[value.month]} {value.year}",
        f"{value.day} {LEVANTINE[value.month]} {value.year}",
        f"{value.day} {EGYPTIAN[value.month]} {value.year}",
    ]
    numeric = [
        value.isoformat(),
        f"{value.day:02d}/{value.month:02d}/{value.year}",
        f"{value.day}/{value.month}/{value.year}",
    ]
    return [*numeric, *spelled, *(t.translate(ARABIC_INDIC) for t in numeric + spelled[1:]),
            *(t.translate(PERSIAN) for t in numeric)]  # fmt: skip


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(st.dates(min_value=D(2011, 3, 1), max_value=D(2030, 12, 31)))
def test_formatted_dates_parse_back(value):
    for text in formats(value):
        assert parse_date(text, months=MONTHS) == ParsedDate(value, value, "day"), text


def test_docstring_examples():
    assert doctest.testmod(dates, raise_on_error=False).failed == 0


@pytest.mark.shared_data
def test_real_recording_dates_parse():
    path = SHARED_DATA / "real" / "syrianarchive-violations" / "violations.csv"
    if not path.exists():
        pytest.skip(f"shared reference data not found at {path}")
    raw = pl.read_csv(path, infer_schema_length=0)["Recording_Date"]
    distinct = raw.drop_nulls().unique().to_list()
    frame = parse_dates(distinct, months=MONTHS)
    assert frame.filter(pl.col("problem").is_not_null()).height == 0
    assert set(frame["precision"].to_list()) == {"day"}
