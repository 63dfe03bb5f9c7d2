"""Web assets: fetched from a pinned npm tarball only when its sha512 matches, only the kept files,
never outside their folder, once; found by asset_path; inlined by font_face_css. No internet: the
tarballs are built here and served through file:// URLs."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
from pathlib import Path

import pytest

from workbench import assets
from workbench.assets import asset_path, fetch, font_face_css, load_lock, missing_packages
from workbench.errors import AssetError

NAME = "@test/fonts"

CONTENT = {
    "package/package.json": b'{"name": "@test/fonts", "version": "1.0.0"}',
    "package/LICENSE": b"SIL Open Font License 1.1 (test copy)",
    "package/index.css": b"@font-face {}",
    "package/files/test-arabic-400-normal.woff2": b"wOF2 regular bytes",
    "package/files/test-arabic-400-normal.woff": b"wOFF regular bytes",
    "package/files/test-arabic-500-normal.woff2": b"wOF2 medium bytes",
}


def make_tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def lock_for(tarball: Path, files: list[str], integrity: str | None = None) -> dict:
    return {"packages": [{
        "name": NAME, "version": "1.0.0", "tarball": tarball.as_uri(),
        "integrity": integrity or integrity_of(tarball.read_bytes()), "files": files,
    }]}


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    return make_tarball(tmp_path / "fonts-1.0.0.tgz", CONTENT)


def test_fetch_keeps_only_the_wanted_files(tmp_path: Path, tarball: Path):
    dest = tmp_path / "assets"
    lock = lock_for(tarball, ["LICENSE", "files/test-arabic-400-normal.*"])
    folder = dest / "@test" / "fonts@1.0.0"
    assert missing_packages(dest, lock=lock) == [f"{NAME}@1.0.0"]
    assert fetch(dest, lock=lock) == [folder]
    assert files_under(dest) == {"@test/fonts@1.0.0/" + f for f in (
        "LICENSE", "files/test-arabic-400-normal.woff2", "files/test-arabic-400-normal.woff", assets.STAMP)}
    assert (folder / "files" / "test-arabic-400-normal.woff").read_bytes() == b"wOFF regular bytes"
    assert missing_packages(dest, lock=lock) == []


def test_a_wrong_integrity_is_refused_before_anything_is_unpacked(tmp_path: Path, tarball: Path):
    dest = tmp_path / "assets"
    lock = lock_for(tarball, ["files/*"], integrity=integrity_of(b"some other tarball"))
    with pytest.raises(AssetError, match=r"@test/fonts@1\.0\.0: the tarball .* does not match the integrity"):
        fetch(dest, lock=lock)
    assert files_under(dest) == set()


def test_a_member_climbing_out_of_its_folder_is_refused(tmp_path: Path):
    # ../../../ from the package folder (deep/assets/@test/fonts@1.0.0) is deep/, outside the assets folder
    members = {"package/files/ok.woff2": b"ok", "package/../../../evil.woff2": b"evil"}
    (tmp_path / "deep").mkdir()
    evil = make_tarball(tmp_path / "deep" / "evil.tgz", members)
    dest = tmp_path / "deep" / "assets"
    with pytest.raises(AssetError, match=r"@test/fonts@1\.0\.0: .*evil\.woff2.*(leaves its folder|outside the destination)"):
        fetch(dest, lock=lock_for(evil, ["*"]))
    assert not any(p.name == "evil.woff2" for p in tmp_path.rglob("*"))
    assert files_under(dest) == set()


def test_links_in_a_tarball_are_never_unpacked(tmp_path: Path):
    archive_path = tmp_path / "links.tgz"
    with tarfile.open(archive_path, "w:gz") as archive:
        info = tarfile.TarInfo("package/files/real.woff2")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"wOF2"))
        link = tarfile.TarInfo("package/files/link.woff2")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    dest = tmp_path / "assets"
    fetch(dest, lock=lock_for(archive_path, ["files/*"]))
    assert files_under(dest / "@test" / "fonts@1.0.0") == {"files/real.woff2", assets.STAMP}


def test_a_second_fetch_downloads_nothing(tmp_path: Path, tarball: Path):
    dest = tmp_path / "assets"
    lock = lock_for(tarball, ["files/*.woff2"])
    fetch(dest, lock=lock)
    tarball.unlink()  # a download now would fail
    assert fetch(dest, lock=lock) == []
    assert "files/test-arabic-500-normal.woff2" in files_under(dest / "@test" / "fonts@1.0.0")


def test_changing_the_kept_files_fetches_again(tmp_path: Path, tarball: Path):
    dest = tmp_path / "assets"
    fetch(dest, lock=lock_for(tarball, ["files/*.woff2"]))
    wider = lock_for(tarball, ["files/*"])
    assert missing_packages(dest, lock=wider) == [f"{NAME}@1.0.0"]
    fetch(dest, lock=wider)
    assert "files/test-arabic-400-normal.woff" in files_under(dest / "@test" / "fonts@1.0.0")
    assert not [p for p in (dest / "@test").iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_a_failed_download_names_the_package_and_the_url(tmp_path: Path, tarball: Path):
    lock = lock_for(tarball, ["files/*"])
    tarball.unlink()
    with pytest.raises(AssetError, match=rf"could not download @test/fonts@1\.0\.0 from {re.escape(tarball.as_uri())}"):
        fetch(tmp_path / "assets", lock=lock)


def test_a_pattern_that_matches_nothing_is_an_error(tmp_path: Path, tarball: Path):
    with pytest.raises(AssetError, match=r"no file of the tarball matches files/\*\.ttf"):
        fetch(tmp_path / "assets", lock=lock_for(tarball, ["LICENSE", "files/*.ttf"]))


def test_lock_problems_are_reported_together(tarball: Path):
    lock = lock_for(tarball, ["../outside/*"], integrity="sha1-bm90IGEgc2hhNTEy")
    lock["packages"][0]["version"] = "^1.0.0"
    with pytest.raises(AssetError) as raised:
        load_lock(lock)
    message = str(raised.value)
    assert "not an exact version" in message and "sha512" in message and "leaves the package folder" in message


def test_asset_path_says_how_to_fetch_what_is_missing(tmp_path: Path, tarball: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WORKBENCH_ASSETS", str(tmp_path / "empty"))
    lock = lock_for(tarball, ["files/*.woff2"])
    with pytest.raises(AssetError, match=r"not fetched.*run make setup or python -m workbench\.assets fetch"):
        asset_path(NAME, "files/test-arabic-400-normal.woff2", lock=lock)
    fetch(lock=lock)
    found = asset_path(NAME, "files/test-arabic-400-normal.woff2", lock=lock)
    assert found == tmp_path / "empty" / "@test" / "fonts@1.0.0" / "files" / "test-arabic-400-normal.woff2"
    with pytest.raises(AssetError, match="not a file the asset lock keeps"):
        asset_path(NAME, "files/test-arabic-400-normal.woff", lock=lock)
    with pytest.raises(AssetError, match="not in the asset lock"):
        asset_path("@test/other", "files/x.woff2", lock=lock)


def test_font_face_css_inlines_the_bytes(tmp_path: Path):
    regular2, regular, bold = tmp_path / "r.woff2", tmp_path / "r.woff", tmp_path / "b.woff2"
    regular2.write_bytes(b"wOF2 \x00\x01 regular")
    regular.write_bytes(b"wOFF \x00\x02 regular")
    bold.write_bytes(b"wOF2 \x00\x03 bold")
    css = font_face_css("Noto Naskh Arabic", [(regular2, 400), (regular, 400), (bold, 700)], "U+0600-06FF, U+FB50-FDFF")
    b64 = {p: base64.b64encode(p.read_bytes()).decode() for p in (regular2, regular, bold)}
    assert css.count("@font-face") == 2
    assert (f'src: url("data:font/woff2;base64,{b64[regular2]}") format(\'woff2\'), '
            f'url("data:font/woff;base64,{b64[regular]}") format(\'woff\');') in css
    assert f'url("data:font/woff2;base64,{b64[bold]}") format(\'woff2\')' in css
    assert "font-family: 'Noto Naskh Arabic';" in css and "font-weight: 700;" in css
    assert css.count("unicode-range: U+0600-06FF, U+FB50-FDFF;") == 2
    with pytest.raises(AssetError, match="unicode-range"):
        font_face_css("X", [(bold, 700)], "U+0600-06FF; } body { color: red")


def test_the_command_line_fetches_then_skips(tmp_path: Path, tarball: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    import yaml

    lock_path = tmp_path / "web_assets.yaml"
    lock_path.write_text(yaml.safe_dump(lock_for(tarball, ["files/*"])), encoding="utf-8")
    monkeypatch.setattr(assets, "LOCK_PATH", lock_path)
    dest = tmp_path / "assets"
    assert assets.main(["fetch", "--dest", str(dest)]) == 0
    assert assets.main(["fetch", "--dest", str(dest)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["fetched", f"{NAME}@1.0.0"], ["present", f"{NAME}@1.0.0"]]


# The real lock, fetched by `make setup` into the venv: `make test` runs after it, so missing fonts fail.

NASKH, SANS = "@fontsource/noto-naskh-arabic", "@fontsource/noto-sans"
REPORT_FONTS = [
    (NASKH, f"files/noto-naskh-arabic-arabic-{weight}-normal.{ext}") for weight in (400, 700) for ext in ("woff2", "woff")
] + [
    (SANS, f"files/noto-sans-{subset}-{weight}-normal.{ext}")
    for subset in ("latin", "latin-ext") for weight in (400, 700) for ext in ("woff2", "woff")
]


def test_the_real_lock_pins_exact_versions_by_sha512():
    packages = {p.name: p for p in load_lock()}
    assert {NASKH, SANS, "vis-network"} <= set(packages)
    assert packages[NASKH].version == "5.3.0"
    assert all(p.tarball.startswith("https://registry.npmjs.org/") for p in packages.values())


def test_the_report_fonts_are_installed():
    assert missing_packages() == [], f"fonts not fetched into {assets.assets_dir()}: run make setup"
    for package, relative in REPORT_FONTS:
        magic = b"wOF2" if relative.endswith(".woff2") else b"wOFF"
        assert asset_path(package, relative).read_bytes()[:4] == magic, relative


def test_weasyprint_embeds_the_arabic_font_from_a_data_uri():
    weasyprint = pytest.importorskip("weasyprint")
    naskh = font_face_css("Noto Naskh Arabic", [(asset_path(NASKH, f"files/noto-naskh-arabic-arabic-{w}-normal.woff2"), w)
                                                for w in (400, 700)])
    html = (f"<style>{naskh} p {{ font-family: 'Noto Naskh Arabic', serif; }}</style>"
            '<p dir="rtl" lang="ar">تقرير الملاحظات</p><p dir="rtl" lang="ar"><b>تقرير الملاحظات</b></p>')
    pdf = weasyprint.HTML(string=html).write_pdf(uncompressed_pdf=True)
    fonts = {name.split(b"+")[-1] for name in re.findall(rb"/BaseFont\s*/([^\s/>\]\[]+)", pdf)}
    assert fonts == {b"Noto-Naskh-Arabic", b"Noto-Naskh-Arabic-Bold"}
