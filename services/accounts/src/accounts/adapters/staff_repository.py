"""Staff roles and the staff access log in PostgreSQL (SEC-2), on the caller's connection.

Events and projection rows are written in the caller's transaction. Neither table holds
a personal value: roles and accesses are recorded by account ids and field names.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from accounts.adapters.repository import stream_of
from accounts.domain.staff import Role, StaffMember
from contracts.accounts import (
    MisuseReported,
    PasswordChanged,
    SessionEnded,
    SessionStarted,
    StepUpCompleted,
)
from contracts.staff import StaffAccessedPersonalData, StaffRoleGranted, StaffRoleRevoked
from kernel.codec import decode_event, scopes_by_subject
from kernel.eventstore import EventStore, NewEvent, RecordedEvent, StreamHead
from kernel.keystore import KeyStore

SECURITY_EVENTS: dict[str, tuple[str, ...]] = {
    SessionStarted.event_type: ("session_id", "remember_me", "expires_at"),
    SessionEnded.event_type: ("session_id", "reason"),
    StepUpCompleted.event_type: ("session_id", "until"),
    PasswordChanged.event_type: (),
    MisuseReported.event_type: ("report_id", "sessions_revoked", "note"),
}
"""The account events a security log shows, with the fields shown (never a password hash)."""

_LOG_COLS = ("access_id, staff_account_id, role, subject_id, purpose, reference, categories, "
             "fields, accessed_at")


def staff_stream(account_id: str) -> str:
    """The event stream of a staff member's roles and accesses."""
    return f"staff-{account_id}"


class StaffRepository:
    """Loads and saves :class:`StaffMember` aggregates and serves the staff projections.

    Args:
        conn: The connection (inside the caller's transaction for writes).
        store: The service's event store.
        keys: The key store (to read a member's encrypted security events).
    """

    def __init__(self, conn: asyncpg.Connection, store: EventStore, keys: KeyStore) -> None:
        self.conn = conn
        self.store = store
        self.keys = keys
        self._heads: dict[str, StreamHead] = {}

    async def get(self, account_id: str) -> StaffMember:
        """The staff member (no roles for anyone else).

        The stream head is read before the roles: a grant or revocation committed after
        it makes :meth:`save` fail with ``ConcurrencyError``, so no decision is ever
        recorded on roles that changed meanwhile.
        """
        self._heads[account_id] = await self.store.head(self.conn, staff_stream(account_id))
        rows = await self.conn.fetch(
            "SELECT role FROM accounts.staff_roles WHERE account_id = $1", account_id
        )
        return StaffMember(account_id, {Role(r["role"]) for r in rows})

    async def save(self, member: StaffMember) -> list[RecordedEvent]:
        """Append the member's recorded events and update the projections."""
        if not member.events:
            return []
        head = self._heads.get(member.account_id)
        if head is None:
            head = await self.store.head(self.conn, staff_stream(member.account_id))
        new = [
            NewEvent(e, e.subject_id if isinstance(e, StaffAccessedPersonalData)
                     else member.account_id)
            for e in member.events
        ]
        recs = await self.store.append(self.conn, staff_stream(member.account_id), head, new)
        for item, rec in zip(new, recs, strict=True):
            await self._project(item.event, rec)
        self._heads[member.account_id] = StreamHead(recs[-1].version, recs[-1].hash)
        member.events.clear()
        return recs

    async def _project(self, event: Any, rec: RecordedEvent) -> None:
        if isinstance(event, StaffRoleGranted):
            await self.conn.execute(
                "INSERT INTO accounts.staff_roles (account_id, role, granted_by, granted_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                event.account_id, event.role, event.granted_by, rec.occurred_at,
            )
        elif isinstance(event, StaffRoleRevoked):
            await self.conn.execute(
                "DELETE FROM accounts.staff_roles WHERE account_id = $1 AND role = $2",
                event.account_id, event.role,
            )
        elif isinstance(event, StaffAccessedPersonalData):
            await self.conn.execute(
                f"INSERT INTO accounts.staff_access_log ({_LOG_COLS}, event_id) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                event.access_id, event.staff_account_id, event.role, event.subject_id,
                event.purpose, event.reference, event.categories, event.fields,
                rec.occurred_at, rec.event_id,
            )

    async def dpo_count(self) -> int:
        """How many accounts hold the DPO role, locking them (serialises revocations)."""
        rows = await self.conn.fetch(
            "SELECT account_id FROM accounts.staff_roles WHERE role = 'dpo' "
            "ORDER BY account_id FOR UPDATE"
        )
        return len(rows)

    async def account_id_by_email_index(self, email_bi: bytes) -> str | None:
        """The active account logging in with the e-mail behind ``email_bi``."""
        found: str | None = await self.conn.fetchval(
            "SELECT account_id FROM accounts.accounts WHERE email_bi = $1 AND status = 'active'",
            email_bi,
        )
        return found

    async def account_status(self, account_id: str) -> str | None:
        """``active``/``closed``; ``None`` when unknown or erased."""
        status: str | None = await self.conn.fetchval(
            "SELECT status FROM accounts.accounts WHERE account_id = $1", account_id
        )
        return status

    async def grants(self) -> list[dict[str, Any]]:
        """Every role held, oldest grant first."""
        rows = await self.conn.fetch(
            "SELECT account_id, role, granted_by, granted_at FROM accounts.staff_roles "
            "ORDER BY granted_at, account_id, role"
        )
        return [{**dict(r), "granted_at": r["granted_at"].isoformat()} for r in rows]

    async def access_log(
        self, subject_id: str | None, staff_account_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Staff accesses, newest first, optionally of one member and/or by one staff member."""
        rows = await self.conn.fetch(
            f"SELECT {_LOG_COLS} FROM accounts.staff_access_log "
            "WHERE ($1::text IS NULL OR subject_id = $1) "
            "AND ($2::text IS NULL OR staff_account_id = $2) "
            "ORDER BY accessed_at DESC, access_id LIMIT $3",
            subject_id, staff_account_id, limit,
        )
        return [{**dict(r), "categories": list(r["categories"]), "fields": list(r["fields"]),
                 "accessed_at": r["accessed_at"].isoformat()} for r in rows]

    async def sessions(self, account_id: str) -> list[dict[str, Any]]:
        """The member's sessions, as a security log (ids and times only)."""
        rows = await self.conn.fetch(
            "SELECT session_id, remember_me, created_at, expires_at, revoked "
            "FROM accounts.sessions WHERE account_id = $1 ORDER BY created_at", account_id,
        )
        return [{**dict(r), "created_at": r["created_at"].isoformat(),
                 "expires_at": r["expires_at"].isoformat()} for r in rows]

    async def security_events(self, account_id: str) -> list[dict[str, Any]]:
        """Security events of the member's account stream, decrypted, selected fields only."""
        records = [rec for rec in await self.store.read_stream(self.conn, stream_of(account_id))
                   if rec.event_type in SECURITY_EVENTS]
        scopes = scopes_by_subject((account_id, rec.event_type, rec.schema_version,
                                    orjson.loads(rec.payload)) for rec in records)
        key = (await self.keys.keys_for_reading([account_id], scopes or None)).get(account_id)
        out = []
        for rec in records:
            shown = SECURITY_EVENTS[rec.event_type]
            event = decode_event(rec.event_type, rec.schema_version, rec.payload, rec.event_id,
                                 key)
            data = event.model_dump(mode="json", include=set(shown))
            out.append({"event_type": rec.event_type,
                        "occurred_at": rec.occurred_at.isoformat(), **data})
        return out
