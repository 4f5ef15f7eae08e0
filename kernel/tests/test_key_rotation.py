"""Online master-key rotation of the key store (issue 34, SEC-1, RET-5).

Each test has a key store database of its own (the session's holds keys wrapped under
many tests' master keys). The rotation runs while writers keep creating keys, some of
them on a service that still holds only the old master key; afterwards every key opens
under the new master key alone, the old one opens nothing, erased subjects stay erased.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from kernel.crypto import BlindIndex, DecryptionError, KeyWrapper
from kernel.keyring import (
    STALE_VERSION,
    KeyRing,
    begin_rotation,
    remaining,
    retire,
    rewrap_all,
    rewrap_batch,
)
from kernel.keystore import PostgresKeyStore, SubjectErasedError
from kernel.settings import SecretsSettings

SCOPE = "messages@2026-12"


@pytest.fixture
async def ks(infra: object) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh key store database of this test's own."""
    name = f"ks_rotation_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(infra.pg_dsn("postgres"))  # type: ignore[attr-defined]
    await admin.execute(f'CREATE DATABASE "{name}"')
    pool = await asyncpg.create_pool(infra.pg_dsn(name), min_size=1, max_size=8)  # type: ignore[attr-defined]
    try:
        yield pool
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def ring(**keys: bytes) -> KeyRing:
    """A ring of ``v1=..., v2=...``, the highest version current."""
    by = {int(k[1:]): KeyWrapper(v) for k, v in keys.items()}
    return KeyRing(by, max(by))


async def _populate(store: PostgresKeyStore, n: int) -> dict[str, tuple[str, str]]:
    """``n`` subjects with a subject key and a scoped key; a sealed value under each."""
    sealed: dict[str, tuple[str, str]] = {}
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for i in range(0, n, 500):
        chunk = ids[i:i + 500]
        keys = await store.keys_for_writing(chunk, {s: {SCOPE} for s in chunk})
        for s in chunk:
            sealed[s] = (keys[s].seal(s.encode(), b"own"), keys[s].seal(s.encode(), b"sc", SCOPE))
    return sealed


async def _opens(store: PostgresKeyStore, sealed: dict[str, tuple[str, str]]) -> int:
    ids = list(sealed)
    opened = 0
    for i in range(0, len(ids), 1000):
        chunk = ids[i:i + 1000]
        keys = await store.keys_for_reading(chunk, {s: {SCOPE} for s in chunk})
        for s in chunk:
            key = keys[s]
            assert key is not None, s
            own, scoped = sealed[s]
            assert key.open(own, b"own") == key.open(scoped, b"sc") == s.encode()
            opened += 1
    return opened


@pytest.mark.integration
async def test_sec_1_rotation_under_write_load_rewraps_every_key_and_retires_the_old(
    ks: asyncpg.Pool, index: BlindIndex,
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    v1 = PostgresKeyStore(ks, ring(v1=old), index)
    await v1.migrate()
    sealed = await _populate(v1, 3000)
    erased = list(sealed)[:200]
    for s in erased:
        await v1.destroy(s)
    live = {s: v for s, v in sealed.items() if s not in erased}

    # A service that still holds only the old key, following the secrets when it must.
    reloads = 0

    def reload() -> KeyRing:
        nonlocal reloads
        reloads += 1
        return ring(v1=old, v2=new)

    stale = PostgresKeyStore(ks, KeyRing({1: KeyWrapper(old)}, 1, reload), index)
    fresh = PostgresKeyStore(ks, ring(v1=old, v2=new), index)
    stop = asyncio.Event()
    written: dict[str, tuple[str, str]] = {}

    async def writer(store: PostgresKeyStore) -> None:
        while not stop.is_set():
            written.update(await _populate(store, 20))

    writers = [asyncio.create_task(writer(s)) for s in (stale, fresh, stale)]
    await asyncio.sleep(0.2)
    before = len(written)
    began = time.monotonic()
    await begin_rotation(ks, 2)
    # a crash half-way: the first batches commit, the one under way rolls back
    first = asyncio.create_task(rewrap_all(ks, ring(v1=old, v2=new), 100))
    while (await remaining(ks)).get(2, 0) < 1000:
        await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await remaining(ks)).get(1, 0) > 0
    # bounded: were old-version keys still written after the switch, it would never end
    done = await asyncio.wait_for(rewrap_all(ks, ring(v1=old, v2=new), 500), 60)
    seconds = time.monotonic() - began
    during = len(written) - before
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*writers)
    assert await retire(ks, 1)
    assert not await retire(ks, 2)  # the current version is never retired
    total = 2 * (len(live) + len(written))
    assert await remaining(ks) == {2: total}
    assert reloads >= 1  # the stale service followed the rotation
    print(f"\nrotation: {total} keys, {done} rewrapped after the resume, "
          f"{total / seconds:.0f} keys/s overall; {during * 2} keys written by "
          f"{len(writers)} writers during the rotation ({seconds:.2f} s)")

    only_new = PostgresKeyStore(ks, ring(v2=new), index)
    assert await _opens(only_new, {**live, **written}) == len(live) + len(written)
    only_old = PostgresKeyStore(ks, KeyRing({1: KeyWrapper(old)}, 1), index)
    with pytest.raises(DecryptionError):
        await only_old.keys_for_reading(list(live)[:1])
    rows = await ks.fetch("SELECT subject_hash, scope, wrapped_key FROM keystore.subject_keys "
                          "WHERE wrapped_key IS NOT NULL")
    old_wrapper = KeyWrapper(old)
    for r in rows:  # the old master key opens no wrapped key at all
        ctx = bytes(r["subject_hash"]) + (b"\x00" + r["scope"].encode() if r["scope"] else b"")
        with pytest.raises(DecryptionError):
            old_wrapper.unwrap(bytes(r["wrapped_key"]), ctx)
    for s in erased:  # erased stays erased: no key came back, none is made
        assert (await only_new.keys_for_reading([s]))[s] is None
        with pytest.raises(SubjectErasedError):
            await only_new.keys_for_writing([s])
    assert await ks.fetchval("SELECT count(*) FROM keystore.subject_keys WHERE "
                             "subject_hash = ANY($1::bytea[]) AND wrapped_key IS NOT NULL",
                             [index.subject(s) for s in erased]) == 0


