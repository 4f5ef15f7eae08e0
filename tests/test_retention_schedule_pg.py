"""The schedule's sweep against the real PostgreSQL (RET-2, RET-3, RET-4, RET-7).

Rows go in through the subject projection's own batched upsert, holds as the hold adapter
stores them; the sweep reads both set-based and decides per (subject, category).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from contracts.privacy import ERASURE_SERVICES
from devstack.pytest_plugin import Infra
from kernel.codec import key_scope
from kernel.eventstore import EventStore
from kernel.guard import guard_ddl
from kernel.keystore import InMemoryKeyStore
from retention.adapters import lifecycle
from retention.adapters.register import load_register
from retention.adapters.requests import RequestRepository
from retention.adapters.schema import migrate
from retention.adapters.subjects import SubjectProjection
from retention.domain.schedule import Decision
from retention.domain.subjects import Holding
from retention.service_layer.schedule import loop, run, sweep

T0 = datetime(2091, 1, 1, tzinfo=UTC)
REGISTER = load_register()


async def _run(infra: Infra, subjects: list[str], hold_on: str | None,
               now: datetime, consented: frozenset[str] = frozenset(),
               ) -> dict[str, list[Decision]]:
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS retention")  # as the event store does
        await migrate(conn)
        rows = [Holding(s, c, svc, T0, T0, 3) for s in subjects
                for c, svc in (("location", "accounts"), ("device", "accounts"),
                               ("usage", "listings"), ("listings", "listings"))]
        await SubjectProjection().upsert(conn, rows)
        if hold_on is not None:
            await conn.execute(
                "INSERT INTO retention.legal_holds (hold_id, subject_id, category, reason, "
                "authority, case_reference, placed_by, placed_at) "
                "VALUES ($1, $2, $3, 'court order', 'court', 'C-1', 'dpo', $4)",
                f"hold-{subjects[0]}", subjects[0], hold_on, T0)
        decided = await sweep(conn, REGISTER, now,
                              {s: consented for s in subjects})
        out: dict[str, list[Decision]] = {s: [] for s in subjects}
        for subject, d in decided:
            if subject in out:
                out[subject].append(d)
        return out
    finally:
        await conn.close()


def ids(n: int) -> list[str]:
    """Fresh subject ids."""
    return [f"sched-{uuid.uuid4()}" for _ in range(n)]


@asynccontextmanager
async def scheduling(infra: Infra) -> AsyncIterator[tuple[asyncpg.Connection, EventStore]]:
    """A connection with retention's tables, and an event store of its own for the orders."""
    conn = await asyncpg.connect(infra.pg_dsn())
    store = EventStore(f"orders_{uuid.uuid4().hex[:8]}", InMemoryKeyStore())
    try:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS retention")
        await migrate(conn)
        await store.migrate(conn)
        yield conn, store
    finally:
        await conn.close()


async def hold(conn: asyncpg.Connection, subject: str, category: str | None,
               case: str) -> None:
    """A legal hold on ``subject`` (one ``category``, or all), as the hold adapter stores it."""
    await conn.execute(
        "INSERT INTO retention.legal_holds (hold_id, subject_id, category, reason, "
        "authority, case_reference, placed_by, placed_at) "
        "VALUES ($1, $2, $3, 'court order', 'court', $4, 'dpo', $5)",
        f"hold-{subject}", subject, category, case, T0)


@pytest.mark.integration
def test_ret2_ret7_moving_the_clock_past_a_period_ends_exactly_that_category(
        infra: Infra) -> None:
    """RET-2, RET-7: day 30 ends location only; day 90 adds device; listings stay."""
    subjects = ids(3)
    early = asyncio.run(_run(infra, subjects, None, T0 + timedelta(days=29)))
    assert all(d == [] for d in early.values())
    month = asyncio.run(_run(infra, subjects, None, T0 + timedelta(days=30)))
    assert {s: [(d.category, d.action) for d in ds] for s, ds in month.items()} == {
        s: [("location", "erase")] for s in subjects}
    later = asyncio.run(_run(infra, subjects, None, T0 + timedelta(days=90)))
    assert [d.category for d in later[subjects[0]]] == ["device", "location"]


