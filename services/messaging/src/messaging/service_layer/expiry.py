"""Message bodies expire (MSG-3): each month's keys are destroyed once its period has run.

A body is sealed under the key of its sender, the ``messages`` category and its month;
once ``body_retention_days`` have passed since that month began, the key store destroys
every such key for good (no body outlives the period; the month's last ones go early),
so the body is unreadable in PostgreSQL, in Kafka and in backups alike. The projection's
tokens of those months are dropped too; the messages' metadata and their conversations
stay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from contracts.personal import DataCategory
from kernel.logs import get_logger
from messaging.service_layer import signals
from messaging.service_layer.context import Context

log = get_logger(__name__)

CATEGORY = DataCategory.MESSAGES.value
MONTH_DAYS = 31


async def expire_bodies(ctx: Context) -> int:
    """Destroy the keys of every ended period; returns how many keys went."""
    # A month's key goes when its first day is a retention period old: no body outlives
    # the period (the key store destroys keys of months ended by the cut-off; months last
    # at most 31 days, so a month ending by now - period + 31 days began by now - period).
    cutoff = ctx.clock() - timedelta(days=ctx.settings.body_retention_days - MONTH_DAYS)
    destroyed = await ctx.keys.expire(CATEGORY, cutoff)
    async with ctx.pool.acquire() as conn:
        dropped = await conn.fetchval(
            "WITH gone AS (UPDATE messaging.messages SET body_token = NULL "
            "WHERE body_token IS NOT NULL AND body_expires_at <= $1 RETURNING 1) "
            "SELECT count(*) FROM gone", cutoff)
    if destroyed or dropped:
        log.info("messaging.bodies_expired", keys=destroyed, bodies=dropped)
    return destroyed


async def run(ctx: Context, stopped: Callable[[], bool]) -> None:
    """Expire bodies (and prune the signals' counts) every ``expiry_interval_seconds``.

    Until ``stopped()``: the service is stopping.
    """
    interval = ctx.settings.expiry_interval_seconds
    step = min(0.5, interval)
    while not stopped():
        try:
            await expire_bodies(ctx)
            await signals.prune(ctx)
        except Exception as exc:  # PostgreSQL down: try again next round
            log.warning("messaging.expiry_failed", error=type(exc).__name__)
        for _ in range(max(1, round(interval / step))):  # wake often enough to stop
            if stopped():
                return
            await asyncio.sleep(step)
