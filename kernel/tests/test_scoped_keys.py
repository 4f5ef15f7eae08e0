"""Keys scoped by subject, category and period, so that a category's values expire (MSG-3).

A field marked ``Personal(..., expiring=True)`` is sealed under the key of its subject,
category and UTC month. ``expire`` destroys the keys of the periods that ended, for good;
the subject's other data stays readable. Erasure destroys every key of the subject
(RET-5), and no key is ever re-created once destroyed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import orjson
import pytest

from contracts.envelope import Event
from contracts.personal import ERASED, DataCategory, Personal
from kernel.codec import (
    SealedField,
    decode_event,
    encode_payload,
    key_scope,
    open_sealed,
    scope_end,
    scopes_in,
)
from kernel.crypto import BlindIndex, DataKey, DecryptionError, KeyWrapper, token_scope
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keycache import CachedKeyStore
from kernel.keystore import (
    InMemoryKeyStore,
    KeyExpiredError,
    PostgresKeyStore,
    SubjectErasedError,
)
from kernel.restore import erase_again

NOV = datetime(2026, 11, 14, 9, 30, tzinfo=UTC)
DEC = datetime(2026, 12, 2, 23, 59, tzinfo=UTC)
NOV_SCOPE = "messages@2026-11"
DEC_SCOPE = "messages@2026-12"


def sid() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def note_event() -> Iterator[type[Event]]:
    """An event type with an expiring field, registered for these tests only."""

    class NoteWritten(Event):
        event_type = "kerneltest.NoteWritten"
        producer = "kerneltest"
        note_id: str
        author: Annotated[str, Personal(DataCategory.IDENTITY)]
        body: Annotated[str | None, Personal(DataCategory.MESSAGES, expiring=True)] = None

    yield NoteWritten
    Event.registry.pop((NoteWritten.event_type, NoteWritten.schema_version), None)


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.unit),
        pytest.param("postgres", marks=pytest.mark.integration),
    ]
)
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryKeyStore()
    return request.getfixturevalue("pg_store")


@pytest.fixture(scope="session")
async def pg_store(
    ks_pool: asyncpg.Pool, index: BlindIndex, wrapper: KeyWrapper
) -> AsyncIterator[PostgresKeyStore]:
    real = PostgresKeyStore(ks_pool, wrapper, index)
    await real.migrate()
    yield real


@pytest.mark.unit
def test_a_scope_is_the_category_and_the_utc_month() -> None:
    assert key_scope("messages", NOV) == NOV_SCOPE
    assert key_scope("messages", datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == DEC_SCOPE
    assert scope_end(NOV_SCOPE) == datetime(2026, 12, 1, tzinfo=UTC)
    assert scope_end(DEC_SCOPE) == datetime(2027, 1, 1, tzinfo=UTC)


async def test_scoped_keys_are_created_with_the_subject_key_and_read_back(store: Any) -> None:
    a = sid()
    written = (await store.keys_for_writing([a], {a: {NOV_SCOPE}}))[a]
    token = written.seal(b"hello", b"ctx", NOV_SCOPE)
    assert token_scope(token) == NOV_SCOPE
    read = (await store.keys_for_reading([a]))[a]
    assert read is not None and read.open(token, b"ctx") == b"hello"
    own = read.seal(b"name", b"ctx")
    assert token_scope(own) is None and written.open(own, b"ctx") == b"name"


async def test_expiry_destroys_only_the_ended_periods_of_that_category(store: Any) -> None:
    a = sid()
    keys = (await store.keys_for_writing([a], {a: {NOV_SCOPE, DEC_SCOPE, "usage@2026-11"}}))[a]
    old, new = keys.seal(b"old", b"c", NOV_SCOPE), keys.seal(b"new", b"c", DEC_SCOPE)
    usage, own = keys.seal(b"u", b"c", "usage@2026-11"), keys.seal(b"n", b"c")
    assert await store.expire("messages", datetime(2026, 12, 1, tzinfo=UTC)) >= 1
    read = (await store.keys_for_reading([a]))[a]
    assert read is not None
    assert read.open(new, b"c") == b"new" and read.open(usage, b"c") == b"u"
    assert read.open(own, b"c") == b"n"
    assert NOV_SCOPE not in read.scoped
    with pytest.raises(KeyExpiredError):  # never re-created
        await store.keys_for_writing([a], {a: {NOV_SCOPE}})
    assert not await store.is_erased(a)
    del old


async def test_expiry_of_one_subject_leaves_the_others_keys(store: Any) -> None:
    """RET-2, RET-3: a member's period may end before another's (a longer consented one)."""
    a, b = sid(), sid()
    await store.keys_for_writing([a, b], {a: {"usage@2026-11"}, b: {"usage@2026-11"}})
    assert await store.expire("usage", datetime(2026, 12, 1, tzinfo=UTC), a) == 1
    read = await store.keys_for_reading([a, b], {a: {"usage@2026-11"}, b: {"usage@2026-11"}})
    assert "usage@2026-11" not in read[a].scoped
    assert "usage@2026-11" in read[b].scoped


async def test_erasure_destroys_every_key_of_the_subject(store: Any) -> None:
    a, b = sid(), sid()
    await store.keys_for_writing([a, b], {a: {NOV_SCOPE, DEC_SCOPE}, b: {DEC_SCOPE}})
    assert await store.destroy(a) is True
    assert (await store.keys_for_reading([a]))[a] is None
    with pytest.raises(SubjectErasedError):
        await store.keys_for_writing([a], {a: {"messages@2027-01"}})
    kept = (await store.keys_for_reading([b]))[b]
    assert kept is not None and DEC_SCOPE in kept.scoped


async def test_erasure_keeps_the_keys_of_a_held_category_for_the_holder_only(
        store: Any) -> None:
    """RET-4: a hold on one category keeps that category's keys through the subject's
    erasure; no reader but the hold's gets them, and expiry ends them when it is released."""
    a = sid()
    keys = (await store.keys_for_writing([a], {a: {NOV_SCOPE, "listings@2026-11"}}))[a]
    listing, body = keys.seal(b"kast", b"c", "listings@2026-11"), keys.seal(b"hi", b"c", NOV_SCOPE)
    own = keys.seal(b"name", b"c")
    assert await store.destroy(a, keep=["listings"]) is True
    assert (await store.keys_for_reading([a]))[a] is None
    assert await store.is_erased(a)
    held = (await store.held_keys([a]))[a]
    assert held.open(listing, b"c") == b"kast"
    for gone in (body, own):
        with pytest.raises(DecryptionError):
            held.open(gone, b"c")
    with pytest.raises(KeyError):
        held.seal(b"x", b"c")
    with pytest.raises(SubjectErasedError):
        await store.keys_for_writing([a], {a: {"listings@2026-12"}})
    assert await store.expire("listings", datetime(9999, 1, 1, tzinfo=UTC), a) == 1
    assert await store.held_keys([a]) == {}


