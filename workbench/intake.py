"""From a submission package on disk (a folder or a .zip) to a list of hashed, typed files.

A package comes from outside and may be malformed or hostile, so a zip is unpacked member by
member under limits counted on the bytes actually produced, never on what its headers claim.
Nothing here touches the store: :func:`open_package` returns a :class:`Package` that the ingest
step records and validates.

>>> package = open_package(Path("submission.zip"), workdir=Path("/tmp/unpacked"))  # doctest: +SKIP
>>> [(f.path, f.format, f.encoding) for f in package.data_files]  # doctest: +SKIP
[('incidents.csv', 'csv', 'cp1256'), ('victims.xlsx', 'xlsx', None)]
"""

from __future__ import annotations

from contextlib import contextmanager

import codecs
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from workbench.config import Settings
from workbench.errors import ManifestError, PackageError, UnsafeArchiveError

CHUNK = 1024 * 1024
MANIFEST_NAMES = ("manifest.yaml", "manifest.yml", "manifest.json")
MAX_MANIFEST_BYTES = 1024 * 1024
#: Ratios are judged once a member has produced this much: small repetitive files are harmless.
RATIO_FLOOR_BYTES = 1024 * 1024
DATA_FORMATS = ("csv", "xlsx", "json", "jsonl", "empty")
DELIMITERS = (",", ";", "\t", "|")
TEXT_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".tab": "csv", ".txt": "csv",
                   ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
XLSX_EXTENSIONS = (".xlsx", ".xlsm", ".xls")
FORMAT_LABELS = {"csv": "delimited text", "xlsx": "an Excel workbook", "json": "JSON", "jsonl": "JSON Lines"}
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
#: Code pages charset-normalizer proposes for Arabic or Western text when its sample is short.
LEGACY_LOOKALIKES = {"cp1256", "iso8859-6", "cp1252", "iso8859-1", "iso8859-15", "cp1250", "cp1257", "mac-arabic"}
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    """How much a package may hold; every limit is checked on counted bytes while unpacking."""

    max_total_bytes: int = 4 * 1024**3
    max_files: int = 10_000
    max_ratio: float = 200.0  # per zip member: uncompressed / compressed
    max_member_bytes: int = 2 * 1024**3

    @classmethod
    def from_settings(cls, s: Settings) -> "Limits":
        """The limits configured by ``WORKBENCH_MAX_*`` settings."""
        return cls(max_total_bytes=s.max_package_bytes, max_files=s.max_files, max_ratio=s.max_ratio)


@dataclass(frozen=True)
class PackageFile:
    """One file of a package: where it is, its hash, and how to read it."""

    path: str
    disk_path: Path
    sha256: str
    bytes: int
    format: str
    encoding: str | None
    delimiter: str | None
    encoding_note: str | None


@dataclass(frozen=True)
class Package:
    """An opened submission package. ``skipped`` lists OS junk left out, as ``"path: reason"``,
    with paths relative to the top of what was sent."""

    source: Path
    root: Path
    kind: str
    sha256: str
    source_sha256: str | None
    files: tuple[PackageFile, ...]
    manifest: dict
    manifest_file: PackageFile
    skipped: tuple[str, ...] = ()

    @cached_property
    def _by_path(self) -> dict[str, PackageFile]:
        return {f.path: f for f in self.files}

    def file(self, path: str) -> PackageFile:
        """The file at ``path`` (as the manifest names it); PackageError when there is none."""
        wanted = unicodedata.normalize("NFC", path.replace("\\", "/")).removeprefix("./")
        if wanted in self._by_path:
            return self._by_path[wanted]
        near = [p for p in self._by_path if p.casefold() == wanted.casefold()]
        hint = f" (did you mean {near[0]!r}? names are case-sensitive)" if near else ""
        raise PackageError(f"package {self.source.name} has no file {path!r}{hint}")

    @property
    def data_files(self) -> tuple[PackageFile, ...]:
        """Files holding records: csv, xlsx, json, jsonl, and empty files (which the validator reports)."""
        return tuple(f for f in self.files if f.format in DATA_FORMATS)


