"""The erasure journal: append-only, synced, hash-chained, safe across processes (RET-5)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from kernel.journal import GENESIS, ErasureJournal, JournalError, kept_after

pytestmark = pytest.mark.unit


def _write_many(path: str, start: int) -> None:
    journal = ErasureJournal(Path(path))
    for i in range(start, start + 25):
        journal.record(i.to_bytes(32, "big"))


def test_entries_chain_and_hold_only_keyed_hashes(tmp_path: Path) -> None:
    journal = ErasureJournal(tmp_path / "j" / "erasures.jsonl")
    assert journal.head() == (0, GENESIS)
    first = journal.record(b"\x01" * 32)
    second = journal.record(b"\x02" * 32)
    assert first.prev == GENESIS and second.prev == first.hash
    assert [e.subject_hash for e in journal.entries()] == [b"\x01" * 32, b"\x02" * 32]
    assert journal.head() == (2, second.hash)
    assert oct(journal.path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("damage", ["alter", "remove", "swap", "garbage"])
def test_a_damaged_journal_is_detected(tmp_path: Path, damage: str) -> None:
    journal = ErasureJournal(tmp_path / "erasures.jsonl")
    for i in range(4):
        journal.record(bytes([i]) * 32)
    lines = journal.path.read_bytes().splitlines(keepends=True)
    if damage == "alter":
        lines[1] = lines[1].replace(b"01" * 32, b"09" * 32)
    elif damage == "remove":
        del lines[1]
    elif damage == "swap":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines[2] = b"not json\n"
    journal.path.write_bytes(b"".join(lines))
    with pytest.raises(JournalError):
        list(journal.entries())


def test_processes_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "erasures.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(path), n * 100)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    entries = list(ErasureJournal(path).entries())
    assert len(entries) == 100 and len({e.subject_hash for e in entries}) == 100
    assert os.stat(path).st_size > 0


def test_kept_categories_are_chained_and_the_last_line_of_a_subject_counts(
        tmp_path: Path) -> None:
    """RET-4: an erasure under a category hold journals what it kept; the hold's release
    journals the subject again with less kept; a restore reads the last line of each."""
    journal = ErasureJournal(tmp_path / "erasures.jsonl")
    a, b = b"\x0a" * 32, b"\x0b" * 32
    journal.record(a, ("listings", "messages"))
    journal.record(b)
    journal.record(a, ("messages",))
    assert kept_after(journal.entries()) == {a: ("messages",)}
    journal.record(a)
    assert kept_after(journal.entries()) == {}
    lines = journal.path.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"listings",', b"")  # a category dropped by hand
    journal.path.write_bytes(b"".join(lines))
    with pytest.raises(JournalError):
        list(journal.entries())
