"""The partitions of every topic, read the way that works on Apache Kafka.

``AIOKafkaConsumer.topics()`` answers from a metadata request of its own and leaves the
consumer's metadata, which ``partitions_for_topic`` reads, as it was: on Kafka that holds
no topic until one is assigned or subscribed, so ``partitions_for_topic`` after
``topics()`` finds nothing (a broker that answers the bootstrap's request with every
topic hid this).
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer


async def topic_partitions(consumer: AIOKafkaConsumer) -> dict[str, set[int]]:
    """Every topic of the cluster with its partition ids, fetched now."""
    client: Any = consumer._client
    cluster = await client.fetch_all_metadata()
    return {topic: set(cluster.partitions_for_topic(topic) or ()) for topic in cluster.topics()}
