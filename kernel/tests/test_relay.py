"""The outbox relay: at-least-once, ordered per subject, republishes after broker data loss."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

from contracts.accounts import SessionStarted
from contracts.topics import EPOCH_TOPIC, TopicSpec
from kernel.eventstore import EventStore, NewEvent
from kernel.keystore import InMemoryKeyStore
from kernel.relay import OutboxRelay
from kernel.signing import EventSigner, EventVerifier, Forged

ROOT = b"k" * 32

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 15) -> list[dict]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    out: list[dict] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < expect and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out += [{"key": r.key, "partition": r.partition, "record": r,
                         **orjson.loads(r.value)} for r in records]
    finally:
        await consumer.stop()
    return out


@pytest.fixture
async def setup(
    pool: asyncpg.Pool, infra: object
) -> AsyncIterator[tuple[EventStore, OutboxRelay, str]]:
    store = EventStore(unique("rl"), InMemoryKeyStore())
    async with pool.acquire() as conn:
        await store.migrate(conn)
    topic = unique("relaytest")
    relay = OutboxRelay(pool, store.schema, "accounts", topic,
                        infra.kafka_bootstrap, [TopicSpec(topic)], batch=50,  # type: ignore[attr-defined]
                        signer=EventSigner(ROOT, "accounts"))
    task = asyncio.create_task(relay.run())
    yield store, relay, topic
    relay.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 10)


async def append_sessions(pool: asyncpg.Pool, store: EventStore, subject: str, n: int) -> None:
    async with pool.acquire() as conn:
        head = await store.head(conn, f"s-{subject}")
        events = [NewEvent(SessionStarted(session_id=str(i), account_id=subject, remember_me=False,
                                          expires_at="2030-01-01T00:00:00Z"), subject)  # type: ignore[arg-type]
                  for i in range(n)]
        await store.append(conn, f"s-{subject}", head, events)


async def test_committed_events_reach_kafka_in_order_keyed_by_subject(
    pool: asyncpg.Pool, setup: tuple[EventStore, OutboxRelay, str], infra: object
) -> None:
    store, _relay, topic = setup
    subjects = [str(uuid.uuid4()) for _ in range(3)]
    for s in subjects:
        await append_sessions(pool, store, s, 120)
    got = await read_topic(infra.kafka_bootstrap, topic, 360)  # type: ignore[attr-defined]
    assert len(got) == 360
    for s in subjects:
        mine = [g for g in got if g["subject_id"] == s]
        assert [g["version"] for g in mine] == list(range(1, 121))
        assert {g["key"] for g in mine} == {s.encode()}
        assert len({g["partition"] for g in mine}) == 1
    assert await pool.fetchval(f"SELECT count(*) FROM {store.schema}.outbox") == 0


async def test_every_published_record_is_signed_by_its_service(
    pool: asyncpg.Pool, setup: tuple[EventStore, OutboxRelay, str], infra: object
) -> None:
    """Issue 26: the relay signs each record over its topic, key and envelope's bytes."""
    store, _relay, topic = setup
    await append_sessions(pool, store, str(uuid.uuid4()), 20)
    got = await read_topic(infra.kafka_bootstrap, topic, 20)  # type: ignore[attr-defined]
    assert len(got) == 20
    verifier = EventVerifier(ROOT, topic_producers={topic: "accounts"})
    assert {verifier.check(g["record"], g["producer"], g["event_type"]) for g in got} == {
        "accounts"}
    other = EventVerifier(b"x" * 32, topic_producers={topic: "accounts"})  # another root
    with pytest.raises(Forged, match="does not check"):
        other.signer(got[0]["record"])


async def test_relay_republishes_everything_when_the_broker_lost_its_data(
    pool: asyncpg.Pool, setup: tuple[EventStore, OutboxRelay, str], infra: object
) -> None:
    store, _relay, topic = setup
    s = str(uuid.uuid4())
    await append_sessions(pool, store, s, 10)
    assert len(await read_topic(infra.kafka_bootstrap, topic, 10)) == 10  # type: ignore[attr-defined]
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)  # type: ignore[attr-defined]
    await admin.start()
    try:
        await admin.delete_topics([topic, EPOCH_TOPIC])  # what a broker restart does
    finally:
        await admin.close()
    await asyncio.sleep(0.5)
    await append_sessions(pool, store, s, 5)
    got = await read_topic(infra.kafka_bootstrap, topic, 15, timeout=20)  # type: ignore[attr-defined]
    assert sorted({g["version"] for g in got}) == list(range(1, 16))