@pytest.mark.integration
async def test_sec_1_no_key_is_wrapped_under_the_old_version_once_the_new_is_current(
    ks: asyncpg.Pool, index: BlindIndex,
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    v1 = PostgresKeyStore(ks, KeyRing({1: KeyWrapper(old)}, 1), index)
    await v1.migrate()
    await v1.keys_for_writing([str(uuid.uuid4())])
    await begin_rotation(ks, 2)
    with pytest.raises(asyncpg.PostgresError) as refused:
        await ks.execute("INSERT INTO keystore.subject_keys (subject_hash, wrapped_key, "
                         "key_version) VALUES ($1, $2, 1)", os.urandom(32), os.urandom(60))
    assert refused.value.sqlstate == STALE_VERSION
    # a service holding only the old key and no way to learn the new one fails loudly
    with pytest.raises(DecryptionError, match="version 2"):
        await v1.keys_for_writing([str(uuid.uuid4())])
    assert await rewrap_batch(ks, ring(v1=old, v2=new), 10) == 1
    assert await rewrap_batch(ks, ring(v1=old, v2=new), 10) == 0
    # an erasure during a rotation is a destroyed key, whatever version it had
    s = str(uuid.uuid4())
    await PostgresKeyStore(ks, ring(v1=old, v2=new), index).keys_for_writing([s])
    assert await v1.destroy(s)


def test_sec_1_a_ring_reads_the_secrets_file_again_for_a_version_it_lacks(
    tmp_path: Path,
) -> None:
    k1, k2, idx = (base64.b64encode(os.urandom(32)).decode() for _ in range(3))
    path = tmp_path / "secrets.env"
    path.write_text(f"MARKET_SECRETS_MASTER_KEY={k1}\nMARKET_SECRETS_INDEX_KEY={idx}\n")
    keys = KeyRing.from_settings(SecretsSettings.model_validate(
        {"master_key": k2, "index_key": idx, "MARKET_SECRETS_FILE": path}))
    assert keys.versions == {1} and keys.current == 1  # the file wins over the environment
    path.write_text(f"MARKET_SECRETS_MASTER_KEY={k2}\nMARKET_SECRETS_INDEX_KEY={idx}\n"
                    f"MARKET_SECRETS_MASTER_KEY_VERSION=2\n"
                    f"MARKET_SECRETS_PREVIOUS_MASTER_KEYS=1:{k1}\n")
    wrapped = KeyWrapper(base64.b64decode(k2)).wrap(b"k" * 32, b"ctx")
    assert keys.wrapper(2).unwrap(wrapped, b"ctx") == b"k" * 32
    assert keys.versions == {1, 2} and keys.current == 2
    with pytest.raises(DecryptionError):
        keys.wrapper(3)
    with pytest.raises(ValueError):
        SecretsSettings(master_key=k2, index_key=idx,  # type: ignore[arg-type]
                        previous_master_keys="1:short")
    with pytest.raises(ValueError, match="twice"):
        SecretsSettings(master_key=k2, index_key=idx,  # type: ignore[arg-type]
                        previous_master_keys=f"1:{k1}").master_keys()
