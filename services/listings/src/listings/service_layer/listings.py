"""One handler per listing command: load, let the aggregate decide, persist in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

import asyncpg

from kernel.logs import get_logger
from listings.adapters.accounts import AccountsProjection
from listings.adapters.repository import ListingRepository
from listings.domain import commands
from listings.domain.errors import AccountNotKnownYet, MemberRequired, NotFound, UnknownPlace
from listings.domain.model import Content, Listing
from listings.domain.places import Place
from listings.service_layer.context import Context

log = get_logger(__name__)


async def owner_kind(conn: asyncpg.Connection, ctx: Context, account_id: str) -> str:
    """The account's kind from the accounts events; refuses closed and not-yet-known accounts."""
    found = await AccountsProjection(conn, ctx.sealer).kind_and_status(account_id)
    if found is None:
        raise AccountNotKnownYet("the account is not known to the listings service yet; retry")
    kind, status = found
    if status != "active":
        raise MemberRequired("the account is closed")
    return kind


def resolve(ctx: Context, city: str) -> Place:
    """The place of the place table a listing or search names."""
    place = ctx.places.resolve(city)
    if place is None:
        raise UnknownPlace("location.city is not a place of the Netherlands we know")
    return place


async def _persist(conn: asyncpg.Connection, ctx: Context, repo: ListingRepository,
                   listing: Listing, phone_before: str | None) -> None:
    """Events, state and search rows; the tracking number's mapping when the phone changed."""
    c = listing.content
    place = ctx.places.by_id.get(c.place_id) if c.place_id is not None else None
    number = ctx.tracking_number(listing.listing_id, c.phone) if c.phone else None
    await repo.save(listing, place, number, ctx.clock())
    if c.phone == phone_before and listing.status != "deleted":
        return
    if number is None or listing.status == "deleted":
        await conn.execute("DELETE FROM listings.call_numbers WHERE listing_id = $1",
                           listing.listing_id)
    else:
        sealed = await ctx.sealer.seal(listing.owner_id, "phone", c.phone)
        await conn.execute(
            "INSERT INTO listings.call_numbers (tracking_number, listing_id, owner_id, phone) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (listing_id) DO UPDATE SET "
            "tracking_number = EXCLUDED.tracking_number, phone = EXCLUDED.phone",
            number, listing.listing_id, listing.owner_id, sealed)


async def create_listing(cmd: commands.CreateListing, ctx: Context) -> str:
    """Post a listing (LST-1): vacancies from employers, profiles and ads from members."""
    place = resolve(ctx, cmd.city)
    listing_id = str(uuid4())
    content = Content(cmd.title, cmd.description, place.name, cmd.postcode, cmd.phone,
                      place.place_id)
    async with ctx.transaction() as conn:
        kind = await owner_kind(conn, ctx, cmd.owner_id)
        listing = Listing.create(listing_id, cmd.owner_id, kind, cmd.kind, content, cmd.publish)
        await _persist(conn, ctx, ListingRepository(conn, ctx.store, ctx.sealer), listing, None)
    log.info("listings.created", listing_id=listing_id, kind=cmd.kind)
    return listing_id


async def edit_listing(cmd: commands.EditListing, ctx: Context) -> Listing:
    """Change one's own listing; another member's answers 404 (LST-1, SEC-2)."""
    changes = dict(cmd.changes)
    if changes.get("city") is not None:
        place = resolve(ctx, changes["city"])
        changes["city"], changes["place_id"] = place.name, place.place_id
    async with ctx.transaction() as conn:
        repo = ListingRepository(conn, ctx.store, ctx.sealer)
        listing = await repo.get(cmd.listing_id, for_update=True)
        if listing is None:
            raise NotFound("no such listing")
        before = listing.content.phone
        listing.edit(cmd.account_id, changes)
        if listing.events:
            await _persist(conn, ctx, repo, listing, before)
    return listing


async def change_status(cmd: commands.ChangeListingStatus, ctx: Context) -> Listing:
    """Publish, unpublish or delete one's own listing; unpublished text leaves search."""
    async with ctx.transaction() as conn:
        repo = ListingRepository(conn, ctx.store, ctx.sealer)
        listing = await repo.get(cmd.listing_id, for_update=True)
        if listing is None:
            raise NotFound("no such listing")
        getattr(listing, cmd.action)(cmd.account_id)
        if listing.events:
            await _persist(conn, ctx, repo, listing, listing.content.phone)
    log.info("listings.status_changed", listing_id=cmd.listing_id, status=listing.status)
    return listing


async def end_owner_listings(conn: asyncpg.Connection, ctx: Context, owner_id: str,
                             before: datetime) -> int:
    """The owner's listings created before ``before``, at the end of their period (RET-2):
    deleted as the owner would delete them (``ListingDeleted``, so every service learns),
    then their rows go with the sealed text. Returns how many rows went."""
    repo = ListingRepository(conn, ctx.store, ctx.sealer)
    rows = await conn.fetch(
        "SELECT listing_id, status FROM listings.listings WHERE owner_id = $1 "
        "AND created_at < $2 ORDER BY created_at FOR UPDATE", owner_id, before)
    for row in rows:
        listing = await repo.get(row["listing_id"]) if row["status"] != "deleted" else None
        if listing is not None:
            listing.delete(owner_id)
            await _persist(conn, ctx, repo, listing, listing.content.phone)
    await conn.execute("DELETE FROM listings.listings WHERE listing_id = ANY($1::text[])",
                       [r["listing_id"] for r in rows])
    return len(rows)


async def get_listing(listing_id: str, viewer: str | None, ctx: Context) -> Listing:
    """A published listing, or one's own in any state; else 404."""
    async with ctx.pool.acquire() as conn:
        listing = await ListingRepository(conn, ctx.store, ctx.sealer).get(listing_id)
        owner = (await AccountsProjection(conn, ctx.sealer).kind_and_status(listing.owner_id)
                 if listing is not None else None)
    if listing is None or not (listing.published or listing.owner_id == viewer):
        raise NotFound("no such listing")
    if owner is not None and owner[1] == "locked" and listing.owner_id != viewer:
        raise NotFound("no such listing")  # its owner's erasure is pending (PRV-5)
    return listing


async def own_listings(account_id: str, ctx: Context) -> list[Listing]:
    """The member's own listings, every state but deleted."""
    async with ctx.pool.acquire() as conn:
        ids = await conn.fetch(
            "SELECT listing_id FROM listings.listings WHERE owner_id = $1 "
            "AND status <> 'deleted' ORDER BY created_at", account_id)
        repo = ListingRepository(conn, ctx.store, ctx.sealer)
        found = [await repo.get(r["listing_id"]) for r in ids]
    return [listing for listing in found if listing is not None]


def view(listing: Listing, ctx: Context, owner: bool) -> dict[str, Any]:
    """A listing as the API shows it; the phone only as its tracking number (LST-5)."""
    c = listing.content
    data: dict[str, Any] = {
        "listing_id": listing.listing_id, "kind": listing.kind, "status": listing.status,
        "title": c.title, "description": c.description,
        "location": {"city": c.city,
                     "postcode": c.postcode if owner or not c.postcode else c.postcode[:4]},
        "phone": ctx.tracking_number(listing.listing_id, c.phone) if c.phone else None,
    }
    if owner:
        data["owner_phone"] = c.phone
    return data
