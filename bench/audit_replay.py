"""Audit replay with decryption and hash-chain verification (TARGETS: >= 100k events/s).

Fills the log through the running platform (see ``bench.pipeline``), waits until it is all
on Kafka, then times ``marketplace-audit replay --state-only`` end to end: reading every
event topic, verifying every chain, fetching keys and decrypting every personal field.
Beside it, in the same run: the raw aiokafka consume rate of the same topics (every record
read to the high-water mark, nothing parsed), and where the replay's time goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import median, private_stack, report, settle, store_of
from bench.pipeline import fill, processed
from kernel.settings import KafkaSettings
from retention import audit
from retention.adapters.kafka_log import EVENTS_SUFFIX, read_event_topics
from retention.audit_parallel import default_workers
from retention.bootstrap import load_contracts
from retention.service_layer.replay import reconstruct

WORKERS = int(os.environ.get("AUDIT_WORKERS", str(default_workers())))
"""Processes the replay reads the log's partitions with (``replay --workers``; by
default what the command uses on this machine)."""


async def prepare() -> int:
    async with store_of("accounts") as (pool, store):
        n = await fill(pool, store)
        while await processed(pool) < n:
            await asyncio.sleep(0.2)
        return int(await pool.fetchval("SELECT count(*) FROM accounts.events"))


def timed_replay(source: str = "kafka") -> float:
    start = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(io.StringIO()):
        code = audit.replay_command(None, None, False, source, WORKERS)
    if code != 0:
        raise SystemExit(f"replay exited {code}")
    return time.perf_counter() - start


async def raw_consume() -> tuple[int, float]:
    """Every record of every event topic read with aiokafka's consumer (``getmany``, no
    group), nothing parsed: the client library's own rate, the reference."""
    start = time.perf_counter()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=KafkaSettings().bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        topics = [t for t in await consumer.topics() if t.endswith(EVENTS_SUFFIX)]
        parts = [TopicPartition(t, p) for t in topics
                 for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends: dict[TopicPartition, int] = {}
        left, n, idle = set(parts), 0, 0
        while left and idle < 6:
            got = await consumer.getmany(*left, timeout_ms=500, max_records=20_000)
            n += sum(len(recs) for recs in got.values())
            idle = 0 if got else idle + 1
            for tp in list(left):  # the end as the first fetch reports it (tansu)
                high = consumer.highwater(tp)
                if high is not None and await consumer.position(tp) >= ends.setdefault(tp, high):
                    left.discard(tp)
    finally:
        await consumer.stop()
    return n, time.perf_counter() - start


async def lean_read() -> tuple[int, float]:
    """The replay's own read: plain fetch requests, values only (no parsing)."""
    start = time.perf_counter()
    records = await read_event_topics(KafkaSettings().bootstrap)
    return len(records), time.perf_counter() - start


async def phases() -> dict[str, float]:
    """Seconds of each step of one replay: read, parse + verify, keys, decrypt + fold."""
    out: dict[str, float] = {}
    t = time.perf_counter()
    records = await read_event_topics(KafkaSettings().bootstrap)
    out["read"] = time.perf_counter() - t
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        checked = audit._checked(records, "log", t)
    out["parse + verify"] = time.perf_counter() - t
    t = time.perf_counter()
    needed = {e.subject_id for chain in checked.streams.values() for e in chain if e.subject_id}
    keys, erased = await audit._keys(needed)
    out["keys"] = time.perf_counter() - t
    t = time.perf_counter()
    reconstruct(checked, keys, erased, None, None, False)
    out["decrypt + fold"] = time.perf_counter() - t
    return out


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with private_stack(services=True):
        load_contracts()
        events = asyncio.run(prepare())
        settle()
        raw = [asyncio.run(raw_consume()) for _ in range(runs)]
        read = [asyncio.run(lean_read()) for _ in range(runs)]
        times = [timed_replay() for _ in range(runs)]
        from_stores = [timed_replay("store") for _ in range(runs)]
        split = asyncio.run(phases())
    rate = events / median(times)
    raw_rate = raw[0][0] / median([s for _, s in raw])
    report(f"audit replay, {events:,} events, decrypt + verify, {WORKERS} proc.", rate,
           "events/s",
           ">= 100,000", rate >= 100_000)
    report(f"raw aiokafka consume of the same topics, {raw[0][0]:,} records", raw_rate,
           "records/s", "(reference)", True)
    report("the replay's read alone (fetch requests, values only)",
           read[0][0] / median([s for _, s in read]), "records/s", "(reference)", True)
    stores = events / median(from_stores)
    report("the same replay from the event stores (--source store)", stores, "events/s",
           ">= 100,000", stores >= 100_000)
    print("  runs (s): kafka " + " / ".join(f"{t:.3f}" for t in times) + "; stores "
          + " / ".join(f"{t:.3f}" for t in from_stores), flush=True)
    print("  steps in one process: " + ", ".join(f"{k} {v:.2f}s" for k, v in split.items()),
          flush=True)


if __name__ == "__main__":
    main()
