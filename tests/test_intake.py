"""Tests of workbench.intake: packages are built on the fly in tmp_path, hostile zips included."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
import struct
import time
import warnings
import zipfile
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook

from workbench.config import settings
from workbench.errors import ManifestError, PackageError, UnsafeArchiveError
from workbench.intake import (
    Limits,
    detect_delimiter,
    detect_encoding,
    open_package,
    read_xlsx,
    sha256_file,
    transcode_to_utf8,
)

MANIFEST = "ngo: Example NGO\nperiod_start: 2024-01-01\nfiles:\n  - path: incidents.csv\n"
CSV = "incident_id,date,place\nI-1,2013-03-12,Aleppo\nI-2,12/03/2013,حلب\n"
ARABIC_LINES = ["المعرف,التاريخ,المكان", "1,2013-03-12,حلب", "2,2014-05-01,دمشق", "3,2015-07-19,حمص الوعر"]


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def make_zip(path: Path, members: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def patch_central_directory(path: Path, *, only: str | None = None, flag_bits_or: int = 0, flag_bits_clear: int = 0,
                            compress_size: int | None = None) -> None:
    """Rewrite fields of central-directory entries (all, or the one named ``only``), as a hostile
    or odd zipper would."""
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        (name_length,) = struct.unpack_from("<H", data, pos + 28)
        if only is not None and data[pos + 46 : pos + 46 + name_length] != only.encode():
            pos = data.find(b"PK\x01\x02", pos + 4)
            continue
        (flags,) = struct.unpack_from("<H", data, pos + 8)
        struct.pack_into("<H", data, pos + 8, (flags | flag_bits_or) & ~flag_bits_clear)
        if compress_size is not None:
            struct.pack_into("<I", data, pos + 20, compress_size)
        pos = data.find(b"PK\x01\x02", pos + 4)
    pos = data.find(b"PK\x03\x04")
    while pos != -1 and flag_bits_clear:  # local headers must agree on the name encoding
        (flags,) = struct.unpack_from("<H", data, pos + 6)
        struct.pack_into("<H", data, pos + 6, flags & ~flag_bits_clear)
        pos = data.find(b"PK\x03\x04", pos + 4)
    path.write_bytes(bytes(data))


def make_xlsx(path: Path, rows: list[list], *, title: str = "Incidents") -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("Notes")["A1"] = "about"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


@pytest.fixture
def folder_package(tmp_path: Path) -> Path:
    root = tmp_path / "ngo-2024"
    write(root / "manifest.yaml", MANIFEST)
    write(root / "incidents.csv", CSV)
    make_xlsx(root / "data" / "victims.xlsx", [["victim_id", "age"], ["V-1", 34]])
    write(root / "media" / "photo.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)))
    return root


# --- packages ----------------------------------------------------------------------------------------


def test_folder_package_is_hashed_and_typed(folder_package: Path, tmp_path: Path):
    package = open_package(folder_package, workdir=tmp_path / "work")
    assert package.kind == "folder" and package.source_sha256 is None
    assert [f.path for f in package.files] == ["data/victims.xlsx", "incidents.csv", "manifest.yaml", "media/photo.jpg"]
    csv_file = package.file("incidents.csv")
    assert csv_file.sha256 == hashlib.sha256(CSV.encode()).hexdigest()
    assert (csv_file.format, csv_file.encoding, csv_file.delimiter, csv_file.bytes) == ("csv", "utf-8", ",", len(CSV.encode()))
    assert package.file("data/victims.xlsx").format == "xlsx"
    assert package.file("media/photo.jpg").format == "media"
    assert package.manifest_file.format == "manifest"
    assert [f.path for f in package.data_files] == ["data/victims.xlsx", "incidents.csv"]
    assert package.manifest["period_start"] == "2024-01-01"  # dates stay text, as in a JSON manifest
    assert not (tmp_path / "work").exists()  # a folder is read in place


def test_file_lookup_names_the_missing_path(folder_package: Path, tmp_path: Path):
    package = open_package(folder_package, workdir=tmp_path)
    assert package.file("./data\\victims.xlsx").path == "data/victims.xlsx"
    with pytest.raises(PackageError, match=r"no file 'Incidents.csv' \(did you mean 'incidents.csv'"):
        package.file("Incidents.csv")
    with pytest.raises(PackageError, match="no file 'other.csv'"):
        package.file("other.csv")


def test_same_content_gives_same_hash_as_folder_or_zip(folder_package: Path, tmp_path: Path):
    members = {p.relative_to(folder_package.parent).as_posix(): p.read_bytes()
               for p in folder_package.rglob("*") if p.is_file()}
    zip_path = make_zip(tmp_path / "ngo-2024.zip", members)  # zipped from the parent: one top-level folder
    workdir = tmp_path / "work"
    from_folder = open_package(folder_package, workdir=workdir)
    from_zip = open_package(zip_path, workdir=workdir)
    assert from_zip.kind == "zip"
    assert from_zip.sha256 == from_folder.sha256
    assert from_zip.source_sha256 == hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert [f.path for f in from_zip.files] == [f.path for f in from_folder.files]
    assert from_zip.root.is_relative_to(workdir.resolve()) and from_zip.root.name == "ngo-2024"
    assert from_zip.file("incidents.csv").disk_path.read_text(encoding="utf-8") == CSV
    listing = "".join(f"{f.path}\0{f.sha256}\n" for f in from_folder.files)
    assert from_folder.sha256 == hashlib.sha256(listing.encode()).hexdigest()


def test_zip_names_without_utf8_flag_are_read_as_utf8(tmp_path: Path):
    zip_path = make_zip(tmp_path / "p.zip", {"manifest.yaml": MANIFEST, "شهادات/حلب.csv": CSV})
    patch_central_directory(zip_path, flag_bits_clear=0x800)
    package = open_package(zip_path, workdir=tmp_path / "work")
    assert package.file("شهادات/حلب.csv").format == "csv"


def test_limits_from_settings():
    configured = settings(WORKBENCH_MAX_FILES="12", WORKBENCH_MAX_RATIO="50", WORKBENCH_MAX_PACKAGE_BYTES="1000")
    limits = Limits.from_settings(configured)
    assert (limits.max_files, limits.max_ratio, limits.max_total_bytes) == (12, 50.0, 1000)


# --- hostile zips ------------------------------------------------------------------------------------


def symlink_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.yaml", MANIFEST)
        link = zipfile.ZipInfo("incidents.csv")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    return path


def _exact_duplicate(path: Path) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate we mean to write
        zf.writestr("manifest.yaml", MANIFEST)
        zf.writestr("incidents.csv", CSV)
        zf.writestr("incidents.csv", "overwrite")
    return path


HOSTILE_NAMES = {
    "/etc/cron.d/evil": "absolute path",
    "../evil.csv": r"'\.\.' component",
    "data/../../evil.csv": r"'\.\.' component",
    "..\\evil.csv": "backslashes",
    "C:/evil.csv": "drive letter",
    "C:evil.csv": "drive letter",
    "data/evil\n.csv": "control characters",
}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_zip_rejects_paths_that_escape(tmp_path: Path, name: str):
    zip_path = make_zip(tmp_path / "p.zip", {"manifest.yaml": MANIFEST, name: "x"})
    workdir = tmp_path / "work"
    with pytest.raises(UnsafeArchiveError, match=re.escape(f"member {name!r}") + ".*" + HOSTILE_NAMES[name]):
        open_package(zip_path, workdir=workdir)
    assert list(workdir.iterdir()) == []  # the unpack folder is removed
    assert not (tmp_path / "evil.csv").exists()


def test_zip_rejects_symlink_members(tmp_path: Path):
    with pytest.raises(UnsafeArchiveError, match="member 'incidents.csv' is a symbolic link"):
        open_package(symlink_zip(tmp_path / "p.zip"), workdir=tmp_path / "work")


def test_zip_rejects_duplicate_members(tmp_path: Path):
    with pytest.raises(UnsafeArchiveError, match="member 'incidents.csv' duplicates 'incidents.csv'"):
        open_package(_exact_duplicate(tmp_path / "a.zip"), workdir=tmp_path / "work")
    zip_path = make_zip(tmp_path / "b.zip", {"manifest.yaml": MANIFEST, "incidents.csv": CSV, "INCIDENTS.csv": CSV})
    with pytest.raises(UnsafeArchiveError, match="member 'INCIDENTS.csv' duplicates 'incidents.csv'"):
        open_package(zip_path, workdir=tmp_path / "work")
    zip_path = make_zip(tmp_path / "c.zip", {"manifest.yaml": MANIFEST, "data": "x", "data/a.csv": CSV})
    with pytest.raises(UnsafeArchiveError, match="member 'data' is both a file and a folder"):
        open_package(zip_path, workdir=tmp_path / "work")


def test_zip_rejects_encrypted_members(tmp_path: Path):
    zip_path = make_zip(tmp_path / "p.zip", {"manifest.yaml": MANIFEST, "incidents.csv": CSV})
    patch_central_directory(zip_path, only="incidents.csv", flag_bits_or=0x1)
    with pytest.raises(UnsafeArchiveError, match="member 'incidents.csv' is encrypted"):
        open_package(zip_path, workdir=tmp_path / "work")


def test_zip_rejects_too_many_files_and_bytes(tmp_path: Path):
    zip_path = make_zip(tmp_path / "p.zip", {"manifest.yaml": MANIFEST, **{f"f{i}.csv": CSV for i in range(5)}})
    with pytest.raises(UnsafeArchiveError, match="holds 6 files, more than the 3 allowed"):
        open_package(zip_path, workdir=tmp_path / "work", limits=Limits(max_files=3))
    with pytest.raises(UnsafeArchiveError, match="more than the 200 bytes allowed"):
        open_package(zip_path, workdir=tmp_path / "work", limits=Limits(max_total_bytes=200))
    zip_path = make_zip(tmp_path / "q.zip", {"manifest.yaml": MANIFEST, "big.csv": CSV * 10})
    expected = f"member 'big.csv' unpacks to {len(CSV.encode()) * 10} bytes, more than the 500 allowed per file"
    with pytest.raises(UnsafeArchiveError, match=expected):
        open_package(zip_path, workdir=tmp_path / "work", limits=Limits(max_member_bytes=500))


def test_zip_bomb_is_stopped_early(tmp_path: Path):
    zip_path = make_zip(tmp_path / "bomb.zip", {"manifest.yaml": MANIFEST, "incidents.csv": b"\0" * (50 * 1024 * 1024)})
    workdir = tmp_path / "work"
    started = time.perf_counter()
    with pytest.raises(UnsafeArchiveError, match="member 'incidents.csv' has a compression ratio above 200"):
        open_package(zip_path, workdir=workdir)
    assert time.perf_counter() - started < 2
    assert list(workdir.iterdir()) == []


def test_zip_bomb_with_lying_header_is_stopped_while_streaming(tmp_path: Path):
    zip_path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("incidents.csv", b"\0" * (50 * 1024 * 1024), zipfile.ZIP_DEFLATED)
        zf.writestr("padding.bin", os.urandom(400 * 1024), zipfile.ZIP_STORED)
        zf.writestr("manifest.yaml", MANIFEST)
    # the header now claims 300 KiB of compressed data: a harmless-looking ratio of about 170
    patch_central_directory(zip_path, only="incidents.csv", compress_size=300 * 1024)
    workdir = tmp_path / "work"
    with pytest.raises(UnsafeArchiveError, match="member 'incidents.csv' has a compression ratio above 200"):
        open_package(zip_path, workdir=workdir)
    assert list(workdir.iterdir()) == []


def test_truncated_zip_names_the_zip(tmp_path: Path, folder_package: Path):
    whole = make_zip(tmp_path / "whole.zip", {"manifest.yaml": MANIFEST, "incidents.csv": CSV * 200})
    cut = write(tmp_path / "cut.zip", whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(PackageError, match="zip cut.zip cannot be read: it is truncated or corrupt"):
        open_package(cut, workdir=tmp_path / "work")


def test_corrupt_member_names_the_member(tmp_path: Path):
    text = "".join(f"I-{i},2013-03-{i % 28 + 1:02d},place {i * 7919 % 1000}\n" for i in range(2000))
    zip_path = make_zip(tmp_path / "p.zip", {"manifest.yaml": MANIFEST, "incidents.csv": text})
    data = bytearray(zip_path.read_bytes())
    start = data.find(b"incidents.csv") + len("incidents.csv")
    data[start + 200 : start + 400] = bytes(200)  # damage the compressed bytes of the member
    zip_path.write_bytes(bytes(data))
    with pytest.raises(PackageError, match="zip p.zip: member 'incidents.csv' cannot be unpacked"):
        open_package(zip_path, workdir=tmp_path / "work")


def test_not_a_package(tmp_path: Path):
    with pytest.raises(PackageError, match="is neither a folder nor a .zip file"):
        open_package(write(tmp_path / "p.rar", b"Rar!\x1a\x07\x00"), workdir=tmp_path)
    with pytest.raises(PackageError, match="does not exist"):
        open_package(tmp_path / "missing", workdir=tmp_path)


# --- folders -----------------------------------------------------------------------------------------


def test_folder_symlink_is_rejected(folder_package: Path, tmp_path: Path):
    secret = write(tmp_path / "secret.csv", "x\n")
    os.symlink(secret, folder_package / "data" / "linked.csv")
    with pytest.raises(UnsafeArchiveError, match="'data/linked.csv' is a symbolic link"):
        open_package(folder_package, workdir=tmp_path)


def test_folder_symlinked_folder_is_rejected_not_followed(folder_package: Path, tmp_path: Path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", folder_package / "more", target_is_directory=True)
    with pytest.raises(UnsafeArchiveError, match="'more' is a symbolic link"):
        open_package(folder_package, workdir=tmp_path)


def test_os_junk_is_skipped_and_listed(folder_package: Path, tmp_path: Path):
    for junk in (".DS_Store", "data/Thumbs.db", "desktop.ini", "~$victims.xlsx", "__MACOSX/._incidents.csv"):
        write(folder_package / junk, b"junk")
    package = open_package(folder_package, workdir=tmp_path)
    assert package.skipped == (
        ".DS_Store: macOS folder metadata",
        "__MACOSX/._incidents.csv: macOS archive metadata",
        "data/Thumbs.db: Windows folder metadata",
        "desktop.ini: Windows folder metadata",
        "~$victims.xlsx: Office lock file",
    )
    assert all("Thumbs" not in f.path and "MACOSX" not in f.path for f in package.files)


def test_zip_junk_beside_the_top_folder_is_skipped(tmp_path: Path):
    zip_path = make_zip(tmp_path / "p.zip", {"pkg/manifest.yaml": MANIFEST, "pkg/incidents.csv": CSV,
                                              "__MACOSX/pkg/._incidents.csv": b"\0\5\26\7"})
    package = open_package(zip_path, workdir=tmp_path / "work")
    assert [f.path for f in package.files] == ["incidents.csv", "manifest.yaml"]
    assert package.skipped == ("__MACOSX/pkg/._incidents.csv: macOS archive metadata",)


def test_folder_limits(folder_package: Path, tmp_path: Path):
    with pytest.raises(PackageError, match="more than 2 files"):
        open_package(folder_package, workdir=tmp_path, limits=Limits(max_files=2))
    with pytest.raises(PackageError, match="more than the 100 bytes allowed"):
        open_package(folder_package, workdir=tmp_path, limits=Limits(max_total_bytes=100))


# --- manifests ---------------------------------------------------------------------------------------


def package_with_manifest(tmp_path: Path, name: str, text: str) -> Path:
    root = tmp_path / "pkg"
    write(root / name, text)
    write(root / "incidents.csv", CSV)
    return root


def test_missing_manifest(tmp_path: Path):
    root = tmp_path / "pkg"
    write(root / "incidents.csv", CSV)
    write(root / "sub" / "manifest.yaml", MANIFEST)  # not at the root, and not a single top-level folder
    with pytest.raises(ManifestError, match="no manifest.yaml, manifest.yml or manifest.json at the root of pkg"):
        open_package(root, workdir=tmp_path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("manifest.yaml", "ngo: x\nfiles: [a, b\n", r"manifest.yaml line 3, column 1: .*"),
        ("manifest.yml", "ngo: x\n  bad: indent\n", r"manifest.yml line 2, column 6: mapping values are not allowed"),
        ("manifest.json", '{"ngo": "x",\n "files": [}', r"manifest.json line 2, column 12: Expecting value"),
        ("manifest.yaml", "- a\n- b\n", "must be a mapping of keys to values, not list"),
        ("manifest.json", '"just text"', "must be a mapping of keys to values, not str"),
        ("manifest.yaml", "", "manifest.yaml is empty"),
        ("manifest.yaml", "ngo: x\nngo: y\n", r"manifest.yaml line 2, column 1: duplicate key 'ngo'"),
        ("manifest.json", '{"ngo": "x", "ngo": "y"}', "duplicate key 'ngo'"),
        ("manifest.yaml", "a: &x [1, 2]\nb: *x\n", "uses YAML aliases"),
    ],
)
def test_bad_manifests(tmp_path: Path, name: str, text: str, message: str):
    with pytest.raises(ManifestError, match=message):
        open_package(package_with_manifest(tmp_path, name, text), workdir=tmp_path)


def test_json_manifest_and_several_manifests(tmp_path: Path):
    root = package_with_manifest(tmp_path, "manifest.json", json.dumps({"ngo": "x", "files": []}))
    assert open_package(root, workdir=tmp_path).manifest == {"ngo": "x", "files": []}
    write(root / "manifest.yaml", MANIFEST)
    with pytest.raises(ManifestError, match="several manifests: manifest.json, manifest.yaml"):
        open_package(root, workdir=tmp_path)


# --- formats -----------------------------------------------------------------------------------------


def test_formats_are_sniffed_from_content(tmp_path: Path):
    root = package_with_manifest(tmp_path, "manifest.yaml", MANIFEST)
    make_xlsx(root / "really_a_workbook.csv", [["a"], [1]])
    write(root / "tabs.txt", "a\tb\tc\n1\t2\t3\n4\t5\t6\n")
    write(root / "tabs.tsv", "a\tb\n1\t2\n")
    write(root / "statement.txt", "The witness said that the market was shelled at noon.\nShe left.\n")
    write(root / "zero.csv", b"")
    write(root / "blank.csv", " \r\n\t\n")
    write(root / "bom_only.csv", b"\xef\xbb\xbf")
    write(root / "bom_only_utf16.csv", b"\xff\xfe")
    write(root / "array.json", '[{"a": 1}, {"a": 2}]')
    write(root / "lines.json", '{"a": 1}\n{"a": 2}\n')
    write(root / "lines.jsonl", '{"a": 1}\n{"a": 2}\n')
    write(root / "single.jsonl", '{"a": 1}\n')
    write(root / "report.pdf", b"%PDF-1.4\n")
    write(root / "binary.csv", b"\x89PNG\r\n\x1a\n\0\0\0")
    package = open_package(root, workdir=tmp_path)
    found = {f.path: (f.format, f.delimiter, f.encoding_note) for f in package.files}
    assert found["really_a_workbook.csv"] == ("xlsx", None, "content is an Excel workbook although the name ends in .csv")
    assert found["tabs.txt"] == ("csv", "\t", None)
    assert found["tabs.tsv"] == ("csv", "\t", None)
    assert found["statement.txt"] == ("media", None, None)
    for empty in ("zero.csv", "blank.csv", "bom_only.csv", "bom_only_utf16.csv"):
        assert found[empty] == ("empty", None, None), empty
    assert found["array.json"] == ("json", None, None)
    assert found["lines.json"] == ("jsonl", None, "content is JSON Lines although the name ends in .json")
    assert found["lines.jsonl"][0] == found["single.jsonl"][0] == "jsonl"
    assert found["report.pdf"][0] == "media"
    assert found["binary.csv"][0] == "media" and "binary" in found["binary.csv"][2]
    assert {f.path for f in package.data_files} >= {"zero.csv", "blank.csv", "tabs.txt", "really_a_workbook.csv"}


# --- encodings ---------------------------------------------------------------------------------------


def test_detect_encoding_utf8_bom_and_utf16(tmp_path: Path):
    text = "\n".join(ARABIC_LINES) + "\n"
    assert detect_encoding(write(tmp_path / "a.csv", text)) == ("utf-8", None)
    assert detect_encoding(write(tmp_path / "b.csv", b"\xef\xbb\xbf" + text.encode())) == ("utf-8-sig", None)
    assert detect_encoding(write(tmp_path / "c.csv", text.encode("utf-16"))) == ("utf-16", None)
    assert detect_encoding(write(tmp_path / "d.csv", "plain ascii\n")) == ("utf-8", None)


def test_detect_encoding_windows_arabic(tmp_path: Path):
    for lines in (ARABIC_LINES, ARABIC_LINES[:2], ["id,place", "1,اعتقال تعسفي"]):
        path = write(tmp_path / "a.csv", ("\r\n".join(lines) + "\r\n").encode("cp1256"))
        assert detect_encoding(path) == ("cp1256", "not UTF-8: read as cp1256"), lines


def test_detect_encoding_western_is_not_taken_for_arabic(tmp_path: Path):
    path = write(tmp_path / "f.csv", "nom,ville\nCafé crème,Genève\nRené,Zürich\n".encode("cp1252"))
    assert detect_encoding(path) == ("cp1252", "not UTF-8: read as cp1252")


def test_detect_encoding_mixed_counts_lines_across_chunks(tmp_path: Path):
    good = "1,2013-03-12,حلب الشهباء\n".encode()
    bad = "2,2014-01-01,دمشق\n".encode("cp1256")
    lines = [good] * 60_000
    for at in (16, 30_000, 59_990):  # line 17 and lines past the first 1 MiB chunk
        lines[at] = bad
    path = write(tmp_path / "m.csv", b"".join(lines))
    assert path.stat().st_size > 2 * 1024 * 1024
    assert detect_encoding(path) == ("utf-8", "mixed encodings: 3 lines are not valid UTF-8 (first at line 17)")
    assert transcode_to_utf8(path, tmp_path / "out.csv", "utf-8") == 3
    out = (tmp_path / "out.csv").read_text(encoding="utf-8").split("\n")
    assert "\ufffd" in out[16] and "\ufffd" not in out[15] and out[0] == good.decode().rstrip("\n")


def test_transcode_windows_arabic_for_duckdb(tmp_path: Path):
    text = "\r\n".join(ARABIC_LINES) + "\r\n"
    src = write(tmp_path / "a.csv", text.encode("cp1256"))
    dst = tmp_path / "out" / "a.csv"
    assert transcode_to_utf8(src, dst, "cp1256") == 0
    assert dst.read_bytes() == text.encode("utf-8")
    rows = duckdb.connect().execute("select * from read_csv(?, header = true) order by 1", [str(dst)]).fetchall()
    assert rows[-1][2] == "حمص الوعر" and len(rows) == 3
    bom = write(tmp_path / "b.csv", b"\xef\xbb\xbf" + text.encode())
    assert transcode_to_utf8(bom, tmp_path / "b_out.csv", "utf-8-sig") == 0
    assert (tmp_path / "b_out.csv").read_bytes() == text.encode()
    with pytest.raises(PackageError, match="unknown encoding"):
        transcode_to_utf8(src, dst, "no-such-codec")


def test_csv_in_package_gets_encoding_and_delimiter(tmp_path: Path):
    root = package_with_manifest(tmp_path, "manifest.yaml", MANIFEST)
    write(root / "incidents.csv", "\r\n".join(line.replace(",", ";") for line in ARABIC_LINES).encode("cp1256"))
    found = open_package(root, workdir=tmp_path).file("incidents.csv")
    assert (found.format, found.encoding, found.delimiter, found.encoding_note) == ("csv", "cp1256", ";", "not UTF-8: read as cp1256")


# --- delimiters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('id;place;note\n1;"Aleppo, east";"a, b, c"\n2;Homs;"x,y"\n', ";"),
        ("id|place\n1|Aleppo, east\n2|Homs\n", "|"),
        ('id,note\n1,"line one\nline two; still quoted"\n2,plain\n', ","),
        ("id\tplace\tnote\n1\tAleppo\ta,b\n", "\t"),
        ("single column\nvalue\n", None),
    ],
)
def test_detect_delimiter(tmp_path: Path, text: str, expected: str | None):
    assert detect_delimiter(write(tmp_path / "d.csv", text), "utf-8") == expected


# --- workbooks ---------------------------------------------------------------------------------------


def test_read_xlsx_values_as_text(tmp_path: Path):
    rows = [
        ["id", "date", "when", "note", "count", "share", "verified", None],
        ["I-1", dt.datetime(2013, 3, 12), dt.datetime(2013, 3, 12, 14, 30), "12/03/2013", 3, 2.0, True, None],
        ["I-2", dt.date(2014, 5, 1), dt.time(9, 15), None, 1234567890123.0, 0.25, False, None],
        ["I-3", "=DATE(2015,1,1)", None, "", -7, 1e20, None, None],
        [None] * 8,
        [None] * 8,
    ]
    path = make_xlsx(tmp_path / "w.xlsx", rows)
    header, body = read_xlsx(path)
    assert header == ["id", "date", "when", "note", "count", "share", "verified"]
    assert body == [
        ["I-1", "2013-03-12", "2013-03-12T14:30:00", "12/03/2013", "3", "2", "true"],
        ["I-2", "2014-05-01", "09:15:00", None, "1234567890123", "0.25", "false"],
        ["I-3", None, None, None, "-7", "1e+20", None],  # formulas are never evaluated
    ]
    assert read_xlsx(path, sheet="Notes") == (["about"], [])


def test_read_xlsx_errors_name_file_and_sheet(tmp_path: Path):
    path = make_xlsx(tmp_path / "w.xlsx", [["a"], [1]])
    with pytest.raises(PackageError, match="workbook w.xlsx, sheet 'Victims' does not exist; sheets: Incidents, Notes"):
        read_xlsx(path, sheet="Victims")
    cut = write(tmp_path / "cut.xlsx", path.read_bytes()[:2000])
    with pytest.raises(PackageError, match="workbook cut.xlsx cannot be read"):
        read_xlsx(cut)
    ole2 = write(tmp_path / "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    with pytest.raises(PackageError, match="workbook old.xls is an old .xls file or is password-protected; save it as .xlsx"):
        read_xlsx(ole2)
    renamed = write(tmp_path / "renamed.csv", path.read_bytes())
    assert read_xlsx(renamed) == (["a"], [["1"]])


def test_sha256_file_streams(tmp_path: Path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    assert sha256_file(write(tmp_path / "x.bin", data)) == hashlib.sha256(data).hexdigest()


def test_realistic_large_member_is_not_taken_for_a_bomb(tmp_path: Path):
    rows = "".join(f"I-{i},2013-{i % 12 + 1:02d}-{i % 28 + 1:02d},حي {i % 97},{i * 7919 % 10007},,,,\n" for i in range(60_000))
    zip_path = make_zip(tmp_path / "p.zip", {"manifest.yaml": MANIFEST, "incidents.csv": rows})
    package = open_package(zip_path, workdir=tmp_path / "work")
    assert package.file("incidents.csv").bytes == len(rows.encode()) > 2 * 1024 * 1024


def test_csv_header_in_brackets_is_not_json(tmp_path: Path):
    root = package_with_manifest(tmp_path, "manifest.yaml", MANIFEST)
    write(root / "incidents.csv", "[id],[place]\n1,Aleppo\n")
    write(root / "broken.xlsx", b"PK\x03\x04" + bytes(100))
    package = open_package(root, workdir=tmp_path)
    assert package.file("incidents.csv").format == "csv"
    assert package.file("broken.xlsx").format == "xlsx"
    with pytest.raises(PackageError, match="workbook broken.xlsx cannot be read"):
        read_xlsx(package.file("broken.xlsx").disk_path)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.shared_data
def test_real_ngo_export_in_a_zip(tmp_path: Path):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DATA}")
    real = [SHARED_DATA / "real" / "syrianarchive-violations" / "violations.csv",
            SHARED_DATA / "geo" / "ocha_communities_2015.csv"]
    zip_path = make_zip(tmp_path / "real.zip", {"manifest.yaml": MANIFEST, **{p.name: p.read_bytes() for p in real}})
    package = open_package(zip_path, workdir=tmp_path / "work")
    for original in real:
        found = package.file(original.name)
        assert (found.format, found.encoding, found.delimiter, found.encoding_note) == ("csv", "utf-8", ",", None)
        assert found.sha256 == sha256_file(original)


def test_detect_encoding_of_one_very_long_line(tmp_path: Path):
    unit = "a،€😀حلب".encode()  # 1-, 2-, 3- and 4-byte characters, so forced cuts fall inside them
    text = unit * (17 * 1024 * 1024 // len(unit) + 1)
    assert detect_encoding(write(tmp_path / "long.json", text)) == ("utf-8", None)
    cut = 16 * 1024 * 1024
    broken = text[: cut - 9] + b"\xff" + text[cut - 9 : cut + 9] + b"\xfe" + text[cut + 9 :]  # both sides of a cut
    assert detect_encoding(write(tmp_path / "broken.json", broken)) == (
        "utf-8", "mixed encodings: 1 line is not valid UTF-8 (first at line 1)")
