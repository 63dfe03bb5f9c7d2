"""What the columns of a foreign export hold: read the file, find its header row, profile each column.

An NGO's own export has whatever headers and conventions the NGO chose. Before anyone writes a
format mapping for it (see ``workbench.mapping``), each column is profiled here: its kind of
value, how often it is empty, how many distinct values it has, a few samples, and the markers it
uses for "no value" (NA, N/A, -, غير معروف ...). ``workbench.drafting`` turns the profiles into a
first mapping. The work is done in polars over each column's distinct values with their counts;
Python only looks at short lists (markers, dates to parse).

>>> table = read_table(Path("violations.csv"))  # doctest: +SKIP
>>> [(p.header, p.kind) for p in profile_table(table, months={})][:2]  # doctest: +SKIP
[('Description', 'text'), ('City', 'categorical')]
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import duckdb
import polars as pl

from workbench.contracts import Vocabulary, text_key
from workbench.errors import PackageError
from workbench.fileformats import XLSX_EXTENSIONS, detect_delimiter, detect_encoding, read_xlsx, sha256_file, xlsx_sheet_names
from workbench.gazetteer import Gazetteer
from workbench.mapping import SYRIA_LAT, SYRIA_LON
from workbench.normalise.dates import NOTE_DAY_FIRST, NOTE_MONTH_FIRST, parse_dates
from workbench.normalise.pii import PiiPattern, screen_texts

#: What a column can hold, in the order :func:`profile_column` tries them.
KINDS = ("empty", "boolean", "url", "coordinate-latitude", "coordinate-longitude", "integer", "number",
         "date", "datetime", "identifier", "categorical", "text")
#: Cells that mean "no value" in exports we have seen; matched after ``text_key``, so case and
#: punctuation variants count too, and a cell of punctuation only ("-", "--", "/") is one as well.
MISSING_MARKERS = ("NA", "N/A", "#N/A", "-", "null", "none", "nil", "nan", "unknown", "?",
                   "غير معروف", "غير متوفر", "غير محدد", "لا يوجد", "مجهول")
MARKER_KEYS = {text_key(m) for m in MISSING_MARKERS}
LAT_WORDS = {text_key(w) for w in ("lat", "latitude", "y", "خط العرض", "العرض", "عرض")}
LON_WORDS = {text_key(w) for w in ("lon", "lng", "long", "longitude", "x", "خط الطول", "الطول", "طول")}
ID_WORDS = {text_key(w) for w in ("id", "code", "ref", "reference", "no", "number", "num", "key", "uuid",
                                  "رقم", "الرقم", "معرف", "المعرف", "رمز", "الرمز")}
#: Kinds of media an address points to, by host or file extension; the names are source_types codes.
MEDIA_PATTERNS = {
    "video": r"(?i)(youtube\.com/|youtu\.be/|vimeo\.com/|\.(mp4|mov|avi|mkv|webm|3gp|m4v)(\?|#|$))",
    "photograph": r"(?i)\.(jpe?g|png|gif|heic|tiff?|webp)(\?|#|$)",
    "audio": r"(?i)\.(mp3|wav|ogg|m4a|amr|opus)(\?|#|$)",
    "document": r"(?i)\.(pdf|docx?|odt|rtf)(\?|#|$)",
}
#: Header words of place columns, by how fine a place they name (finer first when composing a place).
PLACE_WORDS = {text_key(w): rank for rank, words in enumerate((
    ("neighbourhood", "neighborhood", "quarter", "street", "area", "حي", "الحي", "الشارع"),
    ("village", "town", "city", "locality", "community", "place", "location", "site", "قرية", "القرية",
     "بلدة", "البلدة", "مدينة", "المدينة", "المكان", "الموقع"),
    ("subdistrict", "nahiya", "nahiyah", "district", "ناحية", "الناحية", "منطقة", "المنطقة"),
    ("governorate", "province", "muhafaza", "محافظة", "المحافظة"),
)) for w in words}
URL_WORDS = {text_key(w) for w in ("url", "urls", "link", "links", "رابط", "الرابط")}
#: Header words of columns whose samples are never written into the draft (personal data).
PERSONAL_WORDS = {text_key(w) for w in ("name", "names", "firstname", "surname", "father", "mother", "phone", "mobile",
                                        "email", "mail", "address", "passport", "الاسم", "اسم", "الكنية", "هاتف",
                                        "الهاتف", "جوال", "موبايل", "بريد", "العنوان")}
LIST_SEPARATORS = ("|", ";", "؛", ",", "،")
HEADER_SCAN_ROWS = 30
#: Above this many distinct values a column is not categorical, and its values are not all kept.
CATEGORICAL_MAX = 100
VALUES_KEPT = 500
DATES_PARSED = 5000
_INTEGER = r"^[+-]?\d+$"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)$"
_URL = r"^https?://\S+$"
_TIME = r"\d{1,2}:\d{2}"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ARABIC = "[\u0621-\u064a]"
_LATIN = "[A-Za-z]"


@dataclass(frozen=True)
class Table:
    """An export read for profiling: every cell as text (None when empty), and how it was read."""

    path: Path
    sha256: str
    headers: tuple[str, ...]
    frame: pl.DataFrame  # columns c0, c1, ... in header order, all Utf8
    header_line: int  # 1-based line (CSV) or row (XLSX) of the headers
    total_rows: int | None  # rows in the file when all were read, else None
    encoding: str | None = None
    encoding_note: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()

    @property
    def truncated(self) -> bool:
        return self.total_rows is None


@dataclass(frozen=True)
class ColumnProfile:
    """What one column holds. Shares are of the non-empty rows unless named otherwise."""

    header: str
    column: str
    kind: str
    rows: int
    empty: int  # rows that are blank or hold a missing-value marker
    distinct: int
    samples: tuple[str, ...]
    markers: tuple[tuple[str, int], ...]  # marker as written, rows
    values: tuple[tuple[str, int], ...]  # distinct values with rows, most frequent first (up to VALUES_KEPT)
    max_length: int = 0
    mean_length: float = 0.0
    date_share: float = 0.0
    day_first_only: int = 0  # distinct dates that can only be read day-first
    month_first_only: int = 0
    iso_dates: bool = False
    arabic_share: float = 0.0
    latin_share: float = 0.0
    media: tuple[tuple[str, float], ...] = ()  # media kind, share of the addresses

    @property
    def filled(self) -> int:
        return self.rows - self.empty

    @property
    def empty_share(self) -> float:
        return self.empty / self.rows if self.rows else 1.0

    @property
    def unique(self) -> bool:
        return self.filled > 1 and self.distinct == self.filled

    @property
    def long_text(self) -> bool:
        return self.kind == "text" and self.mean_length >= 40

    @property
    def is_coordinate(self) -> bool:
        return self.kind.startswith("coordinate")


def header_words(header: str) -> set[str]:
    """The words of a header after ``text_key`` (``"GPS_Lat"`` -> ``{"gps", "lat"}``), and the whole key."""
    key = text_key(header)
    return {key, *key.split()}


def _looks_like_headers(row: Sequence[str | None], width: int) -> bool:
    """Mostly non-empty, none numeric, all distinct: what a header row is and a title or data row is not."""
    cells = [(c or "").strip() for c in row]
    filled = [c for c in cells if c]
    if not filled or len(filled) < max(1, 0.6 * width):
        return False
    numeric = sum(1 for c in filled if 2 * sum(ch.isdigit() for ch in c) >= len(c))
    return numeric <= 0.1 * len(filled) and len({text_key(c) for c in filled}) == len(filled)


def find_header_row(rows: Sequence[Sequence[str | None]]) -> int:
    """Index of the first row that looks like headers among the first rows (0 when none does).

    >>> find_header_row([["Violations 2013", "", ""], ["Ref", "Date", "City"], ["R-1", "2013-03-12", "Douma"]])
    1
    """
    head = list(rows[:HEADER_SCAN_ROWS])
    width = max((len(r) for r in head), default=0)
    return next((i for i, row in enumerate(head) if _looks_like_headers(row, width)), 0)


def _csv_records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line where the record starts, cells) of the first records of a decoded head."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records, line = [], 0
    try:
        for cells in reader:
            records.append((line, cells))
            line = reader.line_num
            if len(records) >= HEADER_SCAN_ROWS:
                break
    except csv.Error:
        pass  # a broken quote in the head: profile what was read before it
    return records


def read_table(path: Path, *, sheet: str | None = None, sample_rows: int = 50_000) -> Table:
    """Read a CSV or XLSX export as text cells, headers found on the first row that looks like headers.

    At most ``sample_rows`` data rows are read; ``Table.total_rows`` is None when there were more.
    """
    path = Path(path)
    if path.suffix.lower() in XLSX_EXTENSIONS:
        return _read_workbook(path, sheet, sample_rows)
    encoding, note = detect_encoding(path)
    delimiter = detect_delimiter(path, encoding) or ","
    with path.open("rb") as handle:
        head = handle.read(256 * 1024).decode(encoding, errors="replace").removeprefix("\ufeff")
    records = [r for r in _csv_records(head, delimiter) if any(c.strip() for c in r[1])]
    if not records:
        raise PackageError(f"{path.name}: no rows to profile")
    index = find_header_row([cells for _, cells in records])
    start_line, headers = records[index]
    # polars reads UTF-8 from the file itself; any other encoding is decoded here first
    source = path if encoding in ("utf-8", "ascii") else \
        io.BytesIO(path.read_bytes().decode(encoding, errors="replace").removeprefix("\ufeff").encode("utf-8"))
    frame = pl.read_csv(
        source, separator=delimiter, has_header=True, skip_lines=start_line, new_columns=[f"c{i}" for i in range(len(headers))],
        infer_schema=False, n_rows=sample_rows + 1, encoding="utf8-lossy", truncate_ragged_lines=True,
        raise_if_empty=False, quote_char='"',
    )
    return _table(path, headers, frame, start_line + 1, sample_rows, encoding=encoding, encoding_note=note,
                  delimiter=delimiter)


def _read_workbook(path: Path, sheet: str | None, sample_rows: int) -> Table:
    sheets = tuple(xlsx_sheet_names(path))
    header, rows = read_xlsx(path, sheet=sheet)
    table = [header, *rows]
    index = find_header_row(table)
    headers = [c or "" for c in table[index]]
    body = table[index + 1: index + 2 + sample_rows]
    columns = [f"c{i}" for i in range(len(headers))]
    frame = pl.DataFrame([list(r) for r in body], schema={c: pl.Utf8 for c in columns}, orient="row")
    return _table(path, headers, frame, index + 1, sample_rows, sheet=sheet or (sheets[0] if sheets else None), sheets=sheets)


def _table(path: Path, headers: Sequence[str], frame: pl.DataFrame, header_line: int, sample_rows: int, **how) -> Table:
    frame = frame.filter(~pl.all_horizontal(pl.all().is_null() | (pl.all().str.strip_chars() == "")))
    total = frame.height if frame.height <= sample_rows else None
    return Table(path=path, sha256=sha256_file(path), headers=tuple(h.strip() for h in headers),
                 frame=frame.head(sample_rows), header_line=header_line, total_rows=total, **how)


def _share(values: pl.DataFrame, condition: pl.Expr, filled: int) -> float:
    return float(values.filter(condition)["rows"].sum()) / filled if filled else 0.0


def _date_evidence(values: pl.DataFrame, months: Mapping[str, int]) -> tuple[float, int, int, bool]:
    """(share of rows that read as dates, distinct values only day-first, only month-first, all ISO)."""
    head = values.head(DATES_PARSED)
    texts, rows = head["value"].to_list(), head["rows"]
    # read once each way: a value read against the order asked for carries a note saying so
    day_first = parse_dates(texts, months=months, day_first=True)
    month_first = parse_dates(texts, months=months, day_first=False)
    share = float(rows.filter(day_first["start"].is_not_null()).sum()) / float(rows.sum())
    iso = bool(head["value"].str.contains(_ISO_DATE).all())
    return share, int((month_first["note"] == NOTE_DAY_FIRST).sum()), int((day_first["note"] == NOTE_MONTH_FIRST).sum()), iso


def _coordinate_kind(header: str, numbers: pl.DataFrame, filled: int) -> str | None:
    """Which coordinate a column of numbers (``x`` with ``rows``) holds: by its header words, else by
    the part of Syria's ranges that only latitudes (south of 35.7) or only longitudes (east of 37.4) reach."""
    words = header_words(header)
    if words & LAT_WORDS:
        return "coordinate-latitude"
    if words & LON_WORDS:
        return "coordinate-longitude"
    lat_only = _share(numbers, pl.col("x") < SYRIA_LON[0], filled)
    lon_only = _share(numbers, pl.col("x") > SYRIA_LAT[1], filled)
    if lat_only != lon_only:
        return "coordinate-latitude" if lat_only > lon_only else "coordinate-longitude"
    return None


