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
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
)
from contracts.envelope import Event
from contracts.personal import ERASED
from listings.adapters.repository import Sealer

DETAILS = ("name", "email", "phone", "username")
EVENT_TYPES = [c.event_type for c in
               (AccountRegistered, AccountDetailsChanged, AccountClosed, AccountErased,
                AccountLocked, AccountUnlocked)]


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

    async def apply(self, batch: dict[str, list[Event]], pseudonyms: dict[str, str]) -> None:
        """Fold each subject's new accounts events into its row: one read, one write a batch.

        A subject whose key is gone (erased since; a replayed event) loses its row instead.
        """
        subjects = list(batch)
        rows = {r["account_id"]: r for r in await self.conn.fetch(
            "SELECT * FROM listings.accounts WHERE account_id = ANY($1)", subjects)}
        keys = await self.sealer.keys_for(subjects)
        upserts: list[tuple[str, str, str, str, str]] = []
        gone: list[str] = []
        for subject, events in batch.items():
            key, row = keys.get(subject), rows.get(subject)
            state = None
            if row is not None and key is not None:
                details = self.sealer.open_with(key, subject, "account", row["details"])
                state = AccountRow(subject, row["kind"], row["status"], row["pseudonym"], details)
            for event in events:
                state = _fold(state, subject, event, pseudonyms[subject])
            if state is None or key is None:
                gone.append(subject)
            else:
                upserts.append((subject, state.kind, state.status, state.pseudonym,
                                self.sealer.seal_with(key, subject, "account", state.details)))
        if gone:
            await self.conn.execute(
                "DELETE FROM listings.accounts WHERE account_id = ANY($1)", gone)
        if upserts:
            await self.conn.execute(
                "INSERT INTO listings.accounts (account_id, kind, status, pseudonym, details) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
                "ON CONFLICT (account_id) DO UPDATE SET kind = EXCLUDED.kind, "
                "status = EXCLUDED.status, pseudonym = EXCLUDED.pseudonym, "
                "details = EXCLUDED.details",
                *(list(col) for col in zip(*upserts, strict=True)))


def _fold(state: AccountRow | None, subject: str, event: Event, pseudonym: str
          ) -> AccountRow | None:
    """The account after one accounts event (``None``: none, or erased)."""
    if isinstance(event, AccountErased):
        return None
    if isinstance(event, AccountRegistered):
        return AccountRow(subject, event.kind, "active", event.pseudonym or pseudonym,
                          {k: _value(getattr(event, k)) for k in DETAILS})
    if state is None:
        return None  # a change to an account this service never saw, or one erased
    if isinstance(event, AccountClosed):
        state.status, state.pseudonym = "closed", event.pseudonym
    elif isinstance(event, AccountLocked) and state.status == "active":
        state.status = "locked"  # an erasure's grace window: nothing of theirs shown (PRV-5)
    elif isinstance(event, AccountUnlocked) and state.status == "locked":
        state.status = "active"
    elif isinstance(event, AccountDetailsChanged):
        for k in DETAILS:
            if getattr(event, k) is not None:
                state.details[k] = _value(getattr(event, k))
        for k in event.removed:
            if k in state.details:
                state.details[k] = None
    return state


def _value(value: Any) -> Any:
    return None if value == ERASED else value
