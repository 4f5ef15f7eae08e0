"""Legal holds (RET-4): events on the hold's stream plus a queryable row each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from contracts.privacy import LegalHoldPlaced, LegalHoldReleased
from kernel.eventstore import EventStore, NewEvent
from retention.adapters.register import scoped_categories


def stream_id(hold_id: str) -> str:
    """The event stream of one hold."""
    return f"legal-hold-{hold_id}"


async def place(conn: asyncpg.Connection, store: EventStore, hold: LegalHoldPlaced,
                now: datetime) -> bool:
    """Record a hold; ``False`` if a hold with its id exists already (a repeat)."""
    exists = await conn.fetchval("SELECT 1 FROM retention.legal_holds WHERE hold_id = $1",
                                 hold.hold_id)
    if exists:
        return False
    head = await store.head(conn, stream_id(hold.hold_id))
    await store.append(conn, stream_id(hold.hold_id), head,
                       [NewEvent(hold, hold.subject_id, occurred_at=now)])
    await conn.execute(
        "INSERT INTO retention.legal_holds (hold_id, subject_id, category, reason, authority, "
        "case_reference, placed_by, placed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        hold.hold_id, hold.subject_id, hold.category, hold.reason, hold.authority,
        hold.case_reference, hold.placed_by, now)
    return True


async def release(conn: asyncpg.Connection, store: EventStore, hold_id: str, by: str,
                  now: datetime) -> tuple[str, str | None] | None:
    """End an active hold; the subject and category it held, or ``None`` if no such active
    hold."""
    row = await conn.fetchrow(
        "UPDATE retention.legal_holds SET released_by = $2, released_at = $3 "
        "WHERE hold_id = $1 AND released_at IS NULL RETURNING subject_id, category",
        hold_id, by, now)
    if row is None:
        return None
    subject = str(row["subject_id"])
    head = await store.head(conn, stream_id(hold_id))
    await store.append(conn, stream_id(hold_id), head, [NewEvent(
        LegalHoldReleased(hold_id=hold_id, subject_id=subject, released_by=by), subject,
        occurred_at=now)])
    return subject, row["category"]


async def active(conn: asyncpg.Connection, subject_id: str) -> list[asyncpg.Record]:
    """The subject's holds not yet released, oldest first."""
    return list(await conn.fetch(
        "SELECT * FROM retention.legal_holds WHERE subject_id = $1 AND released_at IS NULL "
        "ORDER BY placed_at", subject_id))


async def for_erasure(conn: asyncpg.Connection, subject_id: str,
                      ) -> tuple[list[asyncpg.Record], list[str]]:
    """What the subject's active holds mean for its erasure (RET-4, PRV-5).

    Returns:
        The holds that keep the erasure waiting (on the whole subject, or on a category
        kept under the subject's own key), and the categories an erasure keeps while it
        goes ahead: those sealed under keys of their own, which survive the erasure.
    """
    scoped = scoped_categories()
    waiting, kept = [], set()
    for row in await active(conn, subject_id):
        if row["category"] is not None and row["category"] in scoped:
            kept.add(row["category"])
        else:
            waiting.append(row)
    return waiting, sorted(kept)


async def listing(conn: asyncpg.Connection, subject_id: str | None, include_released: bool,
                  limit: int) -> list[asyncpg.Record]:
    """Holds, newest first, of one subject or all; released ones only if asked."""
    return list(await conn.fetch(
        "SELECT * FROM retention.legal_holds WHERE ($1::text IS NULL OR subject_id = $1) "
        "AND ($2 OR released_at IS NULL) ORDER BY placed_at DESC LIMIT $3",
        subject_id, include_released, limit))


def as_exception(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A hold as an erasure request's lawful exception (PRV-5, RET-4)."""
    return {
        "kind": "legal_hold", "hold_id": row["hold_id"], "category": row["category"],
        "reason": row["reason"], "authority": row["authority"],
        "case_reference": row["case_reference"], "since": row["placed_at"].isoformat(),
    }


def as_dict(row: asyncpg.Record) -> dict[str, Any]:
    """A hold as staff see it."""
    return {
        **as_exception(row), "subject_id": row["subject_id"], "placed_by": row["placed_by"],
        "released_by": row["released_by"],
        "released_at": row["released_at"].isoformat() if row["released_at"] else None,
    }
