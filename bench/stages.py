"""The pipeline's stages, each on its own, on the stack of the pipeline bench (issue 17).

- raw produce / raw consume: aiokafka alone on a topic of its own, records the size of the
  relay's (the broker's ceiling for a Python client on this machine);
- relay alone: an outbox pre-filled with the pipeline's events in one transaction, timed
  from the relay's start until every row is on Kafka (outbox -> Kafka);
- consumer alone: that topic, now full, read by aiokafka and handed to the kernel's
  ``IdempotentConsumer`` running the retention service's subject projection handler on the
  retention schema under a consumer name of its own (pre-filled topic -> projection).

Every stage works on the same number of the pipeline's events, so their rates compare
directly with the end-to-end figure measured in the same run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.accounts import AccountRegistered, SessionStarted
from contracts.topics import TopicSpec
from kernel.consumer import Delivered, IdempotentConsumer, Record
from kernel.crypto import BlindIndex, KeyWrapper
from kernel.eventstore import EventStore, NewEvent, RecordedEvent, StreamHead
from kernel.internal_auth import InternalAuthSettings
from kernel.keycache import CachedKeyStore
from kernel.keystore import PostgresKeyStore
from kernel.relay import OutboxRelay
from kernel.settings import KafkaSettings, PostgresSettings, SecretsSettings
from kernel.signing import EventSigner, EventVerifier
from retention.adapters.subjects import SubjectProjection
from retention.service_layer import handlers

PER_SUBJECT = 10
PARTITIONS = 4


class _NoDeadLetters:
    async def send(self, record: Record, consumer: str, reason: str, keep_value: bool) -> None:
        raise SystemExit(f"a pipeline event was dead-lettered ({reason}): the bench is broken")


async def _events(store: EventStore, n: int) -> list[RecordedEvent]:
    expires = datetime.now(UTC) + timedelta(days=1)
    recs: list[RecordedEvent] = []
    for _ in range(n // PER_SUBJECT):
        s = str(uuid.uuid4())
        events = [NewEvent(AccountRegistered(
            account_id=s, kind="member", email=f"{s}@example.nl", name="Bench Member",
            username=s[:12], password_hash="$argon2id$bench", terms_version="2026-01"), s)]
        events += [NewEvent(SessionStarted(session_id=str(i), account_id=s, remember_me=False,
                                           expires_at=expires), s) for i in range(PER_SUBJECT - 1)]
        recs += await store.encode(f"account-{s}", StreamHead(), events)
    return recs


async def _topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()


async def _consume(bootstrap: str, topic: str, n: int,
                   each: Callable[[list[Record]], Awaitable[None]] | None = None) -> float:
    """Read ``n`` records of ``topic`` from the start (``each`` batch handed on); records/s."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        seen = 0
        start = time.perf_counter()
        max_records = KafkaSettings().consumer_batch
        while seen < n:
            batches = await consumer.getmany(timeout_ms=5000, max_records=max_records)
            if not batches:
                raise SystemExit(f"only {seen} of {n} records came back from {topic}")
            # one batch across partitions, as the services' batch subscriber hands it on
            records: list[Record] = [r for recs in batches.values() for r in recs]
            seen += len(records)
            if each is not None:
                await each(records)
        return n / (time.perf_counter() - start)
    finally:
        await consumer.stop()


async def raw_rates(bootstrap: str, n: int, value_size: int) -> tuple[float, float]:
    """aiokafka alone: produce ``n`` records of ``value_size`` bytes, then consume them."""
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await _topic(bootstrap, topic)
    k = KafkaSettings()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=k.linger_ms,
                                max_batch_size=1024 * 1024, acks="all")
    await producer.start()
    value = b"x" * value_size
    keys = [str(uuid.uuid4()).encode() for _ in range(n // PER_SUBJECT)]
    try:
        start = time.perf_counter()
        futures = [await producer.send(topic, value, key=keys[i // PER_SUBJECT])
                   for i in range(n)]
        await asyncio.gather(*futures)
        produce = n / (time.perf_counter() - start)
    finally:
        await producer.stop()
    consume = await _consume(bootstrap, topic, n)
    return produce, consume


async def relay_then_consumer(bootstrap: str, n: int) -> tuple[float, float, int]:
    """The relay alone on a pre-filled outbox, then the consumer alone on the topic it filled.

    Returns the relay's and the consumer's events/s and the mean size of a record's value.
    """
    pg, secrets, k = PostgresSettings(), SecretsSettings(), KafkaSettings()  # type: ignore[call-arg]
    pool = await asyncpg.create_pool(pg.dsn(), min_size=2, max_size=6)
    ks_pool = await asyncpg.create_pool(pg.dsn(pg.keystore_database), min_size=1, max_size=2)
    pks = PostgresKeyStore(ks_pool, KeyWrapper(secrets.master_key_bytes()),
                           BlindIndex(secrets.index_key_bytes()))
    await pks.migrate()
    keys = CachedKeyStore(pks, 60)
    schema = f"stage_{uuid.uuid4().hex[:8]}"
    topic = f"bench.{schema}"
    try:
        await _topic(bootstrap, topic)
        store = EventStore(schema, keys)
        async with pool.acquire() as conn:
            await store.migrate(conn)
        recs = await _events(store, n)
        size = sum(len(r.payload) for r in recs) // len(recs) + 400  # + the envelope's fields
        async with pool.acquire() as conn, conn.transaction():
            for i in range(0, len(recs), 5000):
                await store.append_encoded(conn, recs[i : i + 5000])
        root = InternalAuthSettings().key_bytes()  # type: ignore[call-arg]
        relay = OutboxRelay(pool, schema, "accounts", topic, bootstrap, [TopicSpec(topic)],
                            batch=k.relay_batch, linger_ms=k.linger_ms,
                            signer=EventSigner(root, "accounts"))
        start = time.perf_counter()
        task = asyncio.create_task(relay.run())
        while relay.published < len(recs):
            if task.done():
                await task
                raise SystemExit("the relay stopped before publishing the outbox")
            await asyncio.sleep(0.01)
        relay_rate = len(recs) / (time.perf_counter() - start)
        relay.stop()
        await task

        projection = SubjectProjection()

        async def project(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
            await handlers.project_subjects(conn, projection, batch)

        consumer = IdempotentConsumer(
            f"bench-{schema}", "retention", "retention", pool, keys, project, _NoDeadLetters(),
            verifier=EventVerifier(root, topic_producers={topic: "accounts"}))
        consume_rate = await _consume(bootstrap, topic, len(recs), consumer.handle_records)
        if consumer.applied < len(recs):
            raise SystemExit(f"the consumer applied {consumer.applied} of {len(recs)} events")
        async with pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        return relay_rate, consume_rate, size
    finally:
        await pool.close()
        await ks_pool.close()
