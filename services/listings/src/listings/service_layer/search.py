"""Searching published listings (LST-2), recorded as usage data when signed in (LST-3)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from listings.adapters import search as sql
from listings.domain import commands
from listings.domain.errors import InvalidListing
from listings.domain.places import radius
from listings.domain.search import MAX_LIMIT, Cursor, SearchRequest, Sort, affinity, terms
from listings.service_layer import usage
from listings.service_layer.context import Context
from listings.service_layer.listings import resolve

SORTS: tuple[Sort, ...] = ("newest", "best")


def request_of(cmd: commands.Search, ctx: Context) -> SearchRequest:
    """The search as the query builder takes it; refuses what cannot be searched."""
    if cmd.sort not in SORTS:
        raise InvalidListing("sort must be newest or best")
    sort: Sort = "best" if cmd.sort == "best" else "newest"
    if not 1 <= cmd.limit <= MAX_LIMIT:
        raise InvalidListing(f"limit must be 1 to {MAX_LIMIT}")
    center = None
    if cmd.city:
        place = resolve(ctx, cmd.city)
        center = (place.lat, place.lon)
    cursor = Cursor.decode(cmd.cursor, sort) if cmd.cursor else None
    return SearchRequest(terms(cmd.q), center, radius(cmd.radius_km), sort, cursor, cmd.limit,
                         cmd.kind)


def _item(row: Any) -> dict[str, Any]:
    item = {"listing_id": row["listing_id"], "kind": row["kind"], "title": row["title"],
            "description": row["description"], "location": {"city": row["city"]},
            "phone": row["tracking_number"], "published_at": row["published_at"].isoformat()}
    if row["distance_km"] is not None:
        item["distance_km"] = round(float(row["distance_km"]), 1)
    return item


GEOLOCATION = "exact_geolocation"
"""The consent purpose for using a member's exact position (CNS-2, default off)."""

PERSONALISATION = "onsite_personalisation"
"""The consent catalogue's legitimate-interest purpose for personalised vacancies (CNS-3)."""


async def personalised(cmd: commands.Search, ctx: Context, req: SearchRequest
                       ) -> SearchRequest:
    """The search ordered by the member's own usage, only while the guard allows (LST-7).

    The guard refuses once the member objected to on-site personalisation or restricted
    processing; the search is then the same, unpersonalised.
    """
    if cmd.member_id is None or (req.cursor is not None and not req.cursor.personal):
        return req
    async with ctx.pool.acquire() as conn:
        if not await ctx.guard.allows(cmd.member_id, PERSONALISATION, None, conn):
            return req
        used = affinity(await sql.usage_of(conn, cmd.member_id))
    return replace(req, affinity=used) if used else req


async def located(cmd: commands.Search, ctx: Context, req: SearchRequest
                  ) -> tuple[SearchRequest, str | None]:
    """Around the member's exact position only while they consent to it (LST-2, CNS-2).

    Without that consent (or without a token) the position is ignored: the general
    location (``city``) applies. The position is never stored, not even in usage data.
    """
    general = "general" if req.place_center is not None else None
    if cmd.near is None or cmd.member_id is None:
        return req, general
    async with ctx.pool.acquire() as conn:
        if not await ctx.guard.allows(cmd.member_id, GEOLOCATION, None, conn):
            return req, general
    return replace(req, place_center=cmd.near), "exact"


async def search(cmd: commands.Search, ctx: Context) -> dict[str, Any]:
    """One page of published listings, newest or best first, and the next page's cursor."""
    req, location = await located(cmd, ctx, request_of(cmd, ctx))
    req = await personalised(cmd, ctx, req)
    fuzzy = req.cursor.fuzzy if req.cursor else False
    async with ctx.pool.acquire() as conn, conn.transaction(readonly=True):
        # A plan for these values, never the cached generic one: whether the text or the
        # place narrows most depends on them (measured: a generic plan made place searches
        # five times slower). LOCAL: nothing outlives the transaction on the pooled connection.
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = await sql.search(conn, req, fuzzy)
        if not rows and req.cursor is None and sql.can_be_fuzzy(req):
            fuzzy = True  # no exact match: perhaps a typo
            rows = await sql.search(conn, req, fuzzy)
    more = len(rows) > req.limit
    rows = rows[:req.limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        start = req.cursor.offset if req.cursor else 0
        next_cursor = (Cursor(req.sort, offset=start + req.limit, fuzzy=fuzzy,
                              personal=bool(req.affinity))
                       if req.sort == "best" or req.affinity else
                       Cursor("newest", last["published_at"], last["listing_id"],
                              fuzzy=fuzzy)).encode()
    if cmd.member_id is not None:
        await usage.searched(cmd, ctx)
    return {"items": [_item(r) for r in rows], "next_cursor": next_cursor,
            "personalised": bool(req.affinity), "location": location}
