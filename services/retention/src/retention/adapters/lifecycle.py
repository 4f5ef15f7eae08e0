"""What the schedule reads (RET-2): each subject's categories and holds, set-based."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from retention.domain.schedule import CategoryUse, Hold

_USES = """
SELECT subject_id, category, min(first_seen) AS collected, max(last_seen) AS used
FROM retention.subject_data
WHERE category = ANY($1::text[])
GROUP BY subject_id, category
HAVING min(first_seen) <= $2
ORDER BY subject_id, category
"""


async def candidates(conn: asyncpg.Connection, categories: Sequence[str],
                     collected_before: datetime) -> dict[str, list[CategoryUse]]:
    """Per subject, its categories collected by ``collected_before`` (one query).

    Collection and last use are taken across every service that holds the category.
    """
    out: dict[str, list[CategoryUse]] = defaultdict(list)
    for r in await conn.fetch(_USES, list(categories), collected_before):
        out[r["subject_id"]].append(CategoryUse(r["category"], r["collected"], r["used"]))
    return dict(out)


async def holds_of(conn: asyncpg.Connection, subjects: Sequence[str]) -> dict[str, list[Hold]]:
    """The active holds of each of ``subjects`` (one query)."""
    out: dict[str, list[Hold]] = defaultdict(list)
    for r in await conn.fetch(
            "SELECT subject_id, hold_id, category FROM retention.legal_holds "
            "WHERE subject_id = ANY($1::text[]) AND released_at IS NULL ORDER BY placed_at",
            list(subjects)):
        out[r["subject_id"]].append(Hold(r["hold_id"], r["category"]))
    return dict(out)
