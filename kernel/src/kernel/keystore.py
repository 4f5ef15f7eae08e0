"""The crypto-shredding key store: data keys per subject (and per period), destroyed on erasure.

``KeyStore`` is the interface; ``PostgresKeyStore`` keeps wrapped keys in a database of
its own and ``InMemoryKeyStore`` is the fake for unit tests. ``kernel.keycache`` holds
unwrapped keys briefly in a service and drops them on the erasure event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Protocol

import asyncpg

from kernel.codec import scope_end
from kernel.crypto import BlindIndex, DataKey, KeyWrapper
from kernel.journal import ErasureJournal
from kernel.keyring import (
    ROTATION_DDL,
    STALE_VERSION,
    KeyRing,
    current_version,
    wrap_context,
)


class SubjectErasedError(Exception):
    """Personal data was about to be written for a subject whose key was destroyed."""

    def __init__(self, subject_ids: Iterable[str]) -> None:
        self.subject_ids = sorted(subject_ids)
        super().__init__(f"{len(self.subject_ids)} subject(s) erased; no key will be re-created")


class KeyExpiredError(Exception):
    """A value was about to be sealed under a scoped key whose period has been destroyed."""

    def __init__(self, scopes: Iterable[str]) -> None:
        self.scopes = sorted(set(scopes))
        super().__init__(f"scoped key(s) destroyed: {', '.join(self.scopes)}")


Scopes = Mapping[str, Iterable[str]]
"""Scoped keys wanted, by subject id: ``{"<subject>": {"messages@2026-12"}}``."""


class KeyStore(Protocol):
    """What every service needs from the key store.

    A subject has its own key and, for expiring categories (MSG-3), one key per
    ``"<category>@<YYYY-MM>"`` scope. Every key is created once and never re-created once
    destroyed: erasure destroys all of a subject's keys, ``expire`` one category's periods.
    """

    async def keys_for_writing(
        self, subject_ids: Iterable[str], scopes: Scopes | None = None
    ) -> dict[str, DataKey]:
        """Keys to encrypt with, created when missing (``scopes`` too).

        Raises:
            SubjectErasedError: a subject is erased.
            KeyExpiredError: a wanted scope's key was destroyed.
        """
        ...

    async def keys_for_reading(
        self, subject_ids: Iterable[str], scopes: Scopes | None = None
    ) -> dict[str, DataKey | None]:
        """Keys to decrypt with, with every live scoped key of the subject.

        ``None`` for erased or unknown subjects. ``scopes`` names scoped keys the caller
        needs, so a cache knows to look again when it lacks them.
        """
        ...

    async def destroy(self, subject_id: str, keep: Collection[str] = ()) -> bool:
        """Destroy a subject's keys for good; ``True`` if its key existed.

        ``keep`` names categories whose scoped keys survive, under a legal hold on that
        category (RET-4): the subject is erased (its own key is gone, no service reads it
        any more), while the held values stay in the log for the holder to read
        (:meth:`PostgresKeyStore.held_keys`) until the hold ends: then ``destroy`` again,
        keeping only what other holds keep, takes them (and journals it).
        """
        ...

    async def expire(self, category: str, ended_before: datetime,
                     subject_id: str | None = None) -> int:
        """Destroy every key of ``category`` whose period ended by ``ended_before`` (only
        ``subject_id``'s when given: its period may differ from other members')."""
        ...

    async def is_erased(self, subject_id: str) -> bool:
        """Whether the subject is in the erased register."""
        ...

    def forget(self, subject_id: str) -> None:
        """Drop any cached copy of the subject's keys."""
        ...


