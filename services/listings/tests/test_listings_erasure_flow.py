"""The listings service answers an erasure order with exactly one receipt (PRV-5, RET-5).

In-process against the session's PostgreSQL and broker: an order published on
``retention.events.v1`` must come back as one ``ErasureReceiptIssued`` on
``listings.events.v1``, however often the order is delivered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from uuid import UUID, uuid4

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.envelope import Envelope
from contracts.privacy import ErasureReceiptIssued, SubjectKeyShredded
from contracts.topics import PARTITIONS, events_topic
from devstack.pytest_plugin import Infra
from devstack.testing import signature
from kernel.codec import decode_event
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import InMemoryKeyStore
from kernel.service import ServiceHost
from listings import bootstrap
from listings.config import ListingsSettings
from listings.service_layer.erasure import NOTHING_HELD

pytestmark = pytest.mark.integration

RECEIPT = ErasureReceiptIssued.event_type
T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], within: float = 60.0, what: str = "condition",
) -> T:
    """Poll the async ``probe`` until it returns something truthy, for ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := await probe():
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def listings(infra: Infra) -> AsyncIterator[ServiceHost]:
    """The listings service in-process, once every part is ready."""
    host = bootstrap.build(ListingsSettings())
    async with host.app.router.lifespan_context(host.app):
        await host.wait_ready(90)
        yield host


@pytest.fixture
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer, standing in for retention's outbox relay."""
    prod = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await prod.start()
    try:
        yield prod
    finally:
        await prod.stop()


async def erasure_order(
    request_id: str, subject_id: str, services: list[str], after: Envelope | None = None,
) -> bytes:
    """The envelope retention publishes when it shredded a subject's key.

    ``after`` chains the order behind an earlier one of the same stream, as retention's own
    store would: the log stays a valid hash chain, so the auditors' verify stays clean.
    """
    store = EventStore("retention", InMemoryKeyStore())
    order = SubjectKeyShredded(request_id=request_id, subject_id=subject_id, services=services)
    head = StreamHead(after.version, bytes.fromhex(after.hash)) if after else StreamHead()
    [rec] = await store.encode(
        f"privacy-request-{request_id}", head, [NewEvent(order, subject_id)],
        correlation_id=uuid4(),
    )
    return dataclasses.replace(rec, position=head.version + 1).envelope_bytes("retention")


def signed(order: bytes, subject: str) -> list[tuple[str, bytes]]:
    """The headers retention's relay gives the order: its signature (``kernel.signing``)."""
    return [signature("retention", events_topic("retention"), subject.encode(), order)]


async def receipts_on_topic(bootstrap: str, request_id: str) -> list[Envelope]:
    """Every receipt for ``request_id`` on ``listings.events.v1``, read to its current end."""
    topic = events_topic("listings")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: list[Envelope] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    env = Envelope.model_validate_json(record.value or b"{}")
                    if env.event_type == RECEIPT and env.payload.get("request_id") == request_id:
                        found.append(env)
        return found
    finally:
        await consumer.stop()


async def processed(pool: asyncpg.Pool, event_id: UUID) -> bool:
    """Whether the erasure consumer has applied (or deduplicated) the event."""
    return bool(await pool.fetchval(
        "SELECT 1 FROM listings.processed_events WHERE consumer = 'erasure' AND event_id = $1",
        event_id,
    ))


async def test_prv5_listings_gives_one_receipt_for_an_erasure_however_often_it_is_delivered(
    infra: Infra, listings: ServiceHost, producer: AIOKafkaProducer,
) -> None:
    rt = listings.runtime
    assert rt is not None
    request_id, subject = f"req-{uuid4()}", f"subject-{uuid4()}"
    order = await erasure_order(request_id, subject, ["accounts", "listings"])
    order_id = Envelope.model_validate_json(order).event_id

    await producer.send_and_wait(events_topic("retention"), order, key=subject.encode(),
                                 headers=signed(order, subject))

    async def published() -> list[Envelope]:
        return await receipts_on_topic(infra.kafka_bootstrap, request_id)

    [envelope] = await eventually(published, what="the receipt on listings.events.v1")
    receipt = decode_event(envelope.event_type, envelope.schema_version, envelope.payload,
                           envelope.event_id, None)
    assert isinstance(receipt, ErasureReceiptIssued)
    assert (receipt.service, receipt.subject_id, receipt.status) == ("listings", subject,
                                                                     "completed")
    assert receipt.held_data is False
    assert receipt.detail == NOTHING_HELD
    assert envelope.producer == "listings"
    assert envelope.causation_id == order_id

    # The same record again (a redelivery), then a re-issued order for the same request
    # (a new event id). Same key, same partition: once the second is processed, so is the first.
    reissued = await erasure_order(request_id, subject, ["accounts", "listings"],
                                   after=Envelope.model_validate_json(order))
    await producer.send_and_wait(events_topic("retention"), order, key=subject.encode(),
                                 headers=signed(order, subject))
    await producer.send_and_wait(events_topic("retention"), reissued, key=subject.encode(),
                                 headers=signed(reissued, subject))
    reissued_id = Envelope.model_validate_json(reissued).event_id

    async def reissue_applied() -> bool:
        return await processed(rt.pool, reissued_id)

    await eventually(reissue_applied, what="the re-issued order to be processed")
    stored = await rt.pool.fetchval(
        "SELECT count(*) FROM listings.events WHERE event_type = $1 AND stream_id = $2",
        RECEIPT, f"erasure-receipt-{request_id}",
    )
    assert stored == 1
    await asyncio.sleep(1.0)  # give a wrongly appended receipt time to reach the topic
    assert {e.event_id for e in await published()} == {envelope.event_id}


async def test_prv5_listings_erases_but_gives_no_receipt_when_not_asked_for_one(
    infra: Infra, listings: ServiceHost, producer: AIOKafkaProducer,
) -> None:
    rt = listings.runtime
    assert rt is not None
    request_id, subject = f"req-{uuid4()}", f"subject-{uuid4()}"
    order = await erasure_order(request_id, subject, ["accounts"])
    await producer.send_and_wait(events_topic("retention"), order, key=subject.encode(),
                                 headers=signed(order, subject))
    order_id = Envelope.model_validate_json(order).event_id

    async def applied() -> bool:
        return await processed(rt.pool, order_id)

    await eventually(applied, what="the order to be processed")
    stored = await rt.pool.fetchval(
        "SELECT count(*) FROM listings.events WHERE stream_id = $1",
        f"erasure-receipt-{request_id}",
    )
    assert stored == 0
    assert orjson.loads(order)["position"] == 1
