"""The contact guard over the service's own projection, and outbound messages through it.

CNS-7 (guard, refusals logged), PRV-6 (restriction), CNS-4 (link in marketing), PRV-5
(erasure of projections, outbox and mail catcher; the ledger reads "erased").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from consent.service_layer.context import Context
from contracts.personal import personal_fields
from contracts.privacy import SubjectKeyShredded
from contracts.topics import events_topic
from devstack.testing import signature
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.guard import guard_of
from kernel.outbound import MailCatcher, OutboundSettings, queue_message
from kernel.service import Runtime

pytestmark = pytest.mark.integration


async def _verdict(rt: Runtime, member: str, purpose: str, channel: str | None) -> Any:
    return await guard_of(rt).allows(member, purpose, channel)


async def _task(rt: Runtime, task_id: Any) -> tuple[str, str | None]:
    async with rt.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, reason FROM consent.comm_outbox "
                                  "WHERE task_id = $1", task_id)
    return row["status"], row["reason"]


def _catcher() -> MailCatcher:
    """The mail catcher the running service sends through (under the stack's data dir)."""
    return MailCatcher(OutboundSettings().mail_dir)


async def test_cns_7_guard_follows_the_ledger_and_each_refusal_is_an_event(
    client: httpx.AsyncClient, h: dict[str, str], rt: Runtime, eventually: Any,
) -> None:
    member = h["X-Account-Id"]
    assert (await _verdict(rt, member, "marketing_email", "email")).reason == "not_granted"
    await client.put("/internal/consents/marketing_email", json={"granted": True}, headers=h)
    await eventually(lambda: _verdict(rt, member, "marketing_email", "email"))
    assert (await _verdict(rt, member, "marketing_email", "sms")).reason == "channel_not_covered"
    await client.put("/internal/consents/marketing_email", json={"granted": False}, headers=h)

    async def refused() -> bool:
        return (await _verdict(rt, member, "marketing_email", "email")).reason == "not_granted"

    await eventually(refused)
    await client.put("/internal/preferences", headers=h,
                     json={"channels": {"email": {"newsletters": False}}})
    await client.put("/internal/consents/newsletter", json={"granted": True}, headers=h)

    async def muted() -> bool:
        return (await _verdict(rt, member, "newsletter", "email")).reason == "preference_off"

    await eventually(muted)
    assert await _verdict(rt, member, "newsletter", "push")
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT payload FROM consent.events WHERE event_type = 'guard.ContactRefused' "
            "AND subject_id = $1", member)
    payloads = [json.loads(r["payload"]) for r in rows]
    assert payloads and all(set(p) == {"subject_id", "purpose", "channel", "reason"}
                            for p in payloads)
    assert {"subject_id": member, "purpose": "marketing_email", "channel": "email",
            "reason": "not_granted"} in payloads


async def test_prv_6_restricted_member_gets_no_marketing_and_no_personalisation(
    client: httpx.AsyncClient, h: dict[str, str], rt: Runtime, eventually: Any,
) -> None:
    member = h["X-Account-Id"]
    await client.put("/internal/consents/marketing_email", json={"granted": True}, headers=h)
    await eventually(lambda: _verdict(rt, member, "marketing_email", "email"))
    assert await _verdict(rt, member, "onsite_personalisation", None)
    resp = await client.put("/internal/restriction", json={"restricted": True}, headers=h)
    assert resp.json() == {"restricted": True}

    async def restricted() -> bool:
        return (await _verdict(rt, member, "onsite_personalisation", None)).reason == "restricted"

    await eventually(restricted)
    for purpose, channel in (("marketing_email", "email"), ("coupons_and_surveys", "email"),
                             ("campaign_measurement", None), ("exact_geolocation", None)):
        assert not await _verdict(rt, member, purpose, channel), purpose
    assert await _verdict(rt, member, "service_messages", "email")  # data kept, service goes on
    view = (await client.get("/internal/consents", headers=h)).json()
    assert view["restricted"] is True
    await client.put("/internal/restriction", json={"restricted": False}, headers=h)
    await eventually(lambda: _verdict(rt, member, "onsite_personalisation", None))


