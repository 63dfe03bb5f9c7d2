"""What a received file is and how to read its text: hashes, format sniffing, encodings,
delimiters, and Excel workbooks. Used by ``intake`` (which owns packages) and by mapping drafts.

>>> detect_encoding(Path("incidents.csv"))  # doctest: +SKIP
('cp1256', 'not UTF-8: read as cp1256')
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import json
import re
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

from workbench.errors import PackageError

CHUNK = 1024 * 1024


DATA_FORMATS = ("csv", "xlsx", "json", "jsonl", "empty")


DELIMITERS = (",", ";", "\t", "|")


TEXT_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".tab": "csv", ".txt": "csv",
                   ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


XLSX_EXTENSIONS = (".xlsx", ".xlsm", ".xls")


FORMAT_LABELS = {"csv": "delimited text", "xlsx": "an Excel workbook", "json": "JSON", "jsonl": "JSON Lines"}


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


LEGACY_LOOKALIKES = {"cp1256", "iso8859-6", "cp1252", "iso8859-1", "iso8859-15", "cp1250", "cp1257", "mac-arabic"}


_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")


def hash_and_count(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read once in 1 MiB chunks."""
    digest, buffer = hashlib.sha256(), bytearray(CHUNK)
    view, size = memoryview(buffer), 0
    with open(path, "rb") as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks.

    >>> sha256_file(Path("incidents.csv"))  # doctest: +SKIP
    '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    """
    return hash_and_count(path)[0]


def _newline_chunks(f: io.BufferedReader):
    """Chunks of about 1 MiB cut after a newline (or, for very long lines, at a UTF-8 boundary),
    so each can be decoded on its own without splitting a character."""
    carry = b""
    while block := f.read(CHUNK):
        data = carry + block
        cut = data.rfind(b"\n") + 1
        if not cut and len(data) >= 16 * CHUNK:
            cut = len(data)
            while cut > len(data) - 4 and 0x80 <= data[cut - 1] < 0xC0:
                cut -= 1
            cut = cut - 1 if data[cut - 1] >= 0xC0 else cut
        if cut:
            yield data[:cut]
            carry = data[cut:]
        else:
            carry = data
    if carry:
        yield carry


