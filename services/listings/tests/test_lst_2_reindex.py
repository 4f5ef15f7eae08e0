"""The search projection is rebuilt from the event store alone (LST-2, events -> searchable)."""

from __future__ import annotations

import pytest
from listings_market import Market

from listings.service_layer.context import Context
from listings.service_layer.reindex import rebuild_search

pytestmark = pytest.mark.integration


async def test_lst_2_rebuilding_search_from_the_events_gives_the_same_searchable_listings(
    market: Market,
) -> None:
    owner, erased = await market.sign_up(), await market.sign_up()
    c = market.client
    shown = await market.post(owner, title="Reindexcheck een", phone="+31622223333")
    edited = await market.post(owner, title="Reindexcheck twee", location={"city": "Zeist"})
    await c.patch(f"/v1/listings/{edited}", headers=owner.auth,
                  json={"title": "Reindexcheck drie"})
    hidden = await market.post(owner, title="Reindexcheck vier")
    await c.post(f"/v1/listings/{hidden}/unpublish", headers=owner.auth)
    deleted = await market.post(owner, title="Reindexcheck vijf")
    await c.delete(f"/v1/listings/{deleted}", headers=owner.auth)
    await market.post(erased, title="Reindexcheck zes")
    await market.erase(erased.account_id)

    rt = market.listings.runtime
    assert rt is not None
    ctx: Context = rt.extra["ctx"]
    query = ("SELECT listing_id, owner_id, kind, title, description, city, place_id, lat, lon, "
             "tracking_number, tsv FROM listings.search ORDER BY listing_id")
    before = [dict(r) for r in await rt.pool.fetch(query)]
    count = await rebuild_search(rt.pool, rt.keys, ctx.places, ctx.tracking_number)
    after = [dict(r) for r in await rt.pool.fetch(query)]
    assert after == before
    assert count == len(before)
    assert set(await market.search(q="Reindexcheck")) == {shown, edited}
    [item] = (await c.get("/v1/listings", params={"q": "Reindexcheck drie"})).json()["items"]
    assert item["location"]["city"] == "Zeist"
