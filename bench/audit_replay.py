"""Audit replay with decryption and hash-chain verification (TARGETS: >= 100k events/s).

Fills the log through the running platform (see ``bench.pipeline``), waits until it is all
on Kafka, then times ``marketplace-audit replay --state-only`` end to end: reading every
event topic, verifying every chain, fetching keys and decrypting every personal field.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
import time

from bench.common import median, private_stack, report, store_of
from bench.pipeline import fill, processed
from retention import audit


async def prepare() -> int:
    async with store_of("accounts") as (pool, store):
        n = await fill(pool, store)
        while await processed(pool) < n:
            await asyncio.sleep(0.2)
        return int(await pool.fetchval("SELECT count(*) FROM accounts.events"))


def timed_replay() -> float:
    start = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(io.StringIO()):
        code = asyncio.run(audit.replay(None, None, False))
    if code != 0:
        raise SystemExit(f"replay exited {code}")
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with private_stack(services=True):
        events = asyncio.run(prepare())
        times = [timed_replay() for _ in range(runs)]
    rate = events / median(times)
    report(f"audit replay, {events:,} events, decrypt + verify", rate, "events/s",
           ">= 100,000", rate >= 100_000)


if __name__ == "__main__":
    main()
