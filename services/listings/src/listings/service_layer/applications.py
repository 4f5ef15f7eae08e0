"""Applications: the chosen fields go to the listing's owner only, with a disclosure record.

The shared values are read from what the accounts events told this service at the moment
of applying (LST-4); the application row keeps them sealed under the applicant's key, so
the owner's view holds no plaintext copy and the applicant's erasure empties it (SHR-1).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import asyncpg

from kernel.eventstore import NewEvent, StreamHead
from kernel.logs import get_logger
from listings.adapters.accounts import AccountsProjection
from listings.adapters.repository import ListingRepository
from listings.domain import applications, commands
from listings.domain.errors import AccountNotKnownYet, AlreadyDone, NotFound
from listings.service_layer.context import Context

log = get_logger(__name__)


async def _profile_listing(conn: asyncpg.Connection, account_id: str) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT listing_id FROM listings.search WHERE owner_id = $1 AND kind = 'profile' "
        "ORDER BY published_at DESC LIMIT 1", account_id)
    return found


async def apply(cmd: commands.Apply, ctx: Context) -> str:
    """Apply to a published listing (LST-4); the disclosure is recorded with it (SHR-1)."""
    application_id, disclosure_id = str(uuid4()), str(uuid4())
    async with ctx.transaction() as conn:
        listing = await ListingRepository(conn, ctx.store, ctx.sealer).get(cmd.listing_id)
        if listing is None:
            raise NotFound("no such listing")
        accounts = AccountsProjection(conn, ctx.sealer)
        account = await accounts.get(cmd.applicant_id)
        owner = await accounts.kind_and_status(listing.owner_id)
        if account is None or owner is None:
            raise AccountNotKnownYet("the account is not known to the listings service yet")
        applicant = applications.Applicant(
            account.account_id, account.details.get("name"), account.details.get("email"),
            account.details.get("phone"), account.details.get("username"),
            await _profile_listing(conn, cmd.applicant_id))
        submitted, disclosed = applications.apply(
            application_id, disclosure_id, listing.listing_id, listing.owner_id, owner[0],
            listing.published, applicant, cmd.message, cmd.share)
        body = await ctx.sealer.seal(cmd.applicant_id, "application", {
            "message": cmd.message, "shared": submitted.shared.model_dump(exclude_none=True)
            if not isinstance(submitted.shared, str) else {}})
        inserted = await conn.fetchval(
            "INSERT INTO listings.applications VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (listing_id, applicant_id) DO NOTHING RETURNING 1",
            application_id, listing.listing_id, listing.owner_id, cmd.applicant_id, body,
            ctx.clock())
        if not inserted:
            raise AlreadyDone("already applied to this listing")
        await conn.execute(
            "INSERT INTO listings.disclosures VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            disclosure_id, disclosed.subject_id, disclosed.recipient_id,
            disclosed.recipient_type, disclosed.purpose, disclosed.categories,
            disclosed.legal_basis, disclosed.reference, ctx.clock())
        await ctx.store.append(conn, f"application-{application_id}", StreamHead(), [
            NewEvent(submitted, cmd.applicant_id), NewEvent(disclosed, cmd.applicant_id)])
    log.info("listings.applied", application_id=application_id, listing_id=cmd.listing_id,
             categories=len(disclosed.categories))
    return application_id


async def applications_of(listing_id: str, owner_id: str, ctx: Context) -> list[dict[str, Any]]:
    """The applications to one's own listing, each with exactly the shared fields."""
    async with ctx.pool.acquire() as conn:
        listing = await ListingRepository(conn, ctx.store, ctx.sealer).get(listing_id)
        if listing is None or listing.owner_id != owner_id:
            raise NotFound("no such listing")
        rows = await conn.fetch(  # an applicant whose erasure is pending is not shown
            "SELECT application_id, applicant_id, body, at FROM listings.applications p "
            "WHERE listing_id = $1 AND NOT EXISTS (SELECT 1 FROM listings.accounts a "
            "WHERE a.account_id = p.applicant_id AND a.status = 'locked') ORDER BY at",
            listing_id)
    keys = await ctx.sealer.keys_for([r["applicant_id"] for r in rows])
    items = []
    for r in rows:
        body = ctx.sealer.open_with(keys.get(r["applicant_id"]), r["applicant_id"],
                                    "application", r["body"])
        if body is None:
            continue  # the applicant was erased
        items.append({"application_id": r["application_id"], "message": body["message"],
                      "applicant": body["shared"], "submitted_at": r["at"].isoformat()})
    return items


async def disclosures(subject_id: str, ctx: Context) -> list[dict[str, Any]]:
    """Every disclosure of the member's data: recipient, purpose, categories, basis (SHR-1)."""
    rows = await ctx.pool.fetch(
        "SELECT * FROM listings.disclosures WHERE subject_id = $1 ORDER BY at", subject_id)
    return [{"disclosure_id": r["disclosure_id"], "recipient_id": r["recipient_id"],
             "recipient_type": r["recipient_type"], "purpose": r["purpose"],
             "categories": list(r["categories"]), "legal_basis": r["legal_basis"],
             "reference": r["reference"], "at": r["at"].isoformat()} for r in rows]
