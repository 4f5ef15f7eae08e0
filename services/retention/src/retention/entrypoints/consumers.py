"""The retention service's consumers: thin adapters from Kafka batches to handlers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from contracts.accounts import AccountClosed, IdleAccountErasureDue
from contracts.consent import PrivacyRequestCarriedOut
from contracts.listings import DataDisclosed
from contracts.messaging import DisputeClosed, DisputeOpened
from contracts.privacy import (
    CategoryRetentionReceipt,
    ErasureReceiptIssued,
    SubjectDataExported,
)
from contracts.staff import StaffRoleGranted, StaffRoleRevoked
from contracts.topics import SERVICES, events_topic
from kernel.consumer import Delivered, Handler
from kernel.erasure import erasure_consumer
from kernel.service import ConsumerSpec, Runtime
from retention.adapters import lifecycle
from retention.service_layer import exports, handlers, holds, sharing

ALL_EVENT_TOPICS = [events_topic(s) for s in SERVICES]


def _subjects(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        await handlers.project_subjects(conn, rt.extra["subjects"], batch)

    return handle


def _receipts(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        items = [
            (d.event, d.envelope.occurred_at, d.envelope.event_id)
            for d in batch if isinstance(d.event, ErasureReceiptIssued)
        ]
        await handlers.record_receipts(conn, rt.extra["requests"], items, datetime.now(UTC),
                                       rt.extra["proof_key"])

    return handle


def _part(d: Delivered) -> exports.Part:
    """One chunk of a service's export part, still sealed, as it was published."""
    p, env = d.envelope.payload, d.envelope
    return exports.Part(p["request_id"], p["subject_id"], p["service"], env.event_id,
                        p["content"], env.occurred_at, env.producer, p.get("chunk", 0),
                        p.get("chunks", 1))


def _export_parts(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        parts = [_part(d) for d in batch
                 if d.envelope.event_type == SubjectDataExported.event_type]
        keep_for = timedelta(days=rt.settings.export_days)  # type: ignore[attr-defined]
        await exports.record_parts(conn, rt.extra["requests"], parts, datetime.now(UTC),
                                   keep_for)

    return handle


def _disputes(rt: Runtime) -> Handler:
    """An open dispute is a legal hold on its account until it closes (SEC-3, RET-4)."""

    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        for d in batch:
            ev, now = d.event, datetime.now(UTC)
            if isinstance(ev, DisputeOpened):
                await holds.place_hold(
                    conn, rt.store, ev.account_id, None, "open dispute",
                    f"dispute reported by {ev.source}", ev.reference or ev.dispute_id,
                    "dispute", now, hold_id=f"dispute-{ev.dispute_id}")
            elif isinstance(ev, DisputeClosed):
                await holds.release_hold(conn, rt.store, rt.extra["requests"], rt.keys,
                                         f"dispute-{ev.dispute_id}", "dispute", now)

    return handle


def _carried_out(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        for d in batch:
            ev = d.event
            assert isinstance(ev, PrivacyRequestCarriedOut)
            await handlers.record_carried_out(conn, rt.extra["requests"], ev.request_id,
                                              ev.type, datetime.now(UTC))

    return handle


def _staff_roles(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        roles = rt.extra["staff"]
        for d in batch:
            ev = d.event
            if isinstance(ev, StaffRoleGranted):
                await roles.granted(conn, ev.account_id, ev.role)
            elif isinstance(ev, StaffRoleRevoked):
                await roles.revoked(conn, ev.account_id, ev.role)

    return handle


async def _erase(rt: Runtime, conn: asyncpg.Connection, subject_id: str) -> tuple[bool, str]:
    return await handlers.erase_subject(conn, rt.extra["subjects"], subject_id)


def _idle(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        grace = timedelta(seconds=rt.settings.erasure_grace_seconds)  # type: ignore[attr-defined]
        for item in batch:
            assert isinstance(item.event, IdleAccountErasureDue)
            await handlers.erase_idle_account(conn, rt.extra["requests"], rt.keys,
                                              item.event.account_id, datetime.now(UTC), grace)

    return handle


def _disclosures(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        await sharing.record_listings_disclosures(conn, batch)

    return handle


def _category_receipts(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        await lifecycle.record_receipts(conn, [
            (d.event, d.envelope.occurred_at) for d in batch
            if isinstance(d.event, CategoryRetentionReceipt)])

    return handle


def _closures(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        await lifecycle.closed(conn, [(d.envelope.payload["account_id"], d.envelope.occurred_at)
                                      for d in batch
                                      if d.envelope.event_type == AccountClosed.event_type])

    return handle


def consumer_specs() -> list[ConsumerSpec]:
    """Every consumer group of the service."""
    return [
        ConsumerSpec("subjects", ALL_EVENT_TOPICS, _subjects),
        ConsumerSpec("receipts", ALL_EVENT_TOPICS, _receipts,
                     event_types=[ErasureReceiptIssued.event_type]),
        ConsumerSpec("export-parts", ALL_EVENT_TOPICS, _export_parts,
                     event_types=[SubjectDataExported.event_type]),
        ConsumerSpec("disputes", [events_topic("messaging")], _disputes,
                     event_types=[DisputeOpened.event_type, DisputeClosed.event_type]),
        ConsumerSpec("carried-out", [events_topic("consent")], _carried_out,
                     event_types=[PrivacyRequestCarriedOut.event_type]),
        ConsumerSpec("staff-roles", [events_topic("accounts")], _staff_roles,
                     event_types=[StaffRoleGranted.event_type, StaffRoleRevoked.event_type]),
        ConsumerSpec("disclosures", [events_topic("listings")], _disclosures,
                     event_types=[DataDisclosed.event_type]),
        ConsumerSpec("idle-accounts", [events_topic("accounts")], _idle,
                     event_types=[IdleAccountErasureDue.event_type]),
        ConsumerSpec("closures", [events_topic("accounts")], _closures,
                     event_types=[AccountClosed.event_type]),
        ConsumerSpec("category-receipts", ALL_EVENT_TOPICS, _category_receipts,
                     event_types=[CategoryRetentionReceipt.event_type]),
        erasure_consumer(_erase),
    ]
