"""Compaction is real on Kafka: once the log cleaner has run over the public-profiles
topic, no record of an erased member remains on it, neither their profile records nor, once
``delete.retention.ms`` has passed, the tombstone (ACC-10, RET-5)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from accounts.entrypoints.erasure import erase_account
from contracts.accounts import PUBLIC_PROFILES_TOPIC
from contracts.topics import TOPICS
from devstack.topics import create_topics
from kernel.service import ServiceHost

pytestmark = pytest.mark.integration

SPEC = next(t for t in TOPICS if t.name == PUBLIC_PROFILES_TOPIC)

FAST_CLEANING = {
    **SPEC.config,
    "segment.ms": "200",  # the active segment rolls at the next append after 0.2 s
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "max.compaction.lag.ms": "1000",
    "delete.retention.ms": "500",  # tombstones go half a second after their first clean
}


@pytest.fixture
async def fast_cleaning(infra: Any) -> AsyncIterator[str]:
    """The topic with small segments and dirty ratio; its contract config afterwards."""
    bootstrap: str = infra.kafka_bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, PUBLIC_PROFILES_TOPIC, FAST_CLEANING)])
    finally:
        await admin.close()
    yield bootstrap
    await asyncio.to_thread(create_topics, bootstrap, [SPEC])  # back to the contract's


async def _records(bootstrap: str, partition: int) -> list[tuple[int, bytes | None, bool]]:
    """(offset, key, is tombstone) of every record the partition still holds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tp = TopicPartition(PUBLIC_PROFILES_TOPIC, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        out: list[tuple[int, bytes | None, bool]] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=500)
            out += [(r.offset, r.key, r.value is None) for r in batch.get(tp, [])]
        return out
    finally:
        await consumer.stop()


async def _wait_for(bootstrap: str, key: bytes, tombstone: bool,
                    timeout: float = 30) -> int:
    """The partition where ``key``'s latest record is (a tombstone or not)."""
    deadline = time.monotonic() + timeout
    while True:
        for partition in range(SPEC.partitions):
            mine = [r for r in await _records(bootstrap, partition) if r[1] == key]
            if mine and mine[-1][2] == tombstone:
                return partition
        assert time.monotonic() < deadline, f"no {'tombstone' if tombstone else 'profile'}"
        await asyncio.sleep(0.3)


async def test_no_record_of_an_erased_member_survives_the_log_cleaner(
    client: httpx.AsyncClient, accounts_host: ServiceHost, fast_cleaning: str,
) -> None:
    bootstrap = fast_cleaning
    tag = uuid.uuid4().hex[:10]
    resp = await client.post("/internal/accounts", json={
        "email": f"{tag}@example.org", "password": "correct horse battery",
        "name": f"Name {tag}", "username": f"user_{tag}", "accept_terms_version": "2026-01"})
    assert resp.status_code == 201, resp.text
    key = resp.json()["account_id"].encode()
    partition = await _wait_for(bootstrap, key, tombstone=False)
    rt = accounts_host.runtime
    assert rt is not None
    await rt.keys.destroy(key.decode())
    async with rt.pool.acquire() as conn, conn.transaction():
        await erase_account(rt, conn, key.decode())
    assert await _wait_for(bootstrap, key, tombstone=True) == partition
    written = [r for r in await _records(bootstrap, partition) if r[1] == key]
    assert len(written) >= 2  # the profile and its tombstone, before any cleaning

    # Appends roll the segments holding them; the cleaner (every second on the embedded
    # broker) drops the profile, then, delete.retention.ms later, the tombstone. The
    # filler records are tombstones of keys nobody has.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True)
    await producer.start()
    left = written
    try:
        deadline = time.monotonic() + 90
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            await producer.send_and_wait(PUBLIC_PROFILES_TOPIC, None,
                                         key=f"filler-{uuid.uuid4()}".encode(),
                                         partition=partition)
            left = [r for r in await _records(bootstrap, partition) if r[1] == key]
    finally:
        await producer.stop()
    assert left == [], f"still on {PUBLIC_PROFILES_TOPIC}/{partition}: {left}"
