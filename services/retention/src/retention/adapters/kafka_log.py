"""Reads every ``*.events.v1`` topic from its beginning up to the current high-water mark."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

EVENTS_SUFFIX = ".events.v1"


async def read_event_topics(
    bootstrap: str, progress: Callable[[str], None] = lambda _: None,
) -> list[tuple[str, bytes | None]]:
    """Every record of every event topic as ``(topic, value)``, partition by partition.

    Uses no consumer group (nothing is committed) and stops at the high-water marks
    taken at the start, so a live stack can be replayed while it keeps writing.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", client_id="marketplace-audit",
        fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if t.endswith(EVENTS_SUFFIX))
        parts = [TopicPartition(t, p) for t in topics
                 for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        left = {tp for tp in parts if ends[tp] > starts[tp]}
        total = sum(ends[tp] - starts[tp] for tp in left)
        progress(f"reading {len(topics)} topic(s), {len(parts)} partition(s), ~{total} record(s)")
        out: list[tuple[str, bytes | None]] = []
        while left:
            got = await consumer.getmany(*left, timeout_ms=1000, max_records=20_000)
            for tp, recs in got.items():
                out.extend((tp.topic, r.value) for r in recs if r.offset < ends[tp])
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
            progress(f"read {len(out)} record(s)")
        return out
    finally:
        await consumer.stop()
