"""Projection tables registered in one place per service, so erasure can forget none (PRV-5).

A service lists its tables with their DDL and the column naming their data subject; the
migration creates them and :func:`table_eraser` deletes a subject's rows from each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from kernel.erasure import Eraser
from kernel.service import Migration, Runtime

NOTHING_HELD = "no personal data held"


@dataclass(frozen=True)
class ProjectionTable:
    """A projection table of a service.

    Attributes:
        name: Table name inside the service's schema.
        ddl: ``CREATE TABLE IF NOT EXISTS`` (and its indexes), idempotent.
        subject_column: Column holding the data-subject id, or ``None`` when the table
            holds no personal data.
    """

    name: str
    ddl: str
    subject_column: str | None


def table_migration(tables: Sequence[ProjectionTable]) -> Migration:
    """A migration creating every registered table (the host serialises and wraps it)."""

    async def migrate(conn: asyncpg.Connection) -> None:
        for table in tables:
            await conn.execute(table.ddl)

    return migrate


async def delete_subject_rows(
    conn: asyncpg.Connection, schema: str, subject_id: str, tables: Sequence[ProjectionTable]
) -> dict[str, int]:
    """Delete the subject's rows from every table holding personal data, one statement each.

    Returns:
        Rows deleted per table, only for tables where some were.
    """
    deleted: dict[str, int] = {}
    for table in tables:
        if table.subject_column is None:
            continue
        # Identifiers come from the service's registry, never from input.
        count = await conn.fetchval(
            f"WITH gone AS (DELETE FROM {schema}.{table.name} "
            f"WHERE {table.subject_column} = $1 RETURNING 1) SELECT count(*) FROM gone",
            subject_id,
        )
        if count:
            deleted[table.name] = int(count)
    return deleted


def describe(deleted: dict[str, int]) -> tuple[bool, str]:
    """The receipt's ``(held_data, detail)`` for rows deleted per table; no personal data."""
    if not deleted:
        return False, NOTHING_HELD
    return True, "deleted " + ", ".join(f"{n} row(s) from {t}" for t, n in sorted(deleted.items()))


def table_eraser(tables: Sequence[ProjectionTable]) -> Eraser:
    """An eraser deleting the subject's rows from every registered table of the service."""

    async def erase(rt: Runtime, conn: asyncpg.Connection, subject_id: str) -> tuple[bool, str]:
        return describe(await delete_subject_rows(conn, rt.name, subject_id, tables))

    return erase