KEYSTORE_DDL = """
CREATE SCHEMA IF NOT EXISTS keystore;
CREATE TABLE IF NOT EXISTS keystore.subject_keys (
    subject_hash bytea NOT NULL,
    scope        text NOT NULL DEFAULT '',
    wrapped_key  bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    period_end   timestamptz,
    PRIMARY KEY (subject_hash, scope),
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL)),
    CHECK ((scope = '') = (period_end IS NULL))
);
-- A key store made before scoped keys: one row per subject, keyed by subject alone.
ALTER TABLE keystore.subject_keys ADD COLUMN IF NOT EXISTS scope text NOT NULL DEFAULT '';
ALTER TABLE keystore.subject_keys ADD COLUMN IF NOT EXISTS period_end timestamptz;
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'keystore.subject_keys'::regclass AND i.indisprimary) = 1 THEN
        ALTER TABLE keystore.subject_keys DROP CONSTRAINT subject_keys_pkey;
        ALTER TABLE keystore.subject_keys ADD PRIMARY KEY (subject_hash, scope);
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS subject_keys_periods ON keystore.subject_keys (period_end)
    WHERE scope <> '' AND wrapped_key IS NOT NULL;
COMMENT ON TABLE keystore.subject_keys IS
  'Wrapped data keys per subject (empty scope) and per subject and period of an expiring '
  'category (scope category@YYYY-MM); a row with erased_at is a destroyed key. The subject '
  'row with erased_at is the erased register (keyed hash only).';
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
    INSERT INTO keystore.subject_keys (subject_hash, wrapped_key, key_version)
    SELECT subject_hash, wrapped_key, $3 FROM want
    ON CONFLICT (subject_hash, scope) DO NOTHING
    RETURNING subject_hash, scope, wrapped_key, key_version
)
SELECT subject_hash, scope, wrapped_key, key_version FROM ins
UNION ALL
SELECT k.subject_hash, k.scope, k.wrapped_key, k.key_version FROM keystore.subject_keys k
WHERE k.subject_hash = ANY($1::bytea[])
"""
# The second SELECT reads the snapshot taken before the INSERT, so it returns exactly the
# keys that existed already and ``ins`` exactly the new ones: no row appears twice.

_SELECT = """
SELECT subject_hash, scope, wrapped_key, key_version FROM keystore.subject_keys
WHERE subject_hash = ANY($1::bytea[])
"""

_LOCK_SUBJECTS = """
SELECT subject_hash, wrapped_key IS NULL AS erased FROM keystore.subject_keys
WHERE subject_hash = ANY($1::bytea[]) AND scope = '' FOR SHARE
"""
# Held while scoped keys are added, so that an erasure running at the same time waits for
# them and then destroys them too: no scoped key outlives its subject's erasure.

_INSERT_SCOPED = """
INSERT INTO keystore.subject_keys (subject_hash, scope, wrapped_key, period_end, key_version)
SELECT *, $5::integer FROM unnest($1::bytea[], $2::text[], $3::bytea[], $4::timestamptz[])
ON CONFLICT (subject_hash, scope) DO NOTHING
"""

_DESTROY_SUBJECT = """
INSERT INTO keystore.subject_keys AS k (subject_hash, wrapped_key, erased_at)
VALUES ($1, NULL, now())
ON CONFLICT (subject_hash, scope) DO UPDATE SET wrapped_key = NULL, erased_at = now()
    WHERE k.erased_at IS NULL
RETURNING (SELECT wrapped_key IS NOT NULL FROM keystore.subject_keys
           WHERE subject_hash = $1 AND scope = '')
"""

_DESTROY_SCOPED = """
UPDATE keystore.subject_keys SET wrapped_key = NULL, erased_at = now()
WHERE subject_hash = $1 AND scope <> '' AND wrapped_key IS NOT NULL
  AND NOT split_part(scope, '@', 1) = ANY($2::text[])
"""

_HELD = """
SELECT s.subject_hash, s.scope, s.wrapped_key, s.key_version FROM keystore.subject_keys s
JOIN keystore.subject_keys b ON b.subject_hash = s.subject_hash AND b.scope = ''
WHERE s.subject_hash = ANY($1::bytea[]) AND s.scope <> '' AND s.wrapped_key IS NOT NULL
  AND b.wrapped_key IS NULL
"""

_EXPIRE = """
UPDATE keystore.subject_keys SET wrapped_key = NULL, erased_at = now()
WHERE scope <> '' AND wrapped_key IS NOT NULL AND period_end <= $2
  AND left(scope, length($1) + 1) = $1 || '@'
"""


