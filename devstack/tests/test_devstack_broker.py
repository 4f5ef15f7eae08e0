"""The tansu broker: starts, gets every topic with its partition count, round-trips a record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import TOPICS, TopicSpec
from devstack.broker import Tansu
from devstack.ports import free_port, is_listening
from devstack.topics import create_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(data_dir: Path) -> Iterator[Tansu]:
    tansu = Tansu(free_port(), data_dir / "logs" / "tansu.log")
    tansu.start()
    yield tansu
    tansu.stop()
    assert not is_listening(tansu.port)


def test_every_platform_topic_is_created_with_its_partition_count(broker: Tansu) -> None:
    counts = create_topics(broker.bootstrap)
    assert counts == {t.name: t.partitions for t in TOPICS}
    assert create_topics(broker.bootstrap) == counts  # idempotent


def test_explicit_partition_counts_are_honoured(broker: Tansu) -> None:
    spec = TopicSpec(f"test.{uuid.uuid4().hex}", partitions=2)
    assert create_topics(broker.bootstrap, [spec]) == {spec.name: 2}


async def test_a_record_round_trips(broker: Tansu) -> None:
    topic = TopicSpec(f"test.{uuid.uuid4().hex}", partitions=1)
    create_topics(broker.bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic.name, b"hello", key=b"subject-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic.name, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"subject-1", b"hello")
