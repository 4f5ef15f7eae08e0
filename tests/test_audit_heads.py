"""AUD-2: ``verify`` names a flipped byte, a deleted event, a swapped pair and a truncated
stream tail; the tail is found through the heads ``seal`` signed, even where the broker has
lost its data or the heads table was rolled back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from members import sign_up
from published import publish_store
from stack import Infra

from contracts.accounts import SessionEnded
from kernel.eventstore import (
    EventStore,
    NewEvent,
    RecordedEvent,
    StreamHead,
    chain_hash,
    header_bytes,
)
from kernel.keystore import InMemoryKeyStore
from kernel.settings import SecretsSettings, kafka_client_options
from retention.adapters.sealed_heads import read_heads, retire_heads
from retention.heads import SealedHead, authentic, check_sealed, heads_key, newest, seal
from retention.sealer import HeadSealer

STREAMS = ("intact", "flip", "delete", "swap", "tail")


def _audit(infra: Infra, *args: str, topic: str) -> subprocess.CompletedProcess[bytes]:
    # a heads topic of the test's own: other tests' verify runs never see these seals
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention.audit", *args], capture_output=True, timeout=180,
        env={**os.environ, **infra.env, "MARKET_AUDIT_HEADS_TOPIC": topic}, check=False)


async def _write(infra: Infra, schema: str) -> None:
    """Four events per stream in an event store of its own, published as a relay would."""
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        store = EventStore(schema, InMemoryKeyStore())
        await store.migrate(conn)
        for stream in STREAMS:
            events = [NewEvent(SessionEnded(session_id=f"s{i}", account_id="a",
                                            reason="logout"), None) for i in range(1, 5)]
            async with conn.transaction():
                await store.append(conn, stream, StreamHead(), events)
        await conn.execute(f"DELETE FROM {schema}.outbox")
        await publish_store(infra, conn, schema)
    finally:
        await conn.close()


async def _tamper(infra: Infra, schema: str) -> None:
    """As a database superuser would: past the append-only trigger."""
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            t = f"{schema}.events"
            await conn.execute(  # one byte of one stored payload: "s2" becomes "t2"
                f"UPDATE {t} SET payload = convert_to(replace(convert_from(payload, 'UTF8'), "
                f"'\"s2\"', '\"t2\"'), 'UTF8') WHERE stream_id = 'flip' AND version = 2")
            await conn.execute(f"DELETE FROM {t} WHERE stream_id = 'delete' AND version = 2")
            await conn.execute(f"UPDATE {t} SET version = 100 WHERE stream_id = 'swap' "
                               "AND version = 2")
            await conn.execute(f"UPDATE {t} SET version = 2 WHERE stream_id = 'swap' "
                               "AND version = 3")
            await conn.execute(f"UPDATE {t} SET version = 3 WHERE stream_id = 'swap' "
                               "AND version = 100")
            await conn.execute(f"DELETE FROM {t} WHERE stream_id = 'tail' AND version = 4")
    finally:
        await conn.close()


async def _sql(infra: Infra, *statements: str) -> None:
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def schema(infra: Infra) -> Iterator[str]:
    name = f"heads_{uuid.uuid4().hex[:10]}"
    asyncio.run(_write(infra, name))
    try:
        yield name
    finally:
        asyncio.run(_sql(infra, f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        # the platform's sealer (if it runs) sealed them too: later verifies must not
        # find seals of a store that is gone
        asyncio.run(retire_heads(infra.pg_dsn(), infra.kafka_bootstrap, name))


def _breaks(result: subprocess.CompletedProcess[bytes], schema: str) -> dict[str, list[Any]]:
    report = orjson.loads(result.stdout)
    found: dict[str, list[Any]] = {}
    for b in report["breaks"]:
        if b["producer"] == schema:
            found.setdefault(b["stream_id"], []).append(b)
    return found


@pytest.mark.integration
def test_aud2_verify_names_each_tampering_and_the_cut_tail_through_its_seal(
    infra: Infra, schema: str,
) -> None:
    topic = f"{schema}.heads"
    sealed = _audit(infra, "seal", "--producer", schema, topic=topic)
    report = orjson.loads(sealed.stdout)
    assert report["sealed"] == len(STREAMS) and report["published"], sealed.stderr.decode()
    assert report["unsealed_broken_streams"] == []

    asyncio.run(_tamper(infra, schema))
    # the broker lost its data: the event stores alone, the seals tell the cut tail
    stores_only = _audit(infra, "--source", "stores", "verify", topic=topic)
    assert stores_only.returncode == 1, stores_only.stderr.decode()
    found = _breaks(stores_only, schema)
    assert "intact" not in found
    assert any("altered" in b["reason"] and b["version"] == 2 for b in found["flip"])
    assert any("missing event(s) before version 3" in b["reason"] for b in found["delete"])
    assert any(b["version"] in (2, 3) and ("wrong predecessor" in b["reason"]
                                           or "altered" in b["reason"]) for b in found["swap"])
    (tail,) = found["tail"]
    assert tail["source"] == "seal" and tail["version"] == 4
    assert "cut from the end" in tail["reason"]

    # someone rolls the heads table back: the seal on Kafka still tells
    asyncio.run(_sql(infra, f"DELETE FROM audit.stream_heads WHERE producer = '{schema}'"))
    both = _audit(infra, "verify", topic=topic)
    assert both.returncode == 1
    tail_breaks = _breaks(both, schema)["tail"]
    assert any(b["source"] == "seal" and "the event store ends at version 3" in b["reason"]
               for b in tail_breaks), tail_breaks


@pytest.mark.integration
def test_aud2_a_forged_seal_is_a_break(infra: Infra, schema: str) -> None:
    topic = f"{schema}.heads"
    assert _audit(infra, "seal", "--producer", schema, topic=topic).stdout
    asyncio.run(_sql(infra, "UPDATE audit.stream_heads SET version = 9 "
                            f"WHERE producer = '{schema}' AND stream_id = 'intact'"))
    found = _breaks(_audit(infra, "--source", "stores", "verify", topic=topic), schema)
    assert any("forged" in b["reason"] for b in found["intact"])


def _tail_break(infra: Infra, schema: str, topic: str) -> dict[str, Any]:
    """Cut the last event of stream ``tail`` (and tamper the others); ``verify`` over the
    event stores alone must name the cut through the seal."""
    asyncio.run(_tamper(infra, schema))
    result = _audit(infra, "--source", "stores", "verify", topic=topic)
    assert result.returncode == 1, result.stderr.decode()
    (tail,) = _breaks(result, schema)["tail"]
    return dict(tail)


@pytest.mark.integration
def test_aud2_the_sealer_seals_grown_heads_and_a_cut_tail_is_found_without_a_manual_seal(
    infra: Infra, schema: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = f"{schema}.heads"
    monkeypatch.setenv("MARKET_AUDIT_HEADS_TOPIC", topic)
    key = heads_key(SecretsSettings().index_key_bytes())  # the session's root secrets
    sealer = HeadSealer(infra.pg_dsn(), infra.kafka_bootstrap, key, producers={schema})
    first = asyncio.run(sealer.run_once())
    assert sorted(h.stream_id for h in first.sealed) == sorted(STREAMS)
    assert {h.version for h in first.sealed} == {4} and first.published
    assert first.broken == [] and first.checked == 4 * len(STREAMS)
    again = asyncio.run(sealer.run_once())  # nothing grew: nothing signed again
    assert again.sealed == [] and again.checked == 0

    tail = _tail_break(infra, schema, topic)
    assert tail["source"] == "seal" and tail["version"] == 4
    assert "cut from the end" in tail["reason"]

    # a store dropped on purpose: its seals are retired in both places (tombstones)
    assert asyncio.run(retire_heads(infra.pg_dsn(), infra.kafka_bootstrap, schema)) == 5
    on_topic, malformed = asyncio.run(read_heads(infra.kafka_bootstrap))
    assert [h for h in on_topic if h.producer == schema] == [] and malformed == 0


@pytest.mark.e2e
def test_aud2_the_running_platform_seals_its_own_heads_without_a_manual_seal(
    platform: Any, infra: Infra,
) -> None:
    """The retention service seals the platform's event stores by itself (the stores of
    the five services, whose events the auditor reads on their topics): a new member's
    account stream is sealed at its version within a few passes. A cut found through a
    seal is shown by the test above, with a sealer over a store of the test's own."""
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        account_id = sign_up(client, "sealed").account_id
    stream = f"account-{account_id}"

    async def sealed() -> int | None:
        conn = await asyncpg.connect(infra.pg_dsn())
        try:
            version = await conn.fetchval(
                "SELECT max(version) FROM audit.stream_heads WHERE producer = 'accounts' "
                "AND stream_id = $1", stream)
            stored = await conn.fetchval(
                "SELECT max(version) FROM accounts.events WHERE stream_id = $1", stream)
            return int(version) if version is not None and version == stored else None
        except asyncpg.UndefinedTableError:
            return None
        finally:
            await conn.close()

    async def wait() -> int | None:
        for _ in range(120):  # the sealer passes every 5 s
            if (found := await sealed()) is not None:
                return found
            await asyncio.sleep(0.5)
        return None

    assert asyncio.run(wait()) is not None, "the platform sealed no head of the new stream"


