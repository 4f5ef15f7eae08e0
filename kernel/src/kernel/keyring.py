"""Master keys by version, and their online rotation in the key store (SEC-1).

Every wrapped key in ``keystore.subject_keys`` records the version of the master key
wrapping it (``key_version``); ``keystore.master_key`` holds the one version new keys are
wrapped under. A service holds a :class:`KeyRing` (every version its secrets name) and
reads rows of any version in it; when it meets one it lacks, it reads its secrets file
again (the embedded stack's ``secrets.env``), so a running service follows a rotation.

A rotation (:func:`begin_rotation`, :func:`rewrap_batch`, :func:`retire`):

1. the new key is added to the secrets, the old one kept as a previous version;
2. :func:`begin_rotation` makes the new version current: from its commit on, the key
   store's trigger refuses any key wrapped under another version (a service still on the
   old one reads its secrets again and retries), so no old-version row appears after it;
3. :func:`rewrap_batch` rewraps old-version rows in batches, each batch one transaction
   holding its rows locked (an erasure waits for it, then destroys the rewrapped key):
   the progress is the rows' own ``key_version``, so a crashed rotation simply resumes;
   destroyed keys are never touched, so no erased subject gets a key back;
4. :func:`retire` checks that no row uses the old version any more; the secrets then
   drop it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import asyncpg

from kernel.crypto import DecryptionError, KeyWrapper
from kernel.settings import SecretsSettings

STALE_VERSION = "KS001"
"""SQLSTATE the key store's trigger raises for a key wrapped under a non-current version."""

ROTATION_DDL = """
ALTER TABLE keystore.subject_keys ADD COLUMN IF NOT EXISTS key_version integer
    NOT NULL DEFAULT 1;
COMMENT ON COLUMN keystore.subject_keys.key_version IS
  'Version of the master key wrapping wrapped_key (the secrets name each version).';
CREATE INDEX IF NOT EXISTS subject_keys_versions ON keystore.subject_keys (key_version)
    WHERE wrapped_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS keystore.master_key (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version    integer NOT NULL CHECK (version >= 1),
    changed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE keystore.master_key IS
  'The master-key version new wrapped keys must use (its id only, never the key).';
CREATE OR REPLACE FUNCTION keystore.current_version_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wanted integer;
BEGIN
    IF NEW.wrapped_key IS NULL THEN
        RETURN NEW;
    END IF;
    -- FOR SHARE: a rotation's switch waits for this transaction, and a statement after
    -- the switch sees the new version, so no old-version key is written after it.
    SELECT version INTO wanted FROM keystore.master_key FOR SHARE;
    IF wanted IS NOT NULL AND NEW.key_version <> wanted THEN
        RAISE EXCEPTION 'wrapped under master key version %, current is %',
            NEW.key_version, wanted USING ERRCODE = 'KS001';
    END IF;
    RETURN NEW;
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'current_version_only'
                   AND tgrelid = 'keystore.subject_keys'::regclass) THEN
        CREATE TRIGGER current_version_only
            BEFORE INSERT OR UPDATE OF wrapped_key, key_version ON keystore.subject_keys
            FOR EACH ROW EXECUTE FUNCTION keystore.current_version_only();
    END IF;
END $$;
"""


class KeyRing:
    """The master keys a process holds, by version; reloaded when a version is missing."""

    def __init__(self, wrappers: Mapping[int, KeyWrapper], current: int,
                 reload: Callable[[], KeyRing | None] | None = None) -> None:
        if current not in wrappers:
            raise ValueError("the current master key version must be among the keys")
        self._wrappers = dict(wrappers)
        self.current = current
        self._reload = reload

    @classmethod
    def single(cls, wrapper: KeyWrapper) -> KeyRing:
        """One master key, version 1 (a store made before rotations, tests, benches)."""
        return cls({1: wrapper}, 1)

    @classmethod
    def from_settings(cls, secrets: SecretsSettings) -> KeyRing:
        """Every version the settings name; the secrets file, when named, is read instead
        of them (it is what a rotation updates) and again when a version is missing."""
        source = secrets.secrets_file

        def reload() -> KeyRing | None:
            if source is None or not source.exists():
                return None
            return cls._from(read_secrets(source, secrets), reload)

        return (reload() if source is not None else None) or cls._from(secrets, reload)

    @classmethod
    def _from(cls, s: SecretsSettings, reload: Callable[[], KeyRing | None]) -> KeyRing:
        return cls({v: KeyWrapper(k) for v, k in s.master_keys().items()},
                   s.master_key_version, reload)

    @property
    def versions(self) -> frozenset[int]:
        """The versions held."""
        return frozenset(self._wrappers)

    def wrapper(self, version: int) -> KeyWrapper:
        """The master key of ``version``, reading the secrets again when it is missing.

        Raises:
            DecryptionError: no secrets name this version.
        """
        found = self._wrappers.get(version)
        if found is None and self._reload is not None:
            fresh = self._reload()
            if fresh is not None:
                self._wrappers, self.current = fresh._wrappers, fresh.current
            found = self._wrappers.get(version)
        if found is None:
            raise DecryptionError(f"master key version {version} is not among this "
                                  "process's secrets")
        return found


