"""Every service's reaction to an erasure: drop keys and projections, then give a receipt (PRV-5).

Retention destroys the subject's key first, so from that instant no service, topic or
backup can read the subject's personal data; this consumer then makes each service drop
its cached key and delete its plaintext projections, and records a receipt event that
retention collects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from contracts.privacy import ErasureReceiptIssued, SubjectKeyShredded
from contracts.topics import events_topic
from kernel.answers import answer_once
from kernel.consumer import Delivered, Handler
from kernel.guard import erase_guard_rows
from kernel.logs import get_logger
from kernel.outbound import erase_outbound
from kernel.service import ConsumerSpec, Runtime

log = get_logger(__name__)

Eraser = Callable[[Runtime, asyncpg.Connection, str], Awaitable[tuple[bool, str]]]
"""Deletes a subject's data from a service's projections: returns (held data?, detail)."""


def _erase_here(eraser: Eraser) -> Eraser:
    """Everything a service deletes of a subject: cached keys, projections, kernel rows."""

    async def erase(rt: Runtime, conn: asyncpg.Connection, subject_id: str) -> tuple[bool, str]:
        rt.keys.forget(subject_id)
        held, detail = await eraser(rt, conn, subject_id)
        guard_rows = await erase_guard_rows(conn, rt.name, subject_id)
        guard_rows |= await erase_outbound(conn, rt.name, subject_id)
        if guard_rows:
            rows = ", ".join(f"{n} row(s) from {t}" for t, n in sorted(guard_rows.items()))
            detail = f"{detail}; deleted {rows}" if held else f"deleted {rows}"
            held = True
        return held, detail

    return erase


def erasure_consumer(eraser: Eraser) -> ConsumerSpec:
    """The consumer that erases a subject from this service and issues its receipt.

    The same erasure runs, without a receipt, for each subject a restore of a backup
    brought back (``on_restore``), before the service reports ready.
    """
    erase_here = _erase_here(eraser)

    def build(rt: Runtime) -> Handler:
        async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
            for item in batch:
                order = item.event
                assert isinstance(order, SubjectKeyShredded)
                held, detail = await erase_here(rt, conn, order.subject_id)
                if rt.name not in order.services:
                    continue
                receipt = ErasureReceiptIssued(
                    request_id=order.request_id, subject_id=order.subject_id, service=rt.name,
                    status="completed", held_data=held, detail=detail,
                )
                if not await answer_once(rt, conn, f"erasure-receipt-{order.request_id}",
                                         receipt, order.subject_id, item):
                    log.info("erasure.receipt_republished", request_id=order.request_id)
                log.info("erasure.done", request_id=order.request_id, held_data=held)

        return handle

    return ConsumerSpec(
        name="erasure", topics=[events_topic("retention")], handler=build,
        event_types=[SubjectKeyShredded.event_type], on_restore=erase_here,
    )