def profile_column(series: pl.Series, header: str, *, months: Mapping[str, int], boolean: Vocabulary | None = None) -> ColumnProfile:
    """Profile one column of text cells (see :class:`ColumnProfile`)."""
    counted = (
        pl.DataFrame({"value": series.str.strip_chars()}).with_row_index("row")
        .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
        .group_by("value").agg(rows=pl.len(), first=pl.col("row").min())
        .sort(["rows", "first"], descending=[True, False])
    )
    short = counted.filter(pl.col("value").str.len_chars() <= 12)["value"].to_list()
    marker_values = [v for v in short if text_key(v) in MARKER_KEYS]
    markers = counted.filter(pl.col("value").is_in(marker_values))
    values = counted.filter(~pl.col("value").is_in(marker_values))
    filled = int(values["rows"].sum())
    base = dict(header=header, column=series.name, rows=series.len(), empty=series.len() - filled, distinct=values.height,
                samples=tuple(values["value"].head(5).to_list()),
                markers=tuple(sorted(zip(markers["value"].to_list(), markers["rows"].to_list()))),
                values=tuple(zip(values["value"].head(VALUES_KEPT).to_list(), values["rows"].head(VALUES_KEPT).to_list())))
    if not filled:
        return ColumnProfile(kind="empty", **base)
    lengths = values["value"].str.len_chars()
    value = pl.col("value")
    base.update(
        max_length=int(lengths.max()),
        mean_length=float((lengths * values["rows"]).sum()) / filled,
        arabic_share=_share(values, value.str.contains(_ARABIC), filled),
        latin_share=_share(values, value.str.contains(_LATIN), filled),
    )
    distinct_keys = {text_key(v) for v in values["value"].head(10).to_list()}
    numeric = _share(values, value.str.contains(_NUMBER), filled)
    if boolean is not None and values.height <= 4 and all(boolean.code_for(k) for k in distinct_keys) \
            and numeric < 1.0:
        return ColumnProfile(kind="boolean", **base)
    if _share(values, value.str.contains(_URL), filled) >= 0.9:
        media = tuple((kind, _share(values, value.str.contains(pattern), filled)) for kind, pattern in MEDIA_PATTERNS.items())
        return ColumnProfile(kind="url", media=media, **base)
    if numeric >= 0.95:
        numbers = values.filter(value.str.contains(_NUMBER)).with_columns(x=value.cast(pl.Float64))
        in_syria = _share(numbers, pl.col("x").is_between(SYRIA_LAT[0], SYRIA_LON[1]), filled)
        decimals = _share(values, value.str.contains(r"\.\d"), filled)
        coordinate = _coordinate_kind(header, numbers, filled) if in_syria >= 0.8 and decimals >= 0.5 else None
        integer = _share(values, value.str.contains(_INTEGER), filled) >= 0.95
        if coordinate:
            return ColumnProfile(kind=coordinate, **base)
        if integer and values.height == filled and filled > 1 and header_words(header) & ID_WORDS:
            return ColumnProfile(kind="identifier", **base)
        return ColumnProfile(kind="integer" if integer else "number", **base)
    if _share(values, value.str.contains(r"\d"), filled) >= 0.8 and base["mean_length"] <= 40:
        share, day_first, month_first, iso = _date_evidence(values, months)
        if share >= 0.8:
            timed = _share(values, value.str.contains(_TIME), filled) >= 0.5
            return ColumnProfile(kind="datetime" if timed else "date", date_share=share, day_first_only=day_first,
                                 month_first_only=month_first, iso_dates=iso, **base)
    if values.height == filled and filled > 1 and base["max_length"] <= 64 and not values["value"].str.contains(r"\s").any():
        return ColumnProfile(kind="identifier", **base)
    if values.height <= CATEGORICAL_MAX and values.height <= 0.5 * filled:
        return ColumnProfile(kind="categorical", **base)
    return ColumnProfile(kind="text", **base)


