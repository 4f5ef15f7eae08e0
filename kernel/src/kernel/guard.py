"""The contact guard (CNS-7): one check before any outbound communication or personalisation.

Every service keeps its own projection of the consent service's events (catalogue,
decisions, preferences, restrictions) in four ``guard_*`` tables of its schema, filled by
the ``guard`` consumer that :class:`kernel.service.ServiceHost` adds to every service.
``ContactGuard.allows`` answers from that projection in one query, never by calling the
consent service, and records each refusal as a ``guard.ContactRefused`` event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg

from contracts.consent import (
    CatalogPublished,
    ConsentDecisionRecorded,
    PreferencesChanged,
    ProcessingRestricted,
)
from contracts.guard import ContactRefused
from contracts.topics import events_topic
from kernel.consumer import Delivered, Handler
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.logs import get_logger
from kernel.service import ConsumerSpec, Migration, Runtime

log = get_logger(__name__)

GRANTING = {"granted": True, "objection_lifted": True}
"""Ledger actions that leave a purpose in effect; every other one (or "erased") does not."""


def guard_ddl(schema: str) -> str:
    """The guard's projection tables in a service's schema (idempotent)."""
    return f"""
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.guard_purposes (
    purpose           text PRIMARY KEY,
    legal_basis       text    NOT NULL,
    channels          text[]  NOT NULL,
    kind              text,
    marketing         boolean NOT NULL,
    catalogue_version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.guard_statements (
    version        integer PRIMARY KEY,
    effective_from timestamptz NOT NULL,
    changed        text[]      NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.guard_consents (
    subject_id        text    NOT NULL,
    purpose           text    NOT NULL,
    granted           boolean NOT NULL,
    statement_version integer NOT NULL,
    position          bigint  NOT NULL,
    PRIMARY KEY (subject_id, purpose)
);
CREATE TABLE IF NOT EXISTS {schema}.guard_muted (
    subject_id text NOT NULL,
    channel    text NOT NULL,
    kind       text NOT NULL,
    PRIMARY KEY (subject_id, channel, kind)
);
CREATE TABLE IF NOT EXISTS {schema}.guard_restricted (
    subject_id text PRIMARY KEY,
    position   bigint NOT NULL
);
COMMENT ON TABLE {schema}.guard_consents IS
  'Contact guard projection of consent.events.v1 (CNS-7); erased with the subject.';
"""


SUBJECT_TABLES = ("guard_consents", "guard_muted", "guard_restricted")
"""The guard tables holding rows of a data subject (erased with it, PRV-5)."""


def guard_migration(schema: str, inner: Migration | None) -> Migration:
    """The service's own migration followed by the guard's tables in ``schema``."""
    if not schema.isidentifier():
        raise ValueError("bad schema name")

    async def migrate(conn: asyncpg.Connection) -> None:
        if inner is not None:
            await inner(conn)
        await conn.execute(guard_ddl(schema))

    return migrate


async def erase_guard_rows(conn: asyncpg.Connection, schema: str,
                           subject_id: str) -> dict[str, int]:
    """Delete the subject's guard rows; returns rows deleted per table where some were."""
    deleted: dict[str, int] = {}
    for table in SUBJECT_TABLES:
        count = await conn.fetchval(
            f"WITH gone AS (DELETE FROM {schema}.{table} WHERE subject_id = $1 RETURNING 1) "
            "SELECT count(*) FROM gone", subject_id,
        )
        if count:
            deleted[table] = int(count)
    return deleted


# -- the projection ------------------------------------------------------------------------
async def _apply_catalogue(conn: asyncpg.Connection, schema: str, ev: CatalogPublished) -> None:
    current = await conn.fetchval(f"SELECT max(catalogue_version) FROM {schema}.guard_purposes")
    if current is not None and current > ev.catalogue_version:
        return
    await conn.execute(f"DELETE FROM {schema}.guard_purposes")
    await conn.executemany(
        f"INSERT INTO {schema}.guard_purposes VALUES ($1, $2, $3, $4, $5, $6)",
        [(p.purpose, p.legal_basis, list(p.channels), p.kind, p.marketing,
          ev.catalogue_version) for p in ev.purposes],
    )
    await conn.execute(f"DELETE FROM {schema}.guard_statements")
    await conn.executemany(
        f"INSERT INTO {schema}.guard_statements VALUES ($1, $2, $3)",
        [(s.version, datetime.fromisoformat(s.effective_from), list(s.changed_purposes))
         for s in ev.statements],
    )


async def apply_consent_event(conn: asyncpg.Connection, schema: str, item: Delivered) -> None:
    """Bring the guard projection up to date with one consent event (idempotent, ordered)."""
    ev = item.event
    position = item.envelope.position
    if isinstance(ev, CatalogPublished):
        await _apply_catalogue(conn, schema, ev)
    elif isinstance(ev, ConsentDecisionRecorded):
        await conn.execute(
            f"INSERT INTO {schema}.guard_consents AS c VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (subject_id, purpose) DO UPDATE SET granted = excluded.granted, "
            "statement_version = excluded.statement_version, position = excluded.position "
            "WHERE c.position < excluded.position",
            ev.subject_id, ev.purpose, GRANTING.get(str(ev.action), False),
            ev.statement_version, position,
        )
    elif isinstance(ev, PreferencesChanged):
        await conn.execute(f"DELETE FROM {schema}.guard_muted WHERE subject_id = $1",
                           ev.subject_id)
        prefs = ev.preferences if isinstance(ev.preferences, dict) else {}
        muted = [(ev.subject_id, ch, kind) for ch, kinds in prefs.items()
                 for kind, allowed in kinds.items() if not allowed]
        if muted:
            await conn.executemany(f"INSERT INTO {schema}.guard_muted VALUES ($1, $2, $3)",
                                   muted)
    elif isinstance(ev, ProcessingRestricted):
        if ev.restricted:
            await conn.execute(
                f"INSERT INTO {schema}.guard_restricted VALUES ($1, $2) "
                "ON CONFLICT (subject_id) DO NOTHING", ev.subject_id, position,
            )
        else:
            await conn.execute(f"DELETE FROM {schema}.guard_restricted WHERE subject_id = $1",
                               ev.subject_id)


GUARD_EVENTS = (CatalogPublished, ConsentDecisionRecorded, PreferencesChanged,
                ProcessingRestricted)


def guard_consumer() -> ConsumerSpec:
    """The consumer keeping a service's guard projection current (decrypts the decisions)."""

    def build(rt: Runtime) -> Handler:
        async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
            for item in batch:
                await apply_consent_event(conn, rt.name, item)

        return handle

    return ConsumerSpec(
        name="guard", topics=[events_topic("consent")], handler=build,
        event_types=[e.event_type for e in GUARD_EVENTS], decrypt=True,
    )


# -- the check -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """The guard's answer: allowed, or refused with a stable reason code."""

    allowed: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Verdict(True)


@dataclass(frozen=True)
class Standing:
    """What the projection knows of one subject and purpose (input of :func:`decide`)."""

    legal_basis: str
    channels: Sequence[str]
    kind: str | None
    marketing: bool
    granted: bool | None = None
    stale: bool = False
    restricted: bool = False
    muted: bool = False


def decide(standing: Standing | None, channel: str | None) -> Verdict:
    """Consent, objection, restriction and preferences in one rule (pure, CNS-7)."""
    if standing is None:
        return Verdict(False, "unknown_purpose")
    s = standing
    if channel is not None and channel not in s.channels:
        return Verdict(False, "channel_not_covered")
    if s.marketing and s.restricted:
        return Verdict(False, "restricted")
    if s.legal_basis == "consent":
        if s.granted is not True:
            return Verdict(False, "not_granted")
        if s.stale:
            return Verdict(False, "reconsent_needed")
    if s.legal_basis == "legitimate_interest" and s.granted is False:
        return Verdict(False, "objected")
    if s.muted and s.legal_basis != "legal_obligation":
        return Verdict(False, "preference_off")
    return ALLOWED


def _check_sql(schema: str) -> str:
    return f"""
SELECT p.legal_basis, p.channels, p.kind, p.marketing, c.granted,
    (c.statement_version IS NOT NULL AND EXISTS (
        SELECT 1 FROM {schema}.guard_statements st WHERE st.version > c.statement_version
        AND st.effective_from <= $4 AND p.purpose = ANY(st.changed))) AS stale,
    EXISTS (SELECT 1 FROM {schema}.guard_restricted r WHERE r.subject_id = $1) AS restricted,
    EXISTS (SELECT 1 FROM {schema}.guard_muted m WHERE m.subject_id = $1
            AND m.channel = $3 AND m.kind = p.kind) AS muted
FROM {schema}.guard_purposes p
LEFT JOIN {schema}.guard_consents c ON c.subject_id = $1 AND c.purpose = p.purpose
WHERE p.purpose = $2
"""


class ContactGuard:
    """A service's contact guard over its own projection.

    Args:
        pool: The service's pool.
        store: The service's event store (refusals are recorded there).
    """

    def __init__(self, pool: asyncpg.Pool, store: EventStore) -> None:
        self.pool = pool
        self.store = store
        self._sql = _check_sql(store.schema)

    async def standing(self, conn: asyncpg.Connection, subject_id: str, purpose: str,
                       channel: str | None, now: datetime | None = None) -> Standing | None:
        """What the projection holds for the subject and purpose."""
        row = await conn.fetchrow(self._sql, subject_id, purpose, channel or "",
                                  now or datetime.now(UTC))
        return Standing(**dict(row)) if row is not None else None

    async def allows(self, subject_id: str, purpose: str, channel: str | None = None,
                     conn: asyncpg.Connection | None = None) -> Verdict:
        """Whether the service may contact or personalise for ``subject_id`` now.

        A refusal is recorded as ``guard.ContactRefused`` (subject, purpose, channel,
        reason) in the service's event store.
        """
        if conn is None:
            async with self.pool.acquire() as own:
                return await self.allows(subject_id, purpose, channel, own)
        verdict = decide(await self.standing(conn, subject_id, purpose, channel), channel)
        if not verdict.allowed:
            assert verdict.reason is not None
            await self.store.append(conn, f"guard-refusal-{uuid4()}", StreamHead(), [NewEvent(
                ContactRefused(subject_id=subject_id, purpose=purpose, channel=channel,
                               reason=verdict.reason), subject_id)])
            log.info("guard.refused", purpose=purpose, channel=channel, reason=verdict.reason)
        return verdict


def guard_of(rt: Runtime) -> ContactGuard:
    """The running service's contact guard."""
    guard = rt.extra.get("guard")
    if guard is None:
        guard = rt.extra["guard"] = ContactGuard(rt.pool, rt.store)
    assert isinstance(guard, ContactGuard)
    return guard


@dataclass
class FakeGuard:
    """The guard over in-memory standings, for unit tests (same rule as the real one)."""

    standings: dict[tuple[str, str], Standing] = field(default_factory=dict)
    refusals: list[tuple[str, str, str | None, str]] = field(default_factory=list)

    def set(self, subject_id: str, purpose: str, **standing: Any) -> None:
        """Put what the projection would hold for ``(subject_id, purpose)``."""
        self.standings[(subject_id, purpose)] = Standing(**standing)

    async def allows(self, subject_id: str, purpose: str, channel: str | None = None,
                     conn: Any = None) -> Verdict:
        """Like :meth:`ContactGuard.allows`; refusals go to :attr:`refusals`."""
        verdict = decide(self.standings.get((subject_id, purpose)), channel)
        if not verdict.allowed:
            self.refusals.append((subject_id, purpose, channel, str(verdict.reason)))
        return verdict

