"""Personal-data patterns: the YAML file, the SQL built from it, and its behaviour at scale."""

from __future__ import annotations

import doctest
from pathlib import Path

import duckdb
import polars as pl
import pytest

from workbench.config import default_contracts_path
from workbench.errors import ContractError
from workbench.normalise import pii
from workbench.normalise.pii import (
    detection_sql,
    digits_to_ascii_sql,
    load_patterns,
    masking_sql,
    screen_texts,
    sql_literal,
)

PATTERNS_FILE = default_contracts_path() / "pii_patterns.yaml"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PATTERNS = load_patterns(PATTERNS_FILE)
BY_NAME = {p.name: p for p in PATTERNS}


@pytest.fixture()
def con():
    with duckdb.connect() as connection:
        yield connection


def test_pattern_file_covers_the_kinds_we_promise():
    kinds = {p.kind for p in PATTERNS}
    assert {"phone", "email", "national_id", "person_name"} <= kinds
    assert len(BY_NAME) == len(PATTERNS)
    assert all(p.rule == f"pii.{p.name}" for p in PATTERNS)


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.name)
def test_examples_through_duckdb(con, pattern):
    texts = [*pattern.examples.match, *pattern.examples.no_match]
    screened = screen_texts(con, texts, PATTERNS)
    found = [pattern.name in matched for matched in screened["matched"]]
    assert found == [True] * len(pattern.examples.match) + [False] * len(pattern.examples.no_match)
    # Masking with every pattern leaves nothing any pattern finds.
    rescreened = screen_texts(con, screened["masked"][: len(pattern.examples.match)].to_list(), PATTERNS)
    assert rescreened["matched"].to_list() == [[]] * len(pattern.examples.match)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("اعتقل المدعو أحمد محمد العلي، من مواليد", "اعتقل المدعو [name removed]، من مواليد"),
        ("اسم الضحية: سامر يوسف الحلبي", "اسم الضحية: [name removed]"),
        ("Name: Ahmad Khaled al-Omar - Gender: male", "Name: [name removed] - Gender: male"),
        ("witness Mr. Samir Nasser said", "witness Mr. [name removed] said"),
        ("a man named Yusuf Hamdan was taken", "a man named [name removed] was taken"),
        ("رقم الهوية: 01020304050", "رقم الهوية: [id removed]"),
        ("call him on 0944123456 after dark", "call him on [phone removed] after dark"),
        ("هاتف: ٠٩٤٤١٢٣٤٥٦ مساء", "هاتف: [phone removed] مساء"),
        ("write to a.witness@example.org today", "write to [email removed] today"),
        # The Syrian rule masks the number before the general one could swallow the count.
        ("+963 944 123 456 and 12 killed", "[phone removed] and 12 killed"),
        ("numbers 0944123456,0933123456", "numbers [phone removed],[phone removed]"),
    ],
)
def test_masking_removes_the_value_and_keeps_the_trigger(con, text, masked):
    assert screen_texts(con, [text], PATTERNS)["masked"].to_list() == [masked]


@pytest.mark.parametrize(
    "text",
    [
        "On 12/03/2013 shelling killed 15 civilians and injured 40.",
        "Recorded 2013-03-12T14:30:00, 2013-03-12 and 12.03.2013.",
        "قتل ١٥ مدنياً بتاريخ ١٢/٠٣/٢٠١٣ في الساعة 09:30",
        "Location 35.12345, 36.6789 and 35.123456789012, 36.12345678901",
        "P-codes SY070500, SY0705, C4268, C12345678901",
        "Between 2011 and 2024, 1250 people were detained; 309 of them were released.",
        "The 021 brigade and the 4th division moved 1,200,000 people.",
        "Video https://example.com/picture-id654406182 shows the crater.",
        "",
        None,
    ],
)
def test_no_false_positive_on_dates_counts_coordinates_and_pcodes(con, text):
    screened = screen_texts(con, [text], PATTERNS)
    assert screened["matched"].to_list() == [[]]
    ascii_digits = text.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")) if text else text
    assert screened["masked"].to_list() == [ascii_digits]


def test_digits_to_ascii(con):
    texts = ["١٢٣٤٥٦٧٨٩٠", "۱۲۳۴۵۶۷۸۹۰", "mixed ١2۳ text", "no digits here", None]
    expression = digits_to_ascii_sql('"t"')
    rows = con.execute(f"SELECT {expression} FROM unnest(?::VARCHAR[]) AS u(t)", [texts]).fetchall()
    expected = ["1234567890", "1234567890", "mixed 123 text", "no digits here", None]
    assert [row[0] for row in rows] == expected


