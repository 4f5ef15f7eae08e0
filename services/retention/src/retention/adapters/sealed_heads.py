"""Where sealed stream heads are kept: an ``audit.stream_heads`` table and a compacted topic.

The table keeps only the highest version sealed for each stream; the topic keeps the last
record per stream key. The verifier reads both (see :mod:`retention.heads`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import STREAM_HEADS_TOPIC, TopicSpec
from kernel.kafkameta import topic_partitions
from kernel.relay import ensure_topics
from kernel.settings import kafka_client_options
from retention.heads import SealedHead

_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.stream_heads (
    producer   text        NOT NULL,
    stream_id  text        NOT NULL,
    version    integer     NOT NULL,
    hash       text        NOT NULL,
    sealed_at  text        NOT NULL,
    mac        text        NOT NULL,
    PRIMARY KEY (producer, stream_id)
);
COMMENT ON TABLE audit.stream_heads IS
  'Each stream''s highest sealed head (HMAC under a platform key): AUD-2 finds cut tails.';
"""


async def store_heads(dsn: str, heads: Sequence[SealedHead]) -> None:
    """Keep each seal unless a higher version of its stream is already kept."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(_DDL)
        await conn.executemany(
            "INSERT INTO audit.stream_heads AS h VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (producer, stream_id) DO UPDATE SET version = excluded.version, "
            "hash = excluded.hash, sealed_at = excluded.sealed_at, mac = excluded.mac "
            "WHERE excluded.version > h.version",
            [(h.producer, h.stream_id, h.version, h.hash, h.sealed_at, h.mac) for h in heads])
    finally:
        await conn.close()


async def load_heads(dsn: str) -> list[SealedHead]:
    """Every seal kept in PostgreSQL (none before the first ``seal``)."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        exists = await conn.fetchval("SELECT to_regclass('audit.stream_heads') IS NOT NULL")
        if not exists:
            return []
        rows = await conn.fetch("SELECT producer, stream_id, version, hash, sealed_at, mac "
                                "FROM audit.stream_heads")
        return [SealedHead(r["producer"], r["stream_id"], r["version"], r["hash"],
                           r["sealed_at"], r["mac"]) for r in rows]
    finally:
        await conn.close()


def heads_topic() -> str:
    """The heads topic: ``MARKET_AUDIT_HEADS_TOPIC`` if set (seals of one platform kept
    apart from another's on a shared broker), ``platform.stream-heads.v1`` otherwise."""
    return os.environ.get("MARKET_AUDIT_HEADS_TOPIC") or STREAM_HEADS_TOPIC


def _key(head: SealedHead) -> bytes:
    return f"{head.producer}\x1f{head.stream_id}".encode()


async def publish_heads(bootstrap: str, heads: Sequence[SealedHead]) -> None:
    """Publish each seal to the heads topic, keyed by stream (acks from every replica)."""
    topic = heads_topic()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="marketplace-audit",
                                **kafka_client_options())
    await admin.start()
    try:
        await ensure_topics(admin, [TopicSpec(topic, partitions=1,
                                              config={"cleanup.policy": "compact"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **kafka_client_options(),
                                client_id="marketplace-audit", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, orjson.dumps(h.as_json()),
                                       key=_key(h)) for h in heads]
        for fut in futures:
            await fut
    finally:
        await producer.stop()


async def read_heads(bootstrap: str) -> tuple[list[SealedHead], int]:
    """Every seal on the heads topic up to its high-water mark, and how many records
    were not seals. A tombstone (a stream's key, no value: what compaction keeps of a
    retired stream) retires the seals of that stream read before it; the table's copy
    still counts (a place rolled back alone is not enough, see retention.heads)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                **kafka_client_options(),
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                client_id="marketplace-audit")
    topic = heads_topic()
    await consumer.start()
    try:
        found = (await topic_partitions(consumer)).get(topic)
        if not found:
            return [], 0
        parts = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        heads: list[SealedHead] = []
        malformed, idle = 0, 0
        left = set(parts)
        while left and idle < 6:
            got = await consumer.getmany(*left, timeout_ms=500, max_records=20_000)
            idle = 0 if got else idle + 1
            for recs in got.values():
                for rec in recs:
                    if rec.value is None and rec.key:  # a tombstone retires the key's seals
                        heads = [h for h in heads if _key(h) != rec.key]
                        continue
                    try:
                        heads.append(SealedHead.from_json(orjson.loads(rec.value or b"")))
                    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
                        malformed += 1
            for tp in list(left):
                high = consumer.highwater(tp)  # not end_offsets: see EMBEDDED-STACK.md
                if high is not None and await consumer.position(tp) >= high:
                    left.discard(tp)
        return heads, malformed
    finally:
        await consumer.stop()


async def retire_heads(dsn: str, bootstrap: str, producer: str) -> int:
    """Retire every seal of ``producer`` (an event store dropped on purpose, as the tests'
    own stores are): its rows leave the table and each stream's key gets a tombstone on
    the heads topic. Returns how many streams' seals were retired."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        exists = await conn.fetchval("SELECT to_regclass('audit.stream_heads') IS NOT NULL")
        rows = await conn.fetch("DELETE FROM audit.stream_heads WHERE producer = $1 "
                                "RETURNING stream_id", producer) if exists else []
    finally:
        await conn.close()
    streams = {str(r["stream_id"]) for r in rows}
    on_topic, _ = await read_heads(bootstrap)
    streams |= {h.stream_id for h in on_topic if h.producer == producer}
    if not streams:
        return 0
    sender = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **kafka_client_options(),
                              client_id="marketplace-audit")
    await sender.start()
    try:
        for stream in sorted(streams):
            await sender.send_and_wait(heads_topic(), None,
                                       key=f"{producer}\x1f{stream}".encode())
    finally:
        await sender.stop()
    return len(streams)
