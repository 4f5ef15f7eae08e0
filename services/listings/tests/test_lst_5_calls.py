"""Call tracking: a listing's phone shows as a pseudonymised number; calls are recorded
pseudonymised only (LST-5)."""

from __future__ import annotations

import pytest
from listings_market import Market

pytestmark = pytest.mark.integration


async def test_lst_5_the_phone_is_shown_as_a_tracking_number_and_calls_are_pseudonymised(
    market: Market,
) -> None:
    owner, other = await market.sign_up(), await market.sign_up()
    real = "+31687654321"
    listing_id = await market.post(owner, phone=real, title="Callcheckzqx")
    c = market.client
    public = (await c.get(f"/v1/listings/{listing_id}")).json()
    number = public["phone"]
    assert number.startswith("+3197") and number != real
    assert real not in str(public)
    [found] = (await c.get("/v1/listings", params={"q": "Callcheckzqx"})).json()["items"]
    assert (found["listing_id"], found["phone"]) == (listing_id, number)

    caller = "+31611112222"
    resp = await c.post(f"/v1/call-tracking/{number}/calls",
                        json={"caller": caller, "duration_seconds": 42})
    assert resp.status_code == 201, resp.text
    calls = (await c.get(f"/v1/listings/{listing_id}/calls", headers=owner.auth)).json()["items"]
    assert [x["duration_seconds"] for x in calls] == [42]
    assert calls[0]["caller"].startswith("caller-") and caller not in str(calls)
    assert (await c.get(f"/v1/listings/{listing_id}/calls",
                        headers=other.auth)).status_code == 404

    rt = market.listings.runtime
    assert rt is not None
    for number_text in (real, caller):
        assert not await rt.pool.fetchval(
            "SELECT count(*) FROM listings.events WHERE payload::text LIKE '%' || $1 || '%'",
            number_text)
        for table in ("calls", "call_numbers", "search"):
            assert not await rt.pool.fetchval(
                f"SELECT count(*) FROM listings.{table} t WHERE t::text LIKE '%' || $1 || '%'",
                number_text)
    unknown = await c.post("/v1/call-tracking/+31600000000/calls",
                           json={"caller": caller, "duration_seconds": 1})
    assert unknown.status_code == 404


async def test_lst_5_removing_the_phone_retires_its_tracking_number(market: Market) -> None:
    owner = await market.sign_up()
    listing_id = await market.post(owner, phone="+31655556666")
    c = market.client
    number = (await c.get(f"/v1/listings/{listing_id}")).json()["phone"]
    resp = await c.patch(f"/v1/listings/{listing_id}", headers=owner.auth, json={"phone": None})
    assert resp.status_code == 200, resp.text
    assert resp.json()["phone"] is None
    gone = await c.post(f"/v1/call-tracking/{number}/calls",
                        json={"caller": "+31611112222", "duration_seconds": 1})
    assert gone.status_code == 404
