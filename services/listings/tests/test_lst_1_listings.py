"""Listings: who posts what, owner-only writes, the life of a listing (LST-1)."""

from __future__ import annotations

import pytest
from listings_market import Market

pytestmark = pytest.mark.integration


async def test_lst_1_members_post_profiles_and_ads_employers_post_vacancies(
    market: Market,
) -> None:
    member, employer = await market.sign_up(), await market.sign_up("employer")
    for kind in ("profile", "ad"):
        listing_id = await market.post(member, kind=kind)
        resp = await market.client.get(f"/v1/listings/{listing_id}")
        assert resp.status_code == 200
        assert resp.json()["kind"] == kind
    vacancy = await market.post(employer, kind="vacancy")
    assert (await market.client.get(f"/v1/listings/{vacancy}")).json()["kind"] == "vacancy"


async def test_lst_1_a_vacancy_from_a_member_is_refused(market: Market) -> None:
    member = await market.sign_up()
    resp = await market.client.post("/v1/listings", headers=member.auth, json={
        "kind": "vacancy", "title": "Secret title", "description": "x",
        "location": {"city": "Utrecht"}})
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "employer_required"
    assert "Secret title" not in resp.text
    employer = await market.sign_up("employer")
    resp = await market.client.post("/v1/listings", headers=employer.auth, json={
        "kind": "profile", "title": "t", "description": "x", "location": {"city": "Utrecht"}})
    assert resp.status_code == 403


async def test_lst_1_only_the_owner_writes_another_member_gets_404(market: Market) -> None:
    owner, other = await market.sign_up(), await market.sign_up()
    listing_id = await market.post(owner)
    path = f"/v1/listings/{listing_id}"
    c = market.client
    assert (await c.patch(path, json={"title": "Mine now"}, headers=other.auth)).status_code == 404
    assert (await c.post(f"{path}/unpublish", headers=other.auth)).status_code == 404
    assert (await c.delete(path, headers=other.auth)).status_code == 404
    assert (await c.get(f"{path}/applications", headers=other.auth)).status_code == 404
    assert (await c.patch(path, json={"title": "x"})).status_code == 401
    assert (await c.get(path)).json()["title"] == "Listing"


async def test_lst_1_create_edit_publish_unpublish_delete(market: Market) -> None:
    owner = await market.sign_up()
    c = market.client
    listing_id = await market.post(owner, title="Draft", publish=False)
    path = f"/v1/listings/{listing_id}"
    assert (await c.get(path)).status_code == 404  # a draft is not public
    assert (await c.get(path, headers=owner.auth)).json()["status"] == "draft"
    resp = await c.patch(path, headers=owner.auth, json={
        "title": "Edited", "location": {"city": "Amersfoort", "postcode": "3811"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["title"] == "Edited"
    assert resp.json()["location"] == {"city": "Amersfoort", "postcode": "3811"}
    assert (await c.post(f"{path}/publish", headers=owner.auth)).json()["status"] == "published"
    assert (await c.get(path)).json()["title"] == "Edited"
    assert (await c.post(f"{path}/unpublish", headers=owner.auth)).json()["status"] == (
        "unpublished")
    assert (await c.get(path)).status_code == 404
    mine = (await c.get("/v1/me/listings", headers=owner.auth)).json()["items"]
    assert [x["listing_id"] for x in mine] == [listing_id]
    assert (await c.delete(path, headers=owner.auth)).status_code == 204
    assert (await c.get(path, headers=owner.auth)).status_code == 404
    assert (await c.get("/v1/me/listings", headers=owner.auth)).json()["items"] == []


async def test_lst_1_bad_input_is_refused_without_echoing_it(market: Market) -> None:
    owner = await market.sign_up()
    c = market.client
    for body in (
        {"kind": "job", "title": "Echo-me-1", "description": "x", "location": {"city": "Utrecht"}},
        {"kind": "ad", "title": "", "description": "x", "location": {"city": "Utrecht"}},
        {"kind": "ad", "title": "t", "description": "x", "location": {"city": "Echo-me-2"}},
        {"kind": "ad", "title": "t", "description": "x", "location": {"city": "Utrecht"},
         "phone": "Echo-me-3"},
    ):
        resp = await c.post("/v1/listings", json=body, headers=owner.auth)
        assert resp.status_code == 422, resp.text
        assert "Echo-me" not in resp.text
        assert "error" in resp.json()


async def test_lst_1_listing_text_is_encrypted_in_the_event_store(market: Market) -> None:
    owner = await market.sign_up()
    listing_id = await market.post(owner, title="Plaintextcheck title")
    rt = market.listings.runtime
    assert rt is not None
    payloads = await rt.pool.fetch(
        "SELECT payload FROM listings.events WHERE stream_id = $1", f"listing-{listing_id}")
    assert payloads
    assert all(b"Plaintextcheck" not in bytes(p["payload"]) for p in payloads)
    sealed = await rt.pool.fetchval(
        "SELECT content FROM listings.listings WHERE listing_id = $1", listing_id)
    assert "Plaintextcheck" not in sealed
