"""Reads every ``*.events.v1`` topic from its beginning up to the current high-water mark."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

EVENTS_SUFFIX = ".events.v1"


async def read_event_topics(
    bootstrap: str, progress: Callable[[str], None] = lambda _: None,
    count: Callable[[int, int | None], None] = lambda _done, _total: None,
    share: tuple[int, int] = (0, 1),
) -> list[tuple[str, bytes | None]]:
    """Every record of every event topic as ``(topic, value)``, partition by partition.

    Uses no consumer group (nothing is committed) and stops at the high-water marks
    taken at the start, so a live stack can be replayed while it keeps writing. ``count``
    is told the records read so far and, once every partition's end is known, how many
    there are in all. ``share`` ``(i, n)`` reads only the i-th of every n partitions (in
    topic and partition order), for n processes reading the log in parallel.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", client_id="marketplace-audit",
        fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_wait_ms=50,
    )
    try:
        await consumer.start()
        topics = sorted(t for t in await consumer.topics() if t.endswith(EVENTS_SUFFIX))
        parts = [TopicPartition(t, p) for t in topics
                 for p in sorted(consumer.partitions_for_topic(t) or ())]
        parts = parts[share[0]::share[1]]
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        progress(f"reading {len(topics)} topic(s), {len(parts)} partition(s)")
        try:
            begins: dict[TopicPartition, int] = await consumer.beginning_offsets(parts)
        except Exception:  # a Kafka-API broker may not answer it: count from zero
            begins = {}
        # The end of each partition is its high-water mark as fetch responses report it:
        # a Kafka-API broker's ListOffsets answer (end_offsets) can be too low after
        # batched produce requests (tansu does this), which would cut the log short.
        ends: dict[TopicPartition, int] = {}
        left = set(parts)
        out: list[tuple[str, bytes | None]] = []
        idle_polls = 0
        while left:
            got = await consumer.getmany(*left, timeout_ms=500, max_records=20_000)
            for tp, recs in got.items():
                if tp not in ends and consumer.highwater(tp) is not None:
                    ends[tp] = consumer.highwater(tp)
                end = ends.get(tp)
                out.extend((tp.topic, r.value) for r in recs if end is None or r.offset < end)
            idle_polls = 0 if got else idle_polls + 1
            for tp in list(left):
                high = ends.get(tp, consumer.highwater(tp))
                if high is not None:
                    ends.setdefault(tp, high)
                    if await consumer.position(tp) >= ends[tp]:
                        left.discard(tp)
            if idle_polls >= 6:  # 3 s with nothing to fetch: the rest is empty
                break
            known = len(ends) == len(parts)
            count(len(out), sum(ends[tp] - begins.get(tp, 0) for tp in parts) if known
                  else None)
        return out
    finally:
        await consumer.stop()
