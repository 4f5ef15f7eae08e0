"""DPOs known to the consent service from the accounts service's role events (CNS-5, SEC-2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from consent.entrypoints.consumers import staff_roles_consumer
from contracts.envelope import Envelope, Event
from contracts.staff import StaffRoleGranted, StaffRoleRevoked
from kernel.consumer import Delivered
from kernel.service import Runtime

pytestmark = pytest.mark.integration


def delivered(event: Event) -> Delivered:
    """An event as the consumer gets it."""
    env = Envelope(event_id=uuid4(), event_type=event.event_type, schema_version=1,
                   producer="accounts", stream_id="s", version=1, position=1,
                   occurred_at=datetime.now(UTC), subject_id=None, payload={},
                   prev_hash="00", hash="00")
    return Delivered(env, event=event)


async def test_cns_5_dpo_role_follows_grants_and_revocations(rt: Runtime, member: str) -> None:
    handle = staff_roles_consumer().handler(rt)

    async def roles() -> list[Any]:
        async with rt.pool.acquire() as conn:
            return [r["role"] for r in await conn.fetch(
                "SELECT role FROM consent.staff_roles WHERE account_id = $1", member)]

    async with rt.pool.acquire() as conn, conn.transaction():
        await handle(conn, [delivered(StaffRoleGranted(account_id=member, role="dpo",
                                                       granted_by=None))])
    assert await roles() == ["dpo"]
    async with rt.pool.acquire() as conn, conn.transaction():
        await handle(conn, [delivered(StaffRoleRevoked(account_id=member, role="dpo",
                                                       revoked_by=None))])
    assert await roles() == []
