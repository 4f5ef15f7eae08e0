"""The listing routes on the real platform: every service its own process (LST-1, LST-2, LST-4)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from members import Member, log_in, sign_up_body
from stack import Platform

pytestmark = pytest.mark.e2e


def account(client: httpx.Client, kind: str) -> Member:
    """Sign up an account of ``kind`` and log in."""
    body = {**sign_up_body(kind), "kind": kind,
            "accept_terms_version": client.get("/v1/terms").json()["version"]}
    resp = client.post("/v1/accounts", json=body)
    assert resp.status_code == 201, resp.text
    m = Member(resp.json()["account_id"], str(body["email"]), str(body["password"]),
               str(body["name"]), str(body["username"]), str(body["phone"]),
               str(body["address"]["street"]))  # type: ignore[index]
    log_in(client, m)
    return m


def retrying(again: Callable[[], httpx.Response]) -> httpx.Response:
    """Repeat a write while the listings service does not know the new account yet (409).

    A generous bound, not a timing assertion: how fast the accounts events arrive is the
    pipeline benchmark's business, not this test's.
    """
    deadline = time.monotonic() + 60
    resp = again()
    while resp.status_code == 409 and resp.json()["error"]["code"] == "account_not_ready":
        assert time.monotonic() < deadline, "the account never reached the listings service"
        time.sleep(0.1)
        resp = again()
    return resp


def test_lst_1_lst_2_lst_4_post_find_and_apply_through_the_real_gateway(
    platform: Platform,
) -> None:
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        employer, member = account(client, "employer"), account(client, "member")
        word = "Ebaktest" + employer.account_id.replace("-", "")[:8]
        resp = retrying(lambda: client.post("/v1/listings", headers=employer.auth, json={
            "kind": "vacancy", "title": f"{word} bakker", "description": "Vroeg op.",
            "location": {"city": "Utrecht"}}))
        assert resp.status_code == 201, resp.text
        listing_id = resp.json()["listing_id"]
        found = client.get("/v1/listings", params={"q": word, "city": "Zeist", "radius_km": 20})
        assert [i["listing_id"] for i in found.json()["items"]] == [listing_id]
        resp = retrying(lambda: client.post(
            f"/v1/listings/{listing_id}/applications", headers=member.auth,
            json={"share": ["name"]}))
        assert resp.status_code == 201, resp.text
        apps = client.get(f"/v1/listings/{listing_id}/applications", headers=employer.auth)
        assert apps.json()["items"][0]["applicant"] == {"name": member.name}


def test_lst_7_ordering_stops_being_personalised_after_objection(platform: Platform) -> None:
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        seller, member = account(client, "member"), account(client, "member")
        word = "Epersonal" + seller.account_id.replace("-", "")[:8]
        ids = {}
        for city in ("Groningen", "Maastricht", "Zwolle"):
            resp = retrying(lambda city=city: client.post(  # type: ignore[misc]
                "/v1/listings", headers=seller.auth, json={
                    "kind": "ad", "title": f"{word} {city}", "description": "Te koop.",
                    "location": {"city": city}}))
            assert resp.status_code == 201, resp.text
            ids[city] = resp.json()["listing_id"]
        resp = retrying(lambda: client.post(f"/v1/listings/{ids['Groningen']}/favourite",
                                            headers=member.auth))
        assert resp.status_code == 204, resp.text

        def page() -> dict[str, object]:
            found = client.get("/v1/listings", params={"q": word}, headers=member.auth)
            assert found.status_code == 200, found.text
            data: dict[str, object] = found.json()
            return data

        deadline = time.monotonic() + 60  # the guard learns the catalogue from Kafka
        while not (first := page())["personalised"]:
            assert time.monotonic() < deadline, "search never became personalised"
            time.sleep(0.2)
        items = first["items"]
        assert isinstance(items, list)
        assert items[0]["listing_id"] == ids["Groningen"]  # not the newest: the favoured place
        assert client.get("/v1/listings", params={"q": word}).json()["personalised"] is False

        resp = client.put("/v1/me/consents/onsite_personalisation", headers=member.auth,
                          json={"granted": False})
        assert resp.status_code == 200, resp.text
        deadline = time.monotonic() + 60
        while (after := page())["personalised"]:
            assert time.monotonic() < deadline, "the objection never reached the listings guard"
            time.sleep(0.2)
        items = after["items"]
        assert isinstance(items, list)
        assert [i["listing_id"] for i in items] == [ids["Zwolle"], ids["Maastricht"],
                                                    ids["Groningen"]]  # newest first


def test_lst_2_an_exact_position_is_used_only_with_the_members_consent(
    platform: Platform,
) -> None:
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        seller, member = account(client, "member"), account(client, "member")
        word = "Egeo" + seller.account_id.replace("-", "")[:8]
        ids = {}
        for city in ("Zeist", "Groningen"):
            resp = retrying(lambda city=city: client.post(  # type: ignore[misc]
                "/v1/listings", headers=seller.auth, json={
                    "kind": "ad", "title": f"{word} {city}", "description": "Te koop.",
                    "location": {"city": city}}))
            ids[city] = resp.json()["listing_id"]
        params = {"q": word, "near_lat": 52.09, "near_lon": 5.24, "radius_km": 5}

        def search(auth: dict[str, str] | None) -> tuple[object, set[str]]:
            data = client.get("/v1/listings", params=params, headers=auth or {}).json()
            return data["location"], {i["listing_id"] for i in data["items"]}

        assert search(None) == (None, set(ids.values()))  # anonymous: never used
        assert search(member.auth) == (None, set(ids.values()))  # no consent (default off)
        resp = client.put("/v1/me/consents/exact_geolocation", headers=member.auth,
                          json={"granted": True})
        assert resp.status_code == 200, resp.text
        deadline = time.monotonic() + 60
        while (found := search(member.auth))[0] != "exact":
            assert time.monotonic() < deadline, "the consent never reached the listings guard"
            time.sleep(0.2)
        assert found == ("exact", {ids["Zeist"]})
        client.put("/v1/me/consents/exact_geolocation", headers=member.auth,
                   json={"granted": False})
        deadline = time.monotonic() + 60
        while search(member.auth)[0] == "exact":
            assert time.monotonic() < deadline, "the withdrawal never reached the listings guard"
            time.sleep(0.2)
