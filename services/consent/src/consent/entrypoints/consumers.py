"""The consent service's consumer groups: thin, each translating events to handler calls."""

from __future__ import annotations

import asyncpg

from consent.service_layer import handlers
from consent.service_layer.context import Context
from consent.service_layer.erasure import erase_subject
from contracts.privacy import PrivacyRequestReceived
from contracts.staff import StaffRoleGranted, StaffRoleRevoked
from contracts.topics import events_topic
from kernel.consumer import Delivered, Handler
from kernel.erasure import erasure_consumer
from kernel.service import ConsumerSpec, Runtime


def staff_roles_consumer() -> ConsumerSpec:
    """Keeps ``consent.staff_roles`` current from the accounts service's role events."""

    def build(rt: Runtime) -> Handler:
        async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
            for item in batch:
                ev = item.event
                if isinstance(ev, StaffRoleGranted):
                    await conn.execute(
                        "INSERT INTO consent.staff_roles VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        ev.account_id, ev.role)
                elif isinstance(ev, StaffRoleRevoked):
                    await conn.execute(
                        "DELETE FROM consent.staff_roles WHERE account_id = $1 AND role = $2",
                        ev.account_id, ev.role)

        return handle

    return ConsumerSpec(
        name="staff-roles", topics=[events_topic("accounts")], handler=build,
        event_types=[StaffRoleGranted.event_type, StaffRoleRevoked.event_type],
    )


def privacy_requests_consumer() -> ConsumerSpec:
    """Carries out verified restriction and objection requests (PRV-4, PRV-6)."""

    def build(rt: Runtime) -> Handler:
        async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
            ctx: Context = rt.extra["ctx"]
            for item in batch:
                ev = item.event
                assert isinstance(ev, PrivacyRequestReceived)
                if not ev.identity_verified:
                    continue
                if ev.type in ("restriction", "objection"):
                    await handlers.carry_out_request(ev.subject_id, ev.request_id, ev.type, ctx)

        return handle

    return ConsumerSpec(
        name="privacy-requests", topics=[events_topic("retention")], handler=build,
        event_types=[PrivacyRequestReceived.event_type],
    )


def consumers() -> list[ConsumerSpec]:
    """Every consumer group: erasure (PRV-5), staff roles, restriction/objection requests."""
    return [erasure_consumer(erase_subject), staff_roles_consumer(),
            privacy_requests_consumer()]