class PostgresKeyStore:
    """Wrapped keys in PostgreSQL (its own database); one round trip per lookup batch.

    ``keys`` is the master key (one version) or every version held (``KeyRing``): a row is
    unwrapped by the version it records, new keys are wrapped under the version the store
    names current (``kernel.keyring``), looked up once and again when a write is refused.
    """

    def __init__(
        self, pool: asyncpg.Pool, keys: KeyWrapper | KeyRing, index: BlindIndex,
        journal: ErasureJournal | None = None,
    ) -> None:
        self._pool = pool
        self._ring = keys if isinstance(keys, KeyRing) else KeyRing.single(keys)
        self._index = index
        self._journal = journal
        self._version: int | None = None

    async def migrate(self) -> None:
        """Create the key store's tables if missing (and move an old one to scoped keys,
        then to master-key versions: existing rows are version 1)."""
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(7201)")
            try:
                await conn.execute(KEYSTORE_DDL)
                await conn.execute(ROTATION_DDL)
                await conn.execute(
                    "INSERT INTO keystore.master_key (version) VALUES ($1) "
                    "ON CONFLICT DO NOTHING", self._ring.current)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(7201)")

    async def _wrapping(self, refresh: bool = False) -> tuple[int, KeyWrapper]:
        """The version new keys are wrapped under, and its master key."""
        if self._version is None or refresh:
            self._version = await current_version(self._pool) or self._ring.current
        return self._version, self._ring.wrapper(self._version)

    async def keys_for_writing(
        self, subject_ids: Iterable[str], scopes: Scopes | None = None
    ) -> dict[str, DataKey]:
        """Keys to encrypt with, created when missing; see ``KeyStore``."""
        ids = sorted(set(subject_ids) | set(scopes or ()))
        if not ids:
            return {}
        hashes = {self._index.subject(s): s for s in ids}
        wanted = {s: set(w) for s, w in (scopes or {}).items() if w}
        for attempt in (1, 2):
            try:
                rows = await self._write(hashes, wanted, refresh=attempt > 1)
                break
            except asyncpg.PostgresError as exc:  # a rotation made another version current
                if attempt > 1 or getattr(exc, "sqlstate", None) != STALE_VERSION:
                    raise
        keys, erased = self._unwrap(rows, hashes)
        if erased:
            raise SubjectErasedError(erased)
        gone = [sc for s, w in wanted.items() for sc in w
                if (k := keys.get(s)) is None or sc not in k.scoped]
        if gone:
            raise KeyExpiredError(gone)
        return {s: k for s, k in keys.items() if k is not None}

    async def _write(self, hashes: dict[bytes, str], wanted: dict[str, set[str]],
                     refresh: bool) -> list[asyncpg.Record]:
        version, wrapper = await self._wrapping(refresh)
        wrapped = [wrapper.wrap(KeyWrapper.new_data_key(), h) for h in hashes]
        if not wanted:  # the common case: one statement
            rows: list[asyncpg.Record] = await self._pool.fetch(
                _UPSERT, list(hashes), wrapped, version)
            return rows
        rows = await self._pool.fetch(_SELECT, list(hashes))
        if not self._all_there(rows, hashes, wanted):
            rows = await self._with_scopes(hashes, wrapped, wanted, version, wrapper)
        return rows

    @staticmethod
    def _all_there(
        rows: list[asyncpg.Record], hashes: dict[bytes, str], wanted: dict[str, set[str]]
    ) -> bool:
        """Whether every subject and wanted scope already has a row (live or destroyed)."""
        have: dict[str, set[str]] = {}
        for r in rows:
            have.setdefault(hashes[bytes(r["subject_hash"])], set()).add(r["scope"])
        return all("" in have.get(s, ()) for s in hashes.values()) and all(
            w <= have.get(s, set()) for s, w in wanted.items())

    async def _with_scopes(
        self, hashes: dict[bytes, str], wrapped: list[bytes], wanted: dict[str, set[str]],
        version: int, wrapper: KeyWrapper,
    ) -> list[asyncpg.Record]:
        by_subject = {s: h for h, s in hashes.items()}
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_UPSERT, list(hashes), wrapped, version)
            locked = await conn.fetch(_LOCK_SUBJECTS, list(hashes))
            erased = {bytes(r["subject_hash"]) for r in locked if r["erased"]}
            cols: tuple[list[bytes], list[str], list[bytes], list[datetime]] = ([], [], [], [])
            for subject, subject_scopes in wanted.items():
                h = by_subject[subject]
                if h in erased:
                    continue
                for scope in sorted(subject_scopes):
                    cols[0].append(h)
                    cols[1].append(scope)
                    cols[2].append(wrapper.wrap(KeyWrapper.new_data_key(), wrap_context(h, scope)))
                    cols[3].append(scope_end(scope))
            if cols[0]:
                await conn.execute(_INSERT_SCOPED, *cols, version)
            rows: list[asyncpg.Record] = await conn.fetch(_SELECT, list(hashes))
            return rows

    async def keys_for_reading(
        self, subject_ids: Iterable[str], scopes: Scopes | None = None
    ) -> dict[str, DataKey | None]:
        """Keys to decrypt with; ``None`` for erased or unknown subjects."""
        ids = sorted(set(subject_ids) | set(scopes or ()))
        if not ids:
            return {}
        hashes = {self._index.subject(s): s for s in ids}
        rows = await self._pool.fetch(_SELECT, list(hashes))
        keys, _ = self._unwrap(rows, hashes)
        return {s: keys.get(s) for s in ids}

    async def destroy(self, subject_id: str, keep: Collection[str] = ()) -> bool:
        """Destroy a subject's keys for good but the scoped keys of ``keep``'s categories;
        ``True`` if its key existed."""
        h = self._index.subject(subject_id)
        if self._journal is not None:  # first, so that a restore can never miss it
            await asyncio.to_thread(self._journal.record, h, tuple(sorted(keep)))
        async with self._pool.acquire() as conn, conn.transaction():
            existed = await conn.fetchval(_DESTROY_SUBJECT, h)
            # a new snapshot: sees every scoped key
            await conn.execute(_DESTROY_SCOPED, h, sorted(keep))
        return bool(existed)

    async def keys_for_audit(
        self, subject_ids: Iterable[str],
    ) -> tuple[dict[str, DataKey | None], set[str]]:
        """The auditor's lookup, in one query: each subject's key (``None`` when unknown
        or erased, or, for an erased subject, only the scoped keys a category hold kept,
        as :meth:`held_keys` gives them), and which subjects are erased."""
        hashes = {self._index.subject(s): s for s in set(subject_ids)}
        if not hashes:
            return {}, set()
        rows = await self._pool.fetch(_SELECT, list(hashes))
        keys, erased = self._unwrap(rows, hashes, held=True)
        return {s: keys.get(s) for s in hashes.values()}, set(erased)

    async def held_keys(self, subject_ids: Iterable[str]) -> dict[str, DataKey]:
        """The scoped keys kept for erased subjects under a category hold (RET-4), for the
        hold's reader (the auditor's replay): no service is given them."""
        hashes = {self._index.subject(s): s for s in set(subject_ids)}
        scoped: dict[str, dict[str, bytes]] = {}
        for row in await self._pool.fetch(_HELD, list(hashes)):
            h = bytes(row["subject_hash"])
            scoped.setdefault(hashes[h], {})[row["scope"]] = self._ring.wrapper(
                row["key_version"]).unwrap(bytes(row["wrapped_key"]), wrap_context(h, row["scope"]))
        return {s: DataKey.held(s, keys) for s, keys in scoped.items()}

    async def expire(self, category: str, ended_before: datetime,
                     subject_id: str | None = None) -> int:
        """Destroy every key of ``category`` whose period ended by ``ended_before`` (only
        ``subject_id``'s when given)."""
        if subject_id is None:
            status: str = await self._pool.execute(_EXPIRE, category, ended_before)
        else:
            status = await self._pool.execute(_EXPIRE + "  AND subject_hash = $3", category,
                                              ended_before, self._index.subject(subject_id))
        return int(status.rpartition(" ")[2])

    async def is_erased(self, subject_id: str) -> bool:
        """Whether the subject is in the erased register."""
        return bool(
            await self._pool.fetchval(
                "SELECT erased_at IS NOT NULL FROM keystore.subject_keys "
                "WHERE subject_hash = $1 AND scope = ''",
                self._index.subject(subject_id),
            )
        )

    def forget(self, subject_id: str) -> None:
        """Nothing is cached here."""

    async def ping(self) -> None:
        """Raise if the key store's database is unreachable."""
        await self._pool.fetchval("SELECT 1")

    def _unwrap(
        self, rows: list[asyncpg.Record], hashes: dict[bytes, str], held: bool = False,
    ) -> tuple[dict[str, DataKey | None], list[str]]:
        """Keys from rows, and the erased subjects; ``held``: an erased subject's key is
        the scoped keys a category hold kept (:meth:`held_keys`), if any, not ``None``."""
        base: dict[str, bytes | None] = {}
        scoped: dict[str, dict[str, bytes]] = {}
        for row in rows:
            h = bytes(row["subject_hash"])
            subject, scope, wrapped = hashes[h], row["scope"], row["wrapped_key"]
            if not scope:
                base[subject] = None if wrapped is None else self._ring.wrapper(
                    row["key_version"]).unwrap(bytes(wrapped), h)
            elif wrapped is not None:
                scoped.setdefault(subject, {})[scope] = self._ring.wrapper(
                    row["key_version"]).unwrap(bytes(wrapped), wrap_context(h, scope))
        keys: dict[str, DataKey | None] = {}
        erased: list[str] = []
        for subject, raw in base.items():
            if raw is None:
                kept = scoped.get(subject) if held else None
                keys[subject] = DataKey.held(subject, kept) if kept else None
                erased.append(subject)
            else:
                keys[subject] = DataKey.from_bytes(subject, raw, scoped.get(subject))
        return keys, erased


