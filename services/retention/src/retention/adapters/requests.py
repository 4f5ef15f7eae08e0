"""Privacy requests: event-sourced streams plus a queryable projection row each."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from kernel.codec import decode_event
from kernel.eventstore import ConcurrencyError, EventStore, NewEvent, StreamHead
from retention.domain.requests import PrivacyRequest

_UPSERT = """
INSERT INTO retention.privacy_requests AS p (request_id, subject_id, type, channel, status,
    received_at, due_at, ended_at, reason, expected_services, receipts, token_hash, version,
    last_order_at, orders, escalated, shred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16, $17)
ON CONFLICT (request_id) DO UPDATE SET
    status = excluded.status, ended_at = excluded.ended_at, reason = excluded.reason,
    last_order_at = excluded.last_order_at, orders = excluded.orders,
    escalated = excluded.escalated, shred_at = excluded.shred_at,
    expected_services = excluded.expected_services, receipts = excluded.receipts,
    token_hash = coalesce(excluded.token_hash, p.token_hash), version = excluded.version
"""


def stream_id(request_id: str) -> str:
    """The event stream of one request."""
    return f"privacy-request-{request_id}"


class RequestRepository:
    """Loads and saves :class:`PrivacyRequest` aggregates inside the caller's transaction.

    Args:
        store: The service's event store.
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def get(self, conn: asyncpg.Connection, request_id: str) -> PrivacyRequest | None:
        """The request rebuilt from its stream, or ``None`` if unknown."""
        recs = await self._store.read_stream(conn, stream_id(request_id))
        if not recs:
            return None
        history = [
            (decode_event(r.event_type, r.schema_version, r.payload, r.event_id, None),
             r.occurred_at)
            for r in recs
        ]
        return PrivacyRequest.from_history(request_id, history)

    async def save(
        self, conn: asyncpg.Connection, req: PrivacyRequest, token_hash: bytes | None = None,
        correlation_id: Any = None, causation_id: Any = None,
    ) -> None:
        """Append the pending events after the loaded version and refresh the projection.

        Raises:
            ConcurrencyError: another writer appended to the request first.
        """
        if not req.pending:
            return
        head = (await self._store.head(conn, stream_id(req.request_id))
                if req.version else StreamHead())
        if head.version != req.version:
            raise ConcurrencyError(f"request {req.request_id} moved on")
        await self._store.append(
            conn, stream_id(req.request_id), head,
            [NewEvent(e, req.subject_id) for e in req.pending],
            correlation_id=correlation_id, causation_id=causation_id,
        )
        req.version += len(req.pending)
        req.pending.clear()
        receipts = {
            r.service: {"status": r.status, "at": r.at.isoformat() if r.at else None}
            for r in req.receipts.values()
        }
        await conn.execute(
            _UPSERT, req.request_id, req.subject_id, req.type, req.channel, req.status,
            req.received_at, req.due_at, req.ended_at, req.reason,
            list(req.expected_services), orjson.dumps(receipts).decode(), token_hash,
            req.version, req.last_order_at, req.orders, list(req.escalated), req.shred_at,
        )

    async def row(self, conn: asyncpg.Connection, request_id: str) -> asyncpg.Record | None:
        """The projection row of a request."""
        return await conn.fetchrow(
            "SELECT * FROM retention.privacy_requests WHERE request_id = $1", request_id
        )


async def open_rows(conn: asyncpg.Connection, now: Any, overdue_only: bool,
                    limit: int) -> list[asyncpg.Record]:
    """Requests not yet ended, the soonest due first; only the overdue ones if asked."""
    return list(await conn.fetch(
        "SELECT * FROM retention.privacy_requests WHERE ended_at IS NULL "
        "AND ($1::boolean IS FALSE OR due_at < $2) ORDER BY due_at LIMIT $3",
        overdue_only, now, limit,
    ))


async def count_open(conn: asyncpg.Connection, now: Any) -> tuple[int, int]:
    """How many requests are open, and how many of them are past their deadline."""
    row = await conn.fetchrow(
        "SELECT count(*) AS open, count(*) FILTER (WHERE due_at < $1) AS overdue "
        "FROM retention.privacy_requests WHERE ended_at IS NULL", now)
    assert row is not None
    return int(row["open"]), int(row["overdue"])


async def due_for_retry(conn: asyncpg.Connection, ordered_before: Any,
                        limit: int = 100) -> list[str]:
    """Erasures still awaiting receipts whose last order is older than ``ordered_before``."""
    rows = await conn.fetch(
        "SELECT request_id FROM retention.privacy_requests WHERE status = 'in_progress' "
        "AND type = 'erasure' AND last_order_at < $1 ORDER BY last_order_at LIMIT $2",
        ordered_before, limit)
    return [r["request_id"] for r in rows]


async def due_for_shredding(conn: asyncpg.Connection, now: Any, limit: int = 100) -> list[str]:
    """Scheduled erasures whose grace window has ended (``shred_at`` reached)."""
    rows = await conn.fetch(
        "SELECT request_id FROM retention.privacy_requests WHERE status = 'verified' "
        "AND shred_at IS NOT NULL AND shred_at <= $1 ORDER BY shred_at LIMIT $2", now, limit)
    return [r["request_id"] for r in rows]
