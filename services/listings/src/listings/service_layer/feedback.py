"""Public feedback on listings, attributed to the author's pseudonym (LST-6).

The rating and pseudonym are kept apart from the comment: the author's erasure deletes
the comment (sealed under the author's key) and leaves the rating under the pseudonym.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from contracts.listings import FeedbackGiven
from kernel.eventstore import NewEvent, StreamHead
from listings.adapters.accounts import AccountsProjection
from listings.domain import commands
from listings.domain.errors import AccountNotKnownYet, InvalidListing, NotFound
from listings.service_layer.context import Context


async def give(cmd: commands.GiveFeedback, ctx: Context) -> str:
    """Rate (1-5) and optionally comment on a published listing."""
    if not 1 <= cmd.rating <= 5:
        raise InvalidListing("rating must be 1 to 5")
    feedback_id = str(uuid4())
    async with ctx.transaction() as conn:
        owner = await conn.fetchval(
            "SELECT owner_id FROM listings.search WHERE listing_id = $1", cmd.listing_id)
        if owner is None:
            raise NotFound("no such listing")
        if owner == cmd.author_id:
            raise InvalidListing("owners cannot rate their own listing")
        pseudonyms = await AccountsProjection(conn, ctx.sealer).pseudonyms([cmd.author_id])
        if cmd.author_id not in pseudonyms:
            raise AccountNotKnownYet("the account is not known to the listings service yet")
        pseudonym = pseudonyms[cmd.author_id]
        now = ctx.clock()
        await conn.execute("INSERT INTO listings.feedback VALUES ($1, $2, $3, $4, $5)",
                           feedback_id, cmd.listing_id, pseudonym, cmd.rating, now)
        if cmd.comment:
            sealed = await ctx.sealer.seal(cmd.author_id, "comment", cmd.comment)
            await conn.execute("INSERT INTO listings.feedback_comments VALUES ($1, $2, $3)",
                               feedback_id, cmd.author_id, sealed)
        await ctx.store.append(conn, f"feedback-{feedback_id}", StreamHead(), [NewEvent(
            FeedbackGiven(feedback_id=feedback_id, listing_id=cmd.listing_id,
                          author_id=cmd.author_id, author_pseudonym=pseudonym,
                          rating=cmd.rating, comment=cmd.comment or None), cmd.author_id)])
    return feedback_id


async def of_listing(listing_id: str, ctx: Context) -> dict[str, Any]:
    """Every rating and comment on a listing, public, under pseudonyms."""
    rows = await ctx.pool.fetch(
        "SELECT f.feedback_id, f.author_pseudonym, f.rating, f.at, c.author_id, c.comment "
        "FROM listings.feedback f LEFT JOIN listings.feedback_comments c USING (feedback_id) "
        "WHERE f.listing_id = $1 ORDER BY f.at", listing_id)
    keys = await ctx.sealer.keys_for([r["author_id"] for r in rows if r["author_id"]])
    items = []
    for r in rows:
        comment = None
        if r["comment"] is not None:
            comment = ctx.sealer.open_with(keys.get(r["author_id"]), r["author_id"], "comment",
                                           r["comment"])
        items.append({"feedback_id": r["feedback_id"], "author": r["author_pseudonym"],
                      "rating": r["rating"], "comment": comment, "at": r["at"].isoformat()})
    ratings = [i["rating"] for i in items]
    average = round(sum(ratings) / len(ratings), 2) if ratings else None
    return {"items": items, "average_rating": average}
