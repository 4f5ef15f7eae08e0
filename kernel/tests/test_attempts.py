"""Attempt counters on the real PostgreSQL: counted before the work, atomically (issue 26)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from kernel.attempts import AttemptCounter, Limit

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIVE = Limit(5, timedelta(minutes=15))


@pytest.fixture
async def counter(pool: asyncpg.Pool) -> AttemptCounter:
    """A counter in a schema of its own."""
    schema = f"attempts_{os.urandom(5).hex()}"
    await pool.execute(f"CREATE SCHEMA {schema}")
    c = AttemptCounter(schema)
    await pool.execute(c.ddl())
    return c


async def test_a_hundred_parallel_takes_let_exactly_the_ceiling_through(
    counter: AttemptCounter, pool: asyncpg.Pool,
) -> None:
    account, address = os.urandom(16), os.urandom(16)
    keys = [(account, FIVE), (address, Limit(50, timedelta(minutes=15)))]
    taken = await asyncio.gather(*(counter.take(pool, keys, NOW) for _ in range(100)))
    assert sum(t.allowed for t in taken) == 5
    assert {t.retry_after for t in taken if not t.allowed} == {15 * 60}
    # Refused attempts are not left counted under the address that allowed them.
    assert await pool.fetchval(f"SELECT count FROM {counter.table} WHERE key = $1",
                               address) == 5


async def test_a_refund_reopens_one_slot_and_the_window_ends(
    counter: AttemptCounter, pool: asyncpg.Pool,
) -> None:
    key = os.urandom(16)
    taken = [await counter.take(pool, [(key, FIVE)], NOW) for _ in range(6)]
    assert [t.allowed for t in taken] == [True] * 5 + [False]
    await counter.refund(pool, taken[0])
    assert (await counter.take(pool, [(key, FIVE)], NOW)).allowed
    assert not (await counter.take(pool, [(key, FIVE)], NOW)).allowed
    later = NOW + timedelta(minutes=15)
    assert (await counter.take(pool, [(key, FIVE)], later)).allowed
    # A refund from the old window does not give back an attempt of the new one.
    await counter.refund(pool, taken[1])
    assert await pool.fetchval(f"SELECT count FROM {counter.table} WHERE key = $1", key) == 1


async def test_clear_forgets_a_key_and_expired_keys_are_purged(
    counter: AttemptCounter, pool: asyncpg.Pool,
) -> None:
    old, key = os.urandom(16), os.urandom(16)
    for _ in range(5):
        await counter.take(pool, [(key, FIVE)], NOW)
    await counter.clear(pool, key)
    assert (await counter.take(pool, [(key, FIVE)], NOW)).allowed
    await counter.take(pool, [(old, FIVE)], NOW)
    await counter.take(pool, [(key, FIVE)], NOW + timedelta(hours=1))
    assert await pool.fetchval(f"SELECT count(*) FROM {counter.table} WHERE key = $1",
                               old) == 0