async def test_published_envelopes_are_the_stored_events_envelopes(
    pool: asyncpg.Pool, setup: tuple[EventStore, OutboxRelay, str], infra: object
) -> None:
    """PostgreSQL builds the relay's envelopes: field for field ``envelope_bytes``' (AUD-1).

    Covers no subject, correlation and causation ids, a stream id needing JSON escapes
    and an instant with no microseconds (their text form is fixed: the hash covers it).
    """
    store, _relay, topic = setup
    plain = NewEvent(SessionStarted(session_id="1", account_id="a", remember_me=False,
                                    expires_at="2030-01-01T00:00:00Z"), None,  # type: ignore[arg-type]
                     occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    subject = str(uuid.uuid4())
    personal = NewEvent(SessionStarted(session_id="2", account_id=subject, remember_me=True,
                                       expires_at="2030-01-01T00:00:00Z"), subject)  # type: ignore[arg-type]
    stream = 'odd "stream" \\ ünï\tcode'
    async with pool.acquire() as conn:
        stored = await store.append(conn, stream, await store.head(conn, stream),
                                    [plain, personal], correlation_id=uuid.uuid4(),
                                    causation_id=uuid.uuid4())
    got = await read_topic(infra.kafka_bootstrap, topic, 2)  # type: ignore[attr-defined]
    published = {g["version"]: {k: v for k, v in g.items()
                                 if k not in ("key", "partition", "record")} for g in got}
    assert published == {r.version: orjson.loads(r.envelope_bytes("accounts")) for r in stored}
    assert published[1]["occurred_at"] == "2026-01-02T03:04:05.000000+00:00"


async def _batch_producers(bootstrap: str, topic: str) -> list[int]:
    """The producer id in the header of every record batch of partition 0 of ``topic``."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        await client._wait_on_metadata(topic)
        node = client.cluster.leader_for_partition(TopicPartition(topic, 0))
        resp = await client.send(node, FetchRequest(100, 1, 1 << 20, 0,
                                                    [(topic, [(0, 0, 1 << 20)])]))
        data = resp.topics[0][1][0][-1]
        records, ids = MemoryRecords(data), []
        while records.has_next():
            ids.append(records.next_batch().producer_id)
        return ids
    finally:
        await client.close()


async def test_the_relay_produces_idempotently(
    pool: asyncpg.Pool, infra: object
) -> None:
    """Every batch carries a producer id and sequence: a batch the broker wrote but whose
    acknowledgement was lost is not written twice when the producer retries it."""
    store = EventStore(unique("rl"), InMemoryKeyStore())
    async with pool.acquire() as conn:
        await store.migrate(conn)
    topic = unique("relaytest")
    relay = OutboxRelay(pool, store.schema, "accounts", topic,
                        infra.kafka_bootstrap, [TopicSpec(topic, partitions=1)],  # type: ignore[attr-defined]
                        signer=EventSigner(ROOT, "accounts"))
    task = asyncio.create_task(relay.run())
    try:
        await append_sessions(pool, store, str(uuid.uuid4()), 5)
        assert len(await read_topic(infra.kafka_bootstrap, topic, 5)) == 5  # type: ignore[attr-defined]
    finally:
        relay.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
    ids = await _batch_producers(infra.kafka_bootstrap, topic)  # type: ignore[attr-defined]
    assert ids and all(pid >= 0 for pid in ids), ids


async def test_the_epoch_topic_keeps_its_marker_for_ever(
    pool: asyncpg.Pool, infra: object
) -> None:
    """Kafka's default retention (7 days) would delete the marker, and every relay would
    take the broker for one that lost its data: a relay that (re)creates the topic gives
    it the contract's infinite retention."""
    bootstrap = infra.kafka_bootstrap  # type: ignore[attr-defined]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([EPOCH_TOPIC])
        while EPOCH_TOPIC in await admin.list_topics():
            await asyncio.sleep(0.1)
        store = EventStore(unique("rl"), InMemoryKeyStore())
        async with pool.acquire() as conn:
            await store.migrate(conn)
        topic = unique("relaytest")
        relay = OutboxRelay(pool, store.schema, "accounts", topic, bootstrap,
                            [TopicSpec(topic)], signer=EventSigner(ROOT, "accounts"))
        task = asyncio.create_task(relay.run())
        try:
            assert await _wait_connected(relay)
        finally:
            relay.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        (answer,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, EPOCH_TOPIC)])
    finally:
        await admin.close()
    config = {entry[0]: entry[1] for entry in answer.resources[0][4]}
    assert config["retention.ms"] == "-1"
    assert config["retention.bytes"] == "-1"
    assert config["cleanup.policy"] == "delete"


async def _wait_connected(relay: OutboxRelay, timeout: float = 20) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not relay.connected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return relay.connected


async def test_a_relay_whose_epoch_marker_was_deleted_keeps_publishing(
    pool: asyncpg.Pool, setup: tuple[EventStore, OutboxRelay, str], infra: object
) -> None:
    """Should the marker go anyway (records deleted below it), the relay takes the first
    marker the log still holds (republishing once, as for a new cluster) rather than
    reading offset 0 for ever and publishing nothing."""
    store, _relay, topic = setup
    subject = str(uuid.uuid4())
    await append_sessions(pool, store, subject, 3)
    assert len(await read_topic(infra.kafka_bootstrap, topic, 3)) == 3  # type: ignore[attr-defined]
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)  # type: ignore[attr-defined]
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, group_id=None)  # type: ignore[attr-defined]
    await consumer.start()
    try:
        tp = TopicPartition(EPOCH_TOPIC, 0)
        high = (await consumer.end_offsets([tp]))[tp]
        await admin.delete_records({tp: RecordsToDelete(before_offset=high)})
    finally:
        await consumer.stop()
        await admin.close()
    await asyncio.sleep(2.5)  # the relay checks the epoch every 2 s
    await append_sessions(pool, store, subject, 2)
    got = await read_topic(infra.kafka_bootstrap, topic, 5, timeout=30)  # type: ignore[attr-defined]
    assert {g["version"] for g in got} == {1, 2, 3, 4, 5}
