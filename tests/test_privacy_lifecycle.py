"""The privacy-request lifecycle over the gateway (PRV-7), with staff at work.

Support staff enter requests that came by form, e-mail or post; they wait as ``received``
until staff verify the member's identity; DPOs list open and overdue requests; a refusal
carries its reason to the member.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from members import Member, sign_up, step_up
from stack import Infra, Platform, eventually
from test_privacy_register import grant

from retention.adapters.requests import open_rows
from retention.domain.requests import one_month_after

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def staff(client: httpx.Client, platform: Platform) -> dict[str, Member]:
    """A support agent and a DPO, known to the retention service."""
    support, dpo = sign_up(client, "sup"), sign_up(client, "dpo")
    grant(platform, support, "support")
    grant(platform, dpo, "dpo")

    def known() -> None:
        for m in (support, dpo):
            resp = client.get("/v1/staff/privacy-requests", headers=m.auth)
            assert resp.status_code == 200, resp.text

    eventually(known, timeout=45)
    return {"support": support, "dpo": dpo}


def enter(client: httpx.Client, agent: Member, subject: Member, type_: str,
          channel: str) -> dict[str, Any]:
    resp = client.post("/v1/staff/privacy-requests", headers=agent.auth, json={
        "subject_id": subject.account_id, "type": type_, "channel": channel})
    assert resp.status_code == 202, resp.text
    body: dict[str, Any] = resp.json()
    return body


def status(client: httpx.Client, entered: dict[str, Any]) -> dict[str, Any]:
    resp = client.get(f"/v1/privacy-requests/{entered['request_id']}",
                      headers={"Authorization": f"Bearer {entered['status_token']}"})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def open_ids(client: httpx.Client, dpo: Member, overdue: bool = False) -> dict[str, Any]:
    resp = client.get("/v1/staff/privacy-requests", headers=dpo.auth,
                      params={"overdue": overdue, "limit": 1000})
    assert resp.status_code == 200, resp.text
    return {i["request_id"]: i for i in resp.json()["items"]}


def test_prv7_request_by_post_waits_for_verification_then_is_refused_with_reason(
    client: httpx.Client, staff: dict[str, Member],
) -> None:
    member = sign_up(client, "m")
    before = datetime.now(UTC)
    entered = enter(client, staff["support"], member, "rectification", "post")
    assert entered["status"] == "received"
    got = status(client, entered)
    assert got["status"] == "received" and got["type"] == "rectification"
    due = datetime.fromisoformat(got["due_at"])
    assert one_month_after(before) <= due <= one_month_after(datetime.now(UTC))
    # The member reads it with their own session too.
    mine = client.get(f"/v1/privacy-requests/{entered['request_id']}", headers=member.auth)
    assert mine.status_code == 200 and mine.json()["status"] == "received"

    listed = open_ids(client, staff["dpo"])[entered["request_id"]]
    assert listed["subject_id"] == member.account_id and listed["channel"] == "post"
    assert listed["overdue"] is False
    assert entered["request_id"] not in open_ids(client, staff["dpo"], overdue=True)

    url = f"/v1/staff/privacy-requests/{entered['request_id']}"
    verified = client.post(f"{url}/verify", headers=staff["support"].auth)
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    again = client.post(f"{url}/verify", headers=staff["support"].auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"

    refused = client.post(f"{url}/refuse", headers=staff["dpo"].auth,
                          json={"reason": "manifestly unfounded"})
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    got = status(client, entered)
    assert got["status"] == "refused" and got["reason"] == "manifestly unfounded"
    assert entered["request_id"] not in open_ids(client, staff["dpo"])


def test_prv7_erasure_by_email_starts_only_once_staff_verify_identity(
    client: httpx.Client, staff: dict[str, Member],
) -> None:
    member = sign_up(client, "m")
    entered = enter(client, staff["support"], member, "erasure", "email")
    assert status(client, entered)["receipts"] == []
    # Unverified: nothing is erased, the member still logs in and reads their data.
    assert client.get("/v1/me", headers=member.auth).status_code == 200
    url = f"/v1/staff/privacy-requests/{entered['request_id']}/verify"
    resp = client.post(url, headers=staff["support"].auth)
    assert resp.status_code == 200 and resp.json()["status"] == "in_progress"

    def completed() -> dict[str, Any]:
        got = status(client, entered)
        assert got["status"] == "completed", got
        return got

    done = eventually(completed, timeout=30)
    assert {r["service"] for r in done["receipts"]} >= {"accounts", "consent", "listings",
                                                         "messaging"}
    assert client.get("/v1/me", headers=member.auth).status_code == 401


def test_prv7_only_support_and_dpo_work_requests_and_bad_input_is_named(
    client: httpx.Client, staff: dict[str, Member],
) -> None:
    member, other = sign_up(client, "m"), sign_up(client, "o")
    body = {"subject_id": other.account_id, "type": "access", "channel": "form"}
    denied = client.post("/v1/staff/privacy-requests", headers=member.auth, json=body)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert client.get("/v1/staff/privacy-requests", headers=member.auth).status_code == 403
    assert client.post("/v1/staff/privacy-requests", json=body).status_code == 401
    entered = enter(client, staff["support"], other, "access", "form")
    url = f"/v1/staff/privacy-requests/{entered['request_id']}"
    assert client.post(f"{url}/verify", headers=member.auth).status_code == 403
    assert client.post(f"{url}/refuse", headers=member.auth,
                       json={"reason": "no"}).status_code == 403
    assert status(client, entered)["status"] == "received"
    secret = "not-a-channel-zz9"
    bad = client.post("/v1/staff/privacy-requests", headers=staff["support"].auth,
                      json={**body, "channel": secret})
    assert bad.status_code == 422 and secret not in bad.text
    missing = client.post(f"/v1/staff/privacy-requests/{other.account_id}/verify",
                          headers=staff["support"].auth)
    assert missing.status_code == 404


def test_prv7_a_request_past_its_month_is_listed_as_overdue(
    client: httpx.Client, staff: dict[str, Member], infra: Infra,
) -> None:
    member = sign_up(client, "m")
    entered = enter(client, staff["support"], member, "portability", "form")

    async def overdue_at(now: datetime) -> list[str]:
        conn = await asyncpg.connect(infra.pg_dsn())
        try:
            rows = await open_rows(conn, now, True, 100000)
            return [r["request_id"] for r in rows]
        finally:
            await conn.close()

    now = datetime.now(UTC)
    assert entered["request_id"] not in asyncio.run(overdue_at(now))
    assert entered["request_id"] in asyncio.run(overdue_at(now + timedelta(days=32)))


def test_prv3_rectification_with_changes_is_applied_and_completed_at_once(
    client: httpx.Client, staff: dict[str, Member],
) -> None:
    member = sign_up(client, "m")
    step_up(client, member)
    new_name = f"Rectified {member.username}"
    resp = client.post("/v1/privacy-requests", headers=member.auth, json={
        "type": "rectification", "changes": {"name": new_name}})
    assert resp.status_code == 202, resp.text
    got = status(client, resp.json())
    assert got["status"] == "completed" and got["type"] == "rectification"
    assert client.get("/v1/me", headers=member.auth).json()["name"] == new_name

    wrong = client.post("/v1/privacy-requests", headers=member.auth, json={
        "type": "access", "changes": {"name": "x"}})
    assert wrong.status_code == 422 and "x" not in wrong.json()["error"]["message"]
    bad = client.post("/v1/privacy-requests", headers=member.auth, json={
        "type": "rectification", "changes": {"email": "not-an-address"}})
    assert bad.status_code == 422 and "not-an-address" not in bad.text

    # What the member cannot change themselves, support staff correct and complete.
    other = client.post("/v1/privacy-requests", headers=member.auth, json={
        "type": "rectification", "details": "my listing shows a wrong city"})
    assert other.status_code == 202
    assert status(client, other.json())["status"] == "verified"
    url = f"/v1/staff/privacy-requests/{other.json()['request_id']}/complete"
    assert client.post(url, headers=member.auth).status_code == 403
    done = client.post(url, headers=staff["support"].auth)
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert client.post(url, headers=staff["support"].auth).status_code == 409
