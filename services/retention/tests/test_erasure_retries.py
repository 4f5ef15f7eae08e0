"""Erasure retries against PostgreSQL and the broker (PRV-5): ask again, then escalate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.privacy import ErasureEscalated, SubjectKeyShredded
from kernel.codec import decode_event
from retention.adapters.requests import stream_id
from retention.domain.requests import PrivacyRequest
from retention.service_layer.retries import retry_erasures

from .conftest import Running

pytestmark = pytest.mark.integration


async def test_prv5_services_without_a_receipt_are_asked_again_then_the_dpo_is_told(
    retention: Running,
) -> None:
    # Services that never answer: a session's running platform gives real receipts at once.
    ghosts = ("ghost-accounts", "ghost-listings")
    subject, request_id = str(uuid.uuid4()), str(uuid.uuid4())
    rt = retention.host.runtime
    assert rt is not None
    repo = rt.extra["requests"]
    now = datetime.now(UTC)
    async with rt.pool.acquire() as conn, conn.transaction():
        await repo.save(conn, PrivacyRequest.receive(request_id, subject, "erasure", "app", True,
                                                     now, ghosts))
    later = now + timedelta(hours=1)

    assert await retry_erasures(rt.pool, repo, later, timedelta(seconds=1), 2) >= 1
    async with rt.pool.acquire() as conn:
        req = await repo.get(conn, request_id)
    assert req is not None and req.orders == 2 and not req.escalated
    assert await retry_erasures(rt.pool, repo, later + timedelta(hours=1),
                                timedelta(seconds=1), 2) >= 1

    async with rt.pool.acquire() as conn:
        req = await repo.get(conn, request_id)
        recs = await rt.store.read_stream(conn, stream_id(request_id))
        row = await repo.row(conn, request_id)
    events = [decode_event(r.event_type, r.schema_version, r.payload, r.event_id, None)
              for r in recs]
    orders = [e for e in events if isinstance(e, SubjectKeyShredded)]
    [escalation] = [e for e in events if isinstance(e, ErasureEscalated)]
    assert req is not None and len(orders) == 3
    assert orders[-1].services == req.missing() == list(ghosts)
    assert escalation.attempts == 2 and escalation.services == list(ghosts)
    assert row is not None and list(row["escalated"]) == escalation.services
    assert req.expected_services == tuple(orders[0].services)

    # The DPO sees it among the open requests.
    dpo = str(uuid.uuid4())
    async with rt.pool.acquire() as conn:
        await rt.extra["staff"].granted(conn, dpo, "dpo")
    listed = await retention.client.get("/internal/staff/privacy-requests",
                                        params={"limit": 1000}, headers={"X-Account-Id": dpo})
    [item] = [i for i in listed.json()["items"] if i["request_id"] == request_id]
    assert item["escalated"] == escalation.services and item["status"] == "in_progress"
