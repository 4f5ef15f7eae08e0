"""Erasure retries (PRV-5): ask again every service that has not confirmed, escalate.

Runs in the background of every retention replica; each request is retried under its
stream's optimistic lock, so two replicas never both ask in one round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from kernel.eventstore import ConcurrencyError
from kernel.keystore import KeyStore
from kernel.logs import get_logger
from retention.adapters.requests import RequestRepository, due_for_retry
from retention.service_layer.handlers import shred_due

log = get_logger(__name__)


async def retry_erasures(pool: asyncpg.Pool, repo: RequestRepository, now: datetime,
                         every: timedelta, escalate_after: int) -> int:
    """One round: a new order to the missing services of each erasure waiting too long.

    Returns:
        How many requests were asked about again.
    """
    asked = 0
    async with pool.acquire() as conn:
        for request_id in await due_for_retry(conn, now - every):
            try:
                async with conn.transaction():
                    req = await repo.get(conn, request_id)
                    if req is None or not req.retry(now, escalate_after):
                        continue
                    await repo.save(conn, req)
            except ConcurrencyError:
                continue  # a receipt or another replica moved it on: next round
            asked += 1
            if req.escalated:
                log.warning("privacy.erasure_escalated", request_id=request_id,
                            services=list(req.escalated), attempts=req.orders)
            log.info("privacy.erasure_retried", request_id=request_id,
                     services=req.missing(), attempts=req.orders)
    return asked


async def run(pool: asyncpg.Pool, repo: RequestRepository, every: timedelta,
              escalate_after: int, stopped: Callable[[], bool]) -> None:
    """Retry every ``every`` until ``stopped()``; a failed round waits for the next."""
    step = min(0.5, every.total_seconds())
    while not stopped():
        try:
            await retry_erasures(pool, repo, datetime.now(UTC), every, escalate_after)
        except Exception as exc:  # PostgreSQL down: try again next round
            log.warning("privacy.erasure_retry_failed", error=type(exc).__name__)
        for _ in range(max(1, round(every.total_seconds() / step))):
            if stopped():
                return
            await asyncio.sleep(step)


async def run_shredder(pool: asyncpg.Pool, repo: RequestRepository, keys: KeyStore,
                       stopped: Callable[[], bool], every: float = 0.5) -> None:
    """Shred the keys of scheduled erasures whose grace window ended, every ``every``
    seconds until ``stopped()`` (PRV-5, grace and undo)."""
    while not stopped():
        try:
            await shred_due(pool, repo, keys, datetime.now(UTC))
        except Exception as exc:  # PostgreSQL down: try again next round
            log.warning("privacy.shred_round_failed", error=type(exc).__name__)
        await asyncio.sleep(every)
