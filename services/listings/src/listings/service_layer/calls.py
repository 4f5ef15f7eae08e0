"""Call tracking (LST-5): calls through a listing's tracking number, pseudonymised only."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from contracts.listings import CallRecorded
from kernel.eventstore import NewEvent, StreamHead
from listings.domain import commands
from listings.domain.errors import NotFound
from listings.service_layer.context import Context


async def record_call(cmd: commands.RecordCall, ctx: Context) -> str:
    """Record a call: the caller's number only as a keyed hash, never in plaintext."""
    call_id = str(uuid4())
    async with ctx.transaction() as conn:
        row = await conn.fetchrow(
            "SELECT listing_id, owner_id FROM listings.call_numbers WHERE tracking_number = $1",
            cmd.tracking_number)
        if row is None:
            raise NotFound("no such tracking number")
        event = CallRecorded(call_id=call_id, listing_id=row["listing_id"],
                             tracking_number=cmd.tracking_number,
                             caller_pseudonym=ctx.caller_pseudonym(cmd.caller),
                             duration_seconds=cmd.duration_seconds)
        await conn.execute("INSERT INTO listings.calls VALUES ($1, $2, $3, $4, $5, $6)",
                           call_id, event.listing_id, event.tracking_number,
                           event.caller_pseudonym, event.duration_seconds, ctx.clock())
        await ctx.store.append(conn, f"call-{call_id}", StreamHead(),
                               [NewEvent(event, row["owner_id"])])
    return call_id


async def calls_of(listing_id: str, owner_id: str, ctx: Context) -> list[dict[str, Any]]:
    """The calls about one's own listing, pseudonymised."""
    async with ctx.pool.acquire() as conn:
        owner = await conn.fetchval(
            "SELECT owner_id FROM listings.listings WHERE listing_id = $1 "
            "AND status <> 'deleted'", listing_id)
        if owner != owner_id:
            raise NotFound("no such listing")
        rows = await conn.fetch(
            "SELECT * FROM listings.calls WHERE listing_id = $1 ORDER BY at", listing_id)
    return [{"call_id": r["call_id"], "caller": r["caller_pseudonym"],
             "duration_seconds": r["duration_seconds"], "at": r["at"].isoformat()} for r in rows]
