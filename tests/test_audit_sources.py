"""AUD-1, AUD-2 (issue 16): the auditor reads the Kafka log or the event stores, says which,
and finds events cut from the end of a stream by comparing each stream's head in both."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import httpx
import orjson
import pytest
from members import sign_up
from stack import Infra, Platform, eventually

from contracts.accounts import SessionEnded
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import InMemoryKeyStore
from retention.adapters.sealed_heads import retire_heads

pytestmark = pytest.mark.e2e

SCHEMA = "auditdemo"


def _audit(platform: Platform, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention.audit", *args], capture_output=True, timeout=180,
        env={**os.environ, **platform.env}, check=False)


async def _stored_but_never_published(infra: Infra) -> None:
    """Three events in an event store of their own whose outbox rows are gone: as if
    they had been published and then cut from the end of the log."""
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        store = EventStore(SCHEMA, InMemoryKeyStore())
        await store.migrate(conn)
        events = [NewEvent(SessionEnded(session_id=f"s{i}", account_id="a", reason="logout"),
                           None) for i in range(3)]
        async with conn.transaction():
            await store.append(conn, "demo-stream", StreamHead(), events)
        await conn.execute(f"DELETE FROM {SCHEMA}.outbox")
    finally:
        await conn.close()


async def _drop(infra: Infra) -> None:
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await conn.close()
    await retire_heads(infra.pg_dsn(), infra.kafka_bootstrap, SCHEMA)  # sealed by the platform


@pytest.fixture
def cut_stream(infra: Infra) -> Iterator[None]:
    asyncio.run(_stored_but_never_published(infra))
    try:
        yield
    finally:
        asyncio.run(_drop(infra))


def test_aud2_verify_finds_events_missing_from_the_end_of_the_log(
    platform: Platform, cut_stream: None
) -> None:
    got = _audit(platform, "verify")
    assert got.returncode == 1, got.stdout.decode() + got.stderr.decode()
    report = orjson.loads(got.stdout)
    assert report["sources"] == ["kafka", "event stores"]
    breaks = [b for b in report["breaks"] if b["producer"] == SCHEMA and b["source"] == "heads"]
    assert len(breaks) == 1
    assert breaks[0]["stream_id"] == "demo-stream" and breaks[0]["version"] == 1
    assert "missing from the end of the log" in breaks[0]["reason"]
    # the platform's heads sealer may have sealed the stream: the log is then also short
    # of its seal; other tests publish to Kafka events no store holds (heads), but no
    # chain is broken
    assert all(b["stream_id"] == "demo-stream" and b["source"] == "seal"
               for b in report["breaks"] if b["producer"] == SCHEMA and b["source"] != "heads")
    assert [b for b in report["breaks"]
            if b["source"] != "heads" and b["producer"] != SCHEMA] == []


def test_aud1_replay_says_which_source_it_read(platform: Platform) -> None:
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        member = sign_up(client, "sources")

    def from_kafka() -> None:
        got = _audit(platform, "--source", "kafka", "replay", "--subject", member.account_id)
        assert got.returncode == 0, got.stderr.decode()
        state = orjson.loads(got.stdout)
        assert state["source"] == "kafka" and member.account_id in state["subjects"]

    eventually(from_kafka, timeout=30)
    got = _audit(platform, "--source", "stores", "replay", "--subject", member.account_id)
    assert got.returncode == 0, got.stderr.decode()
    state = orjson.loads(got.stdout)
    assert state["source"] == "event stores"
    account = state["services"]["accounts"]
    assert any(s["state"].get("email") == member.email for s in account.values())
    assert b"source: the event stores" in got.stderr