async def test_cns_7_marketing_queued_before_a_withdrawal_is_not_sent_after_it(
    client: httpx.AsyncClient, h: dict[str, str], rt: Runtime, eventually: Any,
) -> None:
    member = h["X-Account-Id"]
    catcher = _catcher()
    await client.put("/internal/consents/marketing_email", json={"granted": True}, headers=h)
    await eventually(lambda: _verdict(rt, member, "marketing_email", "email"))
    later = datetime.now(UTC) + timedelta(hours=1)
    async with rt.pool.acquire() as conn, conn.transaction():
        first = await queue_message(conn, rt.name, rt.keys, member, "marketing_email", "email",
                                    "m@example.test", "Offer 1", "Sent while granted")
        campaign = await queue_message(conn, rt.name, rt.keys, member, "marketing_email",
                                       "email", "m@example.test", "Offer 2", "Scheduled",
                                       send_after=later)
    # Sent while consent holds, with its one-click unsubscribe link (CNS-4).
    assert await eventually(lambda: _sent(rt, first)) == ("sent", None)
    assert "/v1/unsubscribe/" in (catcher.path_of(member) / f"{first}.email.txt").read_text()

    await client.put("/internal/consents/marketing_email", json={"granted": False}, headers=h)

    async def refused() -> bool:
        return not await _verdict(rt, member, "marketing_email", "email")

    await eventually(refused)
    async with rt.pool.acquire() as conn:  # the campaign's hour has come
        await conn.execute("UPDATE consent.comm_outbox SET send_after = now() "
                           "WHERE task_id = $1", campaign)
    assert await eventually(lambda: _sent(rt, campaign)) == ("refused", "not_granted")
    assert not (catcher.path_of(member) / f"{campaign}.email.txt").exists()


async def _sent(rt: Runtime, task_id: Any) -> tuple[str, str | None] | None:
    """The task's outcome once the service's dispatcher handled it."""
    status = await _task(rt, task_id)
    return None if status[0] == "queued" else status


async def test_cns_7_transactional_messages_need_no_marketing_consent(
    h: dict[str, str], rt: Runtime, eventually: Any,
) -> None:
    member = h["X-Account-Id"]
    async with rt.pool.acquire() as conn, conn.transaction():
        task = await queue_message(conn, rt.name, rt.keys, member, "service_messages", "email",
                                   "m@example.test", "Password changed", "Your password changed")
    assert await eventually(lambda: _sent(rt, task)) == ("sent", None)
    text = (_catcher().path_of(member) / f"{task}.email.txt").read_text()
    assert "Your password changed" in text and "unsubscribe" not in text


async def _shred(infra: Any, rt: Runtime, member: str) -> None:
    """What retention does to erase a subject: destroy the key, publish the order."""
    await rt.keys.destroy(member)
    order = SubjectKeyShredded(request_id=str(uuid4()), subject_id=member,
                               services=["consent"])
    store = EventStore("retention", rt.keys)
    async with rt.pool.acquire() as conn:  # stored as retention stores it, so audits agree
        await store.migrate(conn)
        async with conn.transaction():
            [rec] = await store.append(conn, f"erasure-{uuid4()}", StreamHead(),
                                       [NewEvent(order, member)])
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        topic, value = events_topic("retention"), rec.envelope_bytes("retention")
        await producer.send_and_wait(topic, value, key=member.encode(), headers=[
            signature("retention", topic, member.encode(), value)])
    finally:
        await producer.stop()


async def test_prv_5_erasure_removes_guard_rows_outbox_and_mail_copies_and_the_ledger_reads_erased(
    client: httpx.AsyncClient, h: dict[str, str], rt: Runtime, ctx: Context, infra: Any,
    eventually: Any,
) -> None:
    member = h["X-Account-Id"]
    catcher = _catcher()
    await client.put("/internal/consents/marketing_email", json={"granted": True}, headers=h)
    await client.put("/internal/preferences", headers=h,
                     json={"channels": {"sms": {"newsletters": False}}})
    await client.put("/internal/restriction", json={"restricted": True}, headers=h)
    async with rt.pool.acquire() as conn, conn.transaction():
        task = await queue_message(conn, rt.name, rt.keys, member, "service_messages", "email",
                                   "m@example.test", "Welcome", "Welcome")
    await eventually(lambda: _sent(rt, task))
    assert catcher.path_of(member).is_dir()

    async def rows() -> int:
        async with rt.pool.acquire() as conn:
            return int(await conn.fetchval(
                "SELECT (SELECT count(*) FROM consent.guard_consents WHERE subject_id = $1)"
                " + (SELECT count(*) FROM consent.guard_muted WHERE subject_id = $1)"
                " + (SELECT count(*) FROM consent.guard_restricted WHERE subject_id = $1)"
                " + (SELECT count(*) FROM consent.comm_outbox WHERE subject_id = $1)", member))

    await eventually(lambda: _at_least(rows, 4))
    await _shred(infra, rt, member)

    async def gone() -> bool:
        return await rows() == 0 and not catcher.path_of(member).exists()

    await eventually(gone)
    async with ctx.reading() as repo:
        ledger, _ = await repo.load(member)
    assert ledger.entries
    for entry in ledger.entries:
        for name in personal_fields(type(entry.event)):
            value = getattr(entry.event, name)
            assert value in ("erased", None), (entry.event.event_type, name)
    assert any(getattr(e.event, "action", None) == "erased" for e in ledger.entries)


async def _at_least(count: Any, n: int) -> bool:
    return bool(await count() >= n)
