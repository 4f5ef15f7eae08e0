"""A service's one answer to an order from retention (an erasure receipt, an export part).

Retention asks again while an answer is missing (a broker that lost it, a service that was
down): the answer is appended once, to a stream named after the order, and a repeated order
publishes that same answer again instead of writing a second one.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from contracts.envelope import Event
from kernel.consumer import Delivered
from kernel.eventstore import ConcurrencyError, NewEvent, StreamHead
from kernel.service import Runtime


async def answer_once(rt: Runtime, conn: asyncpg.Connection, stream: str,
                      answer: Event | Sequence[Event], subject_id: str,
                      order: Delivered) -> bool:
    """Append ``answer`` (or the answers, in order) as the only events of ``stream``, caused
    by ``order``.

    Returns:
        True when appended now; False when the stream already held the answer, which is
        then queued on the outbox again (at most once in the queue).
    """
    try:
        async with conn.transaction():
            answers = [answer] if isinstance(answer, Event) else list(answer)
            await rt.store.append(conn, stream, StreamHead(),
                                  [NewEvent(a, subject_id) for a in answers],
                                  correlation_id=order.envelope.correlation_id,
                                  causation_id=order.envelope.event_id)
    except ConcurrencyError:
        await conn.execute(
            f"INSERT INTO {rt.store.schema}.outbox (position) SELECT position "
            f"FROM {rt.store.schema}.events WHERE stream_id = $1 ON CONFLICT DO NOTHING",
            stream)
        return False
    return True
