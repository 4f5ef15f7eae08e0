"""After an erasure, the member's published text is in none of PostgreSQL's table or index
files (PRV-5, RET-5): the erasure has the tables of published text rewritten.

Against the session's real PostgreSQL: a listing whose text holds a unique marker is
published, the member erased, a checkpoint taken; then the files of ``listings.search``,
its TOAST table and every index of both, before and after the rewrite, are read for the
marker.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from listings_market import Market, eventually

from devstack.pytest_plugin import Infra

pytestmark = pytest.mark.integration

TABLE = "listings.search"


async def relation_files(conn: asyncpg.Connection) -> set[Path]:
    """Every file of the table, its TOAST table and their indexes (all segments, forks)."""
    base = Path(await conn.fetchval("SHOW data_directory"))
    relations = await conn.fetch(
        "SELECT c.oid::regclass AS rel FROM pg_class c WHERE c.oid = $1::regclass "
        "OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = $1::regclass) "
        "UNION SELECT i.indexrelid::regclass FROM pg_index i WHERE i.indrelid = $1::regclass "
        "OR i.indrelid = (SELECT reltoastrelid FROM pg_class WHERE oid = $1::regclass)", TABLE)
    files: set[Path] = set()
    for row in relations:
        main = base / await conn.fetchval("SELECT pg_relation_filepath($1)", row["rel"])
        files |= {main, *main.parent.glob(main.name + ".*"), *main.parent.glob(main.name + "_*")}
    return files


def holding(files: set[Path], marker: str) -> list[str]:
    """The files (that still exist) whose bytes contain ``marker``."""
    return sorted(f.name for f in files if f.exists() and marker.encode() in f.read_bytes())


async def test_prv5_erased_members_published_text_is_in_no_table_or_index_file(
    market: Market, infra: Infra,
) -> None:
    marker = "Zqx" + uuid.uuid4().hex[:12]
    phone = f"bel{marker}0612345678"
    owner = await market.sign_up()
    await market.post(owner, title=f"Klusjesman {marker}",
                      description=f"Ervaren klusjesman, {phone} of mail")
    bystanders = [await market.post(owner_b, title=f"Tuinman {i}")
                  for i, owner_b in enumerate([await market.sign_up() for _ in range(2)])]
    # A connection of its own: a checkpoint on a busy machine outlasts the pool's timeout.
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        await conn.execute("CHECKPOINT")
        before = await relation_files(conn)
        assert holding(before, marker), "the published text should be on disk before erasure"

        await market.erase(owner.account_id)

        async def compacted() -> bool:
            return not await conn.fetchval(
                "SELECT count(*) FROM listings.compaction_queue WHERE table_name = 'search'")

        await eventually(compacted, within=60, what="the rewrite of listings.search")
        await conn.execute("CHECKPOINT")
        after = await relation_files(conn)
        assert holding(before | after, marker) == []
        assert await conn.fetchval(
            "SELECT count(*) FROM listings.search WHERE listing_id = ANY($1::text[])",
            bystanders) == 2
    finally:
        await conn.close()


async def test_prv5_a_snapshot_older_than_the_erasure_does_not_keep_the_text_on_disk(
    market: Market, infra: Infra,
) -> None:
    """A transaction begun before the erasure can still see the deleted row, and a rewrite
    run meanwhile would copy it into the new files: the rewrite waits for it to end."""
    marker = "Zqy" + uuid.uuid4().hex[:12]
    owner = await market.sign_up()
    await market.post(owner, title=f"Schilder {marker}", description=f"bel {marker} nu")
    reader = await asyncpg.connect(infra.pg_dsn())
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        old = reader.transaction(isolation="repeatable_read")
        await old.start()
        # the snapshot is taken (on another table: no lock on the one rewritten); it could
        # still read the listing, so the rewrite would have to copy its row
        assert await reader.fetchval("SELECT count(*) FROM pg_class") > 0
        await market.erase(owner.account_id)

        async def compacted() -> bool:
            return not await conn.fetchval(
                "SELECT count(*) FROM listings.compaction_queue WHERE table_name = 'search'")

        await eventually(lambda: _gone(conn, marker), within=30, what="the row's deletion")
        await old.rollback()  # the old snapshot ends: now the rewrite may run
        await eventually(compacted, within=60, what="the rewrite of listings.search")
        await conn.execute("CHECKPOINT")
        assert holding(await relation_files(conn), marker) == []
    finally:
        await reader.close()
        await conn.close()


async def _gone(conn: asyncpg.Connection, marker: str) -> bool:
    return not await conn.fetchval(
        f"SELECT count(*) FROM {TABLE} WHERE title LIKE $1", f"%{marker}%")
