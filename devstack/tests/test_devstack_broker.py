"""The Kafka broker: starts, gets every topic with its partition count, round-trips a
record, keeps its log across a restart and a kill -9, and comes back with a new cluster id
and no topics when its data directory is wiped."""

from __future__ import annotations

import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.topics import TOPICS, TopicSpec
from devstack.aio import run_sync
from devstack.broker import Kafka
from devstack.pgbin import is_root
from devstack.ports import free_port, is_listening
from devstack.topics import create_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker() -> Iterator[Kafka]:
    root = Path(tempfile.mkdtemp(prefix="devstack-kafka-"))
    root.chmod(0o711 if is_root() else 0o700)
    kafka = Kafka(free_port(), root / "kafka", root / "logs" / "kafka.log")
    kafka.start()
    yield kafka
    kafka.stop()
    assert not is_listening(kafka.port)
    shutil.rmtree(root, ignore_errors=True)


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"subject-1")
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str) -> list[bytes | None]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=3000)
        return [r.value for records in batch.values() for r in records]
    finally:
        await consumer.stop()


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_every_platform_topic_is_created_with_its_partition_count(broker: Kafka) -> None:
    counts = create_topics(broker.bootstrap)
    assert counts == {t.name: t.partitions for t in TOPICS}
    assert create_topics(broker.bootstrap) == counts  # idempotent


def test_explicit_partition_counts_are_honoured(broker: Kafka) -> None:
    spec = TopicSpec(f"test.{uuid.uuid4().hex}", partitions=2)
    assert create_topics(broker.bootstrap, [spec]) == {spec.name: 2}


async def test_a_record_round_trips(broker: Kafka) -> None:
    topic = TopicSpec(f"test.{uuid.uuid4().hex}", partitions=1)
    create_topics(broker.bootstrap, [topic])
    await _produce(broker.bootstrap, topic.name, b"hello")
    consumer = AIOKafkaConsumer(
        topic.name, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"subject-1", b"hello")


async def _config(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (answer,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    return {entry[0]: entry[1] for entry in answer.resources[0][4]}


def test_an_existing_topic_gets_the_config_of_its_spec(broker: Kafka) -> None:
    """A topic made earlier with the broker's defaults (7 days' retention) is set to its
    spec's config by the next create_topics (``make run``, deploy's topics job)."""
    name = f"test.{uuid.uuid4().hex}"
    create_topics(broker.bootstrap, [TopicSpec(name, partitions=1)])
    assert run_sync(_config(broker.bootstrap, name))["retention.ms"] == str(7 * 86_400_000)
    spec = TopicSpec(name, partitions=1, config={"retention.ms": "-1",
                                                 "cleanup.policy": "delete"})
    create_topics(broker.bootstrap, [spec])
    assert run_sync(_config(broker.bootstrap, name))["retention.ms"] == "-1"


def test_the_log_survives_a_restart_and_a_kill_9(broker: Kafka) -> None:
    topic = TopicSpec(f"test.{uuid.uuid4().hex}", partitions=1)
    create_topics(broker.bootstrap, [topic])
    run_sync(_produce(broker.bootstrap, topic.name, b"kept"))
    cluster = broker.cluster_id()
    assert cluster
    broker.stop()
    broker.start()
    assert run_sync(_read_all(broker.bootstrap, topic.name)) == [b"kept"]
    assert broker.pid is not None
    import os

    os.kill(broker.pid, signal.SIGKILL)
    broker.stop()  # reaps it
    broker.start()  # recovers the log left by a crash
    assert run_sync(_read_all(broker.bootstrap, topic.name)) == [b"kept"]
    assert broker.cluster_id() == cluster


def test_a_wiped_data_directory_comes_back_empty_with_a_new_cluster_id(
    broker: Kafka,
) -> None:
    create_topics(broker.bootstrap)
    cluster = broker.cluster_id()
    broker.stop()
    shutil.rmtree(broker.data)
    broker.start()
    assert broker.cluster_id() not in (None, cluster)
    assert not {t.name for t in TOPICS} & run_sync(_topics(broker.bootstrap))
