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

import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from workbench.config import Settings
from workbench.errors import ManifestError, PackageError, UnsafeArchiveError
from workbench.fileformats import (
    DATA_FORMATS,
    classify,
    detect_delimiter,
    detect_encoding,
    hash_and_count,
    read_xlsx,
    sha256_file,
    transcode_to_utf8,
    xlsx_sheet_names,
)

# the reading helpers of fileformats are part of intake's public API: a package's files are read with them
__all__ = ["Limits", "Package", "PackageFile", "open_package", "detect_delimiter", "detect_encoding", "read_xlsx",
           "sha256_file", "transcode_to_utf8", "xlsx_sheet_names"]

MANIFEST_NAMES = ("manifest.yaml", "manifest.yml", "manifest.json")
MAX_MANIFEST_BYTES = 1024 * 1024
#: Ratios are judged once a member has produced this much: small repetitive files are harmless.
RATIO_FLOOR_BYTES = 1024 * 1024
#: Code pages charset-normalizer proposes for Arabic or Western text when its sample is short.
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
        found.append((rel, disk_path, *hash_and_count(disk_path)))
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
    files = [manifest_file if rel == manifest_path else PackageFile(rel, path, sha, size, *classify(path, size))
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
