"""The crypto-shredding key store: one data key per subject, destroyed on erasure (RET-5).

``KeyStore`` is the interface; ``PostgresKeyStore`` keeps wrapped keys in a database of
its own and ``InMemoryKeyStore`` is the fake for unit tests. ``kernel.keycache`` holds
unwrapped keys briefly in a service and drops them on the erasure event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import asyncpg

from kernel.crypto import BlindIndex, DataKey, KeyWrapper


class SubjectErasedError(Exception):
    """Personal data was about to be written for a subject whose key was destroyed."""

    def __init__(self, subject_ids: Iterable[str]) -> None:
        self.subject_ids = sorted(subject_ids)
        super().__init__(f"{len(self.subject_ids)} subject(s) erased; no key will be re-created")


class KeyStore(Protocol):
    """What every service needs from the key store."""

    async def keys_for_writing(self, subject_ids: Iterable[str]) -> dict[str, DataKey]:
        """Keys to encrypt with, created when missing; raises ``SubjectErasedError``."""
        ...

    async def keys_for_reading(self, subject_ids: Iterable[str]) -> dict[str, DataKey | None]:
        """Keys to decrypt with; ``None`` for erased or unknown subjects."""
        ...

    async def destroy(self, subject_id: str) -> bool:
        """Destroy a subject's key for good; ``True`` if a key existed."""
        ...

    async def is_erased(self, subject_id: str) -> bool:
        """Whether the subject is in the erased register."""
        ...

    def forget(self, subject_id: str) -> None:
        """Drop any cached copy of the subject's key."""
        ...


KEYSTORE_DDL = """
CREATE SCHEMA IF NOT EXISTS keystore;
CREATE TABLE IF NOT EXISTS keystore.subject_keys (
    subject_hash bytea PRIMARY KEY,
    wrapped_key  bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);
COMMENT ON TABLE keystore.subject_keys IS
  'Wrapped per-subject data keys; a row with erased_at is the erased register (keyed hash only).';
-- A destroyed key's old row version lingers until vacuumed: vacuum after every change, so
-- the wrapped key (useless without the master key anyway) is reclaimed within a minute.
ALTER TABLE keystore.subject_keys SET (
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1
);
"""

_UPSERT = """
WITH want AS (
    SELECT * FROM unnest($1::bytea[], $2::bytea[]) AS w(subject_hash, wrapped_key)
), ins AS (
    INSERT INTO keystore.subject_keys (subject_hash, wrapped_key)
    SELECT subject_hash, wrapped_key FROM want
    ON CONFLICT (subject_hash) DO NOTHING
    RETURNING subject_hash, wrapped_key
)
SELECT subject_hash, wrapped_key FROM ins
UNION ALL
SELECT k.subject_hash, k.wrapped_key FROM keystore.subject_keys k
WHERE k.subject_hash = ANY($1::bytea[])
"""
# The second SELECT reads the snapshot taken before the INSERT, so it returns exactly the
# keys that existed already and ``ins`` exactly the new ones: no row appears twice.

_SELECT = """
SELECT subject_hash, wrapped_key FROM keystore.subject_keys WHERE subject_hash = ANY($1::bytea[])
"""

_DESTROY = """
INSERT INTO keystore.subject_keys AS k (subject_hash, wrapped_key, erased_at)
VALUES ($1, NULL, now())
ON CONFLICT (subject_hash) DO UPDATE SET wrapped_key = NULL, erased_at = now()
    WHERE k.erased_at IS NULL
RETURNING (SELECT wrapped_key IS NOT NULL FROM keystore.subject_keys WHERE subject_hash = $1)
"""


