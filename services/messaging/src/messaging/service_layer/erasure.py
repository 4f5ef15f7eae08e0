"""Erasing a subject from the messaging service (PRV-5, RET-5).

The subject's own rows go; conversations and messages shared with another participant
stay, the subject's bodies unreadable (every key is gone) and their tokens dropped, so the
other participant sees the messages as "erased" (API.md).
"""

from __future__ import annotations

import asyncpg

from kernel.projections import NOTHING_HELD, delete_subject_rows, describe
from kernel.service import Runtime
from messaging.adapters.projections import PROJECTIONS

__all__ = ["NOTHING_HELD", "describe", "erase_subject"]


async def erase_subject(rt: Runtime, conn: asyncpg.Connection, subject_id: str
                        ) -> tuple[bool, str]:
    """Delete the subject's rows and drop the sealed bodies it sent."""
    deleted = await delete_subject_rows(conn, rt.name, subject_id, PROJECTIONS)
    bodies = await conn.fetchval(
        "WITH gone AS (UPDATE messaging.messages SET body_token = NULL "
        "WHERE sender_id = $1 AND body_token IS NOT NULL RETURNING 1) "
        "SELECT count(*) FROM gone", subject_id)
    if bodies:
        deleted["messages (bodies)"] = int(bodies)
    return describe(deleted)
