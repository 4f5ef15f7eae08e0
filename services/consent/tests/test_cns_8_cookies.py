"""Cookie and tracking consent for members and anonymous visitors (CNS-8)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from consent.service_layer.context import Context

pytestmark = pytest.mark.integration


async def test_cns_8_visitor_cookie_choices_are_in_the_ledger_under_a_random_id(
    client: httpx.AsyncClient, ctx: Context,
) -> None:
    fresh = (await client.get("/internal/cookies")).json()
    assert fresh["functional"] is True
    assert fresh["analytics"] is False and fresh["marketing"] is False
    chosen = await client.put("/internal/cookies", json={"analytics": True})
    assert chosen.status_code == 200
    visitor = chosen.json()["visitor_id"]
    assert visitor.startswith("visitor-")
    assert chosen.json() == {"functional": True, "analytics": True, "marketing": False,
                             "visitor_id": visitor}
    again = (await client.get("/internal/cookies", params={"visitor_id": visitor})).json()
    assert again["analytics"] is True
    async with ctx.reading() as repo:
        ledger, _ = await repo.load(visitor)
    [entry] = [e.view() for e in ledger.entries]
    assert entry["purpose"] == "cookies_analytics" and entry["action"] == "granted"
    assert entry["source"] == "cookie_banner"
    # Only ids the platform gave are accepted, so a visitor cannot write a member's ledger.
    bad = await client.put("/internal/cookies", json={"visitor_id": "some-member-id"})
    assert bad.status_code == 422 and "some-member-id" not in bad.text


async def test_cns_8_member_cookie_choices_and_functional_always_on(
    client: httpx.AsyncClient, h: dict[str, str], rt: Any,
) -> None:
    chosen = await client.put("/internal/cookies", json={"analytics": False, "marketing": True},
                              headers=h)
    assert chosen.json() == {"functional": True, "analytics": False, "marketing": True,
                             "visitor_id": None}
    off = await client.put("/internal/consents/cookies_functional", json={"granted": False},
                           headers=h)
    assert off.status_code == 409
