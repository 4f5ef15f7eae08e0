"""The ledger in the consent service's event store: one stream per data subject (CNS-5).

The event store is append-only (a trigger refuses UPDATE and DELETE) and hash-chained, so
the stream is the ledger itself; personal fields are sealed with the subject's key and
read ``"erased"`` once it is destroyed.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from consent.domain.ledger import Entry, Ledger
from kernel.codec import decode_event
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import KeyStore


def stream_of(subject_id: str) -> str:
    """The ledger stream of a subject."""
    return f"consent-{subject_id}"


class LedgerRepository:
    """Loads and appends ledgers on one connection (the caller's transaction for writes)."""

    def __init__(self, conn: asyncpg.Connection, store: EventStore, keys: KeyStore) -> None:
        self.conn = conn
        self.store = store
        self.keys = keys

    async def load(self, subject_id: str) -> tuple[Ledger, StreamHead]:
        """The subject's ledger, decrypted, and the head of its stream."""
        records = await self.store.read_stream(self.conn, stream_of(subject_id))
        if not records:
            return Ledger(subject_id), StreamHead()
        key = (await self.keys.keys_for_reading([subject_id])).get(subject_id)
        entries = [
            Entry(str(r.event_id), r.occurred_at,
                  decode_event(r.event_type, r.schema_version, r.payload, r.event_id, key))
            for r in records
        ]
        last = records[-1]
        return Ledger(subject_id, entries), StreamHead(last.version, last.hash)

    async def save(self, ledger: Ledger, head: StreamHead) -> None:
        """Append the ledger's new events after ``head`` (with their outbox rows)."""
        if not ledger.events:
            return
        new = ledger.entries[-len(ledger.events):]
        await self.store.append(self.conn, stream_of(ledger.subject_id), head, [
            NewEvent(e.event, ledger.subject_id, UUID(e.entry_id), e.at) for e in new
        ])
        ledger.events.clear()
