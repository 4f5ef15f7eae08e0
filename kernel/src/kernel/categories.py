"""Every service's reaction to a category's end of retention (RET-2, RET-6, RET-7).

Retention's schedule decides when one data category of one subject has reached the end
of its period (``CategoryRetentionEnded``). Each service then removes that category's
values recorded before the order's instant from its own projections, or replaces them by
keyed-HMAC pseudonyms, in the same transaction as its receipt, and drops the subject's
cached keys. A service names, per category, the function that does this. A category its
own events carry but it names no function for is answered as held, saying its values stay
encrypted in the event store until the subject's erasure (only categories sealed under
category-scoped keys, such as message bodies, end there by key expiry).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import asyncpg

from contracts.envelope import Event
from contracts.personal import personal_fields
from contracts.privacy import CategoryRetentionEnded, CategoryRetentionReceipt
from contracts.topics import events_topic
from kernel.answers import answer_once
from kernel.consumer import Delivered, Handler
from kernel.logs import get_logger
from kernel.service import ConsumerSpec, Runtime

log = get_logger(__name__)

CategoryEnder = Callable[[Runtime, asyncpg.Connection, str, str, datetime],
                         Awaitable[tuple[bool, str]]]
"""Ends one category of a subject in a service's projections.

Called as ``(runtime, connection, subject_id, action, recorded_before)`` with ``action``
``erase`` or ``pseudonymise``; returns (held data?, detail without personal data).
"""

NOTHING_HERE = "no data of this category in this service"
KEPT_IN_EVENTS = ("no projection of this category here; its values stay encrypted in this "
                  "service's event store under the subject's key until the subject is erased")
"""An honest receipt where the service's events hold the category but it has no ender."""


def produced_categories(service: str) -> frozenset[str]:
    """The data categories this service's own events carry (from the contracts it loaded:
    its own events are, by the time an order comes)."""
    return frozenset(
        p.category.value for cls in Event.registry.values() if cls.producer == service
        for p in personal_fields(cls).values())


def rows_changed(status: str) -> int:
    """The row count of an ``UPDATE``/``DELETE`` command status."""
    return int(status.split()[-1])


def category_consumer(enders: Mapping[str, CategoryEnder]) -> ConsumerSpec:
    """The consumer that ends categories in this service and gives its receipts."""

    def build(rt: Runtime) -> Handler:
        async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
            for item in batch:
                order = item.event
                assert isinstance(order, CategoryRetentionEnded)
                rt.keys.forget(order.subject_id)  # no cached key outlives the period
                ender = enders.get(order.category)
                held, detail = False, NOTHING_HERE
                if ender is None and order.category in produced_categories(rt.name):
                    held, detail = True, KEPT_IN_EVENTS
                if ender is not None:
                    held, detail = await ender(rt, conn, order.subject_id, order.action,
                                               order.recorded_before)
                if rt.name not in order.services:
                    continue
                receipt = CategoryRetentionReceipt(
                    order_id=order.order_id, subject_id=order.subject_id,
                    category=order.category, service=rt.name, action=order.action,
                    held_data=held, detail=detail,
                )
                await answer_once(rt, conn, f"category-receipt-{order.order_id}", receipt,
                                  order.subject_id, item)
                log.info("retention.category_ended", order_id=order.order_id,
                         category=order.category, held_data=held)

        return handle

    return ConsumerSpec(
        name="category-retention", topics=[events_topic("retention")], handler=build,
        event_types=[CategoryRetentionEnded.event_type],
    )
