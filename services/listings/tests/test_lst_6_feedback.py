"""Feedback is public and survives its author's erasure under the pseudonym (LST-6)."""

from __future__ import annotations

import pytest
from listings_market import Market

pytestmark = pytest.mark.integration


async def test_lst_6_a_rating_survives_its_authors_erasure_under_the_pseudonym(
    market: Market,
) -> None:
    owner, author = await market.sign_up(), await market.sign_up()
    listing_id = await market.post(owner)
    c = market.client
    resp = await c.post(f"/v1/listings/{listing_id}/feedback", headers=author.auth,
                        json={"rating": 4, "comment": "Commentcheck prima"})
    assert resp.status_code == 201, resp.text
    public = (await c.get(f"/v1/listings/{listing_id}/feedback")).json()
    [item] = public["items"]
    assert item["rating"] == 4 and item["comment"] == "Commentcheck prima"
    pseudonym = item["author"]
    assert pseudonym.startswith("member-")
    assert author.body["username"] not in str(public)

    await market.erase(author.account_id)
    after = (await c.get(f"/v1/listings/{listing_id}/feedback")).json()
    assert after["items"] == [{**item, "comment": None}]
    assert after["average_rating"] == 4
    rt = market.listings.runtime
    assert rt is not None
    assert await rt.pool.fetchval(
        "SELECT count(*) FROM listings.feedback_comments WHERE author_id = $1",
        author.account_id) == 0


async def test_lst_6_feedback_needs_a_published_listing_and_a_valid_rating(
    market: Market,
) -> None:
    owner, author = await market.sign_up(), await market.sign_up()
    listing_id = await market.post(owner, publish=False)
    c = market.client
    resp = await c.post(f"/v1/listings/{listing_id}/feedback", headers=author.auth,
                        json={"rating": 5})
    assert resp.status_code == 404
    resp = await c.post(f"/v1/listings/{listing_id}/feedback", headers=author.auth,
                        json={"rating": 9})
    assert resp.status_code == 422
