"""Creates every topic of ``contracts.topics.TOPICS`` with its partition count and config."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, for_code

from contracts.topics import TOPICS, TopicSpec
from devstack.aio import run_sync
from devstack.errors import StackError
from kernel.settings import kafka_client_options

log = structlog.get_logger("devstack.topics")

_TOPIC_ALREADY_EXISTS = 36


def create_topics(
    bootstrap: str, topics: Iterable[TopicSpec] = TOPICS, timeout: float = 30.0,
    replication_factor: int = 1,
) -> dict[str, int]:
    """Create ``topics`` on the broker and verify them; existing ones get their config.

    A topic that exists with settings other than its spec's (say the broker's default
    retention, from an older release or another tool) is set to exactly its spec's
    config: every platform topic states its whole config in ``contracts.topics``.

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
        await _apply_configs(admin, topics)
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


async def _apply_configs(admin: AIOKafkaAdminClient, topics: list[TopicSpec]) -> list[str]:
    """Set every topic whose config differs from its spec to its spec's; returns them."""
    wanted = [t for t in topics if t.config]
    if not wanted:
        return []
    answers = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, t.name) for t in wanted])
    actual: dict[str, dict[str, str | None]] = {}
    for answer in answers:
        for _code, _message, _type, name, entries in answer.resources:
            actual[name] = {entry[0]: entry[1] for entry in entries}
    stale = [t for t in wanted
             if any(actual.get(t.name, {}).get(k) != v for k, v in t.config.items())]
    if not stale:
        return []
    answers = await admin.alter_configs(  # the whole set: exactly the spec's, no more
        [ConfigResource(ConfigResourceType.TOPIC, t.name, dict(t.config)) for t in stale])
    for answer in answers:
        for code, message, _type, name in answer.resources:
            if code:
                raise StackError(f"setting the config of topic {name} failed: "
                                 f"{for_code(code).__name__} {message or ''}")
    log.warning("topics.config_updated", topics=[t.name for t in stale])
    return [t.name for t in stale]


async def _connected_admin(bootstrap: str, within: float) -> AIOKafkaAdminClient:
    deadline = time.monotonic() + within
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000,
                                    **kafka_client_options())
        try:
            await admin.start()
            return admin
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            await admin.close()
            if time.monotonic() > deadline:
                raise StackError(f"cannot reach the broker at {bootstrap}: {exc}") from exc
            await asyncio.sleep(0.2)