def test_sql_literal_round_trips_through_duckdb(con):
    for text in ["it's", "''", "back\\slash \\1", "عربي ' مع فاصلة", "a;--b", ""]:
        assert con.execute(f"SELECT {sql_literal(text)}").fetchone()[0] == text
    with pytest.raises(ValueError):
        sql_literal("nul\x00")


def test_a_parameter_is_bound_once(con):
    text = "هاتف ٠٩٤٤١٢٣٤٥٦، المدعو خالد عمر"
    row = con.execute(
        f"SELECT {masking_sql('?', PATTERNS)}, {detection_sql('?', PATTERNS)}, {digits_to_ascii_sql('?')}",
        [text, text, text],
    ).fetchone()
    assert row == ("هاتف [phone removed]، المدعو [name removed]", ["phone_syria_mobile", "person_name_ar"],
                   "هاتف 0944123456، المدعو خالد عمر")  # fmt: skip


def test_sql_for_no_patterns(con):
    detected = detection_sql(sql_literal("0944123456"), [])
    masked = masking_sql(sql_literal("٠٩"), [])
    assert con.execute(f"SELECT {detected}, {masked}").fetchone() == ([], "09")


def test_detection_lists_every_pattern_that_applies(con):
    text = "Name: Ahmad Ali, ID 12345678901, المدعو خالد عمر"
    (matched,) = con.execute(f"SELECT {detection_sql(sql_literal(text), PATTERNS)}").fetchone()
    assert matched == ["national_id_labelled", "national_id_bare", "person_name_en", "person_name_ar"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pii_patterns.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_patterns_lists_every_problem(tmp_path):
    path = _write(
        tmp_path,
        """
version: "1.0.0"
patterns:
  - {name: lookbehind, kind: phone, severity: error, description: d, regex: '(?<=tel)[0-9]+',
     mask: x, examples: {match: ["tel123"], no_match: []}}
  - {name: loud, kind: phone, severity: fatal, description: d, regex: '[0-9]+', mask: x,
     examples: {match: ["1"], no_match: []}}
  - {name: missed, kind: email, severity: error, description: d, regex: 'secret-value-7',
     mask: '[x]', examples: {match: ["secret-value-8"], no_match: ["secret-value-7"]}}
  - {name: bad_group, kind: email, severity: error, description: d, regex: '(a)b', mask: '\\2',
     examples: {match: ["ab"]}}
  - {name: missed, kind: email, severity: error, description: d, regex: 'z', mask: '[x]',
     examples: {match: ["z"]}, colour: red}
""",
    )
    with pytest.raises(ContractError) as raised:
        load_patterns(path)
    problems = raised.value.problems
    assert any("'lookbehind'" in p and "RE2" in p for p in problems)
    assert any("'loud'" in p and "severity" in p for p in problems)
    assert any("'missed'" in p and "match example 1 is not found" in p for p in problems)
    assert any("'missed'" in p and "no_match example 1 is found" in p for p in problems)
    assert any("'bad_group'" in p and "masking match example 1" in p for p in problems)
    assert any("unknown key 'colour'" in p for p in problems)
    assert all(str(path) in p for p in problems)
    assert not any("secret-value" in p for p in problems), "examples must not be echoed"


@pytest.mark.parametrize(
    "text",
    ["", "[]", "version: '1.0.0'\npatterns: []", "version: 1\npatterns: [{name: x}]", "a: [unclosed"],
)
def test_load_patterns_rejects_malformed_files(tmp_path, text):
    with pytest.raises(ContractError):
        load_patterns(_write(tmp_path, text))


def test_load_patterns_missing_file(tmp_path):
    with pytest.raises(ContractError, match="cannot be read"):
        load_patterns(tmp_path / "absent.yaml")


# Synthetic narratives: (SQL expression of the row number i, pattern names it must trigger).
MOBILE_DIGITS = "'09' || lpad((i % 100000000)::VARCHAR, 8, '0')"
NARRATIVE_TEMPLATES = [
    (
        "'On ' || strftime(DATE '2012-01-01' + (i % 3000)::INT, '%d/%m/%Y') || ' shelling hit the '"
        " || 'market; ' || (i % 97) || ' civilians were killed near 35.'"
        " || lpad((i % 99991)::VARCHAR, 5, '0') || ', 36.6789 (SY070500, C4268) between 09:30 and 11:00.'",
        [],
    ),
    (
        "'قصف الطيران حي الشعار بتاريخ ' || (i % 28 + 1) || '/03/2013 مما أدى إلى مقتل '"
        " || (i % 50) || ' مدنياً في عام ' || (2011 + i % 10)",
        [],
    ),
    (f"'A witness can be reached on ' || {MOBILE_DIGITS} || ' after dark.'", ["phone_syria_mobile"]),
    (
        f"'هاتف الشاهد ' || translate({MOBILE_DIGITS}, '0123456789', '٠١٢٣٤٥٦٧٨٩')",
        ["phone_syria_mobile"],
    ),
    (
        "'اعتقل المدعو أحمد محمد العلي على حاجز في ' || (2011 + i % 10) || '، ولم يعرف مصيره.'",
        ["person_name_ar"],
    ),
    ("'Contact witness' || i || '@example.org for details.'", ["email"]),
    ("'الرقم الوطني: ' || lpad(i::VARCHAR, 11, '1')", ["national_id_labelled", "national_id_bare"]),
    (
        "'Office line +44 20 7946 ' || lpad((i % 10000)::VARCHAR, 4, '0') || ', ' || (i % 13) || ' injured.'",
        ["phone_international"],
    ),
]


def test_detection_and_masking_at_scale(con):
    """100,000 generated narratives: every row gets exactly the expected patterns."""
    cases = " ".join(
        f"WHEN {k} THEN {expr}" for k, (expr, _) in enumerate(NARRATIVE_TEMPLATES)
    )
    expected = " ".join(
        f"WHEN {k} THEN {'[' + ', '.join(sql_literal(n) for n in names) + ']::VARCHAR[]'}"
        for k, (_, names) in enumerate(NARRATIVE_TEMPLATES)
    )
    templates = len(NARRATIVE_TEMPLATES)
    con.execute(
        f"CREATE TABLE narratives AS SELECT i, CASE i % {templates} {cases} END AS narrative, "
        f"CASE i % {templates} {expected} END AS expected FROM range(100000) AS r(i)"
    )
    con.execute(
        f"CREATE TABLE screened AS SELECT i, expected, {detection_sql('narrative', PATTERNS)} AS matched, "
        f"{masking_sql('narrative', PATTERNS)} AS masked FROM narratives"
    )
    wrong, flagged = con.execute(
        "SELECT count(*) FILTER (WHERE list_sort(matched) != list_sort(expected)), "
        "count(*) FILTER (WHERE len(matched) > 0) FROM screened"
    ).fetchone()
    assert wrong == 0
    assert flagged == 100000 * 6 // templates
    (left,) = con.execute(
        f"SELECT count(*) FILTER (WHERE len({detection_sql('masked', PATTERNS)}) > 0) FROM screened"
    ).fetchone()
    assert left == 0


def test_screen_texts_keeps_input_order(con):
    texts = [f"row {i} " + ("0944123456" if i % 3 == 0 else "nothing") for i in range(500)]
    screened = screen_texts(con, texts, PATTERNS)
    assert screened["text"].to_list() == texts
    assert screened.schema == pl.Schema({"text": pl.Utf8, "matched": pl.List(pl.Utf8), "masked": pl.Utf8})
    assert [bool(m) for m in screened["matched"].to_list()] == [i % 3 == 0 for i in range(500)]


def test_docstring_examples():
    assert doctest.testmod(pii, raise_on_error=False).failed == 0


@pytest.mark.shared_data
def test_real_descriptions_flag_only_names():
    """Syrian Archive video descriptions hold names of doctors and nothing else we screen for."""
    path = SHARED_DATA / "real" / "syrianarchive-violations" / "violations.csv"
    if not path.exists():
        pytest.skip(f"shared reference data not found at {path}")
    descriptions = pl.read_csv(path, infer_schema_length=0)["Description"].to_list()
    with duckdb.connect() as connection:
        screened = screen_texts(connection, descriptions, PATTERNS)
    kinds = {BY_NAME[name].kind for matched in screened["matched"] for name in matched}
    assert kinds == {"person_name"}
    assert screened.filter(pl.col("matched").list.len() > 0).height < 20