@pytest.mark.integration
def test_ret3_consented_longer_period_is_honoured(infra: Infra) -> None:
    """RET-3: usage pseudonymised at 180 days, kept when its purpose was consented."""
    now = T0 + timedelta(days=200)
    plain = asyncio.run(_run(infra, ids(1), None, now))
    assert ("usage", "pseudonymise") in [(d.category, d.action)
                                         for ds in plain.values() for d in ds]
    purpose = frozenset({REGISTER.entry("usage").purposes[0]})
    kept = asyncio.run(_run(infra, ids(1), None, now, purpose))
    assert "usage" not in [d.category for ds in kept.values() for d in ds]


@pytest.mark.integration
def test_ret4_hold_on_a_category_keeps_only_it(infra: Infra) -> None:
    """RET-4: a held category is decided ``held`` with the hold named; the others go."""
    subject = ids(1)
    got = asyncio.run(_run(infra, subject, "location", T0 + timedelta(days=90)))
    assert [(d.category, d.action, d.hold_id) for d in got[subject[0]]] == [
        ("device", "erase", None), ("location", "held", f"hold-{subject[0]}")]


@pytest.mark.integration
def test_ret2_run_destroys_the_ended_category_keys_and_notes_each_action(
        infra: Infra) -> None:
    """RET-2, RET-4, RET-7: the ended month's call-tracking key goes; device's stays; noted once.

    The keys are the kernel's in-memory fake (its PostgreSQL ``expire`` is the kernel's
    own test); the action table is the real one.
    """

    async def go() -> None:
        keys = InMemoryKeyStore()
        subject, held_subject = ids(2)
        await keys.keys_for_writing([subject], {
            subject: [key_scope("call_tracking", T0), key_scope("device", T0)]})
        conn = await asyncpg.connect(infra.pg_dsn())
        try:
            await conn.execute("CREATE SCHEMA IF NOT EXISTS retention")
            await migrate(conn)
            await SubjectProjection().upsert(conn, [
                Holding(s, c, "accounts", T0, T0, 1)
                for s in (subject, held_subject) for c in ("call_tracking", "device")])
            await conn.execute(
                "INSERT INTO retention.legal_holds (hold_id, subject_id, category, reason, "
                "authority, case_reference, placed_by, placed_at) "
                "VALUES ($1, $2, 'device', 'court order', 'court', 'C-2', 'dpo', $3)",
                f"hold-{held_subject}", held_subject, T0)
            now = T0 + timedelta(days=95)
            taken = {(s, d.category, d.action) for s, d in
                     await run(conn, keys, REGISTER, now) if s in (subject, held_subject)}
            assert taken == {(subject, "call_tracking", "erase"),
                             (held_subject, "call_tracking", "erase"),
                             (held_subject, "device", "held")}
            live = (await keys.keys_for_reading([subject]))[subject]
            assert live is not None
            assert key_scope("call_tracking", T0) not in live.scoped
            assert key_scope("device", T0) in live.scoped
            again = [x for x in await run(conn, keys, REGISTER, now)
                     if x[0] in (subject, held_subject)]
            assert [(s, d.category, d.action) for s, d in again] == [
                (held_subject, "device", "held")]
        finally:
            await conn.close()

    asyncio.run(go())


@pytest.mark.integration
def test_ret2_scheduled_sweep_follows_a_moved_clock(infra: Infra) -> None:
    """RET-2, RET-7: the loop the service runs sweeps on its clock; moving it past the
    period makes the next round note the category (nothing before)."""

    async def go() -> None:
        subject = ids(1)[0]
        pool = await asyncpg.create_pool(infra.pg_dsn(), min_size=1, max_size=2)
        assert pool is not None
        try:
            async with pool.acquire() as conn:
                await conn.execute("CREATE SCHEMA IF NOT EXISTS retention")
                await migrate(conn)
                await SubjectProjection().upsert(
                    conn, [Holding(subject, "applications", "listings", T0, T0, 1)])
            moved = [T0 + timedelta(days=179)]
            stop = asyncio.Event()
            task = asyncio.create_task(loop(pool, InMemoryKeyStore(), REGISTER, 0.1,
                                            lambda: moved[0], stop.is_set))

            async def noted() -> str | None:
                v: str | None = await pool.fetchval(
                    "SELECT action FROM retention.schedule_actions WHERE subject_id = $1 "
                    "AND category = 'applications'", subject)
                return v

            await asyncio.sleep(0.5)
            assert await noted() is None
            moved[0] = T0 + timedelta(days=181)
            for _ in range(100):
                if await noted() is not None:
                    break
                await asyncio.sleep(0.1)
            assert await noted() == "erase"
            stop.set()
            await asyncio.wait_for(task, 5)
        finally:
            await pool.close()

    asyncio.run(go())


