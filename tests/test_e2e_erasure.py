"""End to end: a member's erasure across every service, the database and the log (PRV-5).

Signs a member up through the gateway, erases them, follows the request with its status
token until every service gave its receipt, then searches every PostgreSQL table and
every Kafka record for the member's personal values, and replays the log as an auditor
(AUD-1, AUD-2, SEC-1, RET-5).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from members import Member, sign_up, step_up
from stack import Infra, Platform, eventually

from contracts.privacy import ERASURE_SERVICES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as c:
        yield c


async def _dump_postgres(infra: Infra) -> bytes:
    """Every row of every table of both databases, as text (bytea also as raw bytes)."""
    chunks: list[bytes] = []
    for database in ("marketplace", "keystore"):
        conn = await asyncpg.connect(infra.pg_dsn(database))
        try:
            tables = await conn.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema')")
            for t in tables:
                name = f'"{t["table_schema"]}"."{t["table_name"]}"'
                rows = await conn.fetch(f"SELECT t::text AS row FROM {name} t")
                chunks.extend(r["row"].encode() for r in rows)
                for col in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 "
                    "AND table_name = $2 AND data_type = 'bytea'",
                    t["table_schema"], t["table_name"]):
                    raw = await conn.fetch(f'SELECT "{col["column_name"]}" AS v FROM {name}')
                    chunks.extend(bytes(r["v"]) for r in raw if r["v"] is not None)
        finally:
            await conn.close()
    return b"\n".join(chunks)


async def _dump_kafka(bootstrap: str) -> bytes:
    """Key, value and headers of every record of every topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    chunks: list[bytes] = []
    try:
        parts = [TopicPartition(t, p) for t in await consumer.topics()
                 for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        left = {tp for tp in parts if ends[tp] > 0}
        while left:
            got = await consumer.getmany(*left, timeout_ms=1000, max_records=10_000)
            for recs in got.values():
                for r in recs:
                    chunks.extend([r.key or b"", r.value or b"",
                                   *(v for _, v in r.headers or ())])
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()
    return b"\n".join(chunks)


def _leaks(blob: bytes, m: Member) -> list[str]:
    lower = blob.lower()
    found = []
    for value in m.personal_values():
        for form in (value.encode(), value.encode().hex().encode()):
            if form.lower() in lower:
                found.append(value)
    return found


def _audit(platform: Platform, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention.audit", *args], capture_output=True, timeout=180,
        env={**os.environ, **platform.env}, check=False)


def test_prv5_erasure_leaves_no_plaintext_anywhere_and_replays_as_erased(
    client: httpx.Client, platform: Platform, infra: Infra,
) -> None:
    m = sign_up(client, "erase")
    step_up(client, m)

    def registered_events() -> list[dict[str, Any]]:
        got = _audit(platform, "events", "--subject", m.account_id,
                     "--type", "accounts.AccountRegistered")
        assert got.returncode == 0, got.stderr.decode()
        return [orjson.loads(line) for line in got.stdout.splitlines()]

    # AUD-1: the auditor follows the log by type and subject, decrypted while the key lives
    before = eventually(lambda: _one(registered_events()), timeout=30)
    assert before["payload"]["email"] == m.email and before["position"] >= 1

    started = time.perf_counter()
    resp = client.post("/v1/privacy-requests", json={"type": "erasure"}, headers=m.auth)
    assert resp.status_code == 202, resp.text
    request_id, token = resp.json()["request_id"], resp.json()["status_token"]
    status_auth = {"Authorization": f"Bearer {token}"}

    deadline = time.monotonic() + 60
    while True:
        got = client.get(f"/v1/privacy-requests/{request_id}", headers=status_auth)
        assert got.status_code == 200, got.text
        body = got.json()
        if body["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    latency = time.perf_counter() - started
    print(f"\nPRV-5 erasure latency (request to last receipt): {latency:.2f}s")
    assert body["status"] == "completed", body
    assert body["type"] == "erasure" and body["exceptions"] == []
    assert {r["service"] for r in body["receipts"]} >= set(ERASURE_SERVICES)
    assert all(r["status"] == "completed" and r["at"] for r in body["receipts"])

    login = client.post("/v1/sessions", json={"email": m.email, "password": m.password,
                                              "remember_me": False})
    assert login.status_code == 401
    assert client.get("/v1/me", headers=m.auth).status_code == 401
    assert client.get(f"/v1/privacy-requests/{request_id}",
                      headers=status_auth).status_code == 200

    pg = asyncio.run(_dump_postgres(infra))
    assert _leaks(pg, m) == [], "personal values in plaintext in PostgreSQL"
    log = asyncio.run(_dump_kafka(infra.kafka_bootstrap))
    assert _leaks(log, m) == [], "personal values in plaintext in Kafka"

    replay = _audit(platform, "replay", "--subject", m.account_id)
    assert replay.returncode == 0, replay.stderr.decode()
    state = orjson.loads(replay.stdout)
    assert state["subjects"][m.account_id]["erased"] is True
    registered = [
        ev["payload"] for streams in state["services"].values() for s in streams.values()
        for ev in s.get("events", []) if ev["event_type"] == "accounts.AccountRegistered"
    ]
    assert registered, "the replay found no AccountRegistered for the subject"
    for payload in registered:
        assert payload["email"] == payload["name"] == payload["username"] == "erased"
        assert payload["phone"] == payload["address"] == "erased"
    assert _leaks(replay.stdout, m) == []
    after = _one(registered_events())
    assert after["event_id"] == before["event_id"] and after["payload"]["email"] == "erased"

    verify = _audit(platform, "verify")
    report = orjson.loads(verify.stdout)
    # Every chain verifies after crypto-shredding. (Other tests of this session publish
    # events to Kafka that no event store holds, so the heads comparison is judged only
    # for the member's own streams.)
    assert [b for b in report["breaks"] if b["source"] != "heads"] == [], report
    assert [b for b in report["breaks"] if m.account_id in b["stream_id"]] == [], report


def _one(items: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(items) == 1, items
    return items[0]