def read_secrets(path: Path, base: SecretsSettings | None = None) -> SecretsSettings:
    """The ``MARKET_SECRETS_*`` of a secrets file as settings (the file wins over ``base``)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.startswith("MARKET_SECRETS_"):
            values[name.removeprefix("MARKET_SECRETS_").lower()] = value.strip()
    fields = ("master_key", "master_key_version", "previous_master_keys", "index_key")
    given = {k: v for k, v in values.items() if k in fields}
    if base is not None:
        given.setdefault("index_key", base.index_key.get_secret_value())
        given.setdefault("previous_master_keys", "")
        given.setdefault("master_key_version", "1")
    return SecretsSettings.model_validate({**given, "MARKET_SECRETS_FILE": path})


async def current_version(conn: asyncpg.Connection | asyncpg.Pool) -> int | None:
    """The version new keys are wrapped under, as the key store records it."""
    try:
        found: int | None = await conn.fetchval("SELECT version FROM keystore.master_key")
    except asyncpg.UndefinedTableError:  # a store not migrated to versions yet
        return None
    return found


async def begin_rotation(pool: asyncpg.Pool, version: int) -> None:
    """Make ``version`` current: from the commit on, only it wraps new keys."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO keystore.master_key (version) VALUES ($1) ON CONFLICT (only_row) "
            "DO UPDATE SET version = $1, changed_at = now() "
            "WHERE keystore.master_key.version <> $1", version)


async def remaining(pool: asyncpg.Pool) -> dict[int, int]:
    """Live wrapped keys per master-key version."""
    rows = await pool.fetch("SELECT key_version, count(*) AS n FROM keystore.subject_keys "
                            "WHERE wrapped_key IS NOT NULL GROUP BY key_version")
    return {int(r["key_version"]): int(r["n"]) for r in rows}


_BATCH = """
SELECT subject_hash, scope, wrapped_key, key_version FROM keystore.subject_keys
WHERE key_version <> $1 AND wrapped_key IS NOT NULL
LIMIT $2 FOR UPDATE SKIP LOCKED
"""

_REWRAP = """
UPDATE keystore.subject_keys k SET wrapped_key = n.wrapped_key, key_version = $4
FROM unnest($1::bytea[], $2::text[], $3::bytea[]) AS n(subject_hash, scope, wrapped_key)
WHERE k.subject_hash = n.subject_hash AND k.scope = n.scope AND k.wrapped_key IS NOT NULL
"""


def wrap_context(subject_hash: bytes, scope: str) -> bytes:
    """What a wrapped key is bound to: its subject's keyed hash, and its scope if any."""
    return subject_hash if not scope else subject_hash + b"\x00" + scope.encode()


async def rewrap_batch(pool: asyncpg.Pool, ring: KeyRing, size: int = 500) -> int:
    """Rewrap up to ``size`` live keys of older versions under ``ring.current``, in one
    transaction; returns how many (0: none left that is not locked by someone else)."""
    new = ring.wrapper(ring.current)
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_BATCH, ring.current, size)
        if not rows:
            return 0
        cols: tuple[list[bytes], list[str], list[bytes]] = ([], [], [])
        for r in rows:
            h, scope = bytes(r["subject_hash"]), r["scope"]
            ctx = wrap_context(h, scope)
            raw = ring.wrapper(int(r["key_version"])).unwrap(bytes(r["wrapped_key"]), ctx)
            cols[0].append(h)
            cols[1].append(scope)
            cols[2].append(new.wrap(raw, ctx))
        await conn.execute(_REWRAP, *cols, ring.current)
        return len(rows)


async def rewrap_all(pool: asyncpg.Pool, ring: KeyRing, size: int = 500,
                     progress: Callable[[int], None] | None = None,
                     patience: float = 30.0) -> int:
    """Rewrap every live key of an older version; returns how many were rewrapped.

    Rows locked by a writer are skipped by a batch and taken by a later one; the loop
    ends when no row of another version is left.
    """
    done, idle_since = 0, time.monotonic()
    while True:
        n = await rewrap_batch(pool, ring, size)
        done += n
        if progress is not None and n:
            progress(done)
        if n:
            idle_since = time.monotonic()
            continue
        left = sum(c for v, c in (await remaining(pool)).items() if v != ring.current)
        if not left:
            return done
        if time.monotonic() - idle_since > patience:
            raise RuntimeError(f"{left} key(s) of older versions could not be rewrapped "
                               f"for {patience:.0f} s (locked, or not taken by a batch)")
        await asyncio.sleep(0.05)  # locked by writers for now


async def retire(pool: asyncpg.Pool, version: int) -> bool:
    """Whether no live key uses ``version`` any more (and it is not current), so the
    secrets may drop it."""
    current = await current_version(pool)
    if current == version:
        return False
    left = await pool.fetchval("SELECT count(*) FROM keystore.subject_keys "
                               "WHERE key_version = $1 AND wrapped_key IS NOT NULL", version)
    return int(left) == 0
