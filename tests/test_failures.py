"""Failure targets (TARGETS.md) against the real broker and database.

PostgreSQL down: 503 and nothing half-written, reconnect within seconds. Broker down:
writes still accepted, /readyz 503. A broker restart, or one whose data was lost (the
relays republish from the event stores): every projection converges. kill -9 of a
service during a stream of commands: no accepted write lost.
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest
from members import sign_up, sign_up_body
from stack import Infra, Platform, eventually

from contracts.topics import TOPICS
from devstack.topics import create_topics
from kernel.internal_auth import SignedCalls

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]


def retention_knows(platform: Platform, account_id: str) -> None:
    resp = httpx.get(f"{platform.service_urls['retention']}/internal/subjects/{account_id}",
                     auth=SignedCalls("retention"))
    assert resp.status_code == 200, resp.text
    assert "accounts" in str(resp.json())


def test_postgres_down_gives_503_and_nothing_half_written(
    client: httpx.Client, infra: Infra, platform: Platform
) -> None:
    body = sign_up_body("pgdown")
    body["accept_terms_version"] = client.get("/v1/terms").json()["version"]
    infra.stack.postgres.stop()
    try:
        eventually(lambda: _assert_status(client.get("/readyz"), 503), timeout=15)
        resp = client.post("/v1/accounts", json=body)
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["code"] == "unavailable"
    finally:
        infra.stack.postgres.start()
    started = time.monotonic()
    eventually(lambda: _assert_status(client.get("/readyz"), 200), timeout=30)
    reconnect = time.monotonic() - started
    # the refused sign-up left nothing behind: the same e-mail signs up now
    assert client.post("/v1/accounts", json=body).status_code == 201
    assert reconnect < 30


def test_broker_down_still_accepts_writes_and_readyz_is_503(
    client: httpx.Client, infra: Infra, platform: Platform
) -> None:
    infra.stack.broker.stop()
    try:
        eventually(lambda: _assert_status(client.get("/readyz"), 503), timeout=20)
        member = sign_up(client, "kafkadown")  # accepted into the accounts event store
        resp = client.get("/v1/me", headers=member.auth)
        assert resp.status_code == 200
    finally:
        infra.stack.broker.start()
        create_topics(infra.kafka_bootstrap, TOPICS)
    # the restarted broker is empty: relays republish, projections converge
    eventually(lambda: _assert_status(client.get("/readyz"), 200), timeout=60)
    eventually(lambda: retention_knows(platform, member.account_id), timeout=30)


def test_kill_9_of_accounts_loses_no_accepted_write(
    client: httpx.Client, platform: Platform
) -> None:
    accepted: list[tuple[str, dict]] = []
    for i in range(30):
        if i == 10:
            platform.kill("accounts", signal.SIGKILL)
        body = sign_up_body("kill")
        body["accept_terms_version"] = "unused"
        try:
            terms = client.get("/v1/terms")
            if terms.status_code == 200:
                body["accept_terms_version"] = terms.json()["version"]
            resp = client.post("/v1/accounts", json=body)
        except httpx.HTTPError:
            continue
        if resp.status_code == 201:
            accepted.append((resp.json()["account_id"], body))
        if i == 15:
            platform.restart("accounts")
    platform.wait_ready(120)
    for account_id, body in accepted:
        resp = client.post("/v1/sessions", json={"email": body["email"],
                                                 "password": body["password"],
                                                 "remember_me": False})
        assert resp.status_code == 201, (account_id, resp.text)
        eventually(lambda a=account_id: retention_knows(platform, a), timeout=30)


def _assert_status(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, resp.text


def test_kill_9_of_a_receipt_giver_delays_an_erasure_but_loses_nothing(
    client: httpx.Client, platform: Platform
) -> None:
    member = sign_up(client, "killconsent")
    resp = client.post("/v1/sessions/current/reauth", json={"password": member.password},
                       headers=member.auth)
    assert resp.status_code == 204
    platform.kill("consent", signal.SIGKILL)
    try:
        resp = client.post("/v1/privacy-requests", json={"type": "erasure"},
                           headers=member.auth)
        assert resp.status_code == 202, resp.text
        request_id, status_token = resp.json()["request_id"], resp.json()["status_token"]
        status = {"Authorization": f"Bearer {status_token}"}

        def others_done() -> dict:
            state = client.get(f"/v1/privacy-requests/{request_id}", headers=status).json()
            receipts = {r["service"]: r["status"] for r in state["receipts"]}
            assert receipts["consent"] == "pending"
            assert all(v == "completed" for k, v in receipts.items() if k != "consent")
            return state

        assert eventually(others_done, timeout=20)["status"] == "in_progress"
    finally:
        platform.restart("consent")

    def completed() -> None:
        state = client.get(f"/v1/privacy-requests/{request_id}", headers=status).json()
        assert state["status"] == "completed", state

    eventually(completed, timeout=60)
