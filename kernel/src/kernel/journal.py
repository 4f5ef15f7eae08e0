"""The erasure journal: where a restore cannot roll back the record of an erasure (RET-5).

Restoring a backup rolls PostgreSQL back, the key store and its erased register
included. The journal is the record of erasures that outlives a restore: an append-only
file, kept beside the backups and never inside one, with one JSON line per destroyed
subject key holding only the subject's keyed hash (the same hash the erased register
keeps), the time, and a SHA-256 chain over the lines so that a removed or altered line is
detected. A line is written and synced before the key is destroyed, so no erasure can be
missing from it. After a restore, ``devstack restore`` destroys the keys of every journalled
subject again and has each service delete its projections before it reports ready.

In ``deploy/`` the same record lives in Kafka (retention's erasure orders, kept forever);
see deploy/README.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

GENESIS = "0" * 64


class JournalError(Exception):
    """The journal is damaged: a line does not parse or does not chain."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One destroyed subject key."""

    line: int
    at: datetime
    subject_hash: bytes
    prev: str
    hash: str
    keep: tuple[str, ...] = ()
    """Categories whose keys a legal hold kept through the erasure (RET-4); a later line of
    the same subject replaces it (the hold released)."""


def _digest(prev: str, at: str, subject_hash: str, keep: tuple[str, ...] = ()) -> str:
    kept = f"\n{','.join(keep)}" if keep else ""  # lines without one hash as they always did
    return hashlib.sha256(f"{prev}\n{at}\n{subject_hash}{kept}".encode()).hexdigest()


def kept_after(entries: Iterable[JournalEntry]) -> dict[bytes, tuple[str, ...]]:
    """Per journalled subject, the categories its last line says are kept (if any)."""
    last: dict[bytes, tuple[str, ...]] = {}
    for entry in entries:
        last[entry.subject_hash] = entry.keep
    return {h: keep for h, keep in last.items() if keep}


class ErasureJournal:
    """An append-only, hash-chained file of erased subjects' keyed hashes.

    Args:
        path: The journal file; its directory is created when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def record(self, subject_hash: bytes, keep: tuple[str, ...] = ()) -> JournalEntry:
        """Append one erased subject (and the categories a hold keeps) and sync it to disk
        before returning.

        Safe across processes: the file is locked while the last line is read and the new
        one appended.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            prev, count = self._tail(fd)
            at = datetime.now(UTC).isoformat()
            hexhash = subject_hash.hex()
            digest = _digest(prev, at, hexhash, keep)
            item: dict[str, object] = {"at": at, "subject_hash": hexhash, "prev": prev,
                                       "hash": digest}
            if keep:
                item["keep"] = list(keep)
            os.write(fd, orjson.dumps(item) + b"\n")
            os.fsync(fd)
            return JournalEntry(count + 1, datetime.fromisoformat(at), subject_hash, prev,
                                digest, keep)
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def _tail(fd: int) -> tuple[str, int]:
        """The last line's hash and the number of lines (reads the file once)."""
        size = os.fstat(fd).st_size
        if size == 0:
            return GENESIS, 0
        data = os.pread(fd, size, 0)
        lines = data.splitlines()
        last = orjson.loads(lines[-1])
        return str(last["hash"]), len(lines)

    def entries(self) -> Iterator[JournalEntry]:
        """Every entry in order, each checked against the chain.

        Raises:
            JournalError: a line is malformed, altered, removed or out of order.
        """
        if not self.path.exists():
            return
        prev = GENESIS
        with self.path.open("rb") as f:
            for n, raw in enumerate(f, start=1):
                try:
                    item = orjson.loads(raw)
                    at, hexhash, digest = item["at"], item["subject_hash"], item["hash"]
                    subject_hash = bytes.fromhex(hexhash)
                    keep = tuple(str(c) for c in item.get("keep", ()))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    raise JournalError(f"{self.path}: line {n} is not a journal entry") from exc
                if item.get("prev") != prev or _digest(prev, at, hexhash, keep) != digest:
                    raise JournalError(f"{self.path}: line {n} breaks the chain")
                yield JournalEntry(n, datetime.fromisoformat(at), subject_hash, prev, digest,
                                   keep)
                prev = digest

    def head(self) -> tuple[int, str]:
        """The number of entries and the last hash (``GENESIS`` when empty)."""
        count, last = 0, GENESIS
        for entry in self.entries():
            count, last = entry.line, entry.hash
        return count, last