@pytest.mark.unit
def test_aud2_seals_sign_every_field_and_the_newest_authentic_one_counts() -> None:
    key = heads_key(b"k" * 32)
    old = seal(key, "svc", "s", 3, "aa", "2026-01-01T00:00:00+00:00")
    new = seal(key, "svc", "s", 5, "bb", "2026-01-02T00:00:00+00:00")
    assert authentic(key, old) and not authentic(heads_key(b"x" * 32), old)
    forged = SealedHead("svc", "s", 9, "cc", new.sealed_at, new.mac)
    best, bad = newest(key, [old, forged, new])
    assert best[("svc", "s")] == new and bad == [forged]

    class Ev:
        def __init__(self, version: int, digest: str) -> None:
            self.version, self.hash = version, digest

    assert check_sealed({("svc", "s"): [Ev(4, "x"), Ev(5, "bb")]}, best, "log") == []
    (cut,) = check_sealed({("svc", "s"): [Ev(4, "x")]}, best, "log")
    assert cut["version"] == 5 and "cut from the end" in cut["reason"]
    (other,) = check_sealed({("svc", "s"): [Ev(5, "zz")]}, best, "log")
    assert "another event" in other["reason"]


async def _relinked_store(infra: Infra, schema: str) -> None:
    """Four events in a store of the test's own; then, as an attacker with write access
    would, version 2 gets a new payload and a hash recomputed with the platform's own
    function, and version 3's ``prev_hash`` is relinked to it; the rows are then
    published as a relay would, so the log holds the forged chain too."""
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        store = EventStore(schema, InMemoryKeyStore())
        await store.migrate(conn)
        events = [NewEvent(SessionEnded(session_id=f"s{i}", account_id="a", reason="logout"),
                           None) for i in range(1, 5)]
        async with conn.transaction():
            await store.append(conn, "relink", StreamHead(), events)
        await conn.execute(f"DELETE FROM {schema}.outbox")
        t = f"{schema}.events"
        rows = {r["version"]: RecordedEvent.from_row(r) for r in await conn.fetch(
            f"SELECT * FROM {t} WHERE stream_id = 'relink' ORDER BY version")}
        two = rows[2]
        payload = two.payload.replace(b'"s2"', b'"t2"')
        forged = chain_hash(two.prev_hash, header_bytes(
            two.event_id, two.event_type, two.schema_version, two.stream_id, two.version,
            two.subject_id, two.occurred_at), payload)
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(f"UPDATE {t} SET payload = $1, hash = $2 WHERE "
                               "stream_id = 'relink' AND version = 2", payload, forged)
            await conn.execute(f"UPDATE {t} SET prev_hash = $1 WHERE stream_id = 'relink' "
                               "AND version = 3", forged)
        await publish_store(infra, conn, schema)
    finally:
        await conn.close()