# --- hashing and encodings ---------------------------------------------------------------------


def _hash_and_count(path: Path) -> tuple[str, int]:
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
    return _hash_and_count(path)[0]


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


# --- format detection ----------------------------------------------------------------------------


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


def _classify(disk_path: Path, size: int) -> tuple[str, str | None, str | None, str | None]:
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


# --- walking folders and unpacking zips -----------------------------------------------------------


def _junk_reason(rel: str) -> str | None:
    parts = rel.split("/")
    name = parts[-1]
    if "__MACOSX" in parts[:-1]:
        return "macOS archive metadata"
    if name == ".DS_Store" or name.startswith("._"):
        return "macOS folder metadata"
    if name.lower() in ("thumbs.db", "desktop.ini"):
        return "Windows folder metadata"
    if name.startswith("~$"):
        return "Office lock file"
    return None


def _has_control_chars(name: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in name)


def _walk_folder(folder: Path, limits: Limits) -> list[tuple[str, Path]]:
    found, pending = [], [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                rel = Path(entry.path).relative_to(folder).as_posix()
                if entry.is_symlink():
                    raise UnsafeArchiveError(f"package {folder.name}: {rel!r} is a symbolic link; links are refused")
                if _has_control_chars(entry.name):
                    raise UnsafeArchiveError(f"package {folder.name}: {rel!r} has control characters in its name")
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    found.append((unicodedata.normalize("NFC", rel), Path(entry.path)))
                    if len(found) > limits.max_files:
                        raise PackageError(f"package {folder.name} holds more than {limits.max_files} files")
                else:
                    raise UnsafeArchiveError(f"package {folder.name}: {rel!r} is not a regular file or folder")
    return found


def _read_folder(folder: Path, limits: Limits) -> tuple[list[tuple[str, Path, str, int]], list[str]]:
    found, skipped, total = [], [], 0
    for rel, disk_path in _walk_folder(folder, limits):
        if reason := _junk_reason(rel):
            skipped.append(f"{rel}: {reason}")
            continue
        found.append((rel, disk_path, *_hash_and_count(disk_path)))
        total += found[-1][-1]
        if total > limits.max_total_bytes:
            raise PackageError(f"package {folder.name} holds more than the {limits.max_total_bytes} bytes allowed")
    return found, skipped


class _CountingFile(io.FileIO):
    """A file that counts the bytes read from it: the compressed bytes a zip member really used."""

    bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:  # no UTF-8 flag: many zippers still write UTF-8 names
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return unicodedata.normalize("NFC", name)


def _member_problem(info: zipfile.ZipInfo, name: str, limits: Limits) -> str | None:
    parts = name.split("/")
    if not name:
        return "has an empty name"
    if name.startswith("/"):
        return "has an absolute path"
    if "\\" in name:
        return "uses backslashes in its path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    if ".." in parts:
        return "has a '..' component that points outside the package"
    if _has_control_chars(name):
        return "has control characters in its name"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link; links are refused"
    if info.flag_bits & 0x1:
        return "is encrypted; send the package without a password"
    if info.file_size > limits.max_member_bytes:
        return f"unpacks to {info.file_size} bytes, more than the {limits.max_member_bytes} allowed per file"
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        return f"has a compression ratio above {limits.max_ratio:g} (a zip bomb?)"
    return None


def _plan_zip(zf: zipfile.ZipFile, label: str, limits: Limits) -> tuple[list, list[str]]:
    members = [i for i in zf.infolist() if not i.is_dir()]
    if len(members) > limits.max_files:
        raise UnsafeArchiveError(f"{label} holds {len(members)} files, more than the {limits.max_files} allowed")
    if sum(i.file_size for i in members) > limits.max_total_bytes:
        raise UnsafeArchiveError(f"{label} unpacks to more than the {limits.max_total_bytes} bytes allowed")
    plan, skipped, seen, folders = [], [], {}, set()
    for info in zf.infolist():
        name = _member_name(info)
        problem = _member_problem(info, name, limits)
        if problem:
            raise UnsafeArchiveError(f"{label}: member {name!r} {problem}")
        rel = "/".join(p for p in name.split("/") if p not in ("", "."))
        if info.is_dir() or not rel:
            continue
        if reason := _junk_reason(rel):
            skipped.append(f"{rel}: {reason}")
            continue
        if rel.casefold() in seen:
            raise UnsafeArchiveError(f"{label}: member {name!r} duplicates {seen[rel.casefold()]!r}")
        seen[rel.casefold()] = name
        parts = rel.casefold().split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        plan.append((info, name, rel))
    for info, name, rel in plan:
        if rel.casefold() in folders:
            raise UnsafeArchiveError(f"{label}: member {name!r} is both a file and a folder")
    return plan, skipped


def _stream_member(zf: zipfile.ZipFile, raw: _CountingFile, info: zipfile.ZipInfo, target: Path,
                   limits: Limits, room: int) -> tuple[str, int]:
    """Copy one member to ``target``, counting what it really produces: (sha256, bytes).
    ``room`` is what the package total still allows."""
    where = f"member {_member_name(info)!r}"
    digest, size = hashlib.sha256(), 0
    with zf.open(info) as member, open(target, "xb") as out:
        read_before = raw.bytes_read
        while chunk := member.read(64 * 1024):  # small reads keep the measured ratio close to the truth
            size += len(chunk)
            if size > limits.max_member_bytes:
                raise UnsafeArchiveError(f"{where} unpacks to more than {limits.max_member_bytes} bytes")
            if size > room:
                raise UnsafeArchiveError(f"{where} takes the package over the {limits.max_total_bytes} bytes allowed")
            if size > RATIO_FLOOR_BYTES and size > limits.max_ratio * max(raw.bytes_read - read_before, 1):
                raise UnsafeArchiveError(f"{where} has a compression ratio above {limits.max_ratio:g} (a zip bomb?)")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def _unpack_zip(zip_path: Path, dest: Path, limits: Limits) -> tuple[list[tuple[str, Path, str, int]], list[str]]:
    label = f"zip {zip_path.name}"
    raw = _CountingFile(zip_path, "rb")
    try:
        zf = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raw.close()
        raise PackageError(f"{label} cannot be read: it is truncated or corrupt ({exc})") from None
    unpacked, total, dest = [], 0, dest.resolve()
    with raw, zf:
        plan, skipped = _plan_zip(zf, label, limits)
        for info, name, rel in plan:
            target = dest.joinpath(*rel.split("/"))
            if not target.resolve().is_relative_to(dest):
                raise UnsafeArchiveError(f"{label}: member {name!r} would unpack outside its folder")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                sha, size = _stream_member(zf, raw, info, target, limits, limits.max_total_bytes - total)
            except UnsafeArchiveError as exc:
                raise UnsafeArchiveError(f"{label}: {exc}") from None
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                raise PackageError(f"{label}: member {name!r} cannot be unpacked ({problem})") from None
            total += size
            unpacked.append((rel, target, sha, size))
    return unpacked, skipped


# --- manifest and package ---------------------------------------------------------------------------


class _ManifestLoader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text (as JSON would) and refuses duplicate keys."""

    yaml_implicit_resolvers = {
        key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _reject_duplicates(pairs: list) -> dict:
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen.add(key)
    return dict(pairs)


def _parse_manifest(file: PackageFile) -> dict:
    where = file.path
    if file.bytes > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{where} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = file.disk_path.read_bytes().decode(file.encoding or "utf-8")
    except UnicodeDecodeError:
        problem = file.encoding_note or file.encoding
        raise ManifestError(f"{where} is not valid text ({problem}); save it as UTF-8") from None
    if file.path.lower().endswith(".json"):
        try:
            manifest = json.loads(text, object_pairs_hook=_reject_duplicates)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{where} line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except ValueError as exc:
            raise ManifestError(f"{where}: {exc}") from None
    else:
        try:
            if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)):
                raise ManifestError(f"{where} uses YAML aliases (*name), which manifests may not use")
            manifest = yaml.load(text, Loader=_ManifestLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ManifestError(f"{where}{at}: {exc.problem or exc.context}") from None
        except yaml.YAMLError as exc:
            raise ManifestError(f"{where} is not valid YAML ({type(exc).__name__})") from None
    if manifest is None:
        raise ManifestError(f"{where} is empty")
    if not isinstance(manifest, dict):
        raise ManifestError(f"{where} must be a mapping of keys to values, not {type(manifest).__name__}")
    return manifest


def _manifest_prefix(paths: list[str], package_name: str) -> tuple[str, str]:
    """(prefix of the package root, manifest path): the root itself or its single top-level folder."""
    tops = {p.split("/", 1)[0] for p in paths}
    prefixes = [""]
    if len(tops) == 1 and all("/" in p for p in paths):
        prefixes.append(tops.pop() + "/")
    for prefix in prefixes:
        found = [p for p in paths if p.startswith(prefix) and p[len(prefix):].casefold() in MANIFEST_NAMES]
        if len(found) > 1:
            raise ManifestError(f"package {package_name} holds several manifests: {', '.join(sorted(found))}")
        if found:
            return prefix, found[0]
    raise ManifestError(f"no manifest.yaml, manifest.yml or manifest.json at the root of {package_name}")


def open_package(path: Path, *, workdir: Path, limits: Limits = Limits()) -> Package:
    """Open a submission package (a folder, or a .zip unpacked into a fresh folder under ``workdir``),
    hash and type every file, and parse (not validate) its manifest.

    >>> package = open_package(Path("ngo-2024-06.zip"), workdir=Path("unpacked"))  # doctest: +SKIP
    >>> package.file("incidents.csv").encoding  # doctest: +SKIP
    'utf-8'
    """
    path = Path(path)
    if path.is_dir():
        try:
            found, skipped = _read_folder(path, limits)
        except OSError as exc:
            raise PackageError(f"package {path.name}: cannot read {exc.filename} ({exc.strerror})") from None
        return _build(path, path.resolve(), "folder", None, found, skipped)
    if not path.is_file():
        raise PackageError(f"package {path} does not exist")
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04" or path.suffix.lower() == ".zip"
    if not is_zip:
        raise PackageError(f"package {path.name} is neither a folder nor a .zip file")
    workdir.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="package-", dir=workdir))
    try:
        found, skipped = _unpack_zip(path, dest, limits)
        return _build(path, dest.resolve(), "zip", sha256_file(path), found, skipped)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # nothing half-unpacked (or bomb-filled) stays behind
        raise


def _build(source: Path, top: Path, kind: str, source_sha256: str | None,
           found: list[tuple[str, Path, str, int]], skipped: list[str]) -> Package:
    prefix, manifest_path = _manifest_prefix([rel for rel, *_ in found], source.name)
    found = sorted((rel[len(prefix):], disk_path, sha, size) for rel, disk_path, sha, size in found)
    manifest_path = manifest_path[len(prefix):]
    _, disk_path, sha, size = next(entry for entry in found if entry[0] == manifest_path)
    encoding, note = detect_encoding(disk_path) if size else ("utf-8", None)
    manifest_file = PackageFile(manifest_path, disk_path, sha, size, "manifest", encoding, None, note)
    manifest = _parse_manifest(manifest_file)  # before typing the other files: a bad manifest fails fast
    files = [manifest_file if rel == manifest_path else PackageFile(rel, path, sha, size, *_classify(path, size))
             for rel, path, sha, size in found]
    listing = "".join(f"{f.path}\0{f.sha256}\n" for f in files)  # files are sorted by path
    return Package(
        source=source,
        root=top / prefix if prefix else top,
        kind=kind,
        sha256=hashlib.sha256(listing.encode("utf-8")).hexdigest(),
        source_sha256=source_sha256,
        files=tuple(files),
        manifest=manifest,
        manifest_file=manifest_file,
        skipped=tuple(sorted(skipped)),
    )


# --- workbooks ---------------------------------------------------------------------------------------


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
