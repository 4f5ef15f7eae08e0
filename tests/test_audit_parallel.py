"""AUD-1: ``replay`` in parallel processes, each with its share of the log's partitions,
prints exactly what one process prints, also when a stream is spread over partitions
(its chain is linked in the parent, never reported broken)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import orjson
import pytest
from published import publish_store
from stack import Infra
from stored_keys import key_store

from contracts.accounts import AccountRegistered, SessionEnded
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import InMemoryKeyStore
from retention.adapters.sealed_heads import retire_heads
from retention.audit_parallel import _Share

pytestmark = pytest.mark.integration


def _replay(infra: Infra, workers: int, *more: str) -> tuple[dict[str, Any], str]:
    got = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "retention.audit", "replay", "--state-only",
         "--workers", str(workers), *more],
        capture_output=True, timeout=180, env={**os.environ, **infra.env}, check=False)
    assert got.returncode == 0, got.stderr.decode()
    out = orjson.loads(got.stdout)
    breaks = out["verification"]["breaks"]
    out["verification"]["breaks"] = sorted(
        breaks, key=lambda b: orjson.dumps(b, option=orjson.OPT_SORT_KEYS))
    return out, got.stderr.decode()


async def _append_streams(conn: asyncpg.Connection, schema: str, streams: int) -> None:
    """``streams`` streams of three events each in a new event store ``schema``."""
    store = EventStore(schema, InMemoryKeyStore())
    await store.migrate(conn)
    for n in range(streams):
        events = [NewEvent(SessionEnded(session_id=f"s{i}", account_id=f"a{n}",
                                        reason="logout"), None) for i in range(3)]
        async with conn.transaction():
            await store.append(conn, f"stream-{n}", StreamHead(), events)


async def _publish(infra: Infra, schema: str, streams: int, split: bool) -> None:
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        await _append_streams(conn, schema, streams)
        await publish_store(infra, conn, schema, split=split)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
        await retire_heads(infra.pg_dsn(), infra.kafka_bootstrap, schema)  # platform's seals


@pytest.fixture
def fresh(infra: Infra) -> Iterator[str]:
    yield f"par_{uuid.uuid4().hex[:10]}"


def test_aud1_parallel_replay_prints_what_one_process_prints(infra: Infra, fresh: str) -> None:
    asyncio.run(_publish(infra, fresh, streams=40, split=False))
    one, _ = _replay(infra, 1)
    two, err = _replay(infra, 2)
    # other tests' streams may span partitions (a conversation's events are keyed by
    # their senders): the parent links every stream's chain from all shares
    assert "(2 processes)" in err, err
    assert two == one
    assert len(two["services"][fresh]) == 40
    assert two["services"][fresh]["stream-7"]["version"] == 3


def test_aud1_streams_over_two_partitions_are_replayed_in_parallel_and_verify(
    infra: Infra, fresh: str,
) -> None:
    asyncio.run(_publish(infra, fresh, streams=8, split=True))
    two, err = _replay(infra, 2)
    assert "(2 processes)" in err, err
    one, _ = _replay(infra, 1)
    assert two == one
    assert not [b for b in two["verification"]["breaks"] if b["producer"] == fresh]
    assert two["services"][fresh]["stream-3"]["version"] == 3


async def _store(infra: Infra, schema: str, streams: int) -> None:
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        await _append_streams(conn, schema, streams)
    finally:
        await conn.close()


async def _drop(infra: Infra, schema: str) -> None:
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


def test_aud1_parallel_replay_from_the_event_stores_prints_what_one_process_prints(
    infra: Infra, fresh: str,
) -> None:
    """When the broker has lost its data the stores are the source: shared out by stream
    (each stream whole in one process), the state is the same as one process reads."""
    asyncio.run(_store(infra, fresh, streams=30))
    try:
        two, err = _replay(infra, 2, "--source", "stores")
        one, _ = _replay(infra, 1, "--source", "stores")
    finally:
        asyncio.run(_drop(infra, fresh))
    assert "source: the event stores (2 processes)" in err, err
    assert two == one
    assert two["source"] == "event stores"
    assert len(two["services"][fresh]) == 30
    assert two["services"][fresh]["stream-4"]["version"] == 3
    assert not [b for b in two["verification"]["breaks"] if b["producer"] == fresh]


async def _publish_personal(infra: Infra, schema: str, subjects: list[str]) -> None:
    """Registrations sealed under each subject's key, published keyed by stream and version
    (not by subject, as the relay keys them)."""
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        async with key_store(infra) as keys:
            await keys.migrate()
            store = EventStore(schema, keys)
            await store.migrate(conn)
            for s in subjects:
                async with conn.transaction():
                    await store.append(conn, f"account-{s}", StreamHead(), [NewEvent(
                        AccountRegistered(account_id=s, kind="member", email=f"{s}@example.nl",
                                          name="Par Member", username=s[:12],
                                          password_hash="h", terms_version="1"), s)])
        await publish_store(infra, conn, schema, split=True)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
        await retire_heads(infra.pg_dsn(), infra.kafka_bootstrap, schema)


def test_aud1_parallel_replay_decrypts_subjects_its_records_are_not_keyed_by(
    infra: Infra, fresh: str,
) -> None:
    """Each process starts looking up the keys of the subjects its records are keyed by
    while it parses; a subject found only inside the envelopes is looked up after, so no
    field reads "erased" for want of a lookup."""
    subjects = [str(uuid.uuid4()) for _ in range(6)]
    asyncio.run(_publish_personal(infra, fresh, subjects))
    two, err = _replay(infra, 2)
    assert "(2 processes)" in err, err
    for s in subjects:
        state = two["services"][fresh][f"account-{s}"]["state"]
        assert state["email"] == f"{s}@example.nl" and state["name"] == "Par Member"
    one, _ = _replay(infra, 1)
    assert two == one


def test_aud1_the_parent_reports_how_far_it_has_read_its_share(
    infra: Infra, fresh: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The progress bar of a parallel replay follows the parent's own share of the log."""
    asyncio.run(_publish(infra, fresh, streams=10, split=False))
    for name, value in infra.env.items():
        monkeypatch.setenv(name, value)
    seen: list[tuple[int, int | None]] = []
    share = _Share(0, 1, None, None, False, "kafka", lambda d, t: seen.append((d, t)))
    streams = share.read()
    assert (fresh, "stream-3") in streams
    done, total = seen[-1]
    assert total is not None and done == total >= 30