@pytest.mark.integration
async def test_no_scoped_key_is_left_behind_or_in_plaintext_after_erasure(
    pg_store: PostgresKeyStore, ks_pool: asyncpg.Pool, index: BlindIndex
) -> None:
    a = sid()
    await pg_store.keys_for_writing([a], {a: {NOV_SCOPE, DEC_SCOPE}})
    await pg_store.destroy(a)
    rows = await ks_pool.fetch(
        "SELECT scope, wrapped_key, erased_at FROM keystore.subject_keys WHERE subject_hash = $1",
        index.subject(a),
    )
    assert {r["scope"] for r in rows} == {"", NOV_SCOPE, DEC_SCOPE}
    assert all(r["wrapped_key"] is None and r["erased_at"] is not None for r in rows)
    with pytest.raises(SubjectErasedError):  # an erased subject gets no scoped key either
        await pg_store.keys_for_writing([a], {a: {"messages@2027-02"}})
    assert len(await ks_pool.fetch(
        "SELECT 1 FROM keystore.subject_keys WHERE subject_hash = $1", index.subject(a))) == 3


@pytest.mark.integration
async def test_scoped_key_creation_racing_an_erasure_never_outlives_it(
    pg_store: PostgresKeyStore,
) -> None:
    for i in range(20):
        a = sid()
        await pg_store.keys_for_writing([a])
        scope = f"messages@2026-{i % 12 + 1:02d}"
        results = await asyncio.gather(
            pg_store.keys_for_writing([a], {a: {scope}}), pg_store.destroy(a),
            return_exceptions=True,
        )
        assert isinstance(results[0], dict | SubjectErasedError)
        assert (await pg_store.keys_for_reading([a]))[a] is None
        with pytest.raises(SubjectErasedError):
            await pg_store.keys_for_writing([a], {a: {scope}})


