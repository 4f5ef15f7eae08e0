"""Usage data of a member: favourites, viewed listings, searches (LST-3).

Each fact is its own event under the member's key (category ``usage``), on a stream of
its own, so recording it needs no read first: one append with its projection row.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import asyncpg

from contracts.envelope import Event
from contracts.listings import ListingFavourited, ListingViewed, SearchMade
from kernel.eventstore import NewEvent, StreamHead
from listings.domain import commands
from listings.domain.errors import NotFound
from listings.service_layer.context import Context


async def record(conn: asyncpg.Connection, ctx: Context, member_id: str, event: Event) -> None:
    """Append one usage event of ``member_id`` on a fresh stream."""
    await ctx.store.append(conn, f"usage-{uuid4()}", StreamHead(), [NewEvent(event, member_id)])


async def favourite(member_id: str, listing_id: str, ctx: Context) -> None:
    """Mark a published listing as favourite (idempotent)."""
    async with ctx.transaction() as conn:
        if not await conn.fetchval(
                "SELECT 1 FROM listings.search WHERE listing_id = $1", listing_id):
            raise NotFound("no such listing")
        added = await conn.fetchval(
            "INSERT INTO listings.favourites VALUES ($1, $2, $3) ON CONFLICT DO NOTHING "
            "RETURNING 1", member_id, listing_id, ctx.clock())
        if added:
            await record(conn, ctx, member_id,
                         ListingFavourited(member_id=member_id, listing_id=listing_id))


async def favourites(member_id: str, ctx: Context) -> list[dict[str, Any]]:
    """The member's favourites, newest first."""
    rows = await ctx.pool.fetch(
        "SELECT listing_id, at FROM listings.favourites WHERE member_id = $1 ORDER BY at DESC",
        member_id)
    return [{"listing_id": r["listing_id"], "at": r["at"].isoformat()} for r in rows]


async def viewed(member_id: str, listing_id: str, ctx: Context) -> None:
    """A signed-in member opened someone's published listing."""
    async with ctx.transaction() as conn:
        await conn.execute("INSERT INTO listings.views VALUES ($1, $2, $3)",
                           member_id, listing_id, ctx.clock())
        await record(conn, ctx, member_id,
                     ListingViewed(member_id=member_id, listing_id=listing_id))


async def searched(cmd: commands.Search, ctx: Context) -> None:
    """A signed-in member searched: the words are usage data, encrypted (never logged)."""
    assert cmd.member_id is not None
    async with ctx.transaction() as conn:
        await record(conn, ctx, cmd.member_id, SearchMade(
            member_id=cmd.member_id, query=cmd.q or None, city=cmd.city or None,
            radius_km=cmd.radius_km))
