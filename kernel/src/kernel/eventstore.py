"""Append-only, hash-chained event store on asyncpg, with a transactional outbox.

One schema per service holds ``events`` (primary key ``(stream_id, version)`` for
optimistic concurrency, a global ``position``), ``outbox`` (positions not yet
published) and ``processed_events`` (the idempotent consumers' tracking table).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson

from contracts.envelope import Event
from kernel.codec import encode_payload, has_personal_data, scopes_to_write
from kernel.keystore import KeyStore
from kernel.telemetry import current_traceparent

DATABASE_DOWN: tuple[type[Exception], ...] = (
    OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError, TimeoutError,
)
"""Errors meaning PostgreSQL cannot be reached (retry later), not that a statement failed."""


class ConcurrencyError(Exception):
    """Another writer appended to the stream first; reload and retry."""


GENESIS = b"\x00" * 32


def chain_hash(prev: bytes, header: bytes, payload: bytes) -> bytes:
    """SHA-256 over the previous hash, the event's header and its stored payload bytes."""
    return hashlib.sha256(prev + header + payload).digest()


def canonical_time(occurred_at: datetime) -> str:
    """The one text form of an instant that hashes and envelopes use."""
    return occurred_at.astimezone(UTC).isoformat(timespec="microseconds")


def header_text(
    event_id: UUID | str, event_type: str, schema_version: int, stream_id: str, version: int,
    subject_id: str | None, occurred_at: str,
) -> bytes:
    """The metadata a hash covers, in a fixed layout (``occurred_at`` canonical text)."""
    return (
        f"{event_id}|{event_type}|{schema_version}|{stream_id}|{version}|"
        f"{subject_id or ''}|{occurred_at}|"
    ).encode()


def header_bytes(
    event_id: UUID, event_type: str, schema_version: int, stream_id: str, version: int,
    subject_id: str | None, occurred_at: datetime,
) -> bytes:
    """The metadata a hash covers, in a fixed layout."""
    return header_text(event_id, event_type, schema_version, stream_id, version, subject_id,
                       canonical_time(occurred_at))


@dataclass(frozen=True, slots=True)
class StreamHead:
    """Where a stream ends: its last version and hash (version 0 for a new stream)."""

    version: int = 0
    hash: bytes = GENESIS


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: metadata plus payload bytes with personal fields encrypted."""

    position: int
    stream_id: str
    version: int
    event_id: UUID
    event_type: str
    schema_version: int
    subject_id: str | None
    occurred_at: datetime
    correlation_id: UUID | None
    causation_id: UUID | None
    payload: bytes
    prev_hash: bytes
    hash: bytes
    trace_context: str | None = None

    def envelope_bytes(self, producer: str) -> bytes:
        """The envelope JSON published to Kafka (payload embedded byte for byte)."""
        return orjson.dumps(
            {
                "event_id": str(self.event_id),
                "event_type": self.event_type,
                "schema_version": self.schema_version,
                "producer": producer,
                "stream_id": self.stream_id,
                "version": self.version,
                "position": self.position,
                "occurred_at": canonical_time(self.occurred_at),
                "subject_id": self.subject_id,
                "correlation_id": str(self.correlation_id) if self.correlation_id else None,
                "causation_id": str(self.causation_id) if self.causation_id else None,
                "payload": orjson.Fragment(self.payload),
                "prev_hash": self.prev_hash.hex(),
                "hash": self.hash.hex(),
            }
        )

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> RecordedEvent:
        """Build from a row of the ``events`` table."""
        return cls(
            position=row["position"], stream_id=row["stream_id"], version=row["version"],
            event_id=row["event_id"], event_type=row["event_type"],
            schema_version=row["schema_version"], subject_id=row["subject_id"],
            occurred_at=row["occurred_at"], correlation_id=row["correlation_id"],
            causation_id=row["causation_id"], payload=bytes(row["payload"]),
            prev_hash=bytes(row["prev_hash"]), hash=bytes(row["hash"]),
            trace_context=row["trace_context"],
        )


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended, with the data subject it concerns."""

    event: Event
    subject_id: str | None
    event_id: UUID = field(default_factory=uuid4)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def schema_ddl(schema: str) -> str:
    """Tables of one service's event store."""
    return f"""
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.events (
    position       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    stream_id      text        NOT NULL,
    version        integer     NOT NULL CHECK (version >= 1),
    event_id       uuid        NOT NULL UNIQUE,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL,
    subject_id     text,
    occurred_at    timestamptz NOT NULL,
    correlation_id uuid,
    causation_id   uuid,
    trace_context  text,
    payload        bytea       NOT NULL,
    prev_hash      bytea       NOT NULL,
    hash           bytea       NOT NULL,
    PRIMARY KEY (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_subject_idx ON {schema}.events (subject_id, position);
CREATE TABLE IF NOT EXISTS {schema}.outbox (
    position bigint PRIMARY KEY
);
-- A queue: every row is deleted once published. Vacuumed after every 5,000 dead rows, not
-- a fifth of a table that is nearly always empty, so the relay's scans do not wade through
-- the rows of earlier bursts (a sustained pipeline slowed run by run without it).
ALTER TABLE {schema}.outbox SET (autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0);
CREATE TABLE IF NOT EXISTS {schema}.relay_state (
    id           integer PRIMARY KEY CHECK (id = 1),
    broker_epoch text NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE OR REPLACE FUNCTION {schema}.forbid_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event store is append-only';
END $$;
-- No NOTIFY on the outbox: a notifying transaction holds a database-wide lock through
-- its commit, which serialised every command's commit (no group commit). The service's
-- own relay is woken in process after each append, and polls for other writers' rows.
DROP TRIGGER IF EXISTS {schema}_outbox_notify ON {schema}.outbox;
DROP FUNCTION IF EXISTS {schema}.notify_outbox();
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{schema}_events_append_only') THEN
        CREATE TRIGGER {schema}_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
            ON {schema}.events FOR EACH STATEMENT EXECUTE FUNCTION {schema}.forbid_change();
    END IF;
END $$;
"""


