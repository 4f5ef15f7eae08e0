"""Archives recognised by their bytes and opened in memory, within limits (MSG-2, issue 26).

A name says nothing: a zip with one byte prepended and named ``cv.pdf`` still opens in
every zip tool. So the kind comes from the content: zip by an end-of-central-directory
record anywhere (the zip tools search for it too) or a local header at offset 0; gzip by
its magic at 0; tar by the ``ustar`` magic or a valid header checksum; 7z by its signature
anywhere (7-Zip opens archives behind a stub). What the libraries (``zipfile``, ``zlib``,
``tarfile``, ``py7zr``) can open yields its members; what they cannot, or what breaks a
limit, yields a ``Held`` code and the caller holds the message for review.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import py7zr
import py7zr.exceptions
import py7zr.io

Kind = Literal["zip", "gzip", "tar", "7z"]

MAX_MEMBERS = 1_000
"""Members inspected per archive."""
MAX_RATIO = 200
"""Compression ratio above which a member is treated as a bomb."""
MAX_EOCD = 16
"""End-of-central-directory records followed per file (concatenated zips)."""

EOCD = b"PK\x05\x06"
LOCAL = b"PK\x03\x04"
GZIP = b"\x1f\x8b\x08"
SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".7z")
"""Names that promise an archive; bytes that are none are held as unreadable."""


@dataclass(frozen=True, slots=True)
class Member:
    """One file inside an archive, unpacked."""

    name: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Held:
    """Why (part of) an archive was not inspected: a rule code of severity ``quarantine``."""

    code: Literal["archive_unreadable", "encrypted_archive", "archive_bomb",
                  "archive_too_large"]


class Budget:
    """Bytes still allowed to be unpacked for one attachment, across every level."""

    def __init__(self, total: int) -> None:
        self.remaining = total

    def allows(self, size: int, packed: int) -> bool:
        """Whether a member of ``size`` bytes, ``packed`` compressed, may be unpacked."""
        return size <= self.remaining and size <= max(packed, 1) * MAX_RATIO

    def take(self, size: int) -> None:
        """Count ``size`` unpacked bytes."""
        self.remaining -= size


def sniff(content: bytes) -> Kind | None:
    """The archive kind of ``content`` by its bytes, or ``None``."""
    if EOCD in content or content.startswith(LOCAL):
        return "zip"
    if content.startswith(GZIP):
        return "gzip"
    if SEVEN_ZIP in content:
        return "7z"
    if _is_tar(content):
        return "tar"
    return None


def _is_tar(content: bytes) -> bool:
    if len(content) < 512:
        return False
    if content[257:262] == b"ustar":
        return True
    field = content[148:156].replace(b"\x00", b" ").strip()
    if not field or any(c not in b"01234567" for c in field):
        return False
    header = content[:148] + b" " * 8 + content[156:512]
    return int(field, 8) == sum(header)  # a pre-POSIX (v7) header: only its checksum says tar


def members(kind: Kind, name: str, content: bytes, budget: Budget) -> Iterator[Member | Held]:
    """The members of an archive of ``kind``; a ``Held`` for what could not be inspected.

    Iteration ends after a ``Held`` for a broken limit or an unreadable archive; an
    encrypted member is held and the others are still read.
    """
    opener = {"zip": _zip, "gzip": _gzip, "tar": _tar, "7z": _seven_zip}[kind]
    try:
        yield from opener(name, content, budget)
    except Exception:  # hostile bytes may break a parser anywhere: whatever breaks is held
        yield Held("archive_unreadable")


def _zip(name: str, content: bytes, budget: Budget) -> Iterator[Member | Held]:
    ends = _eocd_ends(content)
    if len(ends) > MAX_EOCD:
        yield Held("archive_too_large")
        return
    if not ends:  # a local header at 0 and no central directory: no tool lists it
        yield Held("archive_unreadable")
        return
    covered: list[tuple[int, int]] = []
    for end in reversed(ends):  # the last one first: the archive every tool opens
        if any(start < end <= stop for start, stop in covered):
            continue  # inside an archive already opened: a nested member, read from there
        with zipfile.ZipFile(io.BytesIO(content[:end])) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                yield Held("archive_too_large")
                return
            covered.append((min((i.header_offset for i in infos), default=end), end))
            for info in infos:
                if info.is_dir():
                    continue
                if info.flag_bits & 0x1:
                    yield Held("encrypted_archive")
                    continue
                if not budget.allows(info.file_size, info.compress_size):
                    yield Held("archive_bomb")
                    return
                data = z.read(info)
                budget.take(len(data))
                yield Member(info.filename, data)


def _eocd_ends(content: bytes) -> list[int]:
    """Where each end-of-central-directory record (with its comment) ends, in order."""
    ends: list[int] = []
    at = content.find(EOCD)
    while at != -1 and len(ends) <= MAX_EOCD:
        comment = int.from_bytes(content[at + 20:at + 22], "little")
        ends.append(min(at + 22 + comment, len(content)))
        at = content.find(EOCD, at + 4)
    return ends


def _gzip(name: str, content: bytes, budget: Budget) -> Iterator[Member | Held]:
    limit = min(budget.remaining, len(content) * MAX_RATIO)
    out = bytearray()
    rest = content
    while rest.startswith(GZIP):  # concatenated members are one stream (RFC 1952)
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(rest, limit - len(out) + 1)
        if len(out) > limit:
            yield Held("archive_bomb")
            return
        if not d.eof:
            yield Held("archive_unreadable")
            return
        rest = d.unused_data
    budget.take(len(out))
    lowered = name.lower()
    inner = (name[:-3] + ".tar" if lowered.endswith(".tgz")
             else name[:-3] if lowered.endswith(".gz") else name)
    yield Member(inner, bytes(out))


def _tar(name: str, content: bytes, budget: Budget) -> Iterator[Member | Held]:
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as t:
        for count, info in enumerate(t):
            if count >= MAX_MEMBERS:
                yield Held("archive_too_large")
                return
            if not info.isfile():
                continue
            if info.size > budget.remaining:
                yield Held("archive_bomb")
                return
            f = t.extractfile(info)
            data = f.read(info.size) if f is not None else b""
            budget.take(len(data))
            yield Member(info.name, data)
        if content[t.offset:].strip(b"\0"):  # tarfile stops at a bad header; GNU tar skips on
            yield Held("archive_unreadable")


def _seven_zip(name: str, content: bytes, budget: Budget) -> Iterator[Member | Held]:
    start = content.find(SEVEN_ZIP)
    packed = content[start:]
    with py7zr.SevenZipFile(io.BytesIO(packed), mode="r",
                            max_extract_size=budget.remaining) as z:
        if z.needs_password():
            yield Held("encrypted_archive")
            return
        infos = z.list()
        if len(infos) > MAX_MEMBERS:
            yield Held("archive_too_large")
            return
        if not budget.allows(sum(i.uncompressed for i in infos), len(packed)):
            yield Held("archive_bomb")
            return
        sink = _Sink(budget.remaining)
        try:
            z.extractall(factory=sink)  # noqa: S202 (to memory through the sink, no path)
        except py7zr.exceptions.DecompressionBombError:  # the listed sizes lied
            yield Held("archive_bomb")
            return
    for member_name, buffer in sink.files.items():
        data = buffer.getvalue()
        budget.take(len(data))
        yield Member(member_name, data)


class _Sink(py7zr.io.WriterFactory):
    """Members of a 7z archive written to memory, never to disk, at most ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.files: dict[str, _Buffer] = {}

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        buffer = self.files[filename] = _Buffer(self)
        return buffer


class _Buffer(py7zr.io.Py7zIO):
    def __init__(self, sink: _Sink) -> None:
        self._sink = sink
        self._data = io.BytesIO()

    def write(self, s: bytes | bytearray) -> int:
        self._sink.limit -= len(s)
        if self._sink.limit < 0:
            raise py7zr.exceptions.DecompressionBombError("unpacked size over the budget")
        return self._data.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self._data.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._data.seek(offset, whence)

    def flush(self) -> None:
        self._data.flush()

    def size(self) -> int:
        return self._data.getbuffer().nbytes

    def getvalue(self) -> bytes:
        return self._data.getvalue()
