"""The Python peer of the write path: pyeventsourcing 9.5 on the same PostgreSQL (issue 17).

Its documented 5-events-per-save workload: an aggregate whose save writes 5 events, every
event encrypted with its AES cipher on ``cryptography`` (AES-GCM), stored by its PostgreSQL
recorder with ``synchronous_commit`` on (the server's default, which this module checks).
Saves run from a pool of threads, as many as our workers, each save its own transaction.
The events carry the same fields and the same data as ours. pyeventsourcing has no broker:
its figure stops at the database, ours includes publication to Kafka through the outbox.

Needs the bench-only dependency group (``make bench`` syncs it: ``uv sync --group bench``).
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Aggregate, event

from kernel.settings import PostgresSettings


class PeerProfile(Aggregate):
    """A profile whose every change carries personal fields (the peer's aggregate)."""

    @event("Registered")
    def __init__(self, email: str, name: str, phone: str, note: str) -> None:
        self.email, self.name, self.phone, self.note = email, name, phone, note

    @event("Updated")
    def update(self, email: str, name: str, phone: str, note: str) -> None:
        """One change of every field."""
        self.email, self.name, self.phone, self.note = email, name, phone, note


class PeerProfiles(Application[uuid.UUID]):
    """The peer's application: one save per command."""

    def command(self, i: int, events: int) -> None:
        """Register a profile and change it ``events - 1`` times: one save of ``events``."""
        profile = PeerProfile(email=f"user{i}.0@example.nl", name=f"Member Number {i}",
                              phone="+31612345678", note="x" * 180)
        for j in range(1, events):
            profile.update(email=f"user{i}.{j}@example.nl", name=f"Member Number {i}",
                           phone="+31612345678", note="x" * 180)
        self.save(profile)


def run_once(commands: int, events_per_command: int, workers: int) -> float:
    """Events/s of ``commands`` saves of ``events_per_command`` events from ``workers`` threads."""
    pg = PostgresSettings()
    schema = f"peer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        setting = conn.execute("SHOW synchronous_commit").fetchone()
    if setting is None or setting[0] != "on":
        raise SystemExit(f"synchronous_commit is {setting}: the comparison needs it on")
    env: dict[str, Any] = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": pg.database,
        "POSTGRES_HOST": pg.host,
        "POSTGRES_PORT": str(pg.port),
        "POSTGRES_USER": pg.user,
        "POSTGRES_PASSWORD": pg.password.get_secret_value(),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(workers),
        "POSTGRES_MAX_OVERFLOW": "4",
        "CREATE_TABLE": "y",
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": AESCipher.create_key(num_bytes=32),
        "IS_SNAPSHOTTING_ENABLED": "n",
    }
    app = PeerProfiles(env={**os.environ, **env})
    try:
        app.command(-1, events_per_command)  # warm the pool, as our relay is started first
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda i: app.command(i, events_per_command), range(commands)))
        elapsed = time.perf_counter() - start
        recorder = app.recorder
        has_max = hasattr(recorder, "max_notification_id")
        stored = recorder.max_notification_id() if has_max else None
    finally:
        app.close()
    expected = (commands + 1) * events_per_command
    if stored is not None and stored < expected:
        raise SystemExit(f"pyeventsourcing stored {stored} of {expected} events")
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return commands * events_per_command / elapsed
