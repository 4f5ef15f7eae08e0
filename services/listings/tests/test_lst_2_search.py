"""Search: Dutch word forms, prefixes and typos, place and radius, order and pages (LST-2)."""

from __future__ import annotations

import uuid

import pytest
from listings_market import Market

pytestmark = pytest.mark.integration


def token() -> str:
    """A word no other listing holds, so each test sees only its own listings."""
    return "zq" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:8] + "x"


async def test_lst_2_search_finds_dutch_word_forms_prefixes_and_near_misses(
    market: Market,
) -> None:
    owner = await market.sign_up()
    t = token()
    bike = await market.post(owner, title=f"Mooie fiets {t}", description="Bijna nieuw.")
    painters = await market.post(owner, title=f"Klusjes {t}",
                                 description="Ervaren schilders gezocht voor projecten.")
    carpenter = await market.post(owner, title=f"Timmerman {t}", description="Per direct.")
    assert await market.search(q=f"fietsen {t}") == [bike]  # plural finds the singular
    assert await market.search(q=f"schilder {t}") == [painters]  # singular finds the plural
    assert await market.search(q=f"timmer {t}") == [carpenter]  # a prefix
    assert carpenter in await market.search(q=f"timerman {t}")  # a typo in the title
    assert await market.search(q=f"loodgieter {t}") == []
    assert set(await market.search(q=t)) == {bike, painters, carpenter}


async def test_lst_2_search_by_place_finds_within_the_radius_not_outside(
    market: Market,
) -> None:
    owner = await market.sign_up()
    t = token()
    utrecht = await market.post(owner, title=t, location={"city": "Utrecht"})
    zeist = await market.post(owner, title=t, location={"city": "Zeist"})  # ~8 km east
    groningen = await market.post(owner, title=t, location={"city": "Groningen"})  # ~150 km
    assert set(await market.search(q=t, city="Utrecht", radius_km=15)) == {utrecht, zeist}
    assert await market.search(q=t, city="Utrecht", radius_km=3) == [utrecht]
    assert set(await market.search(q=t, city="utrecht", radius_km=200)) == {
        utrecht, zeist, groningen}
    assert await market.search(q=t, city="Groningen", radius_km=10) == [groningen]
    resp = await market.client.get("/v1/listings", params={"q": t, "city": "Nergenshuizen"})
    assert resp.status_code == 422
    assert "Nergenshuizen" not in resp.text
    items = (await market.client.get("/v1/listings", params={
        "q": t, "city": "Utrecht", "radius_km": 15})).json()["items"]
    assert {i["listing_id"]: i["distance_km"] for i in items}[zeist] == pytest.approx(7.6, abs=1)


async def test_lst_2_newest_first_paginated_with_a_cursor(market: Market) -> None:
    owner = await market.sign_up()
    t = token()
    ids = [await market.post(owner, title=f"{t} {n}") for n in range(5)]
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        params = {"q": t, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await market.client.get("/v1/listings", params=params)).json()
        seen += [i["listing_id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids))
    assert cursor is None
    best = (await market.client.get("/v1/listings", params={"q": t, "sort": "best"})).json()
    assert set(i["listing_id"] for i in best["items"]) == set(ids)
    bad = await market.client.get("/v1/listings", params={"q": t, "cursor": "garbage"})
    assert bad.status_code == 422


async def test_lst_2_only_published_listings_are_found_and_unpublishing_removes_the_text(
    market: Market,
) -> None:
    owner = await market.sign_up()
    t = token()
    draft = await market.post(owner, title=t, publish=False)
    shown = await market.post(owner, title=t)
    assert await market.search(q=t) == [shown]
    resp = await market.client.post(f"/v1/listings/{shown}/unpublish", headers=owner.auth)
    assert resp.status_code == 200
    assert await market.search(q=t) == []
    rt = market.listings.runtime
    assert rt is not None
    assert await rt.pool.fetchval(
        "SELECT count(*) FROM listings.search WHERE listing_id = ANY($1)", [draft, shown]) == 0


async def test_lst_2_an_erased_authors_listings_disappear_from_search(market: Market) -> None:
    author, other = await market.sign_up(), await market.sign_up()
    t = token()
    gone = await market.post(author, title=t)
    stays = await market.post(other, title=t)
    assert set(await market.search(q=t)) == {gone, stays}
    await market.erase(author.account_id)
    assert await market.search(q=t) == [stays]
    assert (await market.client.get(f"/v1/listings/{gone}")).status_code == 404
    rt = market.listings.runtime
    assert rt is not None
    for table in ("search", "listings", "accounts"):
        column = "account_id" if table == "accounts" else "owner_id"
        assert await rt.pool.fetchval(
            f"SELECT count(*) FROM listings.{table} WHERE {column} = $1", author.account_id) == 0
