"""The listings service's consumer groups: thin adapters from Kafka batches to handlers."""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from contracts.envelope import Event
from contracts.topics import events_topic
from kernel.consumer import Delivered, Handler
from kernel.erasure import erasure_consumer
from kernel.service import ConsumerSpec, Runtime
from listings.adapters.accounts import EVENT_TYPES, AccountsProjection
from listings.service_layer.context import Context
from listings.service_layer.erasure import erase_subject


def _accounts(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        ctx: Context = rt.extra["ctx"]
        by_subject: dict[str, list[Event]] = defaultdict(list)
        for item in batch:
            if item.envelope.subject_id:
                by_subject[item.envelope.subject_id].append(item.event)
        await AccountsProjection(conn, ctx.sealer).apply(
            dict(by_subject), {s: ctx.pseudonym(s) for s in by_subject})

    return handle


def consumers() -> list[ConsumerSpec]:
    """Every consumer group: account kinds and details from accounts (LST-1, LST-4), erasure."""
    return [
        erasure_consumer(erase_subject),
        ConsumerSpec("accounts", [events_topic("accounts")], _accounts,
                     event_types=EVENT_TYPES, decrypt=True),
    ]
