"""The accounts projections in PostgreSQL: accounts, sessions, devices, social links.

Every method runs on the caller's connection, so projection rows, events and the outbox
row commit together. Personal values are sealed with the subject's key (SEC-1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from accounts.adapters.schema import ATTEMPTS
from accounts.domain.errors import EmailTaken, InvalidChange, UsernameTaken
from accounts.domain.model import Account, Profile
from accounts.domain.sessions import Session
from kernel.crypto import BlindIndex, DataKey
from kernel.eventstore import EventStore, NewEvent
from kernel.keystore import KeyStore

_SESSION_COLS = "session_id, account_id, remember_me, expires_at, step_up_until, revoked"


def stream_of(account_id: str) -> str:
    """The event stream of an account."""
    return f"account-{account_id}"


def username_index(index: BlindIndex, username: str) -> bytes:
    """Blind index of a username, case-insensitive (usernames are unique regardless of case)."""
    return index.digest("username", username.strip().lower())


def reauth_key(index: BlindIndex, account_id: str) -> bytes:
    """The key failed step-ups of an account are counted under (issue 26)."""
    return index.digest("reauth", account_id)


class Repository:
    """Projection reads and writes on one connection, sealing personal values.

    Args:
        conn: The connection (inside the caller's transaction for writes).
        store: The service's event store.
        keys: The key store.
        index: Blind-index hasher.
    """

    def __init__(self, conn: asyncpg.Connection, store: EventStore, keys: KeyStore,
                 index: BlindIndex) -> None:
        self.conn = conn
        self.store = store
        self.keys = keys
        self.index = index

    # -- sealing -------------------------------------------------------------------------
    async def _key(self, account_id: str) -> DataKey:
        return (await self.keys.keys_for_writing([account_id]))[account_id]

    async def _reading_key(self, account_id: str) -> DataKey | None:
        return (await self.keys.keys_for_reading([account_id])).get(account_id)

    async def seal(self, account_id: str, purpose: str, value: Any) -> str:
        """Encrypt ``value`` under the subject's key, bound to the account and purpose."""
        key = await self._key(account_id)
        return key.seal(orjson.dumps(value), f"accounts:{account_id}:{purpose}".encode())

    async def open(self, account_id: str, purpose: str, token: str) -> Any:
        """Decrypt a value sealed by :meth:`seal`; ``None`` once the subject is erased."""
        key = await self._reading_key(account_id)
        if key is None:
            return None
        return orjson.loads(key.open(token, f"accounts:{account_id}:{purpose}".encode()))

    # -- events --------------------------------------------------------------------------
    async def publish(self, account: Account, touch: bool = True) -> None:
        """Append the account's recorded events to its stream (with the outbox row).

        With ``touch`` the projection row's version follows; ``add``/``save`` write it anyway.
        """
        if not account.events:
            return
        stream = stream_of(account.account_id)
        head = await self.store.head(self.conn, stream)
        recs = await self.store.append(
            self.conn, stream, head, [NewEvent(e, account.account_id) for e in account.events]
        )
        account.version = recs[-1].version
        account.events.clear()
        if touch:
            await self.conn.execute(
                "UPDATE accounts.accounts SET version = $2 WHERE account_id = $1",
                account.account_id, account.version,
            )

    # -- accounts ------------------------------------------------------------------------
    async def email_taken(self, email: str) -> bool:
        """Whether an account already logs in with ``email``."""
        found = await self.conn.fetchval(
            "SELECT 1 FROM accounts.accounts WHERE email_bi = $1", self.index.email(email)
        )
        return found is not None

    async def add(self, account: Account) -> None:
        """Insert a new account's projection row and publish its events."""
        await self.publish(account, touch=False)
        await self._write(account, insert=True)

    async def save(self, account: Account) -> None:
        """Publish the account's new events and update its projection row."""
        await self.publish(account, touch=False)
        await self._write(account, insert=False)

    async def _write(self, account: Account, insert: bool) -> None:
        p = account.profile
        active = account.status in ("active", "locked")  # a locked account keeps its e-mail
        values = (
            account.account_id, account.kind, account.status,
            self.index.email(p.email) if active else None,
            username_index(self.index, p.username) if active else None,
            await self.seal(account.account_id, "profile", p.as_dict()),
            await self.seal(account.account_id, "password", account.password_hash),
            account.terms_version, account.pseudonym, account.version,
        )
        sql = (
            "INSERT INTO accounts.accounts (account_id, kind, status, email_bi, username_bi, "
            "profile, password, terms_version, pseudonym, version) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            if insert else
            "UPDATE accounts.accounts SET kind = $2, status = $3, email_bi = $4, "
            "username_bi = $5, profile = $6, password = $7, terms_version = $8, "
            "pseudonym = $9, version = $10 WHERE account_id = $1"
        )
        try:
            await self.conn.execute(sql, *values)
        except asyncpg.UniqueViolationError as exc:
            if "username" in (exc.constraint_name or ""):
                raise UsernameTaken("that username is taken") from None
            raise EmailTaken("an account with that e-mail address exists") from None

    async def get(self, account_id: str, for_update: bool = False) -> Account | None:
        """The account, decrypted; ``None`` when unknown or erased."""
        row = await self.conn.fetchrow(
            "SELECT * FROM accounts.accounts WHERE account_id = $1"
            + (" FOR UPDATE" if for_update else ""),
            account_id,
        )
        return await self._account(row) if row else None

    async def get_by_session(self, token_hash: bytes) -> Account | None:
        """The account behind a live session token, in one indexed query."""
        row = await self.conn.fetchrow(
            "SELECT a.* FROM accounts.sessions s JOIN accounts.accounts a USING (account_id) "
            "WHERE s.token_hash = $1 AND NOT s.revoked AND s.expires_at > now() "
            "AND a.status = 'active'",
            token_hash,
        )
        return await self._account(row) if row else None

    async def get_by_email(self, email: str, for_update: bool = False) -> Account | None:
        """The active account logging in with ``email``."""
        row = await self.conn.fetchrow(
            "SELECT * FROM accounts.accounts WHERE email_bi = $1"
            + (" FOR UPDATE" if for_update else ""),
            self.index.email(email),
        )
        return await self._account(row) if row else None

    async def _account(self, row: asyncpg.Record) -> Account | None:
        account_id = row["account_id"]
        profile = await self.open(account_id, "profile", row["profile"])
        if profile is None:
            return None
        return Account(
            account_id=account_id, kind=row["kind"], status=row["status"],
            profile=Profile(**profile),
            password_hash=await self.open(account_id, "password", row["password"]),
            terms_version=row["terms_version"], pseudonym=row["pseudonym"],
            version=row["version"],
        )

    async def public_row(self, account_id: str) -> asyncpg.Record | None:
        """Kind, status and pseudonym of an account, without decrypting."""
        return await self.conn.fetchrow(
            "SELECT account_id, kind, status, pseudonym, profile FROM accounts.accounts "
            "WHERE account_id = $1", account_id,
        )

    # -- sessions ------------------------------------------------------------------------
    async def logged_in(self, account_id: str, at: datetime) -> None:
        """Record a log-in: the account is no longer idle, a pending idle warning lapses."""
        await self.conn.execute(
            "UPDATE accounts.accounts SET last_login_at = $2, idle_warned_at = NULL "
            "WHERE account_id = $1 AND idle_due_at IS NULL", account_id, at)

    async def add_session(self, token_hash: bytes, session: Session) -> None:
        """Store a new session under the hash of its token."""
        await self.conn.execute(
            "INSERT INTO accounts.sessions (token_hash, session_id, account_id, remember_me, "
            "expires_at) VALUES ($1, $2, $3, $4, $5)",
            token_hash, session.session_id, session.account_id, session.remember_me,
            session.expires_at,
        )

    async def session(self, session_id: str) -> Session | None:
        """One session by id."""
        row = await self.conn.fetchrow(
            f"SELECT {_SESSION_COLS} FROM accounts.sessions WHERE session_id = $1",
            session_id,
        )
        return Session(**dict(row)) if row else None

    async def open_sessions(self, account_id: str, now: datetime) -> list[Session]:
        """The account's sessions that are neither revoked nor expired."""
        rows = await self.conn.fetch(
            f"SELECT {_SESSION_COLS} FROM accounts.sessions WHERE account_id = $1 "
            "AND NOT revoked AND expires_at > $2 ORDER BY created_at",
            account_id, now,
        )
        return [Session(**dict(r)) for r in rows]

    async def update_session(self, session: Session) -> None:
        """Store a session's step-up window and revocation."""
        await self.conn.execute(
            "UPDATE accounts.sessions SET step_up_until = $2, revoked = $3 WHERE session_id = $1",
            session.session_id, session.step_up_until, session.revoked,
        )

    async def revoke_sessions(self, session_ids: list[str]) -> None:
        """Revoke sessions at once."""
        await self.conn.execute(
            "UPDATE accounts.sessions SET revoked = true WHERE session_id = ANY($1::text[])",
            session_ids,
        )

    # -- devices (ACC-5) -----------------------------------------------------------------
    async def add_device(self, registration_id: str, account_id: str,
                         device: dict[str, Any]) -> None:
        """Store a device registration, its identifiers sealed."""
        await self.conn.execute(
            "INSERT INTO accounts.devices (registration_id, account_id, device) "
            "VALUES ($1, $2, $3)",
            registration_id, account_id, await self.seal(account_id, "device", device),
        )

    async def devices(self, account_id: str) -> list[dict[str, Any]]:
        """The account's registered devices, decrypted."""
        rows = await self.conn.fetch(
            "SELECT registration_id, device, registered_at FROM accounts.devices "
            "WHERE account_id = $1 ORDER BY registered_at", account_id,
        )
        out = []
        for r in rows:
            device = await self.open(account_id, "device", r["device"]) or {}
            out.append({"id": r["registration_id"], **device,
                        "registered_at": r["registered_at"].isoformat()})
        return out

    async def remove_device(self, account_id: str, registration_id: str) -> bool:
        """Delete one of the account's device registrations; ``False`` if it has none such."""
        done = await self.conn.execute(
            "DELETE FROM accounts.devices WHERE account_id = $1 AND registration_id = $2",
            account_id, registration_id,
        )
        return bool(done.endswith(" 1"))

    # -- social identities (ACC-6) -------------------------------------------------------
    def social_index(self, provider: str, subject: str) -> bytes:
        """Blind index of an external identity."""
        return self.index.digest("social", f"{provider.lower()}\x00{subject}")

    async def social_link_exists(self, provider: str, subject: str, account_id: str) -> bool:
        """Whether this account linked the identity already, or another holds it verified."""
        return await self.conn.fetchval(
            "SELECT 1 FROM accounts.social_identities WHERE subject_bi = $1 "
            "AND (verified OR account_id = $2)",
            self.social_index(provider, subject), account_id,
        ) is not None

    async def add_social_link(self, link_id: str, account_id: str, provider: str,
                              subject: str, scopes: list[str], imported: dict[str, str],
                              verified: bool = False) -> None:
        """Store a link with its grant; the identity and imported data sealed."""
        identity = {"provider": provider, "provider_subject": subject, "imported": imported}
        try:
            await self.conn.execute(
                "INSERT INTO accounts.social_identities (link_id, account_id, subject_bi, "
                "scopes, identity, verified) VALUES ($1, $2, $3, $4, $5, $6)",
                link_id, account_id, self.social_index(provider, subject), scopes,
                await self.seal(account_id, "social", identity), verified,
            )
        except asyncpg.UniqueViolationError:
            raise InvalidChange("that identity is already linked") from None

    async def social_links(self, account_id: str) -> list[dict[str, Any]]:
        """The account's social identity links, decrypted."""
        rows = await self.conn.fetch(
            "SELECT link_id, scopes, identity, verified, linked_at "
            "FROM accounts.social_identities "
            "WHERE account_id = $1 ORDER BY linked_at", account_id,
        )
        out = []
        for r in rows:
            identity = await self.open(account_id, "social", r["identity"]) or {}
            out.append({"link_id": r["link_id"], "granted_scopes": list(r["scopes"]),
                        **identity, "verified": r["verified"],
                        "linked_at": r["linked_at"].isoformat()})
        return out

    async def remove_social_link(self, account_id: str, link_id: str) -> bool:
        """Delete one of the account's links; ``False`` if it has none such."""
        done = await self.conn.execute(
            "DELETE FROM accounts.social_identities WHERE account_id = $1 AND link_id = $2",
            account_id, link_id,
        )
        return bool(done.endswith(" 1"))

    # -- erasure (PRV-5) -----------------------------------------------------------------
    async def erase(self, account_id: str) -> dict[str, int]:
        """Delete every projection row of the account; returns counts per table."""
        email_bi = await self.conn.fetchval(
            "SELECT email_bi FROM accounts.accounts WHERE account_id = $1", account_id
        )
        if email_bi is not None:  # the blind indexes of the member's own counters
            await ATTEMPTS.clear(self.conn, bytes(email_bi))
        await ATTEMPTS.clear(self.conn, reauth_key(self.index, account_id))
        counts = {}
        # accounts.public_profiles (ciphertext only) follows AccountErased: its consumer
        # deletes the row and publishes the tombstone.
        for table in ("sessions", "devices", "social_identities", "staff_roles", "accounts"):
            done = await self.conn.execute(
                f"DELETE FROM accounts.{table} WHERE account_id = $1", account_id
            )
            counts[table] = int(done.split()[-1])
        return counts


INTROSPECT_SQL = """
SELECT s.session_id, s.account_id, a.kind, s.remember_me, s.expires_at, s.step_up_until
FROM accounts.sessions s JOIN accounts.accounts a ON a.account_id = s.account_id
WHERE s.token_hash = $1 AND NOT s.revoked AND s.expires_at > now() AND a.status = 'active'
"""
"""The gateway's per-request check: one primary-key look-up, no decryption."""
