"""Physically removing erased published text from PostgreSQL's files (PRV-5, RET-5).

A ``DELETE`` only marks a row dead; a plain ``VACUUM`` then frees its space but leaves its
bytes in the page's free hole, and a GIN index keeps the words of every row ever indexed
as keys. The only thing that leaves no copy in the table's or its indexes' files is a
rewrite into new files: ``VACUUM FULL`` (the old files are emptied when it commits and
unlinked at the next checkpoint). It cannot run in a transaction, and the erasure runs in
its consumer's, so the erasure queues the table in the same transaction and notifies;
PostgreSQL delivers the notification only once that transaction has committed, and a
:class:`Compactor` in every replica then rewrites the queued tables, one replica at a time.
The queue is a table, so an erasure whose rewrite a crash interrupted is compacted at the
next start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import asyncpg

from kernel.logs import get_logger

log = get_logger(__name__)

CHANNEL = "listings_compaction"
"""The notification channel an erasure's commit wakes the compactors on."""

LOCK = "listings:compaction"
"""The advisory lock that lets one replica at a time rewrite tables."""


async def queue_compaction(conn: asyncpg.Connection, tables: Iterable[str]) -> None:
    """Queue ``tables`` (names in the ``listings`` schema) for a rewrite after this commit."""
    names = sorted(set(tables))
    if not names:
        return
    await conn.execute(
        "INSERT INTO listings.compaction_queue (table_name, queued_at) "
        "SELECT unnest($1::text[]), clock_timestamp() "
        "ON CONFLICT (table_name) DO UPDATE SET queued_at = EXCLUDED.queued_at", names)
    await conn.execute(f"NOTIFY {CHANNEL}")


async def compact_queued(conn: asyncpg.Connection, allowed: Iterable[str],
                         lock_timeout_ms: int = 3000) -> list[str] | None:
    """Rewrite every queued table, then dequeue it; returns the tables rewritten.

    Runs outside any transaction on its own connection. Another replica holding the lock
    is rewriting already and sees later entries itself, so this one returns ``None`` at
    once. A rewrite that cannot lock its table within ``lock_timeout_ms`` stays queued
    and ``None`` is returned too (the caller looks again in a second): waiting longer
    would hold every reader of the table up behind it.

    Args:
        conn: A connection of the compactor's own (not in a transaction).
        allowed: The table names that may be rewritten (names never come from the queue alone).
        lock_timeout_ms: How long to wait for the table's lock.
    """
    permitted = set(allowed)
    done: list[str] = []
    if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", LOCK):
        return None
    try:
        await conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
        while rows := await conn.fetch(
                "SELECT table_name, queued_at FROM listings.compaction_queue ORDER BY queued_at"):
            for row in rows:
                name = row["table_name"]
                if name in permitted:
                    if not await _older_snapshots_gone(conn):
                        return None  # stays queued: looked at again in a second
                    # The identifier is one of the service's own tables, never input.
                    try:
                        await conn.execute(f"VACUUM (FULL, ANALYZE) listings.{name}")
                    except asyncpg.LockNotAvailableError:
                        # Readers or writers held the table: stay queued, try again in a
                        # second (not after a growing back-off: the text must go soon).
                        log.info("compaction.busy")
                        return None
                    done.append(name)
                else:
                    log.warning("compaction.unknown_table")
                # An entry queued again while the rewrite ran stays for the next round.
                await conn.execute(
                    "DELETE FROM listings.compaction_queue WHERE table_name = $1 "
                    "AND queued_at <= $2", name, row["queued_at"])
        return done
    finally:
        await conn.execute("RESET lock_timeout")
        await conn.fetchval("SELECT pg_advisory_unlock(hashtext($1))", LOCK)


OLDER_SNAPSHOTS_SQL = """
SELECT count(*) FROM pg_stat_activity
 WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
   AND backend_xmin IS NOT NULL AND xact_start < $1
"""


async def _older_snapshots_gone(conn: asyncpg.Connection, within: float = 3.0) -> bool:
    """Wait (a while) until no other session holds a snapshot taken before now.

    ``VACUUM FULL`` copies a deleted row into the new files while any snapshot may still
    see it ("recently dead"): a transaction that began before the erasure committed would
    keep the erased text on disk through the rewrite. The erasures queued were committed
    before this look (their rows are visible here), so once every transaction older than
    this instant has ended, none can see them, as ``CREATE INDEX CONCURRENTLY`` waits
    for old snapshots.
    """
    since = await conn.fetchval("SELECT clock_timestamp()")
    deadline = asyncio.get_running_loop().time() + within
    while await conn.fetchval(OLDER_SNAPSHOTS_SQL, since):
        if asyncio.get_running_loop().time() > deadline:
            log.info("compaction.waiting_for_old_snapshots")
            return False
        await asyncio.sleep(0.05)
    return True


class Compactor:
    """Rewrites queued tables as soon as an erasure commits (and at start, and every while).

    Args:
        dsn: PostgreSQL URL; the compactor keeps a connection of its own for ``LISTEN``
            and for rewrites, which outlast the pool's statement timeout.
        tables: The tables it may rewrite.
        interval: Seconds between rounds when no notification comes (a notification
            is lost while the connection is down).
    """

    def __init__(self, dsn: str, tables: Iterable[str], interval: float = 60.0) -> None:
        self._dsn = dsn
        self._tables = frozenset(tables)
        self._interval = interval
        self._woken = asyncio.Event()
        self.rewritten = 0
        """Tables rewritten so far (for tests and metrics)."""

    def _notified(self, *_: object) -> None:
        self._woken.set()

    async def run(self) -> None:
        """Compact until cancelled, reconnecting after a failure."""
        delay = 1.0
        while True:
            try:
                conn = await asyncpg.connect(self._dsn)
                try:
                    await conn.add_listener(CHANNEL, self._notified)
                    delay = 1.0
                    while True:
                        self._woken.clear()
                        done = await compact_queued(conn, self._tables)
                        if done:
                            self.rewritten += len(done)
                            log.info("compaction.done", tables=sorted(set(done)))
                        # Another replica held the lock: look again soon, not in a minute.
                        wait = 1.0 if done is None else self._interval
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._woken.wait(), wait)
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 3.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("compaction.retry", error=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
