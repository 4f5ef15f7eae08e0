"""Call tracking (LST-5): calls through a listing's tracking number, pseudonymised only.

Only the telephony provider reports calls: each report is signed, used once and counted
against a limit per tracking number and in all (``domain.webhook``).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from contracts.listings import CallRecorded
from kernel.eventstore import NewEvent, StreamHead
from listings.adapters.webhook import count_hits, first_use
from listings.domain import commands
from listings.domain.errors import NotFound, RateLimited
from listings.domain.webhook import SignatureRefused, verify
from listings.service_layer.context import Context


async def accept_report(tracking_number: str, timestamp: str | None, signed: str | None,
                        body: bytes, ctx: Context) -> str:
    """Check a report's signature, then count it; returns the signature to record once.

    Raises:
        SignatureRefused: Missing, wrong or expired signature (401).
        RateLimited: Over the limit for the number or in all this minute (429).
    """
    now = ctx.clock()
    signature = verify(ctx.webhook, timestamp, signed, tracking_number, body, now.timestamp())
    policy = ctx.webhook
    async with ctx.pool.acquire() as conn:
        hits = await count_hits(conn, [f"number:{tracking_number}", "all"], now)
    if (hits[f"number:{tracking_number}"] > policy.per_number_per_minute
            or hits["all"] > policy.total_per_minute):
        raise RateLimited("too many call reports this minute", 60 - now.second)
    return signature


async def record_call(cmd: commands.RecordCall, ctx: Context) -> str:
    """Record a call: the caller's number only as a keyed hash, never in plaintext.

    The signature is recorded in the same transaction, so a report refused here (an unknown
    number) may be sent again, and one recorded cannot.
    """
    call_id = str(uuid4())
    async with ctx.transaction() as conn:
        if not await first_use(conn, cmd.signature, ctx.clock(), ctx.webhook.window_seconds):
            raise SignatureRefused("signature_replayed", "this report was received before")
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
