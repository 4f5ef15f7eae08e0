"""The gateway's privacy-request routes against fake upstreams (PRV-5, PRV-7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.routes.privacy import router
from kernel.http import install_error_handlers

pytestmark = pytest.mark.unit

ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
REQ = str(uuid.uuid4())


class FakeUpstreams:
    """Accounts introspection by token name; retention answers recorded calls."""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.sessions: dict[str, tuple[str, datetime | None]] = {
            "alice-stepped": (ALICE, now + timedelta(minutes=5)),
            "alice-plain": (ALICE, None),
            "alice-expired-stepup": (ALICE, now - timedelta(minutes=1)),
            "bob": (BOB, None),
        }
        self.calls: list[tuple[str, str, str, Any, dict[str, str]]] = []

    async def call(self, service: str, method: str, path: str, *, json: Any = None,
                   params: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        self.calls.append((service, method, path, json, dict(headers or {})))
        if service == "accounts":
            found = self.sessions.get(json["token"])
            if found is None:
                return httpx.Response(401, json={"error": {"code": "unauthenticated",
                                                           "message": "x"}})
            account, step = found
            return httpx.Response(200, json={
                "account_id": account, "session_id": "s1", "kind": "member",
                "remember_me": False, "expires_at": "2030-01-01T00:00:00+00:00",
                "step_up_until": step.isoformat() if step else None})
        if method == "POST":
            return httpx.Response(202, json={"request_id": REQ, "status_token": "prs_abc"})
        h = headers or {}
        if h.get("X-Status-Token") == "prs_good" or h.get("X-Account-Id") == ALICE:
            return httpx.Response(200, json={
                "request_id": REQ, "type": "erasure", "status": "in_progress",
                "due_at": "2030-01-01T00:00:00+00:00", "receipts": [], "exceptions": []})
        if "X-Status-Token" in h:
            return httpx.Response(401, json={"error": {"code": "unauthenticated",
                                                       "message": "x"}})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "x"}})


@pytest.fixture
def ups() -> FakeUpstreams:
    return FakeUpstreams()


@pytest.fixture
async def client(ups: FakeUpstreams) -> Any:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.upstreams = ups
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://gw") as c:
        yield c


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_prv7_privacy_request_needs_a_session(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/privacy-requests", json={"type": "erasure"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("token", ["alice-plain", "alice-expired-stepup"])
async def test_prv7_privacy_request_outside_step_up_is_403_reauth_required(
    client: httpx.AsyncClient, ups: FakeUpstreams, token: str,
) -> None:
    resp = await client.post("/v1/privacy-requests", json={"type": "erasure"},
                             headers=_auth(token))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "reauth_required"
    assert not [c for c in ups.calls if c[0] == "retention"]


async def test_prv7_stepped_up_request_goes_to_retention_as_verified_for_the_session_member(
    client: httpx.AsyncClient, ups: FakeUpstreams,
) -> None:
    resp = await client.post("/v1/privacy-requests", json={"type": "erasure"},
                             headers=_auth("alice-stepped"))
    assert resp.status_code == 202
    assert resp.json() == {"request_id": REQ, "status_token": "prs_abc"}
    (call,) = [c for c in ups.calls if c[0] == "retention"]
    assert call[2] == "/internal/privacy-requests"
    assert call[3] == {"subject_id": ALICE, "type": "erasure", "channel": "app",
                       "identity_verified": True, "carried_out": False}


async def test_prv7_unknown_request_type_is_422(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/privacy-requests", json={"type": "forget-me-maybe"},
                             headers=_auth("alice-stepped"))
    assert resp.status_code == 422


async def test_prv7_status_readable_with_own_session(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"/v1/privacy-requests/{REQ}", headers=_auth("alice-plain"))
    assert resp.status_code == 200 and resp.json()["status"] == "in_progress"


async def test_prv7_another_members_request_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"/v1/privacy-requests/{REQ}", headers=_auth("bob"))
    assert resp.status_code == 404


async def test_prv7_status_token_reads_without_a_session_and_skips_accounts(
    client: httpx.AsyncClient, ups: FakeUpstreams,
) -> None:
    resp = await client.get(f"/v1/privacy-requests/{REQ}", headers=_auth("prs_good"))
    assert resp.status_code == 200
    assert not [c for c in ups.calls if c[0] == "accounts"]
    bad = await client.get(f"/v1/privacy-requests/{REQ}", headers=_auth("prs_bad"))
    assert bad.status_code == 401


async def test_prv7_status_without_any_token_is_401_and_bad_id_is_404(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get(f"/v1/privacy-requests/{REQ}")).status_code == 401
    assert (await client.get("/v1/privacy-requests/..", headers=_auth("alice-plain"))
            ).status_code == 404
