"""Reading the event stores for the auditors (AUD-1, AUD-2), on the session's PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from contracts.accounts import AccountRegistered
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import InMemoryKeyStore
from retention.adapters.store_log import read_event_stores

pytestmark = pytest.mark.integration


async def test_aud2_pending_outbox_ids_are_read_only_when_asked(infra: Any) -> None:
    dsn = infra.pg_dsn("marketplace")
    store = EventStore(f"sl_{uuid.uuid4().hex[:10]}", InMemoryKeyStore())
    subject = str(uuid.uuid4())
    conn = await asyncpg.connect(dsn)
    try:
        await store.migrate(conn)
        async with conn.transaction():  # no relay runs here: the outbox row stays pending
            recs = await store.append(conn, f"account-{subject}", StreamHead(), [NewEvent(
                AccountRegistered(account_id=subject, kind="member", email="a@ex.nl",
                                  name="An", username="an", password_hash="h",
                                  terms_version="1"), subject)])
        subjects: set[str] = set()
        stored, pending = await read_event_stores(dsn, subjects=subjects)
        mine = [value for schema, value in stored if schema == store.schema]
        assert len(mine) == 1 and str(recs[0].event_id).encode() in mine[0]
        assert str(recs[0].event_id) in pending and subject in subjects

        again, none = await read_event_stores(dsn, with_pending=False)
        assert [v for s, v in again if s == store.schema] == mine
        assert none == set()
    finally:
        await conn.execute(f"DROP SCHEMA {store.schema} CASCADE")
        await conn.close()
