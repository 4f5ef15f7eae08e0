"""Forged control events on the real broker change nothing and are dead-lettered (issue 26).

An attacker who can write to the broker publishes, for a signed-up member, each kind of
control event a consumer acts on: a staff role granted (the reported attack: ``dpo`` for
oneself), the member's key shredded, an export ordered, a consent withdrawn, a legal hold
placed. Each is sent unsigned, signed with another service's key under the owner's name,
signed by another service as itself on the owner's topic, and as another service's own
event of the owner's type on that service's topic. None may be applied by any service;
each must reach a dead-letter topic with a reason and without its value; the member is
still no staff and still reads their own account.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from members import Member, sign_up
from stack import Infra, Platform

from contracts.consent import ConsentDecisionRecorded
from contracts.envelope import Event
from contracts.privacy import LegalHoldPlaced, SubjectExportOrdered, SubjectKeyShredded
from contracts.staff import StaffRoleGranted
from contracts.topics import SERVICES, dead_letter_topic, events_topic
from devstack.testing import eventually
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.internal_auth import InternalAuthSettings
from kernel.kafkameta import topic_partitions
from kernel.keystore import InMemoryKeyStore
from kernel.signing import SIGNATURE_HEADER, EventSigner

pytestmark = pytest.mark.e2e


def control_events(member: str) -> list[Event]:
    """One of each kind of control event, aimed at ``member``."""
    rid = f"req-{uuid.uuid4()}"
    return [
        StaffRoleGranted(account_id=member, role="dpo", granted_by=None),
        SubjectKeyShredded(request_id=rid, subject_id=member, services=list(SERVICES)),
        SubjectExportOrdered(request_id=rid, subject_id=member, services=list(SERVICES)),
        ConsentDecisionRecorded(subject_id=member, purpose="marketing_email",
                                legal_basis="consent", statement_version=1,
                                action="withdrawn", channel="email", source="web"),
        LegalHoldPlaced(hold_id=str(uuid.uuid4()), subject_id=member, reason="forged",
                        authority="nobody", case_reference="X-1", placed_by="dispute"),
    ]


@dataclasses.dataclass
class Forged:
    """One forged record: where it goes, its bytes and headers, and how it was forged."""

    how: str
    event_type: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def digest(self) -> str:
        """What its dead letter names it by (``dlq.sha256``)."""
        return hashlib.sha256(self.value).hexdigest()


async def envelope(event: Event, producer: str, subject: str) -> tuple[bytes, str]:
    """The event's envelope exactly as ``producer``'s store would make it, and its id."""
    [rec] = await EventStore(producer, InMemoryKeyStore()).encode(
        f"forged-{uuid.uuid4()}", StreamHead(), [NewEvent(event, subject)])
    rec = dataclasses.replace(rec, position=1)
    return rec.envelope_bytes(producer), str(rec.event_id)


async def forgeries(member: str, root: bytes) -> tuple[list[Forged], list[str]]:
    """Every forged record for ``member``, and the event ids they carry."""
    out: list[Forged] = []
    ids: list[str] = []
    for event in control_events(member):
        await forge_all(event, member, root, out, ids)
    return out, ids


async def forge_all(event: Event, member: str, root: bytes, out: list[Forged],
                    ids: list[str]) -> None:
    """The four forgeries of ``event``, each a fresh event, appended to ``out``."""
    owner = event.producer
    other = "listings" if owner != "listings" else "messaging"
    key, head = member.encode(), [("event_type", event.event_type.encode())]

    async def forge(how: str, producer: str,
                    sign: Callable[[str, bytes], list[tuple[str, bytes]]]) -> None:
        value, eid = await envelope(event, producer, member)
        ids.append(eid)
        topic = events_topic(producer)
        out.append(Forged(how, event.event_type, topic, key, value,
                          [*head, *sign(topic, value)]))

    def foreign_mac(topic: str, value: bytes) -> list[tuple[str, bytes]]:
        # another service's key under the owner's name: the attack of a stolen key
        mac = EventSigner(root, other).sign(topic, key, value).rpartition(b";")[2]
        return [(SIGNATURE_HEADER, f"v1;{owner};".encode() + mac)]

    def by_other(topic: str, value: bytes) -> list[tuple[str, bytes]]:
        return [EventSigner(root, other).header(topic, key, value)]

    await forge("unsigned", owner, lambda _t, _v: [])
    await forge("wrong key", owner, foreign_mac)
    # another service signing as itself, on the owner's topic
    await forge("foreign signer", owner, by_other)
    # the owner's type as another service's own event, signed, on that service's topic
    await forge("foreign type", other, by_other)


async def dead_letters(bootstrap: str) -> dict[str, tuple[str, bool]]:
    """Every dead letter on every service's dead-letter topic: value digest -> reason and
    whether the value was kept."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: dict[str, tuple[str, bool]] = {}
    try:
        known = await topic_partitions(consumer)
        parts = [TopicPartition(dead_letter_topic(s), p) for s in SERVICES
                 for p in known.get(dead_letter_topic(s), ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for r in records:
                    h = {k: bytes(v).decode(errors="replace") for k, v in r.headers}
                    found[h["dlq.sha256"]] = (h["dlq.reason"], r.value is not None)
    finally:
        await consumer.stop()
    return found


async def applied_anywhere(dsn: str, event_ids: list[str]) -> list[tuple[str, str]]:
    """``(service, consumer)`` of every consumer that applied one of ``event_ids``."""
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[tuple[str, str]] = []
        for s in SERVICES:
            rows += [(s, r["consumer"]) for r in await conn.fetch(
                f"SELECT consumer FROM {s}.processed_events "
                "WHERE event_id = ANY($1::uuid[])", event_ids)]
        return rows
    finally:
        await conn.close()


async def publish(bootstrap: str, records: list[Forged]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for f in records:
            await producer.send_and_wait(f.topic, f.value, key=f.key, headers=f.headers)
    finally:
        await producer.stop()


def test_forged_control_events_change_nothing_and_are_dead_lettered(
    client: httpx.Client, platform: Platform, infra: Infra,
) -> None:
    bootstrap, dsn = infra.kafka_bootstrap, infra.pg_dsn()
    root = InternalAuthSettings().key_bytes()  # the stack's, as every service derives it
    member: Member = sign_up(client, "forger")
    assert client.get("/v1/staff/privacy-requests", headers=member.auth).status_code == 403

    records, ids = asyncio.run(forgeries(member.account_id, root))
    asyncio.run(publish(bootstrap, records))

    def all_dead_lettered() -> dict[str, tuple[str, bool]]:
        found = asyncio.run(dead_letters(bootstrap))
        missing = [(f.how, f.event_type) for f in records if f.digest not in found]
        assert not missing, missing
        return found

    found = eventually(all_dead_lettered, timeout=60, interval=1.0)
    expected = {"unsigned": "forged: unsigned",
                "wrong key": "forged: signature does not check",
                "foreign signer": "forged: (listings|messaging) does not own topic",
                "foreign type": "forged: (listings|messaging) may not publish"}
    for f in records:
        reason, kept = found[f.digest]
        assert re.match(expected[f.how], reason), (f.how, f.event_type, reason)
        assert not kept  # a forger's bytes never reach a dead-letter topic
        assert member.account_id not in reason and member.email not in reason
    assert asyncio.run(applied_anywhere(dsn, ids)) == []
    # The reported attack, in effect: still no DPO, still the member's own account.
    for route in ("/v1/staff/privacy-requests", "/v1/staff/legal-holds"):
        assert client.get(route, headers=member.auth).status_code == 403
    me = client.get("/v1/me", headers=member.auth)
    assert me.status_code == 200 and me.json()["email"] == member.email
