"""Publishing a test's own event store on its topic, as the relay would (audit tests)."""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import AIOKafkaProducer
from stack import Infra

from contracts.topics import TopicSpec
from devstack.topics import create_topics
from kernel.eventstore import RecordedEvent


async def publish_store(infra: Infra, conn: asyncpg.Connection, schema: str,
                        split: bool = False) -> None:
    """Every event of ``schema``'s store, in order, on ``<schema>.events.v1``.

    The topic is made first (no broker creates one on first use, as in deploy/). ``split``
    keys each event by stream and version instead of by stream, so that one stream's events
    land on several partitions (the shares of a parallel replay cross).
    """
    topic = f"{schema}.events.v1"
    await asyncio.to_thread(create_topics, infra.kafka_bootstrap, [TopicSpec(topic)])
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for row in await conn.fetch(f"SELECT * FROM {schema}.events ORDER BY position"):
            rec = RecordedEvent.from_row(row)
            key = f"{rec.stream_id}-{rec.version}" if split else rec.stream_id
            await producer.send_and_wait(topic, rec.envelope_bytes(schema), key=key.encode())
    finally:
        await producer.stop()