@pytest.mark.integration
def test_ret3_live_sweep_reads_the_members_consents(infra: Infra) -> None:
    """RET-3: the running service's sweep (no consents passed in) honours a longer period
    the member consented to, as the consent ledger's projection holds it, and drops it
    once the member withdraws."""

    async def go() -> None:
        kept, plain = ids(2)
        purpose = REGISTER.entry("usage").purposes[0]
        conn = await asyncpg.connect(infra.pg_dsn())
        try:
            await conn.execute("CREATE SCHEMA IF NOT EXISTS retention")
            await migrate(conn)
            await conn.execute(guard_ddl("retention"))  # as the service host migrates it
            await SubjectProjection().upsert(
                conn, [Holding(s, "usage", "listings", T0, T0, 1) for s in (kept, plain)])
            await conn.execute(
                "INSERT INTO retention.guard_consents "
                "(subject_id, purpose, granted, statement_version, position) "
                "VALUES ($1, $2, true, 1, 1), ($3, $2, false, 1, 2)", kept, purpose, plain)
            now = T0 + timedelta(days=200)

            async def due_now() -> set[str]:
                return {s for s, d in await sweep(conn, REGISTER, now)
                        if s in (kept, plain) and d.category == "usage"}

            assert await due_now() == {plain}
            await conn.execute("UPDATE retention.guard_consents SET granted = false "
                               "WHERE subject_id = $1", kept)
            assert await due_now() == {kept, plain}
        finally:
            await conn.close()

    asyncio.run(go())


@pytest.mark.integration
def test_ret2_run_orders_every_service_to_end_the_categories_it_took(infra: Infra) -> None:
    """RET-2, RET-6: each decision carried out becomes one order in the store, with the
    decisions in one transaction; a held category is ordered nowhere (RET-4)."""

    async def go() -> None:
        subject, held_subject = ids(2)
        async with scheduling(infra) as (conn, store):
            await SubjectProjection().upsert(conn, [
                Holding(s, "usage", "listings", T0, T0, 1) for s in (subject, held_subject)])
            await hold(conn, held_subject, "usage", "C-3")
            now = T0 + timedelta(days=181)
            await run(conn, InMemoryKeyStore(), REGISTER, now, consented={}, store=store)
            events = await store.read_all(conn)
            orders = [o for o in (orjson.loads(e.payload) for e in events)
                      if o["subject_id"] in (subject, held_subject)]  # others of this DB too
            assert [(o["subject_id"], o["category"], o["action"]) for o in orders] == [
                (subject, "usage", "pseudonymise")]
            assert orders[0]["services"] == list(ERASURE_SERVICES)
            assert datetime.fromisoformat(orders[0]["recorded_before"]) == now - timedelta(
                days=180)
            assert await conn.fetchval(f"SELECT count(*) FROM {store.schema}.outbox") == len(
                events)

    asyncio.run(go())


