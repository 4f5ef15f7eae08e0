"""The platform on Kafka after the broker dies: a kill -9 loses nothing and republishes
nothing; a broker whose data directory was wiped comes back as a new cluster, and the
relays refill it from the event stores. The whole platform runs, healed as ``make run``
heals it."""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topics import events_topic
from devstack.aio import run_sync
from devstack.healing import Healer
from devstack.ports import stack_ports
from devstack.services import SERVICES
from devstack.supervisor import Stack
from devstack.testing import eventually
from kernel.kafkameta import topic_partitions

pytestmark = pytest.mark.integration

TOPIC = events_topic("accounts")


@pytest.fixture
def stack(data_dir: Path) -> Iterator[Stack]:
    pg_port, kafka_port, service_ports = stack_ports(SERVICES)
    runner = Stack(data_dir, pg_port=pg_port, kafka_port=kafka_port,
                   service_ports=service_ports, log_dir=data_dir / "logs")
    try:
        runner.start_infra()
        runner.start_services()
        runner.wait_ready(float(os.environ.get("DEVSTACK_READY_TIMEOUT", "240")))
        yield runner
    finally:
        runner.stop()


def _sign_up(stack: Stack) -> str:
    u = uuid.uuid4().hex[:12]
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        terms = client.get("/v1/terms").json()["version"]
        resp = client.post("/v1/accounts", json={
            "email": f"r{u}@example.nl", "password": f"pw-{u}-Secret!", "name": f"Name {u}",
            "username": f"user{u}", "phone": "+31612345678",
            "address": {"street": f"Street {u} 1", "postcode": "1234 AB", "city": "Utrecht"},
            "accept_terms_version": terms})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["account_id"])


async def _on_kafka(bootstrap: str) -> list[tuple[bytes | None, int]]:
    """(key, version) of every record of the accounts events topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = [TopicPartition(TOPIC, p)
                 for p in (await topic_partitions(consumer)).get(TOPIC, ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[tuple[bytes | None, int]] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            out += [(r.key, r.offset) for records in batch.values() for r in records]
        return out
    finally:
        await consumer.stop()


async def _in_store(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM accounts.events"))
    finally:
        await conn.close()


def _counts(stack: Stack) -> tuple[int, int]:
    """(records on the accounts topic, events in the accounts store)."""
    return (len(run_sync(_on_kafka(stack.kafka_bootstrap))),
            run_sync(_in_store(stack.postgres.dsn("marketplace"))))


def _heal_until_ready(stack: Stack, healer: Healer, timeout: float = 120.0) -> float:
    began = time.monotonic()
    deadline = began + timeout
    while not stack.broker.alive() and time.monotonic() < deadline:
        healer.tick()
        time.sleep(0.2)
    assert stack.broker.alive(), "the healer did not restart the broker"
    stack.wait_ready(deadline - time.monotonic(), heal=healer.tick)
    return time.monotonic() - began


def _kill_broker(stack: Stack) -> None:
    assert stack.broker.pid is not None
    os.kill(stack.broker.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while stack.broker.alive() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_kill_9_republishes_nothing_and_a_wiped_broker_is_refilled(stack: Stack) -> None:
    healer = stack.healer()
    _sign_up(stack)

    def in_sync() -> tuple[int, int]:
        on_kafka, stored = _counts(stack)
        assert on_kafka == stored, (on_kafka, stored)
        return on_kafka, stored

    eventually(in_sync, timeout=30)
    cluster = stack.broker.cluster_id()

    # kill -9: the log is recovered, nothing is published twice, writes flow again
    _kill_broker(stack)
    recovered = _heal_until_ready(stack, healer)
    _sign_up(stack)
    eventually(in_sync, timeout=60)
    assert stack.broker.cluster_id() == cluster
    assert healer.restarts["broker"] == 1

    # the data directory wiped: a new cluster, refilled from the event stores
    _kill_broker(stack)
    shutil.rmtree(stack.broker.data)
    refilled = _heal_until_ready(stack, healer)
    assert stack.broker.cluster_id() not in (None, cluster)
    account = _sign_up(stack)
    on_kafka, _ = eventually(in_sync, timeout=90)
    keys = {key for key, _ in run_sync(_on_kafka(stack.kafka_bootstrap))}
    assert account.encode() in keys
    print(f"broker kill -9 -> ready in {recovered:.1f} s; wiped -> ready in "
          f"{refilled:.1f} s, {on_kafka} accounts events back on Kafka")