_COLUMNS = (
    "position, stream_id, version, event_id, event_type, schema_version, subject_id, "
    "occurred_at, correlation_id, causation_id, trace_context, payload, prev_hash, hash"
)


class EventStore:
    """One service's event store.

    Args:
        schema: The service's PostgreSQL schema.
        keys: Key store used to encrypt personal fields before they are stored.
        on_append: Called after each append (the service's relay's ``wake``); the rows
            are visible once the caller's transaction commits, which the relay allows for.
    """

    def __init__(self, schema: str, keys: KeyStore,
                 on_append: Callable[[], None] | None = None) -> None:
        if not schema.isidentifier():
            raise ValueError(f"bad schema name {schema!r}")
        self.schema = schema
        self.keys = keys
        self.on_append = on_append
        self._append_sql = f"""
WITH ins AS (
    INSERT INTO {schema}.events (stream_id, version, event_id, event_type, schema_version,
        subject_id, occurred_at, correlation_id, causation_id, trace_context, payload,
        prev_hash, hash)
    SELECT * FROM unnest($1::text[], $2::int[], $3::uuid[], $4::text[], $5::int[], $6::text[],
        $7::timestamptz[], $8::uuid[], $9::uuid[], $10::text[], $11::bytea[], $12::bytea[],
        $13::bytea[])
    RETURNING position, stream_id, version
), out AS (
    INSERT INTO {schema}.outbox (position) SELECT position FROM ins
)
SELECT position, stream_id, version FROM ins
"""

    async def migrate(self, conn: asyncpg.Connection) -> None:
        """Create the store's tables (idempotent, serialised across processes)."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.schema)
            await conn.execute(schema_ddl(self.schema))

    async def head(self, conn: asyncpg.Connection, stream_id: str) -> StreamHead:
        """The stream's last version and hash."""
        row = await conn.fetchrow(
            f"SELECT version, hash FROM {self.schema}.events WHERE stream_id = $1 "
            "ORDER BY version DESC LIMIT 1",
            stream_id,
        )
        return StreamHead(row["version"], bytes(row["hash"])) if row else StreamHead()

    async def read_stream(self, conn: asyncpg.Connection, stream_id: str) -> list[RecordedEvent]:
        """Every event of one stream, in order."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM {self.schema}.events WHERE stream_id = $1 ORDER BY version",
            stream_id,
        )
        return [RecordedEvent.from_row(r) for r in rows]

    async def read_all(
        self, conn: asyncpg.Connection, after: int = 0, limit: int = 10_000
    ) -> list[RecordedEvent]:
        """Events by global position, for catch-up and audit."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM {self.schema}.events WHERE position > $1 "
            "ORDER BY position LIMIT $2",
            after, limit,
        )
        return [RecordedEvent.from_row(r) for r in rows]

    async def encode(
        self, stream_id: str, head: StreamHead, events: Sequence[NewEvent],
        correlation_id: UUID | None = None, causation_id: UUID | None = None,
    ) -> list[RecordedEvent]:
        """Encrypt and chain events (no I/O but the key lookup)."""
        personal = [has_personal_data(e.event) for e in events]
        for new, has in zip(events, personal, strict=True):
            if has and not new.subject_id:
                raise ValueError(f"{new.event.event_type} holds personal data but has no subject")
        needing = {e.subject_id for e, has in zip(events, personal, strict=True)
                   if has and e.subject_id}
        scopes: dict[str, set[str]] = {}
        for new, has in zip(events, personal, strict=True):
            if has and new.subject_id:
                wanted = scopes_to_write(new.event, new.occurred_at)
                if wanted:
                    scopes.setdefault(new.subject_id, set()).update(wanted)
        keys = await self.keys.keys_for_writing(needing, scopes or None) if needing else {}
        trace = current_traceparent()
        prev, out = head.hash, []
        for i, new in enumerate(events, start=head.version + 1):
            key = keys.get(new.subject_id) if new.subject_id else None
            payload = encode_payload(new.event, new.event_id, key, new.occurred_at)
            header = header_bytes(
                new.event_id, new.event.event_type, new.event.schema_version, stream_id, i,
                new.subject_id, new.occurred_at,
            )
            digest = chain_hash(prev, header, payload)
            out.append(
                RecordedEvent(
                    0, stream_id, i, new.event_id, new.event.event_type,
                    new.event.schema_version, new.subject_id, new.occurred_at, correlation_id,
                    causation_id, payload, prev, digest, trace,
                )
            )
            prev = digest
        return out

    async def append(
        self, conn: asyncpg.Connection, stream_id: str, head: StreamHead,
        events: Sequence[NewEvent], correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
    ) -> list[RecordedEvent]:
        """Append after ``head`` in the caller's transaction; one round trip.

        Raises:
            ConcurrencyError: another writer appended to the stream since ``head``.
            SubjectErasedError: personal data for an erased subject.
        """
        if not events:
            return []
        recs = await self.encode(stream_id, head, events, correlation_id, causation_id)
        return await self.append_encoded(conn, recs)

    async def append_encoded(
        self, conn: asyncpg.Connection, recs: Sequence[RecordedEvent]
    ) -> list[RecordedEvent]:
        """Insert already encoded events (several streams at once) and their outbox rows."""
        cols: list[list[Any]] = [[] for _ in range(13)]
        for r in recs:
            for col, value in zip(
                cols,
                (r.stream_id, r.version, r.event_id, r.event_type, r.schema_version,
                 r.subject_id, r.occurred_at, r.correlation_id, r.causation_id,
                 r.trace_context, r.payload, r.prev_hash, r.hash),
                strict=True,
            ):
                col.append(value)
        try:
            rows = await conn.fetch(self._append_sql, *cols)
        except asyncpg.UniqueViolationError as exc:
            raise ConcurrencyError(str(exc.detail or exc)) from exc
        if self.on_append is not None:
            self.on_append()
        positions = {(row["stream_id"], row["version"]): row["position"] for row in rows}
        return [_with_position(r, positions[(r.stream_id, r.version)]) for r in recs]


def _with_position(rec: RecordedEvent, position: int) -> RecordedEvent:
    return RecordedEvent(
        position, rec.stream_id, rec.version, rec.event_id, rec.event_type, rec.schema_version,
        rec.subject_id, rec.occurred_at, rec.correlation_id, rec.causation_id, rec.payload,
        rec.prev_hash, rec.hash, rec.trace_context,
    )
