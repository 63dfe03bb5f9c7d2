"""Names turned into keyed encodings an NGO can share: Bloom-filter CLKs that keep names comparable
(Schnell, Bormann and Reiher's cryptographic long-term key) and exact keyed pseudonyms.

A CLK is a bit string of ``bits`` bits. Each q-gram of the normalised name tokens sets ``hashes``
bits, and each q-gram of their cross-script skeleton (``names.skeleton``) twice as many, at
positions drawn from HMAC-SHA256 under a key the NGOs share. Two spellings of one name share most
q-grams and so most bits, and the Dice coefficient of two CLKs measures that. Whoever compares
CLKs needs no key; whoever holds the key can test guesses, so the key stays with the NGOs.

>>> key = bytes(range(32))  # a real key is secret and random: see ``new_key_file``
>>> name = clk("Mohammed al-Hassan", key)
>>> [round(dice(name, clk(other, key)), 2) for other in ("Muhammad Alhasan", "محمد الحسن", "Khaled Haddad")]
[0.89, 0.66, 0.43]
>>> keyed_pseudonym("Ahmad bin Khalid", key) == keyed_pseudonym("أحمد بن خالد", key)
False
>>> keyed_pseudonym("Ahmad bin Khalid", key) == keyed_pseudonym("AHMAD Khalid", key)
True
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import math
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import PseudonymiseError
from workbench.fileformats import XLSX_EXTENSIONS, detect_delimiter, detect_encoding, read_xlsx
from workbench.linkage.names import fold_text, name_tokens, skeleton_word
from workbench.sql import quote_ident

BITS = 1024
# Bits set by each q-gram of a name token; a skeleton q-gram sets SKELETON_WEIGHT times as many,
# because the skeleton is what two spellings, and two scripts, of one name share. Measured on
# Syrian names (see tests/test_pseudonymise.py), fewer bits per q-gram tell brothers (same father
# and family name) from spellings of one person better; 10 and 2 keep about a third of the bits
# set for a three-part name, so a q-gram still lands on 10 or 20 bits and survives collisions.
HASHES = 10
SKELETON_WEIGHT = 2
Q = 2
MIN_KEY_BYTES = 32
#: Marks the random pseudonym of a row without a name (it matches nothing).
UNNAMED = "U-"
PSEUDONYM_HEX = 24  # 96 bits: a collision among a million names has odds of about 1 in 10^16

_POSITION_BYTES = 4  # a 32-bit draw per position: the modulo bias is below bits / 2^32 (2^-22 for 1,024)
_PREFIX = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9_-]*)?")  # keeps pseudonyms inside the persons contract


def _subkey(key: bytes, label: bytes) -> bytes:
    """A key for one purpose, so that the CLK bits and the exact pseudonyms never share a key."""
    return hmac.digest(key, label, "sha256")


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise PseudonymiseError(f"a pseudonymisation key needs at least {MIN_KEY_BYTES} bytes of secret")


def _check_shape(bits: int, hashes: int, q: int) -> None:
    if bits < 64 or bits % 8 or not 1 <= hashes <= 256 or not 1 <= q <= 5:
        raise ValueError(f"bits must be a multiple of 8 of at least 64, hashes 1..256, q 1..5 "
                         f"(got bits={bits}, hashes={hashes}, q={q})")


def qgrams(text: str, q: int = Q) -> set[str]:
    """The tagged q-grams a CLK holds: ``n`` + q-gram of each name token padded with spaces, and
    ``s`` + q-gram of each skeleton word, so that an Arabic and a Latin spelling share the latter.

    >>> sorted(qgrams("Ali"))
    ['n a', 'nal', 'ni ', 'nli', 's a', 'sal', 'sl ']
    """
    return {gram for token in name_tokens(text) for gram in _token_qgrams(token, q)}


def _token_qgrams(token: str, q: int) -> set[str]:
    pad = " " * (q - 1)
    grams: set[str] = set()
    for tag, word in (("n", token), ("s", skeleton_word(token))):
        padded = pad + word + pad
        grams.update(tag + padded[i:i + q] for i in range(len(padded) - q + 1))
    return grams


class ClkEncoder:
    """CLKs and pseudonyms under one key, with the bits of each q-gram and of each name token
    remembered: a file of a hundred thousand names costs HMACs per distinct q-gram, not per row."""

    def __init__(self, key: bytes, *, bits: int = BITS, hashes: int = HASHES, q: int = Q):
        _check_key(key)
        _check_shape(bits, hashes, q)
        self.bits, self.hashes, self.q = bits, hashes, q
        blocks = math.ceil(hashes * SKELETON_WEIGHT * _POSITION_BYTES / 32)
        self._bloom_keys = [_subkey(key, b"workbench clk-%d" % (i + 1)) for i in range(blocks)]
        self._pseudonym_key = _subkey(key, b"workbench pseudonym")
        self._masks: dict[str, int] = {}
        self._token_masks: dict[str, int] = {}  # a set of q-grams is the union of its tokens' sets

    def _mask(self, gram: str) -> int:
        """The bits one tagged q-gram sets. Each position is an independent keyed draw ("random
        hashing"): double hashing (h1 + i*h2) leaves patterns that a published attack exploits."""
        if (mask := self._masks.get(gram)) is None:
            count = self.hashes * (SKELETON_WEIGHT if gram[0] == "s" else 1)
            data = gram.encode("utf-8")
            stream = b"".join(hmac.digest(k, data, "sha256")
                              for k in self._bloom_keys[:math.ceil(count * _POSITION_BYTES / 32)])
            mask = 0
            for i in range(0, count * _POSITION_BYTES, _POSITION_BYTES):
                mask |= 1 << (int.from_bytes(stream[i:i + _POSITION_BYTES], "big") % self.bits)
            self._masks[gram] = mask
        return mask

    def clk(self, text: str) -> bytes:
        """The CLK of a name: ``bits // 8`` bytes, all zero for a name with no letters."""
        return self.clk_of_tokens(name_tokens(text))

    def pseudonym(self, text: str, prefix: str = "PS-") -> str:
        """The exact keyed pseudonym of a name: equal exactly when the normalised names are equal."""
        return self.pseudonym_of_tokens(name_tokens(text), prefix)

    def clk_of_tokens(self, tokens: list[str]) -> bytes:
        """The CLK of a name already split by ``name_tokens``."""
        filter_ = 0
        for token in tokens:
            if (mask := self._token_masks.get(token)) is None:
                mask = 0
                for gram in _token_qgrams(token, self.q):
                    mask |= self._mask(gram)
                self._token_masks[token] = mask
            filter_ |= mask
        return filter_.to_bytes(self.bits // 8, "big")

    def pseudonym_of_tokens(self, tokens: list[str], prefix: str = "PS-") -> str:
        """The exact keyed pseudonym of a name already split by ``name_tokens``."""
        if not tokens:
            raise ValueError("a name with no letters has no pseudonym")
        digest = hmac.new(self._pseudonym_key, " ".join(tokens).encode("utf-8"), hashlib.sha256).hexdigest()
        return prefix + digest[:PSEUDONYM_HEX]


def clk(text: str, key: bytes, *, bits: int = BITS, hashes: int = HASHES, q: int = Q) -> bytes:
    """The cryptographic long-term key (Bloom filter) of a name under ``key`` (at least 32 bytes).

    >>> len(clk("Khaled", bytes(32)))
    128
    """
    return ClkEncoder(key, bits=bits, hashes=hashes, q=q).clk(text)


def encode(text: str, key: bytes, *, bits: int = BITS, hashes: int = HASHES, q: int = Q) -> str:
    """The CLK of a name as base64 text, as files carry it (172 characters for 1,024 bits).

    >>> len(encode("Khaled", bytes(32)))
    172
    """
    return base64.b64encode(clk(text, key, bits=bits, hashes=hashes, q=q)).decode("ascii")


def keyed_pseudonym(text: str, key: bytes, prefix: str = "PS-") -> str:
    """An exact pseudonym of a normalised name: HMAC-SHA256 under a key derived from ``key``,
    as ``prefix`` and 24 hex digits. NGOs sharing the key get equal pseudonyms for equal names.

    >>> keyed_pseudonym("Khaled al-Zoubi", bytes(32)) == keyed_pseudonym("khaled alzoubi", bytes(32))
    True
    """
    return ClkEncoder(key).pseudonym(text, prefix)


def dice(a: bytes, b: bytes) -> float:
    """The Dice coefficient of two CLKs: twice the shared set bits over the sum of set bits (0.0
    when neither has a bit set).

    >>> dice(b"\\xf0", b"\\x30")
    0.6666666666666666
    """
    if len(a) != len(b):
        raise ValueError(f"CLKs of different lengths cannot be compared ({len(a)} and {len(b)} bytes)")
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    total = x.bit_count() + y.bit_count()
    return 2 * (x & y).bit_count() / total if total else 0.0


def _column(name: str) -> str:
    return ".".join(quote_ident(part) for part in name.split("."))


def bits_sql(column: str) -> str:
    """A DuckDB expression turning a column of base64 CLK text into BIT (NULL for NULL or "").
    Decoding once into a column and comparing with ``dice_sql(..., as_bits=True)`` is about five
    times faster than decoding in every comparison.
    """
    return f"from_base64(NULLIF({_column(column)}, ''))::BIT"


def dice_sql(a_column: str, b_column: str, *, as_bits: bool = False) -> str:
    """A DuckDB expression for the Dice coefficient of two columns of base64 CLK text (or, with
    ``as_bits``, of BIT columns made by ``bits_sql``), equal to ``dice``; NULL when either is NULL
    or empty. A dotted name is a table-qualified column.

    >>> import duckdb
    >>> a, b = encode("Khaled", bytes(32)), encode("Khalid", bytes(32))
    >>> sql = f"SELECT {dice_sql('t.a', 't.b')} FROM (SELECT '{a}' AS a, '{b}' AS b) AS t"
    >>> duckdb.sql(sql).fetchone()[0] == dice(base64.b64decode(a), base64.b64decode(b))
    True
    """
    a, b = (_column(c) if as_bits else bits_sql(c) for c in (a_column, b_column))
    return f"CAST(2 * bit_count({a} & {b}) AS DOUBLE) / greatest(bit_count({a}) + bit_count({b}), 1)"


# Headers of a column holding a person's whole name, compared after ``header_key``.
NAME_HEADERS = {"name", "full name", "fullname", "person name", "victim name", "الاسم", "اسم",
                "الاسم الكامل", "الاسم الثلاثي", "الاسم الرباعي", "اسم الشخص", "اسم الضحيه"}
# Headers that mention a name but hold a pseudonym, or this tool's own output.
_NOT_NAMES = {"pseudonym", "name clk", "code name", "الاسم المستعار", "name encoding", "ترميز الاسم"}
_NAME_WORDS = {"name", "names", "surname", "nickname", "kunya", "اسم", "الاسم", "الكنيه", "اللقب", "الشهره"}
# Cells that say the name is not known: encoding them would link every unknown person together.
_PLACEHOLDERS = {"unknown", "unknown person", "not known", "n a", "na", "none", "nil", "null", "unnamed",
                 "مجهول", "مجهوله", "مجهول الهويه", "غير معروف", "غير معروفه", "لا يوجد"}
OUTPUT_COLUMNS = ("pseudonym", "name_clk")
_MAKE_KEY = "one NGO makes the key (64 random hex digits, e.g. from `openssl rand -hex 32`) and gives it to the others"


@dataclass(frozen=True)
class PseudonymiseReport:
    """What ``pseudonymise_file`` wrote: row counts, the name columns it replaced, and columns it
    kept whose header mentions a name (an NGO should look at those before sharing the file)."""

    source: Path
    out: Path
    name_columns: tuple[str, ...]
    rows: int
    encoded: int
    empty_names: int
    name_like_kept: tuple[str, ...]
    bits: int
    hashes: int
    q: int


def header_key(header: str) -> str:
    """A header as compared with NAME_HEADERS: letters unified, separators made single spaces."""
    return " ".join(fold_text(header).split())


def read_key_file(path: Path) -> bytes:
    """The secret in a key file (surrounding white space ignored); at least 32 bytes."""
    try:
        secret = path.read_bytes().strip()
    except FileNotFoundError:
        raise PseudonymiseError(f"the key file {path} does not exist; {_MAKE_KEY}") from None
    except OSError as exc:
        raise PseudonymiseError(f"the key file {path} cannot be read ({type(exc).__name__})") from None
    if len(secret) < MIN_KEY_BYTES:
        raise PseudonymiseError(f"the key file {path} holds {len(secret)} bytes; a key needs at least "
                                f"{MIN_KEY_BYTES} bytes of secret; {_MAKE_KEY}")
    return secret


def new_key_file(path: Path) -> Path:
    """Write a new random key (32 bytes as 64 hex digits) to ``path``, readable by its owner only;
    refuses to overwrite a key, which would make every earlier encoding unmatchable."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PseudonymiseError(f"the key file {path} exists already; a new key would not match "
                                "earlier encodings") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
    return path


def _choose_name_columns(source: Path, header: list[str], name_columns: list[str] | None) -> list[int]:
    if name_columns is not None:
        missing = [c for c in name_columns if header.count(c) != 1]
        if missing or not name_columns:
            named = ", ".join(missing) or "(none given)"
            raise PseudonymiseError(f"{source.name}: no single column named {named}; "
                                    f"its headers are: {', '.join(header)}")
        return [header.index(c) for c in name_columns]
    found = [i for i, h in enumerate(header) if header_key(h) in NAME_HEADERS]
    if len(found) == 1:
        return found
    if found:
        several = ", ".join(header[i] for i in found)
        raise PseudonymiseError(f"{source.name} has several name columns ({several}); "
                                "say which to encode (name_columns, --name-column)")
    parts = [h for h in header if _is_name_like(h)]
    hint = f"; headers that look like parts of a name: {', '.join(parts)}" if parts else ""
    raise PseudonymiseError(f"{source.name} has no name column (a header such as name, full name, الاسم or "
                            f"اسم){hint}; say which columns hold the name (name_columns, --name-column)")


def _is_name_like(header: str) -> bool:
    key = header_key(header)
    return key not in _NOT_NAMES and bool(_NAME_WORDS & set(key.split()))


def _read_rows(path: Path, sheet: str | None) -> tuple[list[str], Iterator[list[str]], dict]:
    """Header, rows (as text, "" for empty) and how the file was written (encoding, delimiter, BOM)."""
    if path.suffix.lower() in XLSX_EXTENSIONS:
        header, rows = read_xlsx(path, sheet=sheet)
        return header, ([v or "" for v in row] for row in rows), {"delimiter": ",", "encoding": "utf-8-sig"}
    encoding, _note = detect_encoding(path)
    if encoding in ("utf-16", "utf-32"):
        raise PseudonymiseError(f"{path.name} is {encoding.upper()} text; save it as UTF-8 CSV")
    delimiter = detect_delimiter(path, encoding) or ","

    def records() -> Iterator[list[str]]:
        with open(path, encoding=encoding, newline="") as f:
            yield from csv.reader(f, delimiter=delimiter)

    reader = _text_errors(path, encoding, records())
    # Legacy code pages are read as detected and written out as UTF-8
    style = {"delimiter": delimiter, "encoding": "utf-8-sig" if encoding == "utf-8-sig" else "utf-8"}
    return next(reader, []), reader, style


def _text_errors(path: Path, encoding: str, records: Iterator[list[str]]) -> Iterator[list[str]]:
    """The records, with decoding and CSV errors turned into errors that name the file."""
    try:
        yield from records
    except UnicodeDecodeError:
        raise PseudonymiseError(f"{path.name} is not {encoding} text throughout; save it as UTF-8") from None
    except csv.Error as exc:
        raise PseudonymiseError(f"{path.name} cannot be read as CSV ({exc})") from None


def _write_csv(target: Path, header: list[str], rows: Iterable[list[str]], style: dict) -> None:
    with open(target, "w", encoding=style["encoding"], newline="") as f:
        writer = csv.writer(f, delimiter=style["delimiter"])
        writer.writerow(header)
        writer.writerows(rows)


def _write_xlsx(target: Path, header: list[str], rows: Iterable[list[str]], title: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31] or "persons")

    def cells(values: list[str]) -> list:
        out = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value or None)
            if value:
                cell.data_type = "s"  # text stays text: "=..." in a cell must not become a formula
            out.append(cell)
        return out

    sheet.append(cells(header))
    for row in rows:
        sheet.append(cells(row))
    workbook.save(target)


def pseudonymise_file(path: Path, key_path: Path, out: Path, *, name_columns: list[str] | None = None,
                      prefix: str = "PS-", sheet: str | None = None, bits: int = BITS, hashes: int = HASHES,
                      q: int = Q) -> PseudonymiseReport:
    """Copy a CSV or XLSX file of persons to ``out`` with its name columns replaced by ``pseudonym``
    (``keyed_pseudonym`` of the full name) and ``name_clk`` (its base64 CLK), placed where the first
    name column was; every other column is kept as it is. Several name columns (first, father,
    family name) are joined in the order given. ``out`` is XLSX when its suffix says so, else CSV
    (with the input's delimiter, and its BOM if it had one); it is written to a temporary file and
    renamed, so a failure leaves no partial output. The key is never shown.

    >>> report = pseudonymise_file(Path("victims.xlsx"), Path("ngo.key"), Path("victims-pseudonymised.csv"))  # doctest: +SKIP
    >>> report.rows, report.encoded, report.empty_names  # doctest: +SKIP
    (412, 405, 7)
    """
    _check_shape(bits, hashes, q)
    if not _PREFIX.fullmatch(prefix):
        raise PseudonymiseError(f"the prefix {prefix!r} may hold only letters, digits, '-' and '_', "
                                "and must start with a letter or digit")
    if not path.is_file():
        raise PseudonymiseError(f"the file {path} does not exist")
    for other, what in ((path, "the input file"), (key_path, "the key file")):
        if out.resolve() == other.resolve() or (out.exists() and other.exists() and os.path.samefile(out, other)):
            raise PseudonymiseError(f"the output {out} is {what}; write the pseudonymised copy to another file")
    encoder = ClkEncoder(read_key_file(key_path), bits=bits, hashes=hashes, q=q)
    header, rows, style = _read_rows(path, sheet)
    if not header:
        raise PseudonymiseError(f"{path.name} is empty: it has no header row")
    chosen = _choose_name_columns(path, header, name_columns)
    clash = [c for c in OUTPUT_COLUMNS if c in header]
    if clash:
        raise PseudonymiseError(f"{path.name} has a column named {', '.join(clash)} already; rename it first")
    first, width = min(chosen), len(header)
    kept = [i for i in range(width) if i not in chosen]
    new_header = [header[i] for i in kept if i < first] + list(OUTPUT_COLUMNS) + [header[i] for i in kept if i > first]
    counts = {"rows": 0, "encoded": 0, "empty": 0}

    def converted() -> Iterator[list[str]]:
        for number, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue  # a blank line is not a person
            if len(row) > width:
                raise PseudonymiseError(f"{path.name}, row {number}: {len(row)} cells under {width} headers")
            row = row + [""] * (width - len(row))
            tokens = name_tokens(" ".join(row[i] for i in chosen))
            counts["rows"] += 1
            if not tokens or " ".join(tokens) in _PLACEHOLDERS:
                counts["empty"] += 1
                # a person without a name still needs a pseudonym (the contract requires one); a random one
                # links to nothing, where encoding "unknown" would link every unnamed person together
                codes = [f"{prefix}{UNNAMED}{secrets.token_hex(PSEUDONYM_HEX // 2)}", ""]
            else:
                counts["encoded"] += 1
                codes = [encoder.pseudonym_of_tokens(tokens, prefix),
                         base64.b64encode(encoder.clk_of_tokens(tokens)).decode("ascii")]
            yield [row[i] for i in kept if i < first] + codes + [row[i] for i in kept if i > first]

    as_xlsx = out.suffix.lower() in XLSX_EXTENSIONS
    try:
        fd, temp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise PseudonymiseError(f"cannot write in the folder of {out} ({type(exc).__name__})") from None
    os.close(fd)
    try:
        if as_xlsx:
            _write_xlsx(Path(temp), new_header, converted(), sheet or "persons")
        else:
            _write_csv(Path(temp), new_header, converted(), style)
        os.replace(temp, out)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return PseudonymiseReport(source=path, out=out, name_columns=tuple(header[i] for i in chosen),
                              rows=counts["rows"], encoded=counts["encoded"], empty_names=counts["empty"],
                              name_like_kept=tuple(header[i] for i in kept if _is_name_like(header[i])),
                              bits=bits, hashes=hashes, q=q)