@pytest.mark.integration
def test_ret2_a_category_keeps_ending_as_later_values_reach_their_period(
        infra: Infra) -> None:
    """RET-2, RET-7: ending a category ends the values recorded before the period; values
    recorded later end when their own period is over (a day late at most), and once the
    last one has gone nothing more is ordered."""

    async def go() -> None:
        subject = ids(1)[0]
        async with scheduling(infra) as (conn, store):
            await SubjectProjection().upsert(conn, [
                Holding(subject, "usage", "listings", T0, T0 + timedelta(days=100), 2)])

            async def ended_at(days: int) -> list[str]:
                taken = await run(conn, InMemoryKeyStore(), REGISTER,
                                  T0 + timedelta(days=days), consented={}, store=store)
                return [d.action for s, d in taken if s == subject]

            assert await ended_at(181) == ["pseudonymise"]  # the first value's period
            assert await ended_at(181) == []  # done: no second order for it the same day
            assert await ended_at(182) == ["pseudonymise"]  # a day later: the next values
            assert await ended_at(281) == ["pseudonymise"]  # the last value's period
            assert await ended_at(400) == []  # nothing of the category is left
            mine = [o for o in (orjson.loads(e.payload) for e in await store.read_all(conn))
                    if o["subject_id"] == subject]
            assert len({o["order_id"] for o in mine}) == 3

    asyncio.run(go())


@pytest.mark.integration
def test_ret2_a_closed_accounts_identity_period_ends_in_its_erasure(infra: Infra) -> None:
    """RET-2, RET-7, PRV-5: identity and contact data count from the account's closure; when
    their period is over the subject is erased as a whole (a ``system`` erasure request),
    not by category orders; an open account's are never due."""

    async def go() -> None:
        closed, open_ = ids(2)
        async with scheduling(infra) as (conn, store):
            await SubjectProjection().upsert(conn, [
                Holding(s, c, "accounts", T0, T0, 1)
                for s in (closed, open_) for c in ("identity", "contact")])
            await lifecycle.closed(conn, [(closed, T0 + timedelta(days=10))])
            repo = RequestRepository(store)

            async def erasures(subject: str) -> list[asyncpg.Record]:
                return list(await conn.fetch(
                    "SELECT channel, status FROM retention.privacy_requests "
                    "WHERE subject_id = $1 AND type = 'erasure'", subject))

            await run(conn, InMemoryKeyStore(), REGISTER, T0 + timedelta(days=370),
                      consented={}, store=store, requests=repo)
            assert await erasures(closed) == []  # 365 days from the closure: not yet
            taken = await run(conn, InMemoryKeyStore(), REGISTER, T0 + timedelta(days=376),
                              consented={}, store=store, requests=repo)
            assert {(s, d.category) for s, d in taken if s in (closed, open_)} == {
                (closed, "identity"), (closed, "contact")}
            assert [(r["channel"], r["status"]) for r in await erasures(closed)] == [
                ("system", "in_progress")]
            assert await erasures(open_) == []
            orders = [o for o in (orjson.loads(e.payload) for e in await store.read_all(conn))
                      if o.get("subject_id") == closed and "category" in o]
            assert orders == []  # the erasure covers it, no category orders

    asyncio.run(go())


@pytest.mark.integration
def test_ret2_ret3_an_ended_category_loses_exactly_its_subjects_monthly_keys(
        infra: Infra) -> None:
    """RET-2, RET-3: usage values are sealed under per-subject monthly keys; when one
    member's usage period ends, that member's keys go (so the values read "erased" in the
    event stores, Kafka and backups), while a member who consented to a longer period
    keeps theirs."""

    async def go() -> None:
        ended, consenting = ids(2)
        keys = InMemoryKeyStore()
        await keys.keys_for_writing([ended, consenting], {
            s: [key_scope("usage", T0)] for s in (ended, consenting)})
        conn = await asyncpg.connect(infra.pg_dsn())
        try:
            await conn.execute("CREATE SCHEMA IF NOT EXISTS retention")
            await migrate(conn)
            await SubjectProjection().upsert(conn, [
                Holding(s, "usage", "listings", T0, T0, 1) for s in (ended, consenting)])
            purpose = REGISTER.entry("usage").purposes[0]
            await run(conn, keys, REGISTER, T0 + timedelta(days=181),
                      consented={consenting: frozenset({purpose})})
            left = await keys.keys_for_reading([ended, consenting],
                                               {s: [key_scope("usage", T0)]
                                                for s in (ended, consenting)})
            assert key_scope("usage", T0) not in left[ended].scoped  # type: ignore[union-attr]
            assert key_scope("usage", T0) in left[consenting].scoped  # type: ignore[union-attr]
        finally:
            await conn.close()

    asyncio.run(go())
