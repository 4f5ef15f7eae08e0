"""Idempotent consumers: effects once per event, poison messages dead-lettered, the rest applied."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import asyncpg
import pytest

from contracts.accounts import SessionStarted
from kernel.consumer import Delivered, IdempotentConsumer
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import InMemoryKeyStore
from kernel.signing import EventSigner, EventVerifier

ROOT = b"k" * 32
TOPIC = "accounts.events.v1"

pytestmark = pytest.mark.integration


@dataclass
class FakeRecord:
    value: bytes | None
    topic: str = TOPIC
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass
class CollectingDeadLetters:
    sent: list[tuple[FakeRecord, str, bool]] = field(default_factory=list)

    async def send(self, record: FakeRecord, consumer: str, reason: str, keep_value: bool) -> None:
        self.sent.append((record, reason, keep_value))


@pytest.fixture
async def schema(pool: asyncpg.Pool) -> AsyncIterator[str]:
    name = f"cs_{uuid.uuid4().hex[:10]}"
    store = EventStore(name, InMemoryKeyStore())
    async with pool.acquire() as conn:
        await store.migrate(conn)
        await conn.execute(f"CREATE TABLE {name}.seen (session_id text)")
    yield name


async def records(n: int, fail_on: str | None = None) -> list[FakeRecord]:
    store = EventStore("unused", InMemoryKeyStore())
    subject = str(uuid.uuid4())
    recs = await store.encode(
        f"s-{subject}", StreamHead(),
        [NewEvent(SessionStarted(session_id=fail_on if i == 0 and fail_on else f"s{i}",
                                 account_id=subject, remember_me=False,
                                 expires_at="2030-01-01T00:00:00Z"), subject)  # type: ignore[arg-type]
         for i in range(n)],
    )
    out = []
    for i, r in enumerate(recs):
        object.__setattr__(r, "position", i + 1)
        out.append(signed(FakeRecord(r.envelope_bytes("accounts"), offset=i)))
    return out


def signed(rec: FakeRecord, producer: str = "accounts") -> FakeRecord:
    """``rec`` with the signature ``producer`` gives it."""
    sig = EventSigner(ROOT, producer).header(rec.topic, rec.key, rec.value or b"")
    return FakeRecord(rec.value, rec.topic, rec.partition, rec.offset, rec.key,
                      [*rec.headers, sig])


def consumer(pool: asyncpg.Pool, schema: str, dlq: CollectingDeadLetters) -> IdempotentConsumer:
    async def handler(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        for d in batch:
            sid = d.event.session_id  # type: ignore[attr-defined]
            if sid == "boom":
                raise ValueError("cannot apply")
            await conn.execute(f"INSERT INTO {schema}.seen VALUES ($1)", sid)

    return IdempotentConsumer("test", "accounts", schema, pool, InMemoryKeyStore(), handler, dlq,
                              verifier=EventVerifier(ROOT))


async def test_redelivered_events_have_no_second_effect(pool: asyncpg.Pool, schema: str) -> None:
    dlq = CollectingDeadLetters()
    c = consumer(pool, schema, dlq)
    first = await records(1)
    await c.handle_records(first + first)  # duplicated inside one batch
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.seen") == 1
    await pool.execute(f"DELETE FROM {schema}.seen")
    batch = await records(5)
    await c.handle_records(batch)
    await c.handle_records(batch[2:] + batch)  # broker redelivers after a crash
    await c.handle_records(batch[:1] + batch[:1])  # the same event twice in one batch
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.seen") == 5
    assert dlq.sent == []


async def test_malformed_messages_are_dead_lettered_and_the_rest_applied(
    pool: asyncpg.Pool, schema: str
) -> None:
    dlq = CollectingDeadLetters()
    c = consumer(pool, schema, dlq)
    good = await records(3)
    bad = [signed(FakeRecord(b"not json {")), signed(FakeRecord(b'{"event_type": "x"}')),
           signed(FakeRecord(None))]
    unknown = signed(FakeRecord(
        good[0].value.replace(b"accounts.SessionStarted", b"accounts.Nope")))  # type: ignore[union-attr]
    await c.handle_records([bad[0], good[0], bad[1], good[1], bad[2], good[2], unknown])
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.seen") == 3
    reasons = [reason for _, reason, _ in dlq.sent]
    assert len(reasons) == 4
    assert any(r.startswith("not JSON") for r in reasons)
    assert any(r.startswith("unknown event type") for r in reasons)
    # a message that is not even an envelope is kept only as a digest (no plaintext leaks)
    assert [keep for rec, _, keep in dlq.sent if rec is bad[0]] == [False]


async def test_an_event_the_handler_rejects_is_dead_lettered_alone(
    pool: asyncpg.Pool, schema: str
) -> None:
    dlq = CollectingDeadLetters()
    c = consumer(pool, schema, dlq)
    batch = await records(4, fail_on="boom")
    await c.handle_records(batch)
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.seen") == 3
    assert len(dlq.sent) == 1 and "handler failed: ValueError" in dlq.sent[0][1]


async def test_dead_letter_reasons_never_quote_the_failing_value(
    pool: asyncpg.Pool, schema: str
) -> None:
    """SEC-1, SEC-4: an exception's message may hold decrypted data; the reason does not."""
    dlq = CollectingDeadLetters()

    async def leaky(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        raise ValueError("cannot store jan.jansen@example.nl, Jan Jansen")

    c = IdempotentConsumer("leaky", "accounts", schema, pool, InMemoryKeyStore(), leaky, dlq,
                           verifier=EventVerifier(ROOT))
    await c.handle_records(await records(1))
    [(_, reason, _)] = dlq.sent
    assert reason == "handler failed: ValueError"


async def test_records_their_producer_did_not_sign_change_nothing(
    pool: asyncpg.Pool, schema: str
) -> None:
    """Issue 26: unsigned, altered, signed by another service or for another's topic or
    type: each is dead-lettered without its value, and the genuine record is applied."""
    dlq = CollectingDeadLetters()
    c = consumer(pool, schema, dlq)
    [genuine] = await records(1)
    [other] = await records(1)
    plain = FakeRecord(other.value, offset=1)
    altered = FakeRecord(other.value.replace(b'"s0"', b'"s9"'), offset=2,  # type: ignore[union-attr]
                         headers=other.headers)
    rekeyed = FakeRecord(other.value, offset=3, key=b"someone-else", headers=other.headers)
    by_listings = signed(FakeRecord(other.value, offset=4), "listings")
    retention_topic = signed(FakeRecord(other.value, "retention.events.v1", offset=5),
                             "retention")
    retention_value = other.value.replace(b'"producer":"accounts"', b'"producer":"retention"')  # type: ignore[union-attr]
    foreign_type = signed(FakeRecord(retention_value, "retention.events.v1", offset=6),
                          "retention")
    forged = [plain, altered, rekeyed, by_listings, retention_topic, foreign_type]
    await c.handle_records([*forged, genuine])
    assert await pool.fetchval(f"SELECT array_agg(session_id) FROM {schema}.seen") == ["s0"]
    assert [rec for rec, _, _ in dlq.sent] == forged
    assert all(not keep for _, _, keep in dlq.sent)  # only a digest: no value in dead letters
    assert [reason for _, reason, _ in dlq.sent] == [
        "forged: unsigned",
        "forged: signature does not check for accounts",
        "forged: signature does not check for accounts",
        "forged: listings does not own topic accounts.events.v1",
        "forged: envelope's producer is not its signer retention",
        "forged: retention may not publish accounts.SessionStarted",
    ]
