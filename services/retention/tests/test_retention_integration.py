"""Integration tests: subject projection (RET-2) and erasure orchestration (PRV-5, PRV-7)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from typing import Any

import orjson
import pytest

from contracts.accounts import AccountRegistered, SessionStarted
from contracts.privacy import ERASURE_SERVICES, ErasureReceiptIssued
from devstack.testing import eventually_async

from .conftest import Running

pytestmark = pytest.mark.integration


def _registered(subject: str, phone: str | None = "+31612345678") -> AccountRegistered:
    return AccountRegistered(
        account_id=subject, kind="member", email=f"{subject}@example.org", name="Test Person",
        username=f"u{subject[:8]}", phone=phone, password_hash="$argon2id$x",
        terms_version="2025-01",
    )


async def _holdings(svc: Running, subject: str) -> list[dict[str, Any]]:
    resp = await svc.client.get(f"/internal/subjects/{subject}")
    assert resp.status_code == 200
    return resp.json()["holdings"]


async def test_ret2_projection_knows_categories_per_service_and_ignores_redelivery(
    retention: Running,
) -> None:
    subject = str(uuid.uuid4())
    values = await retention.publish("accounts", subject, [_registered(subject, phone=None)])
    await retention.publish("accounts", subject, [SessionStarted(
        session_id="s", account_id=subject, remember_me=False,
        expires_at="2030-01-01T00:00:00+00:00")])
    await retention.send("accounts", subject, values[:1])  # redelivered

    async def projected() -> list[dict[str, Any]]:
        got = await _holdings(retention, subject)
        assert {(h["service"], h["category"]) for h in got} == {
            ("accounts", "contact"), ("accounts", "identity")
        }
        return got

    got = await eventually_async(projected, timeout=15)
    assert all(h["events"] == 1 for h in got), "a redelivered event counted twice"


async def test_ret2_projection_sustains_a_burst_of_events(retention: Running) -> None:
    subjects = [str(uuid.uuid4()) for _ in range(500)]
    start = time.perf_counter()
    for s in subjects:
        await retention.publish("accounts", s, [_registered(s)] * 1 + [_registered(s)] * 9)
    published = time.perf_counter() - start

    async def all_projected() -> None:
        async with retention.host.runtime.pool.acquire() as conn:  # type: ignore[union-attr]
            n = await conn.fetchval(
                "SELECT count(*) FROM retention.subject_data WHERE subject_id = ANY($1) "
                "AND events = 10", subjects)
        assert n == 2 * len(subjects)

    await eventually_async(all_projected, timeout=60, interval=0.2)
    total = time.perf_counter() - start
    print(f"\nRET-2 burst: 5000 events published in {published:.2f}s, projected by {total:.2f}s")


async def _receipt(svc: Running, service: str, request_id: str, subject: str) -> None:
    await svc.publish(service, subject, [ErasureReceiptIssued(
        request_id=request_id, subject_id=subject, service=service, status="completed",
        held_data=service == "accounts", detail="test")],
        stream_id=f"test-receipt-{uuid.uuid4()}")


async def test_prv5_erasure_shreds_key_collects_receipts_and_completes(
    retention: Running,
) -> None:
    subject = str(uuid.uuid4())
    await retention.publish("accounts", subject, [_registered(subject)])
    await eventually_async(lambda: _nonempty(retention, subject), timeout=15)
    late = await retention.publish("accounts", subject, [_registered(subject)], send=False)

    started = time.perf_counter()
    resp = await retention.client.post("/internal/privacy-requests", json={
        "subject_id": subject, "type": "erasure", "channel": "app", "identity_verified": True})
    assert resp.status_code == 202, resp.text
    request_id, token = resp.json()["request_id"], resp.json()["status_token"]
    assert (await retention.keys.keys_for_reading([subject]))[subject] is None
    assert await retention.keys.is_erased(subject)

    first = await retention.client.get(f"/internal/privacy-requests/{request_id}",
                                       headers={"X-Status-Token": token})
    assert first.status_code == 200
    body = first.json()
    assert body["type"] == "erasure" and body["status"] == "in_progress"
    assert [r["service"] for r in body["receipts"]] == list(ERASURE_SERVICES)
    assert [r["service"] for r in body["receipts"]] == [  # by name (PRV-5)
        "accounts", "consent", "listings", "messaging", "retention"]
    assert body["exceptions"] == []

    async def own_receipt() -> None:
        got = await _status(retention, request_id, token)
        mine = {r["service"]: r["status"] for r in got["receipts"]}
        assert mine["retention"] == "completed"
        # "completed" too when the session's platform runs and its services gave receipts
        assert got["status"] == ("completed" if all(v == "completed" for v in mine.values())
                                 else "in_progress")

    await eventually_async(own_receipt, timeout=15)
    assert await _holdings(retention, subject) == [], "retention's eraser left rows"

    for service in ERASURE_SERVICES:
        if service != "retention":
            await _receipt(retention, service, request_id, subject)

    async def completed() -> dict[str, Any]:
        got = await _status(retention, request_id, token)
        assert got["status"] == "completed"
        return got

    done = await eventually_async(completed, timeout=15)
    print(f"\nPRV-5 erasure (in-process, simulated receipts): {time.perf_counter()-started:.2f}s")
    assert all(r["status"] == "completed" and r["at"] for r in done["receipts"])
    assert done["ended_at"] is not None

    # Late events about the erased subject do not re-create its projection rows.
    await retention.send("accounts", subject, late)
    late_id = uuid.UUID(orjson.loads(late[0])["event_id"])

    async def late_applied() -> None:
        async with retention.host.runtime.pool.acquire() as conn:  # type: ignore[union-attr]
            assert await conn.fetchval(
                "SELECT 1 FROM retention.processed_events WHERE consumer = 'subjects' "
                "AND event_id = $1", late_id)

    await eventually_async(late_applied, timeout=15)
    assert await _holdings(retention, subject) == []


async def _nonempty(svc: Running, subject: str) -> None:
    assert await _holdings(svc, subject)


async def _status(svc: Running, request_id: str, token: str) -> dict[str, Any]:
    resp = await svc.client.get(f"/internal/privacy-requests/{request_id}",
                                params={"status_token": token})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_prv7_status_readable_by_subject_or_token_only(retention: Running) -> None:
    subject = str(uuid.uuid4())
    resp = await retention.client.post("/internal/privacy-requests", json={
        "subject_id": subject, "type": "rectification", "channel": "app",
        "identity_verified": True})
    assert resp.status_code == 202
    request_id, token = resp.json()["request_id"], resp.json()["status_token"]
    url = f"/internal/privacy-requests/{request_id}"

    own = await retention.client.get(url, headers={"X-Account-Id": subject})
    assert own.status_code == 200 and own.json()["status"] == "verified"
    assert own.json()["receipts"] == []
    other = await retention.client.get(url, headers={"X-Account-Id": str(uuid.uuid4())})
    assert other.status_code == 404
    bad = await retention.client.get(url, headers={"X-Status-Token": token + "x"})
    assert bad.status_code == 401
    missing = await retention.client.get(f"/internal/privacy-requests/{uuid.uuid4()}",
                                         headers={"X-Account-Id": subject})
    assert missing.status_code == 404
    async with retention.host.runtime.pool.acquire() as conn:  # type: ignore[union-attr]
        stored = await conn.fetchval(
            "SELECT token_hash FROM retention.privacy_requests WHERE request_id = $1",
            request_id)
    assert token.encode() not in bytes(stored)


async def test_prv7_staff_verify_then_refuse_with_reason(retention: Running) -> None:
    subject = str(uuid.uuid4())
    resp = await retention.client.post("/internal/privacy-requests", json={
        "subject_id": subject, "type": "rectification", "channel": "post",
        "identity_verified": False})
    request_id = resp.json()["request_id"]
    url = f"/internal/privacy-requests/{request_id}"
    assert (await retention.client.get(url, headers={"X-Account-Id": subject})
            ).json()["status"] == "received"
    agent = str(uuid.uuid4())
    staff = {"X-Account-Id": agent}
    assert (await retention.client.post(f"{url}/verify", headers=staff)).status_code == 403
    rt = retention.host.runtime
    assert rt is not None
    async with rt.pool.acquire() as conn:
        await rt.extra["staff"].granted(conn, agent, "support")
    assert (await retention.client.post(f"{url}/verify", headers=staff)
            ).json()["status"] == "verified"
    assert (await retention.client.post(f"{url}/verify", headers=staff)).status_code == 409
    refused = await retention.client.post(f"{url}/refuse", headers=staff,
                                          json={"reason": "manifestly unfounded"})
    assert refused.json()["status"] == "refused"
    got = (await retention.client.get(url, headers={"X-Account-Id": subject})).json()
    assert got["status"] == "refused" and got["reason"] == "manifestly unfounded"


async def _audit(*args: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "retention.audit", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out, err


async def test_aud1_aud2_audit_cli_replays_erased_subject_as_erased_and_verifies(
    retention: Running,
) -> None:
    subject = str(uuid.uuid4())
    await retention.publish("accounts", subject, [_registered(subject)],
                            stream_id=f"account-{subject}")
    code, out, err = await _audit("replay", "--subject", subject)
    assert code == 0, err.decode()
    state = orjson.loads(out)["services"]["accounts"][f"account-{subject}"]["state"]
    assert state["email"] == f"{subject}@example.org"

    resp = await retention.client.post("/internal/privacy-requests", json={
        "subject_id": subject, "type": "erasure", "channel": "app", "identity_verified": True})
    assert resp.status_code == 202
    code, out, err = await _audit("replay", "--subject", subject)
    assert code == 0, err.decode()
    got = orjson.loads(out)
    state = got["services"]["accounts"][f"account-{subject}"]["state"]
    assert state["email"] == state["name"] == state["phone"] == "erased"
    assert got["subjects"][subject]["erased"] is True
    assert subject.encode() + b"@example.org" not in out

    # this test plays the other services by publishing to Kafka alone: the log's chains
    code, out, err = await _audit("--source", "kafka", "verify")
    assert code == 0, out.decode() + err.decode()
    assert orjson.loads(out)["ok"] is True
