"""The gateway's member routes in front of an in-process accounts service (ACC-*, SEC-2)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(accounts_gateway: Any) -> httpx.AsyncClient:
    """The gateway client (member routes, accounts in-process)."""
    client: httpx.AsyncClient = accounts_gateway.client
    return client


def member(**overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    body: dict[str, Any] = {
        "email": f"m{tag}@example.org", "password": "correct horse battery",
        "name": f"Member {tag}", "username": f"u_{tag}", "phone": "+31612345678",
        "address": {"street": "Damrak 1", "postcode": "1012LG", "city": "Amsterdam"},
        "accept_terms_version": "2026-01",
    }
    body.update(overrides)
    return body


async def signed_in(
    gw: httpx.AsyncClient, **overrides: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    body = member(**overrides)
    assert (await gw.post("/v1/accounts", json=body)).status_code == 201
    resp = await gw.post("/v1/sessions", json={"email": body["email"],
                                               "password": body["password"],
                                               "remember_me": True})
    assert resp.status_code == 201, resp.text
    assert set(resp.json()) == {"token", "expires_at"}
    return body, {"Authorization": f"Bearer {resp.json()['token']}"}


async def test_acc_1_terms_sign_up_log_in_and_me(gateway: httpx.AsyncClient) -> None:
    terms = (await gateway.get("/v1/terms")).json()
    body, auth = await signed_in(gateway, accept_terms_version=terms["version"])
    me = await gateway.get("/v1/me", headers=auth)
    assert me.status_code == 200
    assert me.json()["email"] == body["email"]


@pytest.mark.parametrize("bad", [
    {"email": "not-an-email"}, {"password": "short"}, {"phone": "0612345678"},
    {"date_of_birth": "01-02-2000"}, {"date_of_birth": "2000-02-31"},
    {"address": {"street": "x"}}, {"kind": "admin"},
])
async def test_acc_1_bad_input_is_422(gateway: httpx.AsyncClient, bad: dict[str, Any]) -> None:
    assert (await gateway.post("/v1/accounts", json=member(**bad))).status_code == 422


async def test_acc_3_under_sixteen_is_422_too_young(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.post("/v1/accounts", json=member(date_of_birth="2014-01-01"))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "too_young"


async def test_acc_1_email_taken_is_409(gateway: httpx.AsyncClient) -> None:
    body = member()
    assert (await gateway.post("/v1/accounts", json=body)).status_code == 201
    again = await gateway.post("/v1/accounts", json={**member(), "email": body["email"]})
    assert again.status_code == 409


async def test_acc_4_patch_me_needs_reauth_then_works(gateway: httpx.AsyncClient) -> None:
    body, auth = await signed_in(gateway)
    refused = await gateway.patch("/v1/me", json={"name": "Renamed"}, headers=auth)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reauth_required"
    wrong = await gateway.post("/v1/sessions/current/reauth", json={"password": "bad pass"},
                               headers=auth)
    assert wrong.status_code == 401
    ok = await gateway.post("/v1/sessions/current/reauth", json={"password": body["password"]},
                            headers=auth)
    assert ok.status_code == 204
    changed = await gateway.patch("/v1/me", json={"name": "Renamed", "phone": None}, headers=auth)
    assert changed.status_code == 200
    assert changed.json()["name"] == "Renamed" and changed.json()["phone"] is None


async def test_acc_4_logout_kills_the_token(gateway: httpx.AsyncClient) -> None:
    _, auth = await signed_in(gateway)
    assert (await gateway.delete("/v1/sessions/current", headers=auth)).status_code == 204
    assert (await gateway.get("/v1/me", headers=auth)).status_code == 401


async def test_sec_2_missing_or_dead_token_is_401(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/v1/me")).status_code == 401
    dead = {"Authorization": "Bearer not-a-real-token"}
    assert (await gateway.get("/v1/me", headers=dead)).status_code == 401


async def test_sec_2_another_members_device_is_404(gateway: httpx.AsyncClient) -> None:
    _, alice = await signed_in(gateway)
    _, bob = await signed_in(gateway)
    dev = await gateway.post("/v1/me/devices", json={
        "device_id": "d1", "device_type": "web", "push_token": "tok"}, headers=alice)
    assert dev.status_code == 201
    reg = dev.json()["id"]
    assert (await gateway.delete(f"/v1/me/devices/{reg}", headers=bob)).status_code == 404
    assert (await gateway.get("/v1/me/devices", headers=bob)).json()["items"] == []
    assert (await gateway.delete(f"/v1/me/devices/{reg}", headers=alice)).status_code == 204


async def test_acc_9_closure_needs_step_up_and_ends_the_session(
    gateway: httpx.AsyncClient,
) -> None:
    body, auth = await signed_in(gateway)
    assert (await gateway.post("/v1/me/closure", headers=auth)).status_code == 403
    await gateway.post("/v1/sessions/current/reauth", json={"password": body["password"]},
                       headers=auth)
    assert (await gateway.delete("/v1/me", headers=auth)).status_code == 204
    assert (await gateway.get("/v1/me", headers=auth)).status_code == 401


async def test_acc_11_misuse_report_revokes_the_session(gateway: httpx.AsyncClient) -> None:
    _, auth = await signed_in(gateway)
    resp = await gateway.post("/v1/me/misuse-report", json={}, headers=auth)
    assert resp.status_code == 202
    assert (await gateway.get("/v1/me", headers=auth)).status_code == 401