@pytest.mark.unit
async def test_a_cache_looks_again_for_a_scope_created_elsewhere() -> None:
    inner = InMemoryKeyStore()
    here, there = CachedKeyStore(inner, ttl_seconds=60), CachedKeyStore(inner, ttl_seconds=60)
    a = sid()
    await here.keys_for_reading([a])
    await here.keys_for_writing([a])  # cached without any scoped key
    token = (await there.keys_for_writing([a], {a: {DEC_SCOPE}}))[a].seal(b"x", b"c", DEC_SCOPE)
    found = (await here.keys_for_reading([a], {a: {DEC_SCOPE}}))[a]
    assert found is not None and found.open(token, b"c") == b"x"
    assert await here.expire("messages", datetime(2027, 1, 1, tzinfo=UTC)) == 1
    after = (await here.keys_for_reading([a], {a: {DEC_SCOPE}}))[a]
    assert after is not None and DEC_SCOPE not in after.scoped


@pytest.mark.unit
async def test_expiring_fields_decode_as_erased_after_their_period(
    note_event: type[Event],
) -> None:
    keys = InMemoryKeyStore()
    a, event_id = sid(), uuid.uuid4()
    note = note_event(note_id="n1", author="Jan de Vries", body="Zie je morgen om 10 uur?")
    key = (await keys.keys_for_writing([a], {a: {NOV_SCOPE}}))[a]
    payload = encode_payload(note, event_id, key, NOV)
    data = orjson.loads(payload)
    assert token_scope(data["body"]) == NOV_SCOPE and token_scope(data["author"]) is None
    assert scopes_in(note_event.event_type, 1, data) == {NOV_SCOPE}
    fresh = (await keys.keys_for_reading([a]))[a]
    assert decode_event(note_event.event_type, 1, payload, event_id, fresh) == note
    await keys.expire("messages", datetime(2027, 1, 1, tzinfo=UTC))
    later = (await keys.keys_for_reading([a]))[a]
    shown = decode_event(note_event.event_type, 1, payload, event_id, later)
    assert shown.body == ERASED and shown.author == "Jan de Vries"  # type: ignore[attr-defined]