def _scan_utf8(f: io.BufferedReader) -> tuple[int, int | None, int, int, bytes]:
    """(lines not valid UTF-8, first such line, continuation bytes of valid multi-byte UTF-8,
    bytes that are not UTF-8, a sample of the lines holding them)."""
    bad = utf8_extra = foreign = 0
    first_bad = last_bad = None
    line_no, sample = 1, bytearray()
    for chunk in _newline_chunks(f):
        try:
            utf8_extra += len(chunk) - len(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            escaped = chunk.decode("utf-8", "surrogateescape")  # one surrogate per invalid byte
            valid_bytes = len(escaped.encode("utf-8", "ignore"))
            foreign += len(chunk) - valid_bytes
            utf8_extra += valid_bytes - (len(escaped) - (len(chunk) - valid_bytes))
            for i, line in enumerate(chunk.split(b"\n")):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    if line_no + i != last_bad:
                        bad, last_bad = bad + 1, line_no + i
                        first_bad = first_bad or last_bad
                    if len(sample) < 64 * 1024:
                        sample += line + b"\n"
        line_no += chunk.count(b"\n")
    return bad, first_bad, utf8_extra, foreign, bytes(sample)


def _utf8_text_lines(path: Path) -> int:
    """Lines that hold non-ASCII text and are valid UTF-8 (second pass, only for files with invalid lines):
    a file where such lines are at least as many as the invalid ones is UTF-8 with some foreign lines."""
    count = 0
    with open(path, "rb") as f:
        for chunk in _newline_chunks(f):
            if chunk.isascii():
                continue
            for line in chunk.split(b"\n"):
                if not line.isascii():
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        continue
                    count += 1
    return count


def _lines(n: int) -> str:
    return f"{n} line is" if n == 1 else f"{n} lines are"


def _guess_legacy(sample: bytes) -> str | None:
    from charset_normalizer import from_bytes

    candidates = [codecs.lookup(m.encoding).name for m in from_bytes(sample)]
    as_arabic = sample.decode("cp1256")
    foreign = sum(1 for c in as_arabic if ord(c) > 127)
    arabic_share = len(_ARABIC_LETTER.findall(as_arabic)) / max(foreign, 1)
    # Short Arabic samples are often guessed as cp1251 or a Western code page; cp1256 wins when
    # its reading is Arabic and the detector either lists it or only saw lookalikes.
    if arabic_share >= 0.6 and ("cp1256" in candidates or not candidates or candidates[0] in LEGACY_LOOKALIKES):
        return "cp1256"
    # Western text is far more often Windows-1252 than the Central European pages guessed for it
    if "cp1252" in candidates and candidates[0] in LEGACY_LOOKALIKES:
        return "cp1252"
    return candidates[0] if candidates else None


def detect_encoding(path: Path) -> tuple[str, str | None]:
    """(encoding, note) of a text file: a BOM wins; else a strict UTF-8 check of every line; else a
    legacy code page guessed from the lines that are not UTF-8 (cp1256 preferred for Arabic text).
    A file that is UTF-8 except for a few lines is "utf-8" with a note naming them.

    >>> detect_encoding(Path("incidents.csv"))  # doctest: +SKIP
    ('utf-8', 'mixed encodings: 3 lines are not valid UTF-8 (first at line 17)')
    """
    with open(path, "rb") as f:
        head = f.read(4)
        bom_encoding = next((enc for bom, enc in BOMS if head.startswith(bom)), None)
        if bom_encoding in ("utf-16", "utf-32"):
            return bom_encoding, None
        f.seek(3 if bom_encoding else 0)
        bad, first_bad, utf8_extra, foreign, sample = _scan_utf8(f)
    if not bad:
        return bom_encoding or "utf-8", None
    mixed_note = f"mixed encodings: {_lines(bad)} not valid UTF-8 (first at line {first_bad})"
    if bom_encoding or utf8_extra >= foreign or _utf8_text_lines(path) >= bad:
        return bom_encoding or "utf-8", mixed_note
    legacy = _guess_legacy(sample)
    if legacy is None:
        return "utf-8", f"not UTF-8, and no other encoding fits: {mixed_note.removeprefix('mixed encodings: ')}"
    return legacy, f"not UTF-8: read as {legacy}"


def transcode_to_utf8(src: Path, dst: Path, encoding: str) -> int:
    """Copy ``src`` to ``dst`` as UTF-8 without BOM, streaming. Undecodable bytes become U+FFFD;
    returns how many lines hold U+FFFD, so the validator can flag exactly those rows."""
    flagged, line_flagged = 0, False
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        reader = open(src, encoding=encoding, errors="replace", newline="")
    except LookupError:
        raise PackageError(f"{src.name}: unknown encoding {encoding!r}") from None
    with reader, open(dst, "w", encoding="utf-8", newline="") as out:
        while text := reader.read(CHUNK):
            out.write(text)
            if "\ufffd" not in text:
                line_flagged = line_flagged and "\n" not in text
                continue
            for i, line in enumerate(text.split("\n")):
                line_flagged = line_flagged and i == 0
                if "\ufffd" in line and not line_flagged:
                    flagged, line_flagged = flagged + 1, True
    return flagged


def _decoded_head(path: Path, encoding: str, size: int = 64 * 1024) -> str:
    with open(path, "rb") as f:
        return codecs.getincrementaldecoder(encoding)(errors="replace").decode(f.read(size))


def _is_blank(path: Path, encoding: str) -> bool:
    with open(path, encoding=encoding, errors="replace", newline="") as f:
        while text := f.read(CHUNK):
            if text.strip():
                return False
    return True


def detect_delimiter(path: Path, encoding: str) -> str | None:
    """The delimiter (",", ";", tab or "|") that splits the first ~20 records into the same number
    of fields, counting only outside double quotes; None when no candidate is consistent."""
    text = _decoded_head(path, encoding)
    counts: list[dict[str, int]] = [dict.fromkeys(DELIMITERS, 0)]
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == "\n":
            if len(counts) > 20:
                break
            counts.append(dict.fromkeys(DELIMITERS, 0))
        elif char in DELIMITERS:
            counts[-1][char] += 1
    records = [c for c in counts[:21] if any(c.values())] or counts[:1]
    best, best_score = None, (0.0, 0)
    for delimiter in DELIMITERS:
        per_record = [c[delimiter] for c in records]
        mode = max(set(per_record), key=lambda n: (per_record.count(n), n))
        score = (per_record.count(mode) / len(per_record), mode)
        if mode and score[0] >= 0.8 and score > best_score:
            best, best_score = delimiter, score
    return best


def _is_xlsx_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return "xl/workbook.xml" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _sniff_json(text: str, ext_format: str) -> str | None:
    text = text.lstrip()
    if text.startswith("["):  # a CSV header may start with "[id]": ask more of a file not named .json
        return "json" if ext_format != "csv" or text[1:].lstrip()[:1] in ("{", "]") else None
    if not text.startswith("{"):
        return None
    first, _, rest = text.partition("\n")
    try:
        is_record_line = isinstance(json.loads(first), dict)
    except ValueError:
        is_record_line = False
    if is_record_line and (rest.strip() or ext_format == "jsonl"):
        return "jsonl"
    return "json"


def classify(disk_path: Path, size: int) -> tuple[str, str | None, str | None, str | None]:
    """(format, encoding, delimiter, note) from the extension, checked against the content."""
    if size == 0:
        return "empty", None, None, None
    ext = disk_path.suffix.lower()
    with open(disk_path, "rb") as f:
        head = f.read(8192)
    ext_format = TEXT_EXTENSIONS.get(ext) or ("xlsx" if ext in XLSX_EXTENSIONS else None)

    def mismatch(fmt: str) -> str | None:
        if fmt == ext_format:
            return None
        return f"content is {FORMAT_LABELS[fmt]} although the name ends in {ext or '(nothing)'}"

    if head.startswith(b"PK\x03\x04") and _is_xlsx_zip(disk_path):
        return "xlsx", None, None, mismatch("xlsx")
    if ext_format is None:
        return "media", None, None, None
    if head.startswith(OLE2_MAGIC):
        return "xlsx", None, None, "an old .xls or a password-protected workbook: cannot be read, save it as .xlsx"
    if head.startswith(b"PK\x03\x04") or (b"\x00" in head and not head.startswith(tuple(b for b, _ in BOMS))):
        if ext_format == "xlsx":
            return "xlsx", None, None, None  # a damaged workbook: read_xlsx says so when it is read
        return "media", None, None, f"content is binary, not what the name ending in {ext} suggests"
    encoding, note = detect_encoding(disk_path)
    if _is_blank(disk_path, encoding):
        return "empty", None, None, None
    fmt = _sniff_json(_decoded_head(disk_path, encoding), ext_format) or ext_format
    delimiter = None
    if fmt in ("csv", "xlsx"):
        delimiter = detect_delimiter(disk_path, encoding)
        if ext == ".txt" and delimiter is None:
            return "media", encoding, None, note
        fmt, delimiter = "csv", delimiter or ","
    notes = "; ".join(n for n in (note, mismatch(fmt)) if n)
    return fmt, encoding, delimiter, notes or None


def _cell_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if not value.microsecond else "microseconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


@contextmanager
def _workbook(path: Path, label: str):
    """An openpyxl workbook opened read-only, with every way it can fail turned into a PackageError."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    with open(path, "rb") as f:
        if f.read(8) == OLE2_MAGIC:
            raise PackageError(f"{label} is an old .xls file or is password-protected; save it as .xlsx, no password")
        f.seek(0)
        try:
            with warnings.catch_warnings():
                # openpyxl warns about workbook features it drops (styles, validation) that carry no data
                warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
                workbook = load_workbook(f, read_only=True, data_only=True)
                try:
                    yield workbook
                finally:
                    workbook.close()
        except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, IndexError,
                SyntaxError, EOFError, zlib.error, OSError) as exc:
            problem = type(exc).__name__
            raise PackageError(f"{label} cannot be read: it is corrupt or not an .xlsx workbook ({problem})") from None


def xlsx_sheet_names(path: Path) -> list[str]:
    """Names of the worksheets of a workbook (chart sheets, which hold no rows, left out)."""
    with _workbook(path, f"workbook {path.name}") as workbook:
        return [ws.title for ws in workbook.worksheets]


def read_xlsx(path: Path, *, sheet: str | None = None) -> tuple[list[str], list[list[str | None]]]:
    """Header and rows of a worksheet (the first one by default), every value as text: dates as ISO
    ("2013-03-12", or "2013-03-12T14:30:00" with a time), integral numbers without ".0", booleans as
    "true"/"false", empty cells as None; blank trailing rows and columns are dropped.

    Formulas are never evaluated: a formula cell gives the value Excel cached when the file was last
    saved, or None when no value was cached.

    >>> header, rows = read_xlsx(Path("victims.xlsx"), sheet="Victims")  # doctest: +SKIP
    """
    label = f"workbook {path.name}" + (f", sheet {sheet!r}" if sheet else "")
    with _workbook(path, label) as workbook:
        names = [ws.title for ws in workbook.worksheets]  # chart sheets hold no rows
        if sheet is not None and sheet not in names:
            raise PackageError(f"{label} does not exist; sheets: {', '.join(names)}")
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        worksheet.reset_dimensions()  # the stored dimension may be wrong; read what is there
        table = [[_cell_text(v) for v in row] for row in worksheet.iter_rows(values_only=True)]
    while table and not any(v is not None for v in table[-1]):
        table.pop()
    if not table:
        return [], []
    width = max((i + 1 for row in table for i, v in enumerate(row) if v is not None), default=0)
    table = [row[:width] + [None] * (width - len(row)) for row in table]
    return [v or "" for v in table[0]], table[1:]
