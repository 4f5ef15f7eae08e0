"""What the listings service knows of accounts, from the accounts events (never a call).

One row per account: its kind and status in the clear, its contact details sealed under
the account's own key, so an application can share them (LST-4) and erasure makes them
unreadable at once (the key is gone) before the row itself is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from contracts.accounts import (
    AccountClosed,
    AccountDetailsChanged,
    AccountErased,
    AccountRegistered,
)
from contracts.envelope import Event
from contracts.personal import ERASED
from kernel.keystore import SubjectErasedError
from listings.adapters.repository import Sealer

DETAILS = ("name", "email", "phone", "username")
EVENT_TYPES = [c.event_type for c in
               (AccountRegistered, AccountDetailsChanged, AccountClosed, AccountErased)]


@dataclass
class AccountRow:
    """An account as the listings service sees it."""

    account_id: str
    kind: str
    status: str
    pseudonym: str
    details: dict[str, Any]


class AccountsProjection:
    """Reads and writes ``listings.accounts`` on one connection."""

    def __init__(self, conn: asyncpg.Connection, sealer: Sealer) -> None:
        self.conn = conn
        self.sealer = sealer

    async def kind_and_status(self, account_id: str) -> tuple[str, str] | None:
        """The account's kind and status, without decrypting anything."""
        row = await self.conn.fetchrow(
            "SELECT kind, status FROM listings.accounts WHERE account_id = $1", account_id)
        return (row["kind"], row["status"]) if row else None

    async def get(self, account_id: str) -> AccountRow | None:
        """The account with its details decrypted; ``None`` when unknown or erased."""
        row = await self.conn.fetchrow(
            "SELECT * FROM listings.accounts WHERE account_id = $1", account_id)
        if row is None:
            return None
        details = await self.sealer.open(account_id, "account", row["details"])
        if details is None:
            return None
        return AccountRow(account_id, row["kind"], row["status"], row["pseudonym"], details)

    async def pseudonyms(self, account_ids: list[str]) -> dict[str, str]:
        """Pseudonyms of several accounts."""
        rows = await self.conn.fetch(
            "SELECT account_id, pseudonym FROM listings.accounts WHERE account_id = ANY($1)",
            account_ids)
        return {r["account_id"]: r["pseudonym"] for r in rows}

    async def apply(self, subject: str, events: list[Event], pseudonym: str) -> None:
        """Fold a subject's new accounts events into its row."""
        current = await self.get(subject)
        state = current
        for event in events:
            if isinstance(event, AccountErased):
                state = None
                await self.conn.execute(
                    "DELETE FROM listings.accounts WHERE account_id = $1", subject)
            elif isinstance(event, AccountRegistered):
                state = AccountRow(subject, event.kind, "active", event.pseudonym or pseudonym,
                                   {k: _value(getattr(event, k)) for k in DETAILS})
            elif state is None:
                continue  # a change to an account this service never saw, or one erased
            elif isinstance(event, AccountClosed):
                state.status, state.pseudonym = "closed", event.pseudonym
            elif isinstance(event, AccountDetailsChanged):
                for k in DETAILS:
                    if getattr(event, k) is not None:
                        state.details[k] = _value(getattr(event, k))
                for k in event.removed:
                    if k in state.details:
                        state.details[k] = None
        if state is None:
            return
        try:
            sealed = await self.sealer.seal(subject, "account", state.details)
        except SubjectErasedError:  # a replayed event of a subject erased since
            await self.conn.execute(
                "DELETE FROM listings.accounts WHERE account_id = $1", subject)
            return
        await self.conn.execute(
            "INSERT INTO listings.accounts (account_id, kind, status, pseudonym, details) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET "
            "kind = EXCLUDED.kind, status = EXCLUDED.status, pseudonym = EXCLUDED.pseudonym, "
            "details = EXCLUDED.details",
            subject, state.kind, state.status, state.pseudonym, sealed,
        )


def _value(value: Any) -> Any:
    return None if value == ERASED else value