def profile_table(table: Table, *, months: Mapping[str, int], boolean: Vocabulary | None = None) -> list[ColumnProfile]:
    """Profile every column of a table, in file order."""
    return [profile_column(table.frame[column], header, months=months, boolean=boolean)
            for header, column in zip(table.headers, table.frame.columns)]


def place_shares(profiles: Sequence[ColumnProfile], gazetteer: Gazetteer) -> dict[str, float]:
    """Share of each short-text column's distinct values (the most frequent VALUES_KEPT) the gazetteer resolves."""
    columns = {p.header: [v for v, _ in p.values] for p in profiles
               if p.kind in ("categorical", "text") and p.mean_length <= 40 and p.values}
    texts = sorted({v for values in columns.values() for v in values})
    if not texts:
        return {}
    known = set(gazetteer.resolve(texts).filter(pl.col("place_id").is_not_null())["text"].to_list())
    return {h: sum(1 for v in values if v in known) / len(values) for h, values in columns.items()}


def swapped_pairs(frame: pl.DataFrame, latitude: str, longitude: str) -> tuple[int, int]:
    """(rows with both coordinates, rows whose pair lies outside Syria as given but inside when swapped)."""
    la = pl.col(latitude).str.strip_chars().cast(pl.Float64, strict=False)
    lo = pl.col(longitude).str.strip_chars().cast(pl.Float64, strict=False)
    pairs = frame.select(la.alias("la"), lo.alias("lo")).drop_nulls()

    def inside(lat: pl.Expr, lon: pl.Expr) -> pl.Expr:
        return lat.is_between(*SYRIA_LAT) & lon.is_between(*SYRIA_LON)

    turned = pairs.filter(~inside(pl.col("la"), pl.col("lo")) & inside(pl.col("lo"), pl.col("la"))).height
    return pairs.height, turned


