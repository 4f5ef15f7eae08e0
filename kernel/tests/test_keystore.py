"""The key store's rules, written once and run against the fake and PostgreSQL (RET-5).

A key is never re-created for an erased subject, and the erased register holds only
keyed hashes of subject ids.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from kernel.crypto import BlindIndex, KeyWrapper
from kernel.keycache import CachedKeyStore
from kernel.keystore import InMemoryKeyStore, PostgresKeyStore, SubjectErasedError


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.unit),
        pytest.param("postgres", marks=pytest.mark.integration),
    ]
)
def store(request: pytest.FixtureRequest) -> object:
    if request.param == "memory":
        return InMemoryKeyStore()
    return request.getfixturevalue("pg_keystore")


@pytest.fixture(scope="session")
async def pg_keystore(
    ks_pool: asyncpg.Pool, index: BlindIndex, wrapper: KeyWrapper
) -> AsyncIterator[PostgresKeyStore]:
    real = PostgresKeyStore(ks_pool, wrapper, index)
    await real.migrate()
    yield real


def sid() -> str:
    return str(uuid.uuid4())


async def test_writing_creates_one_key_per_subject_and_reading_finds_it(store: object) -> None:
    a, b = sid(), sid()
    written = await store.keys_for_writing([a, b])  # type: ignore[attr-defined]
    again = await store.keys_for_writing([a])  # type: ignore[attr-defined]
    token = written[a].seal(b"v", b"ctx")
    assert again[a].open(token, b"ctx") == b"v"
    read = await store.keys_for_reading([a, b, sid()])  # type: ignore[attr-defined]
    assert read[a] is not None and read[b] is not None
    assert sum(1 for k in read.values() if k is None) == 1


async def test_destroyed_key_is_gone_and_never_recreated(store: object) -> None:
    a = sid()
    key = (await store.keys_for_writing([a]))[a]  # type: ignore[attr-defined]
    token = key.seal(b"personal", b"ctx")
    assert await store.destroy(a) is True  # type: ignore[attr-defined]
    assert await store.is_erased(a)  # type: ignore[attr-defined]
    assert (await store.keys_for_reading([a]))[a] is None  # type: ignore[attr-defined]
    with pytest.raises(SubjectErasedError):
        await store.keys_for_writing([a])  # type: ignore[attr-defined]
    assert await store.destroy(a) is False  # type: ignore[attr-defined]
    del token


async def test_erasing_an_unknown_subject_still_blocks_future_keys(store: object) -> None:
    a = sid()
    assert await store.destroy(a) is False  # type: ignore[attr-defined]
    with pytest.raises(SubjectErasedError):
        await store.keys_for_writing([a])  # type: ignore[attr-defined]


@pytest.mark.integration
async def test_erased_register_holds_only_keyed_hashes(
    ks_pool: asyncpg.Pool, index: BlindIndex, wrapper: KeyWrapper
) -> None:
    real = PostgresKeyStore(ks_pool, wrapper, index)
    await real.migrate()
    a = sid()
    await real.keys_for_writing([a])
    await real.destroy(a)
    dump = await ks_pool.fetch("SELECT subject_hash FROM keystore.subject_keys")
    assert all(a.encode() not in bytes(r["subject_hash"]) for r in dump)
    row = await ks_pool.fetchrow(
        "SELECT wrapped_key, erased_at FROM keystore.subject_keys WHERE subject_hash = $1",
        index.subject(a),
    )
    assert row["wrapped_key"] is None and row["erased_at"] is not None


@pytest.mark.integration
async def test_concurrent_creation_and_erasure_never_leave_a_key(
    ks_pool: asyncpg.Pool, index: BlindIndex, wrapper: KeyWrapper
) -> None:
    real = PostgresKeyStore(ks_pool, wrapper, index)
    await real.migrate()
    for _ in range(20):
        a = sid()
        results = await asyncio.gather(
            real.keys_for_writing([a]), real.destroy(a), return_exceptions=True
        )
        assert (await real.keys_for_reading([a]))[a] is None
        assert isinstance(results[0], dict | SubjectErasedError)


@pytest.mark.unit
async def test_cache_serves_repeated_reads_and_forgets_on_erasure() -> None:
    inner = InMemoryKeyStore()
    cache = CachedKeyStore(inner, ttl_seconds=60)
    a = sid()
    await cache.keys_for_writing([a])
    assert len(cache) == 1
    await inner.destroy(a)  # destroyed by another service
    assert (await cache.keys_for_reading([a]))[a] is not None  # still cached...
    cache.forget(a)  # ...until the erasure event arrives
    assert (await cache.keys_for_reading([a]))[a] is None
