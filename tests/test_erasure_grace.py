"""PRV-5, grace and undo (issue 15): an erasure request locks the account at once (no
log-in, every session ended, the public profile withheld) and the key is shredded only
after the grace window, during which the member cancels with the request's status token
and is whole again.

The session's platform runs with the embedded default (no window, API.md's timing); this
module runs a retention service in this process with a window of a few seconds, beside
the platform's accounts, gateway and other services, as a replica with other settings.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from members import Member, log_in, sign_up
from stack import Platform, eventually

from kernel.internal_auth import SignedCalls
from retention import bootstrap
from retention.settings import RetentionSettings

pytestmark = pytest.mark.e2e

GRACE = 4.0


@pytest.fixture(scope="module")
def graceful(platform: Platform) -> Iterator[Any]:
    """A retention replica with a grace window, in a thread of its own event loop; yields
    a function submitting a verified erasure to it: (request id, status token)."""
    loop = asyncio.new_event_loop()
    host = bootstrap.build(RetentionSettings(erasure_grace_seconds=GRACE))  # type: ignore[call-arg]
    ready: asyncio.Future[httpx.AsyncClient] = loop.create_future()
    stop = asyncio.Event()

    async def run() -> None:
        async with host.app.router.lifespan_context(host.app):
            await host.wait_ready(180)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app),
                                         base_url="http://retention",
                                         auth=SignedCalls("retention")) as c:
                ready.set_result(c)
                await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    c = asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(240)

    def submit(m: Member) -> tuple[str, str]:
        async def go() -> httpx.Response:
            return await c.post("/internal/privacy-requests", json={
                "subject_id": m.account_id, "type": "erasure", "channel": "app",
                "identity_verified": True})
        resp = asyncio.run_coroutine_threadsafe(go(), loop).result(60)
        assert resp.status_code == 202, resp.text
        return resp.json()["request_id"], resp.json()["status_token"]

    try:
        yield submit
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)


async def _wait(ready: asyncio.Future[httpx.AsyncClient]) -> httpx.AsyncClient:
    return await ready


def _status(client: httpx.Client, request_id: str, token: str) -> dict[str, Any]:
    got = client.get(f"/v1/privacy-requests/{request_id}",
                     headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def _login_answer(client: httpx.Client, m: Member) -> httpx.Response:
    return client.post("/v1/sessions", json={"email": m.email, "password": m.password,
                                             "remember_me": False})


def test_prv5_a_cancelled_erasure_within_the_window_leaves_the_member_whole(
    client: httpx.Client, graceful: Any,
) -> None:
    m = sign_up(client, "grace")
    time.sleep(1)  # the account reaches every service first
    request_id, token = graceful(m)
    state = _status(client, request_id, token)
    assert state["status"] == "verified" and state["erasure_at"], state

    def locked() -> None:
        got = _login_answer(client, m)
        assert got.status_code == 403, got.text
        assert got.json()["error"]["code"] == "account_locked"

    eventually(locked, timeout=30)
    assert client.get("/v1/me", headers=m.auth).status_code == 401  # sessions ended

    got = client.post(f"/v1/privacy-requests/{request_id}/cancel",
                      headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "refused"
    assert got.json()["reason"] == "cancelled by the subject"
    again = client.post(f"/v1/privacy-requests/{request_id}/cancel",
                        headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"

    eventually(lambda: log_in(client, m), timeout=30)
    time.sleep(GRACE + 1.5)  # past the window: nothing is shredded
    me = client.get("/v1/me", headers=m.auth)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == m.email and me.json()["name"] == m.name
    assert _status(client, request_id, token)["receipts"] == []


def test_prv5_after_the_window_the_erasure_completes_with_every_receipt(
    client: httpx.Client, graceful: Any,
) -> None:
    m = sign_up(client, "gracegone")
    time.sleep(1)
    request_id, token = graceful(m)
    eventually(lambda: _assert_code(_login_answer(client, m), 403), timeout=30)

    def completed() -> None:
        state = _status(client, request_id, token)
        assert state["status"] == "completed", state
        assert {r["service"] for r in state["receipts"]} >= {
            "accounts", "consent", "listings", "messaging"}

    eventually(completed, timeout=GRACE + 60)
    assert _login_answer(client, m).status_code == 401
    late = client.post(f"/v1/privacy-requests/{request_id}/cancel",
                       headers={"Authorization": f"Bearer {token}"})
    assert late.status_code == 409, late.text


def _assert_code(resp: httpx.Response, code: int) -> None:
    assert resp.status_code == code, resp.text


def test_prv5_a_locked_member_is_shown_nowhere_until_the_erasure_is_cancelled(
    client: httpx.Client, graceful: Any,
) -> None:
    """PRV-5, grace window: while the erasure waits, the member's listings leave search and
    their page, nobody can start a conversation with them; a cancel brings all of it back."""
    owner, other = sign_up(client, "lockowner"), sign_up(client, "lockother")
    word = "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))
    created = client.post("/v1/listings", headers=owner.auth, json={
        "kind": "ad", "title": f"Fiets {word}", "description": "Een goede fiets te koop",
        "location": {"city": "Utrecht"}})
    assert created.status_code == 201, created.text
    listing_id = created.json()["listing_id"]

    def found() -> list[str]:
        got = client.get("/v1/listings", params={"q": word})
        assert got.status_code == 200, got.text
        return [i["listing_id"] for i in got.json()["items"]]

    def visible() -> None:
        assert found() == [listing_id]
        assert client.get(f"/v1/listings/{listing_id}", headers=other.auth).status_code == 200

    eventually(visible, timeout=30)
    time.sleep(1)  # the account reaches every service first
    request_id, token = graceful(owner)

    def hidden() -> None:
        assert found() == []
        page = client.get(f"/v1/listings/{listing_id}", headers=other.auth)
        assert page.status_code == 404, page.text
        talk = client.post("/v1/conversations", headers=other.auth, json={
            "listing_id": listing_id, "recipient_account_id": owner.account_id})
        assert talk.status_code == 404, talk.text

    eventually(hidden, timeout=30)
    got = client.post(f"/v1/privacy-requests/{request_id}/cancel",
                      headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    eventually(visible, timeout=30)

    def reachable() -> None:
        talk = client.post("/v1/conversations", headers=other.auth, json={
            "listing_id": listing_id, "recipient_account_id": owner.account_id})
        assert talk.status_code == 201, talk.text

    eventually(reachable, timeout=30)
