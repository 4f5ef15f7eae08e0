"""Everything a handler needs, as one object built by the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from kernel.crypto import BlindIndex
from kernel.eventstore import EventStore
from listings.adapters.places import PlaceTable
from listings.adapters.repository import Sealer
from listings.domain.webhook import WebhookPolicy


class Guard(Protocol):
    """The contact guard (``kernel.guard``): may the service personalise for a member now?"""

    async def allows(self, subject_id: str, purpose: str, channel: str | None = None,
                     conn: Any = None) -> Any:
        """A verdict that is truthy when allowed."""
        ...


def utcnow() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def tracking_number(index: BlindIndex, listing_id: str, phone: str) -> str:
    """The pseudonymised number of a listing's phone: a keyed hash of listing and number."""
    digest = index.digest("call-tracking", f"{listing_id}|{phone}")
    return "+3197" + str(int.from_bytes(digest[:8], "big") % 10**9).zfill(9)


@dataclass
class Context:
    """Dependencies of the handlers; tests build it with their own parts."""

    pool: asyncpg.Pool
    store: EventStore
    sealer: Sealer
    index: BlindIndex
    places: PlaceTable
    guard: Guard
    clock: Callable[[], datetime] = utcnow
    webhook: WebhookPolicy = field(default_factory=lambda: WebhookPolicy(None))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside a transaction, committed on success."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    def pseudonym(self, account_id: str) -> str:
        """The keyed pseudonym of an account, as the accounts service derives it (RET-6)."""
        return "member-" + self.index.digest("pseudonym", account_id).hex()[:12]

    def tracking_number(self, listing_id: str, phone: str) -> str:
        """The pseudonymised number shown for a listing's phone (LST-5): keyed, stable."""
        return tracking_number(self.index, listing_id, phone)

    def caller_pseudonym(self, caller: str) -> str:
        """A caller's number as a keyed hash: calls are recorded pseudonymised only (LST-5)."""
        return "caller-" + self.index.digest("caller", caller).hex()[:16]
