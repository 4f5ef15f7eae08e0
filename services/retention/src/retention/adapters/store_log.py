"""Reads every service's event store (the source of truth) as the envelopes it publishes.

The auditors' second source beside the Kafka log: when the broker has lost its data
(a broker whose data was lost) the history is replayed from here, and ``verify``
compares each stream's head in both places, so events cut from the end of a stream in
one of them are found.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from kernel.relay import envelope_value_sql


async def read_event_stores(
    dsn: str, progress: Callable[[str], None] = lambda _: None,
    share: tuple[int, int] = (0, 1), subjects: set[str] | None = None,
    with_pending: bool = True,
) -> tuple[list[tuple[str, bytes]], set[str]]:
    """Every stored event of every service as ``(service, envelope bytes)``, in order, and
    the ids of those still waiting in an outbox (not published yet, so not in the log).

    PostgreSQL builds each envelope as the relay publishes it (``envelope_value_sql``), so
    this side only reads bytes.

    Args:
        dsn: The platform database (one schema per service, each with ``events``).
        progress: Told how far the reading is.
        share: ``(i, n)``: only the streams whose id hashes to ``i`` of ``n`` (each stream
            whole in one share), for n processes reading the stores in parallel.
        subjects: Filled with the data subjects of the events read, when given.
        with_pending: Whether to read the outbox's pending ids (only ``verify`` needs
            them; a replay's shares leave them out).
    """
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        schemas = [r["table_schema"] for r in await conn.fetch(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'events' AND table_type = 'BASE TABLE' ORDER BY 1")]
        out: list[tuple[str, bytes]] = []
        pending: set[str] = set()
        index, count = share
        only = "" if count == 1 else \
            f"WHERE (hashtext(e.stream_id) & 2147483647) % {int(count)} = {int(index)} "
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            for schema in schemas:
                if not schema.isidentifier():
                    continue
                if with_pending:
                    pending.update(str(r["event_id"]) for r in await conn.fetch(
                        f"SELECT e.event_id FROM {schema}.outbox o "
                        f"JOIN {schema}.events e USING (position)"))
                cursor = conn.cursor(
                    f"SELECT {envelope_value_sql(schema)} AS value, e.subject_id "
                    f"FROM {schema}.events e "
                    f"{only}ORDER BY e.position", prefetch=20_000)
                async for row in cursor:
                    out.append((schema, row[0]))
                    if subjects is not None and row[1] is not None:
                        subjects.add(row[1])
                progress(f"read {len(out)} stored event(s) through {schema}")
        return out, pending
    finally:
        await conn.close()


async def stored_hashes(
    dsn: str, wanted: list[tuple[str, str, int]],
) -> dict[tuple[str, str, int], str]:
    """The stored hash (hex) of each ``(service, stream, version)`` that exists now."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        found: dict[tuple[str, str, int], str] = {}
        stores = {r["s"] for r in await conn.fetch(
            "SELECT table_schema AS s FROM information_schema.tables "
            "WHERE table_name = 'events' AND table_type = 'BASE TABLE'")}
        for schema, stream, version in wanted:
            if not schema.isidentifier() or schema not in stores:
                continue  # a producer with a topic but no event store here: nothing stored
            digest = await conn.fetchval(
                f"SELECT hash FROM {schema}.events WHERE stream_id = $1 AND version = $2",
                stream, version)
            if digest is not None:
                found[(schema, stream, version)] = bytes(digest).hex()
        return found
    finally:
        await conn.close()
