"""Fixtures of the retention tests: the service in-process against the session's infra."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import Event
from devstack.testing import signature
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.internal_auth import SignedCalls
from kernel.keystore import KeyStore
from kernel.service import ServiceHost
from retention import bootstrap

_positions = iter(range(1, 10**9))


@dataclasses.dataclass
class Running:
    """The retention service running in this process."""

    host: ServiceHost
    client: httpx.AsyncClient
    producer: AIOKafkaProducer

    @property
    def keys(self) -> KeyStore:
        """The service's key store."""
        assert self.host.runtime is not None
        return self.host.runtime.keys

    async def publish(self, service: str, subject_id: str | None, events: Sequence[Event],
                      stream_id: str | None = None, send: bool = True) -> list[bytes]:
        """Publish ``events`` as ``service`` would (personal fields encrypted); returns values.

        With ``send=False`` the envelopes are only made, to be sent later with :meth:`send`.
        """
        store = EventStore(service, self.keys)
        stream = stream_id or f"test-{uuid.uuid4()}"
        recs = await store.encode(stream, StreamHead(),
                                  [NewEvent(e, subject_id, occurred_at=datetime.now(UTC))
                                   for e in events])
        values = []
        for rec in recs:
            rec = dataclasses.replace(rec, position=next(_positions))
            value = rec.envelope_bytes(service)
            values.append(value)
        if send:
            await self.send(service, subject_id or stream, values)
        return values

    async def send(self, service: str, key: str, values: Sequence[bytes]) -> None:
        """Send ready envelopes to the service's events topic, signed as the service's."""
        topic = f"{service}.events.v1"
        for value in values:
            await self.producer.send(topic, value=value, key=key.encode(),
                                     headers=[signature(service, topic, key.encode(), value)])
        await self.producer.flush()


@pytest.fixture(scope="session")
async def retention(infra: Any) -> AsyncIterator[Running]:
    """The retention service in-process (its lifespan entered), ready, with a producer."""
    host = bootstrap.build()
    async with host.app.router.lifespan_context(host.app):
        await host.wait_ready(90)
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app),
                                         base_url="http://svc",
                                         auth=SignedCalls("retention")) as client:
                yield Running(host, client, producer)
        finally:
            await producer.stop()
