"""Everything a handler needs, as one object built by the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from kernel.codec import SealedField, open_sealed
from kernel.crypto import BlindIndex
from kernel.eventstore import EventStore, RecordedEvent
from kernel.keystore import KeyStore
from messaging.config import MessagingSettings
from messaging.scanning.api import Scanner


def utcnow() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass
class Context:
    """Dependencies of the handlers; tests build it with their own parts (a moved clock)."""

    pool: asyncpg.Pool
    store: EventStore
    keys: KeyStore
    index: BlindIndex
    scanner: Scanner
    settings: MessagingSettings
    clock: Callable[[], datetime] = utcnow

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside a transaction, committed on success."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def open(self, items: list[SealedField]) -> list[Any]:
        """Sealed values opened in one key look-up; "erased" where the key is gone."""
        return await open_sealed(self.keys, items) if items else []


def sealed(rec: RecordedEvent, field: str) -> str | None:
    """The sealed token of one personal field of a stored event (what projections keep)."""
    token = orjson.loads(rec.payload).get(field)
    return token if isinstance(token, str) else None
