"""SEC-4, AUD-1: an auditor's ``replay`` (in one process and in parallel) and ``events``
never print a password hash: credential fields read "withheld", by the export's rule."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import asyncpg
import orjson
import pytest
from published import publish_store
from stack import Infra
from stored_keys import key_store

from contracts.accounts import AccountRegistered, PasswordChanged
from kernel.eventstore import EventStore, NewEvent, StreamHead
from retention.adapters.sealed_heads import retire_heads

pytestmark = pytest.mark.integration

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$"


async def _publish(infra: Infra, schema: str, subjects: list[str]) -> None:
    """Each subject registers and changes its password, sealed under its key; each event
    published under its own key, so that streams cross the shares of a parallel replay."""
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        async with key_store(infra) as keys:
            await keys.migrate()
            store = EventStore(schema, keys)
            await store.migrate(conn)
            for s in subjects:
                async with conn.transaction():
                    await store.append(conn, f"account-{s}", StreamHead(), [
                        NewEvent(AccountRegistered(
                            account_id=s, kind="member", email=f"{s}@example.nl",
                            name="Cred Member", username=s[:12], password_hash=HASH + s,
                            terms_version="1"), s),
                        NewEvent(PasswordChanged(account_id=s, password_hash=HASH + "2" + s),
                                 s)])
        await publish_store(infra, conn, schema, split=True)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
        await retire_heads(infra.pg_dsn(), infra.kafka_bootstrap, schema)


def _audit(infra: Infra, *args: str) -> tuple[bytes, str]:
    got = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "retention.audit", *args],
        capture_output=True, timeout=180, env={**os.environ, **infra.env}, check=False)
    assert got.returncode == 0, got.stderr.decode()
    assert b"argon2" not in got.stderr
    return got.stdout, got.stderr.decode()


@pytest.fixture(scope="module")
def published(infra: Infra) -> tuple[str, list[str]]:
    schema = f"cred_{uuid.uuid4().hex[:10]}"
    subjects = [str(uuid.uuid4()) for _ in range(4)]
    asyncio.run(_publish(infra, schema, subjects))
    return schema, subjects


@pytest.mark.parametrize("workers", [1, 2])
def test_sec4_replay_never_prints_a_password_hash(
    infra: Infra, published: tuple[str, list[str]], workers: int,
) -> None:
    schema, subjects = published
    raw, err = _audit(infra, "replay", "--workers", str(workers), "--source", "kafka")
    assert b"argon2" not in raw
    assert workers == 1 or f"({workers} processes)" in err, err
    streams = orjson.loads(raw)["services"][schema]
    for s in subjects:
        stream = streams[f"account-{s}"]
        assert stream["state"]["email"] == f"{s}@example.nl"  # decrypted: the key was there
        assert stream["state"]["password_hash"] == "withheld"
        assert [e["payload"]["password_hash"] for e in stream["events"]] == ["withheld"] * 2


def test_sec4_events_never_print_a_password_hash(
    infra: Infra, published: tuple[str, list[str]],
) -> None:
    schema, subjects = published
    raw, _ = _audit(infra, "events", "--producer", schema, "--source", "kafka")
    assert b"argon2" not in raw
    lines = [orjson.loads(line) for line in raw.splitlines()]
    assert len(lines) == 2 * len(subjects)
    assert {line["payload"]["password_hash"] for line in lines} == {"withheld"}
    assert {line["payload"]["email"] for line in lines if "email" in line["payload"]} == {
        f"{s}@example.nl" for s in subjects}
