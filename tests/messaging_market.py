"""Helpers of the messaging tests: accounts, listings and messaging in-process behind the gateway.

Against the session's real PostgreSQL and broker: the messaging service learns accounts,
staff roles and listings from their events on Kafka, as in production. The scanner is a
test double standing behind the same ``Scanner`` protocol as the real engines (MSG-2):
words in the body pick its verdict, a ``phish:<domain>`` word names a blocked link domain.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from listings_market import Market, Member, erase_as_retention, eventually

from accounts import bootstrap as accounts_bootstrap
from accounts.settings import AccountsSettings
from contracts.envelope import Envelope
from contracts.topics import PARTITIONS, events_topic
from gateway.routes.listings import router as listings_router
from gateway.routes.members import router as members_router
from gateway.routes.messaging import router as messaging_router
from gateway.testing import InProcessUpstreams
from kernel.http import install_error_handlers
from kernel.service import ServiceHost
from listings import bootstrap as listings_bootstrap
from listings.config import ListingsSettings
from messaging import bootstrap
from messaging.config import MessagingSettings
from messaging.scanning.api import Attachment, Reason, Scanner, Verdict
from messaging.service_layer.context import Context


class WordScanner:
    """A scanner double: ``QUARANTINE`` quarantines, ``phish:<domain>`` blocks (MSG-2)."""

    def scan(self, body: str, attachments: Sequence[Attachment] = ()) -> Verdict:
        """The verdict on one message."""
        domains = tuple(w.split(":", 1)[1] for w in body.split() if w.startswith("phish:"))
        if domains:
            return Verdict("blocked", (Reason("phishing", "lookalike_domain", 0.97, domains),))
        if any(a.content.startswith(b"X5O!P%@AP") for a in attachments):
            return Verdict("blocked", (Reason("malware", "eicar"),))
        if "CRASH" in body:
            raise RuntimeError("the engine fell over")
        if "SCAM" in body:
            return Verdict("quarantined", (Reason("scam", "money_mule", 1.0),))
        if "QUARANTINE" in body:
            return Verdict("quarantined", (Reason("spam", "spam_score", 0.8),))
        return Verdict("delivered")


@dataclass
class Messaging:
    """The market with the messaging service behind the conversation routes."""

    market: Market
    messaging: ServiceHost

    @property
    def client(self) -> Any:
        """The gateway client."""
        return self.market.client

    @property
    def ctx(self) -> Context:
        """The messaging service's handler context (tests move its clock)."""
        rt = self.messaging.runtime
        assert rt is not None
        ctx: Context = rt.extra["ctx"]
        return ctx

    async def sign_up(self, kind: str = "member") -> Member:
        """Sign up; returns once the messaging service knows the account too."""
        member = await self.market.sign_up(kind)

        async def known() -> bool:
            return bool(await self.ctx.pool.fetchval(
                "SELECT 1 FROM messaging.accounts WHERE account_id = $1", member.account_id))

        await eventually(known, what="the account to reach the messaging service")
        return member

    async def listing(self, owner: Member) -> str:
        """A published listing of ``owner``, once the messaging service knows it."""
        listing_id = await self.market.post(owner)

        async def known() -> bool:
            return bool(await self.ctx.pool.fetchval(
                "SELECT published FROM messaging.listings WHERE listing_id = $1", listing_id))

        await eventually(known, what="the listing to reach the messaging service")
        return listing_id

    async def conversation(self, starter: Member, owner: Member, listing_id: str) -> str:
        """A conversation ``starter`` opened with ``owner`` about the listing."""
        resp = await self.client.post("/v1/conversations", headers=starter.auth, json={
            "listing_id": listing_id, "recipient_account_id": owner.account_id})
        assert resp.status_code == 201, resp.text
        cid: str = resp.json()["conversation_id"]
        return cid

    async def send(self, sender: Member, conversation_id: str, body: str,
                   attachments: list[dict[str, str]] | None = None) -> Any:
        """Post a message; the raw response."""
        payload: dict[str, Any] = {"body": body}
        if attachments:
            payload["attachments"] = attachments
        return await self.client.post(f"/v1/conversations/{conversation_id}/messages",
                                      headers=sender.auth, json=payload)

    async def read(self, reader: Member, conversation_id: str, **params: Any) -> Any:
        """``GET …/messages``; the raw response."""
        return await self.client.get(f"/v1/conversations/{conversation_id}/messages",
                                     headers=reader.auth, params=params)

    async def grant(self, member: Member, role: str) -> None:
        """Grant a staff role in accounts; returns once messaging knows it."""
        from accounts.domain.staff import Role
        from accounts.service_layer.staff import grant_role_by_email

        rt = self.market.accounts.runtime
        assert rt is not None
        await grant_role_by_email(member.body["email"], Role(role), rt.extra["ctx"])

        async def known() -> bool:
            return bool(await self.ctx.pool.fetchval(
                "SELECT 1 FROM messaging.staff_roles WHERE account_id = $1 AND role = $2",
                member.account_id, role))

        await eventually(known, what="the staff role to reach the messaging service")

    async def erase(self, subject_id: str) -> None:
        """Erase a subject as retention does: destroy every key, publish the order."""
        await erase_as_retention(self.messaging, "messaging", subject_id,
                                 self.market.kafka_bootstrap)

    async def topic(self, event_type: str | None = None) -> list[Envelope]:
        """Every record on ``messaging.events.v1`` so far (of one type, if named)."""
        topic = events_topic("messaging")
        consumer = AIOKafkaConsumer(bootstrap_servers=self.market.kafka_bootstrap,
                                    enable_auto_commit=False)
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
                        if event_type is None or env.event_type == event_type:
                            found.append(env)
            return found
        finally:
            await consumer.stop()

    async def published(self, event_type: str, probe: Any, what: str) -> Envelope:
        """The first record of ``event_type`` matching ``probe(payload)``, once on Kafka."""
        async def find() -> Envelope | None:
            for env in await self.topic(event_type):
                if probe(env.payload):
                    return env
            return None

        found: Envelope = await eventually(find, what=what)
        return found


@asynccontextmanager
async def running(kafka_bootstrap: str, settings: MessagingSettings, scanner: Scanner | None
                  ) -> AsyncIterator[Messaging]:
    """Accounts, listings and messaging in this process, behind the public routes.

    ``scanner=None`` is the composition root's own choice: the scanner engines.
    """
    # groups of their own: joining the session platform's groups would take partitions
    # from its running services
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    accounts_settings = AccountsSettings(  # type: ignore[call-arg]
        argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1)
    listings_settings = ListingsSettings()
    for s in (accounts_settings, listings_settings, settings):
        s.kafka.group_prefix = prefix
    accounts = accounts_bootstrap.build(accounts_settings)
    listings = listings_bootstrap.build(listings_settings)
    messaging = bootstrap.build(settings, scanner=scanner)
    async with (accounts.app.router.lifespan_context(accounts.app),
                listings.app.router.lifespan_context(listings.app),
                messaging.app.router.lifespan_context(messaging.app)):
        for host in (accounts, listings, messaging):
            await host.wait_ready(180)  # groups shared with the platform: slow under load
        app = FastAPI()
        install_error_handlers(app)
        for router in (members_router, listings_router, messaging_router):
            app.include_router(router)
        app.state.upstreams = InProcessUpstreams({
            "accounts": accounts.app, "listings": listings.app, "messaging": messaging.app})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://gateway") as client:
            yield Messaging(Market(client, accounts, listings, kafka_bootstrap), messaging)
        await app.state.upstreams.close()
