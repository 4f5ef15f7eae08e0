"""Attempt counters in PostgreSQL: counted before the work, in one statement per take.

A throttle that reads a count, does the expensive work (argon2), then records the
outcome lets N parallel requests all pass before the first is recorded. Here an attempt
is counted first, atomically, under every key it concerns (the account, the client
address), and only an attempt every key allowed goes on. Each key has a fixed window
that opens at its first attempt; a key past its ceiling refuses until the window ends.

The counter row of a key carries ``count`` capped at ``ceiling + 1``: ``ceiling + 1``
means "full, and something was refused", so a refused attempt changes nothing and needs
no refund. Keys are blind indexes (never an e-mail or address in plaintext, SEC-1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

PURGE_BATCH = 20
"""Expired rows of other keys deleted by each take, so the table holds only live windows."""


@dataclass(frozen=True)
class Limit:
    """At most ``ceiling`` attempts per key within ``window`` (``ceiling`` 0: no limit)."""

    ceiling: int
    window: timedelta


@dataclass(frozen=True)
class Taken:
    """The outcome of :meth:`AttemptCounter.take`.

    Attributes:
        retry_after: Seconds until the fullest refusing key's window ends; ``None`` when
            every key allowed the attempt (then it is counted under each of them).
        counted: The keys the attempt is counted under, with the end of the window it was
            counted in (for :meth:`AttemptCounter.refund`).
    """

    retry_after: int | None
    counted: tuple[tuple[bytes, datetime], ...] = ()

    @property
    def allowed(self) -> bool:
        """Whether the attempt may go on."""
        return self.retry_after is None


class AttemptCounter:
    """Counters in ``<schema>.attempts``; every method runs on the caller's connection.

    Use a connection outside a transaction (or a short one): the row lock of a key is held
    until commit, so a take inside a long transaction would serialise its key's attempts.

    Args:
        schema: The owning service's schema (the table is the service's own).
    """

    def __init__(self, schema: str) -> None:
        if not schema.isidentifier():
            raise ValueError("schema must be an identifier")
        self.table = f"{schema}.attempts"

    def ddl(self) -> str:
        """The table (idempotent)."""
        return f"""
CREATE TABLE IF NOT EXISTS {self.table} (
    key        bytea PRIMARY KEY,
    count      integer     NOT NULL,
    ceiling    integer     NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_expires_idx ON {self.table} (expires_at);
COMMENT ON TABLE {self.table} IS
  'Attempts per blind-indexed key in a fixed window (throttles; no plaintext).';
"""

    async def take(self, conn: asyncpg.Connection | asyncpg.Pool,
                   keys: Sequence[tuple[bytes, Limit]], now: datetime) -> Taken:
        """Count one attempt under every key, in one statement; undo it if any key refuses.

        Keys are locked in byte order, so two takes over the same keys cannot deadlock.
        """
        limited = {k: lim for k, lim in keys if lim.ceiling > 0}
        if not limited:
            return Taken(None)
        ordered = sorted(limited)
        rows = await conn.fetch(
            f"""
WITH purged AS (
    DELETE FROM {self.table} WHERE key IN (
        SELECT key FROM {self.table} WHERE expires_at < $4 AND key <> ALL($1::bytea[])
        LIMIT {PURGE_BATCH} FOR UPDATE SKIP LOCKED)
)
INSERT INTO {self.table} AS t (key, count, ceiling, expires_at)
SELECT k, 1, c, $4 + make_interval(secs => w)
FROM unnest($1::bytea[], $2::int[], $3::float8[]) WITH ORDINALITY AS u(k, c, w, n)
ORDER BY n
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN t.expires_at <= $4 THEN 1
                 ELSE LEAST(t.count + 1, EXCLUDED.ceiling + 1) END,
    expires_at = CASE WHEN t.expires_at <= $4 THEN EXCLUDED.expires_at ELSE t.expires_at END,
    ceiling = EXCLUDED.ceiling
RETURNING key, count, ceiling, expires_at
""",
            ordered, [limited[k].ceiling for k in ordered],
            [limited[k].window.total_seconds() for k in ordered], now,
        )
        allowed = [(bytes(r["key"]), r["expires_at"]) for r in rows if r["count"] <= r["ceiling"]]
        refused = [r["expires_at"] for r in rows if r["count"] > r["ceiling"]]
        if not refused:
            return Taken(None, tuple(allowed))
        await self.refund(conn, Taken(None, tuple(allowed)))
        wait = max(refused) - now
        return Taken(max(1, math.ceil(wait.total_seconds())))

    async def refund(self, conn: asyncpg.Connection | asyncpg.Pool, taken: Taken) -> None:
        """Give back an attempt that did no work or succeeded (in its window only)."""
        for key, expires_at in taken.counted:
            await conn.execute(
                f"UPDATE {self.table} SET count = GREATEST(LEAST(count, ceiling) - 1, 0) "
                "WHERE key = $1 AND expires_at = $2", key, expires_at)

    async def clear(self, conn: asyncpg.Connection | asyncpg.Pool, key: bytes) -> None:
        """Forget a key's attempts (its owner proved who they are, or was erased)."""
        await conn.execute(f"DELETE FROM {self.table} WHERE key = $1", key)
