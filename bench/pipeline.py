"""Event pipeline, sustained: outbox -> Kafka -> the retention projection (TARGETS: >= 50k/s).

Fills the accounts event store and outbox with N events in one transaction (the running
accounts service's relay sees them only at commit), then times until the retention
service's subject projection has applied every one of them.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.common import median, private_stack, report, store_of
from contracts.accounts import AccountRegistered, SessionStarted
from kernel.eventstore import EventStore, NewEvent, StreamHead

EVENTS = 100_000
PER_SUBJECT = 10  # 1 sign-up with personal data, 9 sessions


async def fill(pool: asyncpg.Pool, store: EventStore) -> int:
    expires = datetime.now(UTC) + timedelta(days=1)
    recs = []
    for _ in range(EVENTS // PER_SUBJECT):
        s = str(uuid.uuid4())
        events = [NewEvent(AccountRegistered(
            account_id=s, kind="member", email=f"{s}@example.nl", name="Bench Member",
            username=s[:12], password_hash="$argon2id$bench", terms_version="2026-01"), s)]
        events += [NewEvent(SessionStarted(session_id=str(i), account_id=s, remember_me=False,
                                           expires_at=expires), s) for i in range(PER_SUBJECT - 1)]
        recs += await store.encode(f"account-{s}", StreamHead(), events)
    async with pool.acquire() as conn, conn.transaction():
        for i in range(0, len(recs), 5000):
            await store.append_encoded(conn, recs[i : i + 5000])
    return len(recs)


async def processed(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(
        "SELECT count(*) FROM retention.processed_events WHERE consumer = 'subjects'"))


async def run_once() -> float:
    async with store_of("accounts") as (pool, store):
        before = await processed(pool)
        n = await fill(pool, store)
        start = time.perf_counter()
        deadline = start + 300
        while await processed(pool) < before + n:
            if time.perf_counter() > deadline:
                raise SystemExit("the retention projection did not catch up within 300 s")
            await asyncio.sleep(0.05)
        return n / (time.perf_counter() - start)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with private_stack(services=True):
        rates = [asyncio.run(run_once()) for _ in range(runs)]
    rate = median(rates)
    report("pipeline: outbox -> Kafka -> retention projection", rate, "events/s",
           ">= 50,000", rate >= 50_000)


if __name__ == "__main__":
    main()
