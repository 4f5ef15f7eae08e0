"""Archives are recognised by their bytes, opened within limits, held when they cannot be
(MSG-2, issue 26 finding 5): each evasion the attacker's review tried, and the limits."""

from __future__ import annotations

import gzip
import io
import tarfile

import py7zr
import pytest

from messaging.scanning import default_scanner
from messaging.scanning.api import Attachment, Scanner
from messaging.scanning.archives import sniff
from messaging.scanning.evaluation import eicar, generate, zipped
from messaging.scanning.malware import MalwareScanner

pytestmark = pytest.mark.unit


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def tarred(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def v7(tar: bytes) -> bytes:
    """The same tar with its first header's ``ustar`` magic blanked (a pre-POSIX header)."""
    head = bytearray(tar[:512])
    head[257:265] = b"\x00" * 8
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\x00 " % sum(head)
    return bytes(head) + tar[512:]


def seven_zipped(members: dict[str, bytes], password: str | None = None) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", password=password) as z:
        for name, data in members.items():
            z.writestr(data, name)
    return buf.getvalue()


@pytest.fixture(scope="module")
def malware() -> MalwareScanner:
    return MalwareScanner()


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return default_scanner("secondjob.nl")


def codes(m: MalwareScanner, name: str, content: bytes) -> list[str]:
    return [r.code for r in m.scan([Attachment(name, content)])]


EVASIONS = {
    "zip, one byte prepended": b"\x00" + zipped({"cv.com": eicar()}),
    "zip, a page of text prepended": b"%PDF-1.4 " * 200 + zipped({"cv.com": eicar()}),
    "zip behind a harmless zip": zipped({"a.txt": b"hallo"}) + zipped({"b.com": eicar()}),
    "harmless zip behind the zip": zipped({"b.com": eicar()}) + zipped({"a.txt": b"hallo"}),
    "gzip": gzipped(eicar()),
    "tar": tarred({"cv.txt": b"mijn cv", "tool.com": eicar()}),
    "pre-POSIX tar": v7(tarred({"tool.com": eicar()})),
    "tar.gz": gzipped(tarred({"tool.com": eicar()})),
    "7z": seven_zipped({"tool.com": eicar()}),
    "7z behind a stub": b"MZ-not-a-stub" * 10 + seven_zipped({"tool.com": eicar()}),
    "zip in 7z in tar in gzip": gzipped(tarred({"x.7z": seven_zipped(
        {"y.zip": zipped({"tool.com": eicar()})})})),
}


@pytest.mark.parametrize("evasion", list(EVASIONS))
def test_archives_named_cv_pdf_are_opened_by_their_bytes(
        scanner: Scanner, malware: MalwareScanner, evasion: str) -> None:
    content = EVASIONS[evasion]
    verdict = scanner.scan("Hierbij mijn cv.", [Attachment("cv.pdf", content)])
    assert verdict.outcome == "blocked", evasion
    assert ("malware", "eicar") in {(r.detector, r.code) for r in verdict.reasons}
    assert "archive_unreadable" not in codes(malware, "cv.pdf", content)


@pytest.mark.parametrize(("kind", "content"), [
    ("zip", b"\x00" + zipped({"a": b"b"})), ("zip", zipped({"a": b"b"})),
    ("gzip", gzipped(b"x")), ("tar", tarred({"a": b"b"})), ("tar", v7(tarred({"a": b"b"}))),
    ("7z", seven_zipped({"a": b"b"})), (None, generate("pdf")), (None, generate("png")),
    (None, b"\x00" * 600), (None, b"just text " * 100),
])
def test_archive_kinds_are_sniffed_from_content(kind: str | None, content: bytes) -> None:
    assert sniff(content) == kind


def test_harmless_archives_of_every_kind_pass(malware: MalwareScanner) -> None:
    docs = {"cv.pdf": generate("pdf"), "foto.png": generate("png")}
    for name, content in {"docs.tar.gz": gzipped(tarred(docs)), "docs.7z": seven_zipped(docs),
                          "docs.tar": tarred(docs), "cv.pdf.gz": gzipped(generate("pdf")),
                          "docs.zip": b"\x00" + zipped(docs)}.items():
        assert codes(malware, name, content) == [], name


def test_an_executable_inside_a_gzip_is_named_by_the_inner_name(
        malware: MalwareScanner) -> None:
    assert codes(malware, "factuur.exe.gz", gzipped(b"harmless")) == ["executable_attachment"]


BOMBS = {
    "gzip": gzipped(b"\0" * 5_000_000),
    "tar.gz": gzipped(tarred({"zeros": b"\0" * 5_000_000})),
    "7z": seven_zipped({"zeros": b"\0" * 5_000_000}),
    "zip behind a byte": b"\x00" + zipped({"zeros": b"\0" * 5_000_000}),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_of_every_kind_are_held_not_unpacked(
        scanner: Scanner, malware: MalwareScanner, name: str) -> None:
    content = BOMBS[name]
    assert codes(malware, "cv.pdf", content) == ["archive_bomb"], name
    assert scanner.scan("cv", [Attachment("cv.pdf", content)]).outcome == "quarantined"


def test_a_tar_over_the_unpacked_budget_is_held(
        malware: MalwareScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    from messaging.scanning import malware as module

    monkeypatch.setattr(module, "MAX_UNPACKED", 1_000)
    assert codes(malware, "a.tar", tarred({"big": b"y" * 2_000})) == ["archive_bomb"]


def test_a_7z_whose_listed_sizes_lie_is_stopped_at_the_budget(
        malware: MalwareScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    from messaging.scanning import archives
    from messaging.scanning import malware as module

    monkeypatch.setattr(module, "MAX_UNPACKED", 10_000)
    monkeypatch.setattr(archives.Budget, "allows", lambda self, size, packed: True)
    assert codes(malware, "a.7z", seven_zipped({"zeros": b"\0" * 50_000})) == ["archive_bomb"]


def good_zip_bad_cd() -> bytes:
    z = bytearray(zipped({"a.txt": b"hallo" * 10}))
    at = bytes(z).rfind(b"PK\x01\x02")
    z[at:at + 4] = b"XXXX"
    return bytes(z)


CORRUPT = {
    "truncated gzip": gzipped(b"hallo wereld" * 100)[:40],
    "gzip with a broken stream": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-bytes!",
    "7z, signature and garbage": b"7z\xbc\xaf\x27\x1c" + b"\x00\x04" + b"\xff" * 100,
    "truncated 7z": seven_zipped({"a.txt": b"hallo" * 100})[:60],
    "tar with a broken second header": tarred({"a": b"b"})[:1024] + b"\x01" * 1024,
    "tar hiding a member behind junk (GNU tar skips to it)":
        tarred({"a": b"b"})[:1024] + b"\x01" * 512 + tarred({"tool.com": eicar()}),
    "zip with a broken central directory": good_zip_bad_cd(),
    "zip, local header only": b"PK\x03\x04\x14\x00" + b"\x00" * 200,
}


@pytest.mark.parametrize("name", list(CORRUPT))
def test_corrupt_archives_are_held_for_review(
        scanner: Scanner, malware: MalwareScanner, name: str) -> None:
    content = CORRUPT[name]
    assert codes(malware, "cv.pdf", content) == ["archive_unreadable"], name
    assert scanner.scan("cv", [Attachment("cv.pdf", content)]).outcome == "quarantined"


def test_encrypted_7z_is_held(malware: MalwareScanner) -> None:
    locked = seven_zipped({"tool.com": eicar()}, password="geheim")
    assert codes(malware, "cv.pdf", locked) == ["encrypted_archive"]


def test_a_name_promising_an_archive_without_one_is_held(malware: MalwareScanner) -> None:
    assert codes(malware, "docs.7z", b"not an archive at all") == ["archive_unreadable"]
    assert codes(malware, "notes.txt", b"not an archive at all") == []
