"""Erasing a subject from the listings service (PRV-5, RET-5): every registered table's rows.

Deleting is not enough for the published text in plaintext: the rows' bytes stay in the
table's and its indexes' files until they are rewritten, so the erasure queues that rewrite
in its own transaction (``listings.adapters.compaction``).
"""

from __future__ import annotations

import asyncpg

from kernel.projections import NOTHING_HELD, delete_subject_rows, describe
from kernel.service import Runtime
from listings.adapters.compaction import queue_compaction
from listings.adapters.projections import PROJECTIONS, PUBLISHED_TEXT

__all__ = ["NOTHING_HELD", "describe", "erase_subject"]


async def erase_subject(rt: Runtime, conn: asyncpg.Connection, subject_id: str
                        ) -> tuple[bool, str]:
    """Delete the subject's projection rows; the kernel drops the key and issues the receipt.

    Tables of published text the subject had rows in are queued for a rewrite after commit.
    """
    deleted = await delete_subject_rows(conn, rt.name, subject_id, PROJECTIONS)
    await queue_compaction(conn, [t.name for t in PUBLISHED_TEXT if t.name in deleted])
    return describe(deleted)
