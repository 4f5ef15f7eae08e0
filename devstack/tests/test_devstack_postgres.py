"""PostgreSQL of the embedded stack: starts, answers, restarts from its data, frees its port."""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import pytest

from devstack.errors import StackError
from devstack.ports import ensure_free, free_port, is_listening
from devstack.postgres import Postgres

pytestmark = pytest.mark.integration


async def _databases(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT 40 + 2") == 42
        return {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


async def test_postgres_starts_answers_and_frees_its_port_on_stop(data_dir: Path) -> None:
    pg = Postgres(data_dir / "pg", free_port())
    pg.start()
    try:
        pg.ensure_databases(["marketplace", "keystore"])
        pg.ensure_databases(["marketplace"])  # idempotent
        assert {"marketplace", "keystore"} <= await _databases(pg.dsn("marketplace"))
    finally:
        pg.stop()
    assert not is_listening(pg.port)
    ensure_free(pg.port, "the next test")


async def test_restart_reuses_the_cluster_and_keeps_data(data_dir: Path) -> None:
    pg = Postgres(data_dir / "pg", free_port())
    pg.start()
    try:
        pg.ensure_databases(["marketplace"])
        conn = await asyncpg.connect(pg.dsn("marketplace"))
        await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
        await conn.close()
    finally:
        pg.stop()
    began = time.monotonic()
    pg.start()
    try:
        assert time.monotonic() - began < 5  # no initdb the second time
        conn = await asyncpg.connect(pg.dsn("marketplace"))
        assert await conn.fetchval("SELECT v FROM kept") == 7
        await conn.close()
    finally:
        pg.stop()


def test_a_taken_port_fails_fast_with_a_clear_message(data_dir: Path) -> None:
    first = Postgres(data_dir / "one", free_port())
    first.start()
    try:
        with pytest.raises(StackError, match="already in use"):
            Postgres(data_dir / "two", first.port).start()
    finally:
        first.stop()
