"""What the messaging service knows of accounts, listings and staff roles, from their events.

Who may message about a listing is learned from the accounts and listings topics (API.md:
shows within 5 seconds), never by calling another service. The public username is kept
for suspicious-activity notices (SEC-3), which name it instead of the real name.
"""

from __future__ import annotations

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
from contracts.listings import ListingCreated, ListingDeleted, ListingPublished, ListingUnpublished
from contracts.personal import ERASED
from contracts.staff import StaffRoleGranted, StaffRoleRevoked
from messaging.domain.rules import Listing

ACCOUNT_EVENTS = [c.event_type for c in
                  (AccountRegistered, AccountDetailsChanged, AccountClosed, AccountErased,
                   AccountLocked, AccountUnlocked)]
STAFF_EVENTS = [StaffRoleGranted.event_type, StaffRoleRevoked.event_type]
LISTING_EVENTS = [c.event_type for c in
                  (ListingCreated, ListingPublished, ListingUnpublished, ListingDeleted)]


async def apply_account(conn: asyncpg.Connection, subject: str, event: Event) -> None:
    """Fold one accounts event into ``messaging.accounts`` and ``messaging.staff_roles``."""
    if isinstance(event, AccountRegistered):
        username = None if event.username == ERASED else event.username
        await conn.execute(
            "INSERT INTO messaging.accounts VALUES ($1, $2, 'active', $3) "
            "ON CONFLICT (account_id) DO NOTHING", event.account_id, event.kind, username)
    elif isinstance(event, AccountDetailsChanged):
        if event.username is not None and event.username != ERASED:
            await conn.execute("UPDATE messaging.accounts SET username = $2 WHERE account_id = $1",
                               subject, event.username)
    elif isinstance(event, AccountClosed):
        await conn.execute("UPDATE messaging.accounts SET status = 'closed', username = $2 "
                           "WHERE account_id = $1", event.account_id, event.pseudonym)
    elif isinstance(event, AccountErased):
        await conn.execute("DELETE FROM messaging.accounts WHERE account_id = $1",
                           event.account_id)
    elif isinstance(event, AccountLocked):  # erasure pending: not reachable (PRV-5)
        await conn.execute("UPDATE messaging.accounts SET status = 'locked' "
                           "WHERE account_id = $1 AND status = 'active'", event.account_id)
    elif isinstance(event, AccountUnlocked):
        await conn.execute("UPDATE messaging.accounts SET status = 'active' "
                           "WHERE account_id = $1 AND status = 'locked'", event.account_id)
    elif isinstance(event, StaffRoleGranted):
        await conn.execute("INSERT INTO messaging.staff_roles VALUES ($1, $2) "
                           "ON CONFLICT DO NOTHING", event.account_id, event.role)
    elif isinstance(event, StaffRoleRevoked):
        await conn.execute("DELETE FROM messaging.staff_roles WHERE account_id = $1 "
                           "AND role = $2", event.account_id, event.role)


async def apply_listing(conn: asyncpg.Connection, subject: str | None, event: Event) -> None:
    """Fold one listings event into ``messaging.listings`` (owner and published only)."""
    if isinstance(event, ListingCreated):
        await conn.execute("INSERT INTO messaging.listings VALUES ($1, $2, false) "
                           "ON CONFLICT (listing_id) DO NOTHING", event.listing_id,
                           event.owner_id)
    elif isinstance(event, ListingPublished | ListingUnpublished):
        await conn.execute("UPDATE messaging.listings SET published = $2 WHERE listing_id = $1",
                           event.listing_id, isinstance(event, ListingPublished))
    elif isinstance(event, ListingDeleted):
        await conn.execute("DELETE FROM messaging.listings WHERE listing_id = $1",
                           event.listing_id)


async def listing(conn: asyncpg.Connection, listing_id: str) -> Listing | None:
    """A listing as known here."""
    row = await conn.fetchrow("SELECT * FROM messaging.listings WHERE listing_id = $1",
                              listing_id)
    return Listing(row["listing_id"], row["owner_id"], row["published"]) if row else None


async def account_status(conn: asyncpg.Connection, account_id: str) -> str | None:
    """``active``, ``locked`` (erasure pending) or ``closed``; ``None`` when unknown."""
    status: str | None = await conn.fetchval(
        "SELECT status FROM messaging.accounts WHERE account_id = $1", account_id)
    return status


async def username(conn: asyncpg.Connection, account_id: str) -> str | None:
    """The public username (SEC-3 notices name it); ``None`` when unknown."""
    name: str | None = await conn.fetchval(
        "SELECT username FROM messaging.accounts WHERE account_id = $1", account_id)
    return name


async def has_role(conn: asyncpg.Connection, account_id: str, roles: tuple[str, ...]) -> str | None:
    """The first of ``roles`` the account holds, or ``None``."""
    role: str | None = await conn.fetchval(
        "SELECT role FROM messaging.staff_roles WHERE account_id = $1 AND role = ANY($2) "
        "ORDER BY array_position($2, role) LIMIT 1", account_id, list(roles))
    return role
