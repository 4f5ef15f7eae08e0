"""Write path: commands of 5 events, personal fields encrypted, through the outbox to Kafka.

Also measures the same path with the same data in unmarked (unencrypted) fields, to report
the cost of encryption (docs/targets.md: >= 7,000 events/s; <= 10% cost). Commands act for
existing members (their keys are cached, as for every command but a sign-up); the figure
for commands that each create a new member, whose key must first be made durable in the
key store, is reported beside it.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Annotated, ClassVar

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import Field

from bench.common import median, private_stack, report
from bench.peer import run_once as peer_run_once
from contracts.envelope import Event
from contracts.personal import DataCategory, Personal
from contracts.topics import TopicSpec
from kernel.crypto import BlindIndex, KeyWrapper
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.internal_auth import InternalAuthSettings
from kernel.keycache import CachedKeyStore
from kernel.keystore import PostgresKeyStore
from kernel.relay import OutboxRelay
from kernel.settings import PostgresSettings, SecretsSettings
from kernel.signing import EventSigner

EVENTS_PER_COMMAND = 5
COMMANDS = 3000
WORKERS = 16


class BenchProfileUpdated(Event):
    """A profile change carrying personal data (benchmark only)."""

    event_type: ClassVar[str] = "bench.ProfileUpdated"
    producer: ClassVar[str] = "bench"
    account_id: str
    email: Annotated[str, Personal(DataCategory.CONTACT)] = Field()
    name: Annotated[str, Personal(DataCategory.IDENTITY)] = Field()
    phone: Annotated[str, Personal(DataCategory.CONTACT)] = Field()
    note: str


class BenchProfileUpdatedPlain(Event):
    """The same fields, none marked personal: the path without encryption (benchmark only)."""

    event_type: ClassVar[str] = "bench.ProfileUpdatedPlain"
    producer: ClassVar[str] = "bench"
    account_id: str
    email: str
    name: str
    phone: str
    note: str


MEMBERS = 500


async def run_once(encrypted: bool, bootstrap: str, new_members: bool = False) -> float:
    pg = PostgresSettings()
    secrets = SecretsSettings()  # type: ignore[call-arg]
    pool = await asyncpg.create_pool(pg.dsn(), min_size=WORKERS, max_size=WORKERS + 4)
    ks_pool = await asyncpg.create_pool(pg.dsn(pg.keystore_database), min_size=2, max_size=4)
    index = BlindIndex(secrets.index_key_bytes())
    pks = PostgresKeyStore(ks_pool, KeyWrapper(secrets.master_key_bytes()), index)
    await pks.migrate()
    keys = CachedKeyStore(pks, 60)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    topic = f"bench.{schema}"
    store = EventStore(schema, keys)
    async with pool.acquire() as conn:
        await store.migrate(conn)
    relay = OutboxRelay(pool, schema, "bench", topic, bootstrap, [TopicSpec(topic)], batch=2000,
                        signer=EventSigner(InternalAuthSettings().key_bytes(), "bench"))  # type: ignore[call-arg]
    store.on_append = relay.wake  # as a service's host wires them
    relay_task = asyncio.create_task(relay.run())
    while not relay.connected:
        await asyncio.sleep(0.05)
    cls = BenchProfileUpdated if encrypted else BenchProfileUpdatedPlain
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(COMMANDS):
        queue.put_nowait(i)
    members = [str(uuid.uuid4()) for _ in range(MEMBERS)]
    if encrypted and not new_members:
        await keys.keys_for_writing(members)  # they signed up earlier

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            subject = str(uuid.uuid4()) if new_members else members[i % MEMBERS]
            events = [
                NewEvent(cls(account_id=subject, email=f"user{i}.{j}@example.nl",
                             name=f"Member Number {i}", phone="+31612345678",
                             note="x" * 180), subject)
                for j in range(EVENTS_PER_COMMAND)
            ]
            async with pool.acquire() as conn:  # one statement: atomic without BEGIN/COMMIT
                await store.append(conn, f"profile-{subject}-{i}", StreamHead(), events)

    total = COMMANDS * EVENTS_PER_COMMAND
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    while relay.published < total:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    relay.stop()
    await relay_task
    # check every event really is on the topic
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or range(4)]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    seen = 0
    while seen < total:
        batch = await consumer.getmany(timeout_ms=2000)
        if not batch:
            break
        seen += sum(len(v) for v in batch.values())
    await consumer.stop()
    await pool.close()
    await ks_pool.close()
    if seen < total:
        raise SystemExit(f"only {seen} of {total} events reached Kafka")
    return total / elapsed


async def main(runs: int) -> None:
    with private_stack() as stack:
        enc, plain, new, peer_rates = [], [], [], []
        for _ in range(runs):  # interleaved, so both sides see the same load of the machine
            enc.append(await run_once(True, stack.kafka_bootstrap))
            peer_rates.append(peer_run_once(COMMANDS, EVENTS_PER_COMMAND, WORKERS))
            plain.append(await run_once(False, stack.kafka_bootstrap))
            new.append(await run_once(True, stack.kafka_bootstrap, new_members=True))
        print("runs, same stack, side by side (events/s): ours "
              + ", ".join(f"{x:,.0f}" for x in enc) + " | pyeventsourcing "
              + ", ".join(f"{x:,.0f}" for x in peer_rates), flush=True)
    e, p, n = median(enc), median(plain), median(new)
    peer, ratio = median(peer_rates), median([a / b for a, b in zip(enc, peer_rates, strict=True)])
    print("(a shared machine: absolute figures are noisy; the ratio of one run holds)", flush=True)
    report("pyeventsourcing 9.5, 5 events/save, AES, PostgreSQL only", peer, "events/s",
           "(peer)", True)
    report("write path / pyeventsourcing (median of per-run ratios)", ratio, "x", ">= 3.0",
           ratio >= 3.0)
    # TARGETS: >= 3x pyeventsourcing's 2.3k events/s reference (side by side: issue 17)
    report("write path, 5-event commands, encrypted, to Kafka", e, "events/s", ">= 6,900",
           e >= 6900)
    report("write path without encryption (same data)", p, "events/s", "(reference)", True)
    cost = max(0.0, (p - e) / p * 100)
    report("cost of encryption", cost, "%", "<= 10%", cost <= 10)
    report("write path, each command signing up a new member", n, "events/s", "(reference)",
           True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
