"""Everything a handler needs, as one object built by the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from consent.adapters.projections import ATTEMPTS
from consent.adapters.repository import LedgerRepository
from consent.domain.catalogue import Catalogue
from kernel.attempts import AttemptCounter, Limit
from kernel.crypto import BlindIndex
from kernel.eventstore import EventStore
from kernel.keystore import KeyStore


def utcnow() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass
class Context:
    """Dependencies of the handlers; tests build it with their own catalogue or clock."""

    pool: asyncpg.Pool
    store: EventStore
    keys: KeyStore
    index: BlindIndex
    catalogue: Catalogue
    clock: Callable[[], datetime] = utcnow
    cookie_limit: Limit = field(default_factory=lambda: Limit(120, timedelta(hours=1)))
    attempts: AttemptCounter = field(default_factory=lambda: ATTEMPTS)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[LedgerRepository]:
        """A repository inside a transaction, committed on success."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield LedgerRepository(conn, self.store, self.keys)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[LedgerRepository]:
        """A repository for reads."""
        async with self.pool.acquire() as conn:
            yield LedgerRepository(conn, self.store, self.keys)
