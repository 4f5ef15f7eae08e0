"""Every byte the embedded stack holds at rest, to search for a member's personal values.

Used by the tests (SEC-1, PRV-5, RET-5) and the chaos soak alike: every row of every table
of both databases (bytea columns also as raw bytes) and the key, value and headers of every
record of every topic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from kernel.kafkameta import topic_partitions


async def dump_postgres(dsn: Callable[[str], str]) -> bytes:
    """Every row of every table of both databases, as text (bytea also as raw bytes).

    Args:
        dsn: The connection string of a database, given its name.
    """
    chunks: list[bytes] = []
    for database in ("marketplace", "keystore"):
        conn = await asyncpg.connect(dsn(database))
        try:
            tables = await conn.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema')")
            for t in tables:
                name = f'"{t["table_schema"]}"."{t["table_name"]}"'
                rows = await conn.fetch(f"SELECT t::text AS row FROM {name} t")
                chunks.extend(r["row"].encode() for r in rows)
                for col in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 "
                    "AND table_name = $2 AND data_type = 'bytea'",
                    t["table_schema"], t["table_name"]):
                    raw = await conn.fetch(
                        f'SELECT "{col["column_name"]}" AS v FROM {name}')
                    chunks.extend(bytes(r["v"]) for r in raw if r["v"] is not None)
        finally:
            await conn.close()
    return b"\n".join(chunks)


async def dump_kafka(bootstrap: str) -> bytes:
    """Key, value and headers of every record of every topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    chunks: list[bytes] = []
    try:
        parts = [TopicPartition(t, p) for t, ps in (await topic_partitions(consumer)).items()
                 for p in ps]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        left = {tp for tp in parts if ends[tp] > 0}
        while left:
            got = await consumer.getmany(*left, timeout_ms=1000, max_records=10_000)
            for recs in got.values():
                for r in recs:
                    chunks.extend([r.key or b"", r.value or b"",
                                   *(v for _, v in r.headers or ())])
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()
    return b"\n".join(chunks)


def found_in(blob: bytes, values: Iterable[str]) -> list[str]:
    """The values that occur in ``blob``, as text or hex, in any case."""
    lower = blob.lower()
    return [value for value in values
            if value.encode().lower() in lower or value.encode().hex().encode() in lower]
