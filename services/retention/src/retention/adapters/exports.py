"""Export parts as services published them, sealed under the subject's key (PRV-1, PRV-2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from kernel.codec import SealedField, open_sealed
from kernel.keystore import KeyStore


async def keep_part(conn: asyncpg.Connection, request_id: str, service: str, subject_id: str,
                    event_id: UUID, sealed: str, given_at: datetime, chunk: int = 0,
                    chunks: int = 1) -> bool:
    """Keep one chunk of a part, sealed (a repeat changes nothing); whether the service's
    part is now whole: every one of its chunks kept."""
    await conn.execute(
        "INSERT INTO retention.export_parts (request_id, service, subject_id, event_id, "
        "sealed, given_at, chunk, chunks) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT DO NOTHING",
        request_id, service, subject_id, event_id, sealed, given_at, chunk, chunks)
    kept = await conn.fetchval(
        "SELECT count(*) FROM retention.export_parts WHERE request_id = $1 AND service = $2 "
        "AND chunk < $3", request_id, service, chunks)
    return bool(kept == chunks)


async def mark_ready(conn: asyncpg.Connection, request_id: str, subject_id: str,
                     generated_at: datetime, expires_at: datetime) -> None:
    """The export is whole; it may be read until ``expires_at``."""
    await conn.execute(
        "INSERT INTO retention.exports VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        request_id, subject_id, generated_at, expires_at)


async def ready(conn: asyncpg.Connection, request_id: str) -> asyncpg.Record | None:
    """When the export was generated and until when it may be read; ``None`` if not whole."""
    return await conn.fetchrow("SELECT * FROM retention.exports WHERE request_id = $1",
                               request_id)


async def open_parts(conn: asyncpg.Connection, keys: KeyStore,
                     request_id: str) -> dict[str, dict[str, Any]]:
    """Each service's part, its chunks joined, opened with the subject's key (a part no key
    opens any more is left out)."""
    rows = await conn.fetch("SELECT service, subject_id, event_id, sealed FROM "
                            "retention.export_parts WHERE request_id = $1 "
                            "ORDER BY service, chunk", request_id)
    opened = await open_sealed(keys, [SealedField(r["subject_id"], r["event_id"], "content",
                                                  r["sealed"]) for r in rows])
    parts: dict[str, dict[str, Any]] = {}
    for r, chunk in zip(rows, opened, strict=True):
        if not isinstance(chunk, dict):
            continue
        part = parts.setdefault(r["service"], {})
        for category, values in chunk.items():
            part.setdefault(category, []).extend(values)
    return parts


async def drop_expired(conn: asyncpg.Connection, now: datetime) -> int:
    """Delete the parts of every export past its expiry; the export rows stay as a record."""
    done = await conn.execute(
        "DELETE FROM retention.export_parts p USING retention.exports e "
        "WHERE p.request_id = e.request_id AND e.expires_at <= $1", now)
    return int(done.split()[-1])


async def drop_subject(conn: asyncpg.Connection, subject_id: str) -> int:
    """Delete every export part of an erased subject."""
    done = await conn.execute("DELETE FROM retention.export_parts WHERE subject_id = $1",
                              subject_id)
    return int(done.split()[-1])
