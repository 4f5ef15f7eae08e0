"""Outbound messages pass the guard when sent, not when queued; failures are retried (CNS-7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from devstack.testing import unique
from kernel.crypto import BlindIndex
from kernel.eventstore import EventStore
from kernel.guard import ContactGuard, guard_ddl
from kernel.keystore import InMemoryKeyStore
from kernel.outbound import Dispatcher, Message, outbound_ddl, queue_message
from kernel.unsubscribe import read_unsubscribe_token

pytestmark = pytest.mark.integration


@dataclass
class Recorder:
    """A sender that fails while ``failing`` and records what it sends."""

    failing: bool = False
    sent: list[Message] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        if self.failing:
            raise ConnectionError("provider away")
        self.sent.append(message)


@dataclass
class Bench:
    pool: asyncpg.Pool
    schema: str
    keys: InMemoryKeyStore
    sender: Recorder
    dispatcher: Dispatcher


@pytest.fixture
async def bench(pool: asyncpg.Pool, index: BlindIndex) -> AsyncIterator[Bench]:
    schema = unique("out").replace("-", "_")
    keys = InMemoryKeyStore()
    store = EventStore(schema, keys)
    async with pool.acquire() as conn:
        await store.migrate(conn)
        await conn.execute(guard_ddl(schema))
        await conn.execute(outbound_ddl(schema))
    sender = Recorder()
    yield Bench(pool, schema, keys, sender, Dispatcher(
        pool, schema, keys, ContactGuard(pool, store), sender, index, "http://gw"))
    async with pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def _catalogue(b: Bench) -> None:
    async with b.pool.acquire() as conn:
        await conn.executemany(
            f"INSERT INTO {b.schema}.guard_purposes VALUES ($1, $2, $3, $4, $5, 1)",
            [("marketing_email", "consent", ["email"], "special_offers", True),
             ("service_messages", "contract", ["email"], "service_messages", False)])


async def _queue(b: Bench, subject: str, purpose: str) -> Any:
    async with b.pool.acquire() as conn:
        return await queue_message(conn, b.schema, b.keys, subject, purpose, "email",
                                   "x@example.test", "Hello", "Body")


async def _status(b: Bench, task: Any) -> tuple[str, str | None]:
    async with b.pool.acquire() as conn:
        row = await conn.fetchrow(f"SELECT status, reason FROM {b.schema}.comm_outbox "
                                  "WHERE task_id = $1", task)
    return row["status"], row["reason"]


async def test_cns_7_deferred_until_the_guard_knows_the_catalogue_and_while_the_sender_fails(
    bench: Bench,
) -> None:
    task = await _queue(bench, "m1", "service_messages")
    assert (await bench.dispatcher.run_once())["deferred"] == 1
    assert await _status(bench, task) == ("queued", "catalogue_not_yet_known")
    await _catalogue(bench)
    async with bench.pool.acquire() as conn:
        await conn.execute(f"UPDATE {bench.schema}.comm_outbox SET send_after = now()")
    bench.sender.failing = True
    assert (await bench.dispatcher.run_once())["deferred"] == 1
    assert await _status(bench, task) == ("queued", "sender_failed")
    bench.sender.failing = False
    async with bench.pool.acquire() as conn:
        await conn.execute(f"UPDATE {bench.schema}.comm_outbox SET send_after = now()")
    assert (await bench.dispatcher.run_once())["sent"] == 1
    assert await _status(bench, task) == ("sent", None)
    [message] = bench.sender.sent
    assert (message.to, message.body) == ("x@example.test", "Body")  # no link: transactional


async def test_cns_7_cns_4_marketing_needs_consent_at_send_time_and_carries_its_link(
    bench: Bench, index: BlindIndex,
) -> None:
    await _catalogue(bench)
    refused = await _queue(bench, "m2", "marketing_email")
    await bench.dispatcher.run_once()
    assert await _status(bench, refused) == ("refused", "not_granted")
    async with bench.pool.acquire() as conn:
        await conn.execute(f"INSERT INTO {bench.schema}.guard_consents VALUES "
                           "('m2', 'marketing_email', true, 1, 1)")
    sent = await _queue(bench, "m2", "marketing_email")
    await bench.dispatcher.run_once()
    assert await _status(bench, sent) == ("sent", None)
    [message] = bench.sender.sent
    token = message.body.rsplit("/v1/unsubscribe/", 1)[1].strip()
    assert read_unsubscribe_token(index, token) == ("m2", "marketing_email")
