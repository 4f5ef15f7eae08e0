"""Erasure reaches every replica's key cache at once, not one consumer of a group (PRV-5).

Two caches stand for two replicas of one service. Each process's ``KeyDropFeed`` reads the
erasure orders outside any consumer group, so both drop the subject's key as soon as the
order is on the topic, long before the cache's time-to-live would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.privacy import SubjectKeyShredded
from kernel.keycache import CachedKeyStore
from kernel.keyfeed import KeyDropFeed
from kernel.keystore import InMemoryKeyStore
from kernel.signing import EventSigner, EventVerifier

pytestmark = pytest.mark.integration


ROOT = b"r" * 32


def order(subject: str, event_type: str = SubjectKeyShredded.event_type) -> tuple[bytes, list]:
    envelope = {
        "event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
        "producer": "retention", "stream_id": f"erasure-{subject}", "version": 1,
        "position": 1, "occurred_at": datetime.now(UTC).isoformat(), "subject_id": subject,
        "payload": {}, "prev_hash": "0" * 64, "hash": "1" * 64,
    }
    return orjson.dumps(envelope), [("event_type", event_type.encode())]


async def test_every_replica_drops_the_erased_subjects_key_at_once(infra: object) -> None:
    bootstrap = infra.kafka_bootstrap  # type: ignore[attr-defined]
    topic = f"keyfeed_{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    store = InMemoryKeyStore()
    replicas = [CachedKeyStore(store, ttl_seconds=3600) for _ in range(2)]
    verifier = EventVerifier(ROOT, topic_producers={topic: "retention"})
    feeds = [KeyDropFeed(bootstrap, topic, r.forget, f"replica-{i}", verifier)
             for i, r in enumerate(replicas)]
    signer = EventSigner(ROOT, "retention")
    tasks = [asyncio.create_task(f.run()) for f in feeds]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(f.assigned.wait() for f in feeds)), 30)
        erased, kept = str(uuid.uuid4()), str(uuid.uuid4())
        await replicas[0].keys_for_writing([erased, kept])
        for r in replicas:
            await r.keys_for_reading([erased, kept])
        await store.destroy(erased)  # retention destroys the key first...
        for r in replicas:  # ...which a cache alone would not notice for an hour
            assert (await r.keys_for_reading([erased]))[erased] is not None
        other_value, other_headers = order(kept, "retention.ErasureRequested")
        await producer.send_and_wait(topic, other_value, key=kept.encode(),
                                     headers=other_headers)
        # An order nobody signed, and one signed by listings, for the kept subject: ignored.
        forged, forged_headers = order(kept)
        await producer.send_and_wait(topic, forged, key=kept.encode(), headers=forged_headers)
        await producer.send_and_wait(topic, forged, key=kept.encode(), headers=[
            *forged_headers, EventSigner(ROOT, "listings").header(topic, kept.encode(), forged)])
        value, headers = order(erased)
        headers.append(signer.header(topic, erased.encode(), value))
        await producer.send_and_wait(topic, value, key=erased.encode(), headers=headers)
        deadline = asyncio.get_running_loop().time() + 10
        while any(f.dropped < 1 for f in feeds):
            assert asyncio.get_running_loop().time() < deadline, [f.dropped for f in feeds]
            await asyncio.sleep(0.05)
        for r in replicas:
            assert (await r.keys_for_reading([erased]))[erased] is None
            assert (await r.keys_for_reading([kept]))[kept] is not None
        assert [f.dropped for f in feeds] == [1, 1]
        assert [f.refused for f in feeds] == [2, 2]
    finally:
        await producer.stop()
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
