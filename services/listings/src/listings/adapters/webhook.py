"""What the telephony webhook remembers, in the service's schema so every replica and a
restart share it (LST-5): the signatures used within their window, reports per minute."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg


async def count_hits(conn: asyncpg.Connection, buckets: list[str], at: datetime
                     ) -> dict[str, int]:
    """Count one report in each bucket's current minute, atomically; returns the counts."""
    minute = at.replace(second=0, microsecond=0)
    rows = await conn.fetch(
        "INSERT INTO listings.webhook_rates (bucket, window_start, hits) "
        "SELECT unnest($1::text[]), $2, 1 ON CONFLICT (bucket, window_start) "
        "DO UPDATE SET hits = listings.webhook_rates.hits + 1 RETURNING bucket, hits",
        buckets, minute)
    await conn.execute("DELETE FROM listings.webhook_rates WHERE window_start < $1",
                       minute - timedelta(minutes=1))
    return {r["bucket"]: r["hits"] for r in rows}


async def first_use(conn: asyncpg.Connection, signature: str, at: datetime,
                    window_seconds: int) -> bool:
    """Record a signature as used; ``False`` when it was used before.

    A signature is kept while its timestamp could still pass the window check: its
    timestamp may lie up to one window ahead of the moment it was seen, so two windows.
    """
    await conn.execute("DELETE FROM listings.webhook_signatures WHERE seen_at < $1",
                       at - timedelta(seconds=2 * window_seconds))
    return bool(await conn.fetchval(
        "INSERT INTO listings.webhook_signatures (signature, seen_at) VALUES ($1, $2) "
        "ON CONFLICT (signature) DO NOTHING RETURNING true", signature, at))