@pytest.mark.integration
async def test_the_event_store_seals_expiring_fields_under_their_period_key(
    pool: asyncpg.Pool, pg_store: PostgresKeyStore, note_event: type[Event]
) -> None:
    es = EventStore(f"sk_{uuid.uuid4().hex[:10]}", CachedKeyStore(pg_store, ttl_seconds=30))
    async with pool.acquire() as conn:
        await es.migrate(conn)
    a = sid()
    events = [
        NewEvent(note_event(note_id="n1", author="Jan", body="november"), a, occurred_at=NOV),
        NewEvent(note_event(note_id="n2", author="Jan", body="december"), a, occurred_at=DEC),
    ]
    async with pool.acquire() as conn, conn.transaction():
        recs = await es.append(conn, f"note-{a}", StreamHead(), events)
    stored = [orjson.loads(r.payload) for r in recs]
    assert [token_scope(p["body"]) for p in stored] == [NOV_SCOPE, DEC_SCOPE]
    sealed = [SealedField(a, r.event_id, "body", p["body"]) for r, p in zip(recs, stored,
                                                                           strict=True)]
    assert await open_sealed(es.keys, sealed) == ["november", "december"]
    await es.keys.expire("messages", datetime(2026, 12, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    assert await open_sealed(es.keys, sealed) == [ERASED, "december"]
    raw = await pool.fetch(f"SELECT payload FROM {es.schema}.events")
    assert all(b"november" not in bytes(r["payload"]) for r in raw)
    await es.keys.destroy(a)
    assert await open_sealed(es.keys, sealed) == [ERASED, ERASED]


OLD_KEYSTORE_DDL = """
CREATE SCHEMA keystore;
CREATE TABLE keystore.subject_keys (
    subject_hash bytea PRIMARY KEY,
    wrapped_key  bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);
"""


@pytest.mark.integration
async def test_a_key_store_from_before_scoped_keys_is_migrated_with_its_keys(
    infra: Any, ks_pool: asyncpg.Pool, index: BlindIndex, wrapper: KeyWrapper
) -> None:
    name = f"ks_old_{uuid.uuid4().hex[:8]}"
    await ks_pool.execute(f"CREATE DATABASE {name}")
    try:
        old = await asyncpg.create_pool(infra.pg_dsn(name), min_size=1, max_size=2)
        try:
            a, gone = sid(), sid()
            raw = KeyWrapper.new_data_key()
            await old.execute(OLD_KEYSTORE_DDL)
            await old.execute(
                "INSERT INTO keystore.subject_keys (subject_hash, wrapped_key) VALUES ($1, $2)",
                index.subject(a), wrapper.wrap(raw, index.subject(a)))
            await old.execute(
                "INSERT INTO keystore.subject_keys (subject_hash, wrapped_key, erased_at) "
                "VALUES ($1, NULL, now())", index.subject(gone))
            store = PostgresKeyStore(old, wrapper, index)
            await store.migrate()
            await store.migrate()  # idempotent
            token = (await store.keys_for_writing([a], {a: {DEC_SCOPE}}))[a].seal(b"v", b"c")
            assert (await store.keys_for_reading([a]))[a].open(token, b"c") == b"v"  # type: ignore[union-attr]
            assert DataKey.from_bytes(a, raw).open(token, b"c") == b"v"  # the same key
            assert await store.is_erased(gone)
            with pytest.raises(SubjectErasedError):
                await store.keys_for_writing([gone], {gone: {DEC_SCOPE}})
        finally:
            await old.close()
    finally:
        await ks_pool.execute(f"DROP DATABASE {name}")



@pytest.mark.integration
async def test_a_restore_erases_again_but_keeps_what_a_hold_still_keeps(
        pg_store: PostgresKeyStore, ks_pool: asyncpg.Pool, index: BlindIndex,
        infra: Any) -> None:
    """RET-4, RET-5: a backup taken before an erasure under a category hold is restored:
    ``erase_again`` destroys the subject's keys again, all but the held category's."""
    a = sid()
    keys = (await pg_store.keys_for_writing([a], {a: {NOV_SCOPE, "listings@2026-11"}}))[a]
    listing = keys.seal(b"kast", b"c", "listings@2026-11")
    h = index.subject(a)
    backup = await ks_pool.fetch("SELECT scope, wrapped_key FROM keystore.subject_keys "
                                 "WHERE subject_hash = $1", h)
    await pg_store.destroy(a, keep=["listings"])
    for row in backup:  # the restore puts the rows of before the erasure back
        await ks_pool.execute("UPDATE keystore.subject_keys SET wrapped_key = $3, "
                              "erased_at = NULL WHERE subject_hash = $1 AND scope = $2",
                              h, row["scope"], row["wrapped_key"])
    assert (await pg_store.keys_for_reading([a]))[a] is not None
    await erase_again(infra.pg_dsn("marketplace"), infra.pg_dsn("keystore"), [h], index,
                      {h: ["listings"]})
    assert (await pg_store.keys_for_reading([a]))[a] is None
    held = (await pg_store.held_keys([a]))[a]
    assert set(held.scoped) == {"listings@2026-11"} and held.open(listing, b"c") == b"kast"


@pytest.mark.integration
async def test_the_auditors_lookup_gives_live_keys_erased_subjects_and_held_keys_at_once(
    pg_store: PostgresKeyStore,
) -> None:
    """AUD-1, RET-4: one query answers what three did (keys, the erased register, the keys
    a category hold kept), with the same answers."""
    live, gone, held, unknown = sid(), sid(), sid(), sid()
    got = await pg_store.keys_for_writing([live, gone, held],
                                          {held: {"listings@2026-11"}, live: {NOV_SCOPE}})
    listing = got[held].seal(b"kast", b"c", "listings@2026-11")
    await pg_store.destroy(gone)
    await pg_store.destroy(held, keep=["listings"])
    keys, erased = await pg_store.keys_for_audit([live, gone, held, unknown])
    assert erased == {gone, held}
    assert keys[gone] is None and keys[unknown] is None
    own = keys[live]
    assert own is not None and own.open(got[live].seal(b"x", b"c"), b"c") == b"x"
    assert NOV_SCOPE in own.scoped
    kept = keys[held]
    assert kept is not None and kept.aead is None and kept.open(listing, b"c") == b"kast"
    assert set(await pg_store.held_keys([gone, held])) == {held}
