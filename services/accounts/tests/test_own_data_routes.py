"""Issue 26 (SEC-2, ACC-8, ACC-10): a member's own routes trust the signed caller, not the path.

Every route under ``/internal/accounts/{account_id}`` but ``/public`` is found in the
service's own OpenAPI (so a route added later is covered) and called, signed, for the
member's id by another member and by nobody: each answers 404 and holds none of the
member's values. The public profile answers anyone, with the public fields only.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from kernel.caller import same_account
from kernel.http import ApiError

pytestmark = pytest.mark.integration

PUBLIC = "/internal/accounts/{account_id}/public"


async def signed_up(client: httpx.AsyncClient, **extra: Any) -> tuple[dict[str, Any], str]:
    tag = uuid.uuid4().hex[:10]
    body: dict[str, Any] = {
        "email": f"own{tag}@example.org", "password": "correct horse battery",
        "name": f"Name {tag}", "username": f"own_{tag}",
        "phone": "+316" + str(int(tag[:8], 16) % 10**8).zfill(8),
        "address": {"street": f"Street {tag} 1", "postcode": "1011AB", "city": "Amsterdam"},
        "accept_terms_version": "2026-01", **extra,
    }
    resp = await client.post("/internal/accounts", json=body)
    assert resp.status_code == 201, resp.text
    return body, resp.json()["account_id"]


async def _own_routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    spec = (await client.get("/openapi.json")).json()
    return [(method.upper(), path) for path, ops in spec["paths"].items()
            if path.startswith("/internal/accounts/{account_id}") and path != PUBLIC
            for method in ops]


def _values(body: dict[str, Any]) -> list[str]:
    return [body["email"], body["name"], body["phone"], body["address"]["street"]]


async def test_sec_2_own_routes_refuse_another_caller_and_no_caller(
    client: httpx.AsyncClient,
) -> None:
    body, victim = await signed_up(client, date_of_birth="1991-03-04")
    device = await client.post(f"/internal/accounts/{victim}/devices", json={
        "device_id": "victim-device", "device_type": "ios", "push_token": "victim-push"})
    assert device.status_code == 201, device.text
    _, mallory = await signed_up(client)
    routes = await _own_routes(client)
    assert len(routes) >= 10, routes
    secrets = [*_values(body), "1991-03-04", "victim-push"]
    for caller in (mallory, ""):
        for method, template in routes:
            path = template.format(account_id=victim, registration_id=device.json()["id"],
                                   link_id=device.json()["id"])
            resp = await client.request(method, path, json={},
                                        headers={"X-Account-Id": caller, "X-Session-Id": ""})
            assert resp.status_code == 404, (caller, method, template, resp.text)
            assert not [v for v in secrets if v in resp.text], (method, template)
    mine = await client.get(f"/internal/accounts/{victim}/devices")
    assert [d["push_token"] for d in mine.json()["items"]] == ["victim-push"]


async def test_acc_10_public_profile_answers_anyone_with_public_fields_only(
    client: httpx.AsyncClient,
) -> None:
    body, victim = await signed_up(client, date_of_birth="1991-03-04")
    resp = await client.get(f"/internal/accounts/{victim}/public",
                            headers={"X-Account-Id": ""})
    assert resp.status_code == 200
    assert set(resp.json()) == {"account_id", "kind", "username"}
    assert not [v for v in _values(body) if v in resp.text]


def test_sec_2_same_account_needs_the_signed_caller_to_be_the_path() -> None:
    assert same_account("ABC-1", "abc-1") == "abc-1"
    for caller in (None, "", "abc-2"):
        with pytest.raises(ApiError) as refused:
            same_account("abc-1", caller)
        assert refused.value.status == 404
