"""The subject projection (RET-2): one multi-row upsert per consumed batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from retention.domain.subjects import Holding

_UPSERT = """
INSERT INTO retention.subject_data AS d
    (subject_id, category, service, first_seen, last_seen, events)
SELECT h.subject_id, h.category, h.service, h.first_seen, h.last_seen, h.events
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
            $6::bigint[]) AS h(subject_id, category, service, first_seen, last_seen, events)
WHERE NOT EXISTS (
    SELECT 1 FROM retention.privacy_requests r
    WHERE r.subject_id = h.subject_id AND r.type = 'erasure'
      AND r.status IN ('in_progress', 'completed')
)
ORDER BY 1, 2, 3
ON CONFLICT (subject_id, category, service) DO UPDATE SET
    first_seen = least(d.first_seen, excluded.first_seen),
    last_seen  = greatest(d.last_seen, excluded.last_seen),
    events     = d.events + excluded.events
"""


class SubjectProjection:
    """Reads and writes ``retention.subject_data`` on the caller's connection."""

    async def upsert(self, conn: asyncpg.Connection, holdings: Sequence[Holding]) -> None:
        """Merge holdings in one statement; subjects being erased are left out."""
        if not holdings:
            return
        await conn.execute(
            _UPSERT,
            [h.subject_id for h in holdings], [h.category for h in holdings],
            [h.service for h in holdings], [h.first_seen for h in holdings],
            [h.last_seen for h in holdings], [h.events for h in holdings],
        )

    async def delete(self, conn: asyncpg.Connection, subject_id: str) -> int:
        """Delete every row of the subject; returns how many there were."""
        status = await conn.execute(
            "DELETE FROM retention.subject_data WHERE subject_id = $1", subject_id
        )
        return int(status.split()[-1])

    async def of(self, conn: asyncpg.Connection, subject_id: str) -> list[dict[str, Any]]:
        """The subject's holdings, by category then service."""
        rows = await conn.fetch(
            "SELECT category, service, first_seen, last_seen, events "
            "FROM retention.subject_data WHERE subject_id = $1 ORDER BY category, service",
            subject_id,
        )
        return [dict(r) for r in rows]
