"""Erasures applied again after a backup was restored (RET-5, PRV-5).

A restored database holds the keys and projections of every subject erased after its
backup was taken. Given the keyed hashes of the subjects erased since (the embedded stack's
erasure journal, or the retention topic in a Kafka cluster), :func:`erase_again`:

1. destroys their keys in the key store again (every scoped key too), so nothing encrypted
   for them can be read from the restored stores or the broker;
2. queues in each service's ``<schema>.erasure_replay`` the subjects it knows, which the
   service erases (projections, cached keys) when it starts, before ``/readyz`` says 200.

Run it with every service stopped, between the restore and the start.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import asyncpg

from kernel.crypto import BlindIndex

_DESTROY_ALL = """
WITH gone AS (
    INSERT INTO keystore.subject_keys AS k (subject_hash, wrapped_key, erased_at)
    SELECT h, NULL, now() FROM unnest($1::bytea[]) AS h
    ON CONFLICT (subject_hash, scope) DO UPDATE SET wrapped_key = NULL, erased_at = now()
        WHERE k.erased_at IS NULL
    RETURNING 1
)
SELECT count(*) FROM gone
"""


def subject_hashes(index: BlindIndex, subject_ids: Iterable[str]) -> list[bytes]:
    """The key store's keyed hashes of ``subject_ids``."""
    return sorted({index.subject(s) for s in subject_ids})


async def erase_again(marketplace_dsn: str, keystore_dsn: str, hashes: list[bytes],
                      index: BlindIndex,
                      kept: Mapping[bytes, Collection[str]] | None = None) -> tuple[int, int]:
    """Destroy the subjects' keys again; queue them in every service's schema.

    ``kept`` names, per subject hash, the categories whose scoped keys a legal hold kept
    through the erasure (RET-4): those survive, as they did before the restore.

    Returns:
        (keys destroyed again, subjects queued for erasure in the services).
    """
    if not hashes:
        return 0, 0
    ks = await asyncpg.connect(keystore_dsn)
    try:
        async with ks.transaction():
            destroyed = int(await ks.fetchval(_DESTROY_ALL, hashes))
            pairs = [(h, c) for h, cats in (kept or {}).items() for c in cats]
            await ks.execute(
                "UPDATE keystore.subject_keys k SET wrapped_key = NULL, erased_at = now() "
                "WHERE subject_hash = ANY($1::bytea[]) AND wrapped_key IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM unnest($2::bytea[], $3::text[]) AS p(h, c) "
                "WHERE p.h = k.subject_hash AND k.scope <> '' "
                "AND split_part(k.scope, '@', 1) = p.c)",
                hashes, [h for h, _ in pairs], [c for _, c in pairs])
    finally:
        await ks.close()
    wanted = set(hashes)
    conn = await asyncpg.connect(marketplace_dsn)
    try:
        schemas = [r["table_schema"] for r in await conn.fetch(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'events' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')")]
        known: set[str] = set()
        for schema in schemas:
            known.update(r["subject_id"] for r in await conn.fetch(
                f'SELECT DISTINCT subject_id FROM "{schema}".events '
                "WHERE subject_id IS NOT NULL"))
        erased = sorted(s for s in known if index.subject(s) in wanted)
        async with conn.transaction():
            for schema in schemas:
                await conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{schema}".erasure_replay ('
                    "subject_id text PRIMARY KEY, queued_at timestamptz NOT NULL DEFAULT now())")
                await conn.execute(
                    f'INSERT INTO "{schema}".erasure_replay (subject_id) '
                    "SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", erased)
    finally:
        await conn.close()
    return destroyed, len(erased)
