"""Stored events opened as the key store allows (tests of key destruction, RET-2, RET-4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from stack import Infra

from kernel.codec import decode_fields, scopes_by_subject
from kernel.crypto import BlindIndex, DataKey, KeyWrapper
from kernel.keystore import PostgresKeyStore
from kernel.settings import SecretsSettings


@asynccontextmanager
async def key_store(infra: Infra) -> AsyncIterator[PostgresKeyStore]:
    """The platform's key store, as its services open it."""
    secrets = SecretsSettings()  # type: ignore[call-arg]
    pool = await asyncpg.create_pool(infra.pg_dsn("keystore"), min_size=1, max_size=2)
    assert pool is not None
    try:
        yield PostgresKeyStore(pool, KeyWrapper(secrets.master_key_bytes()),
                               BlindIndex(secrets.index_key_bytes()))
    finally:
        await pool.close()


async def opened(infra: Infra, subject: str, sql: str, *args: object,
                 held: bool = False) -> dict[str, dict[str, Any]]:
    """Per event type, the payload of the subject's events ``sql`` selects (``event_type,
    schema_version, event_id, payload``), opened with the subject's live keys, or with the
    keys a legal hold kept through its erasure (``held``); "erased" where a key is gone."""
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        rows = await conn.fetch(sql, *args)
    finally:
        await conn.close()
    payloads = [orjson.loads(r["payload"]) for r in rows]
    scopes = scopes_by_subject((subject, r["event_type"], r["schema_version"], p)
                               for r, p in zip(rows, payloads, strict=True))
    async with key_store(infra) as keys:
        key: DataKey | None = ((await keys.held_keys([subject])).get(subject) if held else
                               (await keys.keys_for_reading([subject], scopes or None))[subject])
    return {r["event_type"]: decode_fields(r["event_type"], r["schema_version"], p,
                                           r["event_id"], key)
            for r, p in zip(rows, payloads, strict=True)}
