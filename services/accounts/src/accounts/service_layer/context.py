"""Everything a handler needs, as one object built by the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import asyncpg

from accounts.adapters.repository import Repository
from accounts.adapters.schema import ATTEMPTS
from accounts.domain.model import Terms
from accounts.domain.sessions import SessionPolicy
from accounts.domain.throttle import Throttles
from kernel.attempts import AttemptCounter
from kernel.crypto import BlindIndex
from kernel.eventstore import EventStore
from kernel.keystore import KeyStore


class Passwords(Protocol):
    """Password hashing (argon2id in production)."""

    async def hash(self, password: str) -> str:
        """Hash a password."""
        ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password against a hash (``None``: no account, always ``False``)."""
        ...


def utcnow() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass
class Context:
    """Dependencies and policies of the handlers; tests build it with their own parts."""

    pool: asyncpg.Pool
    store: EventStore
    keys: KeyStore
    index: BlindIndex
    passwords: Passwords
    terms: Terms
    policy: SessionPolicy
    throttle: Throttles
    min_age: int = 16
    clock: Callable[[], datetime] = utcnow
    attempts: AttemptCounter = field(default_factory=lambda: ATTEMPTS)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repository]:
        """A repository on a connection inside a transaction, committed on success."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield Repository(conn, self.store, self.keys, self.index)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Repository]:
        """A repository for reads, outside any transaction."""
        async with self.pool.acquire() as conn:
            yield Repository(conn, self.store, self.keys, self.index)

    def pseudonym(self, account_id: str) -> str:
        """The keyed pseudonym of an account (RET-6): stable, unlinkable without the key."""
        return "member-" + self.index.digest("pseudonym", account_id).hex()[:12]
