"""Favourites, viewed listings and searches with a token are the member's usage data (LST-3)."""

from __future__ import annotations

import pytest
from listings_market import Market

from contracts.listings import ListingFavourited, ListingViewed, SearchMade
from contracts.personal import DataCategory, personal_fields

pytestmark = pytest.mark.integration


def test_lst_3_usage_events_carry_their_facts_under_the_usage_category() -> None:
    for event in (ListingFavourited, ListingViewed, SearchMade):
        fields = personal_fields(event)
        assert fields
        assert {p.category for p in fields.values()} == {DataCategory.USAGE}


async def test_lst_3_favourites_views_and_searches_are_recorded_encrypted_per_member(
    market: Market,
) -> None:
    owner, member = await market.sign_up(), await market.sign_up()
    listing_id = await market.post(owner, title="Usagecheck")
    c = market.client
    assert (await c.post(f"/v1/listings/{listing_id}/favourite",
                         headers=member.auth)).status_code == 204
    assert (await c.post(f"/v1/listings/{listing_id}/favourite",
                         headers=member.auth)).status_code == 204  # idempotent
    favs = (await c.get("/v1/me/favourites", headers=member.auth)).json()["items"]
    assert [f["listing_id"] for f in favs] == [listing_id]
    assert (await c.get(f"/v1/listings/{listing_id}", headers=member.auth)).status_code == 200
    await market.search(auth=member.auth, q="Searchwordcheck", city="Utrecht")
    await market.search(q="Anonymouswordcheck")  # without a token: nothing recorded

    rt = market.listings.runtime
    assert rt is not None
    rows = await rt.pool.fetch(
        "SELECT event_type, payload FROM listings.events WHERE subject_id = $1 "
        "AND event_type LIKE 'listings.%'", member.account_id)
    types = sorted(r["event_type"] for r in rows)
    assert types == sorted([ListingFavourited.event_type, ListingViewed.event_type,
                            SearchMade.event_type])
    for r in rows:
        assert b"Searchwordcheck" not in bytes(r["payload"])
        assert listing_id.encode() not in bytes(r["payload"])
    assert not await rt.pool.fetchval(
        "SELECT count(*) FROM listings.events "
        "WHERE position(convert_to($1, 'UTF8') IN payload) > 0", "Anonymouswordcheck")
    assert (await c.post("/v1/listings/nope/favourite", headers=member.auth)).status_code == 404
    assert (await c.post(f"/v1/listings/{listing_id}/favourite")).status_code == 401


async def test_lst_3_usage_data_is_erased_with_the_member(market: Market) -> None:
    owner, member = await market.sign_up(), await market.sign_up()
    listing_id = await market.post(owner)
    await market.client.post(f"/v1/listings/{listing_id}/favourite", headers=member.auth)
    await market.client.get(f"/v1/listings/{listing_id}", headers=member.auth)
    await market.erase(member.account_id)
    rt = market.listings.runtime
    assert rt is not None
    for table in ("favourites", "views"):
        assert await rt.pool.fetchval(
            f"SELECT count(*) FROM listings.{table} WHERE member_id = $1", member.account_id) == 0
