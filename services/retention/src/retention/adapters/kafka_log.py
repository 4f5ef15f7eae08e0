"""Reads every ``*.events.v1`` topic from its beginning up to the current high-water mark.

The auditor reads the whole log once and needs only each record's value, so the read is
plain Kafka fetch requests over aiokafka's client (no consumer group, no per-record
``ConsumerRecord``): record batches are checked against their CRC and their values taken
as they are. On 100,000 envelopes this reads in about half the time of ``getmany``
(``make bench ARGS=audit_replay``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import CorruptRecordException, KafkaError, for_code
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.record.memory_records import MemoryRecords

from kernel.settings import kafka_client_options

EVENTS_SUFFIX = ".events.v1"

_EARLIEST = -2
_MAX_WAIT_MS = 50
_PARTITION_BYTES = 16 * 1024 * 1024
_FETCH_BYTES = 64 * 1024 * 1024
_RETRIES = 5
_IDLE_ROUNDS = 60
"""Rounds in a row that fetch nothing (~3 s at the fetch's wait) before the rest is taken
for empty: a high-water mark past the last record a broker serves must not hang a read."""
_RETRIABLE = {3, 5, 6, 7, 9, 13, 14, 15}  # unknown partition, leader moves, timeouts


async def read_event_topics(
    bootstrap: str, progress: Callable[[str], None] = lambda _: None,
    count: Callable[[int, int | None], None] = lambda _done, _total: None,
    share: tuple[int, int] = (0, 1), keys: set[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[tuple[str, bytes | None]]:
    """Every record of every event topic as ``(topic, value)``, partition by partition.

    Commits nothing and stops at the high-water marks the first fetch of each partition
    reports, so a live stack can be replayed while it keeps writing. (A Kafka-API
    broker's ListOffsets answer for the end can be too low after batched produce
    requests, tansu does this, which would cut the log short; the fetch's high-water
    mark is right.) ``count`` is told the records read so far and, once every
    partition's end is known, how many there are in all. ``share`` ``(i, n)`` reads only
    the i-th of every n partitions (in topic and partition order), for n processes
    reading the log in parallel. ``keys``, when given, gets every record's key (the
    platform keys each record by its data subject, else by its stream). ``warn`` (by
    default ``progress``) is told when the read ends short of a high-water mark.

    Raises:
        KafkaError: the broker is unreachable or keeps refusing a fetch.
        CorruptRecordException: a record batch fails its CRC.
    """
    client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="marketplace-audit",
                            **kafka_client_options())
    try:
        await client.bootstrap()
        cluster = await client.fetch_all_metadata()
        topics = sorted(t for t in cluster.topics() if t.endswith(EVENTS_SUFFIX))
        parts = [(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
        parts = parts[share[0]::share[1]]
        if not parts:
            return []
        # The client's own metadata (the leaders every fetch goes to) must track them: on
        # Kafka it holds no topic until asked (a broker that answered the bootstrap with
        # every topic hid this).
        for topic in {t for t, _ in parts}:
            client.add_topic(topic)
        await client.force_metadata_update()
        progress(f"reading {len(topics)} topic(s), {len(parts)} partition(s)")
        reader = _Reader(client, parts, keys)
        out = await reader.read(count)
        if reader.left:  # said, never silent: the read is shorter than the log claims
            (warn or progress)(
                f"warning: the broker served no record for {reader.missing()} offset(s) "
                f"below the high-water marks of {len(reader.left)} partition(s); the read "
                "ends before them")
        return out
    finally:
        await client.close()


class _Reader:
    """The fetch loop: each partition's position, end and the values read so far."""

    def __init__(self, client: Any, parts: list[tuple[str, int]],
                 keys: set[str] | None = None) -> None:
        self.client = client
        self.keys = keys
        self.parts = parts
        self.left = set(parts)
        self.begins: dict[tuple[str, int], int] = {}
        self.pos: dict[tuple[str, int], int] = {}
        self.ends: dict[tuple[str, int], int] = {}
        self.out: list[tuple[str, bytes | None]] = []
        self.failures = 0

    async def read(self, count: Callable[[int, int | None], None],
                   ) -> list[tuple[str, bytes | None]]:
        """Every record from each partition's first offset to its end, as ``(topic, value)``."""
        await self.start()
        idle = 0
        while self.left and idle < _IDLE_ROUNDS:
            before = dict(self.pos)
            await self.round()
            idle = 0 if self.pos != before else idle + 1
            count(len(self.out), self.total())
        return self.out

    async def start(self) -> None:
        """Each partition's first offset (records before it were deleted by retention)."""
        for node, by_topic in self._by_leader(self.parts, lambda _tp: (_EARLIEST,)).items():
            resp = await self.client.send(node, OffsetRequest(-1, 0, by_topic))
            for topic, partitions in resp.topics:
                for partition, error, *info in partitions:
                    if error:
                        raise for_code(error)(f"list offsets of {topic}/{partition}")
                    # v0 answers a list of offsets; v1+ a timestamp and the offset
                    first = info[1] if len(info) > 1 else (info[0][0] if info[0] else 0)
                    self.begins[(topic, partition)] = self.pos[(topic, partition)] = first

    def missing(self) -> int:
        """Offsets below the high-water marks that the read did not reach."""
        return sum(self.ends.get(tp, self.pos[tp]) - self.pos[tp] for tp in self.left)

    def total(self) -> int | None:
        """How many records the read holds in all, once every partition's end is known."""
        if len(self.ends) < len(self.parts):
            return None
        return sum(self.ends[tp] - self.begins[tp] for tp in self.parts)

    async def round(self) -> None:
        """One fetch per leader for every partition not yet read to its end."""
        pending = [tp for tp in self.parts if tp in self.left]
        by_leader = self._by_leader(pending, lambda tp: (self.pos[tp], _PARTITION_BYTES))
        answers = await asyncio.gather(*(
            self.client.send(node, FetchRequest(_MAX_WAIT_MS, 1, _FETCH_BYTES, 0, by_topic))
            for node, by_topic in by_leader.items()))
        retry = False
        for resp in answers:
            for topic, partitions in resp.topics:
                for partition, error, high, *rest in partitions:
                    if error in _RETRIABLE:
                        retry = True
                        continue
                    if error:
                        raise for_code(error)(f"fetch {topic}/{partition}")
                    self._take((topic, partition), high, rest[-1])
        if retry:
            self.failures += 1
            if self.failures > _RETRIES:
                raise KafkaError("the broker keeps refusing fetches (leaders moving?)")
            await self.client.force_metadata_update()
            await asyncio.sleep(0.1 * self.failures)

    def _take(self, tp: tuple[str, int], high: int, data: bytes | None) -> None:
        end = self.ends.setdefault(tp, high)
        nxt = self.pos[tp]
        out = self.out
        topic = tp[0]
        records = MemoryRecords(data) if data else None
        # has_next() is false for a batch cut at the response's size limit: fetched next
        while records is not None and records.has_next():
            batch = records.next_batch()
            if not batch.validate_crc():
                raise CorruptRecordException(f"invalid CRC in {topic}/{tp[1]}")
            if not batch.is_control_batch:
                taken = [r for r in batch if nxt <= r.offset < end]
                out.extend((topic, r.value) for r in taken)
                if self.keys is not None:
                    self.keys.update(r.key.decode(errors="replace") for r in taken if r.key)
            nxt = max(nxt, batch.next_offset)
        self.pos[tp] = nxt
        if nxt >= end:
            self.left.discard(tp)

    def _by_leader(self, parts: list[tuple[str, int]],
                   spec: Callable[[tuple[str, int]], tuple[int, ...]],
                   ) -> dict[int, list[tuple[str, list[tuple[int, ...]]]]]:
        """Per leader, each topic's partitions with what the request asks of each."""
        by: dict[int, dict[str, list[tuple[int, ...]]]] = {}
        cluster = self.client.cluster
        for tp in parts:
            node = cluster.leader_for_partition(TopicPartition(*tp))
            if node is None or node < 0:
                raise KafkaError(f"no leader for {tp[0]}/{tp[1]}")
            by.setdefault(node, {}).setdefault(tp[0], []).append((tp[1], *spec(tp)))
        return {node: list(topics.items()) for node, topics in by.items()}
