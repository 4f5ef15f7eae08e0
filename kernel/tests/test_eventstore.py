"""The event store: append-only, optimistic concurrency, hash chain, outbox in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from contracts.accounts import AccountRegistered, SessionStarted
from kernel.eventstore import (
    GENESIS,
    ConcurrencyError,
    EventStore,
    NewEvent,
    StreamHead,
    chain_hash,
    header_bytes,
)
from kernel.keystore import InMemoryKeyStore, SubjectErasedError

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def store(pool: asyncpg.Pool) -> AsyncIterator[EventStore]:
    s = EventStore(unique("es"), InMemoryKeyStore())
    async with pool.acquire() as conn:
        await s.migrate(conn)
    yield s


def registered(account_id: str) -> AccountRegistered:
    return AccountRegistered(account_id=account_id, kind="member", email=f"{account_id}@ex.nl",
                             name="Jan", username=account_id[:8], password_hash="h",
                             terms_version="1")


async def test_append_stores_events_and_outbox_rows_in_one_transaction(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    a = str(uuid.uuid4())
    async with pool.acquire() as conn, conn.transaction():
        recs = await store.append(conn, f"account-{a}", StreamHead(), [NewEvent(registered(a), a)])
    assert recs[0].version == 1 and recs[0].position >= 1
    outbox = await pool.fetchval(f"SELECT count(*) FROM {store.schema}.outbox")
    assert outbox == 1
    payload = await pool.fetchval(f"SELECT payload FROM {store.schema}.events")
    assert f"{a}@ex.nl".encode() not in payload


async def test_failed_transaction_leaves_neither_event_nor_outbox_row(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    a = str(uuid.uuid4())
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await store.append(conn, f"account-{a}", StreamHead(), [NewEvent(registered(a), a)])
            raise RuntimeError("projection write failed")
    assert await pool.fetchval(f"SELECT count(*) FROM {store.schema}.events") == 0
    assert await pool.fetchval(f"SELECT count(*) FROM {store.schema}.outbox") == 0


async def test_concurrent_writers_to_one_stream_conflict(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    a = str(uuid.uuid4())
    stream = f"account-{a}"
    async with pool.acquire() as conn:
        await store.append(conn, stream, StreamHead(), [NewEvent(registered(a), a)])
        stale = StreamHead()
        with pytest.raises(ConcurrencyError):
            await store.append(conn, stream, stale, [NewEvent(registered(a), a)])
        head = await store.head(conn, stream)
        ev = SessionStarted(session_id="s", account_id=a, remember_me=False,
                            expires_at="2030-01-01T00:00:00Z")  # type: ignore[arg-type]
        recs = await store.append(conn, stream, head, [NewEvent(ev, a)])
    assert recs[0].version == 2 and recs[0].prev_hash == head.hash


async def test_events_cannot_be_updated_or_deleted(pool: asyncpg.Pool, store: EventStore) -> None:
    a = str(uuid.uuid4())
    async with pool.acquire() as conn:
        await store.append(conn, f"account-{a}", StreamHead(), [NewEvent(registered(a), a)])
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(f"UPDATE {store.schema}.events SET event_type = 'x'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(f"DELETE FROM {store.schema}.events")


async def test_hash_chain_covers_the_stored_ciphertext(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    a = str(uuid.uuid4())
    stream = f"account-{a}"
    async with pool.acquire() as conn:
        await store.append(conn, stream, StreamHead(), [NewEvent(registered(a), a)] * 1)
        head = await store.head(conn, stream)
        ev = SessionStarted(session_id="s", account_id=a, remember_me=True,
                            expires_at="2030-01-01T00:00:00Z")  # type: ignore[arg-type]
        await store.append(conn, stream, head, [NewEvent(ev, a), NewEvent(ev, a)])
        recs = await store.read_stream(conn, stream)
    prev = GENESIS
    for r in recs:
        header = header_bytes(r.event_id, r.event_type, r.schema_version, r.stream_id, r.version,
                              r.subject_id, r.occurred_at)
        assert r.prev_hash == prev and r.hash == chain_hash(prev, header, r.payload)
        prev = r.hash
    tampered = recs[0].payload.replace(b'"member"', b'"employer"')
    header = header_bytes(recs[0].event_id, recs[0].event_type, 1, stream, 1, a,
                          recs[0].occurred_at)
    assert chain_hash(GENESIS, header, tampered) != recs[0].hash


async def test_personal_data_for_an_erased_subject_fails_loudly(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    a = str(uuid.uuid4())
    await store.keys.destroy(a)
    async with pool.acquire() as conn:
        with pytest.raises(SubjectErasedError):
            await store.append(conn, f"account-{a}", StreamHead(), [NewEvent(registered(a), a)])
    assert await pool.fetchval(f"SELECT count(*) FROM {store.schema}.events") == 0
