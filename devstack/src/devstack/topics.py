"""Creates every topic of ``contracts.topics.TOPICS`` with its partition count and config."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, for_code

from contracts.topics import EPOCH_TOPIC, TOPICS, TopicSpec
from devstack.aio import run_sync
from devstack.errors import StackError

log = structlog.get_logger("devstack.topics")

_TOPIC_ALREADY_EXISTS = 36


def create_topics(
    bootstrap: str, topics: Iterable[TopicSpec] = TOPICS, timeout: float = 30.0,
    replication_factor: int = 1,
) -> dict[str, int]:
    """Create ``topics`` on the broker (existing ones are left alone) and verify them.

    Args:
        bootstrap: The broker's bootstrap address.
        topics: The topics to create; every platform topic by default.
        timeout: Seconds to keep trying while the broker comes up.
        replication_factor: Copies of each partition (1 on the embedded broker).

    Returns:
        The partition count of each topic, as the broker reports it.

    Raises:
        StackError: A topic could not be created or has the wrong partition count.
    """
    return run_sync(_create_topics(bootstrap, list(topics), timeout, replication_factor))


async def _create_topics(
    bootstrap: str, topics: list[TopicSpec], within: float, replication_factor: int,
) -> dict[str, int]:
    began = time.monotonic()
    admin = await _connected_admin(bootstrap, within)
    try:
        response = await admin.create_topics(
            [
                NewTopic(
                    t.name,
                    num_partitions=t.partitions,
                    replication_factor=replication_factor,
                    topic_configs=dict(t.config),
                )
                for t in topics
            ]
        )
        for name, code, *rest in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                message = rest[0] if rest else ""
                raise StackError(
                    f"creating topic {name} failed: {for_code(code).__name__} {message}"
                )
        counts = await _partition_counts(admin, [t.name for t in topics], began + within)
    finally:
        await admin.close()
    for spec in topics:
        if counts.get(spec.name) != spec.partitions:
            raise StackError(
                f"topic {spec.name} has {counts.get(spec.name)} partitions, "
                f"expected {spec.partitions}"
            )
    log.info("topics.ready", count=len(topics), seconds=round(time.monotonic() - began, 2))
    return counts


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: list[str], deadline: float,
) -> dict[str, int]:
    """Each topic's partition count once the broker's metadata shows them all: a topic just
    created reaches the broker's metadata cache a moment after the controller acknowledges
    it."""
    while True:
        described = await admin.describe_topics(names)
        counts = {t["topic"]: len(t["partitions"]) for t in described
                  if t["error_code"] == 0 and t["partitions"]}
        if len(counts) == len(set(names)) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.05)


async def _connected_admin(bootstrap: str, within: float) -> AIOKafkaAdminClient:
    deadline = time.monotonic() + within
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        try:
            await admin.start()
            return admin
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            await admin.close()
            if time.monotonic() > deadline:
                raise StackError(f"cannot reach the broker at {bootstrap}: {exc}") from exc
            await asyncio.sleep(0.2)


def mark_epoch(bootstrap: str, timeout: float = 30.0) -> str:
    """Write the broker's epoch marker once, right after its topics are made.

    A broker that comes back empty (tansu keeps nothing) gets a new marker here, from one
    writer, before the relays look for it: otherwise every service's relay finds none and
    writes one at the same instant, and tansu, writing the partition's first batch from
    several connections at once, fails some of them (``AlreadyExists`` in its log).

    Returns:
        The marker now on the broker (an existing one is kept).
    """
    return run_sync(_mark_epoch(bootstrap, timeout))


async def _mark_epoch(bootstrap: str, within: float) -> str:
    tp = TopicPartition(EPOCH_TOPIC, 0)
    deadline = time.monotonic() + within
    while True:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                    enable_auto_commit=False)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        try:
            await consumer.start()
            await producer.start()
            consumer.assign([tp])
            consumer.seek(tp, 0)
            found = (await consumer.getmany(tp, timeout_ms=500, max_records=1)).get(tp, [])
            if found and found[0].value:
                return str(found[0].value.decode())
            marker = uuid.uuid4().hex
            await producer.send_and_wait(EPOCH_TOPIC, marker.encode(), partition=0)
            log.info("topics.epoch_marked")
            return marker
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise StackError(f"cannot mark the broker's epoch at {bootstrap}: {exc}") from exc
            await asyncio.sleep(0.2)
        finally:
            await producer.stop()
            await consumer.stop()