def list_separator(p: ColumnProfile, vocabulary: Vocabulary) -> str | None:
    """The separator that cuts this column's cells into several terms: "|", ";" when at least 5% of
    the rows hold one; a comma only at 10% and when the parts are more often vocabulary terms."""
    def mapped_share(values: Iterable[str]) -> float:
        keys = {text_key(v) for v in values if v.strip()}
        return sum(1 for k in keys if vocabulary.code_for(k)) / max(len(keys), 1)

    for sep in LIST_SEPARATORS:
        comma = sep in ",،"
        if sum(n for v, n in p.values if sep in v) < (0.1 if comma else 0.05) * p.filled:
            continue
        if comma and mapped_share(x for v, _ in p.values for x in v.split(sep)) <= mapped_share(v for v, _ in p.values):
            continue
        return sep
    return None


def screened_samples(profiles: Iterable[ColumnProfile], patterns: Sequence[PiiPattern]) -> dict[str, tuple[str, ...]]:
    """Samples to show, masked by the personal-data patterns; none for columns whose header names personal data."""
    shown = [p for p in profiles if not header_words(p.header) & PERSONAL_WORDS]
    texts = [s for p in shown for s in p.samples[:3]]
    with duckdb.connect() as con:
        masked = screen_texts(con, texts, patterns)["masked"].to_list() if texts else []
    out, i = {}, 0
    for p in shown:
        n = len(p.samples[:3])
        out[p.header] = tuple(dict.fromkeys(m if len(m) <= 40 else m[:39] + "…" for m in masked[i:i + n]))
        i += n
    return out


def date_order(dates: Sequence[ColumnProfile]) -> tuple[str | None, str]:
    """The date order the export's dates show, with a note saying how sure that is (None without dates)."""
    if not dates:
        return None, ""
    day_first, month_first = sum(p.day_first_only for p in dates), sum(p.month_first_only for p in dates)
    if month_first > day_first:
        return "month_first", f"{month_first} distinct dates can only be month-first, {day_first} only day-first"
    if day_first:
        return "day_first", f"{day_first} distinct dates can only be day-first, {month_first} only month-first"
    if all(p.iso_dates for p in dates):
        return "day_first", "the dates are written year-month-day, so the order matters only for other dates in later deliveries"
    return "day_first", "no date decides the order (day-first is the Syrian habit): ask the NGO if dates such as 03/04/2013 occur"
