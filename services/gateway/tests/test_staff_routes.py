"""SEC-2 staff routes of the gateway in front of an in-process accounts service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from accounts.domain.staff import Role
from accounts.service_layer.staff import GrantRole, grant_role
from kernel.service import ServiceHost

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    """The gateway client and the accounts host behind it."""

    gw: httpx.AsyncClient
    accounts: ServiceHost
    app: FastAPI

    async def grant(self, account_id: str, role: Role) -> None:
        """Grant a role the way ``python -m accounts grant-role`` does."""
        assert self.accounts.runtime is not None
        await grant_role(GrantRole(account_id, role, None), self.accounts.runtime.extra["ctx"])


@pytest.fixture
def stack(accounts_gateway: Any) -> Stack:
    """The gateway client and the accounts host behind it."""
    return Stack(accounts_gateway.client, accounts_gateway.accounts, accounts_gateway.app)


@dataclass
class Person:
    """A signed-in account."""

    account_id: str
    body: dict[str, Any]
    auth: dict[str, str]


async def person(gw: httpx.AsyncClient) -> Person:
    """Sign up and log in through the gateway."""
    tag = uuid.uuid4().hex[:10]
    body = {
        "email": f"s{tag}@example.org", "password": "correct horse battery",
        "name": f"Staff Test {tag}", "username": f"s_{tag}", "phone": "+31612345678",
        "address": {"street": f"Damrak {tag}", "postcode": "1012LG", "city": "Amsterdam"},
        "date_of_birth": "1991-04-05", "accept_terms_version": "2026-01",
    }
    created = await gw.post("/v1/accounts", json=body)
    assert created.status_code == 201, created.text
    resp = await gw.post("/v1/sessions", json={"email": body["email"],
                                               "password": body["password"],
                                               "remember_me": False})
    assert resp.status_code == 201, resp.text
    return Person(created.json()["account_id"], body,
                  {"Authorization": f"Bearer {resp.json()['token']}"})


def staff_read(stack: Stack, who: Person, member: Person, **params: Any) -> Any:
    """``GET /v1/staff/accounts/{id}`` as ``who``."""
    params.setdefault("purpose", "support_request")
    return stack.gw.get(f"/v1/staff/accounts/{member.account_id}", params=params,
                        headers=who.auth)


async def test_sec_2_staff_routes_need_a_live_token(stack: Stack) -> None:
    member = await person(stack.gw)
    url = f"/v1/staff/accounts/{member.account_id}"
    assert (await stack.gw.get(url, params={"purpose": "support_request"})).status_code == 401
    dead = {"Authorization": "Bearer not-a-real-token"}
    for resp in (
        await stack.gw.get(url, params={"purpose": "support_request"}, headers=dead),
        await stack.gw.get("/v1/staff/access-log", headers=dead),
        await stack.gw.post("/v1/staff/roles", json={"account_id": "x", "role": "dpo"},
                            headers=dead),
    ):
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "unauthenticated"


async def test_sec_2_a_member_without_a_staff_role_is_forbidden(stack: Stack) -> None:
    member, other = await person(stack.gw), await person(stack.gw)
    for resp in (
        await staff_read(stack, other, member),
        await stack.gw.get("/v1/staff/access-log", headers=other.auth),
        await stack.gw.get("/v1/staff/roles", headers=other.auth),
        await stack.gw.post("/v1/staff/roles", headers=other.auth,
                            json={"account_id": other.account_id, "role": "dpo"}),
        await stack.gw.delete(f"/v1/staff/roles/{member.account_id}/support",
                              headers=other.auth),
    ):
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "forbidden"
    me = await stack.gw.get("/v1/staff/me", headers=other.auth)
    assert me.status_code == 200 and me.json()["roles"] == []


async def test_sec_2_dpo_appoints_support_whose_reads_are_limited_and_logged(
    stack: Stack,
) -> None:
    member = await person(stack.gw)
    dpo, agent = await person(stack.gw), await person(stack.gw)
    await stack.grant(dpo.account_id, Role.DPO)

    grant = {"account_id": agent.account_id, "role": "support"}
    refused = await stack.gw.post("/v1/staff/roles", json=grant, headers=dpo.auth)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reauth_required"
    assert (await stack.gw.post("/v1/sessions/current/reauth", headers=dpo.auth,
                                json={"password": dpo.body["password"]})).status_code == 204
    granted = await stack.gw.post("/v1/staff/roles", json=grant, headers=dpo.auth)
    assert granted.status_code == 201, granted.text
    assert granted.json()["roles"] == ["support"]

    resp = await staff_read(stack, agent, member, reference="TICKET-9")
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert view["role"] == "support" and view["purpose"] == "support_request"
    assert view["data"]["email"] == member.body["email"]
    assert "date_of_birth" not in view["data"] and "sessions" not in view["data"]
    beyond = await staff_read(stack, agent, member, categories=["security_logs"])
    assert beyond.status_code == 403
    assert beyond.json()["error"]["code"] == "forbidden"
    assert (await stack.gw.get(f"/v1/staff/accounts/{member.account_id}",
                               headers=agent.auth)).status_code == 422

    log = await stack.gw.get("/v1/staff/access-log",
                             params={"subject_id": member.account_id}, headers=dpo.auth)
    assert log.status_code == 200
    [entry] = log.json()["items"]
    assert (entry["access_id"], entry["staff_account_id"], entry["reference"]) == (
        view["access_id"], agent.account_id, "TICKET-9")
    for value in (member.body["email"], member.body["name"], member.body["phone"]):
        assert value not in log.text

    gone = await stack.gw.delete(f"/v1/staff/roles/{agent.account_id}/support",
                                 headers=dpo.auth)
    assert gone.status_code == 204
    after = await staff_read(stack, agent, member)
    assert after.status_code == 403


async def test_sec_2_a_dpo_reads_every_category_and_an_unknown_member_is_404(
    stack: Stack,
) -> None:
    member, dpo = await person(stack.gw), await person(stack.gw)
    await stack.grant(dpo.account_id, Role.DPO)
    resp = await staff_read(stack, dpo, member, purpose="privacy_request")
    assert resp.status_code == 200
    assert resp.json()["data"]["date_of_birth"] == "1991-04-05"
    assert sorted(resp.json()["categories"]) == [
        "contact", "device", "identity", "optional_demographics", "security_logs"]
    missing = await stack.gw.get(f"/v1/staff/accounts/{uuid.uuid4()}",
                                 params={"purpose": "privacy_request"}, headers=dpo.auth)
    assert missing.status_code == 404


async def test_sec_2_staff_routes_are_described_in_openapi(stack: Stack) -> None:
    paths = stack.app.openapi()["paths"]
    read = paths["/v1/staff/accounts/{account_id}"]["get"]
    assert {p["name"] for p in read["parameters"]} >= {"account_id", "purpose", "reference",
                                                       "categories"}
    assert next(p for p in read["parameters"] if p["name"] == "purpose")["required"] is True
    assert {"/v1/staff/me", "/v1/staff/roles", "/v1/staff/roles/{account_id}/{role}",
            "/v1/staff/access-log"} <= set(paths)
