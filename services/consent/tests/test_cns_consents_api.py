"""Consent purposes, objections and preferences over the internal API (CNS-1..3, PRV-4)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


def _by_purpose(body: dict[str, object]) -> dict[str, dict[str, object]]:
    return {p["purpose"]: p for p in body["purposes"]}  # type: ignore[attr-defined,index,misc]


async def test_cns_2_every_consent_purpose_starts_off_and_can_be_withdrawn(
    client: httpx.AsyncClient, h: dict[str, str],
) -> None:
    purposes = _by_purpose((await client.get("/internal/consents", headers=h)).json())
    named = {"marketing_email", "marketing_phone", "marketing_sms", "group_marketing",
             "third_party_marketing", "third_party_ad_personalisation", "exact_geolocation"}
    assert named <= set(purposes)
    assert all(p["granted"] is False for p in purposes.values()
               if p["legal_basis"] == "consent")
    granted = await client.put("/internal/consents/marketing_email", json={"granted": True},
                               headers=h)
    assert granted.status_code == 200
    assert granted.json()["granted"] is True and granted.json()["legal_basis"] == "consent"
    withdrawn = await client.put("/internal/consents/marketing_email", json={"granted": False},
                                 headers=h)
    assert withdrawn.json()["granted"] is False
    again = _by_purpose((await client.get("/internal/consents", headers=h)).json())
    assert again["marketing_email"]["granted"] is False
    assert again["marketing_email"]["updated_at"] is not None


async def test_cns_3_prv_4_objection_to_a_legitimate_interest_purpose(
    client: httpx.AsyncClient, h: dict[str, str],
) -> None:
    purposes = _by_purpose((await client.get("/internal/consents", headers=h)).json())
    li = {"onsite_personalisation", "coupons_and_surveys", "campaign_measurement"}
    assert all(purposes[p]["legal_basis"] == "legitimate_interest" and purposes[p]["granted"]
               for p in li)
    objected = await client.put("/internal/consents/onsite_personalisation",
                                json={"granted": False}, headers=h)
    assert objected.status_code == 200
    assert objected.json()["granted"] is False and objected.json()["objected"] is True


async def test_cns_2_contract_and_legal_obligation_purposes_answer_409(
    client: httpx.AsyncClient, h: dict[str, str],
) -> None:
    for purpose in ("service_messages", "legal_obligations", "cookies_functional"):
        resp = await client.put(f"/internal/consents/{purpose}", json={"granted": False},
                                headers=h)
        assert resp.status_code == 409, purpose
        assert resp.json()["error"]["code"] == "not_consent_based"
    unknown = await client.put("/internal/consents/no_such_purpose", json={"granted": True},
                               headers=h)
    assert unknown.status_code == 404


async def test_cns_1_preferences_per_channel_and_kind(
    client: httpx.AsyncClient, h: dict[str, str],
) -> None:
    channels = (await client.get("/internal/consents", headers=h)).json()["channels"]
    assert set(channels) == {"email", "phone", "sms", "post", "push"}
    assert all(set(kinds) == {"service_messages", "newsletters", "special_offers"}
               for kinds in channels.values())
    resp = await client.put("/internal/preferences", headers=h,
                            json={"channels": {"sms": {"newsletters": False}}})
    assert resp.status_code == 200
    assert resp.json()["channels"]["sms"]["newsletters"] is False
    assert resp.json()["channels"]["email"]["newsletters"] is True
    bad = await client.put("/internal/preferences", headers=h,
                           json={"channels": {"pigeon": {"newsletters": False}}})
    assert bad.status_code == 422
    assert "pigeon" not in bad.text


async def test_consent_routes_need_the_gateway_identity(client: httpx.AsyncClient) -> None:
    assert (await client.get("/internal/consents")).status_code == 401
