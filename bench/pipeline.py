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

from bench import stages
from bench.common import median, private_stack, report, store_of
from contracts.accounts import AccountRegistered, SessionStarted
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.heap import settle_heap

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


STAGE_EVENTS = 50_000


async def stages_once(bootstrap: str) -> tuple[float, float, float, float]:
    """Relay alone, consumer alone, then aiokafka's raw produce and consume (events/s)."""
    relay, consumer, size = await stages.relay_then_consumer(bootstrap, STAGE_EVENTS)
    produce, consume = await stages.raw_rates(bootstrap, STAGE_EVENTS, size)
    return relay, consumer, produce, consume


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    names = ("pipeline", "relay alone", "consumer alone", "raw produce", "raw consume")
    with private_stack(services=True) as stack:
        settle_heap()  # the stages run in this process: collected as a service is
        runs_of: list[tuple[float, ...]] = []
        for _ in range(runs):  # each run: end to end, then every stage, on the same stack
            rate = asyncio.run(run_once())
            runs_of.append((rate, *asyncio.run(stages_once(stack.kafka_bootstrap))))
            print("run (events/s): " + ", ".join(
                f"{n} {v:,.0f}" for n, v in zip(names, runs_of[-1], strict=True)), flush=True)
    med = [median([r[i] for r in runs_of]) for i in range(len(names))]
    print("(a shared machine: absolute figures are noisy; figures of one run compare)",
          flush=True)
    report("pipeline: outbox -> Kafka -> retention projection", med[0], "events/s",
           ">= 50,000", med[0] >= 50_000)
    report("  stage: relay alone (pre-filled outbox -> Kafka)", med[1], "events/s",
           "(stage)", True)
    report("  stage: consumer alone (pre-filled topic -> projection)", med[2], "events/s",
           "(stage)", True)
    report("  aiokafka raw produce, same size of record", med[3], "events/s", "(ceiling)", True)
    report("  aiokafka raw consume, same records", med[4], "events/s", "(ceiling)", True)


if __name__ == "__main__":
    main()
