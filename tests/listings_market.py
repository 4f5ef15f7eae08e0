"""Helpers of the listings tests: a market of in-process accounts and listings behind the gateway.

Against the session's real PostgreSQL and broker: the listings service learns account
kinds and details from the accounts events on Kafka, as in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaProducer

from contracts.privacy import SubjectKeyShredded
from contracts.topics import events_topic
from devstack.testing import signature
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import InMemoryKeyStore
from kernel.service import ServiceHost

T = TypeVar("T")


@dataclass
class Member:
    """A signed-up account with its session and the values it signed up with."""

    account_id: str
    kind: str
    body: dict[str, Any]
    auth: dict[str, str] = field(default_factory=dict)


@dataclass
class Market:
    """The gateway client and the hosts behind it."""

    client: httpx.AsyncClient
    accounts: ServiceHost
    listings: ServiceHost
    kafka_bootstrap: str

    async def sign_up(self, kind: str = "member", phone: str | None = "+31612345678"
                      ) -> Member:
        """Sign up and log in; returns once the listings service knows the account."""
        tag = uuid.uuid4().hex[:10]
        body: dict[str, Any] = {
            "kind": kind, "email": f"m{tag}@example.org", "password": "correct horse battery",
            "name": f"Name {tag}", "username": f"u_{tag}", "accept_terms_version": "2026-01",
        }
        if phone:
            body["phone"] = phone
        resp = await self.client.post("/v1/accounts", json=body)
        assert resp.status_code == 201, resp.text
        member = Member(resp.json()["account_id"], kind, body)
        resp = await self.client.post("/v1/sessions", json={
            "email": body["email"], "password": body["password"], "remember_me": True})
        assert resp.status_code == 201, resp.text
        member.auth = {"Authorization": f"Bearer {resp.json()['token']}"}
        rt = self.listings.runtime
        assert rt is not None

        async def known() -> bool:
            return bool(await rt.pool.fetchval(
                "SELECT 1 FROM listings.accounts WHERE account_id = $1", member.account_id))

        await eventually(known, what="the account to reach the listings service")
        return member

    async def post(self, member: Member, **overrides: Any) -> str:
        """Post a listing (published unless told otherwise); returns its id."""
        body: dict[str, Any] = {
            "kind": "vacancy" if member.kind == "employer" else "ad",
            "title": "Listing", "description": "Text", "location": {"city": "Utrecht"},
        }
        body.update(overrides)
        resp = await self.client.post("/v1/listings", json=body, headers=member.auth)
        assert resp.status_code == 201, resp.text
        listing_id: str = resp.json()["listing_id"]
        return listing_id

    async def search(self, auth: dict[str, str] | None = None, **params: Any) -> list[str]:
        """The ids a search finds (first page)."""
        resp = await self.client.get("/v1/listings", params=params, headers=auth or {})
        assert resp.status_code == 200, resp.text
        return [item["listing_id"] for item in resp.json()["items"]]

    async def erase(self, subject_id: str) -> None:
        """Erase a subject as retention does: destroy the key, publish the order."""
        await erase_as_retention(self.listings, "listings", subject_id, self.kafka_bootstrap)


async def erase_as_retention(host: ServiceHost, service: str, subject_id: str,
                             kafka_bootstrap: str) -> None:
    """Erase a subject as retention does: destroy every key of the subject, publish the order
    to ``service``, and wait for that service's receipt in its event store."""
    rt = host.runtime
    assert rt is not None
    await rt.keys.destroy(subject_id)
    request_id = f"req-{uuid.uuid4()}"
    order = SubjectKeyShredded(request_id=request_id, subject_id=subject_id,
                               services=[service])
    store = EventStore("retention", InMemoryKeyStore())
    [rec] = await store.encode(f"privacy-request-{request_id}", StreamHead(),
                               [NewEvent(order, subject_id)], correlation_id=uuid.uuid4())
    value = dataclasses.replace(rec, position=1).envelope_bytes("retention")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        topic, key = events_topic("retention"), subject_id.encode()
        await producer.send_and_wait(topic, value, key=key,
                                     headers=[signature("retention", topic, key, value)])
    finally:
        await producer.stop()

    async def receipt() -> bool:
        return bool(await rt.pool.fetchval(
            f"SELECT 1 FROM {service}.events WHERE stream_id = $1",
            f"erasure-receipt-{request_id}"))

    await eventually(receipt, what="the erasure receipt")


async def eventually(probe: Callable[[], Awaitable[T]], within: float = 30.0,
                     what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if result := await probe():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


