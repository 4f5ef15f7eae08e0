"""Call tracking: a listing's phone shows as a pseudonymised number; calls are recorded
pseudonymised only, and only when the telephony provider signed the report (LST-5)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest
from listings_market import Market

from listings.domain.webhook import signature

pytestmark = pytest.mark.integration


async def report(market: Market, number: str, body: dict[str, Any], *, at: float | None = None,
                 secret: bytes | None = None, headers: dict[str, str] | None = None
                 ) -> httpx.Response:
    """A call report through the gateway, signed as the provider signs it (README)."""
    raw = orjson.dumps(body)
    if headers is None:
        configured = market.listings.settings.telephony_secret  # type: ignore[attr-defined]
        assert configured is not None, "the devstack gives listings a telephony secret"
        ts = str(int(at if at is not None else time.time()))
        headers = {"X-Telephony-Timestamp": ts, "X-Telephony-Signature": signature(
            secret or configured.get_secret_value().encode(), ts, number, raw)}
    return await market.client.post(f"/v1/call-tracking/{number}/calls", content=raw,
                                    headers={"content-type": "application/json", **headers})


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
    resp = await report(market, number, {"caller": caller, "duration_seconds": 42})
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
    unknown = await report(market, "+31600000000", {"caller": caller, "duration_seconds": 1})
    assert unknown.status_code == 404


async def test_lst_5_removing_the_phone_retires_its_tracking_number(market: Market) -> None:
    owner = await market.sign_up()
    listing_id = await market.post(owner, phone="+31655556666")
    c = market.client
    number = (await c.get(f"/v1/listings/{listing_id}")).json()["phone"]
    resp = await c.patch(f"/v1/listings/{listing_id}", headers=owner.auth, json={"phone": None})
    assert resp.status_code == 200, resp.text
    assert resp.json()["phone"] is None
    gone = await report(market, number, {"caller": "+31611112222", "duration_seconds": 1})
    assert gone.status_code == 404


async def test_lst_5_only_a_report_signed_by_the_provider_records_a_call_and_only_once(
    market: Market,
) -> None:
    owner = await market.sign_up()
    listing_id = await market.post(owner, phone="+31677778888")
    c = market.client
    number = (await c.get(f"/v1/listings/{listing_id}")).json()["phone"]
    body = {"caller": "+31622223333", "duration_seconds": 7}

    def codes(resp: httpx.Response) -> tuple[int, str]:
        return resp.status_code, resp.json()["error"]["code"]

    assert codes(await report(market, number, body, headers={})) == (401, "signature_missing")
    assert codes(await report(market, number, body, secret=b"not the provider's")) == (
        401, "signature_invalid")
    assert codes(await report(market, number, body, at=time.time() - 600)) == (
        401, "signature_expired")
    raw = orjson.dumps(body)
    ts = str(int(time.time()))
    secret = market.listings.settings.telephony_secret  # type: ignore[attr-defined]
    signed = {"X-Telephony-Timestamp": ts, "X-Telephony-Signature": signature(
        secret.get_secret_value().encode(), ts, number, raw)}
    valid = await report(market, number, body, headers=signed)
    assert valid.status_code == 201, valid.text
    assert codes(await report(market, number, body, headers=signed)) == (
        401, "signature_replayed")
    # The same signature on another tracking number is no signature at all.
    other = (await c.get(f"/v1/listings/{await market.post(owner, phone='+31677779999')}")
             ).json()["phone"]
    assert codes(await report(market, other, body, headers=signed)) == (
        401, "signature_invalid")
    calls = (await c.get(f"/v1/listings/{listing_id}/calls", headers=owner.auth)).json()["items"]
    assert [x["duration_seconds"] for x in calls] == [7]


async def test_lst_5_reports_beyond_the_limit_per_number_get_429_with_retry_after(
    market: Market,
) -> None:
    limit = market.listings.settings.webhook_calls_per_number  # type: ignore[attr-defined]
    body = {"caller": "+31622223333", "duration_seconds": 1}
    for _ in range(2):  # a second round, on another number, if a minute turned over mid-way
        number = "+3197" + str(time.time_ns())[-9:]  # no listing: each report answers 404
        answers = [(await report(market, number, body)).status_code for _ in range(limit + 2)]
        if answers == [404] * limit + [429, 429]:
            break
    assert answers == [404] * limit + [429, 429]
    limited = await report(market, number, body)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