class PostgresKeyStore:
    """Wrapped keys in PostgreSQL (its own database); one round trip per lookup batch."""

    def __init__(self, pool: asyncpg.Pool, wrapper: KeyWrapper, index: BlindIndex) -> None:
        self._pool = pool
        self._wrapper = wrapper
        self._index = index

    async def migrate(self) -> None:
        """Create the key store's tables if missing."""
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(7201)")
            try:
                await conn.execute(KEYSTORE_DDL)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(7201)")

    async def keys_for_writing(self, subject_ids: Iterable[str]) -> dict[str, DataKey]:
        """Keys to encrypt with, created when missing; raises ``SubjectErasedError``."""
        ids = sorted(set(subject_ids))
        if not ids:
            return {}
        hashes = {self._index.subject(s): s for s in ids}
        wrapped = [self._wrapper.wrap(KeyWrapper.new_data_key(), h) for h in hashes]
        rows = await self._pool.fetch(_UPSERT, list(hashes), wrapped)
        keys, erased = self._unwrap(rows, hashes)
        if erased:
            raise SubjectErasedError(erased)
        return {s: k for s, k in keys.items() if k is not None}

    async def keys_for_reading(self, subject_ids: Iterable[str]) -> dict[str, DataKey | None]:
        """Keys to decrypt with; ``None`` for erased or unknown subjects."""
        ids = sorted(set(subject_ids))
        if not ids:
            return {}
        hashes = {self._index.subject(s): s for s in ids}
        rows = await self._pool.fetch(_SELECT, list(hashes))
        keys, _ = self._unwrap(rows, hashes)
        return {s: keys.get(s) for s in ids}

    async def destroy(self, subject_id: str) -> bool:
        """Destroy a subject's key for good; ``True`` if a key existed."""
        existed = await self._pool.fetchval(_DESTROY, self._index.subject(subject_id))
        return bool(existed)

    async def is_erased(self, subject_id: str) -> bool:
        """Whether the subject is in the erased register."""
        return bool(
            await self._pool.fetchval(
                "SELECT erased_at IS NOT NULL FROM keystore.subject_keys WHERE subject_hash = $1",
                self._index.subject(subject_id),
            )
        )

    def forget(self, subject_id: str) -> None:
        """Nothing is cached here."""

    async def ping(self) -> None:
        """Raise if the key store's database is unreachable."""
        await self._pool.fetchval("SELECT 1")

    def _unwrap(
        self, rows: list[asyncpg.Record], hashes: dict[bytes, str]
    ) -> tuple[dict[str, DataKey | None], list[str]]:
        keys: dict[str, DataKey | None] = {}
        erased: list[str] = []
        for row in rows:
            subject = hashes[bytes(row["subject_hash"])]
            if row["wrapped_key"] is None:
                keys[subject] = None
                erased.append(subject)
            else:
                raw = self._wrapper.unwrap(bytes(row["wrapped_key"]), bytes(row["subject_hash"]))
                keys[subject] = DataKey.from_bytes(subject, raw)
        return keys, erased


class InMemoryKeyStore:
    """A fake key store for unit tests, with the same rules as the real one."""

    def __init__(self) -> None:
        self._keys: dict[str, DataKey | None] = {}

    async def keys_for_writing(self, subject_ids: Iterable[str]) -> dict[str, DataKey]:
        """Keys to encrypt with, created when missing; raises ``SubjectErasedError``."""
        ids = set(subject_ids)
        erased = [s for s in ids if s in self._keys and self._keys[s] is None]
        if erased:
            raise SubjectErasedError(erased)
        out: dict[str, DataKey] = {}
        for s in ids:
            key = self._keys.get(s) or DataKey.from_bytes(s, KeyWrapper.new_data_key())
            self._keys[s] = key
            out[s] = key
        return out

    async def keys_for_reading(self, subject_ids: Iterable[str]) -> dict[str, DataKey | None]:
        """Keys to decrypt with; ``None`` for erased or unknown subjects."""
        return {s: self._keys.get(s) for s in set(subject_ids)}

    async def destroy(self, subject_id: str) -> bool:
        """Destroy a subject's key for good; ``True`` if a key existed."""
        existed = self._keys.get(subject_id) is not None
        self._keys[subject_id] = None
        return existed

    async def is_erased(self, subject_id: str) -> bool:
        """Whether the subject is in the erased register."""
        return subject_id in self._keys and self._keys[subject_id] is None

    def forget(self, subject_id: str) -> None:
        """Nothing is cached here."""

    async def ping(self) -> None:
        """Always reachable."""
