"""Shared helpers of the benchmarks: a private embedded stack, timing, the report line."""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

from devstack.ports import stack_ports
from devstack.services import SERVICES
from devstack.supervisor import Stack
from kernel.crypto import BlindIndex, KeyWrapper
from kernel.eventstore import EventStore
from kernel.keycache import CachedKeyStore
from kernel.keystore import PostgresKeyStore
from kernel.settings import PostgresSettings, SecretsSettings


@contextlib.contextmanager
def private_stack(services: bool = False) -> Iterator[Stack]:
    """PostgreSQL and Apache Kafka (and optionally every service) on free ports, torn down after."""
    # every simulated client of a benchmark comes from 127.0.0.1: the per-address sign-up
    # limit (20 an hour by default) would refuse all but the first few
    os.environ.setdefault("ACCOUNTS_SIGNUP_MAX_PER_ADDRESS", "100000")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    data_dir.chmod(0o711)
    pg_port, kafka_port, service_ports = stack_ports(SERVICES)
    stack = Stack(data_dir, pg_port=pg_port, kafka_port=kafka_port,
                  service_ports=service_ports, log_dir=data_dir / "logs")
    try:
        env = stack.start_infra()
        os.environ.update(env)
        if services:
            stack.start_services()
            stack.wait_ready(240)
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def store_of(
    schema: str, pool_size: int = 4
) -> AsyncIterator[tuple[asyncpg.Pool, EventStore]]:
    """A pool on the platform database and an event store for ``schema`` (the env's stack)."""
    pg, secrets = PostgresSettings(), SecretsSettings()  # type: ignore[call-arg]
    pool = await asyncpg.create_pool(pg.dsn(), min_size=1, max_size=pool_size)
    ks_pool = await asyncpg.create_pool(pg.dsn(pg.keystore_database), min_size=1, max_size=2)
    keys = CachedKeyStore(PostgresKeyStore(ks_pool, KeyWrapper(secrets.master_key_bytes()),
                                           BlindIndex(secrets.index_key_bytes())), 60)
    try:
        yield pool, EventStore(schema, keys)
    finally:
        await pool.close()
        await ks_pool.close()


def report(figure: str, value: float, unit: str, target: str, ok: bool) -> None:
    """One line: the figure, the target, and whether it is met."""
    print(f"{figure:<58} {value:>12,.1f} {unit:<9} target {target:<14} {'MET' if ok else 'MISSED'}",
          flush=True)


def median(values: list[float]) -> float:
    """Median of several runs (machines are noisy)."""
    return statistics.median(values)


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from ``/proc/stat``."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def settle(quiet: float = 0.25, timeout: float = 90.0) -> float:
    """Wait until the machine is quiet: the platform has finished its own work on what a
    benchmark just wrote (every service's consumers catching up, autovacuum), so the next
    timing measures the command, not that backlog. Returns the last second's busy share
    (of all cores); gives up after ``timeout`` seconds and says so."""
    deadline = time.monotonic() + timeout
    busy, total = _cpu_ticks()
    share = 1.0
    while time.monotonic() < deadline:
        time.sleep(1.0)
        b, t = _cpu_ticks()
        share = (b - busy) / max(1, t - total)
        busy, total = b, t
        if share < quiet:
            return share
    print(f"  (the machine did not settle: {share:.0%} busy after {timeout:.0f} s)", flush=True)
    return share