class InMemoryKeyStore:
    """A fake key store for unit tests, with the same rules as the real one."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes | None] = {}
        self._scoped: dict[str, dict[str, bytes | None]] = {}

    def _key(self, subject: str) -> DataKey | None:
        raw = self._keys.get(subject)
        if raw is None:
            return None
        live = {sc: k for sc, k in self._scoped.get(subject, {}).items() if k is not None}
        return DataKey.from_bytes(subject, raw, live)

    async def keys_for_writing(
        self, subject_ids: Iterable[str], scopes: Scopes | None = None
    ) -> dict[str, DataKey]:
        """Keys to encrypt with, created when missing; see ``KeyStore``."""
        ids = set(subject_ids) | set(scopes or ())
        erased = [s for s in ids if s in self._keys and self._keys[s] is None]
        if erased:
            raise SubjectErasedError(erased)
        gone = []
        for s in ids:
            if self._keys.get(s) is None:
                self._keys[s] = KeyWrapper.new_data_key()
            have = self._scoped.setdefault(s, {})
            for scope in (scopes or {}).get(s, ()):
                if scope not in have:
                    have[scope] = KeyWrapper.new_data_key()
                elif have[scope] is None:
                    gone.append(scope)
        if gone:
            raise KeyExpiredError(gone)
        return {s: k for s in ids if (k := self._key(s)) is not None}

    async def keys_for_reading(
        self, subject_ids: Iterable[str], scopes: Scopes | None = None
    ) -> dict[str, DataKey | None]:
        """Keys to decrypt with; ``None`` for erased or unknown subjects."""
        return {s: self._key(s) for s in set(subject_ids) | set(scopes or ())}

    async def destroy(self, subject_id: str, keep: Collection[str] = ()) -> bool:
        """Destroy a subject's keys for good but the scoped keys of ``keep``'s categories;
        ``True`` if its key existed."""
        existed = self._keys.get(subject_id) is not None
        self._keys[subject_id] = None
        self._scoped[subject_id] = {
            scope: raw if scope.partition("@")[0] in keep else None
            for scope, raw in self._scoped.get(subject_id, {}).items()}
        return existed

    async def held_keys(self, subject_ids: Iterable[str]) -> dict[str, DataKey]:
        """The scoped keys kept for erased subjects under a category hold (RET-4)."""
        out = {}
        for s in set(subject_ids):
            live = {sc: k for sc, k in self._scoped.get(s, {}).items() if k is not None}
            if s in self._keys and self._keys[s] is None and live:
                out[s] = DataKey.held(s, live)
        return out

    async def expire(self, category: str, ended_before: datetime,
                     subject_id: str | None = None) -> int:
        """Destroy every key of ``category`` whose period ended by ``ended_before`` (only
        ``subject_id``'s when given)."""
        count = 0
        for subject, have in self._scoped.items():
            if subject_id is not None and subject != subject_id:
                continue
            for scope, raw in have.items():
                if (raw is not None and scope.startswith(category + "@")
                        and scope_end(scope) <= ended_before):
                    have[scope] = None
                    count += 1
        return count

    async def is_erased(self, subject_id: str) -> bool:
        """Whether the subject is in the erased register."""
        return subject_id in self._keys and self._keys[subject_id] is None

    def forget(self, subject_id: str) -> None:
        """Nothing is cached here."""

    async def ping(self) -> None:
        """Always reachable."""
