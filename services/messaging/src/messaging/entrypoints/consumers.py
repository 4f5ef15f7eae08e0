"""The messaging service's consumer groups: thin adapters from Kafka batches to projections."""

from __future__ import annotations

import asyncpg

from contracts.topics import events_topic
from kernel.consumer import Delivered, Handler
from kernel.erasure import erasure_consumer
from kernel.service import ConsumerSpec, Runtime
from messaging.adapters import directory
from messaging.service_layer.erasure import erase_subject


def _accounts(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        for item in batch:
            await directory.apply_account(conn, item.envelope.subject_id or "", item.event)

    return handle


def _listings(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        for item in batch:
            await directory.apply_listing(conn, item.envelope.subject_id, item.event)

    return handle


def consumers() -> list[ConsumerSpec]:
    """Every consumer group: erasure (PRV-5), accounts and staff roles, listings (MSG-1)."""
    return [
        erasure_consumer(erase_subject),
        ConsumerSpec("accounts", [events_topic("accounts")], _accounts,
                     event_types=directory.ACCOUNT_EVENTS + directory.STAFF_EVENTS,
                     decrypt=True),
        ConsumerSpec("listings", [events_topic("listings")], _listings,
                     event_types=directory.LISTING_EVENTS),
    ]
