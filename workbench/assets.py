"""Web assets that reports embed (fonts now, map scripts and styles later), fetched once by
``make setup`` from the npm registry, with neither node nor npm.

``web_assets.yaml`` pins each npm package by exact version, tarball URL and the registry's sha512
``integrity``. :func:`fetch` checks each tarball against it before unpacking the few files the
lock keeps into ``assets_dir()/<name>@<version>/``; reports find them with :func:`asset_path` and
inline them (:func:`font_face_css`), so that an HTML or PDF report is one self-contained file.

>>> naskh = "@fontsource/noto-naskh-arabic"
>>> css = font_face_css("Noto Naskh Arabic", [
...     (asset_path(naskh, "files/noto-naskh-arabic-arabic-400-normal.woff2"), 400),
...     (asset_path(naskh, "files/noto-naskh-arabic-arabic-700-normal.woff2"), 700),
... ])  # doctest: +SKIP

From a shell: ``python -m workbench.assets fetch``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import fnmatch
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from workbench.errors import AssetError

LOCK_PATH = Path(__file__).with_name("web_assets.yaml")

#: Written last into a package folder; the folder counts as fetched only when it matches the lock.
STAMP = ".integrity"

CHUNK = 1024 * 1024

FIX = "run make setup or python -m workbench.assets fetch"

#: suffix -> (media type of the data URI, CSS format())
FONT_FORMATS = {
    ".woff2": ("font/woff2", "woff2"),
    ".woff": ("font/woff", "woff"),
    ".ttf": ("font/ttf", "truetype"),
    ".otf": ("font/otf", "opentype"),
}

LOCK_KEYS = {"name", "version", "tarball", "integrity", "files", "license"}

# npm's own rules for names; they also keep a name from climbing out of the assets folder.
_NPM_NAME = re.compile(r"(@[a-z0-9~-][a-z0-9._~-]*/)?[a-z0-9~-][a-z0-9._~-]*")
_EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")
_RANGE = r"U\+[0-9A-F?]{1,6}(-[0-9A-F]{1,6})?"
_UNICODE_RANGE = re.compile(rf"{_RANGE}(\s*,\s*{_RANGE})*", re.I)


@dataclass(frozen=True)
class LockedPackage:
    """One npm package of the lock: where to download it, how to check it, which files to keep."""

    name: str
    version: str
    tarball: str
    integrity: str
    files: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def folder(self, dest: Path) -> Path:
        return dest / self.label

    def keeps(self, relative: str) -> bool:
        return any(fnmatch.fnmatchcase(relative, pattern) for pattern in self.files)

    def stamp(self) -> str:
        # The kept patterns are part of the stamp: widening them refetches the package.
        return json.dumps({"integrity": self.integrity, "files": list(self.files)}, indent=1) + "\n"

    def is_fetched(self, dest: Path) -> bool:
        try:
            return (self.folder(dest) / STAMP).read_text(encoding="utf-8") == self.stamp()
        except OSError:
            return False


def assets_dir() -> Path:
    """Where fetched assets live: ``WORKBENCH_ASSETS``, else ``share/workbench/assets`` of the
    Python environment (the venv that ``make setup`` creates)."""
    configured = os.environ.get("WORKBENCH_ASSETS")
    return Path(configured) if configured else Path(sys.prefix) / "share" / "workbench" / "assets"


def load_lock(lock: Path | Mapping[str, Any] | None = None) -> list[LockedPackage]:
    """The packages of a lock (default: the package's ``web_assets.yaml``), every problem in one error.

    >>> [p.label for p in load_lock()]  # doctest: +SKIP
    ['@fontsource/noto-naskh-arabic@5.3.0', '@fontsource/noto-sans@5.3.0']
    """
    if isinstance(lock, Mapping):
        where, doc = "the asset lock", lock
    else:
        path = Path(lock) if lock is not None else LOCK_PATH
        where = str(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise AssetError(f"{where}: cannot read the asset lock: {exc}") from None
    entries = doc.get("packages") if isinstance(doc, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise AssetError(f"{where}: needs a non-empty list under 'packages'")
    problems: list[str] = []
    packages: list[LockedPackage] = []
    for number, entry in enumerate(entries, 1):
        found = _entry_problems(entry)
        name = entry.get("name") if isinstance(entry, Mapping) else None
        problems += [f"{where}: package {number} ({name or 'no name'}): {p}" for p in found]
        if not found:
            packages.append(LockedPackage(entry["name"], entry["version"], entry["tarball"],
                                          entry["integrity"], tuple(entry["files"])))
    names = [p.name for p in packages]
    problems += [f"{where}: {name} is listed twice" for name in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise AssetError("\n".join(problems))
    return packages


def _entry_problems(entry: Any) -> list[str]:
    if not isinstance(entry, Mapping):
        return ["must be a mapping with name, version, tarball, integrity and files"]
    problems = [f"unknown key {key!r}" for key in entry if key not in LOCK_KEYS]
    problems += [f"{key} is missing" for key in sorted(LOCK_KEYS - {"license"}) if key not in entry]
    name, version, tarball, integrity, files = (entry.get(k) for k in ("name", "version", "tarball", "integrity", "files"))
    if name is not None and not (isinstance(name, str) and _NPM_NAME.fullmatch(name)):
        problems.append(f"name {name!r} is not an npm package name")
    if version is not None and not (isinstance(version, str) and _EXACT_VERSION.fullmatch(version)):
        problems.append(f"version {version!r} is not an exact version (quote it; no ranges such as ^5)")
    if tarball is not None and not (isinstance(tarball, str) and tarball.startswith(("https://", "file:"))):
        problems.append(f"tarball {tarball!r} must be an https:// (or file:) URL")
    if integrity is not None and _sha512(integrity) is None:
        problems.append("integrity must be the registry's sha512-<base64> string")
    if files is not None:
        if not (isinstance(files, list) and files and all(isinstance(f, str) and f for f in files)):
            problems.append("files must be a non-empty list of patterns")
        else:
            problems += [f"pattern {f!r} leaves the package folder" for f in files if not _is_inside(f)]
    return problems


def _sha512(integrity: Any) -> bytes | None:
    """The digest an npm ``integrity`` string carries, or None when it is not one sha512."""
    if not isinstance(integrity, str) or not integrity.startswith("sha512-"):
        return None
    try:
        digest = base64.b64decode(integrity.removeprefix("sha512-"), validate=True)
    except binascii.Error:
        return None
    return digest if len(digest) == hashlib.sha512().digest_size else None


def _is_inside(relative: str) -> bool:
    path = PurePosixPath(relative)
    return not path.is_absolute() and ".." not in path.parts and "\\" not in relative


def missing_packages(dest: Path | None = None, *, lock: Path | Mapping[str, Any] | None = None) -> list[str]:
    """``name@version`` of every locked package not fetched into ``dest`` (default :func:`assets_dir`)."""
    dest = Path(dest) if dest is not None else assets_dir()
    return [p.label for p in load_lock(lock) if not p.is_fetched(dest)]


def fetch(dest: Path | None = None, *, lock: Path | Mapping[str, Any] | None = None,
          timeout: float = 60.0) -> list[Path]:
    """Download, check and unpack every locked package not already in ``dest`` (default
    :func:`assets_dir`); returns the folders fetched now, so ``[]`` when all were in place.

    Each tarball is checked against its sha512 integrity before anything is unpacked, and is
    unpacked into a temporary folder renamed into place only when complete.

    >>> fetch()  # doctest: +SKIP
    [PosixPath('.venv/share/workbench/assets/@fontsource/noto-sans@5.3.0')]
    """
    dest = Path(dest) if dest is not None else assets_dir()
    return [_fetch_one(package, dest, timeout) for package in load_lock(lock) if not package.is_fetched(dest)]


def _fetch_one(package: LockedPackage, dest: Path, timeout: float) -> Path:
    target = package.folder(dest)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AssetError(f"cannot create the assets folder {target.parent} ({exc.strerror}); "
                         "set WORKBENCH_ASSETS to a folder you can write") from None
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as work:
        tarball, tree = Path(work) / "package.tgz", Path(work) / "tree"
        _download(package, tarball, timeout)
        _verify(package, tarball)
        _unpack(package, tarball, tree)
        (tree / STAMP).write_text(package.stamp(), encoding="utf-8")
        if target.exists():
            os.replace(target, Path(work) / "replaced")  # an older or broken copy, removed with `work`
        try:
            os.replace(tree, target)
        except OSError:
            if not package.is_fetched(dest):  # unless a concurrent fetch just put the same files there
                raise
    return target


def _download(package: LockedPackage, path: Path, timeout: float) -> None:
    request = urllib.request.Request(package.tarball, headers={"User-Agent": "workbench-assets"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(path, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # HTTP errors, DNS, timeouts, bad URLs
        reason = f"HTTP {exc.code} {exc.reason}" if isinstance(exc, urllib.error.HTTPError) else getattr(exc, "reason", exc)
        raise AssetError(f"could not download {package.label} from {package.tarball}: {reason}. "
                         "Check the network (or HTTPS_PROXY) and retry: python -m workbench.assets fetch") from None


def _verify(package: LockedPackage, path: Path) -> None:
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    if digest.digest() != _sha512(package.integrity):
        got = base64.b64encode(digest.digest()).decode("ascii")
        raise AssetError(f"{package.label}: the tarball from {package.tarball} does not match the integrity in the "
                         f"asset lock (expected {package.integrity}, got sha512-{got}); nothing was unpacked")


def _unpack(package: LockedPackage, path: Path, tree: Path) -> None:
    """Extract the kept regular files, without npm's top folder (``package/``), refusing any
    member whose name would climb out; the ``data`` filter is the second guard."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            kept = []
            for member in archive.getmembers():
                if not _is_inside(member.name):
                    raise AssetError(f"{package.label}: the tarball holds {member.name!r}, which leaves its folder; "
                                     "nothing was unpacked")
                relative = "/".join(PurePosixPath(member.name).parts[1:])
                if member.isfile() and relative and package.keeps(relative):
                    kept.append(member.replace(name=relative, deep=False))
            unmatched = [p for p in package.files if not any(fnmatch.fnmatchcase(m.name, p) for m in kept)]
            if unmatched:
                raise AssetError(f"{package.label}: no file of the tarball matches {', '.join(unmatched)} "
                                 "(fix the files of this package in the asset lock)")
            tree.mkdir()
            archive.extractall(tree, members=kept, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:  # FilterError is a TarError
        raise AssetError(f"{package.label}: cannot unpack the tarball from {package.tarball}: {exc}") from None


def asset_path(package: str, relative: str, *, lock: Path | Mapping[str, Any] | None = None) -> Path:
    """The path of one fetched file, e.g. a font a report embeds; the version comes from the lock.

    >>> asset_path("@fontsource/noto-sans", "files/noto-sans-latin-400-normal.woff2")  # doctest: +SKIP
    PosixPath('.venv/share/workbench/assets/@fontsource/noto-sans@5.3.0/files/noto-sans-latin-400-normal.woff2')
    """
    packages = {p.name: p for p in load_lock(lock)}
    locked = packages.get(package)
    if locked is None:
        raise AssetError(f"{package} is not in the asset lock; it has {', '.join(packages)}")
    if not _is_inside(relative) or not locked.keeps(relative):
        raise AssetError(f"{relative} is not a file the asset lock keeps for {locked.label} "
                         f"({', '.join(locked.files)}); add a pattern to web_assets.yaml, then {FIX}")
    dest = assets_dir()
    path = locked.folder(dest) / relative
    if not (locked.is_fetched(dest) and path.is_file()):
        raise AssetError(f"{locked.label} is not fetched into {dest} ({relative} is missing): {FIX}")
    return path


def font_face_css(family: str, files: list[tuple[Path, int]], unicode_range: str | None = None) -> str:
    """``@font-face`` rules with each font file inlined as a base64 data URI: one rule per weight,
    its sources in the order given (woff2 then woff offers both; WeasyPrint reads either).

    >>> print(font_face_css("Noto Sans", [(Path("noto-sans-latin-400-normal.woff2"), 400)]))  # doctest: +SKIP
    @font-face {
      font-family: 'Noto Sans';
      font-style: normal;
      font-weight: 400;
      src: url("data:font/woff2;base64,d09GMgABAAAAADNAABA...") format('woff2');
    }
    """
    if unicode_range is not None and not _UNICODE_RANGE.fullmatch(unicode_range.strip()):
        raise AssetError(f"unicode-range {unicode_range!r} is not a list of U+XXXX or U+XXXX-YYYY ranges")
    sources: dict[int, list[str]] = {}
    for path, weight in files:
        if not (isinstance(weight, int) and 1 <= weight <= 1000):
            raise AssetError(f"{path}: font weight must be a whole number from 1 to 1000, got {weight!r}")
        media_type, css_format = _font_format(Path(path))
        try:
            encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        except OSError as exc:
            raise AssetError(f"cannot read the font {path} ({exc.strerror}): {FIX}") from None
        sources.setdefault(weight, []).append(f'url("data:{media_type};base64,{encoded}") format(\'{css_format}\')')
    quoted = family.replace("\\", "\\\\").replace("'", "\\'")
    rules = []
    for weight, srcs in sources.items():
        lines = [f"  font-family: '{quoted}';", "  font-style: normal;", f"  font-weight: {weight};",
                 f"  src: {', '.join(srcs)};"]
        if unicode_range is not None:
            lines.append(f"  unicode-range: {unicode_range.strip()};")
        rules.append("@font-face {\n" + "\n".join(lines) + "\n}")
    return "\n".join(rules) + "\n"


def _font_format(path: Path) -> tuple[str, str]:
    try:
        return FONT_FORMATS[path.suffix.lower()]
    except KeyError:
        raise AssetError(f"{path}: not a font file the CSS helper knows ({', '.join(FONT_FORMATS)})") from None


def main(argv: list[str] | None = None) -> int:
    """``python -m workbench.assets fetch``: the command line over :func:`fetch`."""
    parser = argparse.ArgumentParser(prog="python -m workbench.assets",
                                     description="Web assets pinned in workbench/web_assets.yaml.")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_command = commands.add_parser("fetch", help="download, check (sha512) and unpack what is missing")
    fetch_command.add_argument("--dest", type=Path, help="folder (default: WORKBENCH_ASSETS, else "
                               "share/workbench/assets of the Python environment)")
    args = parser.parse_args(argv)
    dest = args.dest or assets_dir()
    try:
        fetched = fetch(dest)
        packages = load_lock()
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for package in packages:
        status = "fetched" if package.folder(dest) in fetched else "present"
        print(f"{status} {package.label} -> {package.folder(dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