@pytest.mark.integration
def test_aud2_a_rewritten_middle_event_relinked_to_the_next_is_named_in_stores_and_log(
    infra: Infra,
) -> None:
    """The chain hash commits to the history before each event: rewriting a middle event
    and relinking its successor's ``prev_hash`` leaves the successor's own hash wrong.
    (A hash over the event alone would let this forgery pass unseen.)"""
    schema = f"relink_{uuid.uuid4().hex[:10]}"
    asyncio.run(_relinked_store(infra, schema))
    try:
        topic = f"{schema}.heads"
        for source in ("stores", "kafka"):
            result = _audit(infra, "--source", source, "verify", topic=topic)
            assert result.returncode == 1, (source, result.stderr.decode())
            found = _breaks(result, schema)["relink"]
            assert any(b["version"] == 3 and "altered" in b["reason"] for b in found), \
                (source, found)
    finally:
        asyncio.run(_sql(infra, f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        asyncio.run(retire_heads(infra.pg_dsn(), infra.kafka_bootstrap, schema))
        # the forged chain must not stay on the log for later tests' verify runs
        asyncio.run(_delete_topic(infra, f"{schema}.events.v1"))


async def _delete_topic(infra: Infra, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap,
                                **kafka_client_options())
    await admin.start()
    try:
        await admin.delete_topics([topic])
        for _ in range(100):
            if topic not in await admin.list_topics():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{topic} was not deleted")
    finally:
        await admin.close()
